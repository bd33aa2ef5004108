//! Guarantee: no stack overflow at any depth. Backward, drop and `Debug`
//! never recurse over the graph, also when the drop glue of a user op
//! reaches variables (and the whole graph behind them); under the collected
//! strategies neither does a collection (gcmodule marks what live nodes
//! reach recursively, so the strategy runs it on a stack segment sized to
//! the live graph). Every test runs on a 256 KiB stack, where a recursion
//! over a million nodes would overflow.

use autograd_mem::Collector as _;
use autograd_mem::{Freeing, Policy, StrategyKind, live, test_each_strategy, with_shared_strategy};
use autograd_ops::{Strategy, Variable, add, apply_one, square};
use autograd_tests::{Holding, nodes, nodes_left, on_small_stack};

const DEPTH: usize = 1_000_000;
const WIDTH: usize = 100_000;

fn chain<S: Strategy>(x: &Variable<S>, depth: usize) -> Variable<S> {
    let mut y = x.clone();
    for _ in 0..depth {
        y = add(&y, x).unwrap();
    }
    y
}

/// A million-op chain: backward, `Debug`, then drop; every node freed.
fn deep_backward_and_drop<S: Strategy>() {
    let left = nodes_left::<S, _>(|| {
        let x = Variable::<S>::from_scalar(1.0);
        let y = chain(&x, DEPTH);
        assert!(format!("{y:?}").contains("add")); // Debug shows one node only
        y.backward().unwrap();
        assert_eq!(x.grad().unwrap().sum(), DEPTH as f64 + 1.0);
        assert_eq!(y.item(), Some(DEPTH as f64 + 1.0));
    });
    assert_eq!(left, nodes(0, 0));
}

/// A million-op chain dropped without backward, the leaf first.
fn deep_drop_without_backward<S: Strategy>() {
    let left = nodes_left::<S, _>(|| {
        let start = live::this_thread::<S>();
        let x = Variable::<S>::from_scalar(1.0);
        let y = chain(&x, DEPTH);
        drop(x);
        // No graph owns a leaf (it holds its value): the leaf is gone, the
        // chain is not.
        let during = live::this_thread::<S>().since(start);
        assert_eq!(during, nodes(DEPTH as isize, DEPTH as isize));
        y
    });
    assert_eq!(left, nodes(0, 0));
}

/// One variable read by 100,000 functions, summed by a chain.
fn wide<S: Strategy>() {
    let left = nodes_left::<S, _>(|| {
        let x = Variable::<S>::from_scalar(3.0);
        let outputs: Vec<Variable<S>> = (0..WIDTH).map(|_| square(&x).unwrap()).collect();
        let mut total = outputs[0].clone();
        for y in &outputs[1..] {
            total = add(&total, y).unwrap();
        }
        drop(outputs);
        total.backward().unwrap();
        assert_eq!(x.grad().unwrap().sum(), 6.0 * WIDTH as f64);
    });
    assert_eq!(left, nodes(0, 0));
}

/// A million ops of a user op that keeps its input variable in a field:
/// dropping the chain drops each op, whose field drops the next variable,
/// whose creator is the next op... (issue 8, defect 1: this recursed once per
/// node and overflowed at about 600 ops on this stack).
fn user_ops_holding_variables<S: Strategy>()
where
    Variable<S>: Send + Sync,
{
    let left = nodes_left::<S, _>(|| {
        let x = Variable::<S>::from_scalar(1.0);
        let mut y = x.clone();
        for _ in 0..DEPTH {
            let op = Holding { kept: y.clone() };
            y = apply_one(op, &[&y]).unwrap();
        }
        y.backward().unwrap();
        assert_eq!(x.grad().unwrap().sum(), 1.0);
    });
    assert_eq!(left, nodes(0, 0));
}

/// A million-op chain under a collected strategy with its default policy
/// (collections run while the chain is built, marking it all), backward,
/// drop, collect: every node freed.
fn deep_collected<S: Strategy>() {
    let _turn = autograd_tests::process_wide();
    S::Collector::set_policy(Policy::Auto);
    let start = live::total::<S>();
    {
        let x = Variable::<S>::from_scalar(1.0);
        let y = chain(&x, DEPTH);
        y.backward().unwrap();
        assert_eq!(x.grad().unwrap().sum(), DEPTH as f64 + 1.0);
        S::Collector::collect(); // all of it alive: marked, nothing freed
        assert_eq!(
            live::total::<S>().since(start),
            nodes(DEPTH as isize + 1, DEPTH as isize)
        );
    }
    S::Collector::collect();
    assert_eq!(live::total::<S>(), start);
}

/// Holding only an early creator keeps half the chain (under `Region`, the
/// whole region: both halves); dropping it frees that, iteratively.
fn an_early_creator_alone<S: Strategy>() {
    let start = live::this_thread::<S>();
    let x = Variable::<S>::from_scalar(1.0);
    let mid = chain(&x, DEPTH / 2);
    let creator = mid.creator().unwrap();
    let y = chain(&mid, DEPTH / 2);
    drop((mid, y, x));
    // The creator owns its intermediate input (and so half the chain); a
    // region is kept whole.
    let kept = match S::FREEING {
        Freeing::WithRegion => DEPTH,
        _ => DEPTH / 2,
    };
    assert_eq!(
        live::this_thread::<S>().since(start).functions,
        kept as isize
    );
    drop(creator);
    assert_eq!(live::this_thread::<S>(), start);
}

// The matrix's tests, each on a small stack.
fn deep_backward_and_drop_small<S: Strategy>() {
    on_small_stack(deep_backward_and_drop::<S>);
}

fn deep_drop_without_backward_small<S: Strategy>() {
    on_small_stack(deep_drop_without_backward::<S>);
}

fn wide_small<S: Strategy>() {
    on_small_stack(wide::<S>);
}

fn deep_collected_small<S: Strategy>() {
    on_small_stack(deep_collected::<S>);
}

fn an_early_creator_alone_small<S: Strategy>() {
    on_small_stack(an_early_creator_alone::<S>);
}

test_each_strategy! {
    a_million_op_chain_runs_backward_and_drops => deep_backward_and_drop_small if OnDrop | WithRegion;
    a_million_op_chain_drops_without_backward => deep_drop_without_backward_small if OnDrop | WithRegion;
    one_variable_feeding_a_hundred_thousand_functions => wide_small if OnDrop | WithRegion;
    a_million_op_chain_runs_backward_drops_and_is_collected => deep_collected_small if OnCollection;
    holding_only_an_early_creator_keeps_what_it_owns_then_frees_it_iteratively => an_early_creator_alone_small if OnDrop | WithRegion;
}

#[test]
fn a_million_user_ops_holding_variables_drop_without_recursion() {
    // An op is `Send + Sync`, so only variables of graphs that may be
    // shared between threads can sit in one.
    let mut ran = 0;
    for &kind in StrategyKind::ALL {
        if kind.freeing() == Freeing::OnDrop {
            ran +=
                with_shared_strategy!(kind, S => on_small_stack(user_ops_holding_variables::<S>))
                    .map_or(0, |()| 1);
        }
    }
    assert!(ran > 0, "some strategy frees on drop and shares its graphs");
}
