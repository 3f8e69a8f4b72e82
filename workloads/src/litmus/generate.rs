//! Random small AArch64 litmus tests in herd7's dialect, for differential
//! testing against herd7 and for the models' nesting property.
//!
//! Program `index` of seed `seed` is drawn from its own ChaCha stream
//! ([`sim::rng::RngStreams::indexed`]), so it is the same whatever else is
//! generated, in whatever order or on however many threads.
//!
//! A program has 2–4 threads over 1–3 locations (`x`, `y`, `z`, whose
//! addresses the init block puts in X0–X2), each thread a few operations:
//!
//! * LDR/LDAR, STR/STLR, and the atomics SWP, CAS, LDADD, LDCLR, LDSET, LDEOR (plain,
//!   `A`, `L`, `AL`) and STADD, STCLR, STSET, STEOR (plain, `L`), an ARMv8 SWP or CAS
//!   sometimes a load-exclusive and store-exclusive pair instead,
//!   at most one RMW per location and two per program, and few enough
//!   accesses per location for herd7 to answer quickly (see `BUDGET`);
//! * before an operation, maybe a barrier (DMB and DSB with every option:
//!   SY, ISH, NSH × full, LD, ST; ISB), a control dependency on an earlier
//!   read (`CBNZ` to the next instruction, with or without `ISB`), or a
//!   conditional branch (`CBZ`, `CBNZ`, `CMP` + `B.cond`) that skips it;
//! * address dependencies (`EOR` of a read with itself added to the address)
//!   and data dependencies (added to the value stored);
//! * in ARMv8 programs, some plain loads and stores pre- or post-indexed by 0
//!   (`LDR W3,[X0],#0`, `STR W10,[X1,#0]!`): the base is rewritten, so the thread's later
//!   accesses to the location go through the update, which must depend on the base alone.
//!
//! Stores write values that are distinct per location, so a final state says
//! which write each read read and in what order each location was written.
//! Reads land in X3–X9, X10/X11 are scratch, the instruction-fetch registers
//! come after.
//!
//! Instruction-fetch programs (a share of [`Target::Arm`]'s) add a patchable
//! site in some thread, the catalogue's idiom `Lsite: B Lend; MOV W12,#1;
//! Lend:` (the register says which copy ran: 0 the original branch, 1 the NOP
//! stored over it), a store of `NOP` to the site's label from some thread,
//! usually followed by (part of) the cache maintenance sequence `DC CVAU`,
//! `DSB`, `IC IVAU` or `IC IALLU[IS]`, `DSB`, `ISB`, and maintenance, barriers
//! and message passing around them.
//!
//! `locations` lists every read register, every site register and every
//! location, so both tools print complete final states; the `exists` clause
//! asks for one outcome worth asking about: each named read takes a value
//! another thread writes (or the initial 0), as in the classic shapes.

use std::collections::BTreeMap;

use rand::RngExt;
use sim::rng::{RngStreams, SimRng};

use super::ast::{
    Arch, AsmLine, AsmThread, Atom, Condition, InitItem, LitmusTest, Loc, Pos, Prop, Quantifier, Threads, Value,
};
use super::print;

/// Which tool the programs are for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// Everything above, instruction fetch included.
    Arm,
    /// Only what has a faithful x86 counterpart (see `x86`): no instruction
    /// fetch, atomics that herd7's x86 has (XCHG, LOCK CMPXCHG, LOCK ADD/AND/OR:
    /// SWP, CAS, STADD and STEOR; herd7 has no XADD for the LD forms).
    X86,
}

/// What was generated.
#[derive(Clone, Debug)]
pub struct Generated {
    /// The test.
    pub test: LitmusTest,
    /// Its text (herd7's AArch64 dialect).
    pub text: String,
    /// It fetches patched code (run herd7 with `-variant ifetch`).
    pub fetch: bool,
    /// Some thread has an `STLR` before an `LDAR` (RCsc on ARMv8, not under
    /// x86's plain moves: the one place TSO allows what ARMv8 does not).
    pub release_then_acquire: bool,
}

/// Every barrier the generator draws from.
pub const BARRIERS: [&str; 19] = [
    "DMB SY",
    "DMB LD",
    "DMB ST",
    "DMB ISH",
    "DMB ISHLD",
    "DMB ISHST",
    "DMB NSH",
    "DMB NSHLD",
    "DMB NSHST",
    "DSB SY",
    "DSB LD",
    "DSB ST",
    "DSB ISH",
    "DSB ISHLD",
    "DSB ISHST",
    "DSB NSH",
    "DSB NSHLD",
    "DSB NSHST",
    "ISB",
];

