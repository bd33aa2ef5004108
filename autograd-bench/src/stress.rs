//! The stress runs behind the report: the seed loop under each subject, as a
//! rayon-parallel loop, with time, live nodes and heap measured around it.

use std::time::Instant;

use autograd_mem::{LiveNodes, StrategyKind, live};
use autograd_ops::{ArcWeak, RcWeak, Strategy, StrongOnly, Variable, square};
use ndarray::Array1;
use rayon::prelude::*;
use serde::Serialize;

use crate::{alloc, raw_fused, raw_naive, seed_graph, seed_loop};

/// What one run exercises: an ownership strategy, or a graph-free baseline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Subject {
    /// [`raw_naive`]: plain ndarray, one array per expression.
    RawNaive,
    /// [`raw_fused`]: plain ndarray, one fused pass.
    RawFused,
    /// The seed loop under [`RcWeak`].
    RcWeak,
    /// The seed loop under [`ArcWeak`].
    ArcWeak,
    /// [`ArcWeak`], every task sharing one input leaf and adding to its gradient.
    ArcWeakSharedLeaf,
    /// The seed loop under `StrongOnly<RcWeak>`: leaks.
    StrongOnlyRcWeak,
    /// The seed loop under `StrongOnly<ArcWeak>`: leaks.
    StrongOnlyArcWeak,
}

impl Subject {
    /// The name the report shows.
    pub fn name(self) -> &'static str {
        match self {
            Subject::RawNaive => "raw_naive",
            Subject::RawFused => "raw_fused",
            Subject::RcWeak => "RcWeak",
            Subject::ArcWeak => "ArcWeak",
            Subject::ArcWeakSharedLeaf => "ArcWeak (shared leaf)",
            Subject::StrongOnlyRcWeak => "StrongOnly<RcWeak>",
            Subject::StrongOnlyArcWeak => "StrongOnly<ArcWeak>",
        }
    }

    /// The strategy whose nodes the run builds, if any.
    pub fn strategy(self) -> Option<StrategyKind> {
        match self {
            Subject::RawNaive | Subject::RawFused => None,
            Subject::RcWeak => Some(StrategyKind::RcWeak),
            Subject::ArcWeak | Subject::ArcWeakSharedLeaf => Some(StrategyKind::ArcWeak),
            Subject::StrongOnlyRcWeak => Some(StrategyKind::StrongOnlyRcWeak),
            Subject::StrongOnlyArcWeak => Some(StrategyKind::StrongOnlyArcWeak),
        }
    }

    /// `true` if every iteration's graph stays in memory.
    pub fn leaks(self) -> bool {
        self.strategy()
            .is_some_and(|s| s.freeing() != autograd_mem::Freeing::OnDrop)
    }

    /// The runs for a set of strategies: the baselines first, the leaking
    /// strategies last (their memory is never given back).
    pub fn plan(strategies: &[StrategyKind]) -> Vec<Subject> {
        let mut plan = vec![Subject::RawNaive, Subject::RawFused];
        for &kind in StrategyKind::ALL {
            if strategies.contains(&kind) {
                plan.extend(match kind {
                    StrategyKind::RcWeak => &[Subject::RcWeak][..],
                    StrategyKind::ArcWeak => &[Subject::ArcWeak, Subject::ArcWeakSharedLeaf][..],
                    StrategyKind::StrongOnlyRcWeak => &[Subject::StrongOnlyRcWeak][..],
                    StrategyKind::StrongOnlyArcWeak => &[Subject::StrongOnlyArcWeak][..],
                    StrategyKind::Collected | StrategyKind::CollectedSync => &[][..],
                });
            }
        }
        plan
    }
}

/// How to run the stress loops.
#[derive(Debug, Clone)]
pub struct StressConfig {
    /// Iterations of the seed loop per run (the leaking runs may do fewer).
    pub iterations: usize,
    /// Elements of each input array (the seed uses 10,000).
    pub size: usize,
    /// Keep intermediate gradients on their variables.
    pub retain_grad: bool,
    /// Heap the leaking runs may fill, in bytes, shared between them.
    pub heap_budget: usize,
    /// Points per run on the live-heap curve.
    pub samples: usize,
}

