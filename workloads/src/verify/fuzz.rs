//! Fuzzed memory-ordering stress runs of a protocol: many short isolation
//! experiments on a small machine, each with its timing drawn at random.
//!
//! ```text
//!   CPU 0          housekeeping: text patches, vmalloc/vfree, slab tunings
//!                  (each a kick or a deferred TLB flush), back to back
//!   CPU 1 (.. 2)   isolated task: polling loop, system calls that use the
//!                  data, code and mappings the kicks protect
//! ```
//!
//! Each run draws, from its own random stream (run index `i` of the seed), the
//! machine's timing noise (every memory access, and stores again: how long
//! they wait in the store buffer), cache and coherence latencies, IPI delivery,
//! exception entry and return, the kernel paths' lengths, the task's loop
//! and system-call rate and the operations' arrival times; then runs the
//! experiment with its safety check ([`crate::experiment`]). A run's result
//! depends only on (seed, run index, protocol, base configuration), never
//! on how runs are spread over threads.
//!
//! ```
//! use workloads::verify::fuzz::{Fuzz, FuzzConfig};
//! use workloads::kernel::Protocol;
//! use workloads::protocol::ProtocolFile;
//!
//! let fuzz = Fuzz::new(FuzzConfig { runs: 4, ..FuzzConfig::default() });
//! let report = fuzz.run(&ProtocolFile::builtin(Protocol::Deferred), 1, |_| {}).unwrap();
//! assert_eq!(report.runs, 4);
//! assert_eq!(report.safety_violations, 0);
//! ```

use cpu_model::core::UserCode;
use cpu_model::machine::MachineConfig;
use memory_model::Mode;
use rand::{Rng, RngExt};
use serde::{Deserialize, Serialize};
use sim::rng::RngStreams;

use crate::activity::TaskLoop;
use crate::experiment::{Break, Experiment, ExperimentConfig, ExperimentError, Orderings, Report, Violation};
use crate::kernel::KernelConfig;
use crate::protocol::{Consequence, ProtocolFile};

/// What `isolsim fuzz` runs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FuzzConfig {
    /// Runs (500 by default: a mutant hit in 2 % of runs, such as a sender without its barrier,
    /// is missed with probability 0.98^500 < 10^-4).
    pub runs: u64,
    /// Master seed: run `i` draws everything from its index-`i` streams.
    pub seed: u64,
    /// CPUs: one housekeeping CPU (the sender) and `cpus - 1` isolated ones.
    pub cpus: usize,
    /// Simulated time per run, µs (short: what matters is how often a kick meets an entry).
    pub duration_us: u64,
    /// The machine the timing is drawn around (its latencies are scaled per run; user code
    /// runs on the pipeline whatever it says, see [`Fuzz::draw`]).
    pub machine: MachineConfig,
    /// The kernel whose path lengths are scaled per run.
    pub kernel: KernelConfig,
}

impl Default for FuzzConfig {
    fn default() -> Self {
        FuzzConfig {
            runs: 500,
            seed: 1,
            cpus: 2,
            duration_us: 400,
            machine: MachineConfig::default(),
            kernel: KernelConfig::default(),
        }
    }
}

/// One run's drawn parameters: enough to rebuild it exactly.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FuzzRun {
    /// Run index.
    pub index: u64,
    /// The experiment's seed (arrival times, system-call gaps, jitter streams).
    pub seed: u64,
    /// The machine, timing drawn.
    pub machine: MachineConfig,
    /// The kernel, path lengths drawn.
    pub kernel: KernelConfig,
    /// The experiment: sizes and rates drawn.
    pub run: ExperimentConfig,
}

impl FuzzRun {
    /// Builds the run's experiment with protocol `p`.
    pub fn experiment(&self, p: &ProtocolFile) -> Result<Experiment, ExperimentError> {
        Experiment::build_with_protocol(&self.machine, &self.kernel, &self.run, p, self.seed)
    }
}

/// What one run found.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunOutcome {
    /// Run index.
    pub index: u64,
    /// Safety violations (the run stops at the first).
    pub violations: Vec<Violation>,
    /// Decisions to interrupt a CPU that was running isolated user code, and broadcast TLB
    /// invalidations that reached isolated user code.
    pub isolation_breaks: u64,
    /// The seed's orderings seen.
    pub orderings: Orderings,
    /// The first decision that broke isolation, with its evidence.
    pub first_break: Option<Break>,
}

