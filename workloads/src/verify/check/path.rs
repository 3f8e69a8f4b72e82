//! A replayed path, read as a kernel developer reads it: which of its events
//! form the cycle that the protocol's promise rests on, why the memory model
//! allowed that cycle (the cause line), its execution graph with the
//! harness's names (DOT), and its essential accesses as a litmus test.
//!
//! The cycle of a safety violation is the store-buffering shape every
//! deferral protocol must forbid:
//!
//! ```text
//!   sender:   P publish (data store, or code store)  -po->  S read CPU t's state
//!   CPU t:    E its entry's state write               -po->  V its kernel access
//!   S -fr-> E  (the sender read a value older than E: it did not see the entry)
//!   V -fr-> P  (CPU t read the old data, or ran the old instruction)
//! ```
//!
//! An isolation break that a reordering explains has the shape `E -po-> ERET`
//! on CPU t, the ERET before S in time, `S -fr-> E`: the sender read the state
//! before CPU t's last state write reached memory, while it already ran user
//! code. Any other counterexample is the protocol's decision, not an ordering.

use std::fmt::Write as _;

use cpu_model::isa::Inst;
use memory_model::graph::{
    DotStyle, Event, EventKind, EventRef, cycle_steps, dot_id, plain_label, po_order, what_orders,
};
use memory_model::{Fence, Mode, RmwOp, WriteId};

use super::*;
use crate::cause::{Access, AccessKind, Cause, Unordered};
use crate::verify::timeline::CodeNames;

/// One retired instruction of a path: its dynamic instance, its address, and its position in
/// the path's ghost log.
#[derive(Clone, Copy, Debug)]
pub(super) struct Retired {
    pub iid: u32,
    pub pc: Addr,
    pub pos: usize,
}

/// Something a cycle passes through: an event of the execution graph, or what the graph has
/// no event for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Node {
    Event(EventRef),
    /// Core `core`'s fetch of the patched instruction that retired as its `at`-th
    /// instruction: the copy `writer` wrote.
    Fetch {
        core: usize,
        at: usize,
        writer: WriteId,
    },
    /// Core `core`'s `ERET`, its `at`-th retired instruction.
    Eret {
        core: usize,
        at: usize,
    },
}

/// The access whose staleness a deferral cycle is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stale {
    /// The kernel's data read (`check_data_read`).
    Data,
    /// The patched instruction (`check_site`).
    Instruction,
    /// The read through a remapped page (`check_vmap_read`).
    Translation,
}

/// A cycle of a path: its steps `(from, to, relation)`, the relations `po`, `fr`, `rf`, or
/// `before` (in time: the ERET retired before the read took its value); and the outcome it
/// stands for: the value each read of the cycle returns (for a fetch, 0 for the old copy
/// and 1 for the new, as the litmus test observes it).
#[derive(Clone, Debug)]
pub(super) struct PathCycle {
    pub steps: Vec<(Node, Node, &'static str)>,
    pub outcome: Vec<(Node, u64)>,
}

/// A path replayed with everything logged, and the harness it ran in.
pub(super) struct Path {
    pub h: Harness,
    /// The sender whose decision the path is read for.
    pub sender: usize,
    pub mode: Mode,
    pub trace: Vec<Ghost>,
    pub graph: ExecGraph,
    /// Per core, its retired instructions in program order.
    pub retired: Vec<Vec<Retired>>,
    /// Per core, per graph event, the index of its instruction in `retired`; `None` if the
    /// two do not line up (then events are named without their instructions).
    pub events: Option<Vec<Vec<usize>>>,
}

impl Path {
    pub fn new(h: Harness, sender: usize, mode: Mode, trace: Vec<Ghost>, pcs: &[Addr], graph: ExecGraph) -> Path {
        let mut retired = vec![vec![]; h.threads.len()];
        for (pos, g) in trace.iter().enumerate() {
            if let Ghost::Retired { core, probe, iid, .. } = *g {
                retired[core as usize].push(Retired { iid, pc: pcs[probe as usize], pos });
            }
        }
        let events = line_up(&h.code, &retired, &graph);
        Path { h, sender, mode, trace, graph, retired, events }
    }

