//! Counterexamples drawn as the seed draws them: one column per CPU, one
//! row per event, time running down.
//!
//! ```
//! use workloads::timeline::{Row, render};
//!
//! let rows = [
//!     Row { cpu: 1, cycle: Some(10), text: "STR BROKEN -> store buffer".into() },
//!     Row { cpu: 0, cycle: Some(12), text: "reads flags = ISOLATED".into() },
//! ];
//! let t = render(&["CPU 0", "CPU 1"], &rows);
//! assert!(t.lines().nth(2).unwrap().ends_with("| STR BROKEN -> store buffer"));
//! ```

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};
use sim::Cycle;

/// One event of one CPU.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Row {
    /// The CPU (column).
    pub cpu: usize,
    /// When (timed runs); exhaustive paths have only an order.
    pub cycle: Option<Cycle>,
    /// What happened.
    pub text: String,
}

/// The rows under one heading per column; the first column is the row
/// number, or the cycle when rows have one.
pub fn render(headings: &[&str], rows: &[Row]) -> String {
    let width = rows.iter().map(|r| r.text.chars().count()).max().unwrap_or(10).clamp(20, 64);
    let timed = rows.iter().any(|r| r.cycle.is_some());
    let first =
        if timed { rows.iter().filter_map(|r| r.cycle).map(|c| c.to_string().len()).max().unwrap_or(5) } else { 4 };
    let mut o = String::new();
    let _ = write!(o, "{:>first$} ", if timed { "cycle" } else { "" });
    for h in headings {
        let _ = write!(o, "| {h:<width$} ");
    }
    o.truncate(o.trim_end().len());
    o.push('\n');
    let _ = writeln!(o, "{}", "-".repeat(first + 1 + headings.len() * (width + 3)));
    for (i, r) in rows.iter().enumerate() {
        match r.cycle {
            Some(c) => {
                let _ = write!(o, "{c:>first$} ");
            }
            None => {
                let _ = write!(o, "{:>first$} ", i + 1);
            }
        }
        for c in 0..headings.len() {
            let cell: String = if c == r.cpu { r.text.chars().take(width).collect() } else { String::new() };
            let _ = write!(o, "| {cell:<width$} ");
        }
        o.truncate(o.trim_end().len());
        o.push('\n');
    }
    o
}

/// Column headings for `cpus` CPUs, CPU 0 the sender.
pub fn headings(cpus: usize) -> Vec<String> {
    (0..cpus).map(|c| format!("CPU {c}{}", if c == 0 { " (sender)" } else { " (isolated)" })).collect()
}
