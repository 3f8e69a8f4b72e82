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
//! let t = render(2, &rows);
//! assert!(t.lines().next().unwrap().ends_with("| CPU 1 (isolated)"));
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

/// The rows under one column per CPU (CPU 0 the sender, the others
/// isolated); the first column is the row number, or the cycle when rows
/// have one.
pub fn render(cpus: usize, rows: &[Row]) -> String {
    let headings: Vec<String> =
        (0..cpus).map(|c| format!("CPU {c}{}", if c == 0 { " (sender)" } else { " (isolated)" })).collect();
    let width = rows.iter().map(|r| r.text.chars().count()).max().unwrap_or(10).clamp(20, 64);
    let timed = rows.iter().any(|r| r.cycle.is_some());
    let first =
        if timed { rows.iter().filter_map(|r| r.cycle).map(|c| c.to_string().len()).max().unwrap_or(5) } else { 4 };
    let mut o = String::new();
    let _ = write!(o, "{:>first$} ", if timed { "cycle" } else { "" });
    for h in &headings {
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
