//! Where instructions come from: assembled programs placed in the address space.

use memory_model::{Addr, RmwOp};

use crate::asm::Program;
use crate::isa::{Disasm, Inst, Narrow, Operand, Reg, Width};

/// All code of a machine: programs at non-overlapping address ranges, the
/// subset of their addresses that may be patched at run time, and the
/// instruction encodings that patching stores.
///
/// Code that is never patched is fetched straight from the programs.
/// Patchable addresses are also memory: their encodings are initial memory
/// contents, stores may replace them, and fetch sees those stores only
/// through the instruction side of memory
/// ([`memory_model::iside`]). An encoding is a 32-bit value, so that a `W`
/// register can hold and store it as on hardware: the real AArch64
/// encoding for the atomic read-modify-writes (see [`encode_a64`]), and for
/// every other instruction `0xC0DE0000` plus its index in an interning
/// table (that range is unallocated in AArch64, so the two never meet).
///
/// As in AArch64, a branch's or `ADR`'s encoding holds its target relative to
/// the instruction's own address: [`CodeSpace::encode`] and
/// [`CodeSpace::decode`] take the address the encoding is (to be) stored at,
/// so `B L1` copied 8 bytes further on branches 8 bytes further on, and two
/// `ADR X0` to their next instruction encode alike.
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
            let enc = self.encode(inst, pc);
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

    /// The encoding of `inst` stored at `at`: its AArch64 encoding if [`encode_a64`] has
    /// one, else an interned one (equal instructions, equal encodings), a target kept
    /// relative to `at`.
    pub fn encode(&mut self, inst: Inst, at: Addr) -> u64 {
        if let Some(word) = encode_a64(&inst) {
            return word as u64;
        }
        let inst = relocated(inst, |t| t.wrapping_sub(at));
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

    /// The instruction an encoding stands for when fetched from `at`; anything else is
    /// undefined.
    pub fn decode(&self, value: u64, at: Addr) -> Inst {
        let v = value & 0xffff_ffff;
        v.checked_sub(ENCODING_BASE)
            .and_then(|i| self.encodings.get(i as usize))
            .map(|&inst| relocated(inst, |t| t.wrapping_add(at)))
            .or_else(|| decode_a64(v as u32))
            .unwrap_or(Inst::Udf(v as u32))
    }

    /// The instruction at `pc`, or `None` outside all programs.
    #[inline]
    pub fn fetch(&self, pc: Addr) -> Option<Inst> {
        // Programs are sorted by base and do not overlap (empty ones aside): only the last
        // non-empty one starting at or below `pc` can hold it.
        let upto = self.programs.partition_point(|p| p.base <= pc);
        self.programs[..upto].iter().rev().find(|p| !p.insts.is_empty()).and_then(|p| p.at(pc).copied())
    }

    /// A label naming `addr`, if any program defines one.
    pub fn label_at(&self, addr: Addr) -> Option<&str> {
        self.programs.iter().find_map(|p| p.label_at(addr))
    }

    /// The instruction at `pc` as text, branch targets relative to `pc` (`B .+8`, `CBZ X0,.-4`),
    /// as herd7 prints an instruction read as a value.
    pub fn disasm_relative(&self, pc: Addr) -> String {
        self.disasm_with(pc, |a| Some(if a >= pc { format!(".+{}", a - pc) } else { format!(".-{}", pc - a) }))
    }

    /// The instruction at `pc` as text, with labels for branch targets.
    pub fn disasm(&self, pc: Addr) -> String {
        self.disasm_with(pc, |a| self.label_at(a).map(str::to_string))
    }

    fn disasm_with(&self, pc: Addr, label: impl Fn(Addr) -> Option<String>) -> String {
        match self.fetch(pc) {
            Some(i) => Disasm { inst: &i, label }.to_string(),
            None => "<no code>".to_string(),
        }
    }
}

/// `inst` with its branch or `ADR` target mapped by `f` (the others unchanged).
pub fn relocated(inst: Inst, f: impl Fn(Addr) -> Addr) -> Inst {
    match inst {
        Inst::B { target } => Inst::B { target: f(target) },
        Inst::BCond { cond, target } => Inst::BCond { cond, target: f(target) },
        Inst::Cbz { rt, nonzero, bit, target } => Inst::Cbz { rt, nonzero, bit, target: f(target) },
        Inst::Bl { target } => Inst::Bl { target: f(target) },
        Inst::Adr { rd, target } => Inst::Adr { rd, target: f(target) },
        other => other,
    }
}

/// Bits of the AArch64 atomic memory operations (`LD<op>`, `SWP`):
/// `size 111000 A R 1 Rs o3 opc 00 Rn Rt`.
const A64_LDOP: u32 = 0x3820_0000;
/// Mask of the fixed bits of [`A64_LDOP`] (bits 31–30 are the size: byte, halfword, word,
/// doubleword).
const A64_LDOP_MASK: u32 = 0x3f20_0c00;
/// Bits of the compare-and-swap family: `size 001000 1 L 1 Rs o0 11111 Rn Rt`.
const A64_CAS: u32 = 0x08a0_7c00;
/// Mask of the fixed bits of [`A64_CAS`] (the size as for [`A64_LDOP_MASK`]).
const A64_CAS_MASK: u32 = 0x3fa0_7c00;

