//! Activations: [`Relu`], [`LeakyRelu`], [`Sigmoid`], their free functions,
//! and their tests. Each derivative is written once; the masks it reads
//! are constants, so every order follows (the second derivative of a
//! piecewise-linear activation is 0 almost everywhere, as PyTorch's).

use autograd_core::arith::{mul, sub};
use autograd_core::{
    Function, Grads, Result, Save, Saved, Strategy, Tensor, Tensors, Variable, apply_one,
};

use crate::elementwise::unary_op;

/// `1` where `keep(x)`, `0` elsewhere (and `other` where `keep` is false
/// and `other` is given): a mask for a derivative, read as a constant.
pub(crate) fn mask(x: &Tensor, keep: impl Fn(f64) -> bool, other: f64) -> Tensor {
    x.map(|x| if keep(x) { 1.0 } else { other })
}

/// `y = max(x, 0)`; `dy/dx = 1` for `x > 0`, `0` elsewhere (at 0 too, as
/// PyTorch's). NaN stays NaN.
#[derive(Debug, Clone, Copy, Default)]
pub struct Relu;

impl<S: Strategy> Function<S> for Relu {
    unary_op!("relu");

    fn forward(&mut self, xs: &[Tensor]) -> Result<Tensors> {
        Ok(xs[0]
            .map(|x| if x > 0.0 || x.is_nan() { x } else { 0.0 })
            .into())
    }

    fn save(&mut self, save: &mut Save<'_>) {
        save.output(0);
    }

    fn derivative(&self, cx: &Saved<'_, S>, gys: &[Variable<S>]) -> Result<Grads<S>> {
        let positive = mask(&cx.output_value(0)?, |y| y > 0.0, 0.0);
        Ok(vec![Some(mul(&gys[0], &cx.constant(positive))?)])
    }

    /// The derivative on arrays, fused: the mask applied in the gradient's
    /// own buffer when nothing else holds it.
    fn backward_arrays(&self, cx: &Saved<'_, S>, mut gys: Tensors) -> Result<Tensors> {
        let y = cx.output_value(0)?;
        let gx = gys
            .take(0)
            .into_zip_with("relu", &y, |g, y| g * if y > 0.0 { 1.0 } else { 0.0 })?;
        Ok(gx.into())
    }
}

/// `y = x` for `x > 0`, `slope · x` elsewhere; `dy/dx = slope` at 0 (as
/// PyTorch's).
#[derive(Debug, Clone, Copy)]
pub struct LeakyRelu {
    /// The slope for `x ≤ 0`.
    pub slope: f64,
}

impl<S: Strategy> Function<S> for LeakyRelu {
    unary_op!("leaky_relu");

    fn forward(&mut self, xs: &[Tensor]) -> Result<Tensors> {
        let slope = self.slope;
        Ok(xs[0].map(|x| if x > 0.0 { x } else { slope * x }).into())
    }

    fn save(&mut self, save: &mut Save<'_>) {
        save.input(0);
    }

    fn derivative(&self, cx: &Saved<'_, S>, gys: &[Variable<S>]) -> Result<Grads<S>> {
        let slopes = mask(cx.input_value(0)?, |x| x > 0.0, self.slope);
        Ok(vec![Some(mul(&gys[0], &cx.constant(slopes))?)])
    }
}

/// `y = 1 / (1 + e⁻ˣ)`, computed without overflow for any `x`;
/// `dy/dx = y (1 - y)` from the saved output.
#[derive(Debug, Clone, Copy, Default)]
pub struct Sigmoid;

/// The logistic function, stable for large `|x|`: `e⁻ˣ` is only taken for
/// `x ≥ 0` and `eˣ` for `x < 0`, so neither overflows.
fn logistic(x: f64) -> f64 {
    if x >= 0.0 {
        1.0 / (1.0 + (-x).exp())
    } else {
        let e = x.exp();
        e / (1.0 + e)
    }
}

impl<S: Strategy> Function<S> for Sigmoid {
    unary_op!("sigmoid");

    fn forward(&mut self, xs: &[Tensor]) -> Result<Tensors> {
        Ok(xs[0].map(logistic).into())
    }

