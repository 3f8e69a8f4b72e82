//! `isolsim run --trace FILE`: a Chrome/Perfetto trace in the JSON trace-event format, checked
//! against the format's rules (required fields, slices that nest on each thread, flows whose two
//! ends exist and bind to a slice) and against the run's own report (the IRQs and broadcast-TLBI
//! stalls osnoise counts on each isolated CPU).

mod common;

use std::collections::BTreeMap;
use std::process::Command;

use common::root;
use serde_json::Value;

/// Text patches often enough that broadcast's kick_all_cpus_sync interrupts the isolated CPUs.
const RUN: [&str; 12] = [
    "run",
    "--no-host-stats",
    "--seed",
    "3",
    "--set",
    "run.duration_us=3000",
    "--set",
    "run.activity.text_patch_per_s=3000",
    "--protocol",
    "broadcast",
    "--protocol",
    "deferred",
];

/// Runs `isolsim run` with `extra`, returns (report JSON, trace).
fn traced(extra: &[&str]) -> (Value, Value, Vec<u8>) {
    let d = tempfile::tempdir().unwrap();
    let path = d.path().join("trace.json");
    let out = Command::new(env!("CARGO_BIN_EXE_isolsim"))
        .args(RUN)
        .args(["--json", "--trace", path.to_str().unwrap()])
        .args(extra)
        .current_dir(root())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let bytes = std::fs::read(&path).unwrap();
    (serde_json::from_slice(&out.stdout).unwrap(), serde_json::from_slice(&bytes).unwrap(), bytes)
}

fn events(trace: &Value) -> &Vec<Value> {
    trace["traceEvents"].as_array().expect("a traceEvents array")
}

/// Every rule of the format the viewers rely on; returns the process names by pid.
fn check_format(trace: &Value) -> BTreeMap<u64, String> {
    let ev = events(trace);
    assert!(!ev.is_empty());
    let mut names = BTreeMap::new();
    let mut slices: BTreeMap<(u64, u64), Vec<(f64, f64)>> = BTreeMap::new();
    let mut flows: BTreeMap<u64, Vec<&Value>> = BTreeMap::new();
    for e in ev {
        let ph = e["ph"].as_str().expect("ph");
        assert!(e["name"].is_string(), "{e}");
        let (pid, tid) = (e["pid"].as_u64().expect("pid"), e["tid"].as_u64().expect("tid"));
        match ph {
            "M" => {
                if e["name"] == "process_name" {
                    names.insert(pid, e["args"]["name"].as_str().unwrap().to_string());
                }
                continue;
            }
            "X" | "i" | "s" | "f" => {}
            other => panic!("unexpected phase {other}"),
        }
        let ts = e["ts"].as_f64().expect("ts");
        assert!(ts >= 0.0);
        match ph {
            "X" => {
                let dur = e["dur"].as_f64().expect("an X event has a dur");
                assert!(dur >= 0.0, "{e}");
                slices.entry((pid, tid)).or_default().push((ts, ts + dur));
            }
            "i" => assert_eq!(e["s"], "t", "{e}"),
            _ => flows.entry(e["id"].as_u64().expect("a flow event has an id")).or_default().push(e),
        }
    }
    // Slices nest on each thread: a slice starting inside another ends inside it.
    let eps = 1e-6;
    for (thread, v) in &mut slices {
        v.sort_by(|a, b| a.0.total_cmp(&b.0).then(b.1.total_cmp(&a.1)));
        let mut open: Vec<f64> = vec![];
        for &(a, z) in v.iter() {
            while open.last().is_some_and(|&end| end <= a + eps && z > a) {
                open.pop();
            }
            if let Some(&end) = open.last() {
                assert!(z <= end + eps, "slice {a}..{z} of {thread:?} overlaps the one ending at {end}");
            }
            open.push(z);
        }
    }
    // Flows: one start and one end per id, the end no earlier, bound to a slice there.
    for (id, v) in &flows {
        assert_eq!(v.len(), 2, "flow {id}: {v:?}");
        let (s, f) = (v.iter().find(|e| e["ph"] == "s").unwrap(), v.iter().find(|e| e["ph"] == "f").unwrap());
        assert_eq!(f["bp"], "e");
        let (ts, tf) = (s["ts"].as_f64().unwrap(), f["ts"].as_f64().unwrap());
        assert!(tf >= ts, "flow {id} ends before it starts");
        for (e, t) in [(s, ts), (f, tf)] {
            let thread = (e["pid"].as_u64().unwrap(), e["tid"].as_u64().unwrap());
            let inside = slices.get(&thread).is_some_and(|v| v.iter().any(|&(a, z)| a <= t + eps && t <= z + eps));
            assert!(inside, "flow {id} has no slice to bind to at {t} on {thread:?}");
        }
    }
    for e in ev {
        let pid = e["pid"].as_u64().unwrap();
        assert!(names.contains_key(&pid), "process {pid} has no name");
    }
    names
}

