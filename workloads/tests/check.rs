//! `workloads::verify::check`: the bounded exhaustive check of protocol files.

use std::path::PathBuf;

use workloads::cause::{AccessKind, Cause};
use workloads::experiment::Orderings;
use workloads::kernel::Protocol;
use workloads::litmus::compile_text;
use workloads::litmus::report::{Observation, report};
use workloads::litmus::run::{RunOptions, run_test};
use workloads::protocol::{Consequence, ProtocolFile};
use workloads::verify::check::{Check, CheckConfig, CheckReport, Counterexample, Replayed, Stale};
use workloads::verify::replay::{Case, ReplayFile};

fn check(p: &ProtocolFile) -> CheckReport {
    Check::new(CheckConfig::default()).run(p).unwrap()
}

fn mutant(name: &str) -> ProtocolFile {
    ProtocolFile::load(&PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("protocols/mutants/{name}.S"))).unwrap()
}

/// The shipped mutants, in assembler and in C (`protocols/mutants/*.S`, `*.c`), in file-name order.
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
/// explored, within a small bound. The sender remaps a page (the hazard the explorer covers
/// last); every hazard at once at this shape is `--ignored` below. A split check of each comes
/// to the same verdict and predicts the whole exploration's counts.
#[test]
fn with_two_isolated_cpus_the_correct_protocols_are_safe_within_a_small_bound() {
    let cfg = CheckConfig { cpus: 3, bound: 120, ops: vec!["pte".parse().unwrap()], ..CheckConfig::default() };
    for p in [Protocol::CtWork, Protocol::Deferred] {
        let r = Check::new(cfg.clone()).jobs(2).run(&ProtocolFile::builtin(p)).unwrap();
        assert_eq!(r.found(), [], "{}: {:?}", p.name(), r.counterexamples().next());
        assert!(!r.stats.bound_hit(), "{}: {:?}", p.name(), r.stats);
        assert!(r.coverage.all_occurred(), "{}: {:?}", p.name(), r.coverage);
        assert_split_agrees_with_whole(&ProtocolFile::builtin(p), &cfg, &r);
    }
}

/// Checks a split check of `p` at `cfg` against `whole`, the report of the whole exploration:
/// the same verdict, and for each sender the same orderings occurring (cases 1-4, the exit race,
/// an interrupt in user code). The counts differ: a final state of the whole combines one of
/// each CPU's, and not every combination is reachable (for deferred and broadcast the whole's
/// final states are the product of the parts', for ct-work fewer). The unit tests compare the final monitor states of each CPU, state for state
/// (`each_part_reaches_the_final_monitor_states_the_whole_reaches_for_its_cpu`).
fn assert_split_agrees_with_whole(p: &ProtocolFile, cfg: &CheckConfig, whole: &CheckReport) {
    let split = Check::new(CheckConfig { split: true, ..cfg.clone() }).jobs(2).run(p).unwrap();
    let what = format!("{} at {}", p.name, cfg.shape());
    assert_eq!(split.found(), whole.found(), "{what}: the verdict");
    assert!(!split.stats.bound_hit(), "{what}: {:?}", split.stats);
    assert_eq!(split.parts.len(), cfg.isolated(), "{what}");
    let occurred = |o: &Orderings| {
        let [c1, c2, c3, c4, race] = o.seed_cases();
        [c1, c2, c3, c4, race, o.interrupted_in_user, o.pending].map(|n| n > 0)
    };
    for s in 0..cfg.senders {
        let mut parts = Orderings::default();
        for q in &split.parts {
            parts += &q.coverage_by_sender[s];
        }
        let actual = if cfg.senders > 1 { &whole.coverage_by_sender[s] } else { &whole.coverage };
        assert_eq!(occurred(&parts), occurred(actual), "{what}: sender {s}'s orderings {parts:?} {actual:?}");
    }
}

/// Every mutant is found with two isolated CPUs too, every hazard at once, split (the whole
/// exploration of `entry-flag-after-barrier` passes 20 M states at this shape; the split and
/// the whole are compared with one hazard at a time below).
#[test]
#[ignore = "about a minute: cargo test --release -- --ignored"]
fn with_two_isolated_cpus_every_mutant_shows_its_expected_consequence() {
    let cfg = CheckConfig { cpus: 3, split: true, ..CheckConfig::default() };
    for p in mutants() {
        let r = Check::new(cfg.clone()).jobs(2).run(&p).unwrap();
        assert!(!r.stats.bound_hit(), "{}: {:?}", p.name, r.stats);
        assert_eq!(Some(r.found()), p.expect, "{}", p.name);
        assert!(r.counterexamples().all(|c| (1..=2).contains(&c.cpu)));
    }
}

