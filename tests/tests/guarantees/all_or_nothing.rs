//! Guarantee: backward is all-or-nothing. On error no gradient changes, on
//! leaves or (when retaining) intermediates; the graph that failed stays
//! usable: once the failing condition is gone, backward on that very graph
//! succeeds, and its interior nodes build new graphs.

use std::sync::atomic::Ordering;

use autograd_ops::prelude::*;
use autograd_ops::{Strategy, apply_one};
use autograd_tests::{Fault, Faulty, nodes, nodes_left};
use ndarray::array;

fn a_failed_backward_changes_nothing_and_the_same_graph_recovers<S: Strategy>() {
    for (fault, expected) in [
        (
            Fault::NoGradient,
            Error::GradientCount {
                op: "Faulty",
                expected: 1,
                got: 0,
            },
        ),
        (
            Fault::TwoGradients,
            Error::GradientCount {
                op: "Faulty",
                expected: 1,
                got: 2,
            },
        ),
        (
            Fault::WrongShape,
            Error::GradientShape {
                op: "Faulty",
                index: 0,
                expected: vec![2],
                got: vec![7, 7],
            },
        ),
        (
            Fault::Fails,
            Error::op_failed("Faulty", "cannot differentiate here"),
        ),
    ] {
        let left = nodes_left::<S, _>(|| {
            let x = Variable::<S>::from_array(array![1.0, 2.0]);
            let w = Variable::<S>::from_array(array![5.0, 5.0]);
            w.backward().unwrap(); // w.grad = [1, 1] before the failure
            let faulty = Faulty::new(fault);
            let switch = faulty.active.clone();
            // y = faulty(x²) + w: backward reaches w before the fault.
            let a = x.square();
            let f = apply_one(faulty, &[&a]).unwrap();
            let y = &f + &w;
            let err = y
                .backward_with(BackwardOptions::default().retain_grad(true))
                .unwrap_err();
            assert_eq!(err, expected);
            assert!(x.grad().is_none() && a.grad().is_none() && y.grad().is_none());
            assert_eq!(w.grad().unwrap(), array![1.0, 1.0].into_dyn());

            // The failing condition gone, the same graph differentiates.
            switch.store(false, Ordering::SeqCst);
            y.backward_with(BackwardOptions::default().retain_grad(true))
                .unwrap();
            assert_eq!(x.grad().unwrap(), array![2.0, 4.0].into_dyn());
            assert_eq!(w.grad().unwrap(), array![2.0, 2.0].into_dyn());
            assert_eq!(a.grad().unwrap(), array![1.0, 1.0].into_dyn());

            // Its interior nodes build new graphs.
            x.cleargrad();
            let z = (&a * &f).sum();
            z.backward().unwrap();
            assert_eq!(x.grad().unwrap(), array![4.0, 32.0].into_dyn()); // d(x⁴)/dx
        });
        if S::FREEING.at_last_handle() {
            assert_eq!(left, nodes(0, 0), "{fault:?}");
        }
    }
}

autograd_mem::test_each_strategy! {
    failed_backward => a_failed_backward_changes_nothing_and_the_same_graph_recovers;
}

#[test]
fn a_failed_create_graph_backward_changes_nothing() {
    let x = Variable::scalar(2.0);
    let y = apply_one(Faulty::new(Fault::Fails), &[&x.square()]).unwrap();
    let err = y
        .backward_with(BackwardOptions::default().create_graph(true))
        .unwrap_err();
    // Faulty's one derivative fails under create_graph as in a first-order pass.
    assert_eq!(err, Error::op_failed("Faulty", "cannot differentiate here"));
    assert!(x.grad().is_none() && x.grad_variable().is_none());
}
