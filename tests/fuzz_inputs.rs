//! Fuzzing every input format (issue 15, item 14): a seeded mutation fuzzer over the project's
//! own files, run against the readers the commands use, in process. Each input must be read
//! without a panic, within a deadline, within a memory bound, and if refused, refused with a
//! positioned error (`file:line:col: what`, at a place inside the input).
//!
//! `cargo test` runs a bounded campaign (a few thousand inputs in all, seed 1). The long one:
//!
//! ```text
//! FUZZ_INPUTS=100000 FUZZ_SECONDS=600 nice cargo test --test fuzz_inputs long -- --ignored --nocapture
//! ```
//!
//! (the test profile keeps overflow checks on: an overflow is a panic, a finding) with
//! `FUZZ_INPUTS` per target (default 10^6), `FUZZ_SECONDS` a time budget per target,
//! `FUZZ_TARGETS=litmus-c,asm` to choose targets (names below), `FUZZ_SEED` (default 1),
//! `FUZZ_DEADLINE_MS` (default 2000) and `FUZZ_OUT` (where reproducers go; default
//! `target/tmp/fuzz-inputs`). `FUZZ_REPLAY=FILE` with one target runs that one input.
//!
//! A finding is written to FUZZ_OUT with its seed and iteration in the name and printed as text
//! (or hex). A crash that ends the process (an abort, a stack overflow) leaves its input in
//! `FUZZ_OUT/TARGET.inflight`: every input is written there before it runs. The slowest input
//! of a target and the one that needed the most memory are kept as `TARGET.slowest.EXT` and
//! `TARGET.peak.EXT`; `FUZZ_REJECTIONS=1` counts the rejections by message.

#[path = "fuzzing/mutate.rs"]
mod mutate;
#[path = "fuzzing/targets.rs"]
mod targets;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender, channel};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mutate::Mutator;
use targets::{Reader, Target, Verdict};

// ---------------------------------------------------------------------------------------------
// Memory: a counting allocator, the peak of live bytes during one input.

struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

/// The most one input may use.
const MEMORY_LIMIT: usize = 512 << 20;

/// Past this the allocator fails (the process aborts, the input is in its `.inflight` file)
/// rather than take the machine's memory.
const HARD_CAP: usize = 2 * MEMORY_LIMIT;

fn grow(size: usize) -> bool {
    let live = LIVE.fetch_add(size, Relaxed) + size;
    if live > HARD_CAP {
        LIVE.fetch_sub(size, Relaxed);
        return false;
    }
    PEAK.fetch_max(live, Relaxed);
    true
}

/// `alloc()`'s block of `size` bytes, counted; none past [`HARD_CAP`].
fn counted(size: usize, alloc: impl FnOnce() -> *mut u8) -> *mut u8 {
    if !grow(size) {
        return std::ptr::null_mut();
    }
    let p = alloc();
    if p.is_null() {
        LIVE.fetch_sub(size, Relaxed);
    }
    p
}

// SAFETY: every call is passed on to the system allocator unchanged; only the counters are ours.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        // SAFETY: the caller's contract, passed on.
        counted(l.size(), || unsafe { System.alloc(l) })
    }

    unsafe fn alloc_zeroed(&self, l: Layout) -> *mut u8 {
        // SAFETY: as above.
        counted(l.size(), || unsafe { System.alloc_zeroed(l) })
    }

    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        // SAFETY: as above.
        unsafe { System.dealloc(p, l) };
        LIVE.fetch_sub(l.size(), Relaxed);
    }

    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        if new > l.size() && !grow(new - l.size()) {
            return std::ptr::null_mut();
        }
        // SAFETY: as above.
        let q = unsafe { System.realloc(p, l, new) };
        if q.is_null() {
            if new > l.size() {
                LIVE.fetch_sub(new - l.size(), Relaxed);
            }
        } else if new < l.size() {
            LIVE.fetch_sub(l.size() - new, Relaxed);
        }
        q
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

// ---------------------------------------------------------------------------------------------
// Panics: caught per input, reported with where they happened, silently.

