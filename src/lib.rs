//! # isolsim
//!
//! A cycle-level, discrete-event simulator of weakly ordered multicore
//! machines, built to answer one question from the Linux task-isolation
//! discussion: is it safe, and is it cheaper, to stop interrupting isolated
//! CPUs and let them synchronize themselves on their next kernel entry?
//!
//! The crates, from the bottom up:
//!
//! | crate | what it holds |
//! |---|---|
//! | [`sim`] | event queue with a written same-time ordering contract, seeded random streams, statistics, exhaustive exploration |
//! | [`memory_model`] | flat coherent storage, per-core load/store queues with SC / TSO / ARMv8 (Flat) rules, cache latencies, execution graphs and their axioms |
//! | [`cpu_model`] | AArch64-subset ISA and assembler, out-of-order speculative cores, machines run timed or explored |
//! | [`workloads`] | the litmus front end (herd7 C and AArch64 formats) |
//!
//! This crate re-exports them and adds configuration (presets, strict files), the experiment's
//! comparison and its text/CSV/JSON forms, calibration, sweeps and, with the `plots` feature,
//! their figures; with the `cli` feature, the `isolsim` command line. Both features are on by
//! default; `default-features = false` gives the library alone:
//!
//! ```
//! use isolsim::workloads::experiment::{Experiment, ExperimentConfig};
//! use isolsim::workloads::kernel::Protocol;
//!
//! let cfg = isolsim::config::preset("arm64-server").unwrap();
//! let run = ExperimentConfig { cpus: 16, isolated: 4.into(), duration_us: 2_000, ..cfg.run.clone() };
//! let exp = Experiment::build(&cfg.machine, &cfg.kernel, &run, Protocol::Deferred, 1).unwrap();
//! let report = exp.run().unwrap(); // or run_with_progress(|now, end| …) for a progress bar
//! let per_s = isolsim::experiment::noise_us_per_s(&report).unwrap();
//! let runtime_s = report.isolated.iter().map(|x| x.runtime_ns).sum::<f64>() / 4.0 / 1e9;
//! let noise_us = report.isolated.iter().map(|x| x.noise_ns).sum::<f64>() / 4.0 / 1000.0;
//! assert!((per_s * runtime_s - noise_us).abs() < 1e-6);
//! ```

pub mod calibrate;
pub mod config;
pub mod difftest;
pub mod experiment;
pub mod formats;
pub mod lock;
#[cfg(feature = "plots")]
pub mod report;
pub mod scenario;
pub mod sweep;
pub mod topology;
pub mod verify;

pub use cpu_model;
pub use memory_model;
pub use sim;
pub use workloads;

pub use memory_model::Mode;
pub use workloads::litmus;
pub use workloads::litmus::run::RunOptions;

/// The most worker threads a command takes (`--jobs`): each is started when the command starts,
/// and far more threads than cores only share them.
pub const MAX_JOBS: usize = 1024;

/// Writes `bytes` to `path` through a temporary file in the same directory
/// and a rename, so that an interrupted run never leaves a half-written file.
/// The temporary file's name is unique, so that two writers never write into
/// each other's; it is removed if the write fails.
pub fn write_atomically(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => std::path::Path::new("."),
    };
    let mut prefix = std::ffi::OsString::from(".");
    prefix.push(path.file_name().unwrap_or_default());
    prefix.push(".");
    let mut builder = tempfile::Builder::new();
    builder.prefix(&prefix).suffix(".partial");
    // What std::fs::write would give (0666 less the umask), not a temporary file's 0600.
    #[cfg(unix)]
    builder.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o666));
    let mut tmp = builder.tempfile_in(dir)?;
    tmp.write_all(bytes)?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn concurrent_atomic_writes_never_share_a_temporary_file() {
        // With one fixed temporary name, one writer renamed another's half-written file away.
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join("out.txt");
        let contents: Vec<Vec<u8>> = (0..4u8).map(|i| vec![b'a' + i; 1 << 16]).collect();
        std::thread::scope(|s| {
            for c in &contents {
                let path = &path;
                s.spawn(move || (0..50).for_each(|_| super::write_atomically(path, c).unwrap()));
            }
        });
        assert!(contents.contains(&std::fs::read(&path).unwrap()), "one writer's whole text");
        let left: Vec<_> = std::fs::read_dir(d.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(left, ["out.txt"], "no temporary file left");
    }
}
