//! How autograd graph nodes own each other, and how many of them are alive.
//!
//! A computational graph links every variable to the function that created it
//! (its *creator*) and every function back to its outputs. Those two links form a
//! reference cycle. This crate knows nothing about gradients: it answers one
//! question, *what does a function hold of its outputs, and through which
//! pointer and cell types?*, with interchangeable [`Strategy`] types:
//!
//! | strategy | pointers | cell | function → output | breaks cycles |
//! |---|---|---|---|---|
//! | [`RcWeak`] | `Rc` | `RefCell` | `rc::Weak` | yes (DeZero step 17) |
//! | [`ArcWeak`] | `Arc` | `Mutex` | `sync::Weak` | yes, and graphs are `Send + Sync` |
//! | [`StrongOnly<B>`] | `B`'s | `B`'s | strong | no: every graph leaks |
//!
//! [`live`] counts the variable and function nodes alive under each strategy,
//! cheaply enough to stay on in release builds, which is how the leak that
//! [`StrongOnly`] demonstrates is measured rather than guessed.
//!
//! The cargo features `sync` and `strong-only` only move the [`DefaultStrategy`]
//! alias; every strategy is always compiled and usable by name.
//!
//! # Example
//!
//! ```
//! use autograd_mem::{RcWeak, StrongOnly, Strategy};
//!
//! // A strong handle, and the back-reference a function keeps to its output.
//! let output = RcWeak::new_strong(42);
//! let back = RcWeak::back(&output);
//! assert_eq!(RcWeak::upgrade(&back).as_deref(), Some(&42));
//! drop(output);
//! assert!(RcWeak::upgrade(&back).is_none()); // the weak link did not keep it alive
//!
//! // The same under `StrongOnly`: the back-reference owns the output.
//! let output = StrongOnly::<RcWeak>::new_strong(42);
//! let back = StrongOnly::<RcWeak>::back(&output);
//! drop(output);
//! assert_eq!(StrongOnly::<RcWeak>::upgrade(&back).as_deref(), Some(&42));
//! assert!(RcWeak::BREAKS_CYCLES && !StrongOnly::<RcWeak>::BREAKS_CYCLES);
//! ```
#![forbid(unsafe_code)]

mod arc_weak;
mod default;
pub mod live;
mod rc_weak;
mod strategy;
mod strong_only;

pub use arc_weak::ArcWeak;
pub use default::{DefaultBase, DefaultStrategy};
pub use live::{LiveNodes, NodeKind};
pub use rc_weak::RcWeak;
pub use strategy::{BaseStrategy, Strategy, StrategyKind, shared_block_size};
pub use strong_only::StrongOnly;

