//! Probes, watched loads and watched stores of timed runs.

use std::sync::Arc;

use cpu_model::asm::assemble;
use cpu_model::code::CodeSpace;
use cpu_model::isa::Reg;
use cpu_model::machine::{Machine, MachineConfig, Probe, ThreadInit, run};
use memory_model::WriteId;
use memory_model::memory::FlatMemory;
use sim::Engine;

#[test]
fn probes_log_each_retirement_with_registers_and_watched_loads_name_their_write() {
    // P0 writes 5 then 6 to [0x100]; P1 waits, then reads it twice.
    let p0 = assemble("MOV X1, #5\nSTR X1, [X0]\nMOV X1, #6\nSTR X1, [X0]\nDMB ISH\ndone0: NOP", 0x1000).unwrap();
    let p1 = assemble("work 5000\nLDR X2, [X0]\nloop: ADD X3, X3, #1\nCMP X3, #3\nB.NE loop\nLDR X4, [X0, #8]", 0x2000)
        .unwrap();
    let done0 = p0.labels["done0"];
    let looped = p1.labels["loop"];
    let mut code = CodeSpace::new();
    code.add(p0);
    code.add(p1);
    let threads = vec![
        ThreadInit { pc: 0x1000, regs: vec![(Reg::x(0), 0x100)], ..Default::default() },
        ThreadInit { pc: 0x2000, regs: vec![(Reg::x(0), 0x100)], ..Default::default() },
    ];
    let mut m = Machine::new(Arc::new(MachineConfig::default()), Arc::new(code), &threads, FlatMemory::new());
    m.set_probes(&[
        Probe { pc: looped, regs: [Reg::x(3), Reg::ZR, Reg::ZR] },
        Probe { pc: done0, regs: [Reg::x(1), Reg::ZR, Reg::ZR] },
    ]);
    m.set_watch(&[0x100]);
    let mut engine = Engine::new(m);
    run(&mut engine, &[0, 0], u64::MAX).unwrap();
    let m = engine.model();

    let p1 = m.observed(1);
    let counts: Vec<u64> = p1.probe_hits.iter().map(|h| h.values[0]).collect();
    assert_eq!(counts, vec![1, 2, 3], "one hit per iteration, X3 after the ADD");
    assert!(p1.probe_hits.iter().all(|h| h.probe == 0));
    assert!(p1.probe_hits.windows(2).all(|w| w[0].at <= w[1].at));
    let p0 = m.observed(0);
    assert_eq!(p0.probe_hits.len(), 1);
    assert_eq!((p0.probe_hits[0].probe, p0.probe_hits[0].values[0]), (1, 6));

    // Only the load of the watched address is logged; it read P0's second store.
    assert_eq!(p1.watched_loads.len(), 1);
    let l = p1.watched_loads[0];
    assert_eq!((l.addr, l.value, l.source.tid), (0x100, 6, 0));
    let stores = m.watched_stores();
    assert_eq!(stores.iter().map(|s| s.value).collect::<Vec<_>>(), vec![5, 6]);
    assert_eq!(l.source, stores[1].write);
    assert!(stores[1].at <= l.satisfied_at && l.satisfied_at <= l.retired_at);
    assert_ne!(l.source, WriteId::INIT);
}

/// The read of a read-modify-write is logged like a load's, a failed CAS's included: the read a
/// decision on the value rests on may be an atomic's (issue 21: ct-work's sender loads the
/// context word, then decides on what its CASAL read).
#[test]
fn watched_read_modify_writes_log_their_read_a_failed_cas_included() {
    // P0 stores 7, then loads the word, then CASes it expecting 5 (fails: it holds 7), then
    // swaps in 9.
    let p0 = assemble(
        "MOV X1, #7\nSTR X1, [X0]\nDMB ISH\nLDR X2, [X0]\nMOV X3, #5\nMOV X4, #8\nCASAL X3, X4, [X0]\nMOV X5, #9\nSWPAL X5, X6, [X0]",
        0x1000,
    )
    .unwrap();
    let mut code = CodeSpace::new();
    code.add(p0);
    let threads = vec![ThreadInit { pc: 0x1000, regs: vec![(Reg::x(0), 0x100)], ..Default::default() }];
    let mut m = Machine::new(Arc::new(MachineConfig::default()), Arc::new(code), &threads, FlatMemory::new());
    m.set_watch(&[0x100]);
    let mut engine = Engine::new(m);
    run(&mut engine, &[0], u64::MAX).unwrap();
    let m = engine.model();
    let reads: Vec<(u64, u64)> = m.observed(0).watched_loads.iter().map(|l| (l.pc - 0x1000, l.value)).collect();
    // The LDR, the failed CASAL and the SWPAL, in program order, each with what it read.
    assert_eq!(reads, vec![(12, 7), (24, 7), (32, 7)]);
    assert!(m.observed(0).watched_loads.windows(2).all(|w| w[0].satisfied_at <= w[1].satisfied_at));
    // The CAS wrote nothing; the swap did.
    assert_eq!(m.watched_stores().iter().map(|s| s.value).collect::<Vec<_>>(), vec![7, 9]);
}
