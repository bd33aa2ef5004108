//! [`StrongOnly`]: the graph without step 17's weak link, which leaks.

use std::fmt;
use std::marker::PhantomData;

use crate::{BaseStrategy, Strategy, StrategyKind};

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
        f.write_str(Self::NAME)
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

impl<B: BaseStrategy> Strategy for StrongOnly<B> {
    type Strong<T> = B::Strong<T>;
    type Back<T> = B::Strong<T>;
    type Cell<T> = B::Cell<T>;

    const KIND: StrategyKind = B::KIND.strong_only();

    fn new_strong<T>(value: T) -> B::Strong<T> {
        B::new_strong(value)
    }

    fn back<T>(strong: &B::Strong<T>) -> B::Strong<T> {
        strong.clone()
    }

    fn upgrade<T>(back: &B::Strong<T>) -> Option<B::Strong<T>> {
        Some(back.clone())
    }

    fn into_inner<T>(strong: B::Strong<T>) -> Option<T> {
        B::into_inner(strong)
    }

    fn addr<T>(strong: &B::Strong<T>) -> usize {
        B::addr(strong)
    }

    fn new_cell<T>(value: T) -> B::Cell<T> {
        B::new_cell(value)
    }

    fn read<T, R>(cell: &B::Cell<T>, f: impl FnOnce(&T) -> R) -> R {
        B::read(cell, f)
    }

    fn write<T, R>(cell: &B::Cell<T>, f: impl FnOnce(&mut T) -> R) -> R {
        B::write(cell, f)
    }

    fn get_mut<T>(cell: &mut B::Cell<T>) -> &mut T {
        B::get_mut(cell)
    }
}
