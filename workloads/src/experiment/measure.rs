//! The experiment's measures (DESIGN.md "Measures"): osnoise-style rows per
//! isolated CPU, oslat-style loop latencies, sender latencies, the entry
//! penalty, interrupt rates.

use std::collections::BTreeMap;

use cpu_model::code::CodeSpace;
use cpu_model::core::ExceptionKind;
use cpu_model::machine::Machine;
use memory_model::cache::Served;
use serde::{Deserialize, Serialize};
use sim::Cycle;
use sim::stats::{Distribution, Summary};

use super::build::{Experiment, HK_LOG, probe};
use super::oslat::{self, OslatCpu};
use super::safety::{Break, Checker, Orderings, Safety};
use crate::activity::Op;
use crate::kernel::Protocol;
use crate::verify::timeline::CodeNames;

/// oslat's histogram: 1 µs buckets up to this many microseconds, then one
/// overflow bucket.
pub const OSLAT_BUCKETS: usize = 32;

/// One isolated CPU, as osnoise reports it (times in nanoseconds).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct IsolatedRow {
    /// The CPU.
    pub cpu: usize,
    /// Time measured: from the task's first user-space iteration to the end of the run.
    #[serde(with = "sim::float")]
    pub runtime_ns: f64,
    /// Time taken from the task by interrupts and TLB-invalidation disturbances.
    #[serde(with = "sim::float")]
    pub noise_ns: f64,
    /// 100 × (runtime − noise) / runtime.
    #[serde(with = "sim::float")]
    pub cpu_avail_pct: f64,
    /// Most noise within one osnoise period.
    #[serde(with = "sim::float")]
    pub max_noise_ns: f64,
    /// Longest single noise event.
    #[serde(with = "sim::float")]
    pub max_single_ns: f64,
    /// Interrupts taken.
    pub irqs: u64,
    /// Interrupts per second of runtime.
    #[serde(with = "sim::float")]
    pub irqs_per_s: f64,
    /// Interrupts by the cross-CPU callback they ran (`do_nothing` is a kick,
    /// `do_flush_tlb_kernel_range` a TLB flush), `other` for none.
    pub ipis_by_callback: BTreeMap<String, u64>,
    /// Broadcast TLB invalidations that stalled the CPU.
    pub tlbi_disturbances: u64,
    /// System calls the task made.
    pub syscalls: u64,
    /// This CPU's noise events by duration, [`NOISE_BUCKET_NS`]-wide buckets, empty ones left
    /// out (what `rtla osnoise hist` histograms per CPU).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub noise_event_histogram: Vec<NoiseBucket>,
}

/// Width of the noise-event histogram's buckets, in nanoseconds: fine enough that a CDF drawn
/// from it resolves the difference between a kick (a few hundred ns) and a TLB flush.
pub const NOISE_BUCKET_NS: u64 = 50;

/// One bucket of the noise-event histogram: events that lasted `[from_ns, from_ns +
/// NOISE_BUCKET_NS)`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NoiseBucket {
    /// Lower bound in nanoseconds (a multiple of [`NOISE_BUCKET_NS`]).
    pub from_ns: u64,
    /// Noise events in the bucket.
    pub count: u64,
}

/// One bucket of the oslat histogram.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistogramBucket {
    /// Lower bound in microseconds (the overflow bucket's is `OSLAT_BUCKETS`).
    pub from_us: u64,
    /// Loop iterations that took `[from_us, from_us + 1)` µs (or more, for the overflow bucket).
    pub count: u64,
}

/// One bucket of the `oslat` loop's histogram below 1 µs: iterations that took `[from_ns,
/// from_ns + oslat::FINE_NS)`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubUsBucket {
    /// Lower bound in nanoseconds.
    pub from_ns: u64,
    /// Loop iterations in the bucket.
    pub count: u64,
}

