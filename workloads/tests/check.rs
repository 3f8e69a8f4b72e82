//! `workloads::check`: the bounded exhaustive check of protocol files.

use std::path::PathBuf;

use workloads::check::{Check, CheckConfig, CheckReport};
use workloads::kernel::Protocol;
use workloads::protocol::{Consequence, ProtocolFile};
use workloads::replay::{Case, ReplayFile};

fn check(p: &ProtocolFile) -> CheckReport {
    Check::new(CheckConfig::default()).run(p).unwrap()
}

fn mutants() -> Vec<ProtocolFile> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("protocols/mutants");
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    files.iter().map(|f| ProtocolFile::load(f).unwrap()).collect()
}

#[test]
fn correct_protocols_are_safe_within_the_bound_and_cover_every_ordering() {
    for p in [Protocol::Deferred, Protocol::CtWork] {
        let r = check(&ProtocolFile::builtin(p));
        assert_eq!(r.found(), [], "{}: {:?}", p.name(), r.counterexamples().next());
        assert!(!r.stats.bound_hit(), "{}: {:?}", p.name(), r.stats);
        assert!(r.coverage.all_occurred(), "{}: {:?}", p.name(), r.coverage);
        assert_eq!(r.coverage.interrupted_in_user, 0);
    }
}

/// Two isolated CPUs (the sender kicks both): the correct protocols are still safe, every path
/// explored, within a small bound.
#[test]
fn with_two_isolated_cpus_the_correct_protocols_are_safe_within_a_small_bound() {
    let cfg = CheckConfig { cpus: 3, bound: 80, ..CheckConfig::default() };
    for p in [Protocol::CtWork, Protocol::Deferred] {
        let r = Check::new(cfg.clone()).run(&ProtocolFile::builtin(p)).unwrap();
        assert_eq!(r.found(), [], "{}: {:?}", p.name(), r.counterexamples().next());
        assert!(!r.stats.bound_hit(), "{}: {:?}", p.name(), r.stats);
        assert!(r.coverage.all_occurred(), "{}: {:?}", p.name(), r.coverage);
    }
}

/// Every mutant is found with two isolated CPUs too, by the CPU the shortest path breaks.
#[test]
#[ignore = "about two minutes: cargo test --release -- --ignored"]
fn with_two_isolated_cpus_every_mutant_shows_its_expected_consequence() {
    let cfg = CheckConfig { cpus: 3, ..CheckConfig::default() };
    for p in mutants() {
        let r = Check::new(cfg.clone()).run(&p).unwrap();
        assert!(!r.stats.bound_hit(), "{}: {:?}", p.name, r.stats);
        if p.name == "entry-no-flush" {
            assert_eq!(r.found(), [], "no translations in the explorer");
            continue;
        }
        assert_eq!(Some(r.found()), p.expect, "{}", p.name);
        assert!(r.counterexamples().all(|c| (1..=2).contains(&c.cpu)));
    }
}

#[test]
fn broadcast_interrupts_isolated_user_code() {
    let r = check(&ProtocolFile::builtin(Protocol::Broadcast));
    assert_eq!(r.found(), [Consequence::IsolationBreak]);
    assert!(r.coverage.interrupted_in_user > 0);
}

/// Every shipped mutant but one shows exactly the consequence its file
/// expects. The exception needs a TLB, which the explorer does not model
/// (fuzzing finds it).
#[test]
fn every_mutant_shows_its_expected_consequence() {
    for p in mutants() {
        let r = check(&p);
        if p.name == "entry-no-flush" {
            assert_eq!(r.found(), [], "no translations in the explorer");
            continue;
        }
        assert_eq!(Some(r.found()), p.expect, "{}", p.name);
        for c in r.counterexamples() {
            assert_eq!(c.cpu, 1);
            assert!(!c.steps.is_empty() && !c.what.is_empty());
        }
    }
}

