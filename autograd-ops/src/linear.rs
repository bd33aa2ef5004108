//! [`Linear`]: a fully connected layer as one op, `x · w + b`, its free
//! function, and its tests.
//!
//! As one op (DeZero step 44's `linear`), it keeps only what its gradients
//! read, `x` and `w`; `add(matmul(x, w), b)` would also keep the
//! intermediate `x · w` alive until backward.

use autograd_core::broadcast::sum_to;
use autograd_core::shape::element_count;
use autograd_core::{
    Error, Function, Grads, Result, Save, Saved, Strategy, Tensor, Tensors, Variable, apply_one,
};
use ndarray::linalg::general_mat_mul;
use ndarray::{Axis, Ix2};

use crate::matmul::{factor_grads, factor_grads_on_arrays, product};

/// `y = x · w + b` for `x` of shape `(m, k)`, `w` of shape `(k, n)` and an
/// optional `b` that broadcasts to `(m, n)` (a row of `n`, as a bias);
/// `gx = gy · wᵀ`, `gw = xᵀ · gy`, `gb = gy` summed to `b`'s shape.
#[derive(Debug, Clone, Copy)]
pub struct Linear {
    /// Whether a third input, the bias, is given.
    pub bias: bool,
}

fn mismatch(a: &[usize], b: &[usize]) -> Error {
    Error::ShapeMismatch {
        op: "linear",
        lhs: a.to_vec(),
        rhs: b.to_vec(),
    }
}

impl<S: Strategy> Function<S> for Linear {
    fn name(&self) -> &'static str {
        "linear"
    }

    fn num_inputs(&self) -> usize {
        2 + usize::from(self.bias)
    }

    fn forward(&mut self, xs: &[Tensor]) -> Result<Tensors> {
        let (x, w) = (&xs[0], &xs[1]);
        let (Ok(xm), Ok(wm)) = (
            x.view().into_dimensionality::<Ix2>(),
            w.view().into_dimensionality::<Ix2>(),
        ) else {
            return Err(mismatch(x.shape(), w.shape()));
        };
        if xm.ncols() != wm.nrows() {
            return Err(mismatch(x.shape(), w.shape()));
        }
        element_count("linear", &[xm.nrows(), wm.ncols()])?;
        // The bias first, then the product added onto it in one pass.
        let (m, n) = (xm.nrows(), wm.ncols());
        let y = match xs.get(2) {
            Some(b) => {
                let view = b.view();
                let bias = view
                    .broadcast((m, n))
                    .ok_or_else(|| mismatch(&[m, n], b.shape()))?;
                Tensor::from_writer(&[m, n], |out| {
                    let mut out = out.into_dimensionality::<Ix2>().expect("2-D");
                    out.assign(&bias);
                    general_mat_mul(1.0, &xm, &wm, 1.0, &mut out);
                })
            }
            None => product(xm, wm),
        };
        Ok(y.into())
    }

    /// `x` for `w`'s gradient, `w` for `x`'s; the bias's needs only its shape.
    fn save(&mut self, save: &mut Save<'_>) {
        save.product_factors();
    }

    fn derivative(&self, cx: &Saved<'_, S>, gys: &[Variable<S>]) -> Result<Grads<S>> {
        let gy = &gys[0];
        let mut grads = factor_grads(cx, gy)?;
        if self.bias {
            grads.push(cx.grad(2, || match gy.shape() == cx.input_shape(2) {
                true => Ok(gy.clone()),
                false => sum_to(gy, cx.input_shape(2)),
            })?);
        }
        Ok(grads)
    }

    /// The derivative on arrays, fused: the factors' gradients multiply by
    /// transposed views (the derivative copies each transpose), the bias's
    /// sums `gy`'s rows.
    fn backward_arrays(&self, cx: &Saved<'_, S>, gys: Tensors) -> Result<Tensors> {
        let [gx, gw] = factor_grads_on_arrays("linear", cx, &gys[0])?;
        let mut grads: Tensors = [gx, gw].into();
        if self.bias {
            let shape = cx.input_shape(2);
            grads.push(match cx.needs_grad(2) {
                // A row bias, the common case: the column sums, in one pass.
                true if shape.len() == 1 && gys[0].ndim() == 2 => {
                    Tensor::from(gys[0].view().sum_axis(Axis(0)))
                }
                true => gys[0].clone().sum_to("linear", shape)?,
                false => Tensor::scalar(0.0),
            });
        }
        Ok(grads)
    }
}

