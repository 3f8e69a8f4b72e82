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
