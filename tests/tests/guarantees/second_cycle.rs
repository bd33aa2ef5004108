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
use autograd_tests::{heap, nodes, nodes_left};

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

/// Issue 28, item 4: a leaf cut into one is a leaf too. `h` is unchained
/// after a function read it, so that function held it as an intermediate;
/// a `create_graph` backward stores a gradient graph on `h` that reads `y`
/// (tanh's saved output), whose creator reads `h`: the cycle
/// `h → h.grad → … → y → tanh → h`, unless backward holds `h` as the leaf
/// it is once it meets it.
///
/// Under `Region` `h` stays in the region it was made in, with `y`, which
/// its gradient's graph reads: storing that gradient on `h` would make the
/// region own itself, so backward refuses (`Error::GradientCycle`) and
/// stores nothing; `grad` returns the same gradient without storing it.
fn an_unchained_leaf_goes<S: Strategy>() {
    let once = || {
        let x = Variable::<S>::from_array(ndarray::array![0.5, -1.0]);
        let h = x.square();
        let y = h.tanh();
        h.unchain();
        let stored = y
            .sum()
            .backward_with(BackwardOptions::default().create_graph(true));
        match S::FREEING {
            Freeing::OnDrop => {
                stored.unwrap();
                assert!(!h.grad_variable().unwrap().is_leaf() && x.grad().is_none());
            }
            Freeing::WithRegion => {
                assert_eq!(stored, Err(Error::GradientCycle { shape: vec![2] }));
                assert!(h.grad().is_none());
                let options = BackwardOptions::default().create_graph(true);
                let gh = grad(&[&y.sum()], &[&h], options).unwrap().remove(0);
                assert!(!gh.is_leaf());
            }
            other => panic!("no promise for {other:?}"),
        }
    };
    once();
    let (left, bytes) = heap::kept(|| nodes_left::<S, _>(|| (0..100).for_each(|_| once())));
    assert_eq!((left, bytes), (nodes(0, 0), 0), "{}", S::KIND.name());
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
    an_unchained_leaf_goes_while_its_gradient_graph_lives => an_unchained_leaf_goes if OnDrop | WithRegion;
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