const LOCS: [&str; 3] = ["x", "y", "z"];
const FIRST_READ: u8 = 3;
const LAST_READ: u8 = 9;
const SCRATCH: [u8; 2] = [10, 11];
/// Site registers (`MOV W12,#1` at site 0, W13 at site 1).
const SITE_FLAG: u8 = 12;
/// The register holding `NOP` in a patching thread.
const NOP_REG: u8 = 14;
/// The register holding site `s`'s address: X15 + s.
const SITE_ADDR: u8 = 15;

/// The generator's version for `target`: it changes whenever a seed's programs for that target
/// change, so that a campaign's log (`isolsim difftest --log`) records which programs it ran and
/// `--resume` does not mix two generators' programs. A log from before versions were recorded
/// reads as version 0.
/// * ARMv8, 1: pick dependencies, exclusive pairs, byte and halfword locations (2026-12-07).
/// * ARMv8, 2: pre- and post-indexed loads and stores (2026-12-07).
/// * x86, 0: its programs have not changed since the first logs.
pub fn version(target: Target) -> u32 {
    match target {
        Target::Arm => 2,
        Target::X86 => 0,
    }
}

/// Generates program `index` of `seed` for `target`.
pub fn program(seed: u64, index: u64, target: Target) -> Generated {
    let streams = RngStreams::new(seed).indexed(index);
    let mut rng = streams.stream("litmus.gen");
    let fetch = target == Target::Arm && rng.random_bool(0.2);
    let nthreads = if fetch { pick(&mut rng, &[(2, 7), (3, 3)]) } else { pick(&mut rng, &[(2, 9), (3, 7), (4, 4)]) };
    let nlocs = pick(&mut rng, &[(1, 2), (2, 5), (3, 3)]);
    let mut g = Gen {
        rng,
        // (A stream of its own: a program is the one it was before pick dependencies were drawn,
        // some of its dependencies going through a select instead.)
        picks: streams.stream("litmus.gen.pick"),
        // (Likewise: a program is the one it was before exclusive pairs were drawn, some of its
        // atomics a pair instead.)
        exclusives: streams.stream("litmus.gen.exclusive"),
        // (Likewise: a program is the one it was before writeback was drawn.)
        writebacks: streams.stream("litmus.gen.writeback"),
        // (Likewise: a program is the one it was before locations had sizes, some of its
        // accesses the byte or halfword forms instead.)
        sizes: {
            let mut sizes = streams.stream("litmus.gen.size");
            std::array::from_fn(|_| match target {
                Target::Arm => pick(&mut sizes, &[("", 6), ("B", 2), ("H", 2)]),
                // (x86 tests have no byte or halfword forms here.)
                Target::X86 => "",
            })
        },
        target,
        nlocs,
        threads: vec![],
        written: BTreeMap::new(),
        next_value: [0; 3],
        fetchers: vec![],
        writes: [0; 3],
        reads: [0; 3],
        rmws: [0; 3],
        site_candidates: 1,
    };
    for tid in 0..nthreads {
        g.threads.push(Thread::new(tid));
    }
    // Instruction-fetch programs: where the sites are and who patches them.
    let mut plan: Vec<Vec<Step>> = vec![vec![]; nthreads];
    let sites = if fetch { pick(&mut g.rng, &[(1, 4), (2, 1)]) } else { 0 };
    for s in 0..sites {
        let fetcher = g.rng.random_range(0..nthreads);
        let writer = g.rng.random_range(0..nthreads);
        // A writer that is not the fetcher often tells it, by a flag, that the code is new.
        let message = writer != fetcher && g.rng.random_bool(0.5);
        g.fetchers.push(fetcher);
        g.site_candidates *= 2;
        plan[writer].push(Step::Patch { site: s, fetcher, message });
        if message {
            // The flag's write and read are counted now, so that the accesses drawn later stay
            // within the budget with them.
            g.writes[0] += 1;
            g.reads[0] += 1;
            plan[fetcher].push(Step::AwaitFlag);
        }
        plan[fetcher].push(Step::Site(s));
    }
    let max_ops: usize = match nthreads {
        2 => 4,
        3 => 3,
        _ => 2,
    };
    for steps in &mut plan {
        let n = g.rng.random_range(1..=max_ops).saturating_sub(steps.len() / 2).max(1);
        for _ in 0..n {
            let at = g.rng.random_range(0..=steps.len());
            let step = if fetch && g.rng.random_bool(0.25) { Step::Maintenance } else { Step::Access };
            steps.insert(at, step);
        }
        // A thread that waits for a flag does so before its site.
        if let Some(i) = steps.iter().position(|s| matches!(s, Step::AwaitFlag)) {
            let site = steps.iter().position(|s| matches!(s, Step::Site(_))).expect("a flag precedes a site");
            if i > site {
                let f = steps.remove(i);
                steps.insert(site, f);
            }
        }
    }
    for (tid, steps) in plan.into_iter().enumerate() {
        for step in steps {
            g.step(tid, step, sites);
        }
    }
    g.finish(index, fetch)
}

