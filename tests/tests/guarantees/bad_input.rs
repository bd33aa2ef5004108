//! Guarantee: bad input is an `Err` naming the op and the shapes, never a
//! panic and never silent garbage; a failed application leaves no node
//! behind. Element counts from a user are checked arithmetic. The operators
//! and methods panic like ndarray's (their message is the error's), with
//! `try_` twins that return it.

use autograd_ops::prelude::*;
use autograd_ops::{
    Function, Grads, RcWeak, Save, Saved, Strategy, StrongOnly, Tensor, Tensors, apply, apply_one,
};
use autograd_tests::{Fault, Faulty, Split, nodes, nodes_left, panic_message};
use ndarray::{ArrayD, arr0, array};

type V = Variable<RcWeak>;

fn var(a: ArrayD<f64>) -> V {
    V::from_array(a)
}

/// Runs `f`, which must fail, and checks it left no node behind (under a
/// strategy that would keep any node it made).
fn fails_cleanly(
    f: impl Fn(&[Variable<StrongOnly<RcWeak>>]) -> Result<Variable<StrongOnly<RcWeak>>>,
    inputs: &[ArrayD<f64>],
) -> Error {
    let vars: Vec<_> = inputs.iter().cloned().map(Variable::from_array).collect();
    let mut err = None;
    let left = nodes_left::<StrongOnly<RcWeak>, _>(|| {
        err = Some(f(&vars).expect_err("bad input must fail"))
    });
    assert_eq!(left, nodes(0, 0), "a failed application left nodes behind");
    err.expect("an error")
}

#[test]
fn shapes_that_do_not_fit_are_errors_naming_the_op_and_shapes() {
    let (a, b) = (ArrayD::zeros(vec![2, 3]), ArrayD::zeros(vec![4]));
    let ab = [a.clone(), b.clone()];
    let mismatch = |op| Error::ShapeMismatch {
        op,
        lhs: vec![2, 3],
        rhs: vec![4],
    };
    assert_eq!(fails_cleanly(|x| add(&x[0], &x[1]), &ab), mismatch("add"));
    assert_eq!(fails_cleanly(|x| sub(&x[0], &x[1]), &ab), mismatch("sub"));
    assert_eq!(fails_cleanly(|x| mul(&x[0], &x[1]), &ab), mismatch("mul"));
    assert_eq!(fails_cleanly(|x| div(&x[0], &x[1]), &ab), mismatch("div"));
    assert_eq!(
        fails_cleanly(|x| matmul(&x[0], &x[1]), &ab),
        mismatch("matmul")
    );
    let invalid = |op, to: &[usize]| Error::InvalidTarget {
        op,
        from: vec![2, 3],
        to: to.to_vec(),
    };
    let one = [a.clone()];
    assert_eq!(
        fails_cleanly(|x| sum_to(&x[0], &[3, 1]), &one),
        invalid("sum_to", &[3, 1])
    );
    assert_eq!(
        fails_cleanly(|x| sum_to(&x[0], &[1, 2, 3]), &one),
        invalid("sum_to", &[1, 2, 3])
    );
    assert_eq!(
        fails_cleanly(|x| broadcast_to(&x[0], &[2, 2]), &one),
        invalid("broadcast_to", &[2, 2])
    );
    assert_eq!(
        fails_cleanly(|x| reshape(&x[0], &[4]), &one),
        invalid("reshape", &[4])
    );
    assert_eq!(
        fails_cleanly(|x| sum_axis(&x[0], 2, false), &one),
        Error::InvalidAxis {
            op: "sum",
            axis: 2,
            shape: vec![2, 3]
        }
    );
    assert_eq!(
        mismatch("add").to_string(),
        "add: shapes [2, 3] and [4] are incompatible"
    );
}

#[test]
fn sum_to_more_axes_than_its_input_is_an_error_for_one_element_too() {
    // Issue 14, defect 7: one-element inputs took a fast path that grew
    // axes, and backward through such a graph failed later.
    for (from, to) in [
        (vec![], vec![1]),
        (vec![1], vec![1, 1]),
        (vec![1], vec![1, 1, 1]),
        (vec![2], vec![1, 2]),
    ] {
        let x = [ArrayD::zeros(from.clone())];
        assert_eq!(
            fails_cleanly(|x| sum_to(&x[0], &to), &x),
            Error::InvalidTarget {
                op: "sum_to",
                from: from.clone(),
                to: to.clone()
            }
        );
    }
    // Fewer axes is a sum, even of one element.
    let x = var(ArrayD::from_elem(vec![1, 1], 4.0));
    assert_eq!(sum_to(&x, &[1]).unwrap().shape(), vec![1]);
    assert_eq!(sum_to(&x, &[]).unwrap().item(), Some(4.0));
}

