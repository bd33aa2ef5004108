//! [`gradcheck`] and [`gradgradcheck`]: backward compared with central
//! differences, for first and second derivatives.

use autograd_core::arith::{add, mul};
use autograd_core::{BackwardOptions, Error, Result, Strategy, Variable};
use ndarray::{ArrayD, Dimension, IxDyn};

use crate::{grad, sum};

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
    check(&f, inputs, options, |leaves| {
        f(leaves)?.backward()?;
        Ok(leaves
            .iter()
            .map(|leaf| leaf.grad().map(|g| g.to_owned()))
            .collect())
    })
}

/// Compares `analytic` (the gradients at the leaves, `None` for one that
/// received none) with central differences of `Σ f`.
fn check<S: Strategy>(
    f: &impl Fn(&[Variable<S>]) -> Result<Variable<S>>,
    inputs: &[ArrayD<f64>],
    options: GradcheckOptions,
    analytic: impl Fn(&[Variable<S>]) -> Result<Vec<Option<ArrayD<f64>>>>,
) -> std::result::Result<GradcheckReport, GradcheckError> {
    let leaves: Vec<Variable<S>> = inputs.iter().cloned().map(Variable::from_array).collect();
    let grads = analytic(&leaves)?;

    // Built with graphs (not under no_grad): `f` may itself differentiate,
    // as gradgradcheck's does.
    let value_at = |point: &[ArrayD<f64>]| -> Result<f64> {
        let leaves: Vec<Variable<S>> = point.iter().cloned().map(Variable::from_array).collect();
        Ok(f(&leaves)?.data().sum())
    };
    let mut report = GradcheckReport {
        max_abs_error: Vec::new(),
        max_rel_error: Vec::new(),
    };
    let mut worst: Option<GradcheckError> = None;
    let mut worst_rel = options.tolerance;
    for (input, grad) in grads.into_iter().enumerate() {
        let analytic = grad.unwrap_or_else(|| ArrayD::zeros(inputs[input].raw_dim()));
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

/// Checks second derivatives of `f` at `inputs`, like PyTorch's
/// `torch.autograd.gradgradcheck`, in two steps. First the gradients that
/// `backward` with `create_graph` records (each op's variable-level
/// backward) are checked against central differences of `f`; then
/// [`gradcheck`] runs on `g(x) = Σᵢ Σ wᵢ ⊙ ∂(Σ f(x))/∂xᵢ`, whose gradient is a
/// Hessian-vector product, for fixed pseudo-random weights `wᵢ`. The report
/// is the second step's.
///
/// ```
/// use autograd_ops::{gradgradcheck, GradcheckOptions, sin, Variable};
/// use ndarray::array;
///
/// let report = gradgradcheck(
///     |xs: &[Variable]| sin(&xs[0]),
///     &[array![0.5, -1.5].into_dyn()],
///     GradcheckOptions::default(),
/// )?;
/// assert!(report.max_rel_error[0] < 1e-6);
/// # Ok::<(), autograd_ops::GradcheckError>(())
/// ```
///
/// # Errors
/// As [`gradcheck`]; what a recorded backward returns (as
/// [`GradcheckError::Graph`]), e.g. an op whose derivative refuses
/// `create_graph`.
pub fn gradgradcheck<S: Strategy>(
    f: impl Fn(&[Variable<S>]) -> Result<Variable<S>>,
    inputs: &[ArrayD<f64>],
    options: GradcheckOptions,
) -> std::result::Result<GradcheckReport, GradcheckError> {
    let weights: Vec<Variable<S>> = inputs
        .iter()
        .enumerate()
        .map(|(i, x)| Variable::from_array(weights_like(x, i as u64)))
        .collect();
    let g = |xs: &[Variable<S>]| -> Result<Variable<S>> {
        let y = f(xs)?;
        let refs: Vec<&Variable<S>> = xs.iter().collect();
        let gxs = grad(&[&y], &refs, BackwardOptions::default().create_graph(true))?;
        let mut total = Variable::from_scalar(0.0);
        for (gx, w) in gxs.iter().zip(&weights) {
            total = add(&total, &sum(&mul(gx, w)?)?)?;
        }
        Ok(total)
    };
    check(&f, inputs, options, |leaves| {
        let y = f(leaves)?;
        let refs: Vec<&Variable<S>> = leaves.iter().collect();
        let gxs = grad(&[&y], &refs, BackwardOptions::default().create_graph(true))?;
        Ok(gxs.iter().map(|gx| Some(gx.data().to_owned())).collect())
    })?;
    gradcheck(g, inputs, options)
}

/// Fixed weights in [0.5, 1.5) of `x`'s shape (a hash of the position).
fn weights_like(x: &ArrayD<f64>, salt: u64) -> ArrayD<f64> {
    let mut state = 0x9E37_79B9_7F4A_7C15u64 ^ salt.wrapping_mul(0xBF58_476D_1CE4_E5B9);
    ArrayD::from_shape_simple_fn(x.raw_dim(), || {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        0.5 + ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
    })
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

#[cfg(test)]
mod tests {
    use super::*;
    use autograd_core::{Function, Grads, RcWeak, Saved, Tensor, Tensors, apply_one};
    use ndarray::array;

    /// A deliberately wrong op: its derivative misses the factor 2 (x·gy
    /// for x²), so both checks must catch it.
    struct WrongSquare;

    impl<S: Strategy> Function<S> for WrongSquare {
        fn name(&self) -> &'static str {
            "WrongSquare"
        }
        fn num_inputs(&self) -> usize {
            1
        }
        fn forward(&mut self, xs: &[Tensor]) -> Result<Tensors> {
            Ok(xs[0].map(|x| x * x).into())
        }
        fn derivative(&self, cx: &Saved<'_, S>, gys: &[Variable<S>]) -> Result<Grads<S>> {
            Ok(vec![Some(mul(&gys[0], &cx.input(0)?)?)])
        }
    }

    /// x² with the right first derivative, 2x·gy (a fused array backward),
    /// but a derivative whose slope 2x is a constant: its graph says the
    /// second derivative is 0. Only gradgradcheck can catch it.
    struct ConstantSlope;

    impl<S: Strategy> Function<S> for ConstantSlope {
        fn name(&self) -> &'static str {
            "ConstantSlope"
        }
        fn num_inputs(&self) -> usize {
            1
        }
        fn forward(&mut self, xs: &[Tensor]) -> Result<Tensors> {
            Ok(xs[0].map(|x| x * x).into())
        }
        fn derivative(&self, cx: &Saved<'_, S>, gys: &[Variable<S>]) -> Result<Grads<S>> {
            let two_x = cx.constant(cx.input_value(0)?.map(|x| 2.0 * x));
            Ok(vec![Some(mul(&gys[0], &two_x)?)])
        }
        fn backward_arrays(&self, cx: &Saved<'_, S>, mut gys: Tensors) -> Result<Tensors> {
            let x = cx.input_value(0)?;
            Ok(gys
                .take(0)
                .into_zip_with("ConstantSlope", x, |g, x| 2.0 * x * g)?
                .into())
        }
    }

    #[test]
    fn gradcheck_names_the_worst_element() {
        let err = gradcheck(
            |xs: &[Variable<RcWeak>]| apply_one(WrongSquare, &[&xs[0]]),
            &[array![0.1, -3.0, 0.2].into_dyn()],
            GradcheckOptions::default(),
        )
        .unwrap_err();
        match err {
            GradcheckError::Mismatch {
                input,
                index,
                analytic,
                numeric,
                ..
            } => {
                assert_eq!((input, index), (0, vec![1]));
                assert_eq!(analytic, -3.0);
                assert!((numeric + 6.0).abs() < 1e-4, "{numeric}");
            }
            other => panic!("{other}"),
        }
    }

    #[test]
    fn gradgradcheck_catches_a_wrong_second_derivative() {
        let op = |xs: &[Variable<RcWeak>]| apply_one(ConstantSlope, &[&xs[0]]);
        let at = [array![0.5, -1.0].into_dyn()];
        assert!(gradcheck(op, &at, GradcheckOptions::default()).is_ok());
        let err = gradgradcheck(op, &at, GradcheckOptions::default()).unwrap_err();
        assert!(matches!(err, GradcheckError::Mismatch { .. }), "{err}");
    }
}
