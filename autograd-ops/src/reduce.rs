//! Reductions: [`Sum`] (all elements or one axis), with its free functions
//! and tests. Its inverse, broadcasting, is [`BroadcastTo`] and [`SumTo`]
//! (defined in autograd-core, where the arithmetic ops need them).

use autograd_core::broadcast::broadcast_to;
use autograd_core::shape::element_count;
use autograd_core::{
    Error, Function, Grads, Result, Save, Saved, Strategy, Tensor, Tensors, Variable, apply_one,
};
use ndarray::{Axis, IxDyn};

pub use autograd_core::broadcast::{BroadcastTo, SumTo};

use crate::shape_ops::reshape;

/// The sum of all elements, or along one axis; `keepdims` keeps the summed
/// axes with size 1 (as NumPy's `keepdims`).
#[derive(Debug, Clone, Copy, Default)]
pub struct Sum {
    /// The axis to sum along; `None` sums every element.
    pub axis: Option<usize>,
    /// Keep summed axes as size 1.
    pub keepdims: bool,
}

impl Sum {
    /// The output's shape with the summed axes kept as size 1: what the
    /// gradient is reshaped to before it is spread back over the input.
    fn kept_shape(&self, input: &[usize]) -> Vec<usize> {
        match self.axis {
            Some(axis) => {
                let mut shape = input.to_vec();
                shape[axis] = 1;
                shape
            }
            None => vec![1; input.len()],
        }
    }
}

impl<S: Strategy> Function<S> for Sum {
    fn name(&self) -> &'static str {
        "Sum"
    }

    fn num_inputs(&self) -> usize {
        1
    }

    fn forward(&mut self, xs: &[Tensor]) -> Result<Tensors> {
        let x = xs[0].view();
        let y = match self.axis {
            Some(axis) if axis >= x.ndim() => {
                return Err(Error::InvalidAxis {
                    op: "Sum",
                    axis,
                    shape: x.shape().to_vec(),
                });
            }
            Some(axis) => {
                // An empty input may sum to a shape too large to hold.
                let mut shape = x.shape().to_vec();
                shape.remove(axis);
                element_count("Sum", &shape)?;
                x.sum_axis(Axis(axis))
            }
            None => ndarray::arr0(x.sum()).into_dyn(),
        };
        let y = if self.keepdims {
            y.into_shape_with_order(IxDyn(&self.kept_shape(x.shape())))
                .expect("the summed axes kept as size 1")
        } else {
            y
        };
        Ok(Tensor::from(y).into())
    }

    fn save(&mut self, _save: &mut Save<'_>) {}

    /// The summed axes put back (size 1), then the gradient spread over them.
    fn derivative(&self, cx: &Saved<'_, S>, gys: &[Variable<S>]) -> Result<Grads<S>> {
        let shape = cx.input_shape(0);
        let kept = reshape(&gys[0], &self.kept_shape(shape))?;
        Ok(vec![Some(broadcast_to(&kept, shape)?)])
    }
}

/// The sum of all elements, as a 0-dimensional variable.
///
/// # Errors
/// None for a well-formed variable; `Result` keeps every op's signature alike.
pub fn sum<S: Strategy>(x: &Variable<S>) -> Result<Variable<S>> {
    apply_one(Sum::default(), &[x])
}

/// The sum along `axis`; `keepdims` keeps it with size 1.
///
/// # Errors
/// [`Error::InvalidAxis`] when `axis` is out of range.
pub fn sum_axis<S: Strategy>(x: &Variable<S>, axis: usize, keepdims: bool) -> Result<Variable<S>> {
    apply_one(
        Sum {
            axis: Some(axis),
            keepdims,
        },
        &[x],
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{check_both_orders, positive};
    use autograd_core::broadcast::sum_to;
    use autograd_core::{BackwardOptions, RcWeak, arith::mul};
    use ndarray::{ArrayD, ShapeBuilder, array};

    type V = Variable<RcWeak>;

    #[test]
    fn closed_forms_and_keepdims() {
        let x = V::from_array(array![[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]);
        assert_eq!(
            sum_axis(&x, 0, false).unwrap().data(),
            array![5.0, 7.0, 9.0].into_dyn()
        );
        assert_eq!(sum_axis(&x, 1, true).unwrap().shape(), vec![2, 1]);
        let all = apply_one(
            Sum {
                axis: None,
                keepdims: true,
            },
            &[&x],
        )
        .unwrap();
        assert_eq!((all.shape(), all.item()), (vec![1, 1], Some(21.0)));
        sum(&x).unwrap().backward().unwrap();
        assert_eq!(x.grad().unwrap(), ArrayD::ones(vec![2, 3]));
    }

    #[test]
    fn an_axis_out_of_range_is_an_error() {
        let x = V::from_array(ArrayD::zeros(vec![2, 3]));
        assert_eq!(
            sum_axis(&x, 2, false).unwrap_err(),
            Error::InvalidAxis {
                op: "Sum",
                axis: 2,
                shape: vec![2, 3]
            }
        );
    }

    #[test]
    fn a_column_major_output_gradient_is_spread_right() {
        let x = V::from_array(ArrayD::ones(vec![2, 3, 4]));
        let y = sum_axis(&x, 1, false).unwrap(); // (2, 4)
        let seed =
            ArrayD::from_shape_vec(IxDyn(&[2, 4]).f(), (0..8).map(f64::from).collect()).unwrap();
        y.backward_with(BackwardOptions::default().with_grad(seed.clone()))
            .unwrap();
        let grad = x.grad().unwrap();
        for ((i, j, k), g) in grad
            .into_dimensionality::<ndarray::Ix3>()
            .unwrap()
            .indexed_iter()
        {
            assert_eq!(*g, seed[[i, k]], "at ({i}, {j}, {k})");
        }
    }

    #[test]
    fn first_and_second_order_gradcheck() {
        let a = positive(&[2, 3], 3);
        check_both_orders(|x| mul(&sum(&x[0])?, &x[0]), std::slice::from_ref(&a));
        check_both_orders(
            |x| mul(&sum_axis(&x[0], 1, true)?, &x[0]),
            std::slice::from_ref(&a),
        );
        check_both_orders(
            |x| mul(&sum_axis(&x[0], 0, false)?, &x[0]),
            std::slice::from_ref(&a),
        );
        check_both_orders(
            |x| sum_to(&mul(&x[0], &x[0])?, &[1, 3]),
            std::slice::from_ref(&a),
        );
        check_both_orders(|x| mul(&broadcast_to(&x[0], &[4, 2, 3])?, &x[0]), &[a]);
    }
}
