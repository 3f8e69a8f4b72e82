//! Simulation speed on the isolation experiment itself, reported the way simulators report it:
//! events per second of host time on the default experiment (arm64-server, 64 CPUs, 10 ms
//! simulated, the oslat loop on the 8 isolated CPUs timed by dataflow, one protocol per
//! benchmark, one host core), and simulated instructions per second
//! (simulated MIPS) on the isolated task's loop alone (2 CPUs: the isolated one, and a
//! housekeeping CPU with nothing to do). Compare the first with `cargo bench --bench engine`'s
//! bare hold-model rate, measured in the same way.

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use isolsim::workloads::experiment::{Experiment, Report};
use isolsim::workloads::kernel::Protocol;

fn build(sets: &[&str], protocol: Protocol) -> Experiment {
    let sets: Vec<String> = sets.iter().map(|s| s.to_string()).collect();
    let (cfg, _) =
        isolsim::config::load_with_sources(Some("arm64-server"), None, &sets).expect("a valid configuration");
    Experiment::build(&cfg.machine, &cfg.kernel, &cfg.run, protocol, 1).expect("the experiment builds")
}

fn run(sets: &[&str], protocol: Protocol) -> Report {
    build(sets, protocol).run().expect("the experiment runs")
}

/// The default experiment for 10 ms: throughput in engine events.
fn default_experiment(c: &mut Criterion) {
    let sets = ["run.duration_us=10000"];
    let mut g = c.benchmark_group("experiment_10ms");
    g.sample_size(10);
    for p in Protocol::ALL {
        let events = run(&sets, p).events;
        g.throughput(Throughput::Elements(events));
        g.bench_with_input(BenchmarkId::new("events", p.name()), &p, |b, &p| {
            b.iter_batched(|| build(&sets, p), |e| black_box(e.run().unwrap()), criterion::BatchSize::LargeInput)
        });
    }
    // Deferred with the isolated task's user code issuing in program order instead of timed by
    // dataflow, and with the loop before 2026-12-07: one `work` block per iteration, user code on
    // the out-of-order pipeline (oslat's loop there takes minutes: README › Speed).
    for (name, task_loop, core) in
        [("oslat-in-order", "oslat", "in-order"), ("work-out-of-order", "work", "out-of-order")]
    {
        let (task_loop, user_code) =
            (format!("run.activity.loop={task_loop}"), format!("machine.core.user_code={core}"));
        let sets = ["run.duration_us=10000", task_loop.as_str(), user_code.as_str()];
        let events = run(&sets, Protocol::Deferred).events;
        g.throughput(Throughput::Elements(events));
        g.bench_function(BenchmarkId::new("events", format!("deferred-{name}")), |b| {
            b.iter_batched(
                || build(&sets, Protocol::Deferred),
                |e| black_box(e.run().unwrap()),
                criterion::BatchSize::LargeInput,
            )
        });
    }
    g.finish();
}

/// The isolated task's loop alone on one CPU, 10 ms: throughput in simulated instructions, for
/// each loop (`work`: one compute block per iteration; `oslat`: oslat's loop, instruction by
/// instruction, on the out-of-order core; `oslat-in-order` and `oslat-dataflow`: the same on
/// the in-order core, issuing in program order or timed by dataflow).
fn isolated_loop(c: &mut Criterion) {
    let mut g = c.benchmark_group("isolated_loop_10ms");
    g.sample_size(10);
    for name in ["work", "oslat", "oslat-in-order", "oslat-dataflow"] {
        let (task_loop, core) = name.split_once('-').unwrap_or((name, ""));
        let mut sets = loop_alone(task_loop);
        // (`work` and `oslat` alone: user code on the pipeline, where the presets time it by dataflow.)
        let core = if core.is_empty() { "out-of-order" } else { core };
        sets.push(format!("machine.core.user_code={core}"));
        let sets: Vec<&str> = sets.iter().map(String::as_str).collect();
        let instructions = run(&sets, Protocol::Deferred).instructions;
        g.throughput(Throughput::Elements(instructions));
        g.bench_function(BenchmarkId::new("instructions", name), |b| {
            b.iter_batched(
                || build(&sets, Protocol::Deferred),
                |e| black_box(e.run().unwrap()),
                criterion::BatchSize::LargeInput,
            )
        });
    }
    g.finish();
}

/// One isolated CPU running `task_loop` for 10 ms, nothing else happening.
fn loop_alone(task_loop: &str) -> Vec<String> {
    let mut sets: Vec<String> = [
        "run.cpus=2",
        "run.isolated=1",
        "run.activity.generators=1",
        "run.duration_us=10000",
        "run.activity.text_patch_per_s=0",
        "run.activity.vmalloc_per_s=0",
        "run.activity.slab_tune_per_s=0",
        "run.activity.syscalls_per_s=0",
    ]
    .map(String::from)
    .to_vec();
    sets.push(format!("run.activity.loop={task_loop}"));
    sets
}

criterion_group!(benches, default_experiment, isolated_loop);
criterion_main!(benches);
