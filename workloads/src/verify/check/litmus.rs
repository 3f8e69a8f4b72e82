//! A path's cycle as a herd7 AArch64 litmus test: the cycle's accesses, in
//! program order per CPU, with what orders them on the path between them
//! (barriers, cache maintenance of the patched site, the dependencies of one
//! exported read on another access), and an `exists` clause that is the
//! cycle's outcome. herd7 (`-model aarch64.cat`, and `-variant ifetch` when a
//! fetch is in it) and `isolsim litmus --exhaustive` both read it.
//!
//! Stores take their values from registers set in the init block; loads go
//! to registers the `exists` clause names; an atomic keeps its instruction
//! (`SWPAL`, `LDCLRAL`, `CASAL`, ...) with the operand that turns the value it
//! read into the value it wrote. The patched instruction is the catalogue's
//! idiom: `B` over a `MOV W_,#1` is the old copy, the `NOP` the sender stores
//! is the new one, so the register says which copy ran (0: old, 1: new).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use cpu_model::isa::{Inst, rmw_name};
use memory_model::graph::EventRef;
use memory_model::{Addr, WriteId};

use super::Ghost;
use super::path::{Node, Path, PathCycle, rmw_operand};

/// One thread of the test being written.
#[derive(Default)]
struct Thread {
    lines: Vec<String>,
    /// Init-block entries `reg=value`.
    init: Vec<String>,
    next_reg: u32,
    /// Location -> its address register.
    addr_regs: BTreeMap<String, u32>,
    /// Graph event (po index) of an exported read -> the register it loads.
    read_regs: BTreeMap<u32, u32>,
    /// Exported reads whose control dependency has been drawn (a branch after them).
    branched: Vec<u32>,
}

impl Thread {
    fn reg(&mut self) -> u32 {
        self.next_reg += 1;
        self.next_reg - 1
    }

    fn addr_reg(&mut self, loc: &str, value: &str) -> u32 {
        if let Some(&r) = self.addr_regs.get(loc) {
            return r;
        }
        let r = self.reg();
        self.init.push(format!("X{r}={value}"));
        self.addr_regs.insert(loc.to_string(), r);
        r
    }

    /// A register holding `value` from the start.
    fn value_reg(&mut self, value: &str) -> u32 {
        let r = self.reg();
        self.init.push(format!("X{r}={value}"));
        r
    }
}

/// A location name herd7 accepts: `cpu1.isol_flags` -> `cpu1_isol_flags`.
fn loc_name(name: &str) -> String {
    let s: String =
        name.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '_' }).collect();
    let s = s.trim_matches('_').to_string();
    if s.starts_with(|c: char| c.is_ascii_alphabetic()) { s } else { format!("m_{s}") }
}

