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
//! `isolsim litmus --exhaustive` uses, with ghost probes: the milestones
//! retiring, the sender's reads of the isolated CPUs' state words, their own
//! writes to those words reaching storage. A monitor in each state folds
//! these events in as they happen and keeps only what the verdict depends
//! on (the order of each CPU's milestones relative to the sender's, the
//! values read), so that paths which differ elsewhere merge. Each final
//! state is judged:
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
//! use workloads::verify::check::{Check, CheckConfig};
//! use workloads::kernel::Protocol;
//! use workloads::protocol::ProtocolFile;
//!
//! let r = Check::new(CheckConfig::default()).run(&ProtocolFile::builtin(Protocol::Deferred)).unwrap();
//! assert!(r.safety.is_none() && r.isolation_break.is_none() && !r.stats.bound_hit());
//! assert!(r.coverage.all_occurred());
//! ```

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use cpu_model::asm::assemble;
use cpu_model::code::CodeSpace;
use cpu_model::isa::{Inst, Reg, SysReg};
use cpu_model::machine::{Exhaustive, Ghost, Ghosts, MachineConfig, Probe, State, Step, ThreadInit};
use memory_model::graph::ExecGraph;
use memory_model::memory::FlatMemory;
use memory_model::{Addr, MaintOp, Mode, WriteId};
use serde::{Deserialize, Serialize};
use sim::explore::{Expansion, ExploreStats, Limits, TransitionSystem, explore_unordered, explore_with_paths, replay};

use crate::experiment::Orderings;
use crate::kernel::{KernelConfig, TlbScheme};
use crate::protocol::{Consequence, ProtocolFile};
use crate::system::{LoadError, System};
pub use crate::verify::timeline::Row;
pub use path::Stale;

mod litmus;
mod path;

/// The harness text (`workloads/check/harness.S`).
pub const HARNESS: (&str, &str) = ("workloads/check/harness.S", include_str!("../../../check/harness.S"));

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
    /// For a protocol in C: the C line each of its instructions was compiled from.
    c_lines: BTreeMap<Addr, usize>,
    /// For a protocol in C: the file's name, for the timeline's legend.
    c_file: Option<String>,
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
        let c_lines = p.c_lines_in(&files, sys.code(), System::KERNEL_TEXT);
        sys.load(HARNESS.0, HARNESS.1, System::USER_TEXT)?;
        let sym = |sys: &System, name: &str| sys.label(name);
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
            c_file: (!c_lines.is_empty())
                .then(|| Path::new(&p.path).file_name().and_then(|n| n.to_str()).unwrap_or(&p.path).to_string()),
            c_lines,
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
                watch_translations: &[],
            },
            tlb: false,
            tlb_prefill: &[],
        }
    }

    /// The index of the isolated CPU whose state word `addr` is.
    fn owner(&self, addr: Addr) -> Option<usize> {
        self.state_words.iter().position(|w| w.contains(&addr))
    }

    /// Judges one final state by the facts of each of the sender's decisions on its path.
    fn judge(&self, decisions: &[Facts]) -> Judgement {
        let mut j = Judgement::default();
        for d in decisions {
            let t = d.cpu;
            if !d.skip {
                if d.at_read.in_user() {
                    j.coverage.interrupted_in_user += 1;
                    j.add(Consequence::IsolationBreak, t, describe_break(d, self));
                } else if d.hook_before_kick {
                    j.coverage.case3 += 1;
                } else {
                    j.coverage.case1 += 1;
                }
                continue;
            }
            let entered_before = d.at_decision != Phase::BeforeSvc;
            // Which accesses must be fresh: all of them (false), or those retired after the kick
            // returned (true).
            let promise = if d.unseen_entry || !entered_before {
                if entered_before {
                    j.coverage.case2 += 1
                } else if d.entered {
                    j.coverage.case4 += 1
                } else {
                    j.coverage.pending += 1
                }
                d.hooked.then_some(false)
            } else {
                j.coverage.exit_race += 1;
                (!d.at_decision.in_user() && d.kick_done).then_some(true)
            };
            let Some(from_return) = promise else { continue };
            let point = if from_return { "the kick's return" } else { "the end of its entry hook" };
            let stale = |a: Option<(u64, bool)>| a.filter(|&(v, late)| (late || !from_return) && v != self.new_value);
            if let Some((v, _)) = stale(d.data) {
                j.add(
                    Consequence::SafetyViolation,
                    t,
                    format!(
                        "stale data: CPU {t} read CHECK_DATA = {v} (not the published {}) after {point}, and the sender \
                         skipped it",
                        self.new_value
                    ),
                );
            }
            if let Some((v, _)) = stale(d.site) {
                j.add(
                    Consequence::SafetyViolation,
                    t,
                    format!(
                        "stale instruction: CPU {t} ran the old check_site (MOV X21, #{v}) after {point}, and the \
                         sender skipped it"
                    ),
                );
            }
        }
        j
    }
}

