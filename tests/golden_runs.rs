//! Fixed-seed runs against their recorded output, text and JSON, byte for byte: a change meant
//! only to make the simulator faster (or to tidy it) must leave every one of them as it was.
//!
//! When the model changes on purpose, the files are written again with
//! `ISOLSIM_BLESS=1 cargo test --test golden_runs`, and the commit says which figures moved and
//! why. The runs are short (2 ms simulated) but take every path of the experiment: the three
//! protocols, housekeeping operations of each kind, system calls, broadcast TLBIs and IPIs, the
//! oslat loop on the in-order core, handing its system calls to the pipeline, timed by dataflow
//! (the presets' default) and issuing in program order, and the `work` loop with user code on
//! the out-of-order pipeline (`arm64-small-ipi`).

mod common;

use std::process::Command;

use common::root;

/// (name, arguments after `isolsim run --no-host-stats`).
const RUNS: [(&str, &[&str]); 5] = [
    ("arm64-default", &["--seed", "7", "--set", "run.duration_us=2000"]),
    ("x86-default", &["--preset", "x86-server", "--seed", "8", "--set", "run.duration_us=2000"]),
    (
        "arm64-small-ipi",
        &[
            "--seed",
            "9",
            "--set",
            "run.cpus=16",
            "--set",
            "run.isolated=4",
            "--set",
            "kernel.tlb_scheme=ipi",
            "--set",
            "run.duration_us=3000",
            "--set",
            "run.activity.loop=work",
            "--set",
            "machine.core.user_code=out-of-order",
        ],
    ),
    (
        "arm64-oslat-in-order",
        &[
            "--seed",
            "10",
            "--set",
            "run.cpus=16",
            "--set",
            "run.isolated=4",
            "--set",
            "run.duration_us=2000",
            "--set",
            "run.activity.loop=oslat",
            "--set",
            "machine.core.user_code=in-order",
            "--set",
            "run.activity.syscalls_per_s=20000",
        ],
    ),
    (
        "x86-oslat-dataflow",
        &[
            "--preset",
            "x86-server",
            "--seed",
            "11",
            "--set",
            "run.cpus=16",
            "--set",
            "run.isolated=4",
            "--set",
            "run.duration_us=2000",
            "--set",
            "run.activity.loop=oslat",
            "--set",
            "machine.core.user_code=dataflow",
            "--set",
            "run.activity.vmalloc_per_s=5000",
        ],
    ),
];

fn output(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_isolsim"))
        .args(["run", "--no-host-stats"])
        .args(args)
        .current_dir(root())
        .output()
        .expect("isolsim runs");
    assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).expect("UTF-8")
}

#[test]
fn fixed_seed_runs_match_their_recorded_output() {
    let bless = std::env::var_os("ISOLSIM_BLESS").is_some();
    let mut differ = vec![];
    for (name, args) in RUNS {
        let json_args: Vec<&str> = args.iter().copied().chain(["--json"]).collect();
        for (ext, got) in [("txt", output(args)), ("json", output(&json_args))] {
            let path = root().join(format!("tests/golden/{name}.{ext}"));
            if bless {
                std::fs::write(&path, &got).expect("the golden file is written");
                continue;
            }
            let want = std::fs::read_to_string(&path).unwrap_or_default();
            if want != got {
                let line = want.lines().zip(got.lines()).position(|(a, b)| a != b).unwrap_or(0) + 1;
                differ.push(format!("{} (first difference at line {line})", path.display()));
            }
        }
    }
    assert!(
        differ.is_empty(),
        "output changed: {}\nIf the model changed on purpose: ISOLSIM_BLESS=1 cargo test --test golden_runs",
        differ.join(", ")
    );
}
