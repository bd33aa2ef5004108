//! The arithmetic ops: `+ - * /` and unary `-`, broadcasting as NumPy does,
//! their free functions, and their tests.
//!
//! They live in autograd-core rather than autograd-ops for one reason: Rust's
//! orphan rule lets `impl std::ops::Add for &Variable` be written only in the
//! crate that defines `Variable`, and those impls need the ops. autograd-ops
//! re-exports them beside the other ops.

use autograd_mem::Strategy;

use crate::broadcast::sum_to;
use crate::{Function, Result, Tensor, Tensors, Variable, apply_one};

/// Declares a two-input op's name and arity.
macro_rules! binary_op {
    ($name:literal) => {
        fn name(&self) -> &'static str {
            $name
        }

        fn num_inputs(&self) -> usize {
            2
        }
    };
}

/// A variable-level gradient summed down to its input's shape (the gradient
/// of broadcasting), or itself when the shapes agree.
fn to_shape<S: Strategy>(g: Variable<S>, x: &Variable<S>) -> Result<Variable<S>> {
    let shape = x.shape();
    if g.shape() == shape {
        Ok(g)
    } else {
        sum_to(&g, &shape)
    }
}

/// `y = x0 + x1`. The gradient reaches both inputs unchanged.
#[derive(Debug, Clone, Copy, Default)]
pub struct Add;

impl<S: Strategy> Function<S> for Add {
    binary_op!("Add");

    fn forward(&mut self, xs: &[Tensor]) -> Result<Tensors> {
        Ok(xs[0].zip_with("Add", &xs[1], |a, b| a + b)?.into())
    }

    fn backward(&self, xs: &[Tensor], mut gys: Tensors) -> Result<Tensors> {
        let gy = gys.take(0);
        let g0 = gy.clone().sum_to("Add", xs[0].shape())?;
        let g1 = gy.sum_to("Add", xs[1].shape())?;
        Ok([g0, g1].into())
    }

    fn backward_graph(
        &self,
        xs: &[Variable<S>],
        _ys: &[Option<Variable<S>>],
        gys: &[Variable<S>],
    ) -> Result<Vec<Variable<S>>> {
        Ok(vec![
            to_shape(gys[0].clone(), &xs[0])?,
            to_shape(gys[0].clone(), &xs[1])?,
        ])
    }
}

/// `y = x0 - x1`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Sub;

impl<S: Strategy> Function<S> for Sub {
    binary_op!("Sub");

    fn forward(&mut self, xs: &[Tensor]) -> Result<Tensors> {
        Ok(xs[0].zip_with("Sub", &xs[1], |a, b| a - b)?.into())
    }

    fn backward(&self, xs: &[Tensor], mut gys: Tensors) -> Result<Tensors> {
        let gy = gys.take(0);
        let g1 = gy.map(|g| -g).sum_to("Sub", xs[1].shape())?;
        let g0 = gy.sum_to("Sub", xs[0].shape())?;
        Ok([g0, g1].into())
    }

    fn backward_graph(
        &self,
        xs: &[Variable<S>],
        _ys: &[Option<Variable<S>>],
        gys: &[Variable<S>],
    ) -> Result<Vec<Variable<S>>> {
        Ok(vec![
            to_shape(gys[0].clone(), &xs[0])?,
            to_shape(neg(&gys[0])?, &xs[1])?,
        ])
    }
}

/// `y = x0 · x1`, elementwise.
#[derive(Debug, Clone, Copy, Default)]
pub struct Mul;

impl<S: Strategy> Function<S> for Mul {
    binary_op!("Mul");

    fn forward(&mut self, xs: &[Tensor]) -> Result<Tensors> {
        Ok(xs[0].zip_with("Mul", &xs[1], |a, b| a * b)?.into())
    }

    fn backward(&self, xs: &[Tensor], mut gys: Tensors) -> Result<Tensors> {
        let gy = gys.take(0);
        let g0 = gy.zip_with("Mul", &xs[1], |g, b| g * b)?;
        let g1 = gy.into_zip_with("Mul", &xs[0], |g, a| g * a)?;
        Ok([
            g0.sum_to("Mul", xs[0].shape())?,
            g1.sum_to("Mul", xs[1].shape())?,
        ]
        .into())
    }

    fn backward_graph(
        &self,
        xs: &[Variable<S>],
        _ys: &[Option<Variable<S>>],
        gys: &[Variable<S>],
    ) -> Result<Vec<Variable<S>>> {
        Ok(vec![
            to_shape(mul(&gys[0], &xs[1])?, &xs[0])?,
            to_shape(mul(&gys[0], &xs[0])?, &xs[1])?,
        ])
    }
}

