//! herd7's x86 dialects (`X86`, `X86_64`) read as programs for the `tso` and `sc` cores
//! (`workloads::litmus::x86parse`): the project's own x86 suite with its verdicts, and herd7's
//! own x86 instruction tests with the output herd7 gave them, from the oracle's source archive.

mod common;

use std::collections::BTreeSet;
use std::path::Path;

use common::*;
use isolsim::Mode;
use isolsim::litmus::{LitmusOutcome, herd, run_files};

#[test]
fn the_x86_suite_gives_its_verdicts_under_tso_and_sc() {
    let dir = root().join("workloads/litmus/x86");
    let (h, rows) = read_tsv(&dir.join("EXPECTED.tsv"));
    assert_eq!(rows.len(), 9);
    for mode in [Mode::Tso, Mode::Sc] {
        for row in &rows {
            let file = col(&h, row, "file");
            let r = run_file(&dir.join(file), &exhaustive(mode));
            assert!(!r.coverage.bound_hit(), "{file}: exploration cut by a bound");
            assert!(r.axiom_violation.is_none(), "{file} under {mode}: {:?}", r.axiom_violation);
            assert_eq!(verdict(&r), col(&h, row, mode.name()), "{file} under {mode}");
        }
    }
    // SC ⊆ TSO on every file: what an SC machine can end in, a TSO one can.
    for row in &rows {
        let file = col(&h, row, "file");
        let states = |mode| -> BTreeSet<Vec<String>> {
            run_file(&dir.join(file), &exhaustive(mode)).states.iter().map(|s| s.values.clone()).collect()
        };
        let (sc, tso) = (states(Mode::Sc), states(Mode::Tso));
        assert!(sc.is_subset(&tso), "{file}: SC allows what TSO does not");
        assert!(!sc.is_empty(), "{file}");
    }
    // Timed runs find store buffering, and never what TSO forbids.
    let r = run_file(&dir.join("SB.litmus"), &random(Mode::Tso, 20_000, 1));
    assert_eq!(verdict(&r), "Sometimes");
    let r = run_file(&dir.join("SB+mfences.litmus"), &random(Mode::Tso, 20_000, 1));
    assert_eq!(verdict(&r), "Never");
}

#[test]
fn registers_print_as_herd7_names_them() {
    // X86: capitals; X86_64: the 64-bit name in small letters, whatever the file writes.
    let dir = root().join("workloads/litmus/x86");
    let r = run_file(&dir.join("SB.litmus"), &exhaustive(Mode::Tso));
    assert_eq!(r.locations, ["0:EAX", "1:EAX"]);
    let f = temp_file(
        "att-names.litmus",
        "X86_64 att-names\n{ 0:RAX=1; }\n P0 ;\n addl %eax,%eax ;\n movq $7,%r9d ;\nexists (0:EAX=2 /\\ 0:r9=7)\n",
    );
    let r = run_file(&f, &exhaustive(Mode::Tso));
    assert_eq!(r.locations, ["0:rax", "0:r9"]);
    assert_eq!(verdict(&r), "Always");
}

