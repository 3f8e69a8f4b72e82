//! `isolsim fuzz` as a user runs it: coverage and verdict, a mutant's
//! expected consequence, bad input.

mod common;

use std::process::{Command, Output};

use common::root;

fn isolsim(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_isolsim")).args(args).current_dir(root()).output().expect("runs")
}

#[test]
fn fuzz_reports_coverage_and_the_verdict() {
    let out = isolsim(&["fuzz", "--protocol", "deferred", "--runs", "40", "--jobs", "2"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let s = String::from_utf8_lossy(&out.stdout);
    for row in ["runs/s", "case 1 (hook during publication, IPI)", "exit-to-user race", "Verdict: none"] {
        assert!(s.contains(row), "{row}: {s}");
    }
    assert!(s.contains("none — as expected"), "{s}");

    let out = isolsim(&["fuzz", "--protocol", "workloads/protocols/mutants/exit-no-final-dmb.S", "--runs", "60"]);
    assert_eq!(out.status.code(), Some(1));
    let s = String::from_utf8_lossy(&out.stdout);
    assert!(s.contains("Verdict: isolation-break") && s.contains("— as expected"), "{s}");
    // The cause, under the verdict, from the break's recorded order.
    let verdict = s.lines().position(|l| l.starts_with("Verdict:")).unwrap();
    let cause = s.lines().nth(verdict + 1).unwrap();
    assert!(
        cause.starts_with(
            "Cause: store→ERET: CPU 1's STR cpu1.isol_flags is not ordered before its ERET (it reached memory at cycle"
        ),
        "{s}"
    );

    let out = isolsim(&["fuzz", "--protocol", "deferred", "--runs", "3", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(v["runs"], 3);
}

#[test]
fn fuzz_rejects_bad_input_with_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.S");
    std::fs::write(&bad, "// @base deferred\n// @expect sometimes\n").unwrap();
    let out = isolsim(&["fuzz", "--protocol", bad.to_str().unwrap(), "--runs", "1"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("bad.S:2:12: unknown consequence `sometimes`"));
    let out = isolsim(&["fuzz", "--cpus", "5"]);
    assert_eq!(out.status.code(), Some(2));
    let out = isolsim(&["fuzz", "--protocol", "lazy"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown protocol `lazy`"));
}

#[test]
fn a_fuzz_violation_is_minimized_saved_and_replayed() {
    let dir = tempfile::tempdir().unwrap();
    let save = dir.path().to_str().unwrap();
    let out =
        isolsim(&["fuzz", "--protocol", "workloads/protocols/mutants/entry-no-flush.S", "--runs", "2", "--save", save]);
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    let s = String::from_utf8_lossy(&out.stdout);
    assert!(s.contains("Minimized (delta debugging,"), "{s}");
    assert!(s.contains("| CPU 0 (sender)") && s.contains("| CPU 1 (isolated)"), "{s}");
    // The minimized timeline says when in cycles and in ns at the run's clock, with values.
    assert!(s.contains("by cycle and ns at 2100 MHz") && s.contains("cycle      ns |"), "{s}");
    assert!(s.lines().any(|l| l.contains(" retires (= 0x")), "{s}");
    assert!(s.contains("  Cause: no reordering: the sender skipped CPU 1"), "{s}");
    let file = std::path::Path::new(save).join("entry-no-flush.fuzz.safety-violation.json");
    let out = isolsim(&["replay", file.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
    assert!(String::from_utf8_lossy(&out.stdout).contains("Reproduced"));

    // A fuzz run has no execution graph: --dot says so and the replay goes on.
    let dot = dir.path().join("run.dot");
    let out = isolsim(&["replay", file.to_str().unwrap(), "--dot", dot.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let note = String::from_utf8_lossy(&out.stderr);
    assert!(note.starts_with("note: --dot") && note.contains("records no execution graph"), "{note}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("Reproduced"));
    assert!(!dot.exists());
}

#[test]
fn replay_help_says_it_replays_check_and_fuzz_files() {
    let out = isolsim(&["replay", "--help"]);
    let h = String::from_utf8_lossy(&out.stdout);
    assert!(h.contains("isolsim check") && h.contains("isolsim fuzz"), "{h}");
    assert!(h.contains("a fuzz run records no graph"), "{h}");
}

/// Several protocols fuzzed with the same runs: one verdict table, as the README's.
#[test]
fn several_protocols_are_fuzzed_into_one_verdict_table() {
    let dir = tempfile::tempdir().unwrap();
    let save = dir.path().to_str().unwrap();
    let out = isolsim(&[
        "fuzz",
        "--runs",
        "40",
        "--no-minimize",
        "--save",
        save,
        "--protocol",
        "deferred",
        "workloads/protocols/mutants/entry-no-flush.S",
        "workloads/protocols/mutants/exit-no-final-dmb.S",
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    let s = String::from_utf8_lossy(&out.stdout);
    assert!(s.starts_with("isolsim fuzz: 3 protocols, model arm, 40 runs each (seed 1), 2 CPUs"), "{s}");
    let row = |name: &str| s.lines().find(|l| l.starts_with(&format!("| {name} "))).unwrap_or_else(|| panic!("{s}"));
    let cells = |name: &str| -> Vec<String> { row(name).split('|').map(|c| c.trim().to_string()).collect() };
    assert_eq!(cells("deferred")[2..5], ["40", "0", "0"], "{s}");
    let flush = cells("entry-no-flush");
    assert!(flush[3].parse::<u32>().unwrap() > 0 && flush[5].starts_with("stale translation"), "{s}");
    assert!(cells("exit-no-final-dmb")[4].parse::<u32>().unwrap() > 0, "{s}");
    assert!(s.contains("3 of the 3 protocols that state an expectation behaved as expected."), "{s}");
}
