//! Running herd7 on litmus texts and reading its final states.
//!
//! herd7 takes many files per invocation and prints one block per test:
//!
//! ```text
//! Test SB Allowed
//! States 3
//! 0:X3=0; 1:X3=1; [x]=1;
//! ...
//! Ok
//! ```
//!
//! [`parse_output`] reads each block's state lines into [`Outcomes`]; a test
//! herd7 could not read or gave up on has no block, and says why on stderr.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;

/// One final state: displayed location (`0:X3`, `x` for memory) -> value as printed.
pub type State = BTreeMap<String, String>;

/// A test's set of final states.
pub type Outcomes = BTreeSet<State>;

/// The name of a displayed location, as both tools' outputs are compared:
/// memory without brackets (`[x]` -> `x`), registers as printed.
pub fn location_key(name: &str) -> String {
    name.strip_prefix('[').and_then(|n| n.strip_suffix(']')).unwrap_or(name).to_string()
}

/// Reads a state line `0:X0=1; [x]=NOP; 1:X2=instr:"B L0";`.
pub fn parse_state(line: &str) -> Option<State> {
    let mut state = State::new();
    let mut rest = line.trim();
    while !rest.is_empty() {
        let eq = rest.find('=')?;
        let key = location_key(rest[..eq].trim());
        let after = &rest[eq + 1..];
        // A value runs to the next `;` outside double quotes.
        let mut quoted = false;
        let end = after.char_indices().find(|&(_, c)| {
            if c == '"' {
                quoted = !quoted;
            }
            c == ';' && !quoted
        });
        let (value, next) = match end {
            Some((i, _)) => (&after[..i], &after[i + 1..]),
            None => (after, ""),
        };
        state.insert(key, value_key(value.trim()));
        rest = next.trim();
    }
    (!state.is_empty()).then_some(state)
}

/// A value as both tools' outputs are compared: herd7 prints a label's address as `1:L0`,
/// isolsim as the litmus syntax names it, `P1:L0`.
fn value_key(value: &str) -> String {
    match value.split_once(':') {
        Some((tid, label))
            if !tid.is_empty()
                && tid.bytes().all(|b| b.is_ascii_digit())
                && label.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_') =>
        {
            format!("P{value}")
        }
        _ => value.to_string(),
    }
}

/// Every test block of herd7's standard output: test name -> its final states. A block whose
/// verdict starts with `Loop` (herd7 cut a loop at its `-unroll` bound, so its states are only
/// those of the executions it kept) is left out, and its name is in the second list.
pub fn parse_output(out: &str) -> (BTreeMap<String, Outcomes>, Vec<String>) {
    let mut tests = BTreeMap::new();
    let mut cut = vec![];
    let mut lines = out.lines();
    while let Some(line) = lines.next() {
        let Some(name) = line.strip_prefix("Test ").and_then(|r| r.split_whitespace().next()) else { continue };
        let Some(n) = lines.next().and_then(|l| l.strip_prefix("States ")).and_then(|n| n.trim().parse::<usize>().ok())
        else {
            continue;
        };
        let states: Outcomes = lines.by_ref().take(n).filter_map(parse_state).collect();
        if lines.next().is_some_and(|verdict| verdict.starts_with("Loop")) {
            cut.push(name.to_string());
        } else {
            tests.insert(name.to_string(), states);
        }
    }
    (tests, cut)
}

/// How to start herd7: a program and its first arguments (`herd.exe -set-libdir DIR`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Herd {
    /// The executable.
    pub program: String,
    /// Arguments before the model's.
    pub args: Vec<String>,
}

impl Herd {
    /// From a command prefix such as the oracle's build script prints (split at white space).
    pub fn from_prefix(prefix: &str) -> Result<Herd, String> {
        let mut words = prefix.split_whitespace().map(str::to_string);
        let program = words.next().ok_or("an empty herd7 command")?;
        Ok(Herd { program, args: words.collect() })
    }

