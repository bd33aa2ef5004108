//! How autograd graph nodes own each other, and how many of them are alive.
//!
//! A computational graph links every variable to the function that created it
//! (its *creator*) and every function back to its outputs. Those two links form a
//! reference cycle. This crate knows nothing about gradients: it answers one
//! question, *what does a function hold of its outputs, and through which
//! pointer and cell types?*, with interchangeable [`Strategy`] types:
//!
//! | strategy | pointers | cell | function → output | a dropped graph is |
//! |---|---|---|---|---|
//! | [`RcWeak`] | `Rc` | `RefCell` | `rc::Weak` | freed at once (DeZero step 17) |
//! | [`ArcWeak`] | `Arc` | `Mutex` | `sync::Weak` | freed at once; graphs are `Send + Sync` |
//! | [`Collected`] | gcmodule `Cc` | `RefCell` | strong | freed when the cycle collector runs (CPython's way) |
//! | [`CollectedSync`] | gcmodule `ThreadedCc` | `Mutex` | strong | the same; graphs are `Send + Sync` |
//! | [`StrongOnly<B>`] | `B`'s | `B`'s | strong | never freed: every graph leaks |
//!
//! [`Freeing`] names the three answers; [`StrategyKind`] lists the strategies
//! (the list is written once, in this crate's `strategy_list!`, and every
//! other list of them is generated from it).
//!
//! [`live`] counts the variable and function nodes alive under each strategy,
//! cheaply enough to stay on in release builds, which is how the leak that
//! [`StrongOnly`] demonstrates is measured rather than guessed.
//!
//! The cargo features `sync`, `strong-only` and `collected` only move the
//! [`DefaultStrategy`] alias; every strategy is always compiled and usable by
//! name.
//!
//! Items hidden from these docs are plumbing between the workspace's crates,
//! not API: they may change without notice.
//!
//! # Example
//!
//! ```
//! use autograd_mem::{Freeing, RcWeak, Strategy, StrategyKind, StrongOnly};
//!
//! assert_eq!(RcWeak::FREEING, Freeing::OnDrop);
//! assert_eq!(StrongOnly::<RcWeak>::FREEING, Freeing::Never);
//! assert_eq!(StrategyKind::from_cli_name("arc-weak"), Some(StrategyKind::ArcWeak));
//! assert!(StrategyKind::ALL.iter().any(|kind| kind.name() == "StrongOnly<ArcWeak>"));
//! ```
#![deny(unsafe_code)] // allowed in `collected_sync` alone: see its docs

mod arc_weak;
mod cells;
mod collected;
#[doc(hidden)]
pub mod collected_sync;
mod collection;
mod default;
pub mod live;
mod rc_weak;
#[doc(hidden)]
pub mod strategy;
mod strong_only;

pub use arc_weak::ArcWeak;
pub use cells::{Cells, LocalCells, SharedCells};
pub use collected::{Collected, ThreadCollector};
pub use collected_sync::{CollectedSync, ProcessCollector};
pub use collection::{Collection, Collector, CollectorStats, NoCollector, Policy};
pub use default::{DefaultBase, DefaultStrategy};
pub use live::{LiveNodes, NodeKind};
pub use rc_weak::RcWeak;
#[doc(hidden)]
pub use strategy::shared_block_size;
pub use strategy::{BackRef, Counted, Family, Freeing, GraphNode, Strategy, StrongBack, WeakBack};

/// The cell of a node's state under `S` ([`LocalCells`] or [`SharedCells`]).
pub type NodeCell<S, T> = <<S as Strategy>::Cells as Cells>::Cell<T>;
/// The once-cell of a node under `S`.
pub type NodeOnce<S, T> = <<S as Strategy>::Cells as Cells>::Once<T>;
pub use strong_only::StrongOnly;

/// The strategies, written once. Calls `callback! { args [entries] }` with
/// one entry per strategy: `Variant, Type, "Name", "cli-name", snake_name;`.
/// [`StrategyKind`], the test matrix ([`test_each_strategy!`]) and every list
/// in the other crates are generated from it. A new strategy is a file and
/// one line here.
#[doc(hidden)]
#[macro_export]
macro_rules! strategy_list {
    ($($callback:ident)::+ ! { $($args:tt)* }) => {
        $($callback)::+! {
            $($args)*
            [
                RcWeak, $crate::RcWeak, "RcWeak", "rc-weak", rc_weak;
                ArcWeak, $crate::ArcWeak, "ArcWeak", "arc-weak", arc_weak;
                StrongOnlyRcWeak, $crate::StrongOnly<$crate::RcWeak>, "StrongOnly<RcWeak>", "strong-only-rc-weak", strong_only_rc_weak;
                StrongOnlyArcWeak, $crate::StrongOnly<$crate::ArcWeak>, "StrongOnly<ArcWeak>", "strong-only-arc-weak", strong_only_arc_weak;
                Collected, $crate::Collected, "Collected", "collected", collected;
                CollectedSync, $crate::CollectedSync, "CollectedSync", "collected-sync", collected_sync;
            ]
        }
    };
}

