//! Free functions: one per op, each returning `Result`.

use autograd_core::arith::{Add, Div, Mul, Neg, Sub};
use autograd_core::{Result, Strategy, Variable, apply_one};

use crate::{BroadcastTo, Exp, Log, MatMul, Pow, Reshape, Square, Sum, SumTo, Transpose};

/// `a + b`, elementwise, broadcasting.
///
/// # Errors
/// [`Error::ShapeMismatch`](crate::Error::ShapeMismatch) when the shapes do not broadcast.
pub fn add<S: Strategy>(a: &Variable<S>, b: &Variable<S>) -> Result<Variable<S>> {
    apply_one(Add, &[a, b])
}

/// `a - b`, elementwise, broadcasting.
///
/// # Errors
/// [`Error::ShapeMismatch`](crate::Error::ShapeMismatch) when the shapes do not broadcast.
pub fn sub<S: Strategy>(a: &Variable<S>, b: &Variable<S>) -> Result<Variable<S>> {
    apply_one(Sub, &[a, b])
}

/// `a · b`, elementwise, broadcasting.
///
/// # Errors
/// [`Error::ShapeMismatch`](crate::Error::ShapeMismatch) when the shapes do not broadcast.
pub fn mul<S: Strategy>(a: &Variable<S>, b: &Variable<S>) -> Result<Variable<S>> {
    apply_one(Mul, &[a, b])
}

/// `a / b`, elementwise, broadcasting.
///
/// # Errors
/// [`Error::ShapeMismatch`](crate::Error::ShapeMismatch) when the shapes do not broadcast.
pub fn div<S: Strategy>(a: &Variable<S>, b: &Variable<S>) -> Result<Variable<S>> {
    apply_one(Div, &[a, b])
}

/// `-x`.
///
/// # Errors
/// None for a well-formed variable; `Result` keeps every op's signature alike.
pub fn neg<S: Strategy>(x: &Variable<S>) -> Result<Variable<S>> {
    apply_one(Neg, &[x])
}

/// `x²`, elementwise.
///
/// # Errors
/// None for a well-formed variable; `Result` keeps every op's signature alike.
pub fn square<S: Strategy>(x: &Variable<S>) -> Result<Variable<S>> {
    apply_one(Square, &[x])
}

/// `xᶜ`, elementwise, for a constant `c`.
///
/// # Errors
/// None for a well-formed variable; `Result` keeps every op's signature alike.
pub fn pow<S: Strategy>(x: &Variable<S>, exponent: f64) -> Result<Variable<S>> {
    apply_one(Pow { exponent }, &[x])
}

/// `eˣ`, elementwise.
///
/// # Errors
/// None for a well-formed variable; `Result` keeps every op's signature alike.
pub fn exp<S: Strategy>(x: &Variable<S>) -> Result<Variable<S>> {
    apply_one(Exp::default(), &[x])
}

/// `ln x`, elementwise.
///
/// # Errors
/// None for a well-formed variable; `Result` keeps every op's signature alike.
pub fn log<S: Strategy>(x: &Variable<S>) -> Result<Variable<S>> {
    apply_one(Log, &[x])
}

/// The sum of all elements, as a 0-dimensional variable.
///
/// # Errors
/// None for a well-formed variable; `Result` keeps every op's signature alike.
pub fn sum<S: Strategy>(x: &Variable<S>) -> Result<Variable<S>> {
    apply_one(Sum::default(), &[x])
}

/// The sum along `axis`; `keepdims` keeps it with size 1.
///
/// # Errors
/// [`Error::InvalidAxis`](crate::Error::InvalidAxis) when `axis` is out of range.
pub fn sum_axis<S: Strategy>(x: &Variable<S>, axis: usize, keepdims: bool) -> Result<Variable<S>> {
    apply_one(
        Sum {
            axis: Some(axis),
            keepdims,
        },
        &[x],
    )
}

/// `x` summed down to `shape` (the inverse of broadcasting).
///
/// # Errors
/// [`Error::InvalidTarget`](crate::Error::InvalidTarget) when `shape` does not
/// broadcast to `x`'s shape.
pub fn sum_to<S: Strategy>(x: &Variable<S>, shape: &[usize]) -> Result<Variable<S>> {
    apply_one(
        SumTo {
            shape: shape.to_vec(),
        },
        &[x],
    )
}

/// `x` broadcast to `shape`.
///
/// # Errors
/// [`Error::InvalidTarget`](crate::Error::InvalidTarget) when `x` does not
/// broadcast to `shape`.
pub fn broadcast_to<S: Strategy>(x: &Variable<S>, shape: &[usize]) -> Result<Variable<S>> {
    apply_one(
        BroadcastTo {
            shape: shape.to_vec(),
        },
        &[x],
    )
}

/// `x`'s elements, row-major, in `shape`.
///
/// # Errors
/// [`Error::InvalidTarget`](crate::Error::InvalidTarget) when the element counts differ.
pub fn reshape<S: Strategy>(x: &Variable<S>, shape: &[usize]) -> Result<Variable<S>> {
    apply_one(
        Reshape {
            shape: shape.to_vec(),
        },
        &[x],
    )
}

/// `x` with its axes reversed.
///
/// # Errors
/// None for a well-formed variable; `Result` keeps every op's signature alike.
pub fn transpose<S: Strategy>(x: &Variable<S>) -> Result<Variable<S>> {
    apply_one(Transpose, &[x])
}

/// The matrix product of 2-D `a` `(m, k)` and `b` `(k, n)`.
///
/// # Errors
/// [`Error::ShapeMismatch`](crate::Error::ShapeMismatch) unless both are 2-D
/// with matching inner sizes.
pub fn matmul<S: Strategy>(a: &Variable<S>, b: &Variable<S>) -> Result<Variable<S>> {
    apply_one(MatMul, &[a, b])
}
