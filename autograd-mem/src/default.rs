//! The default strategy, chosen by cargo features.
//!
//! Features are additive: they never remove a strategy, they only move these
//! two aliases. `sync` picks the base, `strong-only` wraps it; with both on the
//! default is `StrongOnly<ArcWeak>`.

#[cfg(not(feature = "sync"))]
/// The base strategy: [`RcWeak`](crate::RcWeak), or [`ArcWeak`](crate::ArcWeak)
/// with the `sync` feature.
pub type DefaultBase = crate::RcWeak;
#[cfg(feature = "sync")]
/// The base strategy: [`RcWeak`](crate::RcWeak), or [`ArcWeak`](crate::ArcWeak)
/// with the `sync` feature.
pub type DefaultBase = crate::ArcWeak;

#[cfg(not(feature = "strong-only"))]
/// The strategy a `Variable` without a type parameter uses: [`DefaultBase`], or
/// [`StrongOnly<DefaultBase>`](crate::StrongOnly) with the `strong-only` feature.
pub type DefaultStrategy = DefaultBase;
#[cfg(feature = "strong-only")]
/// The strategy a `Variable` without a type parameter uses: [`DefaultBase`], or
/// [`StrongOnly<DefaultBase>`](crate::StrongOnly) with the `strong-only` feature.
pub type DefaultStrategy = crate::StrongOnly<DefaultBase>;
