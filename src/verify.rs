//! `isolsim fuzz`: text for a fuzz campaign's report.
//!
//! The campaign itself is [`workloads::verify::fuzz`]; this lays out what it found
//! against what the protocol file expects (`@expect`), with the four
//! orderings of Belits's message (README, "The four orderings") as coverage.

use std::fmt::Write as _;

use workloads::protocol::{Consequence, ProtocolFile};
use workloads::verify::fuzz::{FuzzReport, ORDERING_NAMES};

/// A verdict table, one row per protocol: `head` names the columns, each row gives all but the
/// last (`as expected`: yes, NO, or — when the file states no expectation), then a count of the
/// protocols that behaved as their files expect.
pub fn verdict_table(title: &str, head: &[&str], rows: &[(Vec<String>, Option<bool>)]) -> String {
    let mut t = comfy_table::Table::new();
    t.load_style(comfy_table::presets::ASCII_MARKDOWN)
        .set_content_arrangement(comfy_table::ContentArrangement::Disabled);
    t.set_header(head.to_vec());
    for (cells, ok) in rows {
        let mut cells = cells.clone();
        cells.push(match ok {
            Some(true) => "yes".into(),
            Some(false) => "NO".into(),
            None => "—".into(),
        });
        t.add_row(cells);
    }
    let stated = rows.iter().filter(|r| r.1.is_some()).count();
    let ok = rows.iter().filter(|r| r.1 == Some(true)).count();
    format!("{title}\n\n{t}\n\n{ok} of the {stated} protocols that state an expectation behaved as expected.\n")
}

/// One-word verdict for a set of consequences.
pub fn verdict(found: &[Consequence]) -> String {
    if found.is_empty() { "none".to_string() } else { found.iter().map(|c| c.name()).collect::<Vec<_>>().join(" + ") }
}

/// The report as text; `secs` is the wall-clock time the campaign took (for runs/s only).
pub fn fuzz_text(r: &FuzzReport, p: &ProtocolFile, jobs: usize, secs: f64) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "isolsim fuzz: protocol {} ({}), model {}", p.name, p.path, r.mode);
    let _ = writeln!(
        o,
        "  runs                      {} in {:.1} s: {:.1} runs/s on {} thread{}",
        r.runs,
        secs,
        r.runs as f64 / secs.max(1e-9),
        jobs,
        if jobs == 1 { "" } else { "s" }
    );
    let _ = writeln!(o, "  safety violations         {} run{}", r.safety_violations, plural(r.safety_violations));
    let _ = writeln!(o, "  isolation breaks          {} run{}", r.isolation_breaks, plural(r.isolation_breaks));
    let _ = writeln!(o, "\nCoverage (the four orderings, cases 1-4; occurrences, runs with at least one)");
    let c = &r.coverage;
    for ((name, n), runs) in ORDERING_NAMES.iter().zip(c.seed_cases()).zip(r.runs_covering) {
        let _ = writeln!(o, "  {name:<42} {n:>8} {runs:>8}");
    }
    let _ = writeln!(o, "  {:<42} {:>8}", "interrupted in user space", c.interrupted_in_user);
    for name in r.uncovered() {
        let _ = writeln!(o, "warning: no run covered {name}");
    }
    if let Some((run, v)) = &r.first_violation {
        let _ = writeln!(
            o,
            "\nFirst safety violation: run {} (experiment seed {}, jitter {})",
            run.index, run.seed, run.machine.jitter
        );
        let _ = write!(o, "{v}");
    }
    if let Some(run) = &r.first_break {
        let _ = writeln!(o, "\nFirst isolation break: run {} (experiment seed {})", run.index, run.seed);
    }
    let found = r.found();
    let _ = writeln!(o, "\nVerdict: {}", verdict(&found));
    // The cause of each consequence found, from its first run.
    let causes: Vec<(Consequence, workloads::cause::Cause)> = [
        (Consequence::SafetyViolation, r.first_violation.as_ref().and_then(|(_, v)| v.cause())),
        (Consequence::IsolationBreak, r.first_break_evidence.as_ref().map(|b| b.cause())),
    ]
    .into_iter()
    .filter_map(|(k, c)| Some((k, c?)))
    .collect();
    write_causes(&mut o, &causes);
    if let Some(expect) = &p.expect {
        let ok = *expect == found;
        let _ = writeln!(
            o,
            "Expected ({}): {} — {}",
            p.path,
            verdict(expect),
            if ok { "as expected" } else { "NOT as expected" }
        );
    }
    o
}

