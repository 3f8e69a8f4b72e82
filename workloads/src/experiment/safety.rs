//! The safety property, checked while the experiment runs, and the seed's
//! four orderings of a kernel entry against a kick, counted.
//!
//! A kick (`kick_all_cpus_sync()`, or a deferred `flush_tlb_kernel_range()`)
//! promises its caller that every other CPU has synchronized with what the
//! caller published before it, or will before it next runs kernel code.
//! The run turns the promise into a check on every isolated CPU `c`, for
//! every kick `K`:
//!
//! * the *obligation point*: if `K` interrupted `c`, the moment `K`
//!   returned; if `K` skipped `c` (the protocol deferred it), the
//!   retirement of the first entry hook `c` completes after the decision;
//! * every load from a watched kernel address that `c` retires at EL1 after
//!   its obligation point must read a write no older than the newest write
//!   to that address that had reached storage when `K` was called, nor than
//!   the sender's own last store to it before the call in program order
//!   (still in its store buffer or not: publishing it is the kick's job):
//!   otherwise **stale data**;
//! * every patched instruction `c` retires after it must come from such a
//!   write: otherwise **stale instruction**;
//! * for TLB flushes, every translation `c` uses after it must not come from
//!   a TLB entry filled before the flush began: otherwise **stale
//!   translation**.
//!
//! Comparing in program order (retirement) and not in time is what makes
//! the check bite: a load that retires after the hook but took its value
//! before the hook's barrier (reordered) is exactly the bug the seed's
//! barriers exist to prevent.

use std::collections::HashMap;
use std::fmt;

use cpu_model::code::CodeSpace;
use cpu_model::core::{ExceptionKind, RetiredStore, WatchedLoad};
use cpu_model::machine::{Machine, WatchedStore};
use memory_model::{Addr, Mode, ThreadId, WriteId};
use serde::{Deserialize, Serialize};
use sim::Cycle;

use super::build::{Experiment, Layout, probe};
use crate::cause::{Access, AccessKind, Cause, Unordered};
use crate::verify::timeline::CodeNames;

/// One kick (or deferred TLB flush) as the sender's probes saw it.
#[derive(Clone, Debug)]
pub(crate) struct Kick {
    pub sender: usize,
    /// A TLB flush (rather than kick_all_cpus_sync).
    pub tlb: bool,
    /// Retirement of the call's first instruction (`kick_publish`, `flush_publish`): what
    /// was published before is covered.
    pub publish: Cycle,
    /// Per target CPU: (cpu, skipped, decision cycle, cycle the sender's last read of the
    /// target's state was satisfied, by a load or an atomic's read such as a failed CAS: the
    /// decision's cycle if it read none).
    pub decisions: Vec<(usize, bool, Cycle, Cycle)>,
    /// When it returned.
    pub done: Option<Cycle>,
    /// Per watched address, how many of its writes had reached storage at `publish`.
    pub snapshot: Vec<usize>,
    /// Per watched address, the sender's own last store before the kick in program order
    /// (published by the kick even if it was still in the store buffer at `publish`).
    pub own: Vec<Option<WriteId>>,
}

/// A broken promise: who wrote what, who read what, and in which order.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Violation {
    /// `stale data`, `stale instruction`, `stale translation`, or `fault` (the kernel took a
    /// translation fault or ran an undefined instruction).
    pub kind: String,
    /// The CPU that used the stale copy.
    pub cpu: usize,
    /// Cycle of the use (retirement, or translation).
    pub at: Cycle,
    /// What was read (address and its name).
    pub what: String,
    /// The whole story, one line per event.
    pub story: Vec<String>,
    /// The accesses the violation rests on, with their times: what its cause is derived from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evidence: Option<Box<Evidence>>,
}

impl Violation {
    /// Why it happened, in one line (see [`Evidence::cause`]); `None` for a fault.
    pub fn cause(&self) -> Option<Cause> {
        self.evidence.as_deref().map(Evidence::cause)
    }
}

/// An access a violation rests on, and when it took effect.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Timed {
    /// The CPU.
    pub cpu: usize,
    /// The instruction's mnemonic (`STR`, `LDR`).
    pub instr: String,
    /// What it accessed, by name (`cpu1.isol_flags`).
    pub name: String,
    /// The value it read or wrote.
    pub value: u64,
    /// When it retired.
    pub retired: Option<Cycle>,
    /// When it took effect: a load took its value, a store reached memory (`None`: still in the
    /// store buffer when the violation was found, or not known).
    pub effect: Option<Cycle>,
}

impl Timed {
    fn access(&self, kind: AccessKind) -> Access {
        Access::new(kind, &self.instr, &self.name)
    }
}

/// What a violation rests on: the access that returned the old copy, the newer write the kick
/// published, the sender's read of the CPU's state its decision was made on, and the CPU's
/// state write that read missed (when an entry of the CPU made one).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Evidence {
    /// The memory model of the cores.
    pub mode: Mode,
    /// The access that returned the old copy (a patched instruction: `effect` unknown).
    pub reader: Timed,
    /// The newer write, if the kind of violation has one (data and instructions).
    pub writer: Option<Timed>,
    /// The sender's last read of the CPU's state before its decision.
    pub state_read: Option<Timed>,
    /// The CPU's state write made by its kernel entry that reached memory after that read.
    pub unseen: Option<Timed>,
    /// The decision: skipped (or interrupted), and when.
    pub skipped: bool,
    /// Cycle of the decision.
    pub decided_at: Cycle,
    /// Where the CPU must have synchronized by (its obligation point).
    pub obligation: Cycle,
}

