//! What runs on the simulated machine during an isolation experiment: the
//! parameters of the isolated tasks and of the housekeeping CPUs' kernel
//! activity, and the seeded schedules the programs in
//! `workloads/programs/` read.
//!
//! Kernel activity arrives as independent Poisson processes, one per kind
//! of operation, at the configured rates; each kind runs on one generating
//! housekeeping CPU ([`Op::home`]), as the kernel serializes it. Each isolated CPU's system calls are
//! separated by exponentially distributed numbers of loop iterations. Every
//! stream is its own ChaCha stream named after what it drives
//! (`activity/text-patch`, `isolated/cpu57/syscalls`), so changing one rate
//! leaves the other schedules as they were.
//!
//! ```
//! use workloads::activity::{ActivityConfig, Op, schedules};
//! use sim::rng::RngStreams;
//!
//! let cfg = ActivityConfig { vmalloc_per_s: 10_000.0, ..ActivityConfig::default() };
//! let s = schedules(&cfg, &RngStreams::new(7), 2_000, 1_000_000);
//! let vm = s.iter().flatten().filter(|a| a.op == Op::Vmalloc).count();
//! assert!(vm > 0 && vm < 30); // ~10 in 0.5 ms at 2 GHz
//! ```

use rand::RngExt;
use serde::{Deserialize, Serialize};
use sim::Cycle;
use sim::rng::RngStreams;

/// Kernel activity on housekeeping CPUs and the behaviour of the isolated
/// tasks. Rates are per second of simulated time.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct ActivityConfig {
    /// Static-key flips (jump-label text patching with its kick), per second, machine-wide.
    /// Stress profile (assumption): tracepoint/BPF attach and detach in bursts, 300/s, so that a
    /// 100 ms run sees every ordering of a kick against an entry.
    pub text_patch_per_s: f64,
    /// vfree()+vmalloc() cycles that reuse a kernel address and flush its TLB entries, per second.
    /// Stress profile (assumption): 2000/s, a fork-heavy host purging vmap stacks eagerly.
    pub vmalloc_per_s: f64,
    /// Slab cache tunings (do_tune_cpucache with its kick), per second (assumption: 20/s, caches
    /// being resized under memory pressure).
    pub slab_tune_per_s: f64,
    /// munmap() of a page in a process running on housekeeping CPUs, per second (assumption: a
    /// memory-allocator-heavy service, about a thousand per second).
    pub munmap_per_s: f64,
    /// Housekeeping CPUs that generate the activity (the first ones); the others idle.
    pub generators: usize,
    /// The isolated task's polling loop: `oslat` (oslat's own loop at instruction level: counter
    /// reads, and a histogram the program keeps in its memory; the default) or `work` (one
    /// compute block of `iter_work_cycles` per iteration, timed by the experiment's probe).
    #[serde(rename = "loop")]
    pub task_loop: TaskLoop,
    /// Cycles of user-space work per iteration of the `work` loop (the `oslat` loop has none, as
    /// oslat runs without `--workload`).
    pub iter_work_cycles: Cycle,
    /// System calls per second of each isolated task (0: it never enters the kernel on purpose).
    /// Stress profile (assumption): 20 000/s, a task that polls a device and talks to the kernel
    /// often, so that its entries meet kicks.
    pub syscalls_per_s: f64,
    /// Which system call the isolated task makes: `touch` (uses the data, code and mappings kicks
    /// protect, so that safety is checked on real accesses) or `getpid` (returns at once: the
    /// entry and exit paths alone, as the entry-penalty benchmarks measure them).
    pub syscall: UserSyscall,
}

/// The isolated task's polling loop (`run.activity.loop`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum TaskLoop {
    /// `workloads/programs/isolated.S`: a `work` block per iteration, system calls after seeded
    /// numbers of iterations; iteration times come from a probe at the loop head.
    Work,
    /// `workloads/programs/oslat.S`: oslat's inner loop (`ISB; MRS CNTVCT_EL0`, the delta
    /// bucketed into a histogram in user memory), system calls at seeded counter times; the
    /// report's oslat rows are read back from the program's histogram. The default: the loop
    /// isolation people run, and the only one whose iterations show what is shorter than 1 µs.
    #[default]
    Oslat,
}

