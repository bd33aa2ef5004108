//! The seed's experiment at scale: one training-loop iteration (a fresh
//! 10,000-element leaf, `square(square(square(x)))`, backward, the gradient
//! read and cleared, the graph dropped) as a rayon-parallel loop under each
//! subject, with time, live nodes and heap measured around it.

use std::time::{Duration, Instant};

use autograd_core::buffers::{cached_bytes, release_thread_cache};
use autograd_mem::Collector as _;
use autograd_mem::{Freeing, LiveNodes, StrategyKind, live, with_shared_strategy, with_strategy};
use autograd_ops::{Strategy, Variable};
use ndarray::Array1;
use rayon::prelude::*;
use serde::Serialize;

use crate::report::heap::{Cache, Counted, HeapMark, Peak};
use crate::report::subject::{Baseline, Subject};
use crate::report::{Context, ReportConfig};
use crate::{alloc, raw_fused, raw_naive, seed_graph, seed_step, shared_leaf_step};

/// Live heap kept by the iterations so far, after some iterations.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Sample {
    /// Iterations done.
    pub iteration: usize,
    /// Heap bytes the iterations so far allocated and did not free.
    pub live_heap_bytes: i64,
    /// The largest process heap during the iterations since the previous
    /// sample, above the run's start: the run's `peak_heap_bytes` is the
    /// largest of these, so a curve of them reaches it.
    pub peak_heap_bytes: i64,
}

/// What a collector did during a run.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Collections {
    /// Collections run.
    pub count: u64,
    /// Time spent collecting, in seconds.
    pub total_seconds: f64,
    /// The longest single pause, in seconds.
    pub longest_pause_seconds: f64,
}

/// What one run measured.
#[derive(Debug, Clone, Serialize)]
pub struct RunResult {
    /// What ran.
    pub subject: Subject,
    /// When its graphs are freed ([`Subject::describe_freeing`]): "freed on
    /// drop", "freed on collection", "never freed", or "no graph".
    pub freeing: &'static str,
    /// Threads in the pool.
    pub threads: usize,
    /// Iterations run.
    pub iterations: usize,
    /// `true` if the run kept its graphs as far as the heap budget is
    /// concerned ([`keeps_graphs`]): its heap rises until its share.
    pub keeps_graphs: bool,
    /// `true` if the heap budget cut the iterations short.
    pub capped_by_budget: bool,
    /// Wall time of the loop.
    pub wall_seconds: f64,
    /// Iterations per second.
    pub graphs_per_second: f64,
    /// Wall time per iteration relative to `raw_naive` in the same run.
    pub relative_to_raw_naive: f64,
    /// Wall time per iteration relative to `RcWeak` in the same run.
    pub relative_to_rc_weak: f64,
    /// Variable nodes alive after the run, above its start.
    pub live_variables_after: isize,
    /// Function nodes alive after the run, above its start.
    pub live_functions_after: isize,
    /// Heap bytes the iterations allocated and did not free (counted inside
    /// the iterations only, so the thread pool's own lazy allocations stay
    /// out), before any final collection.
    pub live_heap_after_bytes: i64,
    /// Measured: live heap after, divided by iterations.
    pub leaked_bytes_per_iteration: f64,
    /// Predicted from the graph: what one iteration's graph holds (its
    /// footprint) where the strategy does not free it on drop, else 0.
    pub predicted_leak_per_iteration: usize,
    /// The largest live heap during the run, above its start.
    pub peak_heap_bytes: i64,
    /// Heap the engine's buffer cache held at the end (large buffers kept
    /// for reuse, not graph memory; left out of the live heap above).
    pub buffer_cache_bytes: i64,
    /// For a collected strategy: what its collector did, and the live heap
    /// and nodes after one final collection.
    pub collections: Option<Collections>,
    /// After a final collection (collected strategies): heap bytes left,
    /// 0 once the nodes are all gone (see the next field). (The table that
    /// gcmodule's lock library allocates for good the first time a lock is
    /// contended is made before the baseline: see `report::build`.)
    pub live_heap_after_collection_bytes: Option<i64>,
    /// After a final collection (collected strategies): nodes left.
    pub live_nodes_after_collection: Option<isize>,
    /// The live-heap curve.
    pub samples: Vec<Sample>,
}

