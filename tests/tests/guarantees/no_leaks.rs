//! Guarantee: no leak under the weak strategies; exactly the graph under
//! `StrongOnly`, to the node and to the byte; under the collected
//! strategies, exactly the graph until a collection and nothing after it.
//!
//! * The seed's closing experiment (DeZero step 17, section 17.5), ten
//!   iterations of `square(square(square(x)))` on fresh 10,000-element
//!   arrays, with backward: under `RcWeak` and `ArcWeak` back to the start
//!   count after every iteration; under `StrongOnly` exactly +4 variables and
//!   +3 functions per iteration.
//! * The bytes a `StrongOnly` seed graph keeps equal its `graph_footprint`,
//!   for values of any shape and size (0 to 6 axes, one element, none).
//! * The same experiment under `Collected` and `CollectedSync`, automatic
//!   collection off: +4 variables and +3 functions per iteration, as
//!   `StrongOnly`, then one `collect` frees all 70 nodes and every byte.
//! * Random DAGs: freed, or exactly their own nodes kept.
//! * A user op whose `Drop` panics: the rest of its graph is freed all the
//!   same, then the panic goes on (a second one in the same drop does not
//!   abort the process).
//!
//! Heap bytes are counted by the counting allocator this binary installs.

use autograd_mem::Collector as _;
use autograd_testkit::{SeedRng, seed_loop};

use std::time::Duration;

use autograd_mem::{
    Freeing, LiveNodes, Policy, StrategyKind, live, test_each_strategy, with_strategy,
};
use autograd_ops::VariableOps as _;
use autograd_ops::{
    DefaultStrategy, Function, Grads, Result, Saved, Strategy, Tensor, Tensors, Variable, add,
    apply_one, square,
};
use autograd_tests::dags::{Dag, cases, dag};
use autograd_tests::{close, every_op, heap, in_child_process, nodes, nodes_left, panic_message};
use ndarray::{ArrayD, IxDyn};
use proptest::prelude::*;

const ITERATIONS: usize = 10;
const SIZE: usize = 10_000;

/// Runs the experiment; the live nodes (this thread's view, relative to the
/// start) after each iteration.
fn seed_experiment<S: Strategy>(seed: u64) -> Vec<LiveNodes> {
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
    assert!(S::FREEING.at_last_handle());
    for after in seed_experiment::<S>(1) {
        assert_eq!(after, LiveNodes::default());
    }
}

fn assert_keeps_exactly_the_graph<S: Strategy>() {
    assert_eq!(S::FREEING, Freeing::Never);
    for (i, after) in seed_experiment::<S>(2).into_iter().enumerate() {
        let n = i as isize + 1;
        assert_eq!(after, nodes(4 * n, 3 * n));
    }
}

test_each_strategy! {
    the_weak_link_or_the_region_frees_every_iteration_of_the_seed_experiment => assert_freed if OnDrop | WithRegion;
    strong_only_keeps_four_variables_and_three_functions_per_iteration => assert_keeps_exactly_the_graph if Never;
    a_collected_graph_is_kept_until_a_collection_frees_it_all => assert_kept_until_collected if OnCollection;
    a_collected_graph_holds_exactly_its_footprint_until_collected => collected_footprint if OnCollection;
    a_kept_graph_holds_exactly_its_footprint_for_any_shape => footprint_for_any_shape;
    every_ops_graph_holds_exactly_its_footprint_saved_values_included => every_op_footprint;
    graphs_built_on_a_kept_intermediate_go_with_their_own_handles => kept_intermediate_steps if OnDrop | WithRegion;
    a_graph_reading_unchained_variables_of_a_gone_graph_holds_its_footprint => gone_unchained_footprint if OnDrop | WithRegion;
}

