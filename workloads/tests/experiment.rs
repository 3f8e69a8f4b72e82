//! The isolation experiment on a small machine: determinism, safety of the
//! correct protocols, and what deferral buys.

use cpu_model::machine::MachineConfig;
use workloads::experiment::{Experiment, ExperimentConfig, Report};
use workloads::kernel::{self, KernelConfig, Protocol};

fn small(protocol: Protocol, seed: u64) -> Report {
    let machine = MachineConfig::default();
    let run = ExperimentConfig { cpus: 8, isolated: 2.into(), duration_us: 3_000, ..ExperimentConfig::default() };
    Experiment::build(&machine, &KernelConfig::default(), &run, protocol, seed).unwrap().run().unwrap()
}

#[test]
fn same_seed_same_report() {
    let a = serde_json::to_string(&small(Protocol::Deferred, 7)).unwrap();
    let b = serde_json::to_string(&small(Protocol::Deferred, 7)).unwrap();
    assert_eq!(a, b);
    let c = serde_json::to_string(&small(Protocol::Deferred, 8)).unwrap();
    assert_ne!(a, c, "another seed draws other arrivals");
}

#[test]
fn correct_protocols_defer_kicks_safely_and_spare_isolated_cpus() {
    let broadcast = small(Protocol::Broadcast, 3);
    assert!(broadcast.safety.violations.is_empty(), "{:?}", broadcast.safety.violations);
    let interrupted: u64 = broadcast.isolated.iter().map(|r| r.irqs + r.tlbi_disturbances).sum();
    assert!(interrupted > 0, "a stock kernel disturbs isolated CPUs");
    for p in [Protocol::Deferred, Protocol::CtWork] {
        let r = small(p, 3);
        assert!(r.safety.violations.is_empty(), "{p:?}: {}", r.safety.violations[0]);
        assert!(r.safety.deferred > 0, "{p:?} deferred nothing");
        assert!(r.safety.loads_checked > 0, "{p:?}: the check looked at no load");
        assert!(r.orderings.case4 > 0, "{p:?}: no kick met a CPU in user space");
        let noise: f64 = r.isolated.iter().map(|x| x.noise_ns).sum();
        let base: f64 = broadcast.isolated.iter().map(|x| x.noise_ns).sum();
        assert!(noise < base, "{p:?}: noise {noise} ns, broadcast {base} ns");
        assert!(r.syscalls.after_deferral.count > 0, "{p:?}: no entry after a deferral");
    }
}

#[test]
fn bad_shapes_are_rejected_with_a_reason() {
    let machine = MachineConfig::default();
    let too_many = ExperimentConfig { cpus: 64, ..ExperimentConfig::default() };
    let e = Experiment::build(&machine, &KernelConfig::default(), &too_many, Protocol::Broadcast, 1).err().unwrap();
    assert!(e.to_string().contains("cpus = 64"), "{e}");
    let crowded = ExperimentConfig { cpus: 8, isolated: 6.into(), ..ExperimentConfig::default() };
    let e = Experiment::build(&machine, &KernelConfig::default(), &crowded, Protocol::Broadcast, 1).err().unwrap();
    assert!(e.to_string().contains("do not fit"), "{e}");
}

/// The deferred protocol with one line of its entry hook removed: the
/// whole-TLB flush that stands for every flush the CPU was spared. The
/// vmalloc churn reuses a kernel address on another page, so an isolated
/// CPU that enters and reads the object through its old translation must be
/// caught, with the story of who changed the mapping and when.
#[test]
fn safety_check_catches_an_entry_hook_without_the_deferred_flush() {
    let flush = "        TLBI  VMALLE1                    // the deferred flush: the whole TLB, locally\n";
    let (_, deferred) = Protocol::Deferred.file();
    assert_eq!(deferred.matches(flush).count(), 1, "the shipped hook has its flush");
    let broken = deferred.replace(flush, "        NOP\n");
    let mut files = kernel::files(Protocol::Deferred);
    files[4].1 = &broken;
    let run = ExperimentConfig { cpus: 8, isolated: 2.into(), duration_us: 3_000, ..ExperimentConfig::default() };
    for seed in 1..=3 {
        let exp = Experiment::build_with_kernel(
            &MachineConfig::default(),
            &KernelConfig::default(),
            &run,
            Protocol::Deferred,
            seed,
            &files,
        )
        .unwrap();
        let r = exp.run().unwrap();
        let v = r.safety.violations.first().unwrap_or_else(|| panic!("seed {seed}: the broken hook went unnoticed"));
        assert_eq!(v.kind, "stale translation", "seed {seed}: {v}");
        assert!(r.isolated.iter().any(|x| x.cpu == v.cpu), "seed {seed}: reported on an isolated CPU");
        assert!(v.story.len() >= 2, "seed {seed}: the report tells who did what: {v}");
        assert!(r.simulated_ns < 3_000_000.0, "seed {seed}: the run stopped at the violation");
        assert_eq!(r.configured_ns, 3_000_000.0);
        let why = r.stopped_early.as_deref().unwrap_or_else(|| panic!("seed {seed}: no reason for the early stop"));
        assert!(why.contains("stale translation") && why.contains(&format!("CPU {}", v.cpu)), "{why}");
        // The measures cover the simulated time, not the configured one.
        assert!(r.isolated.iter().all(|x| x.runtime_ns <= r.simulated_ns), "seed {seed}");
    }
    // The same run with the shipped kernel is safe, and runs its whole time.
    let ok =
        Experiment::build(&MachineConfig::default(), &KernelConfig::default(), &run, Protocol::Deferred, 1).unwrap();
    let r = ok.run().unwrap();
    assert!(r.safety.violations.is_empty());
    assert_eq!((r.simulated_ns, r.stopped_early), (r.configured_ns, None));
}