/// Where an isolated CPU was at some point of a path: in user code before its system call, in
/// the kernel, or in user code again after its `ERET`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Phase {
    BeforeSvc,
    Kernel,
    AfterEret,
}

impl Phase {
    fn in_user(self) -> bool {
        self != Phase::Kernel
    }
}

/// Everything the verdict on one decision of the sender depends on: the order of the isolated
/// CPU's milestones relative to the sender's, and the values its accesses returned.
#[derive(Debug)]
struct Facts {
    /// The CPU decided on.
    cpu: usize,
    skip: bool,
    /// The sender's last read of the CPU's state before the decision: the word and its value.
    read: Option<(Addr, u64)>,
    /// Where the CPU was when that read was satisfied (at the decision if there was none), and
    /// when the decision retired.
    at_read: Phase,
    at_decision: Phase,
    /// The CPU's entry hook ended before the kick began.
    hook_before_kick: bool,
    /// The entry whose state write the sender did not see: a write of the word read by the
    /// CPU's entry (between its SVC and the end of its entry hook) reached storage after the read.
    unseen_entry: bool,
    /// By the end of the path: the CPU made its system call, ended its entry hook; the kick
    /// returned.
    entered: bool,
    hooked: bool,
    kick_done: bool,
    /// The value of the CPU's kernel data read and of its patched instruction, and whether each
    /// retired after the kick returned.
    data: Option<(u64, bool)>,
    site: Option<(u64, bool)>,
}

fn describe_break(d: &Facts, h: &Harness) -> String {
    let t = d.cpu;
    let phase = if d.at_read == Phase::BeforeSvc { "before its system call" } else { "after its ERET" };
    match d.read {
        Some((addr, value)) => format!(
            "isolation break: the sender read {} while CPU {t} ran user code ({phase}) and decided to interrupt it",
            assignment(h, addr, value),
        ),
        None => format!(
            "isolation break: the sender decided to interrupt CPU {t} without reading its state, while it ran user \
             code ({phase})",
        ),
    }
}

/// The sender's last read of an isolated CPU's state word, and the instances of that CPU's own
/// writes to the word that reached storage after it: those not yet known to be, or not to be,
/// the CPU's entry's (`pending`), and whether one was (`unseen`: the sender did not see the
/// entry's write).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct SeenRead {
    addr: Addr,
    value: u64,
    /// Where the CPU was when the read was satisfied.
    phase: Phase,
    pending: Vec<u32>,
    unseen: bool,
}

impl SeenRead {
    /// Sorts the pending writes out by the instances of the CPU's SVC and end of entry hook, as
    /// far as they are known.
    fn settle(&mut self, svc: Option<u32>, hook: Option<u32>) {
        if let Some(svc) = svc {
            self.pending.retain(|&iid| iid > svc);
            if let Some(hook) = hook {
                self.unseen |= self.pending.iter().any(|&iid| iid < hook);
                self.pending.clear();
            }
        }
    }
}