/// Issue 28, item 9: a training loop on inputs standardised once from a
/// leaf and kept (`xn = tanh(0.5·x)`), `loss = sum(matmul(xn, w))` a step.
/// Each step's graph goes with its loss: under `Region` a graph that reads
/// a kept intermediate (not its region's newest node) starts a region of
/// its own, freed with the step's handles; only the first graph built on
/// the intermediate while it was its region's newest node (the chain's tip)
/// joined its region, and stays while it does.
fn kept_intermediate_steps<S: Strategy>() {
    let x = Variable::<S>::from_array(ArrayD::from_shape_fn(IxDyn(&[4, 3]), |d| {
        (d[0] * 3 + d[1]) as f64 * 0.1 - 0.5
    }));
    let w = Variable::<S>::from_array(ArrayD::from_elem(IxDyn(&[3, 2]), 0.25));
    let xn = (&x * 0.5).tanh();
    let step = || {
        let loss = autograd_ops::matmul(&xn, &w).unwrap().sum();
        loss.backward().unwrap();
        w.cleargrad();
    };
    step(); // joins xn's region under Region, as the chain's next op
    step();
    let before = xn.graph_footprint();
    let (left, bytes) = heap::kept(|| nodes_left::<S, _>(|| (0..100).for_each(|_| step())));
    assert_eq!((left, bytes), (nodes(0, 0), 0), "{}", S::KIND.name());
    assert_eq!(xn.graph_footprint(), before);
}

/// Issue 28, item 10: a graph that reads two unchained variables of a
/// graph whose other nodes are gone holds exactly its footprint: under
/// `Region` the gone region's block, which the weak links keep, counts
/// once, not once per variable that names it.
fn gone_unchained_footprint<S: Strategy>() {
    let build = || {
        let x = Variable::<S>::from_array(ArrayD::from_elem(IxDyn(&[3]), 0.5));
        let a = x.sin();
        let b = a.cos();
        a.unchain();
        b.unchain();
        (&a * &b).sum()
    };
    drop(build()); // warms up this thread's teardown list, which keeps its capacity
    let (y, kept) = heap::kept(build);
    assert_eq!(
        kept,
        y.graph_footprint().bytes as isize,
        "{}",
        S::KIND.name()
    );
}

/// The experiment with automatic collection off: exactly the graph before a
/// collection; after one, nothing, to the node and to the byte.
fn assert_kept_until_collected<S: Strategy>() {
    assert_eq!(S::FREEING, Freeing::OnCollection);
    let _turn = autograd_tests::process_wide();
    let policy = S::Collector::policy();
    S::Collector::set_policy(Policy::Never);
    let mut rng = SeedRng::new(3);
    // Warm up: the collector's object space and this thread's lists exist.
    drop(seed_loop::<S>(rng.randn(SIZE), false).unwrap());
    S::Collector::collect();
    let start = live::total::<S>();
    let (freed, bytes) = heap::kept(|| {
        for i in 1..=ITERATIONS as isize {
            let x = rng.randn(SIZE);
            let leaf = seed_loop::<S>(x, false).unwrap();
            assert_eq!(leaf.grad().unwrap().len(), SIZE);
            drop(leaf);
            assert_eq!(live::total::<S>().since(start), nodes(4 * i, 3 * i));
        }
        S::Collector::collect().freed
    });
    assert_eq!(freed, 7 * ITERATIONS, "the collector frees every node");
    assert_eq!(live::total::<S>(), start);
    assert_eq!(
        bytes,
        0,
        "{}: the graphs and the collector's own bookkeeping are gone",
        S::KIND.name()
    );
    S::Collector::set_policy(policy);
}

/// A collected seed graph holds exactly its footprint until a collection
/// frees every byte of it, for values of a few shapes.
fn collected_footprint<S: Strategy>() {
    let _turn = autograd_tests::process_wide();
    let policy = S::Collector::policy();
    S::Collector::set_policy(Policy::Never);
    let _ = kept_and_footprint::<S>(&[2]); // warm up
    S::Collector::collect();
    for shape in [&[][..], &[3], &[2, 1, 2, 1, 2], &[0, 4]] {
        let (kept, footprint) = kept_and_footprint::<S>(shape);
        assert_eq!(
            kept,
            footprint as isize,
            "{}, shape {shape:?}",
            S::KIND.name()
        );
        let (_, freed) = heap::kept(S::Collector::collect);
        assert_eq!(freed, -kept, "{}, shape {shape:?}", S::KIND.name());
    }
    S::Collector::set_policy(policy);
}

#[test]
fn the_default_strategy_behaves_as_its_features_say() {
    match DefaultStrategy::FREEING {
        Freeing::OnDrop | Freeing::WithRegion => assert_freed::<DefaultStrategy>(),
        Freeing::Never => assert_keeps_exactly_the_graph::<DefaultStrategy>(),
        Freeing::OnCollection => assert_kept_until_collected::<DefaultStrategy>(),
        other => panic!("no test of the default strategy's freeing {other:?}"),
    }
}