thread_local! {
    static LAST_PANIC: RefCell<Option<String>> = const { RefCell::new(None) };
}

type Hook = Arc<dyn Fn(&std::panic::PanicHookInfo<'_>) + Sync + Send + 'static>;

/// A panic hook quiet on the fuzz workers (it records the message and place for the report) and
/// the previous one elsewhere; the previous one comes back on drop.
struct QuietPanics(Hook);

impl QuietPanics {
    fn install() -> QuietPanics {
        let old: Hook = Arc::from(std::panic::take_hook());
        let other = old.clone();
        std::panic::set_hook(Box::new(move |info| {
            if !std::thread::current().name().is_some_and(|n| n.starts_with("fuzz-")) {
                return other(info);
            }
            let bt = std::backtrace::Backtrace::force_capture().to_string();
            // The frames of this project's code: where to look.
            let ours: Vec<&str> = bt
                .lines()
                .filter(|l| l.contains("at ./") || l.contains("/wt-") || l.contains("isolsim"))
                .take(12)
                .collect();
            LAST_PANIC.with(|p| *p.borrow_mut() = Some(format!("{info}\n{}", ours.join("\n"))));
        }));
        QuietPanics(old)
    }
}

impl Drop for QuietPanics {
    fn drop(&mut self) {
        if std::thread::panicking() {
            return; // the hook cannot change now; it passes this thread's panics on anyway
        }
        let old = self.0.clone();
        std::panic::set_hook(Box::new(move |info| old(info)));
    }
}

// ---------------------------------------------------------------------------------------------
// The worker: one thread per target runs the inputs; the driver waits with a deadline.

enum Ran {
    Verdict(Verdict),
    Panicked(String),
}

struct Worker {
    jobs: Sender<Arc<Vec<u8>>>,
    done: Receiver<(Ran, usize)>,
}

impl Worker {
    fn start(name: &str, run: Reader) -> Worker {
        let (jobs, inbox) = channel::<Arc<Vec<u8>>>();
        let (outbox, done) = channel();
        std::thread::Builder::new()
            .name(format!("fuzz-{name}"))
            // The main thread's stack, where the commands run their readers.
            .stack_size(8 << 20)
            .spawn(move || {
                for input in inbox {
                    let base = LIVE.load(Relaxed);
                    PEAK.store(base, Relaxed);
                    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run(&input)));
                    let peak = PEAK.load(Relaxed).saturating_sub(base);
                    let ran = match r {
                        Ok(v) => Ran::Verdict(v),
                        Err(_) => Ran::Panicked(LAST_PANIC.with(|p| p.borrow_mut().take()).unwrap_or_default()),
                    };
                    if outbox.send((ran, peak)).is_err() {
                        break;
                    }
                }
            })
            .expect("a worker thread");
        Worker { jobs, done }
    }
}

// ---------------------------------------------------------------------------------------------
// The campaign.

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Panic,
    Hang,
    Memory,
    Unpositioned,
    BadOutput,
}

struct Finding {
    kind: Kind,
    message: String,
    iteration: u64,
    file: PathBuf,
    input: Vec<u8>,
    /// Inputs that showed the same defect.
    count: u64,
}

#[derive(Default)]
struct Stats {
    tried: u64,
    accepted: u64,
    rejected: u64,
    slowest: Duration,
    peak: usize,
    time: Duration,
    findings: Vec<Finding>,
    stopped: Option<String>,
    /// Rejections by message shape (with `FUZZ_REJECTIONS=1`).
    rejections: BTreeMap<String, u64>,
}

struct Settings {
    seed: u64,
    deadline: Duration,
    out: PathBuf,
    /// Count rejections by message shape.
    rejections: bool,
    /// Each target stops after this long, whatever its count (`FUZZ_SECONDS`): its inputs are
    /// the same for a seed, only how many of them run changes.
    budget: Option<Duration>,
}

/// The longest accepted input mutated further: longer ones are tried (repeats and splices make
/// them up to 1 MiB) but do not breed, else the pool drifts to long inputs that each take
/// milliseconds to read, and a campaign tries ever fewer.
const MAX_POOLED: usize = 64 << 10;

