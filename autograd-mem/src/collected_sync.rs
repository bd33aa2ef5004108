//! [`CollectedSync`]: thread-safe graphs whose function → output links are
//! strong, freed by a cycle collector.
//!
//! The one module of this crate allowed `unsafe`, for one reason: gcmodule's
//! threaded pointer accepts only values that are `Send + Sync`, and the
//! generic [`Strategy::new_handle`] cannot prove that of its `T` (autograd-core's
//! nodes are `Send + Sync` under this strategy, but that is a fact about
//! each concrete type, not about every `T` the trait allows). So node types
//! are declared thread-safe where the compiler can check them
//! ([`declare_thread_safe`] requires `T: Send + Sync`), and `new_handle`
//! refuses any type not declared; the `unsafe impl`s below rest on that.

#![allow(unsafe_code)]

use std::any::TypeId;
use std::cell::Cell;
use std::ops::Deref;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, AtomicUsize, Ordering};
use std::sync::{LazyLock, Mutex, OnceLock, PoisonError, RwLock, TryLockError};

use jrsonnet_gcmodule::{ThreadedCc, ThreadedCcRef, ThreadedObjectSpace, Trace, Tracer};

use crate::collection::{
    self, Collection, Collector, CollectorStats, Policy, Totals, collected_pointers,
};
use crate::sealed::Sealed;
use crate::{Freeing, GraphNode, SharedCells, Strategy, StrategyKind, live};

/// Reference counting plus a cycle collector, for graphs that are
/// `Send + Sync`: [`Collected`](crate::Collected)'s counterpart as
/// [`ArcWeak`](crate::ArcWeak) is [`RcWeak`](crate::RcWeak)'s.
///
/// Every node lives in one process-wide gcmodule object space
/// ([`ProcessCollector`]); cells are `Mutex`es ([`SharedCells`]). A collection stops every thread's access to the graph while it
/// runs (gcmodule's lock). The [`Policy`] is process-wide
/// ([`ProcessCollector::set_policy`](Collector::set_policy)).
///
/// A collection can only run while no thread holds a borrow of a node, and
/// a backward pass holds one while an op's backward runs. So an automatic
/// collection never waits: it is skipped while any thread holds a borrow
/// (an op whose backward waits on worker threads that build graphs would
/// otherwise wait for itself). [`CollectedSync::collect`] waits for the borrows
/// of other threads to end, and new borrows wait for it; it collects
/// nothing on a thread that holds a borrow itself. Calling it on a thread
/// that some op's backward waits for blocks until that backward ends: a
/// deadlock, as with any lock.
///
/// A cycle that runs through the variables a user op keeps in its own fields
/// is not seen by the collector and is never freed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct CollectedSync;

/// The process-wide object space: every node of every thread.
static SPACE: LazyLock<ThreadedObjectSpace> = LazyLock::new(ThreadedObjectSpace::default);

/// The types [`declare_thread_safe`] was called for.
static THREAD_SAFE: RwLock<Vec<TypeId>> = RwLock::new(Vec::new());

/// Declares that values of `T` may be moved and shared between threads, so
/// that [`CollectedSync`]'s pointer may hold them: the compiler checks it
/// here (`T: Send + Sync`). autograd-core declares its two node types.
#[doc(hidden)]
pub fn declare_thread_safe<T: Send + Sync + 'static>() {
    let id = TypeId::of::<T>();
    let mut types = THREAD_SAFE.write().unwrap_or_else(PoisonError::into_inner);
    if !types.contains(&id) {
        types.push(id);
    }
}

fn declared_thread_safe<T: 'static>() -> bool {
    THREAD_SAFE
        .read()
        .unwrap_or_else(PoisonError::into_inner)
        .contains(&TypeId::of::<T>())
}

/// A node in the threaded object space.
#[doc(hidden)]
pub struct Shared<T>(T);

// SAFETY: a `Shared<T>` is made in one place only, `CollectedSync::new_handle`
// (the field is private to this module), and only after checking that `T`'s
// `TypeId` was recorded by `declare_thread_safe::<T>`, which requires
// `T: Send + Sync`. So every `Shared<T>` that exists wraps a `Send + Sync` value,
// and moving or sharing it between threads is what `T` allows.
unsafe impl<T> Send for Shared<T> {}
// SAFETY: as for `Send` above.
unsafe impl<T> Sync for Shared<T> {}

impl<T: GraphNode<CollectedSync>> Trace for Shared<T> {
    fn trace(&self, tracer: &mut Tracer) {
        self.0.trace(tracer);
    }

    fn is_type_tracked() -> bool {
        true
    }
}