/// What a thread does, in order; accesses and maintenance are drawn when emitted.
#[derive(Clone, Copy, Debug)]
enum Step {
    Access,
    Maintenance,
    Patch { site: usize, fetcher: usize, message: bool },
    AwaitFlag,
    Site(usize),
}

/// The address operand of a plain access through `X{x}` without an offset: for ARMv8, one time
/// in four, pre- or post-indexed by 0 (the base rewritten with its own value).
fn written_back(rng: &mut SimRng, target: Target, x: u8) -> String {
    match target {
        Target::Arm if rng.random_bool(0.25) => {
            if rng.random_bool(0.5) {
                format!("[X{x},#0]!")
            } else {
                format!("[X{x}],#0")
            }
        }
        _ => format!("[X{x}]"),
    }
}

fn pick<T: Copy>(rng: &mut SimRng, weighted: &[(T, u32)]) -> T {
    let total: u32 = weighted.iter().map(|(_, w)| w).sum();
    let mut r = rng.random_range(0..total);
    for &(v, w) in weighted {
        if r < w {
            return v;
        }
        r -= w;
    }
    unreachable!("r < total")
}

struct Thread {
    tid: usize,
    lines: Vec<AsmLine>,
    init: BTreeMap<u8, Value>,
    /// Read registers with the location each read.
    reads: Vec<(u8, usize)>,
    sites: Vec<u8>,
    labels: u32,
    released: bool,
    release_then_acquire: bool,
}

impl Thread {
    fn new(tid: usize) -> Self {
        Thread {
            tid,
            lines: vec![],
            init: BTreeMap::new(),
            reads: vec![],
            sites: vec![],
            labels: 0,
            released: false,
            release_then_acquire: false,
        }
    }

    fn inst(&mut self, text: String) {
        self.lines.push(AsmLine { labels: vec![], inst: Some((text, Pos::default())) });
    }

    fn label(&mut self, name: &str) {
        self.lines.push(AsmLine { labels: vec![(name.to_string(), Pos::default())], inst: None });
    }

    fn fresh_label(&mut self) -> String {
        self.labels += 1;
        format!("L{}c{}", self.tid, self.labels)
    }

    /// The register holding location `loc`'s address (X0–X2).
    fn loc_reg(&mut self, loc: usize) -> u8 {
        self.init.insert(loc as u8, Value::Loc(LOCS[loc].to_string()));
        loc as u8
    }

    fn read_reg(&mut self, loc: usize) -> Option<u8> {
        let r = FIRST_READ + self.reads.len() as u8;
        (r <= LAST_READ).then(|| {
            self.reads.push((r, loc));
            r
        })
    }
}

struct Gen {
    rng: SimRng,
    /// Which dependencies go through a conditional select ([`Gen::pick`]).
    picks: SimRng,
    /// Which atomics are a load-exclusive and store-exclusive pair instead ([`Gen::rmw`]).
    exclusives: SimRng,
    /// Whether a plain load or store without an offset is pre- or post-indexed (by 0).
    writebacks: SimRng,
    /// Each location's access size, as the mnemonics' suffix: `""` (a W register's 32 bits),
    /// `"B"` or `"H"`. Every access to a location has its size, so no test is mixed-size.
    sizes: [&'static str; 3],
    target: Target,
    nlocs: usize,
    threads: Vec<Thread>,
    /// Location -> (thread, value) of every write, for the `exists` clause.
    written: BTreeMap<usize, Vec<(usize, u64)>>,
    next_value: [u64; 3],
    /// The thread holding each site.
    fetchers: Vec<usize>,
    /// Writes (stores and RMWs) to each location so far.
    writes: [u32; 3],
    /// Reads (loads and RMWs) of each location so far.
    reads: [u32; 3],
    /// RMWs to each location so far.
    rmws: [u32; 3],
    /// herd7's candidates for the patched sites: each is a location of its own under the
    /// `ifetch` variant, written once and fetched once, `(1 + 1)^1 * 1!` each.
    site_candidates: u64,
}

/// herd7 enumerates every coherence order and every read's source: about
/// the product over locations of `(writes + 1)^reads * writes!` candidates,
/// each costing it about a millisecond under `aarch64.cat` (4 writes and 2
/// reads of one location, 600 candidates, take it 10 s with RMWs among them).
/// Accesses that would take a program past this are moved or left out.
const BUDGET: u64 = 96;
/// At most this many RMWs to one location, and in all: an RMW's value is
/// symbolic until herd7 picks what it read, which multiplies its candidates.
const MAX_RMWS: u32 = 1;
const MAX_RMWS_ALL: u32 = 2;

impl Gen {
    fn chance(&mut self, p: f64) -> bool {
        self.rng.random_bool(p)
    }

