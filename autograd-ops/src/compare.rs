//! The elementwise maximum and minimum of two arrays, broadcasting:
//! [`Maximum`], [`Minimum`], their free functions, and their tests.
//!
//! The derivative sends the gradient to the input that won, splits it
//! evenly on a tie and, where an input is NaN, gives it to both (PyTorch's
//! `maximum`/`minimum` formulas); the masks are constants.

use autograd_core::arith::mul;
use autograd_core::broadcast::sum_to;
use autograd_core::{
    Function, Grads, Result, Save, Saved, Strategy, Tensor, Tensors, Variable, apply_one,
};

/// Which of the two an op keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pick {
    Larger,
    Smaller,
}

impl Pick {
    fn name(self) -> &'static str {
        match self {
            Pick::Larger => "maximum",
            Pick::Smaller => "minimum",
        }
    }

    /// The kept value; NaN if either is NaN.
    fn value(self, a: f64, b: f64) -> f64 {
        if a.is_nan() || b.is_nan() {
            return f64::NAN;
        }
        match self {
            Pick::Larger => a.max(b),
            Pick::Smaller => a.min(b),
        }
    }

    /// The share of the gradient that goes to `a` (`first`) or `b`: all
    /// of it to the winner, half on a tie, none to the loser, all to both
    /// where a NaN makes the comparison false.
    fn share(self, a: f64, b: f64, first: bool) -> f64 {
        let (mine, other) = if first { (a, b) } else { (b, a) };
        let loses = match self {
            Pick::Larger => mine < other,
            Pick::Smaller => mine > other,
        };
        if mine == other {
            0.5
        } else if loses {
            0.0
        } else {
            1.0
        }
    }
}

fn forward(pick: Pick, xs: &[Tensor]) -> Result<Tensors> {
    Ok(xs[0]
        .zip_with(pick.name(), &xs[1], |a, b| pick.value(a, b))?
        .into())
}

fn derivative<S: Strategy>(pick: Pick, cx: &Saved<'_, S>, gys: &[Variable<S>]) -> Result<Grads<S>> {
    let (a, b) = (cx.input_value(0)?, cx.input_value(1)?);
    let grad = |i: usize| {
        cx.grad(i, || {
            let share = a.zip_with(pick.name(), b, |a, b| pick.share(a, b, i == 0))?;
            let g = mul(&gys[0], &cx.constant(share))?;
            if g.shape() == cx.input_shape(i) {
                Ok(g)
            } else {
                sum_to(&g, cx.input_shape(i))
            }
        })
    };
    Ok(vec![grad(0)?, grad(1)?])
}

/// `y = max(a, b)`, elementwise, broadcasting.
#[derive(Debug, Clone, Copy, Default)]
pub struct Maximum;

/// `y = min(a, b)`, elementwise, broadcasting.
#[derive(Debug, Clone, Copy, Default)]
pub struct Minimum;

macro_rules! pick_op {
    ($op:ident, $pick:expr) => {
        impl<S: Strategy> Function<S> for $op {
            fn name(&self) -> &'static str {
                $pick.name()
            }

            fn num_inputs(&self) -> usize {
                2
            }

            fn forward(&mut self, xs: &[Tensor]) -> Result<Tensors> {
                forward($pick, xs)
            }

            /// Both inputs: the masks compare them.
            fn save(&mut self, save: &mut Save<'_>) {
                save.every_input();
            }

            fn derivative(&self, cx: &Saved<'_, S>, gys: &[Variable<S>]) -> Result<Grads<S>> {
                derivative($pick, cx, gys)
            }
        }
    };
}

pick_op!(Maximum, Pick::Larger);
pick_op!(Minimum, Pick::Smaller);

/// The elementwise maximum of `a` and `b`, broadcasting; NaN where either is.
///
/// # Errors
/// [`Error::ShapeMismatch`](autograd_core::Error::ShapeMismatch) when the
/// shapes do not broadcast.
pub fn maximum<S: Strategy>(a: &Variable<S>, b: &Variable<S>) -> Result<Variable<S>> {
    apply_one(Maximum, &[a, b])
}

/// The elementwise minimum of `a` and `b`, broadcasting; NaN where either is.
///
/// # Errors
/// [`Error::ShapeMismatch`](autograd_core::Error::ShapeMismatch) when the
/// shapes do not broadcast.
pub fn minimum<S: Strategy>(a: &Variable<S>, b: &Variable<S>) -> Result<Variable<S>> {
    apply_one(Minimum, &[a, b])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::check_both_orders;
    use autograd_core::{Error, RcWeak};
    use ndarray::{ArrayD, IxDyn, array};

    type V = Variable<RcWeak>;

    #[test]
    fn the_winner_takes_the_gradient_and_a_tie_splits_it() {
        let a = V::from_array(array![1.0, 2.0, 3.0]);
        let b = V::from_array(array![3.0, 2.0, 1.0]);
        let y = maximum(&a, &b).unwrap();
        assert_eq!(y.data(), array![3.0, 2.0, 3.0].into_dyn());
        y.backward().unwrap();
        assert_eq!(a.grad().unwrap(), array![0.0, 0.5, 1.0].into_dyn());
        assert_eq!(b.grad().unwrap(), array![1.0, 0.5, 0.0].into_dyn());
        a.cleargrad();
        b.cleargrad();
        let y = minimum(&a, &b).unwrap();
        assert_eq!(y.data(), array![1.0, 2.0, 1.0].into_dyn());
        y.backward().unwrap();
        assert_eq!(a.grad().unwrap(), array![1.0, 0.5, 0.0].into_dyn());
    }

    #[test]
    fn broadcasting_sums_the_shares_back() {
        let a = V::from_array(array![[0.0], [5.0]]);
        let b = V::from_array(array![1.0, 2.0, 3.0]);
        let y = maximum(&a, &b).unwrap();
        assert_eq!(y.shape(), vec![2, 3]);
        y.backward().unwrap();
        assert_eq!(a.grad().unwrap(), array![[0.0], [3.0]].into_dyn());
        assert_eq!(b.grad().unwrap(), array![1.0, 1.0, 1.0].into_dyn());
        assert_eq!(
            maximum(&V::from_array(array![1.0, 2.0]), &b).unwrap_err(),
            Error::ShapeMismatch {
                op: "maximum",
                lhs: vec![2],
                rhs: vec![3]
            }
        );
    }

    #[test]
    fn first_and_second_order_gradcheck() {
        let a =
            ArrayD::from_shape_vec(IxDyn(&[2, 3]), vec![0.1, 1.5, -0.7, 2.0, 0.3, -1.1]).unwrap();
        let b = ArrayD::from_shape_vec(IxDyn(&[3]), vec![0.6, 0.2, -0.4]).unwrap();
        check_both_orders(|x| maximum(&x[0], &x[1]), &[a.clone(), b.clone()]);
        check_both_orders(|x| minimum(&x[0], &x[1]), &[a, b]);
    }
}
