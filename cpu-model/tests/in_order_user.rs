//! The in-order core for user code (`core.user_code = "in-order"`): on generated user programs
//! it computes what the out-of-order pipeline computes, and running it ahead of the clock
//! changes nothing.

use std::sync::Arc;

use cpu_model::asm::assemble;
use cpu_model::code::CodeSpace;
use cpu_model::core::UserCode;
use cpu_model::isa::Reg;
use cpu_model::machine::{Machine, MachineConfig, ThreadInit};
use memory_model::memory::FlatMemory;
use rand::{Rng, RngExt};
use sim::Engine;
use sim::rng::RngStreams;

/// Each thread's private array (64 words) and the word every thread polls and writes.
const ARRAY: u64 = 0x10_0000;
const SHARED: u64 = 0x20_0000;

/// A user program of register operations, compares, forward branches, barriers, a counted loop, and
/// loads and stores to the thread's array at offsets computed from its registers.
fn program(rng: &mut impl Rng) -> String {
    let regs = ["X2", "X3", "X4", "X5", "X6", "X7"];
    let mut lines = vec!["MOV X9, #5".to_string(), "loop:".to_string()];
    let mut label = 0;
    for _ in 0..rng.random_range(8..30) {
        let mut r = || regs[rng.random_range(0..regs.len())];
        let (a, b, c) = (r(), r(), r());
        let line = match rng.random_range(0..12) {
            0 => format!("ADD {a}, {b}, {c}"),
            1 => format!("SUB {a}, {b}, #{}", rng.random_range(0..100)),
            2 => format!("EOR {a}, {b}, {c}"),
            3 => format!("MUL {a}, {b}, {c}"),
            4 => format!("LSR {a}, {b}, #{}", rng.random_range(0..8)),
            5 => format!("MOV {a}, #{}", rng.random_range(0..1000)),
            6 => format!("CMP {a}, {b}\nCSET {c}, LO"),
            7 => {
                label += 1;
                format!("CMP {a}, #{}\nB.HS skip{label}\nADD {b}, {b}, #1\nskip{label}:", rng.random_range(0..500))
            }
            8 | 9 => format!("AND X10, {a}, #63\nLDR {b}, [X0, X10, LSL #3]"),
            10 => "DMB ISH".to_string(),
            _ => format!("AND X10, {a}, #63\nSTR {b}, [X0, X10, LSL #3]"),
        };
        lines.push(line);
    }
    // Publish a value and read the others' (timing decides what it sees).
    lines.push("STR X2, [X1]\nLDR X11, [X1]\nADD X12, X12, X11".into());
    lines.push("SUB X9, X9, #1\nCBNZ X9, loop\nISB\nMRS X13, CNTVCT_EL0".into());
    lines.join("\n")
}

struct Outcome {
    regs: Vec<Vec<u64>>,
    mem: Vec<(u64, u64)>,
    retired: Vec<u64>,
    end: u64,
    events: u64,
}

/// Runs `programs` at EL0, one per core; `jitter`: with timing noise on every access, drawn
/// from seeded per-core streams.
fn run(programs: &[String], user_code: UserCode, run_ahead: bool, jitter: bool) -> Outcome {
    let mut code = CodeSpace::new();
    let mut threads = vec![];
    for (i, p) in programs.iter().enumerate() {
        let pc = 0x1000 * (i as u64 + 1);
        code.add(assemble(p, pc).unwrap());
        let regs = vec![(Reg::x(0), ARRAY + 0x1000 * i as u64), (Reg::x(1), SHARED), (Reg::x(2), i as u64 + 1)];
        threads.push(ThreadInit { pc, regs, el: 0, ..ThreadInit::default() });
    }
    let mut cfg = MachineConfig::default();
    cfg.core.user_code = user_code;
    cfg.core.in_order_run_ahead = run_ahead;
    if jitter {
        (cfg.jitter, cfg.store_jitter) = (6, 10);
    }
    let n = threads.len();
    let mut engine = Engine::new(Machine::new(Arc::new(cfg), Arc::new(code), &threads, FlatMemory::new()));
    engine.model_mut().seed(&RngStreams::new(3));
    let end = cpu_model::machine::run(&mut engine, &vec![0; n], 10_000_000).unwrap();
    let s = engine.model().state();
    Outcome {
        regs: s.cores.iter().map(|c| (0..14).map(|r| c.reg(Reg::x(r))).collect()).collect(),
        mem: s.mem.cells().iter().map(|(a, c)| (*a, c.value)).collect(),
        retired: s.cores.iter().map(|c| c.retired()).collect(),
        end,
        events: engine.scheduler().events_processed(),
    }
}