    /// Runs herd7 with `-model MODEL` (and `-variant VARIANT`) on `tests`
    /// (name, text), written as files into `dir`; returns each test's final
    /// states by name, and herd7's complaints (stderr) for those it has none
    /// for. `timeout` is herd7's own limit in CPU seconds per test.
    pub fn run(
        &self,
        model: &str,
        variant: Option<&str>,
        dir: &Path,
        tests: &[(String, String)],
        timeout: f64,
    ) -> Result<(BTreeMap<String, Outcomes>, String), String> {
        if tests.is_empty() {
            return Ok((BTreeMap::new(), String::new()));
        }
        let mut cmd = Command::new(&self.program);
        cmd.args(&self.args).args(["-model", model, "-timeout", &timeout.to_string()]);
        if let Some(v) = variant {
            cmd.args(["-variant", v]);
        }
        for (name, text) in tests {
            let path = dir.join(format!("{name}.litmus"));
            std::fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()))?;
            cmd.arg(path);
        }
        let out = cmd.output().map_err(|e| format!("cannot run {}: {e}", self.program))?;
        let stdout = String::from_utf8_lossy(&out.stdout);
        let (mut states, cut) = parse_output(&stdout);
        let mut complaints = String::from_utf8_lossy(&out.stderr).into_owned();
        for name in cut {
            complaints.push_str(&format!(
                "{name}.litmus: herd7 cut a loop at its unroll bound, so its final states are not all the test's\n"
            ));
        }
        // A fatal error in one file (`Adios`) stops herd7 before the files after it, which
        // then have neither states nor a complaint: each of those gets a run of its own.
        if tests.len() > 1 {
            let unanswered: Vec<&(String, String)> =
                tests.iter().filter(|(n, _)| !states.contains_key(n) && !names(&complaints, n)).collect();
            for t in unanswered {
                let (s, c) = self.run(model, variant, dir, std::slice::from_ref(t), timeout)?;
                states.extend(s);
                complaints.push_str(&c);
            }
        }
        Ok((states, complaints))
    }
}

/// True if a line of herd7's `complaints` names the file of test `name` (`…/F12.litmus`).
fn names(complaints: &str, name: &str) -> bool {
    let file = format!("{name}.litmus");
    complaints.match_indices(&file).any(|(i, _)| i == 0 || matches!(complaints.as_bytes()[i - 1], b'/' | b'"' | b'\n'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_herds_blocks() {
        let out = "Test MP Allowed\nStates 2\n1:X0=0; 1:X2=instr:\"B L0\"; [x]=1;\n1:X0=1; 1:X2=NOP; [x]=1;\n\
                   Ok\nWitnesses\nPositive: 1 Negative: 1\nCondition exists (1:X0=1)\nObservation MP Sometimes 1 1\n\
                   Time MP 0.00\nHash=0\n\nTest E Allowed\nStates 0\nNo\n";
        let (t, cut) = parse_output(out);
        assert_eq!(t.len(), 2);
        assert!(cut.is_empty());
        assert!(t["E"].is_empty());
        let first: Vec<_> = t["MP"].iter().next().unwrap().iter().map(|(k, v)| format!("{k}={v}")).collect();
        assert_eq!(first, ["1:X0=0", "1:X2=instr:\"B L0\"", "x=1"]);
        assert_eq!(parse_state("0:X1=x;"), Some(State::from([("0:X1".into(), "x".into())])));
        assert_eq!(parse_state(""), None);
        // A label's address, as isolsim names it.
        let labels = parse_state("0:X30=0:L0; [y]=1:Lself00; 1:X2=instr:\"B L0\";").unwrap();
        assert_eq!(labels["0:X30"], "P0:L0");
        assert_eq!(labels["y"], "P1:Lself00");
        assert_eq!(labels["1:X2"], "instr:\"B L0\"");
    }

    #[test]
    fn a_complaint_names_its_file_not_one_ending_like_it() {
        let c = "Warning: File \"/tmp/x/F53.litmus\": Illegal mixed-size test\nG7.litmus: cut\n";
        assert!(names(c, "F53"));
        assert!(!names(c, "F3"));
        assert!(names(c, "G7"));
        assert!(!names(c, "F5"));
    }

    #[test]
    fn a_block_herd_cut_at_its_unroll_bound_is_not_a_result() {
        let out = "Test L Required\nStates 0\nLoop Ok\nWitnesses\nPositive: 0 Negative: 0\n\n\
                   Test M Allowed\nStates 1\n0:X0=1;\nOk\n";
        let (t, cut) = parse_output(out);
        assert_eq!(t.keys().collect::<Vec<_>>(), ["M"]);
        assert_eq!(cut, ["L"]);
    }
}
