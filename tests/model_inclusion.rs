//! The three memory models nest: every outcome SC allows, TSO allows, and every outcome TSO
//! allows, ARMv8 allows. A property no choice of test can be tuned to: on random AArch64 litmus
//! programs (written as text and run through the litmus front end, exhaustively, as `isolsim
//! litmus --exhaustive --model M` runs them), outcomes(sc) ⊆ outcomes(tso) ⊆ outcomes(arm),
//! and each set is non-empty (every program has an SC execution).
//!
//! One exception is by design, and the test checks it is the only one: a store-release followed
//! in program order by a load-acquire (`STLR` … `LDAR`). ARMv8's release/acquire is RCsc, so the
//! pair never reorders; under `tso` the cores run the x86 mapping of the kernel's
//! `smp_store_release`/`smp_load_acquire`, plain moves, and the store may stay buffered past the
//! load (the classic suite's `SB+rel+acqs`: tso Sometimes, arm Never). For such programs the
//! property is sc ⊆ tso and sc ⊆ arm.
//!
//! The programs use what the kernel paths use: plain, acquire and release accesses, every DMB and
//! DSB option, ISB, address, data and control dependencies (with and without ISB), and the LSE
//! atomics SWP, LDADD and CAS in relaxed, A, L and AL forms.

mod common;

use std::collections::BTreeSet;
use std::fmt::Write as _;

use isolsim::Mode;
use isolsim::litmus::report::report;
use isolsim::litmus::run::run_test;
use proptest::prelude::*;
use proptest::test_runner::{Config as ProptestConfig, RngSeed, TestCaseError};

const LOCS: [&str; 3] = ["x", "y", "z"];
const BARRIERS: [&str; 13] = [
    "DMB SY",
    "DMB ISH",
    "DMB ISHLD",
    "DMB ISHST",
    "DMB LD",
    "DMB ST",
    "DMB NSH",
    "DSB SY",
    "DSB ISH",
    "DSB ISHLD",
    "DSB ISHST",
    "DSB NSH",
    "ISB",
];

/// One drawn operation of a thread; decoded against the thread's earlier loads.
#[derive(Clone, Debug)]
struct Raw {
    /// 0..=5 nothing, 6 a barrier, 7 a control dependency, 8 a control dependency and ISB.
    pre: u8,
    barrier: u8,
    /// 0..=3 load, 4..=7 store, 8 SWP, 9 LDADD, 10 CAS.
    kind: u8,
    /// Plain, acquire (A), release (L), both (AL; for plain accesses: plain).
    order: u8,
    /// 0 none, 1 address, 2 data (stores and RMWs), 3 both.
    dep: u8,
    src: u8,
    loc: u8,
    expect: u8,
}

fn raw() -> impl Strategy<Value = Raw> {
    (0u8..9, 0u8..13, 0u8..11, 0u8..4, 0u8..4, any::<u8>(), 0u8..3, 0u8..3).prop_map(
        |(pre, barrier, kind, order, dep, src, loc, expect)| Raw { pre, barrier, kind, order, dep, src, loc, expect },
    )
}

/// A litmus program: per thread, its instructions and the registers its reads land in.
#[derive(Debug)]
struct Program {
    text: String,
    /// Some thread has an `STLR` before an `LDAR` (RCsc on ARMv8, not under the x86 mapping).
    release_then_acquire: bool,
}