impl Evidence {
    /// The cause: the pairs, one per CPU, whose second access took effect before the first
    /// reached memory although it comes later in program order (the victim's entry state write
    /// and its stale access; the sender's published write and its state read), with what
    /// would have ordered them under the model; or, when neither pair was reordered, the
    /// decision and what the CPU did after its obligation point.
    pub fn cause(&self) -> Cause {
        let mut pairs = vec![];
        let stale_kind = if self.reader.effect.is_some() { AccessKind::Load } else { AccessKind::Fetch };
        if let Some(e) = &self.unseen
            && let Some(p) = reordered(self.mode, e, &self.reader, stale_kind)
        {
            pairs.push(p);
        }
        if let (Some(p), Some(s)) = (&self.writer, &self.state_read)
            && p.cpu == s.cpu
            && let Some(p) = reordered(self.mode, p, s, AccessKind::Load)
        {
            pairs.push(p);
        }
        if !pairs.is_empty() {
            return Cause::Reordered(pairs);
        }
        let r = &self.reader;
        let decided = if self.skipped { "skipped" } else { "interrupted" };
        let read = match &self.state_read {
            Some(s) => format!(
                "on {} (read at cycle {})",
                crate::verify::timeline::state_assignment(&s.name, s.value)
                    .unwrap_or_else(|| format!("{} = {:#x}", s.name, s.value)),
                s.effect.map_or_else(|| "?".to_string(), |c| c.to_string())
            ),
            None => "without reading its state".to_string(),
        };
        let when = r.effect.or(r.retired).map_or_else(String::new, |c| format!(" at cycle {c}"));
        Cause::Decision(format!(
            "the sender {decided} CPU {} at cycle {} {read}; its {} {}{when}, after its obligation point (cycle {}), \
             got the old copy",
            r.cpu, self.decided_at, r.instr, r.name, self.obligation
        ))
    }
}

/// The pair `first` (a store) `-po->` `second`, if `second` took effect before `first` reached
/// memory.
fn reordered(mode: Mode, first: &Timed, second: &Timed, kind: AccessKind) -> Option<Unordered> {
    let took = second.effect.or(second.retired)?;
    let what = if kind == AccessKind::Fetch { "the instruction retired" } else { "the load took its value" };
    let seen = match first.effect {
        Some(at) if at > took => format!("it reached memory at cycle {at}, after {what} at cycle {took}"),
        Some(_) => return None,
        None => format!("it was still in the store buffer when {what} at cycle {took}"),
    };
    let rule = match kind {
        AccessKind::Fetch => {
            "an instruction is fetched anew after a store is visible only with a DMB ISH and then an \
                              ISB between them"
        }
        _ => memory_model::graph::what_orders(mode, false, true),
    };
    Some(Unordered {
        cpu: first.cpu,
        first: first.access(AccessKind::Store),
        second: second.access(kind),
        rule: rule.to_string(),
        between: None,
        seen: Some(seen),
    })
}

/// An isolation break as a timed run saw it: the sender's read of the CPU's state while the
/// CPU ran user code, and the CPU's state write that read missed, if any.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Break {
    /// The memory model of the cores.
    pub mode: Mode,
    /// The CPU interrupted.
    pub cpu: usize,
    /// The sender's last read of its state before the decision (`None`: it read none).
    pub state_read: Option<Timed>,
    /// Cycle of the decision.
    pub decided_at: Cycle,
    /// The CPU's last return to user space before the read.
    pub eret_at: Option<Cycle>,
    /// The CPU's first write of the word read to reach memory after the read.
    pub missed: Option<Timed>,
}

impl Break {
    /// The cause: the CPU's state write that retired before its return to user space but
    /// reached memory after the sender's read (a store the model let pass the ERET); or, when
    /// there is none, the decision on what the sender read.
    pub fn cause(&self) -> Cause {
        let c = self.cpu;
        if let (Some(w), Some(s), Some(eret)) = (&self.missed, &self.state_read, self.eret_at)
            && w.retired.is_some_and(|r| r <= eret)
        {
            let stored = w.effect.map_or_else(|| "?".to_string(), |x| x.to_string());
            let read = s.effect.map_or_else(|| "?".to_string(), |x| x.to_string());
            return Cause::Reordered(vec![Unordered {
                cpu: c,
                first: w.access(AccessKind::Store),
                second: Access::new(AccessKind::Eret, "ERET", ""),
                rule: "a store leaves the store buffer before a later ERET only with a DMB ISH between them".into(),
                between: None,
                seen: Some(format!(
                    "it reached memory at cycle {stored}, after the ERET at cycle {eret} and the sender's read at \
                     cycle {read}"
                )),
            }]);
        }
        let since = self.eret_at.map_or_else(String::new, |e| format!(" (since its ERET at cycle {e})"));
        Cause::Decision(match &self.state_read {
            Some(s) => format!(
                "the sender read {} at cycle {} while CPU {c} ran user code{since}, and interrupted it",
                crate::verify::timeline::state_assignment(&s.name, s.value)
                    .unwrap_or_else(|| format!("{} = {:#x}", s.name, s.value)),
                s.effect.map_or_else(|| "?".to_string(), |x| x.to_string()),
            ),
            None => format!(
                "the sender decided at cycle {} to interrupt CPU {c} without reading its state, while it ran user \
                 code{since}",
                self.decided_at
            ),
        })
    }
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{} on CPU {} at cycle {}: {}", self.kind, self.cpu, self.at, self.what)?;
        for line in &self.story {
            writeln!(f, "    {line}")?;
        }
        Ok(())
    }
}

/// What the safety check looked at and found.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Safety {
    /// Kicks and deferred TLB flushes seen.
    pub kicks: u64,
    /// Of their decisions about isolated CPUs: interrupted.
    pub interrupted: u64,
    /// Of their decisions about isolated CPUs: skipped (deferred).
    pub deferred: u64,
    /// Watched kernel loads of isolated CPUs checked against at least one obligation.
    pub loads_checked: u64,
    /// Patched-instruction executions of isolated CPUs checked.
    pub instructions_checked: u64,
    /// Translations of isolated CPUs through entries some flush made stale, checked.
    pub translations_checked: u64,
    /// Violations, in the order found.
    pub violations: Vec<Violation>,
}