/// One core's statistics over the run, as gem5's stats.txt lists a CPU's (`--stats`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CoreStats {
    /// The CPU.
    pub cpu: usize,
    /// Instructions committed (a `work` compute block counts as one).
    pub committed_insts: u64,
    /// Cycles simulated.
    pub cycles: u64,
    /// Loads satisfied, restarted ones included.
    pub loads: u64,
    /// Of which forwarded from the core's own store buffer.
    pub loads_forwarded: u64,
    /// Loads restarted by the memory-ordering rules.
    pub loads_restarted: u64,
    /// Stores that reached storage.
    pub stores: u64,
    /// Atomic read-modify-writes performed.
    pub rmws: u64,
    /// Cache and TLB maintenance operations performed.
    pub maintenance: u64,
    /// Data accesses (loads not forwarded, stores, RMWs) served by the core's own L1.
    pub l1_hits: u64,
    /// Data accesses the L1 missed that the shared level served (other cores share the line).
    pub shared_hits: u64,
    /// Data accesses the L1 missed that another core's cache served (it owned the line).
    pub remote_transfers: u64,
    /// Data accesses that went to memory.
    pub memory_accesses: u64,
    /// TLB lookups that hit.
    pub tlb_hits: u64,
    /// TLB lookups that missed (each a page-table walk).
    pub tlb_misses: u64,
    /// Broadcast TLB invalidations this core performed.
    pub tlbis_sent: u64,
    /// Broadcast TLB invalidations that stalled this core.
    pub tlbis_received: u64,
    /// SGIs (IPIs) this core sent.
    pub ipis_sent: u64,
    /// Interrupts this core took.
    pub irqs_taken: u64,
    /// System calls (SVC) this core took.
    pub syscalls: u64,
    /// Other synchronous exceptions (aborts, undefined instructions).
    pub other_exceptions: u64,
    /// Cycles fetch waited for room in the reorder buffer.
    #[serde(default)]
    pub rob_full_cycles: u64,
    /// Cycles retirement waited with a store at the head and the store buffer full.
    #[serde(default)]
    pub store_buffer_full_cycles: u64,
    /// Cycles retirement waited with an uncompleted barrier (DMB, DSB, ISB) at the head.
    #[serde(default)]
    pub barrier_stall_cycles: u64,
}

/// Latency of one kind of housekeeping operation, as its CPU timed it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OpLatency {
    /// The operation (`text-patch`, `vmalloc`, `slab-tune`, `munmap`).
    pub op: String,
    /// Its duration in nanoseconds.
    pub ns: Summary,
}

/// The isolated tasks' system calls (durations in nanoseconds, entry to return).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SyscallStats {
    /// Every system call.
    pub all: Summary,
    /// The first kernel entry after a kick skipped the CPU (the one that pays for the deferral).
    pub after_deferral: Summary,
}

