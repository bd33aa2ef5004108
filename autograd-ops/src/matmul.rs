//! [`MatMul`]: the matrix product of two 2-D arrays, its free function, and
//! its tests.

use autograd_core::shape::element_count;
use autograd_core::{
    Error, Function, Grads, Result, Save, Saved, Strategy, Tensor, Tensors, Variable, apply_one,
};
use ndarray::linalg::general_mat_mul;
use ndarray::{ArrayView2, Ix2};

use crate::shape_ops::transpose;

/// `y = x0 · x1` for `x0` of shape `(m, k)` and `x1` of shape `(k, n)`;
/// `gx0 = gy · x1ᵀ`, `gx1 = x0ᵀ · gy`.
#[derive(Debug, Clone, Copy, Default)]
pub struct MatMul;

/// Both operands as matrices, or an error naming both shapes.
fn matrices<'a>(
    a: &'a Tensor,
    b: &'a Tensor,
) -> Result<(ArrayView2<'a, f64>, ArrayView2<'a, f64>)> {
    let mismatch = || Error::ShapeMismatch {
        op: "matmul",
        lhs: a.shape().to_vec(),
        rhs: b.shape().to_vec(),
    };
    let a = a
        .view()
        .into_dimensionality::<Ix2>()
        .map_err(|_| mismatch())?;
    let b = b
        .view()
        .into_dimensionality::<Ix2>()
        .map_err(|_| mismatch())?;
    if a.ncols() != b.nrows() {
        return Err(mismatch());
    }
    element_count("matmul", &[a.nrows(), b.ncols()])?;
    Ok((a, b))
}

impl<S: Strategy> Function<S> for MatMul {
    fn name(&self) -> &'static str {
        "matmul"
    }

    fn num_inputs(&self) -> usize {
        2
    }

    fn forward(&mut self, xs: &[Tensor]) -> Result<Tensors> {
        let (a, b) = matrices(&xs[0], &xs[1])?;
        Ok(product(a, b).into())
    }

    /// Each input's gradient reads the other input.
    fn save(&mut self, save: &mut Save<'_>) {
        save.product_factors();
    }

    fn derivative(&self, cx: &Saved<'_, S>, gys: &[Variable<S>]) -> Result<Grads<S>> {
        factor_grads(cx, &gys[0])
    }

    /// Hand-fused: multiplies by the transposed views, where the derivative
    /// copies each transpose into a new array first.
    fn backward_arrays(&self, cx: &Saved<'_, S>, gys: Tensors) -> Result<Tensors> {
        Ok(factor_grads_on_arrays("matmul", cx, &gys[0])?.into())
    }
}

/// [`factor_grads`] on arrays: `gy · x1ᵀ` and `x0ᵀ · gy`, multiplied by
/// transposed views (no copy), each only if needed (a placeholder
/// otherwise). `MatMul`'s and `Linear`'s fused backward.
pub(crate) fn factor_grads_on_arrays<S: Strategy>(
    op: &'static str,
    cx: &Saved<'_, S>,
    gy: &Tensor,
) -> Result<[Tensor; 2]> {
    let gy = gy
        .view()
        .into_dimensionality::<Ix2>()
        .map_err(|_| Error::GradientShape {
            op,
            index: 0,
            expected: vec![cx.input_shape(0)[0], cx.input_shape(1)[1]],
            got: gy.shape().to_vec(),
        })?;
    let matrix = |i: usize| -> Result<ArrayView2<'_, f64>> {
        let value = cx.input_value(i)?;
        Ok(value
            .view()
            .into_dimensionality::<Ix2>()
            .expect("forward checked it"))
    };
    let g0 = match cx.needs_grad(0) {
        true => product(gy, matrix(1)?.t()),
        false => Tensor::scalar(0.0),
    };
    let g1 = match cx.needs_grad(1) {
        true => product(matrix(0)?.t(), gy),
        false => Tensor::scalar(0.0),
    };
    Ok([g0, g1])
}