    pub(super) fn mark_pc(&self, m: Mark) -> Addr {
        self.h.mark_pcs(m).next().expect("every mark is probed")
    }

    /// Indices into `retired[core]` of its instructions at the mark's label(s).
    fn at_mark(&self, core: usize, m: Mark) -> impl DoubleEndedIterator<Item = usize> + '_ {
        let pcs: Vec<Addr> = self.h.mark_pcs(m).collect();
        self.retired[core].iter().enumerate().filter(move |(_, r)| pcs.contains(&r.pc)).map(|(i, _)| i)
    }

    fn index_of(&self, core: usize, iid: u32) -> Option<usize> {
        self.retired[core].binary_search_by_key(&iid, |r| r.iid).ok()
    }

    /// The graph event of `core`'s `at`-th retired instruction (its write, for an atomic, if
    /// `write`).
    fn event_of(&self, core: usize, at: usize, write: bool) -> Option<EventRef> {
        let evs = self.events.as_ref()?.get(core)?;
        let mut found = evs.iter().enumerate().filter(|&(_, &k)| k == at).map(|(i, _)| i);
        let first = found.next()?;
        let i = match found.next() {
            Some(second) if write => second,
            _ => first,
        };
        Some((core as u16, i as u32))
    }

    pub(super) fn event(&self, (t, i): EventRef) -> &Event {
        &self.graph.threads[t as usize][i as usize]
    }

    /// The instruction of an event, if events line up with instructions.
    pub(super) fn inst_of(&self, (t, i): EventRef) -> Option<(usize, Addr)> {
        let at = *self.events.as_ref()?.get(t as usize)?.get(i as usize)?;
        Some((at, self.retired[t as usize][at].pc))
    }

    fn retired_value(&self, r: &Retired) -> [u64; 3] {
        match self.trace[r.pos] {
            Ghost::Retired { values, .. } => values,
            _ => [0; 3],
        }
    }

    /// The value core `core`'s `at`-th retired instruction, a load, read.
    fn read_value(&self, core: usize, at: usize) -> Option<u64> {
        let iid = self.retired[core][at].iid;
        self.trace.iter().rev().find_map(|g| match *g {
            Ghost::Read { core: c, iid: i, value, .. } if c as usize == core && i == iid => Some(value),
            _ => None,
        })
    }

    /// The sender's decision about CPU `cpu`: its position in the log and whether it skipped.
    fn decision(&self, cpu: usize) -> Option<(usize, bool)> {
        let pc = self.mark_pc(Mark::Decided(self.sender));
        self.retired[self.sender].iter().rev().find_map(|r| {
            let v = self.retired_value(r);
            // X19 holds the CPU decided on, plus one; X0 = 1 for a skip.
            (r.pc == pc && v[1] as usize == cpu + 1).then_some((r.pos, v[0] != 0))
        })
    }

    /// The sender's last read of CPU `cpu`'s state words before log position `before`.
    fn state_read(&self, cpu: usize, before: usize) -> Option<StateRead> {
        let words = &self.h.state_words[cpu - self.h.senders];
        self.trace[..before].iter().enumerate().rev().find_map(|(pos, g)| match *g {
            Ghost::Read { core, iid, addr, source, value, .. }
                if core as usize == self.sender && words.contains(&addr) =>
            {
                Some(StateRead { pos, iid, addr, source, value })
            }
            _ => None,
        })
    }

    /// CPU `cpu`'s first write of `addr` to reach memory after log position `after`.
    fn next_write(&self, cpu: usize, addr: Addr, after: usize) -> Option<(usize, WriteId)> {
        self.trace[after..].iter().enumerate().find_map(|(k, g)| match *g {
            Ghost::Stored { core, write, addr: a, .. } if core as usize == cpu && a == addr => Some((after + k, write)),
            _ => None,
        })
    }

