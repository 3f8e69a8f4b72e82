//! `isolsim run`: the isolation experiment for each protocol, side by side.
//!
//! A thin layer over [`workloads::experiment`]: it builds one experiment per
//! protocol from a [`Config`], runs them at once, one thread each (each run is
//! independent, so the result does not depend on how many run together; see
//! [`run_timed`]) and lays the reports out as one comparison.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::Path;
use std::sync::atomic::Ordering;

use comfy_table::{CellAlignment, ContentArrangement, Table};
use rayon::prelude::*;
use serde::Serialize;
use workloads::experiment::chrome_trace::{ChromeTrace, TraceWindow};
use workloads::experiment::{Experiment, ExperimentError, Report};
use workloads::kernel::Protocol;
use workloads::protocol::ProtocolFile;

use crate::config::Config;

/// The kernel's files besides the protocol ([`workloads::kernel::FILES`])
/// with some replaced by the user's: each of `replacements` is `NAME=PATH`,
/// NAME a file name of the kernel (`isolation.S`). Returns (name for
/// messages, text) pairs in load order; a replaced file is named by its path.
pub fn kernel_with(replacements: &[String]) -> Result<Vec<(String, String)>, String> {
    let mut files: Vec<(String, String)> =
        workloads::kernel::FILES.iter().map(|(n, t)| (n.to_string(), t.to_string())).collect();
    let known: Vec<&str> = workloads::kernel::FILES.iter().map(|(n, _)| n.rsplit('/').next().unwrap_or(n)).collect();
    for r in replacements {
        let Some((name, path)) = r.split_once('=') else {
            return Err(format!("--kernel-file {r}: expected NAME=PATH (e.g. isolation.S=my-variant.S)"));
        };
        let Some(i) = known.iter().position(|k| *k == name) else {
            return Err(format!(
                "--kernel-file {r}: the kernel has no file {name} (it has {}; a protocol variant is given with \
                 --protocol FILE)",
                known.join(", ")
            ));
        };
        let text = workloads::input::read_text(Path::new(path)).map_err(|e| e.to_string())?;
        files[i] = (path.to_string(), text);
    }
    Ok(files)
}

/// Runs the experiment of `cfg` for each of `protocols` with `seed` on the
/// kernel `kernel` (the files besides the protocol, (file name, text) pairs
/// in load order, e.g. [`workloads::kernel::FILES`]), each protocol's file
/// assembled last, at most `jobs` of them at once (0: all of them; see
/// [`run_timed`]); `progress(done, total)` is called with the simulated
/// cycles covered so far over all runs (from several threads).
pub fn run(
    cfg: &Config,
    kernel: &[(&str, &str)],
    protocols: &[ProtocolFile],
    seed: u64,
    jobs: usize,
    progress: &(dyn Fn(u64, u64) + Sync),
) -> Result<Vec<Report>, ExperimentError> {
    let how = RunHow { jobs, ..RunHow::default() };
    Ok(run_timed(cfg, kernel, protocols, seed, how, progress)?.into_iter().map(|r| r.report).collect())
}

/// One protocol's run of [`run_timed`].
pub struct TimedRun {
    /// Its report.
    pub report: Report,
    /// Host seconds the run took (its build not counted).
    pub host_seconds: f64,
    /// Its Chrome/Perfetto trace, if one was asked for: CPU `c` is process `PID_STRIDE × i + c`
    /// for the `i`-th protocol, so the runs' traces share one file.
    pub trace: Option<ChromeTrace>,
}

/// How far apart the process ids of two protocols' traces are (more than any machine's CPUs).
pub const PID_STRIDE: u32 = 1 << 16;

/// How [`run_timed`] runs the protocols, besides what they run.
#[derive(Clone, Copy, Debug, Default)]
pub struct RunHow {
    /// Each report carries every core's statistics too (`--stats`).
    pub core_stats: bool,
    /// Each run is traced over this window (`--trace`).
    pub trace: Option<TraceWindow>,
    /// Runs at once, each on a thread of its own; 0: all of them (`--jobs`).
    pub jobs: usize,
}

