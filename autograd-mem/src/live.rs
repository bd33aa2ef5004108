//! Live-node accounting: how many variable and function nodes are alive now.
//!
//! Every node records its creation and its drop here, per strategy. The counts
//! live in per-thread shards that are summed on read, so rayon workers building
//! graphs side by side each touch only their own cache line. Two views:
//!
//! * [`total`]: all threads together (what a report wants).
//! * [`this_thread`]: creations minus drops *performed on the current thread*.
//!   Tests running in parallel can assert exact counts with it, as long as
//!   their nodes stay on their own thread.
//!
//! Graph nodes (autograd-core's) record themselves; this crate's own test
//! below records by hand to show the bookkeeping:
//!
//! ```
//! use autograd_mem::{live, LiveNodes, RcWeak};
//!
//! let before = live::this_thread::<RcWeak>();
//! // ... build and drop graphs on this thread ...
//! assert_eq!(live::this_thread::<RcWeak>().since(before), LiveNodes::default());
//! ```

use std::sync::atomic::{AtomicIsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use crate::{Strategy, StrategyKind};

/// The two kinds of graph node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NodeKind {
    /// A variable node (an array, its gradient, its creator).
    Variable,
    /// A function node (an op, its inputs, its outputs).
    Function,
}

/// Live node counts for one strategy.
///
/// Signed because a per-thread view can go negative: a node created on one
/// thread and dropped on another counts +1 on the first and -1 on the second.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LiveNodes {
    /// Variable nodes alive.
    pub variables: isize,
    /// Function nodes alive.
    pub functions: isize,
}

impl LiveNodes {
    /// `self - earlier`, component-wise: what was created in between and not dropped.
    pub fn since(self, earlier: LiveNodes) -> LiveNodes {
        LiveNodes {
            variables: self.variables - earlier.variables,
            functions: self.functions - earlier.functions,
        }
    }
}

/// Counts for every strategy and node kind. Aligned to two cache lines so that
/// two threads' shards never share one.
#[repr(align(128))]
struct Shard {
    counts: [[AtomicIsize; 2]; StrategyKind::ALL.len()],
}

impl Shard {
    const fn new() -> Shard {
        Shard {
            counts: [const { [const { AtomicIsize::new(0) }; 2] }; StrategyKind::ALL.len()],
        }
    }

    fn cell(&self, strategy: StrategyKind, node: NodeKind) -> &AtomicIsize {
        &self.counts[strategy.index()][node as usize]
    }

    fn get(&self, strategy: StrategyKind) -> LiveNodes {
        LiveNodes {
            variables: self
                .cell(strategy, NodeKind::Variable)
                .load(Ordering::Relaxed),
            functions: self
                .cell(strategy, NodeKind::Function)
                .load(Ordering::Relaxed),
        }
    }
}

/// The shards of running threads.
static SHARDS: Mutex<Vec<Arc<Shard>>> = Mutex::new(Vec::new());
/// Counts of threads that have exited, and of drops during thread teardown.
static RETIRED: Shard = Shard::new();

/// This thread's shard; on thread exit its counts move to [`RETIRED`].
struct LocalShard(Arc<Shard>);

impl LocalShard {
    fn register() -> LocalShard {
        let shard = Arc::new(Shard::new());
        lock_shards().push(Arc::clone(&shard));
        LocalShard(shard)
    }
}

impl Drop for LocalShard {
    fn drop(&mut self) {
        // Fold and unregister under the lock, so a concurrent `total` sees the
        // counts exactly once.
        let mut shards = lock_shards();
        for &strategy in StrategyKind::ALL {
            for node in [NodeKind::Variable, NodeKind::Function] {
                let n = self.0.cell(strategy, node).load(Ordering::Relaxed);
                RETIRED.cell(strategy, node).fetch_add(n, Ordering::Relaxed);
            }
        }
        shards.retain(|s| !Arc::ptr_eq(s, &self.0));
    }
}

