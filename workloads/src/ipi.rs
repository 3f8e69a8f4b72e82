//! IPI experiments on the simulated kernel: Norov's benchmark.
//!
//! One CPU calls `smp_call_function_many(targets, ipi_nop, NULL, wait)` in a
//! loop and times each call with the counter, as Norov's module did with
//! `ktime_get()` (linux-arm-kernel, "[PATCH v2] IPI performance benchmark",
//! December 2017); every other CPU sits in the idle loop with interrupts
//! enabled. Everything between the two counter reads — queueing a csd per
//! target, the GIC writes, delivery over the topology, the targets'
//! exception entry, handler and exit, and the sender's wait for every
//! unlock — is simulated instruction by instruction; nothing here adds a
//! latency of its own.
//!
//! ```
//! use cpu_model::machine::MachineConfig;
//! use workloads::ipi::IpiBench;
//! use workloads::kernel::KernelConfig;
//!
//! let cfg = MachineConfig::default(); // 2 clusters of 4 cores
//! let run = IpiBench::unicast(0, 1, 3).run(&cfg, &KernelConfig::default()).unwrap();
//! assert_eq!(run.calls.len(), 3);
//! assert_eq!(run.handled[1], 3, "the target took one interrupt per call");
//! assert!(run.steady_mean() > 500.0, "an IPI round trip costs hundreds of cycles");
//! ```

use cpu_model::machine::{MachineConfig, RunError};
use cpu_model::topology::TopologyError;
use serde::Serialize;
use sim::Cycle;

use crate::kernel::{self, KernelConfig};
use crate::system::{LoadError, System};

/// What went wrong with a benchmark run (this one's, or [`crate::tlbi_bench`]'s).
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// The configuration's topology is invalid.
    #[error("topology: {0}")]
    Topology(#[from] TopologyError),
    /// A CPU number the machine lacks.
    #[error("CPU {cpu} does not exist (the machine has {cpus})")]
    NoSuchCpu {
        /// The CPU named.
        cpu: usize,
        /// CPUs the machine has.
        cpus: usize,
    },
    /// The kernel or benchmark failed to load (a bug in the shipped text,
    /// or in a user's edit of it).
    #[error("{0}")]
    Load(#[from] LoadError),
    /// The simulation did not finish.
    #[error("{0}")]
    Run(#[from] RunError),
    /// A benchmark's page tables could not be built.
    #[error("page tables: {0}")]
    PageTables(String),
}

/// Simulated cycles a call may take before the run is abandoned.
pub const CYCLES_PER_CALL_LIMIT: Cycle = 10_000_000;

/// One benchmark: who sends, to whom, how often.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct IpiBench {
    /// The sending CPU.
    pub sender: usize,
    /// Target CPUs (the sender itself is skipped, as Linux does).
    pub targets: Vec<usize>,
    /// Calls to time.
    pub iterations: u64,
    /// Wait for every target's handler (wait = 1), or only send.
    pub wait: bool,
}

/// What a benchmark run measured.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct IpiRun {
    /// Cycles of each call, as the sender's counter measured them.
    pub calls: Vec<Cycle>,
    /// Per call, cycles from its start until a target's handler ran (the
    /// last target's, with several), as Norov's "delivery" column.
    pub delivered: Vec<Cycle>,
    /// Interrupts each CPU took (indexed by CPU).
    pub handled: Vec<u64>,
    /// Cycle at which the sender finished.
    pub end: Cycle,
    /// Core clock (MHz) of the configuration, to convert to time.
    pub clock_mhz: u64,
}

impl IpiRun {
    /// Mean cycles from a call's start to its handler, once warm (as
    /// [`IpiRun::steady_mean`]).
    pub fn steady_delivery(&self) -> f64 {
        let warm = if self.delivered.len() > 1 { &self.delivered[1..] } else { &self.delivered[..] };
        warm.iter().sum::<Cycle>() as f64 / warm.len().max(1) as f64
    }

