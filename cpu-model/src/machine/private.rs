//! Data private to one core's user code: what lets the in-order core's accesses run ahead of
//! the other cores' events, and the check that keeps that exact.
//!
//! The in-order core ([`crate::core::in_order`]) performs a load or store before the
//! machine's next event, so that no access of another core is reordered against it. Its
//! task's own data (oslat's histogram, its table of system-call times) is touched by no
//! other core, so its accesses to it could run further, as far as its register operations do
//! (up to the first interrupt or broadcast TLB invalidation that could reach it). Whoever sets
//! up the run says which physical ranges are private to which core
//! ([`super::Machine::keep_private`]); the machine then lets the owner's in-order accesses to
//! them run ahead when their translation is a TLB hit (a walk reads page tables that others
//! may write), and checks the declaration on every other core's access:
//!
//! ```text
//!   owner (in order)   ──────── access @ t (ahead of the clock) ───────▶
//!   another core       ── access @ T ──▶     T ≤ t: the order is inverted → PrivateFault
//! ```
//!
//! An access by another core at a cycle the owner's accesses had already run past, to the data
//! or to the descriptor that maps it, is the one thing that would make the run differ from one
//! in which every instruction issues in an event of its own. It is never silently absorbed:
//! the machine records it ([`super::Machine::private_fault`]) and the run is an error.
//! Accesses by others at later cycles are no fault: they come after the owner's in both runs.

use std::fmt;
use std::ops::Range;

use memory_model::{Addr, ThreadId};
use serde::{Deserialize, Serialize};
use sim::Cycle;

/// The declared private ranges and how far each owner has run ahead into them.
#[derive(Clone, Debug, Default)]
pub(crate) struct PrivateData {
    /// (physical range, owner), sorted by start, disjoint.
    ranges: Vec<(Range<Addr>, ThreadId)>,
    /// Covers every range: most accesses fall outside it and cost one comparison.
    span: Range<Addr>,
    /// Per core, some range is private to it (a core without any pays nothing for the others').
    owners: Vec<bool>,
    /// Per core, the latest cycle at which its in-order core accessed its private data in a way
    /// that may run ahead of the machine's next event (`None`: never). Accesses that did not
    /// run ahead count too, which only makes the check stricter.
    ahead_to: Vec<Option<Cycle>>,
    /// Per core, the index in `ranges` of the range its last access to its own data was in
    /// (where the next one most likely is).
    last: Vec<usize>,
    /// The first access that came too late.
    fault: Option<PrivateFault>,
}

/// What another core touched.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Touched {
    /// The private data itself (a load, a store, an RMW, or the coherence state a load or store
    /// is timed by).
    Data,
    /// The page-table descriptor through which the owner's in-order core reached its data.
    Descriptor,
    /// The private data, read as a page table by a walk.
    Walk,
}

/// An access by one core to data another core's user code keeps private, at a cycle that core's
/// in-order accesses had already run past: the run is no longer exactly the one in which every
/// instruction issues in an event of its own.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrivateFault {
    /// The core the data is private to.
    pub owner: ThreadId,
    /// The core that touched it.
    pub by: ThreadId,
    /// The physical address touched.
    pub addr: Addr,
    /// What was touched.
    pub touched: Touched,
    /// Cycle of the access.
    pub at: Cycle,
    /// The latest cycle the owner had accessed its private data at.
    pub owner_ahead_to: Cycle,
}

impl fmt::Display for PrivateFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.touched {
            Touched::Data => "accessed",
            Touched::Descriptor => "rewrote the descriptor mapping",
            Touched::Walk => "walked page tables through",
        };
        write!(
            f,
            "CPU {} {what} {:#x} at cycle {}, which CPU {}'s user code keeps private and had already \
             accessed up to cycle {} on the in-order core; declare only data no other CPU touches \
             private, or run without machine.core.user_code = \"in-order\"",
            self.by, self.addr, self.at, self.owner, self.owner_ahead_to
        )
    }
}

