//! Reductions: [`Sum`], [`Mean`] (all elements or one axis), [`MaxAxis`],
//! [`MinAxis`], [`LogSumExp`] and `argmax`, their free functions and tests.
//! The inverse of summing, broadcasting, is [`BroadcastTo`] and [`SumTo`]
//! (defined in autograd-core, where the arithmetic ops need them).

use autograd_core::broadcast::broadcast_to;
use autograd_core::shape::element_count;
use autograd_core::{
    Error, Function, Grads, Result, Save, Saved, Strategy, Tensor, Tensors, Variable, apply_one,
};
use ndarray::{Axis, IxDyn};

pub use autograd_core::broadcast::{BroadcastTo, SumTo};

use crate::elementwise::exp;
use crate::shape_ops::reshape;
use autograd_core::arith::{mul, sub};

/// The sum of all elements, or along one axis; `keepdims` keeps the summed
/// axes with size 1 (as NumPy's `keepdims`).
#[derive(Debug, Clone, Copy, Default)]
pub struct Sum {
    /// The axis to sum along; `None` sums every element.
    pub axis: Option<usize>,
    /// Keep summed axes as size 1.
    pub keepdims: bool,
}

/// Which axes a reduction takes away, and whether it keeps them as size 1:
/// what [`Sum`], [`Mean`], [`MaxAxis`], [`MinAxis`] and [`LogSumExp`] share.
#[derive(Debug, Clone, Copy)]
struct Axes {
    op: &'static str,
    axis: Option<usize>,
    keepdims: bool,
}

impl Axes {
    /// `axis`, checked against `shape`.
    fn check(&self, shape: &[usize]) -> Result<()> {
        match self.axis {
            Some(axis) if axis >= shape.len() => Err(Error::InvalidAxis {
                op: self.op,
                axis,
                shape: shape.to_vec(),
            }),
            _ => Ok(()),
        }
    }

    /// The input's shape with the reduced axes kept as size 1: what the
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

    /// How many elements each output element reduces.
    fn count(&self, input: &[usize]) -> usize {
        match self.axis {
            Some(axis) => input[axis],
            None => input.iter().product(),
        }
    }

    /// `f` folded over the reduced elements from `init`, shaped as the
    /// output (`keepdims` or not).
    fn fold(&self, x: &Tensor, init: f64, f: impl Fn(f64, f64) -> f64) -> Result<Tensor> {
        let view = x.view();
        self.check(view.shape())?;
        let folded = match self.axis {
            Some(axis) => {
                // An empty input may reduce to a shape too large to hold.
                let mut shape = view.shape().to_vec();
                shape.remove(axis);
                element_count(self.op, &shape)?;
                view.fold_axis(Axis(axis), init, |&acc, &v| f(acc, v))
            }
            None => ndarray::arr0(view.iter().fold(init, |acc, &v| f(acc, v))).into_dyn(),
        };
        Ok(Tensor::from(self.shaped(folded, view.shape())))
    }

    /// A reduced array in the output's shape.
    fn shaped(&self, reduced: ndarray::ArrayD<f64>, input: &[usize]) -> ndarray::ArrayD<f64> {
        if self.keepdims {
            reduced
                .into_shape_with_order(IxDyn(&self.kept_shape(input)))
                .expect("the reduced axes kept as size 1")
        } else {
            reduced
        }
    }

    /// The gradient of the output spread back over the input's shape.
    fn spread<S: Strategy>(&self, gy: &Variable<S>, input: &[usize]) -> Result<Variable<S>> {
        broadcast_to(&reshape(gy, &self.kept_shape(input))?, input)
    }

    /// The output (as a tensor) in the kept shape, broadcast over the input.
    fn tensor_over_input(&self, y: &Tensor, input: &[usize]) -> Result<Tensor> {
        let kept = Tensor::from(
            y.clone()
                .into_array()
                .into_shape_with_order(IxDyn(&self.kept_shape(input)))
                .expect("as many elements"),
        );
        kept.broadcast_to(self.op, input)
    }
}