/// Live heap kept by the iterations so far, after some iterations.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Sample {
    /// Iterations done.
    pub iteration: usize,
    /// Heap bytes the iterations so far allocated and did not free.
    pub live_heap_bytes: i64,
}

/// What one run measured.
#[derive(Debug, Clone, Serialize)]
pub struct RunResult {
    /// The subject's name.
    pub subject: String,
    /// Whether the subject's strategy frees its graphs (`None` for baselines).
    pub breaks_cycles: Option<bool>,
    /// Threads in the pool.
    pub threads: usize,
    /// Iterations run.
    pub iterations: usize,
    /// `true` if the heap budget cut the iterations short.
    pub capped_by_budget: bool,
    /// Wall time of the loop.
    pub wall_seconds: f64,
    /// Iterations per second.
    pub graphs_per_second: f64,
    /// Wall time per iteration relative to `raw_naive` in the same run.
    pub relative_to_raw_naive: f64,
    /// Variable nodes alive after the run, above its start.
    pub live_variables_after: isize,
    /// Function nodes alive after the run, above its start.
    pub live_functions_after: isize,
    /// Heap bytes the iterations allocated and did not free (counted inside
    /// the iterations only, so the thread pool's own lazy allocations stay out).
    pub live_heap_after_bytes: i64,
    /// Measured: live heap after, divided by iterations.
    pub leaked_bytes_per_iteration: f64,
    /// Predicted from the graph: what one iteration's graph holds if it is
    /// never freed (its footprint), or 0 where the strategy frees it.
    pub predicted_leak_per_iteration: usize,
    /// The largest live heap during the run, above its start.
    pub peak_heap_bytes: i64,
    /// The live-heap curve.
    pub samples: Vec<Sample>,
}

/// Inputs for the runs: a few fresh random arrays, copied per iteration so
/// that every iteration owns a new array, as in the seed.
pub fn make_inputs(size: usize, count: usize, seed: u64) -> Vec<Array1<f64>> {
    let mut rng = crate::SeedRng::new(seed);
    (0..count).map(|_| rng.randn(size)).collect()
}

/// Runs `subject` on `pool`; `progress(done, total)` is called between chunks.
pub fn run(
    subject: Subject,
    config: &StressConfig,
    inputs: &[Array1<f64>],
    pool: &rayon::ThreadPool,
    leaking_runs: usize,
    progress: &mut dyn FnMut(usize, usize),
) -> RunResult {
    let input = |i: usize| inputs[i % inputs.len()].to_owned();
    let budget = config.heap_budget / leaking_runs.max(1);
    match subject {
        Subject::RawNaive => measure(subject, config, pool, 0, budget, progress, &|i| {
            std::hint::black_box(raw_naive(&input(i).into_dyn()));
        }),
        Subject::RawFused => measure(subject, config, pool, 0, budget, progress, &|i| {
            std::hint::black_box(raw_fused(&input(i).into_dyn()));
        }),
        Subject::RcWeak => run_strategy::<RcWeak>(subject, config, inputs, pool, budget, progress),
        Subject::ArcWeak => {
            run_strategy::<ArcWeak>(subject, config, inputs, pool, budget, progress)
        }
        Subject::StrongOnlyRcWeak => {
            run_strategy::<StrongOnly<RcWeak>>(subject, config, inputs, pool, budget, progress)
        }
        Subject::StrongOnlyArcWeak => {
            run_strategy::<StrongOnly<ArcWeak>>(subject, config, inputs, pool, budget, progress)
        }
        Subject::ArcWeakSharedLeaf => {
            let leaf = Variable::<ArcWeak>::from_array(inputs[0].clone());
            // Every task adds to one gradient: serialised on its lock by design.
            measure(subject, config, pool, 0, budget, progress, &|_| {
                let y = square(&square(&square(&leaf).unwrap()).unwrap()).unwrap();
                y.backward().unwrap();
            })
        }
    }
}

