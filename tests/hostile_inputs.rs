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
