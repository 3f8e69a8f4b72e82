//! Addresses, values, write identities and consistency modes.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// A byte address in simulated memory.
pub type Addr = u64;
/// The value of one naturally aligned 64-bit location.
pub type Value = u64;
/// Index of a hardware thread (core).
pub type ThreadId = u16;

/// Identity of one write: the core that made it and the dynamic instruction
/// instance (fetch sequence number) of the store. The initial value of every
/// location is written by [`WriteId::INIT`], first in coherence order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct WriteId {
    /// Writing thread, or `u16::MAX` for the initial state.
    pub tid: ThreadId,
    /// Dynamic instance number of the store within its thread.
    pub iid: u32,
}

impl WriteId {
    /// The initial write of every location.
    pub const INIT: WriteId = WriteId { tid: ThreadId::MAX, iid: 0 };

    /// True for the initial-state write.
    pub fn is_init(self) -> bool {
        self == Self::INIT
    }
}

impl fmt::Display for WriteId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_init() { write!(f, "init") } else { write!(f, "P{}#{}", self.tid, self.iid) }
    }
}

/// Memory consistency mode of a run.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, Default, schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Sequential consistency: no store buffer, accesses in program order.
    Sc,
    /// Total store order: FIFO store buffer with forwarding, loads in order;
    /// only full barriers (DMB ISH, DSB) wait for the buffer to drain.
    Tso,
    /// ARMv8-like: out-of-order, speculative, other-multi-copy-atomic, after
    /// the operational Flat model (Pulte et al., POPL 2018).
    #[default]
    Arm,
}

impl Mode {
    /// All modes, weakest last.
    pub const ALL: [Mode; 3] = [Mode::Sc, Mode::Tso, Mode::Arm];

    /// Lower-case name as used on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Mode::Sc => "sc",
            Mode::Tso => "tso",
            Mode::Arm => "arm",
        }
    }

    /// True if loads may be satisfied past unresolved branches.
    pub fn speculates(self) -> bool {
        self == Mode::Arm
    }

    /// True if a retired store may wait in a store buffer before it reaches
    /// memory (TSO, ARMv8); under SC a store retires only once propagated.
    pub fn has_store_buffer(self) -> bool {
        self != Mode::Sc
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Mode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "sc" => Ok(Mode::Sc),
            "tso" | "x86" | "x86-tso" => Ok(Mode::Tso),
            "arm" | "armv8" | "aarch64" => Ok(Mode::Arm),
            _ => Err(format!("unknown memory model `{s}` (expected sc, tso or arm)")),
        }
    }
}

/// Barrier instructions as the ordering rules see them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Fence {
    /// DMB ISH / DMB SY: orders all earlier accesses before all later ones.
    Full,
    /// DMB ISHLD: orders earlier loads before later loads and stores.
    Load,
    /// DMB ISHST: orders earlier stores before later stores.
    Store,
    /// DSB ISH / DSB SY: a full barrier that also waits for completion of
    /// earlier cache and TLB maintenance.
    Sync,
    /// DSB ISHLD / DSB LD: nothing after it runs until earlier loads have
    /// finished (Arm's DSB-ob with `dsb.ld`).
    SyncLoad,
    /// DSB ISHST / DSB ST: nothing after it runs (loads included) until
    /// earlier stores have propagated (Arm's DSB-ob with `dsb.st`).
    SyncStore,
    /// ISB: context synchronization; later loads wait for earlier branches and
    /// addresses to be resolved, later instructions are fetched anew.
    Isb,
    /// DMB NSH / NSHLD / NSHST: the non-shareable domain is this core alone,
    /// so it orders nothing another core can observe (Arm's model leaves the
    /// NSH barriers out of dmb.full, dmb.ld and dmb.st).
    Local,
    /// DSB NSH / NSHLD / NSHST: waits for earlier maintenance to complete
    /// (a local TLBI) before anything later runs, but, like DMB NSH, does not
    /// wait for earlier stores to become visible to other cores.
    LocalSync,
}

impl Fence {
    /// The instruction, as written in the kernel's assembler.
    pub fn mnemonic(self) -> &'static str {
        match self {
            Fence::Full => "DMB ISH",
            Fence::Load => "DMB ISHLD",
            Fence::Store => "DMB ISHST",
            Fence::Sync => "DSB ISH",
            Fence::SyncLoad => "DSB ISHLD",
            Fence::SyncStore => "DSB ISHST",
            Fence::Isb => "ISB",
            Fence::Local => "DMB NSH",
            Fence::LocalSync => "DSB NSH",
        }
    }

    /// True for DMB ISH/SY and DSB ISH/SY: the "strong" barriers of the Flat model.
    pub fn is_full(self) -> bool {
        matches!(self, Fence::Full | Fence::Sync)
    }

    /// True for the DMB LD-like kinds (earlier loads before everything later).
    pub fn is_load(self) -> bool {
        matches!(self, Fence::Load | Fence::SyncLoad)
    }

    /// True for the DMB ST-like kinds (earlier stores before later stores).
    pub fn is_store(self) -> bool {
        matches!(self, Fence::Store | Fence::SyncStore)
    }

    /// True for the DSB kinds: nothing after one runs until the accesses it
    /// waits for have completed.
    pub fn is_sync(self) -> bool {
        matches!(self, Fence::Sync | Fence::SyncLoad | Fence::SyncStore | Fence::LocalSync)
    }

    /// True for the DSBs that wait for earlier cache and TLB maintenance to
    /// complete under ARMv8: DSB ISH/SY (Arm's `dsb.full`: DSB-ob's
    /// `[DC.CVAU | IC]; po; [dsb.full]`) and DSB NSH for this core's own
    /// (local) TLBIs. DSB ISHST and ISHLD wait for stores or loads only.
    pub fn completes_maintenance(self) -> bool {
        matches!(self, Fence::Sync | Fence::LocalSync)
    }
}