/// How many input arrays the runs share (see [`make_inputs`]).
pub const INPUT_ARRAYS: usize = 8;

/// Nodes of one seed graph: `x`, `x²`, `x⁴`, `x⁸` and the three squares.
pub const GRAPH_NODES: usize = 7;

/// Rounds of a run's warm-up: each one iteration on every thread, then
/// [`WARM_UP_PER_THREAD`] a thread shared out by rayon.
const WARM_UP_ROUNDS: usize = 3;
/// Iterations a thread of a warm-up round's shared-out part.
const WARM_UP_PER_THREAD: usize = 4;

/// The iterations a run's warm-up makes on `threads` threads before its
/// baseline (fewer when the run has fewer `iterations`). A run that keeps
/// its graphs keeps these too, so they count against its budget.
pub fn warm_up_iterations(threads: usize, iterations: usize) -> usize {
    let shared_out = WARM_UP_PER_THREAD.saturating_mul(threads).min(iterations);
    WARM_UP_ROUNDS.saturating_mul(threads.saturating_add(shared_out))
}

/// Arrays of `--size` elements that one kept seed graph holds: its four
/// values (the leaf's gradient is cleared), and with retained gradients the
/// three intermediates' gradients too. (Its nodes come on top: under a
/// kilobyte.)
pub fn kept_arrays(retain_grad: bool) -> usize {
    if retain_grad { 7 } else { 4 }
}

/// Whether a run of `subject` keeps its graphs as far as the heap budget is
/// concerned, and so stops at its share of it ([`Context::budget_share`]):
/// one that never frees them, or a collected one whose collector would run
/// too late ([`collects_too_late`](crate::report::config::collects_too_late):
/// collection off, or every N nodes where N nodes' graphs on every thread,
/// whose collectors may count apart, would fill the whole budget first).
pub fn keeps_graphs(subject: Subject, config: &ReportConfig) -> bool {
    match subject.freeing() {
        Some(Freeing::Never) => true,
        Some(Freeing::OnCollection) => {
            let graph = kept_arrays(config.retain_grad)
                .saturating_mul(config.size)
                .saturating_mul(size_of::<f64>());
            crate::report::config::collects_too_late(
                config.policy,
                GRAPH_NODES,
                graph.saturating_mul(config.threads),
                config.heap_budget,
            )
        }
        _ => false,
    }
}

/// Inputs for the runs: a few fresh random arrays, copied per iteration so
/// that every iteration owns a new array, as in the seed.
pub fn make_inputs(size: usize, count: usize, seed: u64) -> Vec<Array1<f64>> {
    let mut rng = crate::SeedRng::new(seed);
    (0..count).map(|_| rng.randn(size)).collect()
}

/// One run: its subject, in the report's context.
struct Run<'a, 'b> {
    subject: Subject,
    cx: &'a Context<'b>,
    /// What the run may keep if it keeps its graphs.
    budget: usize,
}

/// Runs `subject` on the context's pool; a run that keeps its graphs stops
/// at [`Context::budget_share`]. Progress goes to the context, under the
/// subject's name, between chunks.
pub fn run(subject: Subject, cx: &Context<'_>) -> RunResult {
    let run = Run {
        subject,
        cx,
        budget: cx.budget_share(),
    };
    let inputs = &cx.inputs;
    let input = |i: usize| inputs[i % inputs.len()].to_owned();
    match subject {
        Subject::Baseline(Baseline::RawNaive) => {
            run.measure(0, &|| {}, &|i| {
                std::hint::black_box(raw_naive(&input(i).into_dyn()));
            })
            .0
        }
        Subject::Baseline(Baseline::RawFused) => {
            run.measure(0, &|| {}, &|i| {
                std::hint::black_box(raw_fused(&input(i).into_dyn()));
            })
            .0
        }
        Subject::Strategy(kind) => with_strategy!(kind, S => run.strategy_run::<S>()),
        Subject::SharedLeaf(kind) => with_shared_strategy!(kind, S => run.shared_leaf_run::<S>())
            .unwrap_or_else(|| panic!("a shared leaf needs a thread-safe strategy, not {kind:?}")),
    }
}

