//! Small ops for testing the engine without autograd-ops (which depends on it).
#![allow(dead_code, unreachable_pub)]

use autograd_core::{Error, Function, Result, SharedArray};
use ndarray::ArrayD;

/// y = x²
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
        let mut gx = gys.remove(0);
        gx.zip_mut_with(&xs[0], |g, &x| *g *= 2.0 * x);
        Ok(vec![gx])
    }
}

/// y = x0 + x1 (same shapes)
pub struct Add;

impl Function for Add {
    fn name(&self) -> &'static str {
        "Add"
    }
    fn num_inputs(&self) -> usize {
        2
    }
    fn forward(&mut self, xs: &[SharedArray]) -> Result<Vec<SharedArray>> {
        if xs[0].shape() != xs[1].shape() {
            return Err(Error::ShapeMismatch {
                op: "Add",
                lhs: xs[0].shape().to_vec(),
                rhs: xs[1].shape().to_vec(),
            });
        }
        Ok(vec![(&xs[0] + &xs[1]).into_shared()])
    }
    fn backward(&self, _xs: &[SharedArray], mut gys: Vec<ArrayD<f64>>) -> Result<Vec<ArrayD<f64>>> {
        let gy = gys.remove(0);
        Ok(vec![gy.clone(), gy])
    }
}

/// (y0, y1) = (2x, 3x): two outputs.
pub struct Split;

impl Function for Split {
    fn name(&self) -> &'static str {
        "Split"
    }
    fn num_inputs(&self) -> usize {
        1
    }
    fn num_outputs(&self) -> usize {
        2
    }
    fn forward(&mut self, xs: &[SharedArray]) -> Result<Vec<SharedArray>> {
        Ok(vec![
            (&xs[0] * 2.0).into_shared(),
            (&xs[0] * 3.0).into_shared(),
        ])
    }
    fn backward(&self, _xs: &[SharedArray], gys: Vec<ArrayD<f64>>) -> Result<Vec<ArrayD<f64>>> {
        Ok(vec![&gys[0] * 2.0 + &gys[1] * 3.0])
    }
}

/// The ways a user-written op can get its counts and shapes wrong.
#[derive(Clone, Copy, Debug)]
pub enum Fault {
    /// forward returns two arrays for one declared output
    TooManyOutputs,
    /// backward returns no gradient
    NoGradient,
    /// backward returns a gradient of another shape
    WrongShape,
    /// backward reports an error of its own
    Fails,
}

/// y = x, with a fault.
pub struct Faulty(pub Fault);

impl Function for Faulty {
    fn name(&self) -> &'static str {
        "Faulty"
    }
    fn num_inputs(&self) -> usize {
        1
    }
    fn forward(&mut self, xs: &[SharedArray]) -> Result<Vec<SharedArray>> {
        let y = xs[0].to_owned().into_shared();
        match self.0 {
            Fault::TooManyOutputs => Ok(vec![y.clone(), y]),
            _ => Ok(vec![y]),
        }
    }
    fn backward(&self, _xs: &[SharedArray], gys: Vec<ArrayD<f64>>) -> Result<Vec<ArrayD<f64>>> {
        match self.0 {
            Fault::NoGradient => Ok(vec![]),
            Fault::WrongShape => Ok(vec![ArrayD::zeros(vec![7, 7])]),
            Fault::Fails => Err(Error::InvalidTarget {
                op: "Faulty",
                from: gys[0].shape().to_vec(),
                to: vec![],
            }),
            Fault::TooManyOutputs => Ok(gys),
        }
    }
}

/// Central difference of `f` at `x`, element by element.
pub fn numerical_grad(f: impl Fn(&ArrayD<f64>) -> f64, x: &ArrayD<f64>) -> ArrayD<f64> {
    let h = 1e-6;
    let mut grad = ArrayD::zeros(x.raw_dim());
    for (i, g) in grad.iter_mut().enumerate() {
        let mut plus = x.clone();
        let mut minus = x.clone();
        plus.as_slice_mut().unwrap()[i] += h;
        minus.as_slice_mut().unwrap()[i] -= h;
        *g = (f(&plus) - f(&minus)) / (2.0 * h);
    }
    grad
}

/// Asserts `a ≈ b` element-wise within `tol` (absolute, and relative to |b|).
pub fn assert_close(a: &ArrayD<f64>, b: &ArrayD<f64>, tol: f64) {
    assert_eq!(a.shape(), b.shape());
    for (x, y) in a.iter().zip(b) {
        assert!(
            (x - y).abs() <= tol * (1.0 + y.abs()),
            "{x} vs {y}\n{a}\n{b}"
        );
    }
}
