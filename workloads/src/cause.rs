//! Why a counterexample happened, in one line: the pair of one CPU's
//! accesses that the memory model let the other CPU see in the opposite
//! order, and what would have ordered them; or, when no pair was reordered,
//! the protocol's decision that did it.
//!
//! `isolsim check` derives the pairs from the cycle of the counterexample's
//! execution graph, `isolsim fuzz` from the order in which a violation's
//! writes reached memory and its reads took their values.
//!
//! ```
//! use workloads::cause::{Access, AccessKind, Cause, Unordered};
//!
//! let c = Cause::Reordered(vec![Unordered {
//!     cpu: 1,
//!     first: Access::new(AccessKind::Store, "STR", "cpu1.isol_flags"),
//!     second: Access::new(AccessKind::Load, "LDR", "CHECK_DATA"),
//!     rule: "arm orders a store before a later load only by a DMB ISH, DSB ISH or DSB ISHST between them".into(),
//!     between: Some(vec!["ISB".into()]),
//!     seen: None,
//! }]);
//! assert_eq!(
//!     c.to_string(),
//!     "store→load: CPU 1's STR cpu1.isol_flags is not ordered before its LDR CHECK_DATA \
//!      (arm orders a store before a later load only by a DMB ISH, DSB ISH or DSB ISHST between them; between them: ISB)"
//! );
//! ```

use std::fmt;

use serde::{Deserialize, Serialize};

/// What an access does, for the `store→load` shape of a pair.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum AccessKind {
    /// A load (or the read of an atomic).
    Load,
    /// A store (or the write of an atomic).
    Store,
    /// The fetch of an instruction.
    Fetch,
    /// An exception return to user space.
    Eret,
}

impl AccessKind {
    fn word(self) -> &'static str {
        match self {
            AccessKind::Load => "load",
            AccessKind::Store => "store",
            AccessKind::Fetch => "fetch",
            AccessKind::Eret => "ERET",
        }
    }
}

/// One access of a pair: `STR cpu1.isol_flags`, `fetch of check_site`, `ERET`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Access {
    /// Its kind.
    pub kind: AccessKind,
    /// The instruction (`STR`, `LDAR`, `SWPAL`), or `fetch of` for a fetch.
    pub instr: String,
    /// What it accesses, by name (empty for an ERET).
    pub what: String,
}

impl Access {
    /// An access.
    pub fn new(kind: AccessKind, instr: &str, what: &str) -> Access {
        Access { kind, instr: instr.to_string(), what: what.to_string() }
    }
}

impl fmt::Display for Access {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.what.is_empty() { write!(f, "{}", self.instr) } else { write!(f, "{} {}", self.instr, self.what) }
    }
}

/// Two accesses of one CPU, in program order, that another CPU saw the other way round.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unordered {
    /// The CPU.
    pub cpu: usize,
    /// The earlier access in program order.
    pub first: Access,
    /// The later one.
    pub second: Access,
    /// What would have ordered them under the model.
    pub rule: String,
    /// The barriers (and context synchronization) between them, as written; `None` when the
    /// run did not record them.
    pub between: Option<Vec<String>>,
    /// What the run saw, when it was timed (`the store reached memory at cycle …`).
    pub seen: Option<String>,
}

impl fmt::Display for Unordered {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}→{}: CPU {}'s {} is not ordered before its {} (",
            self.first.kind.word(),
            self.second.kind.word(),
            self.cpu,
            self.first,
            self.second
        )?;
        if let Some(seen) = &self.seen {
            write!(f, "{seen}; ")?;
        }
        match &self.between {
            None => write!(f, "{})", self.rule),
            Some(b) if b.is_empty() => write!(f, "{}; nothing between them)", self.rule),
            Some(b) => write!(f, "{}; between them: {})", self.rule, b.join(", ")),
        }
    }
}

/// Why a counterexample happened.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Cause {
    /// Pairs the model let be seen reordered (one per CPU that reordered).
    Reordered(Vec<Unordered>),
    /// Nothing reordered: the protocol decided wrongly on what it read (the sentence says
    /// what it read and decided).
    Decision(String),
}

impl fmt::Display for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Cause::Reordered(pairs) => {
                for (i, p) in pairs.iter().enumerate() {
                    if i > 0 {
                        write!(f, "; and ")?;
                    }
                    write!(f, "{p}")?;
                }
                Ok(())
            }
            Cause::Decision(why) => write!(f, "no reordering: {why}"),
        }
    }
}