    /// For ARMv8 programs, now and then: a dependency through a conditional select's condition
    /// (`CMP r,#k` then a select on `cond`), a *pick* dependency in `aarch64.cat`, instead of a
    /// plain one. (x86 has no such instruction to translate it to.)
    fn pick(&mut self) -> Option<(u64, &'static str)> {
        if self.target != Target::Arm || !self.picks.random_bool(0.3) {
            return None;
        }
        let k = self.picks.random_range(0..3);
        Some((k, ["EQ", "NE", "GE", "LT"][self.picks.random_range(0..4)]))
    }

    /// herd7's candidates (see [`BUDGET`]) with `r` more reads and `w` more writes of `loc`.
    fn cost_with(&self, loc: usize, r: u32, w: u32) -> u64 {
        (0..3)
            .map(|l| {
                let (r, w) =
                    if l == loc { (self.reads[l] + r, self.writes[l] + w) } else { (self.reads[l], self.writes[l]) };
                (u64::from(w) + 1).pow(r) * (1..=u64::from(w)).product::<u64>()
            })
            .product::<u64>()
            * self.site_candidates
    }

    fn new_value(&mut self, tid: usize, loc: usize) -> u64 {
        self.next_value[loc] += 1;
        let v = self.next_value[loc];
        self.written.entry(loc).or_default().push((tid, v));
        v
    }

    fn step(&mut self, tid: usize, step: Step, sites: usize) {
        match step {
            Step::Access => self.access(tid),
            Step::Maintenance => self.maintenance(tid, sites),
            Step::Patch { site, fetcher, message } => self.patch(tid, site, fetcher, message),
            Step::AwaitFlag => {
                let size = self.sizes[0];
                let t = &mut self.threads[tid];
                let x = t.loc_reg(0);
                let Some(r) = t.read_reg(0) else { return };
                t.inst(format!("LDR{size} W{r},[X{x}]"));
                // The reader's side: nothing, a control dependency and ISB, or barriers and ISB.
                match self.rng.random_range(0..4) {
                    0 => {}
                    1 => {
                        let l = self.threads[tid].fresh_label();
                        let t = &mut self.threads[tid];
                        t.inst(format!("CBNZ W{r},{l}"));
                        t.label(&l);
                        t.inst("ISB".into());
                    }
                    2 => self.threads[tid].inst("ISB".into()),
                    _ => {
                        let b = BARRIERS[self.rng.random_range(0..BARRIERS.len() - 1)];
                        let t = &mut self.threads[tid];
                        t.inst(b.to_string());
                        t.inst("ISB".into());
                    }
                }
            }
            Step::Site(s) => {
                let t = &mut self.threads[tid];
                let r = SITE_FLAG + t.sites.len() as u8;
                t.sites.push(r);
                t.lines.push(AsmLine {
                    labels: vec![(format!("Lsite{s}"), Pos::default())],
                    inst: Some((format!("B Lend{s}"), Pos::default())),
                });
                t.inst(format!("MOV W{r},#1"));
                t.label(&format!("Lend{s}"));
            }
        }
    }

    /// The register holding site `s`'s address, set in the init block.
    fn site_reg(&mut self, tid: usize, site: usize, fetcher: usize) -> u8 {
        let r = SITE_ADDR + site as u8;
        self.threads[tid].init.insert(r, Value::Label { tid: fetcher, label: format!("Lsite{site}") });
        r
    }

    fn patch(&mut self, tid: usize, site: usize, fetcher: usize, message: bool) {
        let a = self.site_reg(tid, site, fetcher);
        let t = &mut self.threads[tid];
        t.init.insert(NOP_REG, Value::Instr("NOP".into()));
        t.inst(format!("STR W{NOP_REG},[X{a}]"));
        if self.chance(0.7) {
            // The cache maintenance sequence, each step kept with probability 3/4.
            let dsb = |g: &mut Gen| if g.chance(0.8) { "DSB ISH" } else { BARRIERS[g.rng.random_range(0..18)] };
            let mut seq = vec![];
            if self.chance(0.75) {
                seq.push(format!("DC CVAU,X{a}"));
            }
            if self.chance(0.75) {
                seq.push(dsb(self).to_string());
            }
            if self.chance(0.75) {
                seq.push(match self.rng.random_range(0..4) {
                    0 => "IC IALLU".to_string(),
                    1 => "IC IALLUIS".to_string(),
                    _ => format!("IC IVAU,X{a}"),
                });
            }
            if self.chance(0.75) {
                seq.push(dsb(self).to_string());
            }
            if self.chance(0.5) {
                seq.push("ISB".into());
            }
            for i in seq {
                self.threads[tid].inst(i);
            }
        }
        if message {
            if self.chance(0.6) {
                let b = BARRIERS[self.rng.random_range(0..BARRIERS.len())];
                self.threads[tid].inst(b.to_string());
            }
            let v = self.new_value(tid, 0);
            let size = self.sizes[0];
            let t = &mut self.threads[tid];
            let x = t.loc_reg(0);
            t.inst(format!("MOV W{},#{v}", SCRATCH[0]));
            t.inst(format!("STR{size} W{},[X{x}]", SCRATCH[0]));
        }
    }

