//! A training loop's memory under every strategy: the digits MLP (64-100-10
//! ReLU, Adam, batches of 32) for one epoch, timed, with the live heap
//! after every step; then a few steps more on a fresh model with the live
//! heap at three points of each step broken down into parts, each predicted
//! from the objects and the graph, that sum to the measured heap to the byte.
//!
//! The timed loop is the one the `train_step` bench and the `digits`
//! example run: `cleargrad`, forward, loss, `backward_once` (which lets go
//! of the graph as it runs, so that Adam's step writes into the weights in
//! place while the loss is still held), Adam's step. The breakdown
//! (`step_memory`) runs the same step where graphs are freed on drop, and
//! keeps the graph where they are not (see its docs).

use std::time::Instant;

use autograd_mem::Collector as _;
use autograd_mem::{Freeing, Policy, StrategyKind, with_strategy};
use autograd_nn::{Activation, Adam, DataLoader, Mlp, Module, Optimizer, datasets};
use autograd_ops::{Strategy, softmax_cross_entropy};
use serde::Serialize;

use crate::report::Context;
use crate::report::heap::{Cache, Counted, HeapMark, Peak};
use crate::report::step_memory::breakdown_run;
pub use crate::report::step_memory::{BREAKDOWN_STEPS, Breakdown};
use crate::training::{BATCH, FloorStep, LR, SIZES};

/// The collected strategies' policy in the timed epoch when the report's is
/// `auto`: a step creates about ten nodes, so `auto` (which waits for at
/// least 700) would not collect within an epoch; every 100 nodes shows the
/// collector at work, a few times an epoch.
pub const COLLECT_EVERY: u64 = 100;

/// The share of the digits held out of training (scikit-learn's
/// `test_size=0.25`, as the `digits` example).
pub const TEST_FRACTION: f64 = 0.25;

/// Steps in one epoch: the batches of the training split, 1,797 images less
/// the ⌈1,797 / 4⌉ held out, in batches of [`BATCH`] (43). The section runs
/// at most this many (`--training-steps`).
pub const EPOCH_STEPS: usize =
    (datasets::DIGITS_SAMPLES - datasets::DIGITS_SAMPLES.div_ceil(4)).div_ceil(BATCH);

/// One strategy's training figures.
#[derive(Debug, Clone, Serialize)]
pub struct TrainingRun {
    /// The strategy, by name.
    pub strategy: String,
    /// The strategy.
    #[serde(skip)]
    pub kind: StrategyKind,
    /// How it frees a graph.
    pub freeing: String,
    /// Steps timed (one epoch, unless shortened).
    pub steps: usize,
    /// Wall time of a step, in microseconds: the median of the epoch's steps
    /// (a page fault or a preemption moves one step, not the figure).
    pub micros_per_step: f64,
    /// The graph's share of a step: `1 - floor / micros_per_step`, where the
    /// floor is the same step in plain ndarray ([`FloorStep`], timed the
    /// same way in the same section): what the engine adds to the
    /// arithmetic.
    pub graph_share: f64,
    /// The live heap after each step, above the heap before the model was
    /// made (the data loader and the dataset excluded), the engine's buffer
    /// cache left out (it is reuse, not what the loop keeps; the breakdown
    /// shows it).
    pub live_heap_after_step: Vec<i64>,
    /// The largest live heap during the epoch, on the same baseline, the
    /// buffer cache included.
    pub peak_heap_bytes: i64,
    /// The collected strategies: collections during the epoch.
    pub collections: Option<u64>,
    /// After a final collection (collected strategies), on the baseline.
    pub after_collection_bytes: Option<i64>,
    /// The breakdown run's last step, at each named point.
    pub breakdown: Vec<Breakdown>,
    /// Whether every point of every step of the breakdown run summed to the
    /// measured heap exactly.
    pub breakdown_exact: bool,
    /// Whether the breakdown's step released its graph (`backward_once`)
    /// or kept it (see `step_memory`).
    pub breakdown_released: bool,
    /// The largest live heap during a backward pass of the breakdown run
    /// beyond what the heap held after it: what the pass holds in flight
    /// (gradients not yet summed into their variables, its queue).
    pub backward_in_flight_bytes: i64,
}

/// Runs the section for the context's strategies, `training_steps` steps
/// each (at most one epoch of the digits training split; 0 skips the
/// section), collecting under its policy.
pub fn run(cx: &Context<'_>) -> Vec<TrainingRun> {
    let (strategies, steps, policy) = (
        &cx.config.strategies,
        cx.config.training_steps,
        cx.config.policy,
    );
    if steps == 0 {
        return Vec::new();
    }
    let (x, labels) = datasets::digits();
    let ((x_train, y_train), _) =
        datasets::train_test_split(&(x / 16.0), &labels, TEST_FRACTION, 0).expect("a valid split");
    let floor = floor_micros(steps.min(x_train.nrows() / BATCH).max(1));
    strategies
        .iter()
        .map(|&kind| {
            let mut run =
                with_strategy!(kind, S => run_one::<S>(kind, &x_train, &y_train, steps, policy));
            run.graph_share = 1.0 - floor / run.micros_per_step;
            run
        })
        .collect()
}

