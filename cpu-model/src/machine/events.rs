//! The cores' exclusive monitors and event registers in a timed run: what wakes a `WFE`.
//!
//! arm64 Linux waits for another CPU's store with `smp_cond_load_acquire()`, which arms the
//! exclusive monitor with `LDXR` and sleeps in `WFE` until the monitored granule is written
//! (`__cmpwait`), instead of spinning:
//!
//! ```text
//!   waiter:  LDXR [flag] ─ arms ─┐        WFE ··· asleep ··· wakes ─ LDAR [flag]
//!   writer:                      └─ STLR [flag] ─ clears the monitor, sets the event register
//! ```
//!
//! A write by another core to the granule (the cache line) a core's monitor watches clears the
//! monitor and sets that core's event register (Arm ARM: the global monitor leaving the
//! Exclusive Access state generates an event); the machine then steps the core so that a
//! waiting `WFE` completes. `SEVL` sets a core's own register. Nothing else sets it here (no
//! `SEV`, no timer event stream; an exception return does not either). Exhaustive runs keep no
//! such state: there `WFE` completes at once, which the architecture allows.

use memory_model::{Addr, ThreadId};
use sim::Cycle;

/// Per core, the monitor and the event register.
#[derive(Clone, Debug)]
pub(crate) struct Events {
    /// Clears the offset within a granule (a cache line) from an address.
    granule_mask: Addr,
    /// The granule the core's last exclusive load read, until a write by another core clears it.
    monitor: Vec<Option<Addr>>,
    /// The event register.
    flag: Vec<bool>,
    /// Monitors armed (a write looks at the cores' monitors only when some is).
    armed: usize,
    /// Cores whose event register a write set, and when: the machine steps them then.
    woken: Vec<(ThreadId, Cycle)>,
}

impl Events {
    /// Monitors that watch granules of `line_bytes` (a power of two), for no core yet.
    pub(crate) fn new(line_bytes: u64) -> Events {
        debug_assert!(line_bytes.is_power_of_two());
        Events { granule_mask: !(line_bytes - 1), monitor: vec![], flag: vec![], armed: 0, woken: vec![] }
    }

    /// No monitor armed, no event register set (a new run of `cores` cores).
    pub(crate) fn reset(&mut self, cores: usize) {
        self.monitor = vec![None; cores];
        self.flag = vec![false; cores];
        self.armed = 0;
        self.woken.clear();
    }

    /// `core`'s exclusive load read `addr`: its monitor watches the granule holding it (and only
    /// that one).
    pub(crate) fn arm(&mut self, core: ThreadId, addr: Addr) {
        self.fit(core);
        let m = &mut self.monitor[core as usize];
        if m.is_none() {
            self.armed += 1;
        }
        *m = Some(addr & self.granule_mask);
    }

    /// Core `by` wrote `addr` at cycle `at`: every other core watching its granule gets an event.
    #[inline]
    pub(crate) fn written(&mut self, by: ThreadId, addr: Addr, at: Cycle) {
        if self.armed == 0 {
            return;
        }
        let granule = addr & self.granule_mask;
        for (t, m) in self.monitor.iter_mut().enumerate() {
            if *m == Some(granule) && t != by as usize {
                *m = None;
                self.armed -= 1;
                self.flag[t] = true;
                self.woken.push((t as ThreadId, at));
            }
        }
    }

    /// Sets `core`'s event register (`SEVL`).
    pub(crate) fn set(&mut self, core: ThreadId) {
        self.fit(core);
        self.flag[core as usize] = true;
    }

    /// Clears `core`'s event register; true if it was set (a `WFE` completes).
    pub(crate) fn take(&mut self, core: ThreadId) -> bool {
        self.flag.get_mut(core as usize).is_some_and(std::mem::take)
    }

    /// Room for `core` (a machine sized before its run was set up).
    fn fit(&mut self, core: ThreadId) {
        let n = core as usize + 1;
        if self.monitor.len() < n {
            self.monitor.resize(n, None);
            self.flag.resize(n, false);
        }
    }

    /// The cores to step, and when, since the last call.
    pub(crate) fn drain_woken(&mut self) -> std::vec::Drain<'_, (ThreadId, Cycle)> {
        self.woken.drain(..)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_write_by_another_core_to_the_watched_granule_sets_the_event() {
        let mut e = Events::new(64);
        e.reset(3);
        // Nothing armed: writes do nothing.
        e.written(0, 0x1000, 5);
        assert!(!e.take(1) && e.drain_woken().next().is_none());
        e.arm(1, 0x1000);
        e.arm(2, 0x2000);
        // The owner's own write, and a write to another granule, leave the monitor armed.
        e.written(1, 0x1000, 6);
        e.written(0, 0x1040, 7);
        // Any byte of the watched line is the line.
        e.arm(2, 0x2008);
        assert!(!e.take(1) && e.drain_woken().next().is_none());
        e.written(0, 0x1038, 8);
        assert_eq!(e.drain_woken().collect::<Vec<_>>(), vec![(1, 8)]);
        // The write cleared the monitor: a second one wakes nobody.
        e.written(0, 0x1000, 9);
        assert!(e.drain_woken().next().is_none());
        assert!(e.take(1), "the event register is set");
        assert!(!e.take(1), "and WFE cleared it");
        assert!(!e.take(2));
        e.set(2);
        assert!(e.take(2), "SEVL sets the core's own register");
        e.written(1, 0x2000, 10);
        assert_eq!(e.drain_woken().collect::<Vec<_>>(), vec![(2, 10)]);
        assert_eq!(e.armed, 0);
    }
}
