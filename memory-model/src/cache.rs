//! Access latencies from a cache/coherence model.
//!
//! A deliberately small MESI-like directory: each 64-byte line has at most
//! one owner (Modified/Exclusive) or a set of sharers. A load hits in L1 if
//! the core holds the line, pays a core-to-core transfer if another core
//! owns it, an L2/LLC hit if other cores share it, and a memory access
//! otherwise. A store additionally needs ownership: it pays the transfer or
//! an invalidation round if anyone else holds the line. This is what makes a
//! line that ping-pongs between cores (like the flags a deferred kick reads
//! on every isolated CPU) cost what it costs on hardware.
//!
//! The model only produces latencies; values live in [`crate::memory`].

use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};

use crate::types::Addr;
use sim::Cycle;

/// Latency parameters, in core cycles.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct CacheConfig {
    /// Cache line size in bytes.
    pub line_bytes: u64,
    /// L1 hit (Skylake: 4 cycles; DESIGN.md calibration figures).
    pub l1_hit: Cycle,
    /// Shared-level (L2/LLC) hit (Skylake L2: 12 cycles; DESIGN.md).
    pub l2_hit: Cycle,
    /// Line transfer from another core's cache, before the path through the
    /// topology is added (core-to-core 15–80 ns on servers, DESIGN.md: with
    /// the default topology this gives 32 ns within a cluster, 64 ns across
    /// clusters and 88 ns across sockets at 2.5 GHz).
    pub remote_transfer: Cycle,
    /// Memory access for a line no cache holds (~80 ns DRAM latency on
    /// Skylake-SP servers is typical; 200 cycles at 2.5 GHz).
    pub memory: Cycle,
}

impl Default for CacheConfig {
    fn default() -> Self {
        CacheConfig { line_bytes: 64, l1_hit: 4, l2_hit: 12, remote_transfer: 60, memory: 200 }
    }
}

/// Largest number of cores the directory tracks: the largest machine a
/// topology describes (`cpu_model::topology::MAX_CORES`).
pub const MAX_CORES: usize = 1024;

/// Sharer words beyond the first 64 cores.
const HIGH_WORDS: usize = MAX_CORES / 64 - 1;

/// Owned-line hints per core ([`CoherenceModel`]): a task's own data is a few lines.
const OWNED_HINTS: usize = 4;
/// An empty hint (no line has this number: addresses are below 2^64).
const NO_LINE: u64 = u64::MAX;

/// A line's directory entry. Cores 0–63 are a word in the entry; higher
/// cores, which only large machines have, a word array allocated the first
/// time one of them shares the line (and kept, cleared, afterwards).
#[derive(Clone, Debug, Default)]
struct Line {
    owner: Option<u16>,
    low: u64,
    high: Option<Box<[u64; HIGH_WORDS]>>,
}

impl Line {
    fn bit(core: u16) -> (usize, u64) {
        let c = core as usize;
        assert!(c < MAX_CORES, "core {c} beyond the directory's {MAX_CORES}");
        (c / 64, 1 << (c % 64))
    }
    fn word(&self, w: usize) -> u64 {
        match w {
            0 => self.low,
            _ => self.high.as_ref().map_or(0, |h| h[w - 1]),
        }
    }
    fn has(&self, core: u16) -> bool {
        let (w, b) = Self::bit(core);
        self.owner == Some(core) || self.word(w) & b != 0
    }
    fn add_sharer(&mut self, core: u16) {
        match Self::bit(core) {
            (0, b) => self.low |= b,
            (w, b) => self.high.get_or_insert_with(|| Box::new([0; HIGH_WORDS]))[w - 1] |= b,
        }
    }
    /// Every sharer word, cores 0–63 first.
    fn words(&self) -> impl Iterator<Item = u64> + '_ {
        std::iter::once(self.low).chain(self.high.iter().flat_map(|h| h.iter().copied()))
    }
    fn any_sharer_other_than(&self, core: u16) -> bool {
        let (mine_w, mine_b) = Self::bit(core);
        self.words().enumerate().any(|(i, w)| w & if i == mine_w { !mine_b } else { u64::MAX } != 0)
    }
    fn clear_sharers(&mut self) {
        self.low = 0;
        if let Some(h) = &mut self.high {
            h.fill(0);
        }
    }
}

/// Path latencies between cores, borrowed apart from the line table.
struct Distances<'a> {
    table: &'a [Cycle],
    cores: usize,
    base: Cycle,
}

