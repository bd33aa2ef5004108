//! How autograd graph nodes own each other, and how many of them are alive.
//!
//! A computational graph links every variable to the function that created it
//! (its *creator*) and every function back to its outputs. Those two links form a
//! reference cycle. This crate knows nothing about gradients: it answers one
//! question, *what does a function hold of its outputs, and through which
//! pointer and cell types?*, with interchangeable [`Strategy`] types:
//!
//! | strategy | pointers | cells | function → output | a dropped graph is |
//! |---|---|---|---|---|
//! | [`RcWeak`] | `Rc` | [`LocalCells`] | `rc::Weak` | freed at once (DeZero step 17) |
//! | [`ArcWeak`] | `Arc` | [`SharedCells`] | `sync::Weak` | freed at once; graphs are `Send + Sync` |
//! | [`Collected`] | gcmodule `Cc` | [`LocalCells`] | strong | freed when the cycle collector runs (CPython's way) |
//! | [`CollectedSync`] | gcmodule `ThreadedCc` | [`SharedCells`] | strong | the same; graphs are `Send + Sync` |
//! | [`StrongOnly<F>`] | `F`'s | `F`'s | strong | never freed: every graph leaks |
//! | [`Region`] | one `Rc` block per region; links `rc::Weak` + an index | [`LocalCells`] | weak | freed with its region, all its nodes at once |
//!
//! A strategy names one answer to each of four questions: its pointers
//! ([`Strategy`] itself; the reference-counting ones from a [`Family`] and a
//! [`BackRef`]), its [`Cells`], its [`Collector`] and its [`Placement`]
//! (where an op's new nodes go: [`Apart`] or [`Regions`]). The traits are sealed:
//! not an extension interface. [`Freeing`] names the ways a graph is freed;
//! [`StrategyKind`] lists the strategies (the list is written once, in this
//! crate's `strategy_list!`, and every other list of them, [`with_strategy!`]
//! and the test matrix `test_each_strategy!` among them, is generated from it).
//!
//! [`live`] counts the variable and function nodes alive under each strategy,
//! cheaply enough to stay on in release builds, which is how the leak that
//! [`StrongOnly`] demonstrates is measured rather than guessed.
//!
//! The cargo features `sync`, `strong-only`, `collected` and `region` only
//! move the [`DefaultStrategy`] alias; every strategy is always compiled and usable by
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
#[doc(hidden)]
pub mod late;
pub mod live;
mod rc_weak;
#[doc(hidden)]
pub mod region;
mod sealed;
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
pub use region::{Region, Regions};
#[doc(hidden)]
pub use strategy::shared_block_size;
pub use strategy::{
    Apart, BackRef, Counted, Family, Freeing, GraphNode, Placement, Strategy, StrongBack, WeakBack,
};

/// The cell of a node's state under `S` ([`LocalCells`] or [`SharedCells`]).
pub type NodeCell<S, T> = <<S as Strategy>::Cells as Cells>::Cell<T>;
/// The once-cell of a node under `S`.
pub type NodeOnce<S, T> = <<S as Strategy>::Cells as Cells>::Once<T>;
pub use strong_only::StrongOnly;

/// The strategies, written once. Calls `callback! { args [entries] }` with
/// one entry per strategy: `Variant, Type, "Name", "cli-name", snake_name,
/// Freeing, threads;`: the [`Freeing`] variant is checked against the
/// type's [`Strategy::FREEING`] at compile time, and `threads` is `shared`
/// for a strategy whose graphs may be shared between threads (its cells are
/// checked to be `Send + Sync`), `local` otherwise. [`StrategyKind`], [`with_strategy!`], the test matrix
/// ([`test_each_strategy!`]) and every list in the other crates are
/// generated from it. A new strategy is a file and one line here.
#[doc(hidden)]
#[macro_export]
macro_rules! strategy_list {
    ($($callback:ident)::+ ! { $($args:tt)* }) => {
        $($callback)::+! {
            $($args)*
            [
                RcWeak, $crate::RcWeak, "RcWeak", "rc-weak", rc_weak, OnDrop, local;
                ArcWeak, $crate::ArcWeak, "ArcWeak", "arc-weak", arc_weak, OnDrop, shared;
                StrongOnlyRcWeak, $crate::StrongOnly<$crate::RcWeak>, "StrongOnly<RcWeak>", "strong-only-rc-weak", strong_only_rc_weak, Never, local;
                StrongOnlyArcWeak, $crate::StrongOnly<$crate::ArcWeak>, "StrongOnly<ArcWeak>", "strong-only-arc-weak", strong_only_arc_weak, Never, shared;
                Collected, $crate::Collected, "Collected", "collected", collected, OnCollection, local;
                CollectedSync, $crate::CollectedSync, "CollectedSync", "collected-sync", collected_sync, OnCollection, shared;
                Region, $crate::Region, "Region", "region", region, WithRegion, local;
            ]
        }
    };
}

