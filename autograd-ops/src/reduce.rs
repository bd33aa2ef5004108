//! Reductions and their inverse: [`Sum`], [`SumTo`], [`BroadcastTo`].
//!
//! Each is the other's backward: summing an axis spreads the gradient back
//! over it, and broadcasting sums the gradient back to the input's shape.

use autograd_core::shape::{broadcast_to, sum_to};
use autograd_core::{Error, Function, Result, SharedArray};
use ndarray::{ArrayD, Axis, IxDyn};

/// The sum of all elements, or along one axis; `keepdims` keeps the summed
/// axes with size 1 (as NumPy's `keepdims`).
#[derive(Debug, Clone, Copy, Default)]
pub struct Sum {
    /// The axis to sum along; `None` sums every element.
    pub axis: Option<usize>,
    /// Keep summed axes as size 1.
    pub keepdims: bool,
}

impl Function for Sum {
    fn name(&self) -> &'static str {
        "Sum"
    }

    fn num_inputs(&self) -> usize {
        1
    }

    fn forward(&mut self, xs: &[SharedArray]) -> Result<Vec<SharedArray>> {
        let x = &xs[0];
        let y = match self.axis {
            Some(axis) if axis >= x.ndim() => {
                return Err(Error::InvalidAxis {
                    op: self.name(),
                    axis,
                    shape: x.shape().to_vec(),
                });
            }
            Some(axis) => x.sum_axis(Axis(axis)),
            None => ndarray::arr0(x.sum()).into_dyn(),
        };
        let y = match (self.axis, self.keepdims) {
            (Some(axis), true) => y.insert_axis(Axis(axis)),
            (None, true) => y
                .into_shape_with_order(IxDyn(&vec![1; x.ndim()]))
                .map_err(|_| Error::InvalidTarget {
                    op: "Sum",
                    from: vec![],
                    to: vec![1; x.ndim()],
                })?,
            (_, false) => y,
        };
        Ok(vec![y.into_shared()])
    }

    fn backward(&self, xs: &[SharedArray], mut gys: Vec<ArrayD<f64>>) -> Result<Vec<ArrayD<f64>>> {
        // Put the summed axis back (size 1), then spread the gradient over it.
        let gy = match (self.axis, self.keepdims) {
            (Some(axis), false) => gys.swap_remove(0).insert_axis(Axis(axis)),
            _ => gys.swap_remove(0),
        };
        Ok(vec![broadcast_to(self.name(), &gy.view(), xs[0].shape())?])
    }
}

/// Sums an array down to `shape` (the inverse of broadcasting).
#[derive(Debug, Clone)]
pub struct SumTo {
    /// The target shape; it must broadcast to the input's shape.
    pub shape: Vec<usize>,
}

impl Function for SumTo {
    fn name(&self) -> &'static str {
        "SumTo"
    }

    fn num_inputs(&self) -> usize {
        1
    }

    fn forward(&mut self, xs: &[SharedArray]) -> Result<Vec<SharedArray>> {
        let y = sum_to(self.name(), xs[0].to_owned(), &self.shape)?;
        Ok(vec![y.into_shared()])
    }

    fn backward(&self, xs: &[SharedArray], mut gys: Vec<ArrayD<f64>>) -> Result<Vec<ArrayD<f64>>> {
        let gy = gys.swap_remove(0);
        Ok(vec![broadcast_to(self.name(), &gy.view(), xs[0].shape())?])
    }
}

/// Repeats an array along new or size-1 axes to `shape`, as NumPy broadcasts.
#[derive(Debug, Clone)]
pub struct BroadcastTo {
    /// The target shape.
    pub shape: Vec<usize>,
}

impl Function for BroadcastTo {
    fn name(&self) -> &'static str {
        "BroadcastTo"
    }

    fn num_inputs(&self) -> usize {
        1
    }

    fn forward(&mut self, xs: &[SharedArray]) -> Result<Vec<SharedArray>> {
        Ok(vec![
            broadcast_to(self.name(), &xs[0].view(), &self.shape)?.into_shared(),
        ])
    }

    fn backward(&self, xs: &[SharedArray], mut gys: Vec<ArrayD<f64>>) -> Result<Vec<ArrayD<f64>>> {
        Ok(vec![sum_to(
            self.name(),
            gys.swap_remove(0),
            xs[0].shape(),
        )?])
    }
}