impl Run<'_, '_> {
    /// A run of the seed loop under `S` ([`Subject::Strategy`]).
    fn strategy_run<S: Strategy>(self) -> RunResult {
        let (inputs, retain) = (&self.cx.inputs, self.cx.config.retain_grad);
        // The prediction, from one graph (which itself stays, where the
        // strategy does not free on drop, before the run's baseline is taken).
        let footprint = || {
            let (x, y) = seed_graph::<S>(inputs[0].clone(), retain).expect("the seed graph builds");
            x.cleargrad();
            y.graph_footprint().bytes
        };
        self.graph_run::<S>(&footprint, &|i| {
            let x = inputs[i % inputs.len()].to_owned();
            if retain {
                let (x, y) = seed_graph::<S>(x, true).expect("the seed graph builds");
                std::hint::black_box(x.grad());
                x.cleargrad();
                drop(y);
            } else {
                std::hint::black_box(seed_step::<S>(x).expect("the seed graph builds"));
            }
        })
    }
}

impl Run<'_, '_> {
    /// A run of the shared-leaf loop under `S` ([`Subject::SharedLeaf`]).
    fn shared_leaf_run<S: Strategy>(self) -> RunResult
    where
        Variable<S>: Send + Sync,
    {
        let inputs = &self.cx.inputs;
        // What a task keeps where graphs are not freed on drop: its graph
        // without the leaf and the leaf's gradient, which exist once.
        let footprint = || {
            let (x, y) = seed_graph::<S>(inputs[0].clone(), false).expect("the seed graph builds");
            y.graph_footprint().bytes - x.graph_footprint().bytes
        };
        let leaf = Variable::<S>::from_array(inputs[0].clone());
        // Every task adds to one gradient: serialised on its lock by design.
        self.graph_run::<S>(&footprint, &|_| {
            shared_leaf_step(&leaf).expect("the seed graph builds");
        })
    }
}

impl Run<'_, '_> {
    /// A run of `iteration` under `S`, whose graphs keep `footprint()`
    /// bytes each where `S` does not free them on drop: with `S`'s policy
    /// set, the collector's work recorded and a final collection measured.
    fn graph_run<S: Strategy>(
        self,
        footprint: &dyn Fn() -> usize,
        iteration: &(dyn Fn(usize) + Sync),
    ) -> RunResult {
        // The policy on every worker (`Collected`'s is per thread).
        let policy = self.cx.config.policy;
        let pool = &self.cx.pool;
        pool.broadcast(|_| S::Collector::set_policy(policy));
        let footprint = footprint();
        let predicted = if S::FREEING.at_last_handle() {
            0
        } else {
            footprint
        };
        let inputs = &self.cx.inputs;
        // After the warm-up, what it left is collected before the baseline,
        // each worker in turn freeing a graph of its own first, so that every
        // worker's teardown lists exist before anything is counted.
        let collect_warm_up = || {
            for turn in 0..pool.current_num_threads() {
                pool.broadcast(|context| {
                    if context.index() == turn {
                        let x = inputs[0].to_owned();
                        drop(seed_step::<S>(x));
                        S::Collector::collect();
                    }
                });
            }
            S::Collector::reset_collector_stats();
        };
        let (mut result, kept) = self.measure(predicted, &collect_warm_up, iteration);
        if S::FREEING == Freeing::OnCollection {
            let stats = S::Collector::collector_stats();
            result.collections = Some(Collections {
                count: stats.collections,
                total_seconds: stats.total.as_secs_f64(),
                longest_pause_seconds: stats.longest.as_secs_f64(),
            });
            // One more collection on every worker (under `Collected` each
            // has its own object space), counted like the iterations.
            let nodes_start = self.live_nodes().since(autograd_mem::LiveNodes {
                variables: result.live_variables_after,
                functions: result.live_functions_after,
            });
            pool.broadcast(|_| alloc::scoped(S::Collector::collect));
            result.live_heap_after_collection_bytes = Some(kept.since());
            let nodes = self.live_nodes().since(nodes_start);
            result.live_nodes_after_collection = Some(nodes.variables + nodes.functions);
        }
        result
    }

