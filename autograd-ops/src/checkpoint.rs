//! [`checkpoint`]: a block recomputed in backward instead of kept
//! (`torch.utils.checkpoint`, `jax.checkpoint`), and its tests.
//!
//! Forward runs the block recording nothing and records one node that keeps
//! only the block's inputs. Backward runs the block again, recording, on
//! fresh leaves holding the inputs' values, backpropagates the gradients
//! the enclosing pass brought through that copy (a first-order pass that
//! keeps the graph it walks, so that a block reaching outside itself fails
//! having changed nothing; the copy goes when the step is done), and hands
//! the inputs' gradients on: the same ops on the same values in the same
//! order, so the gradients are those of the plain graph, bit for bit under
//! the condition [`checkpoint`] states.
//!
//! "The same ops" includes dropout's: the first run keeps a copy of the
//! thread's dropout generator and the mode ([`is_training`]) it ran in, and
//! the recomputation runs from that copy in that mode, then puts the
//! thread's generator back as it was (`torch.utils.checkpoint`'s
//! `preserve_rng_state`), so it draws the very masks of the first run.

use autograd_core::{
    Error, Function, Grads, Result, Save, Saved, Strategy, Tensor, Tensors, Variable, apply,
    block_gradients, enable_grad, no_grad,
};
use rand::rngs::StdRng;

use crate::dropout::{ForkedGenerator, generator_state};
use crate::mode::{is_training, mode_scope};

/// The op's name, in errors and graph exports.
const NAME: &str = "checkpoint";

/// The recorded node of a [`checkpoint`]: the block, what its outputs
/// looked like the first time, and the dropout generator and mode it ran
/// with (held inline: the op's size, which `graph_footprint` counts).
struct Checkpoint<F> {
    block: F,
    inputs: usize,
    shapes: Vec<Box<[usize]>>,
    /// The thread's dropout generator as the first run found it.
    generator: Option<StdRng>,
    /// Whether the first run was in training mode.
    training: bool,
}

impl<S, F> Function<S> for Checkpoint<F>
where
    S: Strategy,
    F: Fn(&[Variable<S>]) -> Result<Vec<Variable<S>>> + Send + Sync + 'static,
{
    fn name(&self) -> &'static str {
        NAME
    }

    fn num_inputs(&self) -> usize {
        self.inputs
    }

    fn num_outputs(&self) -> usize {
        self.shapes.len()
    }

    fn forward(&mut self, xs: &[Tensor]) -> Result<Tensors> {
        let _nothing_recorded = no_grad();
        self.generator = Some(generator_state());
        self.training = is_training();
        let xs: Vec<Variable<S>> = xs
            .iter()
            .cloned()
            .map(Variable::constant_from_tensor)
            .collect();
        let ys = (self.block)(&xs)?;
        self.shapes = ys.iter().map(|y| y.shape().into_boxed_slice()).collect();
        Ok(ys.iter().map(Variable::tensor).collect())
    }

    fn heap_size(&self) -> usize {
        let shapes = self.shapes.capacity() * size_of::<Box<[usize]>>();
        shapes
            + self
                .shapes
                .iter()
                .map(|s| s.len() * size_of::<usize>())
                .sum::<usize>()
    }

    fn save(&mut self, save: &mut Save<'_>) {
        // The recomputation reads every input, also those that need no
        // gradient.
        save.every_input();
    }

    fn derivative(&self, cx: &Saved<'_, S>, gys: &[Variable<S>]) -> Result<Grads<S>> {
        if cx.records() {
            return Err(Error::op_failed(
                NAME,
                "create_graph cannot differentiate through a checkpoint (its recomputation \
                 runs a first-order pass); call the block directly for higher-order gradients",
            ));
        }
        let _recording = enable_grad();
        // The first run's masks: its generator and mode, until the
        // recomputation's graph is gone (the guards drop last).
        let _generator = self.generator.clone().map(ForkedGenerator::new);
        let _mode = mode_scope(self.training);
        let leaves = (0..self.inputs)
            .map(|i| {
                let value = cx.input_value(i)?.clone();
                Ok(if cx.needs_grad(i) {
                    Variable::from_tensor(value)
                } else {
                    Variable::constant_from_tensor(value)
                })
            })
            .collect::<Result<Vec<Variable<S>>>>()?;
        let ys = (self.block)(&leaves)?;
        if ys.len() != self.shapes.len() {
            return Err(Error::OutputCount {
                op: NAME,
                expected: self.shapes.len(),
                got: ys.len(),
            });
        }
        for (index, (y, shape)) in ys.iter().zip(&self.shapes).enumerate() {
            if y.shape().as_slice() != &**shape {
                return Err(Error::RecomputedShape {
                    op: NAME,
                    index,
                    expected: shape.to_vec(),
                    got: y.shape(),
                });
            }
        }
        let seeds: Vec<(&Variable<S>, Tensor)> =
            ys.iter().zip(gys).map(|(y, g)| (y, g.tensor())).collect();
        let targets: Vec<&Variable<S>> = leaves.iter().collect();
        let grads = block_gradients(NAME, &seeds, &targets)?;
        drop(seeds);
        drop(ys); // the recomputed graph, before the gradients go on
        Ok(grads
            .into_iter()
            .enumerate()
            .map(|(i, grad)| {
                cx.needs_grad(i).then(|| {
                    let grad = grad.unwrap_or_else(|| Tensor::zeros(cx.input_shape(i)));
                    cx.constant(grad)
                })
            })
            .collect())
    }
}

