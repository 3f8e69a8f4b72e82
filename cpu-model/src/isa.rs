//! The instruction set: an AArch64 subset, decoded.
//!
//! Registers are 64 bits; a `W` view reads the low 32 bits and writes them
//! zero-extended, as on AArch64. Memory is a map of 64-bit cells: a `W` store
//! writes its 32-bit value zero-extended into the cell it addresses (the
//! simulator does not model mixed-size accesses).

use std::fmt;

use memory_model::{Addr, Fence, Rmw, RmwOp, TlbiScope};

/// A register: X0–X30, the zero register, or the condition flags.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Reg(pub u8);

impl Reg {
    /// XZR/WZR: reads as zero, writes are discarded.
    pub const ZR: Reg = Reg(31);
    /// NZCV, written by CMP and read by B.cond / CSET.
    pub const FLAGS: Reg = Reg(32);
    /// X30, the link register.
    pub const LR: Reg = Reg(30);
    /// The stack pointer of the current exception level (SP_EL0 at EL0,
    /// SP_EL1 at EL1: exception entry and return switch between them).
    pub const SP: Reg = Reg(33);
    /// Number of architectural register slots (X0–X30, ZR, FLAGS, SP).
    pub const COUNT: usize = 34;

    /// General register `Xn` (n ≤ 30).
    pub const fn x(n: u8) -> Reg {
        assert!(n <= 30, "X31 is not a general register");
        Reg(n)
    }

    /// Index into a register file.
    pub fn index(self) -> usize {
        self.0 as usize
    }

    /// True for the zero register.
    pub fn is_zero(self) -> bool {
        self == Reg::ZR
    }
}

impl fmt::Display for Reg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Reg::ZR => f.write_str("XZR"),
            Reg::FLAGS => f.write_str("NZCV"),
            Reg::SP => f.write_str("SP"),
            Reg(n) => write!(f, "X{n}"),
        }
    }
}

/// Operand size.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Width {
    /// 32-bit (`Wn`).
    W,
    /// 64-bit (`Xn`).
    X,
}

impl Width {
    /// The width in bits.
    pub fn bits(self) -> u64 {
        match self {
            Width::W => 32,
            Width::X => 64,
        }
    }

    /// Truncates `v` to this width.
    pub fn mask(self, v: u64) -> u64 {
        match self {
            Width::W => v & 0xffff_ffff,
            Width::X => v,
        }
    }
    fn prefix(self) -> char {
        match self {
            Width::W => 'W',
            Width::X => 'X',
        }
    }
}

/// A register read through a width.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Operand {
    /// The register.
    pub reg: Reg,
    /// The view.
    pub width: Width,
}

impl fmt::Display for Operand {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.reg == Reg::ZR {
            write!(f, "{}ZR", self.width.prefix())
        } else if self.reg == Reg::SP {
            f.write_str(if self.width == Width::W { "WSP" } else { "SP" })
        } else {
            write!(f, "{}{}", self.width.prefix(), self.reg.0)
        }
    }
}

/// Second operand of ALU instructions and MOV.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Src2 {
    /// A register.
    Reg(Operand),
    /// An immediate.
    Imm(u64),
    /// A shifted register (`X2, LSL #3`; ALU instructions and CMP): the shift is
    /// [`AluOp::Lsl`], [`AluOp::Lsr`], [`AluOp::Asr`] or [`AluOp::Ror`], by a constant amount.
    Shifted(Operand, AluOp, u8),
    /// An extended register (`W2, SXTB #2`; the arithmetic instructions and CMP): its low
    /// bytes zero- or sign-extended ([`Narrow::extend`]), then shifted left by 0 to 4.
    Extended(Operand, Narrow, u8),
}

impl Src2 {
    /// The operand's value from its register's value `v` (an immediate's: the immediate).
    #[inline]
    pub fn value(self, v: u64) -> u64 {
        match self {
            Src2::Reg(_) => v,
            Src2::Imm(i) => i,
            Src2::Shifted(r, op, amount) => r.width.mask(op.apply(r.width, r.width.mask(v), amount as u64)),
            Src2::Extended(_, ext, amount) => ext.extend(Width::X, v) << amount,
        }
    }
}

impl fmt::Display for Src2 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Src2::Reg(r) => r.fmt(f),
            Src2::Imm(v) => write!(f, "#{}", *v as i64),
            Src2::Shifted(r, op, amount) => write!(f, "{r},{} #{amount}", op.name()),
            Src2::Extended(r, ext, 0) => write!(f, "{r},{}", ext.extension_name()),
            Src2::Extended(r, ext, amount) => write!(f, "{r},{} #{amount}", ext.extension_name()),
        }
    }
}

/// Register-offset extension.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Extend {
    /// `LSL #n` (n = 0 when absent).
    Lsl(u8),
    /// `SXTW`: sign-extend a W register.
    Sxtw,
    /// `UXTW`: zero-extend a W register.
    Uxtw,
}

/// Address offset of a load or store.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Index {
    /// `[Xn, #imm]`.
    Imm(i64),
    /// `[Xn, Rm{, extend}]`.
    Reg(Operand, Extend),
}

/// Integer operations.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AluOp {
    /// Addition.
    Add,
    /// Subtraction.
    Sub,
    /// Bitwise and.
    And,
    /// Bitwise or.
    Orr,
    /// Bitwise exclusive or.
    Eor,
    /// Logical shift left (`LSL Rd, Rn, #n|Rm`; the amount is taken modulo
    /// the register width, as LSLV does).
    Lsl,
    /// Logical shift right.
    Lsr,
    /// Multiplication (`MUL Rd, Rn, Rm`, low bits).
    Mul,
    /// Arithmetic shift right (the amount modulo the width, as ASRV does).
    Asr,
    /// Bit clear: `Rn AND NOT src`.
    Bic,
    /// Or not: `Rn OR NOT src` (`MVN Rd, Rm` is `ORN Rd, ZR, Rm`).
    Orn,
    /// `MOVK Rd, #imm16, LSL #shift`: `Rn` (which is `Rd`) with its 16 bits at `shift`
    /// replaced by the immediate.
    Movk(u8),
    /// `UBFM`/`SBFM Rd, Rn, #immr, #imms` (and their aliases `UBFX`, `SBFX`, `UBFIZ`, `SBFIZ`,
    /// `UXTB`, `UXTH`, `SXTB`, `SXTH`, `SXTW`): a bit field of `Rn`, zero- or sign-extended;
    /// the second operand is unused ([`bitfield_move`]).
    Bfm {
        /// `SBFM`: the field is sign-extended.
        signed: bool,
        /// The rotation.
        immr: u8,
        /// The field's top bit.
        imms: u8,
    },
    /// `REV16`, `REV32`, `REV` (`REV64`) `Rd, Rn`: the bytes of each container of this many
    /// bytes reversed (2, 4, or the register's 4 or 8); the second operand is unused.
    Rev(u8),
    /// `RBIT Rd, Rn`: the bits of the register reversed.
    Rbit,
    /// `ABS Rd, Rn`: the absolute value (the most negative value stays itself).
    Abs,
    /// `CLZ Rd, Rn`: the leading zero bits.
    Clz,
    /// `CLS Rd, Rn`: the leading bits after the sign bit that equal it.
    Cls,
    /// Rotate right (`ROR Rd, Rn, #n|Rm`, the amount modulo the width, as RORV does; also an
    /// operand shift of the logical operations).
    Ror,
    /// `EXTR Rd, Rn, Rm, #lsb`: the register's width of bits of the pair `Rn:Rm`, from bit
    /// `lsb` of `Rm` up.
    Extr(u8),
    /// `SMULH`/`UMULH Xd, Xn, Xm`: the high 64 bits of the 128-bit product, signed or not.
    MulHigh {
        /// `SMULH`: the operands are signed.
        signed: bool,
    },
}

