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

/// A test that holds code addresses (a link register, `ADR`) reads code as data, as herd7
/// lets it (`-variant ifetch`): each instruction reads as herd7 prints it, with a branch's
/// target relative to the instruction (AArch64 encodes it so), and a code address no label
/// names is herd7's number for it (thread 0's second instruction is 10004). herd7 prints
/// exactly this state for this test.
#[test]
fn code_read_as_data_is_the_instruction_as_herd7_prints_it() {
    let test = "AArch64 code-as-data\n{\n}\n P0           ;\n BL L1        ;\n CBNZ W1,.-4  ;\nL1:           ;\n \
                LDR W3,[X30] ;\n ADR X2,L1    ;\n LDR W4,[X2]  ;\n ADR X5,L2    ;\n LDR W6,[X5]  ;\nL2:           ;\n \
                NOP          ;\nlocations [0:X30; 0:X2; 0:X3; 0:X4; 0:X6;]\nexists (0:X3=0)\n";
    let f = temp_file("code-as-data.litmus", test);
    for opts in [exhaustive(Mode::Arm), random(Mode::Arm, 50, 1)] {
        let r = run_file(&f, &opts);
        assert_eq!(r.states.len(), 1, "{:?}", r.states);
        let line: Vec<String> = r.locations.iter().zip(&r.states[0].values).map(|(l, v)| format!("{l}={v}")).collect();
        assert_eq!(
            line,
            ["0:X2=P0:L1", "0:X3=instr:\"CBNZ W1,.-4\"", "0:X4=instr:\"LDR W3,[X30]\"", "0:X6=NOP", "0:X30=10004"]
        );
    }
}

/// A branch copied to another address branches as far from there as it did from where it was
/// (AArch64's branch encodings are relative): `B .+8` stored over `B L0` skips the next
/// instruction once fetched, and so does a copy of the `B L1` read from code.
#[test]
fn a_copied_branch_keeps_its_offset() {
    let test = "AArch64 copied-branch\n{\n0:X0=instr:\"B .+8\"; 0:X1=P0:Lsite;\n}\n P0           ;\n \
                STR W0,[X1]  ;\n DC CVAU,X1   ;\n DSB ISH      ;\n IC IVAU,X1   ;\n DSB ISH      ;\n ISB          ;\n\
                Lsite:        ;\n B L0         ;\nL0:           ;\n MOV W2,#1    ;\n MOV W3,#1    ;\n\
                locations [0:X2; 0:X3;]\nexists (0:X2=0)\n";
    let f = temp_file("copied-branch.litmus", test);
    let r = run_file(&f, &exhaustive(Mode::Arm));
    let states: Vec<&Vec<String>> = r.states.iter().map(|s| &s.values).collect();
    assert_eq!(states, [&vec!["0".to_string(), "1".to_string()]], "{:?}", r.locations);
}