/// How often each ordering of a kick against an isolated CPU occurred.
///
/// Cases 1–4 are the seed's (Belits, 2020-11-24); "exit race" is its
/// closing paragraph: the CPU returns to user space around the kick, so an
/// IPI decided while it was in the kernel reaches user code, or a kick skips
/// it between its exit hook and the return.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Orderings {
    /// 1: the entry hook ran concurrently with the publication and finished before the
    /// sender's check: the sender sees the CPU in the kernel and interrupts it.
    pub case1: u64,
    /// 2: the CPU was entering the kernel at the check, its flag write not yet visible: skipped,
    /// it synchronizes in the hook it is running.
    pub case2: u64,
    /// 3: the entry hook finished before the publication: the CPU is interrupted.
    pub case3: u64,
    /// 4: the CPU was in user space at the check: skipped, it synchronizes at its next entry.
    pub case4: u64,
    /// The exit-to-user race.
    pub exit_race: u64,
    /// Interrupted on a state read while the CPU ran user code, with no race: an isolation
    /// break (what every kick does under broadcast).
    pub interrupted_in_user: u64,
    /// Skipped, and no kernel entry before the run ended (not yet classified).
    pub pending: u64,
}

impl Orderings {
    /// Every one of the seed's four cases and the exit race occurred.
    pub fn all_occurred(&self) -> bool {
        self.seed_cases().iter().all(|&n| n > 0)
    }

    /// Cases 1–4 and the exit race, in that order.
    pub fn seed_cases(&self) -> [u64; 5] {
        [self.case1, self.case2, self.case3, self.case4, self.exit_race]
    }
}

impl std::ops::AddAssign<&Orderings> for Orderings {
    fn add_assign(&mut self, o: &Orderings) {
        self.case1 += o.case1;
        self.case2 += o.case2;
        self.case3 += o.case3;
        self.case4 += o.case4;
        self.exit_race += o.exit_race;
        self.interrupted_in_user += o.interrupted_in_user;
        self.pending += o.pending;
    }
}

/// Which of the seed's orderings a kick's decision about an isolated CPU took (see
/// [`Orderings`] for each).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Case {
    Case1,
    Case2,
    Case3,
    Case4,
    ExitRace,
    InterruptedInUser,
    Pending,
}

impl Case {
    /// How a report or a trace names it.
    pub fn label(self) -> &'static str {
        match self {
            Case::Case1 => "case 1: entry hook concurrent with the publication, CPU seen in the kernel",
            Case::Case2 => "case 2: entering the kernel, flag not yet visible: skipped, synchronizes in this hook",
            Case::Case3 => "case 3: entry hook done before the publication: interrupted",
            Case::Case4 => "case 4: in user space: skipped, synchronizes at its next entry",
            Case::ExitRace => "exit race",
            Case::InterruptedInUser => "interrupted in user space (isolation break)",
            Case::Pending => "skipped, no kernel entry before the run ended",
        }
    }
}

/// One classified decision: kick `kick` (an index of [`Checker::kicks`]) about CPU `cpu`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Decision {
    pub kick: usize,
    pub cpu: usize,
    pub decided_at: Cycle,
    pub case: Case,
}

/// The incremental checker: fed the machine's logs chunk by chunk.
pub(crate) struct Checker {
    layout: Layout,
    mode: Mode,
    code_names: CodeNames,
    /// Isolated CPU index by CPU number.
    isolated_index: Vec<Option<usize>>,
    /// Per core, how many probe hits were read.
    hit_cursor: Vec<usize>,
    /// Per isolated CPU, how many watched loads and stale instructions were read.
    load_cursor: Vec<usize>,
    inst_cursor: Vec<usize>,
    xlat_cursor: usize,
    store_cursor: usize,
    /// Per core, how many exception records were read.
    exception_cursor: Vec<usize>,
    /// Per watched address, its writes in storage order: (write, value, cycle).
    stores: Vec<Vec<(WriteId, u64, Cycle)>>,
    /// Per watched address, each write's version ([`Checker::version`]): its first place in
    /// `stores`, plus one. (Looked up only, never iterated.)
    versions: Vec<HashMap<WriteId, usize>>,
    /// Per watched address, per writing core: where its writes are in the machine's log of
    /// watched stores, in order. (Looked up only, never iterated as a map.)
    writes_by_core: Vec<HashMap<ThreadId, Vec<usize>>>,
    pub kicks: Vec<Kick>,
    /// Open kick of each sender.
    open: Vec<Option<usize>>,
    /// Per isolated CPU, retirements of entry-hook ends.
    pub hook_done: Vec<Vec<Cycle>>,
    safety: Safety,
}

impl Checker {
    pub fn new(exp: &Experiment, code: &CodeSpace) -> Self {
        let cpus = exp.run.cpus;
        let mut isolated_index = vec![None; cpus];
        for (i, &c) in exp.layout.isolated.iter().enumerate() {
            isolated_index[c] = Some(i);
        }
        let n = exp.layout.isolated.len();
        Checker {
            layout: exp.layout.clone(),
            mode: exp.machine.mode,
            code_names: CodeNames::new(code),
            isolated_index,
            hit_cursor: vec![0; cpus],
            load_cursor: vec![0; n],
            inst_cursor: vec![0; n],
            xlat_cursor: 0,
            store_cursor: 0,
            exception_cursor: vec![0; cpus],
            stores: vec![vec![]; exp.layout.watched.len()],
            versions: vec![HashMap::new(); exp.layout.watched.len()],
            writes_by_core: vec![HashMap::new(); exp.layout.watched.len()],
            kicks: vec![],
            open: vec![None; cpus],
            hook_done: vec![vec![]; n],
            safety: Safety::default(),
        }
    }