impl Distances<'_> {
    fn between(&self, a: u16, b: u16) -> Cycle {
        let (a, b) = (a as usize, b as usize);
        if a < self.cores && b < self.cores { self.table[a * self.cores + b] } else { 0 }
    }

    /// Cost of bringing a line from core `from` to core `to`.
    fn transfer(&self, to: u16, from: u16) -> Cycle {
        self.base + self.between(to, from)
    }

    /// Cost of invalidating every copy other cores hold (they answer in parallel).
    fn invalidation(&self, line: &Line, core: u16) -> Cycle {
        let mut far = 0;
        for (w, bits) in line.words().enumerate() {
            let mut b = bits;
            while b != 0 {
                let c = (w * 64 + b.trailing_zeros() as usize) as u16;
                b &= b - 1;
                if c != core {
                    far = far.max(self.between(core, c));
                }
            }
        }
        self.base + far
    }
}

/// Which level served an access (for statistics and traces).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Served {
    /// The core's own L1.
    L1,
    /// The shared level (another core shares the line clean).
    Shared,
    /// Another core's cache (it owned the line).
    Remote,
    /// Memory.
    Memory,
}

/// Directory state of every line touched so far.
#[derive(Clone, Debug, Default)]
pub struct CoherenceModel {
    cfg: CacheConfig,
    /// log2 of `line_bytes` when it is a power of two (a shift, not a division, per access).
    line_shift: Option<u32>,
    lines: FxHashMap<u64, Line>,
    /// Per core, a few lines it owns with no sharer (its last store to each, since taken by
    /// nobody): an access by the owner to one of them is an L1 hit that changes no state, the
    /// common case of a core's own data, answered without the directory. Exact: a hint is
    /// dropped when another core takes the line.
    owned: Vec<[u64; OWNED_HINTS]>,
    /// Path latency between cores (row-major, `cores` × `cores`), added to
    /// every core-to-core transfer; empty = all cores equally far.
    distance: Vec<Cycle>,
    cores: usize,
}

impl CoherenceModel {
    /// A model where no core caches anything yet.
    pub fn new(cfg: CacheConfig) -> Self {
        let line_shift = cfg.line_bytes.is_power_of_two().then(|| cfg.line_bytes.trailing_zeros());
        CoherenceModel { cfg, line_shift, lines: FxHashMap::default(), owned: vec![], distance: vec![], cores: 0 }
    }

    /// Sets the path latency between every pair of `cores` cores.
    pub fn set_distances(&mut self, cores: usize, latency: impl Fn(usize, usize) -> Cycle) {
        self.cores = cores;
        self.distance = (0..cores * cores).map(|i| latency(i / cores, i % cores)).collect();
    }

    /// The parameters.
    pub fn config(&self) -> &CacheConfig {
        &self.cfg
    }

    /// Forgets all cached lines (keeps the allocation and the distances).
    pub fn clear(&mut self) {
        self.lines.clear();
        self.owned.clear();
    }

    fn line_of(&self, addr: Addr) -> u64 {
        match self.line_shift {
            Some(s) => addr >> s,
            None => addr / self.cfg.line_bytes.max(1),
        }
    }

    /// Does `core` hold the line of `addr` owned, with no sharer, by a hint? Then its loads and
    /// stores there hit and change nothing here.
    pub fn owns_line(&self, core: u16, addr: Addr) -> bool {
        self.owns(core, self.line_of(addr))
    }

    /// What [`CoherenceModel::load`] and [`CoherenceModel::store`] return for a line the core
    /// owns ([`CoherenceModel::owns_line`]), for a caller that has just checked that it does.
    #[inline(always)]
    pub fn owned_hit(&self) -> (Cycle, Served) {
        (self.cfg.l1_hit, Served::L1)
    }

    /// Does `core` hold line `key` owned, with no sharer, by a hint?
    fn owns(&self, core: u16, key: u64) -> bool {
        self.owned.get(core as usize).is_some_and(|h| h[key as usize % OWNED_HINTS] == key)
    }

    fn hint_owned(&mut self, core: u16, key: u64) {
        let c = core as usize;
        if self.owned.len() <= c {
            self.owned.resize(c + 1, [NO_LINE; OWNED_HINTS]);
        }
        self.owned[c][key as usize % OWNED_HINTS] = key;
    }

    fn unhint_owned(&mut self, core: u16, key: u64) {
        if let Some(h) = self.owned.get_mut(core as usize)
            && h[key as usize % OWNED_HINTS] == key
        {
            h[key as usize % OWNED_HINTS] = NO_LINE;
        }
    }

