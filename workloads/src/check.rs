//! Bounded exhaustive checking of a protocol: every interleaving and
//! reordering the memory model allows, in the smallest system where the
//! seed's orderings can all happen (`workloads/check/harness.S`).
//!
//! ```text
//!   CPU 0: text_poke + flush_icache_range, new data, the kick
//!          (isolation_publish, then isolation_defer_cpu per CPU)
//!   CPU 1 (.. 2): user code, a system call: enter_from_user_mode,
//!          a kernel data read and the patched instruction, exit_to_user_mode
//! ```
//!
//! The harness runs on [`cpu_model::machine::Exhaustive`], the engine
//! `isolsim litmus --exhaustive` uses, with ghost probes that log, in each
//! state, the order in which the milestones retired, the sender's reads of
//! the isolated CPUs' state words and when their own writes to those words
//! reached storage. Each final state is judged:
//!
//! * **safety violation**: the sender skipped CPU `t`, and an access of `t`
//!   after the point the protocol promises it is synchronized returned the
//!   old data or ran the old instruction. That point is the end of the entry
//!   hook of the kernel entry whose state write the sender did not see (it
//!   read a value older than that write, so that entry is the one that must
//!   synchronize); if the sender read the CPU's state from its current stay
//!   in the kernel, the kick's return (nothing else will synchronize it).
//! * **isolation break**: the sender decided to interrupt `t` on a state read
//!   satisfied while `t` ran user code (before its system call, or after its
//!   `ERET`), or without reading its state while it did.
//!
//! A CPU the sender interrupts is not checked for staleness: its IPI
//! handler synchronizes it, which is the kick's part of the bargain.
//!
//! ```
//! use workloads::check::{Check, CheckConfig};
//! use workloads::kernel::Protocol;
//! use workloads::protocol::ProtocolFile;
//!
//! let r = Check::new(CheckConfig::default()).run(&ProtocolFile::builtin(Protocol::Deferred)).unwrap();
//! assert!(r.safety.is_none() && r.isolation_break.is_none() && !r.stats.bound_hit());
//! assert!(r.coverage.all_occurred());
//! ```

use std::collections::BTreeMap;
use std::fmt;

use cpu_model::asm::assemble;
use cpu_model::code::CodeSpace;
use cpu_model::isa::{Inst, Reg, SysReg};
use cpu_model::machine::{Exhaustive, Ghost, Ghosts, MachineConfig, Probe, State, Step, ThreadInit};
use memory_model::graph::{AxiomViolation, ExecGraph};
use memory_model::memory::FlatMemory;
use memory_model::{Addr, MaintOp, Mode, WriteId};
use serde::{Deserialize, Serialize};
use sim::explore::{ExploreStats, Limits, explore_with_paths, replay};

use crate::experiment::Orderings;
use crate::kernel::{KernelConfig, TlbScheme};
use crate::protocol::{Consequence, ProtocolFile};
use crate::system::{LoadError, System};
pub use crate::timeline::Row;

/// The harness text (`workloads/check/harness.S`).
pub const HARNESS: (&str, &str) = ("workloads/check/harness.S", include_str!("../check/harness.S"));

/// What `isolsim check` explores.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CheckConfig {
    /// CPUs: the sender and `cpus - 1` isolated CPUs (2 or 3).
    pub cpus: usize,
    /// Memory model.
    pub mode: Mode,
    /// The bound: a path on which some CPU fetches more instructions than this is cut off and
    /// reported (the harness needs about 60 per CPU; a protocol function that loops stops here).
    pub bound: u64,
    /// Unresolved conditional branches a CPU may speculate past.
    pub speculation: usize,
    /// Give up after this many distinct states.
    pub max_states: u64,
}

impl Default for CheckConfig {
    fn default() -> Self {
        CheckConfig { cpus: 2, mode: Mode::Arm, bound: 200, speculation: 1, max_states: 20_000_000 }
    }
}

