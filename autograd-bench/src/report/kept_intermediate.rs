//! What one kept intermediate keeps: a 1,000-op chain `y = y + x` on a
//! one-element array, its 10th intermediate held and the output dropped,
//! under every strategy. A weak link keeps the intermediate's own graph (the
//! ten ops behind it); a region keeps its whole region (all 1,000); a
//! collector keeps what the weak link does once it has run; a strategy that
//! never frees keeps everything, and keeps it after the intermediate goes.

use autograd_mem::Collector as _;
use autograd_mem::{Policy, Strategy, live, with_strategy};
use autograd_ops::{Variable, add};
use serde::Serialize;

use crate::report::Context;
use crate::report::heap::{Cache, Counted, HeapMark};

/// Ops in the chain.
pub const OPS: usize = 1000;
/// Which intermediate is held: the output of op `HELD` (1-based).
pub const HELD: usize = 10;

/// One strategy's figures.
#[derive(Debug, Clone, Serialize)]
pub struct KeptIntermediate {
    /// The strategy.
    pub strategy: String,
    /// How it frees a graph.
    pub freeing: String,
    /// The heap held while the intermediate is, after a collection, above
    /// the heap before the chain (the leaf `x` excluded).
    pub kept_bytes: i64,
    /// Nodes alive then, variables and functions.
    pub kept_nodes: isize,
    /// What the intermediate's `graph_footprint` says it holds, less `x`'s.
    pub predicted_bytes: i64,
    /// The heap left once the intermediate is dropped too (and a
    /// collection has run).
    pub after_drop_bytes: i64,
}

/// Runs the chain under each of the context's strategies.
pub fn run(cx: &Context<'_>) -> Vec<KeptIntermediate> {
    cx.config
        .strategies
        .iter()
        .map(|&kind| with_strategy!(kind, S => one::<S>()))
        .collect()
}

/// The chain, with the output of op [`HELD`] returned and the rest dropped.
fn chain<S: Strategy>(x: &Variable<S>) -> Variable<S> {
    let mut y = x.clone();
    let mut held = None;
    for i in 1..=OPS {
        y = add(&y, x).expect("one-element arrays add");
        if i == HELD {
            held = Some(y.clone());
        }
    }
    held.expect("HELD <= OPS")
}

fn one<S: Strategy>() -> KeptIntermediate {
    let policy = S::Collector::policy();
    S::Collector::set_policy(Policy::Never);
    let x = Variable::<S>::from_scalar(0.5);
    // Warm up: what a thread allocates once is made before the count.
    drop(chain(&x));
    S::Collector::collect();
    let (heap, nodes_start) = (
        HeapMark::now(Counted::Process, Cache::Emptied),
        live::total::<S>(),
    );
    let held = chain(&x);
    S::Collector::collect();
    let kept_bytes = heap.since();
    let nodes = live::total::<S>().since(nodes_start);
    let predicted_bytes = held.graph_footprint().bytes as i64 - x.graph_footprint().bytes as i64;
    drop(held);
    S::Collector::collect();
    let after_drop_bytes = heap.since();
    S::Collector::set_policy(policy);
    KeptIntermediate {
        strategy: S::KIND.name().to_string(),
        freeing: S::FREEING.describe().to_string(),
        kept_bytes,
        kept_nodes: nodes.variables + nodes.functions,
        predicted_bytes,
        after_drop_bytes,
    }
}
