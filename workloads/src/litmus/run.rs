//! Running a compiled litmus test: many randomly timed runs, or an
//! exhaustive exploration of every choice the memory model allows.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use cpu_model::machine::{Exhaustive, Machine, MachineConfig, State, run};
use memory_model::Mode;
use memory_model::graph::{AxiomViolation, ExecGraph, check};
use rand::RngExt;
use serde::{Deserialize, Serialize};
use sim::explore::{self, ExploreStats, Limits, explore_with_paths};
use sim::rng::RngStreams;
use sim::stats::{Distribution, Summary};
use sim::{Cycle, Engine};

use super::compile::{Compiled, Source};

/// Timing noise of random-mode runs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LitmusTiming {
    /// Each thread starts at a cycle drawn uniformly from `0..=start_skew`
    /// (litmus7 likewise staggers its threads).
    pub start_skew: Cycle,
    /// Extra cycles drawn uniformly from `0..=jitter` for each access.
    pub jitter: Cycle,
    /// Start each run with every location's cache line in a random state
    /// (in memory, owned by one core, or shared), so that some accesses hit
    /// and others miss, as in repeated runs on hardware.
    pub warm_caches: bool,
    /// Mean delay before patched code reaches the point of unification by
    /// eviction (short, so that runs see both stale and fresh code).
    pub code_writeback_cycles: Cycle,
    /// A run that has not finished after this many cycles is an error.
    pub max_cycles: Cycle,
}

impl Default for LitmusTiming {
    fn default() -> Self {
        LitmusTiming {
            start_skew: 400,
            jitter: 200,
            warm_caches: true,
            code_writeback_cycles: 400,
            max_cycles: 10_000_000,
        }
    }
}

/// How to run a test.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RunOptions {
    /// Machine parameters; `machine.mode` is the consistency mode.
    pub machine: MachineConfig,
    /// Explore every behaviour instead of sampling timed runs.
    pub exhaustive: bool,
    /// Random mode: number of runs.
    pub runs: u64,
    /// Random mode: master seed.
    pub seed: u64,
    /// Worker threads (0 = all cores); never changes a result.
    pub jobs: usize,
    /// Random-mode timing noise.
    pub timing: LitmusTiming,
    /// Exhaustive mode: a path on which a thread fetches more instructions
    /// than this is cut off (loops), and the cut is reported.
    pub max_fetch: u64,
    /// Exhaustive mode: give up after this many states.
    pub max_states: u64,
    /// Exhaustive mode: unresolved conditional branches a core may
    /// speculate past (each doubles the paths explored).
    pub speculation: usize,
    /// Check recorded execution graphs against the mode's axioms: in random
    /// mode the first run of each distinct outcome (replayed), in exhaustive
    /// mode up to `graphs_per_outcome` final states of each outcome.
    pub check_axioms: bool,
    /// Exhaustive mode: final states checked per distinct outcome (loops
    /// give many final states per outcome, each with a large graph).
    pub graphs_per_outcome: u64,
    /// Check only graphs whose relations hold at most this many pairs
    /// ([`ExecGraph::relation_pairs`]): the check's memory grows with them
    /// (about 70 bytes each), quadratically with a thread's accesses. Larger
    /// graphs are counted as skipped.
    pub max_graph_pairs: u64,
    /// Exhaustive mode: explore with partial-order reduction
    /// ([`sim::explore::explore_reduced`]): the same states and outcomes, fewer transitions
    /// taken; `transitions` then counts enabled keys, and the final states are met in
    /// another order (so other ones are checked against the axioms when an outcome has
    /// more than `graphs_per_outcome`).
    pub reduce: bool,
    /// The model an x86 test runs under when `machine.mode` is `arm` because no model was
    /// chosen (herd7 too picks the model by the test's architecture); `None`: such a test is
    /// refused, as `arm` has no x86 meaning.
    pub x86_model: Option<Mode>,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            machine: MachineConfig::default(),
            exhaustive: false,
            runs: 100_000,
            seed: 1,
            jobs: 0,
            timing: LitmusTiming::default(),
            max_fetch: 1_000,
            max_states: 5_000_000,
            speculation: 2,
            check_axioms: true,
            graphs_per_outcome: 16,
            reduce: false,
            x86_model: None,
            // About 300 MB: a thread of 2,000 accesses.
            max_graph_pairs: 4_000_000,
        }
    }
}

/// A final state that broke its mode's axioms: a simulator bug.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Bug {
    /// Observed values of the offending final state.
    pub state: Vec<u64>,
    /// The violated axiom and its cycle.
    pub violation: AxiomViolation,
    /// The execution graph.
    pub graph: ExecGraph,
}