/// `y = x0 / x1`, elementwise. Division by zero follows IEEE 754 (±∞ or NaN).
#[derive(Debug, Clone, Copy, Default)]
pub struct Div;

impl<S: Strategy> Function<S> for Div {
    binary_op!("Div");

    fn forward(&mut self, xs: &[Tensor]) -> Result<Tensors> {
        Ok(xs[0].zip_with("Div", &xs[1], |a, b| a / b)?.into())
    }

    fn backward(&self, xs: &[Tensor], mut gys: Tensors) -> Result<Tensors> {
        let gy = gys.take(0);
        let g0 = gy.into_zip_with("Div", &xs[1], |g, b| g / b)?;
        // d(x0/x1)/dx1 = -x0 / x1² = -(gy / x1) · x0 / x1
        let g1 =
            g0.zip_with("Div", &xs[0], |g, a| -g * a)?
                .into_zip_with("Div", &xs[1], |g, b| g / b)?;
        Ok([
            g0.sum_to("Div", xs[0].shape())?,
            g1.sum_to("Div", xs[1].shape())?,
        ]
        .into())
    }

    fn backward_graph(
        &self,
        xs: &[Variable<S>],
        _ys: &[Option<Variable<S>>],
        gys: &[Variable<S>],
    ) -> Result<Vec<Variable<S>>> {
        let g0 = div(&gys[0], &xs[1])?;
        let g1 = div(&mul(&neg(&g0)?, &xs[0])?, &xs[1])?;
        Ok(vec![to_shape(g0, &xs[0])?, to_shape(g1, &xs[1])?])
    }
}

/// `y = -x`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Neg;

impl<S: Strategy> Function<S> for Neg {
    fn name(&self) -> &'static str {
        "Neg"
    }

    fn num_inputs(&self) -> usize {
        1
    }

    fn forward(&mut self, xs: &[Tensor]) -> Result<Tensors> {
        Ok(xs[0].map(|x| -x).into())
    }

    fn backward(&self, _xs: &[Tensor], mut gys: Tensors) -> Result<Tensors> {
        Ok(gys.take(0).into_map(|g| -g).into())
    }

    fn backward_graph(
        &self,
        _xs: &[Variable<S>],
        _ys: &[Option<Variable<S>>],
        gys: &[Variable<S>],
    ) -> Result<Vec<Variable<S>>> {
        Ok(vec![neg(&gys[0])?])
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Error, RcWeak};
    use ndarray::array;

    type V = Variable<RcWeak>;

    #[test]
    fn closed_forms_with_broadcasting() {
        let a = V::from_array(array![[1.0, 2.0, 3.0]]);
        let b = V::from_array(array![[2.0], [4.0]]);
        let y = add(&mul(&a, &b).unwrap(), &div(&a, &b).unwrap()).unwrap();
        y.backward().unwrap();
        // d/da Σ(ab + a/b) = Σ_rows (b + 1/b); d/db = Σ_cols (a - a/b²)
        let ga = 2.0 + 0.5 + 4.0 + 0.25;
        assert_eq!(a.grad().unwrap(), array![[ga, ga, ga]].into_dyn());
        assert_eq!(
            b.grad().unwrap(),
            array![[6.0 - 6.0 / 4.0], [6.0 - 6.0 / 16.0]].into_dyn()
        );
        let z = sub(&a, &neg(&b).unwrap()).unwrap(); // a + b
        assert_eq!(
            z.data(),
            array![[3.0, 4.0, 5.0], [5.0, 6.0, 7.0]].into_dyn()
        );
    }

    #[test]
    fn second_derivatives_through_the_graph_backward() {
        // y = x³ / x = x² (as Mul and Div): d²y/dx² = 2
        let x = V::from_scalar(3.0);
        let y = div(&mul(&mul(&x, &x).unwrap(), &x).unwrap(), &x).unwrap();
        y.backward_with(crate::BackwardOptions::default().create_graph(true))
            .unwrap();
        let gx = x.grad_variable().unwrap();
        assert!((gx.item().unwrap() - 6.0).abs() < 1e-12);
        x.cleargrad();
        gx.backward().unwrap();
        assert!((x.grad().unwrap().sum() - 2.0).abs() < 1e-12);
    }

    #[test]
    fn shapes_that_do_not_broadcast_name_the_op() {
        let a = V::from_array(array![1.0, 2.0]);
        let b = V::from_array(array![1.0, 2.0, 3.0]);
        for (result, op) in [
            (add(&a, &b), "Add"),
            (sub(&a, &b), "Sub"),
            (mul(&a, &b), "Mul"),
            (div(&a, &b), "Div"),
        ] {
            assert_eq!(
                result.unwrap_err(),
                Error::ShapeMismatch {
                    op,
                    lhs: vec![2],
                    rhs: vec![3]
                }
            );
        }
    }
}