impl PrivateData {
    /// Declares `range` private to `owner`. Panics if it overlaps a range declared before (a
    /// harness error, not input).
    pub(crate) fn declare(&mut self, owner: ThreadId, range: Range<Addr>) {
        if range.is_empty() {
            return;
        }
        let at = self.ranges.partition_point(|(r, _)| r.start < range.start);
        let clear_before = at == 0 || self.ranges[at - 1].0.end <= range.start;
        let clear_after = self.ranges.get(at).is_none_or(|(r, _)| range.end <= r.start);
        assert!(clear_before && clear_after, "private range {range:#x?} overlaps one declared before");
        self.span = if self.ranges.is_empty() {
            range.clone()
        } else {
            self.span.start.min(range.start)..self.span.end.max(range.end)
        };
        self.ranges.insert(at, (range, owner));
        if self.owners.len() <= owner as usize {
            self.owners.resize(owner as usize + 1, false);
        }
        self.owners[owner as usize] = true;
    }

    /// Forgets how far anyone ran ahead, and the fault (a new run; the declarations stay).
    pub(crate) fn reset(&mut self, cores: usize) {
        self.ahead_to = vec![None; cores];
        self.fault = None;
    }

    /// True if `addr` is private to `core`.
    #[inline]
    pub(crate) fn owns(&mut self, core: ThreadId, addr: Addr) -> bool {
        let c = core as usize;
        if let Some((r, o)) = self.last.get(c).and_then(|&i| self.ranges.get(i))
            && *o == core
            && r.contains(&addr)
        {
            return true;
        }
        if self.owner(addr) != Some(core) {
            return false;
        }
        if self.last.len() <= c {
            self.last.resize(c + 1, usize::MAX);
        }
        self.last[c] = self.ranges.partition_point(|(r, _)| r.end <= addr);
        true
    }

    /// The range holding `addr` if it is private to `core`.
    pub(crate) fn range_of(&self, core: ThreadId, addr: Addr) -> Option<Range<Addr>> {
        let i = self.ranges.partition_point(|(r, _)| r.end <= addr);
        self.ranges.get(i).filter(|(r, o)| r.contains(&addr) && *o == core).map(|(r, _)| r.clone())
    }

    /// The core `addr` is private to, if any.
    #[inline]
    pub(crate) fn owner(&self, addr: Addr) -> Option<ThreadId> {
        if !self.span.contains(&addr) {
            return None;
        }
        let i = self.ranges.partition_point(|(r, _)| r.end <= addr);
        self.ranges.get(i).filter(|(r, _)| r.contains(&addr)).map(|&(_, o)| o)
    }

    /// `core` accesses its private data ahead of the machine's next event, at cycle `at`.
    #[inline(always)]
    pub(crate) fn ran_ahead(&mut self, core: ThreadId, at: Cycle) {
        match self.ahead_to.get_mut(core as usize) {
            Some(lead) => *lead = (*lead).max(Some(at)),
            None => self.ran_ahead_first(core, at),
        }
    }

    /// How far `core` has run ahead with its private data (what [`PrivateData::ran_ahead`] set).
    pub(crate) fn lead(&self, core: ThreadId) -> Option<Cycle> {
        self.ahead_to.get(core as usize).copied().flatten()
    }

    /// Puts `core`'s lead back to `lead`, a value [`PrivateData::lead`] returned (a speculative
    /// run rolled back).
    pub(crate) fn set_lead(&mut self, core: ThreadId, lead: Option<Cycle>) {
        if let Some(l) = self.ahead_to.get_mut(core as usize) {
            *l = lead;
        } else if lead.is_some() {
            self.ran_ahead_first(core, 0);
            self.ahead_to[core as usize] = lead;
        }
    }

    /// [`PrivateData::ran_ahead`] for a core the table has no room for yet.
    #[cold]
    fn ran_ahead_first(&mut self, core: ThreadId, at: Cycle) {
        self.ahead_to.resize(core as usize + 1, None);
        self.ahead_to[core as usize] = Some(at);
    }

