//! The arithmetic ops behind the operators on [`Variable`](crate::Variable).
//!
//! They live here rather than in `autograd-ops` for one reason: Rust's orphan
//! rule lets `impl std::ops::Add for &Variable` be written only in the crate
//! that defines `Variable`, and those impls need the op. `autograd-ops`
//! re-exports them beside the other ops.

use ndarray::ArrayD;

use crate::{Error, Function, Result, SharedArray};

/// `y = x0 + x1`, elementwise; both operands must have the same shape.
///
/// The gradient reaches both inputs unchanged.
#[derive(Debug, Clone, Copy, Default)]
pub struct Add;

impl Function for Add {
    fn name(&self) -> &'static str {
        "Add"
    }

    fn num_inputs(&self) -> usize {
        2
    }

    fn forward(&mut self, xs: &[SharedArray]) -> Result<Vec<SharedArray>> {
        let (x0, x1) = (&xs[0], &xs[1]);
        if x0.shape() != x1.shape() {
            return Err(Error::ShapeMismatch {
                op: self.name(),
                lhs: x0.shape().to_vec(),
                rhs: x1.shape().to_vec(),
            });
        }
        Ok(vec![(x0 + x1).into_shared()])
    }

    fn backward(&self, _xs: &[SharedArray], mut gys: Vec<ArrayD<f64>>) -> Result<Vec<ArrayD<f64>>> {
        let gy = gys.swap_remove(0);
        Ok(vec![gy.clone(), gy])
    }
}
