//! The `cnn_step` section: the `cnn_mnist` example's network (two
//! conv-ReLU-max-pool blocks, dropout 0.25, flatten, linear; batches of 32,
//! Adam, `f64`, one thread), its training step timed under every strategy
//! that frees its graphs beside the plain-ndarray floor
//! ([`CnnFloor`]); its bytes broken down under every
//! strategy (parameters, gradients, optimizer state, the graph's values by
//! op kind and its nodes), predicted from the objects and `graph_footprint`
//! and measured by the counting allocator; what each convolution saves
//! (its input and weight) beside what the columns would take; and the
//! graph kept between forward and backward and backward's peak, with each
//! conv block checkpointed and without.

use std::time::Instant;

use autograd_mem::Collector as _;
use autograd_mem::{Freeing, Policy, StrategyKind, with_strategy};
use autograd_nn::{Adam, DataLoader, Module, datasets};
use autograd_ops::{DefaultStrategy, Strategy, Variable, manual_seed, softmax_cross_entropy};
use serde::Serialize;

use crate::alloc;
use crate::cnn::{
    BATCH, CHANNELS, CnnFloor, CnnStep, CnnWeights, DROPOUT_SEED, LR, SIDES, forward_checkpointed,
    structure_bytes,
};
use crate::report::Context;
use crate::report::heap::{Cache, Counted, HeapMark, Peak};
use crate::report::step_memory::{BreakdownRun, breakdown_run};

/// Steps timed per strategy by default (`--cnn-steps`).
pub const DEFAULT_STEPS: usize = 40;
/// The most steps `--cnn-steps` takes.
pub const MAX_STEPS: usize = 10_000;

/// The section's figures.
#[derive(Debug, Clone, Serialize)]
pub struct CnnSection {
    /// Steps timed per strategy (after two untimed).
    pub steps: usize,
    /// The floor's median µs a step.
    pub floor_micros: f64,
    /// Each strategy's step.
    pub runs: Vec<CnnRun>,
    /// What each convolution saves for backward, beside the columns.
    pub saved: Vec<ConvSaved>,
    /// The graph and backward's peak with and without checkpointing.
    pub checkpoint: Vec<CheckpointRow>,
}

/// One strategy's step.
#[derive(Debug, Clone, Serialize)]
pub struct CnnRun {
    /// The strategy, by name.
    pub strategy: String,
    /// How it frees a graph.
    pub freeing: String,
    /// The median µs a step, `None` for a strategy that never frees its
    /// graphs (not timed: every step would stay in memory).
    pub micros_per_step: Option<f64>,
    /// `micros_per_step` over the floor's.
    pub vs_floor: Option<f64>,
    /// Where a step's bytes go.
    pub breakdown: BreakdownRun,
}

/// What one convolution of the network saves for backward: its input and
/// weight (shared buffers: the batch or the block before's output, and
/// the parameter), beside the columns `[N·OH·OW, C·KH·KW]` it could save
/// instead.
#[derive(Debug, Clone, Serialize)]
pub struct ConvSaved {
    /// The layer.
    pub layer: &'static str,
    /// Its input's shape.
    pub input: [usize; 4],
    /// Its weight's shape.
    pub weight: [usize; 4],
    /// Input and weight, 8 bytes an element.
    pub input_and_weight_bytes: u64,
    /// `N·OH·OW·C·KH·KW·8`.
    pub columns_bytes: u64,
}

/// The graph between forward and backward and backward's peak, under the
/// default strategy, plain or with each conv block checkpointed.
#[derive(Debug, Clone, Serialize)]
pub struct CheckpointRow {
    /// `no checkpointing` or `conv blocks checkpointed`.
    pub mode: &'static str,
    /// The heap the graph held between forward and backward (the
    /// parameters, their gradients and the batch excluded), measured.
    pub kept_bytes: i64,
    /// The same from `graph_footprint`: the loss's, less the parameters'
    /// and the batch's.
    pub predicted_bytes: i64,
    /// The largest heap during `backward_once` above the heap before it
    /// (the engine's buffer cache emptied before, and counted).
    pub backward_peak_bytes: i64,
    /// Forward and backward, milliseconds (one run).
    pub millis: f64,
}

