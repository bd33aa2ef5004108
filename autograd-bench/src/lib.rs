//! Measurement for the autograd workspace: the report binaries
//! (`cargo run --release -p autograd-bench`) and the criterion benches
//! (`cargo bench -p autograd-bench`), built on the workloads of
//! autograd-testkit, which this crate re-exports (`autograd_bench::SeedRng`,
//! `autograd_bench::alloc`, ...).
//!
//! # Example
//!
//! ```
//! use autograd_bench::{SeedRng, seed_loop};
//! use autograd_ops::RcWeak;
//!
//! let x = SeedRng::new(0).randn(10_000);
//! let leaf = seed_loop::<RcWeak>(x.clone(), false)?;
//! assert_eq!(leaf.grad().unwrap().len(), 10_000);
//! # Ok::<(), autograd_ops::Error>(())
//! ```

pub mod cli;
pub mod cnn;
pub mod recurrent;
pub mod report;
pub mod training;

pub use autograd_testkit::*;
