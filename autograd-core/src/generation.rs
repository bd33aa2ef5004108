//! [`Generation`]: a node's distance from the leaves, which orders backward.

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
        Generation(self.0 + 1)
    }
}

impl fmt::Display for Generation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}