/// The isolated task's system call.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum UserSyscall {
    /// `SYS_TOUCH` (isolation.S: sys_touch).
    #[default]
    Touch,
    /// `SYS_NOP` (entry.S), the getpid() of benchmarks.
    Getpid,
}

impl UserSyscall {
    /// The kernel's symbol for its number (entry.S).
    pub fn symbol(self) -> &'static str {
        match self {
            UserSyscall::Touch => "SYS_TOUCH",
            UserSyscall::Getpid => "SYS_NOP",
        }
    }
}

impl Default for ActivityConfig {
    fn default() -> Self {
        ActivityConfig {
            text_patch_per_s: 300.0,
            vmalloc_per_s: 2000.0,
            slab_tune_per_s: 20.0,
            munmap_per_s: 1000.0,
            generators: 4,
            task_loop: TaskLoop::default(),
            iter_work_cycles: 2000,
            syscalls_per_s: 20_000.0,
            syscall: UserSyscall::Touch,
        }
    }
}

impl ActivityConfig {
    /// The rates of the housekeeping operations, by key name (in [`Op::ALL`]'s order).
    pub fn rates(&self) -> [(&'static str, f64); 4] {
        [
            ("text_patch_per_s", self.text_patch_per_s),
            ("vmalloc_per_s", self.vmalloc_per_s),
            ("slab_tune_per_s", self.slab_tune_per_s),
            ("munmap_per_s", self.munmap_per_s),
        ]
    }

    /// Checks the values (rates finite and non-negative, at least one generator).
    pub fn validate(&self) -> Result<(), sim::Invalid> {
        for (name, r) in self.rates().into_iter().chain([("syscalls_per_s", self.syscalls_per_s)]) {
            if !r.is_finite() || r < 0.0 {
                return Err(sim::Invalid::new(&[name], format!("{name} = {r}: a rate must be a finite number ≥ 0")));
            }
        }
        if self.generators == 0 {
            return Err(sim::Invalid::new(
                &["generators"],
                "generators = 0: at least one housekeeping CPU must generate the activity",
            ));
        }
        if self.iter_work_cycles == 0 {
            return Err(sim::Invalid::new(&["iter_work_cycles"], "iter_work_cycles = 0: an iteration must take time"));
        }
        Ok(())
    }
}

/// A kind of kernel operation on a housekeeping CPU (the `OP_*` numbers of
/// `housekeeping.S`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Op {
    /// Static-key flip with text patching.
    TextPatch,
    /// vfree() + vmalloc() with a kernel TLB flush.
    Vmalloc,
    /// Slab cache tuning.
    SlabTune,
    /// munmap() in a housekeeping process.
    Munmap,
}

impl Op {
    /// Every kind, in report order.
    pub const ALL: [Op; 4] = [Op::TextPatch, Op::Vmalloc, Op::SlabTune, Op::Munmap];

    /// The `OP_*` number in `housekeeping.S`.
    pub fn code(self) -> u64 {
        match self {
            Op::TextPatch => 1,
            Op::Vmalloc => 2,
            Op::SlabTune => 3,
            Op::Munmap => 4,
        }
    }

    /// The kind with `OP_*` number `code`.
    pub fn from_code(code: u64) -> Option<Op> {
        Op::ALL.into_iter().find(|o| o.code() == code)
    }

