//! The instruction side of memory: what instruction fetch sees of code
//! that is being patched (arm64 with CTR_EL0.IDC = 0 and DIC = 0).
//!
//! Data stores reach the coherent [`FlatMemory`](crate::memory::FlatMemory)
//! like any other store. Instruction fetch does not read it: each core
//! fetches through its own instruction cache, which fills from the *point of
//! unification* (PoU), which a store reaches only when its line is cleaned
//! (DC CVAU) or evicted. So, per patchable address:
//!
//! ```text
//!   stores ──▶ data memory ──(DC CVAU, or eviction at any time)──▶ PoU ──(fill)──▶ I-cache (per core) ──▶ fetch
//!                                                                   ▲
//!                                       IC IVAU / IC IALLU: drop every core's stale copy
//! ```
//!
//! The abstract state, after Arm's instruction-fetch model (Simner et al.,
//! "ARMv8-A system semantics: instruction fetch in relaxed architectures",
//! ESOP 2020), keeps for each patchable address the writes in coherence
//! order and two lower bounds:
//!
//! * `pou_floor`: the newest write a completed DC CVAU cleaned — the PoU
//!   holds it or something newer (evictions may have pushed newer ones);
//! * `ic_floor[core]`: the oldest write the core's I-cache may still
//!   return — raised to `pou_floor` for every core when an IC IVAU or IC
//!   IALLU is performed.
//!
//! A fetch may return any write from the core's floor up to the newest one
//! (stale lines linger, fresh ones may have been evicted through to the
//! PoU). Exhaustive runs branch over those choices; timed runs follow one
//! concrete cache: a per-core copy, a concrete PoU value that evictions
//! advance after a delay, and invalidations that drop copies.

use crate::types::{Addr, ThreadId, Value, WriteId};

/// Instruction-side state for a fixed set of patchable code addresses.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Default)]
pub struct ISide {
    addrs: Vec<Addr>,
    history: Vec<Vec<(WriteId, Value)>>,
    pou_floor: Vec<u32>,
    pou_now: Vec<u32>,
    ic_floor: Vec<Vec<u32>>,
    icache: Vec<Vec<Option<u32>>>,
}

/// Index of a patchable address.
pub type CodeSlot = usize;

impl ISide {
    /// Patchable addresses with their initial instruction encodings, for
    /// `cores` cores. Every I-cache starts holding the initial code.
    pub fn new(initial: &[(Addr, Value)], cores: usize) -> Self {
        let mut init: Vec<(Addr, Value)> = initial.to_vec();
        init.sort_unstable();
        init.dedup_by_key(|(a, _)| *a);
        let n = init.len();
        ISide {
            addrs: init.iter().map(|(a, _)| *a).collect(),
            history: init.iter().map(|&(_, v)| vec![(WriteId::INIT, v)]).collect(),
            pou_floor: vec![0; n],
            pou_now: vec![0; n],
            ic_floor: vec![vec![0; n]; cores],
            icache: vec![vec![Some(0); n]; cores],
        }
    }

    /// The slot of `addr`, if it is patchable.
    #[inline]
    pub fn slot(&self, addr: Addr) -> Option<CodeSlot> {
        if self.addrs.is_empty() {
            return None;
        }
        self.addrs.binary_search(&addr).ok()
    }

    /// Patchable addresses, sorted.
    pub fn addrs(&self) -> &[Addr] {
        &self.addrs
    }

    /// Records a store that reached data memory (ignored unless patchable).
    pub fn on_store(&mut self, addr: Addr, writer: WriteId, value: Value) {
        if let Some(s) = self.slot(addr) {
            self.history[s].push((writer, value));
        }
    }

    /// The `k`-th write to slot `s` in coherence order.
    pub fn write(&self, s: CodeSlot, k: u32) -> (WriteId, Value) {
        self.history[s][k as usize]
    }

    /// Index of the newest write to slot `s`.
    pub fn latest(&self, s: CodeSlot) -> u32 {
        self.history[s].len() as u32 - 1
    }