    pub fn violations(&self) -> &[Violation] {
        &self.safety.violations
    }

    pub fn safety(&self) -> &Safety {
        &self.safety
    }

    fn watch_index(&self, addr: Addr) -> Option<usize> {
        self.layout.watched.iter().position(|w| w.0 == addr)
    }

    /// Version of `w` at watched address `i`: 0 for the initial value, k for
    /// its k-th write; `None` if it has not reached storage (a forwarded own
    /// store).
    fn version(&self, i: usize, w: WriteId) -> Option<usize> {
        if w.is_init() {
            return Some(0);
        }
        self.versions[i].get(&w).copied()
    }

    /// Reads what the machine logged since the last call and checks it.
    pub fn ingest(&mut self, m: &Machine) {
        for (j, s) in m.watched_stores().iter().enumerate().skip(self.store_cursor) {
            if let Some(i) = self.watch_index(s.addr) {
                self.stores[i].push((s.write, s.value, s.at));
                let version = self.stores[i].len();
                self.versions[i].entry(s.write).or_insert(version);
                self.writes_by_core[i].entry(s.write.tid).or_default().push(j);
            }
        }
        self.store_cursor = m.watched_stores().len();

        for c in 0..self.hit_cursor.len() {
            let hits = &m.observed(c).probe_hits;
            for h in &hits[self.hit_cursor[c]..] {
                match h.probe {
                    probe::KICK_PUBLISH | probe::FLUSH_PUBLISH => {
                        let snapshot = self.stores.iter().map(|v| v.iter().filter(|s| s.2 <= h.at).count()).collect();
                        let mut own = vec![None; self.layout.watched.len()];
                        let mine = &m.observed(c).retired_stores;
                        for st in mine[..mine.partition_point(|s| s.write.iid < h.iid)].iter().rev() {
                            if let Some(w) = self.watch_index(st.addr) {
                                own[w].get_or_insert(st.write);
                            }
                        }
                        self.kicks.push(Kick {
                            own,
                            sender: c,
                            tlb: h.probe == probe::FLUSH_PUBLISH,
                            publish: h.at,
                            decisions: vec![],
                            done: None,
                            snapshot,
                        });
                        self.open[c] = Some(self.kicks.len() - 1);
                        self.safety.kicks += 1;
                    }
                    probe::KICK_DECIDED | probe::FLUSH_DECIDED => {
                        if let Some(k) = self.open[c] {
                            let target = h.values[0] as usize;
                            let skipped = h.values[1] != 0;
                            let read_at = self.state_read(m, c, target, h.at);
                            self.kicks[k].decisions.push((target, skipped, h.at, read_at));
                            if self.isolated_index.get(target).copied().flatten().is_some() {
                                if skipped {
                                    self.safety.deferred += 1;
                                } else {
                                    self.safety.interrupted += 1;
                                }
                            }
                        }
                    }
                    probe::KICK_DONE | probe::FLUSH_DONE => {
                        if let Some(k) = self.open[c].take() {
                            self.kicks[k].done = Some(h.at);
                        }
                    }
                    probe::ENTRY_HOOK_DONE => {
                        if let Some(i) = self.isolated_index[c] {
                            self.hook_done[i].push(h.at);
                        }
                    }
                    _ => {}
                }
            }
            self.hit_cursor[c] = hits.len();
        }

        // A synchronous exception other than a system call is a kernel bug
        // (the kernel takes no faults by design): report it like a violation.
        for c in 0..self.exception_cursor.len() {
            let ex = m.state().cores[c].exceptions();
            for e in &ex[self.exception_cursor[c]..] {
                if let ExceptionKind::Sync { class } = e.kind
                    && class != 0x15
                {
                    self.safety.violations.push(Violation {
                        kind: "fault".into(),
                        cpu: c,
                        at: e.taken_at,
                        what: format!("exception class {class:#x} at {}", self.code_names.name(e.return_pc)),
                        story: vec![format!(
                            "CPU {c} took a synchronous exception (class {class:#x}) from EL{} at cycle {}, \
                             returning to {}",
                            e.from_el,
                            e.taken_at,
                            self.code_names.name(e.return_pc)
                        )],
                        evidence: None,
                    });
                }
            }
            self.exception_cursor[c] = ex.len();
        }

        for (i, &c) in self.layout.isolated.clone().iter().enumerate() {
            let obligations = self.obligations(m, i, c);
            if obligations.is_empty() {
                self.load_cursor[i] = m.observed(c).watched_loads.len();
                self.inst_cursor[i] = m.state().cores[c].stale_instructions().len();
                continue;
            }
            self.check_loads(m, i, c, &obligations);
            self.check_instructions(m, i, c, &obligations);
        }
        self.check_translations(m);
    }

    /// When sender `c`'s last read of `target`'s state words retired by
    /// `decided` was satisfied; `decided` itself if there is none.
    fn state_read(&self, m: &Machine, c: usize, target: usize, decided: Cycle) -> Cycle {
        self.last_state_read(m, c, target, decided).map_or(decided, |l| l.satisfied_at)
    }

    /// Sender `c`'s last read of `target`'s state words retired by `decided`: the read the
    /// decision rests on, a load's or a read-modify-write's (a CAS that failed because the CPU
    /// had entered the kernel decides on what it read, not on the load before it), as
    /// `isolsim check`'s monitor takes the last ghost read.
    fn last_state_read(&self, m: &Machine, c: usize, target: usize, decided: Cycle) -> Option<WatchedLoad> {
        let i = self.isolated_index.get(target).copied().flatten()?;
        let words = self.layout.state_words[i];
        let loads = &m.observed(c).watched_loads;
        loads[..loads.partition_point(|l| l.retired_at <= decided)]
            .iter()
            .rev()
            .find(|l| words.contains(&l.addr))
            .copied()
    }

