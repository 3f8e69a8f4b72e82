//! `isolsim run`: the isolation experiment for each protocol, side by side.
//!
//! A thin layer over [`workloads::experiment`]: it builds one experiment per
//! protocol from a [`Config`], runs them (in parallel when there are cores to
//! spare; each run is independent, so the result does not depend on it) and
//! lays the reports out as one comparison.

use std::fmt::Write as _;

use rayon::prelude::*;
use workloads::experiment::{Experiment, ExperimentError, Report};
use workloads::kernel::Protocol;
use workloads::protocol::ProtocolFile;

use crate::config::Config;

/// The kernel's files besides the protocol ([`workloads::kernel::FILES`])
/// with some replaced by the user's: each of `replacements` is `NAME=PATH`,
/// NAME a file name of the kernel (`isolation.S`). Returns (name for
/// messages, text) pairs in load order; a replaced file is named by its path.
pub fn kernel_with(replacements: &[String]) -> Result<Vec<(String, String)>, String> {
    let mut files: Vec<(String, String)> =
        workloads::kernel::FILES.iter().map(|(n, t)| (n.to_string(), t.to_string())).collect();
    let known: Vec<&str> = workloads::kernel::FILES.iter().map(|(n, _)| n.rsplit('/').next().unwrap_or(n)).collect();
    for r in replacements {
        let Some((name, path)) = r.split_once('=') else {
            return Err(format!("--kernel-file {r}: expected NAME=PATH (e.g. isolation.S=my-variant.S)"));
        };
        let Some(i) = known.iter().position(|k| *k == name) else {
            return Err(format!(
                "--kernel-file {r}: the kernel has no file {name} (it has {}; a protocol variant is given with \
                 --protocol FILE)",
                known.join(", ")
            ));
        };
        let text = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
        files[i] = (path.to_string(), text);
    }
    Ok(files)
}

/// Runs the experiment of `cfg` for each of `protocols` with `seed` on the
/// kernel `kernel` (the files besides the protocol, (file name, text) pairs
/// in load order, e.g. [`workloads::kernel::FILES`]), each protocol's file
/// assembled last; `progress(done, total)` is called with the simulated
/// cycles covered so far over all runs (from several threads).
pub fn run(
    cfg: &Config,
    kernel: &[(&str, &str)],
    protocols: &[ProtocolFile],
    seed: u64,
    progress: &(dyn Fn(u64, u64) + Sync),
) -> Result<Vec<Report>, ExperimentError> {
    let built: Vec<Experiment> = protocols
        .iter()
        .map(|p| {
            let own = p.protocol_files();
            let mut files = kernel.to_vec();
            files.extend(own.iter().map(|(n, t)| (n.as_str(), t.as_str())));
            let exp = Experiment::build_with_kernel(&cfg.machine, &cfg.kernel, &cfg.run, p.base, seed, &files)?;
            Ok(exp.named(&p.name))
        })
        .collect::<Result<_, ExperimentError>>()?;
    let done: Vec<std::sync::atomic::AtomicU64> = protocols.iter().map(|_| 0.into()).collect();
    let total = cfg.run.duration_us * cfg.machine.clock_mhz * protocols.len() as u64;
    built
        .into_par_iter()
        .enumerate()
        .map(|(i, exp)| {
            exp.run(|now, _| {
                done[i].store(now, std::sync::atomic::Ordering::Relaxed);
                let sum = done.iter().map(|d| d.load(std::sync::atomic::Ordering::Relaxed)).sum();
                progress(sum, total);
            })
        })
        .collect()
}

fn us(ns: f64) -> String {
    format!("{:.2}", ns / 1000.0)
}

