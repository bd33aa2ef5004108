//! The engine under every strategy: backward order, accumulation, retention,
//! errors, teardown, and what each strategy frees.

mod common;

use autograd_core::mem::{NodeKind, live};
use autograd_core::{
    ArcWeak, BackwardOptions, Error, RcWeak, Strategy, StrongOnly, Variable, apply, apply_one,
    no_grad,
};
use common::{Add, Fault, Faulty, Split, Square, assert_close, numerical_grad};
use ndarray::{ArrayD, array};

fn square<S: Strategy>(x: &Variable<S>) -> Variable<S> {
    apply_one(Square, &[x]).unwrap()
}

fn add<S: Strategy>(a: &Variable<S>, b: &Variable<S>) -> Variable<S> {
    apply_one(Add, &[a, b]).unwrap()
}

fn scalar_grad<S: Strategy>(x: &Variable<S>) -> f64 {
    x.grad().expect("a gradient").sum()
}

autograd_mem::test_each_strategy! {
    diamond => diamond_is_ordered_by_generation;
    reuse => a_variable_used_twice_receives_the_sum;
    retention => intermediate_gradients_are_kept_only_when_asked;
    leaf => backward_on_a_leaf_gives_ones;
    twice => backward_twice_adds_twice;
    multi_output => a_dropped_output_contributes_zero;
    errors => a_failed_backward_changes_no_gradient;
    counts => bad_counts_are_errors;
    seed => the_output_gradient_is_checked;
    numeric => gradients_match_central_differences;
    generations => generations_follow_the_seed;
    no_grad_scope => no_grad_builds_no_graph;
    creators => creator_exposes_inputs_and_outputs;
}

fn diamond_is_ordered_by_generation<S: Strategy>() {
    // The seed's example: a = x², y = a² + a² at x = 2 gives y = 32, dy/dx = 64.
    let x = Variable::<S>::from_scalar(2.0);
    let a = square(&x);
    let y = add(&square(&a), &square(&a));
    y.backward().unwrap();
    assert_eq!(y.item(), Some(32.0));
    assert_eq!(scalar_grad(&x), 64.0);
}

fn a_variable_used_twice_receives_the_sum<S: Strategy>() {
    let x = Variable::<S>::from_scalar(3.0);
    let y = add(&x, &x);
    y.backward().unwrap();
    assert_eq!(scalar_grad(&x), 2.0);
    // y = (x + x) + x
    x.cleargrad();
    let z = add(&add(&x, &x), &x);
    z.backward().unwrap();
    assert_eq!(scalar_grad(&x), 3.0);
}

fn intermediate_gradients_are_kept_only_when_asked<S: Strategy>() {
    let x = Variable::<S>::from_scalar(2.0);
    let a = square(&x);
    let y = square(&a);
    y.backward().unwrap();
    assert!(a.grad().is_none() && y.grad().is_none());
    assert_eq!(scalar_grad(&x), 32.0);

    x.cleargrad();
    y.backward_with(BackwardOptions::default().retain_grad(true))
        .unwrap();
    assert_eq!(scalar_grad(&y), 1.0);
    assert_eq!(scalar_grad(&a), 8.0); // 2a
    assert_eq!(scalar_grad(&x), 32.0);
}

fn backward_on_a_leaf_gives_ones<S: Strategy>() {
    let x = Variable::<S>::from_array(array![[1.0, 2.0], [3.0, 4.0]]);
    x.backward().unwrap();
    assert_eq!(x.grad().unwrap(), ArrayD::ones(vec![2, 2]));
}

fn backward_twice_adds_twice<S: Strategy>() {
    let x = Variable::<S>::from_scalar(3.0);
    let y = square(&x);
    y.backward().unwrap();
    y.backward().unwrap();
    assert_eq!(scalar_grad(&x), 12.0);
    x.cleargrad();
    y.backward().unwrap();
    assert_eq!(scalar_grad(&x), 6.0);
}

fn a_dropped_output_contributes_zero<S: Strategy>() {
    let x = Variable::<S>::from_array(array![1.0, 2.0]);
    let mut outputs = apply(Split, &[&x]).unwrap();
    let second = outputs.pop().unwrap();
    drop(outputs); // the first output is gone (under the weak strategies)
    second.backward().unwrap();
    assert_eq!(x.grad().unwrap(), array![3.0, 3.0].into_dyn());
    // Both outputs reaching the root: 2 + 3.
    let x = Variable::<S>::from_array(array![1.0, 2.0]);
    let outputs = apply(Split, &[&x]).unwrap();
    add(&outputs[0], &outputs[1]).backward().unwrap();
    assert_eq!(x.grad().unwrap(), array![5.0, 5.0].into_dyn());
}

