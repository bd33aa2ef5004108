//! [`Variable`]: a handle to a value in the graph, beside the node it points to.

use std::collections::HashSet;
use std::fmt;

use autograd_mem::strategy::{KindMap, KindPair};
use autograd_mem::{
    Cells, CollectedSync, DefaultStrategy, GraphNode, NodeCell, NodeKind, Placement, Strategy,
    StrategyKind, live,
};
use ndarray::{Array, ArrayViewMutD, Dimension};

use crate::function_node::{FunctionInner, Liveness, release_links};
use crate::generation::Order;
use crate::teardown::{self, Link};
use crate::{Error, FunctionNode, Generation, Result, SharedArray, Tensor};

/// A value in a computational graph: an `f64` array of any dimension, its
/// gradient, and the function that created it.
///
/// A `Variable` is a cheap handle: cloning it clones a pointer to the node,
/// never the array. The strategy `S` decides how nodes own each other (see
/// [`autograd_mem`](crate::mem)); without a type parameter it is the
/// [`DefaultStrategy`] chosen by cargo features.
///
/// ```
/// use autograd_ops::Variable;
/// use ndarray::array;
///
/// let x = Variable::new(array![1.0, 2.0, 3.0]).with_name("x");
/// assert_eq!(x.shape(), vec![3]);
/// assert!(x.is_leaf() && x.grad().is_none());
/// x.backward()?; // the gradient of a leaf with respect to itself
/// assert_eq!(x.grad().unwrap(), array![1.0, 1.0, 1.0].into_dyn());
/// # Ok::<(), autograd_ops::Error>(())
/// ```
///
/// Under [`ArcWeak`](autograd_mem::ArcWeak) a variable is `Send + Sync`; under
/// [`RcWeak`](autograd_mem::RcWeak) it cannot leave its thread:
///
/// ```compile_fail
/// fn assert_send<T: Send>() {}
/// assert_send::<autograd_ops::Variable<autograd_ops::RcWeak>>();
/// ```
pub struct Variable<S: Strategy = DefaultStrategy> {
    pub(crate) node: S::Handle<VariableInner<S>>,
}

/// A variable's node: its creator, its value and its rarely used state,
/// in one cell, so that [`Variable::unchain`] can let go of the creator
/// (and the creator be freed) while the variable lives on. 56 bytes under
/// `RcWeak` with the `Rc` counts.
pub(crate) struct VariableInner<S: Strategy> {
    pub(crate) state: NodeCell<S, VariableState<S>>,
}

/// What a variable node holds.
pub(crate) struct VariableState<S: Strategy> {
    /// The function that computed the value; `None` for a leaf, born one
    /// or cut into one.
    pub(crate) creator: Option<S::Link<FunctionInner<S>>>,
    /// The value. A leaf's is always a buffer of its own (a one-element
    /// value too), so that functions reading the leaf share it for the
    /// price of a pointer and [`Variable::update_data`] writes into the one
    /// copy; an op's output is what the op computed (a one-element value
    /// inline).
    pub(crate) value: Tensor,
    /// Boxed: most variables never have a name or a gradient.
    pub(crate) extras: Option<Box<Extras<S>>>,
}

/// The rarely used part of a variable's state.
pub(crate) struct Extras<S: Strategy> {
    pub(crate) name: Option<String>,
    pub(crate) grad: Option<Grad<S>>,
    /// A leaf that needs no gradient ([`Variable::constant`]).
    pub(crate) constant: bool,
    /// An op's output cut from its creator ([`Variable::unchain`]): a leaf
    /// whose value stays what its creator computed, since the functions
    /// that read it before the cut read it through the node.
    pub(crate) cut: bool,
}

/// A stored gradient: values from a first-order backward, or a variable
/// (with its own graph after `create_graph`, or a leaf that
/// [`Variable::grad_variable`] made so that two calls return the same one).
pub(crate) enum Grad<S: Strategy> {
    Values(Tensor),
    Variable(Variable<S>),
}

impl<S: Strategy> Grad<S> {
    fn tensor(&self) -> Tensor {
        match self {
            Grad::Values(tensor) => tensor.clone(),
            Grad::Variable(variable) => variable.tensor(),
        }
    }
}