/// A harness or protocol that cannot be built.
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    /// The protocol file or harness does not assemble.
    #[error(transparent)]
    Load(#[from] LoadError),
    /// A configuration the harness does not support.
    #[error("{0}")]
    Config(String),
}

/// The ghost probes of the harness.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mark {
    Kick,
    Decided,
    KickDone,
    Svc,
    HookDone,
    DataRead,
    Site,
    Eret,
}

impl Mark {
    const ALL: [(Mark, &'static str, [Reg; 3]); 8] = [
        (Mark::Kick, "check_kick", [Reg::ZR; 3]),
        (Mark::Decided, "check_decided", [Reg::x(0), Reg::x(19), Reg::ZR]),
        (Mark::KickDone, "check_kick_done", [Reg::ZR; 3]),
        (Mark::Svc, "check_svc", [Reg::ZR; 3]),
        (Mark::HookDone, "entry_hook_done", [Reg::ZR; 3]),
        (Mark::DataRead, "check_data_read", [Reg::x(20), Reg::ZR, Reg::ZR]),
        (Mark::Site, "check_site", [Reg::x(21), Reg::ZR, Reg::ZR]),
        (Mark::Eret, "check_eret", [Reg::ZR; 3]),
    ];

    fn from_id(id: u16) -> Option<Mark> {
        Mark::ALL.get(id as usize).map(|m| m.0)
    }
}

/// The harness loaded with one protocol: code, initial state, probes.
struct Harness {
    code: CodeSpace,
    threads: Vec<ThreadInit>,
    mem: FlatMemory,
    machine: MachineConfig,
    probes: Vec<Probe>,
    probe_ids: Vec<u16>,
    watch: Vec<Addr>,
    /// Names of the addresses a timeline mentions.
    names: BTreeMap<Addr, String>,
    /// Per isolated CPU `t` (index `t - 1`): its state words.
    state_words: Vec<Vec<Addr>>,
    new_value: u64,
}

impl Harness {
    /// Loads the kernel with protocol `p` and the harness for `cpus` CPUs.
    fn build(p: &ProtocolFile, cfg: &CheckConfig) -> Result<Harness, CheckError> {
        if !(2..=3).contains(&cfg.cpus) {
            return Err(CheckError::Config(format!("--cpus {}: the check harness has 2 or 3 CPUs", cfg.cpus)));
        }
        let machine = MachineConfig { mode: cfg.mode, ..MachineConfig::default() };
        let topo = machine.topology_for(cfg.cpus);
        let kernel = KernelConfig { protocol: p.base, tlb_scheme: TlbScheme::Deferred, ..KernelConfig::default() };
        let mut sys = System::with_cpus(&topo, &kernel, cfg.cpus);
        let files = p.kernel_files();
        let refs: Vec<(&str, &str)> = files.iter().map(|(n, t)| (n.as_str(), t.as_str())).collect();
        sys.load_kernel_from(&refs)?;
        sys.load(HARNESS.0, HARNESS.1, System::USER_TEXT)?;
        let sym = |sys: &System, name: &str| sys.symbol(name).ok_or_else(|| LoadError::NoSuchLabel(name.to_string()));
        let site = sym(&sys, "check_site")?;
        sys.code_mut().mark_patchable(site);
        let new_inst = assemble("MOV X21, #2", 0).expect("a valid instruction").insts[0];
        let new_enc = sys.code_mut().encode(new_inst);
        let data = sym(&sys, "CHECK_DATA")?;
        let (old_value, new_value) = (1, 2);
        sys.poke(data, old_value);
        let off = |name: &str| sym(&sys, name);
        let (ct, flags, wanted, nohz) =
            (off("PCPU_CONTEXT")?, off("PCPU_ISOL_FLAGS")?, off("PCPU_ISOL_WANTED")?, off("PCPU_NOHZ_FULL")?);
        let mut names = BTreeMap::new();
        names.insert(data, "CHECK_DATA".to_string());
        names.insert(site, "check_site (text)".to_string());
        names.insert(sym(&sys, "CHECK_USER")?, "user variable".to_string());
        let mut state_words = vec![];
        for t in 1..cfg.cpus {
            let area = System::percpu(t);
            sys.poke(area + ct, sym(&sys, "CT_USER")?);
            sys.poke(area + flags, sym(&sys, "ISOL_ISOLATED")?);
            sys.poke(area + wanted, 1);
            sys.poke(area + nohz, 1);
            for (o, n) in [(ct, "context"), (flags, "isol_flags"), (wanted, "isol_wanted"), (nohz, "nohz_full")] {
                names.insert(area + o, format!("cpu{t}.{n}"));
            }
            state_words.push(vec![area + flags, area + ct]);
        }
        let (user, sender, vector) =
            (sym(&sys, "check_user")?, sym(&sys, "check_sender")?, sym(&sys, "check_el0_sync")?);
        let mut probe_list = vec![];
        for (i, (_, label, regs)) in Mark::ALL.iter().enumerate() {
            probe_list.push((Probe { pc: sym(&sys, label)?, regs: *regs }, i as u16));
        }
        probe_list.sort_by_key(|(p, _)| p.pc);
        let (code, mut threads, mem) = sys.into_parts();
        for (cpu, t) in threads.iter_mut().enumerate() {
            if cpu == 0 {
                t.pc = sender;
                t.regs.push((Reg::x(3), new_enc));
            } else {
                t.pc = user;
                t.el = 0;
                t.daif = 0;
                t.sysregs.retain(|(r, _)| *r != SysReg::VbarEl1);
                t.sysregs.push((SysReg::VbarEl1, vector - 0x400));
            }
        }
        let mut watch: Vec<Addr> = state_words.iter().flatten().copied().collect();
        watch.sort_unstable();
        Ok(Harness {
            code,
            threads,
            mem,
            machine,
            probes: probe_list.iter().map(|p| p.0).collect(),
            probe_ids: probe_list.iter().map(|p| p.1).collect(),
            watch,
            names,
            state_words,
            new_value,
        })
    }