/// A split check against the whole exploration, for every protocol (the correct ones, broadcast
/// and every mutant, in assembler) with two isolated CPUs and each hazard alone.
#[test]
#[ignore = "about five minutes: cargo test --release -p workloads --test check -- --ignored"]
fn a_split_check_agrees_with_the_whole_exploration_for_every_protocol() {
    let mut all: Vec<ProtocolFile> = [Protocol::Broadcast, Protocol::Deferred, Protocol::CtWork]
        .into_iter()
        .map(ProtocolFile::builtin)
        .chain(mutants().into_iter().filter(|p| p.path.ends_with(".S")))
        .collect();
    all.sort_by(|a, b| a.name.cmp(&b.name));
    for ops in ["data", "patch", "pte"] {
        let cfg = CheckConfig { cpus: 3, ops: vec![ops.parse().unwrap()], ..CheckConfig::default() };
        for p in &all {
            let whole = Check::new(cfg.clone()).jobs(2).run(p).unwrap();
            assert_split_agrees_with_whole(p, &cfg, &whole);
        }
    }
}

/// The cheap protocols of the comparison above, with a page remapped: those whose IPI path and
/// translations differ (broadcast interrupts every CPU; `ipi-no-flush` and `entry-no-flush`
/// leave a stale translation on one path each).
#[test]
fn a_split_check_agrees_with_the_whole_exploration_on_the_interrupt_and_tlb_paths() {
    let cfg = CheckConfig { cpus: 3, bound: 120, ops: vec!["pte".parse().unwrap()], ..CheckConfig::default() };
    for p in [ProtocolFile::builtin(Protocol::Broadcast), mutant("ipi-no-flush"), mutant("entry-no-flush")] {
        let whole = Check::new(cfg.clone()).jobs(2).run(&p).unwrap();
        assert_split_agrees_with_whole(&p, &cfg, &whole);
    }
}

/// A split check is refused when the isolated CPUs share a word one of them writes: a hook
/// that counts the CPUs in the kernel in one global word.
#[test]
fn a_split_check_is_refused_when_isolated_cpus_share_a_written_word() {
    let text = ProtocolFile::builtin(Protocol::Deferred).text.replace(
        "        MOV   X10, #ISOL_BROKEN\n",
        "        MOV   X11, #KERNEL_DATA\n        LDR   X12, [X11]\n        ADD   X12, X12, #1\n        STR   X12, \
         [X11]                  // CPUs in the kernel, one global count\n        MOV   X10, #ISOL_BROKEN\n",
    );
    let p = ProtocolFile::parse("entry-counts.S", &text).unwrap();
    assert_ne!(p.text, ProtocolFile::builtin(Protocol::Deferred).text, "the hook was changed");
    let cfg = CheckConfig { cpus: 3, ops: vec!["data".parse().unwrap()], split: true, ..CheckConfig::default() };
    let e = Check::new(cfg).run(&p).unwrap_err().to_string();
    assert!(e.contains("--split: the isolated CPUs cannot be checked apart (CPU 1's part writes"), "{e}");
    assert!(e.contains("CPU 2's part accesses it"), "{e}");
}

/// A counterexample of a split check replays, from its file, in its part.
#[test]
fn a_split_checks_counterexample_replays_in_its_part() {
    let cfg = CheckConfig { cpus: 3, ops: vec!["pte".parse().unwrap()], split: true, ..CheckConfig::default() };
    let p = mutant("ipi-no-flush");
    let r = Check::new(cfg.clone()).run(&p).unwrap();
    let c = r.safety.as_ref().expect("a stale translation");
    assert_eq!(c.part, Some(0), "{c:?}");
    assert_eq!(c.cpu, 1);
    let file = ReplayFile::new(&p, Case::Check { config: cfg.for_counterexample(c), counterexample: c.clone() });
    let back: ReplayFile = serde_json::from_str(&serde_json::to_string(&file).unwrap()).unwrap();
    let Case::Check { config, counterexample } = &back.case else { panic!("a check case") };
    assert_eq!(config.part, Some(0));
    let replayed = Check::new(config.clone()).replay(&back.protocol().unwrap(), &counterexample.steps).unwrap();
    assert!(replayed.found.iter().any(|f| f.0 == c.consequence), "the path replays in its part");
}

