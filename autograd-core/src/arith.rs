//! The arithmetic ops: `+ - * /` and unary `-`, broadcasting as NumPy does,
//! their free functions, and their tests.
//!
//! They live in autograd-core rather than autograd-ops for one reason: Rust's
//! orphan rule lets `impl std::ops::Add for &Variable` be written only in the
//! crate that defines `Variable`, and those impls need the ops. autograd-ops
//! re-exports them beside the other ops.

use autograd_mem::Strategy;

use crate::broadcast::sum_to;
use crate::{Function, Grads, Result, Save, Saved, Tensor, Tensors, Variable, apply_one};

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

/// A gradient summed down to its input's shape (the gradient of
/// broadcasting), or itself when the shapes agree.
fn to_shape<S: Strategy>(g: Variable<S>, shape: &[usize]) -> Result<Variable<S>> {
    if g.shape() == shape {
        Ok(g)
    } else {
        sum_to(&g, shape)
    }
}

/// The entry of an input that needs no gradient, in an array-level result.
fn skipped() -> Tensor {
    Tensor::scalar(0.0)
}

/// `y = x0 + x1`. The gradient reaches both inputs unchanged.
#[derive(Debug, Clone, Copy, Default)]
pub struct Add;

impl<S: Strategy> Function<S> for Add {
    binary_op!("add");

    fn forward(&mut self, xs: &[Tensor]) -> Result<Tensors> {
        Ok(xs[0].zip_with("add", &xs[1], |a, b| a + b)?.into())
    }

    fn save(&mut self, _save: &mut Save<'_>) {}

    fn derivative(&self, cx: &Saved<'_, S>, gys: &[Variable<S>]) -> Result<Grads<S>> {
        let gy = &gys[0];
        Ok(vec![
            cx.grad(0, || to_shape(gy.clone(), cx.input_shape(0)))?,
            cx.grad(1, || to_shape(gy.clone(), cx.input_shape(1)))?,
        ])
    }

    /// Hand-fused: the output gradient passes on without a new buffer (the
    /// add chain's per-op cost).
    fn backward_arrays(&self, cx: &Saved<'_, S>, mut gys: Tensors) -> Result<Tensors> {
        let gy = gys.take(0);
        let g0 = match cx.needs_grad(0) {
            true => gy.clone().sum_to("add", cx.input_shape(0))?,
            false => skipped(),
        };
        let g1 = match cx.needs_grad(1) {
            true => gy.sum_to("add", cx.input_shape(1))?,
            false => skipped(),
        };
        Ok([g0, g1].into())
    }
}

/// `y = x0 - x1`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Sub;

impl<S: Strategy> Function<S> for Sub {
    binary_op!("sub");

    fn forward(&mut self, xs: &[Tensor]) -> Result<Tensors> {
        Ok(xs[0].zip_with("sub", &xs[1], |a, b| a - b)?.into())
    }

    fn save(&mut self, _save: &mut Save<'_>) {}

    fn derivative(&self, cx: &Saved<'_, S>, gys: &[Variable<S>]) -> Result<Grads<S>> {
        let gy = &gys[0];
        Ok(vec![
            cx.grad(0, || to_shape(gy.clone(), cx.input_shape(0)))?,
            cx.grad(1, || to_shape(neg(gy)?, cx.input_shape(1)))?,
        ])
    }
}

/// `y = x0 · x1`, elementwise.
#[derive(Debug, Clone, Copy, Default)]
pub struct Mul;

impl<S: Strategy> Function<S> for Mul {
    binary_op!("mul");

    fn forward(&mut self, xs: &[Tensor]) -> Result<Tensors> {
        Ok(xs[0].zip_with("mul", &xs[1], |a, b| a * b)?.into())
    }

    /// Each input's gradient reads the other input.
    fn save(&mut self, save: &mut Save<'_>) {
        save.product_factors();
    }

    fn derivative(&self, cx: &Saved<'_, S>, gys: &[Variable<S>]) -> Result<Grads<S>> {
        let gy = &gys[0];
        Ok(vec![
            cx.grad(0, || to_shape(mul(gy, &cx.input(1)?)?, cx.input_shape(0)))?,
            cx.grad(1, || to_shape(mul(gy, &cx.input(0)?)?, cx.input_shape(1)))?,
        ])
    }

