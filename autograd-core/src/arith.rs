//! The arithmetic ops behind the operators on [`Variable`](crate::Variable):
//! `+ - * /` and unary `-`, broadcasting as NumPy does.
//!
//! They live here rather than in `autograd-ops` for one reason: Rust's orphan
//! rule lets `impl std::ops::Add for &Variable` be written only in the crate
//! that defines `Variable`, and those impls need the ops. `autograd-ops`
//! re-exports them beside the other ops.

use ndarray::{ArrayD, Zip};

use crate::shape::{broadcast_shapes, sum_to};
use crate::{Function, Result, SharedArray};

/// Declares a two-input op's name and arity.
macro_rules! binary_op {
    ($name:literal) => {
        fn name(&self) -> &'static str {
            $name
        }

        fn num_inputs(&self) -> usize {
            2
        }
    };
}

/// Checks that the operands broadcast together.
fn check(op: &'static str, xs: &[SharedArray]) -> Result<()> {
    broadcast_shapes(op, xs[0].shape(), xs[1].shape()).map(drop)
}

/// The two inputs' gradients, each summed back to its input's shape.
fn to_inputs(
    op: &'static str,
    xs: &[SharedArray],
    g0: ArrayD<f64>,
    g1: ArrayD<f64>,
) -> Result<Vec<ArrayD<f64>>> {
    Ok(vec![
        sum_to(op, g0, xs[0].shape())?,
        sum_to(op, g1, xs[1].shape())?,
    ])
}

/// `y = x0 + x1`. The gradient reaches both inputs unchanged.
#[derive(Debug, Clone, Copy, Default)]
pub struct Add;

impl Function for Add {
    binary_op!("Add");

    fn forward(&mut self, xs: &[SharedArray]) -> Result<Vec<SharedArray>> {
        check(self.name(), xs)?;
        Ok(vec![(&xs[0] + &xs[1]).into_shared()])
    }

    fn backward(&self, xs: &[SharedArray], mut gys: Vec<ArrayD<f64>>) -> Result<Vec<ArrayD<f64>>> {
        let gy = gys.swap_remove(0);
        to_inputs(self.name(), xs, gy.clone(), gy)
    }
}

/// `y = x0 - x1`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Sub;

impl Function for Sub {
    binary_op!("Sub");

    fn forward(&mut self, xs: &[SharedArray]) -> Result<Vec<SharedArray>> {
        check(self.name(), xs)?;
        Ok(vec![(&xs[0] - &xs[1]).into_shared()])
    }

    fn backward(&self, xs: &[SharedArray], mut gys: Vec<ArrayD<f64>>) -> Result<Vec<ArrayD<f64>>> {
        let gy = gys.swap_remove(0);
        let g1 = gy.mapv(|g| -g);
        to_inputs(self.name(), xs, gy, g1)
    }
}

/// `y = x0 · x1`, elementwise.
#[derive(Debug, Clone, Copy, Default)]
pub struct Mul;

impl Function for Mul {
    binary_op!("Mul");

    fn forward(&mut self, xs: &[SharedArray]) -> Result<Vec<SharedArray>> {
        check(self.name(), xs)?;
        Ok(vec![(&xs[0] * &xs[1]).into_shared()])
    }

    fn backward(&self, xs: &[SharedArray], mut gys: Vec<ArrayD<f64>>) -> Result<Vec<ArrayD<f64>>> {
        let gy = gys.swap_remove(0);
        let g0 = &gy * &xs[1];
        let g1 = &gy * &xs[0];
        to_inputs(self.name(), xs, g0, g1)
    }
}

/// `y = x0 / x1`, elementwise. Division by zero follows IEEE 754 (±∞ or NaN).
#[derive(Debug, Clone, Copy, Default)]
pub struct Div;

impl Function for Div {
    binary_op!("Div");

    fn forward(&mut self, xs: &[SharedArray]) -> Result<Vec<SharedArray>> {
        check(self.name(), xs)?;
        Ok(vec![(&xs[0] / &xs[1]).into_shared()])
    }

    fn backward(&self, xs: &[SharedArray], mut gys: Vec<ArrayD<f64>>) -> Result<Vec<ArrayD<f64>>> {
        let gy = gys.swap_remove(0);
        let g0 = &gy / &xs[1];
        // d(x0/x1)/dx1 = -x0 / x1² = -y0' · x0 / x1 where y0' = gy / x1
        let g1 = -&g0 * &xs[0] / &xs[1];
        to_inputs(self.name(), xs, g0, g1)
    }
}

/// `y = -x`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Neg;

impl Function for Neg {
    fn name(&self) -> &'static str {
        "Neg"
    }

    fn num_inputs(&self) -> usize {
        1
    }

    fn forward(&mut self, xs: &[SharedArray]) -> Result<Vec<SharedArray>> {
        Ok(vec![xs[0].mapv(|x| -x).into_shared()])
    }

    fn backward(&self, _xs: &[SharedArray], mut gys: Vec<ArrayD<f64>>) -> Result<Vec<ArrayD<f64>>> {
        let mut gx = gys.swap_remove(0);
        Zip::from(&mut gx).for_each(|g| *g = -*g);
        Ok(vec![gx])
    }
}
