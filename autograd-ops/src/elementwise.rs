//! Elementwise ops of one input, powers, logarithms and bounds: [`Square`],
//! [`Pow`], [`Exp`], [`Log`], [`Sqrt`], [`Abs`], [`Clip`], their free
//! functions, and their tests.

use autograd_core::arith::{div, mul, neg};
use autograd_core::{
    Error, Function, Grads, Result, Save, Saved, Strategy, Tensor, Tensors, Variable, apply_one,
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
    unary_op!("square");

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
            .into_zip_with("square", cx.input_value(0)?, |g, x| g * 2.0 * x)?
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
    unary_op!("pow");

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
    unary_op!("exp");

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
    unary_op!("log");

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

/// `y = √x`; `dy/dx = 1 / (2y)` from the saved output: `+∞` at 0, and NaN
/// for a negative `x` (whose root is NaN), as IEEE 754 and PyTorch say.
#[derive(Debug, Clone, Copy, Default)]
pub struct Sqrt;

impl<S: Strategy> Function<S> for Sqrt {
    unary_op!("sqrt");

    fn forward(&mut self, xs: &[Tensor]) -> Result<Tensors> {
        Ok(xs[0].map(f64::sqrt).into())
    }

    fn save(&mut self, save: &mut Save<'_>) {
        save.output(0);
    }

    fn derivative(&self, cx: &Saved<'_, S>, gys: &[Variable<S>]) -> Result<Grads<S>> {
        let two_y = mul(&cx.output(0)?, &cx.scalar(2.0))?;
        Ok(vec![Some(div(&gys[0], &two_y)?)])
    }
}

/// `y = |x|`; `dy/dx = sign(x)`, 0 at 0 (as PyTorch's).
#[derive(Debug, Clone, Copy, Default)]
pub struct Abs;

impl<S: Strategy> Function<S> for Abs {
    unary_op!("abs");

    fn forward(&mut self, xs: &[Tensor]) -> Result<Tensors> {
        Ok(xs[0].map(f64::abs).into())
    }

    fn save(&mut self, save: &mut Save<'_>) {
        save.input(0);
    }

    fn derivative(&self, cx: &Saved<'_, S>, gys: &[Variable<S>]) -> Result<Grads<S>> {
        let sign = cx.input_value(0)?.map(|x| {
            if x > 0.0 {
                1.0
            } else if x < 0.0 {
                -1.0
            } else {
                0.0
            }
        });
        Ok(vec![Some(mul(&gys[0], &cx.constant(sign))?)])
    }
}

/// `y = x` clamped to `[lo, hi]`; `dy/dx = 1` strictly inside, 0 outside
/// and at a bound (as PyTorch's `clamp` with number bounds: checked
/// against PyTorch 2.15).
#[derive(Debug, Clone, Copy)]
pub struct Clip {
    /// The lower bound.
    pub lo: f64,
    /// The upper bound, at least `lo`.
    pub hi: f64,
}

impl<S: Strategy> Function<S> for Clip {
    unary_op!("clip");

    fn forward(&mut self, xs: &[Tensor]) -> Result<Tensors> {
        let (lo, hi) = (self.lo, self.hi);
        if lo.is_nan() || hi.is_nan() || lo > hi {
            return Err(Error::InvalidArgument {
                op: "clip",
                message: format!("the bounds must satisfy lo <= hi, got lo = {lo}, hi = {hi}"),
            });
        }
        // NaN stays NaN (comparisons with it are false).
        Ok(xs[0]
            .map(|x| {
                if x < lo {
                    lo
                } else if x > hi {
                    hi
                } else {
                    x
                }
            })
            .into())
    }

    fn save(&mut self, save: &mut Save<'_>) {
        save.input(0);
    }

    fn derivative(&self, cx: &Saved<'_, S>, gys: &[Variable<S>]) -> Result<Grads<S>> {
        let (lo, hi) = (self.lo, self.hi);
        let inside = cx
            .input_value(0)?
            .map(|x| f64::from(u8::from(lo < x && x < hi)));
        Ok(vec![Some(mul(&gys[0], &cx.constant(inside))?)])
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

/// `√x`, elementwise (NaN for a negative element).
///
/// # Errors
/// None for a well-formed variable; `Result` keeps every op's signature alike.
pub fn sqrt<S: Strategy>(x: &Variable<S>) -> Result<Variable<S>> {
    apply_one(Sqrt, &[x])
}

/// `|x|`, elementwise.
///
/// # Errors
/// None for a well-formed variable; `Result` keeps every op's signature alike.
pub fn abs<S: Strategy>(x: &Variable<S>) -> Result<Variable<S>> {
    apply_one(Abs, &[x])
}

/// `x` clamped to `[lo, hi]`, elementwise (PyTorch's `clamp`).
///
/// # Errors
/// [`Error::InvalidArgument`] when `lo > hi` or a bound is NaN.
pub fn clip<S: Strategy>(x: &Variable<S>, lo: f64, hi: f64) -> Result<Variable<S>> {
    apply_one(Clip { lo, hi }, &[x])
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
    fn sqrt_abs_and_clip_follow_pytorchs_conventions() {
        let x = V::from_array(array![0.0, 4.0, -1.0]);
        let y = sqrt(&x).unwrap();
        assert!(y.data()[2].is_nan());
        y.backward().unwrap();
        let g = x.grad().unwrap();
        assert_eq!((g[0], g[1]), (f64::INFINITY, 0.25));
        assert!(g[2].is_nan());

        let x = V::from_array(array![-2.0, 0.0, 3.0]);
        abs(&x).unwrap().backward().unwrap();
        assert_eq!(x.grad().unwrap(), array![-1.0, 0.0, 1.0].into_dyn());

        let x = V::from_array(array![-2.0, -1.0, 0.5, 1.0, 3.0]);
        let y = clip(&x, -1.0, 1.0).unwrap();
        assert_eq!(y.data(), array![-1.0, -1.0, 0.5, 1.0, 1.0].into_dyn());
        y.backward().unwrap();
        assert_eq!(
            x.grad().unwrap(),
            array![0.0, 0.0, 1.0, 0.0, 0.0].into_dyn()
        );
        assert!(matches!(
            clip(&x, 1.0, -1.0),
            Err(Error::InvalidArgument { op: "clip", .. })
        ));
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
        check_both_orders(|x| sqrt(&x[0]), std::slice::from_ref(&a));
        check_both_orders(|x| clip(&x[0], 0.7, 1.2), std::slice::from_ref(&a));
        let signs = a.mapv(|v| if v > 1.0 { v } else { -v });
        check_both_orders(|x| abs(&x[0]), &[signs]);
        check_both_orders(|x| negate(&x[0]), &[a]);
    }
}