/// Everything one run measured.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// The kick protocol (the base protocol of a variant).
    pub protocol: Protocol,
    /// The protocol's name: the built-in one's, or the variant file's stem.
    pub name: String,
    /// The seed.
    pub seed: u64,
    /// CPUs simulated.
    pub cpus: usize,
    /// Core clock.
    pub clock_mhz: u64,
    /// Simulated time covered (less than configured if a violation stopped the run), ns. Every
    /// measure of the report covers this time, not the configured one.
    #[serde(with = "sim::float")]
    pub simulated_ns: f64,
    /// Simulated time the configuration asked for (`run.duration_us`), ns.
    #[serde(default)]
    #[serde(with = "sim::float")]
    pub configured_ns: f64,
    /// Why the run ended before the configured time, if it did.
    #[serde(default)]
    pub stopped_early: Option<String>,
    /// Events the engine processed.
    pub events: u64,
    /// Instructions the cores retired (gem5's `sim_insts`; a `work` compute block counts as one).
    #[serde(default)]
    pub instructions: u64,
    /// Simulated core-cycles: the cycles simulated times the CPUs.
    #[serde(default)]
    pub core_cycles: u64,
    /// Per isolated CPU.
    pub isolated: Vec<IsolatedRow>,
    /// Loop-iteration latency over all isolated CPUs, ns (iterations with the task's own
    /// system calls left out, as oslat's loop makes none).
    pub oslat_ns: Summary,
    /// 1 µs histogram of the same, with an overflow bucket.
    pub oslat_histogram: Vec<HistogramBucket>,
    /// The `oslat` loop's finer buckets below 1 µs, over all isolated CPUs (their sum is the
    /// first 1 µs bucket); empty for the `work` loop.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub oslat_sub_us_histogram: Vec<SubUsBucket>,
    /// The `oslat` loop's histogram per isolated CPU, as the program kept it in its memory (what
    /// oslat prints per CPU); empty for the `work` loop.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub oslat_cpus: Vec<OslatCpu>,
    /// Durations of single noise events (interrupts and TLB-invalidation disturbances) over all
    /// isolated CPUs, ns.
    pub noise_events_ns: Summary,
    /// The same as a histogram of [`NOISE_BUCKET_NS`]-wide buckets, empty buckets left out
    /// (histograms of several runs add up bucket by bucket; a CDF is their running sum).
    pub noise_event_histogram: Vec<NoiseBucket>,
    /// Sender latency per operation kind.
    pub senders: Vec<OpLatency>,
    /// The isolated tasks' system calls.
    pub syscalls: SyscallStats,
    /// The seed's orderings, counted.
    pub orderings: Orderings,
    /// The first isolation break (an interrupt decided while the CPU ran user code), with what
    /// its cause is derived from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_break: Option<Break>,
    /// The safety check.
    pub safety: Safety,
    /// Per core, what gem5's stats.txt would list (only when asked for: `--stats`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub core_stats: Vec<CoreStats>,
}

