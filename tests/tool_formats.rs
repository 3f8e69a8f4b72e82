//! `isolsim run --format rtla-osnoise|rtla-hist|oslat`: the layouts of `rtla osnoise top`,
//! `rtla osnoise hist` and oslat's summary, each against a recorded output of a fixed-seed run
//! (`ISOLSIM_BLESS=1 cargo test --test tool_formats` writes them again), and each read back
//! field by field against the same run's JSON, so that a number in the tool's layout is the
//! number the run measured.

mod common;

use std::process::Command;

use common::root;
use serde_json::Value;

/// A short oslat-loop run with broadcast TLBIs (HW noise), interrupts (IRQ noise) and quiet CPUs.
/// The loop is timed by dataflow: the formats do not depend on which core runs user code, and
/// the out-of-order one would make each run of this file's tests several times as long.
const RUN: [&str; 16] = [
    "run",
    "--no-host-stats",
    "--seed",
    "4",
    "--set",
    "run.cpus=16",
    "--set",
    "run.isolated=4",
    "--set",
    "run.duration_us=3000",
    "--set",
    "run.activity.loop=oslat",
    "--set",
    "machine.core.user_code=dataflow",
    "--protocol",
    "broadcast",
];

fn isolsim(extra: &[&str]) -> (Option<i32>, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_isolsim"))
        .args(RUN)
        .args(["--protocol", "deferred"])
        .args(extra)
        .current_dir(root())
        .output()
        .expect("isolsim runs");
    (out.status.code(), String::from_utf8(out.stdout).unwrap(), String::from_utf8(out.stderr).unwrap())
}

fn format(name: &str) -> String {
    let (code, out, err) = isolsim(&["--format", name]);
    assert_eq!(code, Some(0), "{err}");
    out
}

/// The blocks of a multi-protocol output, by protocol (each starts with its `# isolsim:` line),
/// without their empty lines.
fn blocks(out: &str) -> Vec<Vec<&str>> {
    let mut all: Vec<Vec<&str>> = vec![];
    for line in out.lines() {
        if line.starts_with("# isolsim: ") {
            all.push(vec![]);
        }
        if !line.is_empty() {
            all.last_mut().expect("output starts with a # isolsim: line").push(line);
        }
    }
    all
}