/// Runs `block` on `inputs` keeping only the inputs for backward, and runs
/// it again in backward to differentiate it (gradient checkpointing:
/// `torch.utils.checkpoint`, `jax.checkpoint`).
///
/// Between forward and backward the graph holds the block's inputs and one
/// node, not the values the block's ops save; backward pays one more
/// forward of the block. Gradients are those without the checkpoint: the
/// recomputation runs the same ops on the same values (a
/// [`dropout`](crate::dropout) in the block draws the same masks, in the
/// mode the first run had; see the module's docs), and what it finds for
/// each input is added to the enclosing pass as one contribution.
/// Backward adds the gradients that meet at a variable in reverse
/// creation order, so the result is the plain graph's bit for bit for
/// every input the block reads once, and for an input it reads several
/// times whose first contributions are the block's (no op created after
/// the block reads that input); otherwise the block's contributions are
/// summed before the others are added to them, and the gradient agrees
/// with the plain graph's to rounding.
///
/// Everything the block reads that needs a gradient must come through
/// `inputs`: a block whose recomputation reaches another leaf that needs a
/// gradient (a parameter a closure captured, which `ArcWeak` allows) is an
/// error, never a gradient silently lost. The block's own captures are not
/// counted by [`graph_footprint`](Variable::graph_footprint).
///
/// ```
/// use autograd_ops::prelude::*;
/// use autograd_ops::checkpoint;
///
/// let x = Variable::scalar(0.5);
/// let w = Variable::scalar(3.0);
/// let block = |v: &[Variable]| Ok(vec![(&v[0] * &v[1]).tanh().exp()]);
/// let y = checkpoint(block, &[&x, &w])?.remove(0);
/// y.backward()?;
///
/// let (x2, w2) = (Variable::scalar(0.5), Variable::scalar(3.0));
/// (&x2 * &w2).tanh().exp().backward()?;
/// assert_eq!(x.grad(), x2.grad()); // bit for bit
/// assert_eq!(w.grad(), w2.grad());
/// # Ok::<(), autograd_ops::Error>(())
/// ```
///
/// # Errors
/// What `block` returns, the first time or in backward. In backward:
/// [`Error::OutputCount`] or [`Error::RecomputedShape`] naming `checkpoint`
/// when the recomputation returns other outputs than the first run,
/// [`Error::LeafOutsideBlock`] for a leaf reached outside `inputs`, and an
/// [`Error::OpFailed`] naming `checkpoint` under `create_graph`, which it
/// does not support. A failed backward writes no gradient.
pub fn checkpoint<S, F>(block: F, inputs: &[&Variable<S>]) -> Result<Vec<Variable<S>>>
where
    S: Strategy,
    F: Fn(&[Variable<S>]) -> Result<Vec<Variable<S>>> + Send + Sync + 'static,
{
    apply(
        Checkpoint {
            block,
            inputs: inputs.len(),
            shapes: Vec::new(),
            generator: None,
            training: true,
        },
        inputs,
    )
}
