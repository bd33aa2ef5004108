//! The [`Strategy`] trait: the pointer, back-reference and cell types of a
//! graph, and what a node must tell a cycle collector.

use std::fmt::Debug;
use std::ops::Deref;

use crate::StrategyKind;
use crate::collection::{Collection, CollectorStats, Policy};

/// When a graph whose last handle is gone gets freed: the three ways the
/// seed (DeZero step 17, section 17.1) sets side by side.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
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
}

impl Freeing {
    /// A short description, as reports print it.
    pub const fn describe(self) -> &'static str {
        match self {
            Freeing::OnDrop => "freed on drop",
            Freeing::OnCollection => "freed on collection",
            Freeing::Never => "never freed",
        }
    }
}

/// A graph node as its strategy needs to know it: the owning links it holds,
/// so that a cycle collector can trace them. Implemented once, in
/// autograd-core, for the variable and function nodes.
pub trait GraphNode<S: Strategy>: Sized + 'static {
    /// Reports every owning link this node holds to `tracer`, with
    /// [`Strategy::trace_strong`] and [`Strategy::trace_back`]. A link left
    /// out keeps its target alive (a leak, never a use after free); a link
    /// reported that the node does not hold would be a bug.
    fn trace(&self, tracer: &mut S::Tracer<'_>);
}