fn program(raw: &[Vec<Raw>]) -> Program {
    let mut next_value = [0u64; 3];
    let mut threads: Vec<Vec<String>> = vec![];
    let mut observed: Vec<String> = vec![];
    let mut release_then_acquire = false;
    for (t, ops) in raw.iter().enumerate() {
        let mut released = false;
        let mut lines = vec![];
        // X0..X2 hold the locations; reads land in X3..X6; scratch from X10 (at most 3 per op).
        let mut reads: Vec<u8> = vec![];
        let mut scratch = 10u8;
        let mut label = 0;
        for r in ops {
            let src = (!reads.is_empty()).then(|| reads[r.src as usize % reads.len()]);
            match (r.pre, src) {
                (6, _) => lines.push(BARRIERS[r.barrier as usize].to_string()),
                (7 | 8, Some(s)) => {
                    lines.push(format!("CBNZ W{s},LC{t}{label}"));
                    lines.push(format!("LC{t}{label}:"));
                    label += 1;
                    if r.pre == 8 {
                        lines.push("ISB".into());
                    }
                }
                _ => {}
            }
            let loc = r.loc as usize;
            // An address dependency: the location's register plus (r ^ r).
            let offset = match (src, r.dep) {
                (Some(s), 1 | 3) => {
                    let z = scratch;
                    scratch += 1;
                    lines.push(format!("EOR X{z},X{s},X{s}"));
                    Some(z)
                }
                _ => None,
            };
            let addr = offset.map_or_else(|| format!("[X{loc}]"), |z| format!("[X{loc},X{z}]"));
            let suffix = ["", "A", "L", "AL"][r.order as usize];
            match r.kind {
                0..=3 => {
                    let dst = 3 + reads.len() as u8;
                    let op = if r.order == 1 { "LDAR" } else { "LDR" };
                    release_then_acquire |= released && op == "LDAR";
                    let addr = if op == "LDAR" { format!("[X{loc}]") } else { addr };
                    lines.push(format!("{op} W{dst},{addr}"));
                    reads.push(dst);
                    observed.push(format!("{t}:X{dst}"));
                }
                4..=7 => {
                    next_value[loc] += 1;
                    let d = value_reg(&mut lines, &mut scratch, src, r.dep, next_value[loc]);
                    let op = if r.order == 2 { "STLR" } else { "STR" };
                    released |= op == "STLR";
                    let addr = if op == "STLR" { format!("[X{loc}]") } else { addr };
                    lines.push(format!("{op} W{d},{addr}"));
                }
                kind => {
                    let dst = 3 + reads.len() as u8;
                    // RMWs take a base register only: an address dependency goes into it.
                    let base = match offset {
                        Some(z) => {
                            let b = scratch;
                            scratch += 1;
                            lines.push(format!("ADD X{b},X{loc},X{z}"));
                            b
                        }
                        None => loc as u8,
                    };
                    match kind {
                        8 => {
                            next_value[loc] += 1;
                            let d = value_reg(&mut lines, &mut scratch, src, r.dep, next_value[loc]);
                            lines.push(format!("SWP{suffix} W{d},W{dst},[X{base}]"));
                        }
                        9 => {
                            let d = value_reg(&mut lines, &mut scratch, src, r.dep, 16);
                            lines.push(format!("LDADD{suffix} W{d},W{dst},[X{base}]"));
                        }
                        _ => {
                            next_value[loc] += 1;
                            let d = value_reg(&mut lines, &mut scratch, src, r.dep, next_value[loc]);
                            lines.push(format!("MOV W{dst},#{}", r.expect));
                            lines.push(format!("CAS{suffix} W{dst},W{d},[X{base}]"));
                        }
                    }
                    reads.push(dst);
                    observed.push(format!("{t}:X{dst}"));
                }
            }
        }
        threads.push(lines);
    }
    let mut text = String::from("AArch64 random\n{\n");
    for t in 0..threads.len() {
        let _ = writeln!(text, "{t}:X0=x; {t}:X1=y; {t}:X2=z;");
    }
    text.push_str("}\n");
    let rows = threads.iter().map(Vec::len).max().unwrap_or(0);
    let width = threads.iter().flatten().map(String::len).max().unwrap_or(1);
    let names: Vec<String> = (0..threads.len()).map(|t| format!("P{t}")).collect();
    let _ = writeln!(text, " {} ;", names.iter().map(|n| format!("{n:width$}")).collect::<Vec<_>>().join(" | "));
    for i in 0..rows {
        let cells: Vec<String> =
            threads.iter().map(|th| format!("{:width$}", th.get(i).map_or("", String::as_str))).collect();
        let _ = writeln!(text, " {} ;", cells.join(" | "));
    }
    observed.extend(LOCS.iter().map(|l| l.to_string()));
    let _ = writeln!(text, "locations [{}]", observed.join("; "));
    text.push_str("exists (x=0)\n");
    Program { text, release_then_acquire }
}

/// A register holding `v`, plus (r ^ r) for a data dependency on `src` (`dep` 2 or 3).
fn value_reg(lines: &mut Vec<String>, scratch: &mut u8, src: Option<u8>, dep: u8, v: u64) -> u8 {
    let d = *scratch;
    *scratch += 1;
    lines.push(format!("MOV W{d},#{v}"));
    if let (Some(s), 2 | 3) = (src, dep) {
        let z = *scratch;
        *scratch += 1;
        lines.push(format!("EOR W{z},W{s},W{s}"));
        lines.push(format!("ADD W{d},W{d},W{z}"));
    }
    d
}

fn programs() -> impl Strategy<Value = Program> {
    prop::collection::vec(prop::collection::vec(raw(), 2..=4), 2..=3).prop_map(|raw| program(&raw))
}

