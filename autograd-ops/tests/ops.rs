//! Each op's forward and backward against closed forms and central
//! differences, under every strategy.

use autograd_ops::prelude::*;
use autograd_ops::{GradcheckError, GradcheckOptions, Strategy, gradcheck};
use ndarray::{ArrayD, array};

autograd_ops::mem::test_each_strategy! {
    square_closed_form => square_matches_its_closed_form;
    add_closed_form => add_matches_its_closed_form;
    numeric => ops_pass_gradcheck;
    mismatch => add_rejects_different_shapes;
    sugar => sugar_matches_the_free_functions;
}

fn square_matches_its_closed_form<S: Strategy>() {
    let x0 = array![[1.5, -2.0], [0.0, 3.0]].into_dyn();
    let x = Variable::<S>::from_array(x0.clone());
    let y = square(&x).unwrap();
    assert_eq!(y.data(), x0.mapv(|x| x * x).into_shared());
    y.backward().unwrap();
    assert_eq!(x.grad().unwrap(), x0.mapv(|x| 2.0 * x));
}

fn add_matches_its_closed_form<S: Strategy>() {
    let a = Variable::<S>::from_array(array![1.0, 2.0]);
    let b = Variable::<S>::from_array(array![10.0, 20.0]);
    let y = add(&a, &b).unwrap();
    assert_eq!(y.data(), array![11.0, 22.0].into_dyn().into_shared());
    y.backward().unwrap();
    assert_eq!(a.grad().unwrap(), array![1.0, 1.0].into_dyn());
    assert_eq!(b.grad().unwrap(), array![1.0, 1.0].into_dyn());
}

fn ops_pass_gradcheck<S: Strategy>() {
    let inputs = [
        array![0.3, -1.7, 2.5].into_dyn(),
        array![-0.4, 0.9, 1.1].into_dyn(),
    ];
    // (x² + w)² + x
    let f = |xs: &[Variable<S>]| add(&square(&add(&square(&xs[0])?, &xs[1])?)?, &xs[0]);
    let report = gradcheck(f, &inputs, GradcheckOptions::default()).unwrap();
    assert!(report.max_rel_error.iter().all(|&e| e < 1e-6), "{report:?}");
}

fn add_rejects_different_shapes<S: Strategy>() {
    let a = Variable::<S>::from_array(array![1.0, 2.0]);
    let b = Variable::<S>::from_array(array![1.0, 2.0, 3.0]);
    let err = add(&a, &b).unwrap_err();
    assert_eq!(
        err,
        Error::ShapeMismatch {
            op: "Add",
            lhs: vec![2],
            rhs: vec![3]
        }
    );
    assert_eq!(a.try_add(&b).unwrap_err(), err);
}

fn sugar_matches_the_free_functions<S: Strategy>() {
    let x = Variable::<S>::from_scalar(3.0);
    let y = Variable::<S>::from_scalar(4.0);
    let z = &x.square() + &y.square();
    assert_eq!(z.item(), Some(25.0));
    z.backward().unwrap();
    assert_eq!(
        (x.grad().unwrap().sum(), y.grad().unwrap().sum()),
        (6.0, 8.0)
    );
    // Every owned/borrowed combination compiles.
    let _ = x.clone() + y.clone();
    let _ = &x + y.clone();
    let _ = x.clone() + &y;
}

#[test]
#[should_panic(expected = "Add: shapes [2] and [3] are incompatible")]
fn the_add_operator_panics_like_ndarray() {
    let a = Variable::new(array![1.0, 2.0]);
    let b = Variable::new(array![1.0, 2.0, 3.0]);
    let _ = &a + &b;
}

/// A deliberately wrong op: gradcheck must catch it.
struct WrongSquare;

impl autograd_ops::Function for WrongSquare {
    fn name(&self) -> &'static str {
        "WrongSquare"
    }
    fn num_inputs(&self) -> usize {
        1
    }
    fn forward(
        &mut self,
        xs: &[autograd_ops::SharedArray],
    ) -> autograd_ops::Result<Vec<autograd_ops::SharedArray>> {
        Ok(vec![xs[0].mapv(|x| x * x).into_shared()])
    }
    fn backward(
        &self,
        xs: &[autograd_ops::SharedArray],
        gys: Vec<ArrayD<f64>>,
    ) -> autograd_ops::Result<Vec<ArrayD<f64>>> {
        Ok(vec![&gys[0] * &xs[0]]) // missing the factor 2
    }
}

#[test]
fn gradcheck_names_the_worst_element() {
    let err = gradcheck(
        |xs: &[Variable]| autograd_ops::apply_one(WrongSquare, &[&xs[0]]),
        &[array![0.1, -3.0, 0.2].into_dyn()],
        GradcheckOptions::default(),
    )
    .unwrap_err();
    match err {
        GradcheckError::Mismatch {
            input,
            index,
            analytic,
            numeric,
            ..
        } => {
            assert_eq!((input, index), (0, vec![1]));
            assert_eq!(analytic, -3.0);
            assert!((numeric + 6.0).abs() < 1e-4, "{numeric}");
        }
        other => panic!("{other}"),
    }
}