/// `UBFM`/`SBFM` of `src` at `width`, as the Arm ARM's pseudocode defines them: with `imms ≥
/// immr`, bits `imms..immr` of `src` moved to the bottom; otherwise bits `imms..0` moved up to
/// bit `width − immr`; zero- or sign-extended above the field (`signed`), zero below it.
pub fn bitfield_move(width: Width, signed: bool, immr: u8, imms: u8, src: u64) -> u64 {
    let bits = width.bits() as u32;
    let (immr, imms) = (u32::from(immr), u32::from(imms));
    let ones = |n: u32| if n >= 64 { u64::MAX } else { (1u64 << n) - 1 };
    let (field, len, shift) = if imms >= immr {
        ((src >> immr) & ones(imms - immr + 1), imms - immr + 1, 0)
    } else {
        (src & ones(imms + 1), imms + 1, bits - immr)
    };
    let mut v = field << shift;
    if signed && (field >> (len - 1)) & 1 == 1 {
        v |= !ones(shift + len);
    }
    width.mask(v)
}

/// The bytes of `src` at `width` reversed within each container of `container` bytes (`REV16`:
/// 2, `REV32`: 4, `REV`: the register's width), as the Arm ARM's `REV` pseudocode has it.
pub fn reverse_bytes(width: Width, container: u8, src: u64) -> u64 {
    let bits = u32::from(container) * 8;
    let mut v = 0;
    for i in (0..width.bits() as u32).step_by(bits as usize) {
        let chunk = (src >> i) & (u64::MAX >> (64 - bits));
        v |= (chunk.swap_bytes() >> (64 - bits)) << i;
    }
    v
}

impl AluOp {
    /// Applies the operation at `width` (the caller masks the result).
    pub fn apply(self, width: Width, a: u64, b: u64) -> u64 {
        let bits = match width {
            Width::W => 32,
            Width::X => 64,
        };
        match self {
            AluOp::Add => a.wrapping_add(b),
            AluOp::Sub => a.wrapping_sub(b),
            AluOp::And => a & b,
            AluOp::Orr => a | b,
            AluOp::Eor => a ^ b,
            AluOp::Lsl => width.mask(a) << (b % bits),
            AluOp::Lsr => width.mask(a) >> (b % bits),
            AluOp::Mul => a.wrapping_mul(b),
            AluOp::Asr => match width {
                Width::W => ((a as u32 as i32) >> (b % 32)) as u32 as u64,
                Width::X => ((a as i64) >> (b % 64)) as u64,
            },
            AluOp::Bic => a & !b,
            AluOp::Orn => a | !b,
            AluOp::Movk(shift) => (a & !(0xffff << shift)) | ((b & 0xffff) << shift),
            AluOp::Bfm { signed, immr, imms } => bitfield_move(width, signed, immr, imms, a),
            AluOp::Ror => match width {
                Width::W => u64::from((a as u32).rotate_right((b % 32) as u32)),
                Width::X => a.rotate_right((b % 64) as u32),
            },
            AluOp::Extr(lsb) => match width {
                Width::W => (((a << 32) | (b & 0xffff_ffff)) >> lsb) & 0xffff_ffff,
                Width::X => ((u128::from(a) << 64 | u128::from(b)) >> lsb) as u64,
            },
            AluOp::Rev(container) => reverse_bytes(width, container, a),
            AluOp::Rbit => match width {
                Width::W => u64::from((a as u32).reverse_bits()),
                Width::X => a.reverse_bits(),
            },
            AluOp::Abs => match width {
                Width::W => u64::from((a as u32 as i32).unsigned_abs()),
                Width::X => (a as i64).unsigned_abs(),
            },
            AluOp::Clz => u64::from(width.mask(a).leading_zeros() - (64 - width.bits() as u32)),
            AluOp::Cls => {
                // The bits below the sign bit that equal it: the leading zeros of a XOR a >> 1,
                // less the sign bit's own place.
                let a = width.mask(a);
                let differ = a ^ (a >> 1);
                u64::from(width.mask(differ << 1).leading_zeros() - (64 - width.bits() as u32)).min(bits - 1)
            }
            AluOp::MulHigh { signed: true } => ((i128::from(a as i64) * i128::from(b as i64)) >> 64) as u64,
            AluOp::MulHigh { signed: false } => ((u128::from(a) * u128::from(b)) >> 64) as u64,
        }
    }

    /// True for the operations of one register (`REV`, `RBIT`, `ABS`, `CLZ`, `CLS` and the
    /// bit-field moves): their second operand is unused.
    pub fn is_unary(self) -> bool {
        matches!(self, AluOp::Bfm { .. } | AluOp::Rev(_) | AluOp::Rbit | AluOp::Abs | AluOp::Clz | AluOp::Cls)
    }
    /// True if the operation has a flag-setting form (`ADDS`, `SUBS`, `ANDS`, `BICS`).
    pub fn sets_flags_form(self) -> bool {
        matches!(self, AluOp::Add | AluOp::Sub | AluOp::And | AluOp::Bic)
    }

    /// NZCV of the flag-setting form at `width`, from the operands `a`, `b` (`b` already
    /// shifted) and the result: N and Z from the result; for `ADDS`, C is the unsigned carry
    /// out and V the signed overflow; for `SUBS`, as [`compare_flags`] (C: no borrow); the
    /// logical `ANDS`, `BICS` clear C and V.
    pub fn flags(self, width: Width, a: u64, b: u64) -> u64 {
        let (a, b) = (width.mask(a), width.mask(b));
        match self {
            AluOp::Sub => compare_flags(width, a, b),
            AluOp::Add => {
                let res = width.mask(a.wrapping_add(b));
                let sign = 1u64 << (width.bits() - 1);
                let carry = match width {
                    Width::W => a + b > u64::from(u32::MAX),
                    Width::X => a.checked_add(b).is_none(),
                };
                let overflow = (a ^ res) & (b ^ res) & sign != 0;
                nz_flags(width, res) | (u64::from(carry) * flags::C) | (u64::from(overflow) * flags::V)
            }
            _ => nz_flags(width, width.mask(self.apply(width, a, b))),
        }
    }

