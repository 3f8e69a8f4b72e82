//! The three hazards the isolation protocol exists for, each shown to happen
//! when the synchronization is missing and not to happen when it is there,
//! plus the costs the protocol trades: IPI latency over the topology and the
//! interrupted core's lost time.
//!
//! Every run here is deterministic (no timing jitter), so each assertion is
//! about one exact execution; each also checks its own precondition (the
//! reader did see the flag, the kick did land mid-computation), so that a
//! test cannot pass because the interesting interleaving never happened.

mod common;

use std::path::Path;

use common::root;
use isolsim::config::{Config, with_set};
use isolsim::scenario::{Outcome, Scenario};
use workloads::ipi::IpiBench;

fn run_text(name: &str, text: &str, cfg: &Config) -> Outcome {
    let sc = Scenario::parse(name, Path::new("."), text).unwrap_or_else(|e| panic!("{e}"));
    let prepared = sc.prepare(cfg, &[]).unwrap_or_else(|e| panic!("{e}"));
    prepared.run(cfg, "test").unwrap_or_else(|e| panic!("{e}"))
}

fn run_file(file: &str, defines: &[(&str, &str)]) -> Outcome {
    let sc = Scenario::load(&root().join(file)).unwrap_or_else(|e| panic!("{e}"));
    let defines: Vec<(String, String)> = defines.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    let cfg = Config::default();
    sc.prepare(&cfg, &defines).unwrap_or_else(|e| panic!("{e}")).run(&cfg, "test").unwrap_or_else(|e| panic!("{e}"))
}

fn reg(o: &Outcome, name: &str) -> u64 {
    o.regs.iter().find(|r| r.name == name).unwrap_or_else(|| panic!("no register {name}")).value
}

fn word(o: &Outcome, expr: &str) -> u64 {
    o.words.iter().find(|w| w.expr == expr).unwrap_or_else(|| panic!("no word {expr}")).value
}

// ---------------------------------------------------------------------------------------------
// Stale instructions.

/// CPU 0 patches `site` (MOV X3, #1 → MOV X3, #2) with the maintenance `maint` selects (0: none,
/// 1: DC CVAU + DSB only, 2: DC CVAU, DSB, IC IVAU, DSB), then sets a flag. CPU 1 has run `site`
/// once (its I-cache holds the line), reads the flag late (behind a chain of cache misses) and,
/// seeing it, calls `site` again — after an ISB if `isb`. Returns CPU 1's X2 (the flag it saw),
/// X3 (what `site` gave) and the number of stale executions recorded.
fn patch_and_run(maint: u8, isb: bool) -> (u64, u64, u64) {
    let text = format!(
        r#"
kernel = false
finish = [0, 1]

[defines]
MAINT = {maint}

[[encode]]
name = "NEW_INSN"
insn = "MOV X3, #2"

[[data]]
name = "flag"
bytes = 8

[[data]]
name = "chain"          # four lines nobody has cached: each load misses to memory
bytes = 256

[[program]]
patchable = ["site"]
text = """
site_fn:
site:   MOV   X3, #1
        RET
"""

[[program]]
text = """
writer: work  100
        MOV   X0, #site
        MOV   W1, #NEW_INSN
        STR   W1, [X0]
        MOV   X9, #MAINT
        CBZ   X9, publish
        DC    CVAU, X0
        DSB   ISH
        CMP   X9, #2
        B.NE  publish
        IC    IVAU, X0
        DSB   ISH
publish:
        DMB   ISH
        MOV   X2, #flag
        MOV   X3, #1
        STR   X3, [X2]
"""

[[program]]
text = """
reader: BL    site_fn           // the old instruction is now in this CPU's I-cache
        MOV   X4, #chain
        LDR   X5, [X4]
        ADD   X4, X4, #64
        LDR   X5, [X4, X5]
        ADD   X4, X4, #64
        LDR   X5, [X4, X5]
        ADD   X4, X4, #64
        LDR   X5, [X4, X5]
        MOV   X6, #flag
        LDR   X2, [X6, X5]      // the flag, read after ~800 cycles of misses
        CBZ   X2, out           // predicted not taken: fetch runs ahead into site_fn
        {isb}
        BL    site_fn
out:
"""

[[cpu]]
cpus = "0"
start = "writer"

[[cpu]]
cpus = "1"
start = "reader"

[report]
regs = ["1:x2", "1:x3"]
"#,
        isb = if isb { "ISB" } else { "NOP" }
    );
    let o = run_text("patch.toml", &text, &Config::default());
    let stale = o.stale_instructions.iter().filter(|r| r.cpu == 1).map(|r| r.times.count).sum();
    (reg(&o, "1:x2"), reg(&o, "1:x3"), stale)
}

#[test]
fn stale_instruction_without_ic_ivau() {
    for maint in [0, 1] {
        let (flag, x3, stale) = patch_and_run(maint, true);
        assert_eq!(flag, 1, "precondition: the reader saw the flag (maint {maint})");
        assert_eq!(x3, 1, "maint {maint}: without IC IVAU the I-cache keeps the old instruction");
        assert!(stale > 0, "maint {maint}: the run records the stale execution");
    }
}

#[test]
fn stale_instruction_without_isb() {
    let (flag, x3, stale) = patch_and_run(2, false);
    assert_eq!(flag, 1, "precondition: the reader saw the flag");
    assert_eq!(x3, 1, "fetched before the invalidation and never refetched: the old instruction");
    assert!(stale > 0, "the run records the stale execution");
}

#[test]
fn patched_instruction_runs_after_ic_ivau_and_isb() {
    let (flag, x3, stale) = patch_and_run(2, true);
    assert_eq!(flag, 1, "precondition: the reader saw the flag");
    assert_eq!(x3, 2, "DC CVAU, DSB, IC IVAU, DSB on the writer and ISB on the reader: the new instruction");
    assert_eq!(stale, 0);
}