    /// Slots in the `line_bytes` cache line that holds `addr`.
    fn line_slots(&self, addr: Addr, line_bytes: u64) -> impl Iterator<Item = CodeSlot> + use<'_> {
        let line = line_bytes.max(1);
        let base = addr / line * line;
        (0..self.addrs.len()).filter(move |&s| self.addrs[s] >= base && self.addrs[s] - base < line)
    }

    /// DC CVAU performed on the line of `addr` (`line_bytes` long): the
    /// newest data writes to it are now at the PoU.
    pub fn clean(&mut self, addr: Addr, line_bytes: u64) {
        let slots: Vec<CodeSlot> = self.line_slots(addr, line_bytes).collect();
        for s in slots {
            let last = self.latest(s);
            self.pou_floor[s] = last;
            self.pou_now[s] = last;
        }
    }

    /// IC IVAU performed on the line of `addr`: no I-cache may return
    /// anything older than what the PoU holds.
    pub fn invalidate(&mut self, addr: Addr, line_bytes: u64) {
        let slots: Vec<CodeSlot> = self.line_slots(addr, line_bytes).collect();
        for s in slots {
            self.invalidate_slot(s);
        }
    }

    /// IC IALLU performed: [`ISide::invalidate`] for every address.
    pub fn invalidate_all(&mut self) {
        for s in 0..self.addrs.len() {
            self.invalidate_slot(s);
        }
    }

    fn invalidate_slot(&mut self, s: CodeSlot) {
        let floor = self.pou_floor[s];
        for c in 0..self.ic_floor.len() {
            self.ic_floor[c][s] = self.ic_floor[c][s].max(floor);
            self.icache[c][s] = None;
        }
    }

    /// Exhaustive runs: the writes a fetch by `core` of slot `s` may return
    /// now, oldest first (indices into the slot's history).
    pub fn candidates(&self, core: ThreadId, s: CodeSlot) -> std::ops::RangeInclusive<u32> {
        self.ic_floor[core as usize][s]..=self.latest(s)
    }

    /// Timed runs: the write a fetch by `core` returns, and whether it hit
    /// in the I-cache (a miss fills from the PoU).
    pub fn fetch_timed(&mut self, core: ThreadId, s: CodeSlot) -> (u32, bool) {
        let c = core as usize;
        match self.icache[c][s] {
            Some(k) => (k, true),
            None => {
                let k = self.pou_now[s].max(self.ic_floor[c][s]);
                self.icache[c][s] = Some(k);
                (k, false)
            }
        }
    }

    /// Timed runs: true if `core`'s I-cache holds slot `s`.
    pub fn is_cached(&self, core: ThreadId, s: CodeSlot) -> bool {
        self.icache[core as usize][s].is_some()
    }

    /// Timed runs: the line holding write `k` of slot `s` was evicted from
    /// the data cache, so the PoU now has it (if it is newer).
    pub fn writeback(&mut self, s: CodeSlot, k: u32) {
        self.pou_now[s] = self.pou_now[s].max(k);
    }

    /// Timed runs: sets whether `core`'s I-cache starts with slot `s` (from
    /// the initial code) — litmus harnesses vary it between runs.
    pub fn set_cached(&mut self, core: ThreadId, s: CodeSlot, present: bool) {
        self.icache[core as usize][s] = present.then_some(self.ic_floor[core as usize][s]);
    }

    /// Number of patchable addresses.
    pub fn len(&self) -> usize {
        self.addrs.len()
    }

    /// True when no code is patchable.
    pub fn is_empty(&self) -> bool {
        self.addrs.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: Addr = 0x1000;
    const B_OLD: Value = 7;
    const NOP: Value = 9;
    const W: WriteId = WriteId { tid: 0, iid: 3 };

    fn side() -> ISide {
        ISide::new(&[(A, B_OLD)], 2)
    }

    fn values(i: &ISide, core: ThreadId) -> Vec<Value> {
        let s = i.slot(A).unwrap();
        i.candidates(core, s).map(|k| i.write(s, k).1).collect()
    }

    #[test]
    fn without_maintenance_both_old_and_new_code_may_be_fetched() {
        let mut i = side();
        i.on_store(A, W, NOP);
        assert_eq!(values(&i, 1), [B_OLD, NOP]);
        i.clean(A, 64);
        assert_eq!(values(&i, 1), [B_OLD, NOP], "cleaning alone leaves I-caches stale");
    }

    #[test]
    fn clean_then_invalidate_makes_every_core_see_the_new_code() {
        let mut i = side();
        i.on_store(A, W, NOP);
        i.clean(A, 64);
        i.invalidate(A, 64);
        assert_eq!(values(&i, 0), [NOP]);
        assert_eq!(values(&i, 1), [NOP]);
    }

    #[test]
    fn maintenance_acts_on_the_whole_line() {
        // DC CVAU / IC IVAU by any address in the line (as flush_icache_range
        // issues them, from the line boundary) reach code anywhere in it.
        let site = A + 8;
        let run = |by: Addr| {
            let mut i = ISide::new(&[(site, B_OLD)], 1);
            i.on_store(site, W, NOP);
            i.clean(by, 64);
            i.invalidate(by, 64);
            let s = i.slot(site).unwrap();
            i.candidates(0, s).map(|k| i.write(s, k).1).collect::<Vec<_>>()
        };
        assert_eq!(run(A), [NOP]);
        assert_eq!(run(A + 60), [NOP]);
        assert_eq!(run(A + 64), [B_OLD, NOP], "the next line is another line");
    }

    #[test]
    fn invalidating_before_cleaning_leaves_the_old_code_reachable() {
        let mut i = side();
        i.on_store(A, W, NOP);
        i.invalidate(A, 64);
        i.clean(A, 64);
        assert_eq!(values(&i, 0), [B_OLD, NOP]);
    }

    #[test]
    fn timed_fetches_hit_stale_copies_until_invalidated() {
        let mut i = side();
        let s = i.slot(A).unwrap();
        i.on_store(A, W, NOP);
        assert_eq!(i.fetch_timed(0, s), (0, true), "the initial copy is still cached");
        i.set_cached(1, s, false);
        assert_eq!(i.fetch_timed(1, s), (0, false), "a miss fills from the PoU, which has not seen the store");
        i.writeback(s, 1);
        i.invalidate(A, 64);
        assert_eq!(i.fetch_timed(0, s), (1, false), "after eviction and invalidation the new code arrives");
        assert_eq!(i.slot(A + 4), None);
    }
}
