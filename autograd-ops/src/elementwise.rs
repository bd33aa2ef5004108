//! Elementwise ops of one input: [`Square`], [`Pow`], [`Exp`], [`Log`].

use autograd_core::{Function, Result, SharedArray};
use ndarray::ArrayD;

/// Declares a one-input op's name and arity.
macro_rules! unary_op {
    ($name:literal) => {
        fn name(&self) -> &'static str {
            $name
        }

        fn num_inputs(&self) -> usize {
            1
        }
    };
}

/// `y = x²`; `dy/dx = 2x`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Square;

impl Function for Square {
    unary_op!("Square");

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

/// `y = xᶜ` for a constant exponent `c`; `dy/dx = c·xᶜ⁻¹`.
#[derive(Debug, Clone, Copy)]
pub struct Pow {
    /// The exponent `c`.
    pub exponent: f64,
}

impl Function for Pow {
    unary_op!("Pow");

    fn forward(&mut self, xs: &[SharedArray]) -> Result<Vec<SharedArray>> {
        let c = self.exponent;
        Ok(vec![xs[0].mapv(|x| x.powf(c)).into_shared()])
    }

    fn backward(&self, xs: &[SharedArray], mut gys: Vec<ArrayD<f64>>) -> Result<Vec<ArrayD<f64>>> {
        let c = self.exponent;
        let mut gx = gys.swap_remove(0);
        if c == 0.0 {
            // x⁰ is constant: the gradient is 0, also at x = 0 (not 0·∞).
            gx.fill(0.0);
        } else {
            gx.zip_mut_with(&xs[0], |g, &x| *g *= c * x.powf(c - 1.0));
        }
        Ok(vec![gx])
    }
}

/// `y = eˣ`; `dy/dx = y`, kept from forward (the buffer is shared, not copied).
#[derive(Debug, Clone, Default)]
pub struct Exp {
    output: Option<SharedArray>,
}

impl Function for Exp {
    unary_op!("Exp");

    fn forward(&mut self, xs: &[SharedArray]) -> Result<Vec<SharedArray>> {
        let y = xs[0].mapv(f64::exp).into_shared();
        self.output = Some(y.clone());
        Ok(vec![y])
    }

    fn backward(&self, xs: &[SharedArray], mut gys: Vec<ArrayD<f64>>) -> Result<Vec<ArrayD<f64>>> {
        let mut gx = gys.swap_remove(0);
        match &self.output {
            Some(y) => gx.zip_mut_with(y, |g, &y| *g *= y),
            None => gx.zip_mut_with(&xs[0], |g, &x| *g *= x.exp()),
        }
        Ok(vec![gx])
    }
}

/// `y = ln x`; `dy/dx = 1/x`. Non-positive inputs give NaN or -∞, as IEEE 754 says.
#[derive(Debug, Clone, Copy, Default)]
pub struct Log;

impl Function for Log {
    unary_op!("Log");

    fn forward(&mut self, xs: &[SharedArray]) -> Result<Vec<SharedArray>> {
        Ok(vec![xs[0].mapv(f64::ln).into_shared()])
    }

    fn backward(&self, xs: &[SharedArray], mut gys: Vec<ArrayD<f64>>) -> Result<Vec<ArrayD<f64>>> {
        let mut gx = gys.swap_remove(0);
        gx.zip_mut_with(&xs[0], |g, &x| *g /= x);
        Ok(vec![gx])
    }
}
