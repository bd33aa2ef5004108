//! The [`Strategy`] trait: the pointers of a graph, with the cells, the
//! collector and the [`Placement`] a strategy names, and what a node must
//! tell them ([`GraphNode`]); [`Family`], [`BackRef`] and [`Counted`], from
//! which the three reference-counting strategies come with one
//! implementation.

use std::collections::HashSet;
use std::fmt::Debug;
use std::ops::Deref;

use crate::StrategyKind;
use crate::cells::Cells;
use crate::collection::{Collector, NoCollector};
use crate::sealed::Sealed;

/// When a graph whose last handle is gone gets freed: the three ways the
/// seed (DeZero step 17, section 17.1) sets side by side, and a fourth, the
/// region, that the fastest small-graph systems use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Freeing {
    /// At once, by reference counting alone: the function → output link is
    /// weak, so the graph holds no cycle (DeZero's `weakref`).
    OnDrop,
    /// When a cycle collector runs: the link is strong, and the collector
    /// finds the unreachable cycles (CPython's `gc` module).
    OnCollection,
    /// Never: the link is strong and nothing collects (the leak step 17
    /// removes).
    Never,
    /// With its region: a graph's nodes live together and are freed
    /// together when the last handle into the region goes (an arena, a
    /// tape); a kept node keeps its whole region.
    WithRegion,
}

impl Freeing {
    /// The four ways, in the order reports list them: those that free when
    /// the last handle goes first, those that never give memory back last.
    pub const ALL: [Freeing; 4] = [
        Freeing::OnDrop,
        Freeing::WithRegion,
        Freeing::OnCollection,
        Freeing::Never,
    ];

    /// `true` if a graph is freed as soon as its last handle goes: a node at
    /// a time ([`OnDrop`](Freeing::OnDrop)) or a region at a time
    /// ([`WithRegion`](Freeing::WithRegion)).
    pub const fn at_last_handle(self) -> bool {
        matches!(self, Freeing::OnDrop | Freeing::WithRegion)
    }

    /// A short description, as reports print it.
    pub const fn describe(self) -> &'static str {
        match self {
            Freeing::OnDrop => "freed on drop",
            Freeing::OnCollection => "freed on collection",
            Freeing::Never => "never freed",
            Freeing::WithRegion => "freed with its region",
        }
    }
}

/// One value per node kind: what a strategy keeps per kind, such as a
/// region's two stores. [`GraphNode::of_kind`] picks a node type's own.
#[doc(hidden)]
#[derive(Debug, Default)]
pub struct PerKind<V, F> {
    /// The variable nodes' value.
    pub variables: V,
    /// The function nodes' value.
    pub functions: F,
}

/// A type constructor, `T ↦ Of<T>` (a region's `T ↦ Store<T>`): how
/// [`GraphNode::of_kind`] names the halves of a [`PerKind`] without this
/// module naming what they hold.
#[doc(hidden)]
pub trait KindMap {
    /// What is kept for nodes of type `T`.
    type Of<T: 'static>;
}

/// A [`PerKind`] pair of `M`'s values for the node types `V` and `F`.
#[doc(hidden)]
pub type KindPair<M, V, F> = PerKind<<M as KindMap>::Of<V>, <M as KindMap>::Of<F>>;

/// A graph node as its strategy needs to know it: the owning links it holds,
/// so that a cycle collector can trace them, and which of the two node
/// kinds it is. Implemented once, in autograd-core, for the variable and
/// function nodes.
pub trait GraphNode<S: Strategy>: Sized + 'static {
    /// The variable node type of this node's graph.
    type Variable: 'static;
    /// The function node type of this node's graph.
    type Function: 'static;
    /// This node type's half of `pair`.
    fn of_kind<M: KindMap>(pair: &KindPair<M, Self::Variable, Self::Function>) -> &M::Of<Self>;
    /// Reports every owning link this node holds to `tracer`, with
    /// [`Strategy::trace_handle`], [`Strategy::trace_link`] and
    /// [`Strategy::trace_back`]. A link left
    /// out keeps its target alive (a leak, never a use after free); a link
    /// reported that the node does not hold would be a bug.
    fn trace(&self, tracer: &mut S::Tracer<'_>);
}

