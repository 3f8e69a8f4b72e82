//! Statistics on HdrHistogram: latency distributions and counters.

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

/// A distribution of non-negative integer samples (cycles, nanoseconds),
/// recorded with 3 significant digits over the whole `u64` range.
#[derive(Clone, Debug)]
pub struct Distribution {
    hist: Histogram<u64>,
}

impl Default for Distribution {
    fn default() -> Self {
        Self::new()
    }
}

impl Distribution {
    /// An empty distribution.
    pub fn new() -> Self {
        Distribution { hist: Histogram::new(3).expect("3 significant digits is a valid precision") }
    }

    /// Records one sample.
    pub fn record(&mut self, value: u64) {
        // Not `saturating_record`: it clamps instead of growing the histogram.
        self.hist.record(value).expect("auto-resizing histogram accepts every u64");
    }

    /// Records `count` samples of `value`.
    pub fn record_n(&mut self, value: u64, count: u64) {
        self.hist.record_n(value, count).expect("auto-resizing histogram accepts every u64");
    }

    /// Adds every sample of `other`.
    pub fn merge(&mut self, other: &Distribution) {
        self.hist.add(&other.hist).expect("auto-resizing histograms always merge");
    }

    /// Number of samples.
    pub fn count(&self) -> u64 {
        self.hist.len()
    }

    /// Largest sample (0 when empty).
    pub fn max(&self) -> u64 {
        self.hist.max()
    }

    /// Smallest sample (0 when empty).
    pub fn min(&self) -> u64 {
        self.hist.min()
    }

    /// Mean of the samples (0 when empty).
    pub fn mean(&self) -> f64 {
        self.hist.mean()
    }

    /// Value at quantile `q` in `[0, 1]` (0 when empty).
    pub fn quantile(&self, q: f64) -> u64 {
        self.hist.value_at_quantile(q)
    }

    /// The underlying histogram, for iteration over buckets.
    pub fn histogram(&self) -> &Histogram<u64> {
        &self.hist
    }

    /// The usual summary row.
    pub fn summary(&self) -> Summary {
        Summary {
            count: self.count(),
            min: self.min(),
            mean: self.mean(),
            p50: self.quantile(0.50),
            p99: self.quantile(0.99),
            p999: self.quantile(0.999),
            p9999: self.quantile(0.9999),
            max: self.max(),
        }
    }
}

/// Percentile summary of a [`Distribution`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// Number of samples.
    pub count: u64,
    /// Smallest sample.
    pub min: u64,
    /// Arithmetic mean.
    #[serde(with = "crate::float")]
    pub mean: f64,
    /// Median.
    pub p50: u64,
    /// 99th percentile.
    pub p99: u64,
    /// 99.9th percentile.
    pub p999: u64,
    /// 99.99th percentile.
    pub p9999: u64,
    /// Largest sample.
    pub max: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_come_from_the_histogram() {
        let mut d = Distribution::new();
        for v in 1..=1000 {
            d.record(v);
        }
        let s = d.summary();
        assert_eq!(s.count, 1000);
        assert_eq!(s.min, 1);
        assert_eq!(s.max, 1000);
        assert_eq!(s.p50, 500);
        assert_eq!(s.p99, 990);
        let mut big = Distribution::new();
        big.record(3615);
        assert!(big.min() >= 3611 && big.max() <= 3619, "a first sample beyond the initial range is kept (3 digits)");
        let mut e = Distribution::new();
        e.record_n(5000, 10);
        e.merge(&d);
        assert_eq!(e.count(), 1010);
        assert!(e.max() >= 5000 && e.max() <= 5005, "3 significant digits");
    }
}