fn run_strategy<S: Strategy>(
    subject: Subject,
    config: &StressConfig,
    inputs: &[Array1<f64>],
    pool: &rayon::ThreadPool,
    budget: usize,
    progress: &mut dyn FnMut(usize, usize),
) -> RunResult {
    // The prediction, from one graph (which itself leaks under StrongOnly,
    // before the run's baseline is taken).
    let footprint = {
        let (_x, y) =
            seed_graph::<S>(inputs[0].clone(), config.retain_grad).expect("the seed graph builds");
        y.graph_footprint().bytes
    };
    let predicted = if S::FREEING == autograd_mem::Freeing::OnDrop {
        0
    } else {
        footprint
    };
    let retain = config.retain_grad;
    measure(subject, config, pool, predicted, budget, progress, &|i| {
        let leaf = seed_loop::<S>(inputs[i % inputs.len()].to_owned(), retain)
            .expect("the seed graph builds");
        std::hint::black_box(leaf);
    })
}

fn live_nodes(subject: Subject) -> LiveNodes {
    subject.strategy().map(live::total_of).unwrap_or_default()
}

fn measure(
    subject: Subject,
    config: &StressConfig,
    pool: &rayon::ThreadPool,
    predicted_leak: usize,
    budget: usize,
    progress: &mut dyn FnMut(usize, usize),
    iteration: &(dyn Fn(usize) + Sync),
) -> RunResult {
    // Heap is counted inside the iterations only: see `alloc::scoped`.
    let iteration = &|i: usize| alloc::scoped(|| iteration(i));
    let threads = pool.current_num_threads();
    let mut iterations = config.iterations;
    let mut capped = false;
    if predicted_leak > 0 && iterations.saturating_mul(predicted_leak) > budget {
        iterations = (budget / predicted_leak).max(1);
        capped = true;
    }
    // Warm up: threads, their thread-locals, rayon's queues and the
    // allocator's caches exist before the baseline is read. (What the warm-up
    // leaks stays out of the run.)
    let warm_up = (threads * 4).min(iterations);
    for _ in 0..3 {
        pool.broadcast(|context| iteration(context.index()));
        pool.install(|| (0..warm_up).into_par_iter().for_each(iteration));
    }

    let chunk = iterations.div_ceil(config.samples.max(1)).max(1);
    // Allocated before the baseline, so that the curve does not measure itself.
    let mut samples = Vec::with_capacity(iterations.div_ceil(chunk) + 1);
    samples.push(Sample {
        iteration: 0,
        live_heap_bytes: 0,
    });
    let heap_start = alloc::live_bytes() as i64;
    let kept_start = alloc::scoped_bytes() as i64;
    let nodes_start = live_nodes(subject);
    alloc::reset_peak();
    let started = Instant::now();
    let mut done = 0;
    while done < iterations {
        let end = (done + chunk).min(iterations);
        pool.install(|| (done..end).into_par_iter().for_each(iteration));
        done = end;
        samples.push(Sample {
            iteration: done,
            live_heap_bytes: alloc::scoped_bytes() as i64 - kept_start,
        });
        progress(done, iterations);
    }
    let wall_seconds = started.elapsed().as_secs_f64();
    let live_heap_after = alloc::scoped_bytes() as i64 - kept_start;
    let nodes = live_nodes(subject).since(nodes_start);
    RunResult {
        subject: subject.name().to_string(),
        breaks_cycles: subject
            .strategy()
            .map(|s| s.freeing() == autograd_mem::Freeing::OnDrop),
        threads,
        iterations,
        capped_by_budget: capped,
        wall_seconds,
        graphs_per_second: iterations as f64 / wall_seconds,
        relative_to_raw_naive: f64::NAN,
        live_variables_after: nodes.variables,
        live_functions_after: nodes.functions,
        live_heap_after_bytes: live_heap_after,
        leaked_bytes_per_iteration: live_heap_after as f64 / iterations as f64,
        predicted_leak_per_iteration: predicted_leak,
        peak_heap_bytes: alloc::peak_bytes() as i64 - heap_start,
        samples,
    }
}

