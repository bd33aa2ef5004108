//! A training loop's memory under every strategy: the digits MLP (64-100-10
//! ReLU, Adam, batches of 32) for one epoch, timed, with the live heap
//! after every step; then a few steps more on a fresh model with the live
//! heap at three points of each step broken down into parts, each predicted
//! from the objects and the graph, that sum to the measured heap to the byte.
//!
//! The loop is the one the `train_step` bench and the `digits` example run:
//! `cleargrad`, forward, loss, backward, the loss dropped, then Adam's step
//! (dropped first, the graph no longer shares the weights' buffers where it
//! is freed on drop, so the step writes into them in place).

use std::time::Instant;

use autograd_mem::Collector as _;
use autograd_mem::{Freeing, Policy, StrategyKind, with_strategy};
use autograd_nn::{Activation, Adam, DataLoader, Mlp, Module, Optimizer, datasets};
use autograd_ops::{Strategy, Variable, softmax_cross_entropy};
use serde::Serialize;

use crate::report::Context;
use crate::report::heap::{Cache, Counted, HeapMark, Peak};
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

/// Steps of the breakdown run (the first allocates Adam's moments; the
/// others show the steady state).
pub const BREAKDOWN_STEPS: usize = 3;

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
    /// The largest live heap during a backward pass of the breakdown run
    /// beyond what the heap held after it: what the pass holds in flight
    /// (gradients not yet summed into their variables, its queue).
    pub backward_in_flight_bytes: i64,
}