/// The whole campaign.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FuzzReport {
    /// The protocol's name.
    pub protocol: String,
    /// The memory model.
    pub mode: Mode,
    /// Runs done.
    pub runs: u64,
    /// Runs with a safety violation.
    pub safety_violations: u64,
    /// Runs with an isolation break.
    pub isolation_breaks: u64,
    /// The seed's orderings, summed over runs.
    pub coverage: Orderings,
    /// Runs in which each ordering occurred at least once: case 1..4, exit race.
    pub runs_covering: [u64; 5],
    /// The first run with a safety violation: its parameters and what it found.
    pub first_violation: Option<(FuzzRun, Violation)>,
    /// The first run with an isolation break.
    pub first_break: Option<FuzzRun>,
    /// Its first interrupt of a CPU running user code, with what its cause is derived from
    /// (`None` if the run's breaks are broadcast TLB invalidations).
    pub first_break_evidence: Option<Break>,
}

impl FuzzReport {
    /// The consequences found (sorted).
    pub fn found(&self) -> Vec<Consequence> {
        let mut v = vec![];
        if self.safety_violations > 0 {
            v.push(Consequence::SafetyViolation);
        }
        if self.isolation_breaks > 0 {
            v.push(Consequence::IsolationBreak);
        }
        v
    }

    /// The orderings that never occurred, by name.
    pub fn uncovered(&self) -> Vec<&'static str> {
        ORDERING_NAMES.iter().zip(self.runs_covering).filter(|(_, n)| *n == 0).map(|(name, _)| *name).collect()
    }
}

/// Names of the seed's orderings, in [`FuzzReport::runs_covering`]'s order.
pub const ORDERING_NAMES: [&str; 5] = [
    "case 1 (hook during publication, IPI)",
    "case 2 (entering at the check, deferred)",
    "case 3 (hook before publication, IPI)",
    "case 4 (in user space, deferred)",
    "exit-to-user race",
];

/// A fuzz campaign.
pub struct Fuzz {
    cfg: FuzzConfig,
}

impl Fuzz {
    /// A campaign of `cfg`.
    pub fn new(cfg: FuzzConfig) -> Fuzz {
        Fuzz { cfg }
    }

    /// Draws run `index`'s parameters.
    pub fn draw(&self, index: u64) -> FuzzRun {
        let c = &self.cfg;
        let mut r = RngStreams::new(c.seed).indexed(index).stream("fuzz.params");
        let mut m = c.machine.clone();
        // The task's user code on the pipeline, whatever the machine says (the presets time it by
        // dataflow for the experiment's oslat loop): the fuzzer's task is the `work` loop below,
        // whose blocks the pipeline runs anyway, and its few instructions around them keep the
        // store buffer the in-order core does not have.
        m.core.user_code = UserCode::OutOfOrder;
        let mut k = c.kernel.clone();
        // A factor in [lo, hi], log-uniform: latencies vary by ratios.
        let scale = |r: &mut sim::rng::SimRng, v: u64, lo: f64, hi: f64| -> u64 {
            let f = (lo.ln() + r.random::<f64>() * (hi.ln() - lo.ln())).exp();
            ((v as f64 * f).round() as u64).max(1)
        };
        // Timing noise on every access: none in a fifth of the runs, else up to a few µs.
        m.jitter = if r.random_bool(0.2) { 0 } else { scale(&mut r, 400, 0.05, 10.0) };
        // Stores held in the buffer while loads go on: the store-buffering windows.
        m.store_jitter = if r.random_bool(0.25) { 0 } else { scale(&mut r, 2000, 0.05, 10.0) };
        m.cache.remote_transfer = scale(&mut r, m.cache.remote_transfer, 0.5, 2.0);
        m.cache.memory = scale(&mut r, m.cache.memory, 0.5, 2.0);
        m.gic.delivery_cycles = scale(&mut r, m.gic.delivery_cycles, 0.25, 4.0);
        m.core.exception_entry_cycles = scale(&mut r, m.core.exception_entry_cycles, 0.5, 2.0);
        m.core.exception_return_cycles = scale(&mut r, m.core.exception_return_cycles, 0.5, 2.0);
        m.icache.invalidate_cycles = scale(&mut r, m.icache.invalidate_cycles, 0.25, 4.0);
        k.irq_enter_cycles = scale(&mut r, k.irq_enter_cycles, 0.1, 2.0);
        k.irq_exit_cycles = scale(&mut r, k.irq_exit_cycles, 0.1, 2.0);
        k.touch_cycles = scale(&mut r, k.touch_cycles, 0.001, 1.0);
        k.call_setup_cycles = scale(&mut r, k.call_setup_cycles, 0.25, 2.0);
        let mut run = ExperimentConfig {
            cpus: c.cpus,
            isolated: (c.cpus - 1).into(),
            duration_us: c.duration_us,
            osnoise_period_us: c.duration_us.min(1000),
            stop_on_violation: true,
            ..ExperimentConfig::default()
        };
        let a = &mut run.activity;
        a.generators = 1;
        a.munmap_per_s = 0.0;
        // Rates high enough that a short run has kicks meeting entries.
        a.text_patch_per_s = scale(&mut r, 10_000, 0.3, 3.0) as f64;
        a.vmalloc_per_s = scale(&mut r, 10_000, 0.3, 3.0) as f64;
        a.slab_tune_per_s = scale(&mut r, 10_000, 0.3, 3.0) as f64;
        a.syscalls_per_s = scale(&mut r, 100_000, 0.3, 3.0) as f64;
        // The `work` loop, its granularity drawn, not the experiment's default oslat loop: what
        // the fuzzer varies is when the task's entries fall against the kicks (the system-call
        // gaps it draws), and a compute block is one event where oslat's loop would be some
        // thirty instructions an iteration on this machine's pipeline (user code out of order).
        a.task_loop = TaskLoop::Work;
        a.iter_work_cycles = scale(&mut r, 500, 0.1, 4.0);
        FuzzRun { index, seed: r.next_u64(), machine: m, kernel: k, run }
    }

