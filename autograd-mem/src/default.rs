//! The default strategy, chosen by cargo features.
//!
//! Features are additive: they never remove a strategy, they only move these
//! two aliases. `sync` makes graphs thread-safe; `strong-only` drops the weak
//! link; `collected` drops it and adds a cycle collector, and so wins over
//! `strong-only` (a strong link with a collector is what it is):
//!
//! | features | `DefaultStrategy` |
//! |---|---|
//! | (none) | `RcWeak` |
//! | `sync` | `ArcWeak` |
//! | `strong-only` | `StrongOnly<RcWeak>` |
//! | `sync, strong-only` | `StrongOnly<ArcWeak>` |
//! | `collected` (with or without `strong-only`) | `Collected` |
//! | `collected, sync` (with or without `strong-only`) | `CollectedSync` |
//! | `region` (with any of the others) | `Region` |

#[cfg(not(feature = "sync"))]
/// The base strategy: [`RcWeak`](crate::RcWeak), or [`ArcWeak`](crate::ArcWeak)
/// with the `sync` feature.
pub type DefaultBase = crate::RcWeak;
#[cfg(feature = "sync")]
/// The base strategy: [`RcWeak`](crate::RcWeak), or [`ArcWeak`](crate::ArcWeak)
/// with the `sync` feature.
pub type DefaultBase = crate::ArcWeak;

#[cfg(not(any(feature = "strong-only", feature = "collected", feature = "region")))]
/// The strategy a `Variable` without a type parameter uses; see the table
/// in this module's source or the README.
pub type DefaultStrategy = DefaultBase;
#[cfg(all(
    feature = "strong-only",
    not(any(feature = "collected", feature = "region"))
))]
/// The strategy a `Variable` without a type parameter uses; see the table
/// in this module's source or the README.
pub type DefaultStrategy = crate::StrongOnly<DefaultBase>;
#[cfg(all(feature = "collected", not(feature = "sync"), not(feature = "region")))]
/// The strategy a `Variable` without a type parameter uses; see the table
/// in this module's source or the README.
pub type DefaultStrategy = crate::Collected;
#[cfg(all(feature = "collected", feature = "sync", not(feature = "region")))]
/// The strategy a `Variable` without a type parameter uses; see the table
/// in this module's source or the README.
pub type DefaultStrategy = crate::CollectedSync;
#[cfg(feature = "region")]
/// The strategy a `Variable` without a type parameter uses; see the table
/// in this module's source or the README.
pub type DefaultStrategy = crate::Region;