/// The seed graph on a value of `shape`: what it keeps on the heap, and
/// what its footprint says it holds.
fn kept_and_footprint<S: Strategy>(shape: &[usize]) -> (isize, usize) {
    let n = shape.iter().product::<usize>();
    let (footprint, kept) = heap::kept(|| {
        // Made inside the count: the graph takes the array over.
        let value = ArrayD::from_shape_vec(IxDyn(shape), (0..n).map(|i| i as f64 * 0.01).collect())
            .expect("n elements");
        let x = Variable::<S>::from_array(value);
        let y = square(&square(&square(&x).unwrap()).unwrap()).unwrap();
        y.backward().unwrap();
        y.graph_footprint()
    });
    (kept, footprint.bytes)
}

/// Every op of the workspace (`every_op`, a user op that saves a mask
/// among them), with its output held after backward: the heap the graph
/// keeps equals its footprint to the byte, the values the ops saved for
/// backward included; under a collector, one collection then frees it all.
fn every_op_footprint<S: Strategy>() {
    let collected = S::FREEING == Freeing::OnCollection;
    let _turn = collected.then(autograd_tests::process_wide);
    let policy = S::Collector::policy();
    S::Collector::set_policy(Policy::Never);
    let graph = |arity: usize, f: fn(&[Variable<S>]) -> autograd_ops::Result<Variable<S>>| {
        let xs: Vec<Variable<S>> = (0..arity)
            .map(|i| {
                let v = ArrayD::from_shape_fn(IxDyn(&[2, 3]), |d| {
                    0.6 + 0.1 * (d[0] * 3 + d[1] + i) as f64
                });
                Variable::<S>::from_array(v)
            })
            .collect();
        let y = f(&xs).unwrap();
        y.backward().unwrap();
        y // the inputs go: under the weak strategies, leaves that are gone
    };
    // Warm up: whatever a thread allocates once (scope stacks, teardown
    // lists) exists before anything is counted.
    for (_, arity, f) in every_op::<S>() {
        drop(graph(arity, f));
    }
    S::Collector::collect();
    for (name, arity, f) in every_op::<S>() {
        let ((y, footprint), kept) = heap::kept(|| {
            let y = graph(arity, f);
            let footprint = y.graph_footprint();
            (y, footprint)
        });
        assert_eq!(
            kept,
            footprint.bytes as isize,
            "{name} under {}",
            S::KIND.name()
        );
        let (_, freed) = heap::kept(|| {
            drop(y);
            S::Collector::collect();
        });
        let expected = match S::FREEING {
            Freeing::OnDrop | Freeing::WithRegion | Freeing::OnCollection => -kept,
            Freeing::Never => 0,
            other => panic!("no footprint promise for {other:?}"),
        };
        assert_eq!(
            freed,
            expected,
            "{name} under {}: what dropping the output frees",
            S::KIND.name()
        );
    }
    S::Collector::set_policy(policy);
}

/// The seed graph on values of every shape (0 to 6 axes, one element,
/// none): freed to the byte where the strategy frees on drop, kept exactly
/// as its footprint says where it never frees, and, under a collector with
/// collection off, kept exactly until one collection frees it.
fn footprint_for_any_shape<S: Strategy>() {
    let collected = S::FREEING == Freeing::OnCollection;
    let _turn = collected.then(autograd_tests::process_wide);
    let policy = S::Collector::policy();
    S::Collector::set_policy(Policy::Never);
    // Warm up: this thread's live counts and teardown lists (one per
    // strategy, kept for the thread's life) exist before anything is counted.
    let _ = kept_and_footprint::<S>(&[2]);
    S::Collector::collect();
    let shapes: [&[usize]; 12] = [
        &[],
        &[1],
        &[3],
        &[2, 3],
        &[2, 3, 4],
        &[1, 2, 1, 2],
        &[2, 1, 2, 1, 2], // five axes: ndarray keeps the shape on the heap
        &[1, 1, 1, 1, 1], // one element, five axes
        &[1, 2, 1, 2, 1, 2],
        &[0],
        &[0, 4], // no elements: every empty array reports the same pointer
        &[2, 0, 3],
    ];
    for shape in shapes {
        let (kept, footprint) = kept_and_footprint::<S>(shape);
        match S::FREEING {
            Freeing::OnDrop | Freeing::WithRegion => {
                assert_eq!(kept, 0, "{}, shape {shape:?}", S::KIND.name())
            }
            Freeing::Never => assert_eq!(
                kept,
                footprint as isize,
                "{}, shape {shape:?}",
                S::KIND.name()
            ),
            Freeing::OnCollection => {
                assert_eq!(
                    kept,
                    footprint as isize,
                    "{}, shape {shape:?}",
                    S::KIND.name()
                );
                let (_, freed) = heap::kept(S::Collector::collect);
                assert_eq!(freed, -kept, "{}, shape {shape:?}", S::KIND.name());
            }
            other => panic!("no footprint promise for {other:?}"),
        }
    }
    S::Collector::set_policy(policy);
}

