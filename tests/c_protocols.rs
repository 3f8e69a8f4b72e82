//! Protocol files in kernel C: what `isolsim check` and `isolsim run` say
//! about `deferred.c`, `ct-work.c` and the mutants in C equals what they say
//! about the hand-written assembler; bad C is refused at its line and column.

mod common;

use std::process::{Command, Output};

use common::root;

fn isolsim(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_isolsim")).args(args).current_dir(root()).output().expect("runs")
}

/// `isolsim check --json` of `protocol` with `extra` arguments: (exit code, report).
fn check_json(protocol: &str, extra: &[&str]) -> (Option<i32>, serde_json::Value) {
    let dir = tempfile::tempdir().unwrap();
    let mut args = vec!["check", "--json", "--protocol", protocol, "--save", dir.path().to_str().unwrap()];
    args.extend_from_slice(extra);
    let out = isolsim(&args);
    let text = String::from_utf8_lossy(&out.stdout);
    let v = serde_json::from_str(&text).unwrap_or_else(|e| {
        panic!("{protocol}: {e}\n{text}\n{}", String::from_utf8_lossy(&out.stderr));
    });
    (out.status.code(), v)
}

/// What a check found, less the names: the exploration's counts, the coverage of the orderings,
/// the final states counted, and each consequence with its explanation.
fn verdict_of(v: &serde_json::Value) -> serde_json::Value {
    let what = |k: &str| v[k].as_object().map(|c| (c["consequence"].clone(), c["what"].clone()));
    serde_json::json!({
        "stats": v["stats"],
        "coverage": v["coverage"],
        "violating_finals": v["violating_finals"],
        "breaking_finals": v["breaking_finals"],
        "safety": what("safety"),
        "isolation_break": what("isolation_break"),
    })
}

#[test]
fn c_protocols_match_assembler() {
    // At 3 CPUs the sender only remaps a page: every operation at once takes half a minute a run.
    for (name, cpus, ops) in
        [("deferred", "2", "patch+data+pte"), ("ct-work", "2", "patch+data+pte"), ("ct-work", "3", "pte")]
    {
        let args = ["--cpus", cpus, "--ops", ops];
        let (asm_code, asm) = check_json(&format!("workloads/protocols/{name}.S"), &args);
        let (c_code, c) = check_json(&format!("workloads/protocols/{name}.c"), &args);
        assert_eq!(asm_code, Some(0), "{name}: {asm}");
        assert_eq!(c_code, asm_code, "{name}.c at {cpus} CPUs");
        assert_eq!(verdict_of(&c), verdict_of(&asm), "{name}.c at {cpus} CPUs");
    }
    // A fixed-seed run: the same report, figure for figure (both compile to their assembler's
    // instruction schedule, registers aside).
    for name in ["deferred", "ct-work"] {
        let run = |file: &str| {
            let out = isolsim(&["run", "--protocol", file, "--set", "run.duration_us=1000", "--no-host-stats"]);
            assert!(out.status.success(), "{file}: {}", String::from_utf8_lossy(&out.stderr));
            String::from_utf8_lossy(&out.stdout).to_string()
        };
        let (asm, c) = (run(&format!("workloads/protocols/{name}.S")), run(&format!("workloads/protocols/{name}.c")));
        assert!(asm.contains("Safety (checked on every isolated CPU)"), "{asm}");
        assert_eq!(c, asm, "{name}.c");
    }
}

#[test]
fn every_c_mutant_gives_the_verdict_of_its_assembler() {
    let dir = root().join("workloads/protocols/mutants");
    let mut mutants: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "c"))
        .map(|p| p.file_stem().unwrap().to_str().unwrap().to_string())
        .collect();
    mutants.sort();
    assert!(mutants.len() >= 9, "the shipped mutants in C: {mutants:?}");
    for m in mutants {
        let (asm_code, asm) = check_json(&format!("workloads/protocols/mutants/{m}.S"), &[]);
        let (c_code, c) = check_json(&format!("workloads/protocols/mutants/{m}.c"), &[]);
        assert_eq!(c_code, asm_code, "{m}.c");
        assert_eq!(verdict_of(&c), verdict_of(&asm), "{m}.c");
    }
}