/// The AArch64 encoding of `inst`, for the instructions encoded for real:
/// the atomic read-modify-writes (ARMv8.1 LSE: CAS, SWP, LDADD, LDCLR,
/// LDEOR, LDSET with their A/L/AL forms), 8-, 16-, 32- and 64-bit. `None` for
/// everything else (and for an RMW based on XZR, which has no encoding).
///
/// ```
/// use cpu_model::{asm::parse_inst, code::encode_a64};
/// let casal = parse_inst("CASAL X0, X1, [X2]", 1).unwrap().inst;
/// assert_eq!(encode_a64(&casal), Some(0xc8e0_fc41));
/// ```
pub fn encode_a64(inst: &Inst) -> Option<u32> {
    let Inst::Rmw { op, rs, rt, base, acquire, release, narrow } = *inst else { return None };
    let reg = |r: Reg| -> u32 { if r.is_zero() || r == Reg::SP { 31 } else { r.0 as u32 } };
    if base.is_zero() || rs.reg == Reg::SP || rt.reg == Reg::SP || rs.width != rt.width {
        return None;
    }
    let size: u32 = match (narrow.map(|n| n.bytes), rs.width) {
        (Some(1), _) => 0,
        (Some(2), _) => 1,
        (Some(_), _) => return None,
        (None, Width::W) => 2,
        (None, Width::X) => 3,
    } << 30;
    let regs = (reg(rs.reg) << 16) | (reg(base) << 5) | reg(rt.reg);
    let word = match op {
        // CAS: L (bit 22) is the acquire, o0 (bit 15) the release.
        RmwOp::Cas => A64_CAS | ((acquire as u32) << 22) | ((release as u32) << 15),
        _ => {
            let (o3, opc) = match op {
                RmwOp::Swp => (1, 0),
                RmwOp::Add => (0, 0),
                RmwOp::Clr => (0, 1),
                RmwOp::Eor => (0, 2),
                RmwOp::Set => (0, 3),
                RmwOp::Smax => (0, 4),
                RmwOp::Smin => (0, 5),
                RmwOp::Umax => (0, 6),
                RmwOp::Umin => (0, 7),
                RmwOp::Cas => unreachable!(),
            };
            A64_LDOP | ((acquire as u32) << 23) | ((release as u32) << 22) | (o3 << 15) | (opc << 12)
        }
    };
    Some(word | size | regs)
}

