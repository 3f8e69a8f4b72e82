//! The `isolsim` command line: a thin layer over the library.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use isolsim::litmus::{LitmusOutcome, run_files};
use isolsim::{Mode, RunOptions};

/// `isolsim check` builds and drops a machine state per transition explored: mimalloc's
/// per-thread free lists serve that churn faster than glibc's malloc (README › Speed).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "isolsim",
    version,
    about = "Cycle-level simulator of weakly ordered multicores for the task-isolation question"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run litmus tests (herd7 C, AArch64, X86 or X86_64 format) on the simulated cores. Models: sc, tso, arm
    /// (--model).
    Litmus(LitmusArgs),
    /// Check corpora against expected verdicts per model (an INDEX.tsv with
    /// a `file` column and one column per model: sc, tso, arm; each model with a column is run).
    Validate(ValidateArgs),
    /// Validate a configuration and print the effective one (TOML, defaults included).
    Config(ConfigArgs),
    /// Print the machine a configuration builds: packages, clusters and cores as a tree (as
    /// lstopo does), the role `run` gives each core, and the latency between cores.
    Topology(TopologyArgs),
    /// Run a scenario: your own programs on the simulated machine (see README, "Running your
    /// own programs"). Model: the configuration's machine.mode (sc, tso or arm).
    Exec(ExecArgs),
    /// Reproduce published measurements on the presets with the kernel's own code paths and
    /// compare; exit 1 if a figure falls outside its agreement band. On a TSO machine
    /// (x86-server): the unicast IPI round trip, and the getpid() entry penalty of the deferred
    /// kernel TLB flush (context-tracking series). Otherwise (arm64-server): broadcast IPI ÷
    /// unicast round trip and unicast delivery ÷ round trip (Norov's benchmark, ThunderX2). With
    /// broadcast TLBIs (arm64-server): mprotect() per call and the slowdown of a sibling's job
    /// (ThunderX2). On every machine: interfering IPIs per isolated CPU over 6 h of rteval-like
    /// activity, stock kernel and deferred protocol. Model: each preset's machine.mode.
    Calibrate(CalibrateArgs),
    /// The isolation experiment: broadcast IPIs vs deferred synchronization (vs ct-work), side by
    /// side, with the safety property checked throughout. Model: the preset's machine.mode
    /// (arm64-server arm, x86-server tso; --set machine.mode=sc|tso|arm).
    Run(RunArgs),
    /// Fuzzed stress runs of a protocol: many short experiments with random timing, checked for
    /// safety violations and isolation breaks, with coverage of the seed's orderings. Models: sc,
    /// tso, arm (--model).
    Fuzz(FuzzArgs),
    /// Bounded exhaustive check of a protocol: every interleaving and reordering the memory model
    /// allows in a small harness (one or two senders, each changing code, data or a mapping and
    /// kicking once, with an IPI to each CPU it does not skip; one to three isolated CPUs entering
    /// the kernel once or twice). Models: sc, tso, arm (--model).
    Check(CheckArgs),
    /// Reproduce a saved counterexample (from `isolsim check` or `isolsim fuzz`) and print its
    /// timeline and cause.
    Replay(ReplayArgs),
    /// Run a design-space sweep (a TOML sweep file) and append one JSON line per finished run.
    /// Model: each point's machine.mode (a sweepable key: sc, tso, arm).
    Sweep(SweepArgs),
    /// Combine the results files of a sweep's shards into one, in unit order.
    Merge(MergeArgs),
    /// Plot a sweep's results (SVG and PNG) and write a markdown summary. The PNGs' text is drawn
    /// with the DejaVu Sans the binary embeds, or with the font file ISOLSIM_FONT names.
    Report(ReportArgs),
    /// Differential test against herd7: isolsim's exhaustive final states vs herd7's (aarch64.cat
    /// for arm, the program translated to x86 under x86tso/sc.cat for tso/sc) on random litmus
    /// programs, or on FILES; disagreements are minimized. Exit 1 on any disagreement. Models:
    /// sc, tso, arm (--model).
    Difftest(DifftestArgs),
}

#[derive(clap::Args)]
struct DifftestArgs {
    /// Litmus files to compare instead of generated programs (C files as the AArch64 code they
    /// compile to).
    files: Vec<PathBuf>,
    /// Memory model: arm (herd7's aarch64.cat), tso (x86tso) or sc (sc.cat).
    #[arg(long, default_value = "arm", value_parser = parse_mode)]
    model: Mode,
    /// Random programs to compare.
    #[arg(long, default_value_t = 1000)]
    programs: u64,
    /// The first program's number (programs FIRST..FIRST+PROGRAMS of the seed): a part of a
    /// campaign, or one program again (`--first 53413 --programs 1`).
    #[arg(long, default_value_t = 0)]
    first: u64,
    /// Seed of the programs: the same seed, the same programs and results, whatever --jobs is.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Worker threads (0 = one per core). Never changes a result.
    #[arg(long, default_value_t = 0, value_parser = parse_jobs)]
    jobs: usize,
    /// The herd7 command prefix (default: $ISOLSIM_ORACLE, else what
    /// ../shared/oracle/build-herd7.sh prints, which builds herd7 the first time).
    #[arg(long, value_name = "CMD")]
    oracle: Option<String>,
    /// Write each disagreement here: minimized (with both sets of final states), original, and
    /// for tso/sc the x86 translation.
    #[arg(long, value_name = "DIR")]
    keep: Option<PathBuf>,
    /// Report disagreements as found, without minimizing them.
    #[arg(long)]
    no_minimize: bool,
    /// Append each finished chunk of programs to this log (JSON lines), so that a long campaign
    /// that stops can go on with --resume; generated programs only.
    #[arg(long, value_name = "FILE")]
    log: Option<PathBuf>,
    /// Go on with the campaign in --log: run only the programs it does not hold, and report
    /// the whole campaign.
    #[arg(long, requires = "log")]
    resume: bool,
    /// With FILES: compare the files isolsim reads and list the others, each with its error
    /// (a public collection uses more of the dialect than the cores run), instead of stopping.
    #[arg(long)]
    skip_unreadable: bool,
}

#[derive(clap::Args)]
struct SweepArgs {
    /// The sweep file (see README, "Design-space sweeps").
    file: PathBuf,
    /// Runs at once (0 = one per core). Never changes a result.
    #[arg(long, default_value_t = 0, value_parser = parse_jobs)]
    jobs: usize,
    /// Continue an interrupted sweep in --out: runs only what it lacks.
    #[arg(long)]
    resume: bool,
    /// Run only shard I of N (1 <= I <= N): a deterministic 1/N of the runs; `isolsim merge`
    /// combines the shards' files.
    #[arg(long, value_name = "I/N", value_parser = isolsim::sweep::parse_shard)]
    shard: Option<(usize, usize)>,
    /// The results file (JSON lines).
    #[arg(long, default_value = "results.jsonl")]
    out: PathBuf,
    /// Expand and check the sweep file, print its points, run nothing.
    #[arg(long)]
    dry_run: bool,
}

#[derive(clap::Args)]
struct MergeArgs {
    /// The shards' results files.
    #[arg(required = true)]
    parts: Vec<PathBuf>,
    /// The combined file.
    #[arg(long)]
    out: PathBuf,
    /// Write the merge even if some runs of the sweep are in no part.
    #[arg(long)]
    allow_missing: bool,
}

#[derive(clap::Args)]
struct ReportArgs {
    /// A results file of `isolsim sweep` (or `isolsim merge`).
    results: PathBuf,
    /// The directory to write plots and summary.md into.
    #[arg(long)]
    out: PathBuf,
    /// The point the per-point plots (noise CDF, histograms) show: KEY=VALUE for some swept
    /// keys (repeatable); default: the first point.
    #[arg(long = "at", value_name = "KEY=VALUE")]
    at: Vec<String>,
}

#[derive(clap::Args)]
struct CheckArgs {
    /// The protocol: broadcast, deferred, ct-work or a protocol file (a variant). Several (given
    /// one by one, or after one --protocol, e.g. a shell glob of files): each is checked and one
    /// verdict table is printed.
    #[arg(long = "protocol", value_name = "NAME|FILE", num_args = 1.., default_value = "deferred")]
    protocols: Vec<String>,
    /// Memory model of the cores: sc (no store buffer, program order), tso (x86-TSO; the kernel's
    /// release/acquire as plain moves, ISB as a serializing instruction) or arm (ARMv8).
    #[arg(long, default_value = "arm", value_parser = parse_mode)]
    model: Mode,
    /// CPUs: one sender and CPUS-1 isolated CPUs (2 to 4); a shorthand for --isolated with one
    /// sender.
    #[arg(long, value_parser = clap::value_parser!(u64).range(2..=4))]
    cpus: Option<u64>,
    /// Senders (1 or 2): housekeeping CPUs that each change something (--ops) and kick.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=2))]
    senders: u64,
    /// Isolated CPUs (1 to 3; default: --cpus minus the sender).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=3))]
    isolated: Option<u64>,
    /// System calls each isolated CPU makes (1 or 2): with 2, a CPU exits and enters again while
    /// a kick may be in flight.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=2))]
    syscalls: u64,
    /// What each sender changes, one entry per sender separated by commas: `patch` (text_poke
    /// and flush_icache_range), `data` (a store every stay reads), `pte` (a vmalloc page remapped,
    /// with the deferred TLB flush; the isolated CPUs run with TLBs), or several joined by `+`
    /// (the default: `patch+data+pte`).
    #[arg(long, value_delimiter = ',', value_name = "OPS,..")]
    ops: Vec<isolsim::workloads::verify::check::Ops>,
    /// The bound: a path on which some CPU fetches more instructions than this is cut off (and
    /// reported).
    #[arg(long, default_value_t = 200)]
    bound: u64,
    /// Unresolved conditional branches a CPU may speculate past.
    #[arg(long, default_value_t = 1)]
    speculation: usize,
    /// Give up after this many distinct states.
    #[arg(long, default_value_t = 20_000_000)]
    max_states: u64,
    /// Where to save counterexamples (replay files and Graphviz DOT graphs); nothing is written
    /// when nothing is found.
    #[arg(long, default_value = "counterexamples")]
    save: PathBuf,
    /// Print the report as JSON (counterexamples are still saved).
    #[arg(long)]
    json: bool,
    /// Print the assembler each protocol is built with (what a `.c` protocol compiles to, each
    /// instruction with its C line) and check nothing.
    #[arg(long)]
    emit_asm: bool,
    /// Also write the safety violation's essential accesses (the cycle of its execution graph,
    /// with the barriers between them) as a herd7 AArch64 litmus test here, its `exists`
    /// clause the violating outcome; a note on stderr says why when there is no such test.
    #[arg(long, value_name = "OUT.litmus")]
    litmus: Option<PathBuf>,
    /// Threads exploring (0: one per core); --reduce explores on one. The report is the same
    /// for any number.
    #[arg(long, default_value_t = 0, value_parser = parse_jobs)]
    jobs: usize,
    /// With two or more isolated CPUs: check each with the senders apart (one part per isolated
    /// CPU), after checking from every access each part made that no part writes what another
    /// touches; refused (exit 2) otherwise.
    #[arg(long)]
    split: bool,
    /// Explore with partial-order reduction (sleep sets): the same states, final states,
    /// verdicts and coverage, fewer transitions taken, on one thread (no faster today: see README).
    #[arg(long)]
    reduce: bool,
}

