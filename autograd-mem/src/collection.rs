//! A strategy's collector ([`Collector`]: none, per thread or per process),
//! and what the collected strategies share: when they collect on their own
//! ([`Policy`]), what a collection did ([`Collection`]), what all of them did
//! ([`CollectorStats`]), and running a collection on a stack deep enough.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::sealed::Sealed;

/// Whether and when a strategy frees unreachable cycles: each strategy names
/// one ([`Strategy::Collector`](crate::Strategy::Collector)), and
/// [`Strategy`](crate::Strategy)'s collection methods call it.
///
/// Three answers: [`NoCollector`] (the reference-counting strategies), the
/// per-thread collector of [`Collected`](crate::Collected) and the
/// per-process one of [`CollectedSync`](crate::CollectedSync). This trait is
/// sealed: it is not an extension interface.
pub trait Collector: Sealed + 'static {
    /// Collects if the policy says it is time. autograd-core calls it where
    /// no node is borrowed.
    fn maybe_collect() {}

    /// Collects now and says what it freed; nothing without a collector.
    fn collect() -> Collection {
        Collection::default()
    }

    /// Sets when the collector runs on its own; no effect without one.
    fn set_policy(policy: Policy) {
        let _ = policy;
    }

    /// When the collector runs on its own; [`Policy::Never`] without one.
    fn policy() -> Policy {
        Policy::Never
    }

    /// What the collections did, over all threads.
    fn collector_stats() -> CollectorStats {
        CollectorStats::default()
    }

    /// Starts [`collector_stats`](Collector::collector_stats) over.
    fn reset_collector_stats() {}
}

/// The pointer plumbing of the two collected strategies, inside their
/// `Strategy` impls: one gcmodule handle type (a newtype around the
/// collector's pointer to the node, `.0`) serves as handle, link and
/// back-reference, all owning; it never gives its node up (teardown lets the
/// node's `Drop` hand its links over), and it traces what it points to.
macro_rules! collected_pointers {
    ($handle:ident) => {
        #[inline]
        fn into_link<T: GraphNode<Self>>(handle: $handle<T>) -> $handle<T> {
            handle
        }

        fn get_link<T: GraphNode<Self>>(link: &$handle<T>) -> Self::Ref<'_, T> {
            Self::get(link)
        }

        fn link<T: GraphNode<Self>>(handle: &$handle<T>) -> $handle<T> {
            handle.clone()
        }

        fn handle<T: GraphNode<Self>>(link: &$handle<T>) -> $handle<T> {
            link.clone()
        }

        fn back<T: GraphNode<Self>>(handle: &$handle<T>) -> $handle<T> {
            handle.clone()
        }

        fn upgrade<T: GraphNode<Self>>(back: &$handle<T>) -> Option<$handle<T>> {
            Some(back.clone())
        }

        fn try_unwrap<T: GraphNode<Self>>(link: $handle<T>) -> Result<T, $handle<T>> {
            Err(link)
        }

        fn try_unwrap_back<T: GraphNode<Self>>(back: $handle<T>) -> Result<T, $handle<T>> {
            Err(back)
        }

        fn back_addr<T: GraphNode<Self>>(back: &$handle<T>) -> usize {
            let node: &T = &Self::get(back);
            node as *const T as usize
        }

        fn trace_handle<T: GraphNode<Self>>(handle: &$handle<T>, tracer: &mut Tracer<'_>) {
            handle.0.trace(tracer);
        }

        fn trace_link<T: GraphNode<Self>>(link: &$handle<T>, tracer: &mut Tracer<'_>) {
            link.0.trace(tracer);
        }

        fn trace_back<T: GraphNode<Self>>(back: &$handle<T>, tracer: &mut Tracer<'_>) {
            back.0.trace(tracer);
        }
    };
}
pub(crate) use collected_pointers;

/// No collector: what reference counting does not free stays (the cycles of
/// [`StrongOnly`](crate::StrongOnly)).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct NoCollector;

impl Sealed for NoCollector {}
impl Collector for NoCollector {}

