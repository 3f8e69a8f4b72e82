//! External check of the instruction-fetch model: the herdtools7
//! catalogue's AArch64 instruction-fetch tests (`../shared/litmus/aarch64-ifetch/`)
//! with the verdict of Arm's instruction-fetch model for each (INDEX.tsv).

mod common;

use common::*;
use isolsim::Mode;

#[test]
fn exhaustive_runs_agree_with_arms_instruction_fetch_model() {
    let Some(dir) = shared("aarch64-ifetch") else {
        eprintln!("SKIPPED: ../shared/litmus/aarch64-ifetch not found next to the checkout");
        return;
    };
    let (h, rows) = read_tsv(&dir.join("INDEX.tsv"));
    assert_eq!(rows.len(), 34);
    let (mut never, mut sometimes) = (0, 0);
    for row in &rows {
        let file = col(&h, row, "file");
        let want = col(&h, row, "arm_ifetch");
        let r = run_file(&dir.join(file), &exhaustive(Mode::Arm));
        assert!(!r.coverage.bound_hit(), "{file}: exploration cut by a bound");
        assert!(r.axiom_violation.is_none(), "{file}: {:?}", r.axiom_violation);
        assert!(!r.states.is_empty(), "{file}: no final state at all");
        assert_eq!(verdict(&r), want, "{file}");
        if want == "Never" { never += 1 } else { sometimes += 1 }
    }
    assert_eq!((never, sometimes), (23, 11));
}

#[test]
fn random_runs_never_show_what_arms_model_forbids() {
    let Some(dir) = shared("aarch64-ifetch") else {
        eprintln!("SKIPPED: ../shared/litmus/aarch64-ifetch not found next to the checkout");
        return;
    };
    let (h, rows) = read_tsv(&dir.join("INDEX.tsv"));
    for row in rows.iter().filter(|r| col(&h, r, "arm_ifetch") == "Never") {
        let file = col(&h, row, "file");
        let r = run_file(&dir.join(file), &random(Mode::Arm, 5_000, 5));
        assert_eq!(verdict(&r), "Never", "{file}: a forbidden outcome in a timed run");
    }
}
