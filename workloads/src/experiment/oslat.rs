//! The `oslat` loop's histogram (`workloads/programs/oslat.S`): its layout in the task's user
//! memory, the arithmetic the program does on every iteration (mirrored here, so that a test can
//! recompute the histogram from what the program read), and reading it back after a run.
//!
//! ```text
//!   X24 -> +0x00 count   +0x08 sum (ns)   +0x10 min (ns)   +0x18 max (ns)   +0x20 first read
//!          +0x40 bucket 0 .. 99:  [0,10) [10,20) .. [990,1000) ns
//!                bucket 100 .. 130: [1,2) .. [31,32) µs
//!                bucket 131:        32 µs and more
//! ```

use cpu_model::core::{Core, ProbeHit};
use memory_model::Addr;
use memory_model::memory::FlatMemory;
use serde::{Deserialize, Serialize};
use sim::Cycle;

use crate::system::System;

/// Ticks to nanoseconds: `ns = (ticks * mult) >> NS_SHIFT`, the kernel clocksources' form.
pub const NS_SHIFT: u32 = 24;
/// Width of the buckets below 1 µs, ns: fine enough to tell a 30 ns iteration from a 60 ns one.
pub const FINE_NS: u64 = 10;
/// Buckets below 1 µs.
pub const FINE_BUCKETS: u64 = 1000 / FINE_NS;
/// 1 µs buckets end at this many microseconds (oslat's default bucket count, 32); longer
/// iterations go to the overflow bucket.
pub const US_BUCKETS: u64 = 32;
/// Buckets in all: the fine ones, `[1, 2)` .. `[US_BUCKETS - 1, US_BUCKETS)` µs, the overflow.
pub const BUCKETS: usize = (FINE_BUCKETS + US_BUCKETS) as usize;

const COUNT: u64 = 0x00;
const SUM: u64 = 0x08;
const MIN: u64 = 0x10;
const MAX: u64 = 0x18;
const START: u64 = 0x20;
const BUCKET0: u64 = 0x40;
/// Bytes of one CPU's histogram.
pub const BYTES: u64 = BUCKET0 + 8 * BUCKETS as u64;

/// `ceil(2^32 / d)`: multiplying by it and shifting right by 32 divides by `d` exactly for the
/// dividends the loop divides (below `US_BUCKETS` µs).
fn reciprocal(d: u64) -> u64 {
    (1u64 << 32).div_ceil(d)
}

/// The program's arithmetic for a core clocked at `clock_mhz` (the counter runs at the clock).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Conversion {
    /// `1000 / clock_mhz` in units of 2^-NS_SHIFT, rounded up: a conversion is then never short
    /// by more than its final truncation (under 1 ns over the deltas a loop sees).
    pub ns_mult: u64,
}

impl Conversion {
    /// The conversion for a `clock_mhz` counter.
    pub fn new(clock_mhz: u64) -> Self {
        let c = clock_mhz.max(1);
        Conversion { ns_mult: (1000u64 << NS_SHIFT).div_ceil(c) }
    }

    /// An iteration of `ticks`, in ns, as the program computes it (64-bit arithmetic, so a delta
    /// longer than `2^64 / ns_mult` ticks, hours at any configured clock, wraps).
    pub fn ns(self, ticks: u64) -> u64 {
        ticks.wrapping_mul(self.ns_mult) >> NS_SHIFT
    }

    /// The bucket an iteration of `ns` falls in, as the program picks it.
    pub fn bucket(ns: u64) -> usize {
        if ns < 1000 {
            ((ns * reciprocal(FINE_NS)) >> 32) as usize
        } else if ns >= US_BUCKETS * 1000 {
            BUCKETS - 1
        } else {
            (((ns * reciprocal(1000)) >> 32) + FINE_BUCKETS - 1) as usize
        }
    }
}

/// Defines the symbols `oslat.S` uses.
pub(crate) fn define(sys: &mut System, clock_mhz: u64) {
    let conv = Conversion::new(clock_mhz);
    for (name, v) in [
        ("NS_MULT", conv.ns_mult),
        ("NS_SHIFT", NS_SHIFT as u64),
        ("FINE_MULT", reciprocal(FINE_NS)),
        ("US_MULT", reciprocal(1000)),
        ("OSLAT_FINE_BUCKETS", FINE_BUCKETS),
        ("OSLAT_US_BUCKETS", US_BUCKETS),
        ("OSLAT_OVERFLOW", BUCKETS as u64 - 1),
        ("OSLAT_COUNT", COUNT),
        ("OSLAT_SUM", SUM),
        ("OSLAT_MIN", MIN),
        ("OSLAT_MAX", MAX),
        ("OSLAT_START", START),
        ("OSLAT_BUCKET0", BUCKET0),
    ] {
        sys.define(name, v);
    }
}

/// The initial contents of a histogram at `base`: zero but for the minimum.
pub(crate) fn initial(base: Addr) -> [(Addr, u64); 1] {
    [(base + MIN, u64::MAX)]
}