    fn maintenance(&mut self, tid: usize, sites: usize) {
        let site = self.rng.random_range(0..sites.max(1));
        let fetcher = self.fetchers.get(site).copied();
        let op = self.rng.random_range(0..6);
        let text = match (op, fetcher) {
            (0, Some(f)) => format!("DC CVAU,X{}", self.site_reg(tid, site, f)),
            (1, Some(f)) => format!("IC IVAU,X{}", self.site_reg(tid, site, f)),
            (2, _) => "IC IALLU".to_string(),
            (3, _) => {
                let loc = self.rng.random_range(0..self.nlocs);
                format!("DC CVAU,X{}", self.threads[tid].loc_reg(loc))
            }
            (4, _) => "ISB".to_string(),
            _ => BARRIERS[self.rng.random_range(9..18)].to_string(),
        };
        self.threads[tid].inst(text);
    }

    fn access(&mut self, tid: usize) {
        let has_reads = !self.threads[tid].reads.is_empty();
        let src = |g: &mut Gen| -> Option<u8> {
            let reads = &g.threads[tid].reads;
            (!reads.is_empty()).then(|| reads[g.rng.random_range(0..reads.len())].0)
        };
        // What comes before: a barrier, a control dependency (with ISB), or nothing.
        match self.rng.random_range(0..20) {
            0..=5 => {
                let b = BARRIERS[self.rng.random_range(0..BARRIERS.len())];
                self.threads[tid].inst(b.to_string());
            }
            6 | 7 if has_reads => {
                let s = src(self).expect("reads");
                let l = self.threads[tid].fresh_label();
                let isb = self.chance(0.5);
                let pick = self.pick();
                let t = &mut self.threads[tid];
                // (Through a CSET, a pick dependency: it orders later writes, not reads.)
                let s = match pick {
                    Some((k, cond)) => {
                        let [_, s1] = SCRATCH;
                        t.inst(format!("CMP W{s},#{k}"));
                        t.inst(format!("CSET W{s1},{cond}"));
                        s1
                    }
                    None => s,
                };
                t.inst(format!("CBNZ W{s},{l}"));
                t.label(&l);
                if isb {
                    t.inst("ISB".into());
                }
            }
            _ => {}
        }
        // A conditional branch over the access.
        let skip = if has_reads && self.chance(0.12) {
            let s = src(self).expect("reads");
            let l = self.threads[tid].fresh_label();
            let text = match self.rng.random_range(0..3) {
                0 => format!("CBZ W{s},{l}"),
                1 => format!("CBNZ W{s},{l}"),
                _ => {
                    // herd7's x86 has faithful EQ/NE only (see `x86`).
                    let conds: &[&str] =
                        if self.target == Target::X86 { &["EQ", "NE"] } else { &["EQ", "NE", "GE", "LT", "GT", "LE"] };
                    let cond = conds[self.rng.random_range(0..conds.len())];
                    let v = self.rng.random_range(0..3);
                    self.threads[tid].inst(format!("CMP W{s},#{v}"));
                    format!("B.{cond} {l}")
                }
            };
            self.threads[tid].inst(text);
            Some(l)
        } else {
            None
        };
        let mut loc = self.rng.random_range(0..self.nlocs);
        let addr_dep = if self.chance(0.2) { src(self) } else { None };
        let data_dep = if self.chance(0.2) { src(self) } else { None };
        // Either may go through a conditional select's condition instead (a pick dependency).
        let addr_pick = if addr_dep.is_some() { self.pick() } else { None };
        let data_pick = if data_dep.is_some() { self.pick() } else { None };
        let full = self.threads[tid].reads.len() > (LAST_READ - FIRST_READ) as usize;
        // Out of read registers: a store.
        let mut kind = if full { 7 } else { self.rng.random_range(0..20) };
        // Within herd7's budget: another location, a plain store, a plain read, or nothing.
        let fits = |g: &Gen, l: usize, k: u32| match k {
            0..=6 => g.cost_with(l, 1, 0) <= BUDGET,
            7..=13 => g.cost_with(l, 0, 1) <= BUDGET,
            14..=19 => {
                g.rmws[l] < MAX_RMWS && g.rmws.iter().sum::<u32>() < MAX_RMWS_ALL && g.cost_with(l, 1, 1) <= BUDGET
            }
            _ => true,
        };
        if !fits(self, loc, kind)
            && let Some(l) = (0..self.nlocs).find(|&l| fits(self, l, kind))
        {
            loc = l;
        }
        if !fits(self, loc, kind) && kind >= 14 && fits(self, loc, 7) {
            kind = 7;
        }
        if !fits(self, loc, kind) && kind >= 7 && !full && fits(self, loc, 0) {
            kind = 0;
        }
        if !fits(self, loc, kind) {
            // Nothing (what came before stays).
            kind = 20;
        }
        if kind < 7 || (14..20).contains(&kind) {
            self.reads[loc] += 1;
        }
        if (7..20).contains(&kind) {
            self.writes[loc] += 1;
        }
        if (14..20).contains(&kind) {
            self.rmws[loc] += 1;
        }
        let x = self.threads[tid].loc_reg(loc);
        let size = self.sizes[loc];
        let [s0, s1] = SCRATCH;
        // An address dependency: (r ^ r) in X11, added to the address; or 0 chosen by a
        // condition on r.
        let offset = addr_dep.map(|r| {
            let t = &mut self.threads[tid];
            match addr_pick {
                Some((k, cond)) => {
                    t.inst(format!("CMP W{r},#{k}"));
                    t.inst(format!("CSEL X{s1},XZR,XZR,{cond}"));
                }
                None => t.inst(format!("EOR X{s1},X{r},X{r}")),
            }
            s1
        });
        // A base register carrying the dependency, for instructions that take only [Xn].
        let base = |t: &mut Thread| match offset {
            Some(o) => {
                t.inst(format!("ADD X{o},X{x},X{o}"));
                o
            }
            None => x,
        };
        // A register holding `v` (in W10), with (r ^ r), or 0 chosen by a condition on r, added
        // for a data dependency.
        let value = |t: &mut Thread, v: u64| {
            match (data_dep, data_pick) {
                (Some(r), Some((k, cond))) => {
                    t.inst(format!("CMP W{r},#{k}"));
                    t.inst(format!("CSEL W{s0},WZR,WZR,{cond}"));
                    t.inst(format!("ADD W{s0},W{s0},#{v}"));
                }
                (Some(r), None) => {
                    t.inst(format!("EOR W{s0},W{r},W{r}"));
                    t.inst(format!("ADD W{s0},W{s0},#{v}"));
                }
                (None, _) => t.inst(format!("MOV W{s0},#{v}")),
            }
            s0
        };
        match kind {
            0..=6 => {
                let acquire = self.chance(0.3);
                let t = &mut self.threads[tid];
                let r = t.read_reg(loc).expect("a read register is free");
                if acquire {
                    let b = base(t);
                    t.release_then_acquire |= t.released;
                    t.inst(format!("LDAR{size} W{r},[X{b}]"));
                } else {
                    let a = offset
                        .map_or_else(|| written_back(&mut self.writebacks, self.target, x), |o| format!("[X{x},X{o}]"));
                    self.threads[tid].inst(format!("LDR{size} W{r},{a}"));
                }
            }
            7..=13 => {
                let release = self.chance(0.3);
                let v = self.new_value(tid, loc);
                let t = &mut self.threads[tid];
                let d = value(t, v);
                if release {
                    let b = base(t);
                    t.released = true;
                    t.inst(format!("STLR{size} W{d},[X{b}]"));
                } else {
                    let a = offset
                        .map_or_else(|| written_back(&mut self.writebacks, self.target, x), |o| format!("[X{x},X{o}]"));
                    self.threads[tid].inst(format!("STR{size} W{d},{a}"));
                }
            }
            14..20 => self.rmw(tid, loc, &base, &value),
            _ => {}
        }
        if let Some(l) = skip {
            self.threads[tid].label(&l);
        }
    }

