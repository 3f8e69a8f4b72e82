//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use isolsim::litmus::report::{Observation, Report, report};
use isolsim::litmus::run::run_test;
use isolsim::{Mode, RunOptions};

/// The repository root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `../shared/litmus/<sub>` next to the checkout, if present.
pub fn shared(sub: &str) -> Option<PathBuf> {
    let p = root().join("..").join("shared").join("litmus").join(sub);
    p.is_dir().then_some(p)
}

/// Rows of a tab-separated index: header names and rows.
pub fn read_tsv(path: &Path) -> (Vec<String>, Vec<Vec<String>>) {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut lines = text.lines().filter(|l| !l.trim().is_empty());
    let header: Vec<String> = lines.next().expect("header").split('\t').map(str::to_string).collect();
    let rows = lines.map(|l| l.split('\t').map(str::to_string).collect()).collect();
    (header, rows)
}

/// Value of column `name` in `row`.
pub fn col<'a>(header: &[String], row: &'a [String], name: &str) -> &'a str {
    let i = header.iter().position(|h| h == name).unwrap_or_else(|| panic!("no column {name}"));
    &row[i]
}

/// Runs one file with the given options and returns its report.
pub fn run_file(path: &Path, opts: &RunOptions) -> Report {
    let c = isolsim::litmus::load(path).unwrap_or_else(|e| panic!("{e}"));
    let r = run_test(&c, opts).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    report(&c, &r)
}

/// Options for an exhaustive run in `mode`.
pub fn exhaustive(mode: Mode) -> RunOptions {
    let mut o = RunOptions { exhaustive: true, ..RunOptions::default() };
    o.machine.mode = mode;
    o
}

/// Options for `runs` randomly timed runs in `mode`.
pub fn random(mode: Mode, runs: u64, seed: u64) -> RunOptions {
    let mut o = RunOptions { runs, seed, ..RunOptions::default() };
    o.machine.mode = mode;
    o
}

/// The observation word herd7 would print.
pub fn verdict(r: &Report) -> &'static str {
    match r.observation {
        Observation::Never => "Never",
        Observation::Sometimes => "Sometimes",
        Observation::Always => "Always",
    }
}

/// A file in its own temporary directory, removed when dropped.
pub struct TempFile {
    _dir: tempfile::TempDir,
    path: PathBuf,
}

impl std::ops::Deref for TempFile {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.path
    }
}

pub fn temp_file(name: &str, body: &str) -> TempFile {
    let dir = tempfile::Builder::new().prefix("isolsim-config-").tempdir().unwrap();
    let path = dir.path().join(name);
    std::fs::write(&path, body).unwrap();
    TempFile { _dir: dir, path }
}

/// Unpacks herd7's own tests `herd/tests/instructions/{folder}/{files}` (a shell pattern) from
/// the oracle's source archive (`../shared/oracle/herdtools7-*.tar.gz`) into a temporary
/// directory, and returns it with the folder's path in it; `None` (with a note) when the
/// archive is not there.
pub fn herd_archive_tests(folder: &str, files: &str) -> Option<(tempfile::TempDir, PathBuf)> {
    let oracle = root().join("../shared/oracle");
    let archive = std::fs::read_dir(&oracle)
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.to_string_lossy().ends_with(".tar.gz"));
    let Some(archive) = archive else {
        eprintln!("SKIPPED: no herdtools7 source archive in {}", oracle.display());
        return None;
    };
    let dir = tempfile::tempdir().expect("a temporary directory");
    let status = std::process::Command::new("tar")
        .arg("xzf")
        .arg(&archive)
        .arg("-C")
        .arg(dir.path())
        .args(["--wildcards", &format!("*/herd/tests/instructions/{folder}/{files}")])
        .status()
        .expect("tar runs");
    assert!(status.success(), "tar xzf {}", archive.display());
    // (Under the archive's top folder, whatever its name.)
    let top = std::fs::read_dir(dir.path()).expect("the unpacked archive").next().expect("a top folder");
    let path = top.expect("a directory entry").path().join(format!("herd/tests/instructions/{folder}"));
    Some((dir, path))
}
