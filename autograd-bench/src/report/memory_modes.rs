//! The seed loop on one thread in four modes, under the default strategy:
//! what building no graph, or keeping intermediate gradients, does to time
//! and heap.

use std::time::Instant;

use autograd_ops::{DefaultStrategy, Variable, with_no_grad};
use serde::Serialize;

use crate::report::Context;
use crate::report::heap::{Cache, Counted, HeapMark, Peak};
use crate::{seed_forward, seed_graph};

/// One mode's figures.
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

/// The most iterations a mode runs (the seed loop's `--iterations`, if fewer).
pub const MAX_ITERATIONS: usize = 2000;

/// Runs forward with and without a graph, and forward plus backward with
/// intermediate gradients freed and retained, on the calling thread, on the
/// context's inputs.
pub fn run(cx: &Context<'_>) -> Vec<MemoryMode> {
    type Kept = Variable<DefaultStrategy>;
    let (inputs, iterations) = (&cx.inputs, cx.config.iterations.min(MAX_ITERATIONS));
    let input = |i: usize| inputs[i % inputs.len()].to_owned();
    let build = |result: autograd_ops::Result<Kept>| result.expect("the seed graph builds");
    let modes: [(&str, &dyn Fn(usize) -> Kept); 4] = [
        ("forward", &|i| build(seed_forward(input(i)))),
        ("forward, no_grad", &|i| {
            build(with_no_grad(|| seed_forward(input(i))))
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
            autograd_core::buffers::release_thread_cache();
            // The engine's buffer cache is left out: reuse, not what a result keeps.
            let heap = HeapMark::now(Counted::Process, Cache::LeftOut);
            let peak = Peak::start();
            let mut kept = 0;
            let started = Instant::now();
            for i in 0..iterations {
                let result = run(i);
                kept = heap.since();
                drop(result);
            }
            MemoryMode {
                mode: (*mode).to_string(),
                micros_per_iteration: started.elapsed().as_secs_f64() * 1e6 / iterations as f64,
                kept_heap_bytes: kept,
                peak_heap_bytes: peak.bytes(),
            }
        })
        .collect()
}
