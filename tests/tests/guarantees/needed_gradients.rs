//! Guarantee: backward computes only the gradients someone can receive. A
//! constant ([`Variable::constant`]: a data batch) needs none, an op on
//! constants alone records nothing, and an op is told which of its inputs
//! need gradients and computes only those (a leaf that is gone needs none);
//! variables made as before (`Variable::new`, `from_array`, a `no_grad`
//! output, `detach`) need gradients as they always did.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use autograd_mem::test_each_strategy;
use autograd_ops::prelude::*;
use autograd_ops::{RcWeak, Strategy, StrongOnly, apply_one};
use autograd_tests::Masked;
use ndarray::{Array2, array};

type V = Variable<RcWeak>;

#[test]
fn a_constant_receives_no_gradient_and_its_partner_the_right_one() {
    let data = Variable::constant(array![[1.0, 2.0], [3.0, 4.0]]);
    let w = Variable::new(array![[0.5], [-1.0]]);
    assert!(!data.requires_grad() && w.requires_grad());
    let y = matmul(&data, &w).unwrap().sum();
    assert!(y.requires_grad());
    y.backward().unwrap();
    assert!(data.grad().is_none());
    // d/dw Σ(data·w) = column sums of data
    assert_eq!(w.grad().unwrap(), array![[4.0], [6.0]].into_dyn());
}

#[test]
fn an_op_on_constants_alone_records_nothing_and_gives_a_constant() {
    let a = V::constant_from_array(array![1.0, 2.0]);
    let b = V::constant_from_array(array![3.0, 4.0]);
    let y = (&a * &b).exp();
    assert!(y.is_leaf() && y.creator().is_none() && !y.requires_grad());
    assert_eq!(y.data(), array![3.0_f64.exp(), 8.0_f64.exp()].into_dyn());
    assert_eq!(y.backward().unwrap_err(), Error::BackwardOfConstant);
}

#[test]
fn scalar_operands_of_the_operators_are_constants() {
    // Under `StrongOnly` the graph keeps the literal's leaf, to look at.
    let x = Variable::<StrongOnly<RcWeak>>::from_array(array![1.0, 2.0]);
    let y = &x * 3.0;
    let inputs = y.creator().unwrap().inputs();
    let literal = inputs[1].as_ref().unwrap();
    assert!(!literal.requires_grad());
    y.backward().unwrap();
    assert!(literal.grad().is_none());
    assert_eq!(x.grad().unwrap(), array![3.0, 3.0].into_dyn());
}

#[test]
fn variables_made_as_before_still_need_gradients() {
    let x = V::from_array(array![1.0]);
    let from_no_grad = with_no_grad(|| x.square());
    for v in [&x, &from_no_grad, &V::from_scalar(1.0)] {
        assert!(v.requires_grad());
        v.square().backward().unwrap();
        assert!(v.grad().is_some());
    }
}

/// PyTorch's `detach`: a leaf sharing the value, needing no gradient.
#[test]
fn a_detached_variable_needs_no_gradient() {
    let x = V::from_array(array![2.0, 3.0]);
    let d = x.square().detach();
    assert!(d.is_leaf() && !d.requires_grad());
    assert_eq!(d.data(), array![4.0, 9.0].into_dyn());
    let y = (&d * &x).sum();
    y.backward().unwrap();
    assert_eq!(x.grad().unwrap(), array![4.0, 9.0].into_dyn());
    assert!(d.grad().is_none());
}

/// What `Masked`'s derivative computed for inputs 0 and 1, with `x0` and
/// `x1` made by `make`, after a backward with `create_graph` or not.
fn computed<S: Strategy>(
    make: [fn(Array2<f64>) -> Variable<S>; 2],
    drop_first: bool,
    create_graph: bool,
) -> [usize; 2] {
    let counts = Arc::new([AtomicUsize::new(0), AtomicUsize::new(0)]);
    let op = Masked {
        computed: Some(Arc::clone(&counts)),
    };
    let x0 = make[0](array![[0.5, 1.5, 2.0]]);
    let x1 = make[1](array![[1.0, 2.0, 3.0]]);
    let y = apply_one(op, &[&x0, &x1]).unwrap();
    if drop_first {
        drop(x0); // a leaf nobody can read the gradient of any more
    }
    y.backward_with(BackwardOptions::default().create_graph(create_graph))
        .unwrap();
    if x1.requires_grad() {
        // The gradients are right as well as few.
        assert_eq!(x1.grad().unwrap(), array![[2.0, 4.0, 6.0]].into_dyn());
    }
    [0, 1].map(|i| counts[i].load(Ordering::SeqCst))
}

/// Under every strategy and for both kinds of pass: both gradients when
/// both inputs need one, only the other's when one is a constant, and none
/// for a leaf that is gone (only under the weak strategies, where a graph
/// does not own the leaves it reads).
fn only_needed_gradients<S: Strategy>() {
    let new: fn(Array2<f64>) -> Variable<S> = Variable::from_array;
    let constant: fn(Array2<f64>) -> Variable<S> = Variable::constant_from_array;
    for create_graph in [false, true] {
        assert_eq!(computed([new, new], false, create_graph), [1, 1]);
        assert_eq!(computed([constant, new], false, create_graph), [0, 1]);
        assert_eq!(computed([new, constant], false, create_graph)[1], 0);
        let gone = computed([new, new], true, create_graph);
        match S::BACK_OWNS {
            false => assert_eq!(gone, [0, 1], "{}", S::KIND.name()),
            true => assert_eq!(gone, [1, 1], "{}", S::KIND.name()),
        }
    }
}

test_each_strategy! {
    an_op_computes_only_the_gradients_its_inputs_can_receive => only_needed_gradients;
}
