//! A first-in first-out queue whose live elements are one slice.
//!
//! A reorder buffer or load/store queue is pushed at the back, popped at the front, cut back
//! from the back, and above all *scanned by index* many times per step. A
//! [`VecDeque`](std::collections::VecDeque) wraps around, so each of those indexed reads pays
//! for the wrap; [`Window`] never wraps. It keeps its elements in a `Vec` from `start` on:
//!
//! ```text
//!  buf:  [ popped | popped | e0 | e1 | e2 ]      len() = 3, window[0] = e0
//!                            ^ start
//! ```
//!
//! Popping moves `start` on; the popped elements are dropped when the window compacts, once
//! they are at least as many as the live ones (so each element is moved at most once per
//! time it is popped past, on average: amortized O(1)). Equality and hashing see only the
//! live elements, in the same way as a `VecDeque`'s (the length, then each element), so a
//! fingerprint of a state holding one does not depend on which of the two holds it.
//!
//! ```
//! use sim::window::Window;
//! let mut w = Window::new();
//! w.push_back(1);
//! w.push_back(2);
//! w.push_back(3);
//! w.pop_front();
//! assert_eq!(w.as_slice(), &[2, 3]);
//! w.truncate(1);
//! assert_eq!((w.len(), w[0]), (1, 2));
//! ```

use std::hash::{Hash, Hasher};
use std::ops::{Index, IndexMut};
use std::slice::SliceIndex;

/// Popped elements kept before the window compacts, at least (fewer would move the live ones
/// too often when the queue is long).
const COMPACT_AFTER: usize = 32;

/// A FIFO queue stored as one contiguous slice. See the [module docs](self).
#[derive(Clone, Debug)]
pub struct Window<T> {
    buf: Vec<T>,
    start: usize,
}

impl<T> Default for Window<T> {
    fn default() -> Self {
        Window { buf: Vec::new(), start: 0 }
    }
}

impl<T> Window<T> {
    /// An empty window.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of live elements.
    #[inline]
    pub fn len(&self) -> usize {
        self.buf.len() - self.start
    }

    /// True if no element is live.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.buf.len() == self.start
    }

    /// The live elements, oldest first.
    #[inline]
    pub fn as_slice(&self) -> &[T] {
        &self.buf[self.start..]
    }

    /// The live elements, oldest first, mutable.
    #[inline]
    pub fn as_mut_slice(&mut self) -> &mut [T] {
        &mut self.buf[self.start..]
    }

    /// The live elements, oldest first.
    #[inline]
    pub fn iter(&self) -> std::slice::Iter<'_, T> {
        self.as_slice().iter()
    }

    /// The live elements, oldest first, mutable.
    #[inline]
    pub fn iter_mut(&mut self) -> std::slice::IterMut<'_, T> {
        self.as_mut_slice().iter_mut()
    }

    /// The live elements at the indices `r` names (`..i`, `i..j`).
    #[inline]
    pub fn range<R: SliceIndex<[T], Output = [T]>>(&self, r: R) -> std::slice::Iter<'_, T> {
        self.as_slice()[r].iter()
    }

    /// Element `i`, if live.
    #[inline]
    pub fn get(&self, i: usize) -> Option<&T> {
        self.buf.get(self.start + i)
    }

    /// Element `i`, if live, mutable.
    #[inline]
    pub fn get_mut(&mut self, i: usize) -> Option<&mut T> {
        self.buf.get_mut(self.start + i)
    }

    /// The oldest element.
    #[inline]
    pub fn front(&self) -> Option<&T> {
        self.get(0)
    }

    /// The oldest element, mutable.
    #[inline]
    pub fn front_mut(&mut self) -> Option<&mut T> {
        self.get_mut(0)
    }

    /// The youngest element.
    #[inline]
    pub fn back(&self) -> Option<&T> {
        self.as_slice().last()
    }

    /// The youngest element, mutable.
    #[inline]
    pub fn back_mut(&mut self) -> Option<&mut T> {
        self.as_mut_slice().last_mut()
    }

    /// Appends `x` as the youngest element.
    #[inline]
    pub fn push_back(&mut self, x: T) {
        self.buf.push(x);
    }

    /// Removes the oldest element (dropped when the window next compacts); false if empty.
    #[inline]
    pub fn pop_front(&mut self) -> bool {
        if self.is_empty() {
            return false;
        }
        self.start += 1;
        if self.start == self.buf.len() {
            // Nothing live: start afresh without moving anything.
            self.buf.clear();
            self.start = 0;
        } else if self.start >= COMPACT_AFTER && self.start >= self.len() {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        true
    }

    /// Keeps the `n` oldest elements.
    #[inline]
    pub fn truncate(&mut self, n: usize) {
        self.buf.truncate(self.start + n);
        if self.is_empty() {
            self.clear();
        }
    }

    /// Removes every element, keeping the allocation.
    pub fn clear(&mut self) {
        self.buf.clear();
        self.start = 0;
    }
}

