//! The seed loop on one thread in four modes, under the default strategy:
//! what building no graph, or keeping intermediate gradients, does to time
//! and heap.

use std::time::Instant;

use autograd_ops::{DefaultStrategy, Variable, with_no_grad};
use ndarray::Array1;
use serde::Serialize;

use crate::{alloc, seed_forward, seed_graph};

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

/// Runs forward with and without a graph, and forward plus backward with
/// intermediate gradients freed and retained, on the calling thread.
pub fn run(inputs: &[Array1<f64>], iterations: usize) -> Vec<MemoryMode> {
    type Kept = Variable<DefaultStrategy>;
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
            let heap =
                || alloc::live_bytes() as i64 - autograd_core::buffers::cached_bytes() as i64;
            let heap_start = heap();
            alloc::reset_peak();
            let mut kept = 0;
            let started = Instant::now();
            for i in 0..iterations {
                let result = run(i);
                kept = heap() - heap_start;
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
