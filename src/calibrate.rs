//! Calibration: published measurements the simulated machine reproduces.
//!
//! Each [`Figure`] names a public measurement, runs the simulated
//! counterpart on a configuration (a preset, optionally overridden by a
//! file) and compares. Nothing is fitted here: the simulated value comes
//! from running the kernel code of `workloads/kernel/` on the machine.
//!
//! | preset | figure | published |
//! |---|---|---|
//! | arm64-server | broadcast IPI (wait=1) to every other CPU ÷ unicast round trip | 2106 / 110 = 19.1 (Norov, ThunderX2, 112 CPUs) |
//! | arm64-server | unicast: delivery ÷ round trip | 81 / 110 = 0.74 (same benchmark) |
//! | x86-server | unicast IPI round trip | 1.2–2.5 µs (DESIGN.md) |

use serde::Serialize;
use workloads::ipi::{IpiBench, IpiError};

use crate::config::Config;

/// Where Norov's figures come from.
const NOROV: &str = "Y. Norov, \"[PATCH v2] IPI performance benchmark\", linux-arm-kernel, 2017-12-19: ThunderX2, \
                     112 CPUs, v4.14 host, normalised to dry-run";

/// One published figure and its simulated counterpart.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Figure {
    /// What is measured.
    pub name: String,
    /// Where the published value comes from.
    pub source: String,
    /// Unit of `published` and `simulated`.
    pub unit: String,
    /// The published value (the middle of its range, if a range).
    pub published: f64,
    /// Lowest and highest value that counts as agreement.
    pub accept: (f64, f64),
    /// What the simulator gives.
    pub simulated: f64,
    /// simulated ÷ published.
    pub ratio: f64,
    /// `simulated` lies within `accept`.
    pub agrees: bool,
    /// How the simulated value was obtained.
    pub how: String,
}

impl Figure {
    fn new(
        name: &str,
        source: &str,
        unit: &str,
        published: f64,
        accept: (f64, f64),
        simulated: f64,
        how: String,
    ) -> Self {
        Figure {
            name: name.into(),
            source: source.into(),
            unit: unit.into(),
            published,
            accept,
            simulated,
            ratio: simulated / published,
            agrees: (accept.0..=accept.1).contains(&simulated),
            how,
        }
    }
}

/// Figures for one configuration.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Report {
    /// The preset's name, or the configuration file's.
    pub config: String,
    /// CPUs of the machine.
    pub cpus: usize,
    /// Core clock, MHz.
    pub clock_mhz: u64,
    /// The figures.
    pub figures: Vec<Figure>,
}

/// Which figures a configuration reproduces: the IPI ratio family for an
/// Arm machine, the absolute round trip for an x86 one (by memory mode:
/// `arm` or `tso`).
pub fn run(name: &str, cfg: &Config) -> Result<Report, IpiError> {
    let m = &cfg.machine;
    let cpus = m.topology.sockets * m.topology.clusters_per_socket * m.topology.cores_per_cluster;
    // Norov's "Normal IPI" targets the first online CPU other than the
    // sender, Linux's CPU 1: on ThunderX2 another physical core (MPIDR
    // 0x100), which is the next cluster here when clusters are small (SMT
    // siblings, Arm core pairs); on a mesh or a large cluster, the next core.
    let target = if m.topology.cores_per_cluster <= 4 && m.topology.clusters_per_socket > 1 {
        m.topology.cores_per_cluster
    } else {
        1
    };
    let unicast = IpiBench::unicast(0, target, 12).run(m, &cfg.kernel)?;
    let rt = unicast.steady_mean();
    let mut figures = vec![];
    if m.mode == crate::Mode::Tso {
        let us = unicast.steady_mean_ns() / 1000.0;
        figures.push(Figure::new(
            "unicast IPI round trip (smp_call_function_single, wait=1)",
            "DESIGN.md: IPI unicast round trip ~1.2–2.5 µs on x86 servers",
            "µs",
            1.85,
            (1.2, 2.5),
            us,
            format!("CPU 0 → CPU {target}, mean of calls 2–12: {rt:.0} cycles at {} MHz", m.clock_mhz),
        ));
    } else {
        let broadcast = IpiBench::broadcast(0, cpus, 4).run(m, &cfg.kernel)?;
        let b = broadcast.steady_mean();
        let published = 2106.0 / 110.0;
        figures.push(Figure::new(
            "broadcast IPI to every other CPU (wait=1) ÷ unicast round trip",
            NOROV,
            "×",
            published,
            (published / 2.0, published * 2.0),
            b / rt,
            format!(
                "CPU 0 → CPUs 1–{}: {b:.0} cycles; CPU 0 → CPU {target}: {rt:.0} cycles (means after the first call)",
                cpus - 1
            ),
        ));
        let delivery = unicast.steady_delivery();
        let published = 81.0 / 110.0;
        figures.push(Figure::new(
            "unicast IPI: delivery ÷ round trip",
            NOROV,
            "×",
            published,
            (published / 2.0, (published * 2.0).min(1.0)),
            delivery / rt,
            format!("call start to the handler's counter read on the target: {delivery:.0} cycles"),
        ));
    }
    Ok(Report { config: name.into(), cpus, clock_mhz: m.clock_mhz, figures })
}

/// The report as a table.
pub fn to_text(reports: &[Report]) -> String {
    let mut out = String::new();
    for r in reports {
        out += &format!("{} ({} CPUs, {} MHz)\n", r.config, r.cpus, r.clock_mhz);
        for f in &r.figures {
            out += &format!("  {}\n", f.name);
            out += &format!("    source     {}\n", f.source);
            out += &format!(
                "    published  {:.2} {}   (agreement: {:.2}–{:.2})\n",
                f.published, f.unit, f.accept.0, f.accept.1
            );
            out += &format!("    simulated  {:.2} {}   {}\n", f.simulated, f.unit, f.how);
            out += &format!("    ratio      {:.2}   {}\n", f.ratio, if f.agrees { "agrees" } else { "DOES NOT AGREE" });
        }
    }
    out
}