#[test]
fn reductions_of_empty_arrays_to_unallocatable_shapes_are_errors() {
    // Issue 14, defect 8: these panicked with "capacity overflow".
    let huge = 1usize << 61;
    let x = [ArrayD::zeros(vec![0, huge])];
    assert_eq!(
        fails_cleanly(|x| sum_axis(&x[0], 0, false), &x),
        Error::TooLarge {
            op: "sum",
            shape: vec![huge]
        }
    );
    assert_eq!(
        fails_cleanly(|x| sum_to(&x[0], &[1, huge]), &x),
        Error::TooLarge {
            op: "sum_to",
            shape: vec![1, huge]
        }
    );
    // To a shape that fits, the sum of nothing is zeros.
    let x = var(ArrayD::zeros(vec![0, huge]));
    assert_eq!(
        sum_to(&x, &[1, 1]).unwrap().data(),
        ArrayD::<f64>::zeros(vec![1, 1])
    );
    assert_eq!(sum(&x).unwrap().item(), Some(0.0));
    let y = var(ArrayD::zeros(vec![3, 0]));
    assert_eq!(
        sum_axis(&y, 1, true).unwrap().data(),
        ArrayD::<f64>::zeros(vec![3, 1])
    );
}

#[test]
fn element_counts_that_overflow_are_errors_not_panics() {
    // Issue 8, defect 4: this broadcast panicked with "capacity overflow".
    let x = [arr0(1.0).into_dyn()];
    let huge = [1usize << 31, 1 << 31];
    assert_eq!(
        fails_cleanly(|x| broadcast_to(&x[0], &huge), &x),
        Error::TooLarge {
            op: "broadcast_to",
            shape: huge.to_vec()
        }
    );
    assert!(matches!(
        fails_cleanly(|x| broadcast_to(&x[0], &[usize::MAX]), &x),
        Error::TooLarge { .. }
    ));
    assert_eq!(
        fails_cleanly(|x| reshape(&x[0], &[1 << 40, 1 << 40]), &x),
        Error::TooLarge {
            op: "reshape",
            shape: vec![1 << 40, 1 << 40]
        }
    );
    // Empty operands whose product shape is too large to hold.
    let (a, b) = (
        ArrayD::zeros(vec![1 << 33, 0]),
        ArrayD::zeros(vec![0, 1 << 33]),
    );
    assert_eq!(
        fails_cleanly(|x| matmul(&x[0], &x[1]), &[a, b]),
        Error::TooLarge {
            op: "matmul",
            shape: vec![1 << 33, 1 << 33]
        }
    );
    // (1, 0) and (0, 1) broadcast to (0, 0): empty, fine.
    let (row, col) = (ArrayD::zeros(vec![1, 0]), ArrayD::zeros(vec![0, 1]));
    assert_eq!(add(&var(row), &var(col)).unwrap().shape(), vec![0, 0]);
    let x = var(ArrayD::zeros(vec![1, 2]));
    let y = var(ArrayD::<f64>::zeros(vec![1, 1]));
    assert!(matches!(
        broadcast_to(&y, &[1 << 62, 1]),
        Err(Error::TooLarge { .. })
    ));
    assert!(sum_to(&x, &[usize::MAX, 2]).is_err());
}

#[test]
fn an_op_that_decides_in_forward_to_return_nothing_is_an_error_for_apply_one() {
    /// Returns as many outputs as forward decides (none here).
    struct Unbind {
        outputs: usize,
    }
    impl<S: Strategy> Function<S> for Unbind {
        fn name(&self) -> &'static str {
            "Unbind"
        }
        fn num_inputs(&self) -> usize {
            1
        }
        fn num_outputs(&self) -> usize {
            self.outputs
        }
        fn forward(&mut self, _xs: &[Tensor]) -> Result<Tensors> {
            self.outputs = 0;
            Ok(Tensors::new())
        }
        fn derivative(&self, _cx: &Saved<'_, S>, _gys: &[Variable<S>]) -> Result<Grads<S>> {
            Ok(vec![None])
        }
    }
    // Issue 8, defect 3: this panicked at `swap_remove`.
    let x = [arr0(1.0).into_dyn()];
    assert_eq!(
        fails_cleanly(|x| apply_one(Unbind { outputs: 1 }, &[&x[0]]), &x),
        Error::OutputCount {
            op: "Unbind",
            expected: 1,
            got: 0
        }
    );
    // `apply` takes it: no outputs, nothing recorded.
    let x = var(arr0(1.0).into_dyn());
    assert!(apply(Unbind { outputs: 1 }, &[&x]).unwrap().is_empty());
}