/// [`run`], with the host CPU seconds each protocol's run took (its build not counted): what the
/// simulation rates of [`HostStats`] are computed from. Host time never reaches a report.
///
/// **Why one thread per run, even with fewer host cores.** A run is one sequential simulation
/// and cannot be split. With the three built-in protocols on two cores, a pool of two threads
/// runs two of them back to back on one core while the other core finishes its one run and
/// idles; three threads let the operating system share both cores between all three to the end,
/// so the wall time is about their total CPU time over the cores instead of the two shortest
/// runs' sum (README › Speed). Each run is deterministic and independent of the others, so how
/// many run at once changes nothing in the reports (`deterministic_across_threads`).
pub fn run_timed(
    cfg: &Config,
    kernel: &[(&str, &str)],
    protocols: &[ProtocolFile],
    seed: u64,
    how: RunHow,
    progress: &(dyn Fn(u64, u64) + Sync),
) -> Result<Vec<TimedRun>, ExperimentError> {
    let RunHow { core_stats, trace, jobs } = how;
    let built: Vec<Experiment> = protocols
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let own = p.protocol_files();
            let mut files = kernel.to_vec();
            files.extend(own.iter().map(|(n, t)| (n.as_str(), t.as_str())));
            let exp = Experiment::build_with_kernel(&cfg.machine, &cfg.kernel, &cfg.run, p.base, seed, &files)?;
            let exp = exp.named(&p.name);
            let exp = if core_stats { exp.with_core_stats() } else { exp };
            Ok(match trace {
                Some(w) => exp.with_trace(w, PID_STRIDE * i as u32),
                None => exp,
            })
        })
        .collect::<Result<_, ExperimentError>>()?;
    let done: Vec<std::sync::atomic::AtomicU64> = protocols.iter().map(|_| 0.into()).collect();
    // Each horizon was checked; their sum over protocols may still pass a u64 (progress only).
    let horizon = cfg.run.duration_us.saturating_mul(cfg.machine.clock_mhz);
    let total = horizon.saturating_mul(protocols.len() as u64);
    let run_one = |i: usize, exp: Experiment| -> Result<TimedRun, ExperimentError> {
        let start = thread_cpu_seconds();
        let (report, trace) = exp.run_with_trace(|now, _| {
            done[i].store(now, Ordering::Relaxed);
            progress(done.iter().map(|d| d.load(Ordering::Relaxed)).fold(0, u64::saturating_add), total);
        })?;
        Ok(TimedRun { report, host_seconds: thread_cpu_seconds() - start, trace })
    };
    let runs = built.len();
    let threads = if jobs == 0 { runs } else { jobs.min(runs) };
    let run_all = || built.into_par_iter().with_max_len(1).enumerate().map(|(i, exp)| run_one(i, exp)).collect();
    // A pool of its own with a thread per run at once, whatever the host's core count.
    match rayon::ThreadPoolBuilder::new().num_threads(threads.max(1)).build() {
        Ok(pool) => pool.install(run_all),
        Err(_) => run_all(),
    }
}

/// CPU seconds the calling thread has run: a run's host time when runs share the cores.
fn thread_cpu_seconds() -> f64 {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
    t.tv_sec as f64 + t.tv_nsec as f64 * 1e-9
}

/// How fast the simulator ran one report's run, as simulators report it (gem5's `sim_insts`,
/// `host_seconds`, `host_inst_rate`). Host time varies from run to run: it is kept apart from
/// the reports, which depend on the seed and configuration only.
#[derive(Clone, Debug, Serialize)]
pub struct HostRate {
    /// The protocol's column name.
    pub name: String,
    /// Instructions retired ([`Report::instructions`]).
    pub sim_insts: u64,
    /// Simulated core-cycles ([`Report::core_cycles`]).
    pub sim_core_cycles: u64,
    /// Events the engine processed ([`Report::events`]).
    pub events: u64,
    /// Simulated nanoseconds ([`Report::simulated_ns`]).
    #[serde(with = "sim::float")]
    pub sim_ns: f64,
    /// Host CPU seconds of the run (its thread's; building the machine not counted).
    #[serde(with = "sim::float")]
    pub host_seconds: f64,
    /// Simulated instructions per host second, millions (simulated MIPS).
    #[serde(with = "sim::float")]
    pub host_mips: f64,
    /// Events per host second.
    #[serde(with = "sim::float")]
    pub host_event_rate: f64,
    /// Simulated nanoseconds per host second.
    #[serde(with = "sim::float")]
    pub sim_ns_per_host_second: f64,
}