fn reports() -> Vec<Value> {
    let (code, out, err) = isolsim(&["--json"]);
    assert_eq!(code, Some(0), "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    v["reports"].as_array().unwrap().clone()
}

fn u(v: &Value) -> u64 {
    v.as_u64().unwrap_or_else(|| panic!("{v} is not an integer"))
}

fn us(v: &Value) -> u64 {
    (v.as_f64().unwrap() / 1000.0) as u64
}

#[test]
fn tool_formats_match_their_recorded_output() {
    let bless = std::env::var_os("ISOLSIM_BLESS").is_some();
    let mut differ = vec![];
    for name in ["rtla-osnoise", "rtla-hist", "oslat"] {
        let got = format(name);
        let path = root().join(format!("tests/golden/format-{name}.txt"));
        if bless {
            std::fs::write(&path, &got).unwrap();
        } else if std::fs::read_to_string(&path).unwrap_or_default() != got {
            differ.push(path.display().to_string());
        }
    }
    assert!(
        differ.is_empty(),
        "output changed: {differ:?}\nIf on purpose: ISOLSIM_BLESS=1 cargo test --test tool_formats"
    );
}

#[test]
fn rtla_osnoise_top_rows_are_the_runs_osnoise_figures() {
    let out = format("rtla-osnoise");
    let reports = reports();
    let blocks = blocks(&out);
    assert_eq!(blocks.len(), reports.len());
    for (b, r) in blocks.iter().zip(&reports) {
        assert_eq!(b[1].trim_end(), " ".repeat(42) + "Operating System Noise");
        assert_eq!(b[2], "duration:   0 00:00:00 | time is in us");
        let cols: Vec<&str> = b[3].split_whitespace().collect();
        assert_eq!(
            cols,
            [
                "CPU", "Period", "Runtime", "Noise", "%", "CPU", "Aval", "Max", "Noise", "Max", "Single", "HW", "NMI",
                "IRQ", "Softirq", "Thread"
            ]
        );
        let rows = &b[4..];
        let isolated = r["isolated"].as_array().unwrap();
        assert_eq!(rows.len(), isolated.len());
        for (row, x) in rows.iter().zip(isolated) {
            let f: Vec<&str> = row.split_whitespace().collect();
            assert_eq!(f[0].parse::<u64>().unwrap(), u(&x["cpu"]));
            let runtime = us(&x["runtime_ns"]);
            assert_eq!(f[1], format!("#{}", runtime.div_ceil(1000)), "1 ms periods");
            assert_eq!(f[2].parse::<u64>().unwrap(), runtime);
            let noise = us(&x["noise_ns"]);
            assert_eq!(f[3].parse::<u64>().unwrap(), noise);
            let avail: f64 = f[4].parse().unwrap();
            assert!((avail - 100.0 * (runtime - noise) as f64 / runtime as f64).abs() < 1e-5, "{row}");
            assert_eq!(f[5].parse::<u64>().unwrap(), us(&x["max_noise_ns"]));
            assert_eq!(f[6].parse::<u64>().unwrap(), us(&x["max_single_ns"]));
            assert_eq!(f[7].parse::<u64>().unwrap(), u(&x["tlbi_disturbances"]), "HW: the TLBI stalls");
            assert_eq!(f[9].parse::<u64>().unwrap(), u(&x["irqs"]));
        }
    }
    // Broadcast's TLBI stalls are hardware noise, the deferred protocol's IPIs interrupts.
    let hw: u64 = reports[0]["isolated"].as_array().unwrap().iter().map(|x| u(&x["tlbi_disturbances"])).sum();
    assert!(hw > 0);
}

#[test]
fn rtla_osnoise_hist_counts_every_noise_event_of_the_run() {
    let out = format("rtla-hist");
    let reports = reports();
    for (b, r) in blocks(&out).iter().zip(&reports) {
        assert_eq!(&b[1..3], ["# RTLA osnoise histogram", "# Time unit is microseconds (us)"]);
        let cpus: Vec<u64> =
            b[4].split_whitespace().skip(1).map(|c| c.strip_prefix("CPU-").unwrap().parse().unwrap()).collect();
        assert_eq!(b[4].split_whitespace().next(), Some("Index"));
        let isolated = r["isolated"].as_array().unwrap();
        let noisy: Vec<&Value> = isolated.iter().filter(|x| u(&x["irqs"]) + u(&x["tlbi_disturbances"]) > 0).collect();
        assert_eq!(cpus, noisy.iter().map(|x| u(&x["cpu"])).collect::<Vec<_>>(), "a column per CPU with noise");
        let row = |label: &str| -> Vec<String> {
            let l = b.iter().find(|l| l.starts_with(label)).unwrap_or_else(|| panic!("{label}: {b:?}"));
            l[label.len()..].split_whitespace().map(str::to_string).collect()
        };
        let counts: Vec<u64> = row("count:").iter().map(|c| c.parse().unwrap()).collect();
        let over: Vec<u64> = row("over: ").iter().map(|c| c.parse().unwrap()).collect();
        let mut sums = over.clone();
        for l in &b[5..] {
            let f: Vec<&str> = l.split_whitespace().collect();
            if f[0].parse::<u64>().is_err() {
                continue;
            }
            for (s, v) in sums.iter_mut().zip(&f[1..]) {
                *s += v.parse::<u64>().unwrap();
            }
        }
        assert_eq!(sums, counts, "the buckets and over: add up to count:");
        for (x, n) in noisy.iter().zip(&counts) {
            assert_eq!(*n, u(&x["irqs"]) + u(&x["tlbi_disturbances"]), "every interrupt and stall is a sample");
        }
        let max: Vec<u64> = row("max:  ").iter().map(|c| c.parse().unwrap()).collect();
        for (x, m) in noisy.iter().zip(&max) {
            assert_eq!(*m, us(&x["max_single_ns"]), "the longest sample is MaxSingle");
        }
    }
}

#[test]
fn oslat_summary_is_the_loops_own_histogram() {
    let out = format("oslat");
    let reports = reports();
    for (b, r) in blocks(&out).iter().zip(&reports) {
        let field = |label: &str| -> Vec<String> {
            let l = b.iter().find(|l| l.trim_start().starts_with(&format!("{label}:"))).unwrap();
            assert_eq!(l.find(":\t"), Some(12), "`%12s:\\t`: {l:?}");
            l[14..].split_whitespace().map(str::to_string).collect()
        };
        let own = r["oslat_cpus"].as_array().unwrap();
        let cores: Vec<u64> = field("Core").iter().map(|c| c.parse().unwrap()).collect();
        assert_eq!(cores, own.iter().map(|h| u(&h["cpu"])).collect::<Vec<_>>());
        assert_eq!(field("Counter Freq").last().map(String::as_str), Some("(MHz)"));
        let mut per_cpu = vec![0u64; own.len()];
        for j in 1..=32 {
            let values = field(&format!("{j:03} (us)"));
            for (s, v) in per_cpu.iter_mut().zip(&values) {
                *s += v.parse::<u64>().unwrap();
            }
        }
        let counts: Vec<u64> = own.iter().map(|h| u(&h["count"])).collect();
        assert_eq!(per_cpu, counts, "every iteration is in one of oslat's 32 buckets");
        let max: Vec<u64> = field("Maximum").iter().filter_map(|c| c.parse().ok()).collect();
        assert_eq!(max, own.iter().map(|h| u(&h["max_ns"]) / 1000).collect::<Vec<_>>());
    }
}

#[test]
fn oslat_format_needs_the_oslat_loop() {
    let out = Command::new(env!("CARGO_BIN_EXE_isolsim"))
        .args(["run", "--set", "run.duration_us=100", "--set", "run.activity.loop=work", "--format", "oslat"])
        .current_dir(root())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
    assert!(String::from_utf8_lossy(&out.stderr).contains("run.activity.loop=oslat"));
}