    fn save(&mut self, save: &mut Save<'_>) {
        save.output(0);
    }

    fn derivative(&self, cx: &Saved<'_, S>, gys: &[Variable<S>]) -> Result<Grads<S>> {
        let y = cx.output(0)?;
        let slope = mul(&y, &sub(&cx.scalar(1.0), &y)?)?;
        Ok(vec![Some(mul(&gys[0], &slope)?)])
    }
}

/// `max(x, 0)`, elementwise.
///
/// # Errors
/// None for a well-formed variable; `Result` keeps every op's signature alike.
pub fn relu<S: Strategy>(x: &Variable<S>) -> Result<Variable<S>> {
    apply_one(Relu, &[x])
}

/// `x` where `x > 0`, `slope · x` elsewhere, elementwise.
///
/// # Errors
/// None for a well-formed variable; `Result` keeps every op's signature alike.
pub fn leaky_relu<S: Strategy>(x: &Variable<S>, slope: f64) -> Result<Variable<S>> {
    apply_one(LeakyRelu { slope }, &[x])
}

/// `1 / (1 + e⁻ˣ)`, elementwise, finite and exact for any `x`
/// (`sigmoid(1000) = 1`, `sigmoid(-1000) = 0`).
///
/// # Errors
/// None for a well-formed variable; `Result` keeps every op's signature alike.
pub fn sigmoid<S: Strategy>(x: &Variable<S>) -> Result<Variable<S>> {
    apply_one(Sigmoid, &[x])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::check_both_orders;
    use autograd_core::RcWeak;
    use ndarray::{ArrayD, IxDyn, array};

    type V = Variable<RcWeak>;

    #[test]
    fn the_fused_relu_backward_agrees_with_its_derivative() {
        // The values are in (0.5, 1.5): shift half of them below 0.
        autograd_core::testing::assert_fused_agrees_with_derivative(
            |x| {
                let centred = crate::sub(&x[0], &V::constant_from_array(array![[1.0, 1.0, 1.0]]))?;
                crate::mul(&relu(&centred)?, &x[1])
            },
            &[&[4, 3], &[4, 3]],
        );
    }

    /// Values on both sides of 0, away from it (where the derivative jumps).
    fn mixed() -> ArrayD<f64> {
        ArrayD::from_shape_vec(IxDyn(&[2, 3]), vec![-1.3, 0.4, 2.1, -0.2, 0.9, -2.5]).unwrap()
    }

    #[test]
    fn closed_forms_and_the_conventions_at_zero() {
        let x = V::from_array(array![-2.0, 0.0, 3.0]);
        let y = relu(&x).unwrap();
        assert_eq!(y.data(), array![0.0, 0.0, 3.0].into_dyn());
        y.backward().unwrap();
        assert_eq!(x.grad().unwrap(), array![0.0, 0.0, 1.0].into_dyn());

        let x = V::from_array(array![-2.0, 0.0, 3.0]);
        let y = leaky_relu(&x, 0.1).unwrap();
        assert_eq!(y.data(), array![-0.2, 0.0, 3.0].into_dyn());
        y.backward().unwrap();
        assert_eq!(x.grad().unwrap(), array![0.1, 0.1, 1.0].into_dyn());

        let x = V::from_array(array![0.0, 1000.0, -1000.0]);
        let y = sigmoid(&x).unwrap();
        assert_eq!(y.data(), array![0.5, 1.0, 0.0].into_dyn());
        y.backward().unwrap();
        assert_eq!(x.grad().unwrap(), array![0.25, 0.0, 0.0].into_dyn());
        assert!(
            relu(&V::from_scalar(f64::NAN))
                .unwrap()
                .item()
                .unwrap()
                .is_nan()
        );
    }

    #[test]
    fn first_and_second_order_gradcheck() {
        check_both_orders(|x| relu(&x[0]), &[mixed()]);
        check_both_orders(|x| leaky_relu(&x[0], 0.2), &[mixed()]);
        check_both_orders(|x| sigmoid(&x[0]), &[mixed()]);
    }
}
