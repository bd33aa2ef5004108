//! One backward pass: the walk over a graph and its buffers.
//!
//! DeZero (step 17) keeps a list of pending functions, re-sorts it by
//! generation on every insert and pops the last. Here a max-heap keyed by
//! each function's [`Order`] (a number that grows with creation and is
//! larger than those of the functions it depends on) pops the pending
//! function created last: a topological order, the reverse of creation on
//! one thread, and the same under every strategy, so the gradients that
//! meet at a variable are summed in the same order whatever owns the graph.
//!
//! Gradients live in a buffer owned by the pass, keyed by variable node, so
//! that concurrent passes over one `ArcWeak` graph never see each other's.
//! Those that meet at a variable are summed. An intermediate gradient is
//! removed from the buffer when its creator runs and handed to the op by
//! value; what remains at the end belongs to leaves (or to intermediates a
//! restricted pass does not go behind). A function is scheduled when its
//! output receives its first gradient (a function with several outputs is
//! also marked, so that it runs once). Nothing is written to any variable
//! until every function has run, so a failed backward changes no gradient.
//!
//! One traversal serves both kinds of pass ([`Gradients`]): gradients as
//! values (a tensor per variable, each op's `backward_arrays`) and, with
//! `create_graph`, gradients as variables whose graph records how they were
//! computed (each op's `derivative`, recorded).

use std::cmp::Ordering;
use std::collections::hash_map::Entry;
use std::collections::{BinaryHeap, HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};

use autograd_mem::{Cells, Strategy};
use smallvec::SmallVec;

use crate::function_node::{FunctionInner, Input, Linked, Liveness, release_links};
use crate::generation::Order;
use crate::plan::Bits;
use crate::variable::VariableInner;
use crate::{Error, Result, Saved, Tensor, Tensors, Variable};

/// What a pass keeps besides the leaves' gradients.
pub(crate) enum Capture {
    /// For `backward`: intermediate gradients too, when retaining.
    Store { retain: bool },
    /// For `grad` and checkpoints: the gradients of these variables (and
    /// no others).
    Targets(HashSet<usize, NodeIds>),
}

/// How a pass runs.
pub(crate) struct Mode {
    /// What it keeps besides the leaves' gradients.
    pub(crate) capture: Capture,
    /// `retain_graph(false)`: each function lets go of its links as it runs.
    pub(crate) release: bool,
    /// Run only the functions between the roots and the targets (a `grad`
    /// pass, as `torch.autograd.grad`): `false` runs every function the
    /// roots reach.
    pub(crate) between: bool,
}

/// A gradient not yet passed on, and the leaf it belongs to (whose handle
/// keeps it alive until the pass ends).
struct Pending<S: Strategy, T> {
    grad: T,
    leaf: Option<Variable<S>>,
    /// An intermediate held until its creator runs (`retain_graph(false)`),
    /// or, in a restricted pass, until the pass ends.
    held: Option<Variable<S>>,
}

/// What a finished pass found.
pub(crate) struct Done<S: Strategy, T> {
    /// Every leaf reached (for `Targets`, the targets among them).
    pub(crate) leaves: Vec<(Variable<S>, T)>,
    /// Intermediate gradients retained, or targets that are intermediates.
    pub(crate) captured: Vec<(Variable<S>, T)>,
    /// The shape of a leaf reached that is not a target (for `Targets`).
    pub(crate) outside: Option<crate::Shape>,
}

/// One backward call's state.
pub(crate) struct Pass<S: Strategy, G: Gradients<S>> {
    grads: HashMap<usize, Pending<S, G::Grad>, NodeIds>,
    schedule: BinaryHeap<Scheduled<S>>,
    /// Functions with several outputs already scheduled (one with a single
    /// output is scheduled exactly when that output gets its first gradient).
    scheduled_several: HashSet<usize, NodeIds>,
    mode: Mode,
    /// For a restricted pass, the functions between the roots and the
    /// targets: the only ones it runs.
    between: Option<HashSet<usize, NodeIds>>,
    captured: Vec<(Variable<S>, G::Grad)>,
    /// In a releasing pass, the outputs of the functions it ran: those
    /// still alive at the end are recorded on the roots' creators.
    ran_outputs: Vec<S::Back<VariableInner<S>>>,
}

