//! What the fuzz campaign of `tests/fuzz_inputs.rs` found, each input now read as it should be:
//! a positioned error (`file:line:col: what`, inside the input) or a result, never a panic, a
//! hang or an error that does not say where.

use std::path::Path;

use isolsim::config::Config;
use isolsim::scenario::Scenario;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn shipped(path: &str) -> String {
    std::fs::read_to_string(root().join(path)).unwrap()
}

/// The error of scenario `text` (programs in workloads/scenarios) laid out on the default machine.
fn scenario_error(text: &str) -> String {
    let dir = root().join("workloads/scenarios");
    let sc = Scenario::parse("s.toml", &dir, text).unwrap();
    sc.prepare(&Config::default(), &[]).err().expect("refused").to_string()
}

#[test]
fn scenario_data_too_large_to_identity_map_is_shown_at_its_size() {
    // tlb-flush turns the MMU on: its data is identity-mapped, and 4 GiB of it needs more page
    // tables than the pool holds. The error used to name the file only.
    let text = shipped("workloads/scenarios/tlb-flush.toml").replace("bytes = 8\n", "bytes = 4294967295\n");
    let line = text.lines().position(|l| l == "bytes = 4294967295").unwrap() + 1;
    let e = scenario_error(&text);
    assert!(
        e.starts_with(&format!(
            "s.toml:{line}:9: identity map of the data (this entry the largest) and the page tables, 0x4000000.."
        )),
        "{e}"
    );
    assert!(e.ends_with(": table pool exhausted"), "{e}");
}

#[test]
fn a_scenario_symbol_named_page_tables_is_shown_where_it_is_defined() {
    let text = shipped("workloads/scenarios/tlb-flush.toml").replace("[defines]\n", "[defines]\nPAGE_TABLES = 1\n");
    let line = text.lines().position(|l| l == "PAGE_TABLES = 1").unwrap() + 1;
    assert_eq!(
        scenario_error(&text),
        format!("s.toml:{line}:1: `PAGE_TABLES` names the page-table pool; choose another name")
    );
}

#[test]
fn a_replayed_run_whose_mmu_cannot_be_built_is_refused_with_the_key() {
    // A replay file's fuzz run carries its machine; `"page_bytes": 4097` in one panicked laying
    // out the page tables ("alignment 4097 is not a power of two"). The experiment's one check
    // of its configuration now covers the MMU, whatever the configuration came from.
    use isolsim::cpu_model::machine::MachineConfig;
    use isolsim::workloads::experiment::{Experiment, ExperimentConfig};
    use isolsim::workloads::kernel::{KernelConfig, Protocol};
    use isolsim::workloads::protocol::ProtocolFile;
    let mut machine = MachineConfig::default();
    machine.tlb.page_bytes = 4097;
    let run = ExperimentConfig { cpus: 4, isolated: 1.into(), ..ExperimentConfig::default() };
    let p = ProtocolFile::builtin(Protocol::Deferred);
    let e = Experiment::build_with_protocol(&machine, &KernelConfig::default(), &run, &p, 1).err().expect("refused");
    assert!(e.to_string().contains("page_bytes = 4097 is not a power of two"), "{e}");
    let keys = Experiment::check(&machine, &run).expect_err("refused").keys;
    assert_eq!(keys, ["machine.tlb.page_bytes"]);
}

#[test]
fn a_run_with_a_million_scheduled_operations_builds_in_linear_time() {
    // A replay file's run with `"vmalloc_per_s": 2147483647` over 400 µs (about a million
    // operations, within the limit) took 48 s to build: each page-table descriptor of the
    // layout's identity map was inserted below the schedule's millions of words, one at a time.
    // Descriptors and tables are now set in one merge each (`FlatMemory::init_all`): about 1 s.
    use isolsim::cpu_model::machine::MachineConfig;
    use isolsim::workloads::activity::ActivityConfig;
    use isolsim::workloads::experiment::{Experiment, ExperimentConfig};
    use isolsim::workloads::kernel::{KernelConfig, Protocol};
    let activity = ActivityConfig { vmalloc_per_s: 2_147_483_647.0, generators: 1, ..ActivityConfig::default() };
    let run =
        ExperimentConfig { cpus: 2, isolated: 1.into(), duration_us: 400, activity, ..ExperimentConfig::default() };
    let began = std::time::Instant::now();
    Experiment::build(&MachineConfig::default(), &KernelConfig::default(), &run, Protocol::Broadcast, 1)
        .expect("builds");
    assert!(began.elapsed() < std::time::Duration::from_secs(15), "{:?}", began.elapsed());
}

#[test]
fn isolated_cpus_that_overflow_the_cpu_count_are_refused() {
    // A replay file's run with `"isolated": 18446744073709551615` overflowed `generators +
    // isolated` in the configuration check (a panic with overflow checks, a wrong sum without).
    use isolsim::workloads::experiment::ExperimentConfig;
    let run = ExperimentConfig { isolated: usize::MAX.into(), ..ExperimentConfig::default() };
    let e = run.validate().expect_err("refused");
    assert_eq!(e.keys, ["cpus", "isolated", "activity.generators"]);
}

