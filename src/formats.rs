//! A run's figures in the formats of the tools isolation people already read: `rtla osnoise
//! top`, `rtla osnoise hist` (tools/tracing/rtla in the kernel tree) and `oslat` (rt-tests).
//! Field order, widths, units and headers follow those tools' printf formats; each block is
//! preceded by one `# isolsim: ...` line naming the protocol, since a run compares several.
//!
//! Where the tools print a figure isolsim has no counterpart for, it prints what the simulated
//! kernel has: no NMIs, softirqs or other threads run on an isolated CPU, so those columns are 0;
//! broadcast-TLBI stalls are what osnoise counts as hardware noise (noise with no interrupt to
//! account for it), so they fill its HW column.

use std::fmt::Write as _;

use workloads::activity::TaskLoop;
use workloads::experiment::{IsolatedRow, Report};

use crate::experiment::Comparison;

/// `rtla osnoise hist`'s number of 1 µs buckets before its `over:` row (its `--entries`
/// default).
const HIST_ENTRIES: u64 = 256;

/// The `duration:` field both rtla tools print: `%3d %02d:%02d:%02d`, days and the time of day
/// of the whole seconds elapsed.
fn rtla_duration(ns: f64) -> String {
    let s = (ns / 1e9) as u64;
    format!("{:3} {:02}:{:02}:{:02}", s / 86_400, s % 86_400 / 3600, s % 3600 / 60, s % 60)
}

fn title(out: &mut String, c: &Comparison, r: &Report, tool: &str) {
    let _ = writeln!(
        out,
        "# isolsim: {tool} of protocol {}, seed {}, {:.3} ms simulated ({})",
        r.name,
        c.seed,
        r.simulated_ns / 1e6,
        c.preset
    );
}

/// One CPU's `rtla osnoise top` row (osnoise_top_print): times in whole µs, the availability as
/// rtla computes it in integers.
fn top_row(out: &mut String, x: &IsolatedRow, period_us: u64) {
    let us = |ns: f64| (ns / 1000.0) as u64;
    let (runtime, noise) = (us(x.runtime_ns), us(x.noise_ns));
    if runtime == 0 {
        return;
    }
    let periods = runtime.div_ceil(period_us.max(1));
    let pct = (runtime - noise.min(runtime)) * 10_000_000 / runtime;
    let _ = write!(out, "{:3} #{:<6} {:12} ", x.cpu, periods, runtime);
    let _ = write!(out, "{noise:12} ");
    let _ = write!(out, "  {:3}.{:05}", pct / 100_000, pct % 100_000);
    let _ = write!(out, "{:12} {:12}", us(x.max_noise_ns), us(x.max_single_ns));
    let _ = write!(out, "{:12} ", x.tlbi_disturbances);
    let _ = write!(out, "{:12} ", 0);
    let _ = write!(out, "{:12} ", x.irqs);
    let _ = write!(out, "{:12} ", 0);
    let _ = writeln!(out, "{:12}", 0);
}

/// `rtla osnoise top -q` at the end of each protocol's run.
pub fn rtla_osnoise_top(c: &Comparison) -> String {
    let period_us = c.config.run.osnoise_period_us;
    let mut out = String::new();
    for (i, r) in c.reports.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        title(&mut out, c, r, "rtla osnoise top");
        let pad = " ".repeat(42);
        let _ = writeln!(out, "{pad}Operating System Noise{}{}", " ".repeat(39), " ".repeat(35));
        let _ = writeln!(out, "duration: {:>9} | time is in us", rtla_duration(r.simulated_ns));
        out.push_str("CPU Period       Runtime ");
        out.push_str("       Noise ");
        out.push_str(" % CPU Aval ");
        out.push_str("  Max Noise   Max Single ");
        out.push_str("         HW          NMI");
        out.push_str("          IRQ      Softirq       Thread\n");
        for x in &r.isolated {
            top_row(&mut out, x, period_us);
        }
    }
    out
}

/// One CPU's noise events as `rtla osnoise hist` keeps them: durations truncated to µs, counted
/// in 1 µs buckets up to [`HIST_ENTRIES`] and an overflow one, with count, min, sum and max.
struct CpuHist {
    cpu: usize,
    buckets: Vec<u64>,
    count: u64,
    min: u64,
    sum: u64,
    max: u64,
}