#[derive(clap::Args)]
struct ReplayArgs {
    /// A replay file written by `isolsim check` (an exhaustive path) or by `isolsim fuzz` (a
    /// minimized timed run).
    file: PathBuf,
    /// Also write the execution graph as Graphviz DOT here (check files only: a fuzz run
    /// records no graph, which a note on stderr says, and the replay goes on).
    #[arg(long)]
    dot: Option<PathBuf>,
    /// Also write the replayed run as a Chrome/Perfetto trace (fuzz files only: a check path is
    /// untimed, which a note on stderr says; see `run --trace`).
    #[arg(long, value_name = "FILE")]
    trace: Option<PathBuf>,
    /// Only trace simulated microseconds FROM..TO.
    #[arg(long, value_name = "FROM..TO", requires = "trace")]
    trace_window: Option<String>,
}

#[derive(clap::Args)]
struct FuzzArgs {
    /// The protocol: broadcast, deferred, ct-work or a protocol file (a variant). Several (given
    /// one by one, or after one --protocol, e.g. a shell glob of files): each is fuzzed with the
    /// same runs and one verdict table is printed.
    #[arg(long = "protocol", value_name = "NAME|FILE", num_args = 1.., default_value = "deferred")]
    protocols: Vec<String>,
    /// Memory model of the cores: sc, tso or arm (default: the preset's machine.mode; arm64-server
    /// is arm, x86-server tso).
    #[arg(long, value_parser = parse_mode)]
    model: Option<Mode>,
    /// Runs.
    #[arg(long, default_value_t = 500)]
    runs: u64,
    /// Master seed (run i draws its timing from stream i of it).
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Worker threads (0 = one per core). Never changes a result.
    #[arg(long, default_value_t = 0, value_parser = parse_jobs)]
    jobs: usize,
    /// CPUs per run: one sender and CPUS-1 isolated CPUs (2 or 3).
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u64).range(2..=3))]
    cpus: u64,
    /// Simulated time per run, µs.
    #[arg(long, default_value_t = 400)]
    duration_us: u64,
    /// The machine and kernel the timing is drawn around.
    #[arg(long, default_value = "arm64-server")]
    preset: String,
    #[command(flatten)]
    overrides: Overrides,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
    /// Do not minimize the first violation and the first isolation break (delta debugging over
    /// the run's parameters).
    #[arg(long)]
    no_minimize: bool,
    /// Where to save the minimized violation and isolation break as replay files.
    #[arg(long, default_value = "counterexamples")]
    save: PathBuf,
    /// Also write each finding's run (minimized unless --no-minimize) as a Chrome/Perfetto trace
    /// (see `run --trace`) to FILE; with several findings (protocols, or a violation and a break),
    /// FILE's name gets `.PROTOCOL.CONSEQUENCE` before its extension. Nothing found, nothing written.
    #[arg(long, value_name = "FILE")]
    trace: Option<PathBuf>,
    /// Only trace simulated microseconds FROM..TO (either end may be left out).
    #[arg(long, value_name = "FROM..TO", requires = "trace")]
    trace_window: Option<String>,
}

#[derive(clap::Args)]
struct RunArgs {
    /// Start from a built-in preset (arm64-server, x86-server).
    #[arg(long, default_value = "arm64-server")]
    preset: String,
    #[command(flatten)]
    overrides: Overrides,
    /// Which protocol: broadcast, deferred, ct-work, all, or a protocol file (a variant; see
    /// workloads/protocols/); repeatable, the runs side by side in the order given (default: all,
    /// the three built-in ones). Broadcast, when it runs, is the entry penalty's baseline.
    #[arg(long = "protocol", value_name = "NAME|FILE", num_args = 1..)]
    protocols: Vec<String>,
    /// Seed of every random stream (arrivals, system-call gaps, timing jitter).
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Runs at once, each on a thread of its own (0: every protocol at once, even with fewer host
    /// cores, so that they share the cores to the end; 1: one after another). The reports do not
    /// depend on it.
    #[arg(long, default_value_t = 0, value_parser = parse_jobs)]
    jobs: usize,
    /// Print the reports as JSON.
    #[arg(long, conflicts_with_all = ["csv", "format"])]
    json: bool,
    /// Print one CSV row per protocol and isolated CPU, with that CPU's figures only (run-wide
    /// figures: --csv-runs).
    #[arg(long, conflicts_with = "format")]
    csv: bool,
    /// Output format: text (the default), json, csv, or a tool's own: rtla-osnoise (`rtla
    /// osnoise top`), rtla-hist (`rtla osnoise hist`), oslat (oslat's summary; needs
    /// run.activity.loop=oslat).
    #[arg(long, value_enum, value_name = "FORMAT")]
    format: Option<RunFormat>,
    /// Also write the run-wide figures as CSV to FILE, one row per protocol: simulated time,
    /// oslat, system calls and entry penalty, orderings, safety, sender latency per operation and
    /// IPIs by callback.
    #[arg(long, value_name = "FILE")]
    csv_runs: Option<PathBuf>,
    /// Also write every core's statistics to FILE, as gem5's stats.txt lists them (`name value #
    /// description`: committed instructions, loads and stores, TLB lookups, invalidations,
    /// IPIs, exceptions), one block per protocol; JSON if FILE ends in `.json`.
    #[arg(long, value_name = "FILE")]
    stats: Option<PathBuf>,
    /// Leave out the simulation rate (host seconds, simulated MIPS, events/s): the only part of
    /// the output that varies from run to run with the same seed and configuration.
    #[arg(long)]
    no_host_stats: bool,
    /// Replace one file of the kernel besides the protocol with your own: NAME=PATH, NAME one of
    /// entry.S, smp.S, tlb.S, isolation.S (e.g. tlb.S=my-tlb.S); repeatable.
    #[arg(long = "kernel-file", value_name = "NAME=PATH")]
    kernel_files: Vec<String>,
    /// Also write a Chrome/Perfetto trace (JSON trace-event format; open it in ui.perfetto.dev or
    /// chrome://tracing) to FILE: one process per simulated CPU and protocol, user / kernel / irq /
    /// idle slices, IPIs as flow arrows from the kick to the handler, broadcast-TLBI stalls,
    /// kick decisions and entry hooks with the seed's ordering case.
    #[arg(long, value_name = "FILE")]
    trace: Option<PathBuf>,
    /// Only trace simulated microseconds FROM..TO (either end may be left out: `..500`,
    /// `200..`), to keep the file small.
    #[arg(long, value_name = "FROM..TO", requires = "trace")]
    trace_window: Option<String>,
}

/// The window `--trace FILE --trace-window FROM..TO` (µs) asks for, as cycles at `clock_mhz`
/// (FROM defaults to 0, TO to the end); `None` without `--trace`; exit code 2 (said on stderr)
/// for a window that does not parse.
fn trace_window(
    trace: &Option<PathBuf>,
    text: Option<&str>,
    clock_mhz: u64,
) -> Result<Option<isolsim::workloads::experiment::chrome_trace::TraceWindow>, ExitCode> {
    if trace.is_none() {
        return Ok(None);
    }
    parse_trace_window(text, clock_mhz).map(Some).map_err(|e| {
        eprintln!("{e}");
        ExitCode::from(2)
    })
}

/// Writes `trace` to `path` whole or not at all; exit code 2 (said on stderr) if it cannot.
fn write_trace(
    path: &std::path::Path,
    trace: &isolsim::workloads::experiment::chrome_trace::ChromeTrace,
) -> Result<(), ExitCode> {
    let json = serde_json::to_vec(trace).expect("a trace serializes");
    isolsim::write_atomically(path, &json).map_err(|e| {
        eprintln!("{}: cannot write ({e})", path.display());
        ExitCode::from(2)
    })
}

fn parse_trace_window(
    text: Option<&str>,
    clock_mhz: u64,
) -> Result<isolsim::workloads::experiment::chrome_trace::TraceWindow, String> {
    let whole = isolsim::workloads::experiment::chrome_trace::TraceWindow { from: 0, to: u64::MAX };
    let Some(text) = text else { return Ok(whole) };
    let bad = |why: &str| format!("--trace-window {text}: {why} (expected FROM..TO in simulated µs, e.g. 200..700)");
    let (from, to) = text.split_once("..").ok_or_else(|| bad("no `..`"))?;
    let us = |s: &str, default: u64| -> Result<u64, String> {
        let s = s.trim();
        if s.is_empty() {
            return Ok(default);
        }
        let v: u64 = s.parse().map_err(|_| bad(&format!("`{s}` is not a whole number of µs")))?;
        Ok(v.saturating_mul(clock_mhz))
    };
    let window =
        isolsim::workloads::experiment::chrome_trace::TraceWindow { from: us(from, 0)?, to: us(to, u64::MAX)? };
    if window.from >= window.to {
        return Err(bad("FROM is not before TO"));
    }
    Ok(window)
}

/// `isolsim run --format`.
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum RunFormat {
    Text,
    Json,
    Csv,
    RtlaOsnoise,
    RtlaHist,
    Oslat,
}

/// What changes a preset's configuration: a file, then single keys.
#[derive(clap::Args)]
struct Overrides {
    /// TOML file whose keys override the preset's (read strictly).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Set one configuration key: KEY=VALUE (e.g. kernel.tlb_scheme=ipi, or machine.mode=sc|tso|arm
    /// for the memory model); repeatable, applied after --preset and --config.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    sets: Vec<String>,
}

#[derive(clap::Args)]
struct CalibrateArgs {
    /// Only this preset (default: every preset; with --measured, the defaults unless given).
    #[arg(long)]
    preset: Option<String>,
    /// Your own measurements (TOML: [ipi] unicast_round_trip_ns, unicast_delivery_ns,
    /// broadcast_ns; [entry] getpid_ns, penalty_ns; [mprotect] call_us, sibling_slowdown_percent;
    /// [osnoise] ipi_noise_us, tlb_flush_noise_us; each a number, agreeing from half to twice it,
    /// or { value = V, accept = [LO, HI] }), compared with the simulated machine --preset,
    /// --config and --set describe.
    #[arg(long, value_name = "FILE.toml")]
    measured: Option<PathBuf>,
    #[command(flatten)]
    overrides: Overrides,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args)]