/// Builds, differentiates and drops the DAG; the nodes left behind.
fn dag_leftover<S: Strategy>(dag: &Dag) -> LiveNodes {
    nodes_left::<S, _>(|| {
        let leaves: Vec<Variable<S>> = dag
            .leaves
            .iter()
            .cloned()
            .map(Variable::from_array)
            .collect();
        let y = dag.build(&leaves).expect("shapes broadcast");
        y.backward().expect("backward succeeds");
        for (leaf, value) in leaves.iter().zip(&dag.leaves) {
            if let Some(grad) = leaf.grad() {
                assert_eq!(
                    grad.shape(),
                    value.shape(),
                    "a gradient has its leaf's shape"
                );
            }
        }
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    #[test]
    fn random_dags_are_freed_or_keep_exactly_their_nodes(dag in dag()) {
        for &kind in StrategyKind::ALL {
            let expected = match kind.freeing() {
                Freeing::OnDrop | Freeing::WithRegion => LiveNodes::default(),
                Freeing::Never => dag.own_nodes(),
                // Kept until a collection: the collected tests above.
                Freeing::OnCollection => continue,
                other => panic!("no promise for {other:?}"),
            };
            let left = with_strategy!(kind, S => dag_leftover::<S>(&dag));
            prop_assert_eq!(left, expected, "{}", kind.name());
        }
    }
}

/// `y = x`, whose `Drop` panics: a user op with a bug in its cleanup.
struct PanicsOnDrop;

impl<S: Strategy> Function<S> for PanicsOnDrop {
    fn name(&self) -> &'static str {
        "PanicsOnDrop"
    }
    fn num_inputs(&self) -> usize {
        1
    }
    fn forward(&mut self, xs: &[Tensor]) -> Result<Tensors> {
        Ok(xs[0].clone().into())
    }
    fn derivative(&self, _cx: &Saved<'_, S>, gys: &[Variable<S>]) -> Result<Grads<S>> {
        Ok(vec![Some(gys[0].clone())])
    }
}

impl Drop for PanicsOnDrop {
    fn drop(&mut self) {
        panic!("PanicsOnDrop dropped");
    }
}

/// A 200-op chain of adds with a [`PanicsOnDrop`] at each of `at`.
fn chain_with_panicking_drops<S: Strategy>(at: &[usize]) -> Variable<S> {
    let x = Variable::<S>::from_scalar(1.0);
    let mut y = x.clone();
    for i in 0..200 {
        y = if at.contains(&i) {
            apply_one(PanicsOnDrop, &[&y]).unwrap()
        } else {
            add(&y, &x).unwrap()
        };
    }
    y
}

/// Dropping the chain frees all of it, then raises the op's panic.
fn a_panicking_drop_frees_the_rest<S: Strategy>(at: &'static [usize]) {
    let start = live::this_thread::<S>();
    let y = chain_with_panicking_drops::<S>(at);
    let message = panic_message(move || drop(y));
    assert_eq!(message, "PanicsOnDrop dropped");
    assert_eq!(live::this_thread::<S>().since(start), nodes(0, 0));
    // The thread drains again: the next graph is freed as usual.
    drop(chain_with_panicking_drops::<S>(&[]));
    assert_eq!(live::this_thread::<S>().since(start), nodes(0, 0));
}

fn one_panicking_drop<S: Strategy>() {
    a_panicking_drop_frees_the_rest::<S>(&[100]);
}

fn two_panicking_drops<S: Strategy>() {
    // A second panic in the same drain must not abort the process.
    in_child_process(Duration::from_secs(60), || {
        a_panicking_drop_frees_the_rest::<S>(&[50, 150]);
    });
}

test_each_strategy! {
    a_panicking_op_drop_during_teardown_frees_the_rest_then_raises => one_panicking_drop if OnDrop | WithRegion;
    two_panicking_op_drops_in_one_teardown_free_everything_without_abort => two_panicking_drops if OnDrop | WithRegion;
}
