//! Broadcasting and its inverse as ops, [`BroadcastTo`] and [`SumTo`]: each
//! is the other's backward. Here in autograd-core because the arithmetic
//! ops' variable-level backward needs them; autograd-ops re-exports them.

use autograd_mem::Strategy;

use crate::shape::element_count;
use crate::{Function, Grads, Result, Save, Saved, Tensor, Tensors, Variable, apply_one};

/// Sums an array down to `shape` (the inverse of broadcasting).
#[derive(Debug, Clone)]
pub struct SumTo {
    /// The target shape; it must broadcast to the input's shape.
    pub shape: Vec<usize>,
}

impl<S: Strategy> Function<S> for SumTo {
    fn name(&self) -> &'static str {
        "sum_to"
    }

    fn num_inputs(&self) -> usize {
        1
    }

    fn forward(&mut self, xs: &[Tensor]) -> Result<Tensors> {
        Ok(xs[0].clone().sum_to("sum_to", &self.shape)?.into())
    }

    fn heap_size(&self) -> usize {
        self.shape.capacity() * std::mem::size_of::<usize>()
    }

    fn save(&mut self, _save: &mut Save<'_>) {}

    fn derivative(&self, cx: &Saved<'_, S>, gys: &[Variable<S>]) -> Result<Grads<S>> {
        Ok(vec![Some(broadcast_to(&gys[0], cx.input_shape(0))?)])
    }
}

/// Repeats an array along new or size-1 axes to `shape`, as NumPy broadcasts.
#[derive(Debug, Clone)]
pub struct BroadcastTo {
    /// The target shape.
    pub shape: Vec<usize>,
}

impl<S: Strategy> Function<S> for BroadcastTo {
    fn name(&self) -> &'static str {
        "broadcast_to"
    }

    fn num_inputs(&self) -> usize {
        1
    }

    fn forward(&mut self, xs: &[Tensor]) -> Result<Tensors> {
        Ok(xs[0].broadcast_to("broadcast_to", &self.shape)?.into())
    }

    fn heap_size(&self) -> usize {
        self.shape.capacity() * std::mem::size_of::<usize>()
    }

    fn save(&mut self, _save: &mut Save<'_>) {}

    fn derivative(&self, cx: &Saved<'_, S>, gys: &[Variable<S>]) -> Result<Grads<S>> {
        Ok(vec![Some(sum_to(&gys[0], cx.input_shape(0))?)])
    }
}

/// `x` summed down to `shape` (the inverse of broadcasting).
///
/// # Errors
/// [`Error::InvalidTarget`](crate::Error::InvalidTarget) when `shape` does not broadcast to `x`'s shape.
pub fn sum_to<S: Strategy>(x: &Variable<S>, shape: &[usize]) -> Result<Variable<S>> {
    apply_one(
        SumTo {
            shape: shape.to_vec(),
        },
        &[x],
    )
}

/// `x` broadcast to `shape`.
///
/// # Errors
/// [`Error::InvalidTarget`](crate::Error::InvalidTarget) when `x` does not
/// broadcast to `shape`, and [`Error::TooLarge`](crate::Error::TooLarge) when `shape` has more elements than fit in memory.
pub fn broadcast_to<S: Strategy>(x: &Variable<S>, shape: &[usize]) -> Result<Variable<S>> {
    element_count("broadcast_to", shape)?;
    apply_one(
        BroadcastTo {
            shape: shape.to_vec(),
        },
        &[x],
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Error, RcWeak};
    use ndarray::array;

    #[test]
    fn each_is_the_others_backward() {
        let x = Variable::<RcWeak>::from_array(array![[1.0, 2.0, 3.0]]);
        let y = broadcast_to(&x, &[4, 1, 3]).unwrap();
        assert_eq!(y.shape(), vec![4, 1, 3]);
        y.backward().unwrap();
        assert_eq!(x.grad().unwrap(), array![[4.0, 4.0, 4.0]].into_dyn());
        let x = Variable::<RcWeak>::from_array(ndarray::Array2::<f64>::ones((2, 3)));
        let y = sum_to(&x, &[3]).unwrap();
        assert_eq!(y.data(), array![2.0, 2.0, 2.0].into_dyn());
        y.backward().unwrap();
        assert_eq!(x.grad().unwrap(), ndarray::ArrayD::<f64>::ones(vec![2, 3]));
    }

    #[test]
    fn a_target_too_large_to_hold_is_an_error_not_a_panic() {
        let x = Variable::<RcWeak>::from_scalar(1.0);
        assert_eq!(
            broadcast_to(&x, &[1 << 31, 1 << 31]).unwrap_err(),
            Error::TooLarge {
                op: "broadcast_to",
                shape: vec![1 << 31, 1 << 31]
            }
        );
        assert!(matches!(
            broadcast_to(&x, &[usize::MAX, 2]),
            Err(Error::TooLarge { .. })
        ));
    }
}