/// The side-by-side comparison as text.
pub fn to_text(title: &str, reports: &[Report]) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "{title}\n");
    let head: Vec<String> = reports.iter().map(|r| r.name.to_string()).collect();
    let row = |o: &mut String, name: &str, cells: Vec<String>| {
        let _ = write!(o, "  {name:<44}");
        for c in cells {
            // A space before a cell that fills its column, so wide cells never run together.
            let _ = write!(o, " {c:>18}");
        }
        o.push('\n');
    };
    let section = |o: &mut String, name: &str| {
        let _ = write!(o, "{name:<46}");
        for h in &head {
            let _ = write!(o, "{h:>19}");
        }
        o.push('\n');
    };
    let mean_over = |r: &Report, f: &dyn Fn(&workloads::experiment::IsolatedRow) -> f64| {
        r.isolated.iter().map(f).sum::<f64>() / r.isolated.len().max(1) as f64
    };
    let max_over = |r: &Report, f: &dyn Fn(&workloads::experiment::IsolatedRow) -> f64| {
        r.isolated.iter().map(f).fold(0.0, f64::max)
    };

    section(&mut o, "Isolated CPUs (osnoise; mean over CPUs)");
    row(&mut o, "Noise per CPU (µs)", reports.iter().map(|r| us(mean_over(r, &|x| x.noise_ns))).collect());
    row(&mut o, "%CPU Aval", reports.iter().map(|r| format!("{:.4}", mean_over(r, &|x| x.cpu_avail_pct))).collect());
    row(
        &mut o,
        "MaxNoise in a period (µs, worst CPU)",
        reports.iter().map(|r| us(max_over(r, &|x| x.max_noise_ns))).collect(),
    );
    row(&mut o, "MaxSingle (µs, worst CPU)", reports.iter().map(|r| us(max_over(r, &|x| x.max_single_ns))).collect());
    row(
        &mut o,
        "Interrupts per CPU per second",
        reports.iter().map(|r| format!("{:.0}", mean_over(r, &|x| x.irqs_per_s))).collect(),
    );
    let mut callbacks: Vec<String> =
        reports.iter().flat_map(|r| r.isolated.iter().flat_map(|x| x.ipis_by_callback.keys().cloned())).collect();
    callbacks.sort();
    callbacks.dedup();
    for cb in &callbacks {
        row(
            &mut o,
            &format!("  IPIs running {cb} (all isolated CPUs)"),
            reports
                .iter()
                .map(|r| {
                    r.isolated.iter().map(|x| x.ipis_by_callback.get(cb).copied().unwrap_or(0)).sum::<u64>().to_string()
                })
                .collect(),
        );
    }
    row(
        &mut o,
        "TLBI disturbances (all isolated CPUs)",
        reports.iter().map(|r| r.isolated.iter().map(|x| x.tlbi_disturbances).sum::<u64>().to_string()).collect(),
    );
    o.push('\n');

    section(&mut o, "Loop latency (oslat, ns)");
    for (name, f) in [
        ("p50", (|s: &sim::stats::Summary| s.p50) as fn(&sim::stats::Summary) -> u64),
        ("p99", |s| s.p99),
        ("p99.9", |s| s.p999),
        ("p99.99", |s| s.p9999),
        ("max", |s| s.max),
    ] {
        row(&mut o, name, reports.iter().map(|r| f(&r.oslat_ns).to_string()).collect());
    }
    let buckets = reports.first().map_or(0, |r| r.oslat_histogram.len());
    for b in 0..buckets {
        let counts: Vec<u64> = reports.iter().map(|r| r.oslat_histogram[b].count).collect();
        if counts.iter().all(|&c| c == 0) {
            continue;
        }
        let label =
            if b + 1 == buckets { format!("  ≥ {b} µs (overflow)") } else { format!("  [{b}, {}) µs", b + 1) };
        row(&mut o, &label, counts.iter().map(u64::to_string).collect());
    }
    o.push('\n');

    section(&mut o, "Sender latency (µs, mean / p99 / max)");
    let mut ops: Vec<String> = reports.iter().flat_map(|r| r.senders.iter().map(|s| s.op.clone())).collect();
    ops.sort();
    ops.dedup();
    for op in &ops {
        row(
            &mut o,
            &format!("{op} (count)"),
            reports
                .iter()
                .map(|r| r.senders.iter().find(|s| &s.op == op).map_or("-".into(), |s| s.ns.count.to_string()))
                .collect(),
        );
        row(
            &mut o,
            op,
            reports
                .iter()
                .map(|r| {
                    r.senders.iter().find(|s| &s.op == op).map_or("-".into(), |s| {
                        format!("{}/{}/{}", us(s.ns.mean), us(s.ns.p99 as f64), us(s.ns.max as f64))
                    })
                })
                .collect(),
        );
    }
    o.push('\n');

    section(&mut o, "Isolated tasks' system calls (ns)");
    row(&mut o, "count", reports.iter().map(|r| r.syscalls.all.count.to_string()).collect());
    row(&mut o, "mean duration", reports.iter().map(|r| format!("{:.0}", r.syscalls.all.mean)).collect());
    row(
        &mut o,
        "first entry after a deferral: count",
        reports.iter().map(|r| r.syscalls.after_deferral.count.to_string()).collect(),
    );
    row(
        &mut o,
        "first entry after a deferral: mean",
        reports
            .iter()
            .map(|r| {
                if r.syscalls.after_deferral.count == 0 {
                    "-".into()
                } else {
                    format!("{:.0}", r.syscalls.after_deferral.mean)
                }
            })
            .collect(),
    );
    if let Some(base) = reports.iter().find(|r| r.protocol == Protocol::Broadcast) {
        row(
            &mut o,
            "entry penalty vs broadcast (mean)",
            reports.iter().map(|r| format!("{:+.0}", r.syscalls.all.mean - base.syscalls.all.mean)).collect(),
        );
    }
    o.push('\n');

    section(&mut o, "Kicks against isolated CPUs (seed's orderings)");
    row(&mut o, "kicks and deferred TLB flushes", reports.iter().map(|r| r.safety.kicks.to_string()).collect());
    row(&mut o, "decisions: interrupt", reports.iter().map(|r| r.safety.interrupted.to_string()).collect());
    row(&mut o, "decisions: defer", reports.iter().map(|r| r.safety.deferred.to_string()).collect());
    for (name, f) in [
        ("case 1: hook during publication, IPI", (|x: &workloads::experiment::Orderings| x.case1) as fn(&_) -> u64),
        ("case 2: entering at the check, deferred", |x| x.case2),
        ("case 3: hook before publication, IPI", |x| x.case3),
        ("case 4: in user space, deferred", |x| x.case4),
        ("exit-to-user race", |x| x.exit_race),
        ("interrupted in user space", |x| x.interrupted_in_user),
        ("deferred, no entry yet", |x| x.pending),
    ] {
        row(&mut o, name, reports.iter().map(|r| f(&r.orderings).to_string()).collect());
    }
    o.push('\n');

    section(&mut o, "Safety (checked on every isolated CPU)");
    row(&mut o, "kernel loads checked", reports.iter().map(|r| r.safety.loads_checked.to_string()).collect());
    row(
        &mut o,
        "patched instructions checked",
        reports.iter().map(|r| r.safety.instructions_checked.to_string()).collect(),
    );
    row(
        &mut o,
        "stale-entry translations checked",
        reports.iter().map(|r| r.safety.translations_checked.to_string()).collect(),
    );
    row(
        &mut o,
        "violations",
        reports
            .iter()
            .map(|r| if r.safety.violations.is_empty() { "none".into() } else { r.safety.violations.len().to_string() })
            .collect(),
    );
    for r in reports {
        for v in &r.safety.violations {
            let _ = write!(o, "\n[{}] {v}", r.name);
        }
    }
    o.push('\n');

    for r in reports {
        let _ = writeln!(o, "osnoise, {} (per isolated CPU):", r.name);
        let _ = writeln!(
            o,
            "  {:>4} {:>12} {:>10} {:>10} {:>11} {:>11} {:>6} {:>6}  IPIs by callback",
            "CPU", "Runtime(µs)", "Noise(µs)", "%CPU Aval", "MaxNoise", "MaxSingle", "IRQs", "TLBI"
        );
        for x in &r.isolated {
            let cbs: Vec<String> = x.ipis_by_callback.iter().map(|(k, v)| format!("{k}:{v}")).collect();
            let _ = writeln!(
                o,
                "  {:>4} {:>12} {:>10} {:>10.4} {:>11} {:>11} {:>6} {:>6}  {}",
                x.cpu,
                us(x.runtime_ns),
                us(x.noise_ns),
                x.cpu_avail_pct,
                us(x.max_noise_ns),
                us(x.max_single_ns),
                x.irqs,
                x.tlbi_disturbances,
                cbs.join(" ")
            );
        }
    }
    o
}

