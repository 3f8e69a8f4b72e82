//! Check speed: the whole bounded exploration of the 2-CPU harness for the
//! correct protocols, and for each mutant the exploration up to its verdict
//! (`isolsim check` explores everything before it reports, so time to the
//! first violation is the whole run), in assembler and in C; and the 3-CPU
//! harness (two isolated CPUs) for the correct protocols, on one thread and
//! on two (`--jobs 2`).

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use isolsim::workloads::kernel::Protocol;
use isolsim::workloads::protocol::ProtocolFile;
use isolsim::workloads::verify::check::{Check, CheckConfig};

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
        let check = Check::new(CheckConfig { cpus: 3, ..CheckConfig::default() }).jobs(jobs);
        for p in [Protocol::Deferred, Protocol::CtWork] {
            let f = ProtocolFile::builtin(p);
            let id = format!("{}/jobs{jobs}", p.name());
            g.bench_function(id, |b| b.iter(|| black_box(check.run(&f).unwrap())));
        }
    }
    g.finish();
}

criterion_group!(benches, check_time);
criterion_main!(benches);