    fn name(self) -> &'static str {
        match self {
            AluOp::Add => "ADD",
            AluOp::Sub => "SUB",
            AluOp::And => "AND",
            AluOp::Orr => "ORR",
            AluOp::Eor => "EOR",
            AluOp::Lsl => "LSL",
            AluOp::Lsr => "LSR",
            AluOp::Mul => "MUL",
            AluOp::Asr => "ASR",
            AluOp::Bic => "BIC",
            AluOp::Orn => "ORN",
            AluOp::Movk(_) => "MOVK",
            AluOp::Bfm { signed: false, .. } => "UBFM",
            AluOp::Bfm { signed: true, .. } => "SBFM",
            AluOp::Ror => "ROR",
            AluOp::Extr(_) => "EXTR",
            AluOp::Rev(2) => "REV16",
            AluOp::Rev(_) => "REV",
            AluOp::Rbit => "RBIT",
            AluOp::Abs => "ABS",
            AluOp::Clz => "CLZ",
            AluOp::Cls => "CLS",
            AluOp::MulHigh { signed: true } => "SMULH",
            AluOp::MulHigh { signed: false } => "UMULH",
        }
    }
}

/// The low bytes of a value, zero- or sign-extended: a load or store of fewer bytes than its
/// register holds, or an extended register operand ([`Src2::Extended`], `UXTB` … `SXTX`).
///
/// Each location of a test is one cell that every access reads or writes whole, as herd7 has it
/// outside its mixed-size variant (which refuses a test that accesses one location at two
/// sizes): a narrow store writes its register's low bytes as the cell's value, a narrow load
/// reads the cell's low bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Narrow {
    /// 1, 2 or 4 for an access; 1, 2, 4 or 8 for an extended register.
    pub bytes: u8,
    /// A load sign-extends what it read to the register (`LDRSB`, `LDRSH`, `LDRSW`).
    pub signed: bool,
}

impl Narrow {
    /// The bits the access carries.
    pub fn mask(self) -> u64 {
        u64::MAX >> (64 - 8 * u32::from(self.bytes))
    }

    /// What a load of the cell value `v` puts in a register of `width`.
    pub fn extend(self, width: Width, v: u64) -> u64 {
        let bits = 8 * u32::from(self.bytes);
        let v = v & self.mask();
        let v = if self.signed && v >> (bits - 1) & 1 == 1 { v | !self.mask() } else { v };
        width.mask(v)
    }

    /// The mnemonic's size letter: `B`, `H`, `W` or `X`.
    pub fn letter(self) -> &'static str {
        match self.bytes {
            1 => "B",
            2 => "H",
            4 => "W",
            _ => "X",
        }
    }

    /// The register extension a word names (`SXTB`: one byte, signed; `UXTX`: eight), if any.
    pub fn extension(word: &str) -> Option<Narrow> {
        let upper = word.to_ascii_uppercase();
        let signed = match upper.get(..3)? {
            "UXT" => false,
            "SXT" => true,
            _ => return None,
        };
        let bytes = match &upper[3..] {
            "B" => 1,
            "H" => 2,
            "W" => 4,
            "X" => 8,
            _ => return None,
        };
        Some(Narrow { bytes, signed })
    }

    /// The extension's name, as [`Narrow::extension`] reads it.
    pub fn extension_name(self) -> String {
        format!("{}XT{}", if self.signed { 'S' } else { 'U' }, self.letter())
    }
}

/// The conditional selects ([`Inst::Csel`]): what is made of the second register when the
/// condition fails.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CselOp {
    /// `CSEL`: Rm.
    Sel,
    /// `CSINC`: Rm + 1.
    Inc,
    /// `CSINV`: NOT Rm.
    Inv,
    /// `CSNEG`: -Rm.
    Neg,
}

impl CselOp {
    /// The instruction's result at `width`: `n` if `holds`, else `m` transformed.
    pub fn select(self, width: Width, holds: bool, n: u64, m: u64) -> u64 {
        let v = if holds {
            n
        } else {
            match self {
                CselOp::Sel => m,
                CselOp::Inc => m.wrapping_add(1),
                CselOp::Inv => !m,
                CselOp::Neg => m.wrapping_neg(),
            }
        };
        width.mask(v)
    }

    fn name(self) -> &'static str {
        match self {
            CselOp::Sel => "CSEL",
            CselOp::Inc => "CSINC",
            CselOp::Inv => "CSINV",
            CselOp::Neg => "CSNEG",
        }
    }
}

/// Condition codes of B.cond and CSET.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Cond {
    /// Equal.
    Eq,
    /// Not equal.
    Ne,
    /// Unsigned higher or same (carry set).
    Hs,
    /// Unsigned lower (carry clear).
    Lo,
    /// Negative.
    Mi,
    /// Positive or zero.
    Pl,
    /// Overflow.
    Vs,
    /// No overflow.
    Vc,
    /// Unsigned higher.
    Hi,
    /// Unsigned lower or same.
    Ls,
    /// Signed greater or equal.
    Ge,
    /// Signed less than.
    Lt,
    /// Signed greater than.
    Gt,
    /// Signed less or equal.
    Le,
    /// Always.
    Al,
}

/// Flag bits as CMP stores them in [`Reg::FLAGS`].
pub mod flags {
    /// Negative.
    pub const N: u64 = 8;
    /// Zero.
    pub const Z: u64 = 4;
    /// Carry.
    pub const C: u64 = 2;
    /// Overflow.
    pub const V: u64 = 1;
}

impl Cond {
    /// All conditions with their assembler names.
    pub const NAMES: [(&'static str, Cond); 17] = [
        ("EQ", Cond::Eq),
        ("NE", Cond::Ne),
        ("HS", Cond::Hs),
        ("CS", Cond::Hs),
        ("LO", Cond::Lo),
        ("CC", Cond::Lo),
        ("MI", Cond::Mi),
        ("PL", Cond::Pl),
        ("VS", Cond::Vs),
        ("VC", Cond::Vc),
        ("HI", Cond::Hi),
        ("LS", Cond::Ls),
        ("GE", Cond::Ge),
        ("LT", Cond::Lt),
        ("GT", Cond::Gt),
        ("LE", Cond::Le),
        ("AL", Cond::Al),
    ];

    /// Evaluates the condition on NZCV flags.
    pub fn holds(self, nzcv: u64) -> bool {
        let n = nzcv & flags::N != 0;
        let z = nzcv & flags::Z != 0;
        let c = nzcv & flags::C != 0;
        let v = nzcv & flags::V != 0;
        match self {
            Cond::Eq => z,
            Cond::Ne => !z,
            Cond::Hs => c,
            Cond::Lo => !c,
            Cond::Mi => n,
            Cond::Pl => !n,
            Cond::Vs => v,
            Cond::Vc => !v,
            Cond::Hi => c && !z,
            Cond::Ls => !c || z,
            Cond::Ge => n == v,
            Cond::Lt => n != v,
            Cond::Gt => !z && n == v,
            Cond::Le => z || n != v,
            Cond::Al => true,
        }
    }

    /// The condition that holds exactly when this one does not (`None` for `AL`, whose
    /// inverse AArch64 does not give the aliases that need it).
    pub fn inverse(self) -> Option<Cond> {
        Some(match self {
            Cond::Eq => Cond::Ne,
            Cond::Ne => Cond::Eq,
            Cond::Hs => Cond::Lo,
            Cond::Lo => Cond::Hs,
            Cond::Mi => Cond::Pl,
            Cond::Pl => Cond::Mi,
            Cond::Vs => Cond::Vc,
            Cond::Vc => Cond::Vs,
            Cond::Hi => Cond::Ls,
            Cond::Ls => Cond::Hi,
            Cond::Ge => Cond::Lt,
            Cond::Lt => Cond::Ge,
            Cond::Gt => Cond::Le,
            Cond::Le => Cond::Gt,
            Cond::Al => return None,
        })
    }

    fn name(self) -> &'static str {
        Cond::NAMES.iter().find(|(_, c)| *c == self).map(|(n, _)| *n).unwrap_or("??")
    }
}