    fn dist(&self) -> Distances<'_> {
        Distances { table: &self.distance, cores: self.cores, base: self.cfg.remote_transfer }
    }

    /// Latency of a load by `core` that completes now; updates line state.
    #[inline]
    pub fn load(&mut self, core: u16, addr: Addr) -> (Cycle, Served) {
        let key = self.line_of(addr);
        // A line the core owns (a private one, nearly always): inlined into the callers.
        if self.owns(core, key) {
            return (self.cfg.l1_hit, Served::L1);
        }
        self.load_line(core, key)
    }

    /// [`CoherenceModel::load`] of line `key`, which `core` does not own by a hint.
    fn load_line(&mut self, core: u16, key: u64) -> (Cycle, Served) {
        let d = Distances { table: &self.distance, cores: self.cores, base: self.cfg.remote_transfer };
        let line = self.lines.entry(key).or_default();
        if line.has(core) {
            return (self.cfg.l1_hit, Served::L1);
        }
        let mut taken_from = None;
        let served = match line.owner.take() {
            Some(o) => {
                line.add_sharer(o);
                taken_from = Some(o);
                (d.transfer(core, o), Served::Remote)
            }
            None if line.any_sharer_other_than(core) => (self.cfg.l2_hit, Served::Shared),
            None => (self.cfg.memory, Served::Memory),
        };
        line.add_sharer(core);
        if let Some(o) = taken_from {
            self.unhint_owned(o, key);
        }
        served
    }

    /// Latency for `core` to gain ownership of `addr`'s line and write it;
    /// updates line state.
    #[inline]
    pub fn store(&mut self, core: u16, addr: Addr) -> (Cycle, Served) {
        let key = self.line_of(addr);
        if self.owns(core, key) {
            return (self.cfg.l1_hit, Served::L1);
        }
        self.store_line(core, key)
    }

    /// [`CoherenceModel::store`] of line `key`, which `core` does not own by a hint.
    fn store_line(&mut self, core: u16, key: u64) -> (Cycle, Served) {
        let d = Distances { table: &self.distance, cores: self.cores, base: self.cfg.remote_transfer };
        let line = self.lines.entry(key).or_default();
        let previous = line.owner;
        let served = match line.owner {
            Some(o) if o == core => (self.cfg.l1_hit, Served::L1),
            Some(o) => (d.transfer(core, o), Served::Remote),
            None if line.any_sharer_other_than(core) => (d.invalidation(line, core), Served::Remote),
            None if line.has(core) => (self.cfg.l1_hit, Served::L1),
            None => (self.cfg.memory, Served::Memory),
        };
        line.owner = Some(core);
        line.clear_sharers();
        if let Some(o) = previous
            && o != core
        {
            self.unhint_owned(o, key);
        }
        self.hint_owned(core, key);
        served
    }

    /// Puts `addr`'s line in a given state: owned by one core, shared by
    /// some, or (both empty) held by no cache. Litmus harnesses use this to
    /// start runs from varied cache states, as repeated runs on hardware do.
    pub fn place(&mut self, addr: Addr, owner: Option<u16>, sharers: &[u16]) {
        let key = self.line_of(addr);
        // An owner placed beside sharers is not an owner without sharers.
        for c in 0..self.owned.len() {
            self.unhint_owned(c as u16, key);
        }
        let line = self.lines.entry(key).or_default();
        line.owner = owner;
        line.clear_sharers();
        for &c in sharers {
            line.add_sharer(c);
        }
    }

    /// Latency the next load by `core` would see, without changing state.
    pub fn peek_load(&self, core: u16, addr: Addr) -> Cycle {
        let key = self.line_of(addr);
        if self.owns(core, key) {
            return self.cfg.l1_hit;
        }
        match self.lines.get(&key) {
            Some(l) if l.has(core) => self.cfg.l1_hit,
            Some(Line { owner: Some(o), .. }) => self.dist().transfer(core, *o),
            Some(l) if l.any_sharer_other_than(core) => self.cfg.l2_hit,
            _ => self.cfg.memory,
        }
    }

    /// Latency the next store by `core` would see, without changing state.
    pub fn peek_store(&self, core: u16, addr: Addr) -> Cycle {
        let key = self.line_of(addr);
        if self.owns(core, key) {
            return self.cfg.l1_hit;
        }
        match self.lines.get(&key) {
            Some(l) if l.owner == Some(core) => self.cfg.l1_hit,
            Some(Line { owner: Some(o), .. }) => self.dist().transfer(core, *o),
            Some(l) if l.any_sharer_other_than(core) => self.dist().invalidation(l, core),
            Some(l) if l.has(core) => self.cfg.l1_hit,
            _ => self.cfg.memory,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_written_by_one_core_costs_a_transfer_to_the_other() {
        let cfg = CacheConfig::default();
        let mut m = CoherenceModel::new(cfg.clone());
        assert_eq!(m.store(0, 0x1000), (cfg.memory, Served::Memory));
        assert_eq!(m.store(0, 0x1008), (cfg.l1_hit, Served::L1), "same line, owned");
        assert_eq!(m.load(1, 0x1000), (cfg.remote_transfer, Served::Remote));
        assert_eq!(m.load(1, 0x1000), (cfg.l1_hit, Served::L1));
        assert_eq!(m.load(2, 0x1000), (cfg.l2_hit, Served::Shared));
        assert_eq!(m.peek_store(0, 0x1000), cfg.remote_transfer, "must invalidate sharers");
        assert_eq!(m.store(0, 0x1000), (cfg.remote_transfer, Served::Remote));
        assert_eq!(m.load(200, 0x1000), (cfg.remote_transfer, Served::Remote), "many cores");
    }

    /// The owned-line hints are a shortcut, not state: the same accesses with every hint
    /// dropped before each one give the same latencies, and leave the same directory.
    #[test]
    fn owned_line_hints_change_no_latency_and_no_state() {
        let cfg = CacheConfig::default();
        let (mut hinted, mut plain) = (CoherenceModel::new(cfg.clone()), CoherenceModel::new(cfg));
        // A fixed pseudo-random walk over 3 cores and 6 lines (two of them in one hint slot).
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        for step in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let core = (x % 3) as u16;
            let addr = [0x1000, 0x1040, 0x1100, 0x1140, 0x1000 + 64 * 4, 0x2008][(x >> 8) as usize % 6];
            plain.owned.clear();
            let (a, b) = match (x >> 16) % 9 {
                0..=2 => (hinted.load(core, addr), plain.load(core, addr)),
                3..=5 => (hinted.store(core, addr), plain.store(core, addr)),
                6 => ((hinted.peek_load(core, addr), Served::L1), (plain.peek_load(core, addr), Served::L1)),
                7 => ((hinted.peek_store(core, addr), Served::L1), (plain.peek_store(core, addr), Served::L1)),
                _ => {
                    let owner = (x >> 24).is_multiple_of(2).then_some(core);
                    hinted.place(addr, owner, &[(core + 1) % 3]);
                    plain.place(addr, owner, &[(core + 1) % 3]);
                    continue;
                }
            };
            assert_eq!(a, b, "step {step}: core {core}, {addr:#x}");
        }
        assert!(hinted.owned.iter().flatten().any(|&k| k != NO_LINE), "no hint was ever kept");
        let mut keys: Vec<_> = plain.lines.keys().copied().collect();
        keys.sort_unstable();
        for k in keys {
            let (h, p) = (&hinted.lines[&k], &plain.lines[&k]);
            assert_eq!((h.owner, h.low), (p.owner, p.low), "line {k:#x}");
        }
    }

    #[test]
    fn every_core_of_the_largest_machine_has_a_place_in_the_directory() {
        let cfg = CacheConfig::default();
        let mut m = CoherenceModel::new(cfg.clone());
        let last = (MAX_CORES - 1) as u16;
        for core in [0, 63, 64, 256, 257, last] {
            assert_eq!(m.load(core, 0x40).1, if core == 0 { Served::Memory } else { Served::Shared }, "core {core}");
            assert_eq!(m.load(core, 0x40), (cfg.l1_hit, Served::L1), "core {core}");
        }
        // A store by a low core invalidates the high sharers, and they miss afterwards.
        assert_eq!(m.store(1, 0x40), (cfg.remote_transfer, Served::Remote));
        assert_eq!(m.peek_load(last, 0x40), cfg.remote_transfer);
        assert_eq!(m.store(257, 0x40), (cfg.remote_transfer, Served::Remote));
        assert_eq!(m.store(257, 0x48), (cfg.l1_hit, Served::L1));
        m.place(0x80, None, &[300]);
        assert_eq!(m.peek_load(300, 0x80), cfg.l1_hit);
        assert_eq!(m.peek_load(0, 0x80), cfg.l2_hit);
        assert_eq!(m.peek_store(300, 0x80), cfg.l1_hit, "the only sharer");
    }
}
