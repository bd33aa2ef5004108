//! Criterion benchmark `lstm_epoch`: one epoch of DeZero step 60 (an LSTM
//! of 100 and a linear layer on the sin curve read as 30 streams by
//! `SeqDataLoader`: 34 batches, one backward over the first 30 with
//! `retain_graph(false)`, `unchain_backward` and one Adam update, the last
//! 4 forward only), in f64 on one thread, under `RcWeak`, `ArcWeak` and
//! `Region`, beside its floor: the same forward and backward arithmetic in
//! plain ndarray, no graph, every buffer of the window preallocated.
//!
//! The engine's loop and the floor are `autograd_bench::recurrent`'s (the
//! report's `recurrent` section times them too).
//!
//! `cargo bench -p autograd-bench --bench recurrent`. Before measuring, the
//! floor is checked against the engine: three epochs from the same weights
//! give the same losses (to 10⁻¹⁰ relative), so both do the same work.

use std::hint::black_box;

use autograd_bench::recurrent::{Engine, Floor, floor_matches_engine};
use autograd_ops::{ArcWeak, RcWeak, Region};
use criterion::{Criterion, criterion_group, criterion_main};

#[cfg(feature = "mimalloc")]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn lstm_epoch(c: &mut Criterion) {
    if let Err(differ) = floor_matches_engine::<RcWeak>(3) {
        panic!("{differ}");
    }
    let mut group = c.benchmark_group("lstm_epoch");
    group.sample_size(20);
    let mut floor = Floor::new(&Engine::<RcWeak>::new());
    group.bench_function("floor", |b| b.iter(|| black_box(floor.epoch())));
    let mut rc = Engine::<RcWeak>::new();
    group.bench_function("rc_weak", |b| b.iter(|| black_box(rc.epoch())));
    let mut arc = Engine::<ArcWeak>::new();
    group.bench_function("arc_weak", |b| b.iter(|| black_box(arc.epoch())));
    let mut region = Engine::<Region>::new();
    group.bench_function("region", |b| b.iter(|| black_box(region.epoch())));
    group.finish();
}

criterion_group!(benches, lstm_epoch);
criterion_main!(benches);