/// Where a strategy puts a graph's new nodes, and what freeing one costs:
/// the fourth choice a strategy names, beside its pointers, cells and
/// collector. Two answers, both in this crate: [`Apart`] (every node its own
/// allocation, freed when its last owner goes) and
/// [`Regions`](crate::Regions) (an op's nodes in a block of nodes freed
/// together). autograd-core records every op through these methods and never
/// asks which placement it runs under. Sealed, as [`Strategy`] is.
///
/// An op is recorded in four steps: its [`site`](Placement::site) is chosen
/// from the intermediate inputs it reads, each of them is linked from the
/// site ([`link_input`](Placement::link_input)), the function node goes at
/// the site ([`new_function`](Placement::new_function)), and each output
/// beside the function ([`new_output`](Placement::new_output)).
pub trait Placement<S: Strategy>: Sealed + 'static {
    /// Whether a node's links own their targets: `true` where nodes are
    /// freed one at a time (a node's drop must then release its links,
    /// which autograd-core's teardown does without recursion); `false`
    /// where nodes are freed with their block, and a link owns nothing.
    const LINKS_OWN: bool;

    /// Where the nodes of one op go.
    type Site<N: GraphNode<S>>;

    /// The site of an op whose intermediate inputs (the variables it links
    /// to; leaves are read through back-references and do not count) are
    /// `reads`.
    fn site<'a, N: GraphNode<S>>(reads: impl Iterator<Item = &'a S::Handle<N>>) -> Self::Site<N>;

    /// The link to `input` from a node at `site`.
    fn link_input<N: GraphNode<S>>(site: &Self::Site<N>, input: &S::Handle<N>) -> S::Link<N>;

    /// A new function node at `site`.
    fn new_function<N, F>(site: Self::Site<N>, function: F) -> S::Handle<F>
    where
        N: GraphNode<S>,
        F: GraphNode<S, Variable = N::Variable, Function = N::Function>;

    /// A new output of `function`, beside it: `make` builds the node from
    /// its link to its creator.
    fn new_output<F, V>(
        function: &S::Handle<F>,
        make: impl FnOnce(S::Link<F>) -> V,
    ) -> S::Handle<V>
    where
        F: GraphNode<S>,
        V: GraphNode<S, Variable = F::Variable, Function = F::Function>;

    /// Lets go of `link`, an input link the function behind `holder` held
    /// (a function cut or released lets go of its inputs before it is
    /// freed), so that its block no longer keeps the target's.
    fn let_go<F, N>(holder: &S::Link<F>, link: S::Link<N>)
    where
        F: GraphNode<S>,
        N: GraphNode<S, Variable = F::Variable, Function = F::Function>;

    /// The block of nodes freed together that `handle`'s node is in (its
    /// address); `None` where nodes are freed one at a time.
    fn block<T: GraphNode<S>>(handle: &S::Handle<T>) -> Option<usize>;

    /// The blocks of nodes freed together that `handle` keeps alive and
    /// `seen` does not hold yet: its own and, transitively, those its block
    /// keeps; each is added to `seen`. Empty where nodes are freed one at a
    /// time.
    fn blocks_kept<V, F>(handle: &S::Handle<V>, seen: &mut HashSet<usize>) -> Vec<Block<S, V, F>>
    where
        V: GraphNode<S, Variable = V, Function = F>,
        F: GraphNode<S, Variable = V, Function = F>;

    /// `true` if `keeper`'s node keeps `kept`'s alive through the blocks
    /// they are in: they share a block, or `keeper`'s block keeps
    /// `kept`'s, directly or through others. Always `false` where nodes
    /// are freed one at a time. A handle to `keeper` stored in `kept`'s
    /// node would then make a block own itself.
    fn keeps<T: GraphNode<S>, U: GraphNode<S, Variable = T::Variable, Function = T::Function>>(
        keeper: &S::Handle<T>,
        kept: &S::Handle<U>,
    ) -> bool;

    /// The allocation that a back-reference to a node that is gone still
    /// keeps (the node's block, which a weak pointer holds until it goes):
    /// one number per allocation, however many back-references name it.
    fn gone_block<T: GraphNode<S>>(back: &S::Back<T>) -> usize;
}

/// Nodes freed together: a block that [`Placement::blocks_kept`] reports,
/// as a footprint counts it.
#[doc(hidden)]
pub struct Block<S: Strategy, V: GraphNode<S>, F: GraphNode<S>> {
    /// The block's identity (its address), the same for each of its nodes.
    pub id: usize,
    /// The bytes of the block's own allocations.
    pub bytes: usize,
    /// Its variable nodes.
    pub variables: Vec<S::Handle<V>>,
    /// Its function nodes.
    pub functions: Vec<S::Handle<F>>,
}

