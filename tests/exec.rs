//! `isolsim exec` as a user runs it: the bundled scenarios show what they claim with both
//! settings of their switch, bad input is one positioned line with exit code 2, a run that does
//! not finish exits 1, and output is deterministic.

mod common;

use std::process::{Command, Output};

use common::root;
use serde_json::Value;

fn isolsim(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_isolsim")).args(args).current_dir(root()).output().expect("runs")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Runs `exec` with `--json` and returns the report.
fn exec_json(args: &[&str]) -> Value {
    let mut all = vec!["exec"];
    all.extend_from_slice(args);
    all.push("--json");
    let out = isolsim(&all);
    assert!(out.status.success(), "{:?}: {}", args, text(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("JSON report")
}

/// Runs `exec` on a scenario that must be rejected: returns stderr (one line), checking the
/// exit code and that nothing reached stdout.
fn bad_input(args: &[&str]) -> String {
    let mut all = vec!["exec"];
    all.extend_from_slice(args);
    let out = isolsim(&all);
    assert_eq!(out.status.code(), Some(2), "{args:?}: {}", text(&out.stderr));
    assert!(out.stdout.is_empty(), "{}", text(&out.stdout));
    let err = text(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    err.trim_end().to_string()
}

/// A scratch directory for one test's files.
/// Removed when the test ends.
fn scratch(test: &str) -> tempfile::TempDir {
    tempfile::Builder::new().prefix(&format!("isolsim-exec-{test}-")).tempdir().unwrap()
}

fn write(dir: &std::path::Path, name: &str, body: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, body).unwrap();
    p.display().to_string()
}

/// The value of `[report] words` entry `expr`.
fn word(r: &Value, expr: &str) -> u64 {
    let w = r["words"].as_array().unwrap().iter().find(|w| w["expr"] == expr);
    w.unwrap_or_else(|| panic!("no word {expr}"))["value"].as_u64().unwrap()
}

fn reg(r: &Value, name: &str) -> u64 {
    let w = r["regs"].as_array().unwrap().iter().find(|w| w["name"] == name);
    w.unwrap_or_else(|| panic!("no reg {name}"))["value"].as_u64().unwrap()
}

fn cpu(r: &Value, n: usize) -> &Value {
    &r["per_cpu"][n]
}

fn rows<'a>(r: &'a Value, key: &str, cpu: u64) -> Vec<&'a Value> {
    r[key].as_array().unwrap().iter().filter(|x| x["cpu"] == cpu).collect()
}

const PATCH: &str = "workloads/scenarios/patch-text.toml";
const UNMAP: &str = "workloads/scenarios/unmap.toml";
const BROADCAST: &str = "workloads/scenarios/ipi-broadcast.toml";

#[test]
fn patched_code_runs_after_ivau_and_kick() {
    let r = exec_json(&[PATCH]);
    let irqs = rows(&r, "exceptions", 1);
    assert_eq!(irqs.len(), 1, "CPU 1 took exactly the kick");
    assert_eq!(irqs[0]["kind"], "irq");
    let kick = irqs[0]["taken_at"].as_u64().unwrap();
    // Stale copies may run between the store and the invalidation, never after the kick.
    for s in rows(&r, "stale_instructions", 1) {
        assert!(s["times"]["last"].as_u64().unwrap() < kick, "stale after the kick: {s}");
    }
    let (old, new, first_new) = (word(&r, "counts"), word(&r, "counts + 8"), word(&r, "counts + 16"));
    assert_eq!(old + new, 100);
    assert!(new > 0, "CPU 1 executed the new instruction");
    assert_eq!(old, first_new, "once the new instruction ran, the old one never ran again");
    assert!(first_new <= word(&r, "kicked_at") + 1, "new from the kick on at the latest");
    assert_eq!(reg(&r, "1:x0"), 2);
}

#[test]
fn stale_instruction_reported_without_sync() {
    let r = exec_json(&[PATCH, "--define", "SYNC=0"]);
    assert_eq!(cpu(&r, 1)["irqs"], 0, "no kick");
    let stale = rows(&r, "stale_instructions", 1);
    assert_eq!(stale.len(), 1, "{stale:?}");
    let s = stale[0];
    assert_eq!(
        (s["at"].as_str(), s["executed"].as_str(), s["newest"].as_str()),
        (Some("loop/site"), Some("MOV X0,#1"), Some("MOV X0,#2"))
    );
    assert_eq!(s["executed_write"], "init");
    assert!(s["newest_write"].as_str().unwrap().starts_with("P0#"), "{s}");
    let count = s["times"]["count"].as_u64().unwrap();
    assert_eq!(cpu(&r, 1)["stale_instructions"].as_u64(), Some(count));
    assert_eq!(word(&r, "counts + 8"), 0, "CPU 1 never saw the new instruction");
    assert!(count > 50, "every iteration after the store was stale: {count}");
    assert_eq!(reg(&r, "1:x0"), 1);
}

#[test]
fn unmapped_page_still_used_without_tlbi() {
    let r = exec_json(&[UNMAP, "--define", "TLBI=0"]);
    assert_eq!(cpu(&r, 1)["sync_exceptions"], 0);
    assert_eq!(cpu(&r, 1)["tlbi_disturbances"], 0);
    assert_eq!(word(&r, "results"), 42, "the load after the unmap read the old page");
    assert_eq!(word(&r, "results + 16"), 0, "no fault");
    let stale = rows(&r, "stale_translations", 1);
    assert!(!stale.is_empty());
    for s in stale {
        assert_eq!(s["at"], "buf");
        assert!(s["pte_changed_at"].is_u64() && s["shootdown_completed_at"].is_null(), "{s}");
    }
}

#[test]
fn unmapped_page_faults_after_tlbi() {
    let r = exec_json(&[UNMAP]);
    let ex = rows(&r, "exceptions", 1);
    assert_eq!(ex.len(), 1);
    assert_eq!(ex[0]["kind"], "sync (class 0x25: data abort)");
    assert_eq!(word(&r, "results + 16"), 0x4000_0000, "FAR_EL1 is the unmapped VA");
    assert_eq!(word(&r, "results + 24") >> 26, 0x25, "ESR_EL1: data abort from EL1");
    assert_eq!(cpu(&r, 1)["tlbi_disturbances"], 1, "the broadcast TLBI reached CPU 1");
    assert!(cpu(&r, 1)["done"].as_bool().unwrap(), "the scenario's handler ended CPU 1");
    let fault = ex[0]["taken_at"].as_u64().unwrap();
    for s in rows(&r, "stale_translations", 1) {
        // Only the window between the PTE store and the TLBI: no invalidation had completed.
        assert!(s["shootdown_completed_at"].is_null() && s["times"]["last"].as_u64().unwrap() < fault, "{s}");
    }
}

#[test]
fn broadcast_call_interrupts_every_cpu_once_per_call() {
    let r = exec_json(&[BROADCAST]);
    assert_eq!(r["cpus"], 8);
    assert_eq!(cpu(&r, 0)["irqs"], 0, "the caller is skipped");
    for n in 1..8 {
        assert_eq!(cpu(&r, n)["irqs"], 2, "CPU {n}");
    }
    // Each call waits for targets that compute WORK = 500 cycles in an interrupt handler.
    assert!(word(&r, "durations") > 500 && word(&r, "durations + 8") > 500);
}

#[test]
fn text_report_shows_table_records_and_values() {
    let out = isolsim(&["exec", PATCH, "--define", "SYNC=0"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let s = text(&out.stdout);
    for needle in [
        "scenario  workloads/scenarios/patch-text.toml\n",
        "config    defaults (mode arm, 2500 MHz)\n",
        "defines   SYNC=0 ITERATIONS=100",
        "cpus      8 of 8 in the topology\n",
        "cpu  el  state    irq  sync  stale-insn  stale-xlat  tlbi-recv  at\n",
        "  2   1  running    0     0           0           0          0  idle_wait\n",
        "executed `MOV X0,#1` (init), newest `MOV X0,#2` (P0#",
        "stale translations: none\n",
        "  counts + 8  = 0 (0x0)\n",
    ] {
        assert!(s.contains(needle), "missing {needle:?} in\n{s}");
    }
}

#[test]
fn exec_is_deterministic() {
    for args in [&[UNMAP][..], &[PATCH, "--json"][..]] {
        let mut all = vec!["exec"];
        all.extend_from_slice(args);
        let (a, b) = (isolsim(&all), isolsim(&all));
        assert!(a.status.success());
        assert_eq!(text(&a.stdout), text(&b.stdout));
    }
}

#[test]
fn bad_scenario_key_reports_file_line_col() {
    let dir = scratch("key");
    let f = write(
        dir.path(),
        "s.toml",
        "[[program]]\ntext = \"main: NOP\"\n[[cpu]]\ncpus = 0\nstart = \"main\"\nirq = true\n",
    );
    let e = bad_input(&[&f]);
    assert_eq!(
        e,
        format!(
            "{f}:6:1: unknown key `cpu[0].irq`, expected one of `cpus`, `start`, `el`, `irqs`, `mmu`, `regs` (did you mean `irqs`?)"
        )
    );
    let f = write(dir.path(), "t.toml", "kernel = \"yes\"\n");
    assert_eq!(
        bad_input(&[&f]),
        format!("{f}:1:10: wrong type for `kernel`: expected a boolean, found string \"yes\"")
    );
}

#[test]
fn program_errors_point_into_the_program_or_the_scenario() {
    let dir = scratch("prog");
    write(dir.path(), "p.S", "main:\n    MOV X0, #1\n    STXP W2, X1, X3, [X0]\n");
    let f = write(dir.path(), "s.toml", "[[program]]\nfile = \"p.S\"\n[[cpu]]\ncpus = 0\nstart = \"main\"\n");
    let p = dir.path().join("p.S").display().to_string();
    assert_eq!(bad_input(&[&f]), format!("{p}:3:5: unsupported instruction `STXP`"));
    let f = write(dir.path(), "i.toml", "[[program]]\ntext = '''\nmain: NOP\n      B nowhere\n'''\n");
    assert_eq!(bad_input(&[&f]), format!("{f}:4:9: undefined label `nowhere`"));
}

#[test]
fn missing_labels_bad_defines_and_too_many_cpus_are_bad_input() {
    let dir = scratch("layout");
    let base = "[defines]\nN = 1\n[[program]]\ntext = \"main: NOP\"\n[[cpu]]\ncpus = 0\nstart = \"main\"\n";
    let f = write(dir.path(), "label.toml", &base.replace("start = \"main\"", "start = \"mian\""));
    assert_eq!(bad_input(&[&f]), format!("{f}:7:9: no program has an instruction at a label `mian`"));
    let f = write(dir.path(), "cpus.toml", &format!("cpus = 64\n{base}"));
    assert_eq!(bad_input(&[&f]), format!("{f}:1:8: cpus = 64, but the configuration's topology has 8 cores"));
    let f = write(dir.path(), "ok.toml", base);
    assert_eq!(
        bad_input(&[&f, "--define", "M=2"]),
        format!("{f}: --define M=2: the scenario's [defines] has no `M` (it has: N)")
    );
    assert_eq!(bad_input(&[&f, "--define", "N=2 +"]), format!("{f}: --define N=2 +: column 4: expected an immediate"));
    assert!(bad_input(&[&f, "--preset", "nope"]).starts_with("unknown preset `nope`"));
}

#[test]
fn unfinished_run_exits_1_saying_what_the_cpus_do() {
    let dir = scratch("spin");
    let f = write(
        dir.path(),
        "s.toml",
        "max_cycles = 5000\n[[data]]\nname = \"flag\"\nbytes = 8\n[[program]]\ntext = \"\"\"\nwait: LDR X1, [X0]\n      CBZ X1, wait\n\"\"\"\n\
         [[cpu]]\ncpus = 0\nstart = \"wait\"\nregs = { x0 = \"flag\" }\n",
    );
    let out = isolsim(&["exec", &f]);
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    let e = text(&out.stderr);
    assert!(e.starts_with(&format!("{f}: no completion within 5000 cycles: P0 blocked at pc 0x400000")), "{e}");
}

#[test]
fn small_topology_from_a_config_file_and_fewer_cpus() {
    let dir = scratch("topo");
    let cfg = write(dir.path(), "c.toml", "[machine.topology]\nclusters_per_socket = 1\ncores_per_cluster = 2\n");
    let r = exec_json(&[PATCH, "--config", &cfg]);
    assert_eq!((r["cpus"].as_u64(), r["topology_cores"].as_u64()), (Some(2), Some(2)));
    assert_eq!(reg(&r, "1:x0"), 2);
    let f = write(
        dir.path(),
        "s.toml",
        "cpus = 3\n[[program]]\ntext = \"main: NOP\"\n[[cpu]]\ncpus = \"all\"\nstart = \"main\"\n\
         regs = { x1 = \"NR_CPUS\", x2 = \"PERCPU_BASE + CPU * PERCPU_SIZE\" }\n[report]\nregs = [\"2:x1\", \"2:x2\"]\n",
    );
    let r = exec_json(&[&f]);
    assert_eq!(r["per_cpu"].as_array().unwrap().len(), 3);
    assert_eq!(reg(&r, "2:x1"), 3);
    assert_eq!(reg(&r, "2:x2"), 0x0100_0000 + 2 * 0x4000);
    assert_eq!(r["finish"], serde_json::json!([0, 1, 2]));
}

/// `exec --trace`: the run as a Chrome/Perfetto trace whose slices and instants are the report's
/// records: an `irq` slice per IRQ the report counts, a `stale instruction` instant per stale
/// execution, slices nested on each thread, every event on a named CPU.
#[test]
fn exec_trace_shows_the_reports_irqs_and_stale_instructions() {
    let dir = scratch("trace");
    for (scenario, defines) in [(BROADCAST, vec![]), (PATCH, vec!["--define", "SYNC=0"])] {
        let trace = dir.path().join("t.json");
        let mut args = vec![scenario];
        args.extend_from_slice(&defines);
        let r = exec_json(&args);
        args.extend_from_slice(&["--trace", trace.to_str().unwrap()]);
        let again = exec_json(&args);
        assert_eq!(r, again, "tracing changes no result");
        let t: Value = serde_json::from_slice(&std::fs::read(&trace).unwrap()).unwrap();
        let events = t["traceEvents"].as_array().unwrap();
        let cpus = r["per_cpu"].as_array().unwrap();
        let named: Vec<u64> =
            events.iter().filter(|e| e["name"] == "process_name").map(|e| e["pid"].as_u64().unwrap()).collect();
        assert_eq!(named.len(), cpus.len(), "{scenario}");
        for (c, row) in cpus.iter().enumerate() {
            let on = |name: &str| events.iter().filter(|e| e["name"] == name && e["pid"] == c as u64).count() as u64;
            assert_eq!(on("irq"), row["irqs"].as_u64().unwrap(), "{scenario} CPU {c}");
            assert_eq!(on("stale instruction"), row["stale_instructions"].as_u64().unwrap(), "{scenario} CPU {c}");
            // Each thread's slices nest: sorted by start, one starting inside another ends inside it.
            let mut slices: Vec<(f64, f64)> = events
                .iter()
                .filter(|e| e["ph"] == "X" && e["pid"] == c as u64 && e["tid"] == 0)
                .map(|e| (e["ts"].as_f64().unwrap(), e["ts"].as_f64().unwrap() + e["dur"].as_f64().unwrap()))
                .collect();
            slices.sort_by(|a, b| a.0.total_cmp(&b.0).then(b.1.total_cmp(&a.1)));
            let mut open: Vec<f64> = vec![];
            for (a, z) in slices {
                while open.last().is_some_and(|&end| end <= a) {
                    open.pop();
                }
                if let Some(&end) = open.last() {
                    assert!(
                        z <= end + 1e-9,
                        "{scenario} CPU {c}: a slice ending at {z} leaves its parent ending {end}"
                    );
                }
                open.push(z);
            }
        }
        assert!(events.iter().all(|e| named.contains(&e["pid"].as_u64().unwrap())));
    }
    let stale: u64 = exec_json(&[PATCH, "--define", "SYNC=0"])["per_cpu"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["stale_instructions"].as_u64().unwrap())
        .sum();
    assert!(stale > 0, "the unsynchronized patch runs stale instructions, which the trace showed");
}
