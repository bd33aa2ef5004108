//! Differentiable ops for `autograd-core`: the seed's `Add` and `Square` and
//! the ops after them, with free functions and method sugar.
//!
//! Each op is a [`Function`] on arrays, so it runs
//! under every ownership strategy. Use the free functions (they return
//! `Result`) or the sugar: operators like `&a + &b` and the methods of
//! [`VariableOps`], which panic on bad input the way ndarray's operators do
//! and have `try_` twins.
//!
//! This crate re-exports what a user of the ops needs from `autograd-core`,
//! so depending on it alone is enough.
//!
//! # Example
//!
//! ```
//! use autograd_ops::prelude::*;
//! use ndarray::array;
//!
//! // The seed's closing experiment, with backward.
//! let x = Variable::new(array![1.0, -2.0, 0.5]);
//! let y = square(&square(&square(&x)?)?)?; // x⁸
//! y.backward()?;
//! let expected = x.data().mapv(|x| 8.0 * x.powi(7)); // dy/dx = 8x⁷
//! assert_eq!(x.grad().unwrap(), expected);
//!
//! // The same with sugar.
//! let z = &x.square() + &x;
//! assert_eq!(z.data(), array![2.0, 2.0, 0.75].into_dyn().into_shared());
//! # Ok::<(), autograd_ops::Error>(())
//! ```
#![forbid(unsafe_code)]

mod elementwise;
mod functions;
mod gradcheck;
mod matmul;
mod reduce;
mod reshape;
mod variable_ops;

pub use autograd_core::arith::{Add, Div, Mul, Neg, Sub};
pub use autograd_core::mem;
pub use autograd_core::{
    ArcWeak, BackwardOptions, DefaultStrategy, Error, Function, FunctionNode, Generation, RcWeak,
    Result, SharedArray, Strategy, StrongOnly, Variable, apply, apply_one, no_grad, with_no_grad,
};
pub use elementwise::{Exp, Log, Pow, Square};
pub use functions::{
    add, broadcast_to, div, exp, log, matmul, mul, neg, pow, reshape, square, sub, sum, sum_axis,
    sum_to, transpose,
};
pub use gradcheck::{GradcheckError, GradcheckOptions, GradcheckReport, gradcheck};
pub use matmul::MatMul;
pub use reduce::{BroadcastTo, Sum, SumTo};
pub use reshape::{Reshape, Transpose};
pub use variable_ops::VariableOps;

/// Everything needed to build and differentiate graphs: `use autograd_ops::prelude::*`.
pub mod prelude {
    pub use crate::{
        BackwardOptions, Error, Result, Variable, VariableOps, add, broadcast_to, div, exp, log,
        matmul, mul, neg, no_grad, pow, reshape, square, sub, sum, sum_axis, sum_to, transpose,
    };
}

/// The README's Rust examples, compiled and run as doc tests.
#[doc = include_str!("../../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
