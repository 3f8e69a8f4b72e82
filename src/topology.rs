//! `isolsim topology`: the machine a configuration builds, as a tree of packages, clusters and
//! cores in the style of `lstopo`'s text output, each core with the role `isolsim run` gives it,
//! and the one-way latency between cores at each distance.

use std::fmt::Write as _;

use cpu_model::topology::{DistanceClass, Topology};
use workloads::experiment::{Experiment, IsolatedCpus};

use crate::config::Config;

pub mod import;

/// What `isolsim run` does with a core.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Role {
    /// A housekeeping CPU that generates kernel activity (`run.activity.generators`).
    Generator,
    /// A housekeeping CPU that idles, answering IPIs.
    Idle,
    /// An isolated CPU (nohz_full) running the isolated task.
    Isolated,
    /// Beyond `run.cpus`: not simulated by `run`.
    Unused,
}

impl Role {
    fn name(self) -> &'static str {
        match self {
            Role::Generator => "housekeeping, generates activity",
            Role::Idle => "housekeeping, idle",
            Role::Isolated => "isolated (nohz_full)",
            Role::Unused => "not used by run",
        }
    }
}

/// The role of each of the machine's `cores` under `cfg.run`, as the experiment lays them out:
/// `run.isolated`'s CPUs isolated, the first other ones generating activity, the rest idle.
pub fn roles(cfg: &Config, cores: usize) -> Vec<Role> {
    let run = &cfg.run;
    let isolated = run.isolated.cpus(run.cpus);
    let mut housekeeping = 0;
    (0..cores)
        .map(|c| {
            if c >= run.cpus {
                Role::Unused
            } else if isolated.binary_search(&c).is_ok() {
                Role::Isolated
            } else {
                housekeeping += 1;
                if housekeeping <= run.activity.generators { Role::Generator } else { Role::Idle }
            }
        })
        .collect()
}

/// `cpus` as a Linux cpulist (`0-3,8-11`).
fn cpulist(cpus: &[usize]) -> String {
    let mut sorted = cpus.to_vec();
    sorted.sort_unstable();
    IsolatedCpus::List(sorted).to_string()
}

/// The tree and latencies of `cfg`'s machine, checked as `isolsim run` checks it.
pub fn tree(label: &str, cfg: &Config) -> Result<String, sim::Invalid> {
    let topo: Topology = Experiment::check(&cfg.machine, &cfg.run)?;
    let t = topo.config();
    let roles = roles(cfg, topo.num_cores());
    let mut out = String::new();
    let threads = if t.threads_per_core > 1 { format!(" × {} threads", t.threads_per_core) } else { String::new() };
    let _ = writeln!(
        out,
        "isolsim topology: {label}; {} package(s) × {} cluster(s) × {} core(s){threads} = {} CPUs, {} MHz",
        t.sockets,
        t.clusters_per_socket,
        t.cores_per_cluster,
        topo.num_cores(),
        cfg.machine.clock_mhz
    );
    if !t.file.is_empty() {
        let _ = writeln!(out, "read from {}; CPU numbers are the machine's Linux numbers", t.file);
    }
    let _ = writeln!(out, "Machine");
    for s in 0..topo.num_sockets() {
        let _ = writeln!(out, "  Package L#{s}");
        for k in 0..t.clusters_per_socket {
            let cluster = s * t.clusters_per_socket + k;
            let cpus = topo.cores_of_cluster(cluster);
            // The cluster's CPUs of one role on one line, roles in the order they first appear.
            let mut groups: Vec<(Vec<usize>, Role)> = vec![];
            for c in cpus.iter().copied() {
                match groups.iter_mut().find(|g| g.1 == roles[c]) {
                    Some(g) => g.0.push(c),
                    None => groups.push((vec![c], roles[c])),
                }
            }
            let text: Vec<String> = groups.iter().map(|(cs, r)| format!("CPU {}: {}", cpulist(cs), r.name())).collect();
            let _ = writeln!(out, "    Cluster L#{k} (MPIDR Aff2.Aff1 = {s}.{k}): {}", text.join("; "));
            if t.threads_per_core > 1 {
                let cores: Vec<String> = cpus
                    .chunks(t.threads_per_core)
                    .map(|c| c.iter().map(usize::to_string).collect::<Vec<_>>().join(","))
                    .collect();
                let _ = writeln!(out, "      SMT cores (their CPUs): {}", cores.join("  "));
            }
        }
    }
    let _ = writeln!(out, "One-way latency between CPUs, cycles:");
    let first = topo.cpu_at_position(0);
    let nearest = |class: DistanceClass| {
        (0..topo.num_cores()).find(|&b| topo.distance_class(first, b) == class).map(|b| topo.latency(first, b))
    };
    let mut rows = vec![];
    if t.threads_per_core > 1 {
        rows.push(("SMT sibling", DistanceClass::SmtSibling));
    }
    rows.extend([
        ("same cluster", DistanceClass::SameCluster),
        ("same package, other cluster", DistanceClass::SameSocket),
        ("other package", DistanceClass::CrossSocket),
    ]);
    for (what, class) in rows {
        match nearest(class) {
            Some(l) => {
                let _ = writeln!(out, "  {what:<28} {l:>6}");
            }
            None => {
                let _ = writeln!(out, "  {what:<28} {:>6}", "-");
            }
        }
    }
    let count = |r: Role| roles.iter().filter(|&&x| x == r).count();
    let _ = writeln!(
        out,
        "isolsim run uses {} of them: {} generating activity, {} idle, {} isolated",
        cfg.run.cpus,
        count(Role::Generator),
        count(Role::Idle),
        count(Role::Isolated)
    );
    Ok(out)
}
