//! Results in herd7/litmus7 form and as JSON.
//!
//! ```text
//! Test SB+poonceonces Allowed
//! States 4
//! 0:r0=0; 1:r0=0;
//! ...
//! Ok
//! Witnesses
//! Positive: 1 Negative: 3
//! Condition exists (0:r0=0 /\ 1:r0=0)
//! Observation SB+poonceonces Sometimes 1 3
//! Time SB+poonceonces 0.00
//! ```
//!
//! In random mode each state line starts with its count and `*>` (the state
//! satisfies the condition's proposition) or `:>`, as litmus7 prints them.
//! Positive/Negative count runs in random mode and distinct final machine
//! states in exhaustive mode (herd7 counts candidate executions, so its
//! numbers can differ while the verdict agrees). Two lines follow that herd7
//! does not print: how the space was covered (`Explored` or `Runs`) and the
//! outcome of the axiomatic check of the recorded executions (`Axioms`).

use serde::Serialize;

use super::ast::{Loc, Prop, Quantifier};
use super::compile::{Compiled, Kind};
use super::run::{ExploreSummary, TestRun};
use sim::stats::Summary;

/// herd7's verdict on how often the proposition held.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Observation {
    /// Never.
    Never,
    /// In some but not all final states.
    Sometimes,
    /// In every final state.
    Always,
}

/// Everything printed for one test, also serialised as JSON.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// Test name.
    pub name: String,
    /// `Allowed`, `Forbidden` or `Required`.
    pub kind: &'static str,
    /// Consistency mode.
    pub model: String,
    /// `exhaustive` or `random`.
    pub method: &'static str,
    /// Displayed locations, in order.
    pub locations: Vec<String>,
    /// Final states.
    pub states: Vec<StateLine>,
    /// The condition is validated.
    pub ok: bool,
    /// Witnesses line, as herd7 prints it (swapped for `~exists`).
    pub positive: u64,
    /// Witnesses line, as herd7 prints it.
    pub negative: u64,
    /// The condition, reprinted.
    pub condition: String,
    /// Observation verdict.
    pub observation: Observation,
    /// Count of the proposition holding.
    pub observed_true: u64,
    /// Count of it not holding.
    pub observed_false: u64,
    /// Seconds.
    #[serde(with = "sim::float")]
    pub time: f64,
    /// How the behaviours were covered.
    pub coverage: Coverage,
    /// Graphs checked against the axioms.
    pub graphs_checked: u64,
    /// Graphs too large to check (more relation pairs than `graph_bound`).
    pub graphs_skipped: u64,
    /// The graph bound: relation pairs a checked graph may have.
    pub graph_bound: u64,
    /// An axiom violation (simulator bug), if any.
    pub axiom_violation: Option<String>,
}

/// How a report's states were found.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Coverage {
    /// Exhaustive exploration, with its counters and bounds.
    Exhaustive(ExploreSummary),
    /// Randomly timed runs.
    Random {
        /// Number of runs.
        runs: u64,
        /// Simulated cycles per run (HdrHistogram percentiles).
        cycles: Summary,
    },
}

impl Coverage {
    /// True if a bound cut the exploration (never for random runs).
    pub fn bound_hit(&self) -> bool {
        matches!(self, Coverage::Exhaustive(e) if e.bound_hit)
    }
}

/// One final state.
#[derive(Clone, Debug, Serialize)]
pub struct StateLine {
    /// Values in display order, formatted.
    pub values: Vec<String>,
    /// Runs (random) or final machine states (exhaustive).
    pub count: u64,
    /// The condition's proposition holds in this state.
    pub satisfies: bool,
}

fn kind_word(q: Quantifier) -> &'static str {
    match q {
        Quantifier::Exists => "Allowed",
        Quantifier::NotExists => "Forbidden",
        Quantifier::Forall => "Required",
    }
}

/// A value as herd7 prints it, whatever the kind of its location: a location's address is
/// herd7's symbolic value for that location wherever it was read from (a register loaded from a
/// pointer-typed location holds one); so is a label's (a link register, `ADR`, a label loaded
/// from memory), and an instruction read from code is the instruction.
/// Else an integer prints as its location's type holds it ([`IntType`]: herd7's `int` unless
/// the test declares another).
fn fmt_value(c: &Compiled, kind: Kind, v: u64) -> String {
    c.symbols.name_of(v).unwrap_or_else(|| match kind {
        Kind::Int(t) => t.show(v),
        Kind::Symbolic => (v as i64).to_string(),
    })
}