    /// Mean cycles per call once caches are warm (the first call, which
    /// also fetches every line for the first time, is left out when there
    /// are others; Norov averaged 100 000 calls).
    pub fn steady_mean(&self) -> f64 {
        let warm = if self.calls.len() > 1 { &self.calls[1..] } else { &self.calls[..] };
        warm.iter().sum::<Cycle>() as f64 / warm.len().max(1) as f64
    }

    /// [`IpiRun::steady_mean`] in nanoseconds.
    pub fn steady_mean_ns(&self) -> f64 {
        self.steady_mean() * 1000.0 / self.clock_mhz as f64
    }
}

impl IpiBench {
    /// Norov's "Normal IPI": `sender` calls `target` and waits.
    pub fn unicast(sender: usize, target: usize, iterations: u64) -> Self {
        IpiBench { sender, targets: vec![target], iterations, wait: true }
    }

    /// Norov's "Broadcast IPI": `sender` calls every one of `cpus` CPUs
    /// (itself skipped) and waits.
    pub fn broadcast(sender: usize, cpus: usize, iterations: u64) -> Self {
        IpiBench { sender, targets: (0..cpus).collect(), iterations, wait: true }
    }

    /// Builds the system: the kernel, the benchmark loop on the sender, the
    /// idle loop everywhere else.
    pub fn system(&self, cfg: &MachineConfig, kernel: &KernelConfig) -> Result<System, BenchError> {
        let topo = cpu_model::topology::Topology::new(&cfg.topology)?;
        let cpus = topo.num_cores();
        if let Some(&cpu) = self.targets.iter().chain([&self.sender]).find(|&&c| c >= cpus) {
            return Err(BenchError::NoSuchCpu { cpu, cpus });
        }
        let mut sys = System::with_kernel(&topo, kernel);
        let targets = sys.alloc("BENCH_TARGETS", 8 * self.targets.len() as u64);
        for (i, &t) in self.targets.iter().enumerate() {
            sys.poke(targets + 8 * i as u64, t as u64);
        }
        sys.alloc("BENCH_RESULTS", 8 * self.iterations);
        sys.alloc("BENCH_STARTS", 8 * self.iterations);
        sys.alloc("BENCH_STAMPS", 8 * self.iterations);
        sys.define("BENCH_NTARGETS", self.targets.len() as u64);
        sys.define("BENCH_ITERATIONS", self.iterations);
        sys.define("BENCH_WAIT", self.wait as u64);
        sys.load_kernel()?;
        sys.load("workloads/kernel/ipi_bench.S", kernel::IPI_BENCH, System::USER_TEXT)?;
        for cpu in 0..cpus {
            if cpu == self.sender {
                sys.start(cpu, "ipi_bench", 1, 0xf)?;
            } else {
                sys.start(cpu, "cpu_idle", 1, 0xf)?;
            }
        }
        Ok(sys)
    }

    /// Runs the benchmark on a machine configured by `cfg` with kernel
    /// compute blocks from `kernel`.
    pub fn run(&self, cfg: &MachineConfig, kernel: &KernelConfig) -> Result<IpiRun, BenchError> {
        let sys = self.system(cfg, kernel)?;
        let results = sys.symbol("BENCH_RESULTS").expect("allocated by system()");
        let starts = sys.symbol("BENCH_STARTS").expect("allocated by system()");
        let stamps = sys.symbol("BENCH_STAMPS").expect("allocated by system()");
        // A call that has not returned after this long never will: a
        // kernel edit broke the protocol, or a parameter is absurd.
        let limit = self.iterations.max(1).saturating_mul(CYCLES_PER_CALL_LIMIT);
        let (engine, end) = sys.run_until_done(cfg, vec![self.sender], limit)?;
        let m = engine.model();
        let s = m.state();
        let calls: Vec<Cycle> = (0..self.iterations).map(|i| s.mem.read(results + 8 * i).value).collect();
        let delivered = (0..self.iterations)
            .map(|i| s.mem.read(stamps + 8 * i).value.saturating_sub(s.mem.read(starts + 8 * i).value))
            .collect();
        let handled = s.cores.iter().map(|c| c.exceptions().len() as u64).collect();
        Ok(IpiRun { calls, delivered, handled, end, clock_mhz: cfg.clock_mhz })
    }
}