fn a_failed_backward_changes_no_gradient<S: Strategy>() {
    for fault in [Fault::NoGradient, Fault::WrongShape, Fault::Fails] {
        let x = Variable::<S>::from_array(array![1.0, 2.0]);
        let w = Variable::<S>::from_array(array![5.0, 5.0]);
        w.backward().unwrap(); // w.grad = [1, 1]
        // y = faulty(x²) + w: backward reaches w before the fault.
        let y = add(&apply_one(Faulty(fault), &[&square(&x)]).unwrap(), &w);
        let err = y
            .backward_with(BackwardOptions::default().retain_grad(true))
            .unwrap_err();
        match (fault, err) {
            (Fault::NoGradient, Error::GradientCount { op, expected, got }) => {
                assert_eq!((op, expected, got), ("Faulty", 1, 0));
            }
            (
                Fault::WrongShape,
                Error::GradientShape {
                    op,
                    index,
                    expected,
                    got,
                },
            ) => {
                assert_eq!((op, index), ("Faulty", 0));
                assert_eq!((expected, got), (vec![2], vec![7, 7]));
            }
            (Fault::Fails, Error::InvalidTarget { op, .. }) => assert_eq!(op, "Faulty"),
            (fault, err) => panic!("{fault:?} gave {err}"),
        }
        assert!(x.grad().is_none() && y.grad().is_none());
        assert_eq!(w.grad().unwrap(), array![1.0, 1.0].into_dyn());
        // The graph stays usable: the healthy part still differentiates.
        let z = add(&square(&x), &w);
        z.backward().unwrap();
        assert_eq!(x.grad().unwrap(), array![2.0, 4.0].into_dyn());
    }
}

fn bad_counts_are_errors<S: Strategy>() {
    let x = Variable::<S>::from_scalar(1.0);
    let before = live::this_thread::<S>();
    assert_eq!(
        apply(Add, &[&x]).unwrap_err(),
        Error::InputCount {
            op: "Add",
            expected: 2,
            got: 1
        }
    );
    assert_eq!(
        apply(Faulty(Fault::TooManyOutputs), &[&x]).unwrap_err(),
        Error::OutputCount {
            op: "Faulty",
            expected: 1,
            got: 2
        }
    );
    assert_eq!(
        apply_one(Split, &[&x]).unwrap_err(),
        Error::OutputCount {
            op: "Split",
            expected: 1,
            got: 2
        }
    );
    let y = Variable::<S>::from_array(array![1.0, 2.0]);
    let err = apply(Add, &[&x, &y]).unwrap_err();
    assert_eq!(err.to_string(), "Add: shapes [] and [2] are incompatible");
    // Failed applications leave no node behind.
    assert_eq!(live::this_thread::<S>().since(before).variables, 1);
    assert_eq!(live::this_thread::<S>().since(before).functions, 0);
}

fn the_output_gradient_is_checked<S: Strategy>() {
    let x = Variable::<S>::from_array(array![1.0, 2.0]);
    let y = square(&x);
    let err = y
        .backward_with(BackwardOptions::default().with_grad(ArrayD::ones(vec![3])))
        .unwrap_err();
    assert_eq!(
        err,
        Error::SeedShape {
            expected: vec![2],
            got: vec![3]
        }
    );
    assert!(x.grad().is_none());
    y.backward_with(BackwardOptions::default().with_grad(array![1.0, -1.0].into_dyn()))
        .unwrap();
    assert_eq!(x.grad().unwrap(), array![2.0, -4.0].into_dyn());
}

fn gradients_match_central_differences<S: Strategy>() {
    // f(x, w) = sum(((x² + w)² + x)), elementwise
    let f = |x: &ArrayD<f64>, w: &ArrayD<f64>| {
        x.iter()
            .zip(w)
            .map(|(x, w)| (x * x + w).powi(2) + x)
            .sum::<f64>()
    };
    let x0 = array![0.5, -1.25, 2.0].into_dyn();
    let w0 = array![0.1, 0.2, -0.3].into_dyn();
    let x = Variable::<S>::from_array(x0.clone());
    let w = Variable::<S>::from_array(w0.clone());
    let y = add(&square(&add(&square(&x), &w)), &x);
    y.backward().unwrap();
    assert_close(
        &x.grad().unwrap(),
        &numerical_grad(|x| f(x, &w0), &x0),
        1e-6,
    );
    assert_close(
        &w.grad().unwrap(),
        &numerical_grad(|w| f(&x0, w), &w0),
        1e-6,
    );
}