/// An owning handle under [`CollectedSync`]: a gcmodule `ThreadedCc`.
#[doc(hidden)]
pub struct SyncHandle<T>(ThreadedCc<Shared<T>>);

impl<T> Clone for SyncHandle<T> {
    fn clone(&self) -> Self {
        SyncHandle(self.0.clone())
    }
}

thread_local! {
    /// Borrows alive on this thread: no collection may start under one (it
    /// would wait for this thread's own read lock).
    static BORROWS: Cell<usize> = const { Cell::new(0) };
}

/// Threads holding a borrow of a node (a thread counts once, however many
/// it holds).
static BORROWING: AtomicUsize = AtomicUsize::new(0);
/// Set while a collection is starting or running: a thread's first borrow
/// waits until it ends.
static COLLECTING: AtomicBool = AtomicBool::new(false);
/// Held by the collection that is starting or running; a borrow that backed
/// off waits for it here.
static COLLECTION: Mutex<()> = Mutex::new(());

/// Counts this thread's new borrow. A thread's first borrow announces
/// itself in [`BORROWING`] and then checks [`COLLECTING`], while a
/// collection sets `COLLECTING` and then checks `BORROWING` (both
/// sequentially consistent): of the two, at least one sees the other, so a
/// collection never waits for a borrow whose thread may be waiting for it.
fn enter_borrow() {
    let first = BORROWS
        .try_with(|n| {
            n.set(n.get() + 1);
            n.get() == 1
        })
        .unwrap_or(true);
    if !first {
        // This thread's first borrow keeps any collection from starting.
        return;
    }
    loop {
        BORROWING.fetch_add(1, Ordering::SeqCst);
        if !COLLECTING.load(Ordering::SeqCst) {
            return;
        }
        // A collection is starting: back off and wait for it to end.
        BORROWING.fetch_sub(1, Ordering::SeqCst);
        drop(COLLECTION.lock().unwrap_or_else(PoisonError::into_inner));
    }
}

/// Counts the end of one of this thread's borrows.
fn leave_borrow() {
    let last = BORROWS
        .try_with(|n| {
            n.set(n.get().saturating_sub(1));
            n.get() == 0
        })
        .unwrap_or(true);
    if last {
        BORROWING.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Runs `collect` once no other thread holds a borrow, with new borrows
/// waiting for it. `wait`: whether to wait for another collection and for
/// other threads' borrows to end, or (an automatic collection) give up
/// at once; `None` if it gave up.
fn exclusively(wait: bool, collect: impl FnOnce() -> Collection) -> Option<Collection> {
    let _one = if wait {
        COLLECTION.lock().unwrap_or_else(PoisonError::into_inner)
    } else {
        match COLLECTION.try_lock() {
            Ok(guard) => guard,
            Err(TryLockError::Poisoned(poisoned)) => poisoned.into_inner(),
            Err(TryLockError::WouldBlock) => return None,
        }
    };
    COLLECTING.store(true, Ordering::SeqCst);
    /// Lets borrows in again however the collection ends.
    struct Done;
    impl Drop for Done {
        fn drop(&mut self) {
            COLLECTING.store(false, Ordering::SeqCst);
        }
    }
    let _done = Done;
    while BORROWING.load(Ordering::SeqCst) > 0 {
        if !wait {
            return None;
        }
        std::thread::yield_now();
    }
    // gcmodule runs the garbage's drops after it lets go of its lock, and a
    // drop may borrow a node: on this thread that borrow must not wait for
    // the collection it runs in. Counted as one of this thread's borrows, it
    // is not a first one (nor may a drop start a collection).
    let _ = BORROWS.try_with(|n| n.set(n.get() + 1));
    let collection = collect();
    let _ = BORROWS.try_with(|n| n.set(n.get().saturating_sub(1)));
    Some(collection)
}

/// A borrow of a node: holds gcmodule's read lock, which keeps the collector
/// from running meanwhile.
#[doc(hidden)]
pub struct SyncRef<'a, T>(ThreadedCcRef<'a, Shared<T>>);

impl<T> Deref for SyncRef<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0.0
    }
}

impl<T> Drop for SyncRef<'_, T> {
    fn drop(&mut self) {
        leave_borrow();
    }
}

static POLICY: AtomicU8 = AtomicU8::new(0);
static EVERY: OnceLock<Mutex<u64>> = OnceLock::new();
/// Nodes created since the last collection, and alive after it.
static CREATED: AtomicU64 = AtomicU64::new(0);
static SURVIVORS: AtomicU64 = AtomicU64::new(0);
static TOTALS: Totals = Totals::new();

fn every() -> &'static Mutex<u64> {
    EVERY.get_or_init(|| Mutex::new(1))
}

