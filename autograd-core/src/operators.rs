//! Operator sugar: `+ - * /` and unary `-` on variables, borrowed or owned,
//! and with an `f64` on either side (`2.0 * &x`, `&x + 1.0`).
//!
//! Like ndarray's own operators these panic on shapes that do not broadcast;
//! each has a `try_` method that returns the [`Error`](crate::Error) instead.
//! An `f64` operand becomes a 0-dimensional constant leaf.

use std::ops;

use autograd_mem::Strategy;

use crate::arith::{add, div, mul, neg, sub};
use crate::{Result, Tensor, Variable};

impl<S: Strategy> Variable<S> {
    /// `self + rhs`, broadcasting.
    ///
    /// # Errors
    /// [`Error::ShapeMismatch`](crate::Error::ShapeMismatch) when the shapes do not broadcast.
    pub fn try_add(&self, rhs: &Variable<S>) -> Result<Variable<S>> {
        add(self, rhs)
    }

    /// `self - rhs`, broadcasting.
    ///
    /// # Errors
    /// [`Error::ShapeMismatch`](crate::Error::ShapeMismatch) when the shapes do not broadcast.
    pub fn try_sub(&self, rhs: &Variable<S>) -> Result<Variable<S>> {
        sub(self, rhs)
    }

    /// `self * rhs`, elementwise, broadcasting.
    ///
    /// # Errors
    /// [`Error::ShapeMismatch`](crate::Error::ShapeMismatch) when the shapes do not broadcast.
    pub fn try_mul(&self, rhs: &Variable<S>) -> Result<Variable<S>> {
        mul(self, rhs)
    }

    /// `self / rhs`, elementwise, broadcasting.
    ///
    /// # Errors
    /// [`Error::ShapeMismatch`](crate::Error::ShapeMismatch) when the shapes do not broadcast.
    pub fn try_div(&self, rhs: &Variable<S>) -> Result<Variable<S>> {
        div(self, rhs)
    }

    /// `-self`.
    ///
    /// # Errors
    /// None for a well-formed variable; `Result` keeps the `try_` methods alike.
    pub fn try_neg(&self) -> Result<Variable<S>> {
        neg(self)
    }
}

/// Panics with the error's message, as ndarray's operators do on bad shapes:
/// what every operator and the ops' method sugar do with an error.
#[doc(hidden)]
#[track_caller]
pub fn or_panic<T>(result: Result<T>) -> T {
    result.unwrap_or_else(|err| panic!("{err}"))
}

/// Implements a binary operator for every owned/borrowed combination of
/// variables, and for an `f64` on either side.
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
        impl<S: Strategy> ops::$trait<f64> for &Variable<S> {
            type Output = Variable<S>;
            fn $method(self, rhs: f64) -> Variable<S> {
                or_panic(self.$try_method(&Variable::constant_from_tensor(Tensor::scalar(rhs))))
            }
        }
        impl<S: Strategy> ops::$trait<f64> for Variable<S> {
            type Output = Variable<S>;
            fn $method(self, rhs: f64) -> Variable<S> {
                or_panic(self.$try_method(&Variable::constant_from_tensor(Tensor::scalar(rhs))))
            }
        }
        impl<S: Strategy> ops::$trait<&Variable<S>> for f64 {
            type Output = Variable<S>;
            fn $method(self, rhs: &Variable<S>) -> Variable<S> {
                or_panic(Variable::constant_from_tensor(Tensor::scalar(self)).$try_method(rhs))
            }
        }
        impl<S: Strategy> ops::$trait<Variable<S>> for f64 {
            type Output = Variable<S>;
            fn $method(self, rhs: Variable<S>) -> Variable<S> {
                or_panic(Variable::constant_from_tensor(Tensor::scalar(self)).$try_method(&rhs))
            }
        }
    };
}

binary_operator!(Add, add, try_add);
binary_operator!(Sub, sub, try_sub);
binary_operator!(Mul, mul, try_mul);
binary_operator!(Div, div, try_div);

impl<S: Strategy> ops::Neg for &Variable<S> {
    type Output = Variable<S>;
    fn neg(self) -> Variable<S> {
        or_panic(self.try_neg())
    }
}

impl<S: Strategy> ops::Neg for Variable<S> {
    type Output = Variable<S>;
    fn neg(self) -> Variable<S> {
        or_panic(self.try_neg())
    }
}