fn fmt_loc(l: &Loc) -> String {
    match l {
        Loc::Reg { tid, name } => format!("{tid}:{name}"),
        Loc::Mem(n) => super::ast::memory_text(n),
    }
}

/// Prints a proposition the way herd7 reprints it.
pub fn fmt_prop(p: &Prop) -> String {
    fn go(p: &Prop, out: &mut String) {
        let paren = |q: &Prop, out: &mut String, need: bool| {
            if need {
                out.push('(');
                go(q, out);
                out.push(')');
            } else {
                go(q, out);
            }
        };
        match p {
            Prop::True => out.push_str("true"),
            Prop::False => out.push_str("false"),
            // (A whole array's name is bare: `t={2,1}`.)
            Prop::Atom(a) if matches!(a.value, super::ast::Value::Array(_)) => {
                out.push_str(&super::print::loc_text(&a.loc));
                out.push('=');
                out.push_str(&super::print::value_text(&a.value));
            }
            Prop::Atom(a) => {
                out.push_str(&fmt_loc(&a.loc));
                out.push('=');
                out.push_str(&super::print::value_text(&a.value));
            }
            Prop::Not(q) => {
                out.push_str("not (");
                go(q, out);
                out.push(')');
            }
            Prop::And(a, b) => {
                for (i, q) in [a, b].into_iter().enumerate() {
                    if i == 1 {
                        out.push_str(" /\\ ");
                    }
                    paren(q, out, matches!(**q, Prop::Or(..) | Prop::Implies(..)));
                }
            }
            Prop::Or(a, b) => {
                for (i, q) in [a, b].into_iter().enumerate() {
                    if i == 1 {
                        out.push_str(" \\/ ");
                    }
                    paren(q, out, matches!(**q, Prop::Implies(..)));
                }
            }
            Prop::Implies(a, b) => {
                paren(a, out, matches!(**a, Prop::And(..) | Prop::Or(..) | Prop::Implies(..)));
                out.push_str(" => ");
                paren(b, out, matches!(**b, Prop::And(..) | Prop::Or(..)));
            }
        }
    }
    let mut s = String::new();
    go(p, &mut s);
    s
}

/// One location a state shows: its name and the observed values it prints, one, or a whole
/// array's elements together (`whole`), printed `v={1,2}` as herd7 prints them.
struct Column {
    name: String,
    values: std::ops::Range<usize>,
    whole: bool,
}

fn columns(c: &Compiled) -> Vec<Column> {
    let mut out: Vec<Column> = vec![];
    for (i, o) in c.observed.iter().enumerate() {
        match (&o.whole, out.last_mut()) {
            (Some(n), Some(last)) if last.whole && last.name == *n => last.values.end = i + 1,
            (Some(n), _) => out.push(Column { name: n.clone(), values: i..i + 1, whole: true }),
            (None, _) => out.push(Column { name: o.display_name(), values: i..i + 1, whole: false }),
        }
    }
    out
}

