//! Helpers for this crate's tests.

use autograd_core::{Strategy, Variable, no_grad};

use crate::Result;

/// Asserts that every element of every parameter's gradient, from one
/// backward of `loss`, is the central difference `(f(p + h) − f(p − h)) / 2h`
/// of `loss` evaluated without recording, within `1e-7` (relative to the
/// larger of the gradient and 1). `loss` must compute the same function
/// each call (seed any dropout inside it).
pub(crate) fn assert_gradients_match_central_differences<S: Strategy>(
    params: &[Variable<S>],
    loss: impl Fn() -> Result<Variable<S>>,
) {
    params.iter().for_each(Variable::cleargrad);
    loss().unwrap().backward().unwrap();
    let value = || {
        let _guard = no_grad();
        loss().unwrap().item().unwrap()
    };
    for (k, p) in params.iter().enumerate() {
        let grad = p
            .grad()
            .expect("every parameter gets a gradient")
            .to_owned();
        for i in 0..p.len() {
            let h = 1e-6;
            let nudge = |d: f64| {
                p.update_data(|mut v| v.as_slice_mut().unwrap()[i] += d)
                    .unwrap()
            };
            nudge(h);
            let up = value();
            nudge(-2.0 * h);
            let down = value();
            nudge(h);
            let numeric = (up - down) / (2.0 * h);
            let analytic = grad.as_slice().unwrap()[i];
            assert!(
                (numeric - analytic).abs() < 1e-7 * analytic.abs().max(1.0),
                "parameter {k} {:?}, element {i}: backward {analytic}, central difference {numeric}",
                p.shape()
            );
        }
    }
    params.iter().for_each(Variable::cleargrad);
}