    /// The end of the entry hook that must synchronize isolated CPU `c`
    /// (index `i`) after sender `sender` skipped it at `decided`, judged by
    /// what the sender read: the next write `c` made to the state word the
    /// sender read (the first to reach storage after the read) was made by
    /// an entry hook the sender therefore did not see, whenever that hook
    /// ran. `None` if that write is not an entry hook's (an exit's, an
    /// atomic's) or there is none. With the hook's end: that write, and its
    /// retirement.
    fn unseen_entry_hook(
        &self,
        m: &Machine,
        i: usize,
        c: usize,
        sender: usize,
        decided: Cycle,
    ) -> Option<(Cycle, WatchedStore, RetiredStore)> {
        let read = self.last_state_read(m, sender, c, decided)?;
        // Writes are logged as they reach storage (by cycle), retired stores in program order,
        // exceptions as taken: each lookup starts with a binary search.
        let stored = m.watched_stores();
        let from = stored.partition_point(|w| w.at <= read.satisfied_at);
        // The first of `c`'s writes to the address from `from` on: by the index of the writes
        // ingested so far, else among those logged since (all of them for an address the index
        // does not cover).
        let (indexed, scan_from) = match self.watch_index(read.addr) {
            Some(i) => {
                let mine = self.writes_by_core[i].get(&(c as ThreadId)).map_or(&[][..], Vec::as_slice);
                (mine.get(mine.partition_point(|&j| j < from)).map(|&j| &stored[j]), from.max(self.store_cursor))
            }
            None => (None, from),
        };
        let next = match indexed {
            Some(w) => w,
            None => stored[scan_from..].iter().find(|w| w.addr == read.addr && w.write.tid as usize == c)?,
        };
        let retired_stores = &m.observed(c).retired_stores;
        let retired = retired_stores.get(retired_stores.partition_point(|r| r.write.iid < next.write.iid))?;
        let retired = (retired.write == next.write).then_some(*retired)?;
        let ex = m.state().cores[c].exceptions();
        let entry =
            ex[..ex.partition_point(|e| e.taken_at <= retired.retired_at)].iter().rev().find(|e| e.from_el == 0)?;
        let h = &self.hook_done[i];
        let end =
            h.get(h.partition_point(|&t| t < entry.taken_at)).copied().filter(|&end| retired.retired_at <= end)?;
        Some((end, *next, retired))
    }

    /// An access as a violation's evidence: its instruction's mnemonic and its address's name.
    fn timed(
        &self,
        m: &Machine,
        cpu: usize,
        pc: Addr,
        addr: Addr,
        value: u64,
        times: (Option<Cycle>, Option<Cycle>),
    ) -> Timed {
        let instr = m.code().disasm(pc).split_whitespace().next().unwrap_or("").to_string();
        let name = self.layout.name(addr).unwrap_or_else(|| format!("{addr:#x}"));
        Timed { cpu, instr, name, value, retired: times.0, effect: times.1 }
    }

    /// The evidence of a stale access `reader` of CPU `c` (index `i`) against kick `k` on watched
    /// address `w`, which needed its version `need`.
    fn evidence(
        &self,
        m: &Machine,
        (i, c): (usize, usize),
        k: usize,
        (w, need): (usize, Option<usize>),
        reader: Timed,
        obligation: Cycle,
    ) -> Option<Box<Evidence>> {
        let kick = &self.kicks[k];
        let &(_, skipped, decided_at, _) = kick.decisions.iter().find(|d| d.0 == c)?;
        // The newer write: in storage, or the sender's own store still in its buffer.
        let newer = match need {
            Some(n) => self.stores[w].get(n - 1).map(|&(id, v, at)| (id, v, Some(at))),
            None => kick.own[w].map(|id| (id, 0, None)),
        };
        let addr = self.layout.watched.get(w).map_or(self.layout.patch_site, |x| x.0);
        let writer = newer.and_then(|(id, v, at)| {
            let rs = &m.observed(id.tid as usize).retired_stores;
            let r = rs.iter().find(|r| r.write == id)?;
            Some(self.timed(m, id.tid as usize, r.pc, addr, v, (Some(r.retired_at), at)))
        });
        let read = self.last_state_read(m, kick.sender, c, decided_at);
        let state_read =
            read.map(|l| self.timed(m, kick.sender, l.pc, l.addr, l.value, (Some(l.retired_at), Some(l.satisfied_at))));
        let unseen = if skipped { self.unseen_entry_hook(m, i, c, kick.sender, decided_at) } else { None };
        let unseen =
            unseen.map(|(_, st, r)| self.timed(m, c, r.pc, st.addr, st.value, (Some(r.retired_at), Some(st.at))));
        Some(Box::new(Evidence {
            mode: self.mode,
            reader,
            writer,
            state_read,
            unseen,
            skipped,
            decided_at,
            obligation,
        }))
    }

