//! Bad input through the public API: each case is a clear error (the exact
//! variant) or documented IEEE behaviour, no gradient changes on error, and
//! no node is left behind that would not have been left without the error.

use autograd_mem::live;
use autograd_ops::prelude::*;
use autograd_ops::{Function, RcWeak, SharedArray, apply, apply_one};
use ndarray::{ArrayD, arr0, array};

type V = Variable<RcWeak>;

fn var(a: ArrayD<f64>) -> V {
    V::from_array(a)
}

/// Runs `f`, which must fail, and checks it left no node behind.
fn fails_cleanly(f: impl FnOnce() -> Result<V>) -> Error {
    let start = live::this_thread::<RcWeak>();
    let err = f().expect_err("bad input must fail");
    assert_eq!(
        live::this_thread::<RcWeak>(),
        start,
        "an error left nodes behind: {err}"
    );
    err
}

#[test]
fn shapes_that_do_not_fit_are_errors() {
    let a = var(ArrayD::zeros(vec![2, 3]));
    let b = var(ArrayD::zeros(vec![3, 2]));
    assert_eq!(
        fails_cleanly(|| add(&a, &b)),
        Error::ShapeMismatch {
            op: "Add",
            lhs: vec![2, 3],
            rhs: vec![3, 2]
        }
    );
    assert_eq!(
        fails_cleanly(|| sum_to(&a, &[3, 1])),
        Error::InvalidTarget {
            op: "SumTo",
            from: vec![2, 3],
            to: vec![3, 1]
        }
    );
    assert_eq!(
        fails_cleanly(|| broadcast_to(&a, &[2, 2])),
        Error::InvalidTarget {
            op: "BroadcastTo",
            from: vec![2, 3],
            to: vec![2, 2]
        }
    );
}

#[test]
fn an_output_gradient_of_the_wrong_shape_is_an_error() {
    let x = var(array![1.0, 2.0].into_dyn());
    let y = square(&x).unwrap();
    let err = y
        .backward_with(BackwardOptions::default().with_grad(ArrayD::ones(vec![2, 1])))
        .unwrap_err();
    assert_eq!(
        err,
        Error::SeedShape {
            expected: vec![2],
            got: vec![2, 1]
        }
    );
    assert!(x.grad().is_none());
}

#[test]
fn zero_dimensional_and_empty_arrays_work() {
    let s = var(arr0(3.0).into_dyn());
    let y = square(&s).unwrap();
    y.backward().unwrap();
    assert_eq!((s.ndim(), s.grad().unwrap()), (0, arr0(6.0).into_dyn()));

    let e = var(ArrayD::zeros(vec![0, 4]));
    assert!(e.is_empty());
    let y = sum(&square(&e).unwrap()).unwrap();
    assert_eq!(y.item(), Some(0.0));
    y.backward().unwrap();
    assert_eq!(e.grad().unwrap().shape(), &[0, 4]);
}

#[test]
fn extreme_values_follow_ieee_754() {
    let x = var(array![1e200, 1e-200, f64::NAN, f64::INFINITY, -f64::INFINITY, 0.0].into_dyn());
    let y = square(&x).unwrap();
    y.backward().unwrap();
    let (v, g) = (y.data(), x.grad().unwrap());
    assert_eq!(v[0], f64::INFINITY); // overflow
    assert_eq!(v[1], 0.0); // underflow
    assert!(v[2].is_nan() && g[2].is_nan());
    assert_eq!((v[3], g[3]), (f64::INFINITY, f64::INFINITY));
    assert_eq!((v[4], g[4]), (f64::INFINITY, -f64::INFINITY));
    assert_eq!(g[5], 0.0);
    // log of zero and of a negative number, division by zero
    let z = var(array![0.0, -1.0].into_dyn());
    let l = log(&z).unwrap();
    assert_eq!(l.data()[0], f64::NEG_INFINITY);
    assert!(l.data()[1].is_nan());
    let q = div(&var(array![1.0].into_dyn()), &var(array![0.0].into_dyn())).unwrap();
    assert_eq!(q.data()[0], f64::INFINITY);
}