impl Path {
    /// The cycle as a litmus test named `name`; `what` goes into its comment.
    pub(super) fn litmus(&self, cycle: &PathCycle, name: &str, what: &str) -> Result<String, String> {
        // The cycle's nodes per CPU, by their instruction's place in program order.
        let mut per_cpu: BTreeMap<usize, Vec<(usize, Node)>> = BTreeMap::new();
        for &(a, b, _) in &cycle.steps {
            for n in [a, b] {
                let (core, at) = match n {
                    Node::Event(e) => (e.0 as usize, self.inst_of_event(e)?),
                    Node::Fetch { core, at, .. } => (core, at),
                    Node::Eret { .. } => {
                        return Err("the cycle passes through an ERET, which a litmus test cannot take".to_string());
                    }
                };
                let v = per_cpu.entry(core).or_default();
                // An atomic is one instruction: both its events go in, whichever the cycle names.
                for m in std::iter::once(n).chain(self.rmw_sibling(n)) {
                    if !v.iter().any(|&(_, x)| x == m) {
                        v.push((at, m));
                    }
                }
            }
        }
        let site = self.mark_pc(super::Mark::Site(self.sender));
        let fetches = per_cpu.values().flatten().any(|(_, n)| matches!(n, Node::Fetch { .. }));
        // The litmus thread of each CPU, and the label of each fetched site.
        let tid: BTreeMap<usize, usize> = per_cpu.keys().enumerate().map(|(i, &c)| (c, i)).collect();
        let site_label = |core: usize| format!("P{}:L{core}old", tid[&core]);
        let fetcher =
            per_cpu.iter().find_map(|(&c, v)| v.iter().any(|(_, n)| matches!(n, Node::Fetch { .. })).then_some(c));

        let mut threads: Vec<Thread> = vec![];
        let mut locations: BTreeMap<String, u64> = BTreeMap::new();
        let mut exists: Vec<String> = vec![];
        let expected = |n: Node| cycle.outcome.iter().find(|(m, _)| *m == n).map(|&(_, v)| v);
        for nodes in per_cpu.values_mut() {
            nodes.sort_by_key(|&(at, n)| (at, matches!(n, Node::Event(e) if self.event(e).is_write())));
        }
        let events: Vec<EventRef> = per_cpu
            .values()
            .flatten()
            .filter_map(|&(_, n)| match n {
                Node::Event(e) => Some(e),
                _ => None,
            })
            .collect();
        for (&core, nodes) in &per_cpu {
            let t = tid[&core];
            let mut th = Thread::default();
            let mut prev: Option<usize> = None;
            for &(at, node) in nodes.iter() {
                if prev == Some(at) {
                    continue; // the other event of an atomic already written out
                }
                if let Some(p) = prev {
                    self.between(core, p, at, fetcher.is_some(), &mut th, fetcher.map(site_label))?;
                }
                prev = Some(at);
                match node {
                    Node::Fetch { .. } => {
                        let r = th.reg();
                        th.lines.push(format!("L{core}old: B L{core}new"));
                        th.lines.push(format!("MOV W{r},#1"));
                        th.lines.push(format!("L{core}new:"));
                        if let Some(v) = expected(node) {
                            exists.push(format!("{t}:X{r}={v}"));
                        }
                    }
                    Node::Event(e) => {
                        let ev = self.event(e);
                        if ev.addr == site {
                            // The sender's patch: the NOP over the fetched `B`.
                            let Some(f) = fetcher else {
                                return Err("the cycle writes the patched site but fetches no copy of it".to_string());
                            };
                            let a = th.addr_reg("site", &site_label(f));
                            let v = th.value_reg("NOP");
                            th.lines.push(format!("STR W{v},[X{a}]"));
                            continue;
                        }
                        let loc = loc_name(&self.name(ev.addr));
                        locations.entry(loc.clone()).or_insert(self.initial_for(&events, ev.addr)?);
                        // An atomic is written out from its read, which the outcome may name.
                        let read = if ev.is_write() && ev.atomic.is_some() { (e.0, e.1 - 1) } else { e };
                        let expect = expected(Node::Event(read)).map(|v| (t, v));
                        self.access_line(core, read, at, &loc, &mut th, expect, &mut exists)?;
                    }
                    Node::Eret { .. } => unreachable!("refused above"),
                }
            }
            threads.push(th);
        }

        // Final values where the cycle has two writes of one location: the last in coherence.
        let mut finals = vec![];
        let writes: Vec<EventRef> = per_cpu
            .values()
            .flatten()
            .filter_map(|&(_, n)| match n {
                Node::Event(e) if self.event(e).is_write() && self.event(e).addr != site => Some(e),
                _ => None,
            })
            .collect();
        let mut by_loc: BTreeMap<Addr, Vec<EventRef>> = BTreeMap::new();
        for e in writes {
            by_loc.entry(self.event(e).addr).or_default().push(e);
        }
        for (addr, ws) in by_loc.iter().filter(|(_, ws)| ws.len() > 1) {
            let pos = |e: EventRef| self.graph.coherence.iter().position(|&(_, w)| Some(w) == self.event(e).id);
            if let Some(last) = ws.iter().max_by_key(|&&e| pos(e)) {
                finals.push(format!("[{}]={}", loc_name(&self.name(*addr)), self.event(*last).value));
            }
        }

        let mut o = String::new();
        let _ = writeln!(o, "AArch64 {name}");
        let _ = writeln!(
            o,
            "(* Exported by isolsim check (model {}): {}. Check it with herd7 -model aarch64.cat{}. *)",
            self.mode,
            what.replace("*)", "* )"),
            if fetches { " -variant ifetch" } else { "" }
        );
        o.push_str("{\n");
        for (loc, v) in &locations {
            let _ = writeln!(o, " {loc}={v};");
        }
        for (t, th) in threads.iter().enumerate() {
            if !th.init.is_empty() {
                let _ = writeln!(o, " {};", th.init.iter().map(|i| format!("{t}:{i}")).collect::<Vec<_>>().join("; "));
            }
        }
        o.push_str("}\n");
        let rows = threads.iter().map(|t| t.lines.len()).max().unwrap_or(0);
        let widths: Vec<usize> = threads
            .iter()
            .enumerate()
            .map(|(t, th)| th.lines.iter().map(String::len).max().unwrap_or(0).max(format!("P{t}").len()))
            .collect();
        let row = |cells: Vec<String>| -> String {
            let padded: Vec<String> = cells.iter().zip(&widths).map(|(c, w)| format!(" {c:<w$} ")).collect();
            format!("{};\n", padded.join("|").trim_end())
        };
        o.push_str(&row((0..threads.len()).map(|t| format!("P{t}")).collect()));
        for k in 0..rows {
            o.push_str(&row(threads.iter().map(|th| th.lines.get(k).cloned().unwrap_or_default()).collect()));
        }
        exists.extend(finals);
        let _ = writeln!(o, "exists ({})", exists.join(" /\\ "));
        Ok(o)
    }