/// The instruction an AArch64 encoding stands for, among those
/// [`encode_a64`] produces.
pub fn decode_a64(word: u32) -> Option<Inst> {
    let (width, narrow) = match word >> 30 {
        0 => (Width::W, Some(Narrow { bytes: 1, signed: false })),
        1 => (Width::W, Some(Narrow { bytes: 2, signed: false })),
        2 => (Width::W, None),
        _ => (Width::X, None),
    };
    let reg = |n: u32| Reg(if n == 31 { 31 } else { n as u8 });
    let rs = Operand { reg: reg((word >> 16) & 31), width };
    let rt = Operand { reg: reg(word & 31), width };
    let rn = (word >> 5) & 31;
    let base = if rn == 31 { Reg::SP } else { Reg(rn as u8) };
    let bit = |n: u32| word & (1 << n) != 0;
    if word & A64_CAS_MASK == A64_CAS {
        return Some(Inst::Rmw { op: RmwOp::Cas, rs, rt, base, acquire: bit(22), release: bit(15), narrow });
    }
    if word & A64_LDOP_MASK == A64_LDOP {
        let op = match (bit(15), (word >> 12) & 7) {
            (true, 0) => RmwOp::Swp,
            (false, 0) => RmwOp::Add,
            (false, 1) => RmwOp::Clr,
            (false, 2) => RmwOp::Eor,
            (false, 3) => RmwOp::Set,
            (false, 4) => RmwOp::Smax,
            (false, 5) => RmwOp::Smin,
            (false, 6) => RmwOp::Umax,
            (false, 7) => RmwOp::Umin,
            _ => return None,
        };
        return Some(Inst::Rmw { op, rs, rt, base, acquire: bit(23), release: bit(22), narrow });
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::asm::parse_inst;

    /// Encodings as LLVM's assembler gives them (`llvm-mc -triple=aarch64
    /// -mattr=+lse -show-encoding`).
    const KNOWN: [(&str, u32); 19] = [
        ("CASAL X0,X1,[X2]", 0xc8e0_fc41),
        ("CAS W0,W1,[X2]", 0x88a0_7c41),
        ("CASA W0,W1,[X2]", 0x88e0_7c41),
        ("CASL W0,W1,[X2]", 0x88a0_fc41),
        ("LDADDAL X0,X1,[X2]", 0xf8e0_0041),
        ("SWPAL X0,X1,[X2]", 0xf8e0_8041),
        ("STADD W0,[X1]", 0xb820_003f),
        ("LDCLR X0,X1,[X2]", 0xf820_1041),
        ("LDEOR X0,X1,[X2]", 0xf820_2041),
        ("LDSET X0,X1,[X2]", 0xf820_3041),
        ("SWPL X3,X4,[SP]", 0xf863_83e4),
        ("LDADDA W5,W6,[X7]", 0xb8a5_00e6),
        ("STSETL X9,[X10]", 0xf869_315f),
        ("LDADDAL W0,WZR,[X2]", 0xb8e0_005f),
        ("CASAL WZR,W1,[X2]", 0x88ff_fc41),
        ("CASB W0,W1,[X2]", 0x08a0_7c41),
        ("LDADDB W0,W1,[X2]", 0x3820_0041),
        ("SWPALH W0,W1,[X2]", 0x78e0_8041),
        ("STADDLB W0,[X1]", 0x3860_003f),
    ];

    #[test]
    fn rmws_have_their_aarch64_encodings_and_decode_back() {
        let mut code = CodeSpace::new();
        for (text, word) in KNOWN {
            let inst = parse_inst(text, 1).unwrap_or_else(|e| panic!("{text}: {e:?}")).inst;
            assert_eq!(encode_a64(&inst), Some(word), "{text}");
            assert_eq!(decode_a64(word), Some(inst), "{text}");
            assert_eq!(code.encode(inst, 0x1000), word as u64, "{text}");
            assert_eq!(code.decode(word as u64, 0x2000), inst, "{text}");
            assert_eq!(inst.to_string(), text);
        }
        // Other instructions keep interned encodings, which decode as before.
        let nop = code.encode(Inst::Nop, 0x1000);
        assert_eq!(nop, ENCODING_BASE);
        assert_eq!(code.decode(nop, 0x1000), Inst::Nop);
    }

    #[test]
    fn branch_and_adr_encodings_are_relative_to_where_they_are_stored() {
        let mut code = CodeSpace::new();
        let b = code.encode(Inst::B { target: 0x1010 }, 0x1008);
        assert_eq!(code.decode(b, 0x2000), Inst::B { target: 0x2008 });
        assert_eq!(code.decode(b, 0x1008), Inst::B { target: 0x1010 });
        // Backwards too: CBNZ W1,.-4.
        let rt = Operand { reg: Reg(1), width: Width::W };
        let cbnz = code.encode(Inst::Cbz { rt, nonzero: true, bit: None, target: 0xffc }, 0x1000);
        assert_eq!(code.decode(cbnz, 0x40), Inst::Cbz { rt, nonzero: true, bit: None, target: 0x3c });
        // Two ADRs of their next instruction encode alike; of different offsets, not.
        let adr = |target| Inst::Adr { rd: Operand { reg: Reg(0), width: Width::X }, target };
        assert_eq!(code.encode(adr(0x1004), 0x1000), code.encode(adr(0x2004), 0x2000));
        assert_ne!(code.encode(adr(0x1004), 0x1000), code.encode(adr(0x1008), 0x1000));
    }

    #[test]
    fn other_atomic_encodings_are_undefined() {
        // CASP, LDAPR, LDXR, STLR (llvm-mc).
        for word in [0x4820_7c82u32, 0xf8bf_c020, 0xc85f_7c20, 0xc89f_fc20] {
            assert_eq!(decode_a64(word), None, "{word:#x}");
            assert_eq!(CodeSpace::new().decode(word as u64, 0), Inst::Udf(word), "{word:#x}");
        }
    }

    #[test]
    fn every_rmw_form_round_trips_through_text_and_encoding() {
        // (LDSMAX W0,W1,[X2] is 0xb8204041, as llvm-mc encodes it.)
        let smax = parse_inst("LDSMAX W0,W1,[X2]", 1).unwrap().inst;
        assert_eq!(encode_a64(&smax), Some(0xb820_4041));
        for op in ["CAS", "SWP", "LDADD", "LDCLR", "LDEOR", "LDSET", "LDSMAX", "LDSMIN", "LDUMAX", "LDUMIN"] {
            for suffix in ["", "A", "L", "AL", "B", "AB", "LH", "ALH"] {
                let narrow = suffix.ends_with(['B', 'H']);
                for (rs, rt) in [("X1", "X2"), ("W3", "W30"), ("X4", "XZR"), ("W6", "WZR")] {
                    if narrow && rs.starts_with('X') {
                        continue;
                    }
                    let text = format!("{op}{suffix} {rs},{rt},[X5]");
                    let inst = parse_inst(&text, 1).unwrap().inst;
                    let again = parse_inst(&inst.to_string(), 1).unwrap().inst;
                    assert_eq!(again, inst, "{text} printed as {inst}");
                    let word = encode_a64(&inst).unwrap();
                    assert_eq!(decode_a64(word), Some(inst), "{text}");
                }
            }
        }
    }
}
