//! [`MatMul`]: the matrix product of two 2-D arrays.

use autograd_core::{Error, Function, Result, SharedArray};
use ndarray::{ArrayD, ArrayView2, Ix2};

/// `y = x0 · x1` for `x0` of shape `(m, k)` and `x1` of shape `(k, n)`;
/// `gx0 = gy · x1ᵀ`, `gx1 = x0ᵀ · gy`.
#[derive(Debug, Clone, Copy, Default)]
pub struct MatMul;

impl MatMul {
    /// Both operands as matrices, or an error naming both shapes.
    fn matrices<'a>(
        &self,
        xs: &'a [SharedArray],
    ) -> Result<(ArrayView2<'a, f64>, ArrayView2<'a, f64>)> {
        let mismatch = || Error::ShapeMismatch {
            op: "MatMul",
            lhs: xs[0].shape().to_vec(),
            rhs: xs[1].shape().to_vec(),
        };
        let a = xs[0]
            .view()
            .into_dimensionality::<Ix2>()
            .map_err(|_| mismatch())?;
        let b = xs[1]
            .view()
            .into_dimensionality::<Ix2>()
            .map_err(|_| mismatch())?;
        if a.ncols() != b.nrows() {
            return Err(mismatch());
        }
        Ok((a, b))
    }
}

impl Function for MatMul {
    fn name(&self) -> &'static str {
        "MatMul"
    }

    fn num_inputs(&self) -> usize {
        2
    }

    fn forward(&mut self, xs: &[SharedArray]) -> Result<Vec<SharedArray>> {
        let (a, b) = self.matrices(xs)?;
        Ok(vec![a.dot(&b).into_dyn().into_shared()])
    }

    fn backward(&self, xs: &[SharedArray], mut gys: Vec<ArrayD<f64>>) -> Result<Vec<ArrayD<f64>>> {
        let (a, b) = self.matrices(xs)?;
        let gy = gys.swap_remove(0);
        let gy = gy
            .view()
            .into_dimensionality::<Ix2>()
            .map_err(|_| Error::GradientShape {
                op: "MatMul",
                index: 0,
                expected: vec![a.nrows(), b.ncols()],
                got: gy.shape().to_vec(),
            })?;
        Ok(vec![gy.dot(&b.t()).into_dyn(), a.t().dot(&gy).into_dyn()])
    }
}
