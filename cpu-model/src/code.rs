//! Where instructions come from: assembled programs placed in the address space.

use memory_model::Addr;

use crate::asm::Program;
use crate::isa::{Disasm, Inst};

/// All code of a machine: programs at non-overlapping address ranges.
#[derive(Clone, Debug, Default)]
pub struct CodeSpace {
    programs: Vec<Program>,
}

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
