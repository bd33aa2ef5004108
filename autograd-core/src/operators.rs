//! Operator sugar: `&a + &b` on variables.
//!
//! Like ndarray's own operators these panic on incompatible shapes; each has a
//! `try_` method that returns the [`Error`](crate::Error) instead.

use std::ops;

use autograd_mem::Strategy;

use crate::arith::Add;
use crate::{Result, Variable, apply_one};

impl<S: Strategy> Variable<S> {
    /// `self + rhs` as a graph op, or an error naming both shapes.
    ///
    /// # Errors
    /// [`Error::ShapeMismatch`](crate::Error::ShapeMismatch) when the shapes differ.
    pub fn try_add(&self, rhs: &Variable<S>) -> Result<Variable<S>> {
        apply_one(Add, &[self, rhs])
    }
}

/// Panics with the error's message, as ndarray's operators do on bad shapes.
fn or_panic<T>(result: Result<T>) -> T {
    result.unwrap_or_else(|err| panic!("{err}"))
}

/// Implements a binary operator for every owned/borrowed combination.
macro_rules! binary_operator {
    ($trait:ident, $method:ident, $try_method:ident) => {
        impl<S: Strategy> ops::$trait<&Variable<S>> for &Variable<S> {
            type Output = Variable<S>;
            fn $method(self, rhs: &Variable<S>) -> Variable<S> {
                or_panic(self.$try_method(rhs))
            }
        }
        impl<S: Strategy> ops::$trait<Variable<S>> for &Variable<S> {
            type Output = Variable<S>;
            fn $method(self, rhs: Variable<S>) -> Variable<S> {
                or_panic(self.$try_method(&rhs))
            }
        }
        impl<S: Strategy> ops::$trait<&Variable<S>> for Variable<S> {
            type Output = Variable<S>;
            fn $method(self, rhs: &Variable<S>) -> Variable<S> {
                or_panic(self.$try_method(rhs))
            }
        }
        impl<S: Strategy> ops::$trait<Variable<S>> for Variable<S> {
            type Output = Variable<S>;
            fn $method(self, rhs: Variable<S>) -> Variable<S> {
                or_panic(self.$try_method(&rhs))
            }
        }
    };
}

binary_operator!(Add, add, try_add);