/// Runs the section: `cx.config.cnn_steps` timed steps per strategy (0
/// skips the section).
pub fn run(cx: &Context<'_>) -> Option<CnnSection> {
    let steps = cx.config.cnn_steps;
    if steps == 0 {
        return None;
    }
    let floor_micros = floor_micros(steps);
    let (images, labels) = datasets::mnist_5k();
    let ((x_train, y_train), _) =
        datasets::stratified_split(&images, &labels, 0.2, 0).expect("a valid split");
    drop((images, labels));
    let runs = cx
        .config
        .strategies
        .iter()
        .map(|&kind| {
            let mut run = with_strategy!(kind, S => run_one::<S>(kind, steps, &x_train, &y_train));
            run.vs_floor = run.micros_per_step.map(|m| m / floor_micros);
            run
        })
        .collect();
    Some(CnnSection {
        steps,
        floor_micros,
        runs,
        saved: saved(),
        checkpoint: checkpoint_rows(),
    })
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

/// The median µs of `steps` calls of `step`, after two.
fn timed(steps: usize, mut step: impl FnMut()) -> f64 {
    step();
    step();
    let mut times: Vec<f64> = (0..steps)
        .map(|_| {
            let started = Instant::now();
            step();
            started.elapsed().as_secs_f64() * 1e6
        })
        .collect();
    median(&mut times)
}

fn floor_micros(steps: usize) -> f64 {
    let mut floor = CnnFloor::new(0);
    timed(steps, || {
        std::hint::black_box(floor.step());
    })
}

fn run_one<S: Strategy>(
    kind: StrategyKind,
    steps: usize,
    x: &ndarray::Array4<f64>,
    labels: &[usize],
) -> CnnRun {
    let micros_per_step = (S::FREEING != Freeing::Never).then(|| {
        let mut step = CnnStep::<S>::new(0);
        let micros = timed(steps, || {
            std::hint::black_box(step.step().expect("runs"));
        });
        drop(step);
        S::Collector::collect();
        micros
    });
    autograd_core::buffers::release_thread_cache();
    let mut loader = DataLoader::<_, S>::new_in(x.clone(), labels.to_vec(), BATCH)
        .expect("a valid loader")
        .shuffle(0);
    let weights = CnnWeights::new(0);
    let make = || {
        let model = weights.model::<S>();
        let adam = Adam::new(model.params(), LR).expect("a valid rate");
        (model, adam)
    };
    // A warm-up step: what the engine allocates once per thread exists first.
    {
        let (model, mut adam) = make();
        if let Some((batch, labels)) = loader.iter().next() {
            let loss = softmax_cross_entropy(&model.forward(&batch).expect("fits"), &labels)
                .expect("valid labels");
            loss.backward_once().expect("backward");
            autograd_nn::Optimizer::step(&mut adam).expect("valid rates");
        }
    }
    S::Collector::collect();
    autograd_core::buffers::release_thread_cache();
    manual_seed(DROPOUT_SEED);
    let breakdown = breakdown_run(make, structure_bytes, &mut loader);
    S::Collector::collect();
    S::Collector::set_policy(Policy::Auto);
    autograd_core::buffers::release_thread_cache();
    CnnRun {
        strategy: kind.name().to_string(),
        freeing: kind.freeing().describe().to_string(),
        micros_per_step,
        vs_floor: None,
        breakdown,
    }
}

/// Each convolution's saved bytes beside its columns'.
fn saved() -> Vec<ConvSaved> {
    let [c1, c2] = CHANNELS;
    let conv = |layer, input: [usize; 4], oc: usize| {
        let [n, c, h, w] = input.map(|d| d as u64);
        let weight = [oc, input[1], 3, 3];
        // Stride 1, padding 1: the output planes are the input's.
        let patch = c * 9;
        ConvSaved {
            layer,
            input,
            weight,
            input_and_weight_bytes: 8 * (n * c * h * w + oc as u64 * patch),
            columns_bytes: 8 * n * h * w * patch,
        }
    };
    vec![
        conv("conv1", [BATCH, 1, SIDES[0], SIDES[0]], c1),
        conv("conv2", [BATCH, c1, SIDES[1], SIDES[1]], c2),
    ]
}

/// The graph kept and backward's peak, plain and with each conv block
/// checkpointed, under the default strategy, on one batch.
fn checkpoint_rows() -> Vec<CheckpointRow> {
    let step = CnnStep::<DefaultStrategy>::new(0);
    let (model, x, labels) = (&step.model, &step.x, &step.labels);
    let forward = |checkpointed: bool| -> Variable {
        if checkpointed {
            forward_checkpointed(model, x, labels).expect("fits")
        } else {
            let logits = model.forward(x).expect("fits");
            softmax_cross_entropy(&logits, labels).expect("valid labels")
        }
    };
    [
        (false, "no checkpointing"),
        (true, "conv blocks checkpointed"),
    ]
    .into_iter()
    .map(|(checkpointed, mode)| {
        // A warm-up run: this thread's lazily made state exists first.
        forward(checkpointed).backward_once().expect("backward");
        model.cleargrad();
        let outside: usize = model
            .params()
            .iter()
            .map(|p| p.graph_footprint().bytes)
            .sum::<usize>()
            + x.graph_footprint().bytes;
        let heap = || HeapMark::now(Counted::ThreadScoped, Cache::Emptied);
        let row = alloc::scoped(|| {
            let start = heap();
            let timer = Instant::now();
            let loss = forward(checkpointed);
            let kept_bytes = start.since();
            let predicted_bytes = loss.graph_footprint().bytes as i64 - outside as i64;
            let peak = Peak::start();
            loss.backward_once().expect("backward");
            let millis = timer.elapsed().as_secs_f64() * 1e3;
            CheckpointRow {
                mode,
                kept_bytes,
                predicted_bytes,
                backward_peak_bytes: peak.bytes(),
                millis,
            }
        });
        model.cleargrad();
        row
    })
    .collect()
}