pub(crate) fn report(
    exp: &Experiment,
    m: &Machine,
    code: &CodeSpace,
    checker: &Checker,
    end: Cycle,
    events: u64,
) -> (Report, Vec<Option<Cycle>>) {
    let cfg = &exp.machine;
    let ns = |c: Cycle| cfg.ns(c);
    let names = CodeNames::new(code);
    // Checked when the experiment was built (ExperimentConfig::validate_at).
    let period = exp.run.osnoise_period_us.saturating_mul(cfg.clock_mhz);

    let mut oslat = Distribution::new();
    let mut buckets = vec![0u64; OSLAT_BUCKETS + 1];
    let mut syscalls_all = Distribution::new();
    let mut syscalls_deferred = Distribution::new();
    let mut noise_events = Distribution::new();
    let mut noise_buckets: BTreeMap<u64, u64> = BTreeMap::new();
    let mut rows = vec![];
    let mut isolated_since = vec![];
    let mut oslat_cpus = vec![];
    // Decision cycles at which some kick skipped each isolated CPU.
    let mut skips: BTreeMap<usize, Vec<Cycle>> = BTreeMap::new();
    for k in &checker.kicks {
        for &(c, skipped, d, _) in &k.decisions {
            if skipped {
                skips.entry(c).or_default().push(d);
            }
        }
    }

    for &c in &exp.layout.isolated {
        let core = &m.state().cores[c];
        let obs = m.observed(c);
        // The work loop is timed by its probe; the oslat loop times itself.
        let iters: Vec<Cycle> = if exp.layout.oslat.is_empty() {
            obs.probe_hits.iter().filter(|h| h.probe == probe::USER_ITER && h.el == 0).map(|h| h.at).collect()
        } else {
            vec![]
        };
        let own = exp.layout.oslat.get(rows.len()).map(|&base| OslatCpu::read(c, core, &m.state().mem, base));
        let start = match &own {
            Some(h) => h.start,
            None => iters.first().copied(),
        };
        if let Some(h) = own {
            oslat_cpus.push(h);
        }
        isolated_since.push(start);
        let Some(start) = start else {
            // The task never reached user space: nothing to measure.
            rows.push(IsolatedRow { cpu: c, ..IsolatedRow::default() });
            continue;
        };
        let ex: Vec<_> = core.exceptions().iter().filter(|e| e.taken_at >= start && e.taken_at < end).collect();
        let svcs: Vec<(Cycle, Cycle)> = ex
            .iter()
            .filter(|e| matches!(e.kind, ExceptionKind::Sync { class: 0x15 }) && e.from_el == 0)
            .map(|e| (e.taken_at, e.returned_at.unwrap_or(end).min(end)))
            .collect();

        // Noise events: interrupts (from user space or nested in a system call) and disturbances.
        let mut noise: Vec<(Cycle, Cycle)> = ex
            .iter()
            .filter(|e| e.kind == ExceptionKind::Irq)
            .map(|e| (e.taken_at, e.returned_at.unwrap_or(end).min(end) - e.taken_at))
            .collect();
        noise.extend(obs.disturbances.iter().filter(|d| d.0 >= start && d.0 < end).copied());
        noise.sort_unstable();
        let total: Cycle = noise.iter().map(|n| n.1).sum();
        let mut cpu_buckets: BTreeMap<u64, u64> = BTreeMap::new();
        for &(_, d) in &noise {
            let d = ns(d).round() as u64;
            noise_events.record(d);
            *noise_buckets.entry(d / NOISE_BUCKET_NS * NOISE_BUCKET_NS).or_default() += 1;
            *cpu_buckets.entry(d / NOISE_BUCKET_NS * NOISE_BUCKET_NS).or_default() += 1;
        }
        let max_single = noise.iter().map(|n| n.1).max().unwrap_or(0);
        let mut per_period: BTreeMap<Cycle, Cycle> = BTreeMap::new();
        for &(at, d) in &noise {
            *per_period.entry((at - start) / period.max(1)).or_default() += d;
        }
        let max_noise = per_period.values().copied().max().unwrap_or(0);
        let runtime = end.saturating_sub(start);

        let mut by_callback: BTreeMap<String, u64> = BTreeMap::new();
        let calls: Vec<(Cycle, u64)> =
            obs.probe_hits.iter().filter(|h| h.probe == probe::CALL_FUNC).map(|h| (h.at, h.values[0])).collect();
        let mut irqs = 0;
        for e in ex.iter().filter(|e| e.kind == ExceptionKind::Irq) {
            irqs += 1;
            let until = e.returned_at.unwrap_or(end);
            let lo = calls.partition_point(|x| x.0 < e.taken_at);
            let hi = calls.partition_point(|x| x.0 <= until);
            if lo == hi {
                *by_callback.entry("other".into()).or_default() += 1;
            }
            for &(_, f) in &calls[lo..hi] {
                let name = names.exact(f).map_or_else(|| names.name(f), str::to_string);
                *by_callback.entry(name).or_default() += 1;
            }
        }

        // oslat: iteration gaps without the task's own system calls.
        for w in iters.windows(2) {
            let (a, b) = (w[0], w[1]);
            if b > end {
                break;
            }
            let i = svcs.partition_point(|s| s.0 < a);
            if svcs.get(i).is_some_and(|s| s.0 < b) {
                continue;
            }
            let gap_ns = ns(b - a);
            oslat.record(gap_ns.round() as u64);
            buckets[((gap_ns / 1000.0) as usize).min(OSLAT_BUCKETS)] += 1;
        }

        // System calls, and which ones were the first entry after a deferral.
        let skipped_at = skips.get(&c).map_or(&[][..], |v| v.as_slice());
        let mut last_exit = start;
        let entries: Vec<(Cycle, Option<Cycle>)> =
            ex.iter().filter(|e| e.from_el == 0).map(|e| (e.taken_at, e.returned_at)).collect();
        for &(taken, returned) in &entries {
            let deferred_since = skipped_at.iter().any(|&d| d >= last_exit && d < taken);
            if let Some(&(s, e)) = svcs.iter().find(|s| s.0 == taken) {
                let d = ns(e - s).round() as u64;
                syscalls_all.record(d);
                if deferred_since {
                    syscalls_deferred.record(d);
                }
            }
            last_exit = returned.unwrap_or(end);
        }

        rows.push(IsolatedRow {
            cpu: c,
            runtime_ns: ns(runtime),
            noise_ns: ns(total),
            cpu_avail_pct: if runtime > 0 {
                100.0 * (runtime - total.min(runtime)) as f64 / runtime as f64
            } else {
                0.0
            },
            max_noise_ns: ns(max_noise),
            max_single_ns: ns(max_single),
            irqs,
            irqs_per_s: if runtime > 0 { irqs as f64 / (ns(runtime) * 1e-9) } else { 0.0 },
            ipis_by_callback: by_callback,
            tlbi_disturbances: obs.disturbances.iter().filter(|d| d.0 >= start && d.0 < end).count() as u64,
            syscalls: svcs.len() as u64,
            noise_event_histogram: cpu_buckets
                .into_iter()
                .map(|(from_ns, count)| NoiseBucket { from_ns, count })
                .collect(),
        });
    }

    // Sender latency: the housekeeping CPUs' logs (operation, start, end).
    let mem = &m.state().mem;
    let mut per_op: BTreeMap<Op, Distribution> = BTreeMap::new();
    for &(_, log, n) in &exp.layout.generators {
        for k in 0..n as u64 {
            let e = log + HK_LOG * k;
            let Some(op) = Op::from_code(mem.read(e).value) else { break };
            let (s, f) = (mem.read(e + 8).value, mem.read(e + 16).value);
            per_op.entry(op).or_default().record(ns(f.saturating_sub(s)).round() as u64);
        }
    }
    let (oslat_ns, oslat_histogram, oslat_sub_us_histogram) = if oslat_cpus.is_empty() {
        let coarse = buckets.into_iter().enumerate().map(|(i, count)| HistogramBucket { from_us: i as u64, count });
        (oslat.summary(), coarse.collect(), vec![])
    } else {
        program_histograms(&oslat_cpus)
    };
    let senders = per_op.into_iter().map(|(op, d)| OpLatency { op: op.name().to_string(), ns: d.summary() }).collect();

    let core_stats = if exp.core_stats { core_stats(m, end) } else { vec![] };
    let (orderings, first_break) = checker.orderings(m, &isolated_since);
    let stopped_early = (end < exp.horizon).then(|| match checker.violations().first() {
        Some(v) => format!(
            "stopped at the first safety violation ({} on CPU {} at {:.2} µs; run.stop_on_violation = true)",
            v.kind,
            v.cpu,
            ns(v.at) / 1000.0
        ),
        None => "stopped before the configured time".to_string(),
    });
    let report = Report {
        protocol: exp.protocol,
        name: exp.name.clone(),
        seed: exp.seed,
        cpus: exp.run.cpus,
        clock_mhz: cfg.clock_mhz,
        simulated_ns: ns(end),
        configured_ns: ns(exp.horizon),
        stopped_early,
        events,
        instructions: m.state().cores.iter().map(|c| c.retired()).sum(),
        core_cycles: end.saturating_mul(exp.run.cpus as u64),
        isolated: rows,
        oslat_ns,
        oslat_histogram,
        oslat_sub_us_histogram,
        oslat_cpus,
        noise_events_ns: noise_events.summary(),
        noise_event_histogram: noise_buckets
            .into_iter()
            .map(|(from_ns, count)| NoiseBucket { from_ns, count })
            .collect(),
        senders,
        syscalls: SyscallStats { all: syscalls_all.summary(), after_deferral: syscalls_deferred.summary() },
        orderings,
        first_break,
        safety: checker.safety().clone(),
        core_stats,
    };
    (report, isolated_since)
}