/// What a test run produced.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TestRun {
    /// Consistency mode.
    pub mode: Mode,
    /// Exhaustive or random.
    pub exhaustive: bool,
    /// Distinct final states (observed values) with their counts: runs in
    /// random mode, distinct final machine states in exhaustive mode.
    pub states: Vec<(Vec<u64>, u64)>,
    /// Exhaustive mode: exploration counters.
    pub explored: Option<ExploreSummary>,
    /// Random mode: runs made.
    pub runs: Option<u64>,
    /// Random mode: simulated cycles from the first thread's start to the
    /// last access of each run.
    pub run_cycles: Option<Summary>,
    /// Execution graphs checked against the axioms.
    pub graphs_checked: u64,
    /// Execution graphs not checked: more relation pairs than `graph_bound`.
    pub graphs_skipped: u64,
    /// [`RunOptions::max_graph_pairs`] of the run.
    pub graph_bound: u64,
    /// The first axiom violation found (a simulator bug), if any.
    pub bug: Option<Bug>,
    /// Wall-clock seconds (a measurement, not a result).
    #[serde(with = "sim::float")]
    pub seconds: f64,
}

/// Exploration counters for the report.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExploreSummary {
    /// Distinct states.
    pub states: u64,
    /// Transitions.
    pub transitions: u64,
    /// The per-thread fetch bound.
    pub max_fetch: u64,
    /// The state bound.
    pub max_states: u64,
    /// Whether a bound cut part of the state space.
    pub bound_hit: bool,
    /// Whether the fetch bound did (a path ran more instructions than `max_fetch`).
    pub fetch_bound_hit: bool,
    /// Whether the state bound did (the states reached, expanded or waiting, filled it).
    pub state_bound_hit: bool,
    /// Reachable states where no thread could move but some had not finished.
    pub deadlocks: u64,
    /// Successor edges computed ([`ExploreStats::transitions_taken`]; fewer than
    /// `transitions` with [`RunOptions::reduce`]).
    #[serde(default)]
    pub transitions_taken: u64,
}

impl ExploreSummary {
    fn new(s: &ExploreStats, opts: &RunOptions) -> Self {
        ExploreSummary {
            states: s.states,
            transitions: s.transitions,
            max_fetch: opts.max_fetch,
            max_states: opts.max_states,
            bound_hit: s.bound_hit(),
            fetch_bound_hit: s.model_bound_hits > 0,
            state_bound_hit: s.state_limit_hit,
            deadlocks: s.deadlocks,
            transitions_taken: s.transitions_taken,
        }
    }
}

/// A timed run that did not complete.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("run {run}: {error}")]
pub struct RunFailure {
    /// Index of the failing run.
    pub run: u64,
    /// What happened.
    pub error: cpu_model::machine::RunError,
}

fn observe(c: &Compiled, s: &State, out: &mut Vec<u64>) {
    out.clear();
    out.extend(c.observed.iter().map(|o| match o.source {
        Source::Reg(t, r) => s.cores[t].reg(r),
        Source::Mem(a) => s.mem.read(a).value,
    }));
}

/// What checking one graph gave.
enum Checked {
    Ok,
    /// Too large to check within `max_graph_pairs`.
    Skipped,
    Bug(AxiomViolation),
}

/// Checks `g` against the mode's axioms if it is small enough to check.
fn check_bounded(g: &ExecGraph, opts: &RunOptions) -> Checked {
    if g.relation_pairs() > opts.max_graph_pairs {
        return Checked::Skipped;
    }
    match check(g, opts.machine.mode) {
        Ok(()) => Checked::Ok,
        Err(v) => Checked::Bug(v),
    }
}

/// Runs `c` as `opts` says.
pub fn run_test(c: &Compiled, opts: &RunOptions) -> Result<TestRun, RunFailure> {
    let t0 = Instant::now();
    let mut r = if opts.exhaustive { run_exhaustive(c, opts) } else { run_random(c, opts)? };
    r.seconds = t0.elapsed().as_secs_f64();
    Ok(r)
}