    /// Runs one run.
    pub fn run_one(&self, p: &ProtocolFile, index: u64) -> Result<(FuzzRun, RunOutcome), ExperimentError> {
        let params = self.draw(index);
        let report = params.experiment(p)?.run()?;
        let outcome = outcome(index, &report);
        Ok((params, outcome))
    }

    /// Runs every run on `jobs` threads (0: one per core), calling
    /// `tick(done)` as runs end. The report does not depend on `jobs`.
    pub fn run(
        &self,
        p: &ProtocolFile,
        jobs: usize,
        tick: impl Fn(u64) + Sync + Send,
    ) -> Result<FuzzReport, ExperimentError> {
        let done = std::sync::atomic::AtomicU64::new(0);
        let rep = FuzzReport {
            protocol: p.name.clone(),
            mode: self.cfg.machine.mode,
            runs: self.cfg.runs,
            safety_violations: 0,
            isolation_breaks: 0,
            coverage: Orderings::default(),
            runs_covering: [0; 5],
            first_violation: None,
            first_break: None,
            first_break_evidence: None,
        };
        // Each run is folded in as it finishes, in index order: memory does not grow with --runs.
        let run = |i| {
            let r = self.run_one(p, i);
            tick(done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1);
            r
        };
        sim::par::fold_indexed(self.cfg.runs, jobs, rep, run, |rep, r| {
            let (params, o) = r?;
            if let Some(v) = o.violations.first() {
                rep.safety_violations += 1;
                if rep.first_violation.is_none() {
                    rep.first_violation = Some((params.clone(), v.clone()));
                }
            }
            if o.isolation_breaks > 0 {
                rep.isolation_breaks += 1;
                if rep.first_break.is_none() {
                    rep.first_break = Some(params);
                    rep.first_break_evidence = o.first_break.clone();
                }
            }
            for (n, c) in rep.runs_covering.iter_mut().zip(o.orderings.seed_cases()) {
                *n += (c > 0) as u64;
            }
            rep.coverage += &o.orderings;
            Ok(())
        })
    }
}

/// What a finished experiment says about the protocol.
pub fn outcome(index: u64, r: &Report) -> RunOutcome {
    let tlbi: u64 = r.isolated.iter().map(|i| i.tlbi_disturbances).sum();
    RunOutcome {
        index,
        violations: r.safety.violations.clone(),
        isolation_breaks: r.orderings.interrupted_in_user + tlbi,
        orderings: r.orderings.clone(),
        first_break: r.first_break.clone(),
    }
}

/// A fuzz finding made smaller by delta debugging: fewer events and smaller
/// delays, still ending in a finding of the same kind. `T` is the finding: a
/// [`Violation`] (from [`minimize`]) or an isolation [`Break`] (from
/// [`minimize_break`]).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Minimized<T = Violation> {
    /// The smallest run found.
    pub run: FuzzRun,
    /// Its finding.
    pub found: T,
    /// Runs tried.
    pub tries: u64,
    /// Simulator events of the run (for a violation: until it stopped at the end of the
    /// checked chunk of simulated time the violation happened in), before and after.
    pub events: (u64, u64),
}