impl CpuHist {
    /// From the report's noise buckets, which are a whole number per µs wide: every event of a
    /// bucket truncates to the same µs, so the result is exact.
    fn new(x: &IsolatedRow) -> CpuHist {
        const { assert!(1000 % workloads::experiment::NOISE_BUCKET_NS == 0) };
        let mut h = CpuHist {
            cpu: x.cpu,
            buckets: vec![0; HIST_ENTRIES as usize + 1],
            count: 0,
            min: u64::MAX,
            sum: 0,
            max: 0,
        };
        for b in &x.noise_event_histogram {
            let us = b.from_ns / 1000;
            h.buckets[us.min(HIST_ENTRIES) as usize] += b.count;
            h.count += b.count;
            h.sum += us * b.count;
            h.min = h.min.min(us);
            h.max = h.max.max(us);
        }
        h
    }
}

/// `rtla osnoise hist` (its defaults: µs, 1 µs buckets, 256 entries) at the end of each
/// protocol's run: a column per CPU that had noise, rows for buckets that are not empty.
pub fn rtla_osnoise_hist(c: &Comparison) -> String {
    let mut out = String::new();
    for (i, r) in c.reports.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        title(&mut out, c, r, "rtla osnoise hist");
        let cpus: Vec<CpuHist> = r.isolated.iter().map(CpuHist::new).filter(|h| h.count > 0).collect();
        out.push_str("# RTLA osnoise histogram\n# Time unit is microseconds (us)\n");
        let _ = writeln!(out, "# Duration: {}", rtla_duration(r.simulated_ns));
        out.push_str("Index");
        for h in &cpus {
            let _ = write!(out, "   CPU-{:03}", h.cpu);
        }
        out.push('\n');
        if cpus.is_empty() {
            out.push_str("over: 0\ncount: 0\nmin: 0\navg: 0\nmax: 0\n");
            continue;
        }
        for b in 0..HIST_ENTRIES as usize {
            if cpus.iter().all(|h| h.buckets[b] == 0) {
                continue;
            }
            let _ = write!(out, "{b:<6}");
            for h in &cpus {
                let _ = write!(out, "{:9} ", h.buckets[b]);
            }
            out.push('\n');
        }
        let row = |out: &mut String, label: &str, f: &dyn Fn(&CpuHist) -> String| {
            out.push_str(label);
            for h in &cpus {
                out.push_str(&f(h));
            }
            out.push('\n');
        };
        row(&mut out, "over: ", &|h| format!("{:9} ", h.buckets[HIST_ENTRIES as usize]));
        row(&mut out, "count:", &|h| format!("{:9} ", h.count));
        row(&mut out, "min:  ", &|h| format!("{:9} ", h.min));
        row(&mut out, "avg:  ", &|h| format!("{:9.2} ", h.sum as f64 / h.count as f64));
        row(&mut out, "max:  ", &|h| format!("{:9} ", h.max));
    }
    out
}

/// oslat's buckets (its defaults: 32 buckets of 1 µs, the last one taking the overflows), from
/// the loop's own histogram: bucket `j` holds iterations of `[j, j + 1)` µs and is labelled with
/// its upper edge, as oslat labels it.
fn oslat_buckets(h: &workloads::experiment::oslat::OslatCpu) -> Vec<u64> {
    use workloads::experiment::oslat::{BUCKETS, FINE_BUCKETS};
    let fine = FINE_BUCKETS as usize;
    let mut b = vec![h.buckets[..fine].iter().sum()];
    b.extend(&h.buckets[fine..BUCKETS - 2]);
    b.push(h.buckets[BUCKETS - 2] + h.buckets[BUCKETS - 1]);
    b
}

