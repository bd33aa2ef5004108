//! Where a step's bytes go in a deep MLP, and what each tool saves: the
//! graph kept between forward and backward without checkpointing, with √n
//! segments and with every layer checkpointed, at three depths, each beside
//! its prediction from the graph; and the peak during backward with the
//! graph retained and with `retain_graph(false)`.
//!
//! The model is a stack of `WIDTH`-wide ReLU layers on a batch much larger
//! than the width, so that activations, not weights, dominate; it runs
//! under the default strategy. The time figures here are one run each; the
//! `checkpoint` criterion bench measures them properly.

use std::time::Instant;

use autograd_nn::{Activation, Mlp, Module};
use autograd_ops::{BackwardOptions, DefaultStrategy, Variable, softmax_cross_entropy};
use ndarray::Array2;
use serde::Serialize;

use crate::alloc;
use crate::report::Context;
use crate::report::heap::{Cache, Counted, HeapMark, Peak};

/// The depths measured, in layers.
pub const DEPTHS: [usize; 3] = [16, 64, 256];
/// Every layer's width (input, hidden and output).
pub const WIDTH: usize = 128;
/// The batch of the report's default run.
pub const BATCH: usize = 512;
/// The largest batch the report takes (`--value-memory-batch`): the section
/// runs outside the heap budget, as the deep chains do, and its heap grows
/// with the batch, about 0.57 MiB a row at 256 layers (the graph kept
/// between forward and backward, and backward's peak above it) and the
/// parameters' 64 MiB with their gradients: about 9 GiB at this cap.
pub const MAX_BATCH: usize = 16_384;

/// How the forward pass keeps its values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Mode {
    /// `Mlp::forward`: every op's saved values kept.
    Plain,
    /// `forward_checkpointed` with ⌈√layers⌉ segments.
    SqrtSegments,
    /// `forward_checkpointed` with one segment a layer.
    EveryLayer,
}

impl Mode {
    /// Every mode, in report order.
    pub const ALL: [Mode; 3] = [Mode::Plain, Mode::SqrtSegments, Mode::EveryLayer];

    /// The segments for `layers` layers (`None`: not checkpointed).
    pub fn segments(self, layers: usize) -> Option<usize> {
        match self {
            Mode::Plain => None,
            Mode::SqrtSegments => Some(layers.isqrt().max(1)),
            Mode::EveryLayer => Some(layers),
        }
    }

    /// The mode's name in tables and plots.
    pub fn name(self) -> &'static str {
        match self {
            Mode::Plain => "no checkpointing",
            Mode::SqrtSegments => "√n segments",
            Mode::EveryLayer => "every layer",
        }
    }
}

/// One depth under one mode.
#[derive(Debug, Clone, Serialize)]
pub struct ValueMemoryRow {
    /// Layers.
    pub layers: usize,
    /// Batch rows.
    pub batch: usize,
    /// The mode.
    pub mode: Mode,
    /// Checkpointed segments (0: none).
    pub segments: usize,
    /// Heap the graph kept between forward and backward, by the counting
    /// allocator (parameters, their gradients and the batch excluded: they
    /// exist before the forward pass).
    pub kept_bytes: i64,
    /// The same predicted from the graph: `graph_footprint` of the loss,
    /// less the parameters' and the batch's own footprints.
    pub predicted_bytes: i64,
    /// The parameters' nodes and values, apart.
    pub parameter_bytes: i64,
    /// The largest heap during backward above the heap before it, the graph
    /// retained (the engine's buffer cache, at most 4 MiB, included).
    pub backward_peak_retained: i64,
    /// The same with `retain_graph(false)`.
    pub backward_peak_released: i64,
    /// Heap left after backward with `retain_graph(false)` while the loss
    /// is still held, above the heap before forward (the gradients
    /// excluded).
    pub released_left_bytes: i64,
    /// Forward + backward, milliseconds (one run).
    pub millis: f64,
}

/// Runs every depth under every mode with batches of the context's
/// `value_memory_batch` rows (0: skip the section).
pub fn run(cx: &Context<'_>) -> Vec<ValueMemoryRow> {
    let batch = cx.config.value_memory_batch;
    if batch == 0 {
        return Vec::new();
    }
    let mut rows = Vec::new();
    for layers in DEPTHS {
        let sizes = vec![WIDTH; layers + 1];
        let model = Mlp::new(&sizes, Activation::Relu, 19).expect("sizes");
        let x = Variable::constant_from_array(Array2::from_shape_fn((batch, WIDTH), |(i, j)| {
            ((i * WIDTH + j) as f64 * 0.001).sin()
        }));
        let labels: Vec<usize> = (0..batch).map(|i| i % WIDTH).collect();
        for mode in Mode::ALL {
            rows.push(measure(&model, &x, &labels, mode));
        }
    }
    rows
}

fn forward(model: &Mlp<DefaultStrategy>, x: &Variable, labels: &[usize], mode: Mode) -> Variable {
    let y = match mode.segments(model.layers().len()) {
        None => model.forward(x),
        Some(segments) => model.forward_checkpointed(x, segments),
    }
    .expect("the model takes the batch");
    softmax_cross_entropy(&y, labels).expect("labels fit")
}

fn measure(
    model: &Mlp<DefaultStrategy>,
    x: &Variable,
    labels: &[usize],
    mode: Mode,
) -> ValueMemoryRow {
    let layers = model.layers().len();
    let backward = |loss: &Variable, retain: bool| {
        loss.backward_with(BackwardOptions::default().retain_graph(retain))
            .expect("backward runs");
    };
    // A warm-up run: this thread's lazily made state exists before counting.
    backward(&forward(model, x, labels, mode), true);
    model.cleargrad();
    let parameter_bytes: usize = model
        .params()
        .iter()
        .map(|p| p.graph_footprint().bytes)
        .sum();
    let outside = parameter_bytes + x.graph_footprint().bytes;

    // This thread's heap, the buffer cache emptied before each reading.
    let heap = || HeapMark::now(Counted::ThreadScoped, Cache::Emptied);
    alloc::scoped(|| {
        let start = heap();
        let timer = Instant::now();
        let loss = forward(model, x, labels, mode);
        let kept_bytes = start.since();
        let predicted_bytes = loss.graph_footprint().bytes as i64 - outside as i64;
        let peak = Peak::start();
        backward(&loss, true);
        let millis = timer.elapsed().as_secs_f64() * 1e3;
        let backward_peak_retained = peak.bytes();
        drop(loss);
        model.cleargrad();

        let start = heap();
        let loss = forward(model, x, labels, mode);
        let peak = Peak::start();
        backward(&loss, false);
        let backward_peak_released = peak.bytes();
        model.cleargrad();
        let released_left_bytes = start.since();
        drop(loss);
        ValueMemoryRow {
            layers,
            batch: x.shape()[0],
            mode,
            segments: mode.segments(layers).unwrap_or(0),
            kept_bytes,
            predicted_bytes,
            parameter_bytes: parameter_bytes as i64,
            backward_peak_retained,
            backward_peak_released,
            released_left_bytes,
            millis,
        }
    })
}
