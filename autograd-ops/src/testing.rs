//! What the op families' tests share.

use autograd_core::{RcWeak, Result, Strategy, Variable};
use ndarray::{ArrayD, IxDyn};

use crate::{GradcheckOptions, gradcheck, gradgradcheck};

/// A deterministic array of `shape` with values in (0.5, 1.5): safe for log
/// and division.
pub(crate) fn positive(shape: &[usize], seed: u64) -> ArrayD<f64> {
    let n: usize = shape.iter().product();
    let values: Vec<f64> = (0..n)
        .map(|i| 0.5 + ((i as u64 * 2_654_435_761 + seed * 97) % 1000) as f64 / 1000.0)
        .collect();
    ArrayD::from_shape_vec(IxDyn(shape), values).expect("n elements")
}

/// Checks `f`'s first and second derivatives against central differences.
pub(crate) fn check_both_orders(
    f: impl Fn(&[Variable<RcWeak>]) -> Result<Variable<RcWeak>>,
    inputs: &[ArrayD<f64>],
) {
    let first = gradcheck(&f, inputs, GradcheckOptions::default())
        .unwrap_or_else(|err| panic!("first order: {err}"));
    assert!(first.max_rel_error.iter().all(|&e| e < 1e-6), "{first:?}");
    let options = GradcheckOptions {
        eps: 1e-5,
        tolerance: 1e-5,
    };
    let second =
        gradgradcheck(&f, inputs, options).unwrap_or_else(|err| panic!("second order: {err}"));
    assert!(second.max_rel_error.iter().all(|&e| e < 1e-5), "{second:?}");
}

/// Checks `f`'s first derivatives against central differences under
/// strategy `S` (the tests that run each op under every strategy).
pub(crate) fn check_first_order<S: Strategy>(
    f: impl Fn(&[Variable<S>]) -> Result<Variable<S>>,
    inputs: &[ArrayD<f64>],
) {
    let report = gradcheck(f, inputs, GradcheckOptions::default())
        .unwrap_or_else(|err| panic!("under {}: {err}", S::KIND.name()));
    assert!(report.max_rel_error.iter().all(|&e| e < 1e-6), "{report:?}");
}