    fn system(&self, cfg: &CheckConfig) -> Exhaustive<'_> {
        Exhaustive {
            code: &self.code,
            cfg: &self.machine,
            max_fetch: cfg.bound,
            record: false,
            speculation: cfg.speculation,
            ghosts: Ghosts {
                probes: &self.probes,
                probe_ids: &self.probe_ids,
                watch: &self.watch,
                all_accesses: false,
                // The verdict compares each isolated CPU's events with the sender's only.
                pivot: Some(0),
            },
        }
    }

    /// Judges one final state by its trace.
    fn judge(&self, s: &State) -> Judgement {
        let v = View::of(&s.trace, self.state_words.len());
        let mut j = Judgement::default();
        for d in &v.decisions {
            let t = d.target;
            let Some(ti) = t.checked_sub(1).filter(|&i| i < v.isolated.len()) else { continue };
            let cpu = &v.isolated[ti];
            let words = &self.state_words[ti];
            let read = v.sender_reads.iter().rev().find(|r| r.pos < d.pos && words.contains(&r.addr));
            let at = read.map_or(d.pos, |r| r.pos);
            let in_user = |p: usize| cpu.svc.is_none_or(|s| s.0 > p) || cpu.eret.is_some_and(|e| e < p);
            if !d.skip {
                if in_user(at) {
                    j.coverage.interrupted_in_user += 1;
                    j.add(Consequence::IsolationBreak, t, describe_break(d, read, cpu, &self.names));
                } else if cpu.hook.is_some_and(|h| h.0 < v.kick.unwrap_or(0)) {
                    j.coverage.case3 += 1;
                } else {
                    j.coverage.case1 += 1;
                }
                continue;
            }
            // The entry whose state write the sender did not see: its own write to the word read
            // reached storage after the read.
            let unseen_entry = read.is_some_and(|r| {
                let (Some(svc), Some(hook)) = (cpu.svc, cpu.hook) else { return false };
                cpu.stored.iter().any(|w| w.addr == r.addr && w.pos > r.pos && w.iid > svc.1 && w.iid < hook.1)
            });
            let entered_before = cpu.svc.is_some_and(|s| s.0 < d.pos);
            // Accesses from `from` (a trace position; None: all of them) on must be fresh.
            let promise = if unseen_entry || !entered_before {
                if entered_before {
                    j.coverage.case2 += 1
                } else if cpu.svc.is_some() {
                    j.coverage.case4 += 1
                } else {
                    j.coverage.pending += 1
                }
                cpu.hook.map(|_| None)
            } else {
                j.coverage.exit_race += 1;
                if in_user(d.pos) { None } else { v.kick_done.map(Some) }
            };
            let Some(from) = promise else { continue };
            let after = |p: usize| from.is_none_or(|f| p > f);
            let point = match from {
                None => "the end of its entry hook".to_string(),
                Some(_) => "the kick's return".to_string(),
            };
            if let Some(r) = cpu.data.filter(|r| after(r.0) && r.1 != self.new_value) {
                j.add(
                    Consequence::SafetyViolation,
                    t,
                    format!(
                        "stale data: CPU {t} read CHECK_DATA = {} (not the published {}) after {point}, and the sender \
                         skipped it",
                        r.1, self.new_value
                    ),
                );
            }
            if let Some(r) = cpu.site.filter(|r| after(r.0) && r.1 != self.new_value) {
                j.add(
                    Consequence::SafetyViolation,
                    t,
                    format!(
                        "stale instruction: CPU {t} ran the old check_site (MOV X21, #{}) after {point}, and the sender \
                         skipped it",
                        r.1
                    ),
                );
            }
        }
        j
    }
}

