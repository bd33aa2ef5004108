//! Profiling driver (not committed): W2 under RcWeak.
use autograd_bench::add_chain;
use autograd_ops::{RcWeak, Variable};
fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(2000);
    let x = Variable::<RcWeak>::from_scalar(0.5);
    for _ in 0..n {
        std::hint::black_box(add_chain(&x, 1000).unwrap());
    }
}