thread_local! {
    static LOCAL: LocalShard = LocalShard::register();
}

fn lock_shards() -> std::sync::MutexGuard<'static, Vec<Arc<Shard>>> {
    SHARDS.lock().unwrap_or_else(PoisonError::into_inner)
}

fn add(strategy: StrategyKind, node: NodeKind, delta: isize) {
    let counted = LOCAL.try_with(|local| {
        // Only this thread writes its shard, so a load and a store suffice
        // (no locked read-modify-write): readers on other threads still see
        // whole values, since each is atomic.
        let cell = local.0.cell(strategy, node);
        cell.store(cell.load(Ordering::Relaxed) + delta, Ordering::Relaxed);
    });
    if counted.is_err() {
        // This thread's shard is already gone (a node dropped by another
        // thread-local's destructor): count it with the retired threads.
        RETIRED
            .cell(strategy, node)
            .fetch_add(delta, Ordering::Relaxed);
    }
}

/// Records that a node of `node` kind was created under strategy `S`.
///
/// Plumbing for autograd-core's nodes: a call from anywhere else falsifies
/// the counts.
#[doc(hidden)]
pub fn record_created<S: Strategy>(node: NodeKind) {
    add(S::KIND, node, 1);
}

/// Records that a node of `node` kind was dropped under strategy `S`.
#[doc(hidden)]
pub fn record_dropped<S: Strategy>(node: NodeKind) {
    add(S::KIND, node, -1);
}

/// Nodes alive under strategy `S`, over all threads.
pub fn total<S: Strategy>() -> LiveNodes {
    total_of(S::KIND)
}

/// Nodes alive under `strategy`, over all threads.
pub fn total_of(strategy: StrategyKind) -> LiveNodes {
    let shards = lock_shards();
    let mut sum = RETIRED.get(strategy);
    for shard in shards.iter() {
        let n = shard.get(strategy);
        sum.variables += n.variables;
        sum.functions += n.functions;
    }
    sum
}

/// Creations minus drops of `S` nodes performed on the current thread.
pub fn this_thread<S: Strategy>() -> LiveNodes {
    LOCAL
        .try_with(|local| local.0.get(S::KIND))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ArcWeak, RcWeak, StrongOnly};

    #[test]
    fn strategies_are_counted_apart() {
        let rc = this_thread::<RcWeak>();
        let leak = this_thread::<StrongOnly<RcWeak>>();
        record_created::<StrongOnly<RcWeak>>(NodeKind::Function);
        assert_eq!(this_thread::<RcWeak>(), rc);
        assert_eq!(this_thread::<StrongOnly<RcWeak>>().since(leak).functions, 1);
        record_dropped::<StrongOnly<RcWeak>>(NodeKind::Function);
        assert_eq!(this_thread::<StrongOnly<RcWeak>>(), leak);
    }

    #[test]
    fn counts_of_an_exited_thread_stay_in_the_total() {
        // Other tests in this binary use other strategies' counters or balance
        // theirs, so StrongOnly<ArcWeak> moves only here.
        let before = total::<StrongOnly<ArcWeak>>();
        std::thread::spawn(|| record_created::<StrongOnly<ArcWeak>>(NodeKind::Variable))
            .join()
            .unwrap();
        assert_eq!(total::<StrongOnly<ArcWeak>>().since(before).variables, 1);
        record_dropped::<StrongOnly<ArcWeak>>(NodeKind::Variable);
        assert_eq!(total::<StrongOnly<ArcWeak>>(), before);
    }

    #[test]
    fn a_node_dropped_on_another_thread_balances_in_the_total() {
        let before = total::<ArcWeak>();
        record_created::<ArcWeak>(NodeKind::Variable);
        std::thread::spawn(|| record_dropped::<ArcWeak>(NodeKind::Variable))
            .join()
            .unwrap();
        assert_eq!(total::<ArcWeak>(), before);
    }
}
