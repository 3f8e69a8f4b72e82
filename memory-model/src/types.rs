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
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, Default, schemars::JsonSchema)]
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
    /// earlier maintenance operations (TLBI, IC) in the machine model.
    Sync,
    /// ISB: context synchronization; later loads wait for earlier branches and
    /// addresses to be resolved.
    Isb,
}

impl Fence {
    /// True for DMB ISH/SY and DSB: the "strong" barriers of the Flat model.
    pub fn is_full(self) -> bool {
        matches!(self, Fence::Full | Fence::Sync)
    }
}
