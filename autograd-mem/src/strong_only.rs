//! [`StrongOnly`]: the graph without step 17's weak link, which leaks.

use std::fmt;
use std::marker::PhantomData;

use crate::StrategyKind;
use crate::sealed::Sealed;
use crate::strategy::{Counted, Family, StrongBack};

/// A pointer family's pointers and cells (`StrongOnly<RcWeak>`,
/// `StrongOnly<ArcWeak>`), but functions hold their outputs *strongly*.
///
/// Output → creator → output is then a reference cycle, and reference counting
/// alone never frees it: every graph built under this strategy stays in memory
/// after its last handle is dropped. That is the leak DeZero's step 17 removes
/// with `weakref`, kept here on purpose so that it can be measured. Nothing is
/// forgotten with `mem::forget`; the cycle alone keeps the nodes alive.
pub struct StrongOnly<B: Family>(PhantomData<B>);

impl<B: Family> fmt::Debug for StrongOnly<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(<Self as crate::Strategy>::KIND.name())
    }
}

impl<B: Family> Default for StrongOnly<B> {
    fn default() -> Self {
        StrongOnly(PhantomData)
    }
}

impl<B: Family> Clone for StrongOnly<B> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<B: Family> Copy for StrongOnly<B> {}

impl<B: Family> Sealed for StrongOnly<B> {}

impl<B: Family> Counted for StrongOnly<B> {
    type Pointers = B;
    type BackLink = StrongBack;
    const COUNTED_KIND: StrategyKind = B::STRONG_ONLY_KIND;
}
