//! Trigonometric ops: [`Sin`], [`Cos`], [`Tanh`], their free functions, and
//! their tests. Each is differentiable to any order (DeZero steps 27 and 35).

use autograd_core::arith::{mul, sub};
use autograd_core::{
    Function, Grads, Result, Save, Saved, Strategy, Tensor, Tensors, Variable, apply_one,
};

use crate::elementwise::{negate, unary_op};

/// `y = sin x`; `dy/dx = cos x`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Sin;

impl<S: Strategy> Function<S> for Sin {
    unary_op!("sin");

    fn forward(&mut self, xs: &[Tensor]) -> Result<Tensors> {
        Ok(xs[0].map(f64::sin).into())
    }

    fn save(&mut self, save: &mut Save<'_>) {
        save.input(0);
    }

    fn derivative(&self, cx: &Saved<'_, S>, gys: &[Variable<S>]) -> Result<Grads<S>> {
        Ok(vec![Some(mul(&gys[0], &cos(&cx.input(0)?)?)?)])
    }
}

/// `y = cos x`; `dy/dx = -sin x`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Cos;

impl<S: Strategy> Function<S> for Cos {
    unary_op!("cos");

    fn forward(&mut self, xs: &[Tensor]) -> Result<Tensors> {
        Ok(xs[0].map(f64::cos).into())
    }

    fn save(&mut self, save: &mut Save<'_>) {
        save.input(0);
    }

    fn derivative(&self, cx: &Saved<'_, S>, gys: &[Variable<S>]) -> Result<Grads<S>> {
        Ok(vec![Some(mul(&gys[0], &negate(&sin(&cx.input(0)?)?)?)?)])
    }
}

/// `y = tanh x`; `dy/dx = 1 - y²`, from the output the engine saves (as
/// DeZero's step 35 writes it).
#[derive(Debug, Clone, Copy, Default)]
pub struct Tanh;

impl<S: Strategy> Function<S> for Tanh {
    unary_op!("tanh");

    fn forward(&mut self, xs: &[Tensor]) -> Result<Tensors> {
        Ok(xs[0].map(f64::tanh).into())
    }

    fn save(&mut self, save: &mut Save<'_>) {
        save.output(0);
    }

    fn derivative(&self, cx: &Saved<'_, S>, gys: &[Variable<S>]) -> Result<Grads<S>> {
        let y = cx.output(0)?;
        let slope = sub(&cx.scalar(1.0), &mul(&y, &y)?)?;
        Ok(vec![Some(mul(&gys[0], &slope)?)])
    }
}

/// `sin x`, elementwise.
///
/// # Errors
/// None for a well-formed variable; `Result` keeps every op's signature alike.
pub fn sin<S: Strategy>(x: &Variable<S>) -> Result<Variable<S>> {
    apply_one(Sin, &[x])
}

/// `cos x`, elementwise.
///
/// # Errors
/// None for a well-formed variable; `Result` keeps every op's signature alike.
pub fn cos<S: Strategy>(x: &Variable<S>) -> Result<Variable<S>> {
    apply_one(Cos, &[x])
}

/// `tanh x`, elementwise.
///
/// # Errors
/// None for a well-formed variable; `Result` keeps every op's signature alike.
pub fn tanh<S: Strategy>(x: &Variable<S>) -> Result<Variable<S>> {
    apply_one(Tanh, &[x])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{check_both_orders, positive};
    use autograd_core::{BackwardOptions, RcWeak};

    type V = Variable<RcWeak>;

    /// The n-th derivative of `f` at `x`, by repeated `create_graph` backward.
    fn nth_derivatives(f: impl Fn(&V) -> Result<V>, x: f64, n: usize) -> Vec<f64> {
        let x = V::from_scalar(x);
        let mut y = f(&x).unwrap();
        let mut derivatives = Vec::new();
        for _ in 0..n {
            x.cleargrad();
            y.backward_with(BackwardOptions::default().create_graph(true))
                .unwrap();
            y = x.grad_variable().unwrap();
            derivatives.push(y.item().unwrap());
        }
        derivatives
    }

    #[test]
    fn sin_derivatives_cycle_through_cos_and_sin() {
        let d = nth_derivatives(sin, 1.0, 4);
        let (s, c) = 1.0f64.sin_cos();
        for (got, want) in d.iter().zip([c, -s, -c, s]) {
            assert!((got - want).abs() < 1e-12, "{d:?}");
        }
        let d = nth_derivatives(cos, 1.0, 2);
        assert!((d[0] + s).abs() < 1e-12 && (d[1] + c).abs() < 1e-12);
    }

    #[test]
    fn tanh_derivatives_match_their_closed_forms() {
        // With t = tanh x, each derivative is a polynomial in t.
        let t: f64 = 0.5f64.tanh();
        let u = 1.0 - t * t;
        let closed = [
            u,
            -2.0 * t * u,
            u * (6.0 * t * t - 2.0),
            u * (16.0 * t - 24.0 * t.powi(3)),
            u * (16.0 - 120.0 * t * t + 120.0 * t.powi(4)),
            u * (-272.0 * t + 960.0 * t.powi(3) - 720.0 * t.powi(5)),
        ];
        let d = nth_derivatives(tanh, 0.5, 6);
        for (n, (got, want)) in d.iter().zip(closed).enumerate() {
            assert!(
                (got - want).abs() <= 1e-10 * want.abs().max(1.0),
                "order {}: {got} vs {want}",
                n + 1
            );
        }
    }

    #[test]
    fn first_and_second_order_gradcheck() {
        let a = positive(&[2, 3], 7);
        check_both_orders(|x| sin(&x[0]), std::slice::from_ref(&a));
        check_both_orders(|x| cos(&x[0]), std::slice::from_ref(&a));
        check_both_orders(|x| tanh(&x[0]), &[a]);
    }
}
