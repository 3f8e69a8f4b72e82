//! Fuzzed stress runs: deterministic, the shipped protocols pass, and the
//! mutants whose window the timing model hits are found.

use std::path::Path;

use workloads::cause::{AccessKind, Cause};
use workloads::kernel::Protocol;
use workloads::protocol::{Consequence, ProtocolFile};
use workloads::verify::fuzz::{Fuzz, FuzzConfig};

fn mutant(name: &str) -> ProtocolFile {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("protocols/mutants").join(format!("{name}.S"));
    ProtocolFile::load(&path).unwrap()
}

fn fuzz(runs: u64) -> Fuzz {
    Fuzz::new(FuzzConfig { runs, ..FuzzConfig::default() })
}

#[test]
fn deterministic_across_threads() {
    let p = mutant("exit-no-final-dmb");
    let one = serde_json::to_string(&fuzz(24).run(&p, 1, |_| {}).unwrap()).unwrap();
    let two = serde_json::to_string(&fuzz(24).run(&p, 2, |_| {}).unwrap()).unwrap();
    assert_eq!(one, two);
    let other_seed = Fuzz::new(FuzzConfig { runs: 24, seed: 2, ..FuzzConfig::default() });
    assert_ne!(one, serde_json::to_string(&other_seed.run(&p, 2, |_| {}).unwrap()).unwrap());
}

/// The correct protocols survive every ordering of the seed, each of which occurs.
#[test]
fn deferred_and_ct_work_pass_and_cover_every_ordering() {
    for p in [Protocol::Deferred, Protocol::CtWork] {
        let r = fuzz(150).run(&ProtocolFile::builtin(p), 0, |_| {}).unwrap();
        assert_eq!((r.safety_violations, r.isolation_breaks), (0, 0), "{}: {:?}", p.name(), r.first_violation);
        assert!(r.uncovered().is_empty(), "{}: uncovered {:?}", p.name(), r.uncovered());
    }
}

/// The stock kernel is safe and interrupts isolated user code, as its header says.
#[test]
fn broadcast_breaks_isolation_and_nothing_else() {
    let p = ProtocolFile::builtin(Protocol::Broadcast);
    let r = fuzz(20).run(&p, 0, |_| {}).unwrap();
    assert_eq!(Some(r.found()), p.expect);
}

/// Mutants whose window the timed model hits within the default run count.
#[test]
fn fuzz_finds_the_mutants_it_can_hit() {
    let cases = [
        ("entry-no-flush", vec![Consequence::SafetyViolation]),
        ("sender-no-dmb", vec![Consequence::SafetyViolation]),
        ("exit-no-final-dmb", vec![Consequence::IsolationBreak]),
        ("check-reversed", vec![Consequence::IsolationBreak]),
        // Its early flag reads include some made before the task first reached user space: the
        // first exit's race, not an isolation break.
        ("sender-reads-flag-first", vec![Consequence::SafetyViolation]),
    ];
    for (name, found) in cases {
        let p = mutant(name);
        let r = fuzz(FuzzConfig::default().runs).run(&p, 0, |_| {}).unwrap();
        assert_eq!(r.found(), found, "{name}");
        // Nothing the file does not expect (check-reversed's safety half is the one not found).
        assert!(found.iter().all(|c| p.expect.as_ref().unwrap().contains(c)), "{name}");
        if let Some((run, v)) = &r.first_violation {
            // The run rebuilt from its parameters finds the same violation.
            let again = run.experiment(&p).unwrap().run().unwrap();
            assert_eq!(again.safety.violations.first(), Some(v), "{name}");
        }
    }
}

/// A variant defines only the functions it changes; a broken one is bad input.
#[test]
fn a_variant_inherits_what_it_does_not_define() {
    let p = mutant("sender-no-dmb");
    let (name, text) = p.inherited().expect("it defines only isolation_publish");
    assert!(name.contains("exit_to_user_mode") && !name.contains("isolation_publish"), "{name}");
    assert!(text.contains("enter_from_user_mode:") && !text.contains("isolation_publish:"));
    let (_, base) = Protocol::Deferred.file();
    assert_eq!(text.lines().count(), base.lines().count(), "line numbers of the base kept");

    let bad = ProtocolFile::parse("bad.S", "// @base deferred\nisolation_publish:\n        DMB   XYZ\n").unwrap();
    let e = fuzz(1).run(&bad, 1, |_| {}).expect_err("does not assemble");
    assert!(e.to_string().starts_with("bad.S:3:15: "), "{e}");
}

