//! The ops after the seed: closed forms, central differences (gradcheck),
//! broadcasting by hand, bad input as errors, operators, and DeZero's test
//! functions.

use autograd_ops::prelude::*;
use autograd_ops::{GradcheckOptions, gradcheck};
use ndarray::{ArrayD, IxDyn, array};

fn arr(shape: &[usize], values: &[f64]) -> ArrayD<f64> {
    ArrayD::from_shape_vec(IxDyn(shape), values.to_vec()).unwrap()
}

/// A deterministic array of `shape` with values in (0.5, 1.5) (safe for log and div).
fn positive(shape: &[usize], seed: u64) -> ArrayD<f64> {
    let n: usize = shape.iter().product();
    let values: Vec<f64> = (0..n)
        .map(|i| 0.5 + ((i as u64 * 2654435761 + seed * 97) % 1000) as f64 / 1000.0)
        .collect();
    arr(shape, &values)
}

fn check(f: impl Fn(&[Variable]) -> Result<Variable>, inputs: &[ArrayD<f64>]) {
    let report =
        gradcheck(f, inputs, GradcheckOptions::default()).unwrap_or_else(|err| panic!("{err}"));
    assert!(report.max_rel_error.iter().all(|&e| e < 1e-6), "{report:?}");
}

#[test]
fn every_op_passes_gradcheck() {
    let (a, b) = (positive(&[2, 3], 1), positive(&[2, 3], 2));
    check(|x| add(&x[0], &x[1]), &[a.clone(), b.clone()]);
    check(|x| sub(&x[0], &x[1]), &[a.clone(), b.clone()]);
    check(|x| mul(&x[0], &x[1]), &[a.clone(), b.clone()]);
    check(|x| div(&x[0], &x[1]), &[a.clone(), b.clone()]);
    check(|x| neg(&x[0]), std::slice::from_ref(&a));
    check(|x| pow(&x[0], 3.5), std::slice::from_ref(&a));
    check(|x| exp(&x[0]), std::slice::from_ref(&a));
    check(|x| log(&x[0]), std::slice::from_ref(&a));
    check(|x| mul(&sum(&x[0])?, &x[0]), std::slice::from_ref(&a));
    check(
        |x| mul(&sum_axis(&x[0], 0, false)?, &x[1].sum_axis(0, false)),
        &[a.clone(), b.clone()],
    );
    check(
        |x| mul(&sum_axis(&x[0], 1, true)?, &x[0]),
        std::slice::from_ref(&a),
    );
    check(
        |x| sum_to(&mul(&x[0], &x[0])?, &[1, 3]),
        std::slice::from_ref(&a),
    );
    check(
        |x| mul(&broadcast_to(&x[0], &[4, 2, 3])?, &x[0]),
        std::slice::from_ref(&a),
    );
    check(
        |x| mul(&reshape(&x[0], &[3, 2])?, &x[1].reshape(&[3, 2])),
        &[a.clone(), b.clone()],
    );
    check(
        |x| mul(&transpose(&x[0])?, &x[1].transpose()),
        &[a.clone(), b.clone()],
    );
    check(|x| matmul(&x[0], &x[1]), &[a.clone(), positive(&[3, 4], 3)]);
    // Broadcasting in every binary op.
    let (row, col) = (positive(&[1, 3], 4), positive(&[2, 1], 5));
    check(|x| add(&x[0], &x[1]), &[row.clone(), col.clone()]);
    check(|x| sub(&x[0], &x[1]), &[row.clone(), col.clone()]);
    check(|x| mul(&x[0], &x[1]), &[row.clone(), col.clone()]);
    check(|x| div(&x[0], &x[1]), &[row.clone(), col.clone()]);
}

#[test]
fn ops_match_their_closed_forms() {
    let x = Variable::new(array![[1.0, 2.0], [3.0, 4.0]]);
    let y = x.pow(3.0).sum();
    assert_eq!(y.item(), Some(100.0));
    y.backward().unwrap();
    assert_eq!(
        x.grad().unwrap(),
        array![[3.0, 12.0], [27.0, 48.0]].into_dyn()
    );

    let x = Variable::new(array![1.0, 2.0]);
    let y = x.exp().sum();
    y.backward().unwrap();
    assert_eq!(x.grad().unwrap(), x.data().mapv(f64::exp));

    let x = Variable::new(array![1.0, 4.0]);
    x.log().sum().backward().unwrap();
    assert_eq!(x.grad().unwrap(), array![1.0, 0.25].into_dyn());

    let a = Variable::new(array![[1.0, 2.0], [3.0, 4.0]]);
    let b = Variable::new(array![[5.0], [6.0]]);
    let y = a.matmul(&b);
    assert_eq!(y.data(), array![[17.0], [39.0]].into_dyn().into_shared());
    y.sum().backward().unwrap();
    assert_eq!(a.grad().unwrap(), array![[5.0, 6.0], [5.0, 6.0]].into_dyn());
    assert_eq!(b.grad().unwrap(), array![[4.0], [6.0]].into_dyn());

    let x = Variable::new(array![[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]);
    assert_eq!(
        x.sum_axis(0, false).data(),
        array![5.0, 7.0, 9.0].into_dyn().into_shared()
    );
    assert_eq!(x.sum_axis(1, true).shape(), vec![2, 1]);
    assert_eq!(x.transpose().shape(), vec![3, 2]);
    assert_eq!(
        x.reshape(&[3, 2]).data(),
        arr(&[3, 2], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]).into_shared()
    );
}