/// How graph nodes own each other.
///
/// * [`Strong<T>`](Strategy::Strong) is an owning, cheaply clonable handle.
///   Variables own their creator and functions own their inputs through it.
///   [`get`](Strategy::get) borrows the node behind it (a plain reference for
///   `Rc` and `Arc`, a guard for a collector's pointer that must see no
///   borrow while it runs).
/// * [`Back<T>`](Strategy::Back) is what a function keeps of its outputs.
///   Weak under [`RcWeak`](crate::RcWeak) and [`ArcWeak`](crate::ArcWeak),
///   which is what breaks the variable → creator → output cycle; strong
///   under [`StrongOnly`](crate::StrongOnly) and the collected strategies.
/// * [`Cell<T>`](Strategy::Cell) gives shared mutable access (`RefCell` or
///   `Mutex`). Access goes through closures ([`read`](Strategy::read),
///   [`write`](Strategy::write)) so that no borrow or lock outlives a call.
/// * [`Once<T>`](Strategy::Once) is set once after creation (`OnceCell` or
///   `OnceLock`): a function's link to its output, which can only be made
///   once the output exists.
///
/// Nothing here needs `into_inner`: autograd-core tears a graph down by
/// moving each dropped node's links onto a worklist, whatever the pointer.
pub trait Strategy: Sized + Send + Sync + Debug + Default + 'static {
    /// An owning handle.
    type Strong<T: GraphNode<Self>>: Clone;
    /// A borrow of the node behind a [`Strong`](Strategy::Strong) handle.
    type Ref<'a, T: GraphNode<Self> + 'a>: Deref<Target = T>
    where
        Self: 'a;
    /// What a function holds of each of its outputs.
    type Back<T: GraphNode<Self>>: Clone;
    /// Interior mutability for node state.
    type Cell<T>;
    /// A cell set once.
    type Once<T>;
    /// What a cycle collector hands a node to report its links to; nothing
    /// is ever traced under strategies without one.
    type Tracer<'a>: ?Sized;

    /// Which strategy this is.
    const KIND: StrategyKind;
    /// When a graph whose last handle is gone is freed.
    const FREEING: Freeing;
    /// The strategy's name, as in [`StrategyKind::name`].
    const NAME: &'static str = Self::KIND.name();

    /// Moves `value` behind a new owning handle.
    fn new_strong<T: GraphNode<Self>>(value: T) -> Self::Strong<T>;
    /// Borrows the node behind `strong`.
    fn get<T: GraphNode<Self>>(strong: &Self::Strong<T>) -> Self::Ref<'_, T>;
    /// The back-reference to `strong` (weak or strong, depending on the strategy).
    fn back<T: GraphNode<Self>>(strong: &Self::Strong<T>) -> Self::Back<T>;
    /// The node itself, if `strong` was its last owning handle (what lets a
    /// teardown take a node's links without running its `Drop` first);
    /// otherwise the handle back. A pointer that cannot give its value up
    /// (a collector's) always returns the handle: teardown then lets the
    /// node's `Drop` hand its links over instead.
    fn try_unwrap<T: GraphNode<Self>>(strong: Self::Strong<T>) -> Result<T, Self::Strong<T>>;
    /// [`try_unwrap`](Strategy::try_unwrap) for a back-reference: the node,
    /// if it is a strong last one.
    fn try_unwrap_back<T: GraphNode<Self>>(back: Self::Back<T>) -> Result<T, Self::Back<T>>;
    /// The value behind a back-reference, if it is still alive.
    fn upgrade<T: GraphNode<Self>>(back: &Self::Back<T>) -> Option<Self::Strong<T>>;
    /// The address of the value: the node's identity while it is alive.
    fn addr<T: GraphNode<Self>>(strong: &Self::Strong<T>) -> usize;
    /// The address a back-reference points at, without upgrading it: the
    /// same as [`addr`](Strategy::addr) of the node while it is alive, and
    /// never another node's while the back-reference exists.
    fn back_addr<T: GraphNode<Self>>(back: &Self::Back<T>) -> usize;
    /// The bytes that [`new_strong::<T>`](Strategy::new_strong) requests from
    /// the allocator.
    fn allocation_size<T: GraphNode<Self>>() -> usize;
    /// Reports an owning link to a collector's tracer.
    fn trace_strong<T: GraphNode<Self>>(strong: &Self::Strong<T>, tracer: &mut Self::Tracer<'_>);
    /// Reports a back-reference to a collector's tracer, if it owns its target.
    fn trace_back<T: GraphNode<Self>>(back: &Self::Back<T>, tracer: &mut Self::Tracer<'_>);

    /// Runs the cycle collector if the strategy has one and its policy says
    /// it is time. autograd-core calls it where no node is borrowed.
    fn maybe_collect() {}

    /// Runs the cycle collector now, if the strategy has one, and says what
    /// it freed; nothing for the strategies without one.
    fn collect() -> Collection {
        Collection::default()
    }

    /// Sets when the collector runs on its own (per thread for
    /// [`Collected`](crate::Collected), for all threads for
    /// [`CollectedSync`](crate::CollectedSync)); no effect without one.
    fn set_policy(policy: Policy) {
        let _ = policy;
    }

    /// When the collector runs on its own; [`Policy::Never`] without one.
    fn policy() -> Policy {
        Policy::Never
    }

    /// What the strategy's collections did, over all threads.
    fn collector_stats() -> CollectorStats {
        CollectorStats::default()
    }

    /// Starts [`collector_stats`](Strategy::collector_stats) over.
    fn reset_collector_stats() {}

    /// A new cell holding `value`.
    fn new_cell<T>(value: T) -> Self::Cell<T>;
    /// Runs `f` with shared access to the cell's value.
    fn read<T, R>(cell: &Self::Cell<T>, f: impl FnOnce(&T) -> R) -> R;
    /// Runs `f` with shared access, or returns `None` if the cell is being
    /// written (a collector's tracer must never wait).
    fn try_read<T, R>(cell: &Self::Cell<T>, f: impl FnOnce(&T) -> R) -> Option<R>;
    /// Runs `f` with exclusive access to the cell's value.
    fn write<T, R>(cell: &Self::Cell<T>, f: impl FnOnce(&mut T) -> R) -> R;
    /// Exclusive access through a unique borrow: no borrow flag, no lock.
    fn get_mut<T>(cell: &mut Self::Cell<T>) -> &mut T;

    /// An empty once-cell.
    fn new_once<T>() -> Self::Once<T>;
    /// The once-cell's value, if set.
    fn once_get<T>(once: &Self::Once<T>) -> Option<&T>;
    /// Sets the once-cell; gives `value` back if it was already set.
    fn once_set<T>(once: &Self::Once<T>, value: T) -> Result<(), T>;
    /// Takes the value out through a unique borrow.
    fn once_take<T>(once: &mut Self::Once<T>) -> Option<T>;
}

/// The pointer and cell types of a reference-counting family (`Rc` or `Arc`),
/// without any bound on what they hold: what [`RcWeak`](crate::RcWeak) and
/// [`ArcWeak`](crate::ArcWeak) are made of, and what
/// [`StrongOnly`](crate::StrongOnly) reuses with a strong back-reference.
pub trait BaseStrategy: Strategy {
    /// The owning pointer (`Rc` or `Arc`).
    type Ptr<T>: Clone + Deref<Target = T>;
    /// The weak pointer.
    type WeakPtr<T>: Clone;
    /// The cell.
    type BaseCell<T>;
    /// The once-cell.
    type BaseOnce<T>;
    /// The [`Strategy::KIND`] of `StrongOnly<Self>`.
    const STRONG_ONLY_KIND: StrategyKind;

    /// `Rc::new` or `Arc::new`.
    fn ptr_new<T>(value: T) -> Self::Ptr<T>;
    /// The pointee's address.
    fn ptr_addr<T>(ptr: &Self::Ptr<T>) -> usize;
    /// Downgrades to a weak pointer.
    fn ptr_downgrade<T>(ptr: &Self::Ptr<T>) -> Self::WeakPtr<T>;
    /// Upgrades a weak pointer.
    fn ptr_upgrade<T>(weak: &Self::WeakPtr<T>) -> Option<Self::Ptr<T>>;
    /// The address a weak pointer points at.
    fn weak_addr<T>(weak: &Self::WeakPtr<T>) -> usize;
    /// `Rc::try_unwrap` or `Arc::try_unwrap`.
    fn ptr_try_unwrap<T>(ptr: Self::Ptr<T>) -> Result<T, Self::Ptr<T>>;
    /// A new cell.
    fn cell_new<T>(value: T) -> Self::BaseCell<T>;
    /// Shared access to a cell.
    fn cell_read<T, R>(cell: &Self::BaseCell<T>, f: impl FnOnce(&T) -> R) -> R;
    /// Shared access to a cell, unless it is being written.
    fn cell_try_read<T, R>(cell: &Self::BaseCell<T>, f: impl FnOnce(&T) -> R) -> Option<R>;
    /// Exclusive access to a cell.
    fn cell_write<T, R>(cell: &Self::BaseCell<T>, f: impl FnOnce(&mut T) -> R) -> R;
    /// Exclusive access through a unique borrow.
    fn cell_get_mut<T>(cell: &mut Self::BaseCell<T>) -> &mut T;
    /// An empty once-cell.
    fn once_new<T>() -> Self::BaseOnce<T>;
    /// The once-cell's value.
    fn once_value<T>(once: &Self::BaseOnce<T>) -> Option<&T>;
    /// Sets the once-cell.
    fn once_init<T>(once: &Self::BaseOnce<T>, value: T) -> Result<(), T>;
    /// Takes the once-cell's value.
    fn once_remove<T>(once: &mut Self::BaseOnce<T>) -> Option<T>;
}

/// Implements [`Strategy`] for a [`BaseStrategy`] `$base` whose
/// back-reference is `$back` (`WeakPtr` for the weak strategies, `Ptr` for
/// `StrongOnly`). One body for the three reference-counting strategies.
macro_rules! reference_counting_strategy {
    (impl<$($g:ident: $bound:path),*> for $this:ty, base $base:ty, back $back:ident, freeing $freeing:expr, kind $kind:expr, back_of $back_of:expr, upgrade $upgrade:expr, unwrap_back $unwrap_back:expr, back_addr $back_addr:expr) => {
        impl<$($g: $bound),*> $crate::Strategy for $this {
            type Strong<T: $crate::GraphNode<Self>> = <$base as $crate::BaseStrategy>::Ptr<T>;
            type Ref<'a, T: $crate::GraphNode<Self> + 'a> = &'a T where Self: 'a;
            type Back<T: $crate::GraphNode<Self>> = <$base as $crate::BaseStrategy>::$back<T>;
            type Cell<T> = <$base as $crate::BaseStrategy>::BaseCell<T>;
            type Once<T> = <$base as $crate::BaseStrategy>::BaseOnce<T>;
            type Tracer<'a> = $crate::strategy::NoTracer;

            const KIND: $crate::StrategyKind = $kind;
            const FREEING: $crate::Freeing = $freeing;

            fn new_strong<T: $crate::GraphNode<Self>>(value: T) -> Self::Strong<T> {
                <$base as $crate::BaseStrategy>::ptr_new(value)
            }

            fn get<T: $crate::GraphNode<Self>>(strong: &Self::Strong<T>) -> &T {
                strong
            }

            fn back<T: $crate::GraphNode<Self>>(strong: &Self::Strong<T>) -> Self::Back<T> {
                ($back_of)(strong)
            }

            fn upgrade<T: $crate::GraphNode<Self>>(back: &Self::Back<T>) -> Option<Self::Strong<T>> {
                ($upgrade)(back)
            }

            fn try_unwrap<T: $crate::GraphNode<Self>>(strong: Self::Strong<T>) -> Result<T, Self::Strong<T>> {
                <$base as $crate::BaseStrategy>::ptr_try_unwrap(strong)
            }

            fn try_unwrap_back<T: $crate::GraphNode<Self>>(back: Self::Back<T>) -> Result<T, Self::Back<T>> {
                ($unwrap_back)(back)
            }

            fn addr<T: $crate::GraphNode<Self>>(strong: &Self::Strong<T>) -> usize {
                <$base as $crate::BaseStrategy>::ptr_addr(strong)
            }

            fn back_addr<T: $crate::GraphNode<Self>>(back: &Self::Back<T>) -> usize {
                ($back_addr)(back)
            }

            fn allocation_size<T: $crate::GraphNode<Self>>() -> usize {
                $crate::shared_block_size::<T>()
            }

            fn trace_strong<T: $crate::GraphNode<Self>>(_: &Self::Strong<T>, tracer: &mut Self::Tracer<'_>) {
                match *tracer {}
            }

            fn trace_back<T: $crate::GraphNode<Self>>(_: &Self::Back<T>, tracer: &mut Self::Tracer<'_>) {
                match *tracer {}
            }

            fn new_cell<T>(value: T) -> Self::Cell<T> {
                <$base as $crate::BaseStrategy>::cell_new(value)
            }

            fn read<T, R>(cell: &Self::Cell<T>, f: impl FnOnce(&T) -> R) -> R {
                <$base as $crate::BaseStrategy>::cell_read(cell, f)
            }

            fn try_read<T, R>(cell: &Self::Cell<T>, f: impl FnOnce(&T) -> R) -> Option<R> {
                <$base as $crate::BaseStrategy>::cell_try_read(cell, f)
            }

            fn write<T, R>(cell: &Self::Cell<T>, f: impl FnOnce(&mut T) -> R) -> R {
                <$base as $crate::BaseStrategy>::cell_write(cell, f)
            }

            fn get_mut<T>(cell: &mut Self::Cell<T>) -> &mut T {
                <$base as $crate::BaseStrategy>::cell_get_mut(cell)
            }

            fn new_once<T>() -> Self::Once<T> {
                <$base as $crate::BaseStrategy>::once_new()
            }

            fn once_get<T>(once: &Self::Once<T>) -> Option<&T> {
                <$base as $crate::BaseStrategy>::once_value(once)
            }

            fn once_set<T>(once: &Self::Once<T>, value: T) -> Result<(), T> {
                <$base as $crate::BaseStrategy>::once_init(once, value)
            }

            fn once_take<T>(once: &mut Self::Once<T>) -> Option<T> {
                <$base as $crate::BaseStrategy>::once_remove(once)
            }
        }
    };
}
pub(crate) use reference_counting_strategy;

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
