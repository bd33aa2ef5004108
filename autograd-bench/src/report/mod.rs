//! The main job's report: each experiment in its own module, each output in
//! its own ([`table`], JSON through serde, [`plot`]).
//!
//! * [`seed_loop`]: the seed's experiment at scale, under every strategy and
//!   the baselines: the four ways to free a graph side by side.
//! * [`memory_modes`]: no graph, retained gradients.
//! * [`deep_chain`]: chains up to 10⁷ ops, under the default strategy and
//!   `Region`.
//! * [`kept_intermediate`]: what one early intermediate of a 1,000-op chain
//!   keeps under every strategy (a region is kept whole).
//! * [`second_cycle`]: the loop where higher-order gradients would make a
//!   leaf own its gradient's graph.
//! * [`training`]: a training loop's memory under every strategy, broken
//!   down into parameters, gradients, optimizer state and the step's graph.
//! * [`cnn`]: the CNN's training step (`cnn_step`), timed beside its
//!   plain-ndarray floor, its bytes broken down under every strategy
//!   ([`step_memory`], as the training section's), what its convolutions
//!   save, and checkpointing its conv blocks.
//! * [`recurrent`]: truncated backpropagation through time (DeZero steps
//!   59 and 60): the heap kept after each window under every strategy,
//!   measured and predicted, the loop without the cut, and the LSTM's
//!   epoch beside its floor.
//! * [`value_memory`]: a deep MLP's kept graph with and without
//!   checkpointing, and its backward peak with and without
//!   `retain_graph(false)`.
//! * [`budget`]: byte budgets on a deep MLP and an LSTM over the whole sin
//!   curve: each plan's peak predicted and measured, its recomputations
//!   and step time, from the smallest budget to keep-all, beside √n.
//! * [`allocators`] (when asked): this build beside the system allocator's.
//!
//! Each takes the run's [`Context`] and measures the heap through [`heap`].

pub mod allocators;
pub mod budget;
pub mod cnn;
pub mod config;
pub mod deep_chain;
pub mod heap;
pub mod kept_intermediate;
pub mod memory_modes;
pub mod plot;
pub mod recurrent;
pub mod second_cycle;
pub mod seed_loop;
pub mod step_memory;
pub mod subject;
pub mod table;
pub mod training;
pub mod value_memory;

use std::cell::RefCell;

use autograd_ops::{DefaultStrategy, Strategy};
use serde::Serialize;

pub use config::{ConfigSummary, ReportConfig};
pub use subject::{Baseline, Subject};

use allocators::AllocatorFigures;
use budget::BudgetSection;
use cnn::CnnSection;
use deep_chain::DeepResult;
use kept_intermediate::KeptIntermediate;
use memory_modes::MemoryMode;
use recurrent::RecurrentSection;
use second_cycle::SecondCycleResult;
use seed_loop::RunResult;
use training::TrainingRun;
use value_memory::ValueMemoryRow;

/// Everything the main job measured.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// How it ran.
    pub config: ConfigSummary,
    /// The seed loop under each subject, baselines first.
    pub runs: Vec<RunResult>,
    /// The seed loop on one thread with no graph, and with retained gradients.
    pub memory_modes: Vec<MemoryMode>,
    /// The deep chains.
    pub deep_chains: Vec<DeepResult>,
    /// One early intermediate of a chain held, under each strategy.
    pub kept_intermediate: Vec<KeptIntermediate>,
    /// The second-cycle loop under each strategy.
    pub second_cycle: Vec<SecondCycleResult>,
    /// The digits MLP's training loop under each strategy.
    pub training: Vec<TrainingRun>,
    /// The CNN's training step, when it ran.
    pub cnn: Option<CnnSection>,
    /// Truncated backpropagation through time, when it ran.
    pub recurrent: Option<RecurrentSection>,
    /// The deep MLP under each depth and checkpointing mode.
    pub value_memory: Vec<ValueMemoryRow>,
    /// Byte budgets on the deep MLP and the LSTM, when they ran.
    pub budget: Option<BudgetSection>,
    /// This build's and the system allocator's figures, when asked.
    pub allocators: Vec<AllocatorFigures>,
    /// Why the system allocator's figures are missing, if they are.
    pub allocators_error: Option<String>,
}

/// What is happening, for a progress display: `(section, done, total)`.
pub type Progress<'a> = dyn FnMut(&str, usize, usize) + 'a;

/// What every section of a report run reads: the configuration, the seed
/// loop's thread pool and inputs, and where progress goes. The sections
/// take it whole (`run(cx)`), so that what a run depends on is in one place.
pub struct Context<'a> {
    /// How to run.
    pub config: &'a ReportConfig,
    /// The seed loop's threads, warmed up ([`Context::new`]).
    pub pool: rayon::ThreadPool,
    /// The seed loop's inputs ([`seed_loop::make_inputs`]).
    pub inputs: Vec<ndarray::Array1<f64>>,
    progress: RefCell<Box<Progress<'a>>>,
}