/// Expands the strategy list into [`StrategyKind`].
macro_rules! define_kinds {
    ([$($variant:ident, $ty:ty, $name:literal, $cli:literal, $snake:ident, $freeing:ident, $threads:ident;)*]) => {
        // The list's freeing column is the types' own.
        $(const _: () = assert!(matches!(<$ty as Strategy>::FREEING, Freeing::$freeing));)*
        $($crate::__when_shared! { $threads {
            const _: fn() = $crate::assert_send_sync::<NodeCell<$ty, ()>>;
        } })*

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
                    $(StrategyKind::$variant => Freeing::$freeing,)*
                }
            }
        }
    };
}
strategy_list!(define_kinds! {});

/// Runs `body` with `S` standing for the strategy that a [`StrategyKind`]
/// names: how code generic over [`Strategy`] runs for a strategy chosen at
/// run time (one `match` arm per strategy, generated from the list, as
/// tokio's `match_flavor!` is).
///
/// ```
/// use autograd_mem::{Strategy, StrategyKind, with_strategy};
///
/// fn name<S: Strategy>() -> &'static str {
///     S::KIND.name()
/// }
///
/// for &kind in StrategyKind::ALL {
///     assert_eq!(with_strategy!(kind, S => name::<S>()), kind.name());
/// }
/// ```
#[macro_export]
macro_rules! with_strategy {
    ($kind:expr, $s:ident => $body:expr) => {
        $crate::strategy_list!($crate::__with_strategy! { ($kind) $s ($body) })
    };
}

/// The `match` of [`with_strategy!`].
#[doc(hidden)]
#[macro_export]
macro_rules! __with_strategy {
    (($kind:expr) $s:ident ($body:expr) [$($variant:ident, $ty:ty, $name:literal, $cli:literal, $snake:ident, $freeing:ident, $threads:ident;)*]) => {
        match $kind {
            $($crate::StrategyKind::$variant => {
                #[allow(dead_code)]
                type $s = $ty;
                $body
            })*
        }
    };
}

/// [`with_strategy!`] for the strategies whose graphs may be shared between
/// threads (code that needs `Variable<S>: Send + Sync`): `Some` of the body's
/// value, `None` for a strategy whose graphs stay on one thread.
///
/// ```
/// use autograd_mem::{Strategy, StrategyKind, with_shared_strategy};
///
/// fn name<S: Strategy + Send + Sync>() -> &'static str {
///     S::KIND.name()
/// }
///
/// assert_eq!(with_shared_strategy!(StrategyKind::ArcWeak, S => name::<S>()), Some("ArcWeak"));
/// assert_eq!(with_shared_strategy!(StrategyKind::RcWeak, S => name::<S>()), None);
/// ```
#[macro_export]
macro_rules! with_shared_strategy {
    ($kind:expr, $s:ident => $body:expr) => {
        $crate::strategy_list!($crate::__with_shared_strategy! { ($kind) $s ($body) })
    };
}

/// The arms of [`with_shared_strategy!`].
#[doc(hidden)]
#[macro_export]
macro_rules! __with_shared_strategy {
    (($kind:expr) $s:ident ($body:expr) [$($variant:ident, $ty:ty, $name:literal, $cli:literal, $snake:ident, $freeing:ident, $threads:ident;)*]) => {
        'found: {
            let kind: $crate::StrategyKind = $kind;
            $($crate::__when_shared! { $threads {
                if kind == $crate::StrategyKind::$variant {
                    #[allow(dead_code)]
                    type $s = $ty;
                    break 'found Some($body);
                }
            } })*
            None
        }
    };
}