/// N and Z of a result at `width` (C and V clear).
fn nz_flags(width: Width, res: u64) -> u64 {
    let negative = res >> (width.bits() - 1) & 1 != 0;
    (u64::from(negative) * flags::N) | (u64::from(res == 0) * flags::Z)
}

/// NZCV of `a - b` at `width` (what CMP computes).
pub fn compare_flags(width: Width, a: u64, b: u64) -> u64 {
    let (a, b) = (width.mask(a), width.mask(b));
    let bits = match width {
        Width::W => 32,
        Width::X => 64,
    };
    let res = width.mask(a.wrapping_sub(b));
    let sign = 1u64 << (bits - 1);
    let mut f = 0;
    if res & sign != 0 {
        f |= flags::N;
    }
    if res == 0 {
        f |= flags::Z;
    }
    if a >= b {
        f |= flags::C; // no borrow
    }
    if ((a ^ b) & (a ^ res) & sign) != 0 {
        f |= flags::V;
    }
    f
}

/// System registers the cores implement.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SysReg {
    /// Exception vector base.
    VbarEl1,
    /// Exception link register: where ERET returns.
    ElrEl1,
    /// Saved PSTATE: what ERET restores.
    SpsrEl1,
    /// Exception syndrome (class in bits 31:26; SVC: 0x15 and the immediate).
    EsrEl1,
    /// Faulting address of a translation fault.
    FarEl1,
    /// Thread/per-CPU pointer of EL1 (Linux keeps the per-CPU offset here).
    TpidrEl1,
    /// Translation table base (ASID in bits 63:48).
    Ttbr0El1,
    /// System control (bit 0: MMU on).
    SctlrEl1,
    /// Interrupt masks (bit 7: I).
    Daif,
    /// Current exception level (in bits 3:2).
    CurrentEl,
    /// This core's affinity (socket, cluster, core).
    MpidrEl1,
    /// GIC: write to send a software-generated interrupt.
    IccSgi1rEl1,
    /// GIC: read to acknowledge the highest pending interrupt.
    IccIar1El1,
    /// GIC: write to end an interrupt.
    IccEoir1El1,
    /// Virtual counter (the core's cycle count).
    CntvctEl0,
    /// The EL0 stack pointer (at EL1; at EL0 it is `SP`).
    SpEl0,
    /// The EL1 stack pointer (set by the loader; at EL1 it is `SP`).
    SpEl1,
}

impl SysReg {
    /// Assembler names.
    pub const NAMES: [(&'static str, SysReg); 17] = [
        ("VBAR_EL1", SysReg::VbarEl1),
        ("ELR_EL1", SysReg::ElrEl1),
        ("SPSR_EL1", SysReg::SpsrEl1),
        ("ESR_EL1", SysReg::EsrEl1),
        ("FAR_EL1", SysReg::FarEl1),
        ("TPIDR_EL1", SysReg::TpidrEl1),
        ("TTBR0_EL1", SysReg::Ttbr0El1),
        ("SCTLR_EL1", SysReg::SctlrEl1),
        ("DAIF", SysReg::Daif),
        ("CURRENTEL", SysReg::CurrentEl),
        ("MPIDR_EL1", SysReg::MpidrEl1),
        ("ICC_SGI1R_EL1", SysReg::IccSgi1rEl1),
        ("ICC_IAR1_EL1", SysReg::IccIar1El1),
        ("ICC_EOIR1_EL1", SysReg::IccEoir1El1),
        ("CNTVCT_EL0", SysReg::CntvctEl0),
        ("SP_EL0", SysReg::SpEl0),
        ("SP_EL1", SysReg::SpEl1),
    ];

    /// The assembler name.
    pub fn name(self) -> &'static str {
        Self::NAMES.iter().find(|(_, r)| *r == self).map(|(n, _)| *n).expect("every register is named")
    }

    /// Parses an assembler name (case-insensitive).
    pub fn parse(s: &str) -> Option<SysReg> {
        let u = s.to_ascii_uppercase();
        Self::NAMES.iter().find(|(n, _)| *n == u).map(|(_, r)| *r)
    }
}