/// Generates a module of four `#[test]`s per entry, one per strategy, each
/// calling a generic test function: `name => function;`.
///
/// ```
/// use autograd_mem::Strategy;
///
/// fn declares_a_name<S: Strategy>() {
///     assert!(!S::NAME.is_empty());
/// }
///
/// autograd_mem::test_each_strategy! {
///     names => declares_a_name;
/// }
/// # fn main() {}
/// ```
#[macro_export]
macro_rules! test_each_strategy {
    ($($name:ident => $body:ident;)*) => {
        $(mod $name {
            #[test]
            fn rc_weak() {
                super::$body::<$crate::RcWeak>()
            }
            #[test]
            fn arc_weak() {
                super::$body::<$crate::ArcWeak>()
            }
            #[test]
            fn strong_only_rc_weak() {
                super::$body::<$crate::StrongOnly<$crate::RcWeak>>()
            }
            #[test]
            fn strong_only_arc_weak() {
                super::$body::<$crate::StrongOnly<$crate::ArcWeak>>()
            }
        })*
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;
    use std::fmt::Debug;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    /// A graph node reduced to its two links: `creator` (variable → function,
    /// always strong) and `output` (function → variable, through `S::back`).
    struct Node<S: Strategy> {
        creator: S::Cell<Option<S::Strong<Node<S>>>>,
        output: S::Cell<Option<S::Back<Node<S>>>>,
        dropped: Arc<AtomicBool>,
    }

    impl<S: Strategy> Drop for Node<S> {
        fn drop(&mut self) {
            self.dropped.store(true, Ordering::SeqCst);
        }
    }

    fn node<S: Strategy>(dropped: &Arc<AtomicBool>) -> S::Strong<Node<S>> {
        S::new_strong(Node {
            creator: S::new_cell(None),
            output: S::new_cell(None),
            dropped: Arc::clone(dropped),
        })
    }

    /// Builds the cycle `variable -> creator -> variable` that `y = f(x)`
    /// forms, drops every handle, and reports whether the variable was freed.
    fn cycle_is_freed<S: Strategy>() -> bool {
        let variable_dropped = Arc::new(AtomicBool::new(false));
        let variable = node::<S>(&variable_dropped);
        let function = node::<S>(&Arc::new(AtomicBool::new(false)));
        S::write(&function.output, |o| *o = Some(S::back(&variable)));
        S::write(&variable.creator, |c| *c = Some(function));
        drop(variable);
        variable_dropped.load(Ordering::SeqCst)
    }

    #[test]
    fn weak_strategies_free_what_strong_only_keeps() {
        assert!(cycle_is_freed::<RcWeak>());
        assert!(cycle_is_freed::<ArcWeak>());
        assert!(!cycle_is_freed::<StrongOnly<RcWeak>>());
        assert!(!cycle_is_freed::<StrongOnly<ArcWeak>>());
    }

    fn declared<S: Strategy + Debug>() -> (bool, &'static str) {
        (S::BREAKS_CYCLES, S::NAME)
    }

    #[test]
    fn strategies_declare_whether_they_break_cycles() {
        assert_eq!(declared::<RcWeak>(), (true, "RcWeak"));
        assert_eq!(declared::<ArcWeak>(), (true, "ArcWeak"));
        assert_eq!(
            declared::<StrongOnly<RcWeak>>(),
            (false, "StrongOnly<RcWeak>")
        );
        assert_eq!(
            declared::<StrongOnly<ArcWeak>>(),
            (false, "StrongOnly<ArcWeak>")
        );
    }

    #[test]
    fn into_inner_returns_the_value_only_from_the_last_handle() {
        let a = RcWeak::new_strong(RefCell::new(1));
        let b = a.clone();
        assert!(RcWeak::into_inner(a).is_none());
        assert_eq!(RcWeak::into_inner(b).map(RefCell::into_inner), Some(1));
        let a = ArcWeak::new_strong(5);
        let back = ArcWeak::back(&a);
        assert_eq!(ArcWeak::into_inner(a), Some(5));
        assert!(ArcWeak::upgrade(&back).is_none());
    }

    #[test]
    fn cells_give_shared_and_exclusive_access() {
        fn exercise<S: Strategy>() {
            let mut cell = S::new_cell(vec![1]);
            S::write(&cell, |v| v.push(2));
            assert_eq!(S::read(&cell, |v| v.len()), 2);
            S::get_mut(&mut cell).push(3);
            assert_eq!(S::read(&cell, Clone::clone), vec![1, 2, 3]);
        }
        exercise::<RcWeak>();
        exercise::<ArcWeak>();
        exercise::<StrongOnly<RcWeak>>();
        exercise::<StrongOnly<ArcWeak>>();
    }

    #[test]
    fn the_default_follows_the_features() {
        let base = if cfg!(feature = "sync") {
            "ArcWeak"
        } else {
            "RcWeak"
        };
        let expected = if cfg!(feature = "strong-only") {
            format!("StrongOnly<{base}>")
        } else {
            base.to_string()
        };
        assert_eq!(DefaultStrategy::NAME, expected);
        assert_eq!(DefaultBase::NAME, base);
    }
}