#[test]
fn broadcasting_by_hand() {
    // scalar + matrix: the scalar receives the sum of the gradient.
    let s = Variable::scalar(10.0);
    let m = Variable::new(array![[1.0, 2.0], [3.0, 4.0]]);
    let y = &s + &m;
    assert_eq!(
        y.data(),
        array![[11.0, 12.0], [13.0, 14.0]].into_dyn().into_shared()
    );
    y.backward().unwrap();
    assert_eq!(s.grad().unwrap(), ndarray::arr0(4.0).into_dyn());
    assert_eq!(m.grad().unwrap(), ArrayD::ones(vec![2, 2]));

    // row (1, 3) + column (2, 1) = (2, 3)
    let row = Variable::new(array![[1.0, 2.0, 3.0]]);
    let col = Variable::new(array![[10.0], [20.0]]);
    let y = &row + &col;
    assert_eq!(
        y.data(),
        array![[11.0, 12.0, 13.0], [21.0, 22.0, 23.0]]
            .into_dyn()
            .into_shared()
    );
    y.backward().unwrap();
    assert_eq!(row.grad().unwrap(), array![[2.0, 2.0, 2.0]].into_dyn());
    assert_eq!(col.grad().unwrap(), array![[3.0], [3.0]].into_dyn());

    // (3, 1, 4) + (2, 4) = (3, 2, 4)
    let a = Variable::new(ArrayD::ones(vec![3, 1, 4]));
    let b = Variable::new(ArrayD::ones(vec![2, 4]));
    let y = &a + &b;
    assert_eq!(y.shape(), vec![3, 2, 4]);
    y.backward().unwrap();
    assert_eq!(a.grad().unwrap(), ArrayD::from_elem(vec![3, 1, 4], 2.0));
    assert_eq!(b.grad().unwrap(), ArrayD::from_elem(vec![2, 4], 3.0));

    // sum_to and broadcast_to are each other's backward.
    let x = Variable::new(array![[1.0, 2.0, 3.0]]);
    let y = x.broadcast_to(&[4, 1, 3]);
    assert_eq!(y.shape(), vec![4, 1, 3]);
    y.backward().unwrap();
    assert_eq!(x.grad().unwrap(), array![[4.0, 4.0, 4.0]].into_dyn());
    let x = Variable::new(ArrayD::ones(vec![2, 3]));
    let y = x.sum_to(&[3]);
    assert_eq!(y.data(), array![2.0, 2.0, 2.0].into_dyn().into_shared());
    y.backward().unwrap();
    assert_eq!(x.grad().unwrap(), ArrayD::ones(vec![2, 3]));
}

#[test]
fn bad_shapes_are_errors_naming_the_op_and_shapes() {
    let a = Variable::new(ArrayD::zeros(vec![2, 3]));
    let b = Variable::new(ArrayD::zeros(vec![4]));
    let mismatch = |op| Error::ShapeMismatch {
        op,
        lhs: vec![2, 3],
        rhs: vec![4],
    };
    assert_eq!(add(&a, &b).unwrap_err(), mismatch("Add"));
    assert_eq!(sub(&a, &b).unwrap_err(), mismatch("Sub"));
    assert_eq!(mul(&a, &b).unwrap_err(), mismatch("Mul"));
    assert_eq!(div(&a, &b).unwrap_err(), mismatch("Div"));
    assert_eq!(matmul(&a, &b).unwrap_err(), mismatch("MatMul"));
    assert_eq!(
        matmul(&a, &a).unwrap_err(),
        Error::ShapeMismatch {
            op: "MatMul",
            lhs: vec![2, 3],
            rhs: vec![2, 3]
        }
    );
    let invalid = |op, to: &[usize]| Error::InvalidTarget {
        op,
        from: vec![2, 3],
        to: to.to_vec(),
    };
    assert_eq!(sum_to(&a, &[2]).unwrap_err(), invalid("SumTo", &[2]));
    assert_eq!(
        sum_to(&a, &[1, 2, 3]).unwrap_err(),
        invalid("SumTo", &[1, 2, 3])
    );
    assert_eq!(
        broadcast_to(&a, &[3, 3]).unwrap_err(),
        invalid("BroadcastTo", &[3, 3])
    );
    assert_eq!(reshape(&a, &[4]).unwrap_err(), invalid("Reshape", &[4]));
    assert_eq!(
        sum_axis(&a, 2, false).unwrap_err(),
        Error::InvalidAxis {
            op: "Sum",
            axis: 2,
            shape: vec![2, 3]
        }
    );
    assert_eq!(
        add(&a, &b).unwrap_err().to_string(),
        "Add: shapes [2, 3] and [4] are incompatible"
    );
    assert_eq!(a.try_matmul(&b).unwrap_err(), mismatch("MatMul"));
}