/// `a · b`, written into a buffer from the engine's cache (so that the
/// buffers of earlier products are reused, where ndarray's `dot` would
/// allocate each anew).
pub(crate) fn product(a: ArrayView2<'_, f64>, b: ArrayView2<'_, f64>) -> Tensor {
    Tensor::from_writer(&[a.nrows(), b.ncols()], |out| {
        let mut out = out.into_dimensionality::<Ix2>().expect("2-D");
        if a.ncols() == 0 {
            out.fill(0.0); // an empty sum
        } else {
            general_mat_mul(1.0, &a, &b, 0.0, &mut out);
        }
    })
}

/// The gradients of the factors of `x0 · x1` from the product's gradient
/// `gy`: `gy · x1ᵀ` and `x0ᵀ · gy`, each only if needed (`MatMul`'s
/// derivative, and `Linear`'s for `x` and `w`).
pub(crate) fn factor_grads<S: Strategy>(cx: &Saved<'_, S>, gy: &Variable<S>) -> Result<Grads<S>> {
    Ok(vec![
        cx.grad(0, || matmul(gy, &transpose(&cx.input(1)?)?))?,
        cx.grad(1, || matmul(&transpose(&cx.input(0)?)?, gy))?,
    ])
}

/// The matrix product of 2-D `a` `(m, k)` and `b` `(k, n)`.
///
/// # Errors
/// [`Error::ShapeMismatch`] unless both are 2-D with matching inner sizes,
/// [`Error::TooLarge`] when the product would not fit in memory.
pub fn matmul<S: Strategy>(a: &Variable<S>, b: &Variable<S>) -> Result<Variable<S>> {
    apply_one(MatMul, &[a, b])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{check_both_orders, positive};
    use autograd_core::RcWeak;
    use ndarray::{ArrayD, array};

    type V = Variable<RcWeak>;

    #[test]
    fn closed_form() {
        let a = V::from_array(array![[1.0, 2.0], [3.0, 4.0]]);
        let b = V::from_array(array![[5.0], [6.0]]);
        let y = matmul(&a, &b).unwrap();
        assert_eq!(y.data(), array![[17.0], [39.0]].into_dyn());
        crate::sum(&y).unwrap().backward().unwrap();
        assert_eq!(a.grad().unwrap(), array![[5.0, 6.0], [5.0, 6.0]].into_dyn());
        assert_eq!(b.grad().unwrap(), array![[4.0], [6.0]].into_dyn());
    }

    #[test]
    fn shapes_that_do_not_multiply_are_errors() {
        let a = V::from_array(ArrayD::zeros(vec![2, 3]));
        let mismatch = |rhs: Vec<usize>| Error::ShapeMismatch {
            op: "matmul",
            lhs: vec![2, 3],
            rhs,
        };
        assert_eq!(matmul(&a, &a).unwrap_err(), mismatch(vec![2, 3]));
        let v = V::from_array(ArrayD::zeros(vec![3]));
        assert_eq!(matmul(&a, &v).unwrap_err(), mismatch(vec![3]));
    }

    #[test]
    fn the_fused_backward_agrees_with_its_derivative() {
        autograd_core::testing::assert_fused_agrees_with_derivative(
            |x| matmul(&x[0], &x[1]),
            &[&[2, 3], &[3, 4]],
        );
    }

    #[test]
    fn a_data_input_gets_no_gradient_and_is_not_saved() {
        let data = V::constant_from_array(array![[1.0, 2.0], [3.0, 4.0]]);
        let w = V::from_array(array![[5.0], [6.0]]);
        let y = matmul(&data, &w).unwrap();
        crate::sum(&y).unwrap().backward().unwrap();
        assert!(data.grad().is_none());
        assert_eq!(w.grad().unwrap(), array![[4.0], [6.0]].into_dyn());
    }

    #[test]
    fn first_and_second_order_gradcheck() {
        check_both_orders(
            |x| matmul(&x[0], &x[1]),
            &[positive(&[2, 3], 1), positive(&[3, 4], 2)],
        );
    }
}
