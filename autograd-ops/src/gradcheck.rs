//! [`gradcheck`]: backward compared with central differences.

use autograd_core::{Error, Result, Strategy, Variable, with_no_grad};
use ndarray::{ArrayD, Dimension, IxDyn};

/// How closely backward matched central differences, per input.
#[derive(Debug, Clone, PartialEq)]
pub struct GradcheckReport {
    /// Largest `|analytic - numeric|` over each input's elements.
    pub max_abs_error: Vec<f64>,
    /// Largest `|analytic - numeric| / max(|numeric|, 1)` over each input's elements.
    pub max_rel_error: Vec<f64>,
}

/// Why [`gradcheck`] failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum GradcheckError {
    /// Building or differentiating the graph failed.
    #[error(transparent)]
    Graph(#[from] Error),
    /// An element's gradient differs from its central difference.
    #[error(
        "gradcheck: input {input} at {index:?}: backward gave {analytic}, central difference {numeric} (tolerance {tolerance})"
    )]
    Mismatch {
        /// Which input.
        input: usize,
        /// The worst element's index.
        index: Vec<usize>,
        /// The gradient from backward.
        analytic: f64,
        /// The central difference.
        numeric: f64,
        /// The tolerance it exceeded.
        tolerance: f64,
    },
}

/// Step and tolerance for [`gradcheck`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GradcheckOptions {
    /// The central-difference step.
    pub eps: f64,
    /// Allowed `|analytic - numeric| / max(|numeric|, 1)`.
    pub tolerance: f64,
}

impl Default for GradcheckOptions {
    fn default() -> Self {
        GradcheckOptions {
            eps: 1e-6,
            tolerance: 1e-5,
        }
    }
}

/// Checks the gradients of `f` at `inputs` against central differences, like
/// PyTorch's `torch.autograd.gradcheck`.
///
/// `f` builds a graph from fresh leaves holding `inputs`; the check
/// differentiates the sum of its output's elements. Returns the largest errors
/// per input, or the worst element that exceeds the tolerance.
///
/// ```
/// use autograd_ops::{gradcheck, GradcheckOptions, square, Variable};
/// use ndarray::array;
///
/// let report = gradcheck(
///     |xs: &[Variable]| square(&square(&xs[0])?),
///     &[array![0.5, -1.5].into_dyn()],
///     GradcheckOptions::default(),
/// )?;
/// assert!(report.max_rel_error[0] < 1e-6);
/// # Ok::<(), autograd_ops::GradcheckError>(())
/// ```
///
/// # Errors
/// [`GradcheckError::Graph`] when `f` or backward fails, and
/// [`GradcheckError::Mismatch`] naming the worst element and both values.
pub fn gradcheck<S: Strategy>(
    f: impl Fn(&[Variable<S>]) -> Result<Variable<S>>,
    inputs: &[ArrayD<f64>],
    options: GradcheckOptions,
) -> std::result::Result<GradcheckReport, GradcheckError> {
    let leaves: Vec<Variable<S>> = inputs.iter().cloned().map(Variable::from_array).collect();
    f(&leaves)?.backward()?;

    let value_at = |point: &[ArrayD<f64>]| -> Result<f64> {
        let leaves: Vec<Variable<S>> = point.iter().cloned().map(Variable::from_array).collect();
        Ok(with_no_grad(|| f(&leaves))?.data().sum())
    };
    let mut report = GradcheckReport {
        max_abs_error: Vec::new(),
        max_rel_error: Vec::new(),
    };
    let mut worst: Option<GradcheckError> = None;
    let mut worst_rel = options.tolerance;
    for (input, leaf) in leaves.iter().enumerate() {
        let analytic = leaf
            .grad()
            .unwrap_or_else(|| ArrayD::zeros(inputs[input].raw_dim()));
        let (mut max_abs, mut max_rel) = (0.0_f64, 0.0_f64);
        for (index, &a) in analytic.indexed_iter() {
            let numeric = central_difference(&value_at, inputs, input, &index, options.eps)?;
            let abs = (a - numeric).abs();
            let rel = abs / numeric.abs().max(1.0);
            max_abs = max_abs.max(abs);
            max_rel = max_rel.max(rel);
            if rel > worst_rel || rel.is_nan() {
                worst_rel = if rel.is_nan() { f64::INFINITY } else { rel };
                worst = Some(GradcheckError::Mismatch {
                    input,
                    index: index.slice().to_vec(),
                    analytic: a,
                    numeric,
                    tolerance: options.tolerance,
                });
            }
        }
        report.max_abs_error.push(max_abs);
        report.max_rel_error.push(max_rel);
    }
    match worst {
        Some(err) => Err(err),
        None => Ok(report),
    }
}

/// `(f(x + eps) - f(x - eps)) / 2eps` along one element of one input.
fn central_difference(
    value_at: &impl Fn(&[ArrayD<f64>]) -> Result<f64>,
    inputs: &[ArrayD<f64>],
    input: usize,
    index: &IxDyn,
    eps: f64,
) -> Result<f64> {
    let mut point = inputs.to_vec();
    let original = point[input][index.clone()];
    point[input][index.clone()] = original + eps;
    let plus = value_at(&point)?;
    point[input][index.clone()] = original - eps;
    let minus = value_at(&point)?;
    Ok((plus - minus) / (2.0 * eps))
}
