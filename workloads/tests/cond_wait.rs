//! `kernel.cond_wait`: the sender of smp_call_function_many() waits for each csd by polling it
//! (`spin`) or asleep in `WFE` until the target's release writes the line (`wfe`, arm64's
//! `__cmpwait`). Both must end every call the same way; only the waiting differs.

use cpu_model::machine::MachineConfig;
use workloads::experiment::{Experiment, ExperimentConfig};
use workloads::kernel::{CondWait, KernelConfig, Protocol};

/// Instructions the housekeeping CPUs retired, the senders' calls that completed, and the
/// safety violations, in a 1 ms run.
fn run(cond_wait: CondWait) -> (u64, usize, usize) {
    let kernel = KernelConfig { cond_wait, ..KernelConfig::default() };
    let mut run = ExperimentConfig { cpus: 8, isolated: 2.into(), duration_us: 1_000, ..ExperimentConfig::default() };
    // Calls that interrupt every other CPU, often.
    run.activity.text_patch_per_s = 20_000.0;
    run.activity.vmalloc_per_s = 20_000.0;
    let exp = Experiment::build(&MachineConfig::default(), &kernel, &run, Protocol::Broadcast, 5).unwrap();
    let (report, m, layout) = exp.run_keeping_machine().unwrap();
    let housekeeping = (0..m.state().cores.len()).filter(|c| !layout.isolated.contains(c));
    let retired = housekeeping.map(|c| m.state().cores[c].retired()).sum();
    let calls = report.senders.iter().map(|s| s.ns.count as usize).sum();
    (retired, calls, report.safety.violations.len())
}

#[test]
fn a_sender_waiting_in_wfe_sleeps_instead_of_polling() {
    let (spin_retired, spin_calls, spin_violations) = run(CondWait::Spin);
    let (wfe_retired, wfe_calls, wfe_violations) = run(CondWait::Wfe);
    assert!(spin_calls > 0 && wfe_calls > 0, "{spin_calls} and {wfe_calls} calls completed");
    assert_eq!((spin_violations, wfe_violations), (0, 0));
    // The polling loads are gone: fewer instructions for about as many calls.
    assert!(
        wfe_retired * 10 < spin_retired * 9,
        "spin: {spin_retired} instructions for {spin_calls} calls; wfe: {wfe_retired} for {wfe_calls}"
    );
}
