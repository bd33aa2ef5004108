//! What a report run measures: the command line, resolved.

use autograd_mem::{Policy, StrategyKind};
use serde::Serialize;

use crate::report::Subject;

/// How to run the report's experiments.
#[derive(Debug, Clone)]
pub struct ReportConfig {
    /// Iterations of the seed loop per run (the runs that never free stop
    /// at the heap budget).
    pub iterations: usize,
    /// Elements of each input array (the seed uses 10,000).
    pub size: usize,
    /// Threads in the rayon pool of the seed loop.
    pub threads: usize,
    /// The strategies whose runs are made, in report order.
    pub strategies: Vec<StrategyKind>,
    /// Keep intermediate gradients in the seed loop.
    pub retain_grad: bool,
    /// Heap the runs that never free may fill together, in bytes.
    pub heap_budget: usize,
    /// Points per run on the live-heap curve.
    pub samples: usize,
    /// When the collected strategies collect on their own.
    pub policy: Policy,
    /// Lengths of the deep chains (none: skip the section).
    pub deep: Vec<usize>,
    /// Iterations of the second-cycle loop per strategy (0: skip it).
    pub second_cycle_iterations: usize,
    /// Steps of the training section per strategy, at most one epoch (0:
    /// skip it).
    pub training_steps: usize,
    /// Timed steps per strategy of the `cnn_step` section (0: skip it).
    pub cnn_steps: usize,
    /// Windows of the RNN per strategy of the `recurrent` section, at most
    /// one epoch's full windows (0: skip it).
    pub recurrent_windows: usize,
    /// Batch rows of the value-memory section (0: skip it).
    pub value_memory_batch: usize,
    /// Layers of the budget section's MLP (0: skip the MLP).
    pub budget_layers: usize,
    /// Steps of the budget section's LSTM (0: skip the LSTM; both 0: skip
    /// the section).
    pub budget_steps: usize,
    /// Evenly spaced budgets a model in the budget section.
    pub budget_rows: usize,
    /// The global allocator this binary runs on.
    pub allocator: &'static str,
    /// Also measure the seed loop under the system allocator's build.
    pub compare_allocators: bool,
}

impl ReportConfig {
    /// The seed-loop runs that keep their graphs
    /// ([`keeps_graphs`](crate::report::seed_loop::keeps_graphs)), in plan order.
    pub fn keeping_runs(&self) -> Vec<Subject> {
        Subject::plan(&self.strategies)
            .into_iter()
            .filter(|&s| crate::report::seed_loop::keeps_graphs(s, self))
            .collect()
    }

    /// The heap each seed-loop run that keeps its graphs may fill, its
    /// warm-up's included: the budget, shared by those runs.
    pub fn budget_share(&self) -> usize {
        self.heap_budget / self.keeping_runs().len().max(1)
    }
}

/// The configuration as the report records it.
#[derive(Debug, Clone, Serialize)]
pub struct ConfigSummary {
    /// The global allocator the binary ran on.
    pub allocator: String,
    /// Whether heap bytes were measured (the counting allocator is installed).
    pub heap_measured: bool,
    /// Threads in the pool.
    pub threads: usize,
    /// Elements per input array.
    pub size: usize,
    /// Iterations asked for per run.
    pub iterations: usize,
    /// Whether intermediate gradients were retained.
    pub retain_grad: bool,
    /// Heap the runs that never free could fill together, in bytes.
    pub heap_budget: usize,
    /// The collected strategies' policy, as the command line gives it.
    pub policy: String,
    /// The strategy of the single-strategy sections (the default strategy).
    pub default_strategy: String,
}

/// Whether a collector under `policy` runs too late to bound a loop whose
/// iterations each leave `nodes` nodes holding `bytes` bytes: never
/// (`never`), or only once the iterations of N nodes hold more than
/// `budget` bytes (`every:N`). A run whose collector is too late keeps its
/// graphs as far as the budget is concerned, and stops at it. (`auto`
/// collects once as many nodes were created as survived the last
/// collection: its heap at most doubles.)
pub fn collects_too_late(policy: Policy, nodes: usize, bytes: usize, budget: usize) -> bool {
    match policy {
        Policy::Auto => false,
        Policy::Never => true,
        Policy::Every(n) => {
            let iterations = usize::try_from(n)
                .unwrap_or(usize::MAX)
                .div_ceil(nodes.max(1));
            iterations.saturating_mul(bytes) > budget
        }
    }
}

/// A policy as the command line writes it: `auto`, `never` or `every:N`.
pub fn policy_name(policy: Policy) -> String {
    match policy {
        Policy::Auto => "auto".to_string(),
        Policy::Never => "never".to_string(),
        Policy::Every(n) => format!("every:{n}"),
    }
}

/// Parses `auto`, `never` or `every:N` (N ≥ 1).
///
/// # Errors
/// A message naming what is accepted.
pub fn parse_policy(text: &str) -> Result<Policy, String> {
    match text {
        "auto" => Ok(Policy::Auto),
        "never" => Ok(Policy::Never),
        _ => text
            .strip_prefix("every:")
            .and_then(|n| n.parse::<u64>().ok())
            .filter(|&n| n >= 1)
            .map(Policy::Every)
            .ok_or_else(|| format!("`{text}`: expected auto, never or every:N (N ≥ 1)")),
    }
}