/// Expands the strategy list into [`StrategyKind`].
macro_rules! define_kinds {
    ([$($variant:ident, $ty:ty, $name:literal, $cli:literal, $snake:ident;)*]) => {
        /// Which strategy a type is: the strategies as values, for live counts,
        /// reports and command lines.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum StrategyKind {
            $(
                #[doc = concat!("[`", $name, "`](", stringify!($ty), ").")]
                $variant,
            )*
        }

        impl StrategyKind {
            /// Every strategy, in the order reports list them.
            pub const ALL: &'static [StrategyKind] = &[$(StrategyKind::$variant),*];

            /// A dense index in `0..ALL.len()`, for per-strategy tables.
            pub const fn index(self) -> usize {
                self as usize
            }

            /// The name users write: `RcWeak`, `StrongOnly<ArcWeak>`, ...
            pub const fn name(self) -> &'static str {
                match self {
                    $(StrategyKind::$variant => $name,)*
                }
            }

            /// The name on a command line: `rc-weak`, `strong-only-arc-weak`, ...
            pub const fn cli_name(self) -> &'static str {
                match self {
                    $(StrategyKind::$variant => $cli,)*
                }
            }

            /// The strategy whose [`cli_name`](StrategyKind::cli_name) is `name`.
            pub fn from_cli_name(name: &str) -> Option<StrategyKind> {
                Self::ALL.iter().copied().find(|kind| kind.cli_name() == name)
            }

            /// When a graph under this strategy is freed.
            pub const fn freeing(self) -> Freeing {
                match self {
                    $(StrategyKind::$variant => <$ty as Strategy>::FREEING,)*
                }
            }

            /// Calls `visitor` with this strategy as a type: how code that is
            /// generic over [`Strategy`] is run for a strategy chosen at run time.
            pub fn visit<V: StrategyVisitor>(self, visitor: V) -> V::Output {
                match self {
                    $(StrategyKind::$variant => visitor.visit::<$ty>(),)*
                }
            }
        }
    };
}
strategy_list!(define_kinds! {});

/// Code generic over a [`Strategy`], run for a [`StrategyKind`] chosen at run
/// time by [`StrategyKind::visit`].
pub trait StrategyVisitor {
    /// What the visit returns.
    type Output;
    /// Runs with `S` as the strategy.
    fn visit<S: Strategy>(self) -> Self::Output;
}

/// Generates a module of one `#[test]` per strategy for each entry, each
/// calling a generic test function: `name => function;`. The strategies come
/// from the one list, so a new strategy joins every test matrix.
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
#[doc(hidden)]
#[macro_export]
macro_rules! test_each_strategy {
    ($($name:ident => $body:ident;)*) => {
        $crate::strategy_list!($crate::__test_matrix! { $($name => $body;)* });
    };
}

/// One module per test, one test per strategy (see [`test_each_strategy!`]):
/// one row at a time, since a row's tests repeat over the strategy list.
#[doc(hidden)]
#[macro_export]
macro_rules! __test_matrix {
    ([$($entries:tt)*]) => {};
    ($name:ident => $body:ident; $($rest:tt)*) => {
        mod $name {
            $crate::__test_matrix_one! { $body $($rest)* }
        }
        $crate::__test_matrix! { $($rest)* }
    };
}

