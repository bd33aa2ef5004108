//! Free functions: one per op, each returning `Result`.

use autograd_core::arith::Add;
use autograd_core::{Result, Strategy, Variable, apply_one};

use crate::Square;

/// `a + b`, elementwise.
///
/// # Errors
/// [`Error::ShapeMismatch`](crate::Error::ShapeMismatch) when the shapes differ.
pub fn add<S: Strategy>(a: &Variable<S>, b: &Variable<S>) -> Result<Variable<S>> {
    apply_one(Add, &[a, b])
}

/// `x²`, elementwise.
///
/// # Errors
/// None for a well-formed variable; `Result` keeps every op's signature alike.
pub fn square<S: Strategy>(x: &Variable<S>) -> Result<Variable<S>> {
    apply_one(Square, &[x])
}
