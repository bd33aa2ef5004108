//! Guarantee: `no_grad` scopes compose. Guards nest and may be dropped in
//! any order; once the last is gone graphs are built again, also after an
//! early return or a panic; the setting is per thread. The innermost scope
//! wins: a `create_graph` backward records inside `no_grad`, and a
//! `no_grad` inside an op's recorded backward builds no graph.

use autograd_ops::prelude::*;
use autograd_ops::{
    ArcWeak, Function, Grads, RcWeak, Saved, Strategy, Tensor, Tensors, apply_one, mul,
};
use autograd_tests::{nodes, nodes_left};

fn builds_a_graph() -> bool {
    let x = Variable::<RcWeak>::from_scalar(2.0);
    !x.square().is_leaf()
}

#[test]
fn guards_dropped_out_of_order_restore_the_state_before_the_first() {
    // Issue 8, defect 2: this left graph building on while `b` was alive,
    // and off for good after both were gone.
    let a = no_grad();
    let b = no_grad();
    drop(a);
    assert!(!is_grad_enabled() && !builds_a_graph());
    drop(b);
    assert!(is_grad_enabled() && builds_a_graph());
}

#[test]
fn nested_scopes_restore_on_early_return_and_panic() {
    {
        let _outer = no_grad();
        {
            let _inner = no_grad();
            assert!(!is_grad_enabled());
        }
        assert!(!is_grad_enabled()); // the outer scope is still on
    }
    assert!(is_grad_enabled());

    fn fails_inside() -> Result<()> {
        let _guard = no_grad();
        Err(Error::op_failed("test", "early return"))?;
        Ok(())
    }
    assert!(fails_inside().is_err());
    assert!(is_grad_enabled());

    let caught = std::panic::catch_unwind(|| with_no_grad(|| panic!("inside no_grad")));
    assert!(caught.is_err());
    assert!(is_grad_enabled());
}

#[test]
fn the_setting_is_per_thread() {
    let _guard = no_grad();
    let built = std::thread::spawn(|| {
        let x = Variable::<ArcWeak>::from_scalar(2.0);
        !x.square().is_leaf()
    })
    .join()
    .unwrap();
    assert!(built);
    assert!(!builds_a_graph());
}

fn no_grad_builds_no_node<S: Strategy>() {
    let x = Variable::<S>::from_scalar(3.0);
    let mut y = None;
    let left = nodes_left::<S, _>(|| {
        let _guard = no_grad();
        y = Some(x.square().square());
    });
    let y = y.unwrap();
    assert_eq!(left, nodes(1, 0)); // the output, a leaf
    assert_eq!(y.item(), Some(81.0));
    assert!(y.is_leaf());
}

autograd_mem::test_each_strategy! {
    builds_nothing => no_grad_builds_no_node;
}

#[test]
fn create_graph_records_even_inside_no_grad() {
    let x = Variable::scalar(3.0);
    let y = x.square();
    let _guard = no_grad();
    y.backward_with(BackwardOptions::default().create_graph(true))
        .unwrap();
    let gx = x.grad_variable().unwrap();
    assert!(!gx.is_leaf(), "the gradient has a graph");
    assert!(!is_grad_enabled()); // and the scope is still on
}

/// `y = x·k` with `k` the value of `x` taken as a constant (a "stop
/// gradient"): its recorded backward builds `k` inside `no_grad`.
struct TimesItselfAsAConstant;

impl<S: Strategy> Function<S> for TimesItselfAsAConstant {
    fn name(&self) -> &'static str {
        "TimesItselfAsAConstant"
    }
    fn num_inputs(&self) -> usize {
        1
    }
    fn forward(&mut self, xs: &[Tensor]) -> Result<Tensors> {
        Ok(xs[0]
            .zip_with("TimesItselfAsAConstant", &xs[0], |a, b| a * b)?
            .into())
    }
    fn derivative(&self, cx: &Saved<'_, S>, gys: &[Variable<S>]) -> Result<Grads<S>> {
        let recording = is_grad_enabled();
        let k = {
            let _constant = no_grad();
            assert!(!is_grad_enabled(), "the innermost scope wins");
            mul(&cx.input(0)?, &Variable::from_scalar(1.0))?
        };
        assert!(k.is_leaf(), "built inside no_grad: no graph");
        assert_eq!(is_grad_enabled(), recording, "as before the inner scope");
        Ok(vec![Some(mul(&gys[0], &k)?)])
    }
}

#[test]
fn no_grad_inside_an_ops_recorded_backward_makes_a_constant() {
    // Issue 14, defect 6: the recording pass won over the inner `no_grad`,
    // so `k` was differentiated and the second derivative was 1.
    let x = Variable::scalar(3.0);
    let y = apply_one(TimesItselfAsAConstant, &[&x]).unwrap();
    y.backward_with(BackwardOptions::default().create_graph(true))
        .unwrap();
    let gx = x.grad_variable().unwrap();
    assert_eq!(gx.item(), Some(3.0));
    x.cleargrad();
    gx.backward().unwrap();
    // `k` is a constant: the gradient's graph does not reach `x` at all.
    assert_eq!(x.grad(), None);
}
