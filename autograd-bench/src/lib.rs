//! Workloads and measurement for the autograd workspace: the seed's
//! experiment (DeZero step 17, section 17.5) at scale, under every ownership
//! strategy, beside the same arithmetic in plain ndarray.
//!
//! The report binaries (`cargo run --release -p autograd-bench`) and the
//! criterion benches (`cargo bench -p autograd-bench`) are built on this
//! library; the tests use its workloads and counting allocator too.
//!
//! # Example
//!
//! ```
//! use autograd_bench::{SeedRng, seed_loop};
//! use autograd_ops::RcWeak;
//!
//! let x = SeedRng::new(0).randn(10_000);
//! let leaf = seed_loop::<RcWeak>(x.clone(), false)?;
//! let grad = leaf.grad().unwrap();
//! // dy/dx = 8x⁷, up to rounding
//! let close = |g: f64, x: f64| (g - 8.0 * x.powi(7)).abs() <= 1e-12 * g.abs().max(1.0);
//! assert!(grad.iter().zip(&x).all(|(&g, &x)| close(g, x)));
//! # Ok::<(), autograd_ops::Error>(())
//! ```
#![deny(unsafe_code)] // allowed in `alloc` alone: `GlobalAlloc` needs it

pub mod alloc;
pub mod cli;
pub mod report;
mod rng;
mod workloads;

pub use rng::SeedRng;
pub use workloads::{
    add_chain, add_chain_raw, add_square_chain, add_square_chain_raw, deep_chain, deep_chain_raw,
    raw_fused, raw_naive, second_cycle_step, seed_forward, seed_graph, seed_loop, seed_step,
};