fn describe_break(d: &Decision, read: Option<&Read>, cpu: &IsolatedView, names: &BTreeMap<Addr, String>) -> String {
    let t = d.target;
    let phase = |p: usize| if cpu.svc.is_none_or(|s| s.0 > p) { "before its system call" } else { "after its ERET" };
    match read {
        Some(r) => format!(
            "isolation break: the sender read {} = {} while CPU {t} ran user code ({}) and decided to interrupt it",
            names.get(&r.addr).map_or_else(|| format!("{:#x}", r.addr), String::clone),
            r.value,
            phase(r.pos)
        ),
        None => format!(
            "isolation break: the sender decided to interrupt CPU {t} without reading its state, while it ran user \
             code ({})",
            phase(d.pos)
        ),
    }
}

#[derive(Default)]
struct Judgement {
    found: Vec<(Consequence, usize, String)>,
    coverage: Orderings,
}

impl Judgement {
    fn add(&mut self, c: Consequence, cpu: usize, what: String) {
        if !self.found.iter().any(|f| f.0 == c) {
            self.found.push((c, cpu, what));
        }
    }
}

struct Decision {
    pos: usize,
    target: usize,
    skip: bool,
}

struct Read {
    pos: usize,
    addr: Addr,
    value: u64,
}

struct StoredWord {
    pos: usize,
    addr: Addr,
    iid: u32,
}

/// Positions (in the trace) of one isolated CPU's milestones; (position, iid) for the entry.
#[derive(Default)]
struct IsolatedView {
    svc: Option<(usize, u32)>,
    hook: Option<(usize, u32)>,
    eret: Option<usize>,
    /// (position, value) of the kernel's data read and of the patched instruction.
    data: Option<(usize, u64)>,
    site: Option<(usize, u64)>,
    stored: Vec<StoredWord>,
}

struct View {
    kick: Option<usize>,
    kick_done: Option<usize>,
    decisions: Vec<Decision>,
    sender_reads: Vec<Read>,
    isolated: Vec<IsolatedView>,
}