impl HostRate {
    /// The rates of `report`'s run, which took `host_seconds`.
    pub fn new(report: &Report, host_seconds: f64) -> HostRate {
        let per_s = |x: f64| if host_seconds > 0.0 { x / host_seconds } else { f64::NAN };
        HostRate {
            name: report.name.clone(),
            sim_insts: report.instructions,
            sim_core_cycles: report.core_cycles,
            events: report.events,
            sim_ns: report.simulated_ns,
            host_seconds,
            host_mips: per_s(report.instructions as f64) / 1e6,
            host_event_rate: per_s(report.events as f64),
            sim_ns_per_host_second: per_s(report.simulated_ns),
        }
    }
}

/// The simulation rates of one `isolsim run` (left out with `--no-host-stats`).
#[derive(Clone, Debug, Serialize)]
pub struct HostStats {
    /// Wall seconds of the whole run, building and all protocols.
    #[serde(with = "sim::float")]
    pub wall_seconds: f64,
    /// Runs that ran at once, each on a thread of its own (`--jobs`).
    pub runs_at_once: usize,
    /// The host's cores that the runs shared.
    pub host_cores: usize,
    /// Per protocol, in the order of the reports.
    pub runs: Vec<HostRate>,
}

/// The foot of the text report: per protocol, what was simulated and how fast.
pub fn host_text(h: &HostStats) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "\nSimulation rate (host; varies from run to run, --no-host-stats leaves it out):");
    let mut rows = vec![];
    for r in &h.runs {
        rows.push(vec![
            r.name.clone(),
            r.sim_insts.to_string(),
            r.sim_core_cycles.to_string(),
            r.events.to_string(),
            format!("{:.3}", r.host_seconds),
            format!("{:.2}", r.host_mips),
            format!("{:.2}", r.host_event_rate / 1e6),
            format!("{:.0}", r.sim_ns_per_host_second),
        ]);
    }
    let mut table = Table::new();
    table.load_style(comfy_table::presets::NOTHING).set_content_arrangement(ContentArrangement::Disabled);
    table.set_header(vec![
        "protocol",
        "sim_insts",
        "sim core-cycles",
        "events",
        "host_seconds",
        "simulated MIPS",
        "M events/s",
        "simulated ns/host s",
    ]);
    for row in rows {
        table.add_row(row);
    }
    for i in 1..8 {
        if let Some(c) = table.column_mut(i) {
            c.set_cell_alignment(CellAlignment::Right);
        }
    }
    let _ = writeln!(o, "{table}");
    let _ = writeln!(
        o,
        "wall {:.3} s in all ({} runs at once on {} host cores; host_seconds is each run's thread's CPU time)",
        h.wall_seconds, h.runs_at_once, h.host_cores
    );
    o
}

/// The reports of one `isolsim run` and what they ran on: what `--json` prints.
#[derive(Clone, Debug, Serialize)]
pub struct Comparison {
    /// The software that produced it.
    pub version: String,
    /// The preset and what changed it (`arm64-server + my.toml + run.cpus=8`).
    pub preset: String,
    /// The seed of every random stream.
    pub seed: u64,
    /// Simulated time each run was configured for, µs (a run that stopped early says so in its
    /// report: `simulated_ns`, `stopped_early`).
    pub duration_us: u64,
    /// The effective configuration, defaults included.
    pub config: Config,
    /// Per protocol, how much longer its isolated tasks' system calls took on average than
    /// broadcast's (the stock kernel's), ns; absent when broadcast did not run.
    #[serde(with = "sim::float::option_map")]
    pub entry_penalty_vs_broadcast_ns: Option<BTreeMap<String, f64>>,
    /// One report per protocol, in the order given.
    pub reports: Vec<Report>,
    /// How fast the simulator ran them (host time: absent with `--no-host-stats`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host: Option<HostStats>,
}