/// `oslat -q`'s summary (write_summary) for each protocol's run, from the programs' histograms:
/// one column per isolated CPU. Needs `run.activity.loop = "oslat"`. The minimum and maximum are
/// oslat's (whole µs); the average is the exact mean of the loop's iterations, where oslat
/// estimates it from its buckets' upper edges.
pub fn oslat(c: &Comparison) -> Result<String, String> {
    if c.config.run.activity.task_loop != TaskLoop::Oslat {
        return Err("--format oslat prints the oslat loop's own histogram: run it with \
                    --set run.activity.loop=oslat"
            .into());
    }
    let mut out = String::new();
    // Each summary ends with an empty line, as oslat's does: that separates them.
    for r in &c.reports {
        title(&mut out, c, r, "oslat");
        let cpus = &r.oslat_cpus;
        let field = |out: &mut String, label: &str, values: &mut dyn Iterator<Item = String>, end: &str| {
            let _ = write!(out, "{label:>12}:\t");
            for v in values {
                let _ = write!(out, " {v}");
            }
            let _ = writeln!(out, "{end}");
        };
        field(&mut out, "Core", &mut cpus.iter().map(|h| h.cpu.to_string()), "");
        field(&mut out, "Counter Freq", &mut cpus.iter().map(|_| r.clock_mhz.to_string()), " (MHz)");
        let buckets: Vec<Vec<u64>> = cpus.iter().map(oslat_buckets).collect();
        let n = buckets.first().map_or(0, Vec::len);
        for j in 0..n {
            let end = if j + 1 == n { " (including overflows)" } else { "" };
            field(&mut out, &format!("{:03} (us)", j + 1), &mut buckets.iter().map(|b| b[j].to_string()), end);
        }
        let us = |ns: u64| (ns / 1000).to_string();
        field(&mut out, "Minimum", &mut cpus.iter().map(|h| us(h.min_ns)), " (us)");
        field(&mut out, "Average", &mut cpus.iter().map(|h| format!("{:.3}", h.mean_ns() / 1000.0)), " (us)");
        field(&mut out, "Maximum", &mut cpus.iter().map(|h| us(h.max_ns)), " (us)");
        field(&mut out, "Max-Min", &mut cpus.iter().map(|h| (h.max_ns / 1000 - h.min_ns / 1000).to_string()), " (us)");
        let duration = |h: &workloads::experiment::oslat::OslatCpu| {
            let start_ns = h.start.map_or(r.simulated_ns, |s| s as f64 * 1000.0 / r.clock_mhz as f64);
            format!("{:.3}", (r.simulated_ns - start_ns).max(0.0) / 1e9)
        };
        field(&mut out, "Duration", &mut cpus.iter().map(duration), " (sec)");
        out.push('\n');
    }
    Ok(out)
}

/// One statistic: gem5's name (`system.cpuN.` prefixed for a core's), how to get it, its
/// description with its unit.
type Stat = (&'static str, fn(&workloads::experiment::CoreStats) -> u64, &'static str);

const CORE_STATS: [Stat; 25] = [
    ("committedInsts", |s| s.committed_insts, "Number of instructions committed (Count)"),
    ("numCycles", |s| s.cycles, "Number of cpu cycles simulated (Cycle)"),
    ("loads", |s| s.loads, "Loads satisfied, restarted ones included (Count)"),
    ("loadsForwarded", |s| s.loads_forwarded, "Loads satisfied from the core's own store buffer (Count)"),
    ("loadsRestarted", |s| s.loads_restarted, "Loads restarted by the memory-ordering rules (Count)"),
    ("stores", |s| s.stores, "Stores that reached storage (Count)"),
    ("rmws", |s| s.rmws, "Atomic read-modify-writes performed (Count)"),
    ("maintenanceOps", |s| s.maintenance, "Cache and TLB maintenance operations performed (Count)"),
    ("dcache.l1.hits", |s| s.l1_hits, "Data accesses served by the core's own L1 (Count)"),
    (
        "dcache.l1.misses",
        |s| s.shared_hits + s.remote_transfers + s.memory_accesses,
        "Data accesses the L1 missed (Count)",
    ),
    ("dcache.shared.hits", |s| s.shared_hits, "L1 misses served by the shared level (Count)"),
    ("dcache.remoteTransfers", |s| s.remote_transfers, "L1 misses served by another core's cache (Count)"),
    ("dcache.memoryAccesses", |s| s.memory_accesses, "L1 misses served by memory (Count)"),
    ("mmu.tlb.hits", |s| s.tlb_hits, "TLB lookups that hit (Count)"),
    ("mmu.tlb.misses", |s| s.tlb_misses, "TLB lookups that missed, each a page-table walk (Count)"),
    ("tlbisSent", |s| s.tlbis_sent, "Broadcast TLB invalidations performed (Count)"),
    ("tlbisReceived", |s| s.tlbis_received, "Broadcast TLB invalidations that stalled this core (Count)"),
    ("ipisSent", |s| s.ipis_sent, "SGIs sent, one per target (Count)"),
    ("irqsTaken", |s| s.irqs_taken, "Interrupts taken (Count)"),
    ("syscalls", |s| s.syscalls, "System calls taken (Count)"),
    ("otherExceptions", |s| s.other_exceptions, "Other synchronous exceptions taken (Count)"),
    ("rob.fullStallCycles", |s| s.rob_full_cycles, "Cycles fetch waited for room in the reorder buffer (Cycle)"),
    (
        "sq.fullStallCycles",
        |s| s.store_buffer_full_cycles,
        "Cycles retirement waited for room in the store buffer (Cycle)",
    ),
    (
        "barrierStallCycles",
        |s| s.barrier_stall_cycles,
        "Cycles retirement waited for a DMB, DSB or ISB to complete (Cycle)",
    ),
    (
        "ipc_x1000",
        |s| (s.committed_insts * 1000).checked_div(s.cycles).unwrap_or(0),
        "Instructions per cycle, times 1000 (Ratio)",
    ),
];