#[test]
fn backward_on_a_leaf_twice_and_after_cleargrad() {
    let x = var(array![1.0, 2.0].into_dyn());
    x.backward().unwrap();
    x.backward().unwrap();
    assert_eq!(x.grad().unwrap(), array![2.0, 2.0].into_dyn());
    x.cleargrad();
    assert!(x.grad().is_none());
    x.backward().unwrap();
    assert_eq!(x.grad().unwrap(), array![1.0, 1.0].into_dyn());
}

#[test]
fn a_variable_as_both_inputs_and_in_several_branches() {
    let x = var(arr0(3.0).into_dyn());
    // y = x·x + (x + x)² + x  →  dy/dx = 2x + 8x + 1 = 31
    let y = &(&(&x * &x) + &(&x + &x).square()) + &x;
    y.backward().unwrap();
    assert_eq!(y.item(), Some(9.0 + 36.0 + 3.0));
    assert_eq!(x.grad().unwrap().sum(), 31.0);
}

/// A user-written op that misbehaves in one of the ways the engine checks.
struct Broken(&'static str);

impl Function for Broken {
    fn name(&self) -> &'static str {
        "Broken"
    }
    fn num_inputs(&self) -> usize {
        1
    }
    fn forward(&mut self, xs: &[SharedArray]) -> Result<Vec<SharedArray>> {
        let y = xs[0].clone();
        Ok(if self.0 == "two outputs" {
            vec![y.clone(), y]
        } else {
            vec![y]
        })
    }
    fn backward(&self, _xs: &[SharedArray], gys: Vec<ArrayD<f64>>) -> Result<Vec<ArrayD<f64>>> {
        Ok(match self.0 {
            "no gradient" => vec![],
            "two gradients" => vec![gys[0].clone(), gys[0].clone()],
            "wrong shape" => vec![ArrayD::zeros(vec![5])],
            _ => gys,
        })
    }
}

#[test]
fn a_misbehaving_user_op_is_an_error_and_the_graph_stays_usable() {
    assert_eq!(
        fails_cleanly(|| apply_one(Broken("two outputs"), &[&var(arr0(1.0).into_dyn())])),
        Error::OutputCount {
            op: "Broken",
            expected: 1,
            got: 2
        }
    );
    assert!(apply(Broken("two outputs"), &[&var(arr0(1.0).into_dyn())]).is_err());

    for (fault, expected) in [
        (
            "no gradient",
            Error::GradientCount {
                op: "Broken",
                expected: 1,
                got: 0,
            },
        ),
        (
            "two gradients",
            Error::GradientCount {
                op: "Broken",
                expected: 1,
                got: 2,
            },
        ),
        (
            "wrong shape",
            Error::GradientShape {
                op: "Broken",
                index: 0,
                expected: vec![2],
                got: vec![5],
            },
        ),
    ] {
        let start = live::this_thread::<RcWeak>();
        {
            let x = var(array![1.0, 2.0].into_dyn());
            let w = var(array![3.0, 4.0].into_dyn());
            let y = &apply_one(Broken(fault), &[&x.square()]).unwrap() + &w;
            let err = y
                .backward_with(BackwardOptions::default().retain_grad(true))
                .unwrap_err();
            assert_eq!(err, expected);
            assert!(x.grad().is_none() && w.grad().is_none() && y.grad().is_none());
            // The same graph differentiates through its healthy part.
            let z = &x.square() + &w;
            z.backward().unwrap();
            assert_eq!(x.grad().unwrap(), array![2.0, 4.0].into_dyn());
        }
        assert_eq!(live::this_thread::<RcWeak>(), start);
    }
}

#[test]
fn set_data_keeps_the_shape_so_backward_stays_valid() {
    let x = var(array![1.0, 2.0, 3.0].into_dyn());
    let w = var(array![1.0, 1.0, 1.0].into_dyn());
    let z = &x * &w;
    assert_eq!(
        w.set_data(array![1.0, 2.0, 3.0, 4.0]),
        Err(Error::SetDataShape {
            expected: vec![3],
            got: vec![4]
        })
    );
    assert_eq!(w.data(), array![1.0, 1.0, 1.0].into_dyn().into_shared());
    // A same-shape update is what an optimizer step does; backward reads it.
    w.set_data(array![2.0, 2.0, 2.0]).unwrap();
    z.backward().unwrap();
    assert_eq!(x.grad().unwrap(), array![2.0, 2.0, 2.0].into_dyn());
}
