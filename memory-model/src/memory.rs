//! Flat, coherent storage: one value per location, visible to every core at
//! once (multi-copy atomic). Coherence order is the order in which writes
//! reach it.

use crate::types::{Addr, Value, WriteId};
use std::hash::{Hash, Hasher};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};

/// The current contents of one location.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Cell {
    /// Current value.
    pub value: Value,
    /// The write that put it there (coherence-latest).
    pub writer: WriteId,
}

/// Storage: a sorted map from 8-byte-aligned address to [`Cell`].
///
/// Locations nobody initialised read as 0 from [`WriteId::INIT`]. When
/// `record_coherence` is on, every write is also appended to a log from
/// which the execution graph takes its coherence order.
#[derive(Clone, Debug, Default)]
pub struct FlatMemory {
    cells: Vec<(Addr, Cell)>,
    record_coherence: bool,
    co_log: Vec<(Addr, WriteId, Value)>,
    hints: Hints,
}

/// Where recently used addresses sit in a large memory's cells, so that most accesses to a
/// whole experiment's kernel data and tables (thousands of locations) skip the binary search.
/// A hint is checked before it is used, so a wrong one (the cells moved since) costs a search
/// and nothing else: never part of the contents, not cloned, hashed or compared. Atomics, so
/// that reads through `&self` can set them and memory stays `Sync`.
#[derive(Default)]
struct Hints(OnceLock<Box<[AtomicU32]>>);

impl Hints {
    /// Direct-mapped slots.
    const SLOTS: usize = 4096;
    /// Below this many locations a search is as cheap as a hint.
    const FROM_CELLS: usize = 256;

    fn slot(&self, addr: Addr) -> &AtomicU32 {
        let slots = self.0.get_or_init(|| (0..Self::SLOTS).map(|_| AtomicU32::new(u32::MAX)).collect());
        // Fibonacci hashing: tables and per-CPU areas far apart still spread over the slots.
        let k = ((addr >> 3).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (64 - Self::SLOTS.trailing_zeros())) as usize;
        &slots[k]
    }
}

impl Clone for Hints {
    fn clone(&self) -> Self {
        Hints::default()
    }
}

impl std::fmt::Debug for Hints {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Hints")
    }
}

// The coherence log is history, not state: two runs that reach the same
// contents by different paths are the same state for exploration.
impl Hash for FlatMemory {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.cells.hash(state);
    }
}
impl PartialEq for FlatMemory {
    fn eq(&self, other: &Self) -> bool {
        self.cells == other.cells
    }
}
impl Eq for FlatMemory {}

impl FlatMemory {
    /// Empty memory (everything reads 0).
    pub fn new() -> Self {
        Self::default()
    }

    /// Turns the coherence log on or off.
    pub fn set_record_coherence(&mut self, on: bool) {
        self.record_coherence = on;
    }

    /// Whether every write is also logged for the execution graph's coherence order.
    pub fn records_coherence(&self) -> bool {
        self.record_coherence
    }

    /// Where `addr` is in the cells, or would be inserted. A large memory's hint that holds
    /// is inlined into the callers; everything else is [`FlatMemory::search`].
    #[inline]
    fn find(&self, addr: Addr) -> Result<usize, usize> {
        if self.cells.len() >= Hints::FROM_CELLS {
            let i = self.hints.slot(addr).load(Ordering::Relaxed) as usize;
            if self.cells.get(i).is_some_and(|(a, _)| *a == addr) {
                return Ok(i);
            }
        }
        self.search(addr)
    }

    fn search(&self, addr: Addr) -> Result<usize, usize> {
        // Few locations in litmus runs: linear search beats binary search there.
        if self.cells.len() <= 8 {
            for (i, (a, _)) in self.cells.iter().enumerate() {
                if *a == addr {
                    return Ok(i);
                }
                if *a > addr {
                    return Err(i);
                }
            }
            return Err(self.cells.len());
        }
        if self.cells.len() < Hints::FROM_CELLS {
            return self.cells.binary_search_by_key(&addr, |(a, _)| *a);
        }
        // (The hint was checked in `find`.)
        let hint = self.hints.slot(addr);
        let found = self.cells.binary_search_by_key(&addr, |(a, _)| *a);
        if let Ok(i) = found
            && let Ok(i) = u32::try_from(i)
        {
            hint.store(i, Ordering::Relaxed);
        }
        found
    }

    /// Sets the initial value of `addr` (written by [`WriteId::INIT`]).
    pub fn init(&mut self, addr: Addr, value: Value) {
        let cell = Cell { value, writer: WriteId::INIT };
        match self.find(addr) {
            Ok(i) => self.cells[i].1 = cell,
            Err(i) => self.cells.insert(i, (addr, cell)),
        }
    }

    /// Sets the initial values of many locations at once (of two pairs for one address, the
    /// later wins): one sort and one merge, where [`FlatMemory::init`] for each would move every
    /// location above each new one, quadratic for a large table below others.
    pub fn init_all(&mut self, values: impl IntoIterator<Item = (Addr, Value)>) {
        let mut new: Vec<(Addr, Cell)> =
            values.into_iter().map(|(a, value)| (a, Cell { value, writer: WriteId::INIT })).collect();
        if new.is_empty() {
            return;
        }
        // Stable: of equal addresses, the later pair is kept.
        new.sort_by_key(|(a, _)| *a);
        new.dedup_by(|later, kept| {
            let same = later.0 == kept.0;
            if same {
                *kept = *later;
            }
            same
        });
        let old = std::mem::take(&mut self.cells);
        let mut cells = Vec::with_capacity(old.len() + new.len());
        let (mut i, mut j) = (0, 0);
        while i < old.len() && j < new.len() {
            match old[i].0.cmp(&new[j].0) {
                std::cmp::Ordering::Less => {
                    cells.push(old[i]);
                    i += 1;
                }
                std::cmp::Ordering::Greater => {
                    cells.push(new[j]);
                    j += 1;
                }
                std::cmp::Ordering::Equal => {
                    cells.push(new[j]);
                    i += 1;
                    j += 1;
                }
            }
        }
        cells.extend_from_slice(&old[i..]);
        cells.extend_from_slice(&new[j..]);
        self.cells = cells;
    }