fn generations_follow_the_seed<S: Strategy>() {
    let x = Variable::<S>::from_scalar(1.0);
    let a = square(&x);
    let b = square(&a);
    let y = add(&b, &x); // max(2, 0) + 1
    assert_eq!(
        [x.generation().0, a.generation().0, b.generation().0],
        [0, 1, 2]
    );
    assert_eq!(y.generation().0, 3);
    assert_eq!(y.creator().unwrap().generation().0, 2);
}

fn no_grad_builds_no_graph<S: Strategy>() {
    let x = Variable::<S>::from_scalar(3.0);
    let before = live::this_thread::<S>();
    let y = {
        let _guard = no_grad();
        square(&square(&x))
    };
    assert_eq!(y.item(), Some(81.0));
    assert!(y.is_leaf());
    assert_eq!(live::this_thread::<S>().since(before).functions, 0);
    assert!(!square(&x).is_leaf()); // restored
}

fn creator_exposes_inputs_and_outputs<S: Strategy>() {
    let x = Variable::<S>::from_scalar(3.0).with_name("x");
    let y = square(&x).with_name("y");
    let f = y.creator().unwrap();
    assert_eq!(f.name(), "Square");
    assert!(f.inputs()[0].ptr_eq(&x));
    let outputs = f.outputs();
    assert!(outputs[0].as_ref().unwrap().ptr_eq(&y));
    assert_eq!(y.name().as_deref(), Some("y"));
    let shown = format!("{y:?}");
    assert!(
        shown.contains("Square") && shown.contains("\"y\""),
        "{shown}"
    );
}

/// Builds `square(square(square(x)))` and backward, then drops it; returns the
/// nodes left behind on this thread.
fn leftover_after_seed_graph<S: Strategy>() -> (isize, isize) {
    let before = live::this_thread::<S>();
    {
        let x = Variable::<S>::from_array(array![1.0, 2.0]);
        let y = square(&square(&square(&x)));
        y.backward().unwrap();
        assert_eq!(x.grad().unwrap(), array![8.0, 1024.0].into_dyn()); // 8x⁷
        let during = live::this_thread::<S>().since(before);
        assert_eq!((during.variables, during.functions), (4, 3));
    }
    let after = live::this_thread::<S>().since(before);
    (after.variables, after.functions)
}

#[test]
fn weak_strategies_free_the_graph_and_strong_only_leaks_it() {
    assert_eq!(leftover_after_seed_graph::<RcWeak>(), (0, 0));
    assert_eq!(leftover_after_seed_graph::<ArcWeak>(), (0, 0));
    assert_eq!(leftover_after_seed_graph::<StrongOnly<RcWeak>>(), (4, 3));
    assert_eq!(leftover_after_seed_graph::<StrongOnly<ArcWeak>>(), (4, 3));
}

#[test]
fn a_deep_chain_is_dropped_without_recursion() {
    fn deep<S: Strategy>() {
        let before = live::this_thread::<S>();
        let x = Variable::<S>::from_scalar(1.0);
        let mut y = x.clone();
        for _ in 0..100_000 {
            y = add(&y, &x);
        }
        y.backward().unwrap();
        assert_eq!(scalar_grad(&x), 100_001.0);
        drop(y);
        drop(x);
        assert_eq!(live::this_thread::<S>(), before);
    }
    // A small stack: recursion over 100,000 nodes would overflow it.
    std::thread::Builder::new()
        .stack_size(256 * 1024)
        .spawn(|| {
            deep::<RcWeak>();
            deep::<ArcWeak>();
        })
        .unwrap()
        .join()
        .unwrap();
}

#[test]
fn holding_only_a_creator_keeps_its_inputs_not_its_outputs() {
    let before = live::this_thread::<RcWeak>();
    let x = Variable::<RcWeak>::from_scalar(2.0);
    let y = square(&x);
    let f = y.creator().unwrap();
    drop(y);
    assert!(f.outputs()[0].is_none());
    assert_eq!(f.inputs()[0].item(), Some(2.0));
    drop((f, x));
    assert_eq!(live::this_thread::<RcWeak>(), before);
}