impl<S: Strategy> VariableState<S> {
    fn extras(&mut self) -> &mut Extras<S> {
        self.extras.get_or_insert_with(|| {
            Box::new(Extras {
                name: None,
                grad: None,
                constant: false,
                cut: false,
            })
        })
    }

    /// `true` for a variable whose value may be replaced: a leaf born one.
    fn settable(&self) -> bool {
        self.creator.is_none() && !self.extras.as_ref().is_some_and(|e| e.cut)
    }
}

/// What recording an op reads of an input, in one read of its node.
pub(crate) struct Reading {
    /// The value.
    pub(crate) value: Tensor,
    /// Whether it can receive a gradient (not a constant).
    pub(crate) needs: bool,
    /// Its creator's place in backward's order; `None` for a leaf.
    pub(crate) creator: Option<(Order, Generation)>,
}

impl<S: Strategy> VariableInner<S> {
    #[inline]
    pub(crate) fn new(value: Tensor, creator: Option<S::Link<FunctionInner<S>>>) -> Self {
        declare_nodes::<S>();
        live::record_created::<S>(NodeKind::Variable);
        let value = match creator {
            Some(_) => value,
            None => Tensor::from_shared_repr(value.into_shared_repr()),
        };
        VariableInner {
            state: S::Cells::new_cell(VariableState {
                creator,
                value,
                extras: None,
            }),
        }
    }

    #[inline]
    pub(crate) fn read<R>(&self, f: impl FnOnce(&VariableState<S>) -> R) -> R {
        S::Cells::read(&self.state, f)
    }

    /// The value.
    #[inline]
    pub(crate) fn value(&self) -> Tensor {
        self.read(|s| s.value.clone())
    }

    /// What recording an op reads of this input.
    #[inline]
    pub(crate) fn reading(&self) -> Reading {
        self.read(|s| Reading {
            value: s.value.clone(),
            needs: !s.extras.as_ref().is_some_and(|e| e.constant),
            creator: s.creator.as_ref().map(|creator| {
                let creator = S::get_link(creator);
                (creator.order, creator.generation)
            }),
        })
    }

    /// `true` for a leaf, born one or [unchained](Variable::unchain).
    #[inline]
    pub(crate) fn is_leaf(&self) -> bool {
        self.read(|s| s.creator.is_none())
    }

    /// The creator, if any.
    #[inline]
    pub(crate) fn creator(&self) -> Option<S::Link<FunctionInner<S>>> {
        self.read(|s| s.creator.clone())
    }

    pub(crate) fn generation(&self) -> Generation {
        self.read(|s| {
            s.creator.as_ref().map_or(Generation::LEAF, |creator| {
                S::get_link(creator).generation.next()
            })
        })
    }
}

/// Under `CollectedSync`, declares the two node types thread-safe (the
/// compiler checks it here, on the concrete types), which that strategy's
/// pointer requires; nothing under any other strategy. The one place core
/// asks which strategy it runs under: generic code over `S` cannot prove
/// `VariableInner<S>: Send + Sync`, and the declaration must name the
/// concrete types for the compiler to check them.
pub(crate) fn declare_nodes<S: Strategy>() {
    if S::KIND == StrategyKind::CollectedSync {
        static DECLARED: std::sync::Once = std::sync::Once::new();
        DECLARED.call_once(|| {
            use autograd_mem::collected_sync::declare_thread_safe;
            declare_thread_safe::<VariableInner<CollectedSync>>();
            declare_thread_safe::<FunctionInner<CollectedSync>>();
        });
    }
}

impl<S: Strategy> GraphNode<S> for VariableInner<S> {
    type Variable = VariableInner<S>;
    type Function = FunctionInner<S>;

    fn of_kind<M: KindMap>(pair: &KindPair<M, VariableInner<S>, FunctionInner<S>>) -> &M::Of<Self> {
        &pair.variables
    }

