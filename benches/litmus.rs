//! Litmus speed: random-mode iterations per second on one host core, and
//! exhaustive exploration of whole suites (the kernel corpus beside herd7's
//! ~0.07 s for its 24 basic tests).

use std::hint::black_box;
use std::path::PathBuf;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use isolsim::litmus::load;
use isolsim::litmus::run::run_test;
use isolsim::{Mode, RunOptions};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn random_sb(c: &mut Criterion) {
    let sb = load(&root().join("workloads/litmus/classic/SB.litmus")).unwrap();
    let mut g = c.benchmark_group("litmus_random");
    for mode in [Mode::Arm, Mode::Tso] {
        let runs = 20_000;
        let mut opts = RunOptions { runs, jobs: 1, check_axioms: false, ..RunOptions::default() };
        opts.machine.mode = mode;
        g.throughput(Throughput::Elements(runs));
        g.bench_function(format!("SB_{mode}_one_core"), |b| b.iter(|| black_box(run_test(&sb, &opts).unwrap())));
    }
    g.finish();
}

fn suite(dir: &std::path::Path, basic_only: bool) -> Vec<PathBuf> {
    let index = if basic_only { dir.join("INDEX.tsv") } else { dir.join("EXPECTED.tsv") };
    let text = std::fs::read_to_string(index).unwrap();
    text.lines()
        .skip(1)
        .filter(|l| !basic_only || l.split('\t').nth(4) == Some("yes"))
        .map(|l| dir.join(l.split('\t').next().unwrap()))
        .collect()
}

fn exhaustive(c: &mut Criterion) {
    let mut g = c.benchmark_group("litmus_exhaustive");
    g.sample_size(20);
    let mut suites = vec![("classic_suite", suite(&root().join("workloads/litmus/classic"), false))];
    let kernel = root().join("../shared/litmus/kernel");
    if kernel.is_dir() {
        suites.push(("kernel_basic_corpus", suite(&kernel, true)));
    } else {
        eprintln!("../shared/litmus/kernel not found: kernel corpus bench skipped");
    }
    for (name, files) in suites {
        let tests: Vec<_> = files.iter().map(|f| load(f).unwrap()).collect();
        for check in [true, false] {
            let mut opts = RunOptions { exhaustive: true, check_axioms: check, ..RunOptions::default() };
            opts.machine.mode = Mode::Arm;
            g.throughput(Throughput::Elements(tests.len() as u64));
            let label = format!("{name}_arm{}", if check { "_with_axiom_check" } else { "" });
            g.bench_function(label, |b| {
                b.iter(|| {
                    for t in &tests {
                        black_box(run_test(t, &opts).unwrap());
                    }
                })
            });
        }
    }
    g.finish();
}

criterion_group!(benches, random_sb, exhaustive);
criterion_main!(benches);