impl View {
    fn of(trace: &[Ghost], isolated: usize) -> View {
        let mut v = View {
            kick: None,
            kick_done: None,
            decisions: vec![],
            sender_reads: vec![],
            isolated: (0..isolated).map(|_| IsolatedView::default()).collect(),
        };
        for (pos, g) in trace.iter().enumerate() {
            match *g {
                Ghost::Retired { core: 0, probe, values, .. } => match Mark::from_id(probe) {
                    Some(Mark::Kick) => v.kick = Some(pos),
                    Some(Mark::KickDone) => v.kick_done = Some(pos),
                    Some(Mark::Decided) => {
                        v.decisions.push(Decision { pos, target: values[1] as usize - 1, skip: values[0] != 0 })
                    }
                    _ => {}
                },
                Ghost::Retired { core, probe, iid, values } => {
                    let Some(c) = v.isolated.get_mut(core as usize - 1) else { continue };
                    match Mark::from_id(probe) {
                        Some(Mark::Svc) => c.svc = Some((pos, iid)),
                        Some(Mark::HookDone) => c.hook = c.hook.or(Some((pos, iid))),
                        Some(Mark::Eret) => c.eret = Some(pos),
                        Some(Mark::DataRead) => c.data = Some((pos, values[0])),
                        Some(Mark::Site) => c.site = Some((pos, values[0])),
                        _ => {}
                    }
                }
                Ghost::Read { core: 0, addr, value, .. } => v.sender_reads.push(Read { pos, addr, value }),
                Ghost::Stored { core, write, addr, .. } if core > 0 => {
                    if let Some(c) = v.isolated.get_mut(core as usize - 1) {
                        c.stored.push(StoredWord { pos, addr, iid: write.iid });
                    }
                }
                _ => {}
            }
        }
        v
    }
}

/// A path to a final state that breaks the protocol.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Counterexample {
    /// What it breaks.
    pub consequence: Consequence,
    /// The CPU it happens to.
    pub cpu: usize,
    /// One sentence.
    pub what: String,
    /// The transitions from the initial state (replayable).
    pub steps: Vec<Step>,
}

/// What `isolsim check` found.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CheckReport {
    /// Protocol name.
    pub protocol: String,
    /// The configuration explored.
    pub config: CheckConfig,
    /// Exploration counters.
    pub stats: ExploreStats,
    /// Final states with a safety violation.
    pub violating_finals: u64,
    /// Final states with an isolation break.
    pub breaking_finals: u64,
    /// The seed's orderings, over all decisions in all final states.
    pub coverage: Orderings,
    /// The shortest path to a safety violation, if any.
    pub safety: Option<Counterexample>,
    /// The shortest path to an isolation break, if any.
    pub isolation_break: Option<Counterexample>,
}

impl CheckReport {
    /// The consequences found, in [`Consequence`] order.
    pub fn found(&self) -> Vec<Consequence> {
        self.safety.iter().chain(&self.isolation_break).map(|c| c.consequence).collect()
    }

    /// The counterexamples found.
    pub fn counterexamples(&self) -> impl Iterator<Item = &Counterexample> {
        self.safety.iter().chain(&self.isolation_break)
    }
}

/// The checker.
pub struct Check {
    cfg: CheckConfig,
}

impl Check {
    /// A checker with `cfg`.
    pub fn new(cfg: CheckConfig) -> Check {
        Check { cfg }
    }