// ---------------------------------------------------------------------------------------------
// Stale translations (workloads/scenarios/unmap.toml: CPU 0 unmaps a page CPU 1 keeps reading).

#[test]
fn stale_translation_used_without_tlbi() {
    let o = run_file("workloads/scenarios/unmap.toml", &[("TLBI", "0")]);
    assert_eq!(word(&o, "results"), 42, "after the flag, CPU 1 still reads the unmapped page");
    let uses: Vec<_> = o.stale_translations.iter().filter(|r| r.cpu == 1).collect();
    assert!(!uses.is_empty(), "the run records the stale translation");
    assert!(uses.iter().all(|r| r.pte_changed_at.is_some() && r.shootdown_completed_at.is_none()));
    assert!(o.exceptions.iter().all(|e| e.cpu != 1), "no fault: the TLB never forgot the page");
}

#[test]
fn no_stale_translation_after_tlbi_and_dsb() {
    let o = run_file("workloads/scenarios/unmap.toml", &[]);
    let fault = o.exceptions.iter().find(|e| e.cpu == 1).expect("CPU 1 faults once the translation is gone");
    assert!(fault.kind.contains("0x25"), "a data abort: {}", fault.kind);
    assert_eq!(word(&o, "results + 16"), 0x4000_0000, "FAR: the unmapped page");
    // Uses of the old translation can only predate the invalidation's completion.
    for r in o.stale_translations.iter().filter(|r| r.cpu == 1) {
        assert_eq!(r.shootdown_completed_at, None, "{r:?}");
        assert!(r.times.last < fault.taken_at, "{r:?}");
    }
}

// ---------------------------------------------------------------------------------------------
// Costs: IPI latency over the topology, and the time an interrupt takes from the core it hits.

#[test]
fn ipi_latency_grows_with_topology_distance() {
    let mut cfg = Config::default();
    let t = &mut cfg.machine.topology;
    (t.sockets, t.clusters_per_socket, t.cores_per_cluster) = (2, 2, 2);
    // CPU 1 shares CPU 0's cluster, CPU 2 its socket, CPU 4 neither.
    let mut last = (0.0, 0);
    let mut steady_delivery = vec![];
    for target in [1, 2, 4] {
        let r = IpiBench::unicast(0, target, 4).run(&cfg.machine, &cfg.kernel).unwrap();
        let now = (r.steady_mean(), r.delivered[0]);
        assert!(now.0 > last.0 && now.1 > last.1, "CPU 0 → {target}: {now:?} after {last:?}");
        last = now;
        steady_delivery.push(r.steady_delivery());
    }
    // Once calls follow each other, the target is the slower side: the next SGI arrives while it
    // is still leaving the previous interrupt, so its handler runs at a point of its own cycle and
    // the delivery counted from the sender's start shrinks by whatever the sender's wake-up took.
    // A near target can then measure the same delivery as a farther one; the farthest still
    // measures more than the nearest.
    assert!(steady_delivery[2] > steady_delivery[0], "{steady_delivery:?}");
}

/// CPU 1 computes for 50 000 cycles at EL1 with interrupts enabled; CPU 0 sends it one call
/// (smp_call_function_single, wait) 5 000 cycles in. Returns the run's end (CPU 1's last
/// cycle) and CPU 1's interrupt (taken, returned).
fn interrupted_computation(cfg: &Config) -> (u64, u64, u64) {
    let text = r#"
finish = [1]
cpus = 2

[[program]]
text = """
sender: work  5000
        MOV   X0, #1
        MOV   X1, #ipi_nop
        MOV   X2, #0
        MOV   X3, #1
        BL    smp_call_function_single
        B     sender_end
sender_end:
"""

[[program]]
text = """
worker: work  50000
"""

[[cpu]]
cpus = "0"
start = "sender"

[[cpu]]
cpus = "1"
start = "worker"
irqs = true
"#;
    let o = run_text("interrupt.toml", text, cfg);
    let irqs: Vec<_> = o.exceptions.iter().filter(|e| e.cpu == 1).collect();
    assert_eq!(irqs.len(), 1, "one interrupt on CPU 1: {irqs:?}");
    let e = irqs[0];
    assert_eq!(e.kind, "irq");
    let returned = e.returned_at.expect("the handler returned");
    assert!(5_000 < e.taken_at && returned < 50_000, "precondition: the kick lands mid-computation: {e:?}");
    (o.end_cycle, e.taken_at, returned)
}

#[test]
fn interrupt_entry_and_exit_cost_shows_in_the_interrupted_core_timeline() {
    let base = Config::default();
    let (end, taken, returned) = interrupted_computation(&base);
    let lost = returned - taken;
    // The computation is split at the interrupt and resumes after the ERET: it ends late by
    // the time the interrupt took (plus the pipeline refill before it resumes).
    assert!((50_000 + lost..=50_000 + lost + 20).contains(&end), "end {end}, interrupt {lost}");
    // Dearer exception entry and return cost the interrupted core exactly that much more.
    let mut dear = with_set(&base, "machine.core.exception_entry_cycles=1150").unwrap();
    dear = with_set(
        &dear,
        &format!("machine.core.exception_return_cycles={}", base.machine.core.exception_return_cycles + 500),
    )
    .unwrap();
    assert_eq!(base.machine.core.exception_entry_cycles, 150, "the arithmetic below assumes the default");
    let (end2, taken2, returned2) = interrupted_computation(&dear);
    assert_eq!(taken2, taken, "the interrupt arrives when it did");
    assert_eq!((returned2 - taken2) - lost, 1000 + 500, "entry +1000, return +500");
    assert_eq!(end2 - end, 1500);
}
