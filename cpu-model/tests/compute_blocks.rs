//! Compute blocks (`work N`, `work Xn`) in timed runs.

use std::sync::Arc;

use cpu_model::asm::assemble;
use cpu_model::code::CodeSpace;
use cpu_model::isa::Reg;
use cpu_model::machine::{Machine, MachineConfig, ThreadInit, run};
use memory_model::memory::FlatMemory;
use sim::Engine;

fn finish_time(text: &str) -> (u64, Machine) {
    let mut code = CodeSpace::new();
    code.add(assemble(text, 0x1000).unwrap());
    let threads = vec![ThreadInit { pc: 0x1000, ..Default::default() }];
    let mut engine =
        Engine::new(Machine::new(Arc::new(MachineConfig::default()), Arc::new(code), &threads, FlatMemory::new()));
    let end = run(&mut engine, &[0], u64::MAX).unwrap();
    (end, engine.into_model())
}

#[test]
fn register_length_work_lasts_as_long_as_the_register_says() {
    let (_, m) = finish_time("MOV X10, #40000\nMRS X1, CNTVCT_EL0\nwork X10\nMRS X2, CNTVCT_EL0");
    let c = &m.state().cores[0];
    let took = c.reg(Reg::x(2)) - c.reg(Reg::x(1));
    assert!((40_000..40_100).contains(&took), "work X10 took {took} cycles");
}

#[test]
fn register_length_work_reads_the_value_older_instructions_computed() {
    // The count is computed by an ADD just before: the block must use it,
    // not whatever X10 held when the front end reached the block.
    let (_, m) = finish_time("MOV X10, #1\nADD X10, X10, #29999\nMRS X1, CNTVCT_EL0\nwork X10\nMRS X2, CNTVCT_EL0");
    let c = &m.state().cores[0];
    let took = c.reg(Reg::x(2)) - c.reg(Reg::x(1));
    assert!((30_000..30_100).contains(&took), "work X10 took {took} cycles");
}

/// A register-length block waits for older instructions to retire: it costs
/// a pipeline drain (a few cycles here), not more.
#[test]
fn zero_length_work_costs_only_a_drain() {
    let (with, _) = finish_time("MOV X10, #0\nwork X10\nNOP");
    let (without, _) = finish_time("MOV X10, #0\nNOP\nNOP");
    assert!(with <= without + 20, "work of 0 cycles took {} more", with - without);
}
