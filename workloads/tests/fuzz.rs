//! Fuzzed stress runs: deterministic, the shipped protocols pass, and the
//! mutants whose window the timing model hits are found.

use std::path::Path;

use workloads::fuzz::{Fuzz, FuzzConfig};
use workloads::kernel::Protocol;
use workloads::protocol::{Consequence, ProtocolFile};

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
    let m = workloads::fuzz::minimize(&p, &run, 200).unwrap().expect("run 0 violates");
    assert_eq!(m.violation.kind, "stale translation");
    assert!(m.events.1 < m.events.0, "{:?}", m.events);
    // The minimized run violates the same way when rebuilt from its parameters.
    let again = m.run.experiment(&p).unwrap().run().unwrap();
    assert_eq!(again.safety.violations.first(), Some(&m.violation));
    assert_eq!(workloads::fuzz::minimize(&p, &run, 200).unwrap().as_ref(), Some(&m), "deterministic");
}