    /// Core `by` touches `addr` at cycle `at` (or reads the state that times such an access):
    /// a fault if another core keeps it private and had run ahead to `at` or later.
    #[inline]
    pub(crate) fn check(&mut self, by: ThreadId, addr: Addr, at: Cycle, touched: Touched) {
        if let Some(owner) = self.owner(addr)
            && owner != by
        {
            self.check_owner(owner, by, addr, at, touched);
        }
    }

    /// As [`PrivateData::check`], for data known to be `owner`'s (a descriptor it went through):
    /// a fault if `owner` had run ahead to `at` or later.
    pub(crate) fn check_owner(&mut self, owner: ThreadId, by: ThreadId, addr: Addr, at: Cycle, touched: Touched) {
        if let Some(Some(lead)) = self.ahead_to.get(owner as usize).copied()
            && at <= lead
            && self.fault.is_none()
        {
            self.fault = Some(PrivateFault { owner, by, addr, touched, at, owner_ahead_to: lead });
        }
    }

    /// True if some range is private to `core`.
    #[inline]
    pub(crate) fn owns_any(&self, core: ThreadId) -> bool {
        self.owners.get(core as usize).copied().unwrap_or(false)
    }

    /// The first fault, if any.
    pub(crate) fn fault(&self) -> Option<PrivateFault> {
        self.fault
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_belongs_to_the_range_that_holds_it() {
        let mut p = PrivateData::default();
        p.declare(2, 0x2000..0x2040);
        p.declare(1, 0x1000..0x1100);
        p.declare(3, 0x1100..0x1140);
        assert_eq!(p.owner(0xfff), None);
        assert_eq!(p.owner(0x1000), Some(1));
        assert_eq!(p.owner(0x10ff), Some(1));
        assert_eq!(p.owner(0x1100), Some(3));
        assert_eq!(p.owner(0x1140), None);
        assert_eq!(p.owner(0x203f), Some(2));
        assert_eq!(p.owner(0x2040), None);
        // Remembering the last range a core's data was in changes no answer.
        for (core, addr, owns) in [(1, 0x1008, true), (1, 0x1100, false), (3, 0x1100, true), (1, 0x10f8, true)] {
            assert_eq!(p.owns(core, addr), owns, "core {core}, {addr:#x}");
        }
        p.declare(4, 0x800..0x900);
        assert!(!p.owns(1, 0x880) && p.owns(4, 0x880) && p.owns(1, 0x1000));
    }

    #[test]
    #[should_panic(expected = "overlaps")]
    fn overlapping_declarations_are_refused() {
        let mut p = PrivateData::default();
        p.declare(1, 0x1000..0x1100);
        p.declare(2, 0x10c0..0x1200);
    }

    #[test]
    fn only_an_access_at_or_before_the_owners_lead_is_a_fault() {
        let mut p = PrivateData::default();
        p.declare(1, 0x1000..0x1100);
        p.reset(4);
        assert!(p.owns_any(1) && !p.owns_any(0) && !p.owns_any(2) && !p.owns_any(7));
        // Nobody ran ahead yet: any access is in order.
        p.check(2, 0x1000, 5, Touched::Data);
        assert_eq!(p.fault(), None);
        p.ran_ahead(1, 100);
        // After the owner's lead, the owner's own accesses, and others' data: in order.
        p.check(2, 0x1000, 101, Touched::Data);
        p.check(1, 0x1000, 50, Touched::Data);
        p.check(2, 0x2000, 50, Touched::Data);
        assert_eq!(p.fault(), None);
        p.check(2, 0x1008, 100, Touched::Data);
        let f = p.fault().expect("inverted");
        assert_eq!((f.owner, f.by, f.addr, f.at, f.owner_ahead_to), (1, 2, 0x1008, 100, 100));
        // The first fault is the one kept.
        p.check(3, 0x1010, 90, Touched::Data);
        assert_eq!(p.fault().map(|f| f.by), Some(2));
        p.reset(4);
        assert_eq!(p.fault(), None);
    }
}
