//! Ops that move elements without changing them: [`Reshape`],
//! [`Transpose`], their free functions, and their tests.

use autograd_core::shape::element_count;
use autograd_core::{
    Error, Function, Grads, Result, Save, Saved, Strategy, Tensor, Tensors, Variable, apply_one,
};
use ndarray::IxDyn;

/// The same elements in row-major order, in another shape.
#[derive(Debug, Clone)]
pub struct Reshape {
    /// The new shape; it must hold as many elements as the input.
    pub shape: Vec<usize>,
}

/// `x` in `shape`, row-major, or an error naming `op` and both shapes.
fn reshaped(op: &'static str, x: Tensor, shape: &[usize]) -> Result<Tensor> {
    if element_count(op, shape)? != x.len() {
        return Err(Error::InvalidTarget {
            op,
            from: x.shape().to_vec(),
            to: shape.to_vec(),
        });
    }
    let array = x
        .into_array()
        .into_shape_with_order(IxDyn(shape))
        .expect("as many elements, in row-major order");
    Ok(Tensor::from(array))
}

impl<S: Strategy> Function<S> for Reshape {
    fn name(&self) -> &'static str {
        "reshape"
    }

    fn num_inputs(&self) -> usize {
        1
    }

    fn forward(&mut self, xs: &[Tensor]) -> Result<Tensors> {
        Ok(reshaped("reshape", xs[0].clone(), &self.shape)?.into())
    }

    fn heap_size(&self) -> usize {
        self.shape.capacity() * std::mem::size_of::<usize>()
    }

    fn save(&mut self, _save: &mut Save<'_>) {}

    fn derivative(&self, cx: &Saved<'_, S>, gys: &[Variable<S>]) -> Result<Grads<S>> {
        Ok(vec![Some(reshape(&gys[0], cx.input_shape(0))?)])
    }
}

/// Reverses the order of the axes (the matrix transpose in 2-D).
#[derive(Debug, Clone, Copy, Default)]
pub struct Transpose;

/// `x` with its axes reversed, copied into row-major order.
fn transposed(x: &Tensor) -> Tensor {
    Tensor::from(x.view().reversed_axes().as_standard_layout().into_owned())
}

impl<S: Strategy> Function<S> for Transpose {
    fn name(&self) -> &'static str {
        "transpose"
    }

    fn num_inputs(&self) -> usize {
        1
    }

    fn forward(&mut self, xs: &[Tensor]) -> Result<Tensors> {
        Ok(transposed(&xs[0]).into())
    }

    fn save(&mut self, _save: &mut Save<'_>) {}

    fn derivative(&self, _cx: &Saved<'_, S>, gys: &[Variable<S>]) -> Result<Grads<S>> {
        Ok(vec![Some(transpose(&gys[0])?)])
    }
}

/// `x`'s elements, row-major, in `shape`.
///
/// # Errors
/// [`Error::InvalidTarget`] when the element counts differ,
/// [`Error::TooLarge`] when `shape`'s element count overflows.
pub fn reshape<S: Strategy>(x: &Variable<S>, shape: &[usize]) -> Result<Variable<S>> {
    apply_one(
        Reshape {
            shape: shape.to_vec(),
        },
        &[x],
    )
}

/// `x` with its axes reversed.
///
/// # Errors
/// None for a well-formed variable; `Result` keeps every op's signature alike.
pub fn transpose<S: Strategy>(x: &Variable<S>) -> Result<Variable<S>> {
    apply_one(Transpose, &[x])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{check_both_orders, positive};
    use autograd_core::{RcWeak, arith::mul};
    use ndarray::{ArrayD, array};

    type V = Variable<RcWeak>;

    #[test]
    fn closed_forms() {
        let x = V::from_array(array![[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]);
        assert_eq!(transpose(&x).unwrap().shape(), vec![3, 2]);
        assert_eq!(
            reshape(&x, &[3, 2]).unwrap().data(),
            array![[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]].into_dyn()
        );
        assert_eq!(
            transpose(&x).unwrap().data(),
            array![[1.0, 4.0], [2.0, 5.0], [3.0, 6.0]].into_dyn()
        );
    }

    #[test]
    fn a_shape_of_another_size_or_too_large_is_an_error() {
        let x = V::from_array(ArrayD::zeros(vec![2, 3]));
        assert_eq!(
            reshape(&x, &[4]).unwrap_err(),
            Error::InvalidTarget {
                op: "reshape",
                from: vec![2, 3],
                to: vec![4]
            }
        );
        assert_eq!(
            reshape(&x, &[1 << 40, 1 << 40]).unwrap_err(),
            Error::TooLarge {
                op: "reshape",
                shape: vec![1 << 40, 1 << 40]
            }
        );
    }

    #[test]
    fn first_and_second_order_gradcheck() {
        let (a, b) = (positive(&[2, 3], 4), positive(&[2, 3], 5));
        check_both_orders(
            |x| mul(&reshape(&x[0], &[3, 2])?, &reshape(&x[1], &[3, 2])?),
            &[a.clone(), b.clone()],
        );
        check_both_orders(|x| mul(&transpose(&x[0])?, &transpose(&x[1])?), &[a, b]);
    }
}
