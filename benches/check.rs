//! Check speed: the whole bounded exploration of the 2-CPU harness for the
//! correct protocols, and for each mutant the exploration up to its verdict
//! (`isolsim check` explores everything before it reports, so time to the
//! first violation is the whole run), in assembler and in C; and the 3-CPU
//! harness (two isolated CPUs) for the correct protocols, on one thread and
//! on two (`--jobs 2`); the shapes with two senders or two entries per CPU; and the
//! four-CPU shapes, split (`--split`).

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use isolsim::workloads::kernel::Protocol;
use isolsim::workloads::protocol::ProtocolFile;
use isolsim::workloads::verify::check::{Check, CheckConfig};

/// The allocator the `isolsim` binary runs `check` with (`src/main.rs`), so that the bench
/// times what the command does.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn check_time(c: &mut Criterion) {
    let mut g = c.benchmark_group("check_2cpu");
    g.sample_size(10);
    let check = Check::new(CheckConfig::default());
    for p in [Protocol::Deferred, Protocol::CtWork] {
        let f = ProtocolFile::builtin(p);
        g.bench_function(p.name(), |b| b.iter(|| black_box(check.run(&f).unwrap())));
    }
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("workloads/protocols/mutants");
    let mut mutants: Vec<_> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
    mutants.sort();
    for m in mutants {
        let f = ProtocolFile::load(&m).unwrap();
        // entry-no-dmb.S and entry-no-dmb.c share a protocol name: the file names the bench.
        let id = m.file_name().unwrap().to_string_lossy().into_owned();
        g.bench_function(id, |b| b.iter(|| black_box(check.run(&f).unwrap())));
    }
    g.finish();
    let mut g = c.benchmark_group("check_3cpu");
    g.sample_size(10);
    for jobs in [1, 2] {
        // A text patch and new data (every hazard at once takes about a minute a run).
        let cfg = CheckConfig { cpus: 3, ops: vec!["patch+data".parse().unwrap()], ..CheckConfig::default() };
        let check = Check::new(cfg).jobs(jobs);
        for p in [Protocol::Deferred, Protocol::CtWork] {
            let f = ProtocolFile::builtin(p);
            let id = format!("{}/jobs{jobs}", p.name());
            g.bench_function(id, |b| b.iter(|| black_box(check.run(&f).unwrap())));
        }
    }
    g.finish();
    // The shapes beyond one sender and one entry: a CPU entering twice; two senders kicking.
    let shapes = [
        ("syscalls2", CheckConfig { syscalls: 2, ..CheckConfig::default() }),
        (
            "senders2",
            CheckConfig {
                cpus: 3,
                senders: 2,
                ops: vec!["patch+pte".parse().unwrap(), "data".parse().unwrap()],
                ..CheckConfig::default()
            },
        ),
    ];
    shapes_on_two_threads(c, "check_shapes", shapes);
    // Four CPUs, split (one part per isolated CPU, `--split`): two senders and two isolated
    // CPUs (a patch and a remap, new data; every hazard for both senders takes 15-40 s a run,
    // README › check), and one sender with two isolated CPUs entering twice.
    let shapes = [
        (
            "senders2_isolated2",
            CheckConfig {
                cpus: 4,
                senders: 2,
                ops: vec!["patch+pte".parse().unwrap(), "data".parse().unwrap()],
                split: true,
                ..CheckConfig::default()
            },
        ),
        ("isolated2_syscalls2", CheckConfig { cpus: 3, syscalls: 2, split: true, ..CheckConfig::default() }),
    ];
    shapes_on_two_threads(c, "check_4cpu_split", shapes);
}

/// Benchmark group `group`: deferred and ct-work at each of `shapes`, on two threads.
fn shapes_on_two_threads(c: &mut Criterion, group: &str, shapes: [(&str, CheckConfig); 2]) {
    let mut g = c.benchmark_group(group);
    g.sample_size(10);
    for (name, cfg) in shapes {
        let check = Check::new(cfg).jobs(2);
        for p in [Protocol::Deferred, Protocol::CtWork] {
            let f = ProtocolFile::builtin(p);
            g.bench_function(format!("{name}/{}", p.name()), |b| b.iter(|| black_box(check.run(&f).unwrap())));
        }
    }
    g.finish();
}

criterion_group!(benches, check_time);
criterion_main!(benches);
