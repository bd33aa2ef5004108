//! Elementwise ops of one input, powers and logarithms: [`Square`], [`Pow`],
//! [`Exp`], [`Log`], their free functions, and their tests.

use autograd_core::arith::{div, mul, neg};
use autograd_core::{
    Function, Grads, Result, Save, Saved, Strategy, Tensor, Tensors, Variable, apply_one,
};

/// Declares a one-input op's name and arity.
macro_rules! unary_op {
    ($name:literal) => {
        fn name(&self) -> &'static str {
            $name
        }

        fn num_inputs(&self) -> usize {
            1
        }
    };
}
pub(crate) use unary_op;

/// `y = x²`; `dy/dx = 2x`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Square;

impl<S: Strategy> Function<S> for Square {
    unary_op!("Square");

    fn forward(&mut self, xs: &[Tensor]) -> Result<Tensors> {
        Ok(xs[0].map(|x| x * x).into())
    }

    fn save(&mut self, save: &mut Save<'_>) {
        save.input(0);
    }

    fn derivative(&self, cx: &Saved<'_, S>, gys: &[Variable<S>]) -> Result<Grads<S>> {
        Ok(vec![Some(mul(
            &mul(&gys[0], &cx.input(0)?)?,
            &cx.scalar(2.0),
        )?)])
    }

    /// Hand-fused: multiplied in the output gradient's buffer (the seed
    /// loop's 80 KB arrays).
    fn backward_arrays(&self, cx: &Saved<'_, S>, mut gys: Tensors) -> Result<Tensors> {
        Ok(gys
            .take(0)
            .into_zip_with("Square", cx.input_value(0)?, |g, x| g * 2.0 * x)?
            .into())
    }
}

/// `y = xᶜ` for a constant exponent `c`; `dy/dx = c·xᶜ⁻¹`.
#[derive(Debug, Clone, Copy)]
pub struct Pow {
    /// The exponent `c`.
    pub exponent: f64,
}

impl<S: Strategy> Function<S> for Pow {
    unary_op!("Pow");

    fn forward(&mut self, xs: &[Tensor]) -> Result<Tensors> {
        let c = self.exponent;
        Ok(xs[0].map(|x| x.powf(c)).into())
    }

    fn save(&mut self, save: &mut Save<'_>) {
        if self.exponent != 0.0 {
            save.input(0);
        }
    }

    fn derivative(&self, cx: &Saved<'_, S>, gys: &[Variable<S>]) -> Result<Grads<S>> {
        let c = self.exponent;
        // x⁰ is constant: the gradient is 0, also at x = 0 (not 0·∞).
        if c == 0.0 {
            return Ok(vec![Some(mul(&gys[0], &cx.scalar(0.0))?)]);
        }
        let slope = mul(&pow(&cx.input(0)?, c - 1.0)?, &cx.scalar(c))?;
        Ok(vec![Some(mul(&gys[0], &slope)?)])
    }
}

/// `y = eˣ`; `dy/dx = y`, the output saved by the engine (its buffer is
/// shared, not copied).
#[derive(Debug, Clone, Copy, Default)]
pub struct Exp;

impl<S: Strategy> Function<S> for Exp {
    unary_op!("Exp");

    fn forward(&mut self, xs: &[Tensor]) -> Result<Tensors> {
        Ok(xs[0].map(f64::exp).into())
    }

    fn save(&mut self, save: &mut Save<'_>) {
        save.output(0);
    }

    fn derivative(&self, cx: &Saved<'_, S>, gys: &[Variable<S>]) -> Result<Grads<S>> {
        Ok(vec![Some(mul(&gys[0], &cx.output(0)?)?)])
    }
}

/// `y = ln x`; `dy/dx = 1/x`. Non-positive inputs give NaN or -∞, as IEEE 754 says.
#[derive(Debug, Clone, Copy, Default)]
pub struct Log;

impl<S: Strategy> Function<S> for Log {
    unary_op!("Log");

    fn forward(&mut self, xs: &[Tensor]) -> Result<Tensors> {
        Ok(xs[0].map(f64::ln).into())
    }

    fn save(&mut self, save: &mut Save<'_>) {
        save.input(0);
    }

    fn derivative(&self, cx: &Saved<'_, S>, gys: &[Variable<S>]) -> Result<Grads<S>> {
        Ok(vec![Some(div(&gys[0], &cx.input(0)?)?)])
    }
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
    apply_one(Exp, &[x])
}

/// `ln x`, elementwise.
///
/// # Errors
/// None for a well-formed variable; `Result` keeps every op's signature alike.
pub fn log<S: Strategy>(x: &Variable<S>) -> Result<Variable<S>> {
    apply_one(Log, &[x])
}

/// `-x` as a recorded op, for the variable-level backward of other families.
pub(crate) fn negate<S: Strategy>(x: &Variable<S>) -> Result<Variable<S>> {
    neg(x)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{check_both_orders, positive};
    use autograd_core::RcWeak;
    use ndarray::array;

    type V = Variable<RcWeak>;

    #[test]
    fn closed_forms() {
        let x = V::from_array(array![[1.0, 2.0], [3.0, 4.0]]);
        let y = crate::sum(&pow(&x, 3.0).unwrap()).unwrap();
        assert_eq!(y.item(), Some(100.0));
        y.backward().unwrap();
        assert_eq!(
            x.grad().unwrap(),
            array![[3.0, 12.0], [27.0, 48.0]].into_dyn()
        );

        let x = V::from_array(array![1.0, 2.0]);
        exp(&x).unwrap().backward().unwrap();
        assert_eq!(x.grad().unwrap(), x.data().mapv(f64::exp));

        let x = V::from_array(array![1.0, 4.0]);
        log(&x).unwrap().backward().unwrap();
        assert_eq!(x.grad().unwrap(), array![1.0, 0.25].into_dyn());

        let x = V::from_array(array![1.5, -2.0]);
        square(&x).unwrap().backward().unwrap();
        assert_eq!(x.grad().unwrap(), array![3.0, -4.0].into_dyn());
    }

    #[test]
    fn the_fused_square_agrees_with_its_derivative() {
        autograd_core::testing::assert_fused_agrees_with_derivative(|x| square(&x[0]), &[&[3, 4]]);
    }

    #[test]
    fn pow_zero_has_a_zero_gradient_everywhere() {
        let x = V::from_array(array![0.0, 2.0]);
        pow(&x, 0.0).unwrap().backward().unwrap();
        assert_eq!(x.grad().unwrap(), array![0.0, 0.0].into_dyn());
    }

    #[test]
    fn first_and_second_order_gradcheck() {
        let a = positive(&[2, 3], 1);
        check_both_orders(|x| square(&x[0]), std::slice::from_ref(&a));
        check_both_orders(|x| pow(&x[0], 3.5), std::slice::from_ref(&a));
        check_both_orders(|x| exp(&x[0]), std::slice::from_ref(&a));
        check_both_orders(|x| log(&x[0]), std::slice::from_ref(&a));
        check_both_orders(|x| negate(&x[0]), &[a]);
    }
}
