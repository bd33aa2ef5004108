//! The entry points of backward: [`Variable::backward`] and
//! [`backward_with`](Variable::backward_with) (gradients stored on the
//! leaves), [`gradients`] (returned, PyTorch's `torch.autograd.grad`) and
//! [`block_gradients`] (a checkpoint's inner pass), each a
//! [`Pass`](crate::pass) run with its options.

use std::collections::{HashMap, HashSet};

use autograd_mem::{Collector, Placement, Strategy};
use ndarray::ArrayD;

use crate::no_grad::RecordingGuard;
use crate::pass::{Capture, Graph, Mode, NodeIds, Pass, Values};
use crate::variable::Grad;
use crate::{Error, Result, Tensor, Variable};

/// How to run [`Variable::backward_with`] (and `grad` in autograd-ops).
///
/// ```
/// use autograd_ops::{BackwardOptions, Variable};
/// let x = Variable::scalar(3.0);
/// let y = &x * &x;
/// y.backward_with(BackwardOptions::default().create_graph(true))?;
/// let gx = x.grad_variable().unwrap(); // 2x, with a graph
/// x.cleargrad();
/// gx.backward()?; // d(2x)/dx
/// assert_eq!(x.grad().unwrap().sum(), 2.0);
/// # Ok::<(), autograd_ops::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct BackwardOptions {
    /// The gradient of the output; ones of its shape when `None`.
    pub grad: Option<ArrayD<f64>>,
    /// Also store gradients on intermediate variables (DeZero step 17's
    /// behaviour; `retain_grad` in PyTorch). Off by default: intermediate
    /// gradients are freed as soon as they have been passed on.
    pub retain_grad: bool,
    /// Record the computation of the gradients, so that they are variables
    /// with graphs and can be differentiated again (higher-order gradients;
    /// `create_graph` in PyTorch). Records even inside `no_grad`.
    pub create_graph: bool,
    /// Keep the graph for another backward pass: `true` by default (DeZero's
    /// behaviour). With `false`, each function lets go of what it saved for
    /// backward and of its links to its inputs as soon as it has run
    /// (PyTorch's default, `release_variables`), so that the values behind
    /// it are freed during the pass rather than when the output goes; a
    /// second pass through such a function is [`Error::GraphReleased`].
    pub retain_graph: bool,
}

/// Written out, so that a new field cannot change what the default does:
/// ones as the output gradient, no retained intermediate gradients, no
/// recorded graph, the graph kept.
impl Default for BackwardOptions {
    fn default() -> Self {
        BackwardOptions {
            grad: None,
            retain_grad: false,
            create_graph: false,
            retain_graph: true,
        }
    }
}

impl BackwardOptions {
    /// Starts backward from `grad` instead of ones.
    pub fn with_grad(mut self, grad: ArrayD<f64>) -> Self {
        self.grad = Some(grad);
        self
    }

    /// Keeps intermediate gradients on their variables.
    pub fn retain_grad(mut self, retain: bool) -> Self {
        self.retain_grad = retain;
        self
    }

    /// Records the gradients' computation (higher-order gradients).
    pub fn create_graph(mut self, create: bool) -> Self {
        self.create_graph = create;
        self
    }

    /// Keeps the graph for another pass (`true`, the default) or lets each
    /// function free what it saved as soon as it has run (`false`).
    ///
    /// ```
    /// use autograd_ops::{BackwardOptions, Error, Variable};
    /// let x = Variable::scalar(3.0);
    /// let y = &(&x * &x) * &x;
    /// y.backward_with(BackwardOptions::default().retain_graph(false))?;
    /// assert_eq!(x.grad().unwrap().sum(), 27.0);
    /// assert!(y.creator().unwrap().is_released());
    /// assert_eq!(y.backward(), Err(Error::GraphReleased { op: "mul" }));
    /// # Ok::<(), autograd_ops::Error>(())
    /// ```
    pub fn retain_graph(mut self, retain: bool) -> Self {
        self.retain_graph = retain;
        self
    }
}

impl<S: Strategy> Variable<S> {
    /// Computes the gradient of this variable with respect to every leaf of its
    /// graph, starting from ones, and adds it to the leaves' `grad`.
    ///
    /// Calling it twice adds the gradients twice, as in PyTorch; call
    /// [`cleargrad`](Variable::cleargrad) in between to start over. (The
    /// tutorial's step-17 code would also feed the intermediate gradients it kept
    /// from the first call into the second; here every call starts afresh.)
    ///
    /// # Errors
    /// Whatever an op's backward returns, and [`Error::GradientCount`] or
    /// [`Error::GradientShape`] when an op returns the wrong gradients. On
    /// error no gradient is changed.
    pub fn backward(&self) -> Result<()> {
        self.backward_with(BackwardOptions::default())
    }

