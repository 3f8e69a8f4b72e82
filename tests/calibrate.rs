//! `isolsim calibrate`: every published figure is reproduced within its
//! agreement band on both presets, by running the kernel's own paths.

use isolsim::calibrate;
use isolsim::config;

#[test]
fn every_published_figure_agrees_on_both_presets() {
    for name in config::PRESETS {
        let cfg = config::load(Some(name), None).unwrap();
        let report = calibrate::run(name, &cfg).unwrap();
        assert!(report.figures.len() >= 4, "{name}: {} figures", report.figures.len());
        for f in &report.figures {
            assert!(f.agrees, "{name}: {} = {} {} outside {:?}\n{}", f.name, f.simulated, f.unit, f.accept, f.how);
        }
    }
}

#[test]
fn the_isolation_figures_are_measured_not_given() {
    let cfg = config::load(Some("x86-server"), None).unwrap();
    let r = calibrate::run("x86-server", &cfg).unwrap();
    let penalty = r.figures.iter().find(|f| f.name.contains("getpid")).expect("an x86 entry-penalty figure");
    // A machine whose whole-TLB flush costs 20 µs more pays that much more at every entry.
    let mut slow = cfg.clone();
    slow.machine.tlb.local_invalidate_all_cycles += 46_000;
    let s = calibrate::run("x86-server, slow flush", &slow).unwrap();
    let slow_penalty = s.figures.iter().find(|f| f.name.contains("getpid")).unwrap();
    assert!(
        slow_penalty.simulated > penalty.simulated + 19_000.0,
        "{} → {}",
        penalty.simulated,
        slow_penalty.simulated
    );
    assert!(!slow_penalty.agrees);

    let cfg = config::load(Some("arm64-server"), None).unwrap();
    let mut quiet = cfg.clone();
    quiet.machine.tlb.broadcast_disturbance_cycles = 0;
    let r = calibrate::run("arm64-server, no disturbance", &quiet).unwrap();
    let slowdown = r.figures.iter().find(|f| f.name.contains("slowdown")).expect("an mprotect figure");
    assert!(slowdown.simulated.abs() < 1.0, "without the disturbance the job is not slowed: {}", slowdown.simulated);
}

/// Every key a `--measured` file may hold, with `value` for each.
fn measured_file(values: &[f64; 9]) -> String {
    let v = |i: usize| values[i];
    format!(
        "name = \"mine\"\n[ipi]\nunicast_round_trip_ns = {}\nunicast_delivery_ns = {}\nbroadcast_ns = {}\n\
         [entry]\ngetpid_ns = {}\npenalty_ns = {}\n[mprotect]\ncall_us = {}\nsibling_slowdown_percent = {}\n\
         [osnoise]\nipi_noise_us = {}\ntlb_flush_noise_us = {}\n",
        v(0),
        v(1),
        v(2),
        v(3),
        v(4),
        v(5),
        v(6),
        v(7),
        v(8)
    )
}

#[test]
fn measured_figures_meet_their_simulated_counterparts() {
    let cfg = config::load(Some("arm64-server"), None).unwrap();
    // First pass: placeholder values, to learn what the machine gives for each key.
    let first = calibrate::measured::parse("mine.toml", &measured_file(&[1.0; 9])).unwrap();
    let r = calibrate::measured::run("mine.toml", &first, &cfg).unwrap();
    assert_eq!(r.figures.len(), 9, "one figure per key given");
    assert!(r.measured);
    let sim: Vec<f64> = r.figures.iter().map(|f| f.simulated).collect();
    assert!(sim.iter().all(|&x| x > 0.0), "{sim:?}");
    // Measured exactly what the machine gives: every figure agrees, at ratio 1.
    let exact = calibrate::measured::parse("mine.toml", &measured_file(&sim.clone().try_into().unwrap())).unwrap();
    let again = calibrate::measured::run("mine.toml", &exact, &cfg).unwrap();
    for (f, &x) in again.figures.iter().zip(&sim) {
        assert_eq!(f.simulated, x, "{}: the same run gives the same value", f.name);
        assert!(f.agrees && f.ratio == Some(1.0), "{}: {:?}", f.name, f.ratio);
    }
    // Three times the machine's values: outside the default band (half to twice) for every figure.
    let far: Vec<f64> = sim.iter().map(|x| 3.0 * x).collect();
    let off = calibrate::measured::parse("mine.toml", &measured_file(&far.try_into().unwrap())).unwrap();
    assert!(calibrate::measured::run("mine.toml", &off, &cfg).unwrap().figures.iter().all(|f| !f.agrees));

    // The figures the built-in calibration also has come out the same on both paths.
    let builtin = calibrate::run("arm64-server", &cfg).unwrap();
    let mprotect = |fs: &[calibrate::Figure]| fs.iter().find(|f| f.name.starts_with("mprotect()")).unwrap().simulated;
    assert_eq!(mprotect(&builtin.figures), mprotect(&again.figures));
    let x86 = config::load(Some("x86-server"), None).unwrap();
    let penalty = |fs: &[calibrate::Figure]| fs.iter().find(|f| f.name.contains("entry penalty")).unwrap().simulated;
    let only_entry = calibrate::measured::parse("e.toml", "[entry]\npenalty_ns = 300\n").unwrap();
    let mine = calibrate::measured::run("e.toml", &only_entry, &x86).unwrap();
    assert_eq!(mine.figures.len(), 1);
    assert_eq!(penalty(&mine.figures), penalty(&calibrate::run("x86-server", &x86).unwrap().figures));
}

#[test]
fn bad_measured_files_are_refused_at_their_line_and_column() {
    for (text, want) in [
        ("[ipi]\nunicast_round_trip_ns = -5\n", "m.toml:2:25: `ipi.unicast_round_trip_ns`: a measurement must be"),
        ("[ipi]\nbroadcast_ns = { value = 10, accept = [20, 30] }\n", "m.toml:2:1: `ipi.broadcast_ns`: the band"),
        ("[entry]\npenalty = 5\n", "m.toml:2:1: unknown key `entry.penalty`, expected `getpid_ns` or `penalty_ns`"),
        ("[osnoise]\nipi_noise_us = \"4 us\"\n", "m.toml:2:16:"),
        ("name = \"nothing\"\n", "m.toml:1:1: no measurement given"),
    ] {
        let e = calibrate::measured::parse("m.toml", text).unwrap_err().to_string();
        assert!(e.starts_with(want), "{text:?}: {e}");
    }
}

#[test]
fn calibrate_measured_exits_2_on_a_bad_file_and_1_when_a_figure_disagrees() {
    let d = tempfile::tempdir().unwrap();
    let bad = d.path().join("bad.toml");
    std::fs::write(&bad, "[mprotect]\ncall_us = nan\n").unwrap();
    let run = |file: &std::path::Path| {
        std::process::Command::new(env!("CARGO_BIN_EXE_isolsim"))
            .args(["calibrate", "--preset", "arm64-server", "--measured"])
            .arg(file)
            .output()
            .unwrap()
    };
    let out = run(&bad);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bad.toml:2:11: `mprotect.call_us`: a measurement must be a finite number"), "{err}");
    assert!(out.stdout.is_empty(), "nothing half-printed");
    // 30 µs per mprotect() is ten times what the machine gives.
    let slow = d.path().join("slow.toml");
    std::fs::write(&slow, "[mprotect]\ncall_us = 30\n").unwrap();
    let out = run(&slow);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("measured   30.00 µs") && text.contains("DOES NOT AGREE"), "{text}");
}