impl CollectedSync {
    fn live_nodes() -> u64 {
        let live = live::total::<CollectedSync>();
        (live.variables + live.functions).max(0) as u64
    }
}

/// Runs one collection and keeps the counts (with no borrow held anywhere).
fn run_collection() -> Collection {
    let collection = collection::run(CollectedSync::live_nodes() as usize, || {
        SPACE.collect_cycles()
    });
    CREATED.store(0, Ordering::Relaxed);
    SURVIVORS.store(CollectedSync::live_nodes(), Ordering::Relaxed);
    TOTALS.add(collection);
    collection
}

/// [`CollectedSync`]'s collector: the process-wide object space, by the
/// process-wide [`Policy`].
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ProcessCollector;

impl Sealed for CollectedSync {}
impl Sealed for ProcessCollector {}

impl CollectedSync {
    /// Runs the process-wide collector now and says what it freed (the
    /// same as `ProcessCollector::collect()`, the strategy's
    /// [`Collector`](Strategy::Collector)).
    pub fn collect() -> Collection {
        ProcessCollector::collect()
    }
}

impl Collector for ProcessCollector {
    fn set_policy(policy: Policy) {
        let code = match policy {
            Policy::Auto => 0,
            Policy::Never => 1,
            Policy::Every(n) => {
                *every().lock().unwrap_or_else(PoisonError::into_inner) = n;
                2
            }
        };
        POLICY.store(code, Ordering::Relaxed);
    }

    fn policy() -> Policy {
        match POLICY.load(Ordering::Relaxed) {
            0 => Policy::Auto,
            1 => Policy::Never,
            _ => Policy::Every(*every().lock().unwrap_or_else(PoisonError::into_inner)),
        }
    }

    fn collector_stats() -> CollectorStats {
        TOTALS.get()
    }

    fn reset_collector_stats() {
        TOTALS.reset();
    }

    /// Collects if the policy says so and no thread holds a borrow of a
    /// node; never waits.
    fn maybe_collect() {
        let created = CREATED.load(Ordering::Relaxed);
        if BORROWING.load(Ordering::Relaxed) == 0
            && Self::policy().due(created, SURVIVORS.load(Ordering::Relaxed))
        {
            let _ = exclusively(false, run_collection);
        }
    }

    /// Collects once the borrows that other threads hold have ended (new
    /// ones wait for the collection); nothing if this thread holds a borrow
    /// of a node (only a user op's code, running inside backward, can),
    /// which the collector would wait for forever.
    fn collect() -> Collection {
        if BORROWS.try_with(Cell::get).unwrap_or(1) > 0 {
            return Collection::default();
        }
        exclusively(true, run_collection).unwrap_or_default()
    }
}

impl Strategy for CollectedSync {
    type Handle<T: GraphNode<Self>> = SyncHandle<T>;
    type Link<T: GraphNode<Self>> = SyncHandle<T>;
    type Back<T: GraphNode<Self>> = SyncHandle<T>;
    type Ref<'a, T: GraphNode<Self> + 'a> = SyncRef<'a, T>;
    type Tracer<'a> = Tracer<'a>;
    type Cells = SharedCells;
    type Collector = ProcessCollector;
    type Placement = crate::Apart;

    const KIND: StrategyKind = StrategyKind::CollectedSync;
    const FREEING: Freeing = Freeing::OnCollection;
    const BACK_OWNS: bool = true;

    collected_pointers!(SyncHandle);

    /// # Panics
    /// If `T` was not declared with [`declare_thread_safe`] (autograd-core
    /// declares its nodes).
    fn new_handle<T: GraphNode<Self>>(value: T) -> SyncHandle<T> {
        assert!(
            declared_thread_safe::<T>(),
            "CollectedSync holds only types declared thread-safe"
        );
        CREATED.fetch_add(1, Ordering::Relaxed);
        SyncHandle(SPACE.create(Shared(value)))
    }

    fn get<T: GraphNode<Self>>(handle: &SyncHandle<T>) -> SyncRef<'_, T> {
        enter_borrow();
        SyncRef(handle.0.borrow())
    }

    /// gcmodule's threaded block for a tracked value: a header (two list
    /// pointers, a vtable pointer, the list's lock), two counts and the
    /// collector's lock, then the value.
    fn allocation_size<T: GraphNode<Self>>() -> usize {
        use std::alloc::Layout;
        let (block, _) = Layout::new::<[usize; 4]>()
            .extend(Layout::new::<[usize; 3]>())
            .and_then(|(block, _)| block.extend(Layout::new::<T>()))
            .expect("a node layout fits in memory");
        block.pad_to_align().size()
    }
}