/// Every core's [`CoreStats`] over the run's first `end` cycles.
fn core_stats(m: &Machine, end: Cycle) -> Vec<CoreStats> {
    (0..m.state().cores.len())
        .map(|c| {
            let core = &m.state().cores[c];
            let k = m.core_counters(c);
            let tlb = m.mmu().tlb(c).map(|t| *t.stats()).unwrap_or_default();
            let ex = core.exceptions().iter().filter(|e| e.taken_at < end);
            let (mut irqs, mut svcs, mut other) = (0, 0, 0);
            for e in ex {
                match e.kind {
                    ExceptionKind::Irq => irqs += 1,
                    ExceptionKind::Sync { class: 0x15 } => svcs += 1,
                    ExceptionKind::Sync { .. } => other += 1,
                }
            }
            let stalls = core.stall_cycles(end);
            CoreStats {
                cpu: c,
                committed_insts: core.retired(),
                cycles: end,
                loads: k.loads,
                loads_forwarded: k.forwarded,
                loads_restarted: k.restarts,
                stores: k.stores,
                rmws: k.rmws,
                maintenance: k.maintenance,
                l1_hits: k.served(Served::L1),
                shared_hits: k.served(Served::Shared),
                remote_transfers: k.served(Served::Remote),
                memory_accesses: k.served(Served::Memory),
                tlb_hits: tlb.hits,
                tlb_misses: tlb.misses,
                tlbis_sent: k.tlbis_broadcast,
                tlbis_received: m.observed(c).disturbances.iter().filter(|d| d.0 < end).count() as u64,
                ipis_sent: k.sgis_sent,
                irqs_taken: irqs,
                syscalls: svcs,
                other_exceptions: other,
                rob_full_cycles: stalls.rob_full,
                store_buffer_full_cycles: stalls.store_buffer_full,
                barrier_stall_cycles: stalls.barrier,
            }
        })
        .collect()
}