fn plural(n: u64) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// The host's share of an exploration: wall-clock seconds, threads, and the process's peak
/// resident memory in MiB (None where the system does not say).
#[derive(Clone, Copy, Debug)]
pub struct Host {
    /// Wall-clock seconds of the exploration.
    pub secs: f64,
    /// Threads it ran on.
    pub jobs: usize,
    /// Peak resident memory of the process so far, MiB.
    pub peak_mib: Option<f64>,
}

impl Host {
    /// The figures of an exploration that took `secs` on `jobs` threads, memory read now.
    pub fn now(secs: f64, jobs: usize) -> Host {
        Host { secs, jobs, peak_mib: peak_resident_mib() }
    }
}

/// The process's peak resident set (Linux's `VmHWM` in /proc/self/status), MiB.
pub fn peak_resident_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find_map(|l| l.strip_prefix("VmHWM:"))?;
    let kib: f64 = line.trim().trim_end_matches("kB").trim().parse().ok()?;
    Some(kib / 1024.0)
}

/// `isolsim check`'s report as text; `host`, the wall-clock time, threads and memory of the
/// exploration; `causes`, the cause of each counterexample (printed under the verdict).
pub fn check_text(
    r: &workloads::verify::check::CheckReport,
    p: &ProtocolFile,
    host: Host,
    causes: &[(Consequence, workloads::cause::Cause)],
) -> String {
    let secs = host.secs;
    let mut o = String::new();
    let c = &r.config;
    let _ = writeln!(
        o,
        "isolsim check: protocol {} ({}), model {}, {} CPUs ({})",
        p.name,
        p.path,
        c.mode,
        c.cpus,
        c.title_shape()
    );
    let s = &r.stats;
    let _ = writeln!(
        o,
        "  explored                  {} states, {} transitions, {} final states in {:.2} s",
        s.states, s.transitions, s.finals, secs
    );
    let reduction =
        if c.reduce { format!(", reduced: {} transitions taken", s.transitions_taken) } else { String::new() };
    let memory = host.peak_mib.map_or(String::new(), |m| format!(", peak memory {m:.0} MiB"));
    let _ = writeln!(
        o,
        "  host                      {} thread{}, {:.0} states/s{memory}{reduction}",
        host.jobs,
        plural(host.jobs as u64),
        s.states as f64 / secs.max(1e-9)
    );
    for part in &r.parts {
        let _ = writeln!(
            o,
            "  part: CPU {:<15} {} states, {} transitions, {} final states",
            part.cpu, part.stats.states, part.stats.transitions, part.stats.finals
        );
    }
    if !r.parts.is_empty() {
        let _ = writeln!(
            o,
            "  split                     each isolated CPU checked apart with the senders: no part wrote a word another \
             part touched, except what the senders' operations change (--split)"
        );
    }
    let _ = writeln!(o, "  final states violating    {}", r.violating_finals);
    let _ = writeln!(o, "  final states breaking     {}", r.breaking_finals);
    let over = if r.parts.is_empty() { "all final states" } else { "all final states of every part" };
    let _ = writeln!(o, "\nCoverage (the four orderings, cases 1-4; decisions over {over})");
    // With several senders, a column per sender after the total.
    let by = &r.coverage_by_sender;
    if !by.is_empty() {
        let heads: String = (0..by.len()).map(|k| format!(" {:>9}", format!("sender {k}"))).collect();
        let _ = writeln!(o, "  {:<42} {:>8}{heads}", "", "all");
    }
    let row = |o: &mut String, name: &str, all: u64, each: &dyn Fn(&workloads::experiment::Orderings) -> u64| {
        let cols: String = by.iter().map(|c| format!(" {:>9}", each(c))).collect();
        let _ = writeln!(o, "  {name:<42} {all:>8}{cols}");
    };
    for (k, (name, n)) in ORDERING_NAMES.iter().zip(r.coverage.seed_cases()).enumerate() {
        row(&mut o, name, n, &|c| c.seed_cases()[k]);
    }
    row(&mut o, "interrupted in user space", r.coverage.interrupted_in_user, &|c| c.interrupted_in_user);
    let found = r.found();
    if s.model_bound_hits > 0 {
        let _ = writeln!(
            o,
            "\nStopped at the bound: on {} path{} a CPU fetched more than {} instructions (--bound); a protocol \
             function that never returns (a loop that waits forever?) ends here. Nothing beyond the bound was explored.",
            s.model_bound_hits,
            plural(s.model_bound_hits),
            c.bound
        );
    }
    if s.state_limit_hit {
        let _ = writeln!(o, "\nStopped at the state limit ({} states, --max-states).", c.max_states);
    }
    let _ = writeln!(o);
    if found.is_empty() && !s.bound_hit() {
        let _ = writeln!(
            o,
            "Verdict: safe within bound {} (every path explored: {} states, {:.2} s)",
            c.bound, s.states, secs
        );
    } else if found.is_empty() {
        let _ = writeln!(o, "Verdict: inconclusive: nothing found, but the bound cut the exploration short");
    } else {
        let _ = writeln!(o, "Verdict: {}", verdict(&found));
    }
    write_causes(&mut o, causes);
    let _ = writeln!(o, "Not covered: {}", c.not_covered());
    if let Some(expect) = &p.expect {
        let ok = *expect == found && (!found.is_empty() || !s.bound_hit());
        let _ = writeln!(
            o,
            "Expected ({}): {} — {}",
            p.path,
            verdict(expect),
            if ok { "as expected" } else { "NOT as expected" }
        );
    }
    o
}