    fn live_nodes(&self) -> LiveNodes {
        self.subject
            .strategy()
            .map(live::total_of)
            .unwrap_or_default()
    }

    /// Whether the run keeps its graphs ([`keeps_graphs`]).
    fn keeps_everything(&self) -> bool {
        keeps_graphs(self.subject, self.cx.config)
    }

    /// Runs the loop and measures it; also returns the mark its live heap
    /// is measured from.
    fn measure(
        &self,
        predicted_leak: usize,
        after_warm_up: &dyn Fn(),
        iteration: &(dyn Fn(usize) + Sync),
    ) -> (RunResult, HeapMark) {
        // Heap is counted inside the iterations only: see `alloc::scoped`.
        let iteration = &|i: usize| alloc::scoped(|| iteration(i));
        let (pool, config) = (&self.cx.pool, self.cx.config);
        let threads = pool.current_num_threads();
        let mut iterations = config.iterations;
        let mut capped = false;
        // A run that keeps its graphs keeps its warm-up's too: both fit its
        // budget.
        let warm_up_kept = warm_up_iterations(threads, iterations).saturating_mul(predicted_leak);
        let room = self.budget.saturating_sub(warm_up_kept);
        if self.keeps_everything()
            && predicted_leak > 0
            && iterations.saturating_mul(predicted_leak) > room
        {
            iterations = (room / predicted_leak).max(1);
            capped = true;
        }
        // Warm up: threads, their thread-locals, rayon's queues and the
        // allocator's caches exist before the baseline is read. (What the
        // warm-up keeps stays out of the run's figures.)
        let shared_out = (WARM_UP_PER_THREAD * threads).min(config.iterations);
        for _ in 0..WARM_UP_ROUNDS {
            pool.broadcast(|context| iteration(context.index()));
            pool.install(|| (0..shared_out).into_par_iter().for_each(iteration));
        }
        after_warm_up();
        // The buffer caches start empty: what they hold during the run was
        // allocated inside it, and is left out of the live heap.
        pool.broadcast(|_| release_thread_cache());
        release_thread_cache();

        let chunk = iterations.div_ceil(config.samples.max(1)).max(1);
        let name = self.subject.to_string();
        // Allocated before the baseline, so that the curve does not measure itself.
        let mut samples = Vec::with_capacity(iterations.div_ceil(chunk) + 1);
        samples.push(Sample {
            iteration: 0,
            live_heap_bytes: 0,
            peak_heap_bytes: 0,
        });
        // What the iterations keep, the buffer caches (reuse, not graph
        // memory) left out; and the process's peak.
        let kept = HeapMark::now(Counted::Scoped, Cache::LeftOut);
        let nodes_start = self.live_nodes();
        let peak = Peak::start();
        let started = Instant::now();
        let (mut done, mut run_peak) = (0, 0);
        while done < iterations {
            let end = (done + chunk).min(iterations);
            peak.restart();
            pool.install(|| (done..end).into_par_iter().for_each(iteration));
            let chunk_peak = peak.bytes();
            run_peak = run_peak.max(chunk_peak);
            done = end;
            samples.push(Sample {
                iteration: done,
                live_heap_bytes: kept.since(),
                peak_heap_bytes: chunk_peak,
            });
            self.cx.progress(&name, done, iterations);
        }
        let wall = seconds(started.elapsed());
        let live_heap_after = kept.since();
        let nodes = self.live_nodes().since(nodes_start);
        let result = RunResult {
            subject: self.subject,
            freeing: self.subject.describe_freeing(),
            threads,
            iterations,
            keeps_graphs: self.keeps_everything(),
            capped_by_budget: capped,
            wall_seconds: wall,
            graphs_per_second: iterations as f64 / wall,
            relative_to_raw_naive: f64::NAN,
            relative_to_rc_weak: f64::NAN,
            live_variables_after: nodes.variables,
            live_functions_after: nodes.functions,
            live_heap_after_bytes: live_heap_after,
            leaked_bytes_per_iteration: live_heap_after as f64 / iterations as f64,
            predicted_leak_per_iteration: predicted_leak,
            peak_heap_bytes: run_peak,
            buffer_cache_bytes: cached_bytes() as i64,
            collections: None,
            live_heap_after_collection_bytes: None,
            live_nodes_after_collection: None,
            samples,
        };
        (result, kept)
    }
}

