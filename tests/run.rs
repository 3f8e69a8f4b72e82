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
    // Everything but the simulation rate's foot is the seed's and configuration's.
    let foot = "\nSimulation rate (host;";
    assert!(s.contains(foot), "{s}");
    args.push("--no-host-stats");
    let quiet = isolsim(&args);
    let q = String::from_utf8_lossy(&quiet.stdout);
    assert_eq!(q, s[..s.find(foot).unwrap()], "--no-host-stats leaves out the foot only");
    let again = isolsim(&args);
    assert_eq!(quiet.stdout, again.stdout, "same seed, same table");
}

/// The default isolated task is oslat's loop, timed by dataflow, and its own histogram shows what
/// the `work` loop hid: broadcast's TLBI stalls as iterations of 600-700 ns (one per stall, but
/// for the few that land in an iteration with something else in it), where the deferred
/// protocols, which have no stalls, have no such iteration.
#[test]
fn default_run_shows_broadcast_tlbi_stalls_below_a_microsecond() {
    let mut args = vec!["run", "--json", "--no-host-stats"];
    args.extend(SMALL);
    let out = isolsim(&args);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["config"]["run"]["activity"]["loop"], "oslat");
    assert_eq!(v["config"]["machine"]["core"]["user_code"], "dataflow");
    for r in v["reports"].as_array().unwrap() {
        let stalls: u64 =
            r["isolated"].as_array().unwrap().iter().map(|x| x["tlbi_disturbances"].as_u64().unwrap()).sum();
        let stalled_iterations: u64 = r["oslat_sub_us_histogram"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|h| (600..700).contains(&h["from_ns"].as_u64().unwrap()))
            .map(|h| h["count"].as_u64().unwrap())
            .sum();
        assert!(r["oslat_ns"]["p50"].as_f64().unwrap() < 100.0, "iterations of tens of ns: {}", r["oslat_ns"]);
        if r["protocol"] == "broadcast" {
            assert!(stalls > 0, "broadcast TLBIs reach the isolated CPUs");
            assert!(
                stalled_iterations <= stalls && 4 * stalled_iterations >= 3 * stalls,
                "{stalled_iterations} of {stalls}"
            );
        } else {
            assert_eq!((stalls, stalled_iterations), (0, 0), "{}", r["protocol"]);
        }
    }
}

/// Every run says what it simulated and how fast (gem5's sim_insts, host_seconds,
/// host_inst_rate): the counts come from the reports, and each rate times the host seconds
/// gives back the count it came from.
#[test]
fn run_reports_its_simulation_rate() {
    let mut args = vec!["run", "--json"];
    args.extend(SMALL);
    let out = isolsim(&args);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let runs = v["host"]["runs"].as_array().expect("host.runs");
    let reports = v["reports"].as_array().unwrap();
    assert_eq!(runs.len(), reports.len());
    for (h, r) in runs.iter().zip(reports) {
        assert_eq!(h["name"], r["name"]);
        let f = |k: &str| h[k].as_f64().unwrap_or_else(|| panic!("{k}: {h}"));
        assert_eq!(h["sim_insts"], r["instructions"]);
        assert_eq!(h["events"], r["events"]);
        assert_eq!(h["sim_core_cycles"], r["core_cycles"]);
        // 16 CPUs over the simulated time, in cycles of the preset's clock.
        let cycles = r["simulated_ns"].as_f64().unwrap() * r["clock_mhz"].as_f64().unwrap() / 1000.0;
        assert!((f("sim_core_cycles") - 16.0 * cycles).abs() <= 16.0, "{h}");
        // An isolated task's loop alone retires an instruction per iteration and more.
        assert!(f("sim_insts") > 1000.0, "{h}");
        let secs = f("host_seconds");
        assert!(secs > 0.0, "{h}");
        let close = |a: f64, b: f64| (a - b).abs() <= 1e-9 * b.abs().max(1.0);
        assert!(close(f("host_mips") * 1e6 * secs, f("sim_insts")), "{h}");
        assert!(close(f("host_event_rate") * secs, f("events")), "{h}");
        assert!(close(f("sim_ns_per_host_second") * secs, f("sim_ns")), "{h}");
        assert_eq!(h["sim_ns"], r["simulated_ns"]);
    }
    // A run's host seconds are its thread's CPU time, which its wall time bounds.
    assert!(
        v["host"]["wall_seconds"].as_f64().unwrap()
            >= runs.iter().map(|h| h["host_seconds"].as_f64().unwrap()).fold(0.0, f64::max)
    );
    assert_eq!(v["host"]["runs_at_once"].as_u64(), Some(runs.len() as u64), "every protocol at once by default");
    assert!(v["host"]["host_cores"].as_u64().is_some_and(|n| n >= 1));
    args.push("--no-host-stats");
    let out = isolsim(&args);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(v.get("host").is_none(), "left out");
}

