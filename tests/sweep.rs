//! `isolsim sweep`, `merge` and `report` as a user runs them: results that do not depend on
//! `--jobs`, shards that merge into the unsharded file, a killed sweep resumed, bad sweep files,
//! and plots whose text renders.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Runs isolsim in `dir`, with no `ISOLSIM_FONT`: the plots use the font the binary embeds.
fn isolsim(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_isolsim"))
        .args(args)
        .current_dir(dir)
        .env_remove("ISOLSIM_FONT")
        .output()
        .expect("runs")
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
run.activity.loop = "work"

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
        String::from_utf8_lossy(&o.stderr).contains("missing (4): 2, 5, 8, 11"),
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
    let e = rejected("[sweep]\n[grid]\nrun.cpus = [4, 8, 4]\n");
    assert_eq!(e, "bad.toml:3:19: grid axis `run.cpus` lists 4 twice");
    let e = rejected("[sweep]\n[grid]\n");
    assert!(e.starts_with("bad.toml:2:2: the grid is empty"), "{e}");
    // One run is not a sweep: said at the list that would need a second entry.
    let e = rejected("[sweep]\nprotocols = [\"deferred\"]\n");
    assert!(e.starts_with("bad.toml:2:13: nothing to sweep"), "{e}");
    let e = rejected("[sweep]\nseeds = [3]\nprotocols = [\"broadcast\", ]\n[set]\nrun.cpus = 4\n");
    assert!(e.starts_with("bad.toml:3:13: nothing to sweep"), "{e}");
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
    // The `work` loop's iterations are one block each: no fine buckets, no oslat columns.
    assert!(!summary.contains("oslat p50") && !rep.join("oslat-sub-us-histogram-broadcast.svg").exists(), "{summary}");
    assert_eq!(summary.lines().filter(|l| l.starts_with("| 6 | ")).count(), 2, "{summary}");
    assert!(summary.contains("[Sender latency of text-patch"), "{summary}");

    // A point no run has.
    let o = isolsim(d.path(), &["report", "r.jsonl", "--out", "rep2", "--at", "run.cpus=5"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(!d.path().join("rep2").exists());
}

#[test]
fn the_instruction_level_loops_fine_buckets_are_drawn_and_its_columns_are_the_runs_own() {
    let d = tempfile::tempdir().unwrap();
    std::fs::write(
        d.path().join("oslat.toml"),
        "[sweep]\nprotocols = [\"broadcast\", \"deferred\"]\nseeds = [1, 2]\n[set]\nrun.cpus = 4\n\
         run.isolated = 1\nrun.activity.generators = 1\nrun.duration_us = 1000\nrun.activity.loop = \"oslat\"\n\
         machine.core.user_code = \"dataflow\"\nrun.activity.vmalloc_per_s = 20000.0\n",
    )
    .unwrap();
    ok(&isolsim(d.path(), &["sweep", "oslat.toml", "--out", "o.jsonl"]));
    let listed = ok(&isolsim(d.path(), &["report", "o.jsonl", "--out", "rep"]));
    let rep = d.path().join("rep");
    for name in ["oslat-sub-us-histogram-broadcast", "oslat-sub-us-histogram-deferred"] {
        for ext in ["svg", "png"] {
            assert!(rep.join(format!("{name}.{ext}")).exists(), "{name}.{ext} missing; listed:\n{listed}");
        }
    }
    let svg = std::fs::read_to_string(rep.join("oslat-sub-us-histogram-broadcast.svg")).unwrap();
    assert!(svg.contains("below 1 µs, broadcast") && svg.contains("loop iteration latency, ns"), "title and axis");
    let texts: Vec<String> = svg_texts(&svg).into_iter().map(|t| t.2).collect();
    assert!(["100", "500", "900"].iter().all(|l| texts.iter().any(|t| t == l)), "ticks in ns: {texts:?}");

    // Each row's oslat cells are the mean p50 and p99.99, and the largest max, of its runs.
    let lines = json_lines(&d.path().join("o.jsonl"));
    let summary = std::fs::read_to_string(rep.join("summary.md")).unwrap();
    let head = summary.lines().find(|l| l.starts_with("| protocol |")).expect("the table");
    let col = |name: &str| head.trim_matches('|').split('|').position(|c| c.trim() == name).expect(name);
    for protocol in ["broadcast", "deferred"] {
        let runs: Vec<&serde_json::Value> = lines.iter().filter(|l| l["protocol"] == protocol).collect();
        assert_eq!(runs.len(), 2);
        let of =
            |key: &str| -> Vec<f64> { runs.iter().map(|l| l["report"]["oslat_ns"][key].as_f64().unwrap()).collect() };
        let mean = |key: &str| format!("{:.0}", of(key).iter().sum::<f64>() / 2.0);
        let row = summary.lines().find(|l| l.starts_with(&format!("| {protocol} |"))).expect("a row");
        let text = |name: &str| row.trim().trim_matches('|').split('|').nth(col(name)).unwrap().trim().to_string();
        assert_eq!(text("oslat p50 (ns)"), mean("p50"), "{row}");
        assert_eq!(text("oslat p99.99 (ns)"), mean("p9999"), "{row}");
        assert_eq!(text("oslat max (ns)"), format!("{:.0}", of("max").iter().copied().fold(0.0, f64::max)), "{row}");
        assert!(cell(row, col("oslat p50 (ns)")) < 100.0, "iterations of tens of ns: {row}");
        // The fine buckets split the first microsecond bucket.
        for l in &runs {
            let fine: u64 = l["report"]["oslat_sub_us_histogram"]
                .as_array()
                .unwrap()
                .iter()
                .map(|b| b["count"].as_u64().unwrap())
                .sum();
            assert_eq!(fine, l["report"]["oslat_histogram"][0]["count"].as_u64().unwrap());
        }
    }
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

/// The text elements of an SVG: (x, y, text).
fn svg_texts(svg: &str) -> Vec<(f64, f64, String)> {
    let attr = |tag: &str, name: &str| -> f64 {
        let from = tag.find(&format!(" {name}=\"")).unwrap_or_else(|| panic!("no {name} in {tag}")) + name.len() + 3;
        tag[from..].split('"').next().unwrap().parse().unwrap()
    };
    svg.split("<text ")
        .skip(1)
        .map(|t| {
            let (tag, rest) = t.split_once('>').unwrap();
            let tag = format!(" {tag}");
            (attr(&tag, "x"), attr(&tag, "y"), rest.split('<').next().unwrap().trim().to_string())
        })
        .collect()
}

/// The x positions of the tick labels `labels` on an x axis (the lowest row holding them all).
fn x_ticks(svg: &str, labels: &[&str]) -> Vec<f64> {
    let texts = svg_texts(svg);
    let row = texts
        .iter()
        .filter(|t| t.2 == labels[0])
        .map(|t| t.1)
        .filter(|y| labels.iter().all(|l| texts.iter().any(|t| t.2 == *l && t.1 == *y)))
        .fold(f64::NEG_INFINITY, f64::max);
    labels.iter().map(|l| texts.iter().find(|t| t.2 == *l && t.1 == row).unwrap().0).collect()
}

/// SMALL with no activity but text patching, at 0 or 4000 patches/s, over a doubling CPU grid
/// (3 x 2 points x 2 protocols x 2 seeds): without text patching no run has a noise event.
fn gaps(dir: &Path) {
    let toml = SMALL.replace(
        "[grid]\nrun.cpus = [3, 4, 6]",
        "run.activity.vmalloc_per_s = 0.0\nrun.activity.munmap_per_s = 0.0\nrun.activity.slab_tune_per_s = 0.0\n\
         [grid]\nrun.cpus = [3, 6, 12]\nrun.activity.text_patch_per_s = [0.0, 4000.0]",
    );
    assert_ne!(toml, SMALL);
    std::fs::write(dir.join("gaps.toml"), toml).unwrap();
}

/// Runs the sweep file `toml` in `dir` and reports it into `dir/out` at the points `at` picks.
fn sweep_and_report(dir: &Path, toml: &str, out: &str, at: &[&str]) -> PathBuf {
    let results = format!("{out}.jsonl");
    ok(&isolsim(dir, &["sweep", toml, "--out", &results]));
    let mut args = vec!["report", &results, "--out", out];
    for a in at {
        args.extend(["--at", a]);
    }
    ok(&isolsim(dir, &args));
    dir.join(out)
}

#[test]
fn points_without_data_are_gaps_with_their_reason_never_zero() {
    let d = tempfile::tempdir().unwrap();
    gaps(d.path());
    let rep = sweep_and_report(d.path(), "gaps.toml", "g", &["run.cpus=6", "run.activity.text_patch_per_s=0"]);
    let read = |f: &str| std::fs::read_to_string(rep.join(f)).unwrap();

    // The summary says "none" where no seed had a noise event: every row without text patching,
    // and with it only where deferral kept every kick away (never under broadcast).
    let summary = read("summary.md");
    let rows: Vec<&str> = summary.lines().filter(|l| l.starts_with("| 0 | ") || l.starts_with("| 4000 | ")).collect();
    assert_eq!(rows.len(), 12, "{summary}");
    for row in &rows {
        let cells: Vec<&str> = row.trim_matches('|').split('|').map(str::trim).collect();
        let (p99, max) = (cells[4], cells[5]);
        if cells[0] == "0" {
            assert_eq!((p99, max), ("none", "none"), "nothing happens without activity: {row}");
        } else if (p99, max) == ("none", "none") {
            assert_eq!((cells[2], cells[3]), ("deferred", "0.0"), "only deferral keeps every kick away: {row}");
        } else {
            assert!(p99.parse::<f64>().unwrap() > 0.0 && max.parse::<f64>().unwrap() > 0.0, "{row}");
        }
    }

    // Against the text-patching rate at 6 CPUs: one marker per value measured, none drawn for the
    // points with no event (the old report drew them at 0), a "none" where no series has a value,
    // and legends that say why there is a gap.
    let svg = read("noise-vs-text-patch-per-s.svg");
    let measured = rows
        .iter()
        .filter(|r| r.starts_with("| 0 | 6 |") || r.starts_with("| 4000 | 6 |"))
        .flat_map(|r| r.trim_matches('|').split('|').map(str::trim).skip(4).take(2).collect::<Vec<_>>())
        .filter(|c| *c != "none")
        .count();
    // Broadcast interrupts for every text patch, so its p99 and max are there at 4000/s; whether a
    // deferred kick met an exit race in these 1.5 ms depends on the seeds' timing.
    assert!(measured >= 2, "{rows:?}");
    assert_eq!(svg.matches("<circle").count(), measured, "{svg}");
    assert!(svg.contains("broadcast: max (gap: no events)"), "{svg}");
    // Deferred's legend says "gap" if some point had an event, and "no events" if none had.
    let deferred_measured = rows.iter().any(|r| {
        let c: Vec<&str> = r.trim_matches('|').split('|').map(str::trim).collect();
        c[1] == "6" && c[2] == "deferred" && c[4] != "none"
    });
    let legend = if deferred_measured { "deferred: p99 (gap: no events)" } else { "deferred: p99 (no events)" };
    assert!(svg.contains(legend), "{legend}: {svg}");
    let none_x = svg_texts(&svg).iter().filter(|t| t.2 == "none").map(|t| t.0).collect::<Vec<_>>();
    assert_eq!(none_x, x_ticks(&svg, &["0"]), "none at the value without events");

    // At the reference point no protocol had an event: the CDF's legend and plot say so.
    let cdf = read("noise-cdf.svg");
    assert!(cdf.contains("broadcast (no events)") && cdf.contains("deferred (no events)"), "{cdf}");
    assert!(svg_texts(&cdf).iter().any(|t| t.2 == "no events"));
    let cdf = read("noise-cdf-broadcast.svg");
    assert!(cdf.contains("text_patch_per_s=0, cpus=3 (no events)") && cdf.contains(" events)"), "{cdf}");

    // The heatmap: a "none" cell where broadcast had no noise, and a colour bar with its scale.
    let heat = read("noise-ratio-heatmap.svg");
    let texts = svg_texts(&heat);
    assert!(texts.iter().any(|t| t.2 == "deferred / broadcast (log scale)"), "{heat}");
    assert_eq!(texts.iter().filter(|t| t.2 == "none").count(), 3);
    let cells_right = x_ticks(&heat, &["4000"])[0];
    let bar: Vec<&(f64, f64, String)> = texts.iter().filter(|t| t.0 > cells_right + 100.0).collect();
    assert!(bar.iter().any(|t| t.2 == "1") && bar.iter().any(|t| t.2 == "0.1"), "ticks beside the bar: {bar:?}");
    assert!(heat.contains("n = 2 seeds per point"));
}

#[test]
fn a_doubling_grid_is_drawn_on_a_log_axis_and_a_linear_one_at_true_distances() {
    let d = tempfile::tempdir().unwrap();
    gaps(d.path());
    let rep = sweep_and_report(d.path(), "gaps.toml", "g", &["run.activity.text_patch_per_s=4000"]);
    // 3, 6, 12 CPUs: each doubling the same distance.
    let x = x_ticks(&std::fs::read_to_string(rep.join("noise-per-cpu-vs-cpus.svg")).unwrap(), &["3", "6", "12"]);
    assert!(((x[1] - x[0]) - (x[2] - x[1])).abs() <= 1.0, "log axis: {x:?}");

    // 3, 4, 6 CPUs (SMALL): 4 → 6 twice as far as 3 → 4.
    small(d.path());
    let rep = sweep_and_report(d.path(), "small.toml", "s", &[]);
    let x = x_ticks(&std::fs::read_to_string(rep.join("noise-per-cpu-vs-cpus.svg")).unwrap(), &["3", "4", "6"]);
    assert!(((x[2] - x[1]) - 2.0 * (x[1] - x[0])).abs() <= 2.0, "linear axis: {x:?}");
}

/// Noise per isolated CPU per second of one run, from its results line.
fn noise_per_s(line: &serde_json::Value) -> f64 {
    let rows = line["report"]["isolated"].as_array().unwrap();
    let sum = |k: &str| rows.iter().map(|r| r[k].as_f64().unwrap()).sum::<f64>();
    sum("noise_ns") / sum("runtime_ns") * 1e6
}

#[test]
fn lines_are_seed_means_with_a_band_from_the_least_to_the_greatest_seed() {
    let d = tempfile::tempdir().unwrap();
    small(d.path());
    let rep = sweep_and_report(d.path(), "small.toml", "s", &["run.cpus=4"]);
    let svg = std::fs::read_to_string(rep.join("noise-per-cpu-vs-cpus.svg")).unwrap();
    let summary = std::fs::read_to_string(rep.join("summary.md")).unwrap();
    assert!(svg.contains("n = 2 seeds per point: lines are means over the seeds, bands their min–max"), "{svg}");

    // The y axis' pixels per µs/s, from its tick labels.
    let texts = svg_texts(&svg);
    let ticks: Vec<(f64, f64)> =
        texts.iter().filter(|t| t.0 < 90.0).filter_map(|t| t.2.parse::<f64>().ok().map(|v| (v, t.1))).collect();
    let ((v0, y0), (v1, y1)) = (ticks[0], ticks[ticks.len() - 1]);
    let pixel = |v: f64| y0 + (v - v0) * (y1 - y0) / (v1 - v0);
    let x = x_ticks(&svg, &["3", "4", "6"]);

    let lines: Vec<serde_json::Value> = std::fs::read_to_string(d.path().join("s.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    for (protocol, color) in [("broadcast", "#D62728"), ("deferred", "#1F77B4")] {
        let band = svg
            .split("<polygon ")
            .find(|p| p.contains(&format!("fill=\"{color}\"")))
            .unwrap_or_else(|| panic!("no band for {protocol}"));
        let vertices: Vec<(f64, f64)> = band
            .split("points=\"")
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap()
            .split_whitespace()
            .map(|p| {
                let (a, b) = p.split_once(',').unwrap();
                (a.parse().unwrap(), b.parse().unwrap())
            })
            .collect();
        for (cpus, px) in [(3, x[0]), (4, x[1]), (6, x[2])] {
            let seeds: Vec<f64> = lines
                .iter()
                .filter(|l| l["protocol"] == protocol && l["params"]["run.cpus"] == cpus)
                .map(noise_per_s)
                .collect();
            assert_eq!(seeds.len(), 2);
            let (lo, hi) =
                (seeds.iter().copied().fold(f64::INFINITY, f64::min), seeds.iter().copied().fold(0.0, f64::max));
            let mean = seeds.iter().sum::<f64>() / 2.0;
            assert!(lo <= mean && mean <= hi);
            // The summary's value is the mean of the seeds.
            let row = summary.lines().find(|l| l.starts_with(&format!("| {cpus} | {protocol} |"))).unwrap();
            assert!((cell(row, 2) - mean).abs() <= 0.05 + 1e-9, "{row}: mean {mean}");
            // The band spans the seeds' least and greatest values at that x.
            let ys: Vec<f64> = vertices.iter().filter(|v| (v.0 - px).abs() <= 1.0).map(|v| v.1).collect();
            assert_eq!(ys.len(), 2, "{protocol} at {cpus}: {vertices:?}");
            let (top, bottom) = (ys[0].min(ys[1]), ys[0].max(ys[1]));
            assert!(
                (bottom - pixel(lo)).abs() <= 1.5 && (top - pixel(hi)).abs() <= 1.5,
                "{protocol} at {cpus}: {ys:?} vs {lo}..{hi}"
            );
        }
    }
}

#[test]
fn isolsim_font_overrides_the_embedded_font() {
    let d = tempfile::tempdir().unwrap();
    small(d.path());
    ok(&isolsim(d.path(), &["sweep", "small.toml", "--out", "p.jsonl"]));
    let with_font = |font: &str| {
        Command::new(env!("CARGO_BIN_EXE_isolsim"))
            .args(["report", "p.jsonl", "--out", "rep"])
            .current_dir(d.path())
            .env("ISOLSIM_FONT", font)
            .output()
            .unwrap()
    };
    let o = with_font("/nonexistent/font.ttf");
    assert_eq!(o.status.code(), Some(2));
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(e.contains("ISOLSIM_FONT=/nonexistent/font.ttf: cannot read the font"), "{e}");
    let o = with_font("small.toml");
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("small.toml: not a TrueType/OpenType font"));
    assert!(!d.path().join("rep").exists(), "nothing written");
}

/// A sweep of one point needs no [grid] when it runs several protocols or seeds: a comparison
/// with its spread over seeds.
#[test]
fn a_sweep_of_protocols_and_seeds_needs_no_grid() {
    let d = tempfile::tempdir().unwrap();
    std::fs::write(
        d.path().join("cmp.toml"),
        "[sweep]\nprotocols = [\"broadcast\", \"deferred\"]\nseeds = [1, 2]\n[set]\nrun.cpus = 4\n\
         run.isolated = 1\nrun.activity.generators = 1\nrun.duration_us = 1000\n",
    )
    .unwrap();
    let dry = ok(&isolsim(d.path(), &["sweep", "cmp.toml", "--dry-run"]));
    assert!(
        dry.contains("1 points x 2 protocols x 2 seeds = 4 runs") && dry.contains("point 0: no swept key"),
        "{dry}"
    );
    ok(&isolsim(d.path(), &["sweep", "cmp.toml", "--out", "c.jsonl"]));
    ok(&isolsim(d.path(), &["report", "c.jsonl", "--out", "rep"]));
    let summary = std::fs::read_to_string(d.path().join("rep/summary.md")).unwrap();
    assert!(summary.contains(": 1 point, protocols broadcast, deferred, seeds 1, 2;"), "{summary}");
    assert_eq!(summary.lines().filter(|l| l.starts_with("| broadcast |") || l.starts_with("| deferred |")).count(), 2);
}

/// The lines of a results file, as JSON values.
fn json_lines(p: &Path) -> Vec<serde_json::Value> {
    String::from_utf8(bytes(p)).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

/// The unit numbers of a results file's lines, in line order.
fn units_in(p: &Path) -> Vec<u64> {
    json_lines(p).iter().map(|l| l["unit"].as_u64().unwrap()).collect()
}

fn write_json_lines(p: &Path, lines: &[serde_json::Value]) {
    let text: String = lines.iter().map(|l| serde_json::to_string(l).unwrap() + "\n").collect();
    std::fs::write(p, text).unwrap();
}

fn failed(o: &Output) -> String {
    assert_eq!(o.status.code(), Some(2), "{}", String::from_utf8_lossy(&o.stdout));
    String::from_utf8_lossy(&o.stderr).trim().to_string()
}

#[test]
fn two_sweeps_on_one_output_never_both_write_it() {
    let d = tempfile::tempdir().unwrap();
    small(d.path());
    let spawn = || {
        Command::new(env!("CARGO_BIN_EXE_isolsim"))
            .args(["sweep", "small.toml", "--jobs", "1", "--out", "r.jsonl"])
            .current_dir(d.path())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    // The issue's race: both started at once. One writes the file, the other is refused (by the
    // lock, or by the finished file), and each unit is in the file once.
    let (a, b) = (spawn(), spawn());
    let mut codes = [a.wait_with_output().unwrap().status.code(), b.wait_with_output().unwrap().status.code()];
    codes.sort();
    assert_eq!(codes, [Some(0), Some(2)]);
    assert_eq!(units_in(&d.path().join("r.jsonl")), (0..12).collect::<Vec<_>>());

    // While one sweep holds the file (stopped while holding it), another is told who holds it,
    // even with --resume, and writes nothing.
    std::fs::remove_file(d.path().join("r.jsonl")).unwrap();
    let first = spawn();
    let pid = first.id().to_string();
    let lock = d.path().join("r.jsonl.lock");
    let signal = |s: &str| assert!(Command::new("kill").args([s, &pid]).status().unwrap().success());
    let mut held = false;
    for _ in 0..5000 {
        std::thread::sleep(std::time::Duration::from_millis(1));
        if std::fs::read_to_string(&lock).is_ok_and(|p| p == pid) {
            held = true;
            break;
        }
    }
    assert!(held, "the first sweep never took the lock");
    signal("-STOP");
    // kill(2) returns before every thread has stopped: wait until /proc says they all have, so
    // no write of the first sweep lands after `before` is read.
    let all_stopped = || {
        std::fs::read_dir(format!("/proc/{pid}/task")).is_ok_and(|tasks| {
            tasks.flatten().all(|t| {
                std::fs::read_to_string(t.path().join("stat"))
                    .is_ok_and(|s| s.rsplit_once(')').is_some_and(|(_, rest)| rest.trim_start().starts_with('T')))
            })
        })
    };
    for _ in 0..5000 {
        if all_stopped() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    assert!(all_stopped(), "the first sweep did not stop");
    let before = std::fs::read(d.path().join("r.jsonl")).unwrap_or_default();
    let e = failed(&isolsim(d.path(), &["sweep", "small.toml", "--resume", "--out", "r.jsonl"]));
    assert_eq!(
        e,
        format!(
            "r.jsonl: another isolsim sweep (process {pid}) is writing it: wait for it to end, or choose another --out"
        )
    );
    assert_eq!(std::fs::read(d.path().join("r.jsonl")).unwrap_or_default(), before);
    signal("-CONT");
    let done = first.wait_with_output().unwrap();
    assert!(done.status.success(), "{}", String::from_utf8_lossy(&done.stderr));
    assert_eq!(units_in(&d.path().join("r.jsonl")), (0..12).collect::<Vec<_>>());
    // The lock goes with its holder: the next writer gets it.
    assert_eq!(std::fs::read_to_string(&lock).unwrap(), "");
    let s = ok(&isolsim(d.path(), &["sweep", "small.toml", "--resume", "--out", "r.jsonl"]));
    assert!(s.contains("0 run now, 12 already there"), "{s}");
}

#[test]
fn resume_report_and_merge_refuse_a_file_with_a_unit_twice() {
    let d = tempfile::tempdir().unwrap();
    small(d.path());
    ok(&isolsim(d.path(), &["sweep", "small.toml", "--out", "all.jsonl"]));
    // What two sweeps on one file used to leave: unit 4 twice, with different results.
    let mut lines = json_lines(&d.path().join("all.jsonl"));
    let mut other = lines[4].clone();
    other["report"]["events"] = (other["report"]["events"].as_u64().unwrap() + 1).into();
    lines.push(other);
    write_json_lines(&d.path().join("dup.jsonl"), &lines);
    let twice = "dup.jsonl:13:1: unit 4 is also on line 5: a results file holds each unit once";
    assert_eq!(failed(&isolsim(d.path(), &["sweep", "small.toml", "--resume", "--out", "dup.jsonl"])), twice);
    assert_eq!(failed(&isolsim(d.path(), &["report", "dup.jsonl", "--out", "rep"])), twice);
    assert_eq!(failed(&isolsim(d.path(), &["merge", "dup.jsonl", "--out", "m.jsonl"])), twice);
    assert!(!d.path().join("m.jsonl").exists() && !d.path().join("rep").exists());
}

#[test]
fn merge_and_report_check_every_field_of_a_result_line() {
    let d = tempfile::tempdir().unwrap();
    small(d.path());
    ok(&isolsim(d.path(), &["sweep", "small.toml", "--out", "all.jsonl"]));
    let lines = json_lines(&d.path().join("all.jsonl"));
    // Line 3 of a part changed by `edit`: the error of merge and report, which write nothing.
    let refused = |edit: &dyn Fn(&mut serde_json::Value)| {
        let mut part = lines[..3].to_vec();
        edit(&mut part[2]);
        write_json_lines(&d.path().join("p.jsonl"), &part);
        let e = failed(&isolsim(d.path(), &["merge", "p.jsonl", "--out", "m.jsonl"]));
        assert_eq!(failed(&isolsim(d.path(), &["report", "p.jsonl", "--out", "rep"])), e);
        assert!(!d.path().join("m.jsonl").exists());
        e
    };
    // The issue's inputs: a unit past the sweep's, and 2^64-1.
    assert_eq!(refused(&|l| l["unit"] = 12.into()), "p.jsonl:3:1: unit = 12 is not below units = 12");
    let e = refused(&|l| l["unit"] = u64::MAX.into());
    assert_eq!(e, "p.jsonl:3:1: unit = 18446744073709551615 is not below units = 12");
    // A count no sweep can have.
    let e = refused(&|l| l["units"] = (1u64 << 62).into());
    assert_eq!(e, "p.jsonl:3:1: units = 4611686018427387904: a sweep has 1 to 16777216 units");
    let e = refused(&|l| l["digest"] = "not hex".into());
    assert_eq!(e, "p.jsonl:3:1: digest = \"not hex\" is not 16 lowercase hexadecimal digits");
    let e = refused(&|l| l["version"] = "1.0".into());
    assert_eq!(e, "p.jsonl:3:1: version = \"1.0\" is not `isolsim X.Y.Z`");
    let e = refused(&|l| l["seed"] = 7.into());
    assert!(e.starts_with("p.jsonl:3:1: the report is of protocol deferred seed 1, the line says"), "{e}");
    let e = refused(&|l| l["point"] = 5.into());
    assert_eq!(e, "p.jsonl:3:1: point = 5 cannot hold unit 2 (units are numbered point by point)");
    let e = refused(&|l| l["unit"] = "two".into());
    assert!(e.starts_with("p.jsonl:3:") && e.contains("not a result line"), "{e}");

    // Every unit there, but two of them swapped: the numbering does not fit.
    let mut swapped = lines.clone();
    let (a, b) = (swapped[0]["unit"].clone(), swapped[2]["unit"].clone());
    swapped[0]["unit"] = b;
    swapped[2]["unit"] = a;
    write_json_lines(&d.path().join("s.jsonl"), &swapped);
    let e = failed(&isolsim(d.path(), &["merge", "s.jsonl", "--out", "m.jsonl"]));
    assert!(e.starts_with("s.jsonl:3:1: unit 0 does not fit the sweep's numbering"), "{e}");

    // Missing units are counted and shown as ranges, never listed one by one: a line may claim
    // the largest sweep there is.
    let mut big = lines[0].clone();
    big["units"] = (1u64 << 24).into();
    write_json_lines(&d.path().join("big.jsonl"), &[big]);
    let o = isolsim(d.path(), &["merge", "big.jsonl", "--out", "m.jsonl"]);
    assert_eq!(o.status.code(), Some(1));
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(
        e.starts_with("1 of 16777216 runs are in the parts; missing (16777215): 1-16777215 (nothing written"),
        "{e}"
    );
}

#[test]
fn a_point_that_is_not_a_valid_configuration_is_shown_at_the_key_that_breaks_it() {
    // The issue's inputs: `[set] run.cpus = 0` with a preset axis had no position, and with a
    // grid the position was the grid's value.
    let e = rejected("[sweep]\npreset = [\"arm64-server\", \"x86-server\"]\n[set]\nrun.cpus = 0\n");
    assert!(
        e.starts_with(
            "bad.toml:4:12: the point preset = \"arm64-server\" is not a valid configuration: `run.cpus`: 4 \
             housekeeping generators + 8 isolated CPUs do not fit in cpus = 0"
        ),
        "{e}"
    );
    let e = rejected("[sweep]\n[set]\nrun.cpus = 4\n[grid]\nrun.duration_us = [100, 200]\n");
    assert!(
        e.starts_with("bad.toml:3:12: the point run.duration_us = 100 is not a valid configuration: `run.cpus`"),
        "{e}"
    );
    // A key the sweep does not set (the preset's run.cpus) with one it sweeps: the swept one.
    let e = rejected("[sweep]\nseeds = [1, 2]\n[grid]\nmachine.topology.sockets = [1, 2]\n");
    assert!(e.starts_with("bad.toml:4:29: the point machine.topology.sockets = 1 is not a valid configuration: `machine.topology.sockets`: cpus = 64"), "{e}");
}

#[test]
fn report_names_the_line_that_mixes_sweeps_and_reads_non_finite_figures_back() {
    let d = tempfile::tempdir().unwrap();
    small(d.path());
    std::fs::write(d.path().join("other.toml"), SMALL.replace("1500", "1400")).unwrap();
    ok(&isolsim(d.path(), &["sweep", "small.toml", "--shard", "1/2", "--out", "a.jsonl"]));
    ok(&isolsim(d.path(), &["sweep", "other.toml", "--shard", "2/2", "--out", "b.jsonl"]));
    let mut lines = json_lines(&d.path().join("a.jsonl"));
    lines.extend(json_lines(&d.path().join("b.jsonl")));
    write_json_lines(&d.path().join("mixed.jsonl"), &lines);
    let e = failed(&isolsim(d.path(), &["report", "mixed.jsonl", "--out", "rep"]));
    assert!(e.starts_with("mixed.jsonl:7:1: mixes two sweeps: digest "), "{e}");
    assert!(e.ends_with(" on line 1"), "{e}");

    // NaN and infinity are written as "NaN" and "inf" (not null) and read back as themselves.
    let mut lines = json_lines(&d.path().join("a.jsonl"));
    lines[0]["report"]["isolated"][0]["cpu_avail_pct"] = "NaN".into();
    lines[0]["report"]["isolated"][0]["irqs_per_s"] = "inf".into();
    write_json_lines(&d.path().join("nan.jsonl"), &lines);
    let o = isolsim(d.path(), &["merge", "nan.jsonl", "--out", "m.jsonl", "--allow-missing"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let merged = String::from_utf8(bytes(&d.path().join("m.jsonl"))).unwrap();
    assert!(merged.contains("\"cpu_avail_pct\":\"NaN\"") && merged.contains("\"irqs_per_s\":\"inf\""));
    let rec = isolsim::sweep::read_records(&d.path().join("m.jsonl")).unwrap();
    let row = &rec[0].report.isolated[0];
    assert!(row.cpu_avail_pct.is_nan() && row.irqs_per_s == f64::INFINITY);
    let text = serde_json::to_string(&rec[0].report).unwrap();
    assert!(text.contains("\"cpu_avail_pct\":\"NaN\"") && text.contains("\"irqs_per_s\":\"inf\""), "written back");

    // A run whose every interrupt rate is NaN is no measurement to plot (the seed-7 report
    // campaign's panic: a spread of nothing but NaNs clamped its mean between inf and -inf).
    let mut lines = json_lines(&d.path().join("a.jsonl"));
    for row in lines[0]["report"]["isolated"].as_array_mut().unwrap() {
        row["irqs_per_s"] = "NaN".into();
    }
    write_json_lines(&d.path().join("nan-rates.jsonl"), &lines);
    let o = isolsim(d.path(), &["report", "nan-rates.jsonl", "--out", "nan-rep"]);
    assert!(o.status.code() == Some(0) || o.status.code() == Some(2), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(!String::from_utf8_lossy(&o.stderr).contains("panicked"), "{}", String::from_utf8_lossy(&o.stderr));
}

/// Every study under `reports/` was drawn from its sweep file as it stands: the digest its
/// summary names is the one the sweep file gives today (configuration with every default,
/// protocol text, seeds). A change of a default or a protocol makes the study stale until it
/// is regenerated by the commands in its sweep file.
#[test]
fn shipped_studies_were_drawn_from_their_sweep_files_as_they_stand() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut studies = 0;
    for entry in std::fs::read_dir(root.join("reports")).unwrap() {
        let dir = entry.unwrap().path();
        let sweep = dir.join("sweep.toml");
        if !sweep.exists() {
            continue;
        }
        let summary = std::fs::read_to_string(dir.join("summary.md")).unwrap();
        let drawn =
            summary.split("sweep digest ").nth(1).and_then(|s| s.get(..16)).expect("the summary names a digest");
        let dry = ok(&isolsim(root, &["sweep", sweep.to_str().unwrap(), "--dry-run"]));
        assert!(
            dry.contains(&format!("(digest {drawn})")),
            "{}: drawn from digest {drawn}, the sweep file now gives {dry}",
            dir.display()
        );
        studies += 1;
    }
    assert!(studies >= 6, "{studies} studies");
}