/// `x · w + b`: `x` `(m, k)`, `w` `(in, out) = (k, n)`, `b` a bias that
/// broadcasts to `(m, n)` (shape `(n,)` as a rule), or none.
///
/// # Errors
/// [`Error::ShapeMismatch`] naming `linear` unless `x` and `w` are 2-D with
/// matching inner sizes and `b` broadcasts to the product;
/// [`Error::TooLarge`] when the product would not fit in memory.
pub fn linear<S: Strategy>(
    x: &Variable<S>,
    w: &Variable<S>,
    b: Option<&Variable<S>>,
) -> Result<Variable<S>> {
    match b {
        Some(b) => apply_one(Linear { bias: true }, &[x, w, b]),
        None => apply_one(Linear { bias: false }, &[x, w]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{check_both_orders, positive};
    use autograd_core::RcWeak;
    use ndarray::{ArrayD, array};

    type V = Variable<RcWeak>;

    #[test]
    fn the_fused_backward_agrees_with_its_derivative() {
        for bias in [&[4][..], &[1, 4], &[3, 4]] {
            autograd_core::testing::assert_fused_agrees_with_derivative(
                |x| linear(&x[0], &x[1], Some(&x[2])),
                &[&[3, 2], &[2, 4], bias],
            );
        }
        autograd_core::testing::assert_fused_agrees_with_derivative(
            |x| linear(&x[0], &x[1], None),
            &[&[3, 2], &[2, 4]],
        );
    }

    #[test]
    fn closed_form_with_and_without_a_bias() {
        let x = V::from_array(array![[1.0, 2.0], [3.0, 4.0]]);
        let w = V::from_array(array![[5.0], [6.0]]);
        let b = V::from_array(array![0.5]);
        let y = linear(&x, &w, Some(&b)).unwrap();
        assert_eq!(y.data(), array![[17.5], [39.5]].into_dyn());
        crate::sum(&y).unwrap().backward().unwrap();
        assert_eq!(b.grad().unwrap(), array![2.0].into_dyn());
        assert_eq!(w.grad().unwrap(), array![[4.0], [6.0]].into_dyn());
        let y = linear(&x, &w, None).unwrap();
        assert_eq!(y.data(), array![[17.0], [39.0]].into_dyn());
    }

    /// As one op, `linear` keeps `x`, `w` and `b` and no `x · w`: its
    /// graph holds one `(m, n)` buffer and a function node less than
    /// `add(matmul(x, w), b)`'s.
    #[test]
    fn linear_keeps_less_than_matmul_then_add() {
        let (m, n) = (64, 32);
        let x = V::from_array(positive(&[m, 16], 1));
        let w = V::from_array(positive(&[16, n], 2));
        let b = V::from_array(positive(&[n], 3));
        let fused = linear(&x, &w, Some(&b)).unwrap().graph_footprint();
        let composed = crate::add(&crate::matmul(&x, &w).unwrap(), &b)
            .unwrap()
            .graph_footprint();
        assert_eq!((fused.functions, composed.functions), (1, 2));
        assert_eq!(composed.variables - fused.variables, 1);
        let buffer = m * n * size_of::<f64>();
        assert!(
            composed.bytes - fused.bytes > buffer,
            "{} vs {} bytes",
            composed.bytes,
            fused.bytes
        );
    }

    #[test]
    fn shapes_that_do_not_fit_name_linear() {
        let x = V::from_array(ArrayD::zeros(vec![2, 3]));
        let w = V::from_array(ArrayD::zeros(vec![2, 4]));
        assert_eq!(
            linear(&x, &w, None).unwrap_err(),
            mismatch(&[2, 3], &[2, 4])
        );
        let w = V::from_array(ArrayD::zeros(vec![3, 4]));
        let b = V::from_array(ArrayD::zeros(vec![3]));
        assert_eq!(
            linear(&x, &w, Some(&b)).unwrap_err(),
            mismatch(&[2, 4], &[3])
        );
    }

    #[test]
    fn first_and_second_order_gradcheck() {
        let (x, w, b) = (
            positive(&[2, 3], 1),
            positive(&[3, 4], 2),
            positive(&[4], 3),
        );
        check_both_orders(
            |v| linear(&v[0], &v[1], Some(&v[2])),
            &[x.clone(), w.clone(), b],
        );
        check_both_orders(|v| linear(&v[0], &v[1], None), &[x, w]);
    }
}
