//! Picking and joining: [`IndexSelect`] and its backward [`IndexAdd`],
//! [`Narrow`], [`Concat`], their free functions, and their tests.
//!
//! Each backward is itself made of these ops (an index-add for
//! `index_select`, whose own backward is `index_select`; an index-add of a
//! range for `narrow`; `narrow` for `concat`), so every order follows.

use autograd_core::shape::element_count;
use autograd_core::{
    Error, Function, Grads, Result, Save, Saved, Strategy, Tensor, Tensors, Variable, apply_one,
};
use ndarray::{ArrayD, ArrayViewD, Axis, IxDyn, Slice};

/// `axis`, checked against `shape`.
fn check_axis(op: &'static str, axis: usize, shape: &[usize]) -> Result<()> {
    if axis < shape.len() {
        Ok(())
    } else {
        Err(Error::InvalidAxis {
            op,
            axis,
            shape: shape.to_vec(),
        })
    }
}

/// Every index checked against the axis's length.
fn check_indices(op: &'static str, axis: usize, len: usize, indices: &[usize]) -> Result<()> {
    match indices.iter().find(|&&i| i >= len) {
        Some(&index) => Err(Error::IndexOutOfRange {
            op,
            index,
            axis,
            len,
        }),
        None => Ok(()),
    }
}

/// The slices of `x` at `indices` along `axis`, in that order (repeats
/// allowed): PyTorch's `index_select`. Its gradient adds each slice's
/// gradient back at its index ([`IndexAdd`]), so repeats add up.
#[derive(Debug, Clone)]
pub struct IndexSelect {
    /// The axis to pick along.
    pub axis: usize,
    /// The positions picked.
    pub indices: Vec<usize>,
}

impl<S: Strategy> Function<S> for IndexSelect {
    fn name(&self) -> &'static str {
        "index_select"
    }

    fn num_inputs(&self) -> usize {
        1
    }

    fn heap_size(&self) -> usize {
        self.indices.capacity() * size_of::<usize>()
    }

    fn forward(&mut self, xs: &[Tensor]) -> Result<Tensors> {
        let x = xs[0].view();
        check_axis("index_select", self.axis, x.shape())?;
        check_indices(
            "index_select",
            self.axis,
            x.shape()[self.axis],
            &self.indices,
        )?;
        Ok(Tensor::from(x.select(Axis(self.axis), &self.indices)).into())
    }

    fn save(&mut self, _save: &mut Save<'_>) {}

    fn derivative(&self, cx: &Saved<'_, S>, gys: &[Variable<S>]) -> Result<Grads<S>> {
        let size = cx.input_shape(0)[self.axis];
        Ok(vec![Some(index_add(
            &gys[0],
            self.axis,
            &self.indices,
            size,
        )?)])
    }
}

/// Zeros with `size` positions along `axis`, and slice `j` of the input
/// added at position `indices[j]` (repeats add up): the backward of
/// [`IndexSelect`] and [`Narrow`]. Its own backward is [`IndexSelect`].
#[derive(Debug, Clone)]
pub struct IndexAdd {
    /// The axis.
    pub axis: usize,
    /// Where each slice of the input goes, one per slice.
    pub indices: Vec<usize>,
    /// The output's length along `axis`.
    pub size: usize,
}

impl<S: Strategy> Function<S> for IndexAdd {
    fn name(&self) -> &'static str {
        "index_add"
    }

    fn num_inputs(&self) -> usize {
        1
    }

    fn heap_size(&self) -> usize {
        self.indices.capacity() * size_of::<usize>()
    }

    fn forward(&mut self, xs: &[Tensor]) -> Result<Tensors> {
        let x = xs[0].view();
        check_axis("index_add", self.axis, x.shape())?;
        if x.shape()[self.axis] != self.indices.len() {
            return Err(Error::InvalidTarget {
                op: "index_add",
                from: x.shape().to_vec(),
                to: vec![self.indices.len()],
            });
        }
        check_indices("index_add", self.axis, self.size, &self.indices)?;
        let mut shape = x.shape().to_vec();
        shape[self.axis] = self.size;
        element_count("index_add", &shape)?;
        let mut y = ArrayD::<f64>::zeros(IxDyn(&shape));
        for (j, &index) in self.indices.iter().enumerate() {
            let mut target = y.index_axis_mut(Axis(self.axis), index);
            target += &x.index_axis(Axis(self.axis), j);
        }
        Ok(Tensor::from(y).into())
    }

    fn save(&mut self, _save: &mut Save<'_>) {}

    fn derivative(&self, _cx: &Saved<'_, S>, gys: &[Variable<S>]) -> Result<Grads<S>> {
        Ok(vec![Some(index_select(&gys[0], self.axis, &self.indices)?)])
    }
}

/// `len` positions of `x` from `start` along `axis` (PyTorch's `narrow`);
/// the gradient is put back in place, zeros around it.
#[derive(Debug, Clone, Copy)]
pub struct Narrow {
    /// The axis.
    pub axis: usize,
    /// The first position kept.
    pub start: usize,
    /// How many positions are kept.
    pub len: usize,
}