/// Every node its own allocation, freed when its last owner goes: the
/// placement of the reference-counting and collected strategies. Recording
/// an op is `new_handle` for each node and a plain link to each input.
#[derive(Debug)]
pub enum Apart {}

impl Sealed for Apart {}

impl<S: Strategy> Placement<S> for Apart {
    const LINKS_OWN: bool = true;

    type Site<N: GraphNode<S>> = ();

    #[inline]
    fn site<'a, N: GraphNode<S>>(_reads: impl Iterator<Item = &'a S::Handle<N>>) {}

    #[inline]
    fn link_input<N: GraphNode<S>>(_site: &(), input: &S::Handle<N>) -> S::Link<N> {
        S::link(input)
    }

    #[inline]
    fn new_function<N, F>(_site: (), function: F) -> S::Handle<F>
    where
        N: GraphNode<S>,
        F: GraphNode<S, Variable = N::Variable, Function = N::Function>,
    {
        S::new_handle(function)
    }

    #[inline]
    fn new_output<F, V>(function: &S::Handle<F>, make: impl FnOnce(S::Link<F>) -> V) -> S::Handle<V>
    where
        F: GraphNode<S>,
        V: GraphNode<S, Variable = F::Variable, Function = F::Function>,
    {
        S::new_handle(make(S::link(function)))
    }

    #[inline]
    fn let_go<F, N>(_holder: &S::Link<F>, link: S::Link<N>)
    where
        F: GraphNode<S>,
        N: GraphNode<S, Variable = F::Variable, Function = F::Function>,
    {
        drop(link);
    }

    fn block<T: GraphNode<S>>(_handle: &S::Handle<T>) -> Option<usize> {
        None
    }

    fn blocks_kept<V, F>(_handle: &S::Handle<V>, _seen: &mut HashSet<usize>) -> Vec<Block<S, V, F>>
    where
        V: GraphNode<S, Variable = V, Function = F>,
        F: GraphNode<S, Variable = V, Function = F>,
    {
        Vec::new()
    }

    fn keeps<T: GraphNode<S>, U: GraphNode<S, Variable = T::Variable, Function = T::Function>>(
        _keeper: &S::Handle<T>,
        _kept: &S::Handle<U>,
    ) -> bool {
        false
    }

    fn gone_block<T: GraphNode<S>>(back: &S::Back<T>) -> usize {
        S::back_addr(back)
    }
}

