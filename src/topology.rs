//! `isolsim topology`: the machine a configuration builds, as a tree of packages, clusters and
//! cores in the style of `lstopo`'s text output, each core with the role `isolsim run` gives it,
//! and the one-way latency between cores at each distance.

use std::fmt::Write as _;

use cpu_model::topology::Topology;
use workloads::experiment::Experiment;

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

/// `a-b` or `a` for a run of consecutive cores, as Linux writes CPU lists.
fn span(a: usize, b: usize) -> String {
    if a == b { a.to_string() } else { format!("{a}-{b}") }
}

/// The tree and latencies of `cfg`'s machine, checked as `isolsim run` checks it.
pub fn tree(label: &str, cfg: &Config) -> Result<String, sim::Invalid> {
    let topo: Topology = Experiment::check(&cfg.machine, &cfg.run)?;
    let t = topo.config();
    let roles = roles(cfg, topo.num_cores());
    let mut out = String::new();
    let _ = writeln!(
        out,
        "isolsim topology: {label}; {} package(s) × {} cluster(s) × {} core(s) = {} cores, {} MHz",
        t.sockets,
        t.clusters_per_socket,
        t.cores_per_cluster,
        topo.num_cores(),
        cfg.machine.clock_mhz
    );
    let _ = writeln!(out, "Machine");
    for s in 0..topo.num_sockets() {
        let _ = writeln!(out, "  Package L#{s}");
        for k in 0..t.clusters_per_socket {
            let cluster = s * t.clusters_per_socket + k;
            let cores = topo.cores_of_cluster(cluster);
            // Consecutive cores of one role on one line.
            let mut groups: Vec<(usize, usize, Role)> = vec![];
            for c in cores.clone() {
                match groups.last_mut() {
                    Some(g) if g.2 == roles[c] => g.1 = c,
                    _ => groups.push((c, c, roles[c])),
                }
            }
            let text: Vec<String> =
                groups.iter().map(|&(a, b, r)| format!("CPU {}: {}", span(a, b), r.name())).collect();
            let _ = writeln!(out, "    Cluster L#{k} (MPIDR Aff2.Aff1 = {s}.{k}): {}", text.join("; "));
        }
    }
    let _ = writeln!(out, "One-way latency between cores, cycles:");
    let t0 = 0;
    let same_cluster = (t.cores_per_cluster > 1).then(|| topo.latency(t0, 1));
    let same_socket = (t.clusters_per_socket > 1).then(|| topo.latency(t0, t.cores_per_cluster));
    let other_socket = (t.sockets > 1).then(|| topo.latency(t0, t.clusters_per_socket * t.cores_per_cluster));
    for (what, l) in
        [("same cluster", same_cluster), ("same package, other cluster", same_socket), ("other package", other_socket)]
    {
        match l {
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