impl<'a> Context<'a> {
    /// The context of a run of `config`, reporting to `progress`: its pool
    /// started and warmed up, its inputs made.
    ///
    /// # Errors
    /// The pool's threads could not be started.
    pub fn new(
        config: &'a ReportConfig,
        progress: impl FnMut(&str, usize, usize) + 'a,
    ) -> Result<Self, rayon::ThreadPoolBuildError> {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(config.threads)
            .build()?;
        warm_up_pool(&pool);
        Ok(Context {
            config,
            pool,
            inputs: seed_loop::make_inputs(config.size, seed_loop::INPUT_ARRAYS, 17),
            progress: RefCell::new(Box::new(progress)),
        })
    }

    /// Reports progress: `done` of `total` in `section`.
    pub fn progress(&self, section: &str, done: usize, total: usize) {
        (self.progress.borrow_mut())(section, done, total);
    }

    /// The heap each seed-loop run that keeps its graphs may fill, its
    /// warm-up's included: [`ReportConfig::budget_share`].
    pub fn budget_share(&self) -> usize {
        self.config.budget_share()
    }
}

/// Runs every experiment of the context's configuration (with
/// `compare_allocators`, the allocator comparison too).
pub fn build(cx: &Context<'_>) -> Report {
    let config = cx.config;
    let mut runs: Vec<RunResult> = Subject::plan(&config.strategies)
        .into_iter()
        .map(|subject| seed_loop::run(subject, cx))
        .collect();
    seed_loop::relate(&mut runs);
    cx.progress("no_grad and retain_grad", 0, 1);
    let memory_modes = memory_modes::run(cx);
    cx.progress("deep chains", 0, config.deep.len());
    let deep_chains = deep_chain::run(cx);
    cx.progress("kept intermediate", 0, 1);
    let kept_intermediate = kept_intermediate::run(cx);
    cx.progress("second cycle", 0, 1);
    let second_cycle = second_cycle::run(cx);
    cx.progress("training", 0, 1);
    let training = training::run(cx);
    cx.progress("cnn step", 0, 1);
    let cnn = cnn::run(cx);
    cx.progress("recurrent", 0, 1);
    let recurrent = recurrent::run(cx);
    cx.progress("value memory", 0, 1);
    let value_memory = value_memory::run(cx);
    cx.progress("budget", 0, 2);
    let budget = budget::run(cx);
    let (allocators, allocators_error) = if config.compare_allocators {
        cx.progress("allocators", 0, 1);
        let here = allocators::measure(cx);
        match allocators::from_system_build(config) {
            Ok(system) => (vec![here, system], None),
            Err(err) => (vec![here], Some(err)),
        }
    } else {
        (Vec::new(), None)
    };
    Report {
        config: ConfigSummary {
            allocator: config.allocator.to_string(),
            heap_measured: crate::alloc::is_counting(),
            threads: cx.pool.current_num_threads(),
            size: config.size,
            iterations: config.iterations,
            retain_grad: config.retain_grad,
            heap_budget: config.heap_budget,
            policy: config::policy_name(config.policy),
            default_strategy: DefaultStrategy::KIND.name().to_string(),
        },
        runs,
        memory_modes,
        deep_chains,
        kept_intermediate,
        second_cycle,
        training,
        cnn,
        recurrent,
        value_memory,
        budget,
        allocators,
        allocators_error,
    }
}

/// Makes every worker register its live-node shard, park once and steal
/// work many times, so that the pool's lazily allocated state (those
/// shards, the lock library's table, work-stealing buffers, each thread's
/// epoch record) exists before any run takes its heap baseline.
fn warm_up_pool(pool: &rayon::ThreadPool) {
    use rayon::prelude::*;
    pool.broadcast(|_| autograd_mem::live::this_thread::<autograd_ops::RcWeak>());
    pool.broadcast(|_| park_once());
    park_once();
    for _ in 0..200 {
        pool.install(|| {
            (0..256).into_par_iter().for_each(|i| {
                std::hint::black_box((0..100 + i % 7).sum::<usize>());
            })
        });
    }
}

/// Parks the calling thread for no time on a parking_lot condition
/// variable. gcmodule's locks are parking_lot's, and the first time any
/// thread parks on one (a contended lock, under `CollectedSync`) the
/// library allocates its process-wide table of wait queues (1,056 bytes for
/// up to 5 threads: 16 buckets of 64 bytes and the table's header; a larger
/// table as more threads park), which it never frees. Parked here first,
/// every thread of the pool has its record and the table its final size
/// before any heap is counted, instead of inside whichever measured run
/// first contends a lock.
fn park_once() {
    let mutex = parking_lot::Mutex::new(());
    let mut guard = mutex.lock();
    // A zero timeout: the thread goes through the park (creating what it
    // needs) and returns at once.
    parking_lot::Condvar::new().wait_for(&mut guard, std::time::Duration::ZERO);
}

/// Bytes in a human unit: `812 B`, `78.1 KiB`, `1.50 GiB`.
pub fn bytes(n: f64) -> String {
    let (value, unit) = match n.abs() {
        a if a >= 1024.0 * 1024.0 * 1024.0 => (n / (1024.0 * 1024.0 * 1024.0), "GiB"),
        a if a >= 1024.0 * 1024.0 => (n / (1024.0 * 1024.0), "MiB"),
        a if a >= 1024.0 => (n / 1024.0, "KiB"),
        _ => return format!("{n:.0} B"),
    };
    format!("{value:.2} {unit}")
}