/// A decoded instruction. Branch targets are absolute code addresses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Inst {
    /// `LDR`/`LDAR Rt, [Xn{, index}]`, `LDXR`/`LDAXR Rt, [Xn]`.
    Load {
        /// Destination.
        rt: Operand,
        /// Base address register.
        base: Reg,
        /// Offset.
        index: Index,
        /// LDAR, LDAXR, LDAPR.
        acquire: bool,
        /// LDAPR: a load-acquire that an earlier store-release does not hold back (RCpc:
        /// `aarch64.cat`'s `Q`, which `[L]; po; [A]` leaves out).
        rcpc: bool,
        /// LDXR, LDAXR: once it has read, the core's exclusive monitor watches the granule (the
        /// cache line) it read, and a write to it by another core sets the core's event
        /// register, which is what wakes a `WFE`; and a later store-exclusive pairs with it
        /// (see [`Inst::Store`]'s `status`).
        exclusive: bool,
        /// `LDRB`, `LDRH`, `LDRSB`, `LDRSH`, `LDRSW`: the access is narrower than `rt`.
        narrow: Option<Narrow>,
    },
    /// `STR`/`STLR Rt, [Xn{, index}]`, `STXR`/`STLXR Ws, Rt, [Xn]`.
    Store {
        /// Value stored.
        rt: Operand,
        /// Base address register.
        base: Reg,
        /// Offset.
        index: Index,
        /// STLR, STLXR.
        release: bool,
        /// `STRB`, `STRH`: the access is narrower than `rt` (its low bits are stored).
        narrow: Option<Narrow>,
        /// `STXR`, `STLXR`: a store-exclusive, which writes 0 to this (W) register if it
        /// stores and 1 if it fails. It may store only if it pairs with the latest
        /// load-exclusive before it, to the same location, and no other core's write came
        /// between the write that load read and its own in coherence order (`aarch64.cat`'s
        /// `atomic`); it may fail at any time (herd7 lets it fail spuriously).
        status: Option<Operand>,
    },
    /// An atomic read-modify-write of `[Xn]` (ARMv8.1 LSE), with the
    /// ordering suffix `A` (acquire), `L` (release) or `AL` (both):
    /// * `CAS Rs, Rt, [Xn]`: if `[Xn]` equals Rs, writes Rt; Rs receives
    ///   the old value;
    /// * `SWP Rs, Rt, [Xn]`: writes Rs; Rt receives the old value;
    /// * `LDADD/LDCLR/LDEOR/LDSET Rs, Rt, [Xn]`: writes old + Rs, old AND
    ///   NOT Rs, old XOR Rs, old OR Rs; Rt receives the old value
    ///   (`STADD Rs, [Xn]` and friends: Rt = XZR).
    ///
    /// Rs and Rt have the same width.
    Rmw {
        /// What is done with the old value.
        op: RmwOp,
        /// Rs: the operand (SWP, `LD<op>`) or the compare value and destination (CAS).
        rs: Operand,
        /// Rt: the destination (SWP, `LD<op>`) or the new value (CAS).
        rt: Operand,
        /// Address register.
        base: Reg,
        /// `A`: the read is an acquire.
        acquire: bool,
        /// `L`: the write is a release.
        release: bool,
        /// The byte and halfword forms (`SWPB`, `CASAH`, `LDADDLB`, …), on W registers: the
        /// access reads and writes the location's low bytes, compares and combines at that width,
        /// and returns the old value zero-extended.
        narrow: Option<Narrow>,
    },
    /// `MOV Rd, src`.
    Mov {
        /// Destination.
        rd: Operand,
        /// Source.
        src: Src2,
    },
    /// `ADD/SUB/AND/ORR/EOR Rd, Rn, src`; with `flags`, the flag-setting forms `ADDS`, `SUBS`,
    /// `ANDS`, `BICS` (and their aliases `CMN`, `TST`, `NEGS`, which write `ZR`).
    Alu {
        /// Operation.
        op: AluOp,
        /// Destination.
        rd: Operand,
        /// First source.
        rn: Operand,
        /// Second source.
        src: Src2,
        /// Also sets the flags ([`Reg::FLAGS`]) from the operation, as [`AluOp::flags`] says:
        /// a second destination besides [`Inst::dest`] ([`Inst::writes_flags`]).
        flags: bool,
    },
    /// `CMP Rn, src`: sets the flags from `Rn - src`.
    Cmp {
        /// First operand.
        rn: Operand,
        /// Second operand.
        src: Src2,
    },
    /// `CSEL`, `CSINC`, `CSINV`, `CSNEG Rd, Rn, Rm, cond`: Rn if the condition holds, else Rm
    /// (`CSEL`), Rm + 1, NOT Rm or -Rm (their aliases `CSETM`, `CINC`, `CINV`, `CNEG` read as
    /// these).
    Csel {
        /// What becomes of Rm when the condition fails.
        op: CselOp,
        /// Destination.
        rd: Operand,
        /// Chosen when the condition holds.
        rn: Operand,
        /// Chosen, transformed by `op`, when it does not.
        rm: Operand,
        /// The condition on the flags.
        cond: Cond,
    },
    /// `MADD`/`MSUB Rd, Rn, Rm, Ra`: Ra plus or minus Rn × Rm; the long forms
    /// `SMADDL`/`SMSUBL`/`UMADDL`/`UMSUBL Xd, Wn, Wm, Xa` multiply the W registers extended to
    /// 64 bits. The aliases `MNEG`, `SMULL`, `SMNEGL`, `UMULL`, `UMNEGL` read as these with Ra
    /// the zero register (`MUL` is [`AluOp::Mul`]).
    MulAdd {
        /// Destination.
        rd: Operand,
        /// First factor.
        rn: Operand,
        /// Second factor.
        rm: Operand,
        /// The addend.
        ra: Operand,
        /// The product is subtracted from Ra (`MSUB`, `SMSUBL`, …).
        sub: bool,
        /// The long forms: `Some(signed)` for `SMADDL`… (`Some(true)`) and `UMADDL`…
        long: Option<bool>,
    },
    /// `CSET Rd, cond`: 1 if the condition holds, else 0.
    Cset {
        /// Destination.
        rd: Operand,
        /// Condition.
        cond: Cond,
    },
    /// `B target`.
    B {
        /// Target address.
        target: Addr,
    },
    /// `B.cond target`.
    BCond {
        /// Condition.
        cond: Cond,
        /// Target address.
        target: Addr,
    },
    /// `CBZ`/`CBNZ Rt, target`, `TBZ`/`TBNZ Rt, #bit, target`.
    Cbz {
        /// Tested register.
        rt: Operand,
        /// CBNZ (TBNZ) rather than CBZ (TBZ).
        nonzero: bool,
        /// TBZ/TBNZ: the one bit tested; `None` tests the whole register.
        bit: Option<u8>,
        /// Target address.
        target: Addr,
    },
    /// `DMB ISH|ISHLD|ISHST|SY|LD|ST`.
    Dmb(Fence),
    /// `DSB ISH|ISHLD|ISHST|SY|LD|ST|NSH…`: [`Fence::Sync`], [`Fence::SyncLoad`],
    /// [`Fence::SyncStore`] or [`Fence::LocalSync`].
    Dsb(Fence),
    /// `ISB`.
    Isb,
    /// `DC CVAU, Xt`: clean the data cache line at `Xt` to the point of unification.
    DcCvau {
        /// Address register.
        rt: Reg,
    },
    /// `IC IVAU, Xt`: invalidate the instruction at `Xt` in every I-cache.
    IcIvau {
        /// Address register.
        rt: Reg,
    },
    /// `IC IALLU` / `IC IALLUIS`: invalidate all instruction caches.
    IcIallu,
    /// `TLBI <op>{, Xt}`: invalidate translations.
    Tlbi {
        /// What is invalidated.
        scope: TlbiScope,
        /// The inner-shareable (broadcast) form.
        broadcast: bool,
        /// Operand register (VA and/or ASID), absent for `VMALLE1`.
        rt: Option<Reg>,
    },
    /// `SVC #imm`: supervisor call (synchronous exception to EL1).
    Svc(u16),
    /// `ERET`: return from exception.
    Eret,
    /// `MRS Xt, <sysreg>`.
    Mrs {
        /// Destination.
        rt: Operand,
        /// System register read.
        reg: SysReg,
    },
    /// `MSR <sysreg>, Xt`.
    Msr {
        /// System register written.
        reg: SysReg,
        /// Source.
        rt: Operand,
    },
    /// `MSR DAIFSet, #imm` (`set`) / `MSR DAIFClr, #imm`: mask or unmask exceptions.
    MsrDaif {
        /// Set (mask) rather than clear (unmask).
        set: bool,
        /// D, A, I, F bits (8, 4, 2, 1).
        imm: u8,
    },
    /// `BL target`: call (X30 = return address).
    Bl {
        /// Target address.
        target: Addr,
    },
    /// `BR Xn` (`link` false) / `BLR Xn` (`link` true).
    Br {
        /// Target register.
        rn: Reg,
        /// Also write the return address to X30.
        link: bool,
    },
    /// `RET {Xn}` (X30 when absent).
    Ret {
        /// Target register.
        rn: Reg,
    },
    /// An encoding that is no instruction: executing it raises an
    /// undefined-instruction exception.
    Udf(u32),
    /// `ADR Xd, label`: the address of a label.
    Adr {
        /// Destination.
        rd: Operand,
        /// The label's address.
        target: Addr,
    },
    /// `NOP`.
    Nop,
    /// `WFI`: waits, at the head of the reorder buffer, until an interrupt
    /// is pending for the core (masked or not). Exhaustive runs treat it as
    /// a NOP, which the architecture allows.
    Wfi,
    /// `WFE`: at the head of the reorder buffer, clears the event register if it is set and
    /// completes; otherwise waits until an event sets it (in this model: a write by another
    /// core to the granule its exclusive monitor watches, see [`Inst::Load`]) or an unmasked
    /// interrupt is taken. Exhaustive runs treat it as a NOP, which the architecture allows
    /// (WFE may complete at any time).
    Wfe,
    /// `SEVL`: sets the core's own event register (so that a first `WFE` completes at once).
    Sevl,
    /// `work N`: N cycles of computation, simulated as one event.
    Work(u64),
    /// `work Xn`: as many cycles of computation as Xn holds. It is fetched
    /// only when every older instruction has retired (the count is then
    /// architectural) and enters the pipeline as `work N`.
    WorkReg(Reg),
}

