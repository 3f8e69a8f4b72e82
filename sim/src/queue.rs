//! The event queue: a binary heap ordered by `(time, priority, sequence)`.
//!
//! The three-part key is packed into one `u128` so that the heap compares a
//! single integer per step (the hold-model bench in `benches/engine.rs`
//! measures what that costs against a bare `BinaryHeap`).

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use crate::Cycle;

/// Same-time ordering class of an event: lower runs first.
///
/// Crates above `sim` name their own priorities from these constants (for
/// example the CPU model runs memory responses before core wake-ups that
/// fall on the same cycle), so that the order is written down in one place
/// per component rather than implied by the order of `schedule` calls.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Priority(pub u8);

impl Priority {
    /// Runs before everything else at the same cycle.
    pub const FIRST: Priority = Priority(0);
    /// Early in the cycle: state changes others will want to see this cycle.
    pub const EARLY: Priority = Priority(64);
    /// The default class.
    pub const DEFAULT: Priority = Priority(128);
    /// Late in the cycle: reactions to what happened earlier in the cycle.
    pub const LATE: Priority = Priority(192);
    /// Runs after everything else at the same cycle (statistics sampling, end-of-run).
    pub const LAST: Priority = Priority(255);
}

/// Identifies one scheduled event: its position in the total order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EventKey(u128);

const SEQ_BITS: u32 = 56;
const SEQ_MASK: u64 = (1 << SEQ_BITS) - 1;

impl EventKey {
    fn new(time: Cycle, priority: Priority, seq: u64) -> Self {
        debug_assert!(seq <= SEQ_MASK, "event sequence number overflow");
        EventKey(((time as u128) << 64) | ((priority.0 as u128) << SEQ_BITS) | (seq & SEQ_MASK) as u128)
    }
    /// Cycle at which the event fires.
    pub fn time(self) -> Cycle {
        (self.0 >> 64) as Cycle
    }
    /// Same-time ordering class.
    pub fn priority(self) -> Priority {
        Priority((self.0 >> SEQ_BITS) as u8)
    }
    /// Insertion sequence number (FIFO tie-break).
    pub fn seq(self) -> u64 {
        (self.0 as u64) & SEQ_MASK
    }
}

struct Entry<E> {
    key: EventKey,
    event: E,
}

impl<E> PartialEq for Entry<E> {
    fn eq(&self, other: &Self) -> bool {
        self.key == other.key
    }
}
impl<E> Eq for Entry<E> {}
impl<E> PartialOrd for Entry<E> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl<E> Ord for Entry<E> {
    fn cmp(&self, other: &Self) -> Ordering {
        // BinaryHeap is a max-heap; reverse to pop the smallest key first.
        other.key.cmp(&self.key)
    }
}

/// A priority queue of events with a total, deterministic order.
///
/// Events pop in increasing `(time, priority, sequence)` order, where the
/// sequence number is assigned at insertion; two events with equal time and
/// priority therefore pop in the order they were scheduled (FIFO).
pub struct EventQueue<E> {
    heap: BinaryHeap<Entry<E>>,
    next_seq: u64,
}

impl<E> Default for EventQueue<E> {
    fn default() -> Self {
        Self::new()
    }
}

impl<E> EventQueue<E> {
    /// An empty queue.
    pub fn new() -> Self {
        EventQueue { heap: BinaryHeap::new(), next_seq: 0 }
    }

    /// Inserts `event` to fire at `time` with same-time class `priority`.
    pub fn push(&mut self, time: Cycle, priority: Priority, event: E) -> EventKey {
        let key = EventKey::new(time, priority, self.next_seq);
        self.next_seq += 1;
        self.heap.push(Entry { key, event });
        key
    }

    /// Removes and returns the first event in the order.
    pub fn pop(&mut self) -> Option<(EventKey, E)> {
        self.heap.pop().map(|e| (e.key, e.event))
    }

    /// Key of the first event without removing it.
    pub fn peek_key(&self) -> Option<EventKey> {
        self.heap.peek().map(|e| e.key)
    }

    /// Number of pending events.
    pub fn len(&self) -> usize {
        self.heap.len()
    }

    /// True when no event is pending.
    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }

    /// Drops every pending event and restarts sequence numbering, keeping the
    /// allocation (used between litmus iterations).
    pub fn clear(&mut self) {
        self.heap.clear();
        self.next_seq = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_time_events_pop_by_priority_then_fifo() {
        let mut q = EventQueue::new();
        q.push(10, Priority::LATE, "late-a");
        q.push(10, Priority::EARLY, "early-a");
        q.push(5, Priority::LAST, "first-in-time");
        q.push(10, Priority::LATE, "late-b");
        q.push(10, Priority::EARLY, "early-b");
        let order: Vec<_> = std::iter::from_fn(|| q.pop().map(|(_, e)| e)).collect();
        assert_eq!(order, ["first-in-time", "early-a", "early-b", "late-a", "late-b"]);
    }

    #[test]
    fn key_round_trips_its_parts() {
        let k = EventKey::new(u64::MAX - 3, Priority(77), 123_456);
        assert_eq!(k.time(), u64::MAX - 3);
        assert_eq!(k.priority(), Priority(77));
        assert_eq!(k.seq(), 123_456);
    }
}