impl<S: Strategy, G: Gradients<S>> Pass<S, G> {
    /// Runs a pass from `roots` (each with its starting gradient).
    pub(crate) fn run(
        roots: impl IntoIterator<Item = (Variable<S>, G::Grad)>,
        mode: Mode,
    ) -> Result<Done<S, G::Grad>> {
        let roots: Vec<_> = roots.into_iter().collect();
        let between = match (&mode.capture, mode.between) {
            (Capture::Targets(targets), true) => Some(between(roots.iter().map(|r| &r.0), targets)),
            _ => None,
        };
        let mut pass = Pass::<S, G> {
            grads: HashMap::default(),
            schedule: BinaryHeap::new(),
            scheduled_several: HashSet::default(),
            mode,
            between,
            captured: Vec::new(),
            ran_outputs: Vec::new(),
        };
        let root_creators: Vec<_> = roots
            .iter()
            .filter_map(|(r, _)| r.inner().creator())
            .collect();
        for (root, grad) in roots {
            if root.is_leaf() {
                pass.add_to_leaf(root, grad)?;
            } else {
                let held = Some(root.clone());
                pass.add_to_intermediate(&root, grad, held)?;
            }
        }
        while let Some(Scheduled { function, .. }) = pass.schedule.pop() {
            pass.step(&function)?;
        }
        if pass.mode.release {
            pass.record_survivors(&root_creators);
        }
        let targets = match &pass.mode.capture {
            Capture::Targets(targets) => Some(targets),
            Capture::Store { .. } => None,
        };
        let mut outside = None;
        let mut leaves = Vec::new();
        let mut captured = pass.captured;
        for (id, pending) in pass.grads {
            let wanted = targets.is_none_or(|targets| targets.contains(&id));
            match (pending.leaf, pending.held) {
                (Some(leaf), _) if wanted => leaves.push((leaf, pending.grad)),
                (Some(leaf), _) => {
                    outside.get_or_insert_with(|| leaf.shape());
                }
                // An intermediate whose creator a restricted pass left alone.
                (None, Some(variable)) if targets.is_some() && wanted => {
                    captured.push((variable, pending.grad));
                }
                (None, _) => {}
            }
        }
        Ok(Done {
            leaves,
            captured,
            outside,
        })
    }

