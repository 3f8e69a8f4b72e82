//! External validation against the Linux kernel's litmus corpus
//! (`../shared/litmus/kernel/`, with herd7's verdicts per model in INDEX.tsv).

mod common;

use common::*;
use isolsim::Mode;

fn corpus() -> Option<(std::path::PathBuf, Vec<String>, Vec<Vec<String>>)> {
    let Some(dir) = shared("kernel") else {
        eprintln!("SKIPPED: ../shared/litmus/kernel not found next to the checkout");
        return None;
    };
    let (h, rows) = read_tsv(&dir.join("INDEX.tsv"));
    Some((dir, h, rows))
}

#[test]
fn never_tests_are_never_observed_on_arm_exhaustively() {
    let Some((dir, h, rows)) = corpus() else { return };
    let mut checked = 0;
    for row in rows.iter().filter(|r| col(&h, r, "basic") == "yes") {
        let file = col(&h, row, "file");
        let r = run_file(&dir.join(file), &exhaustive(Mode::Arm));
        assert!(r.axiom_violation.is_none(), "{file}: {:?}", r.axiom_violation);
        assert!(!r.coverage.bound_hit(), "{file}: exploration cut by a bound");
        if col(&h, row, "expected") == "Never" {
            assert_eq!(verdict(&r), "Never", "{file}: LKMM forbids it, the arm model must too");
        }
        checked += 1;
    }
    assert_eq!(checked, 24, "INDEX.tsv marks 24 tests basic");
}

#[test]
fn exhaustive_verdicts_equal_herd7_per_model() {
    let Some((dir, h, rows)) = corpus() else { return };
    for mode in Mode::ALL {
        for row in rows.iter().filter(|r| col(&h, r, "basic") == "yes") {
            let file = col(&h, row, "file");
            let want = col(&h, row, mode.name());
            let r = run_file(&dir.join(file), &exhaustive(mode));
            assert_eq!(verdict(&r), want, "{file} under {mode}");
            assert!(r.axiom_violation.is_none(), "{file} under {mode}: {:?}", r.axiom_violation);
        }
    }
}

#[test]
fn random_runs_agree_with_herd7_per_model() {
    let Some((dir, h, rows)) = corpus() else { return };
    for mode in Mode::ALL {
        for row in rows.iter().filter(|r| col(&h, r, "basic") == "yes") {
            let file = col(&h, row, "file");
            let want = col(&h, row, mode.name());
            let r = run_file(&dir.join(file), &random(mode, 20_000, 7));
            assert!(r.axiom_violation.is_none(), "{file} under {mode}: {:?}", r.axiom_violation);
            // Sampling can only under-approximate: a Never must stay Never,
            // and with 20 000 runs every allowed outcome of these small
            // tests shows up.
            assert_eq!(verdict(&r), want, "{file} under {mode}, 20000 random runs");
        }
    }
}

#[test]
fn tests_outside_the_subset_are_rejected_with_a_position() {
    let Some((dir, h, rows)) = corpus() else { return };
    for row in rows.iter().filter(|r| col(&h, r, "basic") == "no") {
        let file = col(&h, row, "file");
        let e = isolsim::litmus::load(&dir.join(file)).expect_err(file);
        assert!(e.msg.starts_with("unsupported"), "{file}: {e}");
        assert!(e.line > 0 && e.col > 0, "{file}: {e}");
    }
}
