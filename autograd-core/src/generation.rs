//! [`Generation`]: a node's distance from the leaves, which orders backward.

use std::cell::Cell;
use std::fmt;

/// How far a node is from the leaves of its graph.
///
/// A leaf variable has generation 0. A function's generation is the largest of
/// its inputs'; each of its outputs is one more. Backward always runs the
/// pending function of the highest generation next, so every gradient that
/// reaches a variable has arrived before the variable's creator runs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Generation(pub u32);

impl Generation {
    /// The generation of a leaf.
    pub const LEAF: Generation = Generation(0);

    /// The generation of a function's outputs.
    pub fn next(self) -> Generation {
        Generation(self.0.saturating_add(1))
    }
}

impl fmt::Display for Generation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A function's place in backward's order: a number that grows with
/// creation on each thread and is larger than every function the function
/// depends on (a Lamport clock: a function created on one thread after
/// reading an output made on another is numbered past it). Backward runs
/// the pending function with the largest number next, which is the reverse
/// of creation order on one thread: a topological order, the same under
/// every strategy (so gradients meeting at a node are summed in the same
/// order), and a region's slots in reverse.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct Order(u64);

thread_local! {
    /// The last order given out on this thread. Per thread, not a global
    /// atomic: threads building graphs side by side would otherwise
    /// contend on one cache line for every op.
    static CLOCK: Cell<u64> = const { Cell::new(0) };
}

impl Order {
    /// Below every function's: what a leaf depends on.
    pub(crate) const LEAF: Order = Order(0);

    /// The order of a function created now that depends on functions up to
    /// `self` (the largest among its inputs' creators'). Never wraps: 2⁶⁴
    /// functions are out of reach.
    #[inline]
    pub(crate) fn next(self) -> Order {
        let next = CLOCK
            .try_with(|clock| {
                let next = clock.get().max(self.0) + 1;
                clock.set(next);
                next
            })
            // At thread exit, past every function this thread could depend on.
            .unwrap_or(self.0 + 1);
        Order(next)
    }

    /// The order the next function created on this thread will at least
    /// have (what a block recomputed from here on is numbered above).
    #[allow(dead_code)]
    pub(crate) fn now() -> Order {
        Order(CLOCK.try_with(Cell::get).unwrap_or(u64::MAX))
    }
}
