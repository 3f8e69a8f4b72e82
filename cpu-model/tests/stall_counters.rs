//! Per-core stall cycles by cause (`Core::stall_cycles`) in timed runs: each cause counts when,
//! and only when, its resource is what holds the pipeline up.

use std::sync::Arc;

use cpu_model::asm::assemble;
use cpu_model::code::CodeSpace;
use cpu_model::core::StallCycles;
use cpu_model::machine::{Machine, MachineConfig, ThreadInit, run};
use memory_model::memory::FlatMemory;
use sim::Engine;

/// Runs `text` alone on core 0 with `tune` applied to the defaults: (end cycle, stalls).
fn stalls(text: &str, tune: impl Fn(&mut MachineConfig)) -> (u64, StallCycles) {
    let mut code = CodeSpace::new();
    code.add(assemble(text, 0x1000).unwrap());
    let threads = vec![ThreadInit { pc: 0x1000, ..Default::default() }];
    let mut cfg = MachineConfig::default();
    tune(&mut cfg);
    let mut engine = Engine::new(Machine::new(Arc::new(cfg), Arc::new(code), &threads, FlatMemory::new()));
    let end = run(&mut engine, &[0], u64::MAX).unwrap();
    let s = engine.model().state().cores[0].stall_cycles(end);
    // A stall cannot outlast the run.
    assert!([s.rob_full, s.store_buffer_full, s.barrier].iter().all(|&c| c <= end), "{s:?} in {end} cycles");
    (end, s)
}

/// Stores to `n` distinct cache lines, each a cold miss.
fn cold_stores(n: usize) -> String {
    (0..n).map(|k| format!("MOV X1, #{}\nSTR X0, [X1]\n", 0x10_0000 + 0x1000 * k)).collect()
}

#[test]
fn a_small_store_buffer_stalls_retirement_and_a_large_one_does_not() {
    let text = cold_stores(24);
    let (slow, small) = stalls(&text, |c| c.core.store_buffer_entries = 2);
    let (fast, large) = stalls(&text, |c| c.core.store_buffer_entries = 64);
    assert!(small.store_buffer_full > 0, "{small:?}");
    assert_eq!(large.store_buffer_full, 0, "{large:?}");
    // The run is no shorter, and longer by no more than the time retirement spent waiting for
    // the buffer (the last store's propagation may hide the wait entirely).
    assert!(slow >= fast && slow - fast <= small.store_buffer_full, "{slow} vs {fast}: {small:?}");
}

#[test]
fn a_short_reorder_buffer_fills_behind_a_missing_load() {
    let mut text = String::from("MOV X1, #0x200000\nLDR X2, [X1]\n");
    text += &"ADD X3, X3, #1\n".repeat(60);
    let (_, short) = stalls(&text, |c| c.core.rob_entries = 8);
    let (_, long) = stalls(&text, |c| c.core.rob_entries = 128);
    assert!(short.rob_full > 0, "{short:?}");
    assert_eq!(long.rob_full, 0, "{long:?}");
}

#[test]
fn a_barrier_after_a_missing_store_holds_retirement_until_the_store_is_out() {
    let with = "MOV X1, #0x300000\nSTR X0, [X1]\nDMB ISH\nNOP\n";
    let without = "MOV X1, #0x300000\nSTR X0, [X1]\nNOP\nNOP\n";
    let (end_with, fenced) = stalls(with, |_| {});
    let (end_without, unfenced) = stalls(without, |_| {});
    assert!(fenced.barrier > 0, "{fenced:?}");
    assert_eq!(unfenced.barrier, 0, "{unfenced:?}");
    assert!(end_with - end_without <= fenced.barrier + 10, "{end_with} vs {end_without}: {fenced:?}");
}
