//! The engine of a reverse-mode automatic differentiation library: DeZero's
//! step 17 in Rust.
//!
//! A [`Variable`] holds an `f64` array, its gradient and its creator. Running a
//! [`Function`] on variables (with [`apply`]) records a function node that holds
//! its inputs strongly and its outputs through the ownership strategy's
//! back-reference, weak by default, so a graph is freed when its last handle
//! goes. [`Variable::backward`] walks the graph from an output, always running
//! the pending function of the highest [`Generation`] next, and adds each
//! leaf's gradient to its `grad`.
//!
//! The ops themselves (`Add`, `Square`, ...) live in `autograd-ops`; this crate
//! is the machinery they plug into.
//!
//! # Example
//!
//! ```
//! use autograd_core::{apply_one, Function, Result, SharedArray, Variable};
//! use ndarray::ArrayD;
//!
//! /// y = x², as in the seed.
//! struct Square;
//!
//! impl Function for Square {
//!     fn name(&self) -> &'static str { "Square" }
//!     fn num_inputs(&self) -> usize { 1 }
//!     fn forward(&mut self, xs: &[SharedArray]) -> Result<Vec<SharedArray>> {
//!         Ok(vec![xs[0].mapv(|x| x * x).into_shared()])
//!     }
//!     fn backward(&self, xs: &[SharedArray], mut gys: Vec<ArrayD<f64>>) -> Result<Vec<ArrayD<f64>>> {
//!         let mut gx = gys.pop().unwrap();
//!         gx.zip_mut_with(&xs[0], |g, &x| *g *= 2.0 * x); // in place: no new buffer
//!         Ok(vec![gx])
//!     }
//! }
//!
//! let x = Variable::scalar(2.0);
//! let a = apply_one(Square, &[&x])?;
//! let y = apply_one(Square, &[&a])?; // y = x⁴
//! y.backward()?;
//! assert_eq!(y.item(), Some(16.0));
//! assert_eq!(x.grad().unwrap().sum(), 32.0); // 4x³
//! assert_eq!(y.generation().0, 2);
//! # Ok::<(), autograd_core::Error>(())
//! ```
#![forbid(unsafe_code)]

mod apply;
pub mod arith;
mod backward;
mod dot;
mod error;
mod footprint;
mod function;
mod function_node;
mod generation;
mod no_grad;
mod node;
mod operators;
pub mod shape;
mod variable;

pub use apply::{apply, apply_one};
pub use autograd_mem::{self as mem, ArcWeak, DefaultStrategy, RcWeak, Strategy, StrongOnly};
pub use backward::BackwardOptions;
pub use error::{Error, Result, Shape};
pub use footprint::Footprint;
pub use function::{Function, SharedArray};
pub use function_node::FunctionNode;
pub use generation::Generation;
pub use no_grad::{NoGradGuard, is_grad_enabled, no_grad, with_no_grad};
pub use variable::Variable;