    /// The current contents of `addr`.
    #[inline]
    pub fn read(&self, addr: Addr) -> Cell {
        match self.find(addr) {
            Ok(i) => self.cells[i].1,
            Err(_) => Cell { value: 0, writer: WriteId::INIT },
        }
    }

    /// [`FlatMemory::write`], returning the cell it replaced (`None`: never initialised or
    /// written), which [`FlatMemory::restore`] puts back.
    #[inline(always)]
    pub fn replace(&mut self, addr: Addr, value: Value, writer: WriteId) -> Option<Cell> {
        let cell = Cell { value, writer };
        let was = match self.find(addr) {
            Ok(i) => Some(std::mem::replace(&mut self.cells[i].1, cell)),
            Err(i) => {
                self.cells.insert(i, (addr, cell));
                None
            }
        };
        if self.record_coherence {
            self.co_log.push((addr, writer, value));
        }
        was
    }

    /// Puts `addr` back as [`FlatMemory::replace`] found it (`None`: never written), undoing the
    /// writes since (a speculative run's that is rolled back; not logged as a write).
    pub fn restore(&mut self, addr: Addr, was: Option<Cell>) {
        match (self.find(addr), was) {
            (Ok(i), Some(cell)) => self.cells[i].1 = cell,
            (Ok(i), None) => {
                self.cells.remove(i);
            }
            (Err(i), Some(cell)) => self.cells.insert(i, (addr, cell)),
            (Err(_), None) => {}
        }
    }

    /// Makes `writer`'s store of `value` to `addr` visible to all cores.
    /// (Inlined into the store and RMW paths, which are hot.)
    #[inline(always)]
    pub fn write(&mut self, addr: Addr, value: Value, writer: WriteId) {
        self.replace(addr, value, writer);
    }

    /// Every location ever initialised or written, in address order.
    pub fn cells(&self) -> &[(Addr, Cell)] {
        &self.cells
    }

    /// Writes in the order they reached storage (when recording).
    pub fn coherence_log(&self) -> &[(Addr, WriteId, Value)] {
        &self.co_log
    }

    /// Replaces the contents with `other`'s, reusing allocations.
    pub fn reset_from(&mut self, other: &FlatMemory) {
        self.cells.clone_from(&other.cells);
        self.co_log.clear();
        self.record_coherence = other.record_coherence;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn init_all_is_init_of_each_in_order() {
        let pairs = [(0x40, 1), (0x8, 2), (0x100, 3), (0x40, 4), (0x10, 5), (0x8, 6)];
        let mut one = FlatMemory::new();
        let mut all = FlatMemory::new();
        for m in [&mut one, &mut all] {
            m.init(0x20, 7);
            m.init(0x40, 8);
            m.init(0x1000, 9);
        }
        for (a, v) in pairs {
            one.init(a, v);
        }
        all.init_all(pairs);
        assert_eq!(one, all);
        assert_eq!(all.read(0x40).value, 4);
        assert_eq!(all.read(0x8).value, 6);
        all.init_all([]);
        assert_eq!(one, all);
    }

    #[test]
    fn a_large_memory_finds_every_location_after_its_cells_move() {
        // Enough locations for the hints, which inserts below others then make wrong.
        let mut m = FlatMemory::new();
        m.init_all((0..1000u64).map(|i| (0x1000 + 16 * i, i)));
        for i in 0..1000u64 {
            assert_eq!(m.read(0x1000 + 16 * i).value, i);
        }
        let w = WriteId { tid: 1, iid: 1 };
        for i in 0..1000u64 {
            // Each new location moves every one above it.
            m.write(0x1008 + 16 * i, 5000 + i, w);
        }
        for i in 0..1000u64 {
            assert_eq!(m.read(0x1000 + 16 * i).value, i);
            assert_eq!(m.read(0x1008 + 16 * i).value, 5000 + i);
            assert_eq!(m.read(0x1004 + 16 * i).value, 0, "never written");
        }
        assert_eq!(m.cells().len(), 2000);
        assert!(m.cells().windows(2).all(|p| p[0].0 < p[1].0));
        // Hints are not contents: a clone without them is the same memory.
        assert_eq!(m.clone(), m);
    }

    #[test]
    fn reads_see_the_latest_write_and_unwritten_locations_read_zero() {
        let mut m = FlatMemory::new();
        m.set_record_coherence(true);
        assert_eq!(m.read(0x40), Cell { value: 0, writer: WriteId::INIT });
        m.init(0x40, 5);
        let w = WriteId { tid: 1, iid: 3 };
        m.write(0x40, 7, w);
        m.write(0x10, 1, w);
        assert_eq!(m.read(0x40).value, 7);
        assert_eq!(m.read(0x40).writer, w);
        assert_eq!(m.cells().iter().map(|c| c.0).collect::<Vec<_>>(), [0x10, 0x40]);
        assert_eq!(m.coherence_log().len(), 2);
    }
}
