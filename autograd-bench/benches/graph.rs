//! Criterion benchmarks: what the graph costs against the cheapest plain
//! code doing the same work, per strategy. `cargo bench -p autograd-bench`;
//! one group alone with e.g. `cargo bench -p autograd-bench -- add_chain`;
//! on the system allocator with `--no-default-features`.
//!
//! * `seed_loop` (W1): the seed's experiment on 10,000 elements as a
//!   training loop runs it (a fresh leaf, forward, backward, the gradient
//!   read and cleared), beside `raw_naive` and `raw_fused`.
//! * `add_chain` (W2): per-op bookkeeping, a 1,000-op add chain on a
//!   one-element array, beside its floor `f64_tape` (a plain tape of `f64`
//!   values and op codes) and `array_tape` (a tape of one-element arrays:
//!   an array per op forward and backward, and no graph).
//! * `add_square_chain`: the same with two kinds of op, beside its floor.
//! * `data_matmul`: a linear layer's step on a data batch, `(256, 512) ·
//!   (512, 64)`, with the batch a constant (one matmul in backward) and as a
//!   leaf that needs a gradient (two, as every input got before), beside
//!   its floor (the forward product and `dataᵀ · gy`).
//! * `train_step`: one training step of the digits MLP (64-100-10 ReLU,
//!   batch 32: `cleargrad`, forward, softmax cross-entropy, backward, Adam),
//!   on one thread under `RcWeak`, `ArcWeak` and `Region`, beside its floor (the same
//!   arithmetic in plain ndarray, every buffer preallocated).
//! * `cnn_step`: one training step of the `cnn_mnist` example's network
//!   (two conv-ReLU-max-pool blocks, dropout, linear; batch 32, Adam,
//!   `backward_once`), on one thread under `RcWeak`, `ArcWeak` and `Region`,
//!   beside its floor (im2col and `general_mat_mul` in plain ndarray, every
//!   buffer allocated once; `autograd-bench/src/cnn.rs`).
//! * `conv2d`: one convolution, 2×3×320×320 to 16 channels, 3×3, padding
//!   1, forward and backward (input, weight and bias gradients), beside its
//!   floor.
//! * `deep_chain` (W3): a 10⁶-op chain built, backward'd and dropped.
//! * `wide_graph`: graphs that are not chains, where backward's schedule
//!   and gradient buffer work: one node read by 1,000 others (`fan_out`)
//!   and a binary tree of additions over 2¹⁶ leaves (`binary_tree`), each
//!   beside the same arithmetic on `f64`s.
//! * `scaling` (W5): seed-loop throughput on one thread and on all.
//!
//! Every strategy that frees its graphs (on drop or on collection) runs
//! in each group; the strategies that never free appear only in
//! `seed_loop_leaking`, briefly: every repetition stays in memory.

use std::hint::black_box;
use std::time::{Duration, Instant};

use autograd_bench::{
    SeedRng, add_chain, add_chain_array_tape, add_chain_f64_tape, add_square_chain,
    add_square_chain_raw, binary_tree, binary_tree_f64, data_matmul_raw, data_matmul_step,
    deep_chain, deep_chain_raw, fan_out, fan_out_f64, raw_fused, raw_naive, seed_step,
    shared_leaf_step,
};
use autograd_mem::Collector as _;
use autograd_mem::{Freeing, StrategyKind, with_strategy};
use autograd_ops::{ArcWeak, RcWeak, Region, Strategy, Variable};
use criterion::measurement::WallTime;
use criterion::{
    BatchSize, BenchmarkGroup, BenchmarkId, Criterion, Throughput, criterion_group, criterion_main,
};
use ndarray::{Array1, Array2};
use rayon::prelude::*;

#[cfg(feature = "mimalloc")]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const SIZE: usize = 10_000;

fn input() -> Array1<f64> {
    SeedRng::new(17).randn(SIZE)
}