/// The simplifications delta debugging tries, one at a time: each returns
/// a smaller run (fewer operations, shorter, less noise, shorter delays),
/// or the same run when there is nothing left to take away.
/// A named change to a run.
type Simplification = (&'static str, fn(&mut FuzzRun));

const SIMPLIFICATIONS: [Simplification; 18] = [
    ("no text patching", |r| r.run.activity.text_patch_per_s = 0.0),
    ("no vmalloc/vfree", |r| r.run.activity.vmalloc_per_s = 0.0),
    ("no slab tuning", |r| r.run.activity.slab_tune_per_s = 0.0),
    ("half the duration", |r| {
        r.run.duration_us = (r.run.duration_us / 2).max(10);
        r.run.osnoise_period_us = r.run.osnoise_period_us.min(r.run.duration_us);
    }),
    ("half the system calls", |r| r.run.activity.syscalls_per_s = (r.run.activity.syscalls_per_s / 2.0).floor()),
    ("no access jitter", |r| r.machine.jitter = 0),
    ("half the store-buffer jitter", |r| r.machine.store_jitter /= 2),
    ("no store-buffer jitter", |r| r.machine.store_jitter = 0),
    ("half the remote-transfer latency", |r| {
        r.machine.cache.remote_transfer = (r.machine.cache.remote_transfer / 2).max(1)
    }),
    ("half the memory latency", |r| r.machine.cache.memory = (r.machine.cache.memory / 2).max(1)),
    ("half the IPI delivery", |r| r.machine.gic.delivery_cycles = (r.machine.gic.delivery_cycles / 2).max(1)),
    ("half the exception entry", |r| {
        r.machine.core.exception_entry_cycles = (r.machine.core.exception_entry_cycles / 2).max(1)
    }),
    ("half the exception return", |r| {
        r.machine.core.exception_return_cycles = (r.machine.core.exception_return_cycles / 2).max(1)
    }),
    ("half the I-cache invalidation", |r| {
        r.machine.icache.invalidate_cycles = (r.machine.icache.invalidate_cycles / 2).max(1)
    }),
    ("half the IRQ entry work", |r| r.kernel.irq_enter_cycles /= 2),
    ("half the IRQ exit work", |r| r.kernel.irq_exit_cycles /= 2),
    ("half the touch() work", |r| r.kernel.touch_cycles /= 2),
    ("half the user loop", |r| r.run.activity.iter_work_cycles = (r.run.activity.iter_work_cycles / 2).max(1)),
];

/// Delta debugging of violating run `run` of protocol `p`: applies each
/// simplification in turn and keeps it if the run still ends in a
/// violation of the same kind after no more simulator events, until none applies (the result is
/// 1-minimal: undoing nothing and taking away any one more thing loses the
/// violation), or after `max_tries` runs. Deterministic: runs are rebuilt
/// from their parameters.
pub fn minimize(p: &ProtocolFile, run: &FuzzRun, max_tries: u64) -> Result<Option<Minimized>, ExperimentError> {
    shrink(
        run,
        max_tries,
        |r| {
            let report = r.experiment(p)?.run()?;
            Ok(report.safety.violations.first().cloned().map(|v| (v, report.events)))
        },
        |a, b| a.kind == b.kind,
    )
}

/// Delta debugging of run `run` of protocol `p` with an isolation break, as [`minimize`] does
/// for violations: a simplification is kept while the run still interrupts an isolated CPU in
/// user space for a cause of the same kind (a reordered state write, or a decision on what
/// was read) after no more simulator events.
pub fn minimize_break(
    p: &ProtocolFile,
    run: &FuzzRun,
    max_tries: u64,
) -> Result<Option<Minimized<Break>>, ExperimentError> {
    shrink(
        run,
        max_tries,
        |r| {
            let report = r.experiment(p)?.run()?;
            Ok(report.first_break.map(|b| (b, report.events)))
        },
        |a, b| std::mem::discriminant(&a.cause()) == std::mem::discriminant(&b.cause()),
    )
}

/// The delta-debugging loop shared by [`minimize`] and [`minimize_break`]: `finds` runs a
/// candidate and returns its finding with the simulator events it took; `same` says whether
/// a finding is of the first one's kind.
fn shrink<T: Clone>(
    run: &FuzzRun,
    max_tries: u64,
    finds: impl Fn(&FuzzRun) -> Result<Option<(T, u64)>, ExperimentError>,
    same: impl Fn(&T, &T) -> bool,
) -> Result<Option<Minimized<T>>, ExperimentError> {
    let Some((first, events_before)) = finds(run)? else { return Ok(None) };
    let (mut best, mut found, mut events) = (run.clone(), first.clone(), events_before);
    let mut tries = 1;
    let mut changed = true;
    while changed && tries < max_tries {
        changed = false;
        for (_, simplify) in SIMPLIFICATIONS {
            let mut candidate = best.clone();
            simplify(&mut candidate);
            if candidate == best || tries >= max_tries {
                continue;
            }
            tries += 1;
            if let Some((f, e)) = finds(&candidate)?
                && same(&f, &first)
                && e <= events
            {
                (best, found, events, changed) = (candidate, f, e, true);
            }
        }
    }
    Ok(Some(Minimized { run: best, found, tries, events: (events_before, events) }))
}