/// One deep chain: `d` ops of `y = y + x`, backward, drop.
#[derive(Debug, Clone, Serialize)]
pub struct DeepResult {
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
    /// Nodes alive after the drop, above the start (0: all freed).
    pub live_nodes_after: isize,
}

/// The longest chain the graph-free twin runs, per deep chain.
const RAW_CHAIN_OPS: usize = 1_000_000;

/// Runs [`deep_chain`](crate::deep_chain) once under `RcWeak` at each length.
pub fn deep_chains(lengths: &[usize]) -> Vec<DeepResult> {
    lengths
        .iter()
        .map(|&ops| {
            let nodes_start = live::total::<RcWeak>();
            let heap_start = alloc::live_bytes() as i64;
            alloc::reset_peak();
            let started = Instant::now();
            let (_, grad) = crate::deep_chain::<RcWeak>(ops).expect("the chain builds");
            let seconds = started.elapsed().as_secs_f64();
            assert_eq!(
                grad,
                ops as f64 + 1.0,
                "dy/dx of a chain of {ops} additions"
            );
            let peak = alloc::peak_bytes() as i64 - heap_start;
            let raw_started = Instant::now();
            // Without a graph the cost per op does not grow with length:
            // a million ops measure it as well as ten million.
            let raw_ops = ops.min(RAW_CHAIN_OPS);
            std::hint::black_box(crate::deep_chain_raw(raw_ops));
            let raw_seconds = raw_started.elapsed().as_secs_f64();
            let nodes = live::total::<RcWeak>().since(nodes_start);
            DeepResult {
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

/// The seed loop on one thread in one mode: what building no graph, or
/// keeping intermediate gradients, does to time and heap.
#[derive(Debug, Clone, Serialize)]
pub struct MemoryMode {
    /// What ran.
    pub mode: String,
    /// Wall time per iteration, in microseconds.
    pub micros_per_iteration: f64,
    /// Heap an iteration's result keeps alive (its output and, with a graph,
    /// everything the graph holds), above the start.
    pub kept_heap_bytes: i64,
    /// The largest live heap during the loop, above its start.
    pub peak_heap_bytes: i64,
}

/// Runs the seed loop's forward with and without a graph, and forward plus
/// backward with intermediate gradients freed and retained, under `RcWeak`
/// on the calling thread.
pub fn memory_modes(inputs: &[Array1<f64>], iterations: usize) -> Vec<MemoryMode> {
    type Kept = Variable<RcWeak>;
    let input = |i: usize| inputs[i % inputs.len()].to_owned();
    let build = |result: autograd_ops::Result<Kept>| result.expect("the seed graph builds");
    let modes: [(&str, &dyn Fn(usize) -> Kept); 4] = [
        ("forward", &|i| build(crate::seed_forward(input(i)))),
        ("forward, no_grad", &|i| {
            build(autograd_ops::with_no_grad(|| crate::seed_forward(input(i))))
        }),
        ("forward+backward, gradients freed", &|i| {
            build(seed_graph(input(i), false).map(|(_, y)| y))
        }),
        ("forward+backward, gradients retained", &|i| {
            build(seed_graph(input(i), true).map(|(_, y)| y))
        }),
    ];
    modes
        .iter()
        .map(|(mode, run)| {
            drop(run(0)); // warm up
            let heap_start = alloc::live_bytes() as i64;
            alloc::reset_peak();
            let mut kept = 0;
            let started = Instant::now();
            for i in 0..iterations {
                let result = run(i);
                kept = alloc::live_bytes() as i64 - heap_start;
                drop(result);
            }
            MemoryMode {
                mode: (*mode).to_string(),
                micros_per_iteration: started.elapsed().as_secs_f64() * 1e6 / iterations as f64,
                kept_heap_bytes: kept,
                peak_heap_bytes: alloc::peak_bytes() as i64 - heap_start,
            }
        })
        .collect()
}
