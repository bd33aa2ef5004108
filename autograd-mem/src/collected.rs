//! [`Collected`]: single-threaded graphs whose function → output links are
//! strong, freed by a cycle collector (the seed's second method).

use std::cell::Cell;

use jrsonnet_gcmodule::{Cc, ObjectSpace, Trace, Tracer};

use crate::collection::{
    self, Collection, Collector, CollectorStats, Policy, Totals, collected_pointers,
};
use crate::sealed::Sealed;
use crate::{Freeing, GraphNode, LocalCells, Strategy, StrategyKind, live};

/// Reference counting plus a cycle collector, as CPython frees DeZero's
/// graph when the weak link is missing: every graph is a cycle
/// (`y → f → y`), reference counting alone never frees it, and gcmodule's
/// collector (CPython's algorithm, in Rust) finds and frees the unreachable
/// ones when it runs. Memory climbs between collections and the program
/// pauses for each: the sawtooth the report shows.
///
/// Pointers are gcmodule `Cc`s in an object space of this thread's that the
/// strategy owns, cells are `RefCell`s; graphs are neither `Send` nor `Sync` (see
/// [`CollectedSync`](crate::CollectedSync)). When the collector runs is the
/// thread's [`Policy`] ([`ThreadCollector::set_policy`](Collector::set_policy)); [`Collected::collect`]
/// runs it at once.
///
/// A cycle that runs through the variables a user op keeps in its own fields
/// is not seen by the collector (ops are opaque to it) and is never freed.
///
/// At thread exit the space runs one last collection (on a stack deep enough
/// for the live graph). Nodes that are still reachable then (from a
/// thread-local the thread destroys after the space) are leaked on purpose,
/// with the space's list they point into: they stay counted in
/// [`live`](crate::live), and a later drop of one of them writes only into
/// memory that is still allocated.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Collected;

/// A node as the collector holds it: what it traces is the node's own links.
#[repr(transparent)]
pub(crate) struct Traced<T>(T);

impl<T: GraphNode<Collected>> Trace for Traced<T> {
    fn trace(&self, tracer: &mut Tracer) {
        self.0.trace(tracer);
    }

    fn is_type_tracked() -> bool {
        true
    }
}

/// An owning handle under [`Collected`]: a gcmodule `Cc`.
#[doc(hidden)]
pub struct CcHandle<T>(Cc<Traced<T>>);

impl<T> Clone for CcHandle<T> {
    fn clone(&self) -> Self {
        CcHandle(self.0.clone())
    }
}

/// This thread's object space. The strategy owns it, rather than using
/// gcmodule's thread-local one, so that it decides what happens at thread
/// exit: gcmodule's frees its list while nodes kept in other thread-locals
/// still point into it (they then write into freed memory when dropped).
struct ThreadSpace(Option<ObjectSpace>);

impl Drop for ThreadSpace {
    fn drop(&mut self) {
        let Some(space) = self.0.take() else {
            return;
        };
        // Graphs that became garbage before the thread's exit are freed, on a
        // stack segment as deep as the live graph needs (gcmodule marks
        // recursively).
        let tracked = space.count_tracked();
        if tracked > 0 {
            collection::run(tracked, || space.collect_cycles());
        }
        if space.count_tracked() > 0 {
            // Still reachable from a thread-local destroyed after this one:
            // those nodes unlink themselves from the space's list when they
            // are dropped, so the list must outlive them. Leaked on purpose.
            std::mem::forget(space);
        }
    }
}

thread_local! {
    static SPACE: ThreadSpace = ThreadSpace(Some(ObjectSpace::default()));
    /// The space of nodes created after [`SPACE`] was destroyed (by another
    /// thread-local's destructor): never freed, as such nodes may outlive
    /// every destructor of the thread.
    static LATE_SPACE: Cell<Option<&'static ObjectSpace>> = const { Cell::new(None) };
    static POLICY: Cell<Policy> = const { Cell::new(Policy::Auto) };
    /// Nodes created on this thread since its last collection.
    static CREATED: Cell<u64> = const { Cell::new(0) };
    /// Nodes alive on this thread after its last collection.
    static SURVIVORS: Cell<u64> = const { Cell::new(0) };
}