/// What an atomic read-modify-write instruction (ARMv8.1 LSE) does with the
/// value it reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum RmwOp {
    /// CAS: writes the new value if the old one equals the compare value.
    Cas,
    /// SWP: writes the operand.
    Swp,
    /// LDADD: writes old + operand.
    Add,
    /// LDCLR: writes old AND NOT operand (bit clear).
    Clr,
    /// LDEOR: writes old XOR operand.
    Eor,
    /// LDSET: writes old OR operand (bit set).
    Set,
    /// LDSMAX: writes the greater of old and operand, as signed integers of the access's width.
    Smax,
    /// LDSMIN: writes the lesser, signed.
    Smin,
    /// LDUMAX: writes the greater, unsigned.
    Umax,
    /// LDUMIN: writes the lesser, unsigned.
    Umin,
}

/// An atomic read-modify-write as the ordering rules see it: one access
/// that reads and (unless a CAS fails) writes its location in a single step.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Rmw {
    /// The operation.
    pub op: RmwOp,
    /// `A` (and `AL`): the read is an acquire, like LDAR.
    pub acquire: bool,
    /// `L` (and `AL`): the write is a release, like STLR.
    pub release: bool,
    /// The 32-bit (`W`) form: the old value is the low 32 bits of the
    /// location, the new one is written zero-extended.
    pub word: bool,
    /// An `ST<op>` (an `LD<op>` whose destination is the zero register): Arm
    /// does not count its read for a DMB LD or DSB LD (`[R \ NoRet]` in
    /// aarch64.cat's `bob` and `DSB-ob`).
    #[serde(default)]
    pub no_ret: bool,
    /// The byte and halfword forms (`SWPB`, `CASH`, `LDADDALB`, …): the access's bytes, 1 or 2
    /// (`word` is then set, as their registers are W). The old value is the location's low
    /// bytes, compared and combined at that width, and the new one is written zero-extended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub narrow: Option<u8>,
}

impl Rmw {
    /// The bits of a value the access carries.
    fn mask(self) -> Value {
        match self.narrow {
            Some(bytes) => u64::MAX >> (64 - 8 * u32::from(bytes.clamp(1, 8))),
            None if self.word => 0xffff_ffff,
            None => u64::MAX,
        }
    }

    /// `v` at the access's width, sign-extended (for LDSMAX and LDSMIN).
    fn signed(self, v: Value) -> i64 {
        let unused = self.mask().leading_zeros();
        ((v << unused) as i64) >> unused
    }

    /// The value written over `old`, or `None` for a CAS whose compare
    /// fails (nothing is written). `operand` is Rs (SWP, LDADD, ...) or the
    /// new value Rt (CAS); `compare` is the CAS compare value Rs.
    pub fn apply(self, old: Value, operand: Value, compare: Value) -> Option<Value> {
        let mask = |v: Value| v & self.mask();
        let (old, operand) = (mask(old), mask(operand));
        let new = match self.op {
            RmwOp::Cas if old != mask(compare) => return None,
            RmwOp::Cas | RmwOp::Swp => operand,
            RmwOp::Add => old.wrapping_add(operand),
            RmwOp::Clr => old & !operand,
            RmwOp::Eor => old ^ operand,
            RmwOp::Set => old | operand,
            RmwOp::Umax => old.max(operand),
            RmwOp::Umin => old.min(operand),
            RmwOp::Smax | RmwOp::Smin => {
                let greater = self.signed(old) >= self.signed(operand);
                if greater == (self.op == RmwOp::Smax) { old } else { operand }
            }
        };
        Some(mask(new))
    }

    /// The value the instruction returns: the old value at its width.
    pub fn returned(self, old: Value) -> Value {
        old & self.mask()
    }
}

/// Scope of a TLB invalidation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum TlbiScope {
    /// One page, for the operand's ASID (and global entries): TLBI VAE1.
    Va,
    /// One page, every ASID: TLBI VAAE1.
    VaAllAsids,
    /// Every non-global entry of one ASID: TLBI ASIDE1.
    Asid,
    /// Everything: TLBI VMALLE1.
    All,
}

