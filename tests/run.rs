//! `isolsim run` as a user runs it, and its library layer: the comparison,
//! determinism whatever the thread count, bad input.

mod common;

use std::process::{Command, Output};

use common::root;
use isolsim::workloads::kernel::Protocol;

fn builtins() -> Vec<isolsim::workloads::protocol::ProtocolFile> {
    Protocol::ALL.into_iter().map(isolsim::workloads::protocol::ProtocolFile::builtin).collect()
}

fn isolsim(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_isolsim")).args(args).current_dir(root()).output().expect("runs")
}

/// A small run: 16 CPUs of the arm64 preset, 4 isolated, 3 ms.
const SMALL: [&str; 6] = ["--set", "run.cpus=16", "--set", "run.isolated=4", "--set", "run.duration_us=3000"];

#[test]
fn run_prints_the_three_protocols_side_by_side() {
    let mut args = vec!["run"];
    args.extend(SMALL);
    let out = isolsim(&args);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let s = String::from_utf8_lossy(&out.stdout);
    for needle in ["broadcast", "deferred", "ct-work", "%CPU Aval", "p99.99", "case 4: in user space", "violations"] {
        assert!(s.contains(needle), "missing {needle:?} in\n{s}");
    }
    let again = isolsim(&args);
    assert_eq!(out.stdout, again.stdout, "same seed, same table");
}

/// The x86 preset runs the experiment on its own machine (TSO, IPI-driven
/// TLB shootdowns) as given, and every vmalloc flush completes.
#[test]
fn x86_preset_runs_the_experiment_safely() {
    let out = isolsim(&["run", "--preset", "x86-server", "--set", "run.duration_us=3000", "--json"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    for r in v.as_array().unwrap() {
        assert_eq!(r["cpus"], 36);
        assert_eq!(r["safety"]["violations"].as_array().unwrap().len(), 0, "{}", r["protocol"]);
        let vmalloc = r["senders"].as_array().unwrap().iter().find(|s| s["op"] == "vmalloc").expect("vmalloc ran");
        assert!(vmalloc["ns"]["count"].as_u64().unwrap() > 0);
    }
}

/// A user's variant of the deferred protocol whose entry hook lost its
/// deferred flush: the run stops at the violation, tells the story and exits
/// 1; a variant that does not assemble, or has no header, is bad input.
#[test]
fn a_protocol_variant_without_the_deferred_flush_fails_the_run() {
    let (_, shipped) = isolsim::workloads::kernel::Protocol::Deferred.file();
    let flush = "        TLBI  VMALLE1                    // the deferred flush: the whole TLB, locally\n";
    assert!(shipped.contains(flush));
    let dir = tempfile::tempdir().unwrap();
    let variant = dir.path().join("no-flush.S");
    std::fs::write(&variant, shipped.replace(flush, "        NOP\n")).unwrap();
    let path = variant.display().to_string();
    let mut args = vec!["run", "--protocol", &path];
    args.extend(SMALL);
    let out = isolsim(&args);
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    let s = String::from_utf8_lossy(&out.stdout);
    assert!(s.contains("stale translation on CPU"), "{s}");
    assert!(s.contains("skipped CPU") && s.contains("obligation point"), "{s}");
    assert!(s.contains("no-flush"), "the variant's name heads its column: {s}");

    std::fs::write(&variant, "// @base deferred\nenter_from_user_mode:\n        FOO X1\n").unwrap();
    let out = isolsim(&args);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no-flush.S:3:9: unsupported instruction"), "{err}");

    std::fs::write(&variant, "enter_from_user_mode:\n        RET\n").unwrap();
    let out = isolsim(&args);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no-flush.S:1:1: no `// @base NAME` line"), "{err}");
}

#[test]
fn json_and_csv_carry_the_same_runs() {
    let mut args = vec!["run", "--protocol", "deferred", "--json"];
    args.extend(SMALL);
    let out = isolsim(&args);
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(v.as_array().map(Vec::len), Some(1));
    assert_eq!(v[0]["protocol"], "deferred");
    assert_eq!(v[0]["isolated"].as_array().map(Vec::len), Some(4));
    let mut args = vec!["run", "--protocol", "deferred", "--csv"];
    args.extend(SMALL);
    let out = isolsim(&args);
    let csv = String::from_utf8_lossy(&out.stdout);
    assert_eq!(csv.lines().count(), 1 + 4, "{csv}");
    assert!(csv.starts_with("protocol,seed,cpu,"));
}

#[test]
fn bad_protocol_and_bad_keys_exit_2() {
    let out = isolsim(&["run", "--protocol", "lazy"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown protocol `lazy`"));
    let out = isolsim(&["run", "--set", "run.isolatd=3"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("isolatd"));
    let out = isolsim(&["run", "--set", "run.cpus=200"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cpus = 200"));
}

#[test]
fn deterministic_across_threads() {
    let mut cfg = isolsim::config::preset("arm64-server").unwrap();
    cfg.run.cpus = 16;
    cfg.run.isolated = 4;
    cfg.run.duration_us = 2000;
    let json = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        let r = pool
            .install(|| isolsim::experiment::run(&cfg, &isolsim::workloads::kernel::FILES, &builtins(), 5, &|_, _| {}))
            .unwrap();
        serde_json::to_string(&r).unwrap()
    };
    assert_eq!(json(1), json(2));
}

/// The default run (64 CPUs, 100 ms): every ordering of the seed occurs
/// under both deferring protocols, and nothing is unsafe. About 8 s of CPU
/// in release builds: `cargo test --release --test run -- --ignored`.
#[test]
#[ignore]
fn default_run_exercises_every_ordering_safely() {
    let cfg = isolsim::config::preset("arm64-server").unwrap();
    let reports =
        isolsim::experiment::run(&cfg, &isolsim::workloads::kernel::FILES, &builtins(), 1, &|_, _| {}).unwrap();
    for r in &reports {
        assert!(r.safety.violations.is_empty(), "{:?}: {}", r.protocol, r.safety.violations[0]);
        if r.protocol != Protocol::Broadcast {
            assert!(r.orderings.all_occurred(), "{:?}: {:?}", r.protocol, r.orderings);
        }
    }
}