/// The four-CPU shapes of issue 18, split: two senders and two isolated CPUs; one sender and two
/// isolated CPUs entering twice. The correct protocols are safe at both.
#[test]
#[ignore = "about a minute in release: cargo test --release -p workloads --test check -- --ignored"]
fn the_correct_protocols_are_safe_at_four_cpus_split() {
    let shapes = [
        CheckConfig { cpus: 4, senders: 2, split: true, ..CheckConfig::default() },
        CheckConfig { cpus: 3, syscalls: 2, split: true, ..CheckConfig::default() },
    ];
    for cfg in shapes {
        for p in [Protocol::Deferred, Protocol::CtWork] {
            let r = Check::new(cfg.clone()).jobs(2).run(&ProtocolFile::builtin(p)).unwrap();
            let what = format!("{} at {}", p.name(), cfg.shape());
            assert_eq!(r.found(), [], "{what}: {:?}", r.counterexamples().next());
            assert!(!r.stats.bound_hit(), "{what}: {:?}", r.stats);
            for q in &r.parts {
                for (s, c) in q.coverage_by_sender.iter().enumerate() {
                    assert!(c.all_occurred(), "{what}, CPU {}, sender {s}: {c:?}", q.cpu);
                }
            }
        }
    }
}

#[test]
fn broadcast_interrupts_isolated_user_code() {
    let r = check(&ProtocolFile::builtin(Protocol::Broadcast));
    assert_eq!(r.found(), [Consequence::IsolationBreak]);
    assert!(r.coverage.interrupted_in_user > 0);
}