impl Sum {
    fn axes(&self) -> Axes {
        Axes {
            op: "sum",
            axis: self.axis,
            keepdims: self.keepdims,
        }
    }
}

impl<S: Strategy> Function<S> for Sum {
    fn name(&self) -> &'static str {
        "sum"
    }

    fn num_inputs(&self) -> usize {
        1
    }

    fn forward(&mut self, xs: &[Tensor]) -> Result<Tensors> {
        Ok(self.axes().fold(&xs[0], 0.0, |a, b| a + b)?.into())
    }

    fn save(&mut self, _save: &mut Save<'_>) {}

    /// The summed axes put back (size 1), then the gradient spread over them.
    fn derivative(&self, cx: &Saved<'_, S>, gys: &[Variable<S>]) -> Result<Grads<S>> {
        Ok(vec![Some(self.axes().spread(&gys[0], cx.input_shape(0))?)])
    }
}

/// The mean of all elements (a 0-d result), or along one axis; NaN for no
/// elements (0 / 0).
#[derive(Debug, Clone, Copy, Default)]
pub struct Mean {
    /// The axis to average along; `None` averages every element.
    pub axis: Option<usize>,
    /// Keep the averaged axes as size 1.
    pub keepdims: bool,
}

impl Mean {
    fn op(&self) -> &'static str {
        match self.axis {
            None => "mean",
            Some(_) => "mean_axis",
        }
    }

    fn axes(&self) -> Axes {
        Axes {
            op: self.op(),
            axis: self.axis,
            keepdims: self.keepdims,
        }
    }
}

impl<S: Strategy> Function<S> for Mean {
    fn name(&self) -> &'static str {
        self.op()
    }

    fn num_inputs(&self) -> usize {
        1
    }

    fn forward(&mut self, xs: &[Tensor]) -> Result<Tensors> {
        let axes = self.axes();
        let sum = axes.fold(&xs[0], 0.0, |a, b| a + b)?; // checks the axis
        let n = axes.count(xs[0].shape()) as f64;
        Ok(sum.into_map(|s| s / n).into())
    }

    fn save(&mut self, _save: &mut Save<'_>) {}

    fn derivative(&self, cx: &Saved<'_, S>, gys: &[Variable<S>]) -> Result<Grads<S>> {
        let shape = cx.input_shape(0);
        let n = self.axes().count(shape) as f64;
        let spread = self.axes().spread(&gys[0], shape)?;
        Ok(vec![Some(mul(&spread, &cx.scalar(1.0 / n))?)])
    }
}

/// The largest element along an axis (NaN if the axis holds one); the
/// gradient goes to the elements equal to it, shared evenly among ties (as
/// PyTorch's `amax`).
#[derive(Debug, Clone, Copy)]
pub struct MaxAxis {
    /// The axis.
    pub axis: usize,
    /// Keep the axis as size 1.
    pub keepdims: bool,
}

/// The smallest element along an axis; see [`MaxAxis`].
#[derive(Debug, Clone, Copy)]
pub struct MinAxis {
    /// The axis.
    pub axis: usize,
    /// Keep the axis as size 1.
    pub keepdims: bool,
}

/// The fold of a max or min that lets NaN win.
fn extremum(larger: bool) -> impl Fn(f64, f64) -> f64 {
    move |acc, v| {
        if acc.is_nan() || v.is_nan() {
            f64::NAN
        } else if larger {
            acc.max(v)
        } else {
            acc.min(v)
        }
    }
}

/// The forward of [`MaxAxis`] or [`MinAxis`]: an empty axis has no extremum.
fn extremum_forward(axes: Axes, larger: bool, x: &Tensor) -> Result<Tensors> {
    axes.check(x.shape())?;
    let axis = axes.axis.expect("one axis");
    if x.shape()[axis] == 0 {
        return Err(Error::EmptyAxis {
            op: axes.op,
            axis,
            shape: x.shape().to_vec(),
        });
    }
    let init = if larger {
        f64::NEG_INFINITY
    } else {
        f64::INFINITY
    };
    Ok(axes.fold(x, init, extremum(larger))?.into())
}