struct ExecArgs {
    /// The scenario file (TOML; program files are relative to it).
    scenario: PathBuf,
    /// Start from a built-in preset (arm64-server, x86-server).
    #[arg(long)]
    preset: Option<String>,
    #[command(flatten)]
    overrides: Overrides,
    /// Override one of the scenario's [defines]: NAME=VALUE (an integer or a constant expression).
    #[arg(long = "define", value_name = "NAME=VALUE", value_parser = isolsim::scenario::parse_define)]
    defines: Vec<(String, String)>,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
    /// Also write the run as a Chrome/Perfetto trace (JSON trace-event format) to FILE: one
    /// process per CPU, its exceptions (irq, system calls, others) nested as taken, user and
    /// kernel code between them, broadcast-TLBI stalls, stale instructions and translations.
    #[arg(long, value_name = "FILE")]
    trace: Option<PathBuf>,
    /// Only trace simulated microseconds FROM..TO (either end may be left out).
    #[arg(long, value_name = "FROM..TO", requires = "trace")]
    trace_window: Option<String>,
}

#[derive(clap::Args)]
struct ConfigArgs {
    /// Start from a built-in preset (arm64-server, x86-server).
    #[arg(long)]
    preset: Option<String>,
    #[command(flatten)]
    overrides: Overrides,
}

#[derive(clap::Args)]
struct TopologyArgs {
    /// Start from a built-in preset (arm64-server, x86-server).
    #[arg(long, default_value = "arm64-server")]
    preset: String,
    #[command(flatten)]
    overrides: Overrides,
    /// Print the topology graph in Graphviz DOT instead (sockets, clusters, cores, each link
    /// with its latency).
    #[arg(long)]
    dot: bool,
    /// Describe a real machine instead: read `lstopo --of xml`'s output, or a copy of
    /// /sys/devices/system/cpu (a directory), and print its [machine.topology] section (a
    /// configuration may also name the file itself: machine.topology.file).
    #[arg(long, value_name = "FILE|DIR")]
    import: Option<PathBuf>,
    /// With --import: the machine's nohz_full= cpulist, printed as the [run] isolated list (CPU
    /// numbers are the machine's own).
    #[arg(long, value_name = "CPULIST", requires = "import")]
    nohz_full: Option<String>,
}

#[derive(clap::Args)]
struct ValidateArgs {
    /// Index files (tab-separated; test paths relative to the index).
    #[arg(required = true)]
    indexes: Vec<PathBuf>,
    /// Explore exhaustively instead of sampling timed runs.
    #[arg(long)]
    exhaustive: bool,
    /// Random mode: timed runs per test and model.
    #[arg(long, default_value_t = 100_000)]
    runs: u64,
    /// Random mode: master seed.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Worker threads (0 = one per core).
    #[arg(long, default_value_t = 0, value_parser = parse_jobs)]
    jobs: usize,
    /// Print the result as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args)]
struct LitmusArgs {
    /// Litmus files to run.
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// Memory model of the cores: sc, tso (x86-TSO) or arm (ARMv8) [default: arm, and tso for
    /// an X86 or X86_64 test, which `--model arm` refuses]
    #[arg(long, value_parser = parse_mode)]
    model: Option<Mode>,
    /// Random mode: number of timed runs per test.
    #[arg(long, default_value_t = 100_000)]
    runs: u64,
    /// Random mode: master seed.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Explore every behaviour the model allows instead of sampling.
    #[arg(long)]
    exhaustive: bool,
    /// Exhaustive mode: cut paths where a thread fetches more than this many instructions.
    #[arg(long, default_value_t = 1_000)]
    bound: u64,
    /// Exhaustive mode: give up after this many states.
    #[arg(long, default_value_t = 5_000_000)]
    max_states: u64,
    /// Exhaustive mode: unresolved conditional branches a core may speculate past.
    #[arg(long, default_value_t = 2)]
    speculation: usize,
    /// Worker threads (0 = one per core). Never changes a result.
    #[arg(long, default_value_t = 0, value_parser = parse_jobs)]
    jobs: usize,
    /// Print results as JSON.
    #[arg(long)]
    json: bool,
    /// Skip the axiomatic check of recorded executions.
    #[arg(long)]
    no_check: bool,
    /// Check only execution graphs whose relations hold at most this many pairs (about 70 bytes
    /// each; a thread of n accesses makes n²/2); larger ones are skipped, and the Axioms line says
    /// how many.
    #[arg(long, default_value_t = 4_000_000)]
    max_graph_pairs: u64,
}

fn parse_mode(s: &str) -> Result<Mode, String> {
    s.parse()
}

/// `--jobs N`: threads are started up front, so an absurd N would spend its time starting them.
fn parse_jobs(s: &str) -> Result<usize, String> {
    let max = isolsim::MAX_JOBS;
    match s.parse::<usize>() {
        Ok(n) if n <= max => Ok(n),
        _ => Err(format!("expected a number of threads from 0 (one per core) to {max}")),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Litmus(a) => litmus(a),
        Command::Validate(a) => validate(a),
        Command::Config(a) => config(a),
        Command::Topology(a) => topology(a),
        Command::Exec(a) => exec(a),
        Command::Calibrate(a) => calibrate(a),
        Command::Run(a) => run(a),
        Command::Fuzz(a) => fuzz(a),
        Command::Check(a) => check(a),
        Command::Replay(a) => replay(a),
        Command::Sweep(a) => sweep(a),
        Command::Merge(a) => merge(a),
        Command::Report(a) => report(a),
        Command::Difftest(a) => difftest(a),
    }
}

fn sweep(a: SweepArgs) -> ExitCode {
    use isolsim::sweep::{RunOptions, Sweep};
    let sweep = match Sweep::load(&a.file) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    if a.dry_run {
        // Written, not printed: a closed pipe (`| head`) ends the listing, not the program.
        let mut out = std::io::stdout().lock();
        let _ = writeln!(
            out,
            "{}: {} points x {} protocols x {} seeds = {} runs (digest {})",
            sweep.name,
            sweep.points.len(),
            sweep.protocols.len(),
            sweep.seeds.len(),
            sweep.len(),
            sweep.digest
        );
        for (i, p) in sweep.points.iter().enumerate() {
            let shown: Vec<String> = p.params.iter().map(|(k, v)| format!("{k} = {v}")).collect();
            let shown = if shown.is_empty() { "no swept key: the [set] values".to_string() } else { shown.join(", ") };
            if writeln!(out, "  point {i}: {shown}").is_err() {
                break;
            }
        }
        return ExitCode::SUCCESS;
    }
    let jobs = if a.jobs == 0 { std::thread::available_parallelism().map_or(1, |n| n.get()) } else { a.jobs };
    let bar = indicatif::ProgressBar::new(0);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} {msg} [{bar:40}] {pos}/{len} runs, {elapsed} elapsed, ETA {eta}",
        )
        .expect("a valid template")
        .progress_chars("=> "),
    );
    bar.set_message(sweep.name.clone());
    let progress = |done: usize, total: usize| {
        bar.set_length(total as u64);
        bar.set_position(done as u64);
    };
    let opts = RunOptions { jobs, shard: a.shard, resume: a.resume };
    match isolsim::sweep::run(&sweep, &a.out, &opts, &progress) {
        Ok(s) => {
            bar.finish_and_clear();
            let shard = a.shard.map_or(String::new(), |(i, n)| format!(" (shard {i}/{n})"));
            println!(
                "{}{shard}: {} runs in {}: {} run now, {} already there",
                sweep.name,
                s.units,
                a.out.display(),
                s.ran,
                s.resumed
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            bar.finish_and_clear();
            eprintln!("{e}");
            ExitCode::from(2)
        }
    }
}

fn merge(a: MergeArgs) -> ExitCode {
    use isolsim::sweep::{count, ranges};
    match isolsim::sweep::merge(&a.parts, &a.out, a.allow_missing) {
        Ok(s) if s.missing.is_empty() || a.allow_missing => {
            println!("{} of {} runs merged into {}", s.lines, s.units, a.out.display());
            if !s.missing.is_empty() {
                eprintln!("missing runs ({}): {}", count(&s.missing), ranges(&s.missing));
            }
            ExitCode::SUCCESS
        }
        Ok(s) => {
            eprintln!(
                "{} of {} runs are in the parts; missing ({}): {} (nothing written; --allow-missing writes what there \
                 is)",
                s.lines,
                s.units,
                count(&s.missing),
                ranges(&s.missing)
            );
            ExitCode::from(1)
        }
        Err(e) => {
            eprintln!("{e}");
            ExitCode::from(2)
        }
    }
}

