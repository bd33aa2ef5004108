//! Deep chains: `d` ops of `y = y + x`, backward, drop, on one thread under
//! the default strategy and under `Region` (one region of `d` functions,
//! freed at once), beside the same additions without a graph.

use std::time::Instant;

use autograd_mem::Collector as _;
use autograd_mem::{StrategyKind, with_strategy};
use autograd_ops::{DefaultStrategy, Strategy};
use serde::Serialize;

use crate::report::Context;
use crate::report::heap::Peak;

/// One deep chain.
#[derive(Debug, Clone, Serialize)]
pub struct DeepResult {
    /// The strategy.
    pub strategy: String,
    /// Ops in the chain.
    pub ops: usize,
    /// Build, backward and drop, in seconds.
    pub seconds: f64,
    /// `seconds / ops`, in nanoseconds.
    pub ns_per_op: f64,
    /// The same chain without a graph, in nanoseconds per op (measured over
    /// at most 1,000,000 ops).
    pub raw_ns_per_op: f64,
    /// Peak heap above the start, per op (one variable and one function node).
    pub peak_bytes_per_op: f64,
    /// Nodes alive after the drop (and, for a collected strategy, a
    /// collection), above the start: 0 when all were freed.
    pub live_nodes_after: isize,
}

/// The longest chain the graph-free twin runs, per deep chain.
const RAW_CHAIN_OPS: usize = 1_000_000;

/// The strategies the section runs: the default, and `Region` if it is not
/// the default.
pub fn strategies() -> Vec<StrategyKind> {
    let mut kinds = vec![DefaultStrategy::KIND];
    if DefaultStrategy::KIND != StrategyKind::Region {
        kinds.push(StrategyKind::Region);
    }
    kinds
}

/// Runs [`deep_chain`](crate::deep_chain) once at each of the context's
/// lengths under each of [`strategies`].
pub fn run(cx: &Context<'_>) -> Vec<DeepResult> {
    let lengths = &cx.config.deep;
    strategies()
        .into_iter()
        .flat_map(|kind| with_strategy!(kind, S => run_under::<S>(lengths)))
        .collect()
}

fn run_under<S: Strategy>(lengths: &[usize]) -> Vec<DeepResult> {
    lengths
        .iter()
        .map(|&ops| {
            S::Collector::collect(); // what earlier sections left stays out of the count
            let nodes_start = autograd_mem::live::total::<S>();
            let peak = Peak::start();
            let started = Instant::now();
            let (_, grad) = crate::deep_chain::<S>(ops).expect("the chain builds");
            let seconds = started.elapsed().as_secs_f64();
            assert_eq!(
                grad,
                ops as f64 + 1.0,
                "dy/dx of a chain of {ops} additions"
            );
            let peak = peak.bytes();
            S::Collector::collect();
            let raw_started = Instant::now();
            // Without a graph the cost per op does not grow with length:
            // a million ops measure it as well as ten million.
            let raw_ops = ops.min(RAW_CHAIN_OPS);
            std::hint::black_box(crate::deep_chain_raw(raw_ops));
            let raw_seconds = raw_started.elapsed().as_secs_f64();
            let nodes = autograd_mem::live::total::<S>().since(nodes_start);
            DeepResult {
                strategy: S::KIND.name().to_string(),
                ops,
                seconds,
                ns_per_op: seconds * 1e9 / ops as f64,
                raw_ns_per_op: raw_seconds * 1e9 / raw_ops as f64,
                peak_bytes_per_op: peak as f64 / ops as f64,
                live_nodes_after: nodes.variables + nodes.functions,
            }
        })
        .collect()
}