    /// [`backward`](Variable::backward) that lets go of the graph as it
    /// runs: `backward_with(BackwardOptions::default().retain_graph(false))`,
    /// PyTorch's `loss.backward()` (whose default frees the graph). Each
    /// function drops what it saved and its links to its inputs as soon as
    /// it has run, so the values go during the pass, and the graph no longer
    /// shares the weights' buffers afterwards, even while the output is
    /// still held: an optimizer step that follows writes into them in place
    /// instead of copying them first (copy-on-write). The training step
    /// reads as PyTorch's: clear the gradients, forward, `backward_once`,
    /// step. A second pass over the same graph is [`Error::GraphReleased`];
    /// [`backward`](Variable::backward) keeps the graph (DeZero's default),
    /// for another pass or a look at it.
    ///
    /// ```
    /// use autograd_ops::{Error, Variable};
    /// use ndarray::array;
    ///
    /// let w = Variable::new(array![1.0, 2.0]);
    /// let buffer = w.data().as_ptr();
    /// let loss = &(&w * &w) * &w; // w³, elementwise
    /// loss.backward_once()?;
    /// assert_eq!(w.grad().unwrap(), array![3.0, 12.0].into_dyn());
    /// // The loss is still held, but its graph no longer reads w's buffer:
    /// // the update writes into it in place.
    /// w.update_data(|mut v| v -= &array![0.3, 1.2])?;
    /// assert_eq!(w.data().as_ptr(), buffer);
    /// assert_eq!(loss.backward_once(), Err(Error::GraphReleased { op: "mul" }));
    ///
    /// // With `backward`, the kept graph still reads the old value: the
    /// // same update copies the buffer first.
    /// let loss = &(&w * &w) * &w;
    /// loss.backward()?;
    /// w.update_data(|mut v| v *= 0.5)?;
    /// assert_ne!(w.data().as_ptr(), buffer);
    /// # Ok::<(), autograd_ops::Error>(())
    /// ```
    ///
    /// # Errors
    /// As [`backward_with`](Variable::backward_with); on error no gradient
    /// is changed.
    pub fn backward_once(&self) -> Result<()> {
        self.backward_with(BackwardOptions::default().retain_graph(false))
    }

    /// [`backward`](Variable::backward) with a given output gradient,
    /// retained intermediate gradients, or a recorded graph of the gradients.
    ///
    /// With `create_graph`, each leaf's gradient is a variable with a graph
    /// ([`grad_variable`](Variable::grad_variable)); a second such backward
    /// adds to it as a recorded sum.
    ///
    /// # Errors
    /// As [`backward`](Variable::backward); [`Error::OutputGradShape`] when the
    /// given gradient's shape is not this variable's;
    /// [`Error::RetainGradWithCreateGraph`] for both options at once;
    /// [`Error::BackwardOfConstant`] from a [constant](Variable::constant);
    /// [`Error::GraphReleased`] through a function a pass with
    /// `retain_graph(false)` ran; [`Error::GradientCycle`] under `Region`
    /// for a gradient graph that would keep alive the region of the
    /// unchained variable it is stored on.
    pub fn backward_with(&self, options: BackwardOptions) -> Result<()> {
        if options.create_graph && options.retain_grad {
            return Err(Error::RetainGradWithCreateGraph);
        }
        if !self.requires_grad() {
            return Err(Error::BackwardOfConstant);
        }
        let start = output_grad(self, options.grad)?;
        let mode = Mode {
            capture: Capture::Store {
                retain: options.retain_grad,
            },
            release: !options.retain_graph,
            between: false,
            refuse_outside: false,
        };
        if options.create_graph {
            let _recording = RecordingGuard::new();
            let root = (self.clone(), Variable::constant_from_tensor(start));
            let done = Pass::<S, Graph>::run([root], mode)?;
            // A block of nodes that would hold a gradient keeping it alive
            // owns itself: refused before anything is stored.
            if let Some((variable, _)) = done.leaves.iter().find(|(variable, grad)| {
                <S::Placement as Placement<S>>::keeps(&grad.node, &variable.node)
            }) {
                return Err(Error::GradientCycle {
                    shape: variable.shape(),
                });
            }
            for (variable, grad) in done.leaves {
                variable.accumulate_grad(Grad::Variable(grad))?;
            }
        } else {
            let done = Pass::<S, Values>::run([(self.clone(), start)], mode)?;
            for (variable, grad) in done.leaves.into_iter().chain(done.captured) {
                variable.accumulate_grad(Grad::Values(grad))?;
            }
        }
        S::Collector::maybe_collect();
        Ok(())
    }
}