/// Every shipped mutant shows exactly the consequence its file expects at the default shape
/// (one sender patching, publishing and remapping; one isolated CPU).
#[test]
fn every_mutant_shows_its_expected_consequence() {
    for p in mutants() {
        let r = check(&p);
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
        assert!(!replayed.graph().threads.is_empty());
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

/// Runs a litmus text exhaustively under the ARMv8 model, as `isolsim litmus --exhaustive`
/// does, and returns herd's observation word.
fn observation(name: &str, text: &str) -> Observation {
    let c = compile_text(name, text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    let opts = RunOptions { exhaustive: true, ..RunOptions::default() };
    let r = report(&c, &run_test(&c, &opts).unwrap());
    assert!(!r.coverage.bound_hit() && r.axiom_violation.is_none(), "{text}");
    r.observation
}

fn replayed(p: &ProtocolFile, c: &Counterexample) -> Replayed {
    Check::new(CheckConfig::default()).replay(p, &c.steps).unwrap()
}

/// Each mutant's safety violation that a reordering explains exports as a litmus test that
/// the project's parser reads and whose violating outcome the ARMv8 model allows; the
/// others say why they have none. The set of exported mutants is pinned, so that a mutant
/// losing its export fails here.
#[test]
fn every_mutants_reordering_exports_a_litmus_test_whose_outcome_arm_allows() {
    let mut exported = vec![];
    for p in mutants() {
        let r = check(&p);
        for c in r.counterexamples() {
            let name = format!("{}.{}", p.name, c.consequence);
            match replayed(&p, c).litmus(c, &name) {
                Ok(text) => {
                    assert!(text.starts_with(&format!("AArch64 {name}\n")), "{text}");
                    assert!(text.contains("exists ("), "{text}");
                    assert_eq!(observation(&name, &text), Observation::Sometimes, "{text}");
                    exported.push(p.name.clone());
                }
                Err(why) => match c.consequence {
                    Consequence::IsolationBreak => assert!(why.contains("where the CPU was"), "{why}"),
                    Consequence::SafetyViolation => assert!(why.contains("no reordering"), "{name}: {why}"),
                },
            }
        }
    }
    let expected = [
        "entry-dmb-not-dsb",
        "entry-flag-after-barrier",
        "entry-no-dmb",
        "entry-no-isb",
        "sender-no-dmb",
        "sender-reads-flag-first",
    ];
    // Each mutant twice: its assembler (.S) and its C (.c), which compiles to the same reordering.
    let expected: Vec<&str> = expected.iter().flat_map(|n| [*n, *n]).collect();
    assert_eq!(exported, expected);
}

/// The correct protocols' closest paths (the sender skipped a CPU without seeing its entry's
/// state write, as in the mutants' counterexamples) export the same cycle with the protocol's
/// own barriers and atomics: its violating outcome, stale data or a stale instruction, is
/// Never. The mutants' closest paths give Sometimes for the access they break.
///
/// herd7 agrees on every case: `aarch64.cat` orders a fetch after an earlier store only through a
/// DSB before the ISB (`DSB-ob; [CSE]; po`), which deferred's entry hook has (`DSB ISH; ISB`) and
/// the series' (`DMB ISH; ISB`, `entry-dmb-not-dsb`) has not.
#[test]
fn the_closest_paths_export_never_for_the_correct_protocols_and_sometimes_for_the_mutants() {
    let cases: Vec<(ProtocolFile, Vec<(Stale, Observation)>)> = vec![
        (
            ProtocolFile::builtin(Protocol::Deferred),
            vec![(Stale::Data, Observation::Never), (Stale::Instruction, Observation::Never)],
        ),
        (
            ProtocolFile::builtin(Protocol::CtWork),
            vec![(Stale::Data, Observation::Never), (Stale::Instruction, Observation::Never)],
        ),
        (mutant("entry-no-dmb"), vec![(Stale::Data, Observation::Sometimes)]),
        (mutant("sender-no-dmb"), vec![(Stale::Data, Observation::Sometimes)]),
        (mutant("entry-no-isb"), vec![(Stale::Instruction, Observation::Sometimes), (Stale::Data, Observation::Never)]),
        (
            mutant("entry-dmb-not-dsb"),
            vec![(Stale::Instruction, Observation::Sometimes), (Stale::Data, Observation::Never)],
        ),
    ];
    for (p, expect) in cases {
        let check = Check::new(CheckConfig::default());
        let (cpu, steps) = check.deferral_path(&p).unwrap().unwrap_or_else(|| panic!("{}: no deferral path", p.name));
        let r = check.replay(&p, &steps).unwrap();
        for (stale, want) in expect {
            let name = format!("{}.closest.{stale:?}", p.name);
            let text = r.deferral_litmus(cpu, stale, &name).unwrap();
            assert_eq!(observation(&name, &text), want, "{text}");
        }
    }
}

/// The cause names the pair the model let be reordered, on the CPU that reordered it, and
/// what would have ordered it; a counterexample that no reordering explains says so.
#[test]
fn the_cause_names_the_unordered_pair_and_why_the_model_allows_it() {
    type Side = (AccessKind, &'static str);
    fn pair(cpu: usize, first: Side, second: Side) -> (usize, Side, Side) {
        (cpu, first, second)
    }
    let flags = (AccessKind::Store, "cpu1.isol_flags");
    let data_load = (AccessKind::Load, "CHECK_DATA");
    let cases = [
        ("entry-no-dmb", Some(pair(1, flags, data_load))),
        ("entry-flag-after-barrier", Some(pair(1, flags, data_load))),
        ("sender-no-dmb", Some(pair(0, (AccessKind::Store, "CHECK_DATA"), (AccessKind::Load, "cpu1.isol_flags")))),
        (
            "sender-reads-flag-first",
            Some(pair(0, (AccessKind::Store, "CHECK_DATA"), (AccessKind::Load, "cpu1.isol_flags"))),
        ),
        ("entry-no-isb", Some(pair(1, flags, (AccessKind::Fetch, "check_site")))),
        ("entry-dmb-not-dsb", Some(pair(1, flags, (AccessKind::Fetch, "check_site")))),
        ("exit-no-final-dmb", Some(pair(1, flags, (AccessKind::Eret, "")))),
        ("check-reversed", None),
        ("ipi-no-flush", None),
    ];
    for (name, want) in cases {
        let p = mutant(name);
        let r = check(&p);
        let c = r.counterexamples().next().unwrap();
        let cause = replayed(&p, c).cause(c);
        match (want, &cause) {
            (Some((cpu, first, second)), Cause::Reordered(pairs)) => {
                assert_eq!(pairs.len(), 1, "{name}: {cause}");
                let u = &pairs[0];
                assert_eq!((u.cpu, u.first.kind, u.first.what.as_str()), (cpu, first.0, first.1), "{name}: {cause}");
                assert_eq!((u.second.kind, u.second.what.as_str()), (second.0, second.1), "{name}: {cause}");
                let needed = if second.0 == AccessKind::Fetch { "DSB ISH" } else { "DMB ISH" };
                assert!(u.rule.contains(needed), "{name}: {cause}");
                // No full barrier between them on the path.
                assert!(
                    !u.between.iter().flatten().any(|b| b == "DMB ISH" && second.0 != AccessKind::Fetch),
                    "{cause}"
                );
            }
            (None, Cause::Decision(why)) => assert!(why.contains("skipped") || why.contains("interrupt"), "{why}"),
            _ => panic!("{name}: {cause}"),
        }
    }
    // The stock kernel interrupts without looking: a decision, not an ordering.
    let p = ProtocolFile::builtin(Protocol::Broadcast);
    let r = check(&p);
    let c = r.counterexamples().next().unwrap();
    let cause = replayed(&p, c).cause(c).to_string();
    assert!(
        cause.starts_with("no reordering: the sender decided to interrupt CPU 1 without reading its state"),
        "{cause}"
    );
}

/// Under TSO the store buffer is the only reordering, and TSO's rule is named. (The entry-side
/// mutants are safe under TSO: their entry hook's ISB is x86's serializing instruction, which
/// drains the buffer.)
#[test]
fn the_cause_speaks_of_the_model_checked() {
    let p = mutant("sender-no-dmb");
    let cfg = CheckConfig { mode: memory_model::Mode::Tso, ..CheckConfig::default() };
    let r = Check::new(cfg.clone()).run(&p).unwrap();
    let c = r.safety.as_ref().expect("TSO keeps the store buffer");
    let cause = Check::new(cfg).replay(&p, &c.steps).unwrap().cause(c).to_string();
    assert!(
        cause.starts_with("store→load: CPU 0's STR CHECK_DATA is not ordered before its LDR cpu1.isol_flags (TSO"),
        "{cause}"
    );
    assert!(cause.contains("nothing between them"), "{cause}");
}

/// The graph speaks the timeline's language: CPU clusters, events by kernel label and
/// symbolic value, initial writes only where read, control dependencies only from the read a
/// branch tests, the cycle's unordered pair labelled. Graphviz renders it when installed.
#[test]
fn the_graph_uses_the_timelines_names_and_renders() {
    let p = mutant("entry-no-dmb");
    let r = check(&p);
    let c = r.safety.as_ref().unwrap();
    let path = replayed(&p, c);
    let dot = path.dot(c, "entry-no-dmb");
    for s in [
        "label=\"CPU 0 (sender)\"",
        "label=\"CPU 1 (isolated)\"",
        "W cpu1.isol_flags = BROKEN",
        "R CHECK_DATA = 1",
        "W CHECK_DATA = 2",
        "isolation_defer_cpu+0x8: LDR",
        "check_data_read: LDR X20,[X9]",
        "init: CHECK_DATA = 1",
        "po, NOT ordered",
    ] {
        assert!(dot.contains(s), "missing {s}: {dot}");
    }
    // cpu1.context is written but read by no one: no initial write drawn for it.
    assert!(!dot.contains("init: cpu1.context"), "{dot}");
    assert!(!dot.contains("[0x"), "every address named: {dot}");
    // One ctrl edge per controlled write or ISB, from the one read its branch tests.
    let g = path.graph();
    for line in dot.lines().filter(|l| l.contains("label=\"ctrl\"")) {
        let (from, to) = line.trim().split_once(" -> ").unwrap();
        let to = to.split(' ').next().unwrap();
        let ev = |id: &str| {
            let (t, i) = id.trim_start_matches('e').split_once('_').unwrap();
            &g.threads[t.parse::<usize>().unwrap()][i.parse::<usize>().unwrap()]
        };
        assert!(ev(from).is_read(), "{line}");
        assert!(!ev(to).is_read() || ev(to).atomic.is_some(), "ctrl only to what it orders: {line}");
    }
    assert_eq!(dot.matches("po, NOT ordered").count(), 1, "{dot}");
    render_with_graphviz(&dot);

    // No reordering: the decision's read and the stale fetch (drawn in, with its fr) in bold. The
    // sender only patches, so the staleness is the instruction's.
    let p = mutant("check-reversed");
    let patch_only = Check::new(CheckConfig { ops: vec!["patch".parse().unwrap()], ..CheckConfig::default() });
    let r = patch_only.run(&p).unwrap();
    let c = r.safety.as_ref().unwrap();
    let dot = patch_only.replay(&p, &c.steps).unwrap().dot(c, "check-reversed");
    assert!(!dot.contains("po, NOT ordered"), "{dot}");
    assert!(dot.contains("check_site: MOV X21,#1\\nfetched: the old copy\", style=\"bold,dashed\""), "{dot}");
    assert!(dot.lines().any(|l| l.contains("fetch1_") && l.contains("label=\"fr\"")), "{dot}");
    assert!(dot.contains("R cpu1.isol_flags = BROKEN"), "{dot}");
    render_with_graphviz(&dot);
}

/// `dot -Tsvg` accepts the graph; skipped with a note when Graphviz is not installed.
fn render_with_graphviz(dot: &str) {
    use std::io::Write;
    let child = std::process::Command::new("dot")
        .arg("-Tsvg")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn();
    let Ok(mut child) = child else {
        println!("SKIPPED: rendering the graph (Graphviz `dot` is not installed)");
        return;
    };
    child.stdin.take().unwrap().write_all(dot.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && err.trim().is_empty(), "dot: {err}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("<svg"), "an SVG");
}

/// The timeline numbers the explorer's transitions: from 1, never going back, up to the
/// path's length.
#[test]
fn timeline_rows_are_numbered_by_the_transition_they_belong_to() {
    let p = mutant("sender-no-dmb");
    let r = check(&p);
    let c = r.safety.as_ref().unwrap();
    let replayed = replayed(&p, c);
    let steps: Vec<usize> = replayed.rows.iter().map(|r| r.step.unwrap()).collect();
    assert_eq!(steps.first(), Some(&1));
    assert!(steps.windows(2).all(|w| w[0] <= w[1]), "{steps:?}");
    assert_eq!(*steps.last().unwrap(), c.steps.len());
    assert_eq!(replayed.transitions, c.steps.len());
    assert!(replayed.rows.len() > c.steps.len());
}

/// `--jobs`: the threads explore in no particular order, and the report is the serial one: for a
/// safe protocol (their own counts), a mutant (found: the serial search picks the
/// counterexample) and a search cut by the state limit (the serial search decides where).
#[test]
fn the_report_is_the_same_for_any_number_of_threads() {
    let cases = [
        (ProtocolFile::builtin(Protocol::Deferred), CheckConfig::default()),
        (ProtocolFile::builtin(Protocol::CtWork), CheckConfig { syscalls: 2, ..CheckConfig::default() }),
        (mutant("entry-no-dmb"), CheckConfig::default()),
        (mutant("exit-no-final-dmb"), CheckConfig::default()),
        (ProtocolFile::builtin(Protocol::Deferred), CheckConfig { max_states: 300, ..CheckConfig::default() }),
        (ProtocolFile::builtin(Protocol::Deferred), wider_shapes()[0].clone()),
        (mutant("entry-no-isb"), wider_shapes()[1].clone()),
    ];
    for (p, cfg) in cases {
        let serial = Check::new(cfg.clone()).run(&p).unwrap();
        for jobs in [2, 3] {
            assert_eq!(Check::new(cfg.clone()).jobs(jobs).run(&p).unwrap(), serial, "{} jobs {jobs}", p.name);
        }
    }
}

/// The shapes beyond one sender and one system call: two senders, each with its own change, and
/// a CPU that enters the kernel twice.
fn wider_shapes() -> [CheckConfig; 2] {
    [
        CheckConfig {
            cpus: 3,
            senders: 2,
            ops: vec!["patch+pte".parse().unwrap(), "data".parse().unwrap()],
            ..CheckConfig::default()
        },
        CheckConfig { syscalls: 2, ..CheckConfig::default() },
    ]
}

/// Two senders kicking at once, and a CPU that exits and enters again while a kick is in flight:
/// the correct protocols stay safe, every path explored, and every ordering happens for every
/// sender.
#[test]
fn concurrent_kicks_and_re_entry_keep_the_correct_protocols_safe() {
    for cfg in wider_shapes() {
        for p in [Protocol::Deferred, Protocol::CtWork] {
            let r = Check::new(cfg.clone()).run(&ProtocolFile::builtin(p)).unwrap();
            let what = format!("{} at {}", p.name(), cfg.shape());
            assert_eq!(r.found(), [], "{what}: {:?}", r.counterexamples().next());
            assert!(!r.stats.bound_hit(), "{what}: {:?}", r.stats);
            assert!(r.coverage.all_occurred(), "{what}: {:?}", r.coverage);
            assert_eq!(r.coverage_by_sender.len(), if cfg.senders > 1 { cfg.senders } else { 0 }, "{what}");
            for (s, c) in r.coverage_by_sender.iter().enumerate() {
                assert!(c.all_occurred(), "{what}, sender {s}: {c:?}");
            }
        }
    }
}

/// Finds `mutants` at `cfg` with the consequences each states; each counterexample names a
/// sender and an isolated CPU that exist and replays to what it breaks.
fn found_at(cfg: &CheckConfig, mutants: &[ProtocolFile]) {
    for p in mutants {
        let r = Check::new(cfg.clone()).jobs(2).run(p).unwrap();
        let what = format!("{} ({}) at {}", p.name, p.path, cfg.shape());
        assert!(!r.stats.bound_hit(), "{what}: {:?}", r.stats);
        assert_eq!(Some(r.found()), p.expect, "{what}");
        for c in r.counterexamples() {
            assert!(c.sender < cfg.senders && (cfg.senders..cfg.cpus).contains(&c.cpu), "{what}: {c:?}");
            let replayed = Check::new(cfg.clone()).replay(p, &c.steps).unwrap();
            assert!(replayed.found.iter().any(|f| f.0 == c.consequence), "{what}: the path replays");
        }
    }
}

/// Every assembler mutant is found when CPUs enter twice; with two senders, one mutant per
/// hazard and consequence (stale data, instruction and translation after a skip or an
/// interrupt, an isolation break, and both at once). Every mutant, in assembler and C, at both
/// shapes: `--ignored`.
#[test]
fn every_mutant_is_found_at_the_wider_shapes() {
    let asm: Vec<ProtocolFile> = mutants().into_iter().filter(|p| p.path.ends_with(".S")).collect();
    let [senders, reentry] = wider_shapes();
    found_at(&reentry, &asm);
    let one_per_hazard =
        ["entry-no-dmb", "entry-no-isb", "entry-no-flush", "ipi-no-flush", "exit-no-final-dmb", "check-reversed"];
    let some: Vec<ProtocolFile> = asm.into_iter().filter(|p| one_per_hazard.contains(&p.name.as_str())).collect();
    found_at(&senders, &some);
}

#[test]
#[ignore = "a few minutes: cargo test --release -p workloads --test check -- --ignored"]
fn every_mutant_in_assembler_and_c_is_found_at_the_wider_shapes() {
    for cfg in wider_shapes() {
        found_at(&cfg, &mutants());
    }
}

/// An entry hook that synchronizes only on a CPU's first entry (it marks the CPU done and never
/// clears the mark): one system call cannot tell it from the correct protocol; two show the
/// second stay reading stale data or running the old instruction.
#[test]
fn a_hook_that_synchronizes_only_once_is_found_on_re_entry() {
    let text = ProtocolFile::builtin(Protocol::Deferred).text.replace(
        "        MOV   X10, #ISOL_BROKEN\n",
        "        LDR   X11, [X9, #PCPU_NOHZ_FULL]\n        CMP   X11, #2\n        B.EQ  entry_hook_done           // \
         already synchronized once\n        MOV   X11, #2\n        STR   X11, [X9, #PCPU_NOHZ_FULL]\n        MOV   \
         X10, #ISOL_BROKEN\n",
    );
    let p = ProtocolFile::parse("entry-syncs-once.S", &text).unwrap();
    assert_ne!(p.text, ProtocolFile::builtin(Protocol::Deferred).text, "the hook was changed");
    let once = Check::new(CheckConfig::default()).run(&p).unwrap();
    assert_eq!(once.found(), [], "{:?}", once.counterexamples().next());
    let twice = Check::new(CheckConfig { syscalls: 2, ..CheckConfig::default() }).run(&p).unwrap();
    let c = twice.safety.as_ref().expect("a safety violation");
    assert!(c.what.contains("in its system call 2"), "{}", c.what);
}

/// A CPU the sender interrupts is held from its IPI handler's return: a callback that leaves
/// the TLB alone is found. Under broadcast (every CPU interrupted, before its system call too)
/// at the default shape; under ct-work (only CPUs in the kernel are interrupted: the handler
/// runs after their stay) with a second system call; under deferred never, because its entry
/// hook flushes at every entry from isolated user code, which covers the callback.
#[test]
fn an_ipi_callback_that_does_not_flush_is_found_on_the_interrupt_path() {
    let r = check(&mutant("ipi-no-flush"));
    let c = r.safety.as_ref().expect("a safety violation");
    assert!(c.what.starts_with("stale translation: CPU 1"), "{}", c.what);
    assert!(c.what.ends_with("after its IPI handler's callback returned, and the sender interrupted it"), "{}", c.what);
    let no_flush = |base: Protocol| {
        let text = format!("// @base {}\nisolation_ipi:\n        RET\n", base.name());
        ProtocolFile::parse(&format!("{}-ipi-no-flush.S", base.name()), &text).unwrap()
    };
    let twice = CheckConfig { syscalls: 2, ..CheckConfig::default() };
    let ct_work = no_flush(Protocol::CtWork);
    assert_eq!(Check::new(CheckConfig::default()).run(&ct_work).unwrap().found(), []);
    let r = Check::new(twice.clone()).run(&ct_work).unwrap();
    let c = r.safety.as_ref().expect("ct-work without the callback's flush, two system calls");
    assert!(c.what.contains("in its system call 2 after its IPI handler's callback returned"), "{}", c.what);
    let deferred = Check::new(twice).run(&no_flush(Protocol::Deferred)).unwrap();
    assert_eq!(deferred.found(), [], "{:?}", deferred.counterexamples().next());
    assert!(deferred.coverage.case1 + deferred.coverage.case3 > 0, "some CPUs were interrupted");
}

/// The shape is checked: what the harness cannot build is an error that names the option.
#[test]
fn shapes_the_harness_cannot_build_are_refused() {
    let p = ProtocolFile::builtin(Protocol::Deferred);
    for (cfg, needle) in [
        (CheckConfig { senders: 3, cpus: 4, ..CheckConfig::default() }, "--senders 3"),
        (CheckConfig { syscalls: 3, ..CheckConfig::default() }, "--syscalls 3"),
        (CheckConfig { cpus: 5, ..CheckConfig::default() }, "1 to 3 isolated"),
        (CheckConfig { ops: vec!["data".parse().unwrap(); 2], ..CheckConfig::default() }, "--ops names 2"),
    ] {
        let e = Check::new(cfg).run(&p).expect_err("refused").to_string();
        assert!(e.contains(needle), "{e}");
    }
}

/// The README's table of states at the default shape, and with `--ops patch+data`, is what
/// `check` explores, state for state. The counts are exact (every distinct state once), so this
/// also catches a state that stopped being told apart from another (a stale cached fingerprint,
/// a field left out of a hash) as well as a table left behind by a model change.
#[test]
fn the_readmes_state_counts_are_what_check_explores() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let header = "| protocol | default shape (1 sender, `patch+data+pte`, 1 isolated): states |";
    let rows: Vec<&str> =
        readme.lines().skip_while(|l| !l.starts_with(header)).skip(2).take_while(|l| l.starts_with("| `")).collect();
    assert_eq!(rows.len(), 13, "the README's table has a row per shipped protocol");
    // "5 182" or "2 647 (nothing found: …)": the number before any remark.
    let count = |cell: &str| -> u64 {
        let digits: String = cell.split('(').next().unwrap().chars().filter(char::is_ascii_digit).collect();
        digits.parse().unwrap_or_else(|_| panic!("a count in {cell:?}"))
    };
    let default = Check::new(CheckConfig::default());
    let patch_data = Check::new(CheckConfig { ops: vec!["patch+data".parse().unwrap()], ..CheckConfig::default() });
    for row in rows {
        let cells: Vec<&str> = row.trim_matches('|').split(" | ").map(str::trim).collect();
        let name = cells[0].trim_matches('`');
        let file = match Protocol::by_name(name) {
            Some(p) => ProtocolFile::builtin(p),
            None => ProtocolFile::load(&root.join(format!("workloads/protocols/mutants/{name}.S"))).unwrap(),
        };
        let states = |check: &Check| check.run(&file).unwrap().stats.states;
        assert_eq!(states(&default), count(cells[1]), "{name}, default shape");
        assert_eq!(states(&patch_data), count(cells[3]), "{name}, --ops patch+data");
    }
}
