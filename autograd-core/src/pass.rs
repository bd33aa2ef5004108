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
    /// With `between`: when the roots reach a leaf that needs a gradient
    /// and is not a target, run nothing and report it (`Done::outside`): a
    /// checkpoint's inner pass, whose block reached outside its inputs.
    pub(crate) refuse_outside: bool,
}

/// A gradient not yet passed on to an intermediate's creator.
struct Pending<S: Strategy, T> {
    grad: T,
    /// The variable, held until its creator runs when the functions that
    /// read it let go of it first (`retain_graph(false)`), and in a
    /// restricted pass until the end (its gradient may be a target's).
    held: Option<Variable<S>>,
}

/// An intermediate input's gradient from one step, on its way to the
/// buffer or straight to its creator.
struct Handed<S: Strategy, T> {
    id: usize,
    creator: S::Link<FunctionInner<S>>,
    grad: T,
    held: Option<Variable<S>>,
}

/// The gradients the leaves have received, in the order they first
/// arrived, found by address (with the last one found kept at hand: a
/// chain that reads one leaf at every step finds it without hashing).
struct Leaves<S: Strategy, T> {
    found: Vec<(usize, Variable<S>, T)>,
    index: HashMap<usize, usize, NodeIds>,
    last: usize,
}

impl<S: Strategy, T> Leaves<S, T> {
    fn new() -> Self {
        Leaves {
            found: Vec::new(),
            index: HashMap::default(),
            last: usize::MAX,
        }
    }

    /// The place of the leaf at `id`, if it has received a gradient.
    #[inline]
    fn position(&mut self, id: usize) -> Option<usize> {
        if self.found.get(self.last).is_some_and(|(at, ..)| *at == id) {
            return Some(self.last);
        }
        let at = *self.index.get(&id)?;
        self.last = at;
        Some(at)
    }

    fn push(&mut self, id: usize, leaf: Variable<S>, grad: T) {
        self.last = self.found.len();
        self.index.insert(id, self.last);
        self.found.push((id, leaf, grad));
    }
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
    leaves: Leaves<S, G::Grad>,
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
    /// The complete gradient of the one output of the function that runs
    /// next without the schedule (the one [`step`](Pass::step) returned),
    /// kept here rather than returned beside it: the gradient stays where
    /// it was written until that function takes it, instead of being moved
    /// through the loop's temporaries.
    carried: Option<Pending<S, G::Grad>>,
}