/// Builds the report of `run` on test `c`.
pub fn report(c: &Compiled, run: &TestRun) -> Report {
    let columns = columns(c);
    let mut t = 0u64;
    let mut f = 0u64;
    // (Machine states that differ only in bits the locations' types drop print alike and stay
    // two states, as herd7 lists them: a W register's -1 and an X register's, in an `int`.)
    let states: Vec<StateLine> = run
        .states
        .iter()
        .map(|(vals, count)| {
            let satisfies = c.cond.eval(vals);
            if satisfies {
                t += count;
            } else {
                f += count;
            }
            let values = columns
                .iter()
                .map(|col| {
                    let shown: Vec<String> =
                        col.values.clone().map(|i| fmt_value(c, c.observed[i].kind, vals[i])).collect();
                    if col.whole { format!("{{{}}}", shown.join(",")) } else { shown.concat() }
                })
                .collect();
            StateLine { values, count: *count, satisfies }
        })
        .collect();
    let q = c.condition.quantifier;
    let ok = match q {
        Quantifier::Exists => t > 0,
        Quantifier::NotExists => t == 0,
        Quantifier::Forall => f == 0,
    };
    let (positive, negative) = if q == Quantifier::NotExists { (f, t) } else { (t, f) };
    let observation = if t == 0 {
        Observation::Never
    } else if f == 0 {
        Observation::Always
    } else {
        Observation::Sometimes
    };
    let qword = match q {
        Quantifier::Exists => "exists",
        Quantifier::NotExists => "~exists",
        Quantifier::Forall => "forall",
    };
    let coverage = match &run.explored {
        Some(e) => Coverage::Exhaustive(e.clone()),
        None => Coverage::Random {
            runs: run.runs.unwrap_or(0),
            cycles: run.run_cycles.clone().unwrap_or_else(|| sim::stats::Distribution::new().summary()),
        },
    };
    Report {
        name: c.name.clone(),
        kind: kind_word(q),
        model: run.mode.to_string(),
        method: if run.exhaustive { "exhaustive" } else { "random" },
        locations: columns.into_iter().map(|col| col.name).collect(),
        states,
        ok,
        positive,
        negative,
        condition: format!("{qword} ({})", fmt_prop(&c.condition.prop)),
        observation,
        observed_true: t,
        observed_false: f,
        time: run.seconds,
        coverage,
        graphs_checked: run.graphs_checked,
        graphs_skipped: run.graphs_skipped,
        graph_bound: run.graph_bound,
        axiom_violation: run.bug.as_ref().map(|b| b.violation.to_string()),
    }
}

impl Report {
    /// The herd7/litmus7 text block.
    pub fn to_text(&self) -> String {
        let mut s = String::new();
        let n = &self.name;
        s += &format!("Test {n} {}\n", self.kind);
        s += &format!("States {}\n", self.states.len());
        let random = self.method == "random";
        for st in &self.states {
            let body: Vec<String> = self.locations.iter().zip(&st.values).map(|(l, v)| format!("{l}={v};")).collect();
            let body = body.join(" ");
            if random {
                let mark = if st.satisfies { '*' } else { ':' };
                s += &format!("{:<6}{mark}>{body}\n", st.count);
            } else {
                s += &format!("{body}\n");
            }
        }
        s += if self.ok { "Ok\n" } else { "No\n" };
        s += "Witnesses\n";
        s += &format!("Positive: {} Negative: {}\n", self.positive, self.negative);
        s += &format!("Condition {}\n", self.condition);
        let obs = match self.observation {
            Observation::Never => "Never",
            Observation::Sometimes => "Sometimes",
            Observation::Always => "Always",
        };
        s += &format!("Observation {n} {obs} {} {}\n", self.observed_true, self.observed_false);
        s += &format!("Time {n} {:.2}\n", self.time);
        match &self.coverage {
            Coverage::Random { runs, cycles: c } => {
                s += &format!("Runs {n} {runs} model {} cycles p50 {} p99 {} max {}\n", self.model, c.p50, c.p99, c.max)
            }
            Coverage::Exhaustive(e) => {
                // Which bound cut the work: the fetch bound (loops), the state bound, or both.
                let hit = match (e.fetch_bound_hit, e.state_bound_hit) {
                    (false, false) => "no",
                    (true, false) => "yes (fetch-bound)",
                    (false, true) => "yes (state-bound)",
                    (true, true) => "yes (fetch-bound, state-bound)",
                };
                s += &format!(
                    "Explored {n} model {} states {} transitions {} fetch-bound {} state-bound {} bound-hit {hit}\n",
                    self.model, e.states, e.transitions, e.max_fetch, e.max_states,
                );
            }
        }
        match &self.axiom_violation {
            None if self.graphs_skipped > 0 => {
                s += &format!(
                    "Axioms {n} {} ok ({} graphs checked, {} skipped: more than the graph-bound of {} relation pairs)\n",
                    self.model, self.graphs_checked, self.graphs_skipped, self.graph_bound
                )
            }
            None => s += &format!("Axioms {n} {} ok ({} graphs checked)\n", self.model, self.graphs_checked),
            Some(v) => s += &format!("Axioms {n} SIMULATOR BUG: {v}\n"),
        }
        s
    }
}