    /// Name in reports.
    pub fn name(self) -> &'static str {
        match self {
            Op::TextPatch => "text-patch",
            Op::Vmalloc => "vmalloc",
            Op::SlabTune => "slab-tune",
            Op::Munmap => "munmap",
        }
    }

    /// The generator that performs every operation of this kind: the kernel
    /// serializes each kind (jump_label_mutex, vmap_purge_lock, slab_mutex,
    /// the mm's mmap_lock), so one CPU at a time does it.
    pub fn home(self, generators: usize) -> usize {
        Op::ALL.iter().position(|&o| o == self).expect("every kind is listed") % generators.max(1)
    }

    fn rate(self, cfg: &ActivityConfig) -> f64 {
        match self {
            Op::TextPatch => cfg.text_patch_per_s,
            Op::Vmalloc => cfg.vmalloc_per_s,
            Op::SlabTune => cfg.slab_tune_per_s,
            Op::Munmap => cfg.munmap_per_s,
        }
    }
}

/// One scheduled operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Arrival {
    /// Cycle at which it is due.
    pub at: Cycle,
    /// What it is.
    pub op: Op,
    /// Its index among the operations of its kind (to derive arguments).
    pub index: u64,
}

/// An exponentially distributed gap with mean `mean`, rounded to whole units (at least 1).
fn exp_gap(rng: &mut impl RngExt, mean: f64) -> u64 {
    // 1 - U is in (0, 1], so the logarithm is finite.
    let u: f64 = rng.random::<f64>();
    ((-(1.0 - u).ln()) * mean).round().max(1.0) as u64
}

/// The operations each of `cfg.generators` housekeeping CPUs performs in
/// `[0, horizon)` cycles on a `clock_mhz` machine, in time order per CPU.
pub fn schedules(cfg: &ActivityConfig, streams: &RngStreams, clock_mhz: u64, horizon: Cycle) -> Vec<Vec<Arrival>> {
    let hz = clock_mhz as f64 * 1e6;
    let mut all = vec![];
    for op in Op::ALL {
        let rate = op.rate(cfg);
        if rate <= 0.0 {
            continue;
        }
        let mut rng = streams.stream(&format!("activity/{}", op.name()));
        let mut t: Cycle = 0;
        let mut index = 0;
        loop {
            // Saturating: a rate so low that the gap is past the end of time never comes.
            t = t.saturating_add(exp_gap(&mut rng, hz / rate));
            if t >= horizon {
                break;
            }
            all.push(Arrival { at: t, op, index });
            index += 1;
        }
    }
    // Time order, ties by kind: the same for every run with these streams.
    all.sort_by_key(|a| (a.at, a.op, a.index));
    let mut per = vec![vec![]; cfg.generators];
    for a in all {
        per[a.op.home(cfg.generators)].push(a);
    }
    per
}

/// Iteration counts between the system calls of the isolated task on CPU
/// `cpu`, enough to cover `horizon` cycles, ended by 0. Empty (just the 0)
/// when the task makes no system calls.
pub fn syscall_gaps(
    cfg: &ActivityConfig,
    streams: &RngStreams,
    clock_mhz: u64,
    cpu: usize,
    horizon: Cycle,
) -> Vec<u64> {
    let mut gaps = vec![];
    if cfg.syscalls_per_s > 0.0 {
        let hz = clock_mhz as f64 * 1e6;
        let mean_iters = (hz / cfg.syscalls_per_s / cfg.iter_work_cycles as f64).max(1.0);
        let mut rng = streams.stream(&format!("isolated/cpu{cpu}/syscalls"));
        let mut covered = 0u64;
        while covered < horizon {
            let g = exp_gap(&mut rng, mean_iters);
            gaps.push(g);
            covered = covered.saturating_add(g.saturating_mul(cfg.iter_work_cycles));
        }
    }
    gaps.push(0);
    gaps
}

