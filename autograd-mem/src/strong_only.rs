//! [`StrongOnly`]: the graph without step 17's weak link, which leaks.

use std::fmt;
use std::marker::PhantomData;

use crate::strategy::reference_counting_strategy;
use crate::{BaseStrategy, Freeing};

/// A base strategy's pointers and cells, but functions hold their outputs
/// *strongly*.
///
/// Output → creator → output is then a reference cycle, and reference counting
/// alone never frees it: every graph built under this strategy stays in memory
/// after its last handle is dropped. That is the leak DeZero's step 17 removes
/// with `weakref`, kept here on purpose so that it can be measured. Nothing is
/// forgotten with `mem::forget`; the cycle alone keeps the nodes alive.
pub struct StrongOnly<B: BaseStrategy>(PhantomData<B>);

impl<B: BaseStrategy> fmt::Debug for StrongOnly<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(<Self as crate::Strategy>::NAME)
    }
}

impl<B: BaseStrategy> Default for StrongOnly<B> {
    fn default() -> Self {
        StrongOnly(PhantomData)
    }
}

impl<B: BaseStrategy> Clone for StrongOnly<B> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<B: BaseStrategy> Copy for StrongOnly<B> {}

reference_counting_strategy! {
    impl<B: BaseStrategy> for StrongOnly<B>, base B, back Ptr, freeing Freeing::Never,
    kind B::STRONG_ONLY_KIND,
    back_of Clone::clone,
    upgrade |back: &B::Ptr<T>| Some(back.clone()),
    unwrap_back B::ptr_try_unwrap,
    back_addr B::ptr_addr
}
