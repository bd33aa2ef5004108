//! Criterion benchmarks: what the graph costs against the same arithmetic by
//! hand, per strategy. `cargo bench -p autograd-bench`; one group alone with
//! `cargo bench -p autograd-bench -- W2`.
//!
//! * W1 `seed_loop`: the seed's experiment on 10,000 elements, beside
//!   `raw_naive` and `raw_fused`.
//! * W2 `op_chain`: per-op bookkeeping on one-element arrays.
//! * W3 `deep_chain`: a 100,000-op chain, beside the chain without a graph.
//! * W5 `scaling`: stress-loop throughput on one thread and on all.
//!
//! The leaking strategies appear only where their leak stays small: criterion
//! repeats a benchmark thousands of times, and under `StrongOnly` every
//! repetition's graph stays in memory.

use std::hint::black_box;
use std::time::{Duration, Instant};

use autograd_bench::{
    SeedRng, deep_chain, deep_chain_raw, op_chain, op_chain_raw, raw_fused, raw_naive,
    seed_forward, seed_loop,
};
use autograd_ops::{ArcWeak, RcWeak, Strategy, StrongOnly, Variable, square};
use criterion::{BatchSize, BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use ndarray::Array1;
use rayon::prelude::*;

#[cfg(feature = "mimalloc")]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const SIZE: usize = 10_000;

fn input() -> Array1<f64> {
    SeedRng::new(17).randn(SIZE)
}

fn w1_seed_loop(c: &mut Criterion) {
    let mut group = c.benchmark_group("W1_seed_loop");
    let x = input();
    let fresh = || x.clone();
    group.bench_function("raw_naive", |b| {
        b.iter_batched(
            || fresh().into_dyn(),
            |x| raw_naive(&x),
            BatchSize::SmallInput,
        )
    });
    group.bench_function("raw_fused", |b| {
        b.iter_batched(
            || fresh().into_dyn(),
            |x| raw_fused(&x),
            BatchSize::SmallInput,
        )
    });
    fn graph<S: Strategy>(
        group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
        x: &Array1<f64>,
    ) {
        for retain in [false, true] {
            let id = BenchmarkId::new(
                format!("{}/forward+backward", S::NAME),
                if retain { "retained" } else { "freed" },
            );
            group.bench_function(id, |b| {
                b.iter_batched(
                    || x.clone(),
                    |x| seed_loop::<S>(x, retain),
                    BatchSize::SmallInput,
                )
            });
        }
        group.bench_function(BenchmarkId::new(format!("{}/forward", S::NAME), "-"), |b| {
            b.iter_batched(|| x.clone(), seed_forward::<S>, BatchSize::SmallInput)
        });
    }
    graph::<RcWeak>(&mut group, &x);
    graph::<ArcWeak>(&mut group, &x);
    group.finish();

    // The leaking strategies, briefly: each repetition leaks ~400 KB.
    let mut group = c.benchmark_group("W1_seed_loop_leaking");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_millis(200))
        .measurement_time(Duration::from_millis(500));
    fn leaking<S: Strategy>(
        group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
        x: &Array1<f64>,
    ) {
        group.bench_function(format!("{}/forward+backward/freed", S::NAME), |b| {
            b.iter_batched(
                || x.clone(),
                |x| seed_loop::<S>(x, false),
                BatchSize::SmallInput,
            )
        });
    }
    leaking::<StrongOnly<RcWeak>>(&mut group, &x);
    leaking::<StrongOnly<ArcWeak>>(&mut group, &x);
    group.finish();
}

fn w2_op_chain(c: &mut Criterion) {
    const K: usize = 1000;
    let mut group = c.benchmark_group("W2_op_chain");
    group.throughput(Throughput::Elements(K as u64));
    group.bench_function("raw_ndarray", |b| b.iter(|| op_chain_raw(black_box(K))));
    group.bench_function("RcWeak", |b| b.iter(|| op_chain::<RcWeak>(black_box(K))));
    group.bench_function("ArcWeak", |b| b.iter(|| op_chain::<ArcWeak>(black_box(K))));
    group.finish();
}

fn w3_deep_chain(c: &mut Criterion) {
    const D: usize = 100_000;
    let mut group = c.benchmark_group("W3_deep_chain");
    group
        .throughput(Throughput::Elements(D as u64))
        .sample_size(10);
    group.bench_function("raw_ndarray", |b| b.iter(|| deep_chain_raw(black_box(D))));
    group.bench_function("RcWeak", |b| b.iter(|| deep_chain::<RcWeak>(black_box(D))));
    group.bench_function("ArcWeak", |b| {
        b.iter(|| deep_chain::<ArcWeak>(black_box(D)))
    });
    group.finish();
}

fn w5_scaling(c: &mut Criterion) {
    const BATCH: usize = 64;
    let x = input();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut group = c.benchmark_group("W5_scaling");
    group.throughput(Throughput::Elements(BATCH as u64));
    for threads in [1, cores] {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .expect("a pool");
        // Each task builds and drops its own graph.
        fn independent<S: Strategy>(pool: &rayon::ThreadPool, x: &Array1<f64>, n: u64) -> Duration {
            let start = Instant::now();
            for _ in 0..n {
                pool.install(|| {
                    (0..BATCH).into_par_iter().for_each(|_| {
                        black_box(seed_loop::<S>(x.clone(), false).expect("builds"));
                    })
                });
            }
            start.elapsed()
        }
        group.bench_function(BenchmarkId::new("RcWeak", threads), |b| {
            b.iter_custom(|n| independent::<RcWeak>(&pool, &x, n))
        });
        group.bench_function(BenchmarkId::new("ArcWeak", threads), |b| {
            b.iter_custom(|n| independent::<ArcWeak>(&pool, &x, n))
        });
        group.bench_function(BenchmarkId::new("raw_naive", threads), |b| {
            b.iter_custom(|n| {
                let start = Instant::now();
                for _ in 0..n {
                    pool.install(|| {
                        (0..BATCH).into_par_iter().for_each(|_| {
                            black_box(raw_naive(&x.clone().into_dyn()));
                        })
                    });
                }
                start.elapsed()
            })
        });
        // Every task adds to one leaf's gradient: serialised by design.
        let leaf = Variable::<ArcWeak>::from_array(x.clone());
        group.bench_function(BenchmarkId::new("ArcWeak_shared_leaf", threads), |b| {
            b.iter_custom(|n| {
                let start = Instant::now();
                for _ in 0..n {
                    pool.install(|| {
                        (0..BATCH).into_par_iter().for_each(|_| {
                            let y = square(&square(&square(&leaf).unwrap()).unwrap()).unwrap();
                            y.backward().unwrap();
                        })
                    });
                }
                start.elapsed()
            })
        });
    }
    group.finish();
}

criterion_group!(
    benches,
    w1_seed_loop,
    w2_op_chain,
    w3_deep_chain,
    w5_scaling
);
criterion_main!(benches);
