//! [`RcWeak`]: single-threaded graphs whose function → output links are weak.

use std::cell::{OnceCell, RefCell};
use std::rc::{Rc, Weak};

use crate::strategy::reference_counting_strategy;
use crate::{BaseStrategy, Freeing, StrategyKind};

/// `Rc` + `Weak` + `RefCell`: DeZero's step 17 in Rust.
///
/// Functions hold their outputs through [`std::rc::Weak`], so a graph is freed as
/// soon as the last handle to its output goes. Graphs are neither `Send` nor
/// `Sync`: the fastest strategy for one thread.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct RcWeak;

reference_counting_strategy! {
    impl<> for RcWeak, base RcWeak, back WeakPtr, freeing Freeing::OnDrop,
    kind StrategyKind::RcWeak,
    back_of <RcWeak as BaseStrategy>::ptr_downgrade,
    upgrade <RcWeak as BaseStrategy>::ptr_upgrade,
    unwrap_back Err,
    back_addr <RcWeak as BaseStrategy>::weak_addr
}

impl BaseStrategy for RcWeak {
    type Ptr<T> = Rc<T>;
    type WeakPtr<T> = Weak<T>;
    type BaseCell<T> = RefCell<T>;
    type BaseOnce<T> = OnceCell<T>;
    const STRONG_ONLY_KIND: StrategyKind = StrategyKind::StrongOnlyRcWeak;

    fn ptr_new<T>(value: T) -> Rc<T> {
        Rc::new(value)
    }

    fn ptr_addr<T>(ptr: &Rc<T>) -> usize {
        Rc::as_ptr(ptr) as usize
    }

    fn ptr_downgrade<T>(ptr: &Rc<T>) -> Weak<T> {
        Rc::downgrade(ptr)
    }

    fn ptr_upgrade<T>(weak: &Weak<T>) -> Option<Rc<T>> {
        weak.upgrade()
    }

    fn weak_addr<T>(weak: &Weak<T>) -> usize {
        Weak::as_ptr(weak) as usize
    }

    fn ptr_try_unwrap<T>(ptr: Rc<T>) -> Result<T, Rc<T>> {
        Rc::try_unwrap(ptr)
    }

    fn cell_new<T>(value: T) -> RefCell<T> {
        RefCell::new(value)
    }

    fn cell_read<T, R>(cell: &RefCell<T>, f: impl FnOnce(&T) -> R) -> R {
        f(&cell.borrow())
    }

    fn cell_try_read<T, R>(cell: &RefCell<T>, f: impl FnOnce(&T) -> R) -> Option<R> {
        cell.try_borrow().ok().map(|value| f(&value))
    }

    fn cell_write<T, R>(cell: &RefCell<T>, f: impl FnOnce(&mut T) -> R) -> R {
        f(&mut cell.borrow_mut())
    }

    fn cell_get_mut<T>(cell: &mut RefCell<T>) -> &mut T {
        cell.get_mut()
    }

    fn once_new<T>() -> OnceCell<T> {
        OnceCell::new()
    }

    fn once_value<T>(once: &OnceCell<T>) -> Option<&T> {
        once.get()
    }

    fn once_init<T>(once: &OnceCell<T>, value: T) -> Result<(), T> {
        once.set(value)
    }

    fn once_remove<T>(once: &mut OnceCell<T>) -> Option<T> {
        once.take()
    }
}
