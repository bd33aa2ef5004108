//! [`Cells`]: a node's mutable state, for one thread or shared. Two
//! implementations in all, [`LocalCells`] and [`SharedCells`]; each strategy
//! names one ([`Strategy::Cells`](crate::Strategy::Cells)).

use std::cell::{OnceCell, RefCell};
use std::sync::{Mutex, OnceLock, PoisonError, TryLockError};

use crate::sealed::Sealed;

/// Interior mutability for node state: a cell, and a cell set once.
///
/// Access goes through closures ([`read`](Cells::read),
/// [`write`](Cells::write)) so that no borrow or lock outlives a call. This
/// trait is sealed: it is not an extension interface (the two
/// implementations here are all a strategy can choose from).
pub trait Cells: Sealed + Send + Sync + 'static {
    /// A cell.
    type Cell<T>;
    /// A cell set once, after creation (a function's link to its output,
    /// which can only be made once the output exists).
    type Once<T>;

    /// A new cell holding `value`.
    fn new_cell<T>(value: T) -> Self::Cell<T>;
    /// Runs `f` with shared access to the cell's value.
    fn read<T, R>(cell: &Self::Cell<T>, f: impl FnOnce(&T) -> R) -> R;
    /// Runs `f` with shared access, or returns `None` if the cell is being
    /// written (a collector's tracer must never wait).
    fn try_read<T, R>(cell: &Self::Cell<T>, f: impl FnOnce(&T) -> R) -> Option<R>;
    /// Runs `f` with exclusive access to the cell's value.
    fn write<T, R>(cell: &Self::Cell<T>, f: impl FnOnce(&mut T) -> R) -> R;
    /// Exclusive access through a unique borrow: no borrow flag, no lock.
    fn get_mut<T>(cell: &mut Self::Cell<T>) -> &mut T;

    /// An empty once-cell.
    fn new_once<T>() -> Self::Once<T>;
    /// The once-cell's value, if set.
    fn once_get<T>(once: &Self::Once<T>) -> Option<&T>;
    /// Sets the once-cell; gives `value` back if it was already set.
    fn once_set<T>(once: &Self::Once<T>, value: T) -> Result<(), T>;
    /// Takes the value out through a unique borrow.
    fn once_take<T>(once: &mut Self::Once<T>) -> Option<T>;
}

/// `RefCell` and `OnceCell`: node state for graphs on one thread.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct LocalCells;

/// `Mutex` and `OnceLock`: node state for graphs shared between threads.
///
/// Each node's state sits behind its own `Mutex`, held only for one read or
/// write and never two at a time, so threads that build on or
/// backpropagate through the same graph cannot deadlock. A `Mutex` rather
/// than an `RwLock` because every access is short and the node is smaller.
/// A poisoned lock (a panic in another thread while it was held) is entered
/// anyway: node state is never left half-written by the engine.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct SharedCells;

impl Sealed for LocalCells {}
impl Sealed for SharedCells {}

impl Cells for LocalCells {
    type Cell<T> = RefCell<T>;
    type Once<T> = OnceCell<T>;

    fn new_cell<T>(value: T) -> RefCell<T> {
        RefCell::new(value)
    }

    fn read<T, R>(cell: &RefCell<T>, f: impl FnOnce(&T) -> R) -> R {
        f(&cell.borrow())
    }

    fn try_read<T, R>(cell: &RefCell<T>, f: impl FnOnce(&T) -> R) -> Option<R> {
        cell.try_borrow().ok().map(|value| f(&value))
    }

    fn write<T, R>(cell: &RefCell<T>, f: impl FnOnce(&mut T) -> R) -> R {
        f(&mut cell.borrow_mut())
    }

    fn get_mut<T>(cell: &mut RefCell<T>) -> &mut T {
        cell.get_mut()
    }

    fn new_once<T>() -> OnceCell<T> {
        OnceCell::new()
    }

    fn once_get<T>(once: &OnceCell<T>) -> Option<&T> {
        once.get()
    }

    fn once_set<T>(once: &OnceCell<T>, value: T) -> Result<(), T> {
        once.set(value)
    }

    fn once_take<T>(once: &mut OnceCell<T>) -> Option<T> {
        once.take()
    }
}

impl Cells for SharedCells {
    type Cell<T> = Mutex<T>;
    type Once<T> = OnceLock<T>;

    fn new_cell<T>(value: T) -> Mutex<T> {
        Mutex::new(value)
    }

    fn read<T, R>(cell: &Mutex<T>, f: impl FnOnce(&T) -> R) -> R {
        f(&cell.lock().unwrap_or_else(PoisonError::into_inner))
    }

    fn try_read<T, R>(cell: &Mutex<T>, f: impl FnOnce(&T) -> R) -> Option<R> {
        match cell.try_lock() {
            Ok(value) => Some(f(&value)),
            Err(TryLockError::Poisoned(poisoned)) => Some(f(&poisoned.into_inner())),
            Err(TryLockError::WouldBlock) => None,
        }
    }

    fn write<T, R>(cell: &Mutex<T>, f: impl FnOnce(&mut T) -> R) -> R {
        f(&mut cell.lock().unwrap_or_else(PoisonError::into_inner))
    }

    fn get_mut<T>(cell: &mut Mutex<T>) -> &mut T {
        cell.get_mut().unwrap_or_else(PoisonError::into_inner)
    }

    fn new_once<T>() -> OnceLock<T> {
        OnceLock::new()
    }

    fn once_get<T>(once: &OnceLock<T>) -> Option<&T> {
        once.get()
    }

    fn once_set<T>(once: &OnceLock<T>, value: T) -> Result<(), T> {
        once.set(value)
    }

    fn once_take<T>(once: &mut OnceLock<T>) -> Option<T> {
        once.take()
    }
}