impl<T> Index<usize> for Window<T> {
    type Output = T;
    #[inline]
    fn index(&self, i: usize) -> &T {
        &self.buf[self.start + i]
    }
}

impl<T> IndexMut<usize> for Window<T> {
    #[inline]
    fn index_mut(&mut self, i: usize) -> &mut T {
        &mut self.buf[self.start + i]
    }
}

impl<T: PartialEq> PartialEq for Window<T> {
    fn eq(&self, other: &Self) -> bool {
        self.as_slice() == other.as_slice()
    }
}

impl<T: Eq> Eq for Window<T> {}

impl<T: Hash> Hash for Window<T> {
    fn hash<H: Hasher>(&self, h: &mut H) {
        // What a `VecDeque` feeds a hasher: the length, then each element.
        h.write_usize(self.len());
        for x in self.iter() {
            x.hash(h);
        }
    }
}

impl<'a, T> IntoIterator for &'a Window<T> {
    type Item = &'a T;
    type IntoIter = std::slice::Iter<'a, T>;
    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::VecDeque;
    use std::hash::DefaultHasher;

    fn hash_of(x: &impl Hash) -> u64 {
        let mut h = DefaultHasher::new();
        x.hash(&mut h);
        h.finish()
    }

    /// Random pushes, pops and cuts: the window holds what a `VecDeque` holds, element for
    /// element, and hashes as it does.
    #[test]
    fn behaves_and_hashes_like_a_vecdeque() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(5);
        let mut below = |n: usize| (rng.next_u64() % n as u64) as usize;
        let (mut w, mut d) = (Window::new(), VecDeque::new());
        let mut compactions = 0;
        for step in 0..20_000u32 {
            match below(10) {
                0..=4 => {
                    w.push_back(step);
                    d.push_back(step);
                }
                5..=8 => {
                    let before = w.start;
                    assert_eq!(w.pop_front(), d.pop_front().is_some());
                    compactions += usize::from(w.start < before && !w.is_empty());
                }
                _ => {
                    let n = below(d.len() + 1);
                    w.truncate(n);
                    d.truncate(n);
                }
            }
            assert_eq!(w.len(), d.len());
            assert!(w.iter().eq(d.iter()));
            assert_eq!(w.front(), d.front());
            assert_eq!(w.back(), d.back());
            if !d.is_empty() {
                let i = below(d.len());
                assert_eq!(w[i], d[i]);
                assert!(w.range(..i).eq(d.range(..i)));
            }
            assert_eq!(w.get(d.len()), None);
            assert_eq!(hash_of(&w), hash_of(&d));
        }
        assert!(compactions > 0, "the run never compacted a window with live elements");
    }

    #[test]
    fn equality_ignores_popped_elements() {
        let mut a = Window::new();
        for x in [7, 1, 2] {
            a.push_back(x);
        }
        a.pop_front();
        let mut b = Window::new();
        b.push_back(1);
        b.push_back(2);
        assert_eq!(a, b);
        assert_eq!(hash_of(&a), hash_of(&b));
    }
}
