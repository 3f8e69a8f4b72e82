//! The isolation experiment: a many-core machine running the kernel's
//! isolation paths, with isolated CPUs polling in user space and
//! housekeeping CPUs generating kernel activity, under one of the three
//! kick protocols; measured the way osnoise and oslat measure a real
//! machine, and checked for safety while it runs.
//!
//! ```text
//!   CPU 0 .. G-1          housekeeping.S: text patching, vmalloc/vfree,
//!                         slab tuning, munmap, each on its own CPU, at
//!                         seeded Poisson arrival times (activity.rs)
//!   CPU G .. N-I-1        idle (WFI), answering IPIs
//!   CPU N-I .. N-1        oslat.S: nohz_full, oslat's polling loop at
//!                         instruction level, system calls at seeded times
//!                         (or isolated.S: a compute block per iteration)
//! ```
//!
//! Every number comes from the run: interrupts and their durations from the
//! cores' exception records, callbacks and kick decisions from probes on
//! kernel labels, loop latencies from the histogram the oslat loop keeps in
//! its own memory (probes on the loop head for `isolated.S`), sender
//! latencies from the housekeeping CPUs' own counter reads.
//!
//! ```
//! use workloads::experiment::{Experiment, ExperimentConfig};
//! use workloads::kernel::{KernelConfig, Protocol};
//! use cpu_model::machine::MachineConfig;
//!
//! // The default machine has 8 cores: a quick look with 2 isolated, 2 ms (the oslat loop
//! // on the out-of-order pipeline; the presets time user code by dataflow, much cheaper).
//! let machine = MachineConfig::default();
//! let run = ExperimentConfig { cpus: 8, isolated: 2.into(), duration_us: 2_000, ..ExperimentConfig::default() };
//! let exp = Experiment::build(&machine, &KernelConfig::default(), &run, Protocol::Deferred, 1).unwrap();
//! let report = exp.run().unwrap();
//! assert!(report.safety.violations.is_empty());
//! assert_eq!(report.isolated.len(), 2);
//! println!("{}", report.isolated[0].noise_ns);
//! ```

mod build;
pub mod chrome_trace;
mod cpus;
mod measure;
pub mod oslat;
mod safety;
mod trace;

pub use build::{Experiment, ExperimentError, ExperimentLayout};
pub use cpus::{IsolatedCpus, MAX_LISTED_CPU, parse_cpulist};
pub use measure::{
    CoreStats, HistogramBucket, IsolatedRow, NOISE_BUCKET_NS, NoiseBucket, OpLatency, Report, SubUsBucket, SyscallStats,
};
pub use safety::{Break, Evidence, Orderings, Safety, Timed, Violation};

use serde::{Deserialize, Serialize};

use crate::activity::ActivityConfig;

/// The shape of an isolation experiment (the `[run]` section of a
/// configuration file).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct ExperimentConfig {
    /// CPUs the experiment uses (the first ones of the machine's topology; the default, 8, is
    /// the whole default machine; the presets use more).
    pub cpus: usize,
    /// Isolated CPUs, each running an isolated polling task: a count, the last CPUs of the run
    /// (default 2, with the default 4 housekeeping generators on 8 CPUs), or a Linux cpulist as
    /// for `nohz_full=` ("4-7,12-15"). Housekeeping generators are the first CPUs not isolated.
    #[schemars(with = "cpus::IsolatedRepr")]
    pub isolated: IsolatedCpus,
    /// Simulated time, in microseconds.
    pub duration_us: u64,
    /// osnoise's sampling period for MaxNoise (the most noise within one period), in microseconds
    /// (osnoise's default period is 1 s; runs here are shorter, so 1 ms).
    pub osnoise_period_us: u64,
    /// Stop at the first safety violation (otherwise run to the end and list them all).
    pub stop_on_violation: bool,
    /// The isolated tasks and the housekeeping activity.
    pub activity: ActivityConfig,
}