    /// The obligation points of isolated CPU `c` (index `i`): (cycle, kick), by cycle.
    ///
    /// Interrupted: the kick's return. Skipped: the end of the entry hook
    /// whose state write the sender did not see (it read an older value of
    /// that word: [`Checker::unseen_entry_hook`]), even if that hook ended
    /// before the decision; else the end of the CPU's next entry hook,
    /// unless the CPU was already in the kernel past its hook when the
    /// sender decided; then nothing will synchronize it, and the sender's
    /// promise holds from the kick's return (a protocol that skips a CPU in
    /// the kernel is caught by the accesses it makes after that).
    fn obligations(&self, m: &Machine, i: usize, c: usize) -> Vec<(Cycle, usize)> {
        let entries = m.state().cores[c].exceptions();
        let h = &self.hook_done[i];
        // Exceptions are recorded in the order taken: the last entry from
        // user space taken by `d`, then whether it had not returned and its
        // hook had ended by then.
        let in_kernel_past_hook = |d: Cycle| {
            let taken = entries.partition_point(|e| e.taken_at <= d);
            entries[..taken].iter().rev().find(|e| e.from_el == 0).is_some_and(|e| {
                e.returned_at.is_none_or(|r| r > d)
                    && h.get(h.partition_point(|&t| t < e.taken_at)).is_some_and(|&t| t <= d)
            })
        };
        let mut out = vec![];
        for (k, kick) in self.kicks.iter().enumerate() {
            for &(target, skipped, d, _) in &kick.decisions {
                if target != c {
                    continue;
                }
                let o = if !skipped {
                    kick.done
                } else if let Some((end, _, _)) = self.unseen_entry_hook(m, i, c, kick.sender, d) {
                    Some(end)
                } else if !in_kernel_past_hook(d) {
                    h.get(h.partition_point(|&t| t <= d)).copied()
                } else {
                    kick.done
                };
                if let Some(o) = o {
                    out.push((o, k));
                }
            }
        }
        out.sort_unstable();
        out
    }

    /// The version of watched address `w` kick `k` requires: the newest in
    /// storage when it was called, or the sender's own earlier store if
    /// newer; `None` if that store has not reached storage yet (so every
    /// version there is older).
    fn need(&self, k: usize, w: usize) -> Option<usize> {
        let kick = &self.kicks[k];
        let own = match kick.own[w] {
            Some(id) => self.version(w, id)?,
            None => 0,
        };
        Some(kick.snapshot[w].max(own))
    }

    /// The kick with the strictest requirement on a watched address among the obligations
    /// before `t`: (required version, kick), `None` for a version not in storage yet.
    /// `strictest`: [`Checker::strictest`] of `obligations` for that address.
    fn required(strictest: &[Requirement], obligations: &[(Cycle, usize)], t: Cycle) -> Option<Requirement> {
        let before = obligations.partition_point(|(o, _)| *o < t);
        before.checked_sub(1).map(|n| strictest[n])
    }

    /// For watched address `w`, the strictest of `obligations[..=n]` for every `n`: what
    /// [`Checker::required`] picks among the obligations before a cycle, in one pass for all of
    /// a chunk's accesses (the highest version, `None` above all; the first kick of equals).
    fn strictest(&self, obligations: &[(Cycle, usize)], w: usize) -> Vec<Requirement> {
        strictest_prefixes(obligations.iter().map(|&(_, k)| (self.need(k, w), k)))
    }

    fn check_loads(&mut self, m: &Machine, i: usize, c: usize, obligations: &[(Cycle, usize)]) {
        let loads = &m.observed(c).watched_loads;
        // Per watched address, made on its first load in this chunk.
        let mut strictest: Vec<Option<Vec<Requirement>>> = vec![None; self.layout.watched.len()];
        for l in &loads[self.load_cursor[i]..] {
            if l.el != 1 || obligations[0].0 >= l.retired_at {
                continue;
            }
            let Some(w) = self.watch_index(l.addr) else { continue };
            self.safety.loads_checked += 1;
            let strictest = strictest[w].get_or_insert_with(|| self.strictest(obligations, w));
            let Some((need, k)) = Checker::required(strictest, obligations, l.retired_at) else { continue };
            let Some(got) = self.version(w, l.source) else { continue };
            if need.is_none_or(|need| got < need) {
                let mut story = self.stale_story(c, k, w, l.source, got, need);
                let reader = self.timed(m, c, l.pc, l.addr, l.value, (Some(l.retired_at), Some(l.satisfied_at)));
                let obligation = obligations.iter().find(|o| o.1 == k).map_or(0, |o| o.0);
                let evidence = self.evidence(m, (i, c), k, (w, need), reader, obligation);
                story.push(format!(
                    "CPU {c} loaded it at {} (EL1): value {:#x}, satisfied at cycle {}, retired at cycle {}",
                    self.code_names.name(l.pc),
                    l.value,
                    l.satisfied_at,
                    l.retired_at
                ));
                self.safety.violations.push(Violation {
                    kind: "stale data".into(),
                    cpu: c,
                    at: l.retired_at,
                    what: format!("{:#x} ({})", l.addr, self.layout.watched[w].1),
                    story,
                    evidence,
                });
            }
        }
        self.load_cursor[i] = loads.len();
    }

    fn check_instructions(&mut self, m: &Machine, i: usize, c: usize, obligations: &[(Cycle, usize)]) {
        let recs = m.state().cores[c].stale_instructions();
        let site = self.watch_index(self.layout.patch_site).expect("the patch site is watched");
        let mut strictest = None;
        for r in &recs[self.inst_cursor[i]..] {
            if r.pc != self.layout.patch_site || obligations[0].0 >= r.at {
                continue;
            }
            self.safety.instructions_checked += 1;
            let strictest = strictest.get_or_insert_with(|| self.strictest(obligations, site));
            let Some((need, k)) = Checker::required(strictest, obligations, r.at) else { continue };
            let Some(got) = self.version(site, r.executed) else { continue };
            if need.is_none_or(|need| got < need) {
                let mut story = self.stale_story(c, k, site, r.executed, got, need);
                let reader = Timed {
                    cpu: c,
                    instr: "fetch of".to_string(),
                    name: self.code_names.name(r.pc),
                    value: 0,
                    retired: Some(r.at),
                    effect: None,
                };
                let obligation = obligations.iter().find(|o| o.1 == k).map_or(0, |o| o.0);
                let evidence = self.evidence(m, (i, c), k, (site, need), reader, obligation);
                story.push(format!("CPU {c} executed the old instruction at cycle {} (retired)", r.at));
                self.safety.violations.push(Violation {
                    kind: "stale instruction".into(),
                    cpu: c,
                    at: r.at,
                    what: format!("{:#x} ({})", r.pc, self.code_names.name(r.pc)),
                    story,
                    evidence,
                });
            }
        }
        self.inst_cursor[i] = recs.len();
    }