    fn trace(&self, tracer: &mut S::Tracer<'_>) {
        S::Cells::try_read(&self.state, |s| {
            if let Some(creator) = &s.creator {
                S::trace_link(creator, tracer);
            }
            if let Some(Grad::Variable(grad)) = s.extras.as_ref().and_then(|e| e.grad.as_ref()) {
                S::trace_handle(&grad.node, tracer);
            }
        });
    }
}

impl<S: Strategy> VariableInner<S> {
    /// Moves the links this node owns onto `links` (for teardown).
    pub(crate) fn detach(&mut self, links: &mut Vec<Link<S>>) {
        let state = S::Cells::get_mut(&mut self.state);
        links.extend(state.creator.take().map(Link::Function));
        let grad = state.extras.as_mut().and_then(|e| e.grad.take());
        if let Some(Grad::Variable(grad)) = grad {
            // The variable's handle becomes a link; the node lives on in it.
            links.push(Link::Variable(S::into_link(grad.node)));
        }
    }

    fn owns_links(&mut self) -> bool {
        let state = S::Cells::get_mut(&mut self.state);
        state.creator.is_some()
            || (state.extras.as_ref()).is_some_and(|e| matches!(e.grad, Some(Grad::Variable(_))))
    }
}

impl<S: Strategy> Drop for VariableInner<S> {
    fn drop(&mut self) {
        live::record_dropped::<S>(NodeKind::Variable);
        if <S::Placement as Placement<S>>::LINKS_OWN && self.owns_links() {
            teardown::release::<S>(|links| self.detach(links), || {});
        }
    }
}

impl Variable {
    /// A new leaf under the [`DefaultStrategy`] holding `data`.
    pub fn new<D: Dimension>(data: Array<f64, D>) -> Self {
        Self::from_array(data)
    }

    /// A new 0-dimensional leaf under the [`DefaultStrategy`].
    pub fn scalar(value: f64) -> Self {
        Self::from_scalar(value)
    }

    /// A new leaf under the [`DefaultStrategy`] that needs no gradient (a
    /// data batch, a constant): PyTorch's `requires_grad=False`.
    ///
    /// No backward computes a gradient for it, and an op whose inputs are
    /// all constants is not recorded: its output is a constant too.
    ///
    /// ```
    /// use autograd_ops::{mul, Variable};
    /// use ndarray::array;
    ///
    /// let data = Variable::constant(array![1.0, 2.0]);
    /// let w = Variable::new(array![3.0, 4.0]);
    /// let y = mul(&data, &w)?;
    /// y.backward()?;
    /// assert_eq!(w.grad().unwrap(), array![1.0, 2.0].into_dyn());
    /// assert!(data.grad().is_none() && !data.requires_grad());
    /// # Ok::<(), autograd_ops::Error>(())
    /// ```
    pub fn constant<D: Dimension>(data: Array<f64, D>) -> Self {
        Self::constant_from_array(data)
    }
}

impl<S: Strategy> Variable<S> {
    /// A new leaf holding `data`, under strategy `S`: `Variable::<ArcWeak>::from_array(a)`.
    pub fn from_array<D: Dimension>(data: Array<f64, D>) -> Self {
        Self::from_tensor(Tensor::from_array(data))
    }

    /// A new 0-dimensional leaf under strategy `S`.
    pub fn from_scalar(value: f64) -> Self {
        Self::from_tensor(Tensor::scalar(value))
    }

    /// A new leaf holding `value`.
    pub fn from_tensor(value: Tensor) -> Self {
        Variable {
            node: S::new_handle(VariableInner::new(value, None)),
        }
    }

    /// [`Variable::constant`] under strategy `S`.
    pub fn constant_from_array<D: Dimension>(data: Array<f64, D>) -> Self {
        Self::constant_from_tensor(Tensor::from_array(data))
    }

    /// A leaf holding `value` that needs no gradient ([`Variable::constant`]).
    pub fn constant_from_tensor(value: Tensor) -> Self {
        let variable = Self::from_tensor(value);
        variable.write(|s| s.extras().constant = true);
        variable
    }

    /// `false` for a [constant](Variable::constant) (and for the output of
    /// an op on constants alone), `true` for every other variable.
    pub fn requires_grad(&self) -> bool {
        self.read(|s| !s.extras.as_ref().is_some_and(|e| e.constant))
    }