#[test]
fn trace_follows_the_trace_event_format_and_shows_the_ipis() {
    let (report, trace, bytes) = traced(&[]);
    let names = check_format(&trace);
    let ev = events(&trace);

    // One process per CPU and protocol.
    let cpus = report["reports"][0]["cpus"].as_u64().unwrap() as usize;
    assert_eq!(names.len(), 2 * cpus);

    // A known IPI: broadcast kicks every CPU, so its isolated CPUs are interrupted in user space;
    // the flow from the sender's csd:csd_queue_cpu ends on an isolated CPU's irq slice, which
    // runs the callback between csd:csd_function_entry and _exit.
    let name = |e: &Value| names[&e["pid"].as_u64().unwrap()].clone();
    let landed: Vec<&Value> = ev
        .iter()
        .filter(|e| e["ph"] == "f" && name(e).starts_with("broadcast") && name(e).contains("isolated"))
        .collect();
    assert!(!landed.is_empty(), "broadcast interrupts its isolated CPUs");
    let f = landed[0];
    let at = f["ts"].as_f64().unwrap();
    let irq = ev.iter().find(|e| e["ph"] == "X" && e["name"] == "irq" && e["pid"] == f["pid"] && e["ts"] == f["ts"]);
    assert!(irq.is_some(), "the IPI lands where an irq slice starts");
    let irq_end = at + irq.unwrap()["dur"].as_f64().unwrap();
    for tp in ["csd:csd_function_entry", "csd:csd_function_exit"] {
        assert!(
            ev.iter().any(|e| e["name"] == tp
                && e["pid"] == f["pid"]
                && (at..=irq_end).contains(&e["ts"].as_f64().unwrap())),
            "{tp} inside the irq"
        );
    }
    let id = f["id"].as_u64().unwrap();
    let s = ev.iter().find(|e| e["ph"] == "s" && e["id"].as_u64() == Some(id)).unwrap();
    assert!(name(s).contains("housekeeping"), "the IPI comes from a housekeeping CPU");
    assert!(
        ev.iter().any(|e| e["name"] == "csd:csd_queue_cpu" && e["pid"] == s["pid"] && e["ts"] == s["ts"]),
        "its flow starts at the csd:csd_queue_cpu of the decision"
    );

    // What osnoise counts on each isolated CPU is what the report counts: every IRQ as one
    // osnoise:irq_noise, every broadcast-TLBI stall as one HW-noise slice.
    for (i, r) in report["reports"].as_array().unwrap().iter().enumerate() {
        let proto = r["name"].as_str().unwrap();
        for row in r["isolated"].as_array().unwrap() {
            let cpu = row["cpu"].as_u64().unwrap();
            let pid = (i as u64) * (1 << 16) + cpu;
            assert!(names[&pid].starts_with(proto));
            let count = |n: &str| ev.iter().filter(|e| e["pid"].as_u64() == Some(pid) && e["name"] == n).count() as u64;
            assert_eq!(count("osnoise:irq_noise"), row["irqs"].as_u64().unwrap(), "{proto} CPU {cpu}");
            assert_eq!(count("broadcast TLBI"), row["tlbi_disturbances"].as_u64().unwrap(), "{proto} CPU {cpu}");
        }
    }

    // Under deferral, a skipped CPU's next entry hook names the kick it honours and its case.
    let honoured = ev.iter().find(|e| {
        e["name"] == "isolation:task_isolation_kernel_enter"
            && e["args"]["deferred_kicks"].as_array().is_some_and(|v| !v.is_empty())
    });
    let honoured = honoured.expect("a deferred kick honoured at an entry");
    assert!(name(honoured).starts_with("deferred"));
    assert!(honoured["args"]["deferred_kicks"][0]["case"].as_str().unwrap().starts_with("case"));

    // Deterministic: the same seed writes the same bytes.
    assert_eq!(traced(&[]).2, bytes);
}

#[test]
fn a_trace_window_keeps_only_what_happens_in_it() {
    let (_, trace, _) = traced(&["--trace-window", "1000..1500"]);
    check_format(&trace);
    let timed: Vec<&Value> = events(&trace).iter().filter(|e| e["ph"] != "M").collect();
    assert!(!timed.is_empty());
    for e in timed {
        let ts = e["ts"].as_f64().unwrap();
        let end = ts + e["dur"].as_f64().unwrap_or(0.0);
        assert!((1000.0..=1500.0).contains(&ts) && end <= 1500.0 + 1e-6, "{e}");
    }
}

#[test]
fn a_bad_trace_window_is_refused() {
    let out = Command::new(env!("CARGO_BIN_EXE_isolsim"))
        .args(["run", "--trace", "/nonexistent/never-written.json", "--trace-window", "700..200"])
        .current_dir(root())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--trace-window 700..200: FROM is not before TO"));
}