#[test]
fn counts_that_differ_from_what_an_op_declares_are_errors() {
    let x = [arr0(1.0).into_dyn()];
    assert_eq!(
        fails_cleanly(|x| apply_one(Split, &[&x[0], &x[0]]), &x),
        Error::InputCount {
            op: "Split",
            expected: 1,
            got: 2
        }
    );
    assert_eq!(
        fails_cleanly(|x| apply_one(Split, &[&x[0]]), &x),
        Error::OutputCount {
            op: "Split",
            expected: 1,
            got: 2
        }
    );
    assert_eq!(
        fails_cleanly(
            |x| apply_one(Faulty::new(Fault::TooManyOutputs), &[&x[0]]),
            &x
        ),
        Error::OutputCount {
            op: "Faulty",
            expected: 1,
            got: 2
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
        Error::OutputGradShape {
            expected: vec![2],
            got: vec![2, 1]
        }
    );
    assert!(x.grad().is_none());
}

#[test]
fn set_data_keeps_the_shape_and_only_replaces_a_leaf() {
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
    assert_eq!(
        z.set_data(array![0.0, 0.0, 0.0]),
        Err(Error::NotLeaf { op: "set_data" })
    );
    assert_eq!(w.data(), array![1.0, 1.0, 1.0].into_dyn());
    // A same-shape update is what an optimizer step does. The graph built
    // before keeps the value it read: its backward is still the derivative
    // of what its forward computed.
    w.set_data(array![2.0, 2.0, 2.0]).unwrap();
    z.backward().unwrap();
    assert_eq!(x.grad().unwrap(), array![1.0, 1.0, 1.0].into_dyn());
    x.cleargrad();
    (&x * &w).backward().unwrap();
    assert_eq!(x.grad().unwrap(), array![2.0, 2.0, 2.0].into_dyn());
}

#[test]
fn zero_dimensional_and_empty_arrays_work() {
    let s = var(arr0(3.0).into_dyn());
    square(&s).unwrap().backward().unwrap();
    assert_eq!(
        (s.ndim(), s.grad().unwrap()),
        (0, arr0(6.0).into_dyn().into_shared())
    );

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
    let z = var(array![0.0, -1.0].into_dyn());
    let l = log(&z).unwrap();
    assert_eq!(l.data()[0], f64::NEG_INFINITY);
    assert!(l.data()[1].is_nan());
    let q = div(&var(array![1.0].into_dyn()), &var(array![0.0].into_dyn())).unwrap();
    assert_eq!(q.data()[0], f64::INFINITY);
}

#[test]
fn operators_and_methods_panic_with_the_error_and_try_twins_return_it() {
    let a = var(array![1.0, 2.0].into_dyn());
    let b = var(array![1.0, 2.0, 3.0].into_dyn());
    assert_eq!(
        panic_message(|| drop(&a * &b)),
        "mul: shapes [2] and [3] are incompatible"
    );
    assert_eq!(
        panic_message(|| drop(a.clone() + b.clone())),
        "add: shapes [2] and [3] are incompatible"
    );
    assert_eq!(
        panic_message(|| drop(a.reshape(&[3]))),
        "reshape: cannot turn shape [2] into shape [3]"
    );
    assert_eq!(a.try_add(&b).unwrap_err(), add(&a, &b).unwrap_err());
    assert_eq!(
        a.try_reshape(&[3]).unwrap_err(),
        reshape(&a, &[3]).unwrap_err()
    );
    assert_eq!(a.try_matmul(&b).unwrap_err(), matmul(&a, &b).unwrap_err());
}

#[test]
fn a_user_op_fails_in_its_own_words() {
    let x = var(arr0(1.0).into_dyn());
    let y = apply_one(Faulty::new(Fault::Fails), &[&x]).unwrap();
    let err = y.backward().unwrap_err();
    assert_eq!(err, Error::op_failed("Faulty", "cannot differentiate here"));
    assert_eq!(err.to_string(), "Faulty: cannot differentiate here");
}

/// An op of the one-derivative shape that gets its declaration wrong: it
/// reads an input it did not save, or saves one that does not exist.
struct Undeclared {
    fault: &'static str,
}

impl<S: Strategy> Function<S> for Undeclared {
    fn name(&self) -> &'static str {
        "Undeclared"
    }
    fn num_inputs(&self) -> usize {
        1
    }
    fn forward(&mut self, xs: &[Tensor]) -> Result<Tensors> {
        Ok(xs[0].map(|x| x * x).into())
    }
    fn save(&mut self, save: &mut Save<'_>) {
        if self.fault == "saves input 3" {
            save.input(3);
        }
    }
    fn derivative(&self, cx: &Saved<'_, S>, gys: &[Variable<S>]) -> Result<Grads<S>> {
        Ok(vec![Some(mul(&gys[0], &cx.input(0)?)?)])
    }
}