/// What makes two findings the same defect: the kind and the panic's place, or the message
/// with its numbers and quoted parts blanked.
fn signature(kind: Kind, message: &str) -> String {
    let first = match kind {
        Kind::Panic => message.lines().next().unwrap_or(""),
        _ => message,
    };
    let mut sig = String::new();
    let mut quoted = false;
    for c in first.chars() {
        if c == '`' {
            quoted = !quoted;
        } else if !quoted && !c.is_ascii_digit() {
            sig.push(c);
        }
    }
    format!("{kind:?} {}", sig.chars().take(100).collect::<String>())
}

/// The input as a reader sees it: text if it is UTF-8 (its start, if long), else hex of its start.
fn shown(input: &[u8]) -> String {
    match std::str::from_utf8(input) {
        Ok(t) if t.len() <= 3000 => format!("text ({} bytes):\n{t}", t.len()),
        Ok(t) => format!("text ({} bytes), its start:\n{}", t.len(), t.chars().take(2000).collect::<String>()),
        _ => {
            let hex: Vec<String> = input.iter().take(512).map(|b| format!("{b:02x}")).collect();
            format!("{} bytes, the first {} in hex:\n{}", input.len(), hex.len(), hex.join(" "))
        }
    }
}

fn campaign(t: &Target, inputs: u64, s: &Settings) -> Stats {
    let mut stats = Stats::default();
    let mut m = Mutator::new(s.seed, t.name);
    // Accepted variants are mutated further: deeper inputs than the seeds alone reach.
    let mut pool: Vec<Vec<u8>> = vec![];
    let worker = Worker::start(t.name, t.run.clone());
    let inflight = s.out.join(format!("{}.inflight", t.name));
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    let start = Instant::now();
    for i in 0..inputs {
        if s.budget.is_some_and(|b| start.elapsed() >= b) {
            stats.stopped = Some(format!("the time budget, after {i} inputs"));
            break;
        }
        let input: Vec<u8> = match t.corpus.files.get(i as usize) {
            // The seeds themselves first.
            Some((_, f)) => f.clone(),
            None => {
                let base = if !pool.is_empty() && m.one_in(3) {
                    &pool[m.choose(pool.len())]
                } else {
                    &t.corpus.files[m.choose(t.corpus.files.len())].1
                };
                let base = base.clone();
                m.mutate(&t.corpus, &base)
            }
        };
        if i > 0 && i % 10_000 == 0 {
            // Where a long campaign is, should it be stopped.
            eprintln!(
                "  {}: {i} inputs, {} findings, {:.0} s",
                t.name,
                stats.findings.len(),
                start.elapsed().as_secs_f64()
            );
        }
        std::fs::write(&inflight, &input).expect("the in-flight input is written");
        let input = Arc::new(input);
        let began = Instant::now();
        worker.jobs.send(input.clone()).expect("the worker runs");
        let (kind, message) = match worker.done.recv_timeout(s.deadline) {
            Ok((ran, peak)) => {
                let took = began.elapsed();
                // The slowest input and the one that needed the most memory are kept to look at.
                if took > stats.slowest {
                    stats.slowest = took;
                    let _ = std::fs::write(s.out.join(format!("{}.slowest.{}", t.name, t.ext)), &*input);
                }
                if peak > stats.peak {
                    stats.peak = peak;
                    let _ = std::fs::write(s.out.join(format!("{}.peak.{}", t.name, t.ext)), &*input);
                }
                stats.tried += 1;
                match ran {
                    Ran::Panicked(msg) => (Kind::Panic, msg),
                    _ if peak > MEMORY_LIMIT => (
                        Kind::Memory,
                        format!("{} MiB live at the peak (limit {} MiB)", peak >> 20, MEMORY_LIMIT >> 20),
                    ),
                    Ran::Verdict(Verdict::Accepted) => {
                        stats.accepted += 1;
                        if *input != t.corpus.files[0].1 && input.len() <= MAX_POOLED {
                            if pool.len() < 256 {
                                pool.push(input.to_vec());
                            } else if m.one_in(4) {
                                let k = m.choose(pool.len());
                                pool[k] = input.to_vec();
                            }
                        }
                        continue;
                    }
                    Ran::Verdict(Verdict::Rejected(m)) => {
                        stats.rejected += 1;
                        if s.rejections {
                            *stats.rejections.entry(signature(Kind::Unpositioned, &m)).or_default() += 1;
                        }
                        continue;
                    }
                    Ran::Verdict(Verdict::Unpositioned(msg)) => (Kind::Unpositioned, msg),
                    Ran::Verdict(Verdict::BadOutput(msg)) => (Kind::BadOutput, msg),
                }
            }
            Err(RecvTimeoutError::Timeout) => {
                stats.tried += 1;
                (Kind::Hang, format!("no verdict after {:?}", s.deadline))
            }
            Err(RecvTimeoutError::Disconnected) => panic!("the worker of {} ended", t.name),
        };
        let sig = signature(kind, &message);
        if let Some(&k) = seen.get(&sig) {
            stats.findings[k].count += 1;
        } else if stats.findings.len() < 30 {
            let file = s.out.join(format!("{}-seed{}-{}.{}", t.name, s.seed, i, t.ext));
            std::fs::write(&file, &*input).expect("a reproducer is written");
            seen.insert(sig, stats.findings.len());
            stats.findings.push(Finding { kind, message, iteration: i, file, input: input.to_vec(), count: 1 });
        }
        if kind == Kind::Hang {
            // A stuck thread cannot be stopped: this target ends, so that it competes with no
            // more inputs.
            stats.stopped = Some(format!("stopped at input {i}: a hang"));
            break;
        }
    }
    stats.time = start.elapsed();
    let _ = std::fs::remove_file(&inflight);
    stats
}

