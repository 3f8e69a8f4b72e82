//! Partial-order reduction (`sim::explore::explore_reduced` over
//! `cpu_model::machine::Exhaustive`) against the unreduced exploration, on the litmus corpora
//! the exhaustive tests run (`../shared/litmus/`, read in place): the same final states
//! (outcomes, and how many distinct final states each has) and the same state counts.

mod common;

use common::*;
use isolsim::Mode;
use isolsim::litmus::run::{TestRun, run_test};

fn run(path: &std::path::Path, mode: Mode, reduce: bool) -> TestRun {
    let c = isolsim::litmus::load(path).unwrap_or_else(|e| panic!("{e}"));
    let opts = isolsim::RunOptions { reduce, ..exhaustive(mode) };
    run_test(&c, &opts).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Explores `file` with and without the reduction; returns (transitions taken reduced, not).
fn agree(path: &std::path::Path, mode: Mode) -> (u64, u64) {
    let (full, red) = (run(path, mode, false), run(path, mode, true));
    let name = format!("{} under {mode}", path.display());
    assert_eq!(full.states, red.states, "{name}: final states (outcome, distinct states)");
    let (f, r) = (full.explored.expect("exhaustive"), red.explored.expect("exhaustive"));
    assert_eq!(
        (f.states, f.deadlocks, f.bound_hit, f.fetch_bound_hit),
        (r.states, r.deadlocks, r.bound_hit, r.fetch_bound_hit),
        "{name}: explored"
    );
    assert!(r.transitions_taken <= f.transitions_taken, "{name}: {r:?} {f:?}");
    (r.transitions_taken, f.transitions_taken)
}

#[test]
fn the_reduction_reaches_the_same_outcomes_and_states_on_the_litmus_corpora() {
    let (mut taken, mut full, mut files) = (0, 0, 0);
    match shared("kernel") {
        Some(dir) => {
            let (h, rows) = read_tsv(&dir.join("INDEX.tsv"));
            for mode in Mode::ALL {
                for row in rows.iter().filter(|r| col(&h, r, "basic") == "yes") {
                    let (t, f) = agree(&dir.join(col(&h, row, "file")), mode);
                    (taken, full, files) = (taken + t, full + f, files + 1);
                }
            }
        }
        None => eprintln!("SKIPPED: ../shared/litmus/kernel not found next to the checkout"),
    }
    match shared("aarch64-ifetch") {
        Some(dir) => {
            let (h, rows) = read_tsv(&dir.join("INDEX.tsv"));
            for row in &rows {
                let (t, f) = agree(&dir.join(col(&h, row, "file")), Mode::Arm);
                (taken, full, files) = (taken + t, full + f, files + 1);
            }
        }
        None => eprintln!("SKIPPED: ../shared/litmus/aarch64-ifetch not found next to the checkout"),
    }
    eprintln!("{files} runs: {taken} transitions taken with the reduction, {full} without");
    if files > 0 {
        assert!(taken < full, "the reduction takes fewer transitions: {taken} of {full}");
    }
}