/// Counter times (cycles since the start) of the system calls of the `oslat` loop's task on CPU
/// `cpu`: exponential gaps with mean `1 s / syscalls_per_s`, enough to cover `horizon` cycles,
/// ended by `u64::MAX` (never). Just the end mark when the task makes no system calls.
pub fn syscall_times(
    cfg: &ActivityConfig,
    streams: &RngStreams,
    clock_mhz: u64,
    cpu: usize,
    horizon: Cycle,
) -> Vec<Cycle> {
    let mut times = vec![];
    if cfg.syscalls_per_s > 0.0 {
        let mean = (clock_mhz as f64 * 1e6 / cfg.syscalls_per_s).max(1.0);
        let mut rng = streams.stream(&format!("isolated/cpu{cpu}/syscall-times"));
        let mut at = 0u64;
        while at < horizon {
            at = at.saturating_add(exp_gap(&mut rng, mean));
            times.push(at);
        }
    }
    times.push(u64::MAX);
    times
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arrival_counts_follow_the_rates() {
        let cfg = ActivityConfig { text_patch_per_s: 1000.0, vmalloc_per_s: 0.0, ..ActivityConfig::default() };
        // 1 s at 1000 MHz: ~1000 text patches, none of the disabled kind.
        let s = schedules(&cfg, &RngStreams::new(1), 1000, 1_000_000_000);
        let count = |op| s.iter().flatten().filter(|a| a.op == op).count();
        assert!((900..1100).contains(&count(Op::TextPatch)), "{}", count(Op::TextPatch));
        assert_eq!(count(Op::Vmalloc), 0);
        for cpu in &s {
            assert!(cpu.windows(2).all(|w| w[0].at <= w[1].at));
        }
    }

    #[test]
    fn changing_one_rate_leaves_the_other_streams_alone() {
        let a = ActivityConfig::default();
        let b = ActivityConfig { munmap_per_s: 5000.0, ..a.clone() };
        let streams = RngStreams::new(3);
        let patches = |cfg: &ActivityConfig| -> Vec<Cycle> {
            schedules(cfg, &streams, 2000, 200_000_000)
                .into_iter()
                .flatten()
                .filter(|x| x.op == Op::TextPatch)
                .map(|x| x.at)
                .collect::<std::collections::BTreeSet<_>>()
                .into_iter()
                .collect()
        };
        assert_eq!(patches(&a), patches(&b));
    }

    #[test]
    fn syscall_gaps_cover_the_horizon_and_end_with_zero() {
        let cfg = ActivityConfig::default();
        let g = syscall_gaps(&cfg, &RngStreams::new(5), 2000, 60, 200_000_000);
        assert_eq!(g.last(), Some(&0));
        assert!(g[..g.len() - 1].iter().sum::<u64>() * cfg.iter_work_cycles >= 200_000_000);
        let none = ActivityConfig { syscalls_per_s: 0.0, ..cfg };
        assert_eq!(syscall_gaps(&none, &RngStreams::new(5), 2000, 60, 1000), vec![0]);
    }

    #[test]
    fn gaps_past_the_end_of_time_end_the_schedule_instead_of_wrapping() {
        // A rate this low draws gaps of u64::MAX cycles; a loop this long, iterations as long.
        let rare = ActivityConfig {
            text_patch_per_s: 1e-300,
            vmalloc_per_s: 1e-300,
            slab_tune_per_s: 1e-300,
            munmap_per_s: 1e-300,
            syscalls_per_s: 1e-300,
            ..ActivityConfig::default()
        };
        let s = schedules(&rare, &RngStreams::new(1), 2500, u64::MAX);
        assert_eq!(s.iter().flatten().count(), 0);
        assert_eq!(syscall_gaps(&rare, &RngStreams::new(1), 2500, 0, u64::MAX).len(), 2);
        let slow = ActivityConfig { iter_work_cycles: u64::MAX / 2, ..ActivityConfig::default() };
        assert!(syscall_gaps(&slow, &RngStreams::new(1), 2500, 0, u64::MAX).len() <= 4);
    }

    #[test]
    fn bad_rates_are_rejected() {
        let bad = ActivityConfig { vmalloc_per_s: -1.0, ..ActivityConfig::default() };
        assert_eq!(bad.validate().unwrap_err().keys, ["vmalloc_per_s"]);
        assert!(ActivityConfig { generators: 0, ..ActivityConfig::default() }.validate().is_err());
    }
}