/// Expands the block for a `shared` entry of the strategy list.
#[doc(hidden)]
#[macro_export]
macro_rules! __when_shared {
    (shared { $($item:tt)* }) => { $($item)* };
    (local $block:tt) => {};
}

/// Compiles only for `T: Send + Sync` (the list's `shared` column).
#[doc(hidden)]
pub fn assert_send_sync<T: Send + Sync>() {}

/// Generates a module of one `#[test]` per strategy for each entry, each
/// calling a generic test function: `name => function;`, or `name =>
/// function if OnDrop | Never;` for the strategies that free as named (a
/// [`Freeing`] variant). The strategies come from the one list, so a new
/// strategy joins every test matrix whose promise it makes.
///
/// ```
/// use autograd_mem::{Freeing, Strategy};
///
/// fn declares_a_name<S: Strategy>() {
///     assert!(!S::KIND.name().is_empty());
/// }
///
/// fn frees_on_drop<S: Strategy>() {
///     assert_eq!(S::FREEING, Freeing::OnDrop);
/// }
///
/// autograd_mem::test_each_strategy! {
///     names => declares_a_name;
///     weak_ones => frees_on_drop if OnDrop;
/// }
/// # fn main() {}
/// ```
#[doc(hidden)]
#[macro_export]
macro_rules! test_each_strategy {
    ($($rows:tt)*) => {
        $crate::strategy_list!($crate::__test_matrix! { $($rows)* });
    };
}

/// One module per row, one test per strategy that the row's filter admits
/// (see [`test_each_strategy!`]): one row at a time, since a row's tests
/// repeat over the strategy list.
#[doc(hidden)]
#[macro_export]
macro_rules! __test_matrix {
    ([$($entries:tt)*]) => {};
    ($name:ident => $body:ident if $($freeing:ident)|+; $($rest:tt)*) => {
        mod $name {
            $crate::__test_row! { $body [$($freeing)|+] $($rest)* }
        }
        $crate::__test_matrix! { $($rest)* }
    };
    ($name:ident => $body:ident; $($rest:tt)*) => {
        mod $name {
            $crate::__test_row! { $body [OnDrop | OnCollection | Never | WithRegion] $($rest)* }
        }
        $crate::__test_matrix! { $($rest)* }
    };
}

/// The tests of one matrix row: the other rows are skipped, the list comes
/// last.
#[doc(hidden)]
#[macro_export]
macro_rules! __test_row {
    ($body:ident $filter:tt $($name:ident => $other:ident $(if $($of:ident)|+)?;)* [$($variant:ident, $ty:ty, $label:literal, $cli:literal, $snake:ident, $freeing:ident, $threads:ident;)*]) => {
        $(
            $crate::__when_freeing! { $freeing $filter {
                #[test]
                fn $snake() {
                    super::$body::<$ty>()
                }
            } }
        )*
    };
}

