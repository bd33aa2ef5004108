//! Cross-crate integration tests for the autograd workspace; the tests live in
//! `tests/tests/`. This library holds what they share.
//!
//! ```
//! assert!(autograd_tests::close(1.0, 1.0 + 1e-15, 1e-12));
//! ```
#![forbid(unsafe_code)]

/// `true` if `a` and `b` agree within `rel`, relative to the larger magnitude (at least 1).
pub fn close(a: f64, b: f64, rel: f64) -> bool {
    (a - b).abs() <= rel * a.abs().max(b.abs()).max(1.0)
}