    pub(crate) fn inner(&self) -> S::Ref<'_, VariableInner<S>> {
        S::get(&self.node)
    }

    fn read<R>(&self, f: impl FnOnce(&VariableState<S>) -> R) -> R {
        S::Cells::read(&self.inner().state, f)
    }

    fn write<R>(&self, f: impl FnOnce(&mut VariableState<S>) -> R) -> R {
        S::Cells::write(&self.inner().state, f)
    }

    /// Names the variable (shown by `Debug` and graph exports) and returns it.
    pub fn with_name(self, name: impl Into<String>) -> Self {
        self.set_name(name);
        self
    }

    /// Names the variable.
    pub fn set_name(&self, name: impl Into<String>) {
        let name = name.into();
        self.write(|s| s.extras().name = Some(name));
    }

    /// The variable's name, if it has one.
    pub fn name(&self) -> Option<String> {
        self.read(|s| s.extras.as_ref().and_then(|e| e.name.clone()))
    }

    /// The value as an ndarray array. Cheap: it shares the variable's buffer
    /// (a one-element value, which has none, is copied).
    pub fn data(&self) -> SharedArray {
        self.tensor().to_shared()
    }

    /// The value as a [`Tensor`] (shares the buffer).
    pub fn tensor(&self) -> Tensor {
        self.inner().value()
    }

    /// The value of a one-element variable, or `None` for any other size.
    pub fn item(&self) -> Option<f64> {
        self.read(|s| s.value.item())
    }

    /// The stored gradient of a one-element variable (`None` without a
    /// gradient, or for any other size): `x.grad_item()` for
    /// `x.grad().unwrap()[[]]`.
    ///
    /// ```
    /// use autograd_ops::Variable;
    /// let x = Variable::scalar(3.0);
    /// (&x * &x).backward()?;
    /// assert_eq!(x.grad_item(), Some(6.0));
    /// # Ok::<(), autograd_ops::Error>(())
    /// ```
    pub fn grad_item(&self) -> Option<f64> {
        let grad = self.read(|s| s.extras.as_ref()?.grad.as_ref().map(Grad::snapshot))?;
        match grad {
            Grad::Values(tensor) => tensor.item(),
            Grad::Variable(variable) => variable.item(),
        }
    }

    /// Replaces a leaf's value with one of the same shape (what an optimizer
    /// step does to a parameter).
    ///
    /// Functions recorded before keep the value they read: a graph's values
    /// never change under it, so its backward stays the derivative of what
    /// its forward computed.
    ///
    /// # Errors
    /// [`Error::SetDataShape`] when `data` has another shape, and
    /// [`Error::NotLeaf`] naming `set_data` when a function computed this
    /// variable (also one [unchained](Variable::unchain) since: its value
    /// stays what its creator computed); the variable keeps its value.
    pub fn set_data<D: Dimension>(&self, data: Array<f64, D>) -> Result<()> {
        let data = Tensor::from_shared_repr(Tensor::from_array(data).into_shared_repr());
        let previous = self.write(|s| {
            if !s.settable() {
                return Err(Error::NotLeaf { op: "set_data" });
            }
            // Shapes never change, so the current value has the shape.
            if s.value.shape() != data.shape() {
                return Err(Error::SetDataShape {
                    expected: s.value.shape().to_vec(),
                    got: data.shape().to_vec(),
                });
            }
            Ok(std::mem::replace(&mut s.value, data))
        })?;
        drop(previous); // outside the cell
        Ok(())
    }

    /// Updates a leaf's value in place: `f` writes into the leaf's one copy
    /// of its value (what an optimizer step does to a parameter).
    ///
    /// Copy-on-write: while something else shares the buffer (a live graph
    /// that read the leaf, an array from [`data`](Variable::data)), the
    /// buffer is copied first and the sharer keeps the old value, so that a
    /// graph's values never change under it. Once nothing shares it, no
    /// update allocates. `f` runs while the leaf's state is held: it must not
    /// use this variable (under `RcWeak` that panics, under `ArcWeak` it
    /// would wait forever).
    ///
    /// ```
    /// use autograd_ops::Variable;
    /// use ndarray::array;
    ///
    /// let w = Variable::new(array![1.0, 2.0]);
    /// w.update_data(|mut value| value *= 10.0)?;
    /// assert_eq!(w.data(), array![10.0, 20.0].into_dyn());
    /// # Ok::<(), autograd_ops::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::NotLeaf`] naming `update_data` when a function computed this
    /// variable (also one [unchained](Variable::unchain) since); nothing
    /// runs then.
    pub fn update_data<R>(&self, f: impl FnOnce(ArrayViewMutD<'_, f64>) -> R) -> Result<R> {
        self.write(|s| {
            if !s.settable() {
                return Err(Error::NotLeaf { op: "update_data" });
            }
            Ok(f(s.value.view_mut()))
        })
    }

    /// The value's shape.
    pub fn shape(&self) -> Vec<usize> {
        self.read(|s| s.value.shape().to_vec())
    }

    /// The number of axes.
    pub fn ndim(&self) -> usize {
        self.read(|s| s.value.ndim())
    }

    /// The number of elements.
    pub fn len(&self) -> usize {
        self.read(|s| s.value.len())
    }

    /// `true` if the value has no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The gradient accumulated by [`backward`](Variable::backward), if any.
    /// Cheap: it shares the stored gradient's buffer.
    ///
    /// Leaves always receive theirs; other variables only when backward was
    /// asked to retain intermediate gradients.
    pub fn grad(&self) -> Option<SharedArray> {
        let grad = self.read(|s| s.extras.as_ref()?.grad.as_ref().map(Grad::snapshot))?;
        // Read outside the cell: a gradient variable is a node of its own.
        Some(match grad {
            Grad::Values(tensor) => tensor.to_shared(),
            Grad::Variable(variable) => variable.data(),
        })
    }

    /// The stored gradient as a variable: with the graph that computed it
    /// when backward ran with `create_graph`, a leaf otherwise. Two calls
    /// return the same variable.
    pub fn grad_variable(&self) -> Option<Variable<S>> {
        loop {
            let values = match self.read(|s| {
                s.extras
                    .as_ref()?
                    .grad
                    .as_ref()
                    .map(Grad::tensor_or_variable)
            })? {
                Ok(variable) => return Some(variable),
                Err(values) => values,
            };
            // Made outside the cell: no node is created under a borrow.
            let variable = Variable::from_tensor(values.clone());
            let stored = self.write(|s| match s.extras().grad.as_mut() {
                Some(grad @ Grad::Values(_)) if grad.holds(&values) => {
                    *grad = Grad::Variable(variable.clone());
                    true
                }
                _ => false,
            });
            if stored {
                return Some(variable);
            }
            // Another backward changed the gradient meanwhile: look again.
        }
    }

    /// Forgets the gradient, so that the next backward starts from zero. A
    /// gradient variable obtained before keeps its value and graph.
    pub fn cleargrad(&self) {
        let grad = self.write(|s| s.extras.as_mut().and_then(|e| e.grad.take()));
        drop(grad); // outside the cell: it may free a gradient's graph
    }

    /// The function that created this variable; `None` for a leaf (also
    /// one [unchained](Variable::unchain) since).
    pub fn creator(&self) -> Option<FunctionNode<S>> {
        let creator = self.inner().creator()?;
        Some(FunctionNode {
            inner: S::handle(&creator),
        })
    }

    /// `true` if no function created this variable, or it was
    /// [unchained](Variable::unchain) since.
    #[inline]
    pub fn is_leaf(&self) -> bool {
        self.inner().is_leaf()
    }

    /// `true` if [`set_data`](Variable::set_data) and
    /// [`update_data`](Variable::update_data) may change the value: a leaf
    /// born one (a parameter, a constant), not an op's output, whether or
    /// not it was [unchained](Variable::unchain) since (the functions that
    /// read it before the cut read its value through it).
    pub fn is_settable(&self) -> bool {
        self.read(VariableState::settable)
    }

    /// Cuts this variable from the graph behind it, keeping its value: it
    /// becomes a leaf (DeZero's `creator = None`), of generation 0. Its
    /// creator lets go of its inputs and of what it saved for backward, and
    /// the variable lets go of its creator, so the creator (the op and
    /// its fields) and the graph behind it are freed unless something else
    /// holds them: at once under `RcWeak` and `ArcWeak` (never under
    /// `StrongOnly`, whose leaf inputs the graph owns), at the next
    /// collection under the collected strategies, and under `Region` with
    /// the region they are in, whose nodes go together.
    ///
    /// It works on a graph that a backward pass with
    /// [`retain_graph(false)`](crate::BackwardOptions::retain_graph)
    /// released, too. The creator is cut for all its outputs: a function
    /// with several makes each of them a leaf. Functions that read the
    /// variable before keep reading it; backward through them stops here
    /// and adds the gradient to it, as to any leaf, and from then on they
    /// hold it as they hold a leaf (through the strategy's back-reference),
    /// so that under `create_graph` the cycle `x → x.grad → … → x` cannot
    /// form under the weak strategies. Its value stays what its creator
    /// computed: [`set_data`](Variable::set_data) and
    /// [`update_data`](Variable::update_data) refuse it.
    ///
    /// ```
    /// use autograd_ops::Variable;
    /// let x = Variable::scalar(2.0);
    /// let h = &x * &x;
    /// h.unchain();
    /// assert!(h.is_leaf() && h.creator().is_none() && h.generation().0 == 0);
    /// let y = &h * &x; // 4x, with h a leaf
    /// y.backward()?;
    /// assert_eq!(x.grad().unwrap().sum(), 4.0);
    /// assert_eq!(h.grad().unwrap().sum(), 2.0);
    /// # Ok::<(), autograd_ops::Error>(())
    /// ```
    pub fn unchain(&self) {
        let Some(creator) = self.inner().creator() else {
            return;
        };
        cut::<S>(&creator);
    }

    /// Cuts every creator link in the graph behind this variable, as
    /// DeZero's `unchain_backward` (truncated backpropagation through
    /// time): each variable its creator's inputs lead back to becomes a
    /// leaf, while this variable keeps its creator (backward from it runs
    /// through that one function, to its inputs). The walk is a loop over
    /// a list, never a recursion, and the graph is cut only once the walk
    /// has seen all of it; the nodes go as [`unchain`](Variable::unchain)
    /// says.
    ///
    /// Behind a function that a backward pass with
    /// [`retain_graph(false)`](crate::BackwardOptions::retain_graph)
    /// released (it no longer holds its inputs), it cuts the variables that
    /// pass left alive (a hidden state a model holds). If this variable's
    /// own creator was released there is nothing left to run through it,
    /// so it is cut too and this variable becomes a leaf as well: DeZero's
    /// truncated loop (`loss.backward(); loss.unchain_backward()` per
    /// window, the loss summed on across windows) runs with released
    /// graphs too.
    ///
    /// ```
    /// use autograd_ops::Variable;
    /// let x = Variable::scalar(3.0);
    /// let h = &(&x * &x) * &x;
    /// let y = &h + &x;
    /// y.unchain_backward();
    /// assert!(h.is_leaf() && !y.is_leaf());
    /// y.backward()?;
    /// assert_eq!(x.grad().unwrap().sum(), 1.0); // only through the add
    /// # Ok::<(), autograd_ops::Error>(())
    /// ```
    pub fn unchain_backward(&self) {
        let Some(root) = self.creator() else {
            return;
        };
        let released = S::get(&root.inner).liveness() != Liveness::Live;
        let mut seen = HashSet::new();
        let mut queue = vec![root];
        let mut cut_here = Vec::new();
        let mut cut_seen = HashSet::new();
        while let Some(function) = queue.pop() {
            if !seen.insert(function.id()) {
                continue;
            }
            for variable in S::get(&function.inner).linked(|f| f.behind()) {
                if let Some(creator) = variable.creator() {
                    if cut_seen.insert(variable.id()) {
                        cut_here.push(variable);
                    }
                    queue.push(creator);
                }
            }
        }
        // Cut from the end nearest the root: each cut frees what only it
        // held, while `cut_here` keeps every variable until the loop ends.
        for variable in &cut_here {
            variable.unchain();
        }
        if released {
            self.unchain();
        }
    }

    /// The variable's [`Generation`]: 0 for a leaf (also one
    /// [unchained](Variable::unchain) since), its creator's plus one
    /// otherwise.
    pub fn generation(&self) -> Generation {
        self.inner().generation()
    }

    /// A new leaf that shares this variable's value but not its graph, and
    /// needs no gradient (PyTorch's `detach`): a
    /// [constant](Variable::constant).
    pub fn detach(&self) -> Self {
        Self::constant_from_tensor(self.tensor())
    }

    /// `true` if both handles point at the same node.
    pub fn ptr_eq(&self, other: &Self) -> bool {
        self.id() == other.id()
    }

    /// The node's identity while it is alive (its address).
    pub(crate) fn id(&self) -> usize {
        crate::addr(&*self.inner())
    }

    /// Stores `grad` as this variable's gradient, or adds it to the stored
    /// one: in place for values (`create_graph` off), as a recorded sum for
    /// variables (`create_graph` on). What a finished backward does to each
    /// leaf, and to intermediates when retaining.
    pub(crate) fn accumulate_grad(&self, grad: Grad<S>) -> Result<()> {
        // Values onto values, or onto nothing: in place, under the cell.
        let grad = match self.write(|s| {
            let stored = &mut s.extras().grad;
            match (stored.as_mut(), grad) {
                (None, grad) => {
                    *stored = Some(grad);
                    Ok(())
                }
                (Some(Grad::Values(sum)), Grad::Values(new)) => {
                    sum.add_assign(&new);
                    Ok(())
                }
                (Some(_), grad) => Err(grad),
            }
        }) {
            Ok(()) => return Ok(()),
            Err(grad) => grad,
        };
        // A sum that involves a variable is computed outside the cell (it
        // records ops), then stored if the gradient did not change meanwhile.
        loop {
            let old = self.read(|s| s.extras.as_ref()?.grad.as_ref().map(Grad::snapshot));
            let sum = match (&old, &grad) {
                (None, grad) => grad.snapshot(),
                (Some(Grad::Variable(old)), Grad::Variable(new)) => {
                    Grad::Variable(old.try_add(new)?)
                }
                (Some(Grad::Values(old)), Grad::Variable(new)) => {
                    Grad::Variable(Variable::from_tensor(old.clone()).try_add(new)?)
                }
                // First-order onto a variable: the sum of values (a first-order
                // backward records nothing, so the old graph is let go).
                (Some(old), Grad::Values(new)) => {
                    let mut sum = old.tensor();
                    sum.add_assign(new);
                    Grad::Values(sum)
                }
            };
            let replaced = self.write(|s| {
                let current = &mut s.extras().grad;
                let unchanged = match (current.as_ref(), old.as_ref()) {
                    (None, None) => true,
                    (Some(current), Some(old)) => current.same_as(old),
                    _ => false,
                };
                unchanged.then(|| current.replace(sum))
            });
            if let Some(previous) = replaced {
                drop(previous); // outside the cell
                return Ok(());
            }
        }
    }
}

