//! The last events of a timed run before its first violation, as timeline
//! rows: what the probes, the watched loads and stores and the exception
//! records of every CPU say, in cycle order.

use cpu_model::core::ExceptionKind;
use cpu_model::machine::Machine;
use sim::Cycle;

use super::build::{Experiment, PROBES, probe};
use crate::verify::timeline::CodeNames;
use crate::verify::timeline::Row;

/// Where isolation break `b` ends: the IRQ its decision sent, taken by the CPU (the decision's
/// cycle if none was taken before the run ended).
pub(crate) fn break_landed(m: &Machine, b: &super::Break) -> Cycle {
    m.state().cores[b.cpu]
        .exceptions()
        .iter()
        .find(|e| e.kind == ExceptionKind::Irq && e.taken_at > b.decided_at)
        .map_or(b.decided_at, |e| e.taken_at)
}

/// Rows for every CPU's events up to `until`, the last `max_rows` of them.
pub(crate) fn timeline(exp: &Experiment, m: &Machine, until: Cycle, max_rows: usize) -> Vec<Row> {
    let l = &exp.layout;
    let code = CodeNames::new(m.code());
    // A protocol in C: its instructions as `L<n>`, the C line, instead of their label.
    let at = |pc: u64| match exp.c_lines.get(&pc) {
        Some(line) => format!("L{line} {}", m.code().disasm(pc)),
        None => format!("{}: {}", code.name(pc), m.code().disasm(pc)),
    };
    let mut rows: Vec<(Cycle, usize, u8, String)> = vec![];
    let stored = m.watched_stores();
    for w in stored {
        rows.push((w.at, w.write.tid as usize, 2, format!("  {} reaches memory", l.assignment(w.addr, w.value))));
    }
    for c in 0..m.state().cores.len() {
        let o = m.observed(c);
        for h in &o.probe_hits {
            let text = match h.probe {
                probe::USER_ITER | probe::USER_RESUMED | probe::CALL_FUNC_DONE => continue,
                probe::KICK_DECIDED | probe::FLUSH_DECIDED => {
                    format!("decided: {} CPU {}", if h.values[1] != 0 { "skip" } else { "interrupt" }, h.values[0])
                }
                probe::CALL_FUNC => "IPI handler runs the kick's function".to_string(),
                p => format!("{} (retired)", PROBES[p as usize].0),
            };
            rows.push((h.at, c, 1, text));
        }
        for s in &o.retired_stores {
            let what = stored.iter().find(|w| w.write == s.write).map_or_else(
                || l.name(s.addr).unwrap_or_else(|| format!("[{:#x}]", s.addr)),
                |w| l.assignment(w.addr, w.value),
            );
            let line = exp.c_lines.get(&s.pc).map_or(String::new(), |l| format!("L{l} "));
            rows.push((s.retired_at, c, 1, format!("{line}STR {what} -> store buffer")));
        }
        for ld in &o.watched_loads {
            let from = if ld.source.is_init() {
                "initial value".to_string()
            } else if ld.source.tid as usize == c {
                "its own write".to_string()
            } else {
                format!("written by CPU {}", ld.source.tid)
            };
            let el = if ld.el == 0 { " (user)" } else { "" };
            rows.push((ld.satisfied_at, c, 0, format!("  reads {} ({from}){el}", l.assignment(ld.addr, ld.value))));
            let at = at(ld.pc);
            rows.push((ld.retired_at, c, 1, format!("{at} retires (= {})", l.value(ld.addr, ld.value))));
        }
        for e in m.state().cores[c].exceptions() {
            let what = match (e.kind, e.from_el) {
                (ExceptionKind::Irq, 0) => "IRQ taken in user space",
                (ExceptionKind::Irq, _) => "IRQ taken in the kernel",
                (ExceptionKind::Sync { class: 0x15 }, _) => "system call: exception to EL1",
                (ExceptionKind::Sync { .. }, _) => "synchronous exception",
            };
            rows.push((e.taken_at, c, 0, what.to_string()));
            if let Some(r) = e.returned_at {
                rows.push((r, c, 1, format!("ERET to EL{}", if e.from_el == 0 { 0 } else { 1 })));
            }
        }
    }
    rows.retain(|r| r.0 <= until);
    rows.sort_by_key(|r| (r.0, r.1, r.2));
    let skip = rows.len().saturating_sub(max_rows);
    rows.into_iter().skip(skip).map(|(at, cpu, _, text)| Row { cpu, cycle: Some(at), step: None, text }).collect()
}
