//! Where instructions come from: assembled programs placed in the address space.

use memory_model::Addr;

use crate::asm::Program;
use crate::isa::{Disasm, Inst};

/// All code of a machine: programs at non-overlapping address ranges, the
/// subset of their addresses that may be patched at run time, and the
/// instruction encodings that patching stores.
///
/// Code that is never patched is fetched straight from the programs.
/// Patchable addresses are also memory: their encodings are initial memory
/// contents, stores may replace them, and fetch sees those stores only
/// through the instruction side of memory
/// ([`memory_model::iside`]). An encoding is a 32-bit value, `0xC0DE0000`
/// plus the instruction's index in an interning table, so that a `W`
/// register can hold and store it as on hardware.
#[derive(Clone, Debug, Default)]
pub struct CodeSpace {
    programs: Vec<Program>,
    /// Patchable addresses (sorted) with their initial encodings.
    patchable: Vec<(Addr, u64)>,
    encodings: Vec<Inst>,
}

/// Base of the synthetic instruction encodings.
pub const ENCODING_BASE: u64 = 0xC0DE_0000;

impl CodeSpace {
    /// No code.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a program; panics if it overlaps one already present.
    pub fn add(&mut self, p: Program) {
        assert!(
            self.programs.iter().all(|q| p.end() <= q.base || q.end() <= p.base || p.insts.is_empty()),
            "program at {:#x} overlaps existing code",
            p.base
        );
        self.programs.push(p);
        self.programs.sort_by_key(|p| p.base);
    }

    /// The programs, by address.
    pub fn programs(&self) -> &[Program] {
        &self.programs
    }

    /// Declares the instruction at `pc` patchable; false if no program
    /// holds an instruction there.
    pub fn mark_patchable(&mut self, pc: Addr) -> bool {
        let Some(inst) = self.fetch(pc) else { return false };
        if let Err(i) = self.patchable.binary_search_by_key(&pc, |(a, _)| *a) {
            let enc = self.encode(inst);
            self.patchable.insert(i, (pc, enc));
        }
        true
    }

    /// True if `pc` was declared patchable.
    #[inline]
    pub fn is_patchable(&self, pc: Addr) -> bool {
        !self.patchable.is_empty() && self.patchable.binary_search_by_key(&pc, |(a, _)| *a).is_ok()
    }

    /// Patchable addresses with their initial encodings, sorted.
    pub fn patchable(&self) -> &[(Addr, u64)] {
        &self.patchable
    }

    /// True if `addr` lies inside some program.
    pub fn contains(&self, addr: Addr) -> bool {
        self.programs.iter().any(|p| p.base <= addr && addr < p.end())
    }

    /// The encoding of `inst` (interned: equal instructions, equal encodings).
    pub fn encode(&mut self, inst: Inst) -> u64 {
        let i = match self.encodings.iter().position(|e| *e == inst) {
            Some(i) => i,
            None => {
                self.encodings.push(inst);
                self.encodings.len() - 1
            }
        };
        assert!(i < 0x1_0000, "more than 65536 distinct instruction encodings");
        ENCODING_BASE + i as u64
    }

    /// The instruction an encoding stands for; anything else is undefined.
    pub fn decode(&self, value: u64) -> Inst {
        let v = value & 0xffff_ffff;
        v.checked_sub(ENCODING_BASE)
            .and_then(|i| self.encodings.get(i as usize))
            .copied()
            .unwrap_or(Inst::Udf(v as u32))
    }

    /// The instruction an encoding stands for, if it is one.
    pub fn decode_known(&self, value: u64) -> Option<Inst> {
        match self.decode(value) {
            Inst::Udf(_) => None,
            i => Some(i),
        }
    }

    /// The instruction at `pc`, or `None` outside all programs.
    #[inline]
    pub fn fetch(&self, pc: Addr) -> Option<Inst> {
        self.programs.iter().find_map(|p| p.at(pc).copied())
    }

    /// A label naming `addr`, if any program defines one.
    pub fn label_at(&self, addr: Addr) -> Option<&str> {
        self.programs.iter().find_map(|p| p.label_at(addr))
    }

    /// The instruction at `pc` as text, with labels for branch targets.
    pub fn disasm(&self, pc: Addr) -> String {
        match self.fetch(pc) {
            Some(i) => Disasm { inst: &i, label: |a| self.label_at(a).map(str::to_string) }.to_string(),
            None => "<no code>".to_string(),
        }
    }
}