impl Comparison {
    /// Gathers `reports`, run from `config` (labelled `preset`) with `seed`.
    pub fn new(preset: &str, config: &Config, seed: u64, reports: Vec<Report>) -> Self {
        let entry_penalty_vs_broadcast_ns = reports.iter().find(|r| r.protocol == Protocol::Broadcast).map(|base| {
            reports.iter().map(|r| (r.name.clone(), r.syscalls.all.mean - base.syscalls.all.mean)).collect()
        });
        Comparison {
            version: crate::sweep::VERSION.to_string(),
            preset: preset.to_string(),
            seed,
            duration_us: config.run.duration_us,
            config: config.clone(),
            entry_penalty_vs_broadcast_ns,
            reports,
            host: None,
        }
    }

    /// The comparison as JSON (one object).
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("the comparison serialises") + "\n"
    }
}

fn us(ns: f64) -> String {
    format!("{:.2}", ns / 1000.0)
}

/// Noise per isolated CPU per second of its runtime, µs/s: the isolated CPUs' noise over their
/// runtime (ns per ns, i.e. s per s, times 10⁶ µs per s). Times a CPU's mean runtime it gives back
/// the mean "Noise per CPU (µs)" of `isolsim run`. `None` when no isolated CPU ran.
pub fn noise_us_per_s(r: &Report) -> Option<f64> {
    let runtime: f64 = r.isolated.iter().map(|x| x.runtime_ns).sum();
    let noise: f64 = r.isolated.iter().map(|x| x.noise_ns).sum();
    (runtime > 0.0).then(|| noise / runtime * 1e6)
}

/// How much longer the first kernel entry after a deferral took than the run's other entries, ns.
pub fn deferral_penalty_ns(r: &Report) -> Option<f64> {
    let (all, after) = (&r.syscalls.all, &r.syscalls.after_deferral);
    (after.count > 0 && all.count > after.count).then(|| {
        let others = (all.mean * all.count as f64 - after.mean * after.count as f64) / (all.count - after.count) as f64;
        after.mean - others
    })
}

/// Rows of a side-by-side table: section headings (the protocols' names in the value columns)
/// and labelled rows, one value per protocol. Laid out by comfy-table, so columns stay aligned
/// whatever a label's or a value's length.
struct SideBySide {
    table: Table,
    protocols: Vec<String>,
}

impl SideBySide {
    fn new(protocols: Vec<String>) -> Self {
        let mut table = Table::new();
        table.load_style(comfy_table::presets::NOTHING).set_content_arrangement(ContentArrangement::Disabled);
        SideBySide { table, protocols }
    }

    fn section(&mut self, name: &str) {
        if self.table.row_count() > 0 {
            self.table.add_row(vec![String::new(); self.protocols.len() + 1]);
        }
        let mut cells = vec![name.to_string()];
        cells.extend(self.protocols.iter().cloned());
        self.table.add_row(cells);
    }

    fn row(&mut self, label: &str, values: Vec<String>) {
        let mut cells = vec![format!("  {label}")];
        cells.extend(values);
        self.table.add_row(cells);
    }

    fn finish(mut self) -> String {
        for i in 1..=self.protocols.len() {
            if let Some(c) = self.table.column_mut(i) {
                c.set_cell_alignment(CellAlignment::Right);
            }
        }
        // comfy-table pads every line to the table's width; trailing blanks carry nothing.
        let mut out: String = self.table.to_string().lines().map(|l| l.trim_end().to_string() + "\n").collect();
        out = out.lines().map(|l| l.strip_prefix(' ').unwrap_or(l)).collect::<Vec<_>>().join("\n");
        out + "\n"
    }
}