/// The strategies whose graphs are freed (on drop, with a region or by a
/// collector), in the order reports list them ([`Freeing::ALL`]): the
/// collected ones last, since the heap they leave behind moves the figures
/// of whatever runs after them.
fn freeing_strategies() -> impl Iterator<Item = StrategyKind> {
    Freeing::ALL
        .into_iter()
        .filter(|&freeing| freeing != Freeing::Never)
        .flat_map(|freeing| {
            (StrategyKind::ALL.iter().copied()).filter(move |kind| kind.freeing() == freeing)
        })
}

fn w1_seed_loop(c: &mut Criterion) {
    let x = input();
    let mut group = c.benchmark_group("seed_loop");
    group.bench_function("raw_naive", |b| {
        b.iter_batched(
            || x.clone().into_dyn(),
            |x| raw_naive(&x),
            BatchSize::SmallInput,
        )
    });
    group.bench_function("raw_fused", |b| {
        b.iter_batched(
            || x.clone().into_dyn(),
            |x| raw_fused(&x),
            BatchSize::SmallInput,
        )
    });
    fn step<S: Strategy>(group: &mut BenchmarkGroup<'_, WallTime>, x: &Array1<f64>) {
        group.bench_function(S::KIND.name(), |b| {
            b.iter_batched(|| x.clone(), |x| seed_step::<S>(x), BatchSize::SmallInput)
        });
    }
    for kind in freeing_strategies() {
        with_strategy!(kind, S => step::<S>(&mut group, &x));
    }
    group.finish();

    // The strategies that never free, briefly: each repetition keeps ~320 KB.
    let mut group = c.benchmark_group("seed_loop_leaking");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_millis(200))
        .measurement_time(Duration::from_millis(500));
    for kind in StrategyKind::ALL
        .iter()
        .filter(|k| k.freeing() == Freeing::Never)
    {
        with_strategy!(*kind, S => step::<S>(&mut group, &x));
    }
    group.finish();
}

fn w2_add_chain(c: &mut Criterion) {
    const K: usize = 1000;
    let mut group = c.benchmark_group("add_chain");
    group.throughput(Throughput::Elements(K as u64));
    group.bench_function("f64_tape", |b| {
        b.iter(|| add_chain_f64_tape(black_box(0.5), K))
    });
    group.bench_function("array_tape", |b| {
        b.iter(|| add_chain_array_tape(black_box(0.5), K))
    });
    fn chain<S: Strategy>(group: &mut BenchmarkGroup<'_, WallTime>) {
        let x = Variable::<S>::from_scalar(0.5);
        group.bench_function(S::KIND.name(), |b| b.iter(|| add_chain(&x, black_box(K))));
    }
    for kind in freeing_strategies() {
        with_strategy!(kind, S => chain::<S>(&mut group));
    }
    group.finish();

    let mut group = c.benchmark_group("add_square_chain");
    group.throughput(Throughput::Elements(K as u64));
    group.bench_function("floor", |b| b.iter(|| add_square_chain_raw(black_box(K))));
    for kind in freeing_strategies() {
        with_strategy!(kind, S => group.bench_function(S::KIND.name(), |b| {
            b.iter(|| add_square_chain::<S>(black_box(K)))
        }));
    }
    group.finish();
}