    /// Explores protocol `p`.
    pub fn run(&self, p: &ProtocolFile) -> Result<CheckReport, CheckError> {
        let h = Harness::build(p, &self.cfg)?;
        let sys = h.system(&self.cfg);
        let init = sys.initial(&h.threads, &h.mem);
        let limits = Limits { max_states: self.cfg.max_states };
        let mut report = CheckReport {
            protocol: p.name.clone(),
            config: self.cfg.clone(),
            stats: ExploreStats::default(),
            violating_finals: 0,
            breaking_finals: 0,
            coverage: Orderings::default(),
            safety: None,
            isolation_break: None,
        };
        let mut shortest: [Option<(usize, Counterexample)>; 2] = [None, None];
        report.stats = explore_with_paths(&sys, init, &limits, |s, path| {
            let j = h.judge(s);
            report.coverage += &j.coverage;
            for (c, cpu, what) in j.found {
                let slot = match c {
                    Consequence::SafetyViolation => {
                        report.violating_finals += 1;
                        0
                    }
                    Consequence::IsolationBreak => {
                        report.breaking_finals += 1;
                        1
                    }
                };
                let steps = path.labels();
                if shortest[slot].as_ref().is_none_or(|(n, _)| steps.len() < *n) {
                    shortest[slot] = Some((steps.len(), Counterexample { consequence: c, cpu, what, steps }));
                }
            }
        });
        let [s, b] = shortest;
        report.safety = s.map(|x| x.1);
        report.isolation_break = b.map(|x| x.1);
        Ok(report)
    }

    /// Replays a counterexample with every access and retirement logged:
    /// its timeline, and the execution graph of the path.
    pub fn replay(&self, p: &ProtocolFile, steps: &[Step]) -> Result<Replayed, CheckError> {
        let h = Harness::build(p, &self.cfg)?;
        let all: Vec<Addr> =
            h.code.programs().iter().flat_map(|p| (p.base..p.end()).step_by(Inst::BYTES as usize)).collect();
        let probes: Vec<Probe> =
            all.iter().map(|&pc| Probe { pc, regs: [Reg::x(0), Reg::x(19), Reg::x(21)] }).collect();
        let ids: Vec<u16> = (0..probes.len()).map(|i| i as u16).collect();
        if probes.len() > u16::MAX as usize {
            return Err(CheckError::Config("too much code to trace every instruction".to_string()));
        }
        let sys = Exhaustive {
            record: true,
            ghosts: Ghosts { probes: &probes, probe_ids: &ids, watch: &[], all_accesses: true, pivot: None },
            ..h.system(&self.cfg)
        };
        let init = sys.initial(&h.threads, &h.mem);
        let s = replay(&sys, init, steps)
            .ok_or_else(|| CheckError::Config("the counterexample does not replay on this protocol".to_string()))?;
        // Judged as the exploration judged it: on the exploring system's own
        // probes (the trace above numbers every instruction as a probe).
        let explorer = h.system(&self.cfg);
        let judged = replay(&explorer, explorer.initial(&h.threads, &h.mem), steps)
            .map(|s| h.judge(&s).found)
            .unwrap_or_default();
        let rows = timeline(&h, &s.trace, &all);
        let graph = s.exec_graph(&h.mem);
        Ok(Replayed { cpus: h.threads.len(), rows, graph, found: judged.into_iter().map(|f| (f.0, f.2)).collect() })
    }
}

/// A counterexample replayed.
pub struct Replayed {
    /// CPUs (timeline columns).
    pub cpus: usize,
    /// One row per event.
    pub rows: Vec<Row>,
    /// The execution graph of the path.
    pub graph: ExecGraph,
    /// What the replayed final state breaks.
    pub found: Vec<(Consequence, String)>,
}

/// `address = value`, with the value named where the harness knows what it
/// means (an encoding at the patched site as its instruction).
fn assignment(h: &Harness, a: Addr, v: u64) -> String {
    let name = h.names.get(&a).cloned().unwrap_or_else(|| format!("[{a:#x}]"));
    if name.contains("(text)") {
        return format!("{name} = `{}`", h.code.decode(v));
    }
    crate::timeline::state_assignment(&name, v).unwrap_or_else(|| format!("{name} = {v}"))
}

fn maint_name(op: MaintOp) -> &'static str {
    match op {
        MaintOp::DcCvau => "DC CVAU",
        MaintOp::IcIvau => "IC IVAU",
        MaintOp::IcIallu => "IC IALLU",
        MaintOp::Tlbi { broadcast: true, .. } => "TLBI (broadcast)",
        MaintOp::Tlbi { broadcast: false, .. } => "TLBI (local)",
    }
}