#[test]
fn counterexamples_replay_from_their_file_to_the_same_consequence() {
    let p = mutants().into_iter().find(|p| p.name == "check-reversed").unwrap();
    let cfg = CheckConfig::default();
    let r = Check::new(cfg.clone()).run(&p).unwrap();
    assert_eq!(r.counterexamples().count(), 2);
    for c in r.counterexamples() {
        let file = ReplayFile::new(&p, Case::Check { config: cfg.clone(), counterexample: c.clone() });
        let back: ReplayFile = serde_json::from_str(&serde_json::to_string(&file).unwrap()).unwrap();
        assert_eq!(back, file);
        let Case::Check { config, .. } = &back.case else { panic!("a check case") };
        let replayed = Check::new(config.clone()).replay(&back.protocol().unwrap(), &c.steps).unwrap();
        assert!(replayed.found.contains(&(c.consequence, c.what.clone())), "{:?}", replayed.found);
        assert!(replayed.rows.iter().any(|r| r.cpu == 0) && replayed.rows.iter().any(|r| r.cpu == 1));
        assert!(!replayed.graph.threads.is_empty());
    }
    // A path cut short does not end where the counterexample does.
    let c = r.safety.as_ref().unwrap();
    let short = &c.steps[..c.steps.len() / 2];
    let replayed = Check::new(cfg).replay(&p, short).unwrap();
    assert!(!replayed.found.iter().any(|f| f.0 == Consequence::SafetyViolation));
}

#[test]
fn the_same_check_gives_the_same_report() {
    let p = mutants().into_iter().find(|p| p.name == "sender-no-dmb").unwrap();
    let a = serde_json::to_string(&check(&p)).unwrap();
    assert_eq!(a, serde_json::to_string(&check(&p)).unwrap());
}

#[test]
fn an_entry_hook_that_never_returns_stops_at_the_bound() {
    let text = "// @base deferred\nenter_from_user_mode:\nspin:\n        B     spin\nentry_hook_done:\n        RET\n";
    let p = ProtocolFile::parse("spin.S", text).unwrap();
    let r = Check::new(CheckConfig { bound: 60, ..CheckConfig::default() }).run(&p).unwrap();
    assert!(r.stats.model_bound_hits > 0, "{:?}", r.stats);
    assert_eq!(r.stats.finals, 0, "no path gets past the loop");
}

#[test]
fn a_variant_that_does_not_assemble_is_reported_with_its_line() {
    let p = ProtocolFile::parse("bad.S", "// @base deferred\nisolation_publish:\n        DMB   ISHH\n        RET\n")
        .unwrap();
    let e = Check::new(CheckConfig::default()).run(&p).expect_err("an error").to_string();
    assert!(e.starts_with("bad.S:3:"), "{e}");
}

/// Stronger models find no more: whatever a protocol does wrong under SC it does wrong under TSO,
/// and under TSO, under ARMv8, so a protocol safe under ARMv8 is safe under all three. For every
/// shipped protocol and mutant, found(sc) ⊆ found(tso) ⊆ found(arm) (consequences, 2 CPUs).
#[test]
fn stronger_models_find_no_more_than_weaker_ones() {
    let mut all: Vec<ProtocolFile> = Protocol::ALL.into_iter().map(ProtocolFile::builtin).collect();
    all.extend(mutants());
    for p in all {
        let found = |mode: memory_model::Mode| {
            let r = Check::new(CheckConfig { mode, ..CheckConfig::default() }).run(&p).unwrap();
            assert!(!r.stats.bound_hit(), "{} under {mode}: {:?}", p.name, r.stats);
            r.found()
        };
        let (sc, tso, arm) =
            (found(memory_model::Mode::Sc), found(memory_model::Mode::Tso), found(memory_model::Mode::Arm));
        assert!(sc.iter().all(|c| tso.contains(c)), "{}: sc finds {sc:?}, tso {tso:?}", p.name);
        assert!(tso.iter().all(|c| arm.contains(c)), "{}: tso finds {tso:?}, arm {arm:?}", p.name);
    }
}
