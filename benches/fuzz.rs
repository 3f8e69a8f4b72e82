//! Fuzz speed: runs per second on one host core, on the 2-CPU scenario
//! (one sender, one isolated CPU, 400 µs simulated per run), for the
//! deferred protocol and the mutant fuzzing finds in the fewest runs.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use isolsim::workloads::kernel::Protocol;
use isolsim::workloads::protocol::ProtocolFile;
use isolsim::workloads::verify::fuzz::{Fuzz, FuzzConfig};

fn runs_per_second(c: &mut Criterion) {
    let runs = 20;
    let fuzz = Fuzz::new(FuzzConfig { runs, ..FuzzConfig::default() });
    let mut g = c.benchmark_group("fuzz");
    g.sample_size(10);
    g.throughput(Throughput::Elements(runs));
    let deferred = ProtocolFile::builtin(Protocol::Deferred);
    g.bench_function("deferred_2cpu_one_core", |b| b.iter(|| black_box(fuzz.run(&deferred, 1, |_| {}).unwrap())));
    g.finish();
}

/// Time to the first violation of each mutant fuzzing finds: its runs up to
/// and including the first violating one, on one core.
fn time_to_first_violation(c: &mut Criterion) {
    let mut g = c.benchmark_group("fuzz_first_violation");
    g.sample_size(10);
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("workloads/protocols/mutants");
    for name in ["entry-no-flush", "sender-no-dmb", "exit-no-final-dmb", "check-reversed"] {
        let p = ProtocolFile::load(&dir.join(format!("{name}.S"))).unwrap();
        let probe = Fuzz::new(FuzzConfig::default()).run(&p, 0, |_| {}).unwrap();
        let first = probe.first_violation.as_ref().map(|v| v.0.index).or(probe.first_break.as_ref().map(|r| r.index));
        let Some(first) = first else { continue };
        let fuzz = Fuzz::new(FuzzConfig { runs: first + 1, ..FuzzConfig::default() });
        g.bench_function(name, |b| b.iter(|| black_box(fuzz.run(&p, 1, |_| {}).unwrap())));
    }
    g.finish();
}

criterion_group!(benches, runs_per_second, time_to_first_violation);
criterion_main!(benches);