/// The gradients of `outputs` with respect to `inputs`, returned and stored
/// on no variable: PyTorch's `torch.autograd.grad`, behind
/// `autograd_ops::grad`.
///
/// Each output starts from ones, or from `options.grad` when there is a
/// single output. An input the outputs do not depend on gets zeros of its
/// shape. With `options.create_graph` the gradients have graphs.
/// `retain_grad` has no effect: nothing is stored.
///
/// Only the functions between the outputs and the inputs run (and, with
/// `retain_graph(false)`, let go of what they saved): the graph behind an
/// input that is an intermediate is neither needed nor touched, as in
/// PyTorch.
///
/// # Errors
/// [`Error::GradForSeveralOutputs`] for a given gradient with several
/// outputs, [`Error::OutputGradShape`] for one of the wrong shape, and what
/// [`Variable::backward_with`] returns.
pub fn gradients<S: Strategy>(
    outputs: &[&Variable<S>],
    inputs: &[&Variable<S>],
    options: BackwardOptions,
) -> Result<Vec<Variable<S>>> {
    if options.grad.is_some() && outputs.len() != 1 {
        return Err(Error::GradForSeveralOutputs {
            outputs: outputs.len(),
        });
    }
    let mut given = options.grad;
    let mut starts = Vec::with_capacity(outputs.len());
    for output in outputs {
        starts.push(((*output).clone(), output_grad(output, given.take())?));
    }
    let targets: HashSet<usize, NodeIds> = inputs.iter().map(|x| x.id()).collect();
    let mode = Mode {
        capture: Capture::Targets(targets),
        release: !options.retain_graph,
        between: true,
        refuse_outside: false,
    };
    let zeros = |x: &Variable<S>| Variable::from_tensor(Tensor::zeros(&x.shape()));
    let found: HashMap<usize, Variable<S>, NodeIds> = if options.create_graph {
        let _recording = RecordingGuard::new();
        let starts = starts
            .into_iter()
            .map(|(y, start)| (y, Variable::constant_from_tensor(start)));
        let done = Pass::<S, Graph>::run(starts, mode)?;
        done.leaves
            .into_iter()
            .chain(done.captured)
            .map(|(x, g)| (x.id(), g))
            .collect()
    } else {
        let done = Pass::<S, Values>::run(starts, mode)?;
        done.leaves
            .into_iter()
            .chain(done.captured)
            .map(|(x, g)| (x.id(), Variable::from_tensor(g)))
            .collect()
    };
    let grads = inputs
        .iter()
        .map(|x| found.get(&x.id()).cloned().unwrap_or_else(|| zeros(x)))
        .collect();
    S::Collector::maybe_collect();
    Ok(grads)
}

/// The gradients of a recomputed block's `outputs`, each seeded with the
/// gradient the enclosing pass brought it, with respect to the block's
/// `inputs`: the inner pass of a checkpoint (`autograd_ops::checkpoint`). A
/// first-order pass that stores nothing; `None` for an input no output
/// depends on. It keeps the graph it walks (the recomputed copy goes when
/// the caller drops it), so that a block that reaches into the graph
/// around it, and so fails, has changed nothing there.
///
/// # Errors
/// [`Error::LeafOutsideBlock`] naming `op` when the block's graph reaches a
/// leaf that needs a gradient and is not among `inputs` (its gradient would
/// be lost); [`Error::OutputGradShape`] for an output gradient of the wrong shape; and what
/// an op's backward returns.
pub fn block_gradients<S: Strategy>(
    op: &'static str,
    outputs: &[(&Variable<S>, Tensor)],
    inputs: &[&Variable<S>],
) -> Result<Vec<Option<Tensor>>> {
    let mut starts = Vec::with_capacity(outputs.len());
    for (output, grad) in outputs {
        if grad.shape() != output.shape().as_slice() {
            return Err(Error::OutputGradShape {
                expected: output.shape(),
                got: grad.shape().to_vec(),
            });
        }
        if output.requires_grad() {
            starts.push(((*output).clone(), grad.clone()));
        }
    }
    let targets: HashSet<usize, NodeIds> = inputs.iter().map(|x| x.id()).collect();
    let mode = Mode {
        capture: Capture::Targets(targets),
        release: true,
        between: true,
        refuse_outside: true,
    };
    let done = Pass::<S, Values>::run(starts, mode)?;
    if let Some(shape) = done.outside {
        return Err(Error::LeafOutsideBlock { op, shape });
    }
    let mut found: HashMap<usize, Tensor, NodeIds> = done
        .leaves
        .into_iter()
        .chain(done.captured)
        .map(|(x, g)| (x.id(), g))
        .collect();
    Ok(inputs.iter().map(|x| found.remove(&x.id())).collect())
}

/// The starting gradient: `given`, checked against `variable`'s shape, or ones.
fn output_grad<S: Strategy>(variable: &Variable<S>, given: Option<ArrayD<f64>>) -> Result<Tensor> {
    let shape = variable.shape();
    match given {
        Some(grad) if grad.shape() != shape.as_slice() => Err(Error::OutputGradShape {
            expected: shape,
            got: grad.shape().to_vec(),
        }),
        Some(grad) => Ok(Tensor::from_array(grad)),
        None => Ok(Tensor::ones(&shape)),
    }
}