/// One CPU's oslat histogram, as the program left it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OslatCpu {
    /// The CPU.
    pub cpu: usize,
    /// Counter value (cycles) of the loop's first read; `None` if the task never reached it.
    pub start: Option<Cycle>,
    /// Loop iterations measured.
    pub count: u64,
    /// Their total, ns.
    pub sum_ns: u64,
    /// The shortest, ns (0 if none).
    pub min_ns: u64,
    /// The longest, ns.
    pub max_ns: u64,
    /// Iterations per bucket ([`BUCKETS`] of them; see the module docs for the edges).
    pub buckets: Vec<u64>,
}

impl OslatCpu {
    /// Reads the histogram at `base` as the task itself would read it: its own stores still in
    /// the store buffer first, storage otherwise.
    pub fn read(cpu: usize, core: &Core, mem: &FlatMemory, base: Addr) -> OslatCpu {
        let word = |off: u64| core.lsq().buffered_value(base + off).unwrap_or_else(|| mem.read(base + off).value);
        let start = word(START);
        let count = word(COUNT);
        OslatCpu {
            cpu,
            start: (start != 0 || count > 0).then_some(start),
            count,
            sum_ns: word(SUM),
            min_ns: if count == 0 { 0 } else { word(MIN) },
            max_ns: word(MAX),
            buckets: (0..BUCKETS as u64).map(|k| word(BUCKET0 + 8 * k)).collect(),
        }
    }

    /// The histogram recomputed from the counter values the program read, as probes saw them
    /// retire: `start` the first read, `stamps` each later read in program order with whether it
    /// ends an iteration (`true`) or restarts the clock after a system call (`false`).
    pub fn from_reads(
        cpu: usize,
        conv: Conversion,
        start: Cycle,
        stamps: impl IntoIterator<Item = (u64, bool)>,
    ) -> Self {
        let mut h =
            OslatCpu { cpu, start: Some(start), buckets: vec![0; BUCKETS], min_ns: u64::MAX, ..Self::default() };
        let mut prev = start;
        for (v, ends_iteration) in stamps {
            if ends_iteration {
                let ns = conv.ns(v.wrapping_sub(prev));
                h.count += 1;
                h.sum_ns = h.sum_ns.wrapping_add(ns);
                h.min_ns = h.min_ns.min(ns);
                h.max_ns = h.max_ns.max(ns);
                h.buckets[Conversion::bucket(ns)] += 1;
            }
            prev = v;
        }
        if h.count == 0 {
            h.min_ns = 0;
        }
        h
    }

    /// Lower edge of bucket `k`, ns.
    pub fn bucket_from_ns(k: usize) -> u64 {
        let k = k as u64;
        if k < FINE_BUCKETS { k * FINE_NS } else { (k - FINE_BUCKETS + 1) * 1000 }
    }

    /// Mean iteration, ns.
    pub fn mean_ns(&self) -> f64 {
        if self.count == 0 { 0.0 } else { self.sum_ns as f64 / self.count as f64 }
    }
}

/// The probe hits of the oslat loop's two counter reads (recorded with
/// [`super::Experiment::with_iteration_probes`]), in retirement (= program) order, as
/// [`OslatCpu::from_reads`] takes them, each with its retirement cycle.
pub fn stamps(hits: &[ProbeHit]) -> impl Iterator<Item = (u64, bool, Cycle)> + '_ {
    use super::build::probe::{USER_ITER, USER_RESUMED};
    hits.iter()
        .filter(|h| h.el == 0 && (h.probe == USER_ITER || h.probe == USER_RESUMED))
        .map(|h| (h.values[0], h.probe == USER_ITER, h.at))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_the_exact_divisions_they_stand_for() {
        for ns in 0..40_000u64 {
            let want = if ns < 1000 {
                (ns / FINE_NS) as usize
            } else if ns < US_BUCKETS * 1000 {
                (FINE_BUCKETS + ns / 1000 - 1) as usize
            } else {
                BUCKETS - 1
            };
            assert_eq!(Conversion::bucket(ns), want, "{ns} ns");
            let k = Conversion::bucket(ns);
            assert!(OslatCpu::bucket_from_ns(k) <= ns);
        }
        assert_eq!(Conversion::bucket(u64::MAX), BUCKETS - 1);
    }

    #[test]
    fn ticks_become_nanoseconds_within_a_nanosecond() {
        for clock in [1000, 1234, 2100, 2500, 3000, 5000] {
            let conv = Conversion::new(clock);
            for ticks in (0..2_000_000u64).step_by(997) {
                let exact = ticks as f64 * 1000.0 / clock as f64;
                let got = conv.ns(ticks) as f64;
                assert!((got - exact).abs() <= 1.0, "{ticks} ticks at {clock} MHz: {got} ns, exactly {exact}");
            }
        }
    }

    #[test]
    fn a_clock_restart_is_not_an_iteration() {
        let conv = Conversion::new(1000);
        // 100 -> 130 is an iteration; 130 -> 5000 a system call (the restart read at 5000); 5000
        // -> 5040 one more.
        let h = OslatCpu::from_reads(3, conv, 100, [(130, true), (5000, false), (5040, true)]);
        assert_eq!((h.count, h.sum_ns, h.min_ns, h.max_ns), (2, 70, 30, 40));
        assert_eq!(h.buckets[3] + h.buckets[4], 2);
        assert_eq!(h.buckets.iter().sum::<u64>(), 2);
    }
}