/// A decision of the sender, reduced to what its verdict still depends on.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Decided {
    /// To interrupt: everything its verdict depends on is known when it retires. `read` and
    /// `at`: the sender's last read of the CPU's state and where the CPU was then (kept only if
    /// it ran user code: an isolation break); `hook_before_kick` otherwise (case 3 or case 1).
    Interrupt { cpu: usize, read: Option<(Addr, u64)>, at: Phase, hook_before_kick: bool },
    /// To skip: judged at the end of the path. `at`: where the CPU was at the decision; `read`:
    /// the word the sender last read (value and phase are not needed).
    Skip { cpu: usize, at: Phase, read: Option<SeenRead> },
}

/// An isolated CPU's milestones so far (each retires at most once on a path: the harness has
/// no loop).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
struct CpuMonitor {
    /// Instances of its SVC and of the end of its entry hook.
    svc: Option<u32>,
    hook: Option<u32>,
    eret: bool,
    /// The entry hook ended before the kick began.
    hook_before_kick: bool,
    /// The value of the kernel's data read and of the patched instruction, and whether each
    /// retired after the kick returned.
    data: Option<(u64, bool)>,
    site: Option<(u64, bool)>,
    /// The sender's last read of its state so far.
    read: Option<SeenRead>,
}

impl CpuMonitor {
    fn phase(&self) -> Phase {
        match (self.svc, self.eret) {
            (None, _) => Phase::BeforeSvc,
            (Some(_), false) => Phase::Kernel,
            (Some(_), true) => Phase::AfterEret,
        }
    }
}

/// What the verdict needs of a path, folded in event by event as the path is taken: a monitor
/// automaton in the explored state, in place of the log of ghost events. The log would tell
/// apart paths whose verdicts cannot differ (by the order of events the verdict never
/// compares, events it never looks at, facts that stopped mattering); after each transition the
/// monitor keeps only what the verdict at the end of the path may still depend on, so that such
/// paths merge.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
struct Monitor {
    kick_done: bool,
    cpus: Vec<CpuMonitor>,
    decisions: Vec<Decided>,
}

impl Monitor {
    fn new(isolated: usize) -> Monitor {
        Monitor { cpus: vec![CpuMonitor::default(); isolated], ..Monitor::default() }
    }

    /// Folds in ghost events, in the order they happened.
    fn observe(&mut self, h: &Harness, events: &[Ghost]) {
        for &g in events {
            match g {
                Ghost::Retired { core: 0, probe, values, .. } => match Mark::from_id(probe) {
                    Some(Mark::Kick) => {
                        for c in &mut self.cpus {
                            c.hook_before_kick = c.hook.is_some();
                        }
                    }
                    Some(Mark::KickDone) => self.kick_done = true,
                    Some(Mark::Decided) => {
                        // X19 holds the CPU decided on, plus one.
                        let Some(i) = (values[1] as usize).checked_sub(2).filter(|&i| i < self.cpus.len()) else {
                            continue;
                        };
                        self.decide(i, values[0] != 0);
                    }
                    _ => {}
                },
                Ghost::Retired { core, probe, iid, values } => {
                    let kick_done = self.kick_done;
                    let Some(c) = self.cpus.get_mut(core as usize - 1) else { continue };
                    match Mark::from_id(probe) {
                        Some(Mark::Svc) => c.svc = Some(iid),
                        Some(Mark::HookDone) => c.hook = c.hook.or(Some(iid)),
                        Some(Mark::Eret) => c.eret = true,
                        Some(Mark::DataRead) => c.data = Some((values[0], kick_done)),
                        Some(Mark::Site) => c.site = Some((values[0], kick_done)),
                        _ => {}
                    }
                }
                Ghost::Read { core: 0, addr, value, .. } => {
                    if let Some(i) = h.owner(addr) {
                        let c = &mut self.cpus[i];
                        c.read = Some(SeenRead { addr, value, phase: c.phase(), pending: vec![], unseen: false });
                    }
                }
                Ghost::Stored { core, write, addr, .. } if core > 0 => {
                    let i = core as usize - 1;
                    let current = self.cpus.get_mut(i).and_then(|c| c.read.as_mut());
                    let skipped = self.decisions.iter_mut().filter_map(|d| match d {
                        Decided::Skip { cpu, read: Some(r), .. } if *cpu == i => Some(r),
                        _ => None,
                    });
                    for r in current.into_iter().chain(skipped).filter(|r| r.addr == addr) {
                        r.pending.push(write.iid);
                    }
                }
                _ => {}
            }
        }
        self.forget();
    }

