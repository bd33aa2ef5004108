//! The second cycle: PyTorch issue 7343's loop (`x` a fresh leaf,
//! `y = tanh(x)`, backward with `create_graph`, both dropped, no
//! `cleargrad`) under each strategy, with the bytes it leaves per iteration.

use autograd_mem::Collector as _;
use autograd_mem::{Freeing, Policy, Strategy, live, with_strategy};
use serde::Serialize;

use crate::report::Context;
use crate::report::config::collects_too_late;
use crate::report::heap::{Cache, Counted, HeapMark};
use crate::{SeedRng, alloc, second_cycle_step};

/// What the loop left under one strategy.
#[derive(Debug, Clone, Serialize)]
pub struct SecondCycleResult {
    /// The strategy.
    pub strategy: String,
    /// Iterations run (fewer under a strategy that never frees, at the
    /// heap budget).
    pub iterations: usize,
    /// Heap bytes the loop left, per iteration (for a collected strategy,
    /// before its last collection).
    pub bytes_left_per_iteration: f64,
    /// Nodes the loop left.
    pub nodes_left: isize,
    /// For a collected strategy: heap bytes left after one more collection.
    pub bytes_left_after_collection: Option<i64>,
}

/// Elements of each leaf: the cycle is about links, not data.
const SIZE: usize = 16;

struct Loop {
    iterations: usize,
    budget: usize,
    policy: Policy,
}

impl Loop {
    fn run<S: Strategy>(self) -> SecondCycleResult {
        let policy = S::Collector::policy();
        S::Collector::set_policy(self.policy);
        let mut rng = SeedRng::new(7343);
        let mut step = || {
            std::hint::black_box(second_cycle_step::<S>(rng.randn(SIZE)).expect("tanh runs"));
        };
        step(); // warm up this thread's bookkeeping
        S::Collector::collect();
        // One iteration's leak and nodes, to stop a strategy that keeps
        // them in time.
        let (one, nodes) = {
            let (heap, nodes) = (
                HeapMark::now(Counted::ThreadScoped, Cache::Counted),
                live::this_thread::<S>(),
            );
            alloc::scoped(&mut step);
            let left = live::this_thread::<S>().since(nodes);
            (
                heap.since().max(1) as usize,
                (left.variables + left.functions).max(1) as usize,
            )
        };
        S::Collector::collect(); // what that iteration left stays out of the count
        let keeps = match S::FREEING {
            Freeing::Never => true,
            Freeing::OnCollection => collects_too_late(self.policy, nodes, one, self.budget),
            _ => false,
        };
        let iterations = if keeps {
            self.iterations.min(self.budget / one).max(1)
        } else {
            self.iterations
        };
        let nodes_start = live::this_thread::<S>();
        let heap = HeapMark::now(Counted::ThreadScoped, Cache::Counted);
        alloc::scoped(|| (0..iterations).for_each(|_| step()));
        let left = heap.since();
        let nodes = live::this_thread::<S>().since(nodes_start);
        let after_collection = (S::FREEING == Freeing::OnCollection).then(|| {
            alloc::scoped(S::Collector::collect);
            heap.since()
        });
        S::Collector::set_policy(policy);
        SecondCycleResult {
            strategy: S::KIND.name().to_string(),
            iterations,
            bytes_left_per_iteration: left as f64 / iterations as f64,
            nodes_left: nodes.variables + nodes.functions,
            bytes_left_after_collection: after_collection,
        }
    }
}

/// Runs the loop the context's `second_cycle_iterations` times under each
/// of its strategies (none for 0), on the calling thread; a strategy that
/// keeps what the loop leaves stops at the heap budget.
pub fn run(cx: &Context<'_>) -> Vec<SecondCycleResult> {
    let config = cx.config;
    if config.second_cycle_iterations == 0 {
        return Vec::new();
    }
    config
        .strategies
        .iter()
        .map(|&kind| {
            let run = Loop {
                iterations: config.second_cycle_iterations,
                budget: config.heap_budget,
                policy: config.policy,
            };
            with_strategy!(kind, S => run.run::<S>())
        })
        .collect()
}
