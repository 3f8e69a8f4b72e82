//! `isolsim calibrate --measured FILE.toml`: the user's own measurements of their machine,
//! compared with what the simulated machine gives, in the same agreement table as the built-in
//! figures.
//!
//! Every key is optional; each one given becomes a figure. A value is a number (agreement: half
//! to twice it, as the built-in ratio figures) or a table with its own band:
//!
//! ```toml
//! name = "Altra Q80-30, Linux 6.8"          # the report's title (default: the file name)
//! source = "ipi_benchmark + osnoise, 2026"  # where the numbers come from
//!
//! [ipi]
//! unicast_round_trip_ns = 1450              # smp_call_function_single(wait=1), mean
//! unicast_delivery_ns = 900                 # call start to the target's handler
//! broadcast_ns = { value = 25000, accept = [20000, 30000] }  # every other CPU, wait=1
//!
//! [entry]
//! getpid_ns = 770                           # getpid() on an isolated CPU, stock kernel
//! penalty_ns = 570                          # what the deferred flush adds to it
//!
//! [mprotect]
//! call_us = 3.0                             # mprotect() of one page, in a loop
//! sibling_slowdown_percent = 25.6           # a job next to that loop on a sibling CPU
//!
//! [osnoise]
//! ipi_noise_us = 4.5                        # noise one kick IPI leaves on an isolated CPU
//! tlb_flush_noise_us = 1.2                  # noise one kernel TLB flush (vfree) leaves there
//! ```
//!
//! The simulated side runs the same code paths as the built-in figures (the IPI benchmark, the
//! mprotect() benchmark, the isolation experiment), on the configuration `--preset`, `--config`
//! and `--set` describe.

use std::ops::Range;

use serde::Deserialize;
use workloads::activity::{ActivityConfig, TaskLoop};
use workloads::experiment::{ExperimentConfig, IsolatedRow};
use workloads::ipi::IpiBench;
use workloads::kernel::Protocol;

use super::{CalibrateError, Figure, Report, experiments, ipi_target};
use crate::config::{Config, ConfigError, Spans, line_col, parse_toml};

/// A measured value: a number, or one with its own agreement band.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum Measure {
    /// Agreement: half to twice it.
    Value(f64),
    /// Agreement: `accept[0]..=accept[1]`.
    Banded {
        /// The measured value.
        value: f64,
        /// Lowest and highest simulated value that agrees.
        accept: [f64; 2],
    },
}

impl Measure {
    fn value(&self) -> f64 {
        match self {
            Measure::Value(v) | Measure::Banded { value: v, .. } => *v,
        }
    }

    fn band(&self) -> (f64, f64) {
        match self {
            Measure::Value(v) => (v / 2.0, v * 2.0),
            Measure::Banded { accept, .. } => (accept[0], accept[1]),
        }
    }

    /// What is wrong with it, if anything.
    fn problem(&self) -> Option<String> {
        let v = self.value();
        let (lo, hi) = self.band();
        if !v.is_finite() || v < 0.0 {
            return Some(format!("a measurement must be a finite number ≥ 0, not {v}"));
        }
        if !(lo.is_finite() && hi.is_finite()) || lo > v || v > hi {
            return Some(format!("the band [{lo}, {hi}] must be finite and hold the value {v}"));
        }
        None
    }
}

/// IPI figures (Norov's `ipi_benchmark` measures all three).
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IpiMeasured {
    /// smp_call_function_single(wait=1) to another core, mean, ns.
    pub unicast_round_trip_ns: Option<Measure>,
    /// From the call's start to the target's handler, ns.
    pub unicast_delivery_ns: Option<Measure>,
    /// smp_call_function_many(wait=1) to every other CPU, ns.
    pub broadcast_ns: Option<Measure>,
}

/// Kernel entry on an isolated CPU.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EntryMeasured {
    /// getpid() under the stock kernel, ns (SVC to return).
    pub getpid_ns: Option<Measure>,
    /// What the deferred kernel TLB flush adds to getpid(), ns.
    pub penalty_ns: Option<Measure>,
}

/// Broadcast TLB invalidation, as mprotect() pays for it.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MprotectMeasured {
    /// One mprotect() call on one page, in a loop, µs.
    pub call_us: Option<Measure>,
    /// Slowdown of a job on a sibling CPU of that loop, percent.
    pub sibling_slowdown_percent: Option<Measure>,
}

/// osnoise figures on an isolated CPU under the stock kernel.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OsnoiseMeasured {
    /// Noise one kick IPI (a static-key flip's) leaves, µs.
    pub ipi_noise_us: Option<Measure>,
    /// Noise one kernel TLB flush (vfree) leaves, µs.
    pub tlb_flush_noise_us: Option<Measure>,
}