/// Cuts the function behind `creator` from the graph: each of its outputs
/// that is alive lets go of it and becomes a leaf, and the function lets
/// go of its inputs and saved values (if it still holds them). Outputs'
/// creator links and the function's links are dropped outside every cell.
fn cut<S: Strategy>(creator: &S::Link<FunctionInner<S>>) {
    let function = S::get_link(creator);
    let id = crate::addr(&*function);
    let outputs: Vec<Variable<S>> = function.linked(|f| {
        let outputs = f.outputs();
        outputs
            .into_iter()
            .filter_map(|(output, _)| output)
            .collect()
    });
    let let_go = function.let_go(Liveness::Cut);
    drop(function);
    for output in outputs {
        let own = output.write(|s| {
            let own = s.creator.take_if(|c| crate::addr(&*S::get_link(c)) == id);
            if own.is_some() {
                s.extras().cut = true;
            }
            own
        });
        drop(own); // outside the cell: the function may go with it
    }
    if let Some(links) = let_go {
        release_links::<S>(creator, links);
    }
}

impl<S: Strategy> Grad<S> {
    /// The variable, or the values to make one from.
    fn tensor_or_variable(&self) -> std::result::Result<Variable<S>, Tensor> {
        match self {
            Grad::Variable(variable) => Ok(variable.clone()),
            Grad::Values(tensor) => Err(tensor.clone()),
        }
    }