/// The side-by-side comparison as text.
pub fn to_text(c: &Comparison) -> String {
    let reports = &c.reports;
    let r = &c.config.run;
    let mut o = String::new();
    let early: Vec<&Report> = reports.iter().filter(|x| x.stopped_early.is_some()).collect();
    let time = if early.is_empty() { "simulated" } else { "configured" };
    let _ = writeln!(
        o,
        "isolsim run: {}; {} CPUs, {} isolated ({}), {} µs {time}, seed {}",
        c.preset,
        r.cpus,
        r.isolated.count(),
        workloads::experiment::IsolatedCpus::List(r.isolated.cpus(r.cpus)),
        r.duration_us,
        c.seed
    );
    for x in &early {
        let _ = writeln!(
            o,
            "  {}: stopped early, after {} µs: {}; its figures cover those {} µs",
            x.name,
            us(x.simulated_ns),
            x.stopped_early.as_deref().unwrap_or_default(),
            us(x.simulated_ns)
        );
    }
    o.push('\n');

    let mut t = SideBySide::new(reports.iter().map(|r| r.name.clone()).collect());
    let each = |f: &dyn Fn(&Report) -> String| reports.iter().map(f).collect::<Vec<String>>();
    let mean_over = |r: &Report, f: &dyn Fn(&workloads::experiment::IsolatedRow) -> f64| {
        r.isolated.iter().map(f).sum::<f64>() / r.isolated.len().max(1) as f64
    };
    let max_over = |r: &Report, f: &dyn Fn(&workloads::experiment::IsolatedRow) -> f64| {
        r.isolated.iter().map(f).fold(0.0, f64::max)
    };

    t.section("Isolated CPUs (osnoise; mean over CPUs)");
    t.row("Simulated time (µs)", each(&|r| us(r.simulated_ns)));
    t.row("Noise per CPU (µs)", each(&|r| us(mean_over(r, &|x| x.noise_ns))));
    t.row(
        "Noise per CPU per second of runtime (µs/s)",
        each(&|r| noise_us_per_s(r).map_or("-".into(), |v| format!("{v:.1}"))),
    );
    t.row("%CPU Aval", each(&|r| format!("{:.4}", mean_over(r, &|x| x.cpu_avail_pct))));
    t.row("MaxNoise in a period (µs, worst CPU)", each(&|r| us(max_over(r, &|x| x.max_noise_ns))));
    t.row("MaxSingle (µs, worst CPU)", each(&|r| us(max_over(r, &|x| x.max_single_ns))));
    t.row("Interrupts per CPU per second", each(&|r| format!("{:.0}", mean_over(r, &|x| x.irqs_per_s))));
    for cb in &callbacks(reports) {
        t.row(&format!("  IPIs running {cb} (all isolated CPUs)"), each(&|r| ipis(r, cb).to_string()));
    }
    t.row(
        "TLBI disturbances (all isolated CPUs)",
        each(&|r| r.isolated.iter().map(|x| x.tlbi_disturbances).sum::<u64>().to_string()),
    );

    t.section("Loop latency (oslat, ns)");
    for (name, f) in [
        ("p50", (|s: &sim::stats::Summary| s.p50) as fn(&sim::stats::Summary) -> u64),
        ("p99", |s| s.p99),
        ("p99.9", |s| s.p999),
        ("p99.99", |s| s.p9999),
        ("max", |s| s.max),
    ] {
        t.row(name, each(&|r| f(&r.oslat_ns).to_string()));
    }
    let buckets = reports.first().map_or(0, |r| r.oslat_histogram.len());
    for b in 0..buckets {
        let counts: Vec<u64> = reports.iter().map(|r| r.oslat_histogram[b].count).collect();
        if counts.iter().all(|&c| c == 0) {
            continue;
        }
        let label =
            if b + 1 == buckets { format!("  ≥ {b} µs (overflow)") } else { format!("  [{b}, {}) µs", b + 1) };
        t.row(&label, counts.iter().map(u64::to_string).collect());
        if b == 0 {
            // The oslat loop's finer buckets below 1 µs (the work loop has none).
            let fine = reports.iter().map(|r| r.oslat_sub_us_histogram.len()).max().unwrap_or(0);
            for k in 0..fine {
                let counts: Vec<u64> =
                    reports.iter().map(|r| r.oslat_sub_us_histogram.get(k).map_or(0, |x| x.count)).collect();
                let Some(from) = reports.iter().find_map(|r| r.oslat_sub_us_histogram.get(k)).map(|x| x.from_ns) else {
                    continue;
                };
                if counts.iter().any(|&c| c > 0) {
                    let to = from + workloads::experiment::oslat::FINE_NS;
                    t.row(&format!("      [{from}, {to}) ns"), counts.iter().map(u64::to_string).collect());
                }
            }
        }
    }

    t.section("Sender latency (µs, mean / p99 / max)");
    for op in &sender_ops(reports) {
        let find = |r: &Report| r.senders.iter().find(|s| &s.op == op).map(|s| s.ns.clone());
        t.row(&format!("{op} (count)"), each(&|r| find(r).map_or("-".into(), |s| s.count.to_string())));
        t.row(
            op,
            each(&|r| {
                find(r).map_or("-".into(), |s| format!("{}/{}/{}", us(s.mean), us(s.p99 as f64), us(s.max as f64)))
            }),
        );
    }

    t.section("Isolated tasks' system calls (ns)");
    t.row("count", each(&|r| r.syscalls.all.count.to_string()));
    t.row("mean duration", each(&|r| format!("{:.0}", r.syscalls.all.mean)));
    t.row("first entry after a deferral: count", each(&|r| r.syscalls.after_deferral.count.to_string()));
    t.row(
        "first entry after a deferral: mean",
        each(&|r| {
            if r.syscalls.after_deferral.count == 0 {
                "-".into()
            } else {
                format!("{:.0}", r.syscalls.after_deferral.mean)
            }
        }),
    );
    t.row(
        "  over the run's other entries",
        each(&|r| deferral_penalty_ns(r).map_or("-".into(), |v| format!("{v:+.0}"))),
    );
    if let Some(pen) = &c.entry_penalty_vs_broadcast_ns {
        t.row("entry penalty vs broadcast (mean)", each(&|r| format!("{:+.0}", pen[&r.name])));
    }

    t.section("Kicks against isolated CPUs (orderings, cases 1-4)");
    t.row("kicks and deferred TLB flushes", each(&|r| r.safety.kicks.to_string()));
    t.row("decisions: interrupt", each(&|r| r.safety.interrupted.to_string()));
    t.row("decisions: defer", each(&|r| r.safety.deferred.to_string()));
    for (name, f) in ORDERING_ROWS {
        t.row(name, each(&|r| f(&r.orderings).to_string()));
    }

    t.section("Safety (checked on every isolated CPU)");
    t.row("kernel loads checked", each(&|r| r.safety.loads_checked.to_string()));
    t.row("patched instructions checked", each(&|r| r.safety.instructions_checked.to_string()));
    t.row("stale-entry translations checked", each(&|r| r.safety.translations_checked.to_string()));
    t.row(
        "violations",
        each(&|r| {
            if r.safety.violations.is_empty() { "none".into() } else { r.safety.violations.len().to_string() }
        }),
    );
    o.push_str(&t.finish());
    for r in reports {
        for v in &r.safety.violations {
            let _ = write!(o, "\n[{}] {v}", r.name);
        }
    }
    o.push('\n');

    for r in reports {
        let _ = writeln!(o, "osnoise, {} (per isolated CPU):", r.name);
        let mut cpu = Table::new();
        cpu.load_style(comfy_table::presets::NOTHING).set_content_arrangement(ContentArrangement::Disabled);
        cpu.set_header(vec![
            "CPU",
            "Runtime(µs)",
            "Noise(µs)",
            "%CPU Aval",
            "MaxNoise",
            "MaxSingle",
            "IRQs",
            "TLBI",
            "IPIs by callback",
        ]);
        for x in &r.isolated {
            let cbs: Vec<String> = x.ipis_by_callback.iter().map(|(k, v)| format!("{k}:{v}")).collect();
            cpu.add_row(vec![
                x.cpu.to_string(),
                us(x.runtime_ns),
                us(x.noise_ns),
                format!("{:.4}", x.cpu_avail_pct),
                us(x.max_noise_ns),
                us(x.max_single_ns),
                x.irqs.to_string(),
                x.tlbi_disturbances.to_string(),
                cbs.join(" "),
            ]);
        }
        for i in 0..8 {
            if let Some(c) = cpu.column_mut(i) {
                c.set_cell_alignment(CellAlignment::Right);
            }
        }
        for l in cpu.to_string().lines() {
            let _ = writeln!(o, " {}", l.trim_end());
        }
        if !r.oslat_cpus.is_empty() {
            let _ = writeln!(o, "oslat, {} (per isolated CPU, the loop's own histogram):", r.name);
            let mut t = Table::new();
            t.load_style(comfy_table::presets::NOTHING).set_content_arrangement(ContentArrangement::Disabled);
            t.set_header(vec!["CPU", "Iterations", "Min(ns)", "Avg(ns)", "Max(ns)", "≥ 1 µs"]);
            let fine = workloads::experiment::oslat::FINE_BUCKETS as usize;
            for h in &r.oslat_cpus {
                t.add_row(vec![
                    h.cpu.to_string(),
                    h.count.to_string(),
                    h.min_ns.to_string(),
                    format!("{:.1}", h.mean_ns()),
                    h.max_ns.to_string(),
                    h.buckets[fine..].iter().sum::<u64>().to_string(),
                ]);
            }
            for i in 0..6 {
                if let Some(c) = t.column_mut(i) {
                    c.set_cell_alignment(CellAlignment::Right);
                }
            }
            for l in t.to_string().lines() {
                let _ = writeln!(o, " {}", l.trim_end());
            }
        }
    }
    o
}

