//! The report binary (placeholder until the full report lands).
fn main() {}