/// The reports as CSV: one row per (protocol, isolated CPU) with the osnoise columns, then the
/// run-wide figures repeated on each row.
pub fn to_csv(reports: &[Report]) -> String {
    let mut w = csv::Writer::from_writer(vec![]);
    let _ = w.write_record([
        "protocol",
        "seed",
        "cpu",
        "runtime_ns",
        "noise_ns",
        "cpu_avail_pct",
        "max_noise_ns",
        "max_single_ns",
        "irqs",
        "irqs_per_s",
        "tlbi_disturbances",
        "syscalls",
        "oslat_p50_ns",
        "oslat_p99_ns",
        "oslat_max_ns",
        "syscall_mean_ns",
        "case1",
        "case2",
        "case3",
        "case4",
        "exit_race",
        "violations",
    ]);
    for r in reports {
        for x in &r.isolated {
            let _ = w.write_record([
                r.name.to_string(),
                r.seed.to_string(),
                x.cpu.to_string(),
                format!("{:.1}", x.runtime_ns),
                format!("{:.1}", x.noise_ns),
                format!("{:.6}", x.cpu_avail_pct),
                format!("{:.1}", x.max_noise_ns),
                format!("{:.1}", x.max_single_ns),
                x.irqs.to_string(),
                format!("{:.1}", x.irqs_per_s),
                x.tlbi_disturbances.to_string(),
                x.syscalls.to_string(),
                r.oslat_ns.p50.to_string(),
                r.oslat_ns.p99.to_string(),
                r.oslat_ns.max.to_string(),
                format!("{:.1}", r.syscalls.all.mean),
                r.orderings.case1.to_string(),
                r.orderings.case2.to_string(),
                r.orderings.case3.to_string(),
                r.orderings.case4.to_string(),
                r.orderings.exit_race.to_string(),
                r.safety.violations.len().to_string(),
            ]);
        }
    }
    String::from_utf8(w.into_inner().expect("writing to memory")).expect("CSV is UTF-8")
}
