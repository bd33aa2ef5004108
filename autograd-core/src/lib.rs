//! The engine of a reverse-mode automatic differentiation library: DeZero's
//! step 17 in Rust, grown to higher-order gradients.
//!
//! A [`Variable`] holds a [`Tensor`] (an `f64` array), its gradient and its
//! creator. Running a [`Function`] on variables (with [`apply`]) records a
//! function node that holds its inputs and, through the ownership strategy's
//! back-reference (weak by default), its outputs, so a graph is freed when its
//! last handle goes. [`Variable::backward`] walks the graph from an output,
//! always running the pending function of the highest [`Generation`] next, and
//! adds each leaf's gradient to its `grad`; with
//! [`create_graph`](BackwardOptions::create_graph) the gradients are variables
//! with graphs of their own, so they can be differentiated again.
//!
//! The arithmetic ops and the broadcasting pair live here (the operators need
//! them); the rest of the op set lives in `autograd-ops`, which re-exports
//! everything a user needs from this crate.
//!
//! Items hidden from these docs are plumbing between the workspace's crates,
//! not API: they may change without notice.
//!
//! # Example
//!
//! ```
//! use autograd_ops::{apply_one, mul, Function, Grads, Result, Save, Saved, Tensor,
//!                     Tensors, Variable};
//!
//! /// y = x², as in DeZero step 17.
//! struct Square;
//!
//! impl Function for Square {
//!     fn name(&self) -> &'static str { "square" }
//!     fn num_inputs(&self) -> usize { 1 }
//!     fn forward(&mut self, xs: &[Tensor]) -> Result<Tensors> {
//!         Ok(xs[0].map(|x| x * x).into())
//!     }
//!     // What backward reads, kept by the engine.
//!     fn save(&mut self, save: &mut Save<'_>) { save.input(0); }
//!     // The derivative, once, for every order: 2x · gy.
//!     fn derivative(&self, cx: &Saved<'_>, gys: &[Variable]) -> Result<Grads> {
//!         let two_x = mul(&cx.input(0)?, &cx.scalar(2.0))?;
//!         Ok(vec![Some(mul(&gys[0], &two_x)?)])
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
//! # Ok::<(), autograd_ops::Error>(())
//! ```
#![forbid(unsafe_code)]

mod apply;
pub mod arith;
mod backward;
pub mod broadcast;
pub mod buffers;
mod dot;
mod error;
mod footprint;
mod function;
mod function_node;
mod generation;
mod no_grad;
mod operators;
mod pass;
mod plan;
mod saved;
#[doc(hidden)]
pub mod shape;
mod teardown;
mod tensor;
#[doc(hidden)]
pub mod testing;
mod traversal;
mod variable;

pub use apply::{apply, apply_one};
pub use autograd_mem::{
    self as mem, ArcWeak, Collected, CollectedSync, DefaultStrategy, Freeing, RcWeak, Region,
    Strategy, StrategyKind, StrongOnly,
};
pub use backward::{BackwardOptions, block_gradients, gradients};
pub use dot::DotStyle;
pub use error::{Error, Result, Shape};
pub use footprint::Footprint;
pub use function::{Function, Grads};
pub use function_node::FunctionNode;
pub use generation::Generation;
pub use no_grad::{
    EnableGradGuard, NoGradGuard, enable_grad, is_grad_enabled, no_grad, with_no_grad,
};
#[doc(hidden)]
pub use operators::or_panic;
pub use saved::{Save, Saved};
pub use tensor::{SharedArray, Tensor, Tensors, TensorsIntoIter};
pub use variable::Variable;

/// A node's identity while it is alive: its address, as borrowed through
/// `Strategy::get` or `Strategy::get_link` (and as `Strategy::back_addr`
/// gives it for a back-reference).
#[inline]
pub(crate) fn addr<T>(node: &T) -> usize {
    node as *const T as usize
}

#[cfg(test)]
mod layout_tests {
    use super::*;
    use crate::function_node::FunctionInner;
    use crate::variable::VariableInner;

    /// The node sizes the performance work settled on (issue 9), with the
    /// function's links in a cell and its liveness beside them (issue 19,
    /// `retain_graph(false)` and `unchain`): a variable and a one-output,
    /// two-input function cost 160 bytes together under `RcWeak`, counts
    /// included.
    #[test]
    fn nodes_stay_small() {
        let variable = mem::shared_block_size::<VariableInner<RcWeak>>();
        let function = mem::shared_block_size::<FunctionInner<RcWeak>>();
        assert_eq!((variable, function), (56, 104));
    }

    /// Under `Region` a node is a slot in its region's store: no counts,
    /// but a link is a weak pointer and an index (16 bytes, not 8), and a
    /// variable's state in one cell leaves the slot no niche for its tag.
    #[test]
    fn region_slots_stay_small() {
        use std::cell::OnceCell;
        let variable = size_of::<OnceCell<VariableInner<Region>>>();
        let function = size_of::<OnceCell<FunctionInner<Region>>>();
        assert_eq!((variable, function), (56, 120));
    }
}