/// The seed's orderings as rows: label and count.
type OrderingRow = (&'static str, fn(&workloads::experiment::Orderings) -> u64);
const ORDERING_ROWS: [OrderingRow; 7] = [
    ("case 1: hook during publication, IPI", |x| x.case1),
    ("case 2: entering at the check, deferred", |x| x.case2),
    ("case 3: hook before publication, IPI", |x| x.case3),
    ("case 4: in user space, deferred", |x| x.case4),
    ("exit-to-user race", |x| x.exit_race),
    ("interrupted in user space", |x| x.interrupted_in_user),
    ("deferred, no entry yet", |x| x.pending),
];

/// The cross-CPU callbacks any isolated CPU ran, in name order.
fn callbacks(reports: &[Report]) -> Vec<String> {
    let set: BTreeSet<&String> =
        reports.iter().flat_map(|r| r.isolated.iter().flat_map(|x| x.ipis_by_callback.keys())).collect();
    set.into_iter().cloned().collect()
}

/// IPIs running callback `cb`, over all isolated CPUs.
fn ipis(r: &Report, cb: &str) -> u64 {
    r.isolated.iter().map(|x| x.ipis_by_callback.get(cb).copied().unwrap_or(0)).sum()
}

/// The housekeeping operations any run timed, in name order.
fn sender_ops(reports: &[Report]) -> Vec<String> {
    let set: BTreeSet<&String> = reports.iter().flat_map(|r| r.senders.iter().map(|s| &s.op)).collect();
    set.into_iter().cloned().collect()
}

fn csv_text(rows: Vec<Vec<String>>) -> String {
    let mut w = csv::Writer::from_writer(vec![]);
    for r in rows {
        w.write_record(&r).expect("writing to memory");
    }
    String::from_utf8(w.into_inner().expect("writing to memory")).expect("CSV is UTF-8")
}

/// Per-CPU figures as CSV: one row per (protocol, isolated CPU), only what belongs to that CPU
/// (osnoise's columns, its system calls and its IPIs by callback, `ipis_CALLBACK`). Run-wide
/// figures are in [`runs_csv`].
pub fn to_csv(reports: &[Report]) -> String {
    let cbs = callbacks(reports);
    let mut head: Vec<String> = [
        "protocol",
        "seed",
        "cpu",
        "runtime_ns",
        "noise_ns",
        "cpu_avail_pct",
        "max_noise_ns",
        "max_single_ns",
        "irqs",
        "irqs_per_s",
        "tlbi_disturbances",
        "syscalls",
    ]
    .map(String::from)
    .to_vec();
    head.extend(cbs.iter().map(|c| format!("ipis_{c}")));
    let mut rows = vec![head];
    for r in reports {
        for x in &r.isolated {
            let mut row = vec![
                r.name.to_string(),
                r.seed.to_string(),
                x.cpu.to_string(),
                format!("{:.1}", x.runtime_ns),
                format!("{:.1}", x.noise_ns),
                format!("{:.6}", x.cpu_avail_pct),
                format!("{:.1}", x.max_noise_ns),
                format!("{:.1}", x.max_single_ns),
                x.irqs.to_string(),
                format!("{:.1}", x.irqs_per_s),
                x.tlbi_disturbances.to_string(),
                x.syscalls.to_string(),
            ];
            row.extend(cbs.iter().map(|c| x.ipis_by_callback.get(c).copied().unwrap_or(0).to_string()));
            rows.push(row);
        }
    }
    csv_text(rows)
}

/// Run-wide figures as CSV, one row per protocol: simulated time and why a run stopped early,
/// oslat percentiles, noise events, system calls and the entry penalty, the orderings, the safety
/// check, sender latency per operation (`sender_OP_count`, `_mean_ns`, `_p99_ns`, `_max_ns`) and
/// IPIs by callback summed over the isolated CPUs (`ipis_CALLBACK`). A figure a run does not have
/// (no operation of that kind, no baseline) is an empty cell.
pub fn runs_csv(c: &Comparison) -> String {
    let reports = &c.reports;
    let (cbs, ops) = (callbacks(reports), sender_ops(reports));
    let mut head: Vec<String> = [
        "protocol",
        "seed",
        "configured_ns",
        "simulated_ns",
        "stopped_early",
        "events",
        "isolated_cpus",
        "oslat_count",
        "oslat_p50_ns",
        "oslat_p99_ns",
        "oslat_p999_ns",
        "oslat_p9999_ns",
        "oslat_max_ns",
        "noise_events",
        "noise_event_p50_ns",
        "noise_event_p99_ns",
        "noise_event_max_ns",
        "syscalls",
        "syscall_mean_ns",
        "after_deferral_count",
        "after_deferral_mean_ns",
        "deferral_penalty_ns",
        "entry_penalty_vs_broadcast_ns",
        "kicks",
        "decisions_interrupt",
        "decisions_defer",
        "case1",
        "case2",
        "case3",
        "case4",
        "exit_race",
        "interrupted_in_user",
        "deferred_no_entry",
        "loads_checked",
        "instructions_checked",
        "translations_checked",
        "violations",
        "tlbi_disturbances",
    ]
    .map(String::from)
    .to_vec();
    for op in &ops {
        head.extend(["count", "mean_ns", "p99_ns", "max_ns"].map(|k| format!("sender_{op}_{k}")));
    }
    head.extend(cbs.iter().map(|c| format!("ipis_{c}")));
    let mut rows = vec![head];
    let opt = |v: Option<f64>| v.map_or(String::new(), |v| format!("{v:.1}"));
    for r in reports {
        let o = &r.orderings;
        let mut row: Vec<String> = vec![
            r.name.clone(),
            r.seed.to_string(),
            format!("{:.1}", r.configured_ns),
            format!("{:.1}", r.simulated_ns),
            r.stopped_early.clone().unwrap_or_default(),
            r.events.to_string(),
            r.isolated.len().to_string(),
            r.oslat_ns.count.to_string(),
            r.oslat_ns.p50.to_string(),
            r.oslat_ns.p99.to_string(),
            r.oslat_ns.p999.to_string(),
            r.oslat_ns.p9999.to_string(),
            r.oslat_ns.max.to_string(),
            r.noise_events_ns.count.to_string(),
            r.noise_events_ns.p50.to_string(),
            r.noise_events_ns.p99.to_string(),
            r.noise_events_ns.max.to_string(),
            r.syscalls.all.count.to_string(),
            format!("{:.1}", r.syscalls.all.mean),
            r.syscalls.after_deferral.count.to_string(),
            opt((r.syscalls.after_deferral.count > 0).then_some(r.syscalls.after_deferral.mean)),
            opt(deferral_penalty_ns(r)),
            opt(c.entry_penalty_vs_broadcast_ns.as_ref().map(|p| p[&r.name])),
            r.safety.kicks.to_string(),
            r.safety.interrupted.to_string(),
            r.safety.deferred.to_string(),
        ];
        row.extend(
            [o.case1, o.case2, o.case3, o.case4, o.exit_race, o.interrupted_in_user, o.pending].map(|n| n.to_string()),
        );
        row.extend([
            r.safety.loads_checked.to_string(),
            r.safety.instructions_checked.to_string(),
            r.safety.translations_checked.to_string(),
            r.safety.violations.len().to_string(),
            r.isolated.iter().map(|x| x.tlbi_disturbances).sum::<u64>().to_string(),
        ]);
        for op in &ops {
            match r.senders.iter().find(|s| &s.op == op) {
                Some(s) => row.extend([
                    s.ns.count.to_string(),
                    format!("{:.1}", s.ns.mean),
                    s.ns.p99.to_string(),
                    s.ns.max.to_string(),
                ]),
                None => row.extend(["0".to_string(), String::new(), String::new(), String::new()]),
            }
        }
        row.extend(cbs.iter().map(|cb| ipis(r, cb).to_string()));
        rows.push(row);
    }
    csv_text(rows)
}
