//! The [`Function`] trait: what an op computes forward and backward.

use autograd_mem::{DefaultStrategy, Strategy};

use crate::{Error, Result, Tensor, Tensors, Variable};

/// A differentiable operation.
///
/// An op computes on [`Tensor`]s (cheap, shareable `f64` arrays; `view()`
/// gives an ndarray view), never on graph nodes, so it is written once and
/// runs under every ownership strategy. Two methods are required:
///
/// * [`forward`](Function::forward): the outputs from the inputs' values.
/// * [`backward`](Function::backward): the inputs' gradients from the
///   outputs' gradients, as arrays. That is all a first-order op needs.
///
/// One is optional: [`backward_graph`](Function::backward_graph) computes the
/// same gradients with ops on variables, so that `backward` with
/// `create_graph` records them and they can be differentiated again. Without
/// it, such a backward through the op is an
/// [`Error::NoGraphBackward`], never a silent zero.
///
/// The engine checks the counts and shapes an op returns against what it
/// declares, so a mistake in a user-written op is an [`Error`], not a panic
/// or a silently wrong gradient. An op that cannot compute returns
/// [`Error::op_failed`].
///
/// `S` is the ownership strategy of the graphs the op runs in. Write
/// `impl Function for MyOp` for the default strategy, or
/// `impl<S: Strategy> Function<S> for MyOp` for every strategy.
///
/// ```
/// use autograd_core::{apply_one, Function, Result, Tensor, Tensors, Variable};
///
/// /// y = 3x
/// struct Triple;
///
/// impl Function for Triple {
///     fn name(&self) -> &'static str { "Triple" }
///     fn num_inputs(&self) -> usize { 1 }
///     fn forward(&mut self, xs: &[Tensor]) -> Result<Tensors> {
///         Ok(xs[0].map(|x| 3.0 * x).into())
///     }
///     fn backward(&self, _xs: &[Tensor], mut gys: Tensors) -> Result<Tensors> {
///         // Gradients arrive by value: computing in place reuses the buffer.
///         Ok(gys.take(0).into_map(|g| 3.0 * g).into())
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
///
/// Ops hold no variables of their graph as a rule (they save [`Tensor`]s:
/// values, not nodes). One that does may: dropping it never recurses,
/// however long the chain behind its variables. A cycle collector does not
/// see into an op, so under the collected strategies a cycle that runs
/// through an op's own variables is never collected (seeing them would let
/// the collector drop them before the op's own `Drop` could read them).
pub trait Function<S: Strategy = DefaultStrategy>: Send + Sync + 'static {
    /// The op's name, as errors and graph exports show it.
    fn name(&self) -> &'static str;

    /// How many inputs the op takes.
    fn num_inputs(&self) -> usize;

    /// How many outputs `forward` returns. Read after `forward`, so an op
    /// may decide it there (a split into as many parts as its input has).
    fn num_outputs(&self) -> usize {
        1
    }

    /// Computes the outputs from the inputs' values.
    ///
    /// `&mut self` lets an op keep what its backward needs (an output, or a
    /// mask: clone the [`Tensor`], which shares its buffer).
    ///
    /// # Errors
    /// Whatever the op finds wrong with its inputs (shapes that do not fit,
    /// values it cannot take).
    fn forward(&mut self, xs: &[Tensor]) -> Result<Tensors>;

    /// Computes the inputs' gradients from the outputs' gradients.
    ///
    /// `xs` are the inputs' values as forward saw them; `gys` holds one
    /// gradient per output, each of the output's shape (zeros for an output
    /// that received none). The gradients are passed by value: an op may
    /// compute in them ([`Tensor::into_map`], [`Tensor::into_zip_with`])
    /// instead of allocating new arrays.
    ///
    /// # Errors
    /// Whatever the op cannot compute.
    fn backward(&self, xs: &[Tensor], gys: Tensors) -> Result<Tensors>;

    /// [`backward`](Function::backward) as ops on variables, so that the
    /// gradients it returns have graphs of their own (higher-order
    /// gradients: DeZero's third stage). `xs` are the inputs (a constant leaf
    /// stands in for an input leaf that is gone), `ys` the outputs (`None`
    /// where one is gone), `gys` the outputs' gradients.
    ///
    /// The default returns [`Error::NoGraphBackward`]: `backward` with
    /// `create_graph` through an op without it fails rather than record a
    /// wrong (constant) gradient.
    ///
    /// # Errors
    /// [`Error::NoGraphBackward`] by default; whatever the ops it runs return.
    fn backward_graph(
        &self,
        xs: &[Variable<S>],
        ys: &[Option<Variable<S>>],
        gys: &[Variable<S>],
    ) -> Result<Vec<Variable<S>>> {
        let _ = (xs, ys, gys);
        Err(Error::NoGraphBackward { op: self.name() })
    }
}
