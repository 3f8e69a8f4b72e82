//! A run as a Chrome/Perfetto trace: the JSON trace-event format that ui.perfetto.dev and
//! chrome://tracing load.
//!
//! ```text
//!   process "deferred CPU 60 (isolated)"           one per simulated CPU
//!     thread "cpu"       user | kernel | irq | idle   context slices, properly nested
//!                          irq ─ do_sync_core         the IPI's callback (csd:csd_function_*)
//!     thread "hw noise"  broadcast TLBI               stalls rtla counts as HW noise
//!   process "deferred CPU 0 (housekeeping)"
//!     thread "cpu"       text_patch ─ kick_all_cpus_sync ─ csd:csd_queue_cpu ──flow──▶ irq
//! ```
//!
//! Every slice comes from the run's own records: exception entries and returns, probes on kernel
//! labels (kick publication and decisions, the IPI handler's call, entry hooks), the housekeeping
//! CPUs' logs of their operations, and the cores' broadcast-TLBI stalls. Instant and slice names
//! follow the kernel tracepoints that scripts already match (`ipi:ipi_send_cpumask`,
//! `csd:csd_queue_cpu`, `csd:csd_function_entry`/`_exit`, `osnoise:irq_noise`,
//! `irq_vectors:call_function_entry`/`_exit` in an IRQ's args); a kick's decisions and the entry
//! hooks that honour deferred ones carry the seed's ordering case in their args.

use std::collections::BTreeMap;

use cpu_model::core::{ExceptionKind, ExceptionRecord};
use cpu_model::machine::Machine;
use serde::Serialize;
use serde_json::{Map, Value, json};
use sim::Cycle;

use super::build::{Experiment, HK_LOG, probe};
use super::safety::{Case, Checker};
use crate::activity::Op;
use crate::verify::timeline::CodeNames;

/// The part of a run a trace covers, in cycles: `from..to`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TraceWindow {
    /// First cycle.
    pub from: Cycle,
    /// One past the last cycle.
    pub to: Cycle,
}

/// One trace event (the trace-event format's fields; absent ones are left out).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TraceEvent {
    /// What happened.
    pub name: String,
    /// Category (a tracepoint's subsystem, or `isolsim`).
    #[serde(skip_serializing_if = "str::is_empty")]
    pub cat: &'static str,
    /// Phase: `X` complete slice, `i` instant, `s`/`f` flow start/end, `M` metadata.
    pub ph: &'static str,
    /// Start, µs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ts: Option<f64>,
    /// Duration of an `X` slice, µs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dur: Option<f64>,
    /// Process: one per simulated CPU.
    pub pid: u32,
    /// Thread within it.
    pub tid: u32,
    /// A flow's identity (its `s` and `f` events share it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<u64>,
    /// A flow end's binding: `e`, to the slice enclosing it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bp: Option<&'static str>,
    /// An instant's scope: `t`, its thread.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub s: Option<&'static str>,
    /// Details.
    #[serde(skip_serializing_if = "Map::is_empty")]
    pub args: Map<String, Value>,
}

/// A trace of one or more runs (each run's CPUs are their own processes).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ChromeTrace {
    /// The events, metadata first, then per process in time order.
    #[serde(rename = "traceEvents")]
    pub events: Vec<TraceEvent>,
    /// Time unit the viewer shows.
    #[serde(rename = "displayTimeUnit")]
    pub display_time_unit: &'static str,
}

impl Default for ChromeTrace {
    fn default() -> Self {
        ChromeTrace { events: vec![], display_time_unit: "ns" }
    }
}

impl ChromeTrace {
    /// Adds another run's events (their process ids must differ from these).
    pub fn extend(&mut self, other: ChromeTrace) {
        self.events.extend(other.events);
    }
}

/// Where a CPU's events go: its process and two threads.
const CPU_TID: u32 = 0;
const NOISE_TID: u32 = 1;

/// A slice before nesting is checked: (start, end, event).
type Span = (Cycle, Cycle, TraceEvent);