    fn decide(&mut self, i: usize, skip: bool) {
        let c = &self.cpus[i];
        let at = c.read.as_ref().map_or(c.phase(), |r| r.phase);
        let d = if skip {
            let read = c.read.as_ref().map(|r| SeenRead { value: 0, phase: Phase::Kernel, ..r.clone() });
            Decided::Skip { cpu: i, at: c.phase(), read }
        } else if at.in_user() {
            let read = c.read.as_ref().map(|r| (r.addr, r.value));
            Decided::Interrupt { cpu: i, read, at, hook_before_kick: false }
        } else {
            Decided::Interrupt { cpu: i, read: None, at: Phase::Kernel, hook_before_kick: c.hook_before_kick }
        };
        self.decisions.push(d);
    }

    /// Drops what the verdict can no longer depend on.
    fn forget(&mut self) {
        let Monitor { kick_done, cpus, decisions } = self;
        for c in cpus.iter_mut() {
            if let Some(r) = &mut c.read {
                r.settle(c.svc, c.hook);
            }
        }
        for d in decisions.iter_mut() {
            if let Decided::Skip { cpu, read: Some(r), .. } = d {
                r.settle(cpus[*cpu].svc, cpus[*cpu].hook);
            }
        }
        if !*kick_done {
            return;
        }
        // The kick returned: no decision is to come, so where a CPU is and what the sender read
        // of it no longer matter, and nothing about a CPU it did not skip.
        for (i, c) in cpus.iter_mut().enumerate() {
            let skipped = decisions.iter().any(|d| matches!(d, Decided::Skip { cpu, .. } if *cpu == i));
            if skipped {
                *c = CpuMonitor { eret: false, hook_before_kick: false, read: None, ..c.clone() };
            } else {
                *c = CpuMonitor::default();
            }
        }
    }

    /// The facts of each decision, at the end of a path (those its verdict does not depend on
    /// left at their defaults).
    fn facts(&self) -> Vec<Facts> {
        let facts = |d: &Decided| match *d {
            Decided::Interrupt { cpu, read, at, hook_before_kick } => Facts {
                cpu: cpu + 1,
                skip: false,
                read,
                at_read: at,
                at_decision: at,
                hook_before_kick,
                unseen_entry: false,
                entered: false,
                hooked: false,
                kick_done: self.kick_done,
                data: None,
                site: None,
            },
            Decided::Skip { cpu, at, ref read } => {
                let c = &self.cpus[cpu];
                let unseen_entry = read.as_ref().is_some_and(|r| {
                    let mut r = r.clone();
                    r.settle(c.svc, c.hook);
                    r.unseen
                });
                Facts {
                    cpu: cpu + 1,
                    skip: true,
                    read: None,
                    at_read: at,
                    at_decision: at,
                    hook_before_kick: false,
                    unseen_entry,
                    entered: c.svc.is_some(),
                    hooked: c.hook.is_some(),
                    kick_done: self.kick_done,
                    data: c.data,
                    site: c.site,
                }
            }
        };
        self.decisions.iter().map(facts).collect()
    }
}

/// The harness's machine with its monitor: what `check` explores.
struct Monitored<'a> {
    sys: Exhaustive<'a>,
    h: &'a Harness,
}

/// A state of [`Monitored`]: the machine's (whose ghost log is always empty: each transition's
/// events are folded into the monitor) and the monitor's.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Checked {
    machine: State,
    monitor: Monitor,
}

impl Monitored<'_> {
    fn initial(&self) -> Checked {
        let machine = self.sys.initial(&self.h.threads, &self.h.mem);
        Checked { machine, monitor: Monitor::new(self.h.state_words.len()) }
    }
}