/// Expands the block if the first `Freeing` variant is among those listed.
#[doc(hidden)]
#[macro_export]
macro_rules! __when_freeing {
    ($freeing:ident [] $block:tt) => {};
    (OnDrop [OnDrop $(| $rest:ident)*] { $($item:tt)* }) => { $($item)* };
    (OnCollection [OnCollection $(| $rest:ident)*] { $($item:tt)* }) => { $($item)* };
    (Never [Never $(| $rest:ident)*] { $($item:tt)* }) => { $($item)* };
    (WithRegion [WithRegion $(| $rest:ident)*] { $($item:tt)* }) => { $($item)* };
    ($freeing:ident [$other:ident $(| $rest:ident)*] $block:tt) => {
        $crate::__when_freeing! { $freeing [$($rest)|*] $block }
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;
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
        type Variable = Node<S>;
        type Function = Node<S>;

        fn of_kind<M: strategy::KindMap>(
            pair: &strategy::KindPair<M, Node<S>, Node<S>>,
        ) -> &M::Of<Self> {
            &pair.variables
        }

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
        // `CollectedSync` holds only types declared thread-safe.
        collected_sync::declare_thread_safe::<Node<CollectedSync>>();
        S::new_handle(Node {
            creator: S::Cells::new_cell(None),
            output: S::Cells::new_cell(None),
            dropped: Arc::clone(dropped),
        })
    }

    /// Builds the cycle `variable -> creator -> variable` that `y = f(x)`
    /// forms and drops every handle: freed at once by the weak link, kept by
    /// an owning back-reference, and then freed by a collection if the
    /// strategy has a collector.
    fn the_first_cycle<S: Strategy>() {
        let policy = S::Collector::policy();
        S::Collector::set_policy(Policy::Never);
        let dropped = Arc::new(AtomicBool::new(false));
        {
            let variable = node::<S>(&dropped);
            let function = node::<S>(&Arc::new(AtomicBool::new(false)));
            S::Cells::write(&S::get(&function).output, |o| *o = Some(S::back(&variable)));
            S::Cells::write(&S::get(&variable).creator, |c| *c = Some(function));
        }
        let freed_at_once = dropped.load(Ordering::SeqCst);
        match S::FREEING {
            // Under Region the two nodes are regions of their own here: the
            // function's region goes with the variable's handle to it.
            Freeing::OnDrop | Freeing::WithRegion => assert!(freed_at_once),
            Freeing::Never => assert!(!freed_at_once, "a cycle outlives its handles"),
            Freeing::OnCollection => {
                assert!(!freed_at_once, "a cycle outlives its handles");
                assert!(S::Collector::collect().freed >= 2);
                assert!(dropped.load(Ordering::SeqCst), "and the collector frees it");
            }
        }
        S::Collector::set_policy(policy);
    }

    test_each_strategy! {
        the_first_cycle_is_freed_as_the_strategy_says => the_first_cycle;
    }

    #[test]
    fn the_add_a_strategy_recipe_is_arc_weak_rs_whole() {
        let architecture = include_str!("../../ARCHITECTURE.md");
        let file = include_str!("arc_weak.rs");
        assert!(
            architecture.contains(&format!("```text\n{file}```")),
            "ARCHITECTURE.md's recipe must quote autograd-mem/src/arc_weak.rs as it is"
        );
    }

    #[test]
    fn the_add_a_placement_recipe_quotes_apart_as_it_is() {
        let architecture = include_str!("../../ARCHITECTURE.md");
        let file = include_str!("strategy.rs");
        let start = file
            .find("/// Every node its own allocation")
            .expect("Apart's docs");
        let end = file[start..]
            .find("/// How graph nodes own each other")
            .expect("Strategy's docs after Apart");
        let apart = file[start..start + end].trim_end();
        assert!(
            architecture.contains(&format!("```text\n{apart}\n```")),
            "ARCHITECTURE.md's placement recipe must quote Apart as strategy.rs has it"
        );
    }

    #[test]
    fn kinds_round_trip_through_their_command_line_names() {
        for kind in StrategyKind::ALL {
            assert_eq!(StrategyKind::from_cli_name(kind.cli_name()), Some(*kind));
            assert_eq!(
                kind.index(),
                StrategyKind::ALL.iter().position(|k| k == kind).unwrap()
            );
        }
    }

    fn frees_on_drop<S: Strategy>() {
        assert_eq!(S::FREEING, Freeing::OnDrop);
    }

    fn keeps_its_graphs_until_collected_or_forever<S: Strategy>() {
        assert!(S::BACK_OWNS);
        assert!(matches!(S::FREEING, Freeing::OnCollection | Freeing::Never));
    }

    test_each_strategy! {
        filtered_to_the_weak_link => frees_on_drop if OnDrop;
        filtered_to_the_owning_back_references => keeps_its_graphs_until_collected_or_forever if OnCollection | Never;
    }

    #[test]
    fn with_strategy_runs_with_the_kind_as_a_type() {
        fn name<S: Strategy>() -> &'static str {
            S::KIND.name()
        }
        for &kind in StrategyKind::ALL {
            assert_eq!(with_strategy!(kind, S => name::<S>()), kind.name());
            assert_eq!(with_strategy!(kind, S => S::FREEING), kind.freeing());
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
            // No thread-safe region: `sync` keeps the default `Send + Sync`.
            _ if cfg!(feature = "region") && !cfg!(feature = "sync") => "Region".to_string(),
            (true, _) if cfg!(feature = "sync") => "CollectedSync".to_string(),
            (true, _) => "Collected".to_string(),
            (false, true) => format!("StrongOnly<{base}>"),
            (false, false) => base.to_string(),
        };
        assert_eq!(DefaultStrategy::KIND.name(), expected);
        assert_eq!(DefaultBase::KIND.name(), base);
    }
}