/// `x`'s positions `start..start + len` along `axis`.
fn narrowed(x: ArrayViewD<'_, f64>, axis: usize, start: usize, len: usize) -> Tensor {
    let slice = Slice::from(start..start + len);
    Tensor::from(x.slice_axis(Axis(axis), slice).to_owned())
}

impl<S: Strategy> Function<S> for Narrow {
    fn name(&self) -> &'static str {
        "narrow"
    }

    fn num_inputs(&self) -> usize {
        1
    }

    fn forward(&mut self, xs: &[Tensor]) -> Result<Tensors> {
        let x = xs[0].view();
        check_axis("narrow", self.axis, x.shape())?;
        let size = x.shape()[self.axis];
        if self
            .start
            .checked_add(self.len)
            .is_none_or(|end| end > size)
        {
            return Err(Error::RangeOutOfBounds {
                op: "narrow",
                axis: self.axis,
                start: self.start,
                len: self.len,
                size,
            });
        }
        Ok(narrowed(x, self.axis, self.start, self.len).into())
    }

    fn save(&mut self, _save: &mut Save<'_>) {}

    fn derivative(&self, cx: &Saved<'_, S>, gys: &[Variable<S>]) -> Result<Grads<S>> {
        let size = cx.input_shape(0)[self.axis];
        let places: Vec<usize> = (self.start..self.start + self.len).collect();
        Ok(vec![Some(index_add(&gys[0], self.axis, &places, size)?)])
    }
}

/// The inputs joined along `axis`; every other axis must agree. Each
/// input's gradient is its part of the output's, cut out with `narrow`.
#[derive(Debug, Clone, Copy)]
pub struct Concat {
    /// The axis to join along.
    pub axis: usize,
    /// How many inputs.
    pub inputs: usize,
}

impl<S: Strategy> Function<S> for Concat {
    fn name(&self) -> &'static str {
        "concat"
    }

    fn num_inputs(&self) -> usize {
        self.inputs
    }

    fn forward(&mut self, xs: &[Tensor]) -> Result<Tensors> {
        let Some(first) = xs.first() else {
            return Err(Error::NoInputs { op: "concat" });
        };
        check_axis("concat", self.axis, first.shape())?;
        let off_axis = |shape: &[usize]| {
            let mut shape = shape.to_vec();
            shape.remove(self.axis);
            shape
        };
        for x in &xs[1..] {
            if x.ndim() != first.ndim() || off_axis(x.shape()) != off_axis(first.shape()) {
                return Err(Error::ShapeMismatch {
                    op: "concat",
                    lhs: first.shape().to_vec(),
                    rhs: x.shape().to_vec(),
                });
            }
        }
        let mut shape = first.shape().to_vec();
        shape[self.axis] = xs
            .iter()
            .try_fold(0usize, |total, x| total.checked_add(x.shape()[self.axis]))
            .ok_or_else(|| Error::TooLarge {
                op: "concat",
                shape: first.shape().to_vec(),
            })?;
        element_count("concat", &shape)?;
        let views: Vec<ArrayViewD<'_, f64>> = xs.iter().map(Tensor::view).collect();
        let joined = ndarray::concatenate(Axis(self.axis), &views).expect("shapes checked");
        Ok(Tensor::from(joined).into())
    }

    fn save(&mut self, _save: &mut Save<'_>) {}

    fn derivative(&self, cx: &Saved<'_, S>, gys: &[Variable<S>]) -> Result<Grads<S>> {
        let mut start = 0;
        (0..cx.num_inputs())
            .map(|i| {
                let len = cx.input_shape(i)[self.axis];
                let at = start;
                start += len;
                cx.grad(i, || narrow(&gys[0], self.axis, at, len))
            })
            .collect()
    }
}

/// The slices of `x` at `indices` along `axis`, repeats allowed.
///
/// # Errors
/// [`Error::InvalidAxis`] for an axis out of range,
/// [`Error::IndexOutOfRange`] for an index past the axis's end.
pub fn index_select<S: Strategy>(
    x: &Variable<S>,
    axis: usize,
    indices: &[usize],
) -> Result<Variable<S>> {
    let op = IndexSelect {
        axis,
        indices: indices.to_vec(),
    };
    apply_one(op, &[x])
}

/// Slice `j` of `x` added at position `indices[j]` of zeros with `size`
/// positions along `axis` (the backward of [`index_select`]).
///
/// # Errors
/// [`Error::InvalidAxis`] for an axis out of range, [`Error::InvalidTarget`]
/// unless there is one index per slice, [`Error::IndexOutOfRange`] for an
/// index not below `size`.
pub fn index_add<S: Strategy>(
    x: &Variable<S>,
    axis: usize,
    indices: &[usize],
    size: usize,
) -> Result<Variable<S>> {
    let op = IndexAdd {
        axis,
        indices: indices.to_vec(),
        size,
    };
    apply_one(op, &[x])
}

