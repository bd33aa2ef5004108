//! The generation-sorted backward pass.
//!
//! The seed (DeZero step 17) keeps a list of pending functions, re-sorts it by
//! generation on every insert and pops the last. The same order comes from a
//! max-heap keyed by `(generation, creation order)`.
//!
//! Gradients live in a buffer owned by the call, keyed by variable node, so
//! that concurrent passes over one `ArcWeak` graph never see each other's.
//! Those that meet at a variable are summed. An intermediate gradient is
//! removed from the buffer when its creator runs and handed to the op by
//! value; what remains at the end belongs to leaves. A function is scheduled
//! when its output receives its first gradient (a function with several
//! outputs is also marked, so that it runs once). Nothing is written to any
//! variable until every function has run, so a failed backward changes no
//! gradient.
//!
//! One traversal serves both kinds of pass: gradients as values (a tensor
//! per variable, each op's array-level `backward`) and, with `create_graph`,
//! gradients as variables whose graph records how they were computed (each
//! op's `backward_graph`).

use std::cmp::Ordering;
use std::collections::hash_map::Entry;
use std::collections::{BinaryHeap, HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};

use autograd_mem::{Cells, Strategy};
use ndarray::ArrayD;
use smallvec::SmallVec;

use crate::function_node::{FunctionInner, Input, Linked, Liveness};
use crate::generation::Order;
use crate::no_grad::RecordingGuard;
use crate::saved::Bits;
use crate::variable::{Grad, VariableInner};
use crate::{Error, Result, Saved, Tensor, Tensors, Variable};

