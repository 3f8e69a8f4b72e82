//! The isolation experiment on a small machine.

use cpu_model::machine::MachineConfig;
use workloads::experiment::{Experiment, ExperimentConfig};
use workloads::kernel::{KernelConfig, Protocol};

fn small(protocol: Protocol, seed: u64) -> workloads::experiment::Report {
    let machine = MachineConfig::default();
    let run = ExperimentConfig { cpus: 8, isolated: 2, duration_us: 5_000, ..ExperimentConfig::default() };
    Experiment::build(&machine, &KernelConfig::default(), &run, protocol, seed).unwrap().run(|_, _| {}).unwrap()
}

#[test]
fn scratch() {
    for p in Protocol::ALL {
        let r = small(p, 1);
        println!("{:?} kicks {:?}\n orderings {:?}\n senders {:?}\n sys {:?} {:?}", p, (r.safety.kicks, r.safety.interrupted, r.safety.deferred, r.safety.loads_checked, r.safety.violations.len()), r.orderings, r.senders.iter().map(|s| (s.op.clone(), s.ns.count, s.ns.mean)).collect::<Vec<_>>(), r.syscalls.all.mean, r.syscalls.after_deferral.mean);
        for v in &r.safety.violations { println!("{v}"); }
    }
}