#[test]
fn an_op_that_reads_what_it_did_not_save_is_an_error_and_writes_no_gradient() {
    for create_graph in [false, true] {
        let x = var(array![1.0, 2.0].into_dyn());
        let y = apply_one(
            Undeclared {
                fault: "reads input 0",
            },
            &[&x],
        )
        .unwrap();
        let z = (&y + &x).sum();
        let options = BackwardOptions::default().create_graph(create_graph);
        assert_eq!(
            z.backward_with(options).unwrap_err(),
            Error::NotSaved {
                op: "Undeclared",
                what: "input",
                index: 0,
                count: 1
            }
        );
        assert!(x.grad().is_none(), "all or nothing");
    }
}

#[test]
fn an_op_that_saves_an_input_it_does_not_have_fails_to_apply() {
    let x = [array![1.0].into_dyn()];
    assert_eq!(
        fails_cleanly(
            |x| apply_one(
                Undeclared {
                    fault: "saves input 3"
                },
                &[&x[0]]
            ),
            &x
        ),
        Error::NotSaved {
            op: "Undeclared",
            what: "input",
            index: 3,
            count: 1
        }
    );
}

/// Every op of the classifier set names itself and what is wrong, never
/// panics: axes out of range, labels, counts, ranks, bounds, indices,
/// ranges, shapes; and the composite `mean_squared_error` names itself,
/// not the `sub` it is made of.
#[test]
fn the_classifier_ops_name_themselves_in_their_errors() {
    use autograd_ops::{index_add, leaky_relu};
    let m = var(ArrayD::zeros(vec![2, 3]));
    let axis = |op: &'static str| Error::InvalidAxis {
        op,
        axis: 2,
        shape: vec![2, 3],
    };
    assert_eq!(mean_axis(&m, 2, false).unwrap_err(), axis("mean_axis"));
    assert_eq!(max_axis(&m, 2, true).unwrap_err(), axis("max_axis"));
    assert_eq!(min_axis(&m, 2, true).unwrap_err(), axis("min_axis"));
    assert_eq!(logsumexp(&m, 2, true).unwrap_err(), axis("logsumexp"));
    assert_eq!(softmax(&m, 2).unwrap_err(), axis("softmax"));
    assert_eq!(log_softmax(&m, 2).unwrap_err(), axis("log_softmax"));
    assert_eq!(index_select(&m, 2, &[0]).unwrap_err(), axis("index_select"));
    assert_eq!(narrow(&m, 2, 0, 1).unwrap_err(), axis("narrow"));
    assert_eq!(concat(&[&m, &m], 2).unwrap_err(), axis("concat"));
    assert_eq!(argmax(&m, 2).unwrap_err(), axis("argmax"));
    assert_eq!(
        softmax_cross_entropy(&m, &[0, 3]).unwrap_err(),
        Error::LabelOutOfRange {
            op: "softmax_cross_entropy",
            label: 3,
            classes: 3
        }
    );
    assert_eq!(
        softmax_cross_entropy(&m, &[0, 1, 2]).unwrap_err(),
        Error::LabelCount {
            op: "softmax_cross_entropy",
            labels: 3,
            batch: 2
        }
    );
    let empty_axis = var(ArrayD::zeros(vec![2, 0]));
    assert_eq!(
        max_axis(&empty_axis, 1, false).unwrap_err(),
        Error::EmptyAxis {
            op: "max_axis",
            axis: 1,
            shape: vec![2, 0]
        }
    );
    assert!(mean(&empty_axis).unwrap().item().unwrap().is_nan());
    assert!(matches!(
        clip(&m, 1.0, 0.0),
        Err(Error::InvalidArgument { op: "clip", .. })
    ));
    assert!(matches!(
        index_add(&m, 0, &[0, 5], 3),
        Err(Error::IndexOutOfRange {
            op: "index_add",
            index: 5,
            ..
        })
    ));
    assert!(matches!(
        narrow(&m, 1, 2, 5),
        Err(Error::RangeOutOfBounds { op: "narrow", .. })
    ));
    assert!(matches!(
        linear(&m, &m, None),
        Err(Error::ShapeMismatch { op: "linear", .. })
    ));
    assert!(matches!(
        maximum(&m, &var(ArrayD::zeros(vec![4]))),
        Err(Error::ShapeMismatch { op: "maximum", .. })
    ));
    assert!(matches!(
        mean_squared_error(&m, &var(ArrayD::zeros(vec![3, 2]))),
        Err(Error::ShapeMismatch {
            op: "mean_squared_error",
            ..
        })
    ));
    // A 0-d input has no axis to take: an error, not a panic.
    let scalar = var(arr0(1.0).into_dyn());
    for result in [
        softmax(&scalar, 0),
        narrow(&scalar, 0, 0, 1),
        index_select(&scalar, 0, &[0]),
        concat(&[&scalar], 0),
        leaky_relu(&scalar, 0.1).and_then(|y| max_axis(&y, 0, false)),
    ] {
        assert!(
            matches!(result, Err(Error::InvalidAxis { .. })),
            "{result:?}"
        );
    }
}
