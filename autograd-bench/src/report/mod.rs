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
//! * [`value_memory`]: a deep MLP's kept graph with and without
//!   checkpointing, and its backward peak with and without
//!   `retain_graph(false)`.
//! * [`allocators`] (when asked): this build beside the system allocator's.

pub mod allocators;
pub mod config;
pub mod deep_chain;
pub mod kept_intermediate;
pub mod memory_modes;
pub mod plot;
pub mod second_cycle;
pub mod seed_loop;
pub mod subject;
pub mod table;
pub mod training;
pub mod value_memory;

use autograd_ops::{DefaultStrategy, Strategy};
use serde::Serialize;

pub use config::{ConfigSummary, ReportConfig};
pub use subject::{Baseline, Subject};

use allocators::AllocatorFigures;
use deep_chain::DeepResult;
use kept_intermediate::KeptIntermediate;
use memory_modes::MemoryMode;
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
    /// The deep MLP under each depth and checkpointing mode.
    pub value_memory: Vec<ValueMemoryRow>,
    /// This build's and the system allocator's figures, when asked.
    pub allocators: Vec<AllocatorFigures>,
    /// Why the system allocator's figures are missing, if they are.
    pub allocators_error: Option<String>,
}

/// What is happening, for a progress display: `(section, done, total)`.
pub type Progress<'a> = dyn FnMut(&str, usize, usize) + 'a;

/// Runs every experiment of `config`; with `compare_allocators`, the
/// allocator comparison too.
pub fn build(
    config: &ReportConfig,
    compare_allocators: bool,
    progress: &mut Progress<'_>,
) -> Report {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(config.threads)
        .build()
        .expect("a thread pool");
    warm_up_pool(&pool);
    let inputs = seed_loop::make_inputs(config.size, seed_loop::INPUT_ARRAYS, 17);
    let subjects = Subject::plan(&config.strategies);
    let keeping = subjects
        .iter()
        .filter(|s| s.freeing() == Some(autograd_mem::Freeing::Never))
        .count()
        + subjects
            .iter()
            .filter(|s| {
                s.freeing() == Some(autograd_mem::Freeing::OnCollection)
                    && config.policy == autograd_mem::Policy::Never
            })
            .count();
    let budget = config.heap_budget / keeping.max(1);
    let mut runs: Vec<RunResult> = subjects
        .iter()
        .map(|&subject| {
            let name = subject.to_string();
            seed_loop::run(
                subject,
                config,
                &inputs,
                &pool,
                budget,
                &mut |done, total| progress(&name, done, total),
            )
        })
        .collect();
    seed_loop::relate(&mut runs);
    progress("no_grad and retain_grad", 0, 1);
    let memory_modes = memory_modes::run(&inputs, config.iterations.min(2000));
    progress("deep chains", 0, config.deep.len());
    let deep_chains = deep_chain::run(&config.deep);
    progress("kept intermediate", 0, 1);
    let kept_intermediate = kept_intermediate::run(&config.strategies);
    progress("second cycle", 0, 1);
    let second_cycle = if config.second_cycle_iterations > 0 {
        second_cycle::run(
            &config.strategies,
            config.second_cycle_iterations,
            config.heap_budget,
            config.policy,
        )
    } else {
        Vec::new()
    };
    progress("training", 0, 1);
    let training = training::run(&config.strategies, config.training_steps, config.policy);
    progress("value memory", 0, 1);
    let value_memory = value_memory::run(config.value_memory_batch);
    let (allocators, allocators_error) = if compare_allocators {
        progress("allocators", 0, 1);
        let here = allocators::measure(config.allocator, &inputs, config.threads);
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
            threads: pool.current_num_threads(),
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
        value_memory,
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