/// `--stats FILE`: gem5's stats.txt layout, `name value # description (unit)`, one block per
/// protocol between gem5's Begin/End lines: the run-wide figures, then every core's.
pub fn stats_text(c: &Comparison) -> String {
    let mut out = String::new();
    let line = |out: &mut String, name: &str, value: String, desc: &str| {
        let _ = writeln!(out, "{name:<46} {value:>16}   # {desc}");
    };
    for r in &c.reports {
        out.push_str("\n---------- Begin Simulation Statistics ----------\n");
        title(&mut out, c, r, "statistics");
        line(&mut out, "simSeconds", format!("{:.6}", r.simulated_ns / 1e9), "Number of seconds simulated (Second)");
        line(&mut out, "simInsts", r.instructions.to_string(), "Number of instructions simulated (Count)");
        line(&mut out, "simCoreCycles", r.core_cycles.to_string(), "Cycles simulated times the CPUs (Cycle)");
        line(&mut out, "simEvents", r.events.to_string(), "Events the engine processed (Count)");
        if let Some(h) = c.host.as_ref().and_then(|h| h.runs.iter().find(|h| h.name == r.name)) {
            line(&mut out, "hostSeconds", format!("{:.3}", h.host_seconds), "Real time elapsed on the host (Second)");
            line(
                &mut out,
                "hostInstRate",
                format!("{:.0}", h.host_mips * 1e6),
                "Simulator instruction rate (Count/Second)",
            );
            line(&mut out, "hostEventRate", format!("{:.0}", h.host_event_rate), "Simulator event rate (Count/Second)");
            line(
                &mut out,
                "hostSimNsRate",
                format!("{:.0}", h.sim_ns_per_host_second),
                "Simulated nanoseconds per host second (Nanosecond/Second)",
            );
        }
        for s in &r.core_stats {
            for (name, get, desc) in CORE_STATS {
                line(&mut out, &format!("system.cpu{:02}.{name}", s.cpu), get(s).to_string(), desc);
            }
        }
        out.push_str("\n---------- End Simulation Statistics   ----------\n");
    }
    out
}

/// `--stats FILE.json`: the same statistics as JSON, one object per protocol.
pub fn stats_json(c: &Comparison) -> String {
    let runs: Vec<serde_json::Value> = c
        .reports
        .iter()
        .map(|r| {
            serde_json::json!({
                "protocol": r.name,
                "seed": c.seed,
                "sim_seconds": r.simulated_ns / 1e9,
                "sim_insts": r.instructions,
                "sim_core_cycles": r.core_cycles,
                "events": r.events,
                "host": c.host.as_ref().and_then(|h| h.runs.iter().find(|h| h.name == r.name)),
                "cores": r.core_stats,
            })
        })
        .collect();
    serde_json::to_string_pretty(&runs).expect("statistics serialize") + "\n"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rtla_durations_are_days_and_time_of_day() {
        assert_eq!(rtla_duration(0.0), "  0 00:00:00");
        assert_eq!(rtla_duration(100e6), "  0 00:00:00");
        assert_eq!(rtla_duration(((2 * 86_400 + 3 * 3600 + 4 * 60 + 5) as f64) * 1e9), "  2 03:04:05");
    }

    #[test]
    fn a_top_row_has_rtla_widths_and_integer_availability() {
        let x = IsolatedRow {
            cpu: 57,
            runtime_ns: 100_000_000.0,
            noise_ns: 251_280.0,
            max_noise_ns: 6_240.0,
            max_single_ns: 1_680.0,
            irqs: 31,
            tlbi_disturbances: 327,
            ..IsolatedRow::default()
        };
        let mut s = String::new();
        top_row(&mut s, &x, 1000);
        // (100000 - 251) * 10^7 / 100000 = 9974900: "99.74900".
        assert_eq!(
            s,
            " 57 #100          100000          251    99.74900           6            1         327            0           31            0            0\n"
        );
    }
}