/// The live heap at one point of a step, and its parts.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Breakdown {
    /// The point: after forward, after backward, after the optimizer step.
    pub point: &'static str,
    /// What the counting allocator measured, above the baseline.
    pub measured: i64,
    /// The parameters' nodes and values, and the model's list of layers.
    pub parameters: i64,
    /// The parameters' gradients.
    pub gradients: i64,
    /// What the optimizer holds (`Optimizer::state_bytes`).
    pub optimizer: i64,
    /// The batch (its node and values) and its labels.
    pub batch: i64,
    /// The step's graph, as `graph_footprint` counts it: nodes, the values
    /// its ops saved for backward, the outputs it holds; the parameters and
    /// the batch it reaches excluded (they are counted above).
    pub graph: i64,
    /// Earlier steps' graphs not freed yet: garbage awaiting a collection,
    /// or leaked (`StrongOnly`), with the weights' old buffers they share
    /// (an update copies a buffer a live graph shares).
    pub earlier_graphs: i64,
    /// Buffers the engine keeps for reuse (`buffers::cached_bytes`).
    pub buffer_cache: i64,
    /// `measured` minus the parts: 0 when the prediction is exact.
    pub unexplained: i64,
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
fn model<S: Strategy>() -> (Mlp<S>, Adam<S>) {
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
        let (model, mut adam) = model::<S>();
        if let Some((batch, labels)) = loader.iter().next() {
            let loss = softmax_cross_entropy(&model.forward(&batch).expect("fits"), &labels)
                .expect("valid labels");
            loss.backward().expect("backward");
            drop(loss);
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
    let (model, mut adam) = model::<S>();
    let mut live_heap_after_step = Vec::with_capacity(steps);
    let mut times = Vec::with_capacity(steps);
    for (batch, batch_labels) in loader.iter().take(steps) {
        let started = Instant::now();
        adam.cleargrad();
        let loss = softmax_cross_entropy(&model.forward(&batch).expect("fits"), &batch_labels)
            .expect("valid labels");
        loss.backward().expect("backward");
        std::hint::black_box(loss.item());
        drop(loss);
        adam.step().expect("valid rates");
        drop((batch, batch_labels));
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

    let (breakdown, breakdown_exact, backward_in_flight_bytes) = breakdown_run::<S>(&mut loader);
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
        breakdown,
        breakdown_exact,
        backward_in_flight_bytes,
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

/// The parts every point shares: what the model, its gradients, the
/// optimizer and the engine's cache hold.
struct Parts {
    cached_at_baseline: usize,
    /// The parameters' footprints without gradients.
    parameters: i64,
    /// The model's list of layers.
    layer_list: i64,
}

impl Parts {
    fn point<S: Strategy>(
        &self,
        point: &'static str,
        measured: i64,
        (model, adam): (&Mlp<S>, &Adam<S>),
        batch: (&Variable<S>, &[usize]),
        graph_footprint: i64,
        earlier_graphs: i64,
    ) -> Breakdown {
        let with_grads: i64 = model
            .params()
            .iter()
            .map(|p| p.graph_footprint().bytes as i64)
            .sum();
        let batch_bytes =
            batch.0.graph_footprint().bytes as i64 + (std::mem::size_of_val(batch.1)) as i64;
        let graph = if graph_footprint > 0 {
            graph_footprint - with_grads - batch.0.graph_footprint().bytes as i64
        } else {
            0
        };
        let mut b = Breakdown {
            point,
            measured,
            parameters: self.parameters + self.layer_list,
            gradients: with_grads - self.parameters,
            optimizer: adam.state_bytes() as i64,
            batch: batch_bytes,
            graph,
            earlier_graphs,
            buffer_cache: autograd_core::buffers::cached_bytes() as i64
                - self.cached_at_baseline as i64,
            unexplained: 0,
        };
        b.unexplained = measured
            - (b.parameters
                + b.gradients
                + b.optimizer
                + b.batch
                + b.graph
                + b.earlier_graphs
                + b.buffer_cache);
        b
    }
}

/// [`BREAKDOWN_STEPS`] steps on a fresh model, with the collector off: the
/// last step's breakdown, whether every point was exact, and the most the
/// backward passes held in flight.
fn breakdown_run<S: Strategy>(
    loader: &mut DataLoader<Vec<usize>, S>,
) -> (Vec<Breakdown>, bool, i64) {
    S::Collector::set_policy(Policy::Never);
    // Measured with the buffer cache, which is one of the parts.
    let heap = HeapMark::now(Counted::Process, Cache::Counted);
    let cached_at_baseline = autograd_core::buffers::cached_bytes();
    let (model, mut adam) = model::<S>();
    let parameters: i64 = model
        .params()
        .iter()
        .map(|p| p.graph_footprint().bytes as i64)
        .sum();
    // `Mlp::new` collects its layers into a list of exactly their number.
    let layer_list = std::mem::size_of_val(model.layers()) as i64;
    let parts = Parts {
        cached_at_baseline,
        parameters,
        layer_list,
    };
    let frees_on_drop = S::FREEING.at_last_handle();
    let mut earlier = 0i64;
    let mut exact = true;
    let mut in_flight = 0i64;
    // On the stack: a list on the heap would be measured at the next step.
    let mut last = [Breakdown::default(); 3];
    for (batch, labels) in loader.iter().take(BREAKDOWN_STEPS) {
        adam.cleargrad();
        let loss = softmax_cross_entropy(&model.forward(&batch).expect("fits"), &labels)
            .expect("valid labels");
        let measured = heap.since();
        let footprint = loss.graph_footprint().bytes as i64;
        let forward = parts.point(
            "after forward",
            measured,
            (&model, &adam),
            (&batch, &labels),
            footprint,
            earlier,
        );
        let (peak, before) = (
            Peak::start(),
            HeapMark::now(Counted::Process, Cache::Counted),
        );
        loss.backward().expect("backward");
        let measured = heap.since();
        in_flight = in_flight.max(peak.bytes() - before.since());
        let footprint = loss.graph_footprint().bytes as i64;
        let backward = parts.point(
            "after backward",
            measured,
            (&model, &adam),
            (&batch, &labels),
            footprint,
            earlier,
        );
        drop(loss);
        if !frees_on_drop {
            // The graph stays, unreachable, with the weights' buffers it
            // shares: the step below copies each before writing.
            earlier += backward.graph
                + model
                    .params()
                    .iter()
                    .map(|p| p.tensor().heap_bytes() as i64)
                    .sum::<i64>();
        }
        adam.step().expect("valid rates");
        let measured = heap.since();
        let step = parts.point(
            "after the optimizer step",
            measured,
            (&model, &adam),
            (&batch, &labels),
            0,
            earlier,
        );
        if !frees_on_drop {
            // The batch's node and values stay with the graph.
            earlier += batch.graph_footprint().bytes as i64;
        }
        drop((batch, labels));
        exact &= [forward, backward, step].iter().all(|b| b.unexplained == 0);
        last = [forward, backward, step];
    }
    drop((model, adam));
    (last.to_vec(), exact, in_flight)
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