/// The median µs of `steps` steps of the plain-ndarray floor, after one.
fn floor_micros(steps: usize) -> f64 {
    let mut floor = FloorStep::new(0);
    std::hint::black_box(floor.step());
    let mut times: Vec<f64> = (0..steps)
        .map(|_| {
            let started = Instant::now();
            std::hint::black_box(floor.step());
            started.elapsed().as_secs_f64() * 1e6
        })
        .collect();
    median(&mut times)
}

/// A fresh model and its optimizer, from the bench's initial weights.
fn fresh_model<S: Strategy>() -> (Mlp<S>, Adam<S>) {
    let model = Mlp::new_in(&SIZES, Activation::Relu, 0).expect("valid sizes");
    let adam = Adam::new(model.params(), LR).expect("a valid rate");
    (model, adam)
}

fn run_one<S: Strategy>(
    kind: StrategyKind,
    x: &ndarray::Array2<f64>,
    labels: &[usize],
    steps: usize,
    policy: Policy,
) -> TrainingRun {
    let policy = match policy {
        Policy::Auto => Policy::Every(COLLECT_EVERY),
        other => other,
    };
    S::Collector::set_policy(policy);
    let mut loader = DataLoader::<_, S>::new_in(x.clone(), labels.to_vec(), BATCH)
        .expect("a valid loader")
        .shuffle(0);
    let steps = steps.min(loader.batches());
    // A warm-up step on a model of its own makes what the engine allocates
    // once per thread (live counts, the buffer cache's list) exist first.
    {
        let (model, mut adam) = fresh_model::<S>();
        if let Some((batch, labels)) = loader.iter().next() {
            let loss = softmax_cross_entropy(&model.forward(&batch).expect("fits"), &labels)
                .expect("valid labels");
            loss.backward_once().expect("backward");
            adam.step().expect("valid rates");
        }
    }
    S::Collector::collect();
    autograd_core::buffers::release_thread_cache();
    S::Collector::reset_collector_stats();

    // The timed epoch, its heap with the buffer cache left out, its peak
    // with it.
    let heap = HeapMark::now(Counted::Process, Cache::LeftOut);
    let peak = Peak::start();
    let (model, mut adam) = fresh_model::<S>();
    let mut live_heap_after_step = Vec::with_capacity(steps);
    let mut times = Vec::with_capacity(steps);
    for (batch, batch_labels) in loader.iter().take(steps) {
        let started = Instant::now();
        adam.cleargrad();
        let loss = softmax_cross_entropy(&model.forward(&batch).expect("fits"), &batch_labels)
            .expect("valid labels");
        loss.backward_once().expect("backward");
        adam.step().expect("valid rates");
        std::hint::black_box(loss.item());
        drop((loss, batch, batch_labels));
        times.push(started.elapsed().as_secs_f64() * 1e6);
        live_heap_after_step.push(heap.since());
    }
    let peak_heap_bytes = peak.bytes();
    let (collections, after_collection_bytes) = match S::FREEING {
        Freeing::OnCollection => {
            let collections = S::Collector::collector_stats().collections;
            S::Collector::collect();
            autograd_core::buffers::release_thread_cache();
            (Some(collections), Some(heap.since()))
        }
        _ => (None, None),
    };
    drop((model, adam));
    S::Collector::collect();
    autograd_core::buffers::release_thread_cache();

    // `Mlp::new` collects its layers into a list of exactly their number.
    let breakdown = breakdown_run(
        fresh_model::<S>,
        |m| size_of_val(m.layers()) as i64,
        &mut loader,
    );
    S::Collector::collect();
    S::Collector::set_policy(Policy::Auto);
    TrainingRun {
        strategy: kind.name().to_string(),
        kind,
        freeing: kind.freeing().describe().to_string(),
        steps,
        micros_per_step: median(&mut times),
        graph_share: 0.0,
        live_heap_after_step,
        peak_heap_bytes,
        collections,
        after_collection_bytes,
        breakdown: breakdown.points,
        breakdown_exact: breakdown.exact,
        breakdown_released: breakdown.released,
        backward_in_flight_bytes: breakdown.backward_in_flight_bytes,
    }
}

/// The median of `values` (0 for none).
fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    match values.len() {
        0 => 0.0,
        n if n % 2 == 1 => values[n / 2],
        n => (values[n / 2 - 1] + values[n / 2]) / 2.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_epoch_is_the_loaders_batches_of_the_training_split() {
        let (x, labels) = datasets::digits();
        let ((x_train, y_train), _) =
            datasets::train_test_split(&x, &labels, TEST_FRACTION, 0).unwrap();
        let loader =
            DataLoader::<_, autograd_ops::RcWeak>::new_in(x_train, y_train, BATCH).unwrap();
        assert_eq!(loader.batches(), EPOCH_STEPS);
        assert_eq!(EPOCH_STEPS, 43);
    }
}