    fn check_translations(&mut self, m: &Machine) {
        let recs = m.mmu().stale();
        let page_of = |va: Addr| va >> 12;
        for r in &recs[self.xlat_cursor..] {
            let c = r.core as usize;
            let Some(i) = self.isolated_index.get(c).copied().flatten() else { continue };
            if page_of(r.va) != page_of(self.layout.vmap_va) {
                continue;
            }
            let obligations = self.obligations(m, i, c);
            self.safety.translations_checked += 1;
            // A flush that began after the entry was filled and whose obligation point on this
            // CPU came before the use.
            let broken = obligations
                .iter()
                .take_while(|(o, _)| *o < r.at)
                .copied()
                .find(|&(_, k)| self.kicks[k].tlb && self.kicks[k].publish > r.filled_at);
            if let Some((o, k)) = broken {
                let kick = &self.kicks[k];
                let decision = kick.decisions.iter().find(|d| d.0 == c).expect("an obligation has a decision");
                let story = vec![
                    format!("CPU {c}'s TLB entry for {:#x} was filled at cycle {}", r.va, r.filled_at),
                    format!(
                        "CPU {} began a TLB flush at cycle {} (its barrier retired) and {} CPU {c} at cycle {}",
                        kick.sender,
                        kick.publish,
                        if decision.1 { "skipped" } else { "interrupted" },
                        decision.2
                    ),
                    format!("CPU {c}'s obligation point: cycle {o}"),
                    format!(
                        "CPU {c} then {} through the old entry at cycle {}",
                        if r.fetch {
                            "fetched"
                        } else if r.write {
                            "stored"
                        } else {
                            "loaded"
                        },
                        r.at
                    ),
                ];
                self.safety.violations.push(Violation {
                    kind: "stale translation".into(),
                    cpu: c,
                    at: r.at,
                    what: format!("{:#x} (vmalloc mapping)", r.va),
                    story,
                    evidence: Some(Box::new(Evidence {
                        mode: self.mode,
                        reader: Timed {
                            cpu: c,
                            instr: "translation of".to_string(),
                            name: format!("{:#x} (filled at cycle {})", r.va, r.filled_at),
                            value: 0,
                            retired: None,
                            effect: Some(r.at),
                        },
                        writer: None,
                        state_read: self.last_state_read(m, kick.sender, c, decision.2).map(|l| {
                            self.timed(
                                m,
                                kick.sender,
                                l.pc,
                                l.addr,
                                l.value,
                                (Some(l.retired_at), Some(l.satisfied_at)),
                            )
                        }),
                        unseen: None,
                        skipped: decision.1,
                        decided_at: decision.2,
                        obligation: o,
                    })),
                });
            }
        }
        self.xlat_cursor = recs.len();
    }

    /// The writer's side of a stale read: the write read, the newer write
    /// published before kick `k` (`need`, or the sender's own store still in
    /// its buffer), the kick's decision about `c`.
    fn stale_story(&self, c: usize, k: usize, w: usize, read: WriteId, got: usize, need: Option<usize>) -> Vec<String> {
        let kick = &self.kicks[k];
        let describe = |id: WriteId, version: usize| -> String {
            if version == 0 {
                "its initial value".to_string()
            } else {
                let s = self.stores[w][version - 1];
                format!("write {id} by CPU {} of {:#x}, in storage at cycle {}", id.tid, s.1, s.2)
            }
        };
        let newer = match (need, kick.own[w]) {
            (Some(need), _) => describe(self.stores[w][need - 1].0, need),
            (None, Some(id)) => format!("write {id} by CPU {} (retired before the kick, not yet in storage)", id.tid),
            (None, None) => unreachable!("a requirement not in storage is the sender's own store"),
        };
        let decision = kick.decisions.iter().find(|d| d.0 == c);
        let mut story = vec![
            format!("CPU {c} read {}", describe(read, got)),
            format!("but {newer} had replaced it before the kick"),
            format!(
                "CPU {} called {} at cycle {}",
                kick.sender,
                if kick.tlb { "flush_tlb_kernel_range" } else { "kick_all_cpus_sync" },
                kick.publish
            ),
        ];
        if let Some(&(_, skipped, d, _)) = decision {
            story.push(format!(
                "and at cycle {d} decided to {} CPU {c}",
                if skipped { "skip (defer)" } else { "interrupt" }
            ));
        }
        story
    }

    /// Classifies every decision about an isolated CPU into the seed's orderings.
    /// With the first isolation break's evidence.
    pub fn orderings(&self, m: &Machine, isolated_since: &[Option<Cycle>]) -> (Orderings, Option<Break>) {
        let mut o = Orderings::default();
        let mut first_break = None;
        for d in self.classify(m, isolated_since) {
            let count = match d.case {
                Case::Case1 => &mut o.case1,
                Case::Case2 => &mut o.case2,
                Case::Case3 => &mut o.case3,
                Case::Case4 => &mut o.case4,
                Case::ExitRace => &mut o.exit_race,
                Case::InterruptedInUser => {
                    if first_break.is_none() {
                        first_break = Some(self.isolation_break(m, self.kicks[d.kick].sender, d.cpu, d.decided_at));
                    }
                    &mut o.interrupted_in_user
                }
                Case::Pending => &mut o.pending,
            };
            *count += 1;
        }
        (o, first_break)
    }