    /// The graph event of core `core`'s instruction instance `iid`, if it made one.
    fn event_at(&self, core: usize, iid: u32) -> Option<EventRef> {
        let at = self.retired[core].binary_search_by_key(&iid, |r| r.iid).ok()?;
        let k = self.events.as_ref()?.get(core)?.iter().position(|&x| x == at)?;
        Some((core as u16, k as u32))
    }

    /// The other event of an atomic read-modify-write (its write for its read, and back).
    fn rmw_sibling(&self, n: Node) -> Option<Node> {
        let Node::Event((t, i)) = n else { return None };
        let th = &self.graph.threads[t as usize];
        let e = &th[i as usize];
        e.atomic?;
        let other = if e.is_read() { i + 1 } else { i.checked_sub(1)? };
        let o = th.get(other as usize).filter(|o| o.atomic == e.atomic && o.is_read() != e.is_read())?;
        let _ = o;
        Some(Node::Event((t, other)))
    }

    fn inst_of_event(&self, e: EventRef) -> Result<usize, String> {
        self.events
            .as_ref()
            .and_then(|ev| ev.get(e.0 as usize)?.get(e.1 as usize).copied())
            .ok_or_else(|| "the path's events do not line up with its instructions".to_string())
    }

    /// The initial value of `addr` in the test: the value just before the cycle's first write of
    /// it in coherence, or else the value its reads return.
    fn initial_for(&self, events: &[EventRef], addr: Addr) -> Result<u64, String> {
        let pos = |id: Option<WriteId>| self.graph.coherence.iter().position(|&(_, w)| Some(w) == id);
        let first_write = events
            .iter()
            .filter(|&&e| self.event(e).is_write() && self.event(e).addr == addr)
            .min_by_key(|&&e| pos(self.event(e).id));
        if let Some(&w) = first_write {
            return self.co_before(w).ok_or_else(|| "a write missing from the coherence order".to_string());
        }
        events
            .iter()
            .find(|&&e| self.event(e).is_read() && self.event(e).addr == addr)
            .map(|&e| self.event(e).value)
            .ok_or_else(|| format!("no access to {addr:#x} in the cycle"))
    }