#[test]
fn a_check_replay_file_naming_a_cpu_the_check_lacks_is_refused_at_it() {
    // `"cpu": 18446744073709551615` in a check counterexample overflowed in the path's analysis.
    use isolsim::workloads::protocol::ProtocolFile;
    use isolsim::workloads::verify::check::{Check, CheckConfig};
    use isolsim::workloads::verify::replay::{Case, ReplayFile};
    let p = ProtocolFile::load(&root().join("workloads/protocols/mutants/entry-no-isb.S")).unwrap();
    let report = Check::new(CheckConfig::default()).run(&p).unwrap();
    let cex = report.counterexamples().next().expect("a counterexample").clone();
    let file = ReplayFile::new(&p, Case::Check { config: CheckConfig::default(), counterexample: cex });
    let mut v = serde_json::to_value(&file).unwrap();
    v["counterexample"]["cpu"] = serde_json::json!(u64::MAX);
    let text = serde_json::to_string_pretty(&v).unwrap();
    let line = text.lines().position(|l| l.trim() == "\"cpu\": 18446744073709551615,").expect("the key") + 1;
    let e = ReplayFile::parse("t.json", &text).expect_err("refused");
    assert!(
        e.starts_with(&format!("t.json:{line}:"))
            && e.contains(": the counterexample's cpu = 18446744073709551615 is not one of the check's 2 CPUs"),
        "{e}"
    );
}

#[test]
fn nested_calls_in_a_litmus_test_are_a_nesting_level_each() {
    // `cmpxchg(cmpxchg(cmpxchg(…` a few thousand deep overflowed the parser's stack (SIGABRT):
    // parentheses and operators counted towards the nesting limit, calls did not.
    let depth = 5000;
    let text = format!(
        "C deep\n{{}}\nP0(int *x) {{\n  int r0 = {}0{};\n}}\nexists (0:r0=0)\n",
        "cmpxchg(x, 0, ".repeat(depth),
        ")".repeat(depth)
    );
    let e = isolsim::litmus::compile_text("deep.litmus", &text).expect_err("refused").to_string();
    // The thread's body is a level: the 100th call is one too many, at column 12 + 14 × 99.
    assert_eq!(e, format!("deep.litmus:4:{}: nesting deeper than 100 levels", 12 + 14 * 99));
}

#[test]
fn a_section_written_as_an_array_is_refused_at_its_key() {
    // Found by the campaign of seed 6 (config #20596): serde reads a struct from an array of its
    // fields in order, so `topology = [101, 101]` set sockets and clusters_per_socket, and the
    // error about the 40,804 cores it made pointed into the preset instead of this file.
    let text = "[machine]\nclock_mhz = 2100\ntopology = [101, 101]\n";
    let e = isolsim::config::load_text(Some("arm64-server"), "c.toml", text).expect_err("refused").to_string();
    assert_eq!(
        e,
        "c.toml:3:12: wrong type for `machine.topology`: expected a table, found an array (a table's keys are set \
         by name)"
    );
    // The same in an inline table, on the defaults; a table is still merged key by key.
    let e = isolsim::config::load_text(None, "c.toml", "machine = { tlb = [3] }\n").expect_err("refused").to_string();
    assert!(e.starts_with("c.toml:1:19: wrong type for `machine.tlb`: expected a table, found an array"), "{e}");
    let c = isolsim::config::load_text(None, "c.toml", "[machine.topology]\nsockets = 2\n").unwrap();
    assert_eq!(c.machine.topology.sockets, 2);
}

#[test]
fn scenario_and_sweep_tables_written_as_arrays_are_refused_at_the_value() {
    // The same reading of a struct from an array, in the other TOML readers: a scenario's
    // `program = [["tlb-flush.S", "0x500000"]]` set `file` and `text` from the two strings.
    let text = shipped("workloads/scenarios/tlb-flush.toml")
        .replace("[[program]]\nfile = \"tlb-flush.S\"\nbase = 0x500000\n", "")
        .replace("[defines]\n", "program = [[\"tlb-flush.S\", \"0x500000\"]]\n\n[defines]\n");
    let line = text.lines().position(|l| l.starts_with("program = ")).unwrap() + 1;
    let dir = root().join("workloads/scenarios");
    let e = Scenario::parse("s.toml", &dir, &text).expect_err("refused").to_string();
    assert_eq!(
        e,
        format!(
            "s.toml:{line}:12: wrong type for `program[0]`: expected a table, found an array (a table's keys are set by \
             name)"
        )
    );
    let sweep = "sweep = [\"name\", \"description\"]\n[set]\nrun.cpus = 4\n";
    let e = isolsim::sweep::Sweep::parse("w.toml", sweep, &root().join("workloads/protocols"))
        .map(|_| ())
        .expect_err("refused");
    assert_eq!(
        e.to_string(),
        "w.toml:1:9: wrong type for `sweep`: expected a table, found an array (a table's keys are set by name)"
    );
    // Other wrong types keep the reader's own message.
    let e = isolsim::sweep::Sweep::parse("w.toml", "sweep = 3\n", &root().join("workloads/protocols"))
        .map(|_| ())
        .expect_err("refused");
    assert!(e.to_string().starts_with("w.toml:1:9: wrong type for `sweep`: expected a table, found integer"), "{e}");
}