fn outcomes(p: &Program, mode: Mode) -> Result<BTreeSet<Vec<String>>, String> {
    let c = isolsim::litmus::compile_text("random.litmus", &p.text).map_err(|e| format!("{e}\n{}", p.text))?;
    let mut opts = common::exhaustive(mode);
    opts.speculation = 4;
    opts.check_axioms = false;
    let run = run_test(&c, &opts).map_err(|e| format!("{mode}: {e}\n{}", p.text))?;
    let r = report(&c, &run);
    if r.coverage.bound_hit() {
        return Err(format!("{mode}: the exploration hit a bound\n{}", p.text));
    }
    Ok(r.states.into_iter().map(|s| s.values).collect())
}

/// Checks the nesting; returns whether the models differ on `p` (sc ⊊ arm).
fn nested(p: &Program) -> Result<bool, String> {
    let sc = outcomes(p, Mode::Sc)?;
    let tso = outcomes(p, Mode::Tso)?;
    let arm = outcomes(p, Mode::Arm)?;
    if sc.is_empty() {
        return Err(format!("no SC outcome at all\n{}", p.text));
    }
    let tso_or_sc = if p.release_then_acquire { (&sc, "sc") } else { (&tso, "tso") };
    for (small, big, a, b) in [(&sc, &tso, "sc", "tso"), (tso_or_sc.0, &arm, tso_or_sc.1, "arm")] {
        let extra: Vec<&Vec<String>> = small.difference(big).collect();
        if !extra.is_empty() {
            return Err(format!("{a} allows outcomes {b} does not: {extra:?}\n{}", p.text));
        }
    }
    Ok(sc.len() < arm.len())
}

#[test]
fn sc_outcomes_within_tso_within_arm_on_random_programs() {
    let cases = std::env::var("INCLUSION_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(300);
    let config = ProptestConfig {
        cases,
        failure_persistence: None,
        rng_seed: RngSeed::Fixed(0x5c7a_0001),
        max_shrink_iters: 500,
        ..ProptestConfig::default()
    };
    let mut runner = proptest::test_runner::TestRunner::new(config);
    let (ran, differ) = (std::cell::Cell::new(0u32), std::cell::Cell::new(0u32));
    let result = runner.run(&programs(), |p| {
        let d = nested(&p).map_err(TestCaseError::fail)?;
        ran.set(ran.get() + 1);
        differ.set(differ.get() + d as u32);
        Ok(())
    });
    let (ran, differ) = (ran.get(), differ.get());
    if let Err(e) = result {
        panic!("models do not nest: {e}");
    }
    // The property says something only if the programs tell the models apart.
    assert!(differ * 5 >= ran, "only {differ} of {ran} programs have an outcome arm allows and sc does not");
}

#[test]
fn release_then_acquire_is_the_one_place_tso_allows_more_than_arm() {
    let store_release_load_acquire = [
        Raw { pre: 0, barrier: 0, kind: 4, order: 2, dep: 0, src: 0, loc: 0, expect: 0 },
        Raw { pre: 0, barrier: 0, kind: 0, order: 1, dep: 0, src: 0, loc: 1, expect: 0 },
    ];
    let mut other = store_release_load_acquire.clone();
    other[0].loc = 1;
    other[1].loc = 0;
    let p = program(&[store_release_load_acquire.to_vec(), other.to_vec()]);
    assert!(p.release_then_acquire);
    let (tso, arm) = (outcomes(&p, Mode::Tso).unwrap(), outcomes(&p, Mode::Arm).unwrap());
    let sb = vec!["0".to_string(), "0".to_string(), "1".into(), "1".into(), "0".into()];
    assert!(tso.contains(&sb) && !arm.contains(&sb), "SB with STLR/LDAR: tso {tso:?}, arm {arm:?}");
    nested(&p).unwrap();
}

#[test]
fn the_generator_writes_tests_the_front_end_takes() {
    // Every kind of operation, with every dependency and ordering, compiles and runs.
    let all: Vec<Raw> = (0..11u8)
        .map(|kind| Raw {
            pre: if kind % 3 == 0 { 6 } else { 7 + kind % 2 },
            barrier: kind,
            kind,
            order: kind % 4,
            dep: kind % 4,
            src: kind,
            loc: kind % 3,
            expect: 1,
        })
        .collect();
    for chunk in all.chunks(4) {
        let p = program(&[chunk.to_vec(), chunk.to_vec()]);
        for m in Mode::ALL {
            let o = outcomes(&p, m).unwrap_or_else(|e| panic!("{e}"));
            assert!(!o.is_empty(), "{m}");
        }
    }
}