fn seconds(duration: Duration) -> f64 {
    duration.as_secs_f64().max(1e-9)
}

/// Fills in each run's time relative to `raw_naive` and to `RcWeak`.
pub fn relate(runs: &mut [RunResult]) {
    let per_iteration = |subject: Subject, runs: &[RunResult]| {
        runs.iter()
            .find(|r| r.subject == subject)
            .map(|r| r.wall_seconds / r.iterations as f64)
    };
    let naive = per_iteration(Subject::Baseline(Baseline::RawNaive), runs);
    let rc = per_iteration(Subject::Strategy(StrategyKind::RcWeak), runs);
    for run in runs {
        let own = run.wall_seconds / run.iterations as f64;
        run.relative_to_raw_naive = naive.map_or(f64::NAN, |n| own / n);
        run.relative_to_rc_weak = rc.map_or(f64::NAN, |r| own / r);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use autograd_mem::Policy;

    /// A shared-leaf run of `iterations` on two threads, collection off.
    fn shared_leaf_run(kind: StrategyKind, iterations: usize) -> RunResult {
        let config = ReportConfig {
            iterations,
            size: 100,
            threads: 2,
            strategies: vec![kind],
            retain_grad: false,
            heap_budget: 1 << 30,
            samples: 4,
            policy: Policy::Never,
            deep: Vec::new(),
            second_cycle_iterations: 0,
            training_steps: 0,
            cnn_steps: 0,
            recurrent_windows: 0,
            value_memory_batch: 0,
            budget_layers: 0,
            budget_steps: 0,
            budget_rows: 2,
            allocator: "system",
            compare_allocators: false,
        };
        let cx = Context::new(&config, |_, _, _| {}).unwrap();
        run(Subject::SharedLeaf(kind), &cx)
    }

    #[test]
    fn a_shared_leaf_run_builds_its_graphs_under_its_own_strategy() {
        // Freed on drop: nothing left.
        let run = shared_leaf_run(StrategyKind::ArcWeak, 50);
        assert_eq!((run.live_variables_after, run.live_functions_after), (0, 0));
        assert_eq!(run.predicted_leak_per_iteration, 0);
        // Never freed: each task's three variables (the leaf is shared) and
        // three functions, holding three arrays of 100 f64 and the nodes.
        let run = shared_leaf_run(StrategyKind::StrongOnlyArcWeak, 50);
        assert_eq!(run.subject.to_string(), "StrongOnly<ArcWeak> (shared leaf)");
        assert_eq!(
            (run.live_variables_after, run.live_functions_after),
            (150, 150)
        );
        let predicted = run.predicted_leak_per_iteration;
        assert!((2400..2400 + 4096).contains(&predicted), "{predicted}");
        // Collected: kept until the final collection, which frees them all.
        let run = shared_leaf_run(StrategyKind::CollectedSync, 50);
        assert_eq!(
            (run.live_variables_after, run.live_functions_after),
            (150, 150)
        );
        assert_eq!(run.live_nodes_after_collection, Some(0));
    }
}