/// Replay and results files made now, with this build: their formats have no shipped example.
fn generated() -> Vec<(&'static str, targets::Files)> {
    use isolsim::workloads::protocol::ProtocolFile;
    use isolsim::workloads::verify::check::{Check, CheckConfig};
    use isolsim::workloads::verify::fuzz::{Fuzz, FuzzConfig};
    use isolsim::workloads::verify::replay::{Case, ReplayFile};
    let root = targets::root();
    let mutant = ProtocolFile::load(&root.join("workloads/protocols/mutants/entry-no-flush.S")).expect("a mutant");
    let mut replay = vec![];
    let unsafe_entry = ProtocolFile::load(&root.join("workloads/protocols/mutants/entry-no-isb.S")).expect("a mutant");
    let report = Check::new(CheckConfig::default()).run(&unsafe_entry).expect("the mutant checks");
    let cex = report.counterexamples().next().expect("the mutant has a counterexample").clone();
    let file = ReplayFile::new(&unsafe_entry, Case::Check { config: CheckConfig::default(), counterexample: cex });
    replay.push(("check.json".to_string(), serde_json::to_vec_pretty(&file).unwrap()));
    let fuzz = Fuzz::new(FuzzConfig::default());
    let found = (0..200).find_map(|i| {
        let (run, outcome) = fuzz.run_one(&mutant, i).expect("a fuzz run");
        outcome.violations.first().cloned().map(|v| (run, v))
    });
    let (run, violation) = found.expect("the mutant violates within 200 runs");
    let file = ReplayFile::new(&mutant, Case::Fuzz { run: Box::new(run), violation });
    replay.push(("fuzz.json".to_string(), serde_json::to_vec_pretty(&file).unwrap()));

    // A sweep of four short units: its results file.
    let sweep = isolsim::sweep::Sweep::parse(
        "small.toml",
        "[sweep]\nprotocols = [\"deferred\", \"broadcast\"]\nseeds = [1, 2]\n[set]\nrun.cpus = 8\nrun.isolated = 2\n\
         run.duration_us = 100\n",
        Path::new("."),
    )
    .expect("a sweep");
    let mut lines = String::new();
    for u in sweep.shard(None) {
        lines.push_str(&sweep.run_unit(u).expect("a unit runs"));
        lines.push('\n');
    }
    vec![("replay", replay), ("results", vec![("small.jsonl".to_string(), lines.into_bytes())])]
}