    fn rmw(
        &mut self,
        tid: usize,
        loc: usize,
        base: &dyn Fn(&mut Thread) -> u8,
        value: &dyn Fn(&mut Thread, u64) -> u8,
    ) {
        // (mnemonic, operand or None for a fresh value, returns the old value)
        let ops: &[(&str, Option<u64>, bool)] = match self.target {
            Target::Arm => &[
                ("SWP", None, true),
                ("CAS", None, true),
                ("LDADD", Some(8), true),
                ("LDCLR", Some(1), true),
                ("LDSET", Some(16), true),
                ("LDEOR", Some(32), true),
                ("STADD", Some(8), false),
                ("STCLR", Some(1), false),
                ("STSET", Some(16), false),
                ("STEOR", Some(32), false),
            ],
            Target::X86 => {
                &[("SWP", None, true), ("CAS", None, true), ("STADD", Some(8), false), ("STEOR", Some(32), false)]
            }
        };
        let (op, operand, returns) = ops[self.rng.random_range(0..ops.len())];
        let suffix = if returns {
            ["", "A", "L", "AL"][self.rng.random_range(0..4)]
        } else {
            ["", "L"][self.rng.random_range(0..2)]
        };
        // CAS expects the initial value or one some write puts there.
        let expect = {
            let w = self.written.get(&loc).map_or(&[][..], Vec::as_slice);
            let i = self.rng.random_range(0..=w.len());
            if i == 0 { 0 } else { w[i - 1].1 }
        };
        let v = match operand {
            Some(v) => {
                // The value the location ends up with depends on the old one: nothing to record.
                self.written.entry(loc).or_default();
                v
            }
            None => self.new_value(tid, loc),
        };
        // An ARMv8 SWP or CAS may be a pair instead: LDXR, then STXR of the value, its status
        // shown (a pair with nothing between reads and writes as the atomic does, or fails).
        let pair = self.target == Target::Arm
            && matches!(op, "SWP" | "CAS")
            && self.threads[tid].reads.len() + 2 <= (LAST_READ - FIRST_READ + 1) as usize
            && self.exclusives.random_bool(0.3);
        // (`A`: a load-acquire-exclusive; `L`: a store-release-exclusive.)
        let (acquire, release) = if pair {
            (["", "A"][self.exclusives.random_range(0..2)], ["", "L"][self.exclusives.random_range(0..2)])
        } else {
            ("", "")
        };
        let size = self.sizes[loc];
        let t = &mut self.threads[tid];
        let dst = returns.then(|| t.read_reg(loc).expect("a read register is free"));
        let d = value(t, v);
        let b = base(t);
        if pair {
            let r = dst.expect("SWP and CAS return the old value");
            let status = t.read_reg(loc).expect("two read registers are free");
            t.inst(format!("LD{acquire}XR{size} W{r},[X{b}]"));
            t.inst(format!("ST{release}XR{size} W{status},W{d},[X{b}]"));
            return;
        }
        match (op, dst) {
            ("CAS", Some(r)) => {
                t.inst(format!("MOV W{r},#{expect}"));
                t.inst(format!("CAS{suffix}{size} W{r},W{d},[X{b}]"));
            }
            (_, Some(r)) => t.inst(format!("{op}{suffix}{size} W{d},W{r},[X{b}]")),
            (_, None) => t.inst(format!("{op}{suffix}{size} W{d},[X{b}]")),
        }
    }