/// When a collected strategy runs its cycle collector on its own (it always
/// runs when [`Collector::collect`] is called).
///
/// gcmodule collects only when asked; the strategies ask at points where no
/// node is borrowed (after an op is recorded, after a backward pass).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Policy {
    /// After as many nodes were created since the last collection as
    /// survived it, and at least 700 (CPython's first-generation threshold):
    /// each node is then scanned a bounded number of times on average,
    /// however large the live graph.
    #[default]
    Auto,
    /// After every `n` nodes created (`n` ≥ 1).
    Every(u64),
    /// Only when asked: tests use this to see the graph before a collection.
    Never,
}

impl Policy {
    /// CPython's first-generation threshold, the least [`Policy::Auto`] waits.
    pub const AUTO_MINIMUM: u64 = 700;

    /// Whether a collection is due after `created` nodes since the last one,
    /// which left `survivors`.
    pub(crate) fn due(self, created: u64, survivors: u64) -> bool {
        match self {
            Policy::Auto => created >= survivors.max(Self::AUTO_MINIMUM),
            Policy::Every(n) => created >= n.max(1),
            Policy::Never => false,
        }
    }
}

/// What one collection did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Collection {
    /// Nodes the collector freed (variables and functions in unreachable cycles).
    pub freed: usize,
    /// How long the program paused for it.
    pub pause: Duration,
}

/// What a strategy's collections did since the last
/// [`Collector::reset_collector_stats`], over all threads.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CollectorStats {
    /// Collections run.
    pub collections: u64,
    /// Nodes they freed.
    pub freed: u64,
    /// Time spent collecting.
    pub total: Duration,
    /// The longest single pause.
    pub longest: Duration,
}

/// The running totals behind [`CollectorStats`], one per strategy.
pub(crate) struct Totals {
    collections: AtomicU64,
    freed: AtomicU64,
    nanos: AtomicU64,
    longest_nanos: AtomicU64,
}

impl Totals {
    pub(crate) const fn new() -> Totals {
        Totals {
            collections: AtomicU64::new(0),
            freed: AtomicU64::new(0),
            nanos: AtomicU64::new(0),
            longest_nanos: AtomicU64::new(0),
        }
    }

    pub(crate) fn add(&self, collection: Collection) {
        let nanos = u64::try_from(collection.pause.as_nanos()).unwrap_or(u64::MAX);
        self.collections.fetch_add(1, Ordering::Relaxed);
        self.freed
            .fetch_add(collection.freed as u64, Ordering::Relaxed);
        self.nanos.fetch_add(nanos, Ordering::Relaxed);
        self.longest_nanos.fetch_max(nanos, Ordering::Relaxed);
    }

    pub(crate) fn get(&self) -> CollectorStats {
        CollectorStats {
            collections: self.collections.load(Ordering::Relaxed),
            freed: self.freed.load(Ordering::Relaxed),
            total: Duration::from_nanos(self.nanos.load(Ordering::Relaxed)),
            longest: Duration::from_nanos(self.longest_nanos.load(Ordering::Relaxed)),
        }
    }

    pub(crate) fn reset(&self) {
        for total in [
            &self.collections,
            &self.freed,
            &self.nanos,
            &self.longest_nanos,
        ] {
            total.store(0, Ordering::Relaxed);
        }
    }
}

/// The stack a collection may need per live node: gcmodule marks the nodes
/// reachable from live ones recursively (a few frames per node).
const STACK_PER_NODE: usize = 1024;
/// The least stack a collection gets.
const MIN_STACK: usize = 1 << 20;

/// Runs `collect` (which returns the nodes freed) on a stack deep enough for
/// `live` live nodes, timing it. The stack is a separate segment, mapped
/// lazily (`stacker`), so only what the marking really uses is touched.
pub(crate) fn run(live: usize, collect: impl FnOnce() -> usize) -> Collection {
    let needed = live.saturating_mul(STACK_PER_NODE).max(MIN_STACK);
    let started = Instant::now();
    let freed = if stacker::remaining_stack().is_some_and(|left| left >= needed) {
        collect()
    } else {
        stacker::grow(needed, collect)
    };
    Collection {
        freed,
        pause: started.elapsed(),
    }
}