fn difftest(a: DifftestArgs) -> ExitCode {
    use isolsim::difftest::{self, Case, Options};
    let herd = match &a.oracle {
        Some(cmd) => isolsim::litmus::herd::Herd::from_prefix(cmd),
        None => difftest::find_herd(true),
    };
    let herd = match herd {
        Ok(h) => h,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let mut cases: Vec<Case> = vec![];
    let mut bad = false;
    for (i, f) in a.files.iter().enumerate() {
        match difftest::from_file(f, i) {
            Ok(c) => cases.push(c),
            Err(e) => {
                eprintln!("{e}");
                bad = true;
            }
        }
    }
    let unread = a.files.len() - cases.len();
    if bad && !a.skip_unreadable {
        return ExitCode::from(2);
    }
    let n = if a.files.is_empty() { a.programs } else { cases.len() as u64 };
    let range = if a.files.is_empty() {
        match a.first.checked_add(a.programs) {
            Some(end) => a.first..end,
            None => {
                eprintln!("--first {} --programs {}: past the last program number", a.first, a.programs);
                return ExitCode::from(2);
            }
        }
    } else {
        0..n
    };
    let jobs = if a.jobs == 0 { std::thread::available_parallelism().map_or(1, |n| n.get()) } else { a.jobs };
    let opts = Options { model: a.model, jobs, minimize: !a.no_minimize };
    let (earlier, done, log, _lock) = match &a.log {
        None => (difftest::Summary::default(), vec![], None, None),
        Some(_) if !a.files.is_empty() => {
            eprintln!("--log: a log is kept for generated programs only (--programs, --seed), not for FILES");
            return ExitCode::from(2);
        }
        Some(path) => match difftest_log(path, &a, range.clone()) {
            Ok((earlier, done, file, lock)) => (earlier, done, Some(std::sync::Mutex::new(file)), Some(lock)),
            Err(e) => {
                eprintln!("{e}");
                return ExitCode::from(2);
            }
        },
    };
    let log_error: std::sync::Mutex<Option<String>> = std::sync::Mutex::new(None);
    // Where each disagreement was written, by label.
    let kept: std::sync::Mutex<std::collections::BTreeMap<String, PathBuf>> = std::sync::Mutex::default();
    let record = |first: u64, end: u64, s: &difftest::Summary| {
        // Disagreements are written as their chunk ends: a campaign stopped later keeps them.
        if let Some(dir) = &a.keep {
            for d in &s.disagreements {
                match difftest::keep(dir, d, a.model) {
                    Ok(p) => {
                        kept.lock().expect("no writer panicked").insert(d.label.clone(), p);
                    }
                    Err(e) => {
                        log_error.lock().expect("no writer panicked").get_or_insert(format!("{}: {e}", dir.display()));
                    }
                }
            }
        }
        let Some(file) = &log else { return };
        let mut line = serde_json::to_string(&difftest::LogLine::new(a.model, a.seed, first, end, s))
            .expect("a log line serialises");
        line.push('\n');
        let mut file = file.lock().expect("no writer panicked");
        if let Err(e) = file.write_all(line.as_bytes()) {
            let path = a.log.as_ref().expect("a log").display();
            log_error.lock().expect("no writer panicked").get_or_insert(format!("{path}: cannot append to it ({e})"));
        }
    };
    let resumed: u64 = done.iter().map(|r| r.end - r.start).sum();
    let bar = indicatif::ProgressBar::new(n);
    bar.set_position(resumed);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} difftest [{bar:40}] {pos}/{len} programs, {elapsed} elapsed, ETA {eta}",
        )
        .expect("a valid template")
        .progress_chars("=> "),
    );
    let (seed, model) = (a.seed, a.model);
    let case =
        |i: u64| if a.files.is_empty() { difftest::generated(seed, i, model) } else { cases[i as usize].clone() };
    let start = std::time::Instant::now();
    let summary =
        match difftest::campaign(&herd, range, &case, &opts, &done, &|k| bar.set_position(resumed + k), &record) {
            Ok(mut s) => {
                s.merge(earlier);
                s
            }
            Err(e) => {
                bar.finish_and_clear();
                eprintln!("{e}");
                return ExitCode::from(2);
            }
        };
    bar.finish_and_clear();
    if let Some(e) = log_error.lock().expect("no writer panicked").take() {
        eprintln!("{e}");
        return ExitCode::from(2);
    }
    let wall = start.elapsed().as_secs_f64();
    let mut out = std::io::stdout().lock();
    if !summary.earlier.is_empty() {
        let _ = writeln!(
            out,
            "disagreements found before the campaign was resumed (written under that run's --keep): {}",
            summary.earlier.join(", ")
        );
    }
    for d in &summary.disagreements {
        let (extra, missing) = (d.states.0.difference(&d.states.1).count(), d.states.1.difference(&d.states.0).count());
        let _ = writeln!(
            out,
            "disagreement {}: isolsim allows {extra} final states herd7 does not, herd7 {missing} isolsim does not (minimized)",
            d.label
        );
        match kept.lock().expect("no writer panicked").get(&d.label) {
            Some(p) => {
                let _ = writeln!(out, "  written to {}", p.display());
            }
            None => {
                let _ = writeln!(out, "{}", isolsim::litmus::print::aarch64(&d.minimized));
                let _ = writeln!(
                    out,
                    "isolsim:\n{}herd7:\n{}",
                    difftest::states_text(&d.states.0, &d.states.1),
                    difftest::states_text(&d.states.1, &d.states.0)
                );
            }
        }
    }
    for (label, why) in &summary.failed {
        eprintln!("not compared: {label}: {why}");
    }
    let skipped: u64 = summary.skipped.values().sum();
    if skipped > 0 {
        let classes: Vec<String> = summary.skipped.iter().map(|(k, v)| format!("{k}: {v}")).collect();
        let _ = writeln!(out, "skipped (no faithful x86 translation): {skipped} ({})", classes.join(", "));
    }
    if unread > 0 {
        let _ = writeln!(out, "not read (--skip-unreadable; each error above): {unread} of {} files", a.files.len());
    }
    let (ours, theirs) = summary.rates();
    let what = match (a.files.is_empty(), a.first) {
        (false, _) => "files".to_string(),
        (true, 0) => format!("seed {}", a.seed),
        (true, first) => format!("seed {}, programs {first}..{}", a.seed, first + a.programs),
    };
    let resumed = if resumed > 0 { format!(", {resumed} programs of them from the log") } else { String::new() };
    let disagreements = summary.disagreements.len() + summary.earlier.len();
    let _ = writeln!(
        out,
        "difftest: {} programs, {disagreements} disagreements; isolsim {ours:.0} programs/s, herd7 {theirs:.0} \
         programs/s per core (model {}, {what}; {} compared, {skipped} skipped, {} failed; {wall:.1} s on {jobs} \
         jobs{resumed})",
        summary.programs,
        a.model,
        summary.compared,
        summary.failed.len(),
    );
    if disagreements > 0 {
        ExitCode::from(1)
    } else if !summary.failed.is_empty() {
        ExitCode::from(3)
    } else {
        ExitCode::SUCCESS
    }
}

/// Opens `difftest --log FILE` for appending, under its lock: a new log, or with --resume the
/// campaign it holds (the summary of its chunks and their ranges; a line cut short by a killed
/// run is cut off). Refused: a log that exists without --resume, or that is not this campaign's.
#[allow(clippy::type_complexity)]
fn difftest_log(
    path: &std::path::Path,
    a: &DifftestArgs,
    range: std::ops::Range<u64>,
) -> Result<(isolsim::difftest::Summary, Vec<std::ops::Range<u64>>, std::fs::File, isolsim::lock::OutputLock), String> {
    let lock =
        isolsim::lock::OutputLock::take(path, "isolsim difftest", "--log").map_err(|(f, m)| format!("{f}: {m}"))?;
    let exists = std::fs::metadata(path).is_ok_and(|m| m.len() > 0);
    if exists && !a.resume {
        return Err(format!(
            "{}: already exists: pass --resume to continue the campaign it holds, or choose another --log",
            path.display()
        ));
    }
    let (earlier, done, whole) = if exists {
        // A log of 10^7 programs is about 150 MB.
        let text = isolsim::workloads::input::read_text_at_most(path, 1 << 30).map_err(|e| e.to_string())?;
        isolsim::difftest::read_log(&path.display().to_string(), &text, a.model, a.seed, range)
            .map_err(|e| e.to_string())?
    } else {
        Default::default()
    };
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .and_then(|f| f.set_len(whole as u64).map(|_| f))
        .map_err(|e| format!("{}: cannot open it to append ({e})", path.display()))?;
    Ok((earlier, done, file, lock))
}

