//! Seeded random streams, one per component.
//!
//! Every component draws from its own ChaCha8 stream, keyed by the master
//! seed and selected by a stable hash of the component's *name*. Two
//! consequences:
//!
//! * adding a component (a new core, a new traffic source) does not change
//!   the numbers any existing component draws;
//! * a result depends only on (master seed, component names, configuration),
//!   never on the order in which components were created or on threads.
//!
//! ```
//! use sim::rng::RngStreams;
//! use rand::Rng;
//!
//! let streams = RngStreams::new(42);
//! let mut a = streams.stream("core0.jitter");
//! let mut b = RngStreams::new(42).stream("core0.jitter");
//! assert_eq!(a.next_u64(), b.next_u64());
//! assert_ne!(streams.stream("core1.jitter").next_u64(), streams.stream("core0.jitter").next_u64());
//! ```

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// The generator every component uses.
pub type SimRng = ChaCha8Rng;

/// 64-bit FNV-1a: a tiny, stable string hash (the component-name → stream map
/// must never change between versions or platforms, which rules out std's
/// randomly keyed hashers).
pub fn stable_hash(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= b as u64;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// SplitMix64 finaliser: spreads a seed over all 64 bits.
pub fn mix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Hands out per-component streams derived from one master seed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct RngStreams {
    master: u64,
}

impl RngStreams {
    /// Streams for master seed `seed`.
    pub fn new(seed: u64) -> Self {
        RngStreams { master: seed }
    }

    /// The master seed.
    pub fn seed(&self) -> u64 {
        self.master
    }

    /// The stream of the component called `name`.
    pub fn stream(&self, name: &str) -> SimRng {
        let mut key = [0u8; 32];
        let mut s = self.master;
        for chunk in key.chunks_exact_mut(8) {
            s = mix64(s);
            chunk.copy_from_slice(&s.to_le_bytes());
        }
        let mut rng = ChaCha8Rng::from_seed(key);
        rng.set_stream(stable_hash(name.as_bytes()));
        rng
    }

    /// An independent family of streams for sub-experiment `name` (a sweep
    /// point, a fuzz run, a chunk of litmus iterations).
    pub fn child(&self, name: &str) -> RngStreams {
        RngStreams { master: mix64(self.master ^ mix64(stable_hash(name.as_bytes()))) }
    }

    /// An independent family of streams for run number `index`.
    pub fn indexed(&self, index: u64) -> RngStreams {
        RngStreams { master: mix64(self.master ^ mix64(index.wrapping_add(0x5851_f42d_4c95_7f2d))) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::Rng;

    #[test]
    fn stable_hash_is_fnv1a() {
        // Published FNV-1a 64 test vectors.
        assert_eq!(stable_hash(b""), 0xcbf29ce484222325);
        assert_eq!(stable_hash(b"a"), 0xaf63dc4c8601ec8c);
    }

    #[test]
    fn a_stream_does_not_depend_on_other_streams_being_created() {
        let s = RngStreams::new(7);
        let alone: Vec<u64> = (0..8)
            .map({
                let mut r = s.stream("x");
                move |_| r.next_u64()
            })
            .collect();
        let mut other = s.stream("y");
        let _ = other.next_u64();
        let mut again = s.stream("x");
        let second: Vec<u64> = (0..8).map(|_| again.next_u64()).collect();
        assert_eq!(alone, second);
    }

    #[test]
    fn children_and_indices_differ_from_the_parent() {
        let s = RngStreams::new(1);
        let a = s.stream("c").next_u64();
        assert_ne!(a, s.child("run").stream("c").next_u64());
        assert_ne!(s.indexed(0).stream("c").next_u64(), s.indexed(1).stream("c").next_u64());
        assert_eq!(s.indexed(3), RngStreams::new(1).indexed(3));
    }
}