#[test]
fn an_x86_test_is_refused_under_arm_at_a_position() {
    let file = root().join("workloads/litmus/x86/SB.litmus");
    let mut outcomes = vec![];
    run_files(&[file], &exhaustive(Mode::Arm), |o| outcomes.push(o));
    match &outcomes[..] {
        [LitmusOutcome::BadInput(e)] => {
            assert_eq!((e.line, e.col), (1, 1));
            assert!(e.msg.contains("--model tso"), "{e}");
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    // Without a model chosen (`isolsim litmus` without `--model`), it runs under tso.
    let file = root().join("workloads/litmus/x86/SB.litmus");
    let opts = isolsim::RunOptions { x86_model: Some(Mode::Tso), ..exhaustive(Mode::Arm) };
    let mut outcomes = vec![];
    run_files(&[file], &opts, |o| outcomes.push(o));
    match &outcomes[..] {
        [LitmusOutcome::Done(r)] => assert_eq!((r.model.as_str(), verdict(r)), ("tso", "Sometimes")),
        other => panic!("expected a run, got {other:?}"),
    }
}

#[test]
fn bad_x86_is_refused_at_its_line_and_column() {
    let cases: &[(&str, (usize, usize), &str)] = &[
        ("X86 t\n{}\n P0 ;\n MOV AX,$1 ;\nexists (0:EAX=0)\n", (4, 6), "unknown register or operand `AX`"),
        ("X86 t\n{}\n P0 ;\n FOO [x] ;\nexists (x=0)\n", (4, 2), "unsupported x86 instruction `FOO`"),
        ("X86 t\n{}\n P0 ;\n LOCK MOV [x],$1 ;\nexists (x=0)\n", (4, 2), "`lock` before `MOV`"),
        ("X86 t\n{}\n P0 ;\n LOCK ADD EAX,$1 ;\nexists (x=0)\n", (4, 2), "destination must be a memory operand"),
        ("X86 t\n{}\n P0 ;\n MOV [x+4],$1 ;\nexists (x=0)\n", (4, 6), "unsupported address `[x+4]`"),
        ("X86 t\n{}\n P0 ;\n XADD [x],EAX ;\nexists (x=0)\n", (4, 2), "`xadd` without `lock`"),
        ("X86 t\n{}\n P0 ;\n JNE 4 ;\nexists (x=0)\n", (4, 6), "expected a label"),
        ("X86_64 t\n{}\n P0 ;\n movl $1,x(%rip) ;\nexists (x=0)\n", (4, 10), "unknown register or operand"),
    ];
    for (text, (line, col), msg) in cases {
        let f = temp_file("bad.litmus", text);
        let mut outcomes = vec![];
        run_files(&[f.to_path_buf()], &exhaustive(Mode::Tso), |o| outcomes.push(o));
        match &outcomes[..] {
            [LitmusOutcome::BadInput(e)] => {
                assert_eq!((e.line, e.col), (*line, *col), "{text}: {e}");
                assert!(e.msg.contains(msg), "{text}: {e}");
            }
            other => panic!("{text}: expected a refusal, got {other:?}"),
        }
    }
}

/// herd7's own x86 instruction tests (`herd/tests/instructions/X86_64/` of the oracle's source
/// archive, each with the output herd7 gave it, `.expected`): every file is refused at a
/// position, or read and run under `tso` with exactly herd7's final states.
#[test]
fn herds_x86_instruction_tests_give_herds_states_or_are_refused_at_a_position() {
    let Some((_dir, folder)) = herd_archive_tests("X86_64", "*") else { return };
    let mut files: Vec<_> = std::fs::read_dir(&folder)
        .expect("the folder")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "litmus"))
        .collect();
    files.sort();
    assert_eq!(files.len(), 10);
    let (mut compared, mut refused) = (0, 0);
    for f in &files {
        let expected = std::fs::read_to_string(f.with_extension("litmus.expected")).expect("its expected output");
        let (tests, _) = herd::parse_output(&expected);
        let want = tests.into_values().next().expect("a test block");
        let mut outcomes = vec![];
        run_files(std::slice::from_ref(f), &exhaustive(Mode::Tso), |o| outcomes.push(o));
        match outcomes.pop() {
            Some(LitmusOutcome::Done(r)) => {
                let keys: Vec<String> = r.locations.iter().map(|l| herd::location_key(l)).collect();
                let got: BTreeSet<herd::State> =
                    r.states.iter().map(|s| keys.iter().cloned().zip(s.values.iter().cloned()).collect()).collect();
                assert_eq!(got, want, "{}", name(f));
                compared += 1;
            }
            Some(LitmusOutcome::BadInput(e)) => {
                assert!(e.line > 0 && e.col > 0, "{}: refused without a position: {e}", name(f));
                refused += 1;
            }
            other => panic!("{}: {other:?}", name(f)),
        }
    }
    // Refused: the `rip` and `cs` registers, an address with an index, arrays.
    assert_eq!((compared, refused), (7, 3));
}

fn name(f: &Path) -> String {
    f.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
}
