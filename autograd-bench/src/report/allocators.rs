//! The allocator a user actually has: the seed loop (W1) and its scaling
//! from one thread to all (W5) in this build, beside the same figures from
//! the system-allocator build (`autograd-bench-system`, run as a child
//! process): glibc's defaults give freed memory back to the kernel, which
//! punishes a loop that frees and allocates large arrays.

use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

use autograd_ops::{ArcWeak, RcWeak, Strategy};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::report::{Context, ReportConfig};
use crate::{alloc, raw_naive, seed_step};

/// One build's figures.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AllocatorFigures {
    /// The global allocator of the build.
    pub allocator: String,
    /// W1 on one thread: µs per iteration, by subject.
    pub micros_per_iteration: Vec<(String, f64)>,
    /// W5: iterations per second on one thread and on all, by subject.
    pub scaling: Vec<Scaling>,
}

/// One subject's scaling.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Scaling {
    /// What ran.
    pub subject: String,
    /// Threads of the second figure.
    pub threads: usize,
    /// Iterations per second on one thread.
    pub one_thread: f64,
    /// Iterations per second on `threads` threads.
    pub all_threads: f64,
    /// `all_threads / one_thread`.
    pub ratio: f64,
}

/// Iterations per W1 figure and per W5 batch.
const ITERATIONS: usize = 16_000;
const BATCH: usize = 64;

/// Measures this build: W1 on the calling thread, W5 on pools of one and
/// of the context's threads, on its inputs. The counting allocator stops
/// counting meanwhile (its shared counters would be what two threads
/// contend on).
pub fn measure(cx: &Context<'_>) -> AllocatorFigures {
    let (allocator, inputs, threads) = (cx.config.allocator, &cx.inputs, cx.config.threads);
    alloc::set_counting(false);
    let input = |i: usize| inputs[i % inputs.len()].to_owned();
    let subjects: [(&str, &(dyn Fn(usize) + Sync)); 3] = [
        ("raw_naive", &|i| {
            std::hint::black_box(raw_naive(&input(i).into_dyn()));
        }),
        (RcWeak::KIND.name(), &|i| {
            std::hint::black_box(seed_step::<RcWeak>(input(i)).expect("runs"));
        }),
        (ArcWeak::KIND.name(), &|i| {
            std::hint::black_box(seed_step::<ArcWeak>(input(i)).expect("runs"));
        }),
    ];
    let micros_per_iteration = subjects
        .iter()
        .map(|(name, step)| {
            (0..ITERATIONS / 10).for_each(step);
            let started = Instant::now();
            (0..ITERATIONS).for_each(step);
            let micros = started.elapsed().as_secs_f64() * 1e6 / ITERATIONS as f64;
            (name.to_string(), micros)
        })
        .collect();
    let pool = |n: usize| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .build()
            .expect("a thread pool")
    };
    let (one, all) = (pool(1), pool(threads));
    let rate = |pool: &rayon::ThreadPool, step: &(dyn Fn(usize) + Sync)| {
        let batches = ITERATIONS / BATCH;
        let batch = || pool.install(|| (0..BATCH).into_par_iter().for_each(step));
        (0..batches / 10 + 1).for_each(|_| batch());
        let started = Instant::now();
        (0..batches).for_each(|_| batch());
        (batches * BATCH) as f64 / started.elapsed().as_secs_f64()
    };
    let scaling = subjects
        .iter()
        .map(|(name, step)| {
            let one_thread = rate(&one, step);
            let all_threads = rate(&all, step);
            Scaling {
                subject: name.to_string(),
                threads,
                one_thread,
                all_threads,
                ratio: all_threads / one_thread,
            }
        })
        .collect();
    alloc::set_counting(true);
    AllocatorFigures {
        allocator: allocator.to_string(),
        micros_per_iteration,
        scaling,
    }
}

/// The system-allocator build beside this binary, built first when this
/// binary runs under `cargo run` and it is missing.
fn sibling() -> Result<PathBuf, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let sibling = exe.with_file_name(format!(
        "autograd-bench-system{}",
        std::env::consts::EXE_SUFFIX
    ));
    if sibling.exists() {
        return Ok(sibling);
    }
    let release = exe
        .parent()
        .and_then(|dir| dir.file_name())
        .is_some_and(|name| name == "release");
    let build = if release {
        "cargo build --release -p autograd-bench --bin autograd-bench-system"
    } else {
        "cargo build -p autograd-bench --bin autograd-bench-system"
    };
    let cargo = std::env::var_os("CARGO")
        .ok_or_else(|| format!("{} is missing: build it with `{build}`", sibling.display()))?;
    let mut command = Command::new(cargo);
    command.args([
        "build",
        "-p",
        "autograd-bench",
        "--bin",
        "autograd-bench-system",
    ]);
    if release {
        command.arg("--release");
    }
    let status = command.status().map_err(|e| e.to_string())?;
    if status.success() && sibling.exists() {
        Ok(sibling)
    } else {
        Err(format!("`{build}` failed"))
    }
}

/// The system-allocator build's figures, from a child process run with
/// `config`'s size, threads and heap budget.
///
/// # Errors
/// A message saying what is missing or what failed.
pub fn from_system_build(config: &ReportConfig) -> Result<AllocatorFigures, String> {
    let output = Command::new(sibling()?)
        .args(["--allocator-figures-only", "--size"])
        .arg(config.size.to_string())
        .arg("--threads")
        .arg(config.threads.to_string())
        .arg("--heap-budget-mib")
        .arg((config.heap_budget >> 20).to_string())
        .output()
        .map_err(|e| e.to_string())?;
    if !output.status.success() {
        return Err(String::from_utf8_lossy(&output.stderr).into_owned());
    }
    serde_json::from_slice(&output.stdout).map_err(|e| e.to_string())
}