/// `Cause: …` under a verdict, one line per consequence.
fn write_causes(o: &mut String, causes: &[(Consequence, workloads::cause::Cause)]) {
    for (k, cause) in causes {
        if causes.len() == 1 {
            let _ = writeln!(o, "Cause: {cause}");
        } else {
            let _ = writeln!(o, "Cause ({k}): {cause}");
        }
    }
}

/// A counterexample as the seed draws it: a sentence, then the timeline.
pub fn counterexample_text(
    c: &workloads::verify::check::Counterexample,
    replayed: &workloads::verify::check::Replayed,
) -> String {
    let mut o = String::new();
    let _ = writeln!(
        o,
        "\nCounterexample ({}, the shortest found: {} transitions of the explorer, drawn as {} rows):",
        c.consequence,
        replayed.transitions,
        replayed.rows.len()
    );
    let _ = writeln!(o, "  {}", c.what);
    let _ = writeln!(
        o,
        "  (A transition is one load taking its value, one store reaching memory, one maintenance operation, one \
         fetch of patched code or the retirement of one of the harness's milestones (at any point a stall could put \
         it), with the instructions its CPU then retires: one row each. `step` numbers the transitions.)"
    );
    if let Some(c) = &replayed.c_file {
        let _ = writeln!(o, "  (L<n> before an instruction: it was compiled from line n of {c}.)");
    }
    o.push('\n');
    o.push_str(&workloads::verify::timeline::render(replayed.cpus, &replayed.rows, None));
    o
}

/// The title of a counterexample's graph: what, where, and the cause, wrapped for Graphviz.
pub fn graph_title(
    protocol: &str,
    cfg: &workloads::verify::check::CheckConfig,
    c: &workloads::verify::check::Counterexample,
    cause: &workloads::cause::Cause,
) -> String {
    let head = format!("isolsim check: {protocol}, model {}, {} CPUs: {}", cfg.mode, cfg.cpus, c.what);
    let mut lines = vec![];
    for text in [head, format!("Cause: {cause}")] {
        let mut line = String::new();
        for word in text.split(' ') {
            if !line.is_empty() && line.len() + word.len() > 110 {
                lines.push(std::mem::take(&mut line));
            }
            if !line.is_empty() {
                line.push(' ');
            }
            line.push_str(word);
        }
        lines.push(line);
    }
    lines.join("\n")
}