    /// The instructions of core `core` strictly between its `from`-th and `to`-th retired ones that
    /// order things: barriers, and maintenance of the patched site if the test fetches it.
    fn between(
        &self,
        core: usize,
        from: usize,
        to: usize,
        site_exported: bool,
        th: &mut Thread,
        site_label: Option<String>,
    ) -> Result<(), String> {
        for r in &self.retired[core][from + 1..to] {
            let Some(inst) = self.h.code.fetch(r.pc) else { continue };
            // A barrier the path's branches control stays controlled by them.
            if let Some(e) = self.event_at(core, r.iid) {
                branch_on(core, &self.event(e).ctrl_deps, th);
            }
            match inst {
                Inst::Dmb(f) | Inst::Dsb(f) => th.lines.push(f.mnemonic().to_string()),
                Inst::Isb => th.lines.push("ISB".to_string()),
                Inst::Svc(_) | Inst::Eret => {
                    return Err("an exception entry or return lies between the cycle's accesses".to_string());
                }
                Inst::DcCvau { .. } | Inst::IcIvau { .. } if site_exported => {
                    let on_site = self.trace.iter().any(|g| {
                        matches!(*g, Ghost::Maintained { core: c, iid, addr, .. }
                            if c as usize == core && iid == r.iid && addr == self.mark_pc(super::Mark::Site(self.sender)))
                    });
                    if let (true, Some(label)) = (on_site, &site_label) {
                        let a = th.addr_reg("site", label);
                        let op = if matches!(inst, Inst::DcCvau { .. }) { "DC CVAU" } else { "IC IVAU" };
                        th.lines.push(format!("{op},X{a}"));
                    }
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// The lines of one access of the cycle (both events of an atomic come from one
    /// instruction: the second is skipped), with the dependencies it has on exported reads.
    #[allow(clippy::too_many_arguments)]
    fn access_line(
        &self,
        core: usize,
        e: EventRef,
        at: usize,
        loc: &str,
        th: &mut Thread,
        expect: Option<(usize, u64)>,
        exists: &mut Vec<String>,
    ) -> Result<(), String> {
        let ev = self.event(e).clone();
        let a = th.addr_reg(loc, loc);
        branch_on(core, &ev.ctrl_deps, th);
        let zero_of = |th: &mut Thread, deps: &[u32]| -> Option<u32> {
            let reg = deps.iter().find_map(|d| th.read_regs.get(d).copied())?;
            let z = th.reg();
            th.lines.push(format!("EOR W{z},W{reg},W{reg}"));
            Some(z)
        };
        let index = match zero_of(th, &ev.addr_deps) {
            Some(z) => format!(",W{z},SXTW"),
            None => String::new(),
        };
        let inst = self.h.code.fetch(self.retired[core][at].pc).ok_or("no instruction")?;
        if !index.is_empty() && matches!(inst, Inst::Load { acquire: true, .. } | Inst::Store { release: true, .. }) {
            return Err("an address dependency into an LDAR or STLR (no register offset form)".to_string());
        }
        match inst {
            Inst::Rmw { op, acquire, release, narrow, .. } => {
                let old = ev.value;
                let new = self.graph.threads[e.0 as usize]
                    .get(e.1 as usize + 1)
                    .filter(|w| w.is_write() && w.atomic.is_some())
                    .map(|w| w.value);
                let suffix = format!("{}{}", if acquire { "A" } else { "" }, if release { "L" } else { "" });
                let name = format!("{}{suffix}{}", rmw_name(op), narrow.map_or("", |n| n.letter()));
                let result = if op == memory_model::RmwOp::Cas {
                    // Rs: the compare value, then the old value; Rt: the new value.
                    let compare = if new.is_some() { old } else { old.wrapping_add(1) };
                    let s = th.value_reg(&compare.to_string());
                    let n = th.value_reg(&new.unwrap_or(old).to_string());
                    th.lines.push(format!("{name} W{s},W{n},[X{a}]"));
                    s
                } else {
                    let operand = rmw_operand(op, old, new.unwrap_or(old));
                    let s = th.value_reg(&operand.to_string());
                    let t = th.reg();
                    th.lines.push(format!("{name} W{s},W{t},[X{a}]"));
                    t
                };
                th.read_regs.insert(e.1, result);
                if let Some((t, v)) = expect {
                    exists.push(format!("{t}:X{result}={v}"));
                }
            }
            Inst::Load { acquire, .. } => {
                let r = th.reg();
                th.lines.push(format!("{} W{r},[X{a}{index}]", if acquire { "LDAR" } else { "LDR" }));
                th.read_regs.insert(e.1, r);
                if let Some((t, v)) = expect {
                    exists.push(format!("{t}:X{r}={v}"));
                }
            }
            Inst::Store { release, .. } => {
                let v = th.value_reg(&ev.value.to_string());
                if let Some(z) = zero_of(th, &ev.data_deps) {
                    th.lines.push(format!("ADD W{v},W{v},W{z}"));
                }
                th.lines.push(format!("{} W{v},[X{a}{index}]", if release { "STLR" } else { "STR" }));
            }
            _ => return Err("an event that is no load, store or atomic".to_string()),
        }
        Ok(())
    }
}

/// A branch on each exported read in `ctrl_deps` not branched on yet, to the next line: what
/// follows depends on the read by control, as it did on the path.
fn branch_on(core: usize, ctrl_deps: &[u32], th: &mut Thread) {
    for &r in ctrl_deps {
        if let Some(&reg) = th.read_regs.get(&r)
            && !th.branched.contains(&r)
        {
            th.branched.push(r);
            let l = format!("LC{core}_{r}");
            th.lines.push(format!("CBNZ W{reg},{l}"));
            th.lines.push(format!("{l}:"));
        }
    }
}
