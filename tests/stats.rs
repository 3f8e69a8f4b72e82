//! `isolsim run --stats FILE`: every core's statistics in gem5's stats.txt layout (and in JSON),
//! checked against the run's own report: the per-core figures add up to the run-wide ones.

mod common;

use std::collections::BTreeMap;
use std::process::Command;

use common::root;
use serde_json::Value;

const RUN: [&str; 10] = [
    "run",
    "--no-host-stats",
    "--seed",
    "3",
    "--set",
    "run.duration_us=2000",
    "--protocol",
    "broadcast",
    "--protocol",
    "deferred",
];

fn isolsim(extra: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_isolsim")).args(RUN).args(extra).current_dir(root()).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn per_core_statistics_add_up_to_the_runs_figures() {
    let d = tempfile::tempdir().unwrap();
    let (json_path, text_path) = (d.path().join("stats.json"), d.path().join("stats.txt"));
    let report_json = isolsim(&["--json", "--stats", json_path.to_str().unwrap()]);
    let plain = isolsim(&["--json"]);
    assert_eq!(report_json, plain, "--stats leaves the printed report as it was");
    isolsim(&["--stats", text_path.to_str().unwrap()]);

    let report: Value = serde_json::from_str(&plain).unwrap();
    let stats: Value = serde_json::from_str(&std::fs::read_to_string(&json_path).unwrap()).unwrap();
    let u = |v: &Value| v.as_u64().unwrap();
    let (mut all_tlbis, mut all_irqs) = (0, 0);
    for (r, s) in report["reports"].as_array().unwrap().iter().zip(stats.as_array().unwrap()) {
        assert_eq!(r["name"], s["protocol"]);
        let cores = s["cores"].as_array().unwrap();
        let sum = |k: &str| cores.iter().map(|c| u(&c[k])).sum::<u64>();
        assert_eq!(cores.len() as u64, u(&r["cpus"]));
        assert_eq!(sum("committed_insts"), u(&r["instructions"]));
        assert_eq!(sum("cycles"), u(&r["core_cycles"]));
        // Each broadcast invalidation stalls every other core once.
        assert_eq!(sum("tlbis_received"), sum("tlbis_sent") * (cores.len() as u64 - 1));
        // An IPI sent to a core with one already pending is taken once.
        assert!(sum("irqs_taken") <= sum("ipis_sent"));
        // Every data access that is not forwarded goes to the caches, and is served at one level.
        for c in cores {
            let served = ["l1_hits", "shared_hits", "remote_transfers", "memory_accesses"].map(|k| u(&c[k]));
            let accesses = u(&c["loads"]) - u(&c["loads_forwarded"]) + u(&c["stores"]) + u(&c["rmws"]);
            assert_eq!(served.iter().sum::<u64>(), accesses, "core {}", c["cpu"]);
        }
        // A stall lasts no longer than the run; the kernel's barriers wait for stores somewhere.
        for c in cores {
            for k in ["rob_full_cycles", "store_buffer_full_cycles", "barrier_stall_cycles"] {
                assert!(u(&c[k]) <= u(&c["cycles"]), "core {} {k}", c["cpu"]);
            }
        }
        assert!(sum("barrier_stall_cycles") > 0);
        // Host rates are left out with --no-host-stats.
        assert!(s["host"].is_null());
        // The kick's per-CPU state lines move between cores; the first touch of a line is a miss.
        assert!(sum("remote_transfers") > 0 && sum("memory_accesses") > 0 && sum("l1_hits") > 0);
        all_tlbis += sum("tlbis_sent");
        all_irqs += sum("irqs_taken");
        for row in r["isolated"].as_array().unwrap() {
            let c = &cores[u(&row["cpu"]) as usize];
            assert!(u(&c["irqs_taken"]) >= u(&row["irqs"]));
            assert!(u(&c["tlbis_received"]) >= u(&row["tlbi_disturbances"]));
            assert!(u(&c["syscalls"]) >= u(&row["syscalls"]));
        }
    }
    assert!(all_tlbis > 0 && all_irqs > 0, "the runs have both kinds of disturbance");
    let cores = stats[1]["cores"].as_array().unwrap();

    // The text file says the same, in gem5's `name value # description` lines.
    let text = std::fs::read_to_string(&text_path).unwrap();
    assert!(text.contains("---------- Begin Simulation Statistics ----------"));
    assert!(!text.contains("hostSeconds"), "--no-host-stats leaves the host rates out");
    let values: BTreeMap<&str, u64> = text
        .lines()
        .filter(|l| l.starts_with("system.cpu"))
        .map(|l| {
            let (stat, desc) = l.split_once("   # ").unwrap();
            assert!(desc.ends_with(')'), "a unit in parentheses: {l}");
            let mut f = stat.split_whitespace();
            (f.next().unwrap(), f.next().unwrap().parse().unwrap())
        })
        .collect();
    for c in cores {
        let n = u(&c["cpu"]);
        assert_eq!(values[format!("system.cpu{n:02}.committedInsts").as_str()], u(&c["committed_insts"]));
        assert_eq!(values[format!("system.cpu{n:02}.mmu.tlb.misses").as_str()], u(&c["tlb_misses"]));
        let misses = u(&c["shared_hits"]) + u(&c["remote_transfers"]) + u(&c["memory_accesses"]);
        assert_eq!(values[format!("system.cpu{n:02}.dcache.l1.misses").as_str()], misses);
        assert_eq!(values[format!("system.cpu{n:02}.barrierStallCycles").as_str()], u(&c["barrier_stall_cycles"]));
        assert_eq!(values[format!("system.cpu{n:02}.sq.fullStallCycles").as_str()], u(&c["store_buffer_full_cycles"]));
    }
}

#[test]
fn host_rates_in_the_statistics_multiply_back_to_what_was_simulated() {
    let d = tempfile::tempdir().unwrap();
    let (json_path, text_path) = (d.path().join("stats.json"), d.path().join("stats.txt"));
    let args = ["run", "--seed", "3", "--set", "run.duration_us=300", "--protocol", "deferred", "--stats"];
    for path in [&json_path, &text_path] {
        let out =
            Command::new(env!("CARGO_BIN_EXE_isolsim")).args(args).arg(path).current_dir(root()).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
    let stats: Value = serde_json::from_str(&std::fs::read_to_string(&json_path).unwrap()).unwrap();
    let run = &stats[0];
    let host = &run["host"];
    let f = |v: &Value| v.as_f64().unwrap();
    let seconds = f(&host["host_seconds"]);
    assert!(seconds > 0.0);
    // rate × time = the total it came from
    for (rate, total, scale) in [
        ("host_mips", "sim_insts", 1e6),
        ("host_event_rate", "events", 1.0),
        ("sim_ns_per_host_second", "sim_seconds", 1e-9),
    ] {
        let back = f(&host[rate]) * scale * seconds;
        let want = f(&run[total]);
        assert!((back - want).abs() <= 1e-6 * want.max(1.0), "{rate} × host_seconds = {back}, {total} = {want}");
    }
    let text = std::fs::read_to_string(&text_path).unwrap();
    for name in ["hostSeconds", "hostInstRate", "hostEventRate", "hostSimNsRate"] {
        assert!(text.lines().any(|l| l.starts_with(name)), "{name} in the text statistics");
    }
}