/// `len` positions of `x` along `axis`, from `start`.
///
/// # Errors
/// [`Error::InvalidAxis`] for an axis out of range,
/// [`Error::RangeOutOfBounds`] when the range runs past the end.
pub fn narrow<S: Strategy>(
    x: &Variable<S>,
    axis: usize,
    start: usize,
    len: usize,
) -> Result<Variable<S>> {
    apply_one(Narrow { axis, start, len }, &[x])
}

/// The variables joined along `axis` (NumPy's `concatenate`).
///
/// # Errors
/// [`Error::NoInputs`] for an empty list, [`Error::InvalidAxis`] for an
/// axis out of range, [`Error::ShapeMismatch`] naming `concat` when the
/// shapes differ off the axis.
pub fn concat<S: Strategy>(xs: &[&Variable<S>], axis: usize) -> Result<Variable<S>> {
    if xs.is_empty() {
        return Err(Error::NoInputs { op: "concat" });
    }
    let op = Concat {
        axis,
        inputs: xs.len(),
    };
    apply_one(op, xs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{check_both_orders, positive};
    use autograd_core::RcWeak;
    use ndarray::array;

    type V = Variable<RcWeak>;

    #[test]
    fn repeated_indices_add_their_gradients() {
        let x = V::from_array(array![[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]);
        let y = index_select(&x, 0, &[2, 0, 2]).unwrap();
        assert_eq!(
            y.data(),
            array![[5.0, 6.0], [1.0, 2.0], [5.0, 6.0]].into_dyn()
        );
        y.backward().unwrap();
        assert_eq!(
            x.grad().unwrap(),
            array![[1.0, 1.0], [0.0, 0.0], [2.0, 2.0]].into_dyn()
        );
    }

    #[test]
    fn narrow_and_concat_put_the_gradient_back_in_place() {
        let x = V::from_array(array![[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]);
        let y = narrow(&x, 1, 1, 2).unwrap();
        assert_eq!(y.data(), array![[2.0, 3.0], [5.0, 6.0]].into_dyn());
        y.backward().unwrap();
        assert_eq!(
            x.grad().unwrap(),
            array![[0.0, 1.0, 1.0], [0.0, 1.0, 1.0]].into_dyn()
        );
        let a = V::from_array(array![[1.0], [2.0]]);
        let j = concat(&[&a, &x], 1).unwrap();
        assert_eq!(j.shape(), vec![2, 4]);
        let w = V::from_array(array![[1.0, 2.0, 3.0, 4.0]]);
        (&j * &w).backward().unwrap();
        assert_eq!(a.grad().unwrap(), array![[1.0], [1.0]].into_dyn());
    }

    #[test]
    fn bad_indices_ranges_and_shapes_are_errors_naming_the_op() {
        let x = V::from_array(ArrayD::zeros(vec![2, 3]));
        assert_eq!(
            index_select(&x, 1, &[0, 3]).unwrap_err(),
            Error::IndexOutOfRange {
                op: "index_select",
                index: 3,
                axis: 1,
                len: 3
            }
        );
        assert_eq!(
            narrow(&x, 1, 2, 2).unwrap_err(),
            Error::RangeOutOfBounds {
                op: "narrow",
                axis: 1,
                start: 2,
                len: 2,
                size: 3
            }
        );
        assert!(matches!(
            narrow(&x, 0, usize::MAX, 2),
            Err(Error::RangeOutOfBounds { .. })
        ));
        let y = V::from_array(ArrayD::zeros(vec![3, 3]));
        assert_eq!(
            concat(&[&x, &y], 1).unwrap_err(),
            Error::ShapeMismatch {
                op: "concat",
                lhs: vec![2, 3],
                rhs: vec![3, 3]
            }
        );
        assert_eq!(
            concat::<RcWeak>(&[], 0).unwrap_err(),
            Error::NoInputs { op: "concat" }
        );
        assert!(matches!(
            index_select(&x, 2, &[0]),
            Err(Error::InvalidAxis { .. })
        ));
    }

    #[test]
    fn first_and_second_order_gradcheck() {
        let a = positive(&[3, 2], 4);
        // Squared, so that the second derivative is not zero.
        check_both_orders(
            |x| crate::square(&index_select(&x[0], 0, &[2, 0, 2])?),
            std::slice::from_ref(&a),
        );
        check_both_orders(
            |x| crate::square(&narrow(&x[0], 0, 1, 2)?),
            std::slice::from_ref(&a),
        );
        check_both_orders(
            |x| crate::square(&index_add(&x[0], 1, &[1, 1], 3)?),
            std::slice::from_ref(&a),
        );
        let b = positive(&[3, 1], 5);
        check_both_orders(|x| crate::square(&concat(&[&x[0], &x[1]], 1)?), &[a, b]);
    }
}