    /// Adds `grad` to what an intermediate variable has received; schedules
    /// its creator on the first. `held` keeps the variable alive until its
    /// creator has run, when the functions that read it let go of it first
    /// (`retain_graph(false)`), and in a restricted pass until the end.
    fn add_to_intermediate(
        &mut self,
        variable: &Variable<S>,
        grad: G::Grad,
        held: Option<Variable<S>>,
    ) -> Result<()> {
        match self.grads.entry(variable.id()) {
            Entry::Occupied(mut entry) => G::accumulate(&mut entry.get_mut().grad, grad),
            Entry::Vacant(entry) => {
                entry.insert(Pending {
                    grad,
                    leaf: None,
                    held,
                });
                if let Some(creator) = variable.inner().creator() {
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

    fn schedule(&mut self, function: S::Link<FunctionInner<S>>) {
        let inner = S::get_link(&function);
        let id = crate::addr(&*inner);
        if self
            .between
            .as_ref()
            .is_some_and(|between| !between.contains(&id))
        {
            return;
        }
        if inner.has_several_outputs() && !self.scheduled_several.insert(id) {
            return;
        }
        let order = inner.order;
        drop(inner);
        self.schedule.push(Scheduled { order, function });
    }

    /// Runs one function's backward and passes the gradients to its inputs.
    /// Without `retain_graph` the function lets go of its links first and
    /// they are dropped once its gradients are passed on. Inputs found to
    /// be leaves since the function read them (unchained) are held as
    /// leaves from then on.
    fn step(&mut self, link: &S::Link<FunctionInner<S>>) -> Result<()> {
        let function = S::get_link(link);
        let released = || Error::GraphReleased {
            op: function.op().name(),
        };
        if self.mode.release {
            let links = function.let_go(Liveness::Released).ok_or_else(released)?;
            let stepped = self.step_on(Linked {
                node: &function,
                links: &links,
            });
            drop(function);
            release_links::<S>(link, links);
            stepped.map(drop)
        } else {
            let cut = function.linked(|linked| match function.liveness() {
                Liveness::Live => self.step_on(linked),
                Liveness::Released | Liveness::Cut => Err(released()),
            })?;
            if !cut.is_empty() {
                let links = function.hold_as_leaves(&cut);
                drop(function);
                for input in links {
                    <S::Placement as autograd_mem::Placement<S>>::let_go(link, input);
                }
            }
            Ok(())
        }
    }

    /// Runs one function's backward on its links; returns the indices of
    /// intermediate inputs that turned out to be leaves (unchained since).
    fn step_on(&mut self, function: Linked<'_, S>) -> Result<SmallVec<[usize; 2]>> {
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
            if self.mode.release {
                self.ran_outputs.push(back.clone());
            }
            G::push(&mut gys, grad);
        } else {
            for (output, shape) in function.outputs() {
                let grad = match &output {
                    Some(y) => {
                        if self.mode.release {
                            self.ran_outputs.push(S::back(&y.node));
                        }
                        match self.grads.remove(&y.id()) {
                            Some(pending) => {
                                self.capture(y, &pending.grad);
                                _held.push(pending.held);
                                pending.grad
                            }
                            None => G::zeros(&y.shape()),
                        }
                    }
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
        let mut cut = SmallVec::new();
        if !needs.any() {
            return Ok(cut);
        }
        let gxs = G::backward(function, &needs, gys)?;
        for (i, (input, gx)) in inputs.iter().zip(gxs).enumerate() {
            let Some(gx) = gx.filter(|_| needs.get(i)) else {
                continue;
            };
            match input {
                Input::Variable(link) => {
                    let variable = Variable {
                        node: S::handle(link),
                    };
                    if variable.is_leaf() {
                        // Unchained since this function read it: a leaf.
                        cut.push(i);
                        self.add_to_leaf(variable, gx)?;
                    } else {
                        let held =
                            (self.mode.release || self.between.is_some()).then(|| variable.clone());
                        self.add_to_intermediate(&variable, gx, held)?;
                    }
                }
                Input::Leaf(back, _) => self.add_to_leaf_input(back, gx)?,
            }
        }
        Ok(cut)
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
        match &self.mode.capture {
            Capture::Store { retain } => *retain,
            Capture::Targets(targets) => !targets.is_empty(),
        }
    }

    /// Keeps a copy of an intermediate's complete gradient, if asked to.
    fn capture(&mut self, variable: &Variable<S>, grad: &G::Grad) {
        let wanted = match &self.mode.capture {
            Capture::Store { retain } => *retain,
            Capture::Targets(targets) => targets.contains(&variable.id()),
        };
        if wanted {
            self.captured.push((variable.clone(), G::copy(grad)));
        }
    }

    /// Records, on the creators of a releasing pass's roots, the variables
    /// the pass ran the creators of that are still alive (held by someone
    /// else than the graph), for `unchain_backward`.
    fn record_survivors(&mut self, root_creators: &[S::Link<FunctionInner<S>>]) {
        let roots: HashSet<usize> = root_creators
            .iter()
            .map(|creator| crate::addr(&*S::get_link(creator)))
            .collect();
        let mut seen = HashSet::new();
        let survivors: Box<[_]> = std::mem::take(&mut self.ran_outputs)
            .into_iter()
            .filter(|back| {
                S::upgrade(back).is_some_and(|node| {
                    let variable = Variable::<S> { node };
                    let id = variable.id();
                    let creator = variable.inner().creator();
                    seen.insert(id)
                        && !creator.is_some_and(|c| roots.contains(&crate::addr(&*S::get_link(&c))))
                })
            })
            .collect();
        if survivors.is_empty() {
            return;
        }
        for creator in root_creators {
            S::get_link(creator).keep_survivors(survivors.clone());
        }
    }
}

/// The functions that lie between `roots` and `targets`: those a root
/// reaches (not going behind a target) from which a target can be reached.
/// A walk collects what the roots reach, and a sweep in creation order
/// (a function's inputs' creators come before it) marks each function that
/// reads a target or the output of a marked one; no recursion.
fn between<'a, S: Strategy>(
    roots: impl Iterator<Item = &'a Variable<S>>,
    targets: &HashSet<usize, NodeIds>,
) -> HashSet<usize, NodeIds> {
    struct Met {
        order: Order,
        id: usize,
        /// Released: its inputs are unknown, so it is run (and reports
        /// that it was released) rather than skipped.
        released: bool,
        /// Its inputs: (variable id, its creator's id).
        inputs: Vec<(usize, Option<usize>)>,
    }
    let mut met: Vec<Met> = Vec::new();
    let mut seen = HashSet::<usize, NodeIds>::default();
    let mut queue: Vec<Variable<S>> = roots
        .filter(|root| !targets.contains(&root.id()))
        .cloned()
        .collect();
    while let Some(variable) = queue.pop() {
        let Some(creator) = variable.inner().creator() else {
            continue;
        };
        let function = S::get_link(&creator);
        let id = crate::addr(&*function);
        if !seen.insert(id) {
            continue;
        }
        let inputs: Vec<Variable<S>> =
            function.linked(|f| f.inputs().iter().filter_map(Input::variable).collect());
        let order = function.order;
        let released = function.liveness() != Liveness::Live;
        drop(function);
        let mut read = Vec::with_capacity(inputs.len());
        for input in inputs {
            let creator = input.inner().creator();
            read.push((input.id(), creator.map(|c| crate::addr(&*S::get_link(&c)))));
            if !targets.contains(&input.id()) {
                queue.push(input);
            }
        }
        met.push(Met {
            order,
            id,
            released,
            inputs: read,
        });
    }
    met.sort_unstable_by_key(|m| m.order);
    let mut marked = HashSet::<usize, NodeIds>::default();
    for m in &met {
        let leads = m.released
            || m.inputs.iter().any(|&(variable, creator)| {
                targets.contains(&variable)
                    || creator.is_some_and(|creator| marked.contains(&creator))
            });
        if leads {
            marked.insert(m.id);
        }
    }
    marked
}

/// What gradients are in a pass: values, or variables with graphs.
pub(crate) trait Gradients<S: Strategy> {
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
pub(crate) struct Values;

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
        let gxs = op.backward_arrays(&Saved::new(function, &xs, needs, false), gys)?;
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
pub(crate) struct EachSome(crate::TensorsIntoIter);

impl Iterator for EachSome {
    type Item = Option<Tensor>;

    #[inline]
    fn next(&mut self) -> Option<Option<Tensor>> {
        self.0.next().map(Some)
    }
}

/// Gradients as variables: each op's derivative, recorded.
pub(crate) struct Graph;

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
        let cx = Saved::new(function, &values, needs, true);
        let gxs: InputGrads<Variable<S>> = op.derivative(&cx, &gys)?.into_iter().collect();
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

/// A scheduled function, ordered by its [`Order`].
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
pub(crate) type NodeIds = BuildHasherDefault<NodeIdHasher>;

/// The hasher of [`NodeIds`].
#[derive(Default)]
pub(crate) struct NodeIdHasher(u64);

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