/// A `--measured` file.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Measured {
    /// Title of the report.
    pub name: Option<String>,
    /// Where the numbers come from.
    pub source: Option<String>,
    /// IPI figures.
    #[serde(default)]
    pub ipi: IpiMeasured,
    /// Kernel entry figures.
    #[serde(default)]
    pub entry: EntryMeasured,
    /// mprotect() figures.
    #[serde(default)]
    pub mprotect: MprotectMeasured,
    /// osnoise figures.
    #[serde(default)]
    pub osnoise: OsnoiseMeasured,
}

impl Measured {
    /// The figures given, by TOML path.
    fn entries(&self) -> Vec<([&'static str; 2], &Measure)> {
        let all: [([&'static str; 2], &Option<Measure>); 9] = [
            (["ipi", "unicast_round_trip_ns"], &self.ipi.unicast_round_trip_ns),
            (["ipi", "unicast_delivery_ns"], &self.ipi.unicast_delivery_ns),
            (["ipi", "broadcast_ns"], &self.ipi.broadcast_ns),
            (["entry", "getpid_ns"], &self.entry.getpid_ns),
            (["entry", "penalty_ns"], &self.entry.penalty_ns),
            (["mprotect", "call_us"], &self.mprotect.call_us),
            (["mprotect", "sibling_slowdown_percent"], &self.mprotect.sibling_slowdown_percent),
            (["osnoise", "ipi_noise_us"], &self.osnoise.ipi_noise_us),
            (["osnoise", "tlb_flush_noise_us"], &self.osnoise.tlb_flush_noise_us),
        ];
        all.into_iter().filter_map(|(k, m)| m.as_ref().map(|m| (k, m))).collect()
    }
}

/// Reads a `--measured` file's `text` (named `name` in errors) strictly: unknown keys, values
/// that are not numbers, negative or non-finite values and bands that do not hold their value
/// are refused at their `file:line:col`, as is a file that gives no figure at all.
pub fn parse(name: &str, text: &str) -> Result<Measured, ConfigError> {
    let m: Measured = parse_toml(name, text)?;
    let spans = Spans::new(text);
    let at = |span: Option<Range<usize>>| Some(span.map_or((1, 1), |s| line_col(text, s.start)));
    for (path, measure) in m.entries() {
        if let Some(message) = measure.problem() {
            return Err(ConfigError {
                file: Some(name.into()),
                pos: at(spans.find(&path)),
                key: Some(path.join(".")),
                message: format!("`{}`: {message}", path.join(".")),
            });
        }
    }
    if m.entries().is_empty() {
        return Err(ConfigError {
            file: Some(name.into()),
            pos: Some((1, 1)),
            key: None,
            message: "no measurement given: see `isolsim calibrate --help` for the keys ([ipi], [entry], [mprotect], \
                      [osnoise])"
                .into(),
        });
    }
    Ok(m)
}

/// Reads and checks a `--measured` file ([`parse`]).
pub fn read(path: &std::path::Path) -> Result<Measured, ConfigError> {
    let (name, text) = crate::config::read(path)?;
    parse(&name, &text)
}

/// The simulated counterpart of each figure `measured` gives, on `cfg`.
pub fn run(file: &str, measured: &Measured, cfg: &Config) -> Result<Report, CalibrateError> {
    let m = &cfg.machine;
    let ns = |cycles: f64| cycles * 1000.0 / m.clock_mhz as f64;
    let source = match &measured.source {
        Some(s) => format!("{s} ({file})"),
        None => file.to_string(),
    };
    let cpus = m.topology.num_cores();
    let mut figures = vec![];
    let figure = |name: &str, unit: &str, measure: &Measure, simulated: f64, how: String| {
        Figure::new(name, &source, unit, measure.value(), measure.band(), simulated, how)
    };
    let ipi = &measured.ipi;
    if ipi.unicast_round_trip_ns.is_some() || ipi.unicast_delivery_ns.is_some() {
        let target = ipi_target(cfg);
        let run = IpiBench::unicast(0, target, 12).run(m, &cfg.kernel)?;
        let how = format!(
            "CPU 0 → CPU {target}, means of calls 2–12: {:.0} cycles round trip, {:.0} to the handler",
            run.steady_mean(),
            run.steady_delivery()
        );
        if let Some(x) = &ipi.unicast_round_trip_ns {
            figures.push(figure("unicast IPI round trip (wait=1)", "ns", x, ns(run.steady_mean()), how.clone()));
        }
        if let Some(x) = &ipi.unicast_delivery_ns {
            figures.push(figure("unicast IPI delivery", "ns", x, ns(run.steady_delivery()), how));
        }
    }
    if let Some(x) = &ipi.broadcast_ns {
        let run = IpiBench::broadcast(0, cpus, 4).run(m, &cfg.kernel)?;
        let how = format!("CPU 0 → CPUs 1–{}: {:.0} cycles (mean after the first call)", cpus - 1, run.steady_mean());
        figures.push(figure("broadcast IPI to every other CPU (wait=1)", "ns", x, ns(run.steady_mean()), how));
    }
    let entry = &measured.entry;
    if entry.getpid_ns.is_some() || entry.penalty_ns.is_some() {
        let (base, deferred, how) = super::getpid_stock_and_deferred(cfg)?;
        if let Some(x) = &entry.getpid_ns {
            figures.push(figure("getpid() on an isolated CPU, stock kernel", "ns", x, base, how.clone()));
        }
        if let Some(x) = &entry.penalty_ns {
            figures.push(figure(
                "getpid() entry penalty of the deferred kernel TLB flush",
                "ns",
                x,
                deferred - base,
                how,
            ));
        }
    }
    let mp = &measured.mprotect;
    if mp.call_us.is_some() || mp.sibling_slowdown_percent.is_some() {
        let (slowdown, alone, loaded) = super::mprotect_bench(cfg)?;
        let how = format!(
            "CPU 1: {} calls; CPU 0's job {} → {} cycles next to them, {} broadcast invalidations received",
            loaded.calls, alone.job, loaded.job, loaded.disturbances
        );
        if let Some(x) = &mp.call_us {
            figures.push(figure("mprotect() on one page, in a loop", "µs", x, loaded.call_ns() / 1000.0, how.clone()));
        }
        if let Some(x) = &mp.sibling_slowdown_percent {
            figures.push(figure("a job next to a sibling's mprotect() loop: slowdown", "%", x, 100.0 * slowdown, how));
        }
    }
    let os = &measured.osnoise;
    for (measure, text_patch, name) in [
        (&os.ipi_noise_us, true, "osnoise: noise of one kick IPI on an isolated CPU"),
        (&os.tlb_flush_noise_us, false, "osnoise: noise of one kernel TLB flush on an isolated CPU"),
    ] {
        if let Some(x) = measure {
            let (us, how) = noise_per_event(cfg, text_patch)?;
            figures.push(figure(name, "µs", x, us, how));
        }
    }
    let title = measured.name.clone().unwrap_or_else(|| file.to_string());
    Ok(Report { config: title, cpus, clock_mhz: m.clock_mhz, figures, measured: true })
}

/// Mean noise per event on the isolated CPUs under the stock kernel, µs, with static-key flips
/// (`text_patch`) or vfree()+vmalloc() flushes as the only housekeeping activity, 50 per second
/// for 2 s, isolated tasks that stay in user space.
fn noise_per_event(cfg: &Config, text_patch: bool) -> Result<(f64, String), CalibrateError> {
    let rate = 50.0;
    let run = ExperimentConfig {
        duration_us: 2_000_000,
        osnoise_period_us: 1_000_000,
        activity: ActivityConfig {
            text_patch_per_s: if text_patch { rate } else { 0.0 },
            vmalloc_per_s: if text_patch { 0.0 } else { rate },
            slab_tune_per_s: 0.0,
            munmap_per_s: 0.0,
            generators: 1,
            syscalls_per_s: 0.0,
            // Long compute blocks: the loop's granularity does not change what interrupts it.
            // So the `work` loop even when the configuration has the instruction-level oslat
            // loop, whose 2 s on every isolated CPU would cost minutes of host time.
            iter_work_cycles: 1_000 * cfg.machine.clock_mhz,
            task_loop: TaskLoop::Work,
            ..cfg.run.activity.clone()
        },
        ..cfg.run.clone()
    };
    let r = experiments(cfg, &run, &[Protocol::Broadcast])?;
    let rep = &r[0];
    let events = |x: &IsolatedRow| x.irqs + x.tlbi_disturbances;
    let total_events: u64 = rep.isolated.iter().map(events).sum();
    let noise_ns: f64 = rep.isolated.iter().map(|x| x.noise_ns).sum();
    let us = if total_events == 0 { 0.0 } else { noise_ns / total_events as f64 / 1000.0 };
    let how = format!(
        "stock kernel, {} {} per second for 2 s: {total_events} noise events on {} isolated CPUs, {:.1} µs of noise",
        rate,
        if text_patch { "static-key flips" } else { "vfree()+vmalloc() flushes" },
        rep.isolated.len(),
        noise_ns / 1000.0
    );
    Ok((us, how))
}