#[test]
fn emit_asm_shows_each_instruction_with_its_c_line() {
    let out = isolsim(&["check", "--emit-asm", "--protocol", "workloads/protocols/deferred.c"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let s = String::from_utf8_lossy(&out.stdout);
    assert!(s.contains("entry_hook_done:\n        RET"), "{s}");
    let line = s.lines().find(|l| l.contains("DSB ISH")).expect("the entry hook's barrier");
    assert!(line.contains("// 21: dsb(ish);"), "{line}");
    let line = s.lines().find(|l| l.contains("LDR") && l.contains("PCPU_ISOL_FLAGS")).unwrap();
    assert!(line.contains("this_cpu_read(ll_isol_flags) == ISOL_ISOLATED"), "{line}");
    // The assembler of a .S file is the file itself.
    let out = isolsim(&["check", "--emit-asm", "--protocol", "workloads/protocols/deferred.S"]);
    let text = std::fs::read_to_string(root().join("workloads/protocols/deferred.S")).unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), text);
}

#[test]
fn bad_c_is_refused_at_its_line_and_column_with_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let cases: [(&str, &str); 7] = [
        ("void isolation_publish(void)\n{\n\tsmp_mb()\n}\n", "4:1: expected `;` after `smp_mb()`, found `}`"),
        (
            "void isolation_publish(void)\n{\n\tthis_cpu_write(ll_isol_flag, 1);\n}\n",
            "3:17: unknown per-CPU variable `ll_isol_flag`",
        ),
        (
            "void exit_to_user_mode(void)\n{\n\tthis_cpu_write(context, CT_USR);\n}\n",
            "3:26: unknown variable or kernel constant `CT_USR`",
        ),
        (
            "void isolation_publish(void)\n{\n\tspin_lock(&l);\n}\n",
            "3:2: unsupported: spin_lock (locks are not modelled)",
        ),
        (
            "bool isolation_defer_cpu(int cpu, unsigned long work)\n{\n\treturn;\n}\n",
            "3:2: `isolation_defer_cpu` returns a value",
        ),
        ("void kick(void)\n{\n}\n", "1:6: `kick` is neither a protocol function"),
        ("void isolation_publish(void)\n{\n\tbreak;\n}\n", "3:2: `break` outside a loop"),
    ];
    for (i, (body, want)) in cases.into_iter().enumerate() {
        let f = dir.path().join(format!("bad{i}.c"));
        std::fs::write(&f, format!("// @base deferred\n{body}")).unwrap();
        let out = isolsim(&["check", "--protocol", f.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(2), "{body}");
        let e = String::from_utf8_lossy(&out.stderr);
        // One header line before the body.
        let (line, rest) = want.split_once(':').unwrap();
        let want = format!("{}:{}:{rest}", f.display(), line.parse::<usize>().unwrap() + 1);
        assert!(e.starts_with(&want), "{e}\nwanted: {want}");
        let out = isolsim(&["run", "--protocol", f.to_str().unwrap(), "--set", "run.duration_us=100"]);
        assert_eq!(out.status.code(), Some(2), "run: {body}");
    }
}