fn wide_graph(c: &mut Criterion) {
    const READERS: usize = 1000;
    const LEAVES: usize = 1 << 16;
    let mut group = c.benchmark_group("wide_graph");
    group.throughput(Throughput::Elements(READERS as u64));
    group.bench_function("fan_out/f64", |b| {
        b.iter(|| fan_out_f64(black_box(0.5), READERS))
    });
    fn fan<S: Strategy>(group: &mut BenchmarkGroup<'_, WallTime>) {
        let x = Variable::<S>::from_scalar(0.5);
        group.bench_function(format!("fan_out/{}", S::KIND.name()), |b| {
            b.iter(|| fan_out(&x, black_box(READERS)))
        });
    }
    for kind in freeing_strategies() {
        with_strategy!(kind, S => fan::<S>(&mut group));
    }
    group.throughput(Throughput::Elements(LEAVES as u64));
    let values: Vec<f64> = (0..LEAVES).map(|i| i as f64 / LEAVES as f64).collect();
    group.bench_function("binary_tree/f64", |b| {
        b.iter(|| binary_tree_f64(black_box(&values)))
    });
    fn tree<S: Strategy>(group: &mut BenchmarkGroup<'_, WallTime>, values: &[f64]) {
        let leaves: Vec<Variable<S>> = values.iter().map(|&v| Variable::from_scalar(v)).collect();
        group.bench_function(format!("binary_tree/{}", S::KIND.name()), |b| {
            b.iter(|| binary_tree(black_box(&leaves)))
        });
    }
    for kind in freeing_strategies() {
        with_strategy!(kind, S => tree::<S>(&mut group, &values));
    }
    group.finish();
}

fn w3_deep_chain(c: &mut Criterion) {
    const D: usize = 1_000_000;
    let mut group = c.benchmark_group("deep_chain");
    group
        .throughput(Throughput::Elements(D as u64))
        .sample_size(10)
        .measurement_time(Duration::from_secs(8));
    group.bench_function("floor", |b| b.iter(|| deep_chain_raw(black_box(D))));
    for kind in [
        StrategyKind::RcWeak,
        StrategyKind::ArcWeak,
        StrategyKind::Region,
    ] {
        with_strategy!(kind, S => group.bench_function(S::KIND.name(), |b| {
            b.iter(|| {
                let result = deep_chain::<S>(black_box(D));
                <S as Strategy>::Collector::collect();
                result
            })
        }));
    }
    group.finish();
}

fn data_matmul(c: &mut Criterion) {
    let mut rng = SeedRng::new(44);
    let data = Array2::from_shape_simple_fn((256, 512), || rng.uniform());
    let w = Array2::from_shape_simple_fn((512, 64), || rng.uniform());
    let mut group = c.benchmark_group("data_matmul");
    group.bench_function("floor", |b| b.iter(|| data_matmul_raw(&data, &w)));
    let weight = Variable::<RcWeak>::from_array(w.clone());
    for (name, batch) in [
        (
            "data_constant",
            Variable::<RcWeak>::constant_from_array(data.clone()),
        ),
        (
            "data_needs_grad",
            Variable::<RcWeak>::from_array(data.clone()),
        ),
    ] {
        group.bench_function(name, |b| {
            b.iter(|| data_matmul_step(&batch, &weight).expect("runs"))
        });
    }
    group.finish();
}

fn train_step(c: &mut Criterion) {
    use autograd_bench::training::{FloorStep, TrainStep};
    let mut group = c.benchmark_group("train_step");
    let mut floor = FloorStep::new(0);
    group.bench_function("floor", |b| b.iter(|| floor.step()));
    fn engine<S: Strategy>(group: &mut BenchmarkGroup<'_, WallTime>) {
        let mut step = TrainStep::<S>::new(0);
        group.bench_function(S::KIND.name(), |b| b.iter(|| step.step().expect("runs")));
    }
    engine::<RcWeak>(&mut group);
    engine::<ArcWeak>(&mut group);
    engine::<Region>(&mut group);
    group.finish();
}

fn cnn_step(c: &mut Criterion) {
    use autograd_bench::cnn::{CnnFloor, CnnStep};
    let mut group = c.benchmark_group("cnn_step");
    let mut floor = CnnFloor::new(0);
    group.bench_function("floor", |b| b.iter(|| floor.step()));
    fn engine<S: Strategy>(group: &mut BenchmarkGroup<'_, WallTime>) {
        let mut step = CnnStep::<S>::new(0);
        group.bench_function(S::KIND.name(), |b| b.iter(|| step.step().expect("runs")));
    }
    engine::<RcWeak>(&mut group);
    engine::<ArcWeak>(&mut group);
    engine::<Region>(&mut group);
    group.finish();
}

