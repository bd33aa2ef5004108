//! Ops that move elements without changing them: [`Reshape`], [`Transpose`].

use autograd_core::{Error, Function, Result, SharedArray};
use ndarray::{ArrayD, IxDyn};

/// The same elements in row-major order, in another shape.
#[derive(Debug, Clone)]
pub struct Reshape {
    /// The new shape; it must hold as many elements as the input.
    pub shape: Vec<usize>,
}

/// `x` in `shape`, row-major, or an error naming `op` and both shapes.
fn reshape(op: &'static str, x: ArrayD<f64>, shape: &[usize]) -> Result<ArrayD<f64>> {
    let from = x.shape().to_vec();
    x.into_shape_with_order(IxDyn(shape))
        .map_err(|_| Error::InvalidTarget {
            op,
            from,
            to: shape.to_vec(),
        })
}

impl Function for Reshape {
    fn name(&self) -> &'static str {
        "Reshape"
    }

    fn num_inputs(&self) -> usize {
        1
    }

    fn forward(&mut self, xs: &[SharedArray]) -> Result<Vec<SharedArray>> {
        let y = reshape(
            self.name(),
            xs[0].as_standard_layout().into_owned(),
            &self.shape,
        )?;
        Ok(vec![y.into_shared()])
    }

    fn backward(&self, xs: &[SharedArray], mut gys: Vec<ArrayD<f64>>) -> Result<Vec<ArrayD<f64>>> {
        let gy = gys.swap_remove(0).as_standard_layout().into_owned();
        Ok(vec![reshape(self.name(), gy, xs[0].shape())?])
    }
}

/// Reverses the order of the axes (the matrix transpose in 2-D).
#[derive(Debug, Clone, Copy, Default)]
pub struct Transpose;

impl Function for Transpose {
    fn name(&self) -> &'static str {
        "Transpose"
    }

    fn num_inputs(&self) -> usize {
        1
    }

    fn forward(&mut self, xs: &[SharedArray]) -> Result<Vec<SharedArray>> {
        Ok(vec![
            xs[0].t().as_standard_layout().into_owned().into_shared(),
        ])
    }

    fn backward(&self, _xs: &[SharedArray], mut gys: Vec<ArrayD<f64>>) -> Result<Vec<ArrayD<f64>>> {
        Ok(vec![
            gys.swap_remove(0)
                .reversed_axes()
                .as_standard_layout()
                .into_owned(),
        ])
    }
}