/// How graph nodes own each other: the pointers a graph is made of, and the
/// cells, collector and placement the strategy names.
///
/// * [`Handle<T>`](Strategy::Handle) is what a user holds (a `Variable`, a
///   `FunctionNode` in autograd-core): it keeps its graph alive.
/// * [`Link<T>`](Strategy::Link) is an owning link inside a graph: variable
///   → creator, function → intermediate input. It is a type of its own
///   because a strategy that keeps a graph's nodes together
///   ([`Region`](crate::Region)) must not count a graph's own links toward
///   it (or the graph would own itself); under the other strategies it is
///   the same pointer as a handle, at no cost.
///   [`get`](Strategy::get) and [`get_link`](Strategy::get_link) borrow the
///   node behind either (a plain reference for `Rc` and `Arc`, a guard for a
///   collector's pointer that must see no borrow while it runs).
/// * [`Back<T>`](Strategy::Back) is what a function keeps of its outputs and
///   of the leaves it reads. Weak under [`RcWeak`](crate::RcWeak),
///   [`ArcWeak`](crate::ArcWeak) and [`Region`](crate::Region), which is what breaks the variable →
///   creator → output cycle; strong under [`StrongOnly`](crate::StrongOnly)
///   and the collected strategies ([`BACK_OWNS`](Strategy::BACK_OWNS)).
/// * [`Cells`](Strategy::Cells): [`LocalCells`](crate::LocalCells) or
///   [`SharedCells`](crate::SharedCells).
/// * [`Collector`](Strategy::Collector): [`NoCollector`](crate::NoCollector)
///   or a collected strategy's own (`S::Collector::collect()` runs it).
/// * [`Placement`](Strategy::Placement): [`Apart`] or
///   [`Regions`](crate::Regions).
///
/// This trait is sealed: it is not an extension interface. A strategy is a
/// file in this crate and a line in its strategy list (ARCHITECTURE.md, "Add
/// a strategy"), so that every guarantee test and report covers it.
///
/// Nothing here needs `into_inner`: autograd-core tears a graph down by
/// moving each dropped node's links onto a worklist, whatever the pointer.
pub trait Strategy: Sealed + Sized + Send + Sync + Debug + Default + 'static {
    /// What a user holds: keeps the node (and its graph) alive.
    type Handle<T: GraphNode<Self>>: Clone;
    /// An owning link inside a graph.
    type Link<T: GraphNode<Self>>: Clone;
    /// What a function holds of each of its outputs and of a leaf it reads.
    type Back<T: GraphNode<Self>>: Clone;
    /// A borrow of the node behind a handle or a link.
    type Ref<'a, T: GraphNode<Self> + 'a>: Deref<Target = T>
    where
        Self: 'a;
    /// What a cycle collector hands a node to report its links to; nothing
    /// is ever traced under strategies without one.
    type Tracer<'a>: ?Sized;
    /// The cells of node state.
    type Cells: Cells;
    /// Whether and when unreachable cycles are freed.
    type Collector: Collector;
    /// Where new nodes go.
    type Placement: Placement<Self>;

    /// Which strategy this is (its name is `KIND.name()`).
    const KIND: StrategyKind;
    /// When a graph whose last handle is gone is freed.
    const FREEING: Freeing;
    /// Whether a [`Back`](Strategy::Back) owns its target: a function then
    /// owns its outputs and the leaves it reads, and graphs are cycles.
    const BACK_OWNS: bool;

    /// Moves `value` behind a new handle (a node of its own: a leaf).
    fn new_handle<T: GraphNode<Self>>(value: T) -> Self::Handle<T>;
    /// Borrows the node behind `handle`.
    fn get<T: GraphNode<Self>>(handle: &Self::Handle<T>) -> Self::Ref<'_, T>;
    /// Borrows the node behind `link`.
    fn get_link<T: GraphNode<Self>>(link: &Self::Link<T>) -> Self::Ref<'_, T>;
    /// A link to the node behind `handle`.
    fn link<T: GraphNode<Self>>(handle: &Self::Handle<T>) -> Self::Link<T>;
    /// [`link`](Strategy::link), taking the handle: no count raised and
    /// dropped where a link is the handle's pointer.
    fn into_link<T: GraphNode<Self>>(handle: Self::Handle<T>) -> Self::Link<T>;
    /// A handle to the node behind `link`.
    fn handle<T: GraphNode<Self>>(link: &Self::Link<T>) -> Self::Handle<T>;
    /// The back-reference to the node behind `handle`.
    fn back<T: GraphNode<Self>>(handle: &Self::Handle<T>) -> Self::Back<T>;
    /// A handle to the node behind a back-reference, if it is still alive.
    fn upgrade<T: GraphNode<Self>>(back: &Self::Back<T>) -> Option<Self::Handle<T>>;
    /// The node itself, if `link` was its last owner (what lets a teardown
    /// take a node's links without running its `Drop` first); otherwise the
    /// link back. A pointer that cannot give its value up (a collector's, a
    /// region's) always returns the link: teardown then lets the node's
    /// `Drop` hand its links over instead.
    fn try_unwrap<T: GraphNode<Self>>(link: Self::Link<T>) -> Result<T, Self::Link<T>>;
    /// [`try_unwrap`](Strategy::try_unwrap) for a back-reference: the node,
    /// if it is an owning last one.
    fn try_unwrap_back<T: GraphNode<Self>>(back: Self::Back<T>) -> Result<T, Self::Back<T>>;
    /// The address a back-reference points at, without upgrading it: the
    /// node's address (as borrowed through [`get`](Strategy::get)) while it
    /// is alive, and never another node's while the back-reference exists.
    fn back_addr<T: GraphNode<Self>>(back: &Self::Back<T>) -> usize;
    /// The bytes that [`new_handle::<T>`](Strategy::new_handle) requests
    /// from the allocator.
    fn allocation_size<T: GraphNode<Self>>() -> usize;
    /// Reports a handle a node holds to a collector's tracer.
    fn trace_handle<T: GraphNode<Self>>(handle: &Self::Handle<T>, tracer: &mut Self::Tracer<'_>);
    /// Reports a link to a collector's tracer.
    fn trace_link<T: GraphNode<Self>>(link: &Self::Link<T>, tracer: &mut Self::Tracer<'_>);
    /// Reports a back-reference to a collector's tracer, if it owns its target.
    fn trace_back<T: GraphNode<Self>>(back: &Self::Back<T>, tracer: &mut Self::Tracer<'_>);
}

/// A reference-counting pointer family, `Rc` or `Arc`, with its cells:
/// [`RcWeak`](crate::RcWeak) and [`ArcWeak`](crate::ArcWeak) are the two,
/// each a strategy with a weak back-reference, and
/// [`StrongOnly<F>`](crate::StrongOnly) is the same family with a strong one.
/// Sealed, as [`Strategy`] is.
pub trait Family: Sealed + Send + Sync + Debug + Default + Copy + 'static {
    /// The owning pointer.
    type Ptr<T>: Clone + Deref<Target = T>;
    /// The weak pointer.
    type WeakPtr<T>: Clone;
    /// The cells that go with the pointers.
    type FamilyCells: Cells;
    /// The [`Strategy::KIND`] of [`StrongOnly<Self>`](crate::StrongOnly).
    const STRONG_ONLY_KIND: StrategyKind;

    /// `Rc::new` or `Arc::new`.
    fn ptr_new<T>(value: T) -> Self::Ptr<T>;
    /// Downgrades to a weak pointer.
    fn ptr_downgrade<T>(ptr: &Self::Ptr<T>) -> Self::WeakPtr<T>;
    /// Upgrades a weak pointer.
    fn ptr_upgrade<T>(weak: &Self::WeakPtr<T>) -> Option<Self::Ptr<T>>;
    /// The address a weak pointer points at.
    fn weak_addr<T>(weak: &Self::WeakPtr<T>) -> usize;
    /// `Rc::try_unwrap` or `Arc::try_unwrap`.
    fn ptr_try_unwrap<T>(ptr: Self::Ptr<T>) -> Result<T, Self::Ptr<T>>;
}

/// What a reference-counting strategy keeps as its back-reference: the
/// family's weak pointer ([`WeakBack`]) or its owning one ([`StrongBack`]).
pub trait BackRef<F: Family>: Sealed + 'static {
    /// The back-reference.
    type Back<T>: Clone;
    /// Whether it owns its target ([`Strategy::BACK_OWNS`]).
    const OWNS: bool;
    /// The back-reference to `ptr`'s target.
    fn back<T>(ptr: &F::Ptr<T>) -> Self::Back<T>;
    /// The target, if alive.
    fn upgrade<T>(back: &Self::Back<T>) -> Option<F::Ptr<T>>;
    /// The target, if this was its last owner.
    fn try_unwrap<T>(back: Self::Back<T>) -> Result<T, Self::Back<T>>;
    /// The address the back-reference points at.
    fn addr<T>(back: &Self::Back<T>) -> usize;
}