#[test]
fn debug_of_a_leaking_cycle_terminates() {
    let x = Variable::<StrongOnly<RcWeak>>::from_scalar(2.0);
    let y = square(&square(&x));
    let shown = format!("{y:?} {:?}", y.creator().unwrap());
    assert!(shown.contains("StrongOnly<RcWeak>"), "{shown}");
}

#[test]
fn live_counts_see_both_kinds() {
    let before = live::this_thread::<RcWeak>();
    let x = Variable::<RcWeak>::from_scalar(2.0);
    let _y = square(&x);
    let now = live::this_thread::<RcWeak>().since(before);
    assert_eq!((now.variables, now.functions), (2, 1));
    let _ = NodeKind::Function;
}

#[test]
fn arc_weak_variables_are_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Variable<ArcWeak>>();
    assert_send_sync::<Variable<StrongOnly<ArcWeak>>>();
    assert_send_sync::<autograd_core::FunctionNode<ArcWeak>>();
}

#[test]
fn an_arc_weak_graph_moves_between_threads() {
    let x = Variable::<ArcWeak>::from_scalar(3.0);
    let y = std::thread::spawn({
        let x = x.clone();
        move || square(&x)
    })
    .join()
    .unwrap();
    std::thread::spawn(move || y.backward().unwrap())
        .join()
        .unwrap();
    assert_eq!(scalar_grad(&x), 6.0);
}

#[test]
fn the_seed_graph_exports_to_dot_node_by_node() {
    let x = Variable::<RcWeak>::from_array(ArrayD::zeros(vec![10_000])).with_name("x");
    let a = square(&x).with_name("a");
    let b = square(&a).with_name("b");
    let y = square(&b).with_name("y");
    let expected = "\
digraph g {
v0 [label=\"y: (10000,) float64\", shape=ellipse, color=orange, style=filled]
f0 [label=\"Square\", shape=box, color=lightblue, style=filled]
f0 -> v0
v1 [label=\"b: (10000,) float64\", shape=ellipse, color=orange, style=filled]
v1 -> f0
f1 [label=\"Square\", shape=box, color=lightblue, style=filled]
f1 -> v1
v2 [label=\"a: (10000,) float64\", shape=ellipse, color=orange, style=filled]
v2 -> f1
f2 [label=\"Square\", shape=box, color=lightblue, style=filled]
f2 -> v2
v3 [label=\"x: (10000,) float64\", shape=ellipse, color=orange, style=filled]
v3 -> f2
}
";
    assert_eq!(y.to_dot(), expected);
    // A diamond names each node once.
    let d = add(&square(&x), &square(&x));
    let dot = d.to_dot();
    assert_eq!(dot.matches("label=\"x:").count(), 1);
    assert_eq!(dot.matches("Square").count(), 2);
    assert_eq!(dot.matches("-> f").count(), 4);
    drop((a, b));
}

#[test]
fn retaining_skips_outputs_that_received_no_gradient() {
    let x = Variable::<RcWeak>::from_array(array![1.0, 2.0]);
    let outputs = apply(Split, &[&x]).unwrap();
    let y = square(&outputs[0]);
    y.backward_with(BackwardOptions::default().retain_grad(true))
        .unwrap();
    assert!(outputs[0].grad().is_some());
    assert!(outputs[1].grad().is_none());
}

#[test]
fn no_grad_scopes_nest_and_restore_on_early_exit() {
    use autograd_core::{is_grad_enabled, with_no_grad};
    assert!(is_grad_enabled());
    {
        let _outer = no_grad();
        {
            let _inner = no_grad();
            assert!(!is_grad_enabled());
        }
        assert!(!is_grad_enabled()); // the outer scope is still on
    }
    assert!(is_grad_enabled());

    // An early return through `?` ends the scope.
    fn fails_inside() -> Result<(), Error> {
        let _guard = no_grad();
        Err(Error::InputCount {
            op: "test",
            expected: 1,
            got: 0,
        })?;
        Ok(())
    }
    assert!(fails_inside().is_err());
    assert!(is_grad_enabled());

    // So does a panic.
    let caught = std::panic::catch_unwind(|| with_no_grad(|| panic!("inside no_grad")));
    assert!(caught.is_err());
    assert!(is_grad_enabled());

    // The setting is per thread: another thread builds graphs meanwhile.
    let _guard = no_grad();
    let built = std::thread::spawn(|| {
        let x = Variable::<ArcWeak>::from_scalar(2.0);
        !square(&x).is_leaf()
    })
    .join()
    .unwrap();
    assert!(built);
}