/// Campaigns run one at a time: the allocator's peak and the panic hook are the process's.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn env<T: std::str::FromStr>(name: &str) -> Option<T> {
    let v = std::env::var(name).ok()?;
    Some(v.parse().unwrap_or_else(|_| panic!("{name}={v}: not a number")))
}

/// Runs the chosen targets, `inputs(target)` each, prints a table and every finding, and fails
/// if there is one.
fn fuzz(inputs: impl Fn(&Target) -> u64, deadline: Duration) {
    let _serial = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let out = std::env::var_os("FUZZ_OUT")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_TARGET_TMPDIR")).join("fuzz-inputs"));
    std::fs::create_dir_all(&out).expect("the output directory");
    let s = Settings {
        seed: env("FUZZ_SEED").unwrap_or(1),
        deadline,
        out,
        rejections: env::<u8>("FUZZ_REJECTIONS").is_some_and(|v| v > 0),
        budget: env("FUZZ_SECONDS").map(Duration::from_secs),
    };
    let chosen: Option<Vec<String>> =
        std::env::var("FUZZ_TARGETS").ok().map(|v| v.split(',').map(|t| t.trim().to_string()).collect());
    let wanted = |name: &str| chosen.as_ref().is_none_or(|c| c.iter().any(|n| n == name));
    let made = if ["replay", "results", "merge", "report"].iter().any(|t| wanted(t)) { generated() } else { vec![] };
    let all = targets::all(&made);
    assert!(all.iter().all(|t| !t.corpus.files.is_empty()));
    if let Some(c) = &chosen {
        for n in c {
            assert!(all.iter().any(|t| t.name == n), "FUZZ_TARGETS: no target `{n}`");
        }
    }
    let _quiet = QuietPanics::install();

    if let Some(file) = std::env::var_os("FUZZ_REPLAY") {
        let t = all.iter().find(|t| wanted(t.name)).expect("FUZZ_TARGETS names the target");
        let input = std::fs::read(&file).expect("FUZZ_REPLAY is readable");
        let w = Worker::start(t.name, t.run.clone());
        w.jobs.send(Arc::new(input)).expect("the worker runs");
        let began = Instant::now();
        let said = match w.done.recv_timeout(s.deadline) {
            Ok((ran, peak)) => {
                let said = match ran {
                    Ran::Verdict(Verdict::Accepted) => "accepted".to_string(),
                    Ran::Verdict(Verdict::Rejected(m)) => format!("rejected with a positioned error: {m}"),
                    Ran::Verdict(Verdict::Unpositioned(m)) => format!("REJECTED WITHOUT A POSITION: {m}"),
                    Ran::Verdict(Verdict::BadOutput(m)) => format!("WRONG OUTPUT: {m}"),
                    Ran::Panicked(m) => format!("PANICKED: {m}"),
                };
                format!(
                    "{said}\n({:.1} ms, {:.1} MiB live at the peak)",
                    began.elapsed().as_secs_f64() * 1e3,
                    peak as f64 / f64::from(1 << 20)
                )
            }
            Err(_) => format!("NO VERDICT after {:?}", s.deadline),
        };
        println!("{} {}: {said}", t.name, Path::new(&file).display());
        return;
    }

    println!("fuzz_inputs: seed {}, deadline {:?}, reproducers in {}", s.seed, s.deadline, s.out.display());
    println!(
        "{:<15} {:>9} {:>9} {:>9} {:>9} {:>10} {:>11} {:>9}",
        "target", "inputs", "accepted", "rejected", "findings", "time", "slowest", "peak MiB"
    );
    let mut failures = vec![];
    let (mut tried, mut time) = (0, Duration::ZERO);
    for t in all.iter().filter(|t| wanted(t.name)) {
        let st = campaign(t, inputs(t), &s);
        (tried, time) = (tried + st.tried, time + st.time);
        println!(
            "{:<15} {:>9} {:>9} {:>9} {:>9} {:>9.1}s {:>9.1}ms {:>9.1}{}",
            t.name,
            st.tried,
            st.accepted,
            st.rejected,
            st.findings.iter().map(|f| f.count).sum::<u64>(),
            st.time.as_secs_f64(),
            st.slowest.as_secs_f64() * 1e3,
            st.peak as f64 / f64::from(1 << 20),
            st.stopped.as_ref().map_or(String::new(), |s| format!("  ({s})")),
        );
        let mut common: Vec<(&String, &u64)> = st.rejections.iter().collect();
        common.sort_by_key(|(m, n)| (std::cmp::Reverse(**n), m.as_str()));
        for (m, n) in common.iter().take(25) {
            println!("    {n:>9}  {}", m.trim_start_matches("Unpositioned "));
        }
        for f in st.findings {
            failures.push(format!(
                "{} {:?} (seed {}, input {}, {} input(s) like it): {}\nreproducer: {}\n{}",
                t.name,
                f.kind,
                s.seed,
                f.iteration,
                f.count,
                f.message,
                f.file.display(),
                shown(&f.input)
            ));
        }
    }
    println!(
        "{:<15} {tried:>9} inputs in {:.0} s ({:.0} inputs/s), {} finding(s)",
        "total",
        time.as_secs_f64(),
        tried as f64 / time.as_secs_f64().max(1e-9),
        failures.len()
    );
    for f in &failures {
        println!("\n{f}");
    }
    drop(_quiet);
    assert!(failures.is_empty(), "{} finding(s); see above", failures.len());
}