/// The x86 preset runs the experiment on its own machine (TSO, IPI-driven
/// TLB shootdowns) as given, and every vmalloc flush completes.
#[test]
fn x86_preset_runs_the_experiment_safely() {
    let out = isolsim(&["run", "--preset", "x86-server", "--set", "run.duration_us=3000", "--json"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    for r in v["reports"].as_array().unwrap() {
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
    // The header says the run stopped early, when and why; the table covers that much time.
    let head = s.lines().next().unwrap();
    assert!(head.contains("3000 µs configured"), "{head}");
    let why = s.lines().nth(1).unwrap();
    assert!(why.contains("no-flush: stopped early, after") && why.contains("stale translation"), "{why}");
    let simulated = s.lines().find(|l| l.trim_start().starts_with("Simulated time (µs)")).unwrap();
    let shown: f64 = simulated.split_whitespace().last().unwrap().parse().unwrap();
    assert!(shown < 3000.0 && why.contains(&format!("after {shown:.2} µs")), "{simulated}\n{why}");
    // So do JSON and the run-wide CSV.
    let json_args: Vec<&str> = args.iter().copied().chain(["--json"]).collect();
    let v: serde_json::Value = serde_json::from_slice(&isolsim(&json_args).stdout).unwrap();
    let r = &v["reports"][0];
    assert_eq!(r["configured_ns"], 3_000_000.0);
    assert_eq!(r["simulated_ns"].as_f64().unwrap(), shown * 1000.0);
    assert!(r["stopped_early"].as_str().unwrap().contains("stale translation"));
    let runs = dir.path().join("runs.csv");
    let csv_args: Vec<&str> = args.iter().copied().chain(["--csv", "--csv-runs", runs.to_str().unwrap()]).collect();
    assert_eq!(isolsim(&csv_args).status.code(), Some(1));
    let mut rdr = csv::Reader::from_path(&runs).unwrap();
    let head = rdr.headers().unwrap().clone();
    let row = rdr.records().next().unwrap().unwrap();
    let get = |k: &str| row[head.iter().position(|h| h == k).unwrap()].to_string();
    assert_eq!(get("simulated_ns").parse::<f64>().unwrap(), shown * 1000.0);
    assert!(get("stopped_early").contains("stale translation"));

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

/// Column `key` of CSV `text` as numbers, one per row.
fn column(text: &str, key: &str) -> Vec<f64> {
    let mut rdr = csv::Reader::from_reader(text.as_bytes());
    let i = rdr.headers().unwrap().iter().position(|h| h == key).unwrap_or_else(|| panic!("no column {key}"));
    rdr.records().map(|r| r.unwrap()[i].parse().unwrap_or_else(|e| panic!("{key}: {e}"))).collect()
}

/// The value of the text table's row `label`, per protocol column.
fn row<'a>(text: &'a str, label: &str) -> Vec<&'a str> {
    let line = text.lines().find(|l| l.trim_start().starts_with(label)).unwrap_or_else(|| panic!("no row {label}"));
    line[line.find(label).unwrap() + label.len()..].split_whitespace().collect()
}

#[test]
fn json_csv_and_text_carry_the_same_runs() {
    let dir = tempfile::tempdir().unwrap();
    let runs_file = dir.path().join("runs.csv");
    // 10 ms: long enough for the deferred protocol's TLB flushes to interrupt a CPU in the kernel.
    let base: Vec<&str> = ["run", "--protocol", "broadcast", "--protocol", "deferred"]
        .into_iter()
        .chain(SMALL[..4].iter().copied())
        .chain(["--set", "run.duration_us=10000"])
        .collect();
    let with = |extra: &[&str]| {
        let args: Vec<&str> = base.iter().copied().chain(extra.iter().copied()).collect();
        let out = isolsim(&args);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    };
    // JSON: one object, the run's frame and then the reports.
    let v: serde_json::Value = serde_json::from_str(&with(&["--json"])).expect("JSON");
    assert!(v["version"].as_str().unwrap().starts_with("isolsim "));
    assert!(v["preset"].as_str().unwrap().starts_with("arm64-server + run.cpus=16"));
    assert_eq!((v["seed"].as_u64(), v["duration_us"].as_u64()), (Some(1), Some(10000)));
    assert_eq!(v["config"]["run"]["isolated"], 4);
    assert_eq!(v["config"]["machine"]["mode"], "arm");
    let reports = v["reports"].as_array().unwrap();
    assert_eq!(reports.iter().map(|r| r["name"].as_str().unwrap()).collect::<Vec<_>>(), ["broadcast", "deferred"]);
    let penalty = &v["entry_penalty_vs_broadcast_ns"];
    let mean = |i: usize| reports[i]["syscalls"]["all"]["mean"].as_f64().unwrap();
    // The same difference, up to the last bit of the printed means.
    let (printed, recomputed) = (penalty["deferred"].as_f64().unwrap(), mean(1) - mean(0));
    assert!((printed - recomputed).abs() <= 1e-12 * recomputed.abs().max(1.0), "{printed} vs {recomputed}");
    assert_eq!(penalty["broadcast"].as_f64().unwrap(), 0.0);

    // Per-CPU CSV: per-CPU figures only; the run-wide ones in --csv-runs.
    let cpus = with(&["--csv", "--csv-runs", runs_file.to_str().unwrap()]);
    let header = cpus.lines().next().unwrap();
    assert!(header.starts_with("protocol,seed,cpu,runtime_ns,noise_ns,"), "{header}");
    for run_wide in ["oslat", "case", "violations", "syscall_mean", "sender"] {
        assert!(!header.contains(run_wide), "{run_wide} in the per-CPU header: {header}");
    }
    assert_eq!(cpus.lines().count(), 1 + 2 * 4, "{cpus}");
    let runs = std::fs::read_to_string(&runs_file).unwrap();
    assert_eq!(runs.lines().count(), 1 + 2, "{runs}");
    // Run-wide sums are the per-CPU rows' sums; figures equal the JSON's.
    let per_protocol = |key: &str| -> Vec<f64> { column(&cpus, key).chunks(4).map(|c| c.iter().sum()).collect() };
    let callbacks: Vec<String> = header.split(',').filter(|h| h.starts_with("ipis_")).map(str::to_string).collect();
    assert!(!callbacks.is_empty(), "deferred IPIs its TLB flushes: {header}");
    for cb in callbacks.iter().map(String::as_str).chain(["tlbi_disturbances"]) {
        assert_eq!(per_protocol(cb), column(&runs, cb), "{cb}");
    }
    for (i, r) in reports.iter().enumerate() {
        assert_eq!(column(&runs, "case4")[i], r["orderings"]["case4"].as_f64().unwrap());
        assert_eq!(column(&runs, "oslat_p99_ns")[i], r["oslat_ns"]["p99"].as_f64().unwrap());
        assert_eq!(column(&runs, "syscalls")[i], r["syscalls"]["all"]["count"].as_f64().unwrap());
        for s in r["senders"].as_array().unwrap() {
            let op = s["op"].as_str().unwrap();
            assert_eq!(column(&runs, &format!("sender_{op}_count"))[i], s["ns"]["count"].as_f64().unwrap());
        }
    }
    assert_eq!(
        column(&runs, "entry_penalty_vs_broadcast_ns")[1],
        (penalty["deferred"].as_f64().unwrap() * 10.0).round() / 10.0
    );

    // The text table shows the same numbers.
    let text = with(&[]);
    let kicks: Vec<f64> = row(&text, "kicks and deferred TLB flushes").iter().map(|v| v.parse().unwrap()).collect();
    assert_eq!(kicks, column(&runs, "kicks"));
    let noise: Vec<f64> = row(&text, "Noise per CPU (µs)").iter().map(|v| v.parse().unwrap()).collect();
    let noise_csv: Vec<f64> = per_protocol("noise_ns").iter().map(|n| (n / 4.0 / 10.0).round() / 100.0).collect();
    assert_eq!(noise, noise_csv);
}

/// The text table's columns stay aligned whatever a label's or a protocol's name's length.
#[test]
fn the_text_table_stays_aligned_with_a_long_protocol_name() {
    let dir = tempfile::tempdir().unwrap();
    let long = dir.path().join("deferred-with-a-rather-long-name-for-its-column.S");
    std::fs::write(&long, "// @base deferred\n").unwrap();
    let args: Vec<&str> =
        ["run", "--protocol", "broadcast", "--protocol", long.to_str().unwrap()].into_iter().chain(SMALL).collect();
    let out = isolsim(&args);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    // The side-by-side table: from the first section heading to the first blank line after the
    // safety section. Right-aligned columns end where the last column ends, on every line.
    let table: Vec<&str> = text
        .lines()
        .skip_while(|l| !l.starts_with("Isolated CPUs"))
        .take_while(|l| !l.starts_with("osnoise,"))
        .filter(|l| !l.trim().is_empty())
        .collect();
    assert!(table.len() > 30, "{text}");
    let width = table[0].chars().count();
    for l in &table {
        assert_eq!(l.chars().count(), width, "misaligned:\n{l}\n{}", table[0]);
    }
    assert!(table[0].ends_with("deferred-with-a-rather-long-name-for-its-column"), "{}", table[0]);
}

/// Several protocols side by side, without broadcast: no baseline row, and a name given twice
/// is refused.
#[test]
fn protocols_given_one_by_one_run_side_by_side() {
    let args: Vec<&str> = ["run", "--protocol", "ct-work", "--protocol", "deferred"].into_iter().chain(SMALL).collect();
    let out = isolsim(&args);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    let heading = text.lines().find(|l| l.starts_with("Isolated CPUs")).unwrap();
    assert!(heading.find("ct-work").unwrap() < heading.find("deferred").unwrap(), "in the order given: {heading}");
    assert!(!text.contains("entry penalty vs broadcast"), "no baseline without broadcast");
    assert!(text.contains("over the run's other entries"));
    let out = isolsim(&["run", "--protocol", "deferred", "--protocol", "deferred"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("both named `deferred`"));
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
    cfg.run.isolated = 4.into();
    cfg.run.duration_us = 2000;
    // One run at a time, two at once (one thread runs two), and all three at once.
    let json = |jobs: usize| {
        let r = isolsim::experiment::run(&cfg, &isolsim::workloads::kernel::FILES, &builtins(), 5, jobs, &|_, _| {})
            .unwrap();
        serde_json::to_string(&r).unwrap()
    };
    let one = json(1);
    assert_eq!(one, json(2));
    assert_eq!(one, json(0));
}

/// The default run (64 CPUs, 100 ms): every ordering of the seed occurs
/// under both deferring protocols, and nothing is unsafe. About 8 s of CPU
/// in release builds: `cargo test --release --test run -- --ignored`.
#[test]
#[ignore]
fn default_run_exercises_every_ordering_safely() {
    let cfg = isolsim::config::preset("arm64-server").unwrap();
    let reports =
        isolsim::experiment::run(&cfg, &isolsim::workloads::kernel::FILES, &builtins(), 1, 0, &|_, _| {}).unwrap();
    for r in &reports {
        assert!(r.safety.violations.is_empty(), "{:?}: {}", r.protocol, r.safety.violations[0]);
        if r.protocol != Protocol::Broadcast {
            assert!(r.orderings.all_occurred(), "{:?}: {:?}", r.protocol, r.orderings);
        }
    }
}

/// `run.isolated` as a `nohz_full=` cpulist: the same machine as a count when the list is the
/// last CPUs, and otherwise those CPUs isolated, with the generators the first CPUs left.
#[test]
fn isolated_cpus_can_be_given_as_a_nohz_full_cpulist() {
    // A 1.5 ms broadcast run on 16 CPUs with `run.isolated` set, and `extra` options.
    let run = |isolated: &str, extra: &[&str]| {
        let set = format!("run.isolated={isolated}");
        let mut args = vec!["run", "--no-host-stats", "--protocol", "broadcast", "--set", "run.cpus=16"];
        args.extend(["--set", &set, "--set", "run.duration_us=1500"]);
        args.extend(extra);
        let out = isolsim(&args);
        assert!(out.status.success(), "{isolated}: {}", String::from_utf8_lossy(&out.stderr));
        out
    };
    let json =
        |isolated: &str| serde_json::from_slice::<serde_json::Value>(&run(isolated, &["--json"]).stdout).unwrap();
    let cpus_of = |v: &serde_json::Value| -> Vec<u64> {
        v["reports"][0]["isolated"].as_array().unwrap().iter().map(|r| r["cpu"].as_u64().unwrap()).collect()
    };
    // The last four CPUs by count or by list: the same run.
    let (count, list) = (json("4"), json("12-15"));
    assert_eq!(count["reports"], list["reports"]);
    assert_eq!(cpus_of(&count), [12, 13, 14, 15]);
    // Anywhere else: those CPUs run the isolated task; the first four others generate activity.
    let spread = json("nohz_full=0-1,8,14");
    assert_eq!(cpus_of(&spread), [0, 1, 8, 14]);
    // Who sends: per-core statistics of the same run.
    let d = tempfile::tempdir().unwrap();
    let stats = d.path().join("stats.json");
    run("nohz_full=0-1,8,14", &["--stats", stats.to_str().unwrap()]);
    let stats: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&stats).unwrap()).unwrap();
    let senders: Vec<u64> = stats[0]["cores"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["ipis_sent"].as_u64().unwrap() + c["tlbis_sent"].as_u64().unwrap() > 0)
        .map(|c| c["cpu"].as_u64().unwrap())
        .collect();
    assert!(!senders.is_empty() && senders.iter().all(|c| [2, 3, 4, 5].contains(c)), "senders on {senders:?}");
    let isolated_noise: f64 =
        spread["reports"][0]["isolated"].as_array().unwrap().iter().map(|r| r["noise_ns"].as_f64().unwrap()).sum();
    assert!(isolated_noise > 0.0, "the kicks reach the listed CPUs");

    // Lists that do not fit the run are refused before anything runs.
    for (bad, want) in [
        ("4-20", "names CPU 20, but the run has cpus = 16"),
        ("7-4", "a range runs from low to high"),
        ("0-13", "4 housekeeping generators + 14 isolated CPUs do not fit in cpus = 16"),
    ] {
        let set = format!("run.isolated={bad}");
        let out = isolsim(&["run", "--set", "run.cpus=16", "--set", &set]);
        assert_eq!(out.status.code(), Some(2), "{bad}");
        assert!(out.stdout.is_empty());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(want), "{bad}: {err}");
    }
}