    /// A cheap copy that [`same_as`](Grad::same_as) recognises.
    fn snapshot(&self) -> Grad<S> {
        match self {
            Grad::Variable(variable) => Grad::Variable(variable.clone()),
            Grad::Values(tensor) => Grad::Values(tensor.clone()),
        }
    }

    /// `true` if `self` is still the gradient `snapshot` was taken of.
    fn same_as(&self, snapshot: &Grad<S>) -> bool {
        match (self, snapshot) {
            (Grad::Variable(a), Grad::Variable(b)) => a.ptr_eq(b),
            (Grad::Values(a), Grad::Values(b)) => a.ptr_eq(b) || (a == b && a.heap().is_none()),
            _ => false,
        }
    }

    fn holds(&self, values: &Tensor) -> bool {
        self.same_as(&Grad::Values(values.clone()))
    }
}

impl<S: Strategy> Clone for Variable<S> {
    fn clone(&self) -> Self {
        Variable {
            node: self.node.clone(),
        }
    }
}

impl<S: Strategy, D: Dimension> From<Array<f64, D>> for Variable<S> {
    fn from(data: Array<f64, D>) -> Self {
        Self::from_array(data)
    }
}

/// Shows this node only: never walks the graph (a derived `Debug` would
/// recurse through creators, and loop forever on a `StrongOnly` cycle).
/// The value and gradient print as [`Tensor`]'s do: values and shape.
impl<S: Strategy> fmt::Debug for Variable<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (name, value, grad, creator) = self.read(|s| {
            let extras = s.extras.as_deref();
            (
                extras.and_then(|e| e.name.clone()),
                s.value.clone(),
                extras.and_then(|e| e.grad.as_ref()).map(Grad::snapshot),
                s.creator.clone(),
            )
        });
        let creator = creator.as_ref().map(|c| S::get_link(c).op().name());
        f.debug_struct("Variable")
            .field("name", &name)
            .field("data", &value)
            .field("grad", &grad.as_ref().map(Grad::tensor))
            .field("creator", &creator)
            .field("generation", &self.generation().0)
            .field("strategy", &S::KIND.name())
            .finish()
    }
}

