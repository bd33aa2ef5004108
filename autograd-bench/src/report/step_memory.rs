//! Where a training step's bytes go, for any model: the live heap at three
//! points of a step (after forward, after backward, after the optimizer
//! step) broken down into parts, each predicted from the objects and
//! `graph_footprint`, that sum to the heap the counting allocator measured,
//! to the byte. The training section runs it on the digits MLP, the
//! `cnn_step` section on the CNN.
//!
//! **The step's form.** Where a graph is freed when its last handle goes
//! (`RcWeak`, `ArcWeak`, `Region`), the step is the one the examples and the
//! benches run: `cleargrad`, forward, `backward_once`, the optimizer's step,
//! the loss dropped at the end. Where it is not (`StrongOnly`, the collected
//! strategies), the step keeps its graph (`backward`) and drops the loss
//! before the optimizer's step, as the training section always did: a
//! released graph there leaves its intermediate variables in cycles with
//! their released creators (kept, under a strong back-link, by the root's
//! creator as the pass's survivors), which `graph_footprint` does not walk
//! to, so their bytes could not be predicted from it; a kept graph it
//! counts whole.

use autograd_mem::Collector as _;
use autograd_mem::Policy;
use autograd_nn::{Adam, DataLoader, Module, Optimizer};
use autograd_ops::{FunctionNode, Strategy, Tensor, Variable, softmax_cross_entropy};
use serde::{Serialize, Serializer};

use crate::report::heap::{Cache, Counted, HeapMark, Peak};

/// Steps of a breakdown run (the first allocates the optimizer's moments;
/// the others show the steady state).
pub const BREAKDOWN_STEPS: usize = 3;

/// The most op kinds a graph's values are split into.
pub const MAX_OP_KINDS: usize = 8;

/// The bytes of one op kind's values in a graph.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct OpBytes {
    /// The op's name (`conv2d`, `relu`, ...); empty for an unused slot.
    pub op: &'static str,
    /// Its outputs' buffers (each buffer once, counted at the op that made
    /// it) and the tensors it saved of its own (max pooling's positions of
    /// the maxima, dropout's mask).
    pub bytes: i64,
}

/// A graph's bytes split into its values, by the op kind that made them,
/// and the rest (nodes, ops, links kept out of line, a region's spare
/// slots): a fixed array, so that making one allocates nothing between two
/// readings of the heap.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct GraphSplit {
    /// Each op kind's values, in the order of the forward pass.
    #[serde(serialize_with = "used_slots")]
    pub values: [OpBytes; MAX_OP_KINDS],
    /// The graph's bytes less its values.
    pub nodes: i64,
}

impl GraphSplit {
    /// The op kinds, in the order of the forward pass.
    pub fn kinds(&self) -> impl Iterator<Item = &OpBytes> {
        self.values.iter().filter(|v| !v.op.is_empty())
    }

    /// Bytes of op kind `op` (0 if the graph has none).
    pub fn bytes_of(&self, op: &str) -> i64 {
        self.kinds().find(|v| v.op == op).map_or(0, |v| v.bytes)
    }
}

fn used_slots<S: Serializer>(values: &[OpBytes; MAX_OP_KINDS], s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(values.iter().filter(|v| !v.op.is_empty()))
}

/// The live heap at one point of a step, and its parts.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Breakdown {
    /// The point: after forward, after backward, after the optimizer step.
    pub point: &'static str,
    /// What the counting allocator measured, above the baseline.
    pub measured: i64,
    /// The parameters' nodes and values, and the model's own structure (a
    /// list of layers, boxed modules).
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
    /// After forward, the graph split into its values by op kind and the
    /// rest.
    pub split: Option<GraphSplit>,
    /// Earlier steps' graphs not freed yet: garbage awaiting a collection,
    /// or leaked (`StrongOnly`), with the weights' old buffers they share
    /// (an update copies a buffer a live graph shares).
    pub earlier_graphs: i64,
    /// Buffers the engine keeps for reuse (`buffers::cached_bytes`).
    pub buffer_cache: i64,
    /// `measured` minus the parts: 0 when the prediction is exact.
    pub unexplained: i64,
}

/// What a breakdown run found.
#[derive(Debug, Clone, Serialize)]
pub struct BreakdownRun {
    /// The last step's breakdown, at each point.
    pub points: Vec<Breakdown>,
    /// Whether every point of every step summed to the measured heap exactly.
    pub exact: bool,
    /// The largest live heap during a backward pass beyond what the heap
    /// held after it: what the pass holds in flight (gradients not yet
    /// summed into their variables, its queue).
    pub backward_in_flight_bytes: i64,
    /// Whether the step released its graph (`backward_once`) or kept it
    /// (`backward`, the loss dropped before the optimizer's step): see the
    /// module's docs.
    pub released: bool,
}

/// A graph's values by the op kind that made them: every function behind
/// `root`, in the order of the forward pass (the walk's reversed), its
/// outputs' buffers not met before and what it saves of its own (max
/// pooling's positions and dropout's mask: one tensor of its output's
/// shape, whose buffer is as large as the output's). Leaves (the
/// parameters, the batch) are not counted. A released function no longer
/// reads its inputs, so the walk stops there.
pub fn op_values<S: Strategy>(root: &Variable<S>) -> [OpBytes; MAX_OP_KINDS] {
    let mut functions: Vec<FunctionNode<S>> = Vec::new();
    let mut queue: Vec<FunctionNode<S>> = root.creator().into_iter().collect();
    while let Some(f) = queue.pop() {
        if functions.iter().any(|g| g.ptr_eq(&f)) {
            continue;
        }
        queue.extend(f.inputs().into_iter().flatten().filter_map(|x| x.creator()));
        functions.push(f);
    }
    functions.sort_by_key(|f| f.generation());
    let mut seen: Vec<Tensor> = Vec::new();
    let mut values = [OpBytes::default(); MAX_OP_KINDS];
    for f in &functions {
        let mut bytes = 0;
        for y in f.outputs().into_iter().flatten() {
            let t = y.tensor();
            if !seen.iter().any(|s| s.ptr_eq(&t)) {
                bytes += t.heap_bytes() as i64;
                if matches!(f.name(), "max_pool2d" | "dropout") {
                    bytes += t.heap_bytes() as i64;
                }
                seen.push(t);
            }
        }
        let slot = values
            .iter()
            .position(|v| v.op == f.name() || v.op.is_empty())
            .expect("at most MAX_OP_KINDS op kinds");
        values[slot].op = f.name();
        values[slot].bytes += bytes;
    }
    values
}