/// Cache and TLB maintenance operations. They order like loads (DMB ISH
/// and DMB ISHLD order them, DMB ISHST does not), are never performed
/// speculatively, and a DSB waits for them to complete.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum MaintOp {
    /// DC CVAU: clean the data at an address to the point of unification,
    /// where instruction fetch can see it. Waits for earlier stores to the
    /// same address.
    DcCvau,
    /// IC IVAU: invalidate an address in every instruction cache of the
    /// inner-shareable domain.
    IcIvau,
    /// IC IALLU / IC IALLUIS: invalidate every instruction cache. (Arm's
    /// instruction-fetch model does not distinguish the local form.)
    IcIallu,
    /// TLBI: invalidate translations, on this core only or broadcast to the
    /// inner-shareable domain.
    Tlbi {
        /// What is invalidated.
        scope: TlbiScope,
        /// The IS form (all cores) rather than the local one.
        broadcast: bool,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rmw_operations_and_widths() {
        let rmw = |op, word| Rmw { op, acquire: false, release: false, word, no_ret: false, narrow: None };
        assert_eq!(rmw(RmwOp::Add, false).apply(u64::MAX, 2, 0), Some(1));
        assert_eq!(rmw(RmwOp::Add, true).apply(0xffff_ffff, 2, 0), Some(1), "W: wraps at 32 bits");
        assert_eq!(rmw(RmwOp::Clr, false).apply(0b1110, 0b0110, 0), Some(0b1000));
        assert_eq!(rmw(RmwOp::Eor, false).apply(0b1100, 0b0110, 0), Some(0b1010));
        assert_eq!(rmw(RmwOp::Set, false).apply(0b1000, 0b0001, 0), Some(0b1001));
        // The maxima and minima compare at the access's width: a W -1 is less than 1 signed
        // and the greatest unsigned; the operand's bits above the word do not count.
        for (op, word, old, operand, new) in [
            (RmwOp::Smax, true, 0xffff_ffff, 1, 1),
            (RmwOp::Smin, true, 0xffff_ffff, 1, 0xffff_ffff),
            (RmwOp::Umax, true, 0xffff_ffff, 1, 0xffff_ffff),
            (RmwOp::Umin, true, 0xffff_ffff, 0x1_0000_0002, 2),
            (RmwOp::Smax, true, 0x1_0000_0005, 0x8000_0000, 5),
            (RmwOp::Smax, false, 0xffff_ffff, 1, 0xffff_ffff),
            (RmwOp::Smax, false, u64::MAX, 1, 1),
            (RmwOp::Smin, false, u64::MAX, 1, u64::MAX),
            (RmwOp::Umax, false, u64::MAX, 1, u64::MAX),
            (RmwOp::Umin, false, 7, 7, 7),
        ] {
            assert_eq!(rmw(op, word).apply(old, operand, 0), Some(new), "{op:?} word {word}: {old:#x}, {operand:#x}");
        }
        assert_eq!(rmw(RmwOp::Swp, true).apply(7, 0x1_0000_0003, 0), Some(3));
        assert_eq!(rmw(RmwOp::Cas, false).apply(5, 9, 5), Some(9));
        assert_eq!(rmw(RmwOp::Cas, false).apply(5, 9, 4), None, "a failed compare writes nothing");
        assert_eq!(rmw(RmwOp::Cas, true).apply(0x1_0000_0005, 9, 5), Some(9), "W: compares the low 32 bits");
        assert_eq!(rmw(RmwOp::Cas, true).returned(0x1_0000_0005), 5);
    }

    #[test]
    fn byte_and_halfword_rmws_work_at_their_width() {
        let rmw =
            |op, bytes| Rmw { op, acquire: false, release: false, word: true, no_ret: false, narrow: Some(bytes) };
        assert_eq!(rmw(RmwOp::Add, 1).apply(0xff, 2, 0), Some(1), "B: wraps at 8 bits");
        assert_eq!(rmw(RmwOp::Add, 2).apply(0xffff, 0x1_0002, 0), Some(1), "H: the operand's high bits do not count");
        assert_eq!(rmw(RmwOp::Swp, 1).apply(7, 0x1234, 0), Some(0x34));
        // Signed at the access's width: a byte 0x80 is -128.
        assert_eq!(rmw(RmwOp::Smax, 1).apply(0x80, 1, 0), Some(1));
        assert_eq!(rmw(RmwOp::Smin, 2).apply(0x8000, 1, 0), Some(0x8000));
        assert_eq!(rmw(RmwOp::Umax, 1).apply(0x80, 0x17f, 0), Some(0x80));
        assert_eq!(rmw(RmwOp::Cas, 2).apply(0x5, 9, 0x1_0005), Some(9), "H: compares the low 16 bits");
        assert_eq!(rmw(RmwOp::Cas, 1).apply(0x5, 9, 0x6), None);
        assert_eq!(rmw(RmwOp::Cas, 1).returned(0x1_2345), 0x45);
    }
}
