//! [`RcWeak`]: single-threaded graphs whose function → output links are weak.

use std::rc::{Rc, Weak};

use crate::sealed::Sealed;
use crate::strategy::{Counted, Family, WeakBack};
use crate::{LocalCells, StrategyKind};

/// `Rc` + `Weak` + `RefCell`: DeZero's step 17 in Rust.
///
/// Functions hold their outputs through [`std::rc::Weak`], so a graph is freed as
/// soon as the last handle to its output goes. Graphs are neither `Send` nor
/// `Sync`: the fastest strategy for one thread.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct RcWeak;

impl Sealed for RcWeak {}

impl Counted for RcWeak {
    type Pointers = RcWeak;
    type BackLink = WeakBack;
    const COUNTED_KIND: StrategyKind = StrategyKind::RcWeak;
}

impl Family for RcWeak {
    type Ptr<T> = Rc<T>;
    type WeakPtr<T> = Weak<T>;
    type FamilyCells = LocalCells;
    const STRONG_ONLY_KIND: StrategyKind = StrategyKind::StrongOnlyRcWeak;

    fn ptr_new<T>(value: T) -> Rc<T> {
        Rc::new(value)
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
}
