//! `WFE` with the exclusive monitor in timed runs: a core waiting as arm64's
//! `smp_cond_load_acquire()` does sleeps until another core writes the watched line.

use std::sync::Arc;

use cpu_model::asm::assemble;
use cpu_model::code::CodeSpace;
use cpu_model::isa::Reg;
use cpu_model::machine::{Machine, MachineConfig, RunError, ThreadInit, run};
use memory_model::memory::FlatMemory;
use sim::Engine;

const FLAG: u64 = 0x8000;

/// Waits for [X0] to become non-zero as `__cmpwait` does (`wait` is `WFE`, or `NOP` for a core
/// that spins), then reads the counter into X3.
fn waiter(wait: &str) -> String {
    format!(
        "wait:
        LDAR  X1, [X0]
        CBNZ  X1, done
        SEVL
        {wait}
        LDXR  X2, [X0]
        CBNZ  X2, wait
        {wait}
        B     wait
done:
        MRS   X3, CNTVCT_EL0"
    )
}

/// Two cores: the waiter, and (if `writes`) a core that sets the flag after `work 20000`.
fn run_pair(wait: &str, writes: bool) -> (Result<u64, RunError>, Machine) {
    let mut code = CodeSpace::new();
    code.add(assemble(&waiter(wait), 0x1000).unwrap());
    let writer = if writes { "work 20000\nMOV X1, #1\nMRS X3, CNTVCT_EL0\nSTLR X1, [X0]" } else { "NOP" };
    code.add(assemble(writer, 0x2000).unwrap());
    let threads = vec![
        ThreadInit { pc: 0x1000, regs: vec![(Reg::x(0), FLAG)], ..Default::default() },
        ThreadInit { pc: 0x2000, regs: vec![(Reg::x(0), FLAG)], ..Default::default() },
    ];
    let machine = Machine::new(Arc::new(MachineConfig::default()), Arc::new(code), &threads, FlatMemory::new());
    let mut engine = Engine::new(machine);
    let end = run(&mut engine, &[0, 0], 10_000_000);
    (end, engine.into_model())
}

#[test]
fn wfe_sleeps_until_another_core_writes_the_watched_line() {
    let (end, m) = run_pair("WFE", true);
    end.expect("both cores finish");
    let (waiter, writer) = (&m.state().cores[0], &m.state().cores[1]);
    assert_eq!(waiter.reg(Reg::x(1)), 1, "the waiter saw the flag");
    let (written, seen) = (writer.reg(Reg::x(3)), waiter.reg(Reg::x(3)));
    assert!(seen > written && seen < written + 500, "written at {written}, seen at {seen}");
    // Asleep for 20 000 cycles: the first check, the WFE that waits, the wake-up, the check that
    // sees the flag (about 20 instructions), not thousands of polling loads.
    assert!(waiter.retired() < 40, "the waiter retired {} instructions", waiter.retired());
}

#[test]
fn a_core_that_spins_instead_polls_all_along() {
    // The same loop with NOP for WFE: the comparison that shows the waiter above slept.
    let (end, m) = run_pair("NOP", true);
    end.expect("both cores finish");
    let waiter = &m.state().cores[0];
    assert_eq!(waiter.reg(Reg::x(1)), 1);
    assert!(waiter.retired() > 1000, "a spinning waiter retired only {} instructions", waiter.retired());
}

#[test]
fn wfe_with_nothing_to_wake_it_waits_for_ever() {
    let (end, _) = run_pair("WFE", false);
    assert!(matches!(end, Err(RunError::Deadlock { .. })), "{end:?}");
}
