//! Checking a whole corpus against expected verdicts.
//!
//! An index is a tab-separated file with a header row. The `file` column
//! names each test (relative to the index's folder); every column named
//! after a model (`sc`, `tso`, `arm`) holds the expected verdict under that
//! model — `Never`, `Sometimes` or `Always`, or `-` for "not applicable".
//! A `basic` column with `no` marks tests the runner is expected to reject
//! as unsupported. The kernel corpus's `INDEX.tsv` and the project's
//! `workloads/litmus/classic/EXPECTED.tsv` have this shape.

use std::path::{Path, PathBuf};

use memory_model::Mode;
use serde::Serialize;

use super::driver::load;
use super::report::{Observation, report};
use super::run::{RunOptions, run_test};

/// One expected-versus-observed disagreement.
#[derive(Clone, Debug, Serialize)]
pub struct Mismatch {
    /// Test file.
    pub file: String,
    /// Model.
    pub model: String,
    /// Expected verdict.
    pub expected: String,
    /// What the run gave (or the error).
    pub got: String,
}

/// Per-model totals.
#[derive(Clone, Debug, Default, Serialize)]
pub struct ModelRow {
    /// Model.
    pub model: String,
    /// Tests run.
    pub run: usize,
    /// Tests expected Never.
    pub never_expected: usize,
    /// Of those, never observed.
    pub never_held: usize,
    /// Tests expected Sometimes (or Always).
    pub sometimes_expected: usize,
    /// Of those, observed.
    pub sometimes_seen: usize,
    /// Tests the index marks unsupported that were rejected with an error.
    pub rejected_as_expected: usize,
}

/// The whole check.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Validation {
    /// Rows, one per model column found.
    pub rows: Vec<ModelRow>,
    /// Disagreements.
    pub mismatches: Vec<Mismatch>,
}

/// Reads `index` and runs every listed test under every model column.
pub fn validate(index: &Path, opts: &RunOptions) -> Result<Validation, String> {
    let text = crate::input::read_text(index).map_err(|e| e.to_string())?;
    let dir = index.parent().unwrap_or(Path::new("."));
    let mut lines = text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty());
    let (_, header) = lines.next().ok_or_else(|| format!("{}:1:1: empty index", index.display()))?;
    let header: Vec<&str> = header.split('\t').collect();
    let file_col =
        header.iter().position(|h| *h == "file").ok_or_else(|| format!("{}:1:1: no `file` column", index.display()))?;
    let basic_col = header.iter().position(|h| *h == "basic");
    // A column named after a model, optionally with a suffix naming the
    // model variant (`arm_ifetch`: Arm's instruction-fetch model).
    let model_of =
        |h: &str| Mode::ALL.iter().copied().find(|m| h == m.name() || h.starts_with(&format!("{}_", m.name())));
    let models: Vec<(usize, Mode)> =
        header.iter().enumerate().filter_map(|(i, h)| model_of(h).map(|m| (i, m))).collect();
    if models.is_empty() {
        return Err(format!("{}:1:1: no model column (sc, tso, arm)", index.display()));
    }
    let mut rows: Vec<(PathBuf, Vec<String>, bool)> = vec![];
    for (n, l) in lines {
        let cells: Vec<String> = l.split('\t').map(str::to_string).collect();
        if cells.len() != header.len() {
            return Err(format!(
                "{}:{}:1: {} columns, header has {}",
                index.display(),
                n + 1,
                cells.len(),
                header.len()
            ));
        }
        let unsupported = basic_col.is_some_and(|b| cells[b] == "no");
        rows.push((dir.join(&cells[file_col]), cells, unsupported));
    }
    let mut out = Validation::default();
    for (col, mode) in models {
        let mut row = ModelRow { model: mode.to_string(), ..ModelRow::default() };
        let mut o = opts.clone();
        o.machine.mode = mode;
        for (path, cells, unsupported) in &rows {
            let file = cells[file_col].clone();
            let expected = cells[col].clone();
            let mut miss = |got: String| {
                out.mismatches.push(Mismatch {
                    file: file.clone(),
                    model: mode.to_string(),
                    expected: expected.clone(),
                    got,
                })
            };
            let compiled = match load(path) {
                Ok(c) => c,
                Err(e) if *unsupported && e.msg.starts_with("unsupported") => {
                    row.rejected_as_expected += 1;
                    continue;
                }
                Err(e) => {
                    miss(e.to_string());
                    continue;
                }
            };
            if expected == "-" {
                continue;
            }
            row.run += 1;
            let r = match run_test(&compiled, &o) {
                Ok(r) => report(&compiled, &r),
                Err(e) => {
                    miss(e.to_string());
                    continue;
                }
            };
            let got = match r.observation {
                Observation::Never => "Never",
                Observation::Sometimes => "Sometimes",
                Observation::Always => "Always",
            };
            if expected == "Never" {
                row.never_expected += 1;
                row.never_held += (got == "Never") as usize;
            } else {
                row.sometimes_expected += 1;
                row.sometimes_seen += (got != "Never") as usize;
            }
            if let Some(v) = r.axiom_violation {
                miss(format!("simulator bug: {v}"));
            } else if got != expected {
                miss(got.to_string());
            }
        }
        out.rows.push(row);
    }
    Ok(out)
}

impl Validation {
    /// A markdown table of the rows, then the mismatches.
    pub fn to_markdown(&self) -> String {
        let mut s = String::from(
            "| model | tests run | Never-tests never observed | Sometimes-tests observed | rejected as unsupported |\n|---|---|---|---|---|\n",
        );
        for r in &self.rows {
            s += &format!(
                "| {} | {} | {}/{} | {}/{} | {} |\n",
                r.model,
                r.run,
                r.never_held,
                r.never_expected,
                r.sometimes_seen,
                r.sometimes_expected,
                r.rejected_as_expected
            );
        }
        for m in &self.mismatches {
            s += &format!("MISMATCH {} under {}: expected {}, got {}\n", m.file, m.model, m.expected, m.got);
        }
        s
    }
}