#[test]
#[should_panic(expected = "Mul: shapes [2] and [3] are incompatible")]
fn operators_panic_like_ndarray() {
    let _ = Variable::new(array![1.0, 2.0]) * Variable::new(array![1.0, 2.0, 3.0]);
}

#[test]
fn operators_in_every_combination() {
    let x = Variable::scalar(3.0);
    let y = Variable::scalar(4.0);
    let z = &x * &x + &y * &y;
    assert_eq!(z.item(), Some(25.0));
    let w = 2.0 * &x + 1.0 - &y / 2.0 + (-&x) * 1.0 + 10.0 / &y - 1.0;
    // 6 + 1 - 2 - 3 + 2.5 - 1
    assert_eq!(w.item(), Some(3.5));
    w.backward().unwrap();
    assert_eq!(x.grad().unwrap().sum(), 2.0 - 1.0);
    assert_eq!(y.grad().unwrap().sum(), -0.5 - 10.0 / 16.0);
    let owned = x.clone() * y.clone() - x.clone() / y.clone() + -y.clone();
    assert_eq!(owned.item(), Some(12.0 - 0.75 - 4.0));
    let mixed = &x - y.clone() + (x.clone() * &y) / 2.0 + 1.0 * x.clone() - y.clone() * 2.0;
    assert_eq!(mixed.item(), Some(-1.0 + 6.0 + 3.0 - 8.0));
}

#[test]
fn detach_starts_a_new_graph() {
    let x = Variable::scalar(3.0);
    let y = x.square();
    let d = y.detach();
    assert!(d.is_leaf());
    assert_eq!(d.item(), Some(9.0));
    (&d * &x).backward().unwrap();
    assert_eq!(x.grad().unwrap().sum(), 9.0); // d is a constant
    assert!(d.grad().is_some() && y.grad().is_none());
}

/// DeZero's step 24: Sphere, Matyas and Goldstein–Price at (1, 1).
#[test]
fn dezero_test_functions_have_their_known_gradients() {
    fn at_one_one(f: impl Fn(&Variable, &Variable) -> Variable) -> (f64, f64) {
        let x = Variable::scalar(1.0);
        let y = Variable::scalar(1.0);
        f(&x, &y).backward().unwrap();
        (x.grad().unwrap().sum(), y.grad().unwrap().sum())
    }
    let sphere = |x: &Variable, y: &Variable| x.pow(2.0) + y.pow(2.0);
    let matyas = |x: &Variable, y: &Variable| 0.26 * (x.pow(2.0) + y.pow(2.0)) - 0.48 * x * y;
    let goldstein = |x: &Variable, y: &Variable| {
        (1.0 + (x + y + 1.0).pow(2.0)
            * (19.0 - 14.0 * x + 3.0 * x.pow(2.0) - 14.0 * y + 6.0 * x * y + 3.0 * y.pow(2.0)))
            * (30.0
                + (2.0 * x - 3.0 * y).pow(2.0)
                    * (18.0 - 32.0 * x + 12.0 * x.pow(2.0) + 48.0 * y - 36.0 * x * y
                        + 27.0 * y.pow(2.0)))
    };
    assert_eq!(at_one_one(sphere), (2.0, 2.0));
    let (gx, gy) = at_one_one(matyas);
    assert!(
        (gx - 0.04).abs() < 1e-12 && (gy - 0.04).abs() < 1e-12,
        "{gx} {gy}"
    );
    assert_eq!(at_one_one(goldstein), (-5376.0, 8064.0));
}

#[test]
fn pow_zero_has_a_zero_gradient_everywhere() {
    let x = Variable::new(array![0.0, 2.0]);
    x.pow(0.0).sum().backward().unwrap();
    assert_eq!(x.grad().unwrap(), array![0.0, 0.0].into_dyn());
}

#[test]
fn sum_accepts_a_column_major_output_gradient() {
    use ndarray::ShapeBuilder;
    let x = Variable::new(ArrayD::ones(vec![2, 3, 4]));
    let y = x.sum_axis(1, false); // (2, 4)
    let seed = ArrayD::from_shape_vec(IxDyn(&[2, 4]).f(), (0..8).map(f64::from).collect()).unwrap();
    y.backward_with(BackwardOptions::default().with_grad(seed.clone()))
        .unwrap();
    let grad = x.grad().unwrap();
    for ((i, j, k), g) in grad
        .clone()
        .into_dimensionality::<ndarray::Ix3>()
        .unwrap()
        .indexed_iter()
    {
        assert_eq!(*g, seed[[i, k]], "at ({i}, {j}, {k})");
    }
}
