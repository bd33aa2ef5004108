//! Differentiable ops for `autograd-core`: the seed's `Add` and `Square` and
//! the ops after them, each differentiable to any order, with free
//! functions, method sugar, [`grad`] and the gradient checks.
//!
//! Each op is a [`Function`] on tensors, so it runs under every ownership
//! strategy. Use the free functions (they return `Result`) or the sugar:
//! operators like `&a + &b` and the methods of [`VariableOps`], which panic
//! on bad input the way ndarray's operators do and have `try_` twins.
//!
//! One file per op family holds its ops, their free functions and their
//! tests (the arithmetic ops and the broadcasting pair live in
//! autograd-core, beside the operators that need them):
//!
//! - `elementwise`: square, pow, exp, log, sqrt, abs, clip;
//! - `trig`: sin, cos, tanh;
//! - `activation`: relu, leaky_relu, sigmoid;
//! - `compare`: maximum, minimum;
//! - `reduce`: sum, sum_axis, mean, mean_axis, max_axis, min_axis,
//!   logsumexp, argmax (and re-exports broadcast_to, sum_to);
//! - `loss`: softmax, log_softmax, softmax_cross_entropy,
//!   mean_squared_error;
//! - `matmul`: matmul;
//! - `linear`: linear;
//! - `shape_ops`: reshape, transpose;
//! - `indexing`: index_select and its backward index_add, narrow, concat;
//! - `conv`: conv2d, conv_transpose2d, conv2d_grad_w (each the others'
//!   derivatives), im2col, col2im, conv_output_size;
//! - `pool`: max_pool2d (with its backward scatter_add2d and that one's
//!   gather2d), avg_pool2d and avg_pool2d_backward;
//! - `dropout`: dropout and its generator, manual_seed;
//! - `checkpoint`: checkpoint, a block recomputed in backward.
//!
//! Beside them: `mode` (eval_mode, train_mode, is_training,
//! with_eval_mode: the training/evaluation switch dropout reads), `methods`
//! ([`VariableOps`]), `grad` ([`grad`]), `gradcheck` ([`gradcheck`],
//! [`gradgradcheck`]) and, for the tests, `testing`.
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
//! assert_eq!(z.data(), array![2.0, 2.0, 0.75].into_dyn());
//! # Ok::<(), autograd_ops::Error>(())
//! ```
#![forbid(unsafe_code)]

mod activation;
pub mod budget;
mod checkpoint;
mod compare;
mod conv;
mod dropout;
mod elementwise;
mod grad;
mod gradcheck;
mod indexing;
mod linear;
mod loss;
mod matmul;
mod methods;
mod mode;
mod pool;
mod reduce;
mod shape_ops;
#[cfg(test)]
mod testing;
mod trig;

pub use activation::{LeakyRelu, Relu, Sigmoid, leaky_relu, relu, sigmoid};
pub use autograd_core::arith::{Add, Div, Mul, Neg, Sub, add, div, mul, neg, sub};
pub use autograd_core::broadcast::{broadcast_to, sum_to};
pub use autograd_core::mem;
pub use autograd_core::{
    ArcWeak, BackwardOptions, Collected, CollectedSync, DefaultStrategy, DotStyle, Error,
    Footprint, Freeing, Function, FunctionNode, Generation, Grads, NoGradGuard, RcWeak, Region,
    Result, Save, Saved, SharedArray, Strategy, StrategyKind, StrongOnly, Tensor, Tensors,
    Variable, apply, apply_one, enable_grad, is_grad_enabled, no_grad, with_no_grad,
};
pub use checkpoint::checkpoint;
pub use compare::{Maximum, Minimum, maximum, minimum};
pub use conv::{
    Col2im, Conv2d, Conv2dGradW, ConvTranspose2d, Im2col, col2im, conv_output_size,
    conv_transpose2d, conv2d, conv2d_grad_w, im2col,
};
pub use dropout::{DEFAULT_SEED, Dropout, dropout, manual_seed};
pub use elementwise::{
    Abs, Clip, Exp, Log, Pow, Sqrt, Square, abs, clip, exp, log, pow, sqrt, square,
};
pub use grad::grad;
pub use gradcheck::{GradcheckError, GradcheckOptions, GradcheckReport, gradcheck, gradgradcheck};
pub use indexing::{
    Concat, IndexAdd, IndexSelect, Narrow, concat, index_add, index_select, narrow,
};
pub use linear::{Linear, linear};
pub use loss::{
    LogSoftmax, Softmax, SoftmaxCrossEntropy, log_softmax, mean_squared_error, softmax,
    softmax_cross_entropy,
};
pub use matmul::{MatMul, matmul};
pub use methods::VariableOps;
pub use mode::{ModeGuard, eval_mode, is_training, train_mode, with_eval_mode};
pub use pool::{
    AvgPool2d, AvgPool2dBackward, Gather2d, MaxPool2d, ScatterAdd2d, avg_pool2d,
    avg_pool2d_backward, gather2d, max_pool2d, scatter_add2d,
};
pub use reduce::{
    BroadcastTo, LogSumExp, MaxAxis, Mean, MinAxis, Sum, SumTo, argmax, logsumexp, max_axis, mean,
    mean_axis, min_axis, sum, sum_axis,
};
pub use shape_ops::{Reshape, Transpose, reshape, transpose};
pub use trig::{Cos, Sin, Tanh, cos, sin, tanh};

/// Everything needed to build and differentiate graphs: `use autograd_ops::prelude::*`.
pub mod prelude {
    pub use crate::{
        BackwardOptions, Error, Result, Variable, VariableOps, abs, add, argmax, avg_pool2d,
        broadcast_to, clip, col2im, concat, conv_transpose2d, conv2d, cos, div, dropout, eval_mode,
        exp, grad, im2col, index_select, is_grad_enabled, is_training, leaky_relu, linear, log,
        log_softmax, logsumexp, manual_seed, matmul, max_axis, max_pool2d, maximum, mean,
        mean_axis, mean_squared_error, min_axis, minimum, mul, narrow, neg, no_grad, pow, relu,
        reshape, sigmoid, sin, softmax, softmax_cross_entropy, sqrt, square, sub, sum, sum_axis,
        sum_to, tanh, train_mode, transpose, with_eval_mode, with_no_grad,
    };
}

/// ARCHITECTURE.md's "add an op" recipe, compiled and run as a doc test.
#[doc = include_str!("../../ARCHITECTURE.md")]
#[cfg(doctest)]
pub struct ArchitectureDoctests;