/// A weak back-reference: functions own neither outputs nor leaves.
#[derive(Debug)]
pub enum WeakBack {}
/// An owning back-reference: every graph is a cycle.
#[derive(Debug)]
pub enum StrongBack {}

impl Sealed for WeakBack {}
impl Sealed for StrongBack {}

impl<F: Family> BackRef<F> for WeakBack {
    type Back<T> = F::WeakPtr<T>;
    const OWNS: bool = false;

    fn back<T>(ptr: &F::Ptr<T>) -> F::WeakPtr<T> {
        F::ptr_downgrade(ptr)
    }

    fn upgrade<T>(back: &F::WeakPtr<T>) -> Option<F::Ptr<T>> {
        F::ptr_upgrade(back)
    }

    fn try_unwrap<T>(back: F::WeakPtr<T>) -> Result<T, F::WeakPtr<T>> {
        Err(back)
    }

    fn addr<T>(back: &F::WeakPtr<T>) -> usize {
        F::weak_addr(back)
    }
}

impl<F: Family> BackRef<F> for StrongBack {
    type Back<T> = F::Ptr<T>;
    const OWNS: bool = true;

    fn back<T>(ptr: &F::Ptr<T>) -> F::Ptr<T> {
        ptr.clone()
    }

    fn upgrade<T>(back: &F::Ptr<T>) -> Option<F::Ptr<T>> {
        Some(back.clone())
    }

    fn try_unwrap<T>(back: F::Ptr<T>) -> Result<T, F::Ptr<T>> {
        F::ptr_try_unwrap(back)
    }

    fn addr<T>(back: &F::Ptr<T>) -> usize {
        &**back as *const T as usize
    }
}

