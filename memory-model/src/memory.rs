//! Flat, coherent storage: one value per location, visible to every core at
//! once (multi-copy atomic). Coherence order is the order in which writes
//! reach it.

use crate::types::{Addr, Value, WriteId};
use std::hash::{Hash, Hasher};

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

    fn find(&self, addr: Addr) -> Result<usize, usize> {
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
        self.cells.binary_search_by_key(&addr, |(a, _)| *a)
    }

    /// Sets the initial value of `addr` (written by [`WriteId::INIT`]).
    pub fn init(&mut self, addr: Addr, value: Value) {
        let cell = Cell { value, writer: WriteId::INIT };
        match self.find(addr) {
            Ok(i) => self.cells[i].1 = cell,
            Err(i) => self.cells.insert(i, (addr, cell)),
        }
    }

    /// The current contents of `addr`.
    #[inline]
    pub fn read(&self, addr: Addr) -> Cell {
        match self.find(addr) {
            Ok(i) => self.cells[i].1,
            Err(_) => Cell { value: 0, writer: WriteId::INIT },
        }
    }

    /// Makes `writer`'s store of `value` to `addr` visible to all cores.
    /// (Inlined into the store and RMW paths, which are hot.)
    #[inline(always)]
    pub fn write(&mut self, addr: Addr, value: Value, writer: WriteId) {
        let cell = Cell { value, writer };
        match self.find(addr) {
            Ok(i) => self.cells[i].1 = cell,
            Err(i) => self.cells.insert(i, (addr, cell)),
        }
        if self.record_coherence {
            self.co_log.push((addr, writer, value));
        }
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
