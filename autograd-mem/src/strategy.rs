//! The [`Strategy`] trait: the pointer, back-reference and cell types of a graph.

use std::fmt::Debug;
use std::ops::Deref;

/// Which of the four strategies a type is; used to keep their live counts apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StrategyKind {
    /// [`RcWeak`](crate::RcWeak).
    RcWeak,
    /// [`ArcWeak`](crate::ArcWeak).
    ArcWeak,
    /// [`StrongOnly<RcWeak>`](crate::StrongOnly).
    StrongOnlyRcWeak,
    /// [`StrongOnly<ArcWeak>`](crate::StrongOnly).
    StrongOnlyArcWeak,
}

impl StrategyKind {
    /// Every strategy, in the order reports list them.
    pub const ALL: [StrategyKind; 4] = [
        StrategyKind::RcWeak,
        StrategyKind::ArcWeak,
        StrategyKind::StrongOnlyRcWeak,
        StrategyKind::StrongOnlyArcWeak,
    ];

    /// A dense index in `0..4`, for per-strategy tables.
    pub const fn index(self) -> usize {
        self as usize
    }

    /// The name users write: `RcWeak`, `StrongOnly<ArcWeak>`, ...
    pub const fn name(self) -> &'static str {
        match self {
            StrategyKind::RcWeak => "RcWeak",
            StrategyKind::ArcWeak => "ArcWeak",
            StrategyKind::StrongOnlyRcWeak => "StrongOnly<RcWeak>",
            StrategyKind::StrongOnlyArcWeak => "StrongOnly<ArcWeak>",
        }
    }

    /// Whether graphs under this strategy are freed when their last handle goes.
    pub const fn breaks_cycles(self) -> bool {
        matches!(self, StrategyKind::RcWeak | StrategyKind::ArcWeak)
    }

    /// The leaking twin of a base strategy (`StrongOnly<B>` for `B`).
    pub(crate) const fn strong_only(self) -> StrategyKind {
        match self {
            StrategyKind::RcWeak | StrategyKind::StrongOnlyRcWeak => StrategyKind::StrongOnlyRcWeak,
            StrategyKind::ArcWeak | StrategyKind::StrongOnlyArcWeak => {
                StrategyKind::StrongOnlyArcWeak
            }
        }
    }
}

/// How graph nodes own each other.
///
/// * [`Strong<T>`](Strategy::Strong) is an owning, cheaply clonable handle
///   (`Rc` or `Arc`). Variables own their creator and functions own their
///   inputs through it.
/// * [`Back<T>`](Strategy::Back) is what a function keeps of its outputs. Weak
///   under [`RcWeak`](crate::RcWeak) and [`ArcWeak`](crate::ArcWeak), which is
///   what breaks the variable → creator → output cycle; strong under
///   [`StrongOnly`](crate::StrongOnly), which is why that strategy leaks.
/// * [`Cell<T>`](Strategy::Cell) gives shared mutable access (`RefCell` or
///   `Mutex`). Access goes through closures ([`read`](Strategy::read),
///   [`write`](Strategy::write)) so that no borrow or lock outlives a call.
///
/// [`into_inner`](Strategy::into_inner) and [`get_mut`](Strategy::get_mut) let a
/// graph be torn down iteratively, without recursion and without `unsafe`.
pub trait Strategy: Sized + Send + Sync + Debug + Default + 'static {
    /// An owning handle.
    type Strong<T>: Clone + Deref<Target = T>;
    /// What a function holds of each of its outputs.
    type Back<T>: Clone;
    /// Interior mutability for node state.
    type Cell<T>;

    /// Which strategy this is.
    const KIND: StrategyKind;
    /// `true` if dropping the last handle to a graph frees it.
    const BREAKS_CYCLES: bool = Self::KIND.breaks_cycles();
    /// The strategy's name, as in [`StrategyKind::name`].
    const NAME: &'static str = Self::KIND.name();

    /// Moves `value` behind a new owning handle.
    fn new_strong<T>(value: T) -> Self::Strong<T>;
    /// The back-reference to `strong` (weak or strong, depending on the strategy).
    fn back<T>(strong: &Self::Strong<T>) -> Self::Back<T>;
    /// The value behind a back-reference, if it is still alive.
    fn upgrade<T>(back: &Self::Back<T>) -> Option<Self::Strong<T>>;
    /// The value, if `strong` was its last owning handle (`Rc::into_inner`).
    fn into_inner<T>(strong: Self::Strong<T>) -> Option<T>;
    /// The address of the value: the node's identity while it is alive.
    fn addr<T>(strong: &Self::Strong<T>) -> usize;
    /// The bytes that [`new_strong::<T>`](Strategy::new_strong) requests from
    /// the allocator: the value and the two reference counts before it (the
    /// layout of `Rc`'s and `Arc`'s shared block).
    fn allocation_size<T>() -> usize {
        shared_block_size::<T>()
    }

    /// A new cell holding `value`.
    fn new_cell<T>(value: T) -> Self::Cell<T>;
    /// Runs `f` with shared access to the cell's value.
    fn read<T, R>(cell: &Self::Cell<T>, f: impl FnOnce(&T) -> R) -> R;
    /// Runs `f` with exclusive access to the cell's value.
    fn write<T, R>(cell: &Self::Cell<T>, f: impl FnOnce(&mut T) -> R) -> R;
    /// Exclusive access through a unique borrow: no borrow flag, no lock.
    fn get_mut<T>(cell: &mut Self::Cell<T>) -> &mut T;
}

/// A strategy whose back-references are weak, and which
/// [`StrongOnly`](crate::StrongOnly) can wrap.
pub trait BaseStrategy: Strategy {}

/// The bytes an `Rc<T>` or `Arc<T>` requests from the allocator: a
/// `#[repr(C)]` block of two `usize` counts followed by the `T`.
pub fn shared_block_size<T>() -> usize {
    use std::alloc::Layout;
    let (block, _) = Layout::new::<[usize; 2]>()
        .extend(Layout::new::<T>())
        .expect("a node layout fits in memory");
    block.pad_to_align().size()
}