    fn finish(mut self, index: u64, fetch: bool) -> Generated {
        let mut init = vec![];
        let mut locations = vec![];
        let mut atoms = vec![];
        let release_then_acquire = self.threads.iter().any(|t| t.release_then_acquire);
        let mut threads = vec![];
        for t in &mut self.threads {
            for (r, v) in &t.init {
                init.push(InitItem {
                    loc: Loc::Reg { tid: t.tid, name: format!("X{r}") },
                    ty: None,
                    value: Some(v.clone()),
                    pos: Pos::default(),
                    array: None,
                });
            }
            if t.lines.is_empty() {
                t.inst("NOP".into());
            }
            for &(r, _) in &t.reads {
                locations.push(Loc::Reg { tid: t.tid, name: format!("X{r}") });
            }
            for &r in &t.sites {
                locations.push(Loc::Reg { tid: t.tid, name: format!("X{r}") });
            }
            threads.push(AsmThread { tid: t.tid, lines: std::mem::take(&mut t.lines) });
        }
        // The outcome asked about: a few reads, each of a value another thread writes (or 0).
        let mut candidates: Vec<(Loc, u64)> = vec![];
        for t in &self.threads {
            for &(r, loc) in &t.reads {
                let others: Vec<u64> = self
                    .written
                    .get(&loc)
                    .into_iter()
                    .flatten()
                    .filter(|(w, _)| *w != t.tid)
                    .map(|(_, v)| *v)
                    .collect();
                let v = if !others.is_empty() && self.rng.random_bool(0.6) {
                    others[self.rng.random_range(0..others.len())]
                } else {
                    0
                };
                candidates.push((Loc::Reg { tid: t.tid, name: format!("X{r}") }, v));
            }
            for &r in &t.sites {
                candidates.push((Loc::Reg { tid: t.tid, name: format!("X{r}") }, self.rng.random_range(0..2)));
            }
        }
        while !candidates.is_empty() && atoms.len() < 3 {
            let (loc, v) = candidates.remove(self.rng.random_range(0..candidates.len()));
            atoms.push(Prop::Atom(Atom { loc, value: Value::Int(v as i64), pos: Pos::default() }));
        }
        let used: Vec<usize> = (0..3).filter(|&l| self.written.contains_key(&l) || self.read_from(l)).collect();
        for l in used {
            locations.push(Loc::Mem(LOCS[l].to_string()));
            if atoms.is_empty() {
                let v = self.next_value[l] as i64;
                atoms.push(Prop::Atom(Atom {
                    loc: Loc::Mem(LOCS[l].to_string()),
                    value: Value::Int(v),
                    pos: Pos::default(),
                }));
            }
        }
        let test = LitmusTest {
            arch: Arch::AArch64,
            name: format!("G{index}"),
            init,
            threads: Threads::Asm(threads),
            locations,
            filter: None,
            condition: Condition {
                quantifier: Quantifier::Exists,
                prop: print::conjunction(atoms),
                pos: Pos::default(),
            },
        };
        let text = print::aarch64(&test);
        Generated { test, text, fetch, release_then_acquire }
    }

