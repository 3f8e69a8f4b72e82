//! Engine speed in the classic *hold model*: a queue holding N pending
//! events; each step pops the earliest and schedules one new event a random
//! delay later. Measured beside a bare `std::collections::BinaryHeap`
//! push/pop loop doing the same work, so the engine's overhead (priority
//! classes, FIFO sequence numbers, model dispatch) shows as a ratio.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use isolsim::sim::rng::RngStreams;
use isolsim::sim::{Engine, Model, Priority, Scheduler};
use rand::Rng;

const STEPS: u64 = 100_000;

fn delays() -> Vec<u64> {
    let mut r = RngStreams::new(1).stream("hold");
    (0..4096).map(|_| 1 + r.next_u64() % 1000).collect()
}

/// Reschedules itself: each handled event schedules one more.
struct Hold {
    delays: Vec<u64>,
    i: usize,
}

impl Model for Hold {
    type Event = u32;
    fn handle(&mut self, ev: u32, s: &mut Scheduler<u32>) {
        self.i = (self.i + 1) & 4095;
        s.after(self.delays[self.i], Priority::DEFAULT, ev);
    }
}

fn hold(c: &mut Criterion) {
    let d = delays();
    let mut g = c.benchmark_group("hold_model");
    g.throughput(Throughput::Elements(STEPS));
    for pending in [64usize, 1024, 16384] {
        g.bench_with_input(BenchmarkId::new("sim_engine", pending), &pending, |b, &n| {
            b.iter(|| {
                let mut e = Engine::new(Hold { delays: d.clone(), i: 0 });
                for k in 0..n {
                    e.scheduler().at(d[k & 4095], Priority::DEFAULT, k as u32);
                }
                for _ in 0..STEPS {
                    e.step();
                }
                black_box(e.now())
            })
        });
        g.bench_with_input(BenchmarkId::new("bare_binary_heap", pending), &pending, |b, &n| {
            b.iter(|| {
                let mut h: BinaryHeap<Reverse<(u64, u64)>> = BinaryHeap::new();
                let mut seq = 0u64;
                for k in 0..n {
                    h.push(Reverse((d[k & 4095], seq)));
                    seq += 1;
                }
                let mut i = 0usize;
                let mut now = 0;
                for _ in 0..STEPS {
                    let Reverse((t, _)) = h.pop().unwrap();
                    now = t;
                    i = (i + 1) & 4095;
                    h.push(Reverse((t + d[i], seq)));
                    seq += 1;
                }
                black_box(now)
            })
        });
    }
    g.finish();
}

criterion_group!(benches, hold);
criterion_main!(benches);
