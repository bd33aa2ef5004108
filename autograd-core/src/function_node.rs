//! [`FunctionNode`]: a handle to a function in the graph, beside the node it
//! points to.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};

use autograd_mem::strategy::{KindMap, KindPair};
use autograd_mem::{
    Cells, DefaultStrategy, GraphNode, NodeCell, NodeKind, NodeOnce, Placement, Strategy, live,
};
use smallvec::SmallVec;

use crate::generation::Order;
use crate::plan::{Bits, Marks, Plan};
use crate::teardown::{self, Link};
use crate::tensor::Buffer;
use crate::variable::VariableInner;
use crate::{Function, Generation, Tensor, Variable};

/// A function node of a graph, as [`Variable::creator`] returns it: which op
/// ran, on which inputs, producing which outputs.
///
/// Like a variable it is a cheap handle. Holding it keeps alive the inputs
/// that a function owns (every input under `StrongOnly` and the collected
/// strategies; the intermediate ones under `RcWeak` and `ArcWeak`, where a
/// function does not own the leaves it reads), and never its outputs under
/// the weak strategies.
pub struct FunctionNode<S: Strategy = DefaultStrategy> {
    pub(crate) inner: S::Handle<FunctionInner<S>>,
}

/// A function's node: the op, what it read, and what it produced. 104 bytes
/// under `RcWeak` with the `Rc` counts, for one or two inputs and one output.
///
/// The links sit in a cell so that a function can let go of them while its
/// outputs still hold it: once it has run in a backward pass with
/// `retain_graph(false)` ([`Released`](Liveness::Released): its links
/// become the variables the pass left alive, [`Links::Released`]), or when
/// [`Variable::unchain`] cuts it ([`Cut`](Liveness::Cut): its outputs let
/// go of it and are leaves). Either way its saved values are freed; the op
/// stays while the node does (its name, its parameters).
pub(crate) struct FunctionInner<S: Strategy> {
    /// `None` only while the node is being dropped.
    pub(crate) op: Option<Box<dyn Function<S>>>,
    links: NodeCell<S, Links<S>>,
    /// A [`Liveness`], readable without the cell (every op reads it of its
    /// inputs' creators, to know whether an input is a leaf).
    liveness: AtomicU8,
    /// The output of a one-output function (set right after it exists: it
    /// needs this node first). Functions with several outputs keep theirs in
    /// [`GeneralLinks`].
    pub(crate) output: NodeOnce<S, S::Back<VariableInner<S>>>,
    pub(crate) order: Order,
    /// The largest generation among the inputs (DeZero's): for the API
    /// (`generation()`); backward's order is [`order`](FunctionInner::order).
    pub(crate) generation: Generation,
}

/// What a function keeps of one input.
///
/// An intermediate input is owned: backward needs its creator chain. A leaf
/// is held through the strategy's back-reference, weak under `RcWeak` and
/// `ArcWeak`, with its value: the function needs the value and a way to hand
/// the leaf its gradient, and once the leaf is gone nobody can read that
/// gradient. So no graph owns a leaf, and a leaf's gradient graph (after
/// `create_graph`) cannot own the leaf back: the second cycle,
/// `x → x.grad → its creator → … → x`, cannot form.
pub(crate) enum Input<S: Strategy> {
    Variable(S::Link<VariableInner<S>>),
    Leaf(S::Back<VariableInner<S>>, Arc<Buffer>),
}

/// A function's inputs, inline for up to two with what backward keeps of
/// them packed beside the tag ([`Marks`]); out of line, with its whole
/// [`Plan`], for more inputs, several outputs or saved tensors.
pub(crate) enum Links<S: Strategy> {
    Nullary(Marks),
    Unary(Marks, [Input<S>; 1]),
    Binary(Marks, [Input<S>; 2]),
    General(Box<GeneralLinks<S>>),
    /// What a function released by a backward pass keeps: nothing of its
    /// inputs, and, for the creator of the pass's root, the variables the
    /// pass reached that were still alive when it ended (through the
    /// back-reference), so that `unchain_backward` can cut them.
    Released(Option<Survivors<S>>),
}

/// The variables a releasing pass left alive, as its root's creator keeps
/// them ([`Links::Released`]).
pub(crate) type Survivors<S> = Box<[<S as Strategy>::Back<VariableInner<S>>]>;