struct Builder {
    clock_mhz: f64,
    window: TraceWindow,
    /// Per thread: its `X` slices as (start, end, event), before nesting is checked.
    slices: BTreeMap<(u32, u32), Vec<Span>>,
    others: Vec<(Cycle, TraceEvent)>,
    next_flow: u64,
}

impl Builder {
    fn us(&self, c: Cycle) -> f64 {
        us(self.clock_mhz, c)
    }

    fn event(&self, name: impl Into<String>, cat: &'static str, ph: &'static str, pid: u32, tid: u32) -> TraceEvent {
        TraceEvent {
            name: name.into(),
            cat,
            ph,
            ts: None,
            dur: None,
            pid,
            tid,
            id: None,
            bp: None,
            s: None,
            args: Map::new(),
        }
    }

    fn inside(&self, at: Cycle) -> bool {
        at >= self.window.from && at < self.window.to
    }

    /// A slice `from..to` (clipped to the window; left out if nothing of it is inside).
    fn slice(
        &mut self,
        (pid, tid): (u32, u32),
        (from, to): (Cycle, Cycle),
        name: &str,
        cat: &'static str,
        args: Value,
    ) {
        let (a, b) = (from.max(self.window.from), to.min(self.window.to));
        if a >= b && !(from == to && self.inside(from)) {
            return;
        }
        let mut e = self.event(name, cat, "X", pid, tid);
        e.args = object(args);
        self.slices.entry((pid, tid)).or_default().push((a, b.max(a), e));
    }

    fn instant(&mut self, pid: u32, at: Cycle, name: &str, cat: &'static str, args: Value) {
        if !self.inside(at) {
            return;
        }
        let mut e = self.event(name, cat, "i", pid, CPU_TID);
        e.ts = Some(self.us(at));
        e.s = Some("t");
        e.args = object(args);
        self.others.push((at, e));
    }

    /// A flow arrow from the slice enclosing `from` on `from_pid` to the one enclosing `to` on
    /// `to_pid`; left out unless both ends are in the window.
    fn flow(&mut self, name: &str, (from_pid, from): (u32, Cycle), (to_pid, to): (u32, Cycle)) {
        if !(self.inside(from) && self.inside(to)) {
            return;
        }
        self.next_flow += 1;
        let mut s = self.event(name, "ipi", "s", from_pid, CPU_TID);
        s.ts = Some(self.us(from));
        s.id = Some(self.next_flow);
        let mut f = self.event(name, "ipi", "f", to_pid, CPU_TID);
        f.ts = Some(self.us(to));
        f.id = Some(self.next_flow);
        f.bp = Some("e");
        self.others.push((from, s));
        self.others.push((to, f));
    }

    /// The events, each thread's slices properly nested: a slice that would end after the one
    /// enclosing it is cut at that one's end (the records nest by construction; this only keeps
    /// a viewer from misdrawing what a clipped window leaves).
    fn finish(self, metadata: Vec<TraceEvent>) -> ChromeTrace {
        let mut timed: Vec<(Cycle, u8, TraceEvent)> = vec![];
        let clock_mhz = self.clock_mhz;
        for (_, mut v) in self.slices {
            // Outer first: earlier start, then later end.
            v.sort_by(|x, y| x.0.cmp(&y.0).then(y.1.cmp(&x.1)));
            let mut open: Vec<Cycle> = vec![];
            for (a, mut b, mut e) in v {
                while open.last().is_some_and(|&end| end <= a && !(end == a && b == a)) {
                    open.pop();
                }
                if let Some(&end) = open.last() {
                    b = b.min(end);
                }
                open.push(b);
                e.ts = Some(us(clock_mhz, a));
                // The end as the rounded end, so that slices that meet still meet in the file.
                e.dur = Some(((us(clock_mhz, b) - us(clock_mhz, a)) * 10_000.0).round() / 10_000.0);
                timed.push((a, 0, e));
            }
        }
        timed.extend(self.others.into_iter().map(|(at, e)| (at, 1, e)));
        // Stable: per process, by time; at one time slices before instants and flows.
        timed.sort_by_key(|x| (x.2.pid, x.0, x.1));
        let mut events = metadata;
        events.extend(timed.into_iter().map(|t| t.2));
        ChromeTrace { events, display_time_unit: "ns" }
    }
}