#[test]
fn minimizing_keeps_the_violation_and_takes_events_away() {
    let p = ProtocolFile::load(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("protocols/mutants/entry-no-flush.S"),
    )
    .unwrap();
    let fuzz = Fuzz::new(FuzzConfig { runs: 1, ..FuzzConfig::default() });
    let run = fuzz.draw(0);
    let m = workloads::verify::fuzz::minimize(&p, &run, 200).unwrap().expect("run 0 violates");
    assert_eq!(m.found.kind, "stale translation");
    assert!(m.events.1 < m.events.0, "{:?}", m.events);
    // The minimized run violates the same way when rebuilt from its parameters.
    let again = m.run.experiment(&p).unwrap().run().unwrap();
    assert_eq!(again.safety.violations.first(), Some(&m.found));
    assert_eq!(workloads::verify::fuzz::minimize(&p, &run, 200).unwrap().as_ref(), Some(&m), "deterministic");
}

#[test]
fn minimizing_a_break_keeps_its_cause_and_takes_events_away() {
    let p = mutant("exit-no-final-dmb");
    let fuzz = Fuzz::new(FuzzConfig { runs: 60, ..FuzzConfig::default() });
    let report = fuzz.run(&p, 1, |_| {}).unwrap();
    let run = report.first_break.expect("exit-no-final-dmb breaks isolation within 60 runs");
    let m = workloads::verify::fuzz::minimize_break(&p, &run, 300).unwrap().expect("the run breaks when rebuilt");
    assert!(m.events.1 < m.events.0, "{:?}", m.events);
    assert!(matches!(m.found.cause(), Cause::Reordered(_)), "{}", m.found.cause());
    // The minimized run breaks the same way when rebuilt from its parameters.
    let again = m.run.experiment(&p).unwrap().run().unwrap();
    assert_eq!(again.first_break.as_ref(), Some(&m.found));
    assert_eq!(again.events, m.events.1);
    // A protocol without breaks has nothing to minimize.
    let deferred = ProtocolFile::builtin(Protocol::Deferred);
    assert_eq!(workloads::verify::fuzz::minimize_break(&deferred, &run, 10).unwrap(), None);
}

/// The cause comes from the order the run recorded: the sender's data store still buffered
/// when its flag read took its value (sender-no-dmb), the ISOLATED store reaching memory after
/// the ERET (exit-no-final-dmb); a protocol that interrupts without reading is a decision.
#[test]
fn causes_come_from_the_recorded_order_of_writes_and_reads() {
    // The default campaign's first violating run (`fuzz_finds_the_mutants_it_can_hit`), alone.
    let p = mutant("sender-no-dmb");
    let report = fuzz(1).draw(274).experiment(&p).unwrap().run().unwrap();
    let v = report.safety.violations.first().expect("run 274 violates");
    let Some(Cause::Reordered(pairs)) = v.cause() else { panic!("{:?}", v.cause()) };
    let u = &pairs[0];
    assert_eq!((u.cpu, u.first.kind, u.second.kind), (0, AccessKind::Store, AccessKind::Load), "{u}");
    assert_eq!((u.first.what.as_str(), u.second.what.as_str()), ("cachep->cpu_cache", "cpu1.isol_flags"));
    assert!(u.seen.as_deref().is_some_and(|s| s.contains("cycle")) && u.rule.contains("DMB ISH"), "{u}");

    let r = fuzz(20).run(&mutant("exit-no-final-dmb"), 0, |_| {}).unwrap();
    let b = r.first_break_evidence.as_ref().expect("a break");
    let Cause::Reordered(pairs) = b.cause() else { panic!("{}", b.cause()) };
    assert_eq!((pairs[0].first.what.as_str(), pairs[0].second.kind), ("cpu1.isol_flags", AccessKind::Eret));

    let r = fuzz(3).run(&ProtocolFile::builtin(Protocol::Broadcast), 0, |_| {}).unwrap();
    let cause = r.first_break_evidence.as_ref().unwrap().cause().to_string();
    assert!(
        cause.starts_with("no reordering: the sender decided at cycle") && cause.contains("without reading"),
        "{cause}"
    );
}