/// As PyTorch prints a tensor: the values, then `grad_fn=<op>` for an op's
/// output, `leaf` for a leaf that needs a gradient, `constant` for one that
/// does not, and the name if it has one:
/// `variable([2.0, 4.0], grad_fn=<mul>)`. A precision applies to the values
/// (`{:.3}`).
///
/// ```
/// use autograd_ops::Variable;
/// use ndarray::array;
///
/// let x = Variable::new(array![1.0, 2.0]).with_name("x");
/// assert_eq!(x.to_string(), "variable([1, 2], leaf, name=x)");
/// let y = &x * &x;
/// assert_eq!(format!("{y:.1}"), "variable([1.0, 4.0], grad_fn=<mul>)");
/// assert_eq!(Variable::constant(array![0.5]).to_string(), "variable([0.5], constant)");
/// ```
impl<S: Strategy> fmt::Display for Variable<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (value, name, constant, creator) = self.read(|s| {
            let extras = s.extras.as_deref();
            (
                s.value.clone(),
                extras.and_then(|e| e.name.clone()),
                extras.is_some_and(|e| e.constant),
                s.creator.clone(),
            )
        });
        write!(f, "variable(")?;
        fmt::Display::fmt(&value, f)?;
        match creator {
            Some(creator) => write!(f, ", grad_fn=<{}>", S::get_link(&creator).op().name())?,
            None if constant => write!(f, ", constant")?,
            None => write!(f, ", leaf")?,
        }
        if let Some(name) = name {
            write!(f, ", name={name}")?;
        }
        write!(f, ")")
    }
}