fn conv2d(c: &mut Criterion) {
    use autograd_bench::cnn::{ConvFloor, ConvStep};
    let mut group = c.benchmark_group("conv2d");
    group.sample_size(20);
    let mut floor = ConvFloor::new();
    group.bench_function("floor", |b| b.iter(|| floor.step()));
    let step = ConvStep::<RcWeak>::new();
    group.bench_function("RcWeak", |b| b.iter(|| step.step().expect("runs")));
    group.finish();
}

/// Forward + backward of the report's deep MLP (64 ReLU layers, 128 wide,
/// batch 512) without checkpointing, with √64 = 8 segments and with every
/// layer checkpointed: what recomputation costs.
fn checkpoint(c: &mut Criterion) {
    use autograd_bench::report::value_memory::{BATCH, Mode, WIDTH};
    use autograd_nn::{Activation, Mlp, Module};
    use autograd_ops::softmax_cross_entropy;
    const LAYERS: usize = 64;
    let model = Mlp::<RcWeak>::new_in(&[WIDTH; LAYERS + 1], Activation::Relu, 19).expect("sizes");
    let x = Variable::<RcWeak>::constant_from_array(ndarray::Array2::from_shape_fn(
        (BATCH, WIDTH),
        |(i, j)| ((i * WIDTH + j) as f64 * 0.001).sin(),
    ));
    let labels: Vec<usize> = (0..BATCH).map(|i| i % WIDTH).collect();
    let mut group = c.benchmark_group("checkpoint");
    group.sample_size(10);
    for mode in Mode::ALL {
        group.bench_function(mode.name(), |b| {
            b.iter(|| {
                model.cleargrad();
                let y = match mode.segments(LAYERS) {
                    None => model.forward(&x),
                    Some(segments) => model.forward_checkpointed(&x, segments),
                }
                .expect("runs");
                softmax_cross_entropy(&y, &labels)
                    .expect("labels fit")
                    .backward()
                    .expect("runs");
            })
        });
    }
    group.finish();
}

fn w5_scaling(c: &mut Criterion) {
    const BATCH: usize = 64;
    let x = input();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut group = c.benchmark_group("scaling");
    group.throughput(Throughput::Elements(BATCH as u64));
    // One entry when the machine (or a `taskset`) gives one core: criterion
    // refuses two benchmarks of the same name.
    let mut counts = vec![1, cores];
    counts.dedup();
    for threads in counts {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .expect("a pool");
        let timed = |n: u64, task: &(dyn Fn() + Sync)| {
            let start = Instant::now();
            for _ in 0..n {
                pool.install(|| (0..BATCH).into_par_iter().for_each(|_| task()));
            }
            start.elapsed()
        };
        group.bench_function(BenchmarkId::new("raw_naive", threads), |b| {
            b.iter_custom(|n| timed(n, &|| drop(black_box(raw_naive(&x.clone().into_dyn())))))
        });
        for kind in [StrategyKind::RcWeak, StrategyKind::ArcWeak] {
            with_strategy!(kind, S => group.bench_function(BenchmarkId::new(S::KIND.name(), threads), |b| {
                b.iter_custom(|n| {
                    timed(n, &|| {
                        black_box(seed_step::<S>(x.clone()).expect("runs"));
                    })
                })
            }));
        }
        // Every task adds to one leaf's gradient: serialised by design.
        let leaf = Variable::<ArcWeak>::from_array(x.clone());
        group.bench_function(BenchmarkId::new("ArcWeak_shared_leaf", threads), |b| {
            b.iter_custom(|n| timed(n, &|| shared_leaf_step(&leaf).expect("runs")))
        });
    }
    group.finish();
}

criterion_group!(
    benches,
    w1_seed_loop,
    w2_add_chain,
    data_matmul,
    train_step,
    cnn_step,
    conv2d,
    checkpoint,
    wide_graph,
    w3_deep_chain,
    w5_scaling
);
criterion_main!(benches);