#[test]
fn a_c_mutants_counterexample_shows_the_c_line_of_each_instruction() {
    let dir = tempfile::tempdir().unwrap();
    let file = "workloads/protocols/mutants/entry-no-dmb.c";
    let out = isolsim(&["check", "--protocol", file, "--save", dir.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    let s = String::from_utf8_lossy(&out.stdout);
    assert!(s.contains("(L<n> before an instruction: it was compiled from line n of entry-no-dmb.c.)"), "{s}");
    // The flag's store, beside the line of the C that wrote it.
    let row = s.lines().find(|l| l.contains("cpu1.isol_flags = BROKEN -> store buffer")).expect("the flag's store");
    let n: usize = row.split("| L").nth(1).and_then(|r| r.split(' ').next()).and_then(|n| n.parse().ok()).unwrap();
    let c = std::fs::read_to_string(root().join(file)).unwrap();
    assert_eq!(c.lines().nth(n - 1).unwrap().trim(), "this_cpu_write(ll_isol_flags, ISOL_BROKEN);", "{row}");
    // The hook's end is the kernel's label, at the function's closing brace.
    assert!(s.lines().any(|l| l.contains(" entry_hook_done: RET")), "{s}");
    // Replayed from its file (which holds the C): the same rows.
    let saved = dir.path().join("entry-no-dmb.safety-violation.json");
    let out = isolsim(&["replay", saved.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let r = String::from_utf8_lossy(&out.stdout);
    let rows = |t: &str| t.lines().filter(|l| l.contains(" | ")).map(str::to_string).collect::<Vec<_>>();
    assert_eq!(rows(&r), rows(&s));
}

#[test]
fn a_sweep_takes_c_protocol_files_and_runs_them_as_their_assembler() {
    let text = "[sweep]\nname = \"c\"\npreset = \"arm64-server\"\nprotocols = [\"deferred.c\", \"mutants/sender-no-dmb.c\"]\n\
                seeds = [1]\n\n[set]\nrun.cpus = 4\nrun.isolated = 1\nrun.activity.generators = 2\nrun.duration_us = 300\n";
    let s = isolsim::sweep::Sweep::parse("w.toml", text, &root().join("workloads/protocols")).unwrap();
    let names: Vec<&str> = s.protocols.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["deferred", "sender-no-dmb"]);
    assert!(s.protocols.iter().all(|p| !p.c_lines.is_empty() && p.asm.contains("isolation_publish:")));
    // A C error in a swept file is refused at the file's line and column.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("bad.c"), "// @base deferred\nvoid isolation_publish(void)\n{\n\tsmp_mb(1);\n}\n")
        .unwrap();
    let bad = text.replace("\"deferred.c\", \"mutants/sender-no-dmb.c\"", "\"bad.c\"");
    let e = isolsim::sweep::Sweep::parse("w.toml", &bad, dir.path()).map(|_| ()).unwrap_err().to_string();
    assert!(e.contains("bad.c:4:9: expected `)`"), "{e}");
}

#[test]
fn a_fuzzed_c_mutants_timeline_shows_the_c_line_of_its_instructions() {
    let dir = tempfile::tempdir().unwrap();
    // A mutant the fuzzer finds in nearly every run (418 of 500 for its assembler twin), so that
    // the test is about the timeline, not about how soon a rarer window turns up.
    let file = "workloads/protocols/mutants/entry-no-flush.c";
    let out = isolsim(&["fuzz", "--protocol", file, "--runs", "30", "--save", dir.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    let s = String::from_utf8_lossy(&out.stdout);
    assert!(s.contains("(L<n> before an instruction: it was compiled from line n of the protocol's C file.)"), "{s}");
    let c = std::fs::read_to_string(root().join(file)).unwrap();
    let flag = c.lines().position(|l| l.trim() == "this_cpu_write(ll_isol_flags, ISOL_BROKEN);").unwrap() + 1;
    assert!(s.contains(&format!("| L{flag} STR cpu1.isol_flags = BROKEN -> store buffer")), "{s}");
    let saved = dir.path().join("entry-no-flush.fuzz.safety-violation.json");
    let out = isolsim(&["replay", saved.to_str().unwrap()]);
    let r = String::from_utf8_lossy(&out.stdout);
    assert!(r.contains(&format!("| L{flag} STR cpu1.isol_flags = BROKEN -> store buffer")), "{r}");
}
