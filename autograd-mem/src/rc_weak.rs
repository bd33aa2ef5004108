//! [`RcWeak`]: single-threaded graphs whose function → output links are weak.

use std::cell::RefCell;
use std::rc::{Rc, Weak};

use crate::{BaseStrategy, Strategy, StrategyKind};

/// `Rc` + `Weak` + `RefCell`: DeZero's step 17 in Rust.
///
/// Functions hold their outputs through [`std::rc::Weak`], so a graph is freed as
/// soon as the last handle to its output goes. Graphs are neither `Send` nor
/// `Sync`: the fastest strategy for one thread.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct RcWeak;

impl Strategy for RcWeak {
    type Strong<T> = Rc<T>;
    type Back<T> = Weak<T>;
    type Cell<T> = RefCell<T>;

    const KIND: StrategyKind = StrategyKind::RcWeak;

    fn new_strong<T>(value: T) -> Rc<T> {
        Rc::new(value)
    }

    fn back<T>(strong: &Rc<T>) -> Weak<T> {
        Rc::downgrade(strong)
    }

    fn upgrade<T>(back: &Weak<T>) -> Option<Rc<T>> {
        back.upgrade()
    }

    fn into_inner<T>(strong: Rc<T>) -> Option<T> {
        Rc::into_inner(strong)
    }

    fn addr<T>(strong: &Rc<T>) -> usize {
        Rc::as_ptr(strong) as usize
    }

    fn new_cell<T>(value: T) -> RefCell<T> {
        RefCell::new(value)
    }

    fn read<T, R>(cell: &RefCell<T>, f: impl FnOnce(&T) -> R) -> R {
        f(&cell.borrow())
    }

    fn write<T, R>(cell: &RefCell<T>, f: impl FnOnce(&mut T) -> R) -> R {
        f(&mut cell.borrow_mut())
    }

    fn get_mut<T>(cell: &mut RefCell<T>) -> &mut T {
        cell.get_mut()
    }
}

impl BaseStrategy for RcWeak {}