static TOTALS: Totals = Totals::new();

/// Runs `f` on this thread's object space, or on the late one once the
/// thread has destroyed it.
fn with_space<R>(f: impl FnOnce(&ObjectSpace) -> R) -> R {
    let mut f = Some(f);
    let mut run = |space: &ObjectSpace| f.take().map(|f| f(space));
    if let Ok(Some(result)) = SPACE.try_with(|space| space.0.as_ref().and_then(&mut run)) {
        return result;
    }
    let late = crate::late::leaked_once(&LATE_SPACE);
    run(late).expect("`f` has not run")
}

impl Collected {
    /// Runs this thread's collector now and says what it freed (the same
    /// as `ThreadCollector::collect()`, the strategy's
    /// [`Collector`](Strategy::Collector)).
    pub fn collect() -> Collection {
        ThreadCollector::collect()
    }

    fn live_nodes() -> u64 {
        let live = live::this_thread::<Collected>();
        (live.variables + live.functions).max(0) as u64
    }
}

/// [`Collected`]'s collector: this thread's object space, by this thread's
/// [`Policy`].
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ThreadCollector;

impl Sealed for Collected {}
impl Sealed for ThreadCollector {}

impl Collector for ThreadCollector {
    fn maybe_collect() {
        let due = Self::policy().due(CREATED.with(Cell::get), SURVIVORS.with(Cell::get));
        if due {
            Self::collect();
        }
    }

    fn collect() -> Collection {
        let collection = collection::run(Collected::live_nodes() as usize, || {
            with_space(ObjectSpace::collect_cycles)
        });
        CREATED.with(|n| n.set(0));
        SURVIVORS.with(|n| n.set(Collected::live_nodes()));
        TOTALS.add(collection);
        collection
    }

    /// Sets the policy of this thread.
    fn set_policy(policy: Policy) {
        POLICY.with(|p| p.set(policy));
    }

    fn policy() -> Policy {
        POLICY.with(Cell::get)
    }

    fn collector_stats() -> CollectorStats {
        TOTALS.get()
    }

    fn reset_collector_stats() {
        TOTALS.reset();
    }
}

impl Strategy for Collected {
    type Handle<T: GraphNode<Self>> = CcHandle<T>;
    type Link<T: GraphNode<Self>> = CcHandle<T>;
    type Back<T: GraphNode<Self>> = CcHandle<T>;
    type Ref<'a, T: GraphNode<Self> + 'a> = &'a T;
    type Tracer<'a> = Tracer<'a>;
    type Cells = LocalCells;
    type Collector = ThreadCollector;
    type Placement = crate::Apart;

    const KIND: StrategyKind = StrategyKind::Collected;
    const FREEING: Freeing = Freeing::OnCollection;
    const BACK_OWNS: bool = true;

    collected_pointers!(CcHandle);

    fn new_handle<T: GraphNode<Self>>(value: T) -> CcHandle<T> {
        CREATED.with(|n| n.set(n.get() + 1));
        CcHandle(with_space(|space| space.create(Traced(value))))
    }

    fn get<T: GraphNode<Self>>(handle: &CcHandle<T>) -> &T {
        &handle.0.0
    }

    /// gcmodule's block for a tracked value: a header (two list pointers
    /// and a vtable pointer), two counts, then the value.
    fn allocation_size<T: GraphNode<Self>>() -> usize {
        use std::alloc::Layout;
        let (block, _) = Layout::new::<[usize; 3]>()
            .extend(Layout::new::<[usize; 2]>())
            .and_then(|(block, _)| block.extend(Layout::new::<T>()))
            .expect("a node layout fits in memory");
        block.pad_to_align().size()
    }
}
