//! [`Square`]: `y = x²`.

use autograd_core::{Function, Result, SharedArray};
use ndarray::ArrayD;

/// `y = x²`, elementwise; `dy/dx = 2x`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Square;

impl Function for Square {
    fn name(&self) -> &'static str {
        "Square"
    }

    fn num_inputs(&self) -> usize {
        1
    }

    fn forward(&mut self, xs: &[SharedArray]) -> Result<Vec<SharedArray>> {
        Ok(vec![xs[0].mapv(|x| x * x).into_shared()])
    }

    fn backward(&self, xs: &[SharedArray], mut gys: Vec<ArrayD<f64>>) -> Result<Vec<ArrayD<f64>>> {
        // The output gradient is ours: multiply in place, no new buffer.
        let mut gx = gys.swap_remove(0);
        gx.zip_mut_with(&xs[0], |g, &x| *g *= 2.0 * x);
        Ok(vec![gx])
    }
}