    /// Every decision about an isolated CPU that was isolated by then, in kick order, with the
    /// ordering of the seed's it took.
    pub fn classify(&self, m: &Machine, isolated_since: &[Option<Cycle>]) -> Vec<Decision> {
        let mut out = vec![];
        for (k, kick) in self.kicks.iter().enumerate() {
            for &(c, skipped, d, read) in &kick.decisions {
                let Some(i) = self.isolated_index.get(c).copied().flatten() else { continue };
                if isolated_since[i].is_none_or(|t| d < t) {
                    continue;
                }
                let ex = m.state().cores[c].exceptions();
                let entries = || ex.iter().filter(|e| e.from_el == 0);
                // The kernel stay (entered from user space) around cycle `t`, if any.
                let stay_at = |t: Cycle| entries().find(|e| e.taken_at <= t && e.returned_at.is_none_or(|r| t < r));
                // A skip is classified at the decision; an interrupt where the sender read the
                // CPU's state (an interrupt decided on a value read while the CPU was in user
                // space breaks isolation; one read while it was in the kernel is the exit race
                // if the IPI lands in user space).
                let stay = stay_at(if skipped { d } else { read });
                let hook_end = |taken: Cycle| {
                    let h = &self.hook_done[i];
                    h.get(h.partition_point(|&t| t < taken)).copied()
                };
                let case = match (skipped, stay) {
                    (true, Some(e)) => {
                        if hook_end(e.taken_at).is_none_or(|h| d < h) {
                            Case::Case2
                        } else {
                            // Skipped after the exit hook flagged it isolated, before the return.
                            Case::ExitRace
                        }
                    }
                    (true, None) => {
                        if entries().any(|e| e.taken_at > d) {
                            Case::Case4
                        } else {
                            Case::Pending
                        }
                    }
                    (false, Some(e)) => {
                        let irq_in_user = ex
                            .iter()
                            .find(|x| x.kind == ExceptionKind::Irq && x.taken_at > d)
                            .is_some_and(|x| x.from_el == 0);
                        if irq_in_user {
                            Case::ExitRace
                        } else if hook_end(e.taken_at).is_some_and(|h| h < kick.publish) {
                            Case::Case3
                        } else {
                            Case::Case1
                        }
                    }
                    // Read before the task first reached user space: the state of the boot path's
                    // way out, so the interrupt is that first exit's race (the sender's barrier
                    // may keep it waiting long after its read).
                    (false, None) if isolated_since[i].is_some_and(|t| read < t) => Case::ExitRace,
                    (false, None) => Case::InterruptedInUser,
                };
                out.push(Decision { kick: k, cpu: c, decided_at: d, case });
            }
        }
        out
    }

    /// The evidence of sender `sender`'s decision at `decided` to interrupt CPU `c` while it ran
    /// user code: its read of the CPU's state, the CPU's last return to user space before it,
    /// and the CPU's write of that word that retired before the return but reached memory
    /// after the read.
    fn isolation_break(&self, m: &Machine, sender: usize, c: usize, decided: Cycle) -> Break {
        let read = self.last_state_read(m, sender, c, decided);
        let at = read.map_or(decided, |l| l.satisfied_at);
        let eret_at = m.state().cores[c]
            .exceptions()
            .iter()
            .filter(|e| e.from_el == 0)
            .filter_map(|e| e.returned_at)
            .filter(|&r| r <= at)
            .max();
        let missed = read.and_then(|l| {
            let stored = m.watched_stores();
            let next = stored[stored.partition_point(|w| w.at <= l.satisfied_at)..]
                .iter()
                .find(|w| w.addr == l.addr && w.write.tid as usize == c)?;
            let r = m.observed(c).retired_stores.iter().find(|r| r.write == next.write)?;
            Some(self.timed(m, c, r.pc, next.addr, next.value, (Some(r.retired_at), Some(next.at))))
        });
        let state_read =
            read.map(|l| self.timed(m, sender, l.pc, l.addr, l.value, (Some(l.retired_at), Some(l.satisfied_at))));
        Break { mode: self.mode, cpu: c, state_read, decided_at: decided, eret_at, missed }
    }
}

/// A requirement on a watched address: the version a kick requires (`None`: one not in storage
/// yet) and the kick.
type Requirement = (Option<usize>, usize);

/// How strict a requirement is: the highest version, `None` (not in storage yet)
/// above all; of equals, the first kick.
fn strictness(&(v, k): &Requirement) -> (usize, std::cmp::Reverse<usize>) {
    (v.map_or(usize::MAX, |v| v), std::cmp::Reverse(k))
}

/// For every `n`, the strictest of the first `n + 1` requirements (the last of equals, as
/// `Iterator::max_by_key` picks).
fn strictest_prefixes(needs: impl Iterator<Item = Requirement>) -> Vec<Requirement> {
    let mut out: Vec<Requirement> = Vec::with_capacity(needs.size_hint().0);
    for here in needs {
        out.push(match out.last() {
            Some(best) if strictness(best) > strictness(&here) => *best,
            _ => here,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// One pass over the obligations picks, for every prefix, what picking over that prefix
        /// alone does (repeated kicks and versions included).
        #[test]
        fn strictest_prefixes_are_the_strictest_of_each_prefix(
            needs in proptest::collection::vec((proptest::option::of(0usize..4), 0usize..6), 0..24)
        ) {
            let prefixes = strictest_prefixes(needs.iter().copied());
            prop_assert_eq!(prefixes.len(), needs.len());
            for (n, got) in prefixes.iter().enumerate() {
                prop_assert_eq!(Some(*got), needs[..=n].iter().copied().max_by_key(strictness));
            }
        }
    }
}