/// The tests of one matrix row.
#[doc(hidden)]
#[macro_export]
macro_rules! __test_matrix_one {
    ($body:ident $($name:ident => $other:ident;)* [$($variant:ident, $ty:ty, $label:literal, $cli:literal, $snake:ident;)*]) => {
        $(
            #[test]
            fn $snake() {
                super::$body::<$ty>()
            }
        )*
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
        creator: NodeCell<S, Option<S::Handle<Node<S>>>>,
        output: NodeCell<S, Option<S::Back<Node<S>>>>,
        dropped: Arc<AtomicBool>,
    }

    impl<S: Strategy> GraphNode<S> for Node<S> {
        fn trace(&self, tracer: &mut S::Tracer<'_>) {
            S::Cells::try_read(&self.creator, |c| {
                c.iter().for_each(|c| S::trace_handle(c, tracer))
            });
            S::Cells::try_read(&self.output, |o| {
                o.iter().for_each(|o| S::trace_back(o, tracer))
            });
        }
    }

    impl<S: Strategy> Drop for Node<S> {
        fn drop(&mut self) {
            self.dropped.store(true, Ordering::SeqCst);
        }
    }

    fn node<S: Strategy>(dropped: &Arc<AtomicBool>) -> S::Handle<Node<S>> {
        S::new_handle(Node {
            creator: S::Cells::new_cell(None),
            output: S::Cells::new_cell(None),
            dropped: Arc::clone(dropped),
        })
    }

    /// Builds the cycle `variable -> creator -> variable` that `y = f(x)`
    /// forms, drops every handle, and reports whether the variable was freed.
    fn cycle_is_freed<S: Strategy>() -> bool {
        let variable_dropped = Arc::new(AtomicBool::new(false));
        let variable = node::<S>(&variable_dropped);
        let function = node::<S>(&Arc::new(AtomicBool::new(false)));
        S::Cells::write(&S::get(&function).output, |o| *o = Some(S::back(&variable)));
        S::Cells::write(&S::get(&variable).creator, |c| *c = Some(function));
        drop(variable);
        variable_dropped.load(Ordering::SeqCst)
    }

    #[test]
    fn weak_strategies_free_what_strong_only_keeps_and_a_collector_frees_later() {
        assert!(cycle_is_freed::<RcWeak>());
        assert!(cycle_is_freed::<ArcWeak>());
        assert!(!cycle_is_freed::<StrongOnly<RcWeak>>());
        assert!(!cycle_is_freed::<StrongOnly<ArcWeak>>());
        Collected::set_policy(Policy::Never);
        let dropped = Arc::new(AtomicBool::new(false));
        {
            let variable = node::<Collected>(&dropped);
            let function = node::<Collected>(&Arc::new(AtomicBool::new(false)));
            LocalCells::write(&Collected::get(&function).output, |o| {
                *o = Some(Collected::back(&variable))
            });
            LocalCells::write(&Collected::get(&variable).creator, |c| *c = Some(function));
        }
        assert!(
            !dropped.load(Ordering::SeqCst),
            "a cycle outlives its handles"
        );
        assert!(Collected::collect().freed >= 2);
        assert!(dropped.load(Ordering::SeqCst), "and the collector frees it");
        Collected::set_policy(Policy::Auto);
    }

    fn declared<S: Strategy + Debug>() -> (Freeing, &'static str) {
        (S::FREEING, S::NAME)
    }

    #[test]
    fn strategies_declare_when_their_graphs_are_freed() {
        assert_eq!(declared::<RcWeak>(), (Freeing::OnDrop, "RcWeak"));
        assert_eq!(declared::<ArcWeak>(), (Freeing::OnDrop, "ArcWeak"));
        assert_eq!(
            declared::<StrongOnly<RcWeak>>(),
            (Freeing::Never, "StrongOnly<RcWeak>")
        );
        assert_eq!(
            declared::<StrongOnly<ArcWeak>>(),
            (Freeing::Never, "StrongOnly<ArcWeak>")
        );
        assert_eq!(
            declared::<Collected>(),
            (Freeing::OnCollection, "Collected")
        );
        assert_eq!(
            declared::<CollectedSync>(),
            (Freeing::OnCollection, "CollectedSync")
        );
        for kind in StrategyKind::ALL {
            assert_eq!(StrategyKind::from_cli_name(kind.cli_name()), Some(*kind));
            assert_eq!(
                kind.index(),
                StrategyKind::ALL.iter().position(|k| k == kind).unwrap()
            );
        }
    }

    #[test]
    fn a_visitor_runs_with_the_kind_as_a_type() {
        struct Name;
        impl StrategyVisitor for Name {
            type Output = &'static str;
            fn visit<S: Strategy>(self) -> &'static str {
                S::NAME
            }
        }
        for kind in StrategyKind::ALL {
            assert_eq!(kind.visit(Name), kind.name());
        }
    }

    fn cells_give_shared_and_exclusive_access<C: Cells>() {
        let mut cell = C::new_cell(vec![1]);
        C::write(&cell, |v| v.push(2));
        assert_eq!(C::read(&cell, |v| v.len()), 2);
        C::get_mut(&mut cell).push(3);
        assert_eq!(C::read(&cell, Clone::clone), vec![1, 2, 3]);
        assert_eq!(C::try_read(&cell, |v| v.len()), Some(3));
        let mut once = C::new_once();
        assert!(C::once_get(&once).is_none());
        assert!(C::once_set(&once, RefCell::new(1)).is_ok());
        assert!(C::once_set(&once, RefCell::new(2)).is_err());
        assert_eq!(C::once_take(&mut once).map(RefCell::into_inner), Some(1));
    }

    #[test]
    fn both_cells_give_shared_and_exclusive_access() {
        cells_give_shared_and_exclusive_access::<LocalCells>();
        cells_give_shared_and_exclusive_access::<SharedCells>();
    }

    #[test]
    fn the_default_follows_the_features() {
        let base = if cfg!(feature = "sync") {
            "ArcWeak"
        } else {
            "RcWeak"
        };
        let expected = match (cfg!(feature = "collected"), cfg!(feature = "strong-only")) {
            (true, _) if cfg!(feature = "sync") => "CollectedSync".to_string(),
            (true, _) => "Collected".to_string(),
            (false, true) => format!("StrongOnly<{base}>"),
            (false, false) => base.to_string(),
        };
        assert_eq!(DefaultStrategy::NAME, expected);
        assert_eq!(DefaultBase::NAME, base);
    }
}