/// Registers an instruction reads, in a fixed order.
pub type Sources = [Option<Operand>; 3];

impl Inst {
    /// Size of every instruction in bytes.
    pub const BYTES: Addr = 4;

    /// Register written, if any.
    pub fn dest(&self) -> Option<Reg> {
        let r = match self {
            Inst::Load { rt, .. } | Inst::Mrs { rt, .. } => rt.reg,
            Inst::Rmw { op: RmwOp::Cas, rs, .. } => rs.reg,
            Inst::Rmw { rt, .. } => rt.reg,
            Inst::Store { status: Some(s), .. } => s.reg,
            Inst::Mov { rd, .. }
            | Inst::Alu { rd, .. }
            | Inst::Cset { rd, .. }
            | Inst::Csel { rd, .. }
            | Inst::MulAdd { rd, .. }
            | Inst::Adr { rd, .. } => rd.reg,
            Inst::Cmp { .. } => return Some(Reg::FLAGS),
            Inst::Bl { .. } | Inst::Br { link: true, .. } => Reg::LR,
            _ => return None,
        };
        (!r.is_zero()).then_some(r)
    }

    /// What a load puts in its register when it reads the cell value `v`: the value at the
    /// register's width, or at the access's, extended ([`Narrow::extend`]). (`v` for anything
    /// else.)
    pub fn loaded_value(&self, v: u64) -> u64 {
        match self {
            Inst::Load { rt, narrow: Some(n), .. } => n.extend(rt.width, v),
            Inst::Load { rt, .. } => rt.width.mask(v),
            _ => v,
        }
    }

    /// The result of a [`Inst::MulAdd`] from its source values in [`Inst::sources`] order
    /// (Rn, Rm, Ra): Ra ± Rn × Rm at the destination's width, the factors first extended from
    /// 32 bits for the long forms. (0 for anything else.)
    pub fn multiply_add(&self, vals: [u64; 3]) -> u64 {
        let Inst::MulAdd { rd, sub, long, .. } = *self else { return 0 };
        let extend = |v: u64| match long {
            Some(true) => v as u32 as i32 as i64 as u64,
            Some(false) => v as u32 as u64,
            None => v,
        };
        let product = extend(vals[0]).wrapping_mul(extend(vals[1]));
        rd.width.mask(if sub { vals[2].wrapping_sub(product) } else { vals[2].wrapping_add(product) })
    }

    /// What a store writes of its register's value `v` (its low bytes if it is narrow).
    pub fn stored_value(&self, v: u64) -> u64 {
        match self {
            Inst::Store { narrow: Some(n), .. } => v & n.mask(),
            _ => v,
        }
    }

    /// True if the instruction sets the flags besides writing [`Inst::dest`] (`ADDS` and the
    /// other flag-setting ALU forms; `CMP`'s destination is the flags themselves).
    pub fn writes_flags(&self) -> bool {
        matches!(self, Inst::Alu { flags: true, .. })
    }

    /// A register operation: MOV, an ALU operation, CMP, CSET, CSEL, a multiply-add, whose
    /// result [`Inst::register_result`] computes from its sources.
    pub fn is_register_op(&self) -> bool {
        matches!(
            self,
            Inst::Mov { .. }
                | Inst::Alu { .. }
                | Inst::Cmp { .. }
                | Inst::Cset { .. }
                | Inst::Csel { .. }
                | Inst::MulAdd { .. }
        )
    }

    /// The result of a register operation ([`Inst::is_register_op`]) from its source values in
    /// [`Inst::sources`] order, and the flags a flag-setting ALU instruction also writes (0 for
    /// the others). Panics for another instruction.
    #[inline(always)]
    pub fn register_result(self, vals: [u64; 3]) -> (u64, u64) {
        match self {
            Inst::Mov { rd, src } => (rd.width.mask(src.value(vals[0])), 0),
            Inst::Alu { op, rd, src, flags, .. } => {
                let b = match src {
                    Src2::Imm(v) => rd.width.mask(v),
                    _ => src.value(vals[1]),
                };
                let nzcv = if flags { op.flags(rd.width, vals[0], b) } else { 0 };
                (rd.width.mask(op.apply(rd.width, vals[0], b)), nzcv)
            }
            Inst::Cmp { rn, src } => (compare_flags(rn.width, vals[0], src.value(vals[1])), 0),
            Inst::Cset { cond, .. } => (cond.holds(vals[0]) as u64, 0),
            Inst::Csel { op, rd, cond, .. } => (op.select(rd.width, cond.holds(vals[0]), vals[1], vals[2]), 0),
            Inst::MulAdd { .. } => (self.multiply_add(vals), 0),
            _ => unreachable!("not a register operation: {self}"),
        }
    }

    /// Registers read: for loads `[base, index]`, for stores `[base, index,
    /// data]`, for RMWs `[base, Rs, Rt]` (CAS) or `[base, Rs]`.
    pub fn sources(&self) -> Sources {
        let x = |r: Reg| Some(Operand { reg: r, width: Width::X });
        let idx = |i: &Index| match i {
            Index::Reg(op, _) => Some(*op),
            Index::Imm(_) => None,
        };
        let s2 = |s: &Src2| match s {
            Src2::Reg(op) | Src2::Shifted(op, ..) | Src2::Extended(op, ..) => Some(*op),
            Src2::Imm(_) => None,
        };
        match self {
            Inst::Load { base, index, .. } => [x(*base), idx(index), None],
            Inst::Store { rt, base, index, .. } => [x(*base), idx(index), Some(*rt)],
            Inst::Rmw { op: RmwOp::Cas, rs, rt, base, .. } => [x(*base), Some(*rs), Some(*rt)],
            Inst::Rmw { rs, base, .. } => [x(*base), Some(*rs), None],
            Inst::Mov { src, .. } => [s2(src), None, None],
            Inst::Alu { rn, src, .. } | Inst::Cmp { rn, src } => [Some(*rn), s2(src), None],
            Inst::Cset { .. } | Inst::BCond { .. } => [x(Reg::FLAGS), None, None],
            Inst::Csel { rn, rm, .. } => [x(Reg::FLAGS), Some(*rn), Some(*rm)],
            Inst::MulAdd { rn, rm, ra, .. } => [Some(*rn), Some(*rm), Some(*ra)],
            Inst::Cbz { rt, .. } => [Some(*rt), None, None],
            Inst::DcCvau { rt } | Inst::IcIvau { rt } | Inst::Tlbi { rt: Some(rt), .. } => [x(*rt), None, None],
            Inst::Msr { rt, .. } => [Some(*rt), None, None],
            Inst::Br { rn, .. } | Inst::Ret { rn } => [x(*rn), None, None],
            _ => [None, None, None],
        }
    }