/// Cycle `c` in µs, rounded to 0.1 ns (far below a cycle) so the text stays short.
fn us(clock_mhz: f64, c: Cycle) -> f64 {
    (c as f64 / clock_mhz * 10_000.0).round() / 10_000.0
}

fn object(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

/// A cpulist as Linux prints one: `1-3,5`.
pub(crate) fn cpulist(cpus: &[usize]) -> String {
    let mut out: Vec<String> = vec![];
    let mut i = 0;
    while i < cpus.len() {
        let mut j = i;
        while j + 1 < cpus.len() && cpus[j + 1] == cpus[j] + 1 {
            j += 1;
        }
        out.push(if i == j { cpus[i].to_string() } else { format!("{}-{}", cpus[i], cpus[j]) });
        i = j + 1;
    }
    out.join(",")
}

/// The trace of a finished run: `m` as it ended at `end`, the checker that watched it and
/// when each isolated CPU first reached user space. Process ids are `pid_base + cpu`; process
/// names start with `prefix`.
pub(crate) fn build(
    exp: &Experiment,
    m: &Machine,
    checker: &Checker,
    isolated_since: &[Option<Cycle>],
    end: Cycle,
    window: TraceWindow,
    pid_base: u32,
) -> ChromeTrace {
    let names = CodeNames::new(m.code());
    let window = TraceWindow { from: window.from, to: window.to.min(end) };
    let mut b = Builder {
        clock_mhz: exp.machine.clock_mhz as f64,
        window,
        slices: BTreeMap::new(),
        others: vec![],
        // Distinct per run, and below 2^53 so that a JavaScript viewer reads every id exactly.
        next_flow: u64::from(pid_base) << 16,
    };
    let cpus = m.state().cores.len();
    let pid = |c: usize| pid_base + c as u32;
    let prefix = if exp.name.is_empty() { exp.protocol.name().to_string() } else { exp.name.clone() };
    let isolated = &exp.layout.isolated;
    let generators: BTreeMap<usize, (u64, usize)> =
        exp.layout.generators.iter().map(|&(c, log, n)| (c, (log, n))).collect();
    let mut metadata = vec![];
    for c in 0..cpus {
        let role = if isolated.contains(&c) {
            "isolated"
        } else if generators.contains_key(&c) {
            "housekeeping"
        } else {
            "idle housekeeping"
        };
        let meta = |name: &str, tid: u32, args: Value| {
            let mut e = b.event(name, "", "M", pid(c), tid);
            e.args = object(args);
            e
        };
        metadata.push(meta("process_name", CPU_TID, json!({ "name": format!("{prefix} CPU {c} ({role})") })));
        metadata.push(meta("process_sort_index", CPU_TID, json!({ "sort_index": pid(c) })));
        metadata.push(meta("thread_name", CPU_TID, json!({ "name": "cpu" })));
        if isolated.contains(&c) {
            metadata.push(meta("thread_name", NOISE_TID, json!({ "name": "hw noise" })));
        }
    }

    for c in 0..cpus {
        let core = &m.state().cores[c];
        let ex = core.exceptions();
        let iso = isolated.iter().position(|&x| x == c);
        let since = iso.and_then(|i| isolated_since.get(i).copied().flatten());
        // Exceptions: IRQs (the kernel's IPIs: call-function vectors) and system calls.
        let irq = json!({ "entry": "irq_vectors:call_function_entry", "exit": "irq_vectors:call_function_exit" });
        exception_slices(&mut b, pid(c), ex, end, &irq);
        // osnoise's view: the noise of an isolated CPU once its task runs.
        if let Some(since) = since {
            for e in ex.iter().filter(|e| e.kind == ExceptionKind::Irq && e.taken_at >= since && e.taken_at < end) {
                let ret = e.returned_at.unwrap_or(end).min(end);
                let ns = exp.machine.ns(ret - e.taken_at);
                let args = json!({ "start_us": b.us(e.taken_at), "duration_ns": ns.round() as u64, "desc": "IPI" });
                b.instant(pid(c), ret, "osnoise:irq_noise", "osnoise", args);
            }
        }
        // What runs between them: the isolated task, a housekeeping CPU's operations, idle.
        let top: Vec<(Cycle, Cycle)> = top_level(ex.iter().map(|e| (e.taken_at, e.returned_at.unwrap_or(end))), end);
        if iso.is_some() {
            if let Some(since) = since {
                for (a, z) in gaps(&top, since, end) {
                    b.slice((pid(c), CPU_TID), (a, z), "user", "isolsim", json!({ "task": "isolated" }));
                }
            }
        } else if let Some(&(log, n)) = generators.get(&c) {
            let mem = &m.state().mem;
            let mut ops = vec![];
            for k in 0..n as u64 {
                let e = log + HK_LOG * k;
                let Some(op) = Op::from_code(mem.read(e).value) else { break };
                let (s, f) = (mem.read(e + 8).value, mem.read(e + 16).value);
                ops.push((s, f.max(s)));
                b.slice((pid(c), CPU_TID), (s, f.max(s)), op.name(), "isolsim", json!({ "operation": op.name() }));
            }
            for (a, z) in gaps(&ops, 0, end) {
                b.slice((pid(c), CPU_TID), (a, z), "idle", "isolsim", json!({ "waits": "for its next operation" }));
            }
        } else {
            for (a, z) in gaps(&top, 0, end) {
                b.slice((pid(c), CPU_TID), (a, z), "idle", "isolsim", json!({}));
            }
        }
        // The IPI's callback inside the handler.
        let hits = &m.observed(c).probe_hits;
        let mut call: Option<(Cycle, u64)> = None;
        for h in hits {
            match h.probe {
                probe::CALL_FUNC => call = Some((h.at, h.values[0])),
                probe::CALL_FUNC_DONE => {
                    if let Some((at, f)) = call.take() {
                        let func = names.exact(f).map_or_else(|| names.name(f), str::to_string);
                        b.slice((pid(c), CPU_TID), (at, h.at), &func, "csd", json!({ "func": func }));
                        b.instant(pid(c), at, "csd:csd_function_entry", "csd", json!({ "func": func }));
                        b.instant(pid(c), h.at, "csd:csd_function_exit", "csd", json!({ "func": func }));
                    }
                }
                _ => {}
            }
        }
        if let Some(since) = since {
            for &(at, d) in m.observed(c).disturbances.iter().filter(|d| d.0 >= since && d.0 < end) {
                let args = json!({ "source": "broadcast TLBI from another CPU", "rtla": "HW noise" });
                b.slice((pid(c), NOISE_TID), (at, at + d), "broadcast TLBI", "hw_noise", args);
            }
        }
    }

    // Kicks: the call on its sender, its decisions, the IPIs to the handlers they started.
    let cases: BTreeMap<(usize, usize), Case> =
        checker.classify(m, isolated_since).into_iter().map(|d| ((d.kick, d.cpu), d.case)).collect();
    let mut deferred_to_hook: Vec<(usize, Cycle, Value)> = vec![];
    for (k, kick) in checker.kicks.iter().enumerate() {
        let s = pid(kick.sender);
        let call = if kick.tlb { "flush_tlb_kernel_range" } else { "kick_all_cpus_sync" };
        let done = kick.done.unwrap_or(end);
        b.slice((s, CPU_TID), (kick.publish, done), call, "isolsim", json!({ "targets": kick.decisions.len() }));
        let mut interrupted = vec![];
        let mut last = kick.publish;
        for &(c, skipped, d, _) in &kick.decisions {
            // The IPIs go out once every target is decided (smp_call_function_many).
            last = last.max(d);
            let case = cases.get(&(k, c)).map(|x| x.label());
            let mut args = json!({ "cpu": c, "decision": if skipped { "skip" } else { "interrupt" } });
            if let Some(case) = case {
                args["case"] = json!(case);
            }
            if skipped {
                b.instant(s, d, "isolation:defer_cpu", "isolsim", args.clone());
                deferred_to_hook.push((
                    c,
                    d,
                    json!({ "sender": kick.sender, "call": call,
                    "decided_us": b.us(d), "case": case }),
                ));
                continue;
            }
            interrupted.push(c);
            b.slice((s, CPU_TID), (d, d + 1), "csd:csd_queue_cpu", "csd", args);
            let landed =
                m.state().cores[c].exceptions().iter().find(|e| e.kind == ExceptionKind::Irq && e.taken_at > d);
            if let Some(irq) = landed {
                b.flow("IPI", (s, d), (pid(c), irq.taken_at));
            }
        }
        if !interrupted.is_empty() {
            interrupted.sort_unstable();
            let args =
                json!({ "cpumask": cpulist(&interrupted), "callsite": "smp_call_function_many", "callback": call });
            b.instant(s, last, "ipi:ipi_send_cpumask", "ipi", args);
        }
    }

    // Entry hooks, with the deferred decisions each one honours (the first hook at or after the
    // decision on that CPU).
    for (i, &c) in isolated.iter().enumerate() {
        let hooks = &checker.hook_done[i];
        let mut honoured: BTreeMap<usize, Vec<Value>> = BTreeMap::new();
        for (_, d, v) in deferred_to_hook.iter().filter(|x| x.0 == c) {
            let h = hooks.partition_point(|&t| t < *d);
            honoured.entry(h).or_default().push(v.clone());
        }
        for (h, &at) in hooks.iter().enumerate() {
            // Named only where the hook honours a deferred kick (most entries honour none).
            let args = match honoured.remove(&h) {
                Some(deferred) => json!({ "deferred_kicks": deferred }),
                None => json!({}),
            };
            b.instant(pid(c), at, "isolation:task_isolation_kernel_enter", "isolsim", args);
        }
    }
    b.finish(metadata)
}

/// Any run of machine `m` (clock `clock_mhz`, ended at `end`), as `isolsim exec` runs a scenario:
/// one process per CPU named by `names`, its exceptions as `irq` / `kernel` (system calls) /
/// `exception` slices nested as taken, what runs between them as `user` or `kernel` by the
/// exception level it ran at, broadcast-TLBI stalls on a `hw noise` thread, and every stale
/// instruction executed and stale translation used as an instant.
pub fn machine_trace(m: &Machine, clock_mhz: u64, end: Cycle, window: TraceWindow, names: &[String]) -> ChromeTrace {
    let window = TraceWindow { from: window.from, to: window.to.min(end) };
    let mut b = Builder { clock_mhz: clock_mhz as f64, window, slices: BTreeMap::new(), others: vec![], next_flow: 0 };
    let code_names = CodeNames::new(m.code());
    let cores = &m.state().cores;
    let mut metadata = vec![];
    for (c, name) in names.iter().enumerate().take(cores.len()) {
        let pid = c as u32;
        let meta = |what: &str, tid: u32, args: Value| {
            let mut e = b.event(what, "", "M", pid, tid);
            e.args = object(args);
            e
        };
        metadata.push(meta("process_name", CPU_TID, json!({ "name": name })));
        metadata.push(meta("process_sort_index", CPU_TID, json!({ "sort_index": pid })));
        metadata.push(meta("thread_name", CPU_TID, json!({ "name": "cpu" })));
        metadata.push(meta("thread_name", NOISE_TID, json!({ "name": "hw noise" })));
    }
    for (c, core) in cores.iter().enumerate().take(names.len()) {
        let pid = c as u32;
        let ex = core.exceptions();
        exception_slices(&mut b, pid, ex, end, &json!({}));
        // Between the outermost exceptions: the level the next one was taken from (a gap ends
        // where one is taken), the level the CPU ended at after the last.
        let top = top_level(ex.iter().map(|e| (e.taken_at, e.returned_at.unwrap_or(end))), end);
        for (a, z) in gaps(&top, 0, end) {
            let el = ex.iter().find(|e| e.taken_at == z).map_or(core.el(), |e| e.from_el);
            let name = if el == 0 { "user" } else { "kernel" };
            b.slice((pid, CPU_TID), (a, z), name, "isolsim", json!({ "el": el }));
        }
        for &(at, d) in m.observed(c).disturbances.iter().filter(|d| d.0 < end) {
            let args = json!({ "source": "broadcast TLBI from another CPU", "rtla": "HW noise" });
            b.slice((pid, NOISE_TID), (at, at + d), "broadcast TLBI", "hw_noise", args);
        }
        for r in core.stale_instructions() {
            let args = json!({ "pc": format!("{:#x}", r.pc), "at": code_names.name(r.pc),
                "executed_write": r.executed.to_string(), "newest_write": r.newest.to_string() });
            b.instant(pid, r.at, "stale instruction", "isolsim", args);
        }
    }
    for t in m.mmu().stale() {
        if (t.core as usize) < names.len() {
            let args = json!({ "va": format!("{:#x}", t.va), "fetch": t.fetch, "write": t.write });
            b.instant(t.core as u32, t.at, "stale translation", "isolsim", args);
        }
    }
    b.finish(metadata)
}

/// `ex`'s exceptions taken before `end` as slices of process `pid`, nested as they were taken:
/// `irq` (with `irq_args`), `kernel` for a system call, `exception` with its class.
fn exception_slices(b: &mut Builder, pid: u32, ex: &[ExceptionRecord], end: Cycle, irq_args: &Value) {
    for e in ex.iter().filter(|e| e.taken_at < end) {
        let ret = e.returned_at.unwrap_or(end).min(end);
        let from = if e.from_el == 0 { "user" } else { "kernel" };
        let (name, cat, args) = match e.kind {
            ExceptionKind::Irq => {
                let mut args = json!({ "from": from });
                if let (Some(a), Some(extra)) = (args.as_object_mut(), irq_args.as_object()) {
                    a.extend(extra.clone());
                }
                ("irq", "irq_vectors", args)
            }
            ExceptionKind::Sync { class: 0x15 } => ("kernel", "raw_syscalls", json!({ "entry": "svc" })),
            ExceptionKind::Sync { class } => ("exception", "exceptions", json!({ "from": from, "esr_ec": class })),
        };
        b.slice((pid, CPU_TID), (e.taken_at, ret), name, cat, args);
    }
}

/// The outermost of nested intervals (exception records in the order taken), ending by `end`.
fn top_level(intervals: impl Iterator<Item = (Cycle, Cycle)>, end: Cycle) -> Vec<(Cycle, Cycle)> {
    let mut out: Vec<(Cycle, Cycle)> = vec![];
    for (a, z) in intervals {
        if a >= end {
            break;
        }
        match out.last() {
            Some(&(_, last)) if a < last => {}
            _ => out.push((a, z.min(end))),
        }
    }
    out
}

/// The gaps between sorted, disjoint `busy` intervals within `from..to`.
fn gaps(busy: &[(Cycle, Cycle)], from: Cycle, to: Cycle) -> Vec<(Cycle, Cycle)> {
    let mut out = vec![];
    let mut at = from;
    for &(a, z) in busy {
        if a > at {
            out.push((at, a.min(to)));
        }
        at = at.max(z);
        if at >= to {
            break;
        }
    }
    if at < to {
        out.push((at, to));
    }
    out.retain(|g| g.0 < g.1);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpulists_read_as_linux_prints_them() {
        assert_eq!(cpulist(&[1, 2, 3, 5, 7, 8]), "1-3,5,7-8");
        assert_eq!(cpulist(&[4]), "4");
        assert_eq!(cpulist(&[]), "");
    }

    #[test]
    fn gaps_fill_what_the_intervals_leave() {
        assert_eq!(gaps(&[(2, 4), (6, 9)], 0, 10), vec![(0, 2), (4, 6), (9, 10)]);
        assert_eq!(gaps(&[(0, 10)], 0, 10), vec![]);
        assert_eq!(top_level([(1, 9), (2, 3), (10, 12)].into_iter(), 11), vec![(1, 9), (10, 11)]);
    }
}