impl Default for ExperimentConfig {
    fn default() -> Self {
        ExperimentConfig {
            cpus: 8,
            isolated: IsolatedCpus::Last(2),
            duration_us: 100_000,
            osnoise_period_us: 1_000,
            stop_on_violation: true,
            activity: ActivityConfig::default(),
        }
    }
}

/// The longest run, in cycles: with every latency below 2^32 cycles, times
/// computed during a run stay far from overflowing a `u64`.
pub const MAX_RUN_CYCLES: u64 = 1 << 62;

/// The most operations of one kind (each kind of housekeeping operation,
/// each isolated CPU's system calls) a run schedules: each is a few words of
/// simulated memory, laid out before the run starts.
pub const MAX_OPERATIONS: f64 = 1e6;

impl ExperimentConfig {
    /// Checks the values against each other.
    pub fn validate(&self) -> Result<(), sim::Invalid> {
        self.activity.validate().map_err(|e| e.under("activity"))?;
        let bad = |keys: &[&str], m: String| Err(sim::Invalid::new(keys, m));
        if self.isolated.count() == 0 {
            return bad(&["isolated"], "isolated = 0: the experiment needs at least one isolated CPU".into());
        }
        if let Some(top) = self.isolated.highest_listed().filter(|&c| c >= self.cpus) {
            return bad(
                &["isolated", "cpus"],
                format!("isolated = \"{}\" names CPU {top}, but the run has cpus = {}", self.isolated, self.cpus),
            );
        }
        // Checked: both are the user's, and a replay file may hold any count.
        if self.activity.generators.checked_add(self.isolated.count()).is_none_or(|n| n > self.cpus) {
            return bad(
                &["cpus", "isolated", "activity.generators"],
                format!(
                    "{} housekeeping generators + {} isolated CPUs do not fit in cpus = {}",
                    self.activity.generators,
                    self.isolated.count(),
                    self.cpus
                ),
            );
        }
        if self.duration_us == 0 {
            return bad(&["duration_us"], "duration_us must be positive".into());
        }
        if self.osnoise_period_us == 0 {
            return bad(&["osnoise_period_us"], "osnoise_period_us must be positive".into());
        }
        Ok(())
    }

    /// Refuses a clock of 0 MHz (key `machine.clock_mhz`): every time in a report is cycles
    /// divided by it.
    pub fn check_clock(clock_mhz: u64) -> Result<(), sim::Invalid> {
        if clock_mhz == 0 {
            return Err(sim::Invalid::new(
                &["machine.clock_mhz"],
                "clock_mhz = 0: a clock must tick (reports turn cycles into time by it)",
            ));
        }
        Ok(())
    }

    /// Cycles of `us` microseconds at `clock_mhz`, at most [`MAX_RUN_CYCLES`]; `key` (from the top
    /// of a configuration, `run.duration_us`) names the value in the error.
    pub fn cycles(key: &str, us: u64, clock_mhz: u64) -> Result<u64, sim::Invalid> {
        us.checked_mul(clock_mhz).filter(|&c| c <= MAX_RUN_CYCLES).ok_or_else(|| {
            sim::Invalid::new(
                &[key, "machine.clock_mhz"],
                format!(
                    "{us} µs at {clock_mhz} MHz is more than 2^62 cycles, the most a run may last (at most {} µs \
                     at this clock)",
                    MAX_RUN_CYCLES / clock_mhz.max(1)
                ),
            )
        })
    }

