//! Exhaustive exploration of a nondeterministic transition system.
//!
//! The timed engine ([`crate::engine`]) follows *one* schedule, picked by
//! latencies and random streams. For proofs within a bound we want *every*
//! schedule: the models above `sim` expose their nondeterminism as a
//! [`TransitionSystem`], and [`explore`] walks its reachable states
//! depth-first, never expanding a state twice (states are identified by a
//! 128-bit fingerprint of their `Hash`).
//!
//! ```
//! use sim::explore::{explore, Expansion, Limits, TransitionSystem};
//!
//! /// Two counters that each step to 2 in any interleaving.
//! struct Pair;
//! impl TransitionSystem for Pair {
//!     type State = (u8, u8);
//!     fn expand(&self, s: &(u8, u8), out: &mut Vec<(u8, u8)>) -> Expansion {
//!         if s.0 < 2 { out.push((s.0 + 1, s.1)); }
//!         if s.1 < 2 { out.push((s.0, s.1 + 1)); }
//!         if out.is_empty() { Expansion::Final } else { Expansion::Continue }
//!     }
//! }
//! let mut finals = vec![];
//! let stats = explore(&Pair, (0, 0), &Limits::default(), |s| finals.push(*s));
//! assert_eq!(finals, [(2, 2)]);
//! assert_eq!(stats.states, 9); // the 3x3 grid, each state once
//! ```

use std::collections::HashSet;
use std::hash::{DefaultHasher, Hash, Hasher};

/// What [`TransitionSystem::expand`] found out about a state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expansion {
    /// Successors were pushed (possibly none, which is then a deadlock).
    Continue,
    /// The state is a complete, final state.
    Final,
    /// The state is not worth exploring (e.g. a mispredicted speculative path
    /// that the model knows adds no behaviour).
    Pruned,
    /// The state went past a bound of the model (e.g. a loop ran too long).
    BoundHit,
}

/// A system whose reachable states [`explore`] can enumerate.
pub trait TransitionSystem {
    /// A complete snapshot; two equal states must hash equally.
    type State: Clone + Hash;

    /// Pushes the successors of `state` onto `out` and classifies it.
    fn expand(&self, state: &Self::State, out: &mut Vec<Self::State>) -> Expansion;
}

/// Exploration bounds.
#[derive(Clone, Debug)]
pub struct Limits {
    /// Stop after this many distinct states.
    pub max_states: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { max_states: 5_000_000 }
    }
}

/// Counters reported by [`explore`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ExploreStats {
    /// Distinct states expanded.
    pub states: u64,
    /// Successor edges generated (including ones to already-seen states).
    pub transitions: u64,
    /// Distinct final states.
    pub finals: u64,
    /// States with no successor that were not final.
    pub deadlocks: u64,
    /// States the model pruned.
    pub pruned: u64,
    /// States past a model bound (their successors were not explored).
    pub model_bound_hits: u64,
    /// True if `max_states` stopped the search early.
    pub state_limit_hit: bool,
}

impl ExploreStats {
    /// True if some part of the state space was cut off by a bound.
    pub fn bound_hit(&self) -> bool {
        self.state_limit_hit || self.model_bound_hits > 0
    }
}

/// 128-bit fingerprint of a state: two independently salted SipHash runs.
pub fn fingerprint<S: Hash>(s: &S) -> u128 {
    let mut a = DefaultHasher::new();
    s.hash(&mut a);
    let mut b = DefaultHasher::new();
    0x5eed_u16.hash(&mut b);
    s.hash(&mut b);
    ((a.finish() as u128) << 64) | b.finish() as u128
}

/// Depth-first enumeration of the states reachable from `init`; calls
/// `on_final` once per distinct final state, in a deterministic order (the
/// DFS order the model's successor order induces).
pub fn explore<T: TransitionSystem>(
    sys: &T,
    init: T::State,
    limits: &Limits,
    mut on_final: impl FnMut(&T::State),
) -> ExploreStats {
    let mut stats = ExploreStats::default();
    let mut seen: HashSet<u128> = HashSet::new();
    let mut stack = vec![init];
    let mut succ = Vec::new();
    seen.insert(fingerprint(&stack[0]));
    while let Some(state) = stack.pop() {
        if stats.states >= limits.max_states {
            stats.state_limit_hit = true;
            break;
        }
        stats.states += 1;
        succ.clear();
        match sys.expand(&state, &mut succ) {
            Expansion::Final => {
                stats.finals += 1;
                on_final(&state);
            }
            Expansion::Pruned => stats.pruned += 1,
            Expansion::BoundHit => stats.model_bound_hits += 1,
            Expansion::Continue => {
                if succ.is_empty() {
                    stats.deadlocks += 1;
                }
                stats.transitions += succ.len() as u64;
                // Reverse so the first successor is explored first.
                for s in succ.drain(..).rev() {
                    if seen.insert(fingerprint(&s)) {
                        stack.push(s);
                    }
                }
            }
        }
    }
    stats
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Three threads each doing two steps: the interleaving lattice has
    /// 3^3 = 27 states and 3 * 2 * 9 = 54 edges.
    struct Grid;
    impl TransitionSystem for Grid {
        type State = [u8; 3];
        fn expand(&self, s: &[u8; 3], out: &mut Vec<[u8; 3]>) -> Expansion {
            for i in 0..3 {
                if s[i] < 2 {
                    let mut n = *s;
                    n[i] += 1;
                    out.push(n);
                }
            }
            if out.is_empty() { Expansion::Final } else { Expansion::Continue }
        }
    }

    #[test]
    fn each_state_is_expanded_once() {
        let stats = explore(&Grid, [0; 3], &Limits::default(), |_| {});
        assert_eq!(stats.states, 27);
        assert_eq!(stats.transitions, 54);
        assert_eq!(stats.finals, 1);
        assert!(!stats.bound_hit());
    }

    #[test]
    fn the_state_limit_is_reported() {
        let stats = explore(&Grid, [0; 3], &Limits { max_states: 5 }, |_| {});
        assert_eq!(stats.states, 5);
        assert!(stats.state_limit_hit && stats.bound_hit());
    }
}
