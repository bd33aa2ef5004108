//! Graphs a million ops deep, or 100,000 functions wide, on a 256 KiB stack:
//! backward, drop and `Debug` never recurse over the graph, and every node is
//! freed afterwards.

use autograd_mem::{LiveNodes, live};
use autograd_ops::{ArcWeak, RcWeak, Strategy, Variable, add, square};

const DEPTH: usize = 1_000_000;
const WIDTH: usize = 100_000;
const SMALL_STACK: usize = 256 * 1024;

/// Runs `f` on a new thread with a 256 KiB stack (a recursion over a million
/// nodes would need tens of megabytes).
fn on_small_stack(f: impl FnOnce() + Send + 'static) {
    std::thread::Builder::new()
        .stack_size(SMALL_STACK)
        .spawn(f)
        .expect("a thread")
        .join()
        .expect("no stack overflow, no panic");
}

fn chain<S: Strategy>(x: &Variable<S>, depth: usize) -> Variable<S> {
    let mut y = x.clone();
    for _ in 0..depth {
        y = add(&y, x).unwrap();
    }
    y
}

fn deep_backward_and_drop<S: Strategy>() {
    let start = live::this_thread::<S>();
    let x = Variable::<S>::from_scalar(1.0);
    let y = chain(&x, DEPTH);
    assert!(format!("{y:?}").contains("Add")); // Debug shows one node only
    y.backward().unwrap();
    assert_eq!(x.grad().unwrap().sum(), DEPTH as f64 + 1.0);
    assert_eq!(y.item(), Some(DEPTH as f64 + 1.0));
    drop((x, y));
    assert_eq!(live::this_thread::<S>(), start);
}

fn deep_drop_without_backward<S: Strategy>() {
    let start = live::this_thread::<S>();
    let x = Variable::<S>::from_scalar(1.0);
    let y = chain(&x, DEPTH);
    drop(x);
    let during = live::this_thread::<S>().since(start);
    assert_eq!(
        during,
        LiveNodes {
            variables: DEPTH as isize + 1,
            functions: DEPTH as isize
        }
    );
    drop(y);
    assert_eq!(live::this_thread::<S>(), start);
}

fn wide<S: Strategy>() {
    let start = live::this_thread::<S>();
    let x = Variable::<S>::from_scalar(3.0);
    let outputs: Vec<Variable<S>> = (0..WIDTH).map(|_| square(&x).unwrap()).collect();
    // Sum them pairwise-free: a chain of adds over the wide layer.
    let mut total = outputs[0].clone();
    for y in &outputs[1..] {
        total = add(&total, y).unwrap();
    }
    drop(outputs);
    total.backward().unwrap();
    assert_eq!(x.grad().unwrap().sum(), 6.0 * WIDTH as f64);
    drop((x, total));
    assert_eq!(live::this_thread::<S>(), start);
}

#[test]
fn a_million_op_chain_runs_backward_and_drops_under_rc_weak() {
    on_small_stack(deep_backward_and_drop::<RcWeak>);
}

#[test]
fn a_million_op_chain_runs_backward_and_drops_under_arc_weak() {
    on_small_stack(deep_backward_and_drop::<ArcWeak>);
}

#[test]
fn a_million_op_chain_drops_without_backward() {
    on_small_stack(|| {
        deep_drop_without_backward::<RcWeak>();
        deep_drop_without_backward::<ArcWeak>();
    });
}

#[test]
fn one_variable_feeding_a_hundred_thousand_functions() {
    on_small_stack(|| {
        wide::<RcWeak>();
        wide::<ArcWeak>();
    });
}

#[test]
fn holding_only_an_early_creator_frees_the_rest_iteratively() {
    on_small_stack(|| {
        let start = live::this_thread::<RcWeak>();
        let x = Variable::<RcWeak>::from_scalar(1.0);
        let mid = chain(&x, DEPTH / 2);
        let creator = mid.creator().unwrap();
        let y = chain(&mid, DEPTH / 2);
        drop((mid, y, x));
        // The creator keeps its inputs (and so half the chain) alive.
        assert_eq!(
            live::this_thread::<RcWeak>().since(start).functions,
            DEPTH as isize / 2
        );
        drop(creator);
        assert_eq!(live::this_thread::<RcWeak>(), start);
    });
}