/// The derivative of [`MaxAxis`] or [`MinAxis`]: the spread gradient times
/// a constant mask of the elements equal to the extremum, each divided by
/// how many there are.
fn extremum_derivative<S: Strategy>(
    axes: Axes,
    cx: &Saved<'_, S>,
    gys: &[Variable<S>],
) -> Result<Grads<S>> {
    let x = cx.input_value(0)?;
    let shape = x.shape();
    let y = axes.tensor_over_input(&cx.output_value(0)?, shape)?;
    let hits = x.zip_with(axes.op, &y, |x, y| f64::from(u8::from(x == y)))?;
    let counts = Axes {
        keepdims: true,
        ..axes
    }
    .fold(&hits, 0.0, |a, b| a + b)?
    .broadcast_to(axes.op, shape)?;
    let share = hits.zip_with(axes.op, &counts, |h, n| h / n)?;
    let spread = axes.spread(&gys[0], shape)?;
    Ok(vec![Some(mul(&spread, &cx.constant(share))?)])
}

macro_rules! extremum_op {
    ($op:ident, $name:literal, $larger:expr) => {
        impl $op {
            fn axes(&self) -> Axes {
                Axes {
                    op: $name,
                    axis: Some(self.axis),
                    keepdims: self.keepdims,
                }
            }
        }

        impl<S: Strategy> Function<S> for $op {
            fn name(&self) -> &'static str {
                $name
            }

            fn num_inputs(&self) -> usize {
                1
            }

            fn forward(&mut self, xs: &[Tensor]) -> Result<Tensors> {
                extremum_forward(self.axes(), $larger, &xs[0])
            }

            fn save(&mut self, save: &mut Save<'_>) {
                save.input(0);
                save.output(0);
            }

            fn derivative(&self, cx: &Saved<'_, S>, gys: &[Variable<S>]) -> Result<Grads<S>> {
                extremum_derivative(self.axes(), cx, gys)
            }
        }
    };
}

extremum_op!(MaxAxis, "max_axis", true);
extremum_op!(MinAxis, "min_axis", false);

/// `y = ln Σ eˣ` along an axis, shifted by the maximum so that it neither
/// overflows nor underflows; `dy/dx = e^(x - y)` (the softmax), from the
/// saved input and output.
#[derive(Debug, Clone, Copy)]
pub struct LogSumExp {
    /// The axis.
    pub axis: usize,
    /// Keep the axis as size 1.
    pub keepdims: bool,
}

impl LogSumExp {
    fn axes(&self) -> Axes {
        Axes {
            op: "logsumexp",
            axis: Some(self.axis),
            keepdims: self.keepdims,
        }
    }
}

/// `ln Σ eˣ` along `axes`, kept shape, shifted by the (finite) maximum.
pub(crate) fn logsumexp_kept(op: &'static str, axis: usize, x: &Tensor) -> Result<Tensor> {
    let kept = Axes {
        op,
        axis: Some(axis),
        keepdims: true,
    };
    kept.check(x.shape())?;
    let max = kept
        .fold(x, f64::NEG_INFINITY, extremum(true))?
        .into_map(|m| if m.is_finite() { m } else { 0.0 });
    let shifted = x.zip_with(op, &max, |x, m| (x - m).exp())?;
    let sum = kept.fold(&shifted, 0.0, |a, b| a + b)?;
    sum.zip_with(op, &max, |s, m| m + s.ln())
}