/// Links of a function with more than two inputs, more than one output or
/// tensors saved for backward.
pub(crate) struct GeneralLinks<S: Strategy> {
    pub(crate) inputs: Vec<Input<S>>,
    /// Empty for a one-output function (its output is in `output`).
    pub(crate) outputs: NodeOnce<S, Box<[OutputSlot<S>]>>,
    pub(crate) plan: Plan,
}

/// A link to one output of a function with several.
pub(crate) struct OutputSlot<S: Strategy> {
    pub(crate) variable: S::Back<VariableInner<S>>,
    /// For a zero gradient once the output is gone.
    pub(crate) shape: Box<[usize]>,
    /// The output's value, if backward reads it (the output may be gone by
    /// then, and the function does not own it).
    pub(crate) value: Option<Tensor>,
}

/// A saved output as backward finds it.
pub(crate) enum SavedOutput<S: Strategy> {
    /// Backward does not read it.
    NotSaved,
    /// The output variable is alive.
    Live(Variable<S>),
    /// The output is gone; its value, if the function kept it.
    Gone(Option<Tensor>),
}

impl<S: Strategy> Input<S> {
    /// The input link for `variable`, whose value is `value` (it moves into
    /// a leaf's link), kept by a function at `site`.
    #[inline]
    pub(crate) fn new(variable: &Variable<S>, value: Tensor, leaf: bool, site: &Site<S>) -> Self {
        if leaf {
            Input::Leaf(S::back(&variable.node), value.into_shared_repr())
        } else {
            Input::Variable(<S::Placement as Placement<S>>::link_input(
                site,
                &variable.node,
            ))
        }
    }

    /// The input's identity: its node's address, also for a leaf that is
    /// gone (the back-reference still names it).
    pub(crate) fn id(&self) -> usize {
        match self {
            Input::Variable(node) => crate::addr(&*S::get_link(node)),
            Input::Leaf(back, _) => S::back_addr(back),
        }
    }

    /// The input as a variable, if it is alive.
    pub(crate) fn variable(&self) -> Option<Variable<S>> {
        match self {
            Input::Variable(link) => Some(Variable {
                node: S::handle(link),
            }),
            Input::Leaf(back, _) => S::upgrade(back).map(|node| Variable { node }),
        }
    }

    /// The input's value (as forward read it, for a leaf). A one-element
    /// leaf value is copied inline rather than shared (no count to touch).
    #[inline]
    pub(crate) fn value(&self) -> Tensor {
        match self {
            Input::Variable(node) => S::get_link(node).value(),
            Input::Leaf(_, value) => Tensor::from_buffer(value),
        }
    }

    /// `true` if the function owns this input.
    pub(crate) fn is_owned(&self) -> bool {
        matches!(self, Input::Variable(_)) || S::BACK_OWNS
    }

    fn trace(&self, tracer: &mut S::Tracer<'_>) {
        match self {
            Input::Variable(node) => S::trace_link(node, tracer),
            Input::Leaf(back, _) => S::trace_back(back, tracer),
        }
    }
}

impl<S: Strategy> Links<S> {
    /// Links for any arity, the inputs and (for several) outputs out of line.
    pub(crate) fn general(inputs: impl Iterator<Item = Input<S>>, plan: Plan) -> Self {
        Links::General(Box::new(GeneralLinks {
            inputs: inputs.collect(),
            outputs: S::Cells::new_once(),
            plan,
        }))
    }

    pub(crate) fn inputs(&self) -> &[Input<S>] {
        match self {
            Links::Nullary(_) | Links::Released(_) => &[],
            Links::Unary(_, inputs) => inputs,
            Links::Binary(_, inputs) => inputs,
            Links::General(general) => &general.inputs,
        }
    }
}

impl<S: Strategy> FunctionInner<S> {
    #[inline]
    pub(crate) fn new(
        op: Box<dyn Function<S>>,
        links: Links<S>,
        order: Order,
        generation: Generation,
    ) -> Self {
        crate::variable::declare_nodes::<S>();
        live::record_created::<S>(NodeKind::Function);
        FunctionInner {
            op: Some(op),
            links: S::Cells::new_cell(links),
            liveness: AtomicU8::new(Liveness::Live as u8),
            output: S::Cells::new_once(),
            order,
            generation,
        }
    }

