//! The in-order core for user code (`core.user_code = "in-order"`, and `"dataflow"`, the same
//! core timed by dataflow): on generated user programs it computes what the out-of-order
//! pipeline computes, and running it ahead of the clock changes nothing, also through data
//! declared private; a wrong declaration is an error. Timed by dataflow, it takes about as long
//! as the pipeline.

use std::sync::Arc;

use cpu_model::asm::assemble;
use cpu_model::code::CodeSpace;
use cpu_model::core::UserCode;
use cpu_model::isa::Reg;
use cpu_model::machine::{Machine, MachineConfig, RunError, ThreadInit, Touched};
use memory_model::memory::FlatMemory;
use rand::{Rng, RngExt};
use sim::Engine;
use sim::rng::RngStreams;

/// Each thread's private array (64 words) and the word every thread polls and writes.
const ARRAY: u64 = 0x10_0000;
const SHARED: u64 = 0x20_0000;

/// A user program of register operations (64- and 32-bit), compares, forward branches, calls and
/// returns, computed jumps, barriers, a counted loop, and loads and stores to the thread's array at
/// offsets computed from its registers.
fn program(rng: &mut impl Rng) -> String {
    let regs = ["X2", "X3", "X4", "X5", "X6", "X7"];
    let mut lines = vec!["MOV X9, #5".to_string(), "loop:".to_string()];
    let mut label = 0;
    for _ in 0..rng.random_range(8..30) {
        let mut r = || regs[rng.random_range(0..regs.len())];
        let (a, b, c) = (r(), r(), r());
        let w = |x: &str| x.replace('X', "W");
        let line = match rng.random_range(0..19) {
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
            11 => format!("AND X10, {a}, #63\nSTR {b}, [X0, X10, LSL #3]"),
            // 32-bit views: operands and results truncated.
            12 => format!("ADD {}, {}, {}\nCMP {}, #{}", w(a), w(b), w(c), w(a), rng.random_range(0..100)),
            13 => format!("MOV {a}, {b}\nMOV {}, {}", w(c), w(a)),
            14 => format!("ORR {a}, {b}, #255\nLSL {c}, {a}, {b}"),
            15 => {
                label += 1;
                format!("CBZ {a}, skip{label}\nSUB {b}, {b}, #2\nskip{label}:")
            }
            // A call and its return, and a computed jump.
            16 => {
                label += 1;
                format!("B over{label}\nsub{label}:\nADD {a}, {a}, #3\nRET\nover{label}:\nBL sub{label}")
            }
            17 => {
                label += 1;
                format!("ADR X14, to{label}\nBR X14\nADD {b}, {b}, #7\nto{label}:")
            }
            _ => "NOP\nDSB ISH".to_string(),
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

/// How a run is set up.
#[derive(Clone, Copy)]
struct Setup {
    user_code: UserCode,
    run_ahead: bool,
    /// Timing noise on every access, drawn from seeded per-core streams.
    jitter: bool,
    /// Each thread's array declared private to it ([`Machine::keep_private`]).
    private: bool,
}

const IN_ORDER: Setup = Setup { user_code: UserCode::InOrder, run_ahead: true, jitter: false, private: false };

/// Runs `programs` at EL0, one per core.
fn run(programs: &[String], setup: Setup) -> Outcome {
    try_run(programs, setup).unwrap()
}

fn try_run(programs: &[String], setup: Setup) -> Result<Outcome, RunError> {
    let Setup { user_code, run_ahead, jitter, private } = setup;
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
    if private {
        for i in 0..n {
            let array = ARRAY + 0x1000 * i as u64;
            engine.model_mut().keep_private(i, array..array + 64 * 8);
        }
    }
    let end = cpu_model::machine::run(&mut engine, &vec![0; n], 10_000_000)?;
    let s = engine.model().state();
    Ok(Outcome {
        regs: s.cores.iter().map(|c| (0..14).map(|r| c.reg(Reg::x(r))).collect()).collect(),
        mem: s.mem.cells().iter().map(|(a, c)| (*a, c.value)).collect(),
        retired: s.cores.iter().map(|c| c.retired()).collect(),
        end,
        events: engine.scheduler().events_processed(),
    })
}

const DATAFLOW: Setup = Setup { user_code: UserCode::Dataflow, ..IN_ORDER };

#[test]
fn in_order_user_code_computes_what_the_pipeline_computes() {
    let mut rng = RngStreams::new(7).stream("programs");
    // How far each in-order core's end is from the pipeline's, summed over the programs.
    let (mut off_in_order, mut off_dataflow) = (0u64, 0u64);
    for case in 0..60 {
        let p = vec![program(&mut rng)];
        let ooo = run(&p, Setup { user_code: UserCode::OutOfOrder, ..IN_ORDER });
        for setup in [IN_ORDER, DATAFLOW] {
            let ino = run(&p, setup);
            let how = format!("case {case}, {:?}", setup.user_code);
            // The counter read (X13) is the only value the timing decides in a program alone.
            let strip = |o: &Outcome| o.regs.iter().map(|r| r[..13].to_vec()).collect::<Vec<_>>();
            assert_eq!(strip(&ooo), strip(&ino), "{how}:\n{}", p[0]);
            assert_eq!(ooo.mem, ino.mem, "{how}:\n{}", p[0]);
            assert_eq!(ooo.retired, ino.retired, "{how}");
            // Far fewer events: the in-order core takes one per stretch of user code it runs.
            assert!(ino.events * 2 < ooo.events, "{how}: {} events in order, {} out of order", ino.events, ooo.events);
            let off = ino.end.abs_diff(ooo.end);
            match setup.user_code {
                UserCode::Dataflow => off_dataflow += off,
                _ => off_in_order += off,
            }
        }
    }
    // Timed by dataflow, the core ends closer to where the pipeline does than issuing in program
    // order does (not at the same cycle: it has no load-store queue, and its loads and stores
    // are not held by the pipeline's ordering rules).
    assert!(
        off_dataflow < off_in_order,
        "off the pipeline's end by {off_dataflow} cycles by dataflow, {off_in_order} in order"
    );
}

#[test]
fn running_ahead_of_the_clock_changes_nothing() {
    let mut rng = RngStreams::new(11).stream("programs");
    let mut noise_moved_the_end = 0;
    let mut private_saved_events = 0;
    for case in 0..30 {
        let p: Vec<String> = (0..3).map(|_| program(&mut rng)).collect();
        let mut ends = vec![];
        // (Both timings, on alternate cases.)
        let core = if case % 2 == 0 { IN_ORDER } else { DATAFLOW };
        for jitter in [false, true] {
            let step = run(&p, Setup { run_ahead: false, jitter, ..core });
            let ahead = run(&p, Setup { jitter, ..core });
            // The arrays declared private: their accesses run as far as register operations.
            let private = run(&p, Setup { jitter, private: true, ..core });
            for (how, o) in [("ahead", &ahead), ("ahead, private arrays", &private)] {
                assert_eq!(o.regs, step.regs, "case {case}, jitter {jitter}, {how}");
                assert_eq!(o.mem, step.mem, "case {case}, jitter {jitter}, {how}");
                assert_eq!(o.end, step.end, "case {case}, jitter {jitter}, {how}");
                assert!(o.events < step.events, "case {case}, {how}: {} events, {} stepping", o.events, step.events);
            }
            assert!(private.events <= ahead.events, "case {case}: private {}, {}", private.events, ahead.events);
            private_saved_events += usize::from(private.events < ahead.events);
            ends.push(ahead.end);
        }
        noise_moved_the_end += usize::from(ends[0] != ends[1]);
    }
    // The noise is drawn (in the same order both ways), not left out.
    assert!(noise_moved_the_end > 20, "noise changed the end of {noise_moved_the_end} of 30 runs");
    // The private arrays were run ahead through, not ignored.
    assert!(private_saved_events > 40, "private data saved events in {private_saved_events} of 60 runs");
}

/// Data declared private that another core writes while its owner runs ahead through it: the
/// run is an error naming both cores, not a silently different result.
#[test]
fn a_wrong_privacy_declaration_is_an_error() {
    // CPU 0 counts in its array; CPU 1 writes the same words (the declaration says it does not).
    let counter = "MOV X9, #400\nloop:\nLDR X3, [X0]\nADD X3, X3, #1\nSTR X3, [X0]\nSUB X9, X9, #1\nCBNZ X9, loop";
    let intruder = "MOV X9, #400\nloop:\nSTR X9, [X1]\nSUB X9, X9, #1\nCBNZ X9, loop";
    let mut code = CodeSpace::new();
    code.add(assemble(counter, 0x1000).unwrap());
    code.add(assemble(intruder, 0x2000).unwrap());
    let threads = vec![
        ThreadInit { pc: 0x1000, regs: vec![(Reg::x(0), ARRAY)], el: 0, ..ThreadInit::default() },
        ThreadInit { pc: 0x2000, regs: vec![(Reg::x(1), ARRAY)], el: 0, ..ThreadInit::default() },
    ];
    let run = |declared: bool| {
        let mut cfg = MachineConfig::default();
        cfg.core.user_code = UserCode::InOrder;
        let mut engine = Engine::new(Machine::new(Arc::new(cfg), Arc::new(code.clone()), &threads, FlatMemory::new()));
        if declared {
            engine.model_mut().keep_private(0, ARRAY..ARRAY + 64);
        }
        cpu_model::machine::run(&mut engine, &[0, 0], 10_000_000)
    };
    // Undeclared, the two share the word as any two cores do.
    run(false).unwrap();
    match run(true) {
        Err(RunError::Private(f)) => {
            assert_eq!((f.owner, f.by, f.addr, f.touched), (0, 1, ARRAY, Touched::Data));
            assert!(f.at <= f.owner_ahead_to, "{f:?}");
            let text = RunError::Private(f).to_string();
            assert!(text.contains("CPU 1 accessed 0x100000") && text.contains("CPU 0's user code"), "{text}");
        }
        other => panic!("expected a privacy fault, got {:?}", other.map(|_| ())),
    }
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
