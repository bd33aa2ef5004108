//! The [`Function`] trait: what an op computes forward and backward.

use ndarray::{ArcArray, ArrayD, IxDyn};

use crate::Result;

/// An array whose buffer is shared by reference counting: what a variable holds.
///
/// Cloning it clones a pointer, not the elements, which is how a variable's
/// `data()` is cheap and how an op can keep its output for backward without
/// holding the output *variable* (PyTorch saves outputs the same way).
pub type SharedArray = ArcArray<f64, IxDyn>;

/// A differentiable operation on arrays.
///
/// An op works on plain arrays, never on variables or graph nodes, so it is
/// written once and runs under every ownership strategy. The engine checks the
/// counts and shapes an op returns against what it declares, so a mistake in a
/// user-written op is an [`Error`](crate::Error), not a panic or a silently wrong
/// gradient.
///
/// ```
/// use autograd_core::{apply_one, Function, Result, SharedArray, Variable};
/// use ndarray::ArrayD;
///
/// /// y = 3x
/// struct Triple;
///
/// impl Function for Triple {
///     fn name(&self) -> &'static str { "Triple" }
///     fn num_inputs(&self) -> usize { 1 }
///     fn forward(&mut self, xs: &[SharedArray]) -> Result<Vec<SharedArray>> {
///         Ok(vec![(&xs[0] * 3.0).into_shared()])
///     }
///     fn backward(&self, _xs: &[SharedArray], gys: Vec<ArrayD<f64>>) -> Result<Vec<ArrayD<f64>>> {
///         // Gradients arrive by value: reuse the buffer.
///         Ok(gys.into_iter().map(|gy| gy * 3.0).collect())
///     }
/// }
///
/// let x = Variable::scalar(2.0);
/// let y = apply_one(Triple, &[&x])?;
/// y.backward()?;
/// assert_eq!(y.item(), Some(6.0));
/// assert_eq!(x.grad().unwrap().sum(), 3.0);
/// # Ok::<(), autograd_core::Error>(())
/// ```
pub trait Function: Send + Sync + 'static {
    /// The op's name, as errors and graph exports show it.
    fn name(&self) -> &'static str;

    /// How many inputs the op takes.
    fn num_inputs(&self) -> usize;

    /// How many outputs `forward` returns.
    fn num_outputs(&self) -> usize {
        1
    }

    /// Computes the outputs from the inputs' values.
    ///
    /// `&mut self` lets an op keep what its backward needs (a mask, or an
    /// output: clone the [`SharedArray`] to share its buffer).
    fn forward(&mut self, xs: &[SharedArray]) -> Result<Vec<SharedArray>>;

    /// Computes the inputs' gradients from the outputs' gradients.
    ///
    /// `xs` are the inputs' current values; `gys` holds one gradient per output,
    /// each the output's shape (zeros for an output that received none).
    /// The gradients are passed by value and uniquely owned: an op may write
    /// into them and return them instead of allocating new arrays.
    fn backward(&self, xs: &[SharedArray], gys: Vec<ArrayD<f64>>) -> Result<Vec<ArrayD<f64>>>;
}
