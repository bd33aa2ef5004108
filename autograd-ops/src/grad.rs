//! [`grad`]: gradients returned instead of stored (`torch.autograd.grad`).

use autograd_core::{BackwardOptions, Result, Strategy, Variable};

/// The gradients of `outputs` with respect to `inputs`, returned and stored
/// on no variable: PyTorch's `torch.autograd.grad`.
///
/// Each output starts from ones, or from `options`' gradient when there is a
/// single output (a given gradient with several outputs is an error). An
/// input the outputs do not depend on gets zeros of its shape. With
/// `create_graph` the gradients have graphs, so they can be differentiated
/// again; without it they are leaves.
///
/// ```
/// use autograd_ops::prelude::*;
///
/// // DeZero step 36, double backprop: y = x², gx = dy/dx, z = gx³ + y.
/// let x = Variable::scalar(2.0);
/// let y = x.square();
/// let gx = grad(&[&y], &[&x], BackwardOptions::default().create_graph(true))?.remove(0);
/// let z = gx.pow(3.0) + &y;
/// let dz = grad(&[&z], &[&x], BackwardOptions::default())?.remove(0);
/// assert_eq!(dz.item(), Some(100.0)); // 24x² + 2x
/// assert!(x.grad().is_none()); // nothing stored
/// # Ok::<(), autograd_ops::Error>(())
/// ```
///
/// # Errors
/// [`Error::GradForSeveralOutputs`](crate::Error::GradForSeveralOutputs),
/// [`Error::OutputGradShape`](crate::Error::OutputGradShape), and what
/// [`Variable::backward_with`] returns.
pub fn grad<S: Strategy>(
    outputs: &[&Variable<S>],
    inputs: &[&Variable<S>],
    options: BackwardOptions,
) -> Result<Vec<Variable<S>>> {
    autograd_core::gradients(outputs, inputs, options)
}
