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
//!   CPU N-I .. N-1        isolated.S: nohz_full, isolated user loop with
//!                         system calls at seeded times
//! ```
//!
//! Every number comes from the run: interrupts and their durations from the
//! cores' exception records, callbacks and kick decisions from probes on
//! kernel labels, loop latencies from probes on the user loop, sender
//! latencies from the housekeeping CPUs' own counter reads.
//!
//! ```
//! use workloads::experiment::{Experiment, ExperimentConfig};
//! use workloads::kernel::{KernelConfig, Protocol};
//! use cpu_model::machine::MachineConfig;
//!
//! // The default machine has 8 cores: a quick look with 2 isolated, 2 ms.
//! let machine = MachineConfig::default();
//! let run = ExperimentConfig { cpus: 8, isolated: 2, duration_us: 2_000, ..ExperimentConfig::default() };
//! let exp = Experiment::build(&machine, &KernelConfig::default(), &run, Protocol::Deferred, 1).unwrap();
//! let report = exp.run().unwrap();
//! assert!(report.safety.violations.is_empty());
//! assert_eq!(report.isolated.len(), 2);
//! println!("{}", report.isolated[0].noise_ns);
//! ```

mod build;
mod measure;
mod safety;
mod trace;

pub use build::{Experiment, ExperimentError};
pub use measure::{HistogramBucket, IsolatedRow, NOISE_BUCKET_NS, NoiseBucket, OpLatency, Report, SyscallStats};
pub use safety::{Orderings, Safety, Violation};

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
    /// Isolated CPUs (the last ones), each running an isolated polling task (default 2, with the
    /// default 4 housekeeping generators on 8 CPUs).
    pub isolated: usize,
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
            isolated: 2,
            duration_us: 100_000,
            osnoise_period_us: 1_000,
            stop_on_violation: true,
            activity: ActivityConfig::default(),
        }
    }
}

impl ExperimentConfig {
    /// Checks the values against each other.
    pub fn validate(&self) -> Result<(), sim::Invalid> {
        self.activity.validate().map_err(|e| e.under("activity"))?;
        let bad = |keys: &[&str], m: String| Err(sim::Invalid::new(keys, m));
        if self.isolated == 0 {
            return bad(&["isolated"], "isolated = 0: the experiment needs at least one isolated CPU".into());
        }
        if self.activity.generators + self.isolated > self.cpus {
            return bad(
                &["cpus", "isolated", "activity.generators"],
                format!(
                    "{} housekeeping generators + {} isolated CPUs do not fit in cpus = {}",
                    self.activity.generators, self.isolated, self.cpus
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
}
