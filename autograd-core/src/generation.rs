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

/// A function's place in backward's order: its generation, then its creation
/// order, packed in one `u64` (generation in the high half) so that the
/// scheduler compares one integer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Order(u64);

thread_local! {
    /// Creation order of function nodes on this thread. Per thread, not a
    /// global atomic: threads building graphs side by side would otherwise
    /// contend on one cache line for every op.
    static NEXT_SEQ: Cell<u32> = const { Cell::new(0) };
}

impl Order {
    /// The order of a function of `generation` created now. Among functions
    /// of one generation the later-created runs first (the seed's `pop()`);
    /// the counter wraps after 2³² functions on a thread, which reorders only
    /// functions that do not depend on each other.
    pub(crate) fn next(generation: Generation) -> Order {
        let seq = NEXT_SEQ.with(|n| {
            let seq = n.get();
            n.set(seq.wrapping_add(1));
            seq
        });
        Order(u64::from(generation.0) << 32 | u64::from(seq))
    }

    pub(crate) fn generation(self) -> Generation {
        Generation((self.0 >> 32) as u32)
    }
}
