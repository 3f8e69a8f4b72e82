//! Every file a command reads goes through one reader (`workloads::input`): a path that never
//! ends (a device, a FIFO) is refused instead of read forever, a file past the size limit is
//! refused, and text that is not UTF-8 is `file:line:col` of its first bad byte. `--jobs` is
//! bounded. Each with exit code 2, and quickly.

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Runs isolsim in `dir`; a run that takes more than 60 s is killed and fails the test (a read
/// that never ends).
fn isolsim(dir: &Path, args: &[&str]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_isolsim"))
        .args(args)
        .current_dir(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("runs");
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            panic!("isolsim {args:?} still running after 60 s");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    child.wait_with_output().unwrap()
}

/// The error of a command that must fail with exit code 2.
fn bad_input(dir: &Path, args: &[&str]) -> String {
    let o = isolsim(dir, args);
    let err = String::from_utf8_lossy(&o.stderr).trim().to_string();
    assert_eq!(o.status.code(), Some(2), "isolsim {args:?}: {err}");
    err
}

const ZERO: &str = "/dev/zero";
const NOT_REGULAR: &str = "cannot read it: a device, FIFO or socket, not a regular file";

fn have_dev_zero() -> bool {
    let there = Path::new(ZERO).exists();
    if !there {
        eprintln!("skipped: no {ZERO} here");
    }
    there
}

#[test]
fn a_device_given_as_any_input_file_is_refused_not_read_forever() {
    if !have_dev_zero() {
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    // The input: a sweep whose protocol is /dev/zero.
    std::fs::write(dir.join("s.toml"), "[sweep]\nprotocols = [\"/dev/zero\"]\nseeds = [1, 2]\n").unwrap();
    let e = bad_input(dir, &["sweep", "s.toml", "--out", "r.jsonl"]);
    assert_eq!(e, format!("s.toml:2:14: protocol `/dev/zero`: {NOT_REGULAR}"));
    assert!(!dir.join("r.jsonl").exists());

    // A scenario's program file: shown where the scenario names it.
    std::fs::write(dir.join("sc.toml"), "[[program]]\nfile = \"/dev/zero\"\n").unwrap();
    let e = bad_input(dir, &["exec", "sc.toml"]);
    assert_eq!(e, format!("sc.toml:2:8: program `/dev/zero`: {NOT_REGULAR}"));

    let file_is_the_input: &[&[&str]] = &[
        &["litmus", ZERO],
        &["validate", ZERO],
        &["config", "--config", ZERO],
        &["run", "--protocol", ZERO],
        &["fuzz", "--protocol", ZERO],
        &["check", "--protocol", ZERO],
        &["sweep", ZERO],
        &["exec", ZERO],
        &["replay", ZERO],
        &["merge", ZERO, "--out", "m.jsonl"],
        &["report", ZERO, "--out", "rep"],
    ];
    for args in file_is_the_input {
        assert_eq!(bad_input(dir, args), format!("{ZERO}: {NOT_REGULAR}"), "{args:?}");
    }
    let e = bad_input(dir, &["run", "--kernel-file", "tlb.S=/dev/zero"]);
    assert_eq!(e, format!("{ZERO}: {NOT_REGULAR}"));
    std::fs::write(dir.join("ok.toml"), "[sweep]\nseeds = [1, 2]\n").unwrap();
    let e = bad_input(dir, &["sweep", "ok.toml", "--out", "."]);
    assert!(e.contains("a directory, not a regular file"), "{e}");
}

#[test]
fn a_fifo_is_refused_without_waiting_for_a_writer() {
    let d = tempfile::tempdir().unwrap();
    let fifo = d.path().join("fifo.toml");
    match Command::new("mkfifo").arg(&fifo).status() {
        Ok(s) if s.success() => {}
        _ => return eprintln!("skipped: no mkfifo here"),
    }
    let e = bad_input(d.path(), &["config", "--config", "fifo.toml"]);
    assert_eq!(e, format!("fifo.toml: {NOT_REGULAR}"));
}

#[test]
fn an_input_file_past_the_size_limit_is_refused() {
    let d = tempfile::tempdir().unwrap();
    // Valid TOML (a comment), one byte past 1 MiB, the limit of TOML files (TOML's reader holds
    // every token at once: 16 MiB of short tokens would take gigabytes).
    let mut big = vec![b' '; (1 << 20) + 1];
    big[0] = b'#';
    std::fs::write(d.path().join("big.toml"), big).unwrap();
    let e = bad_input(d.path(), &["config", "--config", "big.toml"]);
    assert_eq!(e, "big.toml: cannot read it: larger than 1 MiB, the most a TOML file may hold");
}

/// Writes `text` with the byte 0xff inserted at `at`.
fn with_bad_byte(path: &Path, text: &str, at: usize) {
    let mut b = text.as_bytes().to_vec();
    b.insert(at, 0xff);
    std::fs::write(path, b).unwrap();
}

#[test]
fn text_that_is_not_utf8_is_positioned_at_its_first_bad_byte() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    let expect = |file: &str, line: usize, col: usize| {
        format!("{file}:{line}:{col}: not UTF-8 text: byte 0xff is not valid here")
    };
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));

    // Configuration: line 2, after "é = " (columns count characters, not bytes).
    let config = "[run]\n# é \ncpus = 8\n";
    with_bad_byte(&dir.join("c.toml"), config, config.find(" \ncpus").unwrap() + 1);
    assert_eq!(bad_input(dir, &["config", "--config", "c.toml"]), expect("c.toml", 2, 5));

    // A protocol file, and a kernel file, on their third line.
    let deferred = std::fs::read_to_string(root.join("workloads/protocols/deferred.S")).unwrap();
    let third = deferred.match_indices('\n').nth(1).unwrap().0 + 1;
    with_bad_byte(&dir.join("p.S"), &deferred, third + 2);
    assert_eq!(bad_input(dir, &["run", "--protocol", "p.S"]), expect("p.S", 3, 3));
    assert_eq!(bad_input(dir, &["check", "--protocol", "p.S"]), expect("p.S", 3, 3));
    let tlb = std::fs::read_to_string(root.join("workloads/kernel/tlb.S")).unwrap();
    let third = tlb.match_indices('\n').nth(1).unwrap().0 + 1;
    with_bad_byte(&dir.join("tlb.S"), &tlb, third);
    assert_eq!(bad_input(dir, &["run", "--kernel-file", "tlb.S=tlb.S"]), expect("tlb.S", 3, 1));

    // A sweep file, and a protocol file it names.
    let sweep = "[sweep]\nseeds = [1, 2]\n";
    with_bad_byte(&dir.join("s.toml"), sweep, 9);
    assert_eq!(bad_input(dir, &["sweep", "s.toml"]), expect("s.toml", 2, 2));
    std::fs::write(dir.join("s2.toml"), "[sweep]\nprotocols = [\"p.S\"]\nseeds = [1, 2]\n").unwrap();
    let e = bad_input(dir, &["sweep", "s2.toml"]);
    assert_eq!(e, format!("s2.toml:2:14: protocol `p.S`: {}", expect("p.S", 3, 3)));

    // A scenario, and its program file.
    let scenario = "[[program]]\nfile = \"prog.S\"\n";
    with_bad_byte(&dir.join("sc.toml"), scenario, 12);
    assert_eq!(bad_input(dir, &["exec", "sc.toml"]), expect("sc.toml", 2, 1));
    std::fs::write(dir.join("sc2.toml"), scenario).unwrap();
    with_bad_byte(&dir.join("prog.S"), "start:\n  NOP\n", 9);
    assert_eq!(bad_input(dir, &["exec", "sc2.toml"]), expect("prog.S", 2, 3));

    // A replay file, a litmus file and an index.
    with_bad_byte(&dir.join("r.json"), "{\n  \"format\": \"isolsim-replay\"\n}\n", 4);
    assert_eq!(bad_input(dir, &["replay", "r.json"]), expect("r.json", 2, 3));
    with_bad_byte(&dir.join("t.litmus"), "C t\n{}\n", 5);
    assert_eq!(bad_input(dir, &["litmus", "t.litmus"]), expect("t.litmus", 2, 2));
    with_bad_byte(&dir.join("INDEX.tsv"), "file\tarm\n", 6);
    assert_eq!(bad_input(dir, &["validate", "INDEX.tsv"]), expect("INDEX.tsv", 1, 7));

    // Results files, for merge and report.
    with_bad_byte(&dir.join("r.jsonl"), "{}\n{}\n", 1);
    assert_eq!(bad_input(dir, &["merge", "r.jsonl", "--out", "m.jsonl"]), expect("r.jsonl", 1, 2));
    assert_eq!(bad_input(dir, &["report", "r.jsonl", "--out", "rep"]), expect("r.jsonl", 1, 2));
}

#[test]
fn absurd_jobs_are_refused_at_once() {
    let d = tempfile::tempdir().unwrap();
    // The input: `sweep --jobs 100000` started 100 000 threads for 18 runs.
    for args in [
        &["sweep", "s.toml", "--jobs", "100000"][..],
        &["litmus", "t.litmus", "--jobs", "100000"],
        &["validate", "INDEX.tsv", "--jobs", "100000"],
        &["fuzz", "--jobs", "100000"],
        &["sweep", "s.toml", "--jobs=-1"],
    ] {
        let start = Instant::now();
        let e = bad_input(d.path(), args);
        assert!(e.contains("expected a number of threads from 0 (one per core) to 1024"), "{args:?}: {e}");
        assert!(start.elapsed() < Duration::from_secs(10));
    }
}