#[test]
fn in_order_user_code_computes_what_the_pipeline_computes() {
    let mut rng = RngStreams::new(7).stream("programs");
    for case in 0..60 {
        let p = vec![program(&mut rng)];
        let ooo = run(&p, UserCode::OutOfOrder, true, false);
        let ino = run(&p, UserCode::InOrder, true, false);
        // The counter read (X13) is the only value the timing decides in a program alone.
        let strip = |o: &Outcome| o.regs.iter().map(|r| r[..13].to_vec()).collect::<Vec<_>>();
        assert_eq!(strip(&ooo), strip(&ino), "case {case}:\n{}", p[0]);
        assert_eq!(ooo.mem, ino.mem, "case {case}:\n{}", p[0]);
        assert_eq!(ooo.retired, ino.retired, "case {case}");
        // Far fewer events: the in-order core takes one per stretch of user code it runs.
        assert!(
            ino.events * 2 < ooo.events,
            "case {case}: {} events in order, {} out of order",
            ino.events,
            ooo.events
        );
    }
}

#[test]
fn running_ahead_of_the_clock_changes_nothing() {
    let mut rng = RngStreams::new(11).stream("programs");
    let mut noise_moved_the_end = 0;
    for case in 0..30 {
        let p: Vec<String> = (0..3).map(|_| program(&mut rng)).collect();
        let mut ends = vec![];
        for jitter in [false, true] {
            let ahead = run(&p, UserCode::InOrder, true, jitter);
            let step = run(&p, UserCode::InOrder, false, jitter);
            assert_eq!(ahead.regs, step.regs, "case {case}, jitter {jitter}");
            assert_eq!(ahead.mem, step.mem, "case {case}, jitter {jitter}");
            assert_eq!(ahead.end, step.end, "case {case}, jitter {jitter}");
            assert!(ahead.events < step.events, "case {case}: {} events ahead, {} stepping", ahead.events, step.events);
            ends.push(ahead.end);
        }
        noise_moved_the_end += usize::from(ends[0] != ends[1]);
    }
    // The noise is drawn (in the same order both ways), not left out.
    assert!(noise_moved_the_end > 20, "noise changed the end of {noise_moved_the_end} of 30 runs");
}

/// A `DMB` holds the accesses after it until those before it have completed: the second store
/// of `STR; DMB; STR` reaches storage once the first, to a line no cache holds, has completed,
/// and without the barrier long before.
#[test]
fn a_barrier_holds_later_accesses_until_earlier_stores_complete() {
    let second_store_at = |barrier: &str| {
        let text = format!("MOV X2, #1\nSTR X2, [X1]\n{barrier}\nSTR X2, [X0]");
        let mut code = CodeSpace::new();
        code.add(assemble(&text, 0x1000).unwrap());
        let regs = vec![(Reg::x(0), ARRAY), (Reg::x(1), SHARED)];
        let threads = vec![ThreadInit { pc: 0x1000, regs, el: 0, ..ThreadInit::default() }];
        let mut cfg = MachineConfig::default();
        cfg.core.user_code = UserCode::InOrder;
        let memory = cfg.cache.memory;
        let mut engine = Engine::new(Machine::new(Arc::new(cfg), Arc::new(code), &threads, FlatMemory::new()));
        engine.model_mut().set_watch(&[ARRAY]);
        cpu_model::machine::run(&mut engine, &[0], 1_000_000).unwrap();
        let stores = engine.model().watched_stores();
        assert_eq!(stores.len(), 1);
        (stores[0].at, memory)
    };
    let (with, memory) = second_store_at("DMB ISH");
    let (without, _) = second_store_at("NOP");
    assert!(with >= memory && without < memory, "the second store at {with} with the barrier, {without} without");
}