fn timeline(h: &Harness, trace: &[Ghost], pcs: &[Addr]) -> Vec<Row> {
    let label_pc = |pc: Addr| match h.code.label_at(pc) {
        Some(l) => format!("{l}: "),
        None => String::new(),
    };
    let mut rows = vec![];
    for (i, g) in trace.iter().enumerate() {
        let (cpu, text) = match *g {
            Ghost::Retired { core, probe, iid, values } => {
                let pc = pcs[probe as usize];
                let Some(inst) = h.code.fetch(pc) else { continue };
                let shown = match inst {
                    Inst::Store { .. } => {
                        let w = WriteId { tid: core, iid };
                        let dest = trace[i..].iter().find_map(|g| match *g {
                            Ghost::Stored { write, addr, value, .. } if write == w => Some((addr, value)),
                            _ => None,
                        });
                        match dest {
                            Some((a, v)) => format!("{} -> store buffer", assignment(h, a, v)),
                            None => "-> store buffer".to_string(),
                        }
                    }
                    Inst::Svc(_) => "exception to EL1".to_string(),
                    Inst::Eret => "back to user space".to_string(),
                    _ if h.code.label_at(pc) == Some("check_decided") => {
                        format!("decided: {} CPU {}", if values[0] != 0 { "skip" } else { "interrupt" }, values[1] - 1)
                    }
                    _ if h.code.label_at(pc) == Some("check_site") => format!("X21 = {}", values[2]),
                    i if is_barrier(&i) || matches!(i, Inst::Bl { .. } | Inst::Ret { .. } | Inst::Rmw { .. }) => {
                        String::new()
                    }
                    _ if h.code.label_at(pc).is_some() => String::new(),
                    _ => continue,
                };
                let asm = h.code.disasm(pc);
                let text = if shown.is_empty() {
                    format!("{}{asm}", label_pc(pc))
                } else {
                    format!("{}{asm}: {shown}", label_pc(pc))
                };
                (core, text)
            }
            Ghost::Read { core, addr, source, forwarded, value, .. } => {
                let from = if source.is_init() {
                    "initial value".to_string()
                } else if forwarded {
                    "forwarded from its own store buffer".to_string()
                } else {
                    format!("written by CPU {}", source.tid)
                };
                (core, format!("  reads {} ({from})", assignment(h, addr, value)))
            }
            Ghost::Stored { core, addr, value, .. } => {
                (core, format!("  {} reaches memory", assignment(h, addr, value)))
            }
            Ghost::Maintained { core, op, addr, .. } => {
                let target = match op {
                    MaintOp::Tlbi { .. } | MaintOp::IcIallu => String::new(),
                    _ => format!(" {}", h.names.get(&addr).cloned().unwrap_or_else(|| format!("{addr:#x}"))),
                };
                (core, format!("  {}{target} performed", maint_name(op)))
            }
            Ghost::Fetched { core, writer } => (
                core,
                format!(
                    "  fetches check_site: the {} copy",
                    if writer.is_init() { "old (initial)" } else { "new (patched)" }
                ),
            ),
        };
        rows.push(Row { cpu: cpu as usize, cycle: None, text });
    }
    rows
}

fn is_barrier(i: &Inst) -> bool {
    matches!(i, Inst::Dmb(_) | Inst::Dsb(_) | Inst::Isb)
}

/// The execution graph of a counterexample as Graphviz DOT, with the
/// cycle that makes it non-sequentially-consistent drawn bold (the cycle
/// the weak model allowed: a store sitting in a buffer, a read passing it).
pub fn to_dot(g: &ExecGraph) -> (String, Option<AxiomViolation>) {
    let cycle = memory_model::graph::check(g, Mode::Sc).err();
    (memory_model::graph::to_dot(g, cycle.as_ref()), cycle)
}

impl fmt::Display for Counterexample {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {} ({} steps)", self.consequence, self.what, self.steps.len())
    }
}
