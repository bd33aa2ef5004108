//! [`ArcWeak`]: thread-safe graphs whose function → output links are weak.

use std::sync::{Arc, Mutex, PoisonError, Weak};

use crate::{BaseStrategy, Strategy, StrategyKind};

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

impl Strategy for ArcWeak {
    type Strong<T> = Arc<T>;
    type Back<T> = Weak<T>;
    type Cell<T> = Mutex<T>;

    const KIND: StrategyKind = StrategyKind::ArcWeak;

    fn new_strong<T>(value: T) -> Arc<T> {
        Arc::new(value)
    }

    fn back<T>(strong: &Arc<T>) -> Weak<T> {
        Arc::downgrade(strong)
    }

    fn upgrade<T>(back: &Weak<T>) -> Option<Arc<T>> {
        back.upgrade()
    }

    fn into_inner<T>(strong: Arc<T>) -> Option<T> {
        Arc::into_inner(strong)
    }

    fn addr<T>(strong: &Arc<T>) -> usize {
        Arc::as_ptr(strong) as usize
    }

    fn new_cell<T>(value: T) -> Mutex<T> {
        Mutex::new(value)
    }

    fn read<T, R>(cell: &Mutex<T>, f: impl FnOnce(&T) -> R) -> R {
        f(&cell.lock().unwrap_or_else(PoisonError::into_inner))
    }

    fn write<T, R>(cell: &Mutex<T>, f: impl FnOnce(&mut T) -> R) -> R {
        f(&mut cell.lock().unwrap_or_else(PoisonError::into_inner))
    }

    fn get_mut<T>(cell: &mut Mutex<T>) -> &mut T {
        cell.get_mut().unwrap_or_else(PoisonError::into_inner)
    }
}

impl BaseStrategy for ArcWeak {}