impl<S: Strategy> Function<S> for LogSumExp {
    fn name(&self) -> &'static str {
        "logsumexp"
    }

    fn num_inputs(&self) -> usize {
        1
    }

    fn forward(&mut self, xs: &[Tensor]) -> Result<Tensors> {
        let kept = logsumexp_kept("logsumexp", self.axis, &xs[0])?.into_array();
        let y = match self.keepdims {
            true => kept,
            false => kept.remove_axis(Axis(self.axis)),
        };
        Ok(Tensor::from(y).into())
    }

    fn save(&mut self, save: &mut Save<'_>) {
        save.input(0);
        save.output(0);
    }

    fn derivative(&self, cx: &Saved<'_, S>, gys: &[Variable<S>]) -> Result<Grads<S>> {
        let axes = self.axes();
        let shape = cx.input_shape(0);
        let y = axes.spread(&cx.output(0)?, shape)?;
        let softmax = exp(&sub(&cx.input(0)?, &y)?)?;
        Ok(vec![Some(mul(&axes.spread(&gys[0], shape)?, &softmax)?)])
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

/// The mean of all elements, as a 0-dimensional variable (NaN for none).
///
/// # Errors
/// None for a well-formed variable; `Result` keeps every op's signature alike.
pub fn mean<S: Strategy>(x: &Variable<S>) -> Result<Variable<S>> {
    apply_one(Mean::default(), &[x])
}

/// The mean along `axis`; `keepdims` keeps it with size 1.
///
/// # Errors
/// [`Error::InvalidAxis`] when `axis` is out of range.
pub fn mean_axis<S: Strategy>(x: &Variable<S>, axis: usize, keepdims: bool) -> Result<Variable<S>> {
    apply_one(
        Mean {
            axis: Some(axis),
            keepdims,
        },
        &[x],
    )
}

/// The maximum along `axis`; ties share the gradient evenly.
///
/// # Errors
/// [`Error::InvalidAxis`] when `axis` is out of range, [`Error::EmptyAxis`]
/// when it has no elements.
pub fn max_axis<S: Strategy>(x: &Variable<S>, axis: usize, keepdims: bool) -> Result<Variable<S>> {
    apply_one(MaxAxis { axis, keepdims }, &[x])
}

/// The minimum along `axis`; ties share the gradient evenly.
///
/// # Errors
/// [`Error::InvalidAxis`] when `axis` is out of range, [`Error::EmptyAxis`]
/// when it has no elements.
pub fn min_axis<S: Strategy>(x: &Variable<S>, axis: usize, keepdims: bool) -> Result<Variable<S>> {
    apply_one(MinAxis { axis, keepdims }, &[x])
}

/// `ln Σ eˣ` along `axis`, stable for any values (`-∞` over an empty axis).
///
/// # Errors
/// [`Error::InvalidAxis`] when `axis` is out of range.
pub fn logsumexp<S: Strategy>(x: &Variable<S>, axis: usize, keepdims: bool) -> Result<Variable<S>> {
    apply_one(LogSumExp { axis, keepdims }, &[x])
}

/// The index of the largest element along `axis` (the first of ties; a NaN
/// counts as largest, as PyTorch's), for every position of the other axes,
/// in row-major order: for a 2-D input and `axis` 1, one per row. Not
/// differentiable: it returns indices, not a variable.
///
/// # Errors
/// [`Error::InvalidAxis`] when `axis` is out of range, [`Error::EmptyAxis`]
/// when it has no elements.
pub fn argmax<S: Strategy>(x: &Variable<S>, axis: usize) -> Result<Vec<usize>> {
    let value = x.tensor();
    let view = value.view();
    let axes = Axes {
        op: "argmax",
        axis: Some(axis),
        keepdims: false,
    };
    axes.check(view.shape())?;
    if view.shape()[axis] == 0 {
        return Err(Error::EmptyAxis {
            op: "argmax",
            axis,
            shape: view.shape().to_vec(),
        });
    }
    Ok(view
        .lanes(Axis(axis))
        .into_iter()
        .map(|lane| {
            let mut best = 0;
            for (i, &v) in lane.iter().enumerate() {
                let b = lane[best];
                if !b.is_nan() && (v.is_nan() || v > b) {
                    best = i;
                }
            }
            best
        })
        .collect())
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
                op: "sum",
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