    /// Where CPU `cpu` was at log position `pos`.
    fn phase_at(&self, cpu: usize, pos: usize) -> &'static str {
        let before = |m: Mark| self.at_mark(cpu, m).map(|i| self.retired[cpu][i].pos).any(|p| p < pos);
        if !before(Mark::Svc) {
            "ran user code before its system call"
        } else if before(Mark::Eret) {
            "ran user code after its ERET"
        } else if before(Mark::HookDone) {
            "was in the kernel past its entry hook"
        } else {
            "was in its kernel entry, before the end of its entry hook"
        }
    }

    /// `name = value` as the timeline says it.
    fn assign(&self, addr: Addr, value: u64) -> String {
        assignment(&self.h, addr, value)
    }

    pub(super) fn name(&self, addr: Addr) -> String {
        self.h.names.get(&addr).cloned().unwrap_or_else(|| format!("[{addr:#x}]"))
    }

    /// The write that `source` is, in words.
    fn source_words(&self, cpu: usize, source: WriteId) -> String {
        if source.is_init() {
            "its initial value".to_string()
        } else if source.tid as usize == cpu {
            format!("CPU {cpu}'s own write")
        } else {
            format!("written by CPU {}", source.tid)
        }
    }

    /// The cycle behind consequence `c` on CPU `cpu`, if a reordering explains it; for a safety
    /// violation, about the access `stale` (by default the one that returned the old copy).
    pub fn cycle(&self, c: Consequence, cpu: usize, stale: Option<Stale>) -> Option<PathCycle> {
        self.events.as_ref()?;
        let (decided, skip) = self.decision(cpu)?;
        if c == Consequence::SafetyViolation && !skip {
            // Stale after an interrupt: the IPI callback's missing work, not a reordering.
            return None;
        }
        let s = self.state_read(cpu, decided)?;
        let s_at = self.index_of(self.sender, s.iid)?;
        let s_node = Node::Event(self.event_of(self.sender, s_at, false)?);
        match c {
            Consequence::SafetyViolation => {
                let svc = self.retired[cpu][self.at_mark(cpu, Mark::Svc).next_back()?];
                let hook = self.at_mark(cpu, Mark::HookDone).map(|i| self.retired[cpu][i]).find(|r| r.iid > svc.iid)?;
                // The entry's state write that reached memory after the sender's read.
                let (_, e) = self.next_write(cpu, s.addr, s.pos)?;
                if !(svc.iid < e.iid && e.iid < hook.iid) {
                    return None;
                }
                let e_node = Node::Event(self.event_of(cpu, self.index_of(cpu, e.iid)?, true)?);
                let (v_node, loc) = self.kernel_access(cpu, stale)?;
                // What the sender published there before its read: its last write of the location.
                let p = (0..s_at).rev().find_map(|at| {
                    let e = self.event_of(self.sender, at, true)?;
                    (self.event(e).is_write() && self.event(e).addr == loc).then_some(e)
                })?;
                let old = match v_node {
                    Node::Event(_) => self.co_before(p)?,
                    _ => 0,
                };
                Some(PathCycle {
                    steps: vec![
                        (Node::Event(p), s_node, "po"),
                        (s_node, e_node, "fr"),
                        (e_node, v_node, "po"),
                        (v_node, Node::Event(p), "fr"),
                    ],
                    outcome: vec![(s_node, s.value), (v_node, old)],
                })
            }
            Consequence::IsolationBreak => {
                let eret_at = self.at_mark(cpu, Mark::Eret).next_back()?;
                let eret = self.retired[cpu][eret_at];
                let (_, e) = self.next_write(cpu, s.addr, s.pos)?;
                if eret.pos > s.pos || e.iid > eret.iid {
                    return None;
                }
                let e_node = Node::Event(self.event_of(cpu, self.index_of(cpu, e.iid)?, true)?);
                let eret_node = Node::Eret { core: cpu, at: eret_at };
                Some(PathCycle {
                    steps: vec![(e_node, eret_node, "po"), (eret_node, s_node, "before"), (s_node, e_node, "fr")],
                    outcome: vec![(s_node, s.value)],
                })
            }
        }
    }

    /// CPU `cpu`'s kernel access `stale` (by default the one that got the old copy: the data
    /// read if it did, else the patched instruction), and the location it reads.
    fn kernel_access(&self, cpu: usize, stale: Option<Stale>) -> Option<(Node, Addr)> {
        let data = self.at_mark(cpu, Mark::DataRead(self.sender)).next_back();
        let vmap = self.at_mark(cpu, Mark::VmapRead(self.sender)).next_back();
        let old = |at: Option<usize>| at.and_then(|i| self.read_value(cpu, i)).is_some_and(|v| v != self.h.new_value);
        let stale = stale.unwrap_or(if old(data) {
            Stale::Data
        } else if old(vmap) {
            Stale::Translation
        } else {
            // The data was fresh, or the sender published none.
            Stale::Instruction
        });
        match stale {
            Stale::Data | Stale::Translation => {
                let v = self.event_of(cpu, if stale == Stale::Data { data? } else { vmap? }, false)?;
                Some((Node::Event(v), self.event(v).addr))
            }
            Stale::Instruction => {
                let at = self.at_mark(cpu, Mark::Site(self.sender)).next_back()?;
                let pos = self.retired[cpu][at].pos;
                let writer = self.trace[..pos].iter().rev().find_map(|g| match *g {
                    Ghost::Fetched { core, writer } if core as usize == cpu => Some(writer),
                    _ => None,
                })?;
                Some((Node::Fetch { core: cpu, at, writer }, self.mark_pc(Mark::Site(self.sender))))
            }
        }
    }

    /// The value of the write just before `w` in coherence order (the initial value if none).
    pub(super) fn co_before(&self, w: EventRef) -> Option<u64> {
        let e = self.event(w);
        let id = e.id?;
        let writes: Vec<WriteId> =
            self.graph.coherence.iter().filter(|&&(a, _)| a == e.addr).map(|&(_, w)| w).collect();
        let k = writes.iter().position(|&x| x == id)?;
        match k.checked_sub(1) {
            Some(p) => self.graph.threads.iter().flatten().find(|x| x.id == Some(writes[p])).map(|x| x.value),
            None => Some(self.graph.init.iter().find(|&&(a, _)| a == e.addr).map_or(0, |&(_, v)| v)),
        }
    }

    /// Why consequence `c` happened to CPU `cpu`, in one line.
    pub fn cause(&self, c: Consequence, cpu: usize) -> Cause {
        if let Some(cycle) = self.cycle(c, cpu, None) {
            let pairs: Vec<Unordered> =
                cycle.steps.iter().filter(|s| s.2 == "po").filter_map(|&(a, b, _)| self.unordered(a, b)).collect();
            if !pairs.is_empty() {
                return Cause::Reordered(pairs);
            }
        }
        Cause::Decision(self.decision_words(c, cpu))
    }

    /// The pair `a -po-> b` if the model does not keep it in order.
    fn unordered(&self, a: Node, b: Node) -> Option<Unordered> {
        let Node::Event(a) = a else { return None };
        let (a_at, _) = self.inst_of(a)?;
        let core = a.0 as usize;
        let first = self.access(Node::Event(a));
        match b {
            Node::Event(b) => {
                let o = po_order(&self.graph, self.mode, a, b)?;
                if o.by.is_some() {
                    return None;
                }
                Some(Unordered {
                    cpu: core,
                    first,
                    second: self.access(Node::Event(b)),
                    rule: what_orders(self.mode, self.event(a).is_read(), self.event(b).is_read()).to_string(),
                    between: Some(o.fences.iter().map(|f| f.mnemonic().to_string()).collect()),
                    seen: None,
                })
            }
            Node::Fetch { at, .. } | Node::Eret { at, .. } => {
                let between: Vec<Inst> = self.retired[core][a_at + 1..at]
                    .iter()
                    .filter_map(|r| self.h.code.fetch(r.pc))
                    .filter(|i| is_barrier(i) || matches!(i, Inst::Svc(_) | Inst::Eret))
                    .collect();
                let full = |i: &Inst| matches!(i, Inst::Dmb(f) | Inst::Dsb(f) if f.is_full());
                // An atomic writes memory directly: nothing of it stays buffered. Under SC
                // nothing is buffered at all.
                let visible_by =
                    |k: usize| self.mode == Mode::Sc || self.event(a).atomic.is_some() || between[..k].iter().any(full);
                let (ordered, rule) = match b {
                    Node::Fetch { .. } => {
                        // Fetched anew after a context synchronization event (an ISB, an
                        // exception entry or return) that comes after the store is visible. Under
                        // ARMv8 only a DSB makes it so (DSB-ob; [CSE]; po): a DMB orders memory
                        // accesses, never a fetch. Under TSO the ISB itself drains the buffer.
                        let sync = |i: &Inst| matches!(i, Inst::Isb | Inst::Svc(_) | Inst::Eret);
                        let dsb = |i: &Inst| matches!(i, Inst::Dsb(f) if f.is_full() || *f == Fence::SyncStore);
                        let before = |k: usize| match self.mode {
                            Mode::Arm => self.event(a).atomic.is_some() || between[..k].iter().any(dsb),
                            Mode::Tso => visible_by(k) || matches!(between[k], Inst::Isb),
                            Mode::Sc => true,
                        };
                        let ordered = between.iter().enumerate().any(|(k, i)| sync(i) && before(k));
                        let rule = match self.mode {
                            Mode::Sc => "an instruction is fetched anew only after an ISB between them",
                            Mode::Tso => {
                                "an instruction is fetched anew after a store is visible only with a full barrier or \
                                 an ISB (a serializing instruction) between them"
                            }
                            Mode::Arm => {
                                "arm fetches an instruction after a store is visible only with a DSB ISH (or ISHST) \
                                 and then an ISB between them (DSB-ob; a DMB orders memory accesses, not fetches)"
                            }
                        };
                        (ordered, rule)
                    }
                    _ => (
                        visible_by(between.len()),
                        "a store leaves the store buffer before a later ERET only with a DMB ISH between them",
                    ),
                };
                (!ordered).then(|| Unordered {
                    cpu: core,
                    first,
                    second: self.access(b),
                    rule: rule.to_string(),
                    between: Some(between.iter().map(mnemonic).collect()),
                    seen: None,
                })
            }
        }
    }

    /// A node as one side of a pair: `STR cpu1.isol_flags`.
    fn access(&self, n: Node) -> Access {
        match n {
            Node::Event(e) => {
                let ev = self.event(e);
                let instr = self.inst_of(e).map_or_else(
                    || if ev.is_read() { "LDR".to_string() } else { "STR".to_string() },
                    |(_, pc)| self.h.code.disasm(pc).split_whitespace().next().unwrap_or("").to_string(),
                );
                let kind = if ev.is_read() { AccessKind::Load } else { AccessKind::Store };
                Access::new(kind, &instr, &self.name(ev.addr).replace(" (text)", ""))
            }
            Node::Fetch { .. } => Access::new(AccessKind::Fetch, "fetch of", "check_site"),
            Node::Eret { .. } => Access::new(AccessKind::Eret, "ERET", ""),
        }
    }

    /// What the sender read and decided, and where CPU `cpu` was, when no reordering explains
    /// consequence `c`.
    fn decision_words(&self, c: Consequence, cpu: usize) -> String {
        let Some((decided, skip)) = self.decision(cpu) else {
            return format!("the sender made no decision about CPU {cpu} on this path");
        };
        let verb = if skip { "skipped" } else { "decided to interrupt" };
        let mut o = match self.state_read(cpu, decided) {
            None => format!(
                "the sender {verb} CPU {cpu} without reading its state, while CPU {cpu} {}",
                self.phase_at(cpu, decided)
            ),
            Some(s) => format!(
                "the sender read {} ({}) while CPU {cpu} {}, and {verb} it",
                self.assign(s.addr, s.value),
                self.source_words(cpu, s.source),
                self.phase_at(cpu, s.pos)
            ),
        };
        if c == Consequence::SafetyViolation {
            let data = self.at_mark(cpu, Mark::DataRead(self.sender)).next_back().and_then(|i| self.read_value(cpu, i));
            let x = harness::suffix(self.sender);
            let vmap = self.at_mark(cpu, Mark::VmapRead(self.sender)).next_back().and_then(|i| self.read_value(cpu, i));
            let what = match (data, vmap) {
                (Some(v), _) if v != self.h.new_value => format!("read CHECK_DATA{x} = {v}"),
                (_, Some(v)) if v != self.h.new_value => {
                    format!("read {v} at VMAP_VA{x} through the translation its TLB kept")
                }
                _ => format!("ran the old check_site{x}, fetched before the patch"),
            };
            // Interrupted: its IPI handler had to synchronize it. Read in user code: the next
            // entry's hook had to (and did not); read in the kernel: nothing will.
            let read_at = self.state_read(cpu, decided).map_or(decided, |s| s.pos);
            if !skip {
                let _ = write!(
                    o,
                    "; its IPI handler's callback returned without synchronizing CPU {cpu} for it, and after it CPU \
                     {cpu} {what}"
                );
            } else if self.phase_at(cpu, read_at).starts_with("ran user code") {
                let _ =
                    write!(o, "; its next entry's hook had to synchronize CPU {cpu}, and after it CPU {cpu} {what}");
            } else {
                let _ = write!(o, "; nothing synchronizes CPU {cpu} after that, and it {what}");
            }
        }
        o
    }

    /// The graph as DOT with the harness's names: `CPU n (sender|isolated)` clusters, each
    /// event with its kernel label, instruction and symbolic value, the cycle of consequence
    /// `c` on CPU `cpu` in bold (with the fetch or ERET it passes through, which the graph
    /// has no event for), or else the graph's shortest non-SC cycle.
    pub fn dot(&self, c: Consequence, cpu: usize, title: &str) -> String {
        let names = CodeNames::new(&self.h.code);
        let cycle = self.cycle(c, cpu, None);
        let mut highlight: Vec<(EventRef, EventRef, String)> = vec![];
        let mut extra = String::new();
        match &cycle {
            Some(cy) => {
                for &(a, b, rel) in &cy.steps {
                    if let (Node::Event(a), Node::Event(b)) = (a, b) {
                        highlight.push((a, b, self.step_label(Node::Event(a), Node::Event(b), rel)));
                    }
                }
                let nodes: Vec<Node> = cy.steps.iter().flat_map(|s| [s.0, s.1]).collect();
                self.extra_nodes(&nodes, &cy.steps, &names, &mut extra);
            }
            None => {
                if let Err(v) = memory_model::graph::check(&self.graph, Mode::Sc) {
                    highlight = cycle_steps(&v);
                }
                // No reordering: the decision's read and the access that paid for it, in bold.
                let read = self.decision(cpu).and_then(|(d, _)| self.state_read(cpu, d));
                let sender = self.sender;
                let read = read
                    .and_then(|s| Some(Node::Event(self.event_of(sender, self.index_of(sender, s.iid)?, false)?)));
                let access = (c == Consequence::SafetyViolation).then(|| self.kernel_access(cpu, None)).flatten();
                let nodes: Vec<Node> = read.into_iter().chain(access.map(|a| a.0)).collect();
                self.extra_nodes(&nodes, &[], &names, &mut extra);
            }
        }
        let quote = |s: &str| s.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n");
        let _ = writeln!(extra, "  label=\"{}\";\n  labelloc=t;\n  fontname=\"sans-serif\";", quote(title));
        let thread = |t: u16| format!("CPU {t} ({})", if t == 0 { "sender" } else { "isolated" });
        let event = |r: EventRef, e: &Event| -> String {
            let Some((_, pc)) = self.inst_of(r) else { return plain_label(e) };
            let inst = format!("{}: {}", names.name(pc), self.h.code.disasm(pc));
            let star = if e.atomic.is_some() { "*" } else { "" };
            match e.kind {
                EventKind::Read { acquire } => {
                    format!("{inst}\nR{star}{} {}", if acquire { ".acq" } else { "" }, self.assign(e.addr, e.value))
                }
                EventKind::Write { release } => {
                    format!("{inst}\nW{star}{} {}", if release { ".rel" } else { "" }, self.assign(e.addr, e.value))
                }
                EventKind::Fence(_) => inst,
            }
        };
        let init = |a: Addr, v: u64| format!("init: {}", self.assign(a, v));
        let style = DotStyle { thread: &thread, event: &event, init: &init, extra };
        memory_model::graph::to_dot_with(&self.graph, &highlight, &style)
    }

    /// A cycle step's label in the graph: a program-order step says whether the model keeps it.
    fn step_label(&self, a: Node, b: Node, rel: &str) -> String {
        if rel != "po" {
            return rel.to_string();
        }
        match self.unordered(a, b) {
            Some(_) => "po, NOT ordered".to_string(),
            None => match (a, b) {
                (Node::Event(x), Node::Event(y)) => match po_order(&self.graph, self.mode, x, y) {
                    Some(o) if !o.fences.is_empty() => format!(
                        "po, ordered ({})",
                        o.fences.iter().map(|f| f.mnemonic()).collect::<Vec<_>>().join(", ")
                    ),
                    _ => "po, ordered".to_string(),
                },
                _ => "po, ordered".to_string(),
            },
        }
    }

    /// DOT statements for `nodes` the graph does not draw bold by itself: a fetch or an ERET as a
    /// node in its CPU's cluster, placed between the events around it; an event made bold; and
    /// the `steps` to and from the nodes that are not events.
    fn extra_nodes(&self, nodes: &[Node], steps: &[(Node, Node, &str)], names: &CodeNames, out: &mut String) {
        let id = |n: Node| match n {
            Node::Event(e) => dot_id(e),
            Node::Fetch { core, at, .. } => format!("fetch{core}_{at}"),
            Node::Eret { core, at } => format!("eret{core}_{at}"),
        };
        let mut declared = vec![];
        for &n in nodes {
            let (core, at, label) = match n {
                Node::Event(e) => {
                    if !declared.contains(&id(n)) {
                        declared.push(id(n));
                        let _ = writeln!(out, "  {} [style=bold, penwidth=3];", dot_id(e));
                    }
                    continue;
                }
                Node::Fetch { core, at, writer } => {
                    let copy = if writer.is_init() { "the old copy" } else { "the new copy" };
                    let pc = self.retired[core][at].pc;
                    (core, at, format!("{}: {}\nfetched: {copy}", names.name(pc), self.h.code.disasm(pc)))
                }
                Node::Eret { core, at } => {
                    let pc = self.retired[core][at].pc;
                    (core, at, format!("{}: ERET\nback to user space", names.name(pc)))
                }
            };
            if declared.contains(&id(n)) {
                continue;
            }
            declared.push(id(n));
            let _ = writeln!(
                out,
                "  subgraph cluster_P{core} {{\n    {} [label=\"{}\", style=\"bold,dashed\", penwidth=3];\n  }}",
                id(n),
                label.replace('\n', "\\n")
            );
            // Keep it in program order among the events.
            let evs = self.events.as_ref().map(|e| &e[core][..]).unwrap_or(&[]);
            let before = evs.iter().rposition(|&k| k < at);
            let after = evs.iter().position(|&k| k > at);
            if let Some(i) = before {
                let _ = writeln!(out, "  {} -> {} [style=invis];", dot_id((core as u16, i as u32)), id(n));
            }
            if let Some(i) = after {
                let _ = writeln!(out, "  {} -> {} [style=invis];", id(n), dot_id((core as u16, i as u32)));
            }
            // A fetch reads the code the way a load reads data: `rf` from the copy it got, `fr` to
            // the later copies (the graph's writes of the site), unless the cycle draws it.
            if let Node::Fetch { writer, .. } = n {
                let site = self.mark_pc(Mark::Site(self.sender));
                for (t, th) in self.graph.threads.iter().enumerate() {
                    for (i, e) in th.iter().enumerate() {
                        let w = Node::Event((t as u16, i as u32));
                        let later = e.is_write() && e.addr == site && writer.is_init();
                        if later && !steps.iter().any(|s| (s.0, s.1) == (n, w)) {
                            let _ = writeln!(
                                out,
                                "  {} -> {} [label=\"fr\", color=orange, fontcolor=orange];",
                                id(n),
                                id(w)
                            );
                        }
                    }
                }
            }
        }
        for &(a, b, rel) in steps {
            if matches!((a, b), (Node::Event(_), Node::Event(_))) {
                continue;
            }
            let attrs = match rel {
                "fr" => "color=orange, fontcolor=orange",
                "before" => "color=purple, fontcolor=purple, constraint=false",
                _ => "color=black",
            };
            let label = if rel == "before" { "then (in time)".to_string() } else { self.step_label(a, b, rel) };
            let _ = writeln!(out, "  {} -> {} [label=\"{label}\", {attrs}, penwidth=3];", id(a), id(b));
        }
    }
}

