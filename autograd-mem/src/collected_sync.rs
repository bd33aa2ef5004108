//! [`CollectedSync`]: thread-safe graphs whose function → output links are
//! strong, freed by a cycle collector.
//!
//! The one module of this crate allowed `unsafe`, for one reason: gcmodule's
//! threaded pointer accepts only values that are `Send + Sync`, and the
//! generic [`Strategy::new_strong`] cannot prove that of its `T` (autograd-core's
//! nodes are `Send + Sync` under this strategy, but that is a fact about
//! each concrete type, not about every `T` the trait allows). So node types
//! are declared thread-safe where the compiler can check them
//! ([`declare_thread_safe`] requires `T: Send + Sync`), and `new_strong`
//! refuses any type not declared; the `unsafe impl`s below rest on that.

#![allow(unsafe_code)]

use std::any::TypeId;
use std::cell::Cell;
use std::ops::Deref;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::sync::{LazyLock, Mutex, OnceLock, PoisonError, RwLock, TryLockError};

use jrsonnet_gcmodule::{ThreadedCc, ThreadedCcRef, ThreadedObjectSpace, Trace, Tracer};

use crate::collection::{self, Collection, CollectorStats, Policy, Totals};
use crate::{Freeing, GraphNode, Strategy, StrategyKind, live};

/// Reference counting plus a cycle collector, for graphs that are
/// `Send + Sync`: [`Collected`](crate::Collected)'s counterpart as
/// [`ArcWeak`](crate::ArcWeak) is [`RcWeak`](crate::RcWeak)'s.
///
/// Every node lives in one process-wide gcmodule object space; cells are
/// `Mutex`es. A collection stops every thread's access to the graph while it
/// runs (gcmodule's lock). The [`Policy`] is process-wide
/// ([`Strategy::set_policy`]).
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

// SAFETY: a `Shared<T>` is made in one place only, `CollectedSync::new_strong`
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
        let _ = BORROWS.try_with(|n| n.set(n.get().saturating_sub(1)));
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

impl Strategy for CollectedSync {
    type Strong<T: GraphNode<Self>> = SyncHandle<T>;
    type Ref<'a, T: GraphNode<Self> + 'a> = SyncRef<'a, T>;
    type Back<T: GraphNode<Self>> = SyncHandle<T>;
    type Cell<T> = Mutex<T>;
    type Once<T> = OnceLock<T>;
    type Tracer<'a> = Tracer<'a>;

    const KIND: StrategyKind = StrategyKind::CollectedSync;
    const FREEING: Freeing = Freeing::OnCollection;

    /// # Panics
    /// If `T` was not declared with [`declare_thread_safe`] (autograd-core
    /// declares its nodes).
    fn new_strong<T: GraphNode<Self>>(value: T) -> SyncHandle<T> {
        assert!(
            declared_thread_safe::<T>(),
            "CollectedSync holds only types declared thread-safe"
        );
        CREATED.fetch_add(1, Ordering::Relaxed);
        SyncHandle(SPACE.create(Shared(value)))
    }

    fn get<T: GraphNode<Self>>(strong: &SyncHandle<T>) -> SyncRef<'_, T> {
        let _ = BORROWS.try_with(|n| n.set(n.get() + 1));
        SyncRef(strong.0.borrow())
    }

    fn back<T: GraphNode<Self>>(strong: &SyncHandle<T>) -> SyncHandle<T> {
        strong.clone()
    }

    fn upgrade<T: GraphNode<Self>>(back: &SyncHandle<T>) -> Option<SyncHandle<T>> {
        Some(back.clone())
    }

    fn try_unwrap<T: GraphNode<Self>>(strong: SyncHandle<T>) -> Result<T, SyncHandle<T>> {
        Err(strong)
    }

    fn try_unwrap_back<T: GraphNode<Self>>(back: SyncHandle<T>) -> Result<T, SyncHandle<T>> {
        Err(back)
    }

    fn addr<T: GraphNode<Self>>(strong: &SyncHandle<T>) -> usize {
        let node: &T = &Self::get(strong);
        node as *const T as usize
    }

    fn back_addr<T: GraphNode<Self>>(back: &SyncHandle<T>) -> usize {
        Self::addr(back)
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

    fn trace_strong<T: GraphNode<Self>>(strong: &SyncHandle<T>, tracer: &mut Tracer<'_>) {
        strong.0.trace(tracer);
    }

    fn trace_back<T: GraphNode<Self>>(back: &SyncHandle<T>, tracer: &mut Tracer<'_>) {
        back.0.trace(tracer);
    }

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

    fn maybe_collect() {
        let borrowed = BORROWS.try_with(Cell::get).unwrap_or(1) > 0;
        let created = CREATED.load(Ordering::Relaxed);
        if !borrowed && Self::policy().due(created, SURVIVORS.load(Ordering::Relaxed)) {
            Self::collect();
        }
    }

    /// Collects at once; nothing if this thread holds a borrow of a node
    /// (only a user op's code, running inside backward, can), which the
    /// collector would wait for forever.
    fn collect() -> Collection {
        if BORROWS.try_with(Cell::get).unwrap_or(1) > 0 {
            return Collection::default();
        }
        let collection = collection::run(Self::live_nodes() as usize, || SPACE.collect_cycles());
        CREATED.store(0, Ordering::Relaxed);
        SURVIVORS.store(Self::live_nodes(), Ordering::Relaxed);
        TOTALS.add(collection);
        collection
    }

    fn new_cell<T>(value: T) -> Mutex<T> {
        Mutex::new(value)
    }

    fn read<T, R>(cell: &Mutex<T>, f: impl FnOnce(&T) -> R) -> R {
        f(&cell.lock().unwrap_or_else(PoisonError::into_inner))
    }

    fn try_read<T, R>(cell: &Mutex<T>, f: impl FnOnce(&T) -> R) -> Option<R> {
        match cell.try_lock() {
            Ok(value) => Some(f(&value)),
            Err(TryLockError::Poisoned(poisoned)) => Some(f(&poisoned.into_inner())),
            Err(TryLockError::WouldBlock) => None,
        }
    }

    fn write<T, R>(cell: &Mutex<T>, f: impl FnOnce(&mut T) -> R) -> R {
        f(&mut cell.lock().unwrap_or_else(PoisonError::into_inner))
    }

    fn get_mut<T>(cell: &mut Mutex<T>) -> &mut T {
        cell.get_mut().unwrap_or_else(PoisonError::into_inner)
    }

    fn new_once<T>() -> OnceLock<T> {
        OnceLock::new()
    }

    fn once_get<T>(once: &OnceLock<T>) -> Option<&T> {
        once.get()
    }

    fn once_set<T>(once: &OnceLock<T>, value: T) -> Result<(), T> {
        once.set(value)
    }

    fn once_take<T>(once: &mut OnceLock<T>) -> Option<T> {
        once.take()
    }
}
