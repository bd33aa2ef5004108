//! Guarantee: `no_grad` scopes compose. Guards nest and may be dropped in
//! any order; once the last is gone graphs are built again, also after an
//! early return or a panic; the setting is per thread.

use autograd_ops::prelude::*;
use autograd_ops::{ArcWeak, RcWeak, Strategy};
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
