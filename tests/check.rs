//! `isolsim check` and `isolsim replay` as a user runs them: the verdict,
//! a mutant's counterexample saved and replayed, the bound, bad input.

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::root;

fn isolsim(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_isolsim")).args(args).current_dir(root()).output().expect("runs")
}

#[test]
fn check_proves_the_correct_protocol_safe_within_its_bound() {
    let dir = tempfile::tempdir().unwrap();
    let save = dir.path().to_str().unwrap();
    let out = isolsim(&["check", "--protocol", "deferred", "--save", save]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let s = String::from_utf8_lossy(&out.stdout);
    assert!(s.contains("Verdict: safe within bound 200 (every path explored:"), "{s}");
    assert!(s.contains("none — as expected"), "{s}");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0, "nothing saved when nothing is found");
}

#[test]
fn check_with_two_isolated_cpus_explores_every_path_to_a_verdict() {
    // The sender only remaps a page: every operation at once takes half a minute.
    let out = isolsim(&["check", "--protocol", "ct-work", "--cpus", "3", "--ops", "pte"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let s = String::from_utf8_lossy(&out.stdout);
    assert!(s.contains("3 CPUs (1 sender (pte), 2 isolated CPUs, 1 system call each)"), "{s}");
    assert!(s.contains("Verdict: safe within bound 200 (every path explored:"), "{s}");
}

/// The states a text report says it explored: the `explored` line's count, and each `part:`
/// line's.
fn explored_counts(report: &str) -> (u64, Vec<u64>) {
    let count = |line: &str, key: &str| -> u64 {
        line.trim_start().strip_prefix(key).unwrap().split_whitespace().next().unwrap().parse().unwrap()
    };
    let whole = report.lines().find(|l| l.trim_start().starts_with("explored ")).map(|l| count(l, "explored"));
    let parts = report.lines().filter(|l| l.trim_start().starts_with("part: CPU ")).map(|l| {
        let rest = l.trim_start().strip_prefix("part: CPU ").unwrap();
        count(rest.split_once(' ').unwrap().1, "")
    });
    (whole.expect(report), parts.collect())
}

#[test]
fn split_checks_each_isolated_cpu_apart_and_adds_up_the_parts() {
    let out = isolsim(&["check", "--protocol", "deferred", "--cpus", "3", "--ops", "data", "--split"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let s = String::from_utf8_lossy(&out.stdout);
    let (whole, parts) = explored_counts(&s);
    assert_eq!(parts.len(), 2, "one part per isolated CPU: {s}");
    assert_eq!(parts.iter().sum::<u64>(), whole, "{s}");
    assert!(s.contains("part: CPU 1 ") && s.contains("part: CPU 2 "), "{s}");
    assert!(s.contains("Verdict: safe within bound 200 (every path explored:"), "{s}");
    // A part is the 2-CPU shape's exploration with the other isolated CPU left in user code.
    let two = isolsim(&["check", "--protocol", "deferred", "--ops", "data"]);
    assert_eq!(parts[0], explored_counts(&String::from_utf8_lossy(&two.stdout)).0, "{s}");
}

#[test]
fn reduce_explores_the_same_states_to_the_same_verdict() {
    let run = |extra: &[&str]| {
        let mut args = vec!["check", "--protocol", "deferred", "--ops", "patch+data"];
        args.extend_from_slice(extra);
        let out = isolsim(&args);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let (full, reduced) = (run(&[]), run(&["--reduce"]));
    assert_eq!(explored_counts(&full).0, explored_counts(&reduced).0, "{full}\n{reduced}");
    assert!(reduced.contains("1 thread,") && reduced.contains("transitions taken"), "{reduced}");
    assert!(reduced.contains("Verdict: safe within bound 200 (every path explored:"), "{reduced}");
}

#[test]
fn a_mutants_counterexample_is_drawn_saved_and_replayed() {
    let dir = tempfile::tempdir().unwrap();
    let save = dir.path().to_str().unwrap();
    let out = isolsim(&["check", "--protocol", "workloads/protocols/mutants/entry-no-dmb.S", "--save", save]);
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    let s = String::from_utf8_lossy(&out.stdout);
    assert!(s.contains("Verdict: safety-violation") && s.contains("— as expected"), "{s}");
    assert!(s.contains("| CPU 0 (sender)") && s.contains("| CPU 1 (isolated)"), "{s}");
    assert!(s.contains("cpu1.isol_flags = BROKEN -> store buffer"), "{s}");
    let file = Path::new(save).join("entry-no-dmb.safety-violation.json");
    let dot = Path::new(save).join("entry-no-dmb.safety-violation.dot");
    assert!(file.exists() && dot.exists());
    let graph = std::fs::read_to_string(&dot).unwrap();
    assert!(graph.starts_with("digraph") && graph.contains("penwidth=3"), "the cycle is highlighted: {graph}");
    assert!(graph.contains("CPU 1 (isolated)") && graph.contains("W cpu1.isol_flags = BROKEN"), "{graph}");
    // The cause, right under the verdict.
    let verdict = s.lines().position(|l| l.starts_with("Verdict:")).unwrap();
    assert_eq!(
        s.lines().nth(verdict + 1).unwrap(),
        "Cause: store→load: CPU 1's STR cpu1.isol_flags is not ordered before its LDR CHECK_DATA (arm orders a \
         store before a later load only by a DMB ISH, DSB ISH or DSB ISHST between them, or STLR then LDAR; between \
         them: ISB, DSB NSH, ISB)"
    );
    // Transitions and rows: both counted, the rows numbered by transition.
    assert!(s.contains("28 transitions of the explorer, drawn as 57 rows"), "{s}");

    let out = isolsim(&["replay", file.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
    let r = String::from_utf8_lossy(&out.stdout);
    assert!(r.contains("Reproduced"), "{r}");
    assert!(r.contains("Cause: store→load: CPU 1's STR cpu1.isol_flags"), "{r}");
    // The same timeline as when it was found.
    let timeline = |t: &str| {
        t.lines().filter(|l| l.starts_with("  ") && l.contains(" | ")).map(str::to_string).collect::<Vec<_>>()
    };
    assert_eq!(timeline(&r), timeline(&s));
}

#[test]
fn check_and_replay_reject_bad_input_with_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.S");
    std::fs::write(&bad, "// @base deferred\nisolation_publish:\n        DMB   ISHH\n        RET\n").unwrap();
    let out = isolsim(&["check", "--protocol", bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let e = String::from_utf8_lossy(&out.stderr);
    assert!(e.starts_with(&format!("{}:3:", bad.display())), "{e}");

    let junk = dir.path().join("junk.json");
    std::fs::write(&junk, "{\n  \"format\": 3\n}\n").unwrap();
    let out = isolsim(&["replay", junk.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let e = String::from_utf8_lossy(&out.stderr);
    assert!(e.starts_with(&format!("{}:2:", junk.display())), "{e}");
}

#[test]
fn a_variant_that_loops_forever_stops_at_the_stated_bound() {
    let dir = tempfile::tempdir().unwrap();
    let spin = dir.path().join("spin.S");
    std::fs::write(
        &spin,
        "// @base deferred\nenter_from_user_mode:\nspin:\n        B     spin\nentry_hook_done:\n        RET\n",
    )
    .unwrap();
    let out = isolsim(&["check", "--protocol", spin.to_str().unwrap(), "--bound", "80"]);
    assert_eq!(out.status.code(), Some(3), "inconclusive");
    let s = String::from_utf8_lossy(&out.stdout);
    assert!(s.contains("Stopped at the bound") && s.contains("more than 80 instructions"), "{s}");
    assert!(s.contains("Verdict: inconclusive"), "{s}");
}

#[test]
fn check_exports_the_counterexample_as_a_litmus_test_that_litmus_reproduces() {
    let dir = tempfile::tempdir().unwrap();
    let save = dir.path().to_str().unwrap();
    let out_file = dir.path().join("sender-no-dmb.litmus");
    let out = isolsim(&[
        "check",
        "--protocol",
        "workloads/protocols/mutants/sender-no-dmb.S",
        "--save",
        save,
        "--litmus",
        out_file.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    let s = String::from_utf8_lossy(&out.stdout);
    assert!(s.contains(&format!("Litmus test: {}", out_file.display())), "{s}");
    let text = std::fs::read_to_string(&out_file).unwrap();
    assert!(text.starts_with("AArch64 sender-no-dmb.safety-violation\n"), "{text}");
    let out = isolsim(&["litmus", "--exhaustive", out_file.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let r = String::from_utf8_lossy(&out.stdout);
    assert!(r.contains("Observation sender-no-dmb.safety-violation Sometimes"), "{r}");

    // An isolation break has no litmus test: said on stderr, the verdict's exit code kept.
    let none = dir.path().join("none.litmus");
    let out = isolsim(&["check", "--protocol", "broadcast", "--save", save, "--litmus", none.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let e = String::from_utf8_lossy(&out.stderr);
    assert!(e.starts_with("--litmus: no litmus test written: isolation-break:"), "{e}");
    assert!(!none.exists());
}

/// Several protocols, one verdict table: each row the protocol's verdict, its first
/// counterexample and whether it is what the file expects; the counterexamples still saved.
#[test]
fn several_protocols_are_checked_into_one_verdict_table() {
    let dir = tempfile::tempdir().unwrap();
    let save = dir.path().to_str().unwrap();
    let out = isolsim(&[
        "check",
        "--protocol",
        "deferred",
        "workloads/protocols/mutants/entry-no-dmb.S",
        "--protocol",
        "broadcast",
        "--save",
        save,
    ]);
    assert_eq!(out.status.code(), Some(1), "something was found: {}", String::from_utf8_lossy(&out.stderr));
    let s = String::from_utf8_lossy(&out.stdout);
    assert!(s.starts_with("isolsim check: 3 protocols, model arm, 2 CPUs"), "{s}");
    let row = |name: &str| s.lines().find(|l| l.starts_with(&format!("| {name} "))).unwrap_or_else(|| panic!("{s}"));
    assert!(row("deferred").contains("safe within bound 200") && row("deferred").ends_with("| yes         |"), "{s}");
    assert!(row("entry-no-dmb").contains("| safety-violation ") && row("entry-no-dmb").contains("stale data"), "{s}");
    assert!(row("broadcast").contains("isolation-break"), "{s}");
    assert!(s.contains("3 of the 3 protocols that state an expectation behaved as expected."), "{s}");
    assert!(dir.path().join("entry-no-dmb.safety-violation.json").exists());
    let json = isolsim(&["check", "--protocol", "deferred", "broadcast", "--json", "--save", save]);
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(v.as_array().map(Vec::len), Some(2), "one report per protocol");
    let out = isolsim(&["check", "--protocol", "deferred", "deferred"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("both named `deferred`"));
}

/// A shape the command line cannot mean, or the harness cannot build, is refused with exit 2 and
/// a sentence naming the options, before anything is explored.
#[test]
fn contradictory_or_unbuildable_shapes_are_refused_with_exit_2() {
    for (args, needle) in [
        (&["--cpus", "3", "--isolated", "2"][..], "--cpus and --isolated say the same thing"),
        (&["--senders", "2", "--cpus", "3"][..], "with --senders, give --isolated"),
        (&["--ops", "data,patch"][..], "--ops names 2 sender(s), but there are 1"),
        (&["--ops", "tlb"][..], "`tlb` is not an operation"),
        (&["--cpus", "5"][..], "not in 2..=4"),
    ] {
        let mut all = vec!["check", "--protocol", "deferred"];
        all.extend(args);
        let out = isolsim(&all);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(needle), "{args:?}: {err}");
    }
}