/// A strategy made of a [`Family`] and a [`BackRef`]: [`RcWeak`](crate::RcWeak),
/// [`ArcWeak`](crate::ArcWeak) and [`StrongOnly<F>`](crate::StrongOnly). One
/// [`Strategy`] implementation serves all of them.
pub trait Counted: Sealed + Send + Sync + Debug + Default + 'static {
    /// The pointers.
    type Pointers: Family;
    /// The back-reference.
    type BackLink: BackRef<Self::Pointers>;
    /// Which strategy this is.
    const COUNTED_KIND: StrategyKind;
}

impl<C: Counted> Strategy for C {
    type Handle<T: GraphNode<Self>> = <C::Pointers as Family>::Ptr<T>;
    type Link<T: GraphNode<Self>> = <C::Pointers as Family>::Ptr<T>;
    type Back<T: GraphNode<Self>> = <C::BackLink as BackRef<C::Pointers>>::Back<T>;
    type Ref<'a, T: GraphNode<Self> + 'a> = &'a T;
    type Tracer<'a> = NoTracer;
    type Cells = <C::Pointers as Family>::FamilyCells;
    type Collector = NoCollector;
    type Placement = Apart;

    const KIND: StrategyKind = C::COUNTED_KIND;
    const FREEING: Freeing = if Self::BACK_OWNS {
        Freeing::Never
    } else {
        Freeing::OnDrop
    };
    const BACK_OWNS: bool = <C::BackLink as BackRef<C::Pointers>>::OWNS;

    fn new_handle<T: GraphNode<Self>>(value: T) -> Self::Handle<T> {
        C::Pointers::ptr_new(value)
    }

    fn get<T: GraphNode<Self>>(handle: &Self::Handle<T>) -> &T {
        handle
    }

    fn get_link<T: GraphNode<Self>>(link: &Self::Link<T>) -> &T {
        link
    }

    fn link<T: GraphNode<Self>>(handle: &Self::Handle<T>) -> Self::Link<T> {
        handle.clone()
    }

    #[inline]
    fn into_link<T: GraphNode<Self>>(handle: Self::Handle<T>) -> Self::Link<T> {
        handle
    }

    fn handle<T: GraphNode<Self>>(link: &Self::Link<T>) -> Self::Handle<T> {
        link.clone()
    }

    fn back<T: GraphNode<Self>>(handle: &Self::Handle<T>) -> Self::Back<T> {
        <C::BackLink as BackRef<C::Pointers>>::back(handle)
    }

    fn upgrade<T: GraphNode<Self>>(back: &Self::Back<T>) -> Option<Self::Handle<T>> {
        <C::BackLink as BackRef<C::Pointers>>::upgrade(back)
    }

    fn try_unwrap<T: GraphNode<Self>>(link: Self::Link<T>) -> Result<T, Self::Link<T>> {
        C::Pointers::ptr_try_unwrap(link)
    }

    fn try_unwrap_back<T: GraphNode<Self>>(back: Self::Back<T>) -> Result<T, Self::Back<T>> {
        <C::BackLink as BackRef<C::Pointers>>::try_unwrap(back)
    }

    fn back_addr<T: GraphNode<Self>>(back: &Self::Back<T>) -> usize {
        <C::BackLink as BackRef<C::Pointers>>::addr(back)
    }

    fn allocation_size<T: GraphNode<Self>>() -> usize {
        shared_block_size::<T>()
    }

    fn trace_handle<T: GraphNode<Self>>(_: &Self::Handle<T>, tracer: &mut NoTracer) {
        match *tracer {}
    }

    fn trace_link<T: GraphNode<Self>>(_: &Self::Link<T>, tracer: &mut NoTracer) {
        match *tracer {}
    }

    fn trace_back<T: GraphNode<Self>>(_: &Self::Back<T>, tracer: &mut NoTracer) {
        match *tracer {}
    }
}

/// The tracer of a strategy without a collector: it has no values, so no
/// code path can ever trace.
#[derive(Debug)]
pub enum NoTracer {}

/// The bytes an `Rc<T>` or `Arc<T>` requests from the allocator: a
/// `#[repr(C)]` block of two `usize` counts followed by the `T`.
#[doc(hidden)]
pub fn shared_block_size<T>() -> usize {
    use std::alloc::Layout;
    let (block, _) = Layout::new::<[usize; 2]>()
        .extend(Layout::new::<T>())
        .expect("a node layout fits in memory");
    block.pad_to_align().size()
}