/// What every point shares: what the model, its gradients, the optimizer
/// and the engine's cache hold.
struct Parts {
    cached_at_baseline: usize,
    /// The parameters' footprints without gradients.
    parameters: i64,
    /// The model's own heap beside its parameters.
    structure: i64,
}

impl Parts {
    #[allow(clippy::too_many_arguments)]
    fn point<S: Strategy>(
        &self,
        point: &'static str,
        measured: i64,
        (model, adam): (&dyn Module<S>, &Adam<S>),
        batch: (&Variable<S>, &[usize]),
        loss: Option<&Variable<S>>,
        earlier_graphs: i64,
        split: bool,
    ) -> Breakdown {
        let with_grads: i64 = model
            .params()
            .iter()
            .map(|p| p.graph_footprint().bytes as i64)
            .sum();
        let batch_footprint = batch.0.graph_footprint().bytes as i64;
        let graph = loss.map_or(0, |loss| {
            let footprint = loss.graph_footprint().bytes as i64;
            // A released function no longer reads its inputs: the walk
            // stops at it and reaches neither the parameters nor the
            // batch (under Region too: releasing a function lets go of
            // the leaves' regions its own kept).
            let released = loss.creator().is_some_and(|c| c.is_released());
            if !released {
                footprint - with_grads - batch_footprint
            } else {
                footprint
            }
        });
        let split = loss.filter(|_| split).map(|loss| {
            let values = op_values(loss);
            GraphSplit {
                values,
                nodes: graph - values.iter().map(|v| v.bytes).sum::<i64>(),
            }
        });
        let mut b = Breakdown {
            point,
            measured,
            parameters: self.parameters + self.structure,
            gradients: with_grads - self.parameters,
            optimizer: adam.state_bytes() as i64,
            batch: batch_footprint + std::mem::size_of_val(batch.1) as i64,
            graph,
            split,
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

/// [`BREAKDOWN_STEPS`] steps of softmax cross-entropy training on a fresh
/// model from `make` (its own heap beside the parameters given by
/// `structure`), on `loader`'s batches, with the collector off: the last
/// step's breakdown, whether every point was exact, and the most the
/// backward passes held in flight. Ends with the collector's policy at
/// `Never`; the caller restores it.
pub fn breakdown_run<S: Strategy, M: Module<S>>(
    make: impl Fn() -> (M, Adam<S>),
    structure: impl Fn(&M) -> i64,
    loader: &mut DataLoader<Vec<usize>, S>,
) -> BreakdownRun {
    S::Collector::set_policy(Policy::Never);
    // Measured with the buffer cache, which is one of the parts.
    let heap = HeapMark::now(Counted::Process, Cache::Counted);
    let cached_at_baseline = autograd_core::buffers::cached_bytes();
    let (model, mut adam) = make();
    let parameters: i64 = model
        .params()
        .iter()
        .map(|p| p.graph_footprint().bytes as i64)
        .sum();
    let parts = Parts {
        cached_at_baseline,
        parameters,
        structure: structure(&model),
    };
    let released = S::FREEING.at_last_handle();
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
        let parts_of = (&model as &dyn Module<S>, &adam);
        let forward = parts.point(
            "after forward",
            measured,
            parts_of,
            (&batch, &labels),
            Some(&loss),
            earlier,
            true,
        );
        let (peak, before) = (
            Peak::start(),
            HeapMark::now(Counted::Process, Cache::Counted),
        );
        if released {
            loss.backward_once().expect("backward");
        } else {
            loss.backward().expect("backward");
        }
        let measured = heap.since();
        in_flight = in_flight.max(peak.bytes() - before.since());
        let backward = parts.point(
            "after backward",
            measured,
            (&model, &adam),
            (&batch, &labels),
            Some(&loss),
            earlier,
            false,
        );
        let loss = if released {
            Some(loss)
        } else {
            drop(loss);
            // The graph stays, unreachable, with the weights' buffers it
            // shares: the step below copies each before writing.
            earlier += backward.graph
                + model
                    .params()
                    .iter()
                    .map(|p| p.tensor().heap_bytes() as i64)
                    .sum::<i64>();
            None
        };
        adam.step().expect("valid rates");
        let measured = heap.since();
        let step = parts.point(
            "after the optimizer step",
            measured,
            (&model, &adam),
            (&batch, &labels),
            loss.as_ref(),
            earlier,
            false,
        );
        drop(loss);
        if !released {
            // The batch's node and values stay with the graph.
            earlier += batch.graph_footprint().bytes as i64;
        }
        drop((batch, labels));
        exact &= [forward, backward, step].iter().all(|b| b.unexplained == 0);
        last = [forward, backward, step];
    }
    drop((model, adam));
    BreakdownRun {
        points: last.to_vec(),
        exact,
        backward_in_flight_bytes: in_flight,
        released,
    }
}