/// How to run [`Variable::backward_with`] (and `grad` in autograd-ops).
///
/// ```
/// use autograd_core::{BackwardOptions, Variable};
/// let x = Variable::scalar(3.0);
/// let y = &x * &x;
/// y.backward_with(BackwardOptions::default().create_graph(true))?;
/// let gx = x.grad_variable().unwrap(); // 2x, with a graph
/// x.cleargrad();
/// gx.backward()?; // d(2x)/dx
/// assert_eq!(x.grad().unwrap().sum(), 2.0);
/// # Ok::<(), autograd_core::Error>(())
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
    /// use autograd_core::{BackwardOptions, Error, Variable};
    /// let x = Variable::scalar(3.0);
    /// let y = &(&x * &x) * &x;
    /// y.backward_with(BackwardOptions::default().retain_graph(false))?;
    /// assert_eq!(x.grad().unwrap().sum(), 27.0);
    /// assert!(y.creator().unwrap().is_released());
    /// assert_eq!(y.backward(), Err(Error::GraphReleased { op: "Mul" }));
    /// # Ok::<(), autograd_core::Error>(())
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
    /// seed's step-17 code would also feed the intermediate gradients it kept
    /// from the first call into the second; here every call starts afresh.)
    ///
    /// # Errors
    /// Whatever an op's backward returns, and [`Error::GradientCount`] or
    /// [`Error::GradientShape`] when an op returns the wrong gradients. On
    /// error no gradient is changed.
    pub fn backward(&self) -> Result<()> {
        self.backward_with(BackwardOptions::default())
    }

    /// [`backward`](Variable::backward) with a given output gradient,
    /// retained intermediate gradients, or a recorded graph of the gradients.
    ///
    /// With `create_graph`, each leaf's gradient is a variable with a graph
    /// ([`grad_variable`](Variable::grad_variable)); a second such backward
    /// adds to it as a recorded sum.
    ///
    /// # Errors
    /// As [`backward`](Variable::backward); [`Error::SeedShape`] when the
    /// given gradient's shape is not this variable's;
    /// [`Error::RetainGradWithCreateGraph`] for both options at once;
    /// [`Error::NoGraphBackward`] when `create_graph` meets an op without a
    /// variable-level backward; [`Error::BackwardOfConstant`] from a
    /// [constant](Variable::constant).
    pub fn backward_with(&self, options: BackwardOptions) -> Result<()> {
        if options.create_graph && options.retain_grad {
            return Err(Error::RetainGradWithCreateGraph);
        }
        if !self.requires_grad() {
            return Err(Error::BackwardOfConstant);
        }
        let seed = seed(self, options.grad)?;
        if options.create_graph {
            let _recording = RecordingGuard::new();
            let root = (self.clone(), Variable::constant_from_tensor(seed));
            let release = !options.retain_graph;
            let done = Pass::<S, Graph>::run([root], Capture::Store { retain: false }, release)?;
            for (variable, grad) in done.leaves {
                variable.accumulate_grad(Grad::Variable(grad))?;
            }
        } else {
            let capture = Capture::Store {
                retain: options.retain_grad,
            };
            let release = !options.retain_graph;
            let done = Pass::<S, Values>::run([(self.clone(), seed)], capture, release)?;
            for (variable, grad) in done.leaves.into_iter().chain(done.captured) {
                variable.accumulate_grad(Grad::Values(grad))?;
            }
        }
        S::maybe_collect();
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
/// # Errors
/// [`Error::GradForSeveralOutputs`] for a given gradient with several
/// outputs, [`Error::SeedShape`] for one of the wrong shape, and what
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
    let mut seeds = Vec::with_capacity(outputs.len());
    for output in outputs {
        seeds.push(((*output).clone(), seed(output, given.take())?));
    }
    let release = !options.retain_graph;
    let targets: HashSet<usize, NodeIds> = inputs.iter().map(|x| x.id()).collect();
    let zeros = |x: &Variable<S>| Variable::from_tensor(Tensor::zeros(&x.shape()));
    let found: HashMap<usize, Variable<S>, NodeIds> = if options.create_graph {
        let _recording = RecordingGuard::new();
        let seeds = seeds
            .into_iter()
            .map(|(y, seed)| (y, Variable::constant_from_tensor(seed)));
        let done = Pass::<S, Graph>::run(seeds, Capture::Targets(targets), release)?;
        done.leaves
            .into_iter()
            .chain(done.captured)
            .map(|(x, g)| (x.id(), g))
            .collect()
    } else {
        let done = Pass::<S, Values>::run(seeds, Capture::Targets(targets), release)?;
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
    S::maybe_collect();
    Ok(grads)
}

/// The gradients of a recomputed block's `outputs`, each seeded with the
/// gradient the enclosing pass brought it, with respect to the block's
/// `inputs`: the inner pass of a checkpoint (`autograd_ops::checkpoint`). A
/// first-order pass that stores nothing and lets go of the block's graph as
/// it runs; `None` for an input no output depends on.
///
/// # Errors
/// [`Error::LeafOutsideBlock`] naming `op` when the block's graph reaches a
/// leaf that needs a gradient and is not among `inputs` (its gradient would
/// be lost); [`Error::SeedShape`] for a seed of the wrong shape; and what
/// an op's backward returns.
pub fn block_gradients<S: Strategy>(
    op: &'static str,
    outputs: &[(&Variable<S>, Tensor)],
    inputs: &[&Variable<S>],
) -> Result<Vec<Option<Tensor>>> {
    let mut seeds = Vec::with_capacity(outputs.len());
    for (output, grad) in outputs {
        if grad.shape() != output.shape().as_slice() {
            return Err(Error::SeedShape {
                expected: output.shape(),
                got: grad.shape().to_vec(),
            });
        }
        if output.requires_grad() {
            seeds.push(((*output).clone(), grad.clone()));
        }
    }
    let targets: HashSet<usize, NodeIds> = inputs.iter().map(|x| x.id()).collect();
    let done = Pass::<S, Values>::run(seeds, Capture::Targets(targets), true)?;
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
fn seed<S: Strategy>(variable: &Variable<S>, given: Option<ArrayD<f64>>) -> Result<Tensor> {
    let shape = variable.shape();
    match given {
        Some(grad) if grad.shape() != shape.as_slice() => Err(Error::SeedShape {
            expected: shape,
            got: grad.shape().to_vec(),
        }),
        Some(grad) => Ok(Tensor::from_array(grad)),
        None => Ok(Tensor::ones(&shape)),
    }
}

/// What a pass keeps besides the leaves' gradients.
enum Capture {
    /// For `backward`: intermediate gradients too, when retaining.
    Store { retain: bool },
    /// For `grad`: the gradients of these variables (and no others).
    Targets(HashSet<usize, NodeIds>),
}

/// A gradient not yet passed on, and the leaf it belongs to (whose handle
/// keeps it alive until the pass ends).
struct Pending<S: Strategy, T> {
    grad: T,
    leaf: Option<Variable<S>>,
    /// An intermediate held until its creator runs (`retain_graph(false)`).
    held: Option<Variable<S>>,
}

/// What a finished pass found.
struct Done<S: Strategy, T> {
    /// Every leaf reached (for `Targets`, the targets among them).
    leaves: Vec<(Variable<S>, T)>,
    /// Intermediate gradients retained, or targets that are intermediates.
    captured: Vec<(Variable<S>, T)>,
    /// The shape of a leaf reached that is not a target (for `Targets`).
    outside: Option<crate::Shape>,
}

/// One backward call's state.
struct Pass<S: Strategy, G: Gradients<S>> {
    grads: HashMap<usize, Pending<S, G::Grad>, NodeIds>,
    schedule: BinaryHeap<Scheduled<S>>,
    /// Functions with several outputs already scheduled (one with a single
    /// output is scheduled exactly when that output gets its first gradient).
    scheduled_several: HashSet<usize, NodeIds>,
    capture: Capture,
    captured: Vec<(Variable<S>, G::Grad)>,
    /// `retain_graph(false)`: each function lets go of its links as it runs.
    release: bool,
}

impl<S: Strategy, G: Gradients<S>> Pass<S, G> {
    /// Runs a pass from `roots` (each with its starting gradient).
    fn run(
        roots: impl IntoIterator<Item = (Variable<S>, G::Grad)>,
        capture: Capture,
        release: bool,
    ) -> Result<Done<S, G::Grad>> {
        let mut pass = Pass::<S, G> {
            grads: HashMap::default(),
            schedule: BinaryHeap::new(),
            scheduled_several: HashSet::default(),
            capture,
            captured: Vec::new(),
            release,
        };
        for (root, grad) in roots {
            if root.is_leaf() {
                pass.add_to_leaf(root, grad)?;
            } else {
                pass.add_to_intermediate(&S::get(&root.node), grad, None)?;
            }
        }
        while let Some(Scheduled { function, .. }) = pass.schedule.pop() {
            pass.step(&S::get_link(&function))?;
        }
        let targets = match &pass.capture {
            Capture::Targets(targets) => Some(targets),
            Capture::Store { .. } => None,
        };
        let mut outside = None;
        let leaves = pass
            .grads
            .into_iter()
            .filter_map(|(id, pending)| pending.leaf.map(|leaf| (id, leaf, pending.grad)))
            .filter(|(id, leaf, _)| {
                let wanted = targets.is_none_or(|targets| targets.contains(id));
                if !wanted && outside.is_none() {
                    outside = Some(leaf.shape());
                }
                wanted
            })
            .map(|(_, leaf, grad)| (leaf, grad))
            .collect();
        Ok(Done {
            leaves,
            captured: pass.captured,
            outside,
        })
    }

    /// Adds `grad` to what an intermediate variable has received; schedules
    /// its creator on the first.
    /// `held` keeps the variable alive until its creator has run, when the
    /// functions that read it let go of it first (`retain_graph(false)`).
    fn add_to_intermediate(
        &mut self,
        node: &VariableInner<S>,
        grad: G::Grad,
        held: Option<Variable<S>>,
    ) -> Result<()> {
        match self.grads.entry(crate::addr(node)) {
            Entry::Occupied(mut entry) => G::accumulate(&mut entry.get_mut().grad, grad),
            Entry::Vacant(entry) => {
                entry.insert(Pending {
                    grad,
                    leaf: None,
                    held,
                });
                if let Some(creator) = &node.creator {
                    self.schedule(creator);
                }
                Ok(())
            }
        }
    }

    /// Adds `grad` to what a leaf has received.
    fn add_to_leaf(&mut self, leaf: Variable<S>, grad: G::Grad) -> Result<()> {
        match self.grads.entry(leaf.id()) {
            Entry::Occupied(mut entry) => G::accumulate(&mut entry.get_mut().grad, grad),
            Entry::Vacant(entry) => {
                entry.insert(Pending {
                    grad,
                    leaf: Some(leaf),
                    held: None,
                });
                Ok(())
            }
        }
    }

    fn schedule(&mut self, function: &S::Link<FunctionInner<S>>) {
        let inner = S::get_link(function);
        if inner.has_several_outputs() && !self.scheduled_several.insert(crate::addr(&*inner)) {
            return;
        }
        self.schedule.push(Scheduled {
            order: inner.order,
            function: function.clone(),
        });
    }

    /// Runs one function's backward and passes the gradients to its inputs.
    /// Without `retain_graph` the function lets go of its links first and
    /// they are dropped once its gradients are passed on.
    fn step(&mut self, function: &FunctionInner<S>) -> Result<()> {
        let released = || Error::GraphReleased {
            op: function.op().name(),
        };
        if self.release {
            let links = function.let_go(Liveness::Released).ok_or_else(released)?;
            self.step_on(Linked {
                node: function,
                links: &links,
            })
        } else {
            function.linked(|linked| match function.liveness() {
                Liveness::Live => self.step_on(linked),
                Liveness::Released | Liveness::Cut => Err(released()),
            })
        }
    }

    fn step_on(&mut self, function: Linked<'_, S>) -> Result<()> {
        let mut gys = G::List::default();
        // What keeps the outputs alive until the derivative has read them
        // (only when releasing: otherwise the graph does).
        let mut _held: SmallVec<[Option<Variable<S>>; 1]> = SmallVec::new();
        if let Some(back) = S::Cells::once_get(&function.node.output) {
            // One output, and backward came here through it: it is alive.
            let grad = match self.grads.remove(&S::back_addr(back)) {
                Some(pending) => {
                    if self.capturing() {
                        if let Some(node) = S::upgrade(back) {
                            self.capture(&Variable { node }, &pending.grad);
                        }
                    }
                    _held.push(pending.held);
                    pending.grad
                }
                None => G::zeros(
                    &S::upgrade(back).map_or_else(Vec::new, |node| Variable::<S> { node }.shape()),
                ),
            };
            G::push(&mut gys, grad);
        } else {
            for (output, shape) in function.outputs() {
                let grad = match &output {
                    Some(y) => match self.grads.remove(&y.id()) {
                        Some(pending) => {
                            self.capture(y, &pending.grad);
                            _held.push(pending.held);
                            pending.grad
                        }
                        None => G::zeros(&y.shape()),
                    },
                    // A gone output, whose shape the function kept.
                    None => G::zeros(shape.unwrap_or_default()),
                };
                G::push(&mut gys, grad);
            }
        }
        // Which inputs receive a gradient: those that needed one when the
        // function was recorded (not constants) and are alive (a leaf
        // nobody holds any more gets none: nobody could read it).
        let inputs = function.inputs();
        let mut needs = function.recorded_needs();
        for (i, input) in inputs.iter().enumerate() {
            if let Input::Leaf(back, _) = input {
                if needs.get(i) && S::upgrade(back).is_none() {
                    needs.unset(i);
                }
            }
        }
        if !needs.any() {
            return Ok(());
        }
        let gxs = G::backward(function, &needs, gys)?;
        for (i, (input, gx)) in inputs.iter().zip(gxs).enumerate() {
            let Some(gx) = gx.filter(|_| needs.get(i)) else {
                continue;
            };
            match input {
                Input::Variable(link) => {
                    let node = S::get_link(link);
                    if node.is_unchained() {
                        // Unchained since this function read it: a leaf.
                        let leaf = Variable {
                            node: S::handle(link),
                        };
                        self.add_to_leaf(leaf, gx)?;
                    } else {
                        let held = self.release.then(|| Variable {
                            node: S::handle(link),
                        });
                        self.add_to_intermediate(&node, gx, held)?;
                    }
                }
                Input::Leaf(back, _) => self.add_to_leaf_input(back, gx)?,
            }
        }
        Ok(())
    }

    /// Adds `grad` to what a leaf a function reads has received; a leaf that
    /// is gone gets nothing (nobody can read its gradient). Upgraded only the
    /// first time, to hold it until the pass ends.
    fn add_to_leaf_input(&mut self, back: &S::Back<VariableInner<S>>, grad: G::Grad) -> Result<()> {
        match self.grads.entry(S::back_addr(back)) {
            Entry::Occupied(mut entry) => G::accumulate(&mut entry.get_mut().grad, grad),
            Entry::Vacant(entry) => {
                if let Some(node) = S::upgrade(back) {
                    entry.insert(Pending {
                        grad,
                        leaf: Some(Variable { node }),
                        held: None,
                    });
                }
                Ok(())
            }
        }
    }

    fn capturing(&self) -> bool {
        match &self.capture {
            Capture::Store { retain } => *retain,
            Capture::Targets(targets) => !targets.is_empty(),
        }
    }

    /// Keeps a copy of an intermediate's complete gradient, if asked to.
    fn capture(&mut self, variable: &Variable<S>, grad: &G::Grad) {
        let wanted = match &self.capture {
            Capture::Store { retain } => *retain,
            Capture::Targets(targets) => targets.contains(&variable.id()),
        };
        if wanted {
            self.captured.push((variable.clone(), G::copy(grad)));
        }
    }
}

/// What gradients are in a pass: values, or variables with graphs.
trait Gradients<S: Strategy> {
    type Grad;
    /// A list of gradients, one per output or input.
    type List: Default + IntoIterator<Item = Self::Grad>;
    fn push(list: &mut Self::List, grad: Self::Grad);
    fn zeros(shape: &[usize]) -> Self::Grad;
    fn copy(grad: &Self::Grad) -> Self::Grad;
    fn accumulate(sum: &mut Self::Grad, grad: Self::Grad) -> Result<()>;
    /// Runs `function`'s backward on the outputs' gradients for the inputs
    /// that `needs` marks; checks the count and shapes of what it returns.
    fn backward(function: Linked<'_, S>, needs: &Bits, gys: Self::List) -> Result<Self::Out>;
    /// One gradient per input; `None` for an input that gets none.
    type Out: IntoIterator<Item = Option<Self::Grad>>;
}

/// One gradient per input; `None` for an input that gets none.
type InputGrads<T> = SmallVec<[Option<T>; 2]>;

/// The inputs' values as forward read them.
fn input_values<S: Strategy>(function: Linked<'_, S>) -> Tensors {
    match function.inputs() {
        [a] => a.value().into(),
        [a, b] => [a.value(), b.value()].into(),
        inputs => inputs.iter().map(Input::value).collect(),
    }
}

/// Gradients as tensors: each op's array-level backward.
struct Values;

impl<S: Strategy> Gradients<S> for Values {
    type Grad = Tensor;
    type List = Tensors;
    type Out = EachSome;

    fn push(list: &mut Tensors, grad: Tensor) {
        list.push(grad);
    }

    fn zeros(shape: &[usize]) -> Tensor {
        Tensor::zeros(shape)
    }

    fn copy(grad: &Tensor) -> Tensor {
        grad.clone()
    }

    fn accumulate(sum: &mut Tensor, grad: Tensor) -> Result<()> {
        sum.add_assign(&grad);
        Ok(())
    }

    fn backward(function: Linked<'_, S>, needs: &Bits, gys: Tensors) -> Result<Self::Out> {
        let xs = input_values(function);
        let op = function.op();
        let gxs = if function.is_legacy() {
            op.backward(&xs, gys)?
        } else {
            op.backward_arrays(&Saved::new(function, &xs, needs, false), gys)?
        };
        check(
            op.name(),
            needs,
            xs.iter().map(Tensor::shape),
            gxs.iter().map(|gx| Some(gx.shape())),
        )?;
        Ok(EachSome(gxs.into_iter()))
    }
}

/// An array-level backward's gradients, each as `Some` (the engine skips
/// the entries of inputs that need none).
struct EachSome(crate::TensorsIntoIter);

impl Iterator for EachSome {
    type Item = Option<Tensor>;

    #[inline]
    fn next(&mut self) -> Option<Option<Tensor>> {
        self.0.next().map(Some)
    }
}

/// Gradients as variables: each op's variable-level backward, recorded.
struct Graph;

impl<S: Strategy> Gradients<S> for Graph {
    type Grad = Variable<S>;
    type List = SmallVec<[Variable<S>; 2]>;
    type Out = InputGrads<Variable<S>>;

    fn push(list: &mut Self::List, grad: Variable<S>) {
        list.push(grad);
    }

    fn zeros(shape: &[usize]) -> Variable<S> {
        Variable::constant_from_tensor(Tensor::zeros(shape))
    }

    fn copy(grad: &Variable<S>) -> Variable<S> {
        grad.clone()
    }

    fn accumulate(sum: &mut Variable<S>, grad: Variable<S>) -> Result<()> {
        *sum = sum.try_add(&grad)?;
        Ok(())
    }

    fn backward(
        function: Linked<'_, S>,
        needs: &Bits,
        gys: SmallVec<[Variable<S>; 2]>,
    ) -> Result<Self::Out> {
        let op = function.op();
        let values = input_values(function);
        let gxs: InputGrads<Variable<S>> = if function.is_legacy() {
            let ys: SmallVec<[Option<Variable<S>>; 1]> =
                function.outputs().into_iter().map(|(y, _)| y).collect();
            // Leaves as forward read them (a constant once gone).
            let xs = function
                .inputs()
                .iter()
                .map(Input::as_forward_read_it)
                .collect::<Result<SmallVec<[Variable<S>; 2]>>>()?;
            op.backward_graph(&xs, &ys, &gys)?
                .into_iter()
                .map(Some)
                .collect()
        } else {
            let cx = Saved::new(function, &values, needs, true);
            op.derivative(&cx, &gys)?.into_iter().collect()
        };
        let gx_shapes: SmallVec<[Option<Vec<usize>>; 2]> = gxs
            .iter()
            .map(|gx| gx.as_ref().map(Variable::shape))
            .collect();
        check(
            op.name(),
            needs,
            values.iter().map(Tensor::shape),
            gx_shapes.iter().map(Option::as_deref),
        )?;
        Ok(gxs)
    }
}

/// Checks that an op returned one gradient per input, each of its input's
/// shape where the input needs one (the others are ignored).
fn check<'a>(
    op: &'static str,
    needs: &Bits,
    xs: impl ExactSizeIterator<Item = &'a [usize]>,
    gxs: impl ExactSizeIterator<Item = Option<&'a [usize]>>,
) -> Result<()> {
    if xs.len() != gxs.len() {
        return Err(Error::GradientCount {
            op,
            expected: xs.len(),
            got: gxs.len(),
        });
    }
    for (index, (x, gx)) in xs.zip(gxs).enumerate() {
        let Some(gx) = gx.filter(|_| needs.get(index)) else {
            continue;
        };
        if x.len() != gx.len() || x.iter().zip(gx).any(|(a, b)| a != b) {
            return Err(Error::GradientShape {
                op,
                index,
                expected: x.to_vec(),
                got: gx.to_vec(),
            });
        }
    }
    Ok(())
}

/// A scheduled function, ordered by generation, then by creation order.
struct Scheduled<S: Strategy> {
    order: Order,
    function: S::Link<FunctionInner<S>>,
}

impl<S: Strategy> PartialEq for Scheduled<S> {
    fn eq(&self, other: &Self) -> bool {
        self.order == other.order
    }
}

impl<S: Strategy> Eq for Scheduled<S> {}

impl<S: Strategy> PartialOrd for Scheduled<S> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl<S: Strategy> Ord for Scheduled<S> {
    fn cmp(&self, other: &Self) -> Ordering {
        self.order.cmp(&other.order)
    }
}

/// Hashes node addresses: one multiply, high bits folded down (addresses are
/// aligned, so their low bits carry nothing). SipHash would resist crafted
/// keys, which node addresses are not, at several times the cost.
type NodeIds = BuildHasherDefault<NodeIdHasher>;

#[derive(Default)]
struct NodeIdHasher(u64);

impl Hasher for NodeIdHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.write_u64(u64::from(byte));
        }
    }

    fn write_u64(&mut self, n: u64) {
        let h = (self.0 ^ n).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        self.0 = h ^ (h >> 32);
    }

    fn write_usize(&mut self, n: usize) {
        self.write_u64(n as u64);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}
