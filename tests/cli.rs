//! The `isolsim` binary as a user runs it: exit codes, error positions,
//! multi-file behaviour, JSON, and bit-identical results across `--jobs`.

mod common;

use std::process::{Command, Output};

use common::{root, temp_file};

fn isolsim(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_isolsim")).args(args).current_dir(root()).output().expect("runs")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Output without the wall-clock `Time` lines.
fn without_time(s: &str) -> String {
    s.lines().filter(|l| !l.starts_with("Time ")).collect::<Vec<_>>().join("\n")
}

#[test]
fn bundled_example_runs_and_prints_herd_form() {
    let out = isolsim(&["litmus", "--exhaustive", "workloads/litmus/classic/SB.litmus"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let s = text(&out.stdout);
    for needle in [
        "Test SB Allowed\n",
        "States 4\n",
        "0:r0=0; 1:r0=0;\n",
        "Ok\nWitnesses\nPositive: 1 Negative: 3\n",
        "Condition exists (0:r0=0 /\\ 1:r0=0)\n",
        "Observation SB Sometimes 1 3\n",
        "Time SB ",
    ] {
        assert!(s.contains(needle), "missing {needle:?} in\n{s}");
    }
}

#[test]
fn random_mode_prints_counts_like_litmus7() {
    let out = isolsim(&["litmus", "--runs", "2000", "--model", "tso", "workloads/litmus/classic/SB.litmus"]);
    assert!(out.status.success());
    let s = text(&out.stdout);
    let starred = s.lines().find(|l| l.contains("*>0:r0=0; 1:r0=0;")).expect("a starred state line");
    let count: u64 = starred.split('*').next().unwrap().trim().parse().unwrap();
    assert!(count > 0);
    assert!(s.contains("Runs SB 2000 model tso"), "{s}");
}

#[test]
fn unsupported_construct_gets_file_line_col_and_exit_2_while_other_files_run() {
    let bad = temp_file(
        "locks.litmus",
        "C locks\n{}\nP0(int *x, spinlock_t *l)\n{\n\tspin_lock(l);\n\tWRITE_ONCE(*x, 1);\n}\nexists (x=1)\n",
    );
    let out = isolsim(&["litmus", "--exhaustive", bad.to_str().unwrap(), "workloads/litmus/classic/MP.litmus"]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(err.contains(&format!("{}:5:2: unsupported: spin_lock", bad.display())), "{err}");
    assert!(text(&out.stdout).contains("Observation MP Sometimes"), "the good file still runs");
}

#[test]
fn bad_aarch64_instruction_and_syntax_errors_point_at_the_token() {
    let asm = temp_file(
        "excl.litmus",
        "AArch64 excl\n{ 0:X1=x; }\n P0          ;\n MOV W0,#1   ;\n STXP W2,W0,W0,[X1];\nexists (0:X2=0)\n",
    );
    let out = isolsim(&["litmus", asm.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains(":5:2: unsupported instruction `STXP`"), "{}", text(&out.stderr));

    let cond = temp_file("cond.litmus", "C cond\n{}\nP0(int *x) { WRITE_ONCE(*x, 1); }\nexists (x=1 /\\ )\n");
    let out = isolsim(&["litmus", cond.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains(":4:"), "{}", text(&out.stderr));

    let missing = isolsim(&["litmus", "no/such/file.litmus"]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(text(&missing.stderr).starts_with("no/such/file.litmus: cannot read"), "{}", text(&missing.stderr));
}

#[test]
fn a_mixed_size_test_is_refused_at_the_access_that_makes_it_mixed() {
    // herd7 runs these only with -variant mixed, where a location is bytes; isolsim's locations
    // are whole values, so it must not give them an answer.
    let offset = temp_file(
        "koeln.litmus",
        "AArch64 koeln\n{ uint16_t y; 0:X0=0x101; 0:X1=y; 1:X1=y; }\n P0           | P1            ;\n \
         STRH W0,[X1] | ADD X2,X1,#1  ;\n              | LDARB W0,[X2] ;\nexists (1:X0=1)\n",
    );
    let out = isolsim(&["litmus", "--exhaustive", offset.to_str().unwrap(), "workloads/litmus/classic/MP.litmus"]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(
        err.contains(&format!(
            "{}:5:17: unsupported: mixed-size test: this 1-byte access reaches byte 1 of `y`",
            offset.display()
        )),
        "{err}"
    );
    assert!(text(&out.stdout).contains("Observation MP Sometimes"), "the good file still runs");

    let sizes = temp_file(
        "sizes.litmus",
        "AArch64 sizes\n{ 0:X1=x; 1:X1=x; }\n P0          | P1          ;\n STR X0,[X1] | LDR W0,[X1] ;\nexists (1:X0=0)\n",
    );
    let out = isolsim(&["litmus", "--exhaustive", sizes.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr)
            .contains(":4:16: unsupported: mixed-size test: this access to `x` is 4-byte, the one at 4:2 8-byte"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn garbage_never_panics() {
    for (i, body) in [
        "",
        "\u{0}\u{1}\u{2}binary",
        "C",
        "C x\n{",
        "AArch64 a\n{}\n P0 | P1 ;\n NOP ;\n",
        "C t\n{}\nP0(int *x) { r0 = ; }",
    ]
    .iter()
    .enumerate()
    {
        let f = temp_file(&format!("junk{i}.litmus"), body);
        let out = isolsim(&["litmus", "--exhaustive", f.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(2), "input {body:?}: {}", text(&out.stderr));
        assert!(!text(&out.stderr).contains("panicked"));
    }
}

#[test]
fn json_output_carries_the_same_verdicts() {
    let out = isolsim(&[
        "litmus",
        "--exhaustive",
        "--json",
        "workloads/litmus/classic/MP.litmus",
        "workloads/litmus/classic/MP+rel+acq.litmus",
    ]);
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("valid JSON");
    let arr = v.as_array().unwrap();
    assert_eq!(arr.len(), 2);
    assert_eq!(arr[0]["name"], "MP");
    assert_eq!(arr[0]["observation"], "Sometimes");
    assert_eq!(arr[1]["observation"], "Never");
    assert_eq!(arr[1]["kind"], "Allowed");
}

#[test]
fn deterministic_across_jobs_and_invocations() {
    let files = ["workloads/litmus/classic/IRIW.litmus", "workloads/litmus/classic/WRC.litmus"];
    let run = |jobs: &str| {
        let mut args = vec!["litmus", "--runs", "30000", "--seed", "42", "--jobs", jobs];
        args.extend(files);
        let out = isolsim(&args);
        assert!(out.status.success());
        without_time(&text(&out.stdout))
    };
    let one = run("1");
    assert_eq!(one, run("2"));
    assert_eq!(one, run("4"));
    assert_eq!(one, run("1"), "same seed, same output");
    let mut args = vec!["litmus", "--runs", "30000", "--seed", "43", "--jobs", "1"];
    args.extend(files);
    assert_ne!(one, without_time(&text(&isolsim(&args).stdout)), "another seed gives other counts");
}

#[test]
fn topology_lists_every_core_once_with_the_role_run_gives_it() {
    for (args, sockets, cores, run) in [
        (vec!["topology"], 2, 112, (64, 4, 8)),
        (
            vec!["topology", "--preset", "x86-server", "--set", "run.cpus=12", "--set", "run.isolated=3"],
            2,
            36,
            (12, 4, 3),
        ),
    ] {
        let out = isolsim(&args);
        assert!(out.status.success(), "{}", text(&out.stderr));
        let s = text(&out.stdout);
        assert_eq!(s.lines().filter(|l| l.starts_with("  Package L#")).count(), sockets, "{s}");
        // Every core appears once, in order, in `CPU a-b: role` groups.
        let mut seen = vec![];
        let mut per_role = std::collections::BTreeMap::<String, usize>::new();
        for line in s.lines().filter(|l| l.starts_with("    Cluster L#")) {
            for group in line.split_once("): ").unwrap().1.split("; ") {
                let (cpus, role) = group.strip_prefix("CPU ").unwrap().split_once(": ").unwrap();
                let (a, b) = cpus.split_once('-').unwrap_or((cpus, cpus));
                let (a, b): (usize, usize) = (a.parse().unwrap(), b.parse().unwrap());
                seen.extend(a..=b);
                *per_role.entry(role.to_string()).or_default() += b - a + 1;
            }
        }
        assert_eq!(seen, (0..cores).collect::<Vec<_>>(), "{s}");
        let (cpus, generators, isolated) = run;
        assert_eq!(per_role["housekeeping, generates activity"], generators);
        assert_eq!(per_role["isolated (nohz_full)"], isolated);
        assert_eq!(per_role["housekeeping, idle"], cpus - generators - isolated);
        assert_eq!(per_role["not used by run"], cores - cpus);
    }
    let out = isolsim(&["topology", "--set", "run.cpus=500"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("invalid value for `run.cpus`"), "{}", text(&out.stderr));
    let out = isolsim(&["topology", "--dot"]);
    assert!(text(&out.stdout).starts_with("graph topology {"));
}