    /// [`ExperimentConfig::validate`] and what the values make on a machine clocked at
    /// `clock_mhz`: the run's and the osnoise period's cycles, and how many operations the rates
    /// schedule over the run. Keys are from the top of a configuration (`run.duration_us`).
    pub fn validate_at(&self, clock_mhz: u64) -> Result<(), sim::Invalid> {
        self.validate().map_err(|e| e.under("run"))?;
        Self::check_clock(clock_mhz)?;
        let horizon = Self::cycles("run.duration_us", self.duration_us, clock_mhz)?;
        Self::cycles("run.osnoise_period_us", self.osnoise_period_us, clock_mhz)?;
        let seconds = self.duration_us as f64 / 1e6;
        let act = &self.activity;
        for (name, rate) in act.rates() {
            // The generators draw Poisson arrivals: about rate × duration of them.
            let expected = rate * seconds;
            if expected > MAX_OPERATIONS {
                let key = format!("run.activity.{name}");
                return Err(sim::Invalid::new(
                    &[&key, "run.duration_us"],
                    format!(
                        "{rate}/s over {} µs is {expected:.3e} operations, more than the {MAX_OPERATIONS:e} a run \
                         schedules",
                        self.duration_us
                    ),
                ));
            }
        }
        if act.syscalls_per_s > 0.0 {
            // Each gap is at least one loop iteration.
            let calls = (act.syscalls_per_s * seconds).min(horizon as f64 / act.iter_work_cycles as f64);
            if calls > MAX_OPERATIONS {
                return Err(sim::Invalid::new(
                    &["run.activity.syscalls_per_s", "run.duration_us"],
                    format!(
                        "{}/s over {} µs is {calls:.3e} system calls per isolated CPU, more than the \
                         {MAX_OPERATIONS:e} a run schedules",
                        act.syscalls_per_s, self.duration_us
                    ),
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn products_of_user_values_are_checked_and_name_their_key() {
        let run = ExperimentConfig::default();
        assert_eq!(run.validate_at(2500), Ok(()));
        let key = |r: &ExperimentConfig, clock| r.validate_at(clock).unwrap_err().keys[0].clone();
        assert_eq!(key(&run, 0), "machine.clock_mhz");
        // The issue's duration: × 2100 MHz wraps a u64 (it used to simulate 2,084 cycles).
        let long = ExperimentConfig { duration_us: 8_784_163_844_623_597, ..run.clone() };
        let e = long.validate_at(2100).unwrap_err();
        assert_eq!(e.keys[0], "run.duration_us");
        assert!(e.message.contains("at most 2196040961155899 µs at this clock"), "{e}");
        // At the limit it is accepted (rates off: their operations would not fit).
        let quiet = ActivityConfig {
            text_patch_per_s: 0.0,
            vmalloc_per_s: 0.0,
            slab_tune_per_s: 0.0,
            munmap_per_s: 0.0,
            syscalls_per_s: 0.0,
            ..ActivityConfig::default()
        };
        let edge = ExperimentConfig { duration_us: MAX_RUN_CYCLES / 2000, activity: quiet, ..run.clone() };
        assert_eq!(edge.validate_at(2000), Ok(()));
        assert_eq!(key(&ExperimentConfig { duration_us: MAX_RUN_CYCLES / 2000 + 1, ..edge }, 2000), "run.duration_us");
        let period = ExperimentConfig { osnoise_period_us: u64::MAX / 1000, ..run.clone() };
        assert_eq!(key(&period, 2500), "run.osnoise_period_us");
        // Rates × duration: the operations a run lays out in memory.
        let busy = ExperimentConfig {
            activity: ActivityConfig { vmalloc_per_s: 1e12, ..run.activity.clone() },
            ..run.clone()
        };
        assert_eq!(key(&busy, 2500), "run.activity.vmalloc_per_s");
        let chatty = ActivityConfig { syscalls_per_s: 1e12, iter_work_cycles: 1, ..run.activity.clone() };
        assert_eq!(key(&ExperimentConfig { activity: chatty, ..run.clone() }, 2500), "run.activity.syscalls_per_s");
        // A rate whose gaps are longer than any run is no operation at all, not an overflow.
        let rare = ActivityConfig { vmalloc_per_s: 1e-300, ..run.activity.clone() };
        assert_eq!(ExperimentConfig { activity: rare, ..run }.validate_at(2500), Ok(()));
    }
}
