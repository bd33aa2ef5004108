//! The seed's closing experiment (DeZero step 17, section 17.5), with
//! backward: ten iterations of `square(square(square(x)))` on a fresh
//! 10,000-element random array. Under the weak strategies the graph is freed
//! after each iteration; under `StrongOnly` each iteration leaks exactly its
//! 4 variables and 3 functions.

use autograd_bench::{SeedRng, seed_loop};
use autograd_mem::{LiveNodes, live};
use autograd_ops::{ArcWeak, DefaultStrategy, RcWeak, Strategy, StrongOnly};
use autograd_tests::close;

const ITERATIONS: usize = 10;
const SIZE: usize = 10_000;

/// Runs the experiment and returns the live nodes (this thread's view, relative
/// to the start) after each iteration.
fn run<S: Strategy>(seed: u64) -> Vec<LiveNodes> {
    let start = live::this_thread::<S>();
    let mut rng = SeedRng::new(seed);
    (0..ITERATIONS)
        .map(|_| {
            let x = rng.randn(SIZE);
            let leaf = seed_loop::<S>(x.clone(), false).unwrap();
            let grad = leaf.grad().unwrap();
            assert_eq!(grad.len(), SIZE);
            for (&g, &x) in grad.iter().zip(&x) {
                assert!(close(g, 8.0 * x.powi(7), 1e-12), "{g} vs 8·{x}⁷");
            }
            drop(leaf);
            live::this_thread::<S>().since(start)
        })
        .collect()
}

fn assert_freed<S: Strategy>() {
    assert!(S::BREAKS_CYCLES);
    for after in run::<S>(1) {
        assert_eq!(after, LiveNodes::default());
    }
}

fn assert_leaks_exactly_the_graph<S: Strategy>() {
    assert!(!S::BREAKS_CYCLES);
    for (i, after) in run::<S>(2).into_iter().enumerate() {
        let n = i as isize + 1;
        assert_eq!(
            after,
            LiveNodes {
                variables: 4 * n,
                functions: 3 * n
            }
        );
    }
}

#[test]
fn rc_weak_frees_every_iteration() {
    assert_freed::<RcWeak>();
}

#[test]
fn arc_weak_frees_every_iteration() {
    assert_freed::<ArcWeak>();
}

#[test]
fn strong_only_over_rc_leaks_four_variables_and_three_functions_per_iteration() {
    assert_leaks_exactly_the_graph::<StrongOnly<RcWeak>>();
}

#[test]
fn strong_only_over_arc_leaks_four_variables_and_three_functions_per_iteration() {
    assert_leaks_exactly_the_graph::<StrongOnly<ArcWeak>>();
}

#[test]
fn the_default_strategy_behaves_as_its_features_say() {
    if cfg!(feature = "strong-only") {
        assert_leaks_exactly_the_graph::<DefaultStrategy>();
    } else {
        assert_freed::<DefaultStrategy>();
    }
    let base = if cfg!(feature = "sync") {
        "ArcWeak"
    } else {
        "RcWeak"
    };
    assert!(DefaultStrategy::NAME.contains(base));
}