impl TransitionSystem for Monitored<'_> {
    type State = Checked;
    type Label = Step;

    fn expand(&self, s: &Checked, out: &mut Vec<(Step, Checked)>) -> Expansion {
        let mut next = vec![];
        let e = self.sys.expand(&s.machine, &mut next);
        for (step, mut machine) in next {
            let mut monitor = s.monitor.clone();
            monitor.observe(self.h, &machine.trace);
            machine.trace.clear();
            out.push((step, Checked { machine, monitor }));
        }
        e
    }

    fn apply(&self, s: &mut Checked, step: &Step) -> bool {
        let ok = self.sys.apply(&mut s.machine, step);
        s.monitor.observe(self.h, &s.machine.trace);
        s.machine.trace.clear();
        ok
    }
}

#[derive(Debug, Default, PartialEq)]
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
    jobs: usize,
}

impl Check {
    /// A checker with `cfg`, exploring on one thread.
    pub fn new(cfg: CheckConfig) -> Check {
        Check { cfg, jobs: 1 }
    }

    /// The checker exploring on `jobs` threads. The report is the same for any number: the
    /// threads explore in no particular order ([`sim::explore::explore_unordered`]) and give
    /// the counts, coverage and verdict when nothing is found and no limit is hit (none of them
    /// depends on the order); otherwise the search runs again on one thread, which picks the
    /// counterexamples and where a limit cuts as the serial search does.
    pub fn jobs(mut self, jobs: usize) -> Check {
        self.jobs = jobs.max(1);
        self
    }

    /// Loads protocol `p` into the kernel and the harness as [`Check::run`] does, and explores
    /// nothing: the errors a protocol file can have before any path is taken.
    pub fn load(&self, p: &ProtocolFile) -> Result<(), CheckError> {
        Harness::build(p, &self.cfg).map(|_| ())
    }

