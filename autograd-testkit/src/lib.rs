//! What the autograd workspace's tests, benches and report share, kept
//! small so that the tests build without the report's dependencies (clap,
//! plotters, indicatif, serde): the seed's experiment (DeZero step 17,
//! section 17.5) and the other workloads, the same arithmetic in plain
//! ndarray, a seeded random source ([`SeedRng`]) and a counting global
//! allocator ([`alloc`]).
//!
//! autograd-bench re-exports all of it; the tests crate imports it under the
//! name `autograd_bench`.
//!
//! # Example
//!
//! ```
//! use autograd_testkit::{SeedRng, seed_loop};
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
mod rng;
mod workloads;

pub use rng::SeedRng;
pub use workloads::{
    add_chain, add_chain_array_tape, add_chain_f64_tape, add_square_chain, add_square_chain_raw,
    binary_tree, binary_tree_f64, data_matmul_raw, data_matmul_step, deep_chain, deep_chain_raw,
    fan_out, fan_out_f64, raw_fused, raw_naive, second_cycle_step, seed_forward, seed_graph,
    seed_loop, seed_step, shared_leaf_step,
};
