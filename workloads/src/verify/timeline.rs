//! Counterexamples drawn as the seed draws them: one column per CPU, one
//! row per event, time running down.
//!
//! ```
//! use workloads::verify::timeline::{Row, render};
//!
//! let rows = [
//!     Row { cpu: 1, cycle: Some(10), step: None, text: "STR BROKEN -> store buffer".into() },
//!     Row { cpu: 0, cycle: Some(12), step: None, text: "reads flags = ISOLATED".into() },
//! ];
//! let t = render(2, &rows, Some(2500));
//! assert!(t.lines().next().unwrap().ends_with("| CPU 1 (isolated)"));
//! assert!(t.lines().nth(2).unwrap().starts_with("   10 4.0 |"));
//! assert!(t.lines().nth(2).unwrap().ends_with("| STR BROKEN -> store buffer"));
//! ```

use std::fmt::Write as _;

use cpu_model::code::CodeSpace;
use memory_model::Addr;
use serde::{Deserialize, Serialize};
use sim::Cycle;

/// One event of one CPU.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Row {
    /// The CPU (column).
    pub cpu: usize,
    /// When (timed runs); exhaustive paths have only an order.
    pub cycle: Option<Cycle>,
    /// The transition of an exhaustive path the event belongs to, from 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<usize>,
    /// What happened.
    pub text: String,
}

/// The rows under one column per CPU (CPU 0 the sender, the others
/// isolated). The first columns say when: the cycle, and the time in ns at
/// `clock_mhz` if given, for timed rows; the transition for rows of an
/// exhaustive path (on its first row only); else the row number.
pub fn render(cpus: usize, rows: &[Row], clock_mhz: Option<u64>) -> String {
    let headings: Vec<String> =
        (0..cpus).map(|c| format!("CPU {c}{}", if c == 0 { " (sender)" } else { " (isolated)" })).collect();
    let width = rows.iter().map(|r| r.text.chars().count()).max().unwrap_or(10).clamp(20, 64);
    let timed = rows.iter().any(|r| r.cycle.is_some());
    let stepped = !timed && rows.iter().any(|r| r.step.is_some());
    let ns = |c: Cycle| clock_mhz.map(|mhz| format!("{:.1}", c as f64 * 1000.0 / mhz.max(1) as f64));
    // The "when" cell of each row.
    let mut last_step = None;
    let when: Vec<String> = rows
        .iter()
        .enumerate()
        .map(|(i, r)| match (r.cycle, r.step) {
            (Some(c), _) => match ns(c) {
                Some(t) => format!("{c} {t}"),
                None => c.to_string(),
            },
            (None, Some(s)) if stepped => {
                let first = last_step != Some(s);
                last_step = Some(s);
                if first { s.to_string() } else { String::new() }
            }
            _ => (i + 1).to_string(),
        })
        .collect();
    let heading = match (timed, clock_mhz.is_some(), stepped) {
        (true, true, _) => "cycle ns",
        (true, false, _) => "cycle",
        (false, _, true) => "step",
        _ => "",
    };
    // Timed rows with ns have two right-aligned sub-columns.
    let split = |s: &str| -> (String, String) {
        match s.split_once(' ') {
            Some((a, b)) => (a.to_string(), b.to_string()),
            None => (s.to_string(), String::new()),
        }
    };
    let two = timed && clock_mhz.is_some();
    let (w1, w2) = if two {
        let cells: Vec<(String, String)> = when.iter().map(|w| split(w)).collect();
        (
            cells.iter().map(|c| c.0.len()).max().unwrap_or(0).max(5),
            cells.iter().map(|c| c.1.len()).max().unwrap_or(0).max(2),
        )
    } else {
        (when.iter().map(String::len).max().unwrap_or(0).max(heading.len()).max(4), 0)
    };
    let first = if two { w1 + 1 + w2 } else { w1 };
    let cell = |w: &str| -> String {
        if two {
            let (a, b) = split(w);
            format!("{a:>w1$} {b:>w2$}")
        } else {
            format!("{w:>w1$}")
        }
    };
    let mut o = String::new();
    let _ = write!(o, "{} ", cell(heading));
    for h in &headings {
        let _ = write!(o, "| {h:<width$} ");
    }
    o.truncate(o.trim_end().len());
    o.push('\n');
    let _ = writeln!(o, "{}", "-".repeat(first + 1 + headings.len() * (width + 3)));
    for (r, w) in rows.iter().zip(&when) {
        let _ = write!(o, "{} ", cell(w));
        for c in 0..headings.len() {
            let text: String = if c == r.cpu { r.text.chars().take(width).collect() } else { String::new() };
            let _ = write!(o, "| {text:<width$} ");
        }
        o.truncate(o.trim_end().len());
        o.push('\n');
    }
    o
}

/// The C line a row's instruction was compiled from, if the row starts with
/// `L<n> ` (a protocol in C; `isolsim check` and timed runs write it so).
pub fn c_line_of(text: &str) -> Option<usize> {
    let (head, _) = text.split_once(' ')?;
    head.strip_prefix('L').filter(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))?.parse().ok()
}

/// `name = VALUE` for the words the isolation protocols keep per CPU, the
/// value spelled out (names ending in `.isol_flags`: ll_isol_flags;
/// `.context`: context tracking's state and work bits); `None` for others.
pub fn state_assignment(name: &str, v: u64) -> Option<String> {
    if name.ends_with(".isol_flags") {
        let f = ["NONE", "REQUEST", "ISOLATED", "BROKEN"].get(v as usize)?;
        return Some(format!("{name} = {f}"));
    }
    if name.ends_with(".context") {
        let (state, work) = (if v & 1 == 1 { "USER" } else { "KERNEL" }, v >> 4);
        return Some(if work == 0 { format!("{name} = {state}") } else { format!("{name} = {state}+work {work}") });
    }
    None
}

/// Names code addresses as `label+offset`.
pub struct CodeNames {
    labels: Vec<(Addr, String)>,
}

impl CodeNames {
    /// The labels of every program of `code`.
    pub fn new(code: &CodeSpace) -> Self {
        let mut labels: Vec<(Addr, String)> =
            code.programs().iter().flat_map(|p| p.labels.iter().map(|(n, a)| (*a, n.clone()))).collect();
        labels.sort();
        CodeNames { labels }
    }

    /// `label` or `label+0x8`: the nearest label at or before `pc`.
    pub fn name(&self, pc: Addr) -> String {
        let i = self.labels.partition_point(|(a, _)| *a <= pc);
        match i.checked_sub(1).map(|i| &self.labels[i]) {
            Some((a, n)) if *a == pc => n.clone(),
            Some((a, n)) => format!("{n}+{:#x}", pc - a),
            None => format!("{pc:#x}"),
        }
    }

    /// A label at exactly `pc`.
    pub fn exact(&self, pc: Addr) -> Option<&str> {
        let i = self.labels.partition_point(|(a, _)| *a < pc);
        self.labels.get(i).filter(|(a, _)| *a == pc).map(|(_, n)| n.as_str())
    }
}