/// The report's oslat measures from the programs' own histograms: the summary (count, min, mean
/// and max exact; a quantile is the lower edge of the bucket that holds it, kept within [min,
/// max]), the 1 µs histogram and the buckets below 1 µs, over all CPUs.
fn program_histograms(cpus: &[OslatCpu]) -> (Summary, Vec<HistogramBucket>, Vec<SubUsBucket>) {
    let mut all = vec![0u64; oslat::BUCKETS];
    for h in cpus {
        for (a, b) in all.iter_mut().zip(&h.buckets) {
            *a += b;
        }
    }
    let measured: Vec<&OslatCpu> = cpus.iter().filter(|h| h.count > 0).collect();
    let count: u64 = measured.iter().map(|h| h.count).sum();
    let sum: u64 = measured.iter().map(|h| h.sum_ns).sum();
    let min = measured.iter().map(|h| h.min_ns).min().unwrap_or(0);
    let max = measured.iter().map(|h| h.max_ns).max().unwrap_or(0);
    let quantile = |q: f64| {
        if count == 0 {
            return 0;
        }
        let rank = ((q * count as f64).ceil() as u64).clamp(1, count);
        let mut seen = 0;
        for (k, &n) in all.iter().enumerate() {
            seen += n;
            if seen >= rank {
                return if k == oslat::BUCKETS - 1 { max } else { OslatCpu::bucket_from_ns(k).clamp(min, max) };
            }
        }
        max
    };
    let summary = Summary {
        count,
        min,
        mean: if count == 0 { 0.0 } else { sum as f64 / count as f64 },
        p50: quantile(0.5),
        p99: quantile(0.99),
        p999: quantile(0.999),
        p9999: quantile(0.9999),
        max,
    };
    let fine = oslat::FINE_BUCKETS as usize;
    let mut coarse = vec![HistogramBucket { from_us: 0, count: all[..fine].iter().sum() }];
    coarse.extend(all[fine..].iter().enumerate().map(|(i, &count)| HistogramBucket { from_us: i as u64 + 1, count }));
    let sub_us = all[..fine]
        .iter()
        .enumerate()
        .map(|(k, &count)| SubUsBucket { from_ns: OslatCpu::bucket_from_ns(k), count })
        .collect();
    (summary, coarse, sub_us)
}
