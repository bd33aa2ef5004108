//! Elementwise ops of one input, powers and logarithms: [`Square`], [`Pow`],
//! [`Exp`], [`Log`], their free functions, and their tests.

use autograd_core::arith::{div, mul, neg};
use autograd_core::{Function, Result, Strategy, Tensor, Tensors, Variable, apply_one};

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

/// A constant of the value `c`, as a leaf in `x`'s strategy.
pub(crate) fn constant<S: Strategy>(c: f64) -> Variable<S> {
    Variable::from_scalar(c)
}

/// `y = x²`; `dy/dx = 2x`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Square;

impl<S: Strategy> Function<S> for Square {
    unary_op!("Square");

    fn forward(&mut self, xs: &[Tensor]) -> Result<Tensors> {
        Ok(xs[0].map(|x| x * x).into())
    }

    fn backward(&self, xs: &[Tensor], mut gys: Tensors) -> Result<Tensors> {
        // The output gradient is ours: multiply in place, no new buffer.
        Ok(gys
            .take(0)
            .into_zip_with("Square", &xs[0], |g, x| g * 2.0 * x)?
            .into())
    }

    fn backward_graph(
        &self,
        xs: &[Variable<S>],
        _ys: &[Option<Variable<S>>],
        gys: &[Variable<S>],
    ) -> Result<Vec<Variable<S>>> {
        Ok(vec![mul(&mul(&gys[0], &xs[0])?, &constant(2.0))?])
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

    fn backward(&self, xs: &[Tensor], mut gys: Tensors) -> Result<Tensors> {
        let c = self.exponent;
        let gy = gys.take(0);
        // x⁰ is constant: the gradient is 0, also at x = 0 (not 0·∞).
        if c == 0.0 {
            return Ok(gy.into_map(|_| 0.0).into());
        }
        Ok(gy
            .into_zip_with("Pow", &xs[0], |g, x| g * c * x.powf(c - 1.0))?
            .into())
    }

    fn backward_graph(
        &self,
        xs: &[Variable<S>],
        _ys: &[Option<Variable<S>>],
        gys: &[Variable<S>],
    ) -> Result<Vec<Variable<S>>> {
        let c = self.exponent;
        if c == 0.0 {
            return Ok(vec![mul(&gys[0], &constant(0.0))?]);
        }
        let slope = mul(&pow(&xs[0], c - 1.0)?, &constant(c))?;
        Ok(vec![mul(&gys[0], &slope)?])
    }
}

/// `y = eˣ`; `dy/dx = y`, kept from forward (the buffer is shared, not copied).
#[derive(Debug, Clone, Default)]
pub struct Exp {
    output: Option<Tensor>,
}

impl<S: Strategy> Function<S> for Exp {
    unary_op!("Exp");

    fn forward(&mut self, xs: &[Tensor]) -> Result<Tensors> {
        let y = xs[0].map(f64::exp);
        self.output = Some(y.clone());
        Ok(y.into())
    }

    fn backward(&self, xs: &[Tensor], mut gys: Tensors) -> Result<Tensors> {
        let y = match &self.output {
            Some(y) => y.clone(),
            None => xs[0].map(f64::exp),
        };
        Ok(gys.take(0).into_zip_with("Exp", &y, |g, y| g * y)?.into())
    }

    fn backward_graph(
        &self,
        xs: &[Variable<S>],
        ys: &[Option<Variable<S>>],
        gys: &[Variable<S>],
    ) -> Result<Vec<Variable<S>>> {
        let y = match &ys[0] {
            Some(y) => y.clone(),
            None => exp(&xs[0])?,
        };
        Ok(vec![mul(&gys[0], &y)?])
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

    fn backward(&self, xs: &[Tensor], mut gys: Tensors) -> Result<Tensors> {
        Ok(gys
            .take(0)
            .into_zip_with("Log", &xs[0], |g, x| g / x)?
            .into())
    }

    fn backward_graph(
        &self,
        xs: &[Variable<S>],
        _ys: &[Option<Variable<S>>],
        gys: &[Variable<S>],
    ) -> Result<Vec<Variable<S>>> {
        Ok(vec![div(&gys[0], &xs[0])?])
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
    apply_one(Exp::default(), &[x])
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
