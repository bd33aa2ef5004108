//! The [`Function`] trait: what an op computes forward and backward.

use autograd_mem::{DefaultStrategy, Strategy};

use crate::{Result, Save, Saved, Tensor, Tensors, Variable};

/// The gradients a derivative returns, one per input: `None` for an input
/// that needs none (or gets none: zeros).
pub type Grads<S = DefaultStrategy> = Vec<Option<Variable<S>>>;

/// A differentiable operation.
///
/// An op computes on [`Tensor`]s (cheap, shareable `f64` arrays; `view()`
/// gives an ndarray view), never on graph nodes, so it is written once and
/// runs under every ownership strategy. An op gives:
///
/// * [`forward`](Function::forward): the outputs from the inputs' values;
/// * [`save`](Function::save): what its backward reads, declared to the
///   engine (which inputs, which outputs, other tensors), which owns and
///   counts those values;
/// * [`derivative`](Function::derivative): the inputs' gradients from the
///   outputs' gradients, **written once** as ops on variables. The engine
///   runs it on constants for a first-order pass and records it under
///   `create_graph`, so every order of gradient comes from this one
///   definition. It computes only the gradients
///   [`Saved::needs_grad`] asks for.
///
/// Optionally, [`backward_arrays`](Function::backward_arrays) replaces the
/// first-order pass with a hand-fused array computation (in place in the
/// output gradient's buffer), where a measurement shows it matters.
///
/// ```
/// use autograd_ops::{apply_one, mul, BackwardOptions, Function, Grads, Result, Save,
///                     Saved, Tensor, Tensors, Variable};
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
///     fn save(&mut self, _save: &mut Save<'_>) {} // backward reads no value
///     fn derivative(&self, cx: &Saved<'_>, gys: &[Variable]) -> Result<Grads> {
///         Ok(vec![cx.grad(0, || mul(&gys[0], &cx.scalar(3.0)))?])
///     }
/// }
///
/// let x = Variable::scalar(2.0);
/// let y = apply_one(Triple, &[&x])?;
/// y.backward_with(BackwardOptions::default().create_graph(true))?;
/// assert_eq!(y.item(), Some(6.0));
/// assert_eq!(x.grad().unwrap().sum(), 3.0);
/// # Ok::<(), autograd_ops::Error>(())
/// ```
///
/// The engine checks the counts and shapes an op returns against what it
/// declares, so a mistake in a user-written op is an [`Error`](crate::Error), not a panic
/// or a silently wrong gradient. An op that cannot compute returns
/// [`Error::op_failed`](crate::Error::op_failed).
///
/// `S` is the ownership strategy of the graphs the op runs in. Write
/// `impl Function for MyOp` for the default strategy, or
/// `impl<S: Strategy> Function<S> for MyOp` for every strategy.
///
/// Ops hold no variables of their graph as a rule (the engine keeps their
/// values). One that does may: dropping it never recurses,
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
    /// # Errors
    /// Whatever the op finds wrong with its inputs (shapes that do not fit,
    /// values it cannot take).
    fn forward(&mut self, xs: &[Tensor]) -> Result<Tensors>;

    /// The heap bytes the op's own fields hold (a target shape's `Vec`), so
    /// that [`graph_footprint`](crate::Variable::graph_footprint) counts
    /// them; 0 by default. Values kept for backward belong in
    /// [`save`](Function::save), which the engine counts itself.
    fn heap_size(&self) -> usize {
        0
    }

    /// Declares what backward reads, right after a forward that is
    /// recorded (never inside `no_grad`, nor for an op on constants alone).
    /// [`Save::needs_grad`] says which inputs can receive a gradient, so an
    /// op keeps only what their gradients need.
    ///
    /// The default keeps every input ([`Save::every_input`]): always enough
    /// for a derivative that reads inputs only. An op that reads less, or
    /// its output, or a tensor of its own (a mask), says so here.
    fn save(&mut self, save: &mut Save<'_>) {
        save.every_input();
    }

    /// The inputs' gradients from the outputs' gradients, as ops on
    /// variables: one entry per input, `None` where
    /// [`Saved::needs_grad`] is `false` ([`Saved::grad`] does both).
    ///
    /// `gys` holds one gradient per output, of the output's shape (zeros
    /// for an output that received none). `cx` gives back what
    /// [`save`](Function::save) kept. The engine runs this for both kinds
    /// of pass (see the trait's docs); it must be built of differentiable
    /// ops for higher orders to be right.
    ///
    /// # Errors
    /// Whatever the ops it runs return; [`Error::NotSaved`](crate::Error::NotSaved) when it reads
    /// what `save` did not keep.
    fn derivative(&self, cx: &Saved<'_, S>, gys: &[Variable<S>]) -> Result<Grads<S>>;

    /// The first-order pass, as arrays. The default runs
    /// [`derivative`](Function::derivative) on constants with recording off;
    /// an op overrides it with a hand-fused computation where that
    /// measurably matters (the gradients arrive by value: an op may compute
    /// in them, [`Tensor::into_map`], [`Tensor::into_zip_with`]). An
    /// override must agree with the derivative; test it against the
    /// default in the op's file.
    ///
    /// Returns one tensor per input; the entry of an input that does not
    /// [need a gradient](Saved::needs_grad) is ignored (a
    /// `Tensor::scalar(0.0)` costs nothing).
    ///
    /// # Errors
    /// Whatever the op cannot compute.
    fn backward_arrays(&self, cx: &Saved<'_, S>, gys: Tensors) -> Result<Tensors> {
        crate::saved::derivative_on_arrays(cx, gys, |cx, gys| self.derivative(cx, gys))
    }
}