    fn read_from(&self, loc: usize) -> bool {
        self.threads.iter().any(|t| t.reads.iter().any(|&(_, l)| l == loc))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// ARMv8 programs carry some dependencies through a conditional select's condition (pick
    /// dependencies), so that campaigns against herd7 cover them; x86 ones none (no translation).
    #[test]
    fn arm_programs_have_pick_dependencies_and_x86_ones_none() {
        let text = |i, target| crate::litmus::print::aarch64(&program(7, i, target).test);
        let picks =
            (0..400).filter(|&i| text(i, Target::Arm).contains("CSEL") || text(i, Target::Arm).contains("CSET"));
        assert!(picks.count() > 40, "too few ARMv8 programs with a pick dependency");
        assert!((0..400).all(|i| !text(i, Target::X86).contains("CSEL") && !text(i, Target::X86).contains("CSET")));
    }

    #[test]
    fn arm_programs_have_exclusive_pairs_and_x86_ones_none() {
        let text = |i, target| crate::litmus::print::aarch64(&program(7, i, target).test);
        let pairs: Vec<String> = (0..400).map(|i| text(i, Target::Arm)).filter(|t| t.contains("XR")).collect();
        assert!(pairs.len() > 20, "too few ARMv8 programs with an exclusive pair: {}", pairs.len());
        // As many store-exclusives as load-exclusives: they come in pairs.
        for t in &pairs {
            assert_eq!(
                t.matches("LDXR").count() + t.matches("LDAXR").count(),
                t.matches("STXR").count() + t.matches("STLXR").count(),
                "{t}"
            );
        }
        assert!((0..400).all(|i| !text(i, Target::X86).contains("XR")));
    }

    /// ARMv8 programs access some locations by bytes or halfwords, each location at one size
    /// (they compile: a mixed-size test would be refused); x86 ones use words only.
    #[test]
    fn arm_programs_have_byte_and_halfword_locations_each_of_one_size() {
        let narrow = |t: &str| {
            t.lines().any(|l| {
                l.split('|').any(|cell| {
                    let m = cell.split_whitespace().next().unwrap_or("");
                    (m.starts_with("LD") || m.starts_with("ST") || m.starts_with("SWP") || m.starts_with("CAS"))
                        && (m.ends_with('B') || m.ends_with('H'))
                })
            })
        };
        let mut with_narrow = 0;
        for i in 0..400 {
            let g = program(7, i, Target::Arm);
            crate::litmus::compile::compile(&g.test).unwrap_or_else(|e| panic!("program {i}: {e:?}\n{}", g.text));
            with_narrow += usize::from(narrow(&g.text));
            assert!(!narrow(&program(7, i, Target::X86).text), "x86 program {i}");
        }
        assert!(with_narrow > 100, "too few ARMv8 programs with a byte or halfword location: {with_narrow}");
    }

    /// Some ARMv8 programs pre- or post-index loads and stores (both forms), and every such
    /// program compiles; x86 programs do not.
    #[test]
    fn arm_programs_pre_and_post_index_some_accesses() {
        let (mut pre, mut post) = (0, 0);
        for i in 0..300 {
            let g = program(11, i, Target::Arm);
            crate::litmus::compile::compile(&g.test).unwrap_or_else(|e| panic!("program {i}: {e:?}\n{}", g.text));
            let (p, q) = (g.text.matches(",#0]!").count(), g.text.matches("],#0").count());
            pre += p;
            post += q;
            let x86 = program(11, i, Target::X86).text;
            assert!(!x86.contains(",#0]!") && !x86.contains("],#0"), "x86 program {i}");
        }
        assert!(pre > 30 && post > 30, "pre-indexed {pre}, post-indexed {post}");
    }
}