/// The sender's read of a CPU's state word.
#[derive(Clone, Copy, Debug)]
pub(super) struct StateRead {
    pub pos: usize,
    pub iid: u32,
    pub addr: Addr,
    pub source: WriteId,
    pub value: u64,
}

/// Per core, per graph event, the index of the retired instruction it came from: the loads,
/// stores, barriers and atomics in program order (an atomic that wrote has two events).
fn line_up(code: &CodeSpace, retired: &[Vec<Retired>], g: &ExecGraph) -> Option<Vec<Vec<usize>>> {
    let mut out = vec![];
    for (core, evs) in g.threads.iter().enumerate() {
        let mut map = vec![];
        for (at, r) in retired.get(core)?.iter().enumerate() {
            let inst = code.fetch(r.pc)?;
            let n = match inst {
                Inst::Load { .. } | Inst::Store { .. } | Inst::Dmb(_) | Inst::Dsb(_) | Inst::Isb => 1,
                Inst::Rmw { .. } => {
                    let k = map.len();
                    if evs.get(k + 1).is_some_and(|e: &Event| e.is_write() && e.atomic.is_some()) { 2 } else { 1 }
                }
                _ => 0,
            };
            for _ in 0..n {
                let e = evs.get(map.len())?;
                let fits = match inst {
                    Inst::Load { .. } => e.is_read(),
                    Inst::Store { .. } => e.is_write(),
                    Inst::Rmw { .. } => e.atomic.is_some(),
                    _ => matches!(e.kind, EventKind::Fence(_)),
                };
                if !fits {
                    return None;
                }
                map.push(at);
            }
        }
        if map.len() != evs.len() {
            return None;
        }
        out.push(map);
    }
    Some(out)
}

/// A barrier or exception instruction as written.
fn mnemonic(i: &Inst) -> String {
    match *i {
        Inst::Dmb(f) | Inst::Dsb(f) => f.mnemonic().to_string(),
        Inst::Isb => Fence::Isb.mnemonic().to_string(),
        Inst::Svc(_) => "SVC".to_string(),
        Inst::Eret => "ERET".to_string(),
        _ => String::new(),
    }
}

/// The operand an atomic of kind `op` needs to turn `old` into `new` (the compare value for a
/// CAS is `old` itself).
pub(super) fn rmw_operand(op: RmwOp, old: u64, new: u64) -> u64 {
    match op {
        RmwOp::Cas | RmwOp::Swp => new,
        RmwOp::Add => new.wrapping_sub(old),
        RmwOp::Clr => old & !new,
        RmwOp::Eor => old ^ new,
        RmwOp::Set => new & !old,
        // The value written is the old one or the operand.
        RmwOp::Smax | RmwOp::Smin | RmwOp::Umax | RmwOp::Umin => new,
    }
}