    /// Whether the function still holds its links.
    #[inline]
    pub(crate) fn liveness(&self) -> Liveness {
        match self.liveness.load(Ordering::Acquire) {
            0 => Liveness::Live,
            1 => Liveness::Released,
            _ => Liveness::Cut,
        }
    }

    /// Runs `f` on the node with its links (read under the cell).
    #[inline]
    pub(crate) fn linked<R>(&self, f: impl FnOnce(Linked<'_, S>) -> R) -> R {
        S::Cells::read(&self.links, |links| f(Linked { node: self, links }))
    }

    /// Takes the links out of a live function, leaving it `to` (released or
    /// cut) with no links; `None` if it was not live (another pass, or an
    /// unchain, took them first). The caller drops them outside the cell,
    /// with [`release_links`].
    pub(crate) fn let_go(&self, to: Liveness) -> Option<Links<S>> {
        S::Cells::write(&self.links, |links| {
            if self.liveness() != Liveness::Live {
                return None;
            }
            self.liveness.store(to as u8, Ordering::Release);
            Some(std::mem::replace(links, Links::Released(None)))
        })
    }

    /// Holds the intermediate inputs at `indices`, found to be leaves since
    /// the function read them (unchained), as it holds a leaf: through the
    /// back-reference, with their value. Returns the links it held them by,
    /// for the caller to let go of outside the cell. Under `create_graph`
    /// a gradient stored on such a variable then cannot own the function
    /// that reads it: the second cycle cannot form through a leaf cut into
    /// one, as through one born a leaf.
    pub(crate) fn hold_as_leaves(&self, indices: &[usize]) -> Vec<S::Link<VariableInner<S>>> {
        S::Cells::write(&self.links, |links| {
            let inputs: &mut [Input<S>] = match links {
                Links::Unary(_, inputs) => inputs,
                Links::Binary(_, inputs) => inputs,
                Links::General(general) => &mut general.inputs,
                Links::Nullary(_) | Links::Released(_) => &mut [],
            };
            let mut old = Vec::new();
            for &index in indices {
                let Some(input) = inputs.get_mut(index) else {
                    continue;
                };
                let Input::Variable(link) = input else {
                    continue;
                };
                let node = S::handle(link);
                let value = S::get(&node).value().into_shared_repr();
                let leaf = Input::Leaf(S::back(&node), value);
                if let Input::Variable(link) = std::mem::replace(input, leaf) {
                    old.push(link);
                }
            }
            old
        })
    }

    /// Records the variables a releasing pass left alive on the creator of
    /// its root (see [`Links::Released`]).
    pub(crate) fn keep_survivors(&self, survivors: Survivors<S>) {
        let previous = S::Cells::write(&self.links, |links| match links {
            Links::Released(kept) => kept.replace(survivors),
            _ => None,
        });
        drop(previous); // outside the cell
    }

    pub(crate) fn op(&self) -> &dyn Function<S> {
        self.op.as_deref().expect("an op until the node is dropped")
    }

    /// Links the function to its outputs, once they exist.
    #[inline]
    pub(crate) fn set_outputs(&self, outputs: &[Variable<S>]) {
        if let [y] = outputs {
            let _ = S::Cells::once_set(&self.output, S::back(&y.node));
            return;
        }
        S::Cells::read(&self.links, |links| {
            if let (Links::General(general), true) = (links, outputs.len() > 1) {
                let slots = outputs
                    .iter()
                    .enumerate()
                    .map(|(i, y)| OutputSlot {
                        variable: S::back(&y.node),
                        shape: y.shape().into_boxed_slice(),
                        value: general.plan.outputs.get(i).then(|| y.tensor()),
                    })
                    .collect();
                let _ = S::Cells::once_set(&general.outputs, slots);
            }
        });
    }

    /// `true` if the function has more than one output.
    pub(crate) fn has_several_outputs(&self) -> bool {
        S::Cells::once_get(&self.output).is_none()
    }
}

/// Where an op's nodes go under `S` ([`Placement::site`]).
pub(crate) type Site<S> = <<S as Strategy>::Placement as Placement<S>>::Site<VariableInner<S>>;

/// Drops the links a function let go of (cut or released), telling the
/// placement of each input link (a region then stops keeping the region
/// the input is in). `holder` links to the function.
pub(crate) fn release_links<S: Strategy>(holder: &S::Link<FunctionInner<S>>, links: Links<S>) {
    let release = |input: Input<S>| match input {
        Input::Variable(link) => <S::Placement as Placement<S>>::let_go(holder, link),
        Input::Leaf(..) => {}
    };
    match links {
        Links::Nullary(_) | Links::Released(_) => {}
        Links::Unary(_, [x]) => release(x),
        Links::Binary(_, [a, b]) => {
            release(a);
            release(b);
        }
        Links::General(general) => general.inputs.into_iter().for_each(release),
    }
}

/// Whether a function holds its links.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum Liveness {
    /// As recorded.
    Live = 0,
    /// Ran in a backward pass with `retain_graph(false)`: a second pass
    /// through it is [`Error::GraphReleased`](crate::Error::GraphReleased).
    Released = 1,
    /// Cut by [`Variable::unchain`]: its outputs are leaves.
    Cut = 2,
}

