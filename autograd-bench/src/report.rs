//! The report: every run of the main job, as a table and as JSON.

use std::fmt::Write as _;

use serde::Serialize;

use crate::stress::{self, DeepResult, MemoryMode, RunResult, StressConfig, Subject};

/// Everything the main job measured.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
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
    /// Heap the leaking runs could fill together, in bytes.
    pub heap_budget: usize,
    /// The stress runs, baselines first.
    pub runs: Vec<RunResult>,
    /// The seed loop on one thread with no graph, and with retained gradients.
    pub memory_modes: Vec<MemoryMode>,
    /// The deep chains.
    pub deep_chains: Vec<DeepResult>,
}

/// Runs everything for `subjects` and `deep_lengths`; `progress(subject,
/// done, total)` is called as runs advance.
pub fn build(
    config: &StressConfig,
    threads: usize,
    subjects: &[Subject],
    deep_lengths: &[usize],
    allocator: &str,
    progress: &mut dyn FnMut(&'static str, usize, usize),
) -> Report {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .expect("a thread pool");
    warm_up_pool(&pool);
    let inputs = stress::make_inputs(config.size, 8, 17);
    let leaking = subjects.iter().filter(|s| s.leaks()).count();
    let mut runs: Vec<RunResult> = subjects
        .iter()
        .map(|&subject| {
            stress::run(
                subject,
                config,
                &inputs,
                &pool,
                leaking,
                &mut |done, total| progress(subject.name(), done, total),
            )
        })
        .collect();
    let naive = runs
        .iter()
        .find(|r| r.subject == Subject::RawNaive.name())
        .map(|r| r.wall_seconds / r.iterations as f64);
    for run in &mut runs {
        if let Some(naive) = naive {
            run.relative_to_raw_naive = run.wall_seconds / run.iterations as f64 / naive;
        }
    }
    progress("no_grad and retain_grad", 0, 1);
    let memory_modes = stress::memory_modes(&inputs, config.iterations.min(2000));
    progress("deep chains", 0, deep_lengths.len());
    let deep_chains = stress::deep_chains(deep_lengths);
    Report {
        allocator: allocator.to_string(),
        heap_measured: crate::alloc::is_counting(),
        threads: pool.current_num_threads(),
        size: config.size,
        iterations: config.iterations,
        retain_grad: config.retain_grad,
        heap_budget: config.heap_budget,
        runs,
        memory_modes,
        deep_chains,
    }
}

/// Makes every worker register its live-node shard and steal work many
/// times, so that the pool's lazily allocated state (those shards,
/// work-stealing buffers, each thread's epoch record) exists before any run
/// takes its heap baseline.
fn warm_up_pool(pool: &rayon::ThreadPool) {
    use rayon::prelude::*;
    pool.broadcast(|_| autograd_mem::live::this_thread::<autograd_ops::RcWeak>());
    for _ in 0..200 {
        pool.install(|| {
            (0..256).into_par_iter().for_each(|i| {
                std::hint::black_box((0..100 + i % 7).sum::<usize>());
            })
        });
    }
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

impl Report {
    /// The report as a plain-text table.
    pub fn table(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "seed loop: y = square(square(square(x))), backward, on fresh {}-element arrays; \
             {} thread(s); allocator: {}; intermediate gradients {}",
            self.size,
            self.threads,
            self.allocator,
            if self.retain_grad {
                "retained"
            } else {
                "freed"
            },
        );
        let _ = writeln!(
            out,
            "{:<22} {:>7} {:>8} {:>8} {:>10} {:>8} {:>13} {:>11} {:>11} {:>11} {:>10}",
            "subject",
            "threads",
            "iters",
            "wall s",
            "graphs/s",
            "vs naive",
            "live var/fn",
            "live heap",
            "leak/iter",
            "predicted",
            "peak heap",
        );
        for r in &self.runs {
            let _ = writeln!(
                out,
                "{:<22} {:>7} {:>8} {:>8.3} {:>10.0} {:>7.2}x {:>13} {:>11} {:>11} {:>11} {:>10}",
                r.subject,
                r.threads,
                r.iterations,
                r.wall_seconds,
                r.graphs_per_second,
                r.relative_to_raw_naive,
                format!("{}/{}", r.live_variables_after, r.live_functions_after),
                bytes(r.live_heap_after_bytes as f64),
                bytes(r.leaked_bytes_per_iteration),
                bytes(r.predicted_leak_per_iteration as f64),
                bytes(r.peak_heap_bytes as f64),
            );
        }
        if let Some(capped) = self.runs.iter().find(|r| r.capped_by_budget) {
            let _ = writeln!(
                out,
                "leaking runs stop at a heap budget of {} in all ({} iterations for {}); \
                 their throughput is bound by page faults on fresh memory, not by the graph.",
                bytes(self.heap_budget as f64),
                capped.iterations,
                capped.subject,
            );
        }
        if !self.heap_measured {
            let _ = writeln!(
                out,
                "(heap not measured: the counting allocator is not installed)"
            );
        }
        let _ = writeln!(
            out,
            "\nseed loop on one thread (RcWeak): building no graph, keeping gradients"
        );
        let _ = writeln!(
            out,
            "{:<38} {:>9} {:>12} {:>11}",
            "mode", "µs/iter", "result keeps", "peak heap"
        );
        for m in &self.memory_modes {
            let _ = writeln!(
                out,
                "{:<38} {:>9.1} {:>12} {:>11}",
                m.mode,
                m.micros_per_iteration,
                bytes(m.kept_heap_bytes as f64),
                bytes(m.peak_heap_bytes as f64)
            );
        }
        if !self.deep_chains.is_empty() {
            let _ = writeln!(
                out,
                "\ndeep chain: y = y + x, d times, backward, drop (RcWeak, one thread; raw: no graph, over at most 10^6 ops)"
            );
            let _ = writeln!(
                out,
                "{:>10} {:>9} {:>9} {:>12} {:>11} {:>10}",
                "ops", "seconds", "ns/op", "raw ns/op", "peak/op", "live after"
            );
            for d in &self.deep_chains {
                let _ = writeln!(
                    out,
                    "{:>10} {:>9.3} {:>9.1} {:>12.1} {:>11} {:>10}",
                    d.ops,
                    d.seconds,
                    d.ns_per_op,
                    d.raw_ns_per_op,
                    bytes(d.peak_bytes_per_op),
                    d.live_nodes_after,
                );
            }
        }
        out
    }
}
