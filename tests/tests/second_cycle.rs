//! Guarantee: the second cycle cannot form. Higher-order gradients make a
//! leaf own its gradient, a variable whose graph reads the leaf:
//! `x → x.grad → its creator → … → x`. PyTorch warns that
//! `backward(create_graph=True)` makes this cycle (issues 4661, 78622; 7343
//! for `tanh`). Here no function owns a leaf it reads under `RcWeak` and
//! `ArcWeak` (it keeps the leaf's value and a weak link), so nothing in a
//! gradient's graph owns the leaf: the documented loops leave no node and no
//! byte behind, with no call to `cleargrad`: every strategy that frees on
//! drop is tested. Under `StrongOnly` every link stays strong, as its name
//! says.

use autograd_mem::{Freeing, test_each_strategy};
use autograd_ops::Strategy;
use autograd_ops::prelude::*;
use autograd_testkit::alloc::CountingAlloc;
use autograd_tests::{heap, nodes, nodes_left};

#[global_allocator]
static HEAP: CountingAlloc<std::alloc::System> = CountingAlloc(std::alloc::System);

const ITERATIONS: usize = 1_000;

/// PyTorch issue 7343: `x` a fresh leaf, `y = tanh(x)`, backward with
/// `create_graph`, then `x` and `y` dropped.
fn tanh_loop<S: Strategy>() {
    let once = || {
        let x = Variable::<S>::from_array(ndarray::array![0.5, -1.0]);
        let y = x.tanh();
        y.backward_with(BackwardOptions::default().create_graph(true))
            .unwrap();
        assert!(!x.grad_variable().unwrap().is_leaf());
    };
    once(); // warm up this thread's bookkeeping
    let (left, bytes) = heap::kept(|| nodes_left::<S, _>(|| (0..ITERATIONS).for_each(|_| once())));
    assert_eq!((left, bytes), (nodes(0, 0), 0), "{}", S::KIND.name());
}

/// Newton's method as DeZero's step 33 writes it, from fresh leaves, never
/// clearing the last gradient; and the same with `grad` taking a third
/// derivative.
fn newton_loops<S: Strategy>() {
    let newton = || {
        let x = Variable::<S>::from_scalar(2.0);
        for _ in 0..5 {
            let y = x.pow(4.0) - 2.0 * x.pow(2.0);
            x.cleargrad();
            y.backward_with(BackwardOptions::default().create_graph(true))
                .unwrap();
            let gx = x.grad_variable().unwrap();
            x.cleargrad();
            gx.backward_with(BackwardOptions::default().create_graph(true))
                .unwrap();
            let gx2 = x.grad().unwrap();
            x.set_data(&x.data() - &(&gx.data() / &gx2)).unwrap();
        }
        assert!((x.item().unwrap() - 1.0).abs() < 1e-3);
    };
    let third = || {
        let x = Variable::<S>::from_scalar(0.7);
        let y = x.sin();
        let create = || BackwardOptions::default().create_graph(true);
        let g1 = grad(&[&y], &[&x], create()).unwrap().remove(0);
        let g2 = grad(&[&g1], &[&x], create()).unwrap().remove(0);
        let g3 = grad(&[&g2], &[&x], create()).unwrap().remove(0);
        assert!((g3.item().unwrap() + 0.7f64.cos()).abs() < 1e-12);
    };
    newton();
    third();
    let (left, bytes) = heap::kept(|| {
        nodes_left::<S, _>(|| {
            for _ in 0..ITERATIONS / 10 {
                newton();
                third();
            }
        })
    });
    assert_eq!((left, bytes), (nodes(0, 0), 0), "{}", S::KIND.name());
}

/// The leaf goes while its gradient's graph lives: that graph does not own it.
fn a_leaf_goes_first<S: Strategy>() {
    let mut gx = None;
    let left = nodes_left::<S, _>(|| {
        let x = Variable::<S>::from_scalar(0.5);
        x.tanh()
            .backward_with(BackwardOptions::default().create_graph(true))
            .unwrap();
        gx = x.grad_variable();
    });
    // The gradient's graph is alive and x is not: it does not own x.
    let gx = gx.unwrap();
    assert!(left.variables > 0 && left.functions > 0);
    assert!((gx.item().unwrap() - (1.0 - 0.5f64.tanh().powi(2))).abs() < 1e-12);
    // Differentiating it again still works: the leaf's value was kept.
    gx.backward().unwrap();
    drop(gx);
}

/// Where a back-reference owns its target, the cycle forms.
fn every_link_strong<S: Strategy>() {
    assert_eq!(S::FREEING, Freeing::Never);
    let left = nodes_left::<S, _>(|| {
        let x = Variable::<S>::from_scalar(0.5);
        let y = x.tanh();
        y.backward_with(BackwardOptions::default().create_graph(true))
            .unwrap();
    });
    assert!(left.variables > 2, "{left:?}"); // x, y and the gradient's graph stay
}

test_each_strategy! {
    the_tanh_loop_leaves_nothing => tanh_loop if OnDrop | WithRegion;
    newton_and_third_derivative_loops_leave_nothing => newton_loops if OnDrop | WithRegion;
    a_leaf_goes_while_its_gradient_graph_lives => a_leaf_goes_first if OnDrop | WithRegion;
    strong_only_keeps_every_link_strong => every_link_strong if Never;
}

#[test]
fn retain_grad_with_create_graph_is_refused_rather_than_a_silent_cycle() {
    let x = Variable::scalar(0.5);
    let y = x.tanh();
    let err = y
        .backward_with(
            BackwardOptions::default()
                .create_graph(true)
                .retain_grad(true),
        )
        .unwrap_err();
    assert_eq!(err, Error::RetainGradWithCreateGraph);
    assert!(x.grad().is_none());
}