/// Rows of a fuzz counterexample's timeline (the last events before the violation).
pub const TIMELINE_ROWS: usize = 40;

/// A fuzz run's violation and the timeline of its last events, by cycle and ns at `machine`'s
/// clock.
pub fn fuzz_counterexample_text(
    v: &workloads::experiment::Violation,
    rows: &[workloads::verify::timeline::Row],
    cpus: usize,
    machine: &cpu_model::machine::MachineConfig,
) -> String {
    let mut head = vec![format!("{} on CPU {} at cycle {}: {}", v.kind, v.cpu, v.at, v.what)];
    head.extend(v.cause().map(|c| format!("Cause: {c}")));
    timed_text("Counterexample", "before the violation", &head, rows, cpus, machine)
}

/// A fuzz run's isolation break as text: its cause, then the timeline of every CPU up to where
/// the interrupt landed (`rows`), or up to the saved decision when `now` (the break no longer
/// happens).
pub fn fuzz_break_text(
    b: Option<&workloads::experiment::Break>,
    rows: &[workloads::verify::timeline::Row],
    cpus: usize,
    machine: &cpu_model::machine::MachineConfig,
    now: bool,
) -> String {
    let head = match b {
        Some(b) => vec![
            format!("CPU {} interrupted, decided at cycle {}", b.cpu, b.decided_at),
            format!("Cause: {}", b.cause()),
        ],
        None => vec!["a broadcast TLB invalidation reached isolated user code".to_string()],
    };
    let (title, until) = if now {
        ("Saved isolation break, and the run now", "up to the saved decision")
    } else {
        ("Isolation break", "before its interrupt landed")
    };
    timed_text(title, until, &head, rows, cpus, machine)
}

/// `title (the last N events UNTIL, by cycle and ns at … MHz):`, the `head` lines indented, and
/// the timeline of `rows`.
fn timed_text(
    title: &str,
    until: &str,
    head: &[String],
    rows: &[workloads::verify::timeline::Row],
    cpus: usize,
    machine: &cpu_model::machine::MachineConfig,
) -> String {
    let mut o = String::new();
    let _ = writeln!(
        o,
        "\n{title} (the last {} events {until}, by cycle and ns at {} MHz):",
        rows.len(),
        machine.clock_mhz
    );
    for line in head {
        let _ = writeln!(o, "  {line}");
    }
    if rows.iter().any(|r| workloads::verify::timeline::c_line_of(&r.text).is_some()) {
        let _ = writeln!(o, "  (L<n> before an instruction: it was compiled from line n of the protocol's C file.)");
    }
    o.push('\n');
    o.push_str(&workloads::verify::timeline::render(cpus, rows, Some(machine.clock_mhz)));
    o
}

#[cfg(test)]
mod tests {
    use workloads::kernel::Protocol;
    use workloads::verify::check::{Check, CheckConfig};

    use super::*;

    #[test]
    fn the_host_line_divides_the_states_by_the_seconds() {
        let p = ProtocolFile::builtin(Protocol::Deferred);
        let r = Check::new(CheckConfig::default()).run(&p).unwrap();
        let text = check_text(&r, &p, Host { secs: 0.5, jobs: 2, peak_mib: Some(12.4) }, &[]);
        let want =
            format!("  host                      2 threads, {} states/s, peak memory 12 MiB\n", 2 * r.stats.states);
        assert!(text.contains(&want), "{text}");
        let text = check_text(&r, &p, Host { secs: 0.5, jobs: 1, peak_mib: None }, &[]);
        assert!(text.contains(&format!("{} states/s\n", 2 * r.stats.states)), "{text}");
        assert!(peak_resident_mib().is_some_and(|m| m > 0.0), "Linux reports VmHWM");
    }
}