    /// Hand-fused: the last gradient computed is written in the output
    /// gradient's buffer.
    fn backward_arrays(&self, cx: &Saved<'_, S>, mut gys: Tensors) -> Result<Tensors> {
        let gy = gys.take(0);
        let g0 = match cx.needs_grad(0) {
            true => gy.zip_with("mul", cx.input_value(1)?, |g, b| g * b)?,
            false => skipped(),
        };
        let g1 = match cx.needs_grad(1) {
            true => gy.into_zip_with("mul", cx.input_value(0)?, |g, a| g * a)?,
            false => skipped(),
        };
        Ok([
            match cx.needs_grad(0) {
                true => g0.sum_to("mul", cx.input_shape(0))?,
                false => g0,
            },
            match cx.needs_grad(1) {
                true => g1.sum_to("mul", cx.input_shape(1))?,
                false => g1,
            },
        ]
        .into())
    }
}

/// `y = x0 / x1`, elementwise. Division by zero follows IEEE 754 (±∞ or NaN).
#[derive(Debug, Clone, Copy, Default)]
pub struct Div;

impl<S: Strategy> Function<S> for Div {
    binary_op!("div");

    fn forward(&mut self, xs: &[Tensor]) -> Result<Tensors> {
        Ok(xs[0].zip_with("div", &xs[1], |a, b| a / b)?.into())
    }

    /// Both gradients read the divisor; the divisor's reads the dividend.
    fn save(&mut self, save: &mut Save<'_>) {
        save.input(1);
        if save.needs_grad(1) {
            save.input(0);
        }
    }

    fn derivative(&self, cx: &Saved<'_, S>, gys: &[Variable<S>]) -> Result<Grads<S>> {
        // d(x0/x1)/dx0 = 1/x1; d(x0/x1)/dx1 = -x0 / x1² = -(gy / x1) · x0 / x1
        let g0 = div(&gys[0], &cx.input(1)?)?;
        let g1 = cx.grad(1, || {
            let g1 = div(&mul(&neg(&g0)?, &cx.input(0)?)?, &cx.input(1)?)?;
            to_shape(g1, cx.input_shape(1))
        })?;
        Ok(vec![cx.grad(0, || to_shape(g0, cx.input_shape(0)))?, g1])
    }
}

/// `y = -x`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Neg;

impl<S: Strategy> Function<S> for Neg {
    fn name(&self) -> &'static str {
        "neg"
    }

    fn num_inputs(&self) -> usize {
        1
    }

    fn forward(&mut self, xs: &[Tensor]) -> Result<Tensors> {
        Ok(xs[0].map(|x| -x).into())
    }

    fn save(&mut self, _save: &mut Save<'_>) {}

    fn derivative(&self, _cx: &Saved<'_, S>, gys: &[Variable<S>]) -> Result<Grads<S>> {
        Ok(vec![Some(neg(&gys[0])?)])
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
    fn the_fused_backwards_agree_with_the_one_derivative() {
        use crate::testing::assert_fused_agrees_with_derivative as agrees;
        for shapes in [
            &[&[2, 3][..], &[2, 3]][..],
            &[&[2, 3], &[3]],
            &[&[1, 3], &[2, 1]],
        ] {
            agrees(|x| add(&x[0], &x[1]), shapes);
            agrees(|x| mul(&x[0], &x[1]), shapes);
            // The derivative path alone, for the unfused ops and constants.
            agrees(|x| sub(&x[0], &x[1]), shapes);
            agrees(|x| div(&x[0], &x[1]), shapes);
        }
    }

    #[test]
    fn shapes_that_do_not_broadcast_name_the_op() {
        let a = V::from_array(array![1.0, 2.0]);
        let b = V::from_array(array![1.0, 2.0, 3.0]);
        for (result, op) in [
            (add(&a, &b), "add"),
            (sub(&a, &b), "sub"),
            (mul(&a, &b), "mul"),
            (div(&a, &b), "div"),
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