fn run_exhaustive(c: &Compiled, opts: &RunOptions) -> TestRun {
    let sys = Exhaustive {
        code: &c.code,
        cfg: &opts.machine,
        max_fetch: opts.max_fetch,
        record: false,
        speculation: opts.speculation,
        ghosts: Default::default(),
        holds: &[],
        tlb: false,
        tlb_prefill: &[],
    };
    let mut counts: BTreeMap<Vec<u64>, u64> = BTreeMap::new();
    let mut vals = vec![];
    // Exploration does not record (histories would make every state copy
    // grow); the final states to check are replayed with recording on.
    let mut to_check: Vec<(Vec<u64>, Vec<cpu_model::machine::Step>)> = vec![];
    let init = sys.initial(&c.threads, &c.mem);
    let limits = Limits { max_states: opts.max_states };
    let on_final = |s: &State, path: &explore::Path<cpu_model::machine::Step>| {
        observe(c, s, &mut vals);
        if c.filt.as_ref().is_some_and(|f| !f.eval(&vals)) {
            return;
        }
        let seen = counts.entry(vals.clone()).or_insert(0);
        *seen += 1;
        if opts.check_axioms && *seen <= opts.graphs_per_outcome {
            to_check.push((vals.clone(), path.labels()));
        }
    };
    let stats = if opts.reduce {
        explore::explore_reduced(&sys, init.clone(), &limits, on_final)
    } else {
        explore_with_paths(&sys, init.clone(), &limits, on_final)
    };
    let recorder = Exhaustive { record: true, ..sys };
    let (mut graphs_checked, mut graphs_skipped) = (0, 0);
    let mut bug = None;
    for (vals, path) in to_check {
        let s =
            explore::replay(&recorder, recorder.initial(&c.threads, &c.mem), &path).expect("a recorded path replays");
        let mut again = vec![];
        observe(c, &s, &mut again);
        assert_eq!(again, vals, "replaying a path with recording on must reach the same final state");
        let g = s.exec_graph(&c.mem);
        match check_bounded(&g, opts) {
            Checked::Ok => graphs_checked += 1,
            Checked::Skipped => graphs_skipped += 1,
            Checked::Bug(v) => {
                graphs_checked += 1;
                bug = Some(Bug { state: vals, violation: v, graph: g });
                break;
            }
        }
    }
    TestRun {
        mode: opts.machine.mode,
        exhaustive: true,
        states: counts.into_iter().collect(),
        explored: Some(ExploreSummary::new(&stats, opts)),
        runs: None,
        run_cycles: None,
        graphs_checked,
        graphs_skipped,
        graph_bound: opts.max_graph_pairs,
        bug,
        seconds: 0.0,
    }
}

/// Runs per independently seeded chunk (the unit of parallel work; fixed so
/// that the split never depends on `--jobs`).
const CHUNK: u64 = 4096;

/// Where to find a run again: its chunk, its index in the chunk, and the
/// positions of the chunk's random streams before it started.
#[derive(Clone, Debug)]
struct Replay {
    chunk: u64,
    start_pos: u128,
    jitter_pos: Vec<u128>,
}

struct ChunkResult {
    counts: Vec<(Vec<u64>, u64)>,
    first: Vec<(Vec<u64>, Replay)>,
    cycles: Distribution,
}

/// The chunks' results merged so far, in chunk order.
struct Totals {
    counts: BTreeMap<Vec<u64>, u64>,
    first: BTreeMap<Vec<u64>, Replay>,
    cycles: Distribution,
}

impl Totals {
    fn add(&mut self, r: ChunkResult) {
        self.cycles.merge(&r.cycles);
        for (v, k) in r.counts {
            *self.counts.entry(v).or_insert(0) += k;
        }
        for (v, rp) in r.first {
            self.first.entry(v).or_insert(rp);
        }
    }
}

fn chunk_streams(c: &Compiled, opts: &RunOptions, chunk: u64) -> RngStreams {
    RngStreams::new(opts.seed).child(&c.name).indexed(chunk)
}

fn new_engine(c: &Compiled, opts: &RunOptions, streams: &RngStreams) -> Engine<Machine> {
    let mut cfg = MachineConfig { jitter: opts.timing.jitter, ..opts.machine.clone() };
    cfg.icache.writeback_cycles = opts.timing.code_writeback_cycles;
    let cfg = Arc::new(cfg);
    let mut m = Machine::new(cfg, c.code.clone(), &c.threads, c.mem.clone());
    m.seed(streams);
    Engine::new(m)
}

fn run_chunk(c: &Compiled, opts: &RunOptions, chunk: u64) -> Result<ChunkResult, RunFailure> {
    let n = CHUNK.min(opts.runs - chunk * CHUNK);
    let streams = chunk_streams(c, opts, chunk);
    let mut engine = new_engine(c, opts, &streams);
    let mut start_rng = streams.stream("start");
    let mut starts = vec![0; c.threads.len()];
    let mut vals = vec![];
    let mut jitter_pos = vec![];
    let mut out = ChunkResult { counts: vec![], first: vec![], cycles: Distribution::new() };
    for i in 0..n {
        let start_pos = start_rng.get_word_pos();
        jitter_pos.clear();
        jitter_pos.extend(engine.model_mut().jitter_rngs().iter().map(|r| r.as_ref().map_or(0, |r| r.get_word_pos())));
        prepare(c, opts, &mut engine, &mut start_rng, &mut starts);
        let end = run(&mut engine, &starts, opts.timing.max_cycles)
            .map_err(|error| RunFailure { run: chunk * CHUNK + i, error })?;
        out.cycles.record(end - starts.iter().min().copied().unwrap_or(0));
        observe(c, engine.model().state(), &mut vals);
        if c.filt.as_ref().is_some_and(|f| !f.eval(&vals)) {
            continue;
        }
        match out.counts.iter_mut().find(|(v, _)| *v == vals) {
            Some((_, k)) => *k += 1,
            None => {
                out.counts.push((vals.clone(), 1));
                out.first.push((vals.clone(), Replay { chunk, start_pos, jitter_pos: jitter_pos.clone() }));
            }
        }
    }
    Ok(out)
}

