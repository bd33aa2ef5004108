//! [`ArcWeak`]: thread-safe graphs whose function → output links are weak.

use std::sync::{Arc, Weak};

use crate::sealed::Sealed;
use crate::strategy::{Counted, Family, WeakBack};
use crate::{SharedCells, StrategyKind};

/// `Arc` + `Weak` + `Mutex`: graphs that are `Send + Sync`.
///
/// Each node's mutable state sits behind its own `Mutex`
/// ([`SharedCells`]), so threads that build on or backpropagate through the
/// same graph cannot deadlock.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ArcWeak;

impl Sealed for ArcWeak {}

impl Counted for ArcWeak {
    type Pointers = ArcWeak;
    type BackLink = WeakBack;
    const COUNTED_KIND: StrategyKind = StrategyKind::ArcWeak;
}

impl Family for ArcWeak {
    type Ptr<T> = Arc<T>;
    type WeakPtr<T> = Weak<T>;
    type FamilyCells = SharedCells;
    const STRONG_ONLY_KIND: StrategyKind = StrategyKind::StrongOnlyArcWeak;

    fn ptr_new<T>(value: T) -> Arc<T> {
        Arc::new(value)
    }

    fn ptr_downgrade<T>(ptr: &Arc<T>) -> Weak<T> {
        Arc::downgrade(ptr)
    }

    fn ptr_upgrade<T>(weak: &Weak<T>) -> Option<Arc<T>> {
        weak.upgrade()
    }

    fn weak_addr<T>(weak: &Weak<T>) -> usize {
        Weak::as_ptr(weak) as usize
    }

    fn ptr_try_unwrap<T>(ptr: Arc<T>) -> Result<T, Arc<T>> {
        Arc::try_unwrap(ptr)
    }
}