    /// Explores protocol `p`.
    pub fn run(&self, p: &ProtocolFile) -> Result<CheckReport, CheckError> {
        let h = Harness::build(p, &self.cfg)?;
        let sys = Monitored { sys: h.system(&self.cfg), h: &h };
        let init = sys.initial();
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
        if self.jobs > 1 {
            let found = std::sync::Mutex::new((Orderings::default(), false));
            let stats = explore_unordered(&sys, init.clone(), &limits, self.jobs, |s| {
                let j = h.judge(&s.monitor.facts());
                let mut f = found.lock().unwrap_or_else(|e| e.into_inner());
                f.0 += &j.coverage;
                f.1 |= !j.found.is_empty();
                // A finding needs the serial search's counterexample: stop here.
                !f.1
            });
            let (coverage, any) = found.into_inner().unwrap_or_else(|e| e.into_inner());
            if !any && !stats.state_limit_hit {
                report.stats = stats;
                report.coverage = coverage;
                return Ok(report);
            }
        }
        let mut shortest: [Option<(usize, Counterexample)>; 2] = [None, None];
        report.stats = explore_with_paths(&sys, init, &limits, |s, path| {
            let j = h.judge(&s.monitor.facts());
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
        let (trace, graph, ends, judged) = {
            let sys = Exhaustive {
                record: true,
                ghosts: Ghosts {
                    probes: &probes,
                    probe_ids: &ids,
                    watch: &[],
                    all_accesses: true,
                    watch_translations: &[],
                },
                ..h.system(&self.cfg)
            };
            // Step by step, to know which transition each logged event belongs to.
            let mut s = sys.initial(&h.threads, &h.mem);
            let mut ends = Vec::with_capacity(steps.len());
            for step in steps {
                if !sys.apply(&mut s, step) {
                    return Err(CheckError::Config("the counterexample does not replay on this protocol".to_string()));
                }
                ends.push(s.trace.len());
            }
            // Judged as the exploration judged it: on the exploring system's own
            // probes (the trace above numbers every instruction as a probe).
            let explorer = Monitored { sys: h.system(&self.cfg), h: &h };
            let judged = replay(&explorer, explorer.initial(), steps)
                .map(|s| h.judge(&s.monitor.facts()).found)
                .unwrap_or_default();
            let graph = s.exec_graph(&h.mem);
            (std::mem::take(&mut s.trace), graph, ends, judged)
        };
        let rows = timeline(&h, &trace, &all, &ends);
        let cpus = h.threads.len();
        Ok(Replayed {
            cpus,
            rows,
            c_file: h.c_file.clone(),
            transitions: steps.len(),
            found: judged.into_iter().map(|f| (f.0, f.2)).collect(),
            path: path::Path::new(h, self.cfg.mode, trace, &all, graph),
        })
    }

    /// The shortest path on which the sender skipped an isolated CPU without seeing the state
    /// write of that CPU's kernel entry (the entry hook is then what must synchronize it), and
    /// the CPU went on to its data read and the patched instruction: the path of a protocol
    /// closest to the store-buffering counterexamples of its mutants. `None` if there is none
    /// within the bound. Returns the CPU and the path.
    pub fn deferral_path(&self, p: &ProtocolFile) -> Result<Option<(usize, Vec<Step>)>, CheckError> {
        let h = Harness::build(p, &self.cfg)?;
        let sys = Monitored { sys: h.system(&self.cfg), h: &h };
        let limits = Limits { max_states: self.cfg.max_states };
        let mut best: Option<(usize, Vec<Step>)> = None;
        explore_with_paths(&sys, sys.initial(), &limits, |s, path| {
            let found = s
                .monitor
                .facts()
                .into_iter()
                .find(|d| d.skip && d.unseen_entry && d.hooked && d.data.is_some() && d.site.is_some());
            if let Some(d) = found {
                let steps = path.labels();
                if best.as_ref().is_none_or(|(_, b)| steps.len() < b.len()) {
                    best = Some((d.cpu, steps));
                }
            }
        });
        Ok(best)
    }
}

/// A counterexample replayed.
pub struct Replayed {
    /// CPUs (timeline columns).
    pub cpus: usize,
    /// One row per event.
    pub rows: Vec<Row>,
    /// Transitions of the path (the explorer's steps; [`Row::step`] numbers them).
    pub transitions: usize,
    /// What the replayed final state breaks.
    pub found: Vec<(Consequence, String)>,
    /// For a protocol in C, its file's name: rows of its instructions start with `L<n>`, the C
    /// line they were compiled from.
    pub c_file: Option<String>,
    path: path::Path,
}

impl Replayed {
    /// The execution graph of the path.
    pub fn graph(&self) -> &ExecGraph {
        &self.path.graph
    }

    /// Why `c` happened, in one line: the pair of accesses of one CPU that the memory model let
    /// the other CPU see reversed (from the cycle of the path's execution graph), or the
    /// protocol's decision when nothing was reordered.
    pub fn cause(&self, c: &Counterexample) -> crate::cause::Cause {
        self.path.cause(c.consequence, c.cpu)
    }

    /// The path's execution graph as Graphviz DOT, with the harness's names and the cycle behind
    /// `c` in bold, titled `title`.
    pub fn dot(&self, c: &Counterexample, title: &str) -> String {
        self.path.dot(c.consequence, c.cpu, title)
    }

    /// The essential accesses of `c` (its cycle, with the barriers between them) as a herd7
    /// AArch64 litmus test named `name`, whose `exists` clause is the violating outcome; an
    /// error saying why when `c` has no such cycle.
    pub fn litmus(&self, c: &Counterexample, name: &str) -> Result<String, String> {
        if c.consequence == Consequence::IsolationBreak {
            return Err(no_cycle(c.consequence));
        }
        let cycle = self.path.cycle(c.consequence, c.cpu, None).ok_or_else(|| no_cycle(c.consequence))?;
        self.path.litmus(&cycle, name, &c.what)
    }

    /// For a path found by [`Check::deferral_path`]: the deferral cycle about access `stale` of
    /// CPU `cpu` as a litmus test whose `exists` clause is the violating outcome (the sender
    /// saw no entry, and the CPU got the old copy), which a correct protocol never shows.
    pub fn deferral_litmus(&self, cpu: usize, stale: Stale, name: &str) -> Result<String, String> {
        let cycle = self
            .path
            .cycle(Consequence::SafetyViolation, cpu, Some(stale))
            .ok_or_else(|| "the path has no skip of an unseen kernel entry".to_string())?;
        let what = format!("the sender skipped CPU {cpu} without seeing its kernel entry; does it get the old copy");
        self.path.litmus(&cycle, name, &what)
    }
}

/// Why a consequence has no litmus test.
fn no_cycle(c: Consequence) -> String {
    match c {
        Consequence::IsolationBreak => {
            "an isolation break is about where the CPU was when the sender read its state (in \
                                        user code), which no final state of a litmus test can say"
                .to_string()
        }
        Consequence::SafetyViolation => {
            "no reordering explains it (the protocol's decision does), so a litmus test would \
                                         show an outcome every memory model allows"
                .to_string()
        }
    }
}

/// `address = value`, with the value named where the harness knows what it
/// means (an encoding at the patched site as its instruction).
fn assignment(h: &Harness, a: Addr, v: u64) -> String {
    let name = h.names.get(&a).cloned().unwrap_or_else(|| format!("[{a:#x}]"));
    if name.contains("(text)") {
        return format!("{name} = `{}`", h.code.decode(v));
    }
    crate::verify::timeline::state_assignment(&name, v).unwrap_or_else(|| format!("{name} = {v}"))
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

/// The rows of a path; `ends[k]` is the length of the log after transition `k`.
fn timeline(h: &Harness, trace: &[Ghost], pcs: &[Addr], ends: &[usize]) -> Vec<Row> {
    // A protocol in C: `L<n>` before each of its instructions, its C line.
    let label_pc = |pc: Addr| {
        let line = h.c_lines.get(&pc).map_or(String::new(), |l| format!("L{l} "));
        match h.code.label_at(pc) {
            Some(l) => format!("{line}{l}: "),
            None => line,
        }
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
            // Logged only with TLBs modelled; a translation is worth a row when it is stale.
            Ghost::Translated { core, va, pa, stale: true, .. } => {
                (core, format!("  translates {va:#x} to {pa:#x} through a stale TLB entry"))
            }
            Ghost::Translated { .. } => continue,
        };
        let step = ends.partition_point(|&e| e <= i) + 1;
        rows.push(Row { cpu: cpu as usize, cycle: None, step: Some(step), text });
    }
    rows
}

fn is_barrier(i: &Inst) -> bool {
    matches!(i, Inst::Dmb(_) | Inst::Dsb(_) | Inst::Isb)
}

impl fmt::Display for Counterexample {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {} ({} steps)", self.consequence, self.what, self.steps.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel::Protocol;
    use sim::explore::explore;

    /// The facts of each decision, read off a path's whole ghost log by the positions of its
    /// events: what the monitor, which keeps no log, must come to.
    fn facts_from_log(h: &Harness, log: &[Ghost]) -> Vec<Facts> {
        let retired = |core: usize, m: Mark| {
            log.iter().enumerate().filter_map(move |(p, g)| match *g {
                Ghost::Retired { core: c, probe, iid, values }
                    if c as usize == core && Mark::from_id(probe) == Some(m) =>
                {
                    Some((p, iid, values))
                }
                _ => None,
            })
        };
        let kick = retired(0, Mark::Kick).next_back().map(|r| r.0);
        let kick_done = retired(0, Mark::KickDone).next_back().map(|r| r.0);
        let mut facts = vec![];
        for (pos, _, values) in retired(0, Mark::Decided) {
            let Some(i) = (values[1] as usize).checked_sub(2).filter(|&i| i < h.state_words.len()) else { continue };
            let t = i + 1;
            let (svc, hook, eret) = (
                retired(t, Mark::Svc).next_back(),
                retired(t, Mark::HookDone).next(),
                retired(t, Mark::Eret).next_back(),
            );
            let phase = |p: usize| match (svc, eret) {
                (Some(s), _) if s.0 > p => Phase::BeforeSvc,
                (None, _) => Phase::BeforeSvc,
                (_, Some(e)) if e.0 < p => Phase::AfterEret,
                _ => Phase::Kernel,
            };
            let read = log[..pos].iter().enumerate().rev().find_map(|(p, g)| match *g {
                Ghost::Read { core: 0, addr, value, .. } if h.state_words[i].contains(&addr) => Some((p, addr, value)),
                _ => None,
            });
            let unseen_entry = read.is_some_and(|(p, word, _)| {
                let (Some(svc), Some(hook)) = (svc, hook) else { return false };
                log[p..].iter().any(|g| {
                    matches!(*g, Ghost::Stored { core, write, addr, .. }
                        if core as usize == t && addr == word && write.iid > svc.1 && write.iid < hook.1)
                })
            });
            let access = |m: Mark| retired(t, m).next_back().map(|(p, _, v)| (v[0], kick_done.is_some_and(|k| p > k)));
            facts.push(Facts {
                cpu: t,
                skip: values[0] != 0,
                read: read.map(|r| (r.1, r.2)),
                at_read: phase(read.map_or(pos, |r| r.0)),
                at_decision: phase(pos),
                hook_before_kick: hook.zip(kick).is_some_and(|(h, k)| h.0 < k),
                unseen_entry,
                entered: svc.is_some(),
                hooked: hook.is_some(),
                kick_done: kick_done.is_some(),
                data: access(Mark::DataRead),
                site: access(Mark::Site),
            });
        }
        facts
    }

    /// Every path of the exploration without the monitor (each state keeps its whole ghost
    /// log, so no two paths with different logs merge): the monitor folded over the log, step
    /// by step, comes to the verdict and ordering the log says, for protocols that show every
    /// verdict and ordering.
    #[test]
    fn the_monitor_judges_every_path_as_its_whole_log_does() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("protocols/mutants");
        let mut files = vec![ProtocolFile::builtin(Protocol::Deferred), ProtocolFile::builtin(Protocol::Broadcast)];
        for m in ["check-reversed", "exit-no-final-dmb", "sender-reads-flag-first", "entry-no-isb", "entry-no-dmb"] {
            files.push(ProtocolFile::load(&dir.join(format!("{m}.S"))).unwrap());
        }
        for p in &files {
            let stats = agree_on_every_final(p, &CheckConfig::default(), u64::MAX);
            assert!(!stats.bound_hit(), "{}: {stats:?}", p.name);
        }
        // Two isolated CPUs: the first paths (all of them would take minutes with whole logs).
        let cfg = CheckConfig { cpus: 3, ..CheckConfig::default() };
        for p in &files[..3] {
            let stats = agree_on_every_final(p, &cfg, 100_000);
            assert!(stats.finals > 1000, "{}: {stats:?}", p.name);
        }
    }

    /// Explores `p` keeping whole logs, up to `max_states`, and checks the monitor on every final
    /// state against [`facts_from_log`].
    fn agree_on_every_final(p: &ProtocolFile, cfg: &CheckConfig, max_states: u64) -> ExploreStats {
        let h = Harness::build(p, cfg).unwrap();
        let sys = h.system(cfg);
        let mut decisions = 0;
        let stats = explore(&sys, sys.initial(&h.threads, &h.mem), &Limits { max_states }, |s| {
            let mut m = Monitor::new(h.state_words.len());
            // One event at a time: the monitor forgets after each, finer than one transition.
            for g in &s.trace {
                m.observe(&h, std::slice::from_ref(g));
            }
            let facts = m.facts();
            assert_eq!(h.judge(&facts), h.judge(&facts_from_log(&h, &s.trace)), "{}: {:?}", p.name, s.trace);
            decisions += facts.len();
        });
        assert_eq!(decisions as u64, stats.finals * (cfg.cpus as u64 - 1), "{}: one decision per CPU", p.name);
        stats
    }
}