/// The bounded campaign of every `cargo test`.
#[test]
fn every_input_format_survives_a_bounded_fuzz_campaign() {
    // Unoptimised code is slower: the deadline is wider than the long run's.
    fuzz(|t| t.bounded, Duration::from_millis(env("FUZZ_DEADLINE_MS").unwrap_or(10_000)));
}

/// The long campaign: `FUZZ_INPUTS` inputs per target (default 10^6).
#[test]
#[ignore = "the long campaign: FUZZ_INPUTS=100000 FUZZ_SECONDS=600 cargo test --test fuzz_inputs long -- --ignored --nocapture"]
fn long_fuzz_campaign() {
    let n = env("FUZZ_INPUTS").unwrap_or(1_000_000);
    fuzz(|_| n, Duration::from_millis(env("FUZZ_DEADLINE_MS").unwrap_or(2_000)));
}

#[test]
fn the_mutator_is_reproducible_and_reaches_every_kind_of_input() {
    // Not while a campaign measures memory.
    let _serial = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let corpus = mutate::Corpus::new(
        mutate::Shape::Toml,
        vec![
            ("a".into(), b"[run]\ncpus = 8\nname = \"x\"\n".to_vec()),
            ("b".into(), b"[machine]\nclock_mhz = 2100\n".to_vec()),
        ],
    );
    let draw = |seed| {
        let mut m = Mutator::new(seed, "t");
        (0..3000).map(|_| m.mutate(&corpus, &corpus.files[0].1)).collect::<Vec<_>>()
    };
    let a = draw(1);
    assert_eq!(a, draw(1), "one seed, one sequence");
    assert_ne!(a, draw(2));
    let count = |f: &dyn Fn(&[u8]) -> bool| a.iter().filter(|x| f(x)).count();
    assert!(count(&|x| std::str::from_utf8(x).is_err()) > 30, "bytes that are not UTF-8");
    assert!(
        count(&|x| x.windows(100).any(|w| w.iter().all(|&b| b == w[0]) && b"([{-~!+".contains(&w[0]))) > 10,
        "nesting bombs"
    );
    assert!(count(&|x| x.len() > 10_000) > 10, "long repeats");
    assert!(count(&|x| x.windows(20).any(|w| w == b"18446744073709551615")) > 5, "boundary numbers");
    assert!(count(&|x| x.windows(9).any(|w| w == b"clock_mhz")) > 100, "lines of the other corpus file");
    assert!(count(&|x| x.len() < corpus.files[0].1.len()) > 100, "deletions");
}