    /// True for branches whose target comes from a register.
    pub fn is_indirect_branch(&self) -> bool {
        matches!(self, Inst::Br { .. } | Inst::Ret { .. })
    }

    /// True for instructions that execute only at the head of the reorder
    /// buffer, once everything older has retired: exception generation and
    /// return, and system-register accesses (which are serializing).
    pub fn is_serializing(&self) -> bool {
        matches!(
            self,
            Inst::Svc(_)
                | Inst::Eret
                | Inst::Mrs { .. }
                | Inst::Msr { .. }
                | Inst::MsrDaif { .. }
                | Inst::Udf(_)
                | Inst::Wfi
                | Inst::Wfe
                | Inst::Sevl
        )
    }

    /// The RMW as the load/store queue sees it, for RMW instructions. An RMW whose destination
    /// (a CAS's Rs, another's Rt) is the zero register returns nothing: its read is not one for
    /// the purpose of a DMB LD (the Arm ARM says so of `ST<op>`), and an `A` form loses its
    /// acquire semantics. herd7 reads every atomic so (`AArch64Sem.ml` reads a SWP or CAS into
    /// the zero register as `NoRet` too), and the catalogue's `MP+rel+SWPnoret-dmb.ld` and
    /// `MP+rel+CASnoret-ok-dmb.ld` show `aarch64.cat` lets such a read pass a DMB LD.
    pub fn rmw(&self) -> Option<Rmw> {
        match *self {
            Inst::Rmw { op, rs, rt, acquire, release, narrow, .. } => {
                let dest = if op == RmwOp::Cas { rs } else { rt };
                let no_ret = dest.reg.is_zero();
                Some(Rmw {
                    op,
                    acquire: acquire && !no_ret,
                    release,
                    word: rs.width == Width::W,
                    no_ret,
                    narrow: narrow.map(|n| n.bytes),
                })
            }
            _ => None,
        }
    }

    /// True for conditional branches (the ones that can be mispredicted).
    pub fn is_conditional_branch(&self) -> bool {
        matches!(self, Inst::BCond { .. } | Inst::Cbz { .. })
    }

    /// Effective address of a load or store from its base and index values.
    pub fn effective_address(index: &Index, base: u64, idx: u64) -> Addr {
        match index {
            Index::Imm(off) => base.wrapping_add(*off as u64),
            Index::Reg(op, ext) => {
                let v = match ext {
                    Extend::Lsl(n) => op.width.mask(idx) << n,
                    Extend::Sxtw => idx as u32 as i32 as i64 as u64,
                    Extend::Uxtw => idx & 0xffff_ffff,
                };
                base.wrapping_add(v)
            }
        }
    }
}

/// Formats an instruction, naming branch targets through `label`.
pub struct Disasm<'a, F: Fn(Addr) -> Option<String>> {
    /// The instruction.
    pub inst: &'a Inst,
    /// Names a code address (e.g. by label), or `None` for hex.
    pub label: F,
}