impl<S: Strategy, G: Gradients<S>> Pass<S, G> {
    /// Runs a pass from `roots` (each with its starting gradient).
    ///
    /// The pending function created last runs next: from the schedule, or
    /// at once when the function just run handed its only intermediate
    /// input's complete gradient to that input's creator and nothing
    /// pending comes before it (a chain runs without the schedule and
    /// without the buffer).
    pub(crate) fn run(
        roots: impl IntoIterator<Item = (Variable<S>, G::Grad)>,
        mode: Mode,
    ) -> Result<Done<S, G::Grad>> {
        let roots: Vec<_> = roots.into_iter().collect();
        let between = match (&mode.capture, mode.between) {
            (Capture::Targets(targets), true) => {
                let (between, outside) = between(roots.iter().map(|r| &r.0), targets);
                if let (true, Some(shape)) = (mode.refuse_outside, outside) {
                    return Ok(Done {
                        leaves: Vec::new(),
                        captured: Vec::new(),
                        outside: Some(shape),
                    });
                }
                Some(between)
            }
            _ => None,
        };
        let mut pass = Pass::<S, G> {
            grads: HashMap::default(),
            leaves: Leaves::new(),
            schedule: BinaryHeap::new(),
            scheduled_several: HashSet::default(),
            mode,
            between,
            captured: Vec::new(),
            ran_outputs: Vec::new(),
            carried: None,
        };
        let root_creators: Vec<_> = roots
            .iter()
            .filter_map(|(r, _)| r.inner().creator())
            .collect();
        for (root, grad) in roots {
            let creator = root.inner().creator();
            match creator {
                None => pass.add_to_leaf(root, grad)?,
                Some(creator) => {
                    let held = Some(root.clone());
                    pass.add_to_intermediate(root.id(), creator, grad, held)?;
                }
            }
        }
        let mut forced = None;
        loop {
            let function = match forced.take() {
                Some(function) => function,
                None => match pass.schedule.pop() {
                    Some(Scheduled { function, .. }) => function,
                    None => break,
                },
            };
            forced = pass.step(&function)?;
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
        for (id, leaf, grad) in pass.leaves.found {
            if targets.is_none_or(|targets| targets.contains(&id)) {
                leaves.push((leaf, grad));
            } else {
                outside.get_or_insert_with(|| leaf.shape());
            }
        }
        let mut captured = pass.captured;
        if let Some(targets) = targets {
            // Intermediates whose creator a restricted pass left alone.
            for (id, pending) in pass.grads {
                if let (true, Some(variable)) = (targets.contains(&id), pending.held) {
                    captured.push((variable, pending.grad));
                }
            }
        }
        Ok(Done {
            leaves,
            captured,
            outside,
        })
    }

    /// Adds `grad` to what the intermediate at `id` (made by `creator`) has
    /// received; schedules its creator on the first. `held` keeps the
    /// variable alive until its creator has run, when the functions that
    /// read it let go of it first (`retain_graph(false)`), and in a
    /// restricted pass until the end.
    fn add_to_intermediate(
        &mut self,
        id: usize,
        creator: S::Link<FunctionInner<S>>,
        grad: G::Grad,
        held: Option<Variable<S>>,
    ) -> Result<()> {
        match self.grads.entry(id) {
            Entry::Occupied(mut entry) => G::accumulate(&mut entry.get_mut().grad, grad),
            Entry::Vacant(entry) => {
                entry.insert(Pending { grad, held });
                self.schedule(creator);
                Ok(())
            }
        }
    }

    /// Adds `grad` to what a leaf has received.
    fn add_to_leaf(&mut self, leaf: Variable<S>, grad: G::Grad) -> Result<()> {
        let id = leaf.id();
        match self.leaves.position(id) {
            Some(at) => G::accumulate(&mut self.leaves.found[at].2, grad),
            None => {
                self.leaves.push(id, leaf, grad);
                Ok(())
            }
        }
    }

    /// Whether a restricted pass runs `function`.
    #[inline]
    fn runs(&self, id: usize) -> bool {
        self.between
            .as_ref()
            .is_none_or(|between| between.contains(&id))
    }

    fn schedule(&mut self, function: S::Link<FunctionInner<S>>) {
        let inner = S::get_link(&function);
        let id = crate::addr(&*inner);
        if !self.runs(id) {
            return;
        }
        if inner.has_several_outputs() && !self.scheduled_several.insert(id) {
            return;
        }
        let order = inner.order;
        drop(inner);
        self.schedule.push(Scheduled { order, function });
    }

    /// Runs one function's backward and passes the gradients to its inputs;
    /// its output's gradient is in `carried` when it runs without the
    /// schedule. Without `retain_graph` the function lets go of its links
    /// first and they are dropped once its gradients are passed on. Inputs
    /// found to be leaves since the function read them (unchained) are
    /// held as leaves from then on. Returns the function to run next
    /// without the schedule, if any.
    fn step(
        &mut self,
        link: &S::Link<FunctionInner<S>>,
    ) -> Result<Option<S::Link<FunctionInner<S>>>> {
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
            stepped.map(|(forced, _)| forced)
        } else {
            let (forced, cut) = function.linked(|linked| match function.liveness() {
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
            Ok(forced)
        }
    }

    /// Runs one function's backward on its links; returns the function to
    /// run next without the schedule, if any, and the indices of
    /// intermediate inputs that turned out to be leaves (unchained since).
    #[allow(clippy::type_complexity)]
    fn step_on(
        &mut self,
        function: Linked<'_, S>,
    ) -> Result<(Option<S::Link<FunctionInner<S>>>, SmallVec<[usize; 2]>)> {
        // What keeps the outputs alive until the derivative has read them
        // (only when releasing: otherwise the graph does).
        let mut _held: SmallVec<[Option<Variable<S>>; 1]> = SmallVec::new();
        let gys = if let Some(back) = S::Cells::once_get(&function.node.output) {
            // One output, and backward came here through it: it is alive.
            let pending = match self.carried.take() {
                Some(pending) => Some(pending),
                None => self.grads.remove(&S::back_addr(back)),
            };
            let grad = match pending {
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
            // Made whole from its one gradient, not pushed onto an empty
            // list just written.
            G::one(grad)
        } else {
            let mut gys = G::List::default();
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
            gys
        };
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
        let mut forced = None;
        if !needs.any() {
            return Ok((forced, cut));
        }
        let gxs = G::backward(function, &needs, gys)?;
        // Of the intermediates this step hands gradients to, only the one
        // with the newest creator can come next, and only once the others
        // are pending: an older one may still wait for a gradient through
        // a newer one (`y = a + f(a)` reaches `a` twice). That one is held
        // back here (its gradients summed, if the op reads it twice) while
        // the others go to the buffer.
        let mut newest: Option<Handed<S, G::Grad>> = None;
        for (i, (input, gx)) in inputs.iter().zip(gxs).enumerate() {
            let Some(gx) = gx.filter(|_| needs.get(i)) else {
                continue;
            };
            match input {
                Input::Variable(link) => {
                    let node = S::get_link(link);
                    let id = crate::addr(&*node);
                    let creator = node.creator();
                    drop(node);
                    let hold = || Variable {
                        node: S::handle(link),
                    };
                    let Some(creator) = creator else {
                        // Unchained since this function read it: a leaf.
                        cut.push(i);
                        self.add_to_leaf(hold(), gx)?;
                        continue;
                    };
                    if let Some(held_back) = newest.as_mut().filter(|h| h.id == id) {
                        G::accumulate(&mut held_back.grad, gx)?;
                        continue;
                    }
                    let held = (self.mode.release || self.between.is_some()).then(hold);
                    let handed = Handed {
                        id,
                        creator,
                        grad: gx,
                        held,
                    };
                    match newest.take() {
                        None => newest = Some(handed),
                        Some(other) => {
                            let order = |h: &Handed<S, G::Grad>| S::get_link(&h.creator).order;
                            let (newer, older) = if order(&other) > order(&handed) {
                                (other, handed)
                            } else {
                                (handed, other)
                            };
                            newest = Some(newer);
                            self.add_to_intermediate(
                                older.id,
                                older.creator,
                                older.grad,
                                older.held,
                            )?;
                        }
                    }
                }
                Input::Leaf(back, _) => self.add_to_leaf_input(back, gx)?,
            }
        }
        if let Some(handed) = newest {
            if self.comes_next(&handed.creator) {
                self.carried = Some(Pending {
                    grad: handed.grad,
                    held: handed.held,
                });
                forced = Some(handed.creator);
            } else {
                self.add_to_intermediate(handed.id, handed.creator, handed.grad, handed.held)?;
            }
        }
        Ok((forced, cut))
    }

    /// `true` if `creator`, whose one output has just received its first
    /// gradient, can run next without the schedule: it has one output (so
    /// that gradient is its only one), the pass runs it, and no pending
    /// function was created after it. Every function that reads its
    /// output was created after it, so none is pending: the gradient is
    /// complete, and the output has no entry in the buffer.
    #[inline]
    fn comes_next(&self, creator: &S::Link<FunctionInner<S>>) -> bool {
        let function = S::get_link(creator);
        !function.has_several_outputs()
            && self
                .schedule
                .peek()
                .is_none_or(|next| next.order < function.order)
            && self.runs(crate::addr(&*function))
    }

    /// Adds `grad` to what a leaf a function reads has received; a leaf that
    /// is gone gets nothing (nobody can read its gradient). Upgraded only the
    /// first time, to hold it until the pass ends.
    fn add_to_leaf_input(&mut self, back: &S::Back<VariableInner<S>>, grad: G::Grad) -> Result<()> {
        let id = S::back_addr(back);
        match self.leaves.position(id) {
            Some(at) => G::accumulate(&mut self.leaves.found[at].2, grad),
            None => {
                if let Some(node) = S::upgrade(back) {
                    self.leaves.push(id, Variable { node }, grad);
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
/// reads a target or the output of a marked one; no recursion. Also the
/// shape of a leaf the roots reach that needs a gradient and is not a
/// target, if any.
fn between<'a, S: Strategy>(
    roots: impl Iterator<Item = &'a Variable<S>>,
    targets: &HashSet<usize, NodeIds>,
) -> (HashSet<usize, NodeIds>, Option<crate::Shape>) {
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
    let mut outside = None;
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
        let inputs: Vec<(Variable<S>, bool)> = function.linked(|f| {
            let needs = f.recorded_needs();
            (f.inputs().iter().enumerate())
                .filter_map(|(i, input)| Some((input.variable()?, needs.get(i))))
                .collect()
        });
        let order = function.order;
        let released = function.liveness() != Liveness::Live;
        drop(function);
        let mut read = Vec::with_capacity(inputs.len());
        for (input, needs) in inputs {
            let creator = input.inner().creator();
            if needs && creator.is_none() && !targets.contains(&input.id()) {
                outside.get_or_insert_with(|| input.shape());
            }
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
    (marked, outside)
}

/// What gradients are in a pass: values, or variables with graphs.
pub(crate) trait Gradients<S: Strategy> {
    type Grad;
    /// A list of gradients, one per output or input.
    type List: Default + IntoIterator<Item = Self::Grad>;
    fn push(list: &mut Self::List, grad: Self::Grad);
    /// The list of one gradient.
    fn one(grad: Self::Grad) -> Self::List;
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

    #[inline]
    fn one(grad: Tensor) -> Tensors {
        grad.into()
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

    fn one(grad: Variable<S>) -> Self::List {
        smallvec::smallvec![grad]
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
