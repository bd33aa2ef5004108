//! The default strategy, chosen by cargo features.
//!
//! Features are additive: they never remove a strategy, they only move
//! these two aliases, and turning one on never takes away what another
//! promised. `sync` makes graphs thread-safe, and that holds whatever else
//! is on (any crate in a build may turn on another feature); `strong-only`
//! drops the weak link; `collected` drops it and adds a cycle collector,
//! and so wins over `strong-only` (a strong link with a collector is what
//! it is); `region` makes the default a region, except with `sync`, since
//! there is no thread-safe region strategy. [`DefaultStrategy`]'s page has
//! the table.

#[cfg(not(feature = "sync"))]
/// The base strategy: [`RcWeak`](crate::RcWeak), or [`ArcWeak`](crate::ArcWeak)
/// with the `sync` feature.
pub type DefaultBase = crate::RcWeak;
#[cfg(feature = "sync")]
/// The base strategy: [`RcWeak`](crate::RcWeak), or [`ArcWeak`](crate::ArcWeak)
/// with the `sync` feature.
pub type DefaultBase = crate::ArcWeak;

// One alias per combination of features; `region` chooses only without
// `sync`.
macro_rules! default_alias {
    ($($cfg:meta => $ty:ty;)*) => {
        $(
            #[cfg($cfg)]
            /// The strategy a `Variable` without a type parameter uses,
            /// chosen by the cargo features of this build:
            ///
            /// | features | `DefaultStrategy` |
            /// |---|---|
            /// | (none) | [`RcWeak`](crate::RcWeak) |
            /// | `sync` | [`ArcWeak`](crate::ArcWeak) |
            /// | `strong-only` | [`StrongOnly<RcWeak>`](crate::StrongOnly) |
            /// | `sync`, `strong-only` | [`StrongOnly<ArcWeak>`](crate::StrongOnly) |
            /// | `collected` (with or without `strong-only`) | [`Collected`](crate::Collected) |
            /// | `collected`, `sync` (with or without `strong-only`) | [`CollectedSync`](crate::CollectedSync) |
            /// | `region` (with any of the others but `sync`) | [`Region`](crate::Region) |
            /// | `region`, `sync` | as without `region`: `sync` keeps graphs `Send + Sync` |
            ///
            /// Every strategy is always compiled and usable by name
            /// (`Variable::<ArcWeak>::from_array(a)` in autograd-core); the
            /// features only move this alias, so they stay additive. Under
            /// `sync`, whatever else is on, the default's graphs are `Send +
            /// Sync` (checked when this crate compiles).
            pub type DefaultStrategy = $ty;
        )*
    };
}

default_alias! {
    all(feature = "region", not(feature = "sync")) => crate::Region;
    all(
        not(all(feature = "region", not(feature = "sync"))),
        feature = "collected",
        not(feature = "sync")
    ) => crate::Collected;
    all(
        not(all(feature = "region", not(feature = "sync"))),
        feature = "collected",
        feature = "sync"
    ) => crate::CollectedSync;
    all(
        not(all(feature = "region", not(feature = "sync"))),
        not(feature = "collected"),
        feature = "strong-only"
    ) => crate::StrongOnly<DefaultBase>;
    all(
        not(all(feature = "region", not(feature = "sync"))),
        not(feature = "collected"),
        not(feature = "strong-only")
    ) => DefaultBase;
}

/// Under `sync`, the default's graphs are `Send + Sync`, whatever other
/// feature a crate of the build turned on.
#[cfg(feature = "sync")]
const _: fn() = crate::assert_send_sync::<crate::NodeCell<DefaultStrategy, ()>>;
