//! [`MatMul`]: the matrix product of two 2-D arrays, its free function, and
//! its tests.

use autograd_core::shape::element_count;
use autograd_core::{Error, Function, Result, Strategy, Tensor, Tensors, Variable, apply_one};
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
        op: "MatMul",
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
    element_count("MatMul", &[a.nrows(), b.ncols()])?;
    Ok((a, b))
}

impl<S: Strategy> Function<S> for MatMul {
    fn name(&self) -> &'static str {
        "MatMul"
    }

    fn num_inputs(&self) -> usize {
        2
    }

    fn forward(&mut self, xs: &[Tensor]) -> Result<Tensors> {
        let (a, b) = matrices(&xs[0], &xs[1])?;
        Ok(Tensor::from(a.dot(&b)).into())
    }

    fn backward(&self, xs: &[Tensor], gys: Tensors) -> Result<Tensors> {
        let (a, b) = matrices(&xs[0], &xs[1])?;
        let gy = gys[0]
            .view()
            .into_dimensionality::<Ix2>()
            .map_err(|_| Error::GradientShape {
                op: "MatMul",
                index: 0,
                expected: vec![a.nrows(), b.ncols()],
                got: gys[0].shape().to_vec(),
            })?;
        Ok([Tensor::from(gy.dot(&b.t())), Tensor::from(a.t().dot(&gy))].into())
    }

    fn backward_graph(
        &self,
        xs: &[Variable<S>],
        _ys: &[Option<Variable<S>>],
        gys: &[Variable<S>],
    ) -> Result<Vec<Variable<S>>> {
        Ok(vec![
            matmul(&gys[0], &transpose(&xs[1])?)?,
            matmul(&transpose(&xs[0])?, &gys[0])?,
        ])
    }
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
            op: "MatMul",
            lhs: vec![2, 3],
            rhs,
        };
        assert_eq!(matmul(&a, &a).unwrap_err(), mismatch(vec![2, 3]));
        let v = V::from_array(ArrayD::zeros(vec![3]));
        assert_eq!(matmul(&a, &v).unwrap_err(), mismatch(vec![3]));
    }

    #[test]
    fn first_and_second_order_gradcheck() {
        check_both_orders(
            |x| matmul(&x[0], &x[1]),
            &[positive(&[2, 3], 1), positive(&[3, 4], 2)],
        );
    }
}
