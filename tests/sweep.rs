//! `isolsim sweep`, `merge` and `report` as a user runs them: results that do not depend on
//! `--jobs`, shards that merge into the unsharded file, a killed sweep resumed, bad sweep files,
//! and plots whose text renders.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn isolsim(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_isolsim")).args(args).current_dir(dir).output().expect("runs")
}

fn ok(o: &Output) -> String {
    assert!(o.status.success(), "{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// A sweep of 12 short runs: 3 points x 2 protocols x 2 seeds.
const SMALL: &str = r#"
[sweep]
name = "small"
protocols = ["broadcast", "deferred"]
seeds = [1, 2]

[set]
run.duration_us = 1500
run.isolated = 1
run.activity.generators = 1

[grid]
run.cpus = [3, 4, 6]
"#;

fn small(dir: &Path) -> PathBuf {
    let f = dir.join("small.toml");
    std::fs::write(&f, SMALL).unwrap();
    f
}

fn bytes(p: &Path) -> Vec<u8> {
    std::fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

#[test]
fn sweep_results_do_not_depend_on_jobs() {
    let d = tempfile::tempdir().unwrap();
    small(d.path());
    ok(&isolsim(d.path(), &["sweep", "small.toml", "--jobs", "1", "--out", "one.jsonl"]));
    let s = ok(&isolsim(d.path(), &["sweep", "small.toml", "--jobs", "2", "--out", "two.jsonl"]));
    assert!(s.contains("12 runs in two.jsonl: 12 run now, 0 already there"), "{s}");
    let one = bytes(&d.path().join("one.jsonl"));
    assert_eq!(one, bytes(&d.path().join("two.jsonl")));
    let text = String::from_utf8(one).unwrap();
    assert_eq!(text.lines().count(), 12);
    // Unit order, each line whole, with its configuration, seed and version.
    for (i, l) in text.lines().enumerate() {
        let v: serde_json::Value = serde_json::from_str(l).unwrap();
        assert_eq!(v["unit"], i);
        assert_eq!(v["config"]["run"]["cpus"], v["params"]["run.cpus"]);
        assert_eq!(v["config"]["run"]["duration_us"], 1500);
        assert_eq!(v["seed"], [1, 2][i % 2]);
        assert!(v["version"].as_str().unwrap().starts_with("isolsim "));
        assert!(v["report"]["isolated"][0]["runtime_ns"].as_f64().unwrap() > 0.0);
    }
}

#[test]
fn shards_merge_into_the_unsharded_file_byte_for_byte() {
    let d = tempfile::tempdir().unwrap();
    small(d.path());
    ok(&isolsim(d.path(), &["sweep", "small.toml", "--out", "all.jsonl"]));
    for i in 1..=3 {
        let s = ok(&isolsim(
            d.path(),
            &["sweep", "small.toml", "--shard", &format!("{i}/3"), "--out", &format!("part{i}.jsonl")],
        ));
        assert!(s.contains("(shard ") && s.contains(": 4 runs in"), "{s}");
    }
    // Parts in any order.
    let m = ok(&isolsim(d.path(), &["merge", "part3.jsonl", "part1.jsonl", "part2.jsonl", "--out", "merged.jsonl"]));
    assert!(m.contains("12 of 12 runs merged"), "{m}");
    assert_eq!(bytes(&d.path().join("merged.jsonl")), bytes(&d.path().join("all.jsonl")));

    // A missing shard: nothing written, exit 1, the missing runs named.
    let o = isolsim(d.path(), &["merge", "part1.jsonl", "part2.jsonl", "--out", "partial.jsonl"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("missing: 2, 5, 8, 11"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(!d.path().join("partial.jsonl").exists());
}

#[test]
fn merge_refuses_parts_of_different_sweeps() {
    let d = tempfile::tempdir().unwrap();
    small(d.path());
    std::fs::write(d.path().join("other.toml"), SMALL.replace("1500", "1400")).unwrap();
    ok(&isolsim(d.path(), &["sweep", "small.toml", "--shard", "1/2", "--out", "a.jsonl"]));
    ok(&isolsim(d.path(), &["sweep", "other.toml", "--shard", "2/2", "--out", "b.jsonl"]));
    let o = isolsim(d.path(), &["merge", "a.jsonl", "b.jsonl", "--out", "m.jsonl"]);
    assert_eq!(o.status.code(), Some(2));
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(e.starts_with("b.jsonl:1:1: from another sweep than a.jsonl"), "{e}");
    assert!(!d.path().join("m.jsonl").exists());
}

#[test]
fn a_sweep_cut_short_resumes_without_redoing_finished_runs() {
    let d = tempfile::tempdir().unwrap();
    small(d.path());
    ok(&isolsim(d.path(), &["sweep", "small.toml", "--out", "all.jsonl"]));
    let all = bytes(&d.path().join("all.jsonl"));
    // What a kill -9 in the middle of a write leaves: five whole lines and part of a sixth.
    let cut = all.iter().enumerate().filter(|(_, b)| **b == b'\n').nth(4).unwrap().0 + 1;
    std::fs::write(d.path().join("cut.jsonl"), &all[..cut + 100]).unwrap();

    // Without --resume the file is left alone.
    let o = isolsim(d.path(), &["sweep", "small.toml", "--out", "cut.jsonl"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("pass --resume"));
    assert_eq!(bytes(&d.path().join("cut.jsonl")).len(), cut + 100);

    let s = ok(&isolsim(d.path(), &["sweep", "small.toml", "--resume", "--out", "cut.jsonl"]));
    assert!(s.contains("12 runs in cut.jsonl: 7 run now, 5 already there"), "{s}");
    assert_eq!(bytes(&d.path().join("cut.jsonl")), all);

    // Resuming a finished sweep runs nothing and changes nothing.
    let s = ok(&isolsim(d.path(), &["sweep", "small.toml", "--resume", "--out", "cut.jsonl"]));
    assert!(s.contains("0 run now, 12 already there"), "{s}");
    assert_eq!(bytes(&d.path().join("cut.jsonl")), all);

    // Another sweep's file is not resumed into.
    std::fs::write(d.path().join("other.toml"), SMALL.replace("seeds = [1, 2]", "seeds = [1, 3]")).unwrap();
    let o = isolsim(d.path(), &["sweep", "other.toml", "--resume", "--out", "cut.jsonl"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).starts_with("cut.jsonl:1:1: written by another sweep"));
}

#[test]
fn a_killed_sweep_resumes_to_the_same_file() {
    let d = tempfile::tempdir().unwrap();
    small(d.path());
    ok(&isolsim(d.path(), &["sweep", "small.toml", "--out", "all.jsonl"]));
    let mut child = Command::new(env!("CARGO_BIN_EXE_isolsim"))
        .args(["sweep", "small.toml", "--jobs", "1", "--out", "killed.jsonl"])
        .current_dir(d.path())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let killed = d.path().join("killed.jsonl");
    // Kill it once some run has finished (or it finished first: the resume then does nothing).
    for _ in 0..2000 {
        if std::fs::read(&killed).is_ok_and(|b| b.contains(&b'\n')) || child.try_wait().unwrap().is_some() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let _ = child.kill(); // SIGKILL
    let _ = child.wait();
    ok(&isolsim(d.path(), &["sweep", "small.toml", "--resume", "--out", "killed.jsonl"]));
    assert_eq!(bytes(&killed), bytes(&d.path().join("all.jsonl")));
}

/// Runs a broken sweep file and returns its error; checks exit 2 and that nothing was written.
fn rejected(text: &str) -> String {
    let d = tempfile::tempdir().unwrap();
    std::fs::write(d.path().join("bad.toml"), text).unwrap();
    let o = isolsim(d.path(), &["sweep", "bad.toml", "--out", "out.jsonl"]);
    assert_eq!(o.status.code(), Some(2), "{}", String::from_utf8_lossy(&o.stdout));
    assert!(!d.path().join("out.jsonl").exists(), "nothing written");
    String::from_utf8_lossy(&o.stderr).trim().to_string()
}

#[test]
fn bad_sweep_files_get_file_line_and_exit_2() {
    let e = rejected("[sweep]\nseeds = [1]\n[grid]\nrun.cpuz = [4, 8]\n");
    assert!(e.starts_with("bad.toml:4:5: unknown key `run.cpuz`") && e.contains("did you mean `cpus`"), "{e}");
    let e = rejected("[sweep]\n[grid]\nrun.cpus = [4, \"many\"]\n");
    assert!(e.starts_with("bad.toml:3:16: wrong type for `run.cpus`"), "{e}");
    let e = rejected("[sweep]\n[grid]\nrun.cpus = []\n");
    assert_eq!(e, "bad.toml:3:12: grid axis `run.cpus` has no values");
    let e = rejected("[sweep]\n[grid]\n");
    assert!(e.starts_with("bad.toml:2:2: the grid is empty"), "{e}");
    let e = rejected("[sweep]\nprotocols = [\"deferred\"]\n");
    assert!(e.starts_with("bad.toml: nothing to sweep"), "{e}");
    let e = rejected("[sweep]\nseed = 4\n[grid]\nrun.cpus = [4]\n");
    assert!(e.starts_with("bad.toml:2:1: unknown key `sweep.seed`"), "{e}");
    let e = rejected("[sweep]\nprotocols = [\"deferred\", \"lazy\"]\n[grid]\nrun.cpus = [4]\n");
    assert!(e.starts_with("bad.toml:2:26: protocol `lazy`: neither a built-in"), "{e}");
    let e = rejected("[sweep]\npreset = [\"arm64-server\", \"riscv\"]\n[grid]\nrun.cpus = [4]\n");
    assert!(e.starts_with("bad.toml:2:27: unknown preset `riscv`"), "{e}");
    // Each value is fine on its own; the combination is not.
    let e = rejected("[sweep]\n[set]\nrun.isolated = 8\n[grid]\nrun.cpus = [64, 8]\n");
    assert!(e.starts_with("bad.toml:5:17: the point run.cpus = 8 is not a valid configuration"), "{e}");
    let e = rejected("[sweep]\n[set]\nrun.cpus = 8\n[grid]\nrun.cpus = [4]\n");
    assert!(e.contains("`run.cpus` is set in [set] and swept as well"), "{e}");
    let e = rejected("[sweep\n");
    assert!(e.starts_with("bad.toml:1:"), "{e}");
}

#[test]
fn report_draws_every_figure_in_svg_and_png_with_its_text() {
    let d = tempfile::tempdir().unwrap();
    small(d.path());
    ok(&isolsim(d.path(), &["sweep", "small.toml", "--out", "r.jsonl"]));
    let listed = ok(&isolsim(d.path(), &["report", "r.jsonl", "--out", "rep", "--at", "run.cpus=4"]));
    let rep = d.path().join("rep");
    for name in [
        "noise-cdf",
        "noise-cdf-deferred",
        "oslat-histogram-broadcast",
        "oslat-histogram-deferred",
        "noise-vs-cpus",
        "noise-per-cpu-vs-cpus",
        "ipis-vs-cpus",
        "entry-penalty-vs-cpus",
        "sender-latency-text-patch-vs-cpus",
    ] {
        for ext in ["svg", "png"] {
            assert!(rep.join(format!("{name}.{ext}")).exists(), "{name}.{ext} missing; listed:\n{listed}");
        }
    }
    let svg = std::fs::read_to_string(rep.join("noise-vs-cpus.svg")).unwrap();
    assert!(svg.contains("CPUs (run.cpus)") && svg.contains("duration of one noise event (µs)"), "axis labels");
    assert!(svg.contains("deferred: p99") && svg.contains("broadcast: max"), "legend");
    let cdf = std::fs::read_to_string(rep.join("noise-cdf.svg")).unwrap();
    assert!(cdf.contains("(run.cpus=4)"), "the reference point is the one --at picked");

    // Text in the PNG: the title band holds dark pixels (glyphs), not just the white background.
    let png = image::open(rep.join("noise-vs-cpus.png")).unwrap().to_rgb8();
    let dark = (0..png.width())
        .flat_map(|x| (4..34).map(move |y| (x, y)))
        .filter(|&(x, y)| png.get_pixel(x, y)[0] < 100)
        .count();
    assert!(dark > 500, "the title is drawn ({dark} dark pixels)");

    let summary = std::fs::read_to_string(rep.join("summary.md")).unwrap();
    assert!(summary.contains("| `run.cpus` | protocol | noise/CPU (µs/s)"), "{summary}");
    assert_eq!(summary.lines().filter(|l| l.starts_with("| 6 | ")).count(), 2, "{summary}");
    assert!(summary.contains("[Sender latency of text-patch"), "{summary}");

    // A point no run has.
    let o = isolsim(d.path(), &["report", "r.jsonl", "--out", "rep2", "--at", "run.cpus=5"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(!d.path().join("rep2").exists());
}

#[test]
fn a_preset_axis_is_drawn_as_bars() {
    let d = tempfile::tempdir().unwrap();
    std::fs::write(
        d.path().join("presets.toml"),
        "[sweep]\npreset = [\"arm64-server\", \"x86-server\"]\nprotocols = [\"broadcast\", \"deferred\"]\n\
         [set]\nrun.cpus = 4\nrun.isolated = 1\nrun.activity.generators = 1\nrun.duration_us = 1000\n",
    )
    .unwrap();
    let dry = ok(&isolsim(d.path(), &["sweep", "presets.toml", "--dry-run"]));
    assert!(
        dry.contains("2 points x 2 protocols x 1 seeds = 4 runs") && dry.contains("point 1: preset = \"x86-server\""),
        "{dry}"
    );
    ok(&isolsim(d.path(), &["sweep", "presets.toml", "--out", "p.jsonl"]));
    ok(&isolsim(d.path(), &["report", "p.jsonl", "--out", "rep"]));
    let svg = std::fs::read_to_string(d.path().join("rep/noise-per-cpu-vs-preset.svg")).unwrap();
    assert!(svg.contains("x86-server") && svg.contains("<rect"), "categories as bars");
}

/// A number from a markdown table row: the cell in column `col`.
fn cell(row: &str, col: usize) -> f64 {
    let cells: Vec<&str> = row.trim().trim_matches('|').split('|').map(str::trim).collect();
    cells[col].parse().unwrap_or_else(|e| panic!("column {col} of {row}: {e}"))
}

#[test]
fn noise_per_second_times_runtime_is_the_runs_noise() {
    // One seed, so each summary row is one run; every run is redone with `isolsim run`.
    let d = tempfile::tempdir().unwrap();
    std::fs::write(
        d.path().join("one.toml"),
        "[sweep]\nprotocols = [\"broadcast\", \"deferred\"]\nseeds = [3]\n[set]\nrun.duration_us = 2000\n\
         run.isolated = 1\nrun.activity.generators = 1\n[grid]\nrun.cpus = [3, 5]\n",
    )
    .unwrap();
    ok(&isolsim(d.path(), &["sweep", "one.toml", "--out", "r.jsonl"]));
    ok(&isolsim(d.path(), &["report", "r.jsonl", "--out", "rep"]));
    let summary = std::fs::read_to_string(d.path().join("rep/summary.md")).unwrap();
    let head = summary.lines().find(|l| l.starts_with("| `run.cpus`")).expect("the table");
    let col = head.trim_matches('|').split('|').position(|c| c.trim() == "noise/CPU (µs/s)").expect("the column");
    let mut checked = 0;
    for cpus in ["3", "5"] {
        for protocol in ["broadcast", "deferred"] {
            let row = summary
                .lines()
                .find(|l| l.starts_with(&format!("| {cpus} | {protocol} |")))
                .unwrap_or_else(|| panic!("no row for {cpus} CPUs, {protocol}:\n{summary}"));
            let per_s = cell(row, col);
            let args = |extra: &[&'static str]| {
                let mut a = vec![
                    "run",
                    "--protocol",
                    protocol,
                    "--seed",
                    "3",
                    "--set",
                    "run.duration_us=2000",
                    "--set",
                    "run.isolated=1",
                    "--set",
                    "run.activity.generators=1",
                    "--set",
                ];
                a.push(if cpus == "3" { "run.cpus=3" } else { "run.cpus=5" });
                a.extend_from_slice(extra);
                a
            };
            let text = ok(&isolsim(d.path(), &args(&[])));
            let noise_us: f64 = text
                .lines()
                .find(|l| l.trim_start().starts_with("Noise per CPU (µs)"))
                .and_then(|l| l.split_whitespace().last())
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| panic!("no noise row in\n{text}"));
            let csv = ok(&isolsim(d.path(), &args(&["--csv"])));
            let mut rdr = csv::Reader::from_reader(csv.as_bytes());
            let runtime_col = rdr.headers().unwrap().iter().position(|h| h == "runtime_ns").expect("runtime_ns");
            let runtimes: Vec<f64> = rdr.records().map(|r| r.unwrap()[runtime_col].parse().unwrap()).collect();
            let runtime_s = runtimes.iter().sum::<f64>() / runtimes.len() as f64 / 1e9;
            // Both sides printed rounded: µs/s to 0.1, µs to 0.01.
            let tolerance = 0.05 * runtime_s + 0.005;
            assert!(
                (per_s * runtime_s - noise_us).abs() <= tolerance,
                "{cpus} CPUs, {protocol}: {per_s} µs/s x {runtime_s} s != {noise_us} µs"
            );
            assert!(noise_us > 0.0 || protocol == "deferred", "{protocol} at {cpus} CPUs has noise to compare");
            checked += 1;
        }
    }
    assert_eq!(checked, 4);
}
