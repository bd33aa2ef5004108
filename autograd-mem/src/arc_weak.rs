//! [`ArcWeak`]: thread-safe graphs whose function → output links are weak.

use std::sync::{Arc, Mutex, OnceLock, PoisonError, TryLockError, Weak};

use crate::strategy::reference_counting_strategy;
use crate::{BaseStrategy, Freeing, StrategyKind};

/// `Arc` + `Weak` + `Mutex`: graphs that are `Send + Sync`.
///
/// Each node's mutable state sits behind its own `Mutex`, held only for the
/// duration of one read or write and never two at a time, so threads that build
/// on or backpropagate through the same graph cannot deadlock. A `Mutex` rather
/// than an `RwLock` because every access is short and the node is smaller. A
/// poisoned lock (a panic in another thread while it was held) is entered
/// anyway: node state is never left half-written by the engine.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ArcWeak;

reference_counting_strategy! {
    impl<> for ArcWeak, base ArcWeak, back WeakPtr, freeing Freeing::OnDrop,
    kind StrategyKind::ArcWeak,
    back_of <ArcWeak as BaseStrategy>::ptr_downgrade,
    upgrade <ArcWeak as BaseStrategy>::ptr_upgrade,
    unwrap_back Err,
    back_addr <ArcWeak as BaseStrategy>::weak_addr
}

impl BaseStrategy for ArcWeak {
    type Ptr<T> = Arc<T>;
    type WeakPtr<T> = Weak<T>;
    type BaseCell<T> = Mutex<T>;
    type BaseOnce<T> = OnceLock<T>;
    const STRONG_ONLY_KIND: StrategyKind = StrategyKind::StrongOnlyArcWeak;

    fn ptr_new<T>(value: T) -> Arc<T> {
        Arc::new(value)
    }

    fn ptr_addr<T>(ptr: &Arc<T>) -> usize {
        Arc::as_ptr(ptr) as usize
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

    fn cell_new<T>(value: T) -> Mutex<T> {
        Mutex::new(value)
    }

    fn cell_read<T, R>(cell: &Mutex<T>, f: impl FnOnce(&T) -> R) -> R {
        f(&cell.lock().unwrap_or_else(PoisonError::into_inner))
    }

    fn cell_try_read<T, R>(cell: &Mutex<T>, f: impl FnOnce(&T) -> R) -> Option<R> {
        match cell.try_lock() {
            Ok(value) => Some(f(&value)),
            Err(TryLockError::Poisoned(poisoned)) => Some(f(&poisoned.into_inner())),
            Err(TryLockError::WouldBlock) => None,
        }
    }

    fn cell_write<T, R>(cell: &Mutex<T>, f: impl FnOnce(&mut T) -> R) -> R {
        f(&mut cell.lock().unwrap_or_else(PoisonError::into_inner))
    }

    fn cell_get_mut<T>(cell: &mut Mutex<T>) -> &mut T {
        cell.get_mut().unwrap_or_else(PoisonError::into_inner)
    }

    fn once_new<T>() -> OnceLock<T> {
        OnceLock::new()
    }

    fn once_value<T>(once: &OnceLock<T>) -> Option<&T> {
        once.get()
    }

    fn once_init<T>(once: &OnceLock<T>, value: T) -> Result<(), T> {
        once.set(value)
    }

    fn once_remove<T>(once: &mut OnceLock<T>) -> Option<T> {
        once.take()
    }
}