/// Sets up one run: fresh machine state, start cycles and (optionally) the
/// initial cache state of each location, all drawn from `rng`.
fn prepare(
    c: &Compiled,
    opts: &RunOptions,
    engine: &mut Engine<Machine>,
    rng: &mut sim::rng::SimRng,
    starts: &mut [Cycle],
) {
    for s in starts.iter_mut() {
        *s = rng.random_range(0..=opts.timing.start_skew);
    }
    let m = engine.model_mut();
    m.reset(&c.threads, &c.mem);
    if opts.timing.warm_caches {
        let n = c.threads.len() as u64;
        for (addr, _) in c.mem.cells() {
            // Nobody, an owner, or a sharer — each core equally likely.
            let pick = rng.random_range(0..=2 * n);
            let core = (pick.saturating_sub(1) % n.max(1)) as u16;
            match pick {
                0 => m.coherence_mut().place(*addr, None, &[]),
                p if p <= n => m.coherence_mut().place(*addr, Some(core), &[]),
                _ => m.coherence_mut().place(*addr, None, &[core]),
            }
        }
        // Each core may or may not start with each patchable instruction cached.
        for slot in 0..m.state().iside.len() {
            for core in 0..n as u16 {
                let cached = rng.random_range(0..2u8) == 1;
                m.iside_mut().set_cached(core, slot, cached);
            }
        }
    }
    engine.scheduler().reset();
}

/// Re-runs a recorded run with graph recording on and returns its graph.
fn replay(c: &Compiled, opts: &RunOptions, rp: &Replay) -> Result<ExecGraph, RunFailure> {
    let streams = chunk_streams(c, opts, rp.chunk);
    let mut engine = new_engine(c, opts, &streams);
    for (r, pos) in engine.model_mut().jitter_rngs().iter_mut().zip(&rp.jitter_pos) {
        if let Some(r) = r {
            r.set_word_pos(*pos);
        }
    }
    let mut start_rng = streams.stream("start");
    start_rng.set_word_pos(rp.start_pos);
    let mut starts = vec![0; c.threads.len()];
    engine.model_mut().set_record(true);
    prepare(c, opts, &mut engine, &mut start_rng, &mut starts);
    run(&mut engine, &starts, opts.timing.max_cycles).map_err(|error| RunFailure { run: rp.chunk * CHUNK, error })?;
    Ok(engine.model().exec_graph())
}

fn run_random(c: &Compiled, opts: &RunOptions) -> Result<TestRun, RunFailure> {
    let chunks = opts.runs.div_ceil(CHUNK);
    // Chunks are merged as they finish, in index order: memory does not grow with --runs.
    let totals = Totals { counts: BTreeMap::new(), first: BTreeMap::new(), cycles: Distribution::new() };
    let Totals { counts, first, cycles } = sim::par::fold_indexed(
        chunks,
        opts.jobs,
        totals,
        |k| run_chunk(c, opts, k),
        |t, r| {
            t.add(r?);
            Ok(())
        },
    )?;
    let (mut graphs_checked, mut graphs_skipped) = (0, 0);
    let mut bug = None;
    if opts.check_axioms {
        for (vals, rp) in &first {
            let g = replay(c, opts, rp)?;
            match check_bounded(&g, opts) {
                Checked::Ok => graphs_checked += 1,
                Checked::Skipped => graphs_skipped += 1,
                Checked::Bug(v) => {
                    graphs_checked += 1;
                    bug = Some(Bug { state: vals.clone(), violation: v, graph: g });
                    break;
                }
            }
        }
    }
    Ok(TestRun {
        mode: opts.machine.mode,
        exhaustive: false,
        states: counts.into_iter().collect(),
        explored: None,
        runs: Some(opts.runs),
        run_cycles: Some(cycles.summary()),
        graphs_checked,
        graphs_skipped,
        graph_bound: opts.max_graph_pairs,
        bug,
        seconds: 0.0,
    })
}