fn report(a: ReportArgs) -> ExitCode {
    match isolsim::report::render(&a.results, &a.out, &a.at) {
        Ok(files) => {
            for f in files {
                println!("{}", f.display());
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{e}");
            ExitCode::from(2)
        }
    }
}

/// The protocol files named on the command line, each once (a report's columns and rows need
/// distinct names); `all` stands for the three built-in ones.
fn resolve_protocols(names: &[String]) -> Result<Vec<isolsim::workloads::protocol::ProtocolFile>, String> {
    use isolsim::workloads::kernel::Protocol;
    use isolsim::workloads::protocol::ProtocolFile;
    let mut protocols: Vec<ProtocolFile> = vec![];
    for name in names {
        match name.as_str() {
            "all" => protocols.extend(Protocol::ALL.into_iter().map(ProtocolFile::builtin)),
            name => protocols.push(ProtocolFile::resolve(name).map_err(|e| e.to_string())?),
        }
    }
    if let Some((a, b)) =
        protocols.iter().enumerate().find_map(|(i, p)| protocols[..i].iter().find(|q| q.name == p.name).map(|q| (q, p)))
    {
        return Err(format!(
            "--protocol: {} and {} are both named `{}`: each needs its own name (give each protocol once; \
             rename one file)",
            a.path, b.path, a.name
        ));
    }
    Ok(protocols)
}

/// What checking one protocol gave: its text, its JSON, its row of the verdict table.
struct Checked {
    text: String,
    json: serde_json::Value,
    row: Vec<String>,
    found: bool,
    bound_hit: bool,
    as_expected: Option<bool>,
}

fn check(a: CheckArgs) -> ExitCode {
    let protocols = match resolve_protocols(&a.protocols) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    if a.emit_asm {
        for p in &protocols {
            if protocols.len() > 1 {
                println!("// ==== {} ({})", p.name, p.path);
            }
            print!("{}", p.asm);
            if !p.asm.ends_with('\n') {
                println!();
            }
        }
        return ExitCode::SUCCESS;
    }
    if protocols.len() > 1 && a.litmus.is_some() {
        eprintln!("--litmus takes one protocol (the file would be overwritten by each)");
        return ExitCode::from(2);
    }
    // --cpus N is one sender and N - 1 isolated CPUs; --senders/--isolated say it otherwise.
    let senders = a.senders as usize;
    let isolated = a.isolated.or(a.cpus.map(|c| c - 1)).unwrap_or(1) as usize;
    if a.isolated.is_some() && a.cpus.is_some() {
        eprintln!("--cpus and --isolated say the same thing: give one of them");
        return ExitCode::from(2);
    }
    if senders > 1 && a.cpus.is_some() {
        eprintln!("--cpus N means one sender and N - 1 isolated CPUs: with --senders, give --isolated");
        return ExitCode::from(2);
    }
    let cfg = isolsim::workloads::verify::check::CheckConfig {
        cpus: senders + isolated,
        senders,
        ops: a.ops.clone(),
        syscalls: a.syscalls as usize,
        mode: a.model,
        bound: a.bound,
        speculation: a.speculation,
        max_states: a.max_states,
        split: a.split,
        part: None,
        reduce: a.reduce,
    };
    let mut all = vec![];
    for p in &protocols {
        match check_protocol(&a, &cfg, p) {
            Ok(c) => all.push(c),
            Err(code) => return code,
        }
    }
    let text = if a.json {
        let v = if all.len() == 1 { all[0].json.clone() } else { all.iter().map(|c| c.json.clone()).collect() };
        serde_json::to_string_pretty(&v).expect("the report serialises") + "\n"
    } else if all.len() == 1 {
        all[0].text.clone()
    } else {
        let title = format!(
            "isolsim check: {} protocols, model {}, {} CPUs ({}), bound {}",
            all.len(),
            cfg.mode,
            cfg.cpus,
            cfg.title_shape(),
            cfg.bound
        );
        let rows: Vec<(Vec<String>, Option<bool>)> = all.iter().map(|c| (c.row.clone(), c.as_expected)).collect();
        isolsim::verify::verdict_table(
            &title,
            &["protocol", "states", "time", "verdict", "first counterexample", "expected", "as expected"],
            &rows,
        ) + &format!(
            "Not covered: {}.\nEach protocol alone (--protocol NAME) prints its coverage, timeline and cause.\n",
            cfg.not_covered()
        )
    };
    let _ = std::io::stdout().lock().write_all(text.as_bytes());
    if all.iter().any(|c| c.found) {
        ExitCode::from(1)
    } else if all.iter().any(|c| c.bound_hit) {
        ExitCode::from(3)
    } else {
        ExitCode::SUCCESS
    }
}

/// Checks one protocol: explores, replays and saves its counterexamples (and the litmus export).
fn check_protocol(
    a: &CheckArgs,
    cfg: &isolsim::workloads::verify::check::CheckConfig,
    protocol: &isolsim::workloads::protocol::ProtocolFile,
) -> Result<Checked, ExitCode> {
    use isolsim::workloads::verify::check::Check;
    use isolsim::workloads::verify::replay::{Case, ReplayFile};
    let jobs = if a.jobs == 0 { std::thread::available_parallelism().map_or(1, |n| n.get()) } else { a.jobs };
    let checker = Check::new(cfg.clone()).jobs(jobs);
    let start = std::time::Instant::now();
    let report = checker.run(protocol).map_err(|e| {
        eprintln!("{e}");
        ExitCode::from(2)
    })?;
    let secs = start.elapsed().as_secs_f64();
    let mut replays = vec![];
    for c in report.counterexamples() {
        match Check::new(cfg.for_counterexample(c)).replay(protocol, &c.steps) {
            Ok(r) => replays.push((c, r)),
            Err(e) => {
                eprintln!("{e}");
                return Err(ExitCode::from(2));
            }
        }
    }
    let causes: Vec<_> = replays.iter().map(|(c, r)| (c.consequence, r.cause(c))).collect();
    let mut text = isolsim::verify::check_text(
        &report,
        protocol,
        isolsim::verify::Host::now(secs, if cfg.reduce { 1 } else { jobs }),
        &causes,
    );
    let mut saved_files = vec![];
    let mut litmus_written = None;
    for (c, replayed) in &replays {
        text.push_str(&isolsim::verify::counterexample_text(c, replayed));
        let file = a.save.join(format!("{}.{}.json", protocol.name, c.consequence));
        let dot = a.save.join(format!("{}.{}.dot", protocol.name, c.consequence));
        let title = isolsim::verify::graph_title(&protocol.name, cfg, c, &replayed.cause(c));
        let saved = std::fs::create_dir_all(&a.save)
            .and_then(|_| {
                let json = serde_json::to_string_pretty(&ReplayFile::new(
                    protocol,
                    Case::Check { config: cfg.for_counterexample(c), counterexample: (*c).clone() },
                ))
                .expect("serialises");
                isolsim::write_atomically(&file, json.as_bytes())
            })
            .and_then(|_| isolsim::write_atomically(&dot, replayed.dot(c, &title).as_bytes()));
        if let Err(e) = saved {
            eprintln!("{}: cannot write ({e})", a.save.display());
            return Err(ExitCode::from(2));
        }
        text.push_str(&format!(
            "\nSaved: {} (isolsim replay {}) and {} (the execution graph, its cycle in bold)\n",
            file.display(),
            file.display(),
            dot.display()
        ));
        saved_files.push(file.display().to_string());
    }
    if let Some(out) = &a.litmus {
        // The safety violation's cycle first (an isolation break has none to export).
        let mut why_not = vec![];
        for (c, replayed) in &replays {
            let name = format!("{}.{}", protocol.name, c.consequence);
            match replayed.litmus(c, &name) {
                Ok(t) if litmus_written.is_none() => {
                    if let Err(e) = isolsim::write_atomically(out, t.as_bytes()) {
                        eprintln!("{}: cannot write ({e})", out.display());
                        return Err(ExitCode::from(2));
                    }
                    litmus_written = Some(c.consequence);
                }
                Ok(_) => {}
                Err(e) => why_not.push(format!("{}: {e}", c.consequence)),
            }
        }
        match litmus_written {
            Some(k) => text.push_str(&format!(
                "Litmus test: {} (the {k}'s essential accesses; isolsim litmus --exhaustive {} reproduces it)\n",
                out.display(),
                out.display()
            )),
            None if replays.is_empty() => eprintln!("--litmus: nothing found, no litmus test written"),
            None => eprintln!("--litmus: no litmus test written: {}", why_not.join("; ")),
        }
    }
    let found = report.found();
    let bound_hit = report.stats.bound_hit();
    let verdict = if found.is_empty() && !bound_hit {
        format!("safe within bound {}", cfg.bound)
    } else if found.is_empty() {
        "inconclusive (bound hit)".to_string()
    } else {
        isolsim::verify::verdict(&found)
    };
    let first = report
        .counterexamples()
        .next()
        .map_or("—".to_string(), |c| c.what.split(':').next().unwrap_or(&c.what).to_string());
    let as_expected = protocol.expect.as_ref().map(|e| *e == found && (!found.is_empty() || !bound_hit));
    let row = vec![
        protocol.name.clone(),
        report.stats.states.to_string(),
        format!("{secs:.2} s"),
        verdict,
        first,
        protocol.expect.as_ref().map_or("—".to_string(), |e| isolsim::verify::verdict(e)),
    ];
    Ok(Checked {
        text,
        json: serde_json::to_value(&report).expect("the report serialises"),
        row,
        found: !found.is_empty(),
        bound_hit,
        as_expected,
    })
}

fn replay(a: ReplayArgs) -> ExitCode {
    use isolsim::workloads::verify::check::Check;
    use isolsim::workloads::verify::replay::{Case, ReplayFile};
    let (file, protocol) = match ReplayFile::load(&a.file).and_then(|f| f.protocol().map(|p| (f, p))) {
        Ok(x) => x,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let (text, reproduced) = match &file.case {
        Case::Check { config, counterexample: c } => {
            if let Some(trace) = &a.trace {
                eprintln!(
                    "note: --trace {}: not written: an isolsim check path is untimed (its order of steps is the \
                     timeline below); fuzz runs are traced",
                    trace.display()
                );
            }
            let replayed = match Check::new(config.clone()).replay(&protocol, &c.steps) {
                Ok(r) => r,
                Err(e) => {
                    eprintln!("{}: {e}", a.file.display());
                    return ExitCode::from(2);
                }
            };
            let cause = replayed.cause(c);
            if let Some(dot) = &a.dot {
                let title = isolsim::verify::graph_title(&protocol.name, config, c, &cause);
                if let Err(e) = isolsim::write_atomically(dot, replayed.dot(c, &title).as_bytes()) {
                    eprintln!("{}: cannot write ({e})", dot.display());
                    return ExitCode::from(2);
                }
            }
            let mut text = format!(
                "isolsim replay: {} (isolsim check, protocol {}, model {}, {} CPUs, found by isolsim {})\n",
                a.file.display(),
                protocol.name,
                config.mode,
                config.cpus,
                file.version
            );
            text.push_str(&format!("Cause: {cause}\n"));
            text.push_str(&isolsim::verify::counterexample_text(c, &replayed));
            (text, replayed.found.iter().any(|(k, what)| *k == c.consequence && *what == c.what))
        }
        Case::Fuzz { run, violation } => {
            let (mut text, report, rows) = match replay_fuzz_run(&a, &file.version, &protocol, run) {
                Ok(r) => r,
                Err(code) => return code,
            };
            let got = report.safety.violations.first();
            text.push_str(&isolsim::verify::fuzz_counterexample_text(
                got.unwrap_or(violation),
                &rows,
                run.run.cpus,
                &run.machine,
            ));
            (text, got == Some(violation))
        }
        Case::FuzzBreak { run, evidence } => {
            let (mut text, report, rows) = match replay_fuzz_run(&a, &file.version, &protocol, run) {
                Ok(r) => r,
                Err(code) => return code,
            };
            let breaks = isolsim::workloads::verify::fuzz::outcome(run.index, &report).isolation_breaks;
            let reproduced = breaks > 0 && report.first_break == *evidence;
            let (shown, rows) = match (reproduced, evidence) {
                // What the run does now at the saved decision: the read it rests on.
                (false, Some(e)) => match run
                    .experiment(&protocol)
                    .and_then(|x| x.run_traced_to(isolsim::verify::TIMELINE_ROWS, e.decided_at))
                {
                    Ok(r) => (Some(e), r.1),
                    Err(err) => {
                        eprintln!("{}: {err}", a.file.display());
                        return ExitCode::from(2);
                    }
                },
                _ => (report.first_break.as_ref().or(evidence.as_ref()), rows),
            };
            text.push_str(&isolsim::verify::fuzz_break_text(
                shown,
                &rows,
                run.run.cpus,
                &run.machine,
                !reproduced && evidence.is_some(),
            ));
            (text, reproduced)
        }
    };
    let mut text = text;
    text.push_str(if reproduced {
        "\nReproduced: the same consequence, on the same CPU, with the same values.\n"
    } else {
        "\nNOT reproduced: this path no longer ends in that consequence (a changed protocol or simulator).\n"
    });
    let _ = std::io::stdout().lock().write_all(text.as_bytes());
    if reproduced { ExitCode::SUCCESS } else { ExitCode::from(1) }
}

fn fuzz(a: FuzzArgs) -> ExitCode {
    use isolsim::workloads::verify::fuzz::{Fuzz, FuzzConfig};
    let protocols = match resolve_protocols(&a.protocols) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let loaded = isolsim::config::load_with_sources(Some(&a.preset), a.overrides.config.as_deref(), &a.overrides.sets);
    // The runs' duration is --duration-us at the configured clock.
    let checked = loaded.and_then(|(c, sources)| checked_clock(c, &sources)).and_then(|c| {
        match isolsim::workloads::experiment::ExperimentConfig::cycles(
            "--duration-us",
            a.duration_us,
            c.machine.clock_mhz,
        ) {
            Ok(_) => Ok(c),
            Err(k) => Err(isolsim::config::ConfigError {
                file: None,
                pos: None,
                key: None,
                message: format!("--duration-us: {k}"),
            }),
        }
    });
    let mut cfg = match checked {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    if let Some(m) = a.model {
        cfg.machine.mode = m;
    }
    let mode = cfg.machine.mode;
    let clock_mhz = cfg.machine.clock_mhz;
    let fuzz = Fuzz::new(FuzzConfig {
        runs: a.runs,
        seed: a.seed,
        cpus: a.cpus as usize,
        duration_us: a.duration_us,
        machine: cfg.machine,
        kernel: cfg.kernel,
    });
    let jobs = if a.jobs == 0 { rayon::current_num_threads() } else { a.jobs };
    let window = match trace_window(&a.trace, a.trace_window.as_deref(), clock_mhz) {
        Ok(w) => w,
        Err(code) => return code,
    };
    let mut traces = vec![];
    let mut texts = vec![];
    let mut json = vec![];
    let mut rows = vec![];
    let mut any_found = false;
    for protocol in &protocols {
        let bar = indicatif::ProgressBar::new(a.runs);
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{spinner} fuzzing {msg} [{bar:40}] {pos}/{len} runs {elapsed} (eta {eta})",
            )
            .expect("a valid template")
            .progress_chars("=> "),
        );
        bar.set_message(protocol.name.clone());
        let start = std::time::Instant::now();
        let report = match fuzz.run(protocol, jobs, |done| bar.set_position(done)) {
            Ok(r) => r,
            Err(e) => {
                bar.finish_and_clear();
                eprintln!("{e}");
                return ExitCode::from(2);
            }
        };
        bar.finish_and_clear();
        let secs = start.elapsed().as_secs_f64();
        let mut text = isolsim::verify::fuzz_text(&report, protocol, jobs, secs);
        if let Some((run, _)) = &report.first_violation {
            let done = if a.no_minimize {
                fuzz_trace(protocol, run, window).map(|t| (String::new(), t))
            } else {
                fuzz_counterexample(protocol, run, &a.save, window)
            };
            match done {
                Ok((t, trace)) => {
                    text.push_str(&t);
                    traces.extend(trace.map(|t| (format!("{}.safety-violation", protocol.name), t)));
                }
                Err(e) => {
                    eprintln!("{e}");
                    return ExitCode::from(2);
                }
            }
        }
        if let Some(run) = &report.first_break {
            match fuzz_break(protocol, run, &a.save, !a.no_minimize, window) {
                Ok((t, trace)) => {
                    text.push_str(&t);
                    traces.extend(trace.map(|t| (format!("{}.isolation-break", protocol.name), t)));
                }
                Err(e) => {
                    eprintln!("{e}");
                    return ExitCode::from(2);
                }
            }
        }
        let found = report.found();
        any_found |= !found.is_empty();
        let first = report
            .first_violation
            .as_ref()
            .map_or("—".to_string(), |(run, v)| format!("{}: {} (run {})", v.kind, v.what, run.index));
        rows.push((
            vec![
                protocol.name.clone(),
                report.runs.to_string(),
                report.safety_violations.to_string(),
                report.isolation_breaks.to_string(),
                first,
                isolsim::verify::verdict(&found),
                protocol.expect.as_ref().map_or("—".to_string(), |e| isolsim::verify::verdict(e)),
            ],
            protocol.expect.as_ref().map(|e| *e == found),
        ));
        json.push(serde_json::to_value(&report).expect("the report serialises"));
        texts.push(text);
    }
    let text = if a.json {
        let v = if json.len() == 1 { json.remove(0) } else { serde_json::Value::Array(json) };
        serde_json::to_string_pretty(&v).expect("the report serialises") + "\n"
    } else if texts.len() == 1 {
        texts.remove(0)
    } else {
        let title = format!(
            "isolsim fuzz: {} protocols, model {}, {} runs each (seed {}), {} CPUs",
            protocols.len(),
            mode,
            a.runs,
            a.seed,
            a.cpus
        );
        isolsim::verify::verdict_table(
            &title,
            &[
                "protocol",
                "runs",
                "runs with a safety violation",
                "runs with an isolation break",
                "first violation",
                "verdict",
                "expected",
                "as expected",
            ],
            &rows,
        )
    };
    if let Some(out) = &a.trace {
        if traces.is_empty() {
            eprintln!("note: --trace {}: nothing found, so no run to trace; nothing written", out.display());
        }
        let several = traces.len() > 1;
        for (name, trace) in &traces {
            let path = if several { with_name_part(out, name) } else { out.clone() };
            if let Err(code) = write_trace(&path, trace) {
                return code;
            }
        }
    }
    let _ = std::io::stdout().lock().write_all(text.as_bytes());
    if any_found { ExitCode::from(1) } else { ExitCode::SUCCESS }
}

/// `out` with `.part` before its extension (`t.json` → `t.deferred.safety-violation.json`).
fn with_name_part(out: &std::path::Path, part: &str) -> PathBuf {
    let stem = out.file_stem().map_or(String::new(), |s| s.to_string_lossy().into_owned());
    let name = match out.extension() {
        Some(ext) => format!("{stem}.{part}.{}", ext.to_string_lossy()),
        None => format!("{stem}.{part}"),
    };
    out.with_file_name(name)
}

/// Fuzz run `run` replayed with its timeline rows, and its Chrome trace when `window` is set.
#[allow(clippy::type_complexity)]
fn fuzz_replayed(
    protocol: &isolsim::workloads::protocol::ProtocolFile,
    run: &isolsim::workloads::verify::fuzz::FuzzRun,
    window: Option<isolsim::workloads::experiment::chrome_trace::TraceWindow>,
) -> Result<
    (
        isolsim::workloads::experiment::Report,
        Vec<isolsim::workloads::verify::timeline::Row>,
        Option<isolsim::workloads::experiment::chrome_trace::ChromeTrace>,
    ),
    String,
> {
    run.experiment(protocol)
        .map(|e| match window {
            Some(w) => e.with_trace(w, 0),
            None => e,
        })
        .and_then(|e| e.run_traced_with_trace(isolsim::verify::TIMELINE_ROWS))
        .map_err(|e| e.to_string())
}

/// The trace of fuzz run `run` as found (not minimized), when `window` asks for one.
fn fuzz_trace(
    protocol: &isolsim::workloads::protocol::ProtocolFile,
    run: &isolsim::workloads::verify::fuzz::FuzzRun,
    window: Option<isolsim::workloads::experiment::chrome_trace::TraceWindow>,
) -> Result<Option<isolsim::workloads::experiment::chrome_trace::ChromeTrace>, String> {
    if window.is_none() {
        return Ok(None);
    }
    fuzz_replayed(protocol, run, window).map(|(_, _, t)| t)
}

/// Minimizes a violating fuzz run, saves it as a replay file and draws it (and its trace, when
/// `window` asks for one).
fn fuzz_counterexample(
    protocol: &isolsim::workloads::protocol::ProtocolFile,
    run: &isolsim::workloads::verify::fuzz::FuzzRun,
    save: &std::path::Path,
    window: Option<isolsim::workloads::experiment::chrome_trace::TraceWindow>,
) -> Result<(String, Option<isolsim::workloads::experiment::chrome_trace::ChromeTrace>), String> {
    use isolsim::workloads::verify::replay::{Case, ReplayFile};
    let m = isolsim::workloads::verify::fuzz::minimize(protocol, run, 300)
        .map_err(|e| e.to_string())?
        .ok_or("the first violating run does not violate when rebuilt (a simulator bug)")?;
    let (_, rows, trace) = fuzz_replayed(protocol, &m.run, window)?;
    let file = save.join(format!("{}.fuzz.safety-violation.json", protocol.name));
    let json = serde_json::to_string_pretty(&ReplayFile::new(
        protocol,
        Case::Fuzz { run: Box::new(m.run.clone()), violation: m.found.clone() },
    ))
    .expect("serialises");
    std::fs::create_dir_all(save)
        .and_then(|_| isolsim::write_atomically(&file, json.as_bytes()))
        .map_err(|e| format!("{}: cannot write ({e})", save.display()))?;
    let mut t = format!(
        "\nMinimized (delta debugging, {} runs tried): the run stops after {} simulator events instead of {}\n",
        m.tries, m.events.1, m.events.0
    );
    t.push_str(&isolsim::verify::fuzz_counterexample_text(&m.found, &rows, m.run.run.cpus, &m.run.machine));
    t.push_str(&format!("\nSaved: {} (isolsim replay {})\n", file.display(), file.display()));
    Ok((t, trace))
}

/// Replays fuzz run `run` of a replay file (written by isolsim `version`): a note if --dot was
/// asked for, the run traced, and the replay's heading; exit code 2 on an error, said on stderr.
#[allow(clippy::result_large_err)]
fn replay_fuzz_run(
    a: &ReplayArgs,
    version: &str,
    protocol: &isolsim::workloads::protocol::ProtocolFile,
    run: &isolsim::workloads::verify::fuzz::FuzzRun,
) -> Result<(String, isolsim::workloads::experiment::Report, Vec<isolsim::workloads::verify::timeline::Row>), ExitCode>
{
    if let Some(dot) = &a.dot {
        eprintln!(
            "note: --dot {}: not written: a fuzz run is timed and records no execution graph (only isolsim check's \
             exhaustive paths do); replaying the run",
            dot.display()
        );
    }
    let window = trace_window(&a.trace, a.trace_window.as_deref(), run.machine.clock_mhz)?;
    let (report, rows, trace) = fuzz_replayed(protocol, run, window).map_err(|e| {
        eprintln!("{}: {e}", a.file.display());
        ExitCode::from(2)
    })?;
    if let (Some(path), Some(trace)) = (&a.trace, trace) {
        write_trace(path, &trace)?;
    }
    let text = format!(
        "isolsim replay: {} (isolsim fuzz run {}, protocol {}, model {}, found by isolsim {version})\n",
        a.file.display(),
        run.index,
        protocol.name,
        run.machine.mode,
    );
    Ok((text, report, rows))
}

/// Minimizes the first run with an isolation break, saves it as a replay file and draws it up
/// to where its interrupt landed (and its trace, when `window` asks for one).
fn fuzz_break(
    protocol: &isolsim::workloads::protocol::ProtocolFile,
    run: &isolsim::workloads::verify::fuzz::FuzzRun,
    save: &std::path::Path,
    minimize: bool,
    window: Option<isolsim::workloads::experiment::chrome_trace::TraceWindow>,
) -> Result<(String, Option<isolsim::workloads::experiment::chrome_trace::ChromeTrace>), String> {
    use isolsim::workloads::verify::replay::{Case, ReplayFile};
    let m = if minimize {
        Some(
            isolsim::workloads::verify::fuzz::minimize_break(protocol, run, 300)
                .map_err(|e| e.to_string())?
                .ok_or("the first run with an isolation break has none when rebuilt (a simulator bug)")?,
        )
    } else {
        None
    };
    let run = m.as_ref().map_or(run, |m| &m.run);
    let (report, rows, trace) = fuzz_replayed(protocol, run, window)?;
    let file = save.join(format!("{}.fuzz.isolation-break.json", protocol.name));
    let json = serde_json::to_string_pretty(&ReplayFile::new(
        protocol,
        Case::FuzzBreak { run: Box::new(run.clone()), evidence: report.first_break.clone() },
    ))
    .expect("serialises");
    std::fs::create_dir_all(save)
        .and_then(|_| isolsim::write_atomically(&file, json.as_bytes()))
        .map_err(|e| format!("{}: cannot write ({e})", save.display()))?;
    let mut t = match &m {
        Some(m) => format!(
            "\nMinimized (delta debugging, {} runs tried): the run takes {} simulator events instead of {}\n",
            m.tries, m.events.1, m.events.0
        ),
        None => String::new(),
    };
    t.push_str(&isolsim::verify::fuzz_break_text(
        report.first_break.as_ref(),
        &rows,
        run.run.cpus,
        &run.machine,
        false,
    ));
    t.push_str(&format!("\nSaved: {} (isolsim replay {})\n", file.display(), file.display()));
    Ok((t, trace))
}

fn run(a: RunArgs) -> ExitCode {
    use isolsim::workloads::kernel::Protocol;
    use isolsim::workloads::protocol::ProtocolFile;
    let names = if a.protocols.is_empty() { vec!["all".to_string()] } else { a.protocols.clone() };
    let mut protocols: Vec<ProtocolFile> = vec![];
    for name in &names {
        match name.as_str() {
            "all" => protocols.extend(Protocol::ALL.into_iter().map(ProtocolFile::builtin)),
            name => match ProtocolFile::resolve(name) {
                Ok(p) => protocols.push(p),
                Err(e) => {
                    eprintln!("{e}");
                    return ExitCode::from(2);
                }
            },
        }
    }
    if let Some((a, b)) =
        protocols.iter().enumerate().find_map(|(i, p)| protocols[..i].iter().find(|q| q.name == p.name).map(|q| (q, p)))
    {
        eprintln!(
            "--protocol: {} and {} are both named `{}`: each column needs its own name (give each protocol once; \
             rename one file)",
            a.path, b.path, a.name
        );
        return ExitCode::from(2);
    }
    let cfg = match isolsim::config::load_for_run(Some(&a.preset), a.overrides.config.as_deref(), &a.overrides.sets) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    if a.format == Some(RunFormat::Oslat) && cfg.run.activity.task_loop != isolsim::workloads::activity::TaskLoop::Oslat
    {
        eprintln!("--format oslat prints the oslat loop's own histogram: run it with --set run.activity.loop=oslat");
        return ExitCode::from(2);
    }
    let bar = indicatif::ProgressBar::new(1000);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{spinner} simulating [{bar:40}] {percent:>3}% {elapsed}")
            .expect("a valid template")
            .progress_chars("=> "),
    );
    let progress =
        |done: u64, total: u64| bar.set_position((u128::from(done) * 1000 / u128::from(total.max(1))) as u64);
    let kernel = match isolsim::experiment::kernel_with(&a.kernel_files) {
        Ok(k) => k,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let files: Vec<(&str, &str)> = kernel.iter().map(|(n, t)| (n.as_str(), t.as_str())).collect();
    let window = match trace_window(&a.trace, a.trace_window.as_deref(), cfg.machine.clock_mhz) {
        Ok(w) => w,
        Err(code) => return code,
    };
    let wall = std::time::Instant::now();
    let how = isolsim::experiment::RunHow { core_stats: a.stats.is_some(), trace: window, jobs: a.jobs };
    let runs_at_once = if a.jobs == 0 { protocols.len() } else { a.jobs.min(protocols.len()) };
    let mut timed = match isolsim::experiment::run_timed(&cfg, &files, &protocols, a.seed, how, &progress) {
        Ok(r) => r,
        Err(e) => {
            bar.finish_and_clear();
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    bar.finish_and_clear();
    let mut label = a.preset.clone();
    if let Some(f) = &a.overrides.config {
        label += &format!(" + {}", f.display());
    }
    for s in &a.overrides.sets {
        label += &format!(" + {s}");
    }
    let wall_seconds = wall.elapsed().as_secs_f64();
    let runs = timed.iter().map(|t| isolsim::experiment::HostRate::new(&t.report, t.host_seconds)).collect();
    if let Some(path) = &a.trace {
        let mut trace = isolsim::workloads::experiment::chrome_trace::ChromeTrace::default();
        for t in &mut timed {
            trace.extend(t.trace.take().unwrap_or_default());
        }
        if let Err(code) = write_trace(path, &trace) {
            return code;
        }
    }
    let reports = timed.into_iter().map(|t| t.report).collect();
    let mut comparison = isolsim::experiment::Comparison::new(&label, &cfg, a.seed, reports);
    if !a.no_host_stats {
        let host_cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        comparison.host = Some(isolsim::experiment::HostStats { wall_seconds, runs_at_once, host_cores, runs });
    }
    if let Some(path) = &a.csv_runs
        && let Err(e) = isolsim::write_atomically(path, isolsim::experiment::runs_csv(&comparison).as_bytes())
    {
        eprintln!("{}: cannot write ({e})", path.display());
        return ExitCode::from(2);
    }
    if let Some(path) = &a.stats {
        let text = if path.extension().is_some_and(|e| e == "json") {
            isolsim::formats::stats_json(&comparison)
        } else {
            isolsim::formats::stats_text(&comparison)
        };
        if let Err(e) = isolsim::write_atomically(path, text.as_bytes()) {
            eprintln!("{}: cannot write ({e})", path.display());
            return ExitCode::from(2);
        }
        // The statistics are in their file; the reports printed stay as without --stats.
        for r in &mut comparison.reports {
            r.core_stats.clear();
        }
    }
    let format = match a.format {
        Some(f) => f,
        None if a.json => RunFormat::Json,
        None if a.csv => RunFormat::Csv,
        None => RunFormat::Text,
    };
    let text = match format {
        RunFormat::Json => comparison.to_json(),
        RunFormat::Csv => isolsim::experiment::to_csv(&comparison.reports),
        RunFormat::RtlaOsnoise => isolsim::formats::rtla_osnoise_top(&comparison),
        RunFormat::RtlaHist => isolsim::formats::rtla_osnoise_hist(&comparison),
        RunFormat::Oslat => match isolsim::formats::oslat(&comparison) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("{e}");
                return ExitCode::from(2);
            }
        },
        RunFormat::Text => {
            let mut t = isolsim::experiment::to_text(&comparison);
            if let Some(h) = &comparison.host {
                t.push_str(&isolsim::experiment::host_text(h));
            }
            t
        }
    };
    let _ = std::io::stdout().lock().write_all(text.as_bytes());
    if comparison.reports.iter().any(|r| !r.safety.violations.is_empty()) {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

/// `cfg` if its clock runs, at a rate that turns the benchmarks' and fuzz runs' microseconds into
/// cycles without overflow (calibrate's longest step: 100 ms); else an error at `machine.clock_mhz`.
fn checked_clock(
    cfg: isolsim::config::Config,
    sources: &isolsim::config::Sources,
) -> Result<isolsim::config::Config, isolsim::config::ConfigError> {
    use isolsim::workloads::experiment::ExperimentConfig;
    let clock = cfg.machine.clock_mhz;
    match ExperimentConfig::check_clock(clock)
        .and_then(|()| ExperimentConfig::cycles("machine.clock_mhz", 100_000, clock))
    {
        Ok(_) => Ok(cfg),
        Err(k) => Err(isolsim::config::invalid_error(sources, &k)),
    }
}

fn calibrate(a: CalibrateArgs) -> ExitCode {
    if let Some(path) = &a.measured {
        return calibrate_measured(&a, path);
    }
    let names: Vec<&str> = match &a.preset {
        Some(p) => vec![p.as_str()],
        None => isolsim::config::PRESETS.to_vec(),
    };
    let mut reports = vec![];
    for name in names {
        let loaded = isolsim::config::load_with_sources(Some(name), a.overrides.config.as_deref(), &a.overrides.sets);
        let cfg = match loaded.and_then(|(c, sources)| checked_clock(c, &sources)) {
            Ok(c) => c,
            Err(e) => {
                eprintln!("{e}");
                return ExitCode::from(2);
            }
        };
        let mut label = match &a.overrides.config {
            Some(f) => format!("{name} + {}", f.display()),
            None => name.to_string(),
        };
        for s in &a.overrides.sets {
            label += &format!(" + {s}");
        }
        match isolsim::calibrate::run(&label, &cfg) {
            Ok(r) => reports.push(r),
            Err(e) => {
                eprintln!("{label}: {e}");
                return ExitCode::from(1);
            }
        }
    }
    print_calibration(&reports, a.json)
}

/// Prints calibration reports; exit 1 if a figure does not agree (a failed check).
fn print_calibration(reports: &[isolsim::calibrate::Report], json: bool) -> ExitCode {
    let text = if json {
        serde_json::to_string_pretty(reports).expect("the report serialises") + "\n"
    } else {
        isolsim::calibrate::to_text(reports)
    };
    let _ = std::io::stdout().lock().write_all(text.as_bytes());
    if reports.iter().all(|r| r.figures.iter().all(|f| f.agrees)) { ExitCode::SUCCESS } else { ExitCode::from(1) }
}

/// `calibrate --measured FILE`: the user's figures against the configuration given.
fn calibrate_measured(a: &CalibrateArgs, path: &std::path::Path) -> ExitCode {
    let measured = match isolsim::calibrate::measured::read(path) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let loaded =
        isolsim::config::load_with_sources(a.preset.as_deref(), a.overrides.config.as_deref(), &a.overrides.sets);
    let cfg = match loaded.and_then(|(c, sources)| checked_clock(c, &sources)) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let mut label = a.preset.clone().unwrap_or_else(|| "defaults".into());
    if let Some(f) = &a.overrides.config {
        label += &format!(" + {}", f.display());
    }
    for s in &a.overrides.sets {
        label += &format!(" + {s}");
    }
    match isolsim::calibrate::measured::run(&path.display().to_string(), &measured, &cfg) {
        Ok(mut r) => {
            r.config = format!("{} against {label}", r.config);
            print_calibration(&[r], a.json)
        }
        Err(e) => {
            eprintln!("{label}: {e}");
            ExitCode::from(1)
        }
    }
}

fn exec(a: ExecArgs) -> ExitCode {
    // The window is in µs: cycles at the configuration's clock (a configuration that does not
    // load is reported by the run below, before anything is traced).
    let clock_mhz =
        isolsim::config::load_with_sets(a.preset.as_deref(), a.overrides.config.as_deref(), &a.overrides.sets)
            .map_or(1, |c| c.machine.clock_mhz);
    let window = match trace_window(&a.trace, a.trace_window.as_deref(), clock_mhz) {
        Ok(w) => w,
        Err(code) => return code,
    };
    match isolsim::scenario::exec(
        &a.scenario,
        a.preset.as_deref(),
        a.overrides.config.as_deref(),
        &a.overrides.sets,
        &a.defines,
        window,
    ) {
        Ok((outcome, trace)) => {
            if let (Some(path), Some(trace)) = (&a.trace, trace)
                && let Err(code) = write_trace(path, &trace)
            {
                return code;
            }
            let text = if a.json {
                serde_json::to_string_pretty(&outcome).expect("the report serialises") + "\n"
            } else {
                outcome.to_text()
            };
            let _ = std::io::stdout().lock().write_all(text.as_bytes());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{e}");
            ExitCode::from(e.exit_code())
        }
    }
}

fn config(a: ConfigArgs) -> ExitCode {
    match isolsim::config::load_with_sources(a.preset.as_deref(), a.overrides.config.as_deref(), &a.overrides.sets) {
        Ok((c, sources)) => {
            let text = isolsim::config::to_commented_toml_with_sources(&c, &sources);
            let _ = std::io::stdout().lock().write_all(text.as_bytes());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{e}");
            ExitCode::from(2)
        }
    }
}

fn topology(a: TopologyArgs) -> ExitCode {
    if let Some(path) = &a.import {
        return topology_import(path, a.nohz_full.as_deref());
    }
    let cfg = match isolsim::config::load_for_run(Some(&a.preset), a.overrides.config.as_deref(), &a.overrides.sets) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let mut label = a.preset.clone();
    if let Some(f) = &a.overrides.config {
        label += &format!(" + {}", f.display());
    }
    for s in &a.overrides.sets {
        label += &format!(" + {s}");
    }
    let text =
        if a.dot { cpu_model_dot(&cfg) } else { isolsim::topology::tree(&label, &cfg).map_err(|e| e.to_string()) };
    match text {
        Ok(t) => {
            let _ = std::io::stdout().lock().write_all(t.as_bytes());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{e}");
            ExitCode::from(2)
        }
    }
}

/// `topology --import`: a real machine's [machine.topology] (and [run] isolated) sections.
fn topology_import(path: &std::path::Path, nohz_full: Option<&str>) -> ExitCode {
    let m = match isolsim::topology::import::import(path) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let mut text = m.to_toml(&path.display().to_string());
    if let Some(list) = nohz_full {
        let linux = match isolsim::workloads::experiment::parse_cpulist(list) {
            Ok(l) => l,
            Err(e) => {
                eprintln!("--nohz-full {list}: {e}");
                return ExitCode::from(2);
            }
        };
        let cpus = m.topology.num_cores();
        if let Some(c) = linux.iter().find(|&&c| c >= cpus) {
            eprintln!("--nohz-full {list}: CPU {c} is not in {} (CPUs 0-{})", path.display(), cpus - 1);
            return ExitCode::from(2);
        }
        text += &format!(
            "\n# nohz_full={list}\n[run]\ncpus = {cpus}\nisolated = \"{}\"\n",
            isolsim::workloads::experiment::IsolatedCpus::List(linux)
        );
    }
    let _ = std::io::stdout().lock().write_all(text.as_bytes());
    ExitCode::SUCCESS
}

/// The machine's topology graph in DOT.
fn cpu_model_dot(cfg: &isolsim::config::Config) -> Result<String, String> {
    isolsim::cpu_model::topology::Topology::new(&cfg.machine.topology).map(|t| t.to_dot()).map_err(|e| e.to_string())
}

fn validate(a: ValidateArgs) -> ExitCode {
    let opts =
        RunOptions { exhaustive: a.exhaustive, runs: a.runs, seed: a.seed, jobs: a.jobs, ..RunOptions::default() };
    let mut code = 0;
    for index in &a.indexes {
        match isolsim::litmus::validate::validate(index, &opts) {
            Err(e) => {
                eprintln!("{e}");
                code = 2;
            }
            Ok(v) => {
                if !v.mismatches.is_empty() && code == 0 {
                    code = 1;
                }
                if a.json {
                    let j = serde_json::json!({ "index": index, "result": v });
                    println!("{}", serde_json::to_string_pretty(&j).expect("json"));
                } else {
                    let method =
                        if a.exhaustive { "exhaustive".to_string() } else { format!("{} random runs", a.runs) };
                    println!("{} ({method})\n{}", index.display(), v.to_markdown());
                }
            }
        }
    }
    ExitCode::from(code)
}

fn litmus(a: LitmusArgs) -> ExitCode {
    let mut opts = RunOptions {
        exhaustive: a.exhaustive,
        runs: a.runs,
        seed: a.seed,
        jobs: a.jobs,
        max_fetch: a.bound,
        max_states: a.max_states,
        speculation: a.speculation,
        check_axioms: !a.no_check,
        max_graph_pairs: a.max_graph_pairs,
        // Without `--model`, an x86 test runs under x86-TSO, as herd7 picks the model by the
        // test's architecture.
        x86_model: a.model.is_none().then_some(Mode::Tso),
        ..RunOptions::default()
    };
    opts.machine.mode = a.model.unwrap_or(Mode::Arm);
    let mut stdout = std::io::stdout().lock();
    let mut json = vec![];
    let mut worst = 0u8;
    run_files(&a.files, &opts, |outcome| {
        match &outcome {
            LitmusOutcome::Done(r) => {
                if r.axiom_violation.is_some() {
                    worst = worst.max(3);
                }
                if a.json {
                    json.push(serde_json::to_value(r).expect("report serialises"));
                } else {
                    let _ = writeln!(stdout, "{}", r.to_text());
                }
            }
            LitmusOutcome::BadInput(e) => {
                worst = worst.max(2);
                eprintln!("{e}");
                json.push(serde_json::json!({ "error": e.to_string() }));
            }
            LitmusOutcome::Failed { file, error } => {
                worst = worst.max(3);
                eprintln!("{}: {error}", file.display());
                json.push(serde_json::json!({ "file": file, "error": error.to_string() }));
            }
        }
        let _ = stdout.flush();
    });
    if a.json {
        let _ = writeln!(stdout, "{}", serde_json::to_string_pretty(&json).expect("json"));
    }
    ExitCode::from(worst)
}