impl<F: Fn(Addr) -> Option<String>> fmt::Display for Disasm<'_, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let t = |a: Addr| (self.label)(a).unwrap_or_else(|| format!("{a:#x}"));
        let mem = |f: &mut fmt::Formatter<'_>, base: &Reg, index: &Index| -> fmt::Result {
            match index {
                Index::Imm(0) => write!(f, "[{base}]"),
                Index::Imm(o) => write!(f, "[{base},#{o}]"),
                Index::Reg(r, Extend::Lsl(0)) => write!(f, "[{base},{r}]"),
                Index::Reg(r, Extend::Lsl(n)) => write!(f, "[{base},{r},LSL #{n}]"),
                Index::Reg(r, Extend::Sxtw) => write!(f, "[{base},{r},SXTW]"),
                Index::Reg(r, Extend::Uxtw) => write!(f, "[{base},{r},UXTW]"),
            }
        };
        match self.inst {
            Inst::Load { rt, base, index, acquire, exclusive, narrow, rcpc } => {
                let name = match (acquire, exclusive) {
                    (false, false) => "LDR",
                    (true, false) if *rcpc => "LDAPR",
                    (true, false) => "LDAR",
                    (false, true) => "LDXR",
                    (true, true) => "LDAXR",
                };
                let size =
                    narrow.map_or(String::new(), |n| format!("{}{}", if n.signed { "S" } else { "" }, n.letter()));
                write!(f, "{name}{size} {rt},")?;
                mem(f, base, index)
            }
            Inst::Store { rt, base, index, release, narrow, status } => {
                let size = narrow.map_or("", |n| n.letter());
                match status {
                    Some(s) => write!(f, "{}{size} {s},{rt},", if *release { "STLXR" } else { "STXR" })?,
                    None => write!(f, "{}{size} {rt},", if *release { "STLR" } else { "STR" })?,
                }
                mem(f, base, index)
            }
            Inst::Rmw { op, rs, rt, base, acquire, release, narrow } => {
                let order = match (acquire, release) {
                    (false, false) => "",
                    (true, false) => "A",
                    (false, true) => "L",
                    (true, true) => "AL",
                };
                let name = rmw_name(*op);
                let size = narrow.map_or("", |n| n.letter());
                // ST<op>{L} is the preferred form of LD<op>{L} that discards the old value.
                if rt.reg.is_zero() && !acquire && !matches!(op, RmwOp::Cas | RmwOp::Swp) {
                    write!(f, "ST{}{order}{size} {rs},[{base}]", &name[2..])
                } else {
                    write!(f, "{name}{order}{size} {rs},{rt},[{base}]")
                }
            }
            Inst::Mov { rd, src } => write!(f, "MOV {rd},{src}"),
            Inst::Alu { op: AluOp::Movk(0), rd, src, .. } => write!(f, "MOVK {rd},{src}"),
            Inst::Alu { op: AluOp::Movk(shift), rd, src, .. } => write!(f, "MOVK {rd},{src},LSL #{shift}"),
            Inst::Alu { op: op @ AluOp::Bfm { immr, imms, .. }, rd, rn, .. } => {
                write!(f, "{} {rd},{rn},#{immr},#{imms}", op.name())
            }
            Inst::Alu { op: AluOp::Rev(4), rd, rn, .. } if rd.width == Width::X => write!(f, "REV32 {rd},{rn}"),
            Inst::Alu { op: AluOp::Extr(lsb), rd, rn, src, .. } => write!(f, "EXTR {rd},{rn},{src},#{lsb}"),
            Inst::Alu { op, rd, rn, .. } if op.is_unary() => write!(f, "{} {rd},{rn}", op.name()),
            Inst::MulAdd { rd, rn, rm, ra, sub, long } => {
                let name = match long {
                    Some(true) => "SM",
                    Some(false) => "UM",
                    None => "M",
                };
                match (ra.reg.is_zero(), sub, long.is_some()) {
                    (true, false, true) => write!(f, "{name}ULL {rd},{rn},{rm}"),
                    (true, true, true) => write!(f, "{name}NEGL {rd},{rn},{rm}"),
                    (true, true, false) => write!(f, "MNEG {rd},{rn},{rm}"),
                    _ => {
                        let op = if *sub { "SUB" } else { "ADD" };
                        let l = if long.is_some() { "L" } else { "" };
                        write!(f, "{name}{op}{l} {rd},{rn},{rm},{ra}")
                    }
                }
            }
            Inst::Alu { op, rd, rn, src, flags: true } if rd.reg.is_zero() => match op {
                AluOp::Add => write!(f, "CMN {rn},{src}"),
                AluOp::And => write!(f, "TST {rn},{src}"),
                _ => write!(f, "{}S {rd},{rn},{src}", op.name()),
            },
            Inst::Alu { op: AluOp::Sub, rd, rn, src, flags: true } if rn.reg.is_zero() => {
                write!(f, "NEGS {rd},{src}")
            }
            Inst::Alu { op, rd, rn, src, flags } => {
                write!(f, "{}{} {rd},{rn},{src}", op.name(), if *flags { "S" } else { "" })
            }
            Inst::Cmp { rn, src } => write!(f, "CMP {rn},{src}"),
            Inst::Cset { rd, cond } => write!(f, "CSET {rd},{}", cond.name()),
            Inst::Csel { op, rd, rn, rm, cond } => write!(f, "{} {rd},{rn},{rm},{}", op.name(), cond.name()),
            Inst::B { target } => write!(f, "B {}", t(*target)),
            Inst::BCond { cond, target } => write!(f, "B.{} {}", cond.name(), t(*target)),
            Inst::Cbz { rt, nonzero, bit: Some(b), target } => {
                write!(f, "{} {rt},#{b},{}", if *nonzero { "TBNZ" } else { "TBZ" }, t(*target))
            }
            Inst::Cbz { rt, nonzero, bit: None, target } => {
                write!(f, "{} {rt},{}", if *nonzero { "CBNZ" } else { "CBZ" }, t(*target))
            }
            Inst::Dmb(k) => write!(
                f,
                "DMB {}",
                match k {
                    Fence::Load => "ISHLD",
                    Fence::Store => "ISHST",
                    Fence::Local => "NSH",
                    _ => "ISH",
                }
            ),
            Inst::Dsb(k) => write!(
                f,
                "DSB {}",
                match k {
                    Fence::SyncLoad => "ISHLD",
                    Fence::SyncStore => "ISHST",
                    Fence::LocalSync => "NSH",
                    _ => "ISH",
                }
            ),
            Inst::Isb => f.write_str("ISB"),
            Inst::Nop => f.write_str("NOP"),
            Inst::Wfi => f.write_str("WFI"),
            Inst::Wfe => f.write_str("WFE"),
            Inst::Sevl => f.write_str("SEVL"),
            Inst::Work(n) => write!(f, "work {n}"),
            Inst::WorkReg(r) => write!(f, "work {}", Operand { reg: *r, width: Width::X }),
            Inst::DcCvau { rt } => write!(f, "DC CVAU,{rt}"),
            Inst::IcIvau { rt } => write!(f, "IC IVAU,{rt}"),
            Inst::IcIallu => f.write_str("IC IALLU"),
            Inst::Tlbi { scope, broadcast, rt } => {
                let op = match scope {
                    TlbiScope::Va => "VAE1",
                    TlbiScope::VaAllAsids => "VAAE1",
                    TlbiScope::Asid => "ASIDE1",
                    TlbiScope::All => "VMALLE1",
                };
                write!(f, "TLBI {op}{}", if *broadcast { "IS" } else { "" })?;
                match rt {
                    Some(r) => write!(f, ",{r}"),
                    None => Ok(()),
                }
            }
            Inst::Svc(n) => write!(f, "SVC #{n}"),
            Inst::Eret => f.write_str("ERET"),
            Inst::Mrs { rt, reg } => write!(f, "MRS {rt},{}", reg.name()),
            Inst::Msr { reg, rt } => write!(f, "MSR {},{rt}", reg.name()),
            Inst::MsrDaif { set, imm } => write!(f, "MSR DAIF{},#{imm}", if *set { "Set" } else { "Clr" }),
            Inst::Bl { target } => write!(f, "BL {}", t(*target)),
            Inst::Br { rn, link } => write!(f, "{} {rn}", if *link { "BLR" } else { "BR" }),
            Inst::Ret { rn } if *rn == Reg::LR => f.write_str("RET"),
            Inst::Ret { rn } => write!(f, "RET {rn}"),
            Inst::Adr { rd, target } => write!(f, "ADR {rd},{}", t(*target)),
            Inst::Udf(v) => write!(f, "UDF #{v:#x}"),
        }
    }
}

/// Base mnemonic of an RMW operation (without the ordering suffix).
pub fn rmw_name(op: RmwOp) -> &'static str {
    match op {
        RmwOp::Cas => "CAS",
        RmwOp::Swp => "SWP",
        RmwOp::Add => "LDADD",
        RmwOp::Clr => "LDCLR",
        RmwOp::Eor => "LDEOR",
        RmwOp::Set => "LDSET",
        RmwOp::Smax => "LDSMAX",
        RmwOp::Smin => "LDSMIN",
        RmwOp::Umax => "LDUMAX",
        RmwOp::Umin => "LDUMIN",
    }
}

impl fmt::Display for Inst {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        Disasm { inst: self, label: |_| None }.fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cmp_flags_drive_conditions_like_hardware() {
        let f = compare_flags(Width::X, 3, 5);
        assert!(Cond::Lt.holds(f) && Cond::Lo.holds(f) && Cond::Ne.holds(f) && !Cond::Ge.holds(f));
        let f = compare_flags(Width::X, 5, 5);
        assert!(Cond::Eq.holds(f) && Cond::Ge.holds(f) && Cond::Le.holds(f) && Cond::Hs.holds(f));
        let f = compare_flags(Width::W, 0xffff_ffff, 1); // -1 < 1 signed, > unsigned
        assert!(Cond::Lt.holds(f) && Cond::Hi.holds(f));
        let f = compare_flags(Width::X, i64::MIN as u64, 1); // overflow
        assert!(Cond::Vs.holds(f) && !Cond::Gt.holds(f) && Cond::Lt.holds(f));
    }

    #[test]
    fn addresses_extend_their_index() {
        let w = Operand { reg: Reg(2), width: Width::W };
        assert_eq!(Inst::effective_address(&Index::Reg(w, Extend::Sxtw), 0x100, 0xffff_fff8), 0xf8);
        assert_eq!(Inst::effective_address(&Index::Reg(w, Extend::Uxtw), 0x100, 0xffff_fff8), 0x1_0000_00f8);
        let x = Operand { reg: Reg(2), width: Width::X };
        assert_eq!(Inst::effective_address(&Index::Reg(x, Extend::Lsl(3)), 0x100, 2), 0x110);
        assert_eq!(Inst::effective_address(&Index::Imm(-8), 0x100, 0), 0xf8);
    }
}