/// A function node with its links, borrowed under the cell: what backward,
/// the walks and the handle's accessors read.
pub(crate) struct Linked<'a, S: Strategy> {
    pub(crate) node: &'a FunctionInner<S>,
    pub(crate) links: &'a Links<S>,
}

impl<S: Strategy> Clone for Linked<'_, S> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<S: Strategy> Copy for Linked<'_, S> {}

impl<'a, S: Strategy> Linked<'a, S> {
    pub(crate) fn op(&self) -> &'a dyn Function<S> {
        self.node.op()
    }

    pub(crate) fn inputs(&self) -> &'a [Input<S>] {
        self.links.inputs()
    }

    /// The outputs, upgraded (`None` where one is gone), with their shapes
    /// where the function kept them.
    pub(crate) fn outputs(&self) -> SmallVec<[LiveOutput<'a, S>; 1]> {
        if let Some(back) = S::Cells::once_get(&self.node.output) {
            let mut one = SmallVec::new();
            one.push((S::upgrade(back).map(|node| Variable { node }), None));
            return one;
        }
        let Links::General(general) = self.links else {
            return SmallVec::new();
        };
        S::Cells::once_get(&general.outputs)
            .map(|slots| {
                slots
                    .iter()
                    .map(|slot| {
                        (
                            S::upgrade(&slot.variable).map(|node| Variable { node }),
                            Some(&*slot.shape),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// How many outputs the function produced.
    pub(crate) fn output_count(&self) -> usize {
        if S::Cells::once_get(&self.node.output).is_some() {
            return 1;
        }
        match self.links {
            Links::General(general) => S::Cells::once_get(&general.outputs).map_or(0, |s| s.len()),
            _ => 0,
        }
    }

    /// The inputs that needed a gradient when the function was recorded.
    #[inline]
    pub(crate) fn recorded_needs(&self) -> Bits {
        match self.links {
            Links::Nullary(marks) | Links::Unary(marks, _) | Links::Binary(marks, _) => {
                marks.needs_bits()
            }
            Links::General(general) => general.plan.needs.clone(),
            Links::Released(_) => Bits::default(),
        }
    }

    /// `true` if backward reads input `index`'s value.
    pub(crate) fn saves_input(&self, index: usize) -> bool {
        match self.links {
            Links::Nullary(marks) | Links::Unary(marks, _) | Links::Binary(marks, _) => {
                marks.saves_input(index)
            }
            Links::General(general) => general.plan.inputs.get(index),
            Links::Released(_) => false,
        }
    }

    /// The tensors kept with `Save::tensor`.
    pub(crate) fn saved_tensors(&self) -> &'a [Tensor] {
        match self.links {
            Links::General(general) => general.plan.tensors.as_deref().unwrap_or_default(),
            _ => &[],
        }
    }

    /// Output `index` as backward reads it, if it was saved.
    pub(crate) fn saved_output(&self, index: usize) -> SavedOutput<S> {
        let live =
            |back: &S::Back<VariableInner<S>>| S::upgrade(back).map(|node| Variable { node });
        if let Some(back) = S::Cells::once_get(&self.node.output) {
            let saved = match self.links {
                Links::Nullary(marks) | Links::Unary(marks, _) | Links::Binary(marks, _) => {
                    marks.saves_output(index)
                }
                Links::General(general) => index == 0 && general.plan.outputs.get(0),
                Links::Released(_) => false,
            };
            return match (saved, live(back)) {
                (false, _) => SavedOutput::NotSaved,
                (true, Some(y)) => SavedOutput::Live(y),
                (true, None) => SavedOutput::Gone(None),
            };
        }
        let Links::General(general) = self.links else {
            return SavedOutput::NotSaved;
        };
        let slot = S::Cells::once_get(&general.outputs).and_then(|slots| slots.get(index));
        match slot {
            Some(
                slot @ OutputSlot {
                    value: Some(value), ..
                },
            ) => match live(&slot.variable) {
                Some(y) => SavedOutput::Live(y),
                None => SavedOutput::Gone(Some(value.clone())),
            },
            _ => SavedOutput::NotSaved,
        }
    }

    /// The variables behind the function that `unchain_backward` cuts: its
    /// intermediate inputs, or, once released, the variables the releasing
    /// pass left alive.
    pub(crate) fn behind(&self) -> Vec<Variable<S>> {
        match self.links {
            Links::Released(survivors) => (survivors.iter().flatten())
                .filter_map(|back| S::upgrade(back).map(|node| Variable { node }))
                .collect(),
            links => (links.inputs().iter())
                .filter(|input| matches!(input, Input::Variable(_)))
                .filter_map(Input::variable)
                .collect(),
        }
    }

    /// Calls `f` on every value the function keeps apart from its links
    /// (saved tensors, saved outputs of a function with several).
    pub(crate) fn for_each_kept_value(&self, mut f: impl FnMut(&Tensor)) {
        if let Links::General(general) = self.links {
            general.plan.tensors.iter().flatten().for_each(&mut f);
            for slot in S::Cells::once_get(&general.outputs).into_iter().flatten() {
                if let Some(value) = &slot.value {
                    f(value);
                }
            }
        }
    }
}

/// One output as [`Linked::outputs`] sees it: the variable if it is
/// still alive, and its shape if the function kept it (several outputs).
pub(crate) type LiveOutput<'a, S> = (Option<Variable<S>>, Option<&'a [usize]>);

impl<S: Strategy> GraphNode<S> for FunctionInner<S> {
    type Variable = VariableInner<S>;
    type Function = FunctionInner<S>;

    fn of_kind<M: KindMap>(pair: &KindPair<M, VariableInner<S>, FunctionInner<S>>) -> &M::Of<Self> {
        &pair.functions
    }

    fn trace(&self, tracer: &mut S::Tracer<'_>) {
        if let Some(back) = S::Cells::once_get(&self.output) {
            S::trace_back(back, tracer);
        }
        // A pass holding the cell leaves these edges untraced: the
        // collector then counts the inputs as held from outside and keeps
        // them, which is safe (it frees them at a later collection).
        S::Cells::try_read(&self.links, |links| {
            for input in links.inputs() {
                input.trace(tracer);
            }
            match links {
                Links::General(general) => {
                    for slot in S::Cells::once_get(&general.outputs).into_iter().flatten() {
                        S::trace_back(&slot.variable, tracer);
                    }
                }
                Links::Released(survivors) => {
                    survivors
                        .iter()
                        .flatten()
                        .for_each(|back| S::trace_back(back, tracer));
                }
                _ => {}
            }
        });
    }
}

impl<S: Strategy> FunctionInner<S> {
    /// Moves the links this node owns onto `links` (for teardown). A weak
    /// back-reference owns nothing and is simply dropped.
    pub(crate) fn detach(&mut self, links: &mut Vec<Link<S>>) {
        let weak_back = !S::BACK_OWNS;
        let mut keep = |input: Input<S>| match input {
            Input::Variable(node) => links.push(Link::Variable(node)),
            Input::Leaf(back, _) if !weak_back => links.push(Link::Back(back)),
            Input::Leaf(..) => {}
        };
        let own = S::Cells::get_mut(&mut self.links);
        match std::mem::replace(own, Links::Nullary(Marks::default())) {
            Links::Nullary(_) => {}
            Links::Unary(_, [x]) => keep(x),
            Links::Binary(_, [a, b]) => {
                keep(a);
                keep(b);
            }
            Links::General(general) => {
                let GeneralLinks {
                    inputs,
                    mut outputs,
                    plan: _,
                } = *general;
                inputs.into_iter().for_each(&mut keep);
                if !weak_back {
                    let slots = S::Cells::once_take(&mut outputs).unwrap_or_default();
                    links.extend(slots.into_vec().into_iter().map(|s| Link::Back(s.variable)));
                }
            }
            Links::Released(survivors) => {
                if !weak_back {
                    links.extend(survivors.into_iter().flat_map(Vec::from).map(Link::Back));
                }
            }
        }
        if let Some(output) = S::Cells::once_take(&mut self.output) {
            if !weak_back {
                links.push(Link::Back(output));
            }
        }
    }

    fn owns_links(&mut self) -> bool {
        !matches!(
            S::Cells::get_mut(&mut self.links),
            Links::Nullary(_) | Links::Released(None)
        ) || S::Cells::once_get(&self.output).is_some()
    }
}

impl<S: Strategy> Drop for FunctionInner<S> {
    fn drop(&mut self) {
        live::record_dropped::<S>(NodeKind::Function);
        let op = self.op.take();
        if <S::Placement as Placement<S>>::LINKS_OWN && self.owns_links() {
            // The op is dropped while this thread drains: a user op may hold
            // variables, whose nodes then only add their links to the list.
            teardown::release::<S>(|links| self.detach(links), || drop(op));
        } else {
            drop(op);
        }
    }
}

impl<S: Strategy> FunctionNode<S> {
    /// The op's name (`Function::name`).
    pub fn name(&self) -> &'static str {
        S::get(&self.inner).op().name()
    }

    /// The largest generation among the inputs.
    pub fn generation(&self) -> Generation {
        S::get(&self.inner).generation
    }

    /// The variables the function read; `None` for a leaf that is gone
    /// (under `RcWeak` and `ArcWeak` a function does not own the leaves it
    /// reads, only their values).
    ///
    /// Empty for a function that has let go of its links: one that ran in a
    /// backward pass with [`retain_graph(false)`](crate::BackwardOptions::retain_graph)
    /// ([`is_released`](FunctionNode::is_released)).
    pub fn inputs(&self) -> Vec<Option<Variable<S>>> {
        S::get(&self.inner).linked(|f| f.inputs().iter().map(Input::variable).collect())
    }

    /// The variables the function produced; `None` where an output is gone.
    /// A released function with several outputs lists none (its links to
    /// them are gone with the rest).
    pub fn outputs(&self) -> Vec<Option<Variable<S>>> {
        S::get(&self.inner).linked(|f| f.outputs().into_iter().map(|(output, _)| output).collect())
    }

    /// `true` once the function has let go of its inputs and saved values,
    /// having run in a backward pass with
    /// [`retain_graph(false)`](crate::BackwardOptions::retain_graph): a
    /// second pass through it is [`Error::GraphReleased`](crate::Error::GraphReleased).
    pub fn is_released(&self) -> bool {
        S::get(&self.inner).liveness() != Liveness::Live
    }

    /// `true` if both handles point at the same node.
    pub fn ptr_eq(&self, other: &Self) -> bool {
        self.id() == other.id()
    }

    /// The node's identity while it is alive (its address).
    pub(crate) fn id(&self) -> usize {
        crate::addr(&*S::get(&self.inner))
    }
}

impl<S: Strategy> Clone for FunctionNode<S> {
    fn clone(&self) -> Self {
        FunctionNode {
            inner: self.inner.clone(),
        }
    }
}

/// Shows this node only, never the graph behind it.
impl<S: Strategy> fmt::Debug for FunctionNode<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = S::get(&self.inner);
        let inputs = inner.linked(|linked| linked.inputs().len());
        f.debug_struct("FunctionNode")
            .field("op", &inner.op().name())
            .field("inputs", &inputs)
            .field("generation", &inner.generation.0)
            .field("released", &(inner.liveness() != Liveness::Live))
            .finish()
    }
}
