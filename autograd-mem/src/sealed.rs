//! The seal on this crate's traits: [`Strategy`](crate::Strategy), its
//! [`Cells`](crate::Cells), [`Collector`](crate::Collector) and
//! [`Placement`](crate::Placement), and the reference-counting parts
//! ([`Family`](crate::Family), [`BackRef`](crate::BackRef)) are implemented
//! in this crate only. A file of its own, so that every module that seals
//! a trait imports it from here and no module imports another for it.

/// Implemented by this crate's strategies and their parts only.
pub trait Sealed {}
