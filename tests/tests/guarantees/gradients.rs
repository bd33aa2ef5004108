//! Guarantee: gradients are right, to any order. Every op against central
//! differences at first and second order (its own file's tests, and random
//! inputs here), random DAGs against central differences, DeZero's test
//! functions, and DeZero's third-stage acceptance values: Newton's method
//! (step 33), derivatives of sin and tanh (steps 27 and 35), double backprop
//! (step 36), a Hessian-vector product.

use autograd_ops::prelude::*;
use autograd_ops::{GradcheckOptions, RcWeak, gradcheck, gradgradcheck};
use autograd_testkit::SeedRng;
use autograd_tests::dags::{cases, dag};
use autograd_tests::{close, every_op};
use ndarray::{ArrayD, array};
use proptest::prelude::*;

type V = Variable<RcWeak>;

/// Newton's method on f(x) = x⁴ − 2x² from x = 2, the second derivative
/// from a second backward, as DeZero's step 33 writes it.
#[test]
fn newtons_method_takes_dezero_step_33s_iterates() {
    let expected = [
        2.0,
        1.4545454545454546,
        1.1510467893775467,
        1.0253259289766978,
        1.0009084519430513,
        1.0000012353089454,
        1.000000000002289,
        1.0,
    ];
    let x = Variable::scalar(2.0);
    for &want in &expected {
        let got = x.item().unwrap();
        assert!(close(got, want, 1e-12), "{got} vs {want}");
        let y = x.pow(4.0) - 2.0 * x.pow(2.0);
        x.cleargrad();
        y.backward_with(BackwardOptions::default().create_graph(true))
            .unwrap();
        let gx = x.grad_variable().unwrap();
        x.cleargrad();
        gx.backward().unwrap();
        let gx2 = x.grad().unwrap();
        x.set_data(&x.data() - &(&gx.data() / &gx2)).unwrap();
    }
}

#[test]
fn derivatives_of_sin_cycle_and_of_tanh_match_closed_forms() {
    fn derivatives(f: impl Fn(&V) -> V, at: f64, n: usize) -> Vec<f64> {
        let x = V::from_scalar(at);
        let mut y = f(&x);
        (0..n)
            .map(|_| {
                x.cleargrad();
                y.backward_with(BackwardOptions::default().create_graph(true))
                    .unwrap();
                y = x.grad_variable().unwrap();
                y.item().unwrap()
            })
            .collect()
    }
    let (s, c) = 1.0f64.sin_cos();
    for (got, want) in derivatives(|x| x.sin(), 1.0, 4)
        .into_iter()
        .zip([c, -s, -c, s])
    {
        assert!(close(got, want, 1e-12), "{got} vs {want}");
    }
    let t = 0.5f64.tanh();
    let u = 1.0 - t * t;
    let closed = [
        u,
        -2.0 * t * u,
        u * (6.0 * t * t - 2.0),
        u * (16.0 * t - 24.0 * t.powi(3)),
        u * (16.0 - 120.0 * t * t + 120.0 * t.powi(4)),
        u * (-272.0 * t + 960.0 * t.powi(3) - 720.0 * t.powi(5)),
    ];
    for (got, want) in derivatives(|x| x.tanh(), 0.5, 6).into_iter().zip(closed) {
        assert!(close(got, want, 1e-10), "{got} vs {want}");
    }
}

/// DeZero step 36: x = 2, y = x², gx = dy/dx with a graph, z = gx³ + y;
/// dz/dx = 24x² + 2x = 100.
#[test]
fn double_backprop_gives_100_with_backward_and_with_grad() {
    let x = Variable::scalar(2.0);
    let y = x.square();
    y.backward_with(BackwardOptions::default().create_graph(true))
        .unwrap();
    let gx = x.grad_variable().unwrap();
    let z = gx.pow(3.0) + &y;
    x.cleargrad();
    z.backward().unwrap();
    assert_eq!(x.grad().unwrap().sum(), 100.0);

    let x = Variable::scalar(2.0);
    let y = x.square();
    let gx = grad(&[&y], &[&x], BackwardOptions::default().create_graph(true))
        .unwrap()
        .remove(0);
    let z = gx.pow(3.0) + &y;
    let dz = grad(&[&z], &[&x], BackwardOptions::default())
        .unwrap()
        .remove(0);
    assert_eq!(dz.item(), Some(100.0));
    assert!(x.grad().is_none(), "grad stores nothing");
}

/// Rosenbrock's Hessian at (−1, 2) times v = (1, 0.5) is (602, 500).
#[test]
fn a_hessian_vector_product_of_rosenbrock() {
    let x0 = Variable::scalar(-1.0);
    let x1 = Variable::scalar(2.0);
    let f = 100.0 * (&x1 - x0.square()).square() + (1.0 - &x0).square();
    let g = grad(
        &[&f],
        &[&x0, &x1],
        BackwardOptions::default().create_graph(true),
    )
    .unwrap();
    let gv = &g[0] * 1.0 + &g[1] * 0.5;
    let hv = grad(&[&gv], &[&x0, &x1], BackwardOptions::default()).unwrap();
    assert_eq!((hv[0].item(), hv[1].item()), (Some(602.0), Some(500.0)));
}

#[test]
fn grad_of_an_input_the_outputs_do_not_depend_on_is_zeros() {
    let x = V::from_array(array![1.0, 2.0]);
    let unused = V::from_array(array![[1.0, 2.0, 3.0]]);
    let y = x.square().sum();
    let g = grad(&[&y], &[&x, &unused], BackwardOptions::default()).unwrap();
    assert_eq!(g[0].data(), array![2.0, 4.0].into_dyn());
    assert_eq!(g[1].data(), ArrayD::<f64>::zeros(vec![1, 3]));
    // Several outputs, each seeded with ones; a given gradient needs one.
    let z = x.exp().sum();
    let both = grad(&[&y, &z], &[&x], BackwardOptions::default()).unwrap();
    let e = x.data().mapv(f64::exp);
    assert_eq!(both[0].data(), array![2.0 + e[0], 4.0 + e[1]].into_dyn());
    let seeded = BackwardOptions::default().with_grad(ndarray::arr0(1.0).into_dyn());
    assert_eq!(
        grad(&[&y, &z], &[&x], seeded).unwrap_err(),
        Error::GradForSeveralOutputs { outputs: 2 }
    );
}

/// Every op's first and second derivatives on random inputs.
#[test]
fn every_op_passes_both_gradchecks_on_random_inputs() {
    let mut rng = SeedRng::new(36);
    for seed in 0..3 {
        for (name, arity, f) in every_op::<RcWeak>() {
            // Values in (0.5, 1.5): inside every op's domain.
            let inputs: Vec<ArrayD<f64>> = (0..arity)
                .map(|_| ArrayD::from_shape_simple_fn(vec![2, 3], || 0.5 + rng.uniform()))
                .collect();
            let first = gradcheck(f, &inputs, GradcheckOptions::default());
            assert!(
                first.is_ok(),
                "{name} (seed {seed}): {}",
                first.unwrap_err()
            );
            let options = GradcheckOptions {
                eps: 1e-5,
                tolerance: 1e-5,
            };
            let second = gradgradcheck(f, &inputs, options);
            assert!(
                second.is_ok(),
                "{name} (seed {seed}): {}",
                second.unwrap_err()
            );
        }
    }
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
        close(gx, 0.04, 1e-12) && close(gy, 0.04, 1e-12),
        "{gx} {gy}"
    );
    assert_eq!(at_one_one(goldstein), (-5376.0, 8064.0));
}

#[test]
fn broadcasting_by_hand() {
    let s = Variable::scalar(10.0);
    let m = Variable::new(array![[1.0, 2.0], [3.0, 4.0]]);
    let y = &s + &m;
    y.backward().unwrap();
    assert_eq!(s.grad().unwrap(), ndarray::arr0(4.0).into_dyn());
    assert_eq!(m.grad().unwrap(), ArrayD::<f64>::ones(vec![2, 2]));

    let a = Variable::new(ArrayD::ones(vec![3, 1, 4]));
    let b = Variable::new(ArrayD::ones(vec![2, 4]));
    let y = &a + &b;
    assert_eq!(y.shape(), vec![3, 2, 4]);
    y.backward().unwrap();
    assert_eq!(a.grad().unwrap(), ArrayD::from_elem(vec![3, 1, 4], 2.0));
    assert_eq!(b.grad().unwrap(), ArrayD::from_elem(vec![2, 4], 3.0));
}

#[test]
fn operators_in_every_combination_and_detach() {
    let x = Variable::scalar(3.0);
    let y = Variable::scalar(4.0);
    let w = 2.0 * &x + 1.0 - &y / 2.0 + (-&x) * 1.0 + 10.0 / &y - 1.0;
    assert_eq!(w.item(), Some(3.5)); // 6 + 1 - 2 - 3 + 2.5 - 1
    w.backward().unwrap();
    assert_eq!(x.grad().unwrap().sum(), 2.0 - 1.0);
    assert_eq!(y.grad().unwrap().sum(), -0.5 - 10.0 / 16.0);
    let owned = x.clone() * y.clone() - x.clone() / y.clone() + -y.clone();
    assert_eq!(owned.item(), Some(12.0 - 0.75 - 4.0));

    let d = x.square().detach();
    assert!(d.is_leaf());
    x.cleargrad();
    (&d * &x).backward().unwrap();
    assert_eq!(x.grad().unwrap().sum(), 9.0); // d is a constant
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    /// Random DAGs of `add` and `square` with broadcasting and reuse.
    #[test]
    fn random_dags_match_central_differences(dag in dag()) {
        let options = GradcheckOptions { eps: 1e-6, tolerance: 1e-4 };
        let result = gradcheck::<RcWeak>(|leaves| dag.build(leaves), &dag.leaves, options);
        prop_assert!(result.is_ok(), "{}", result.unwrap_err());
    }
}

/// `set_data` between forward and a `create_graph` backward: the recorded
/// gradient equals the first-order one, and higher orders are taken at the
/// value forward read (x = 2), not the new one (x = 5).
#[test]
fn set_data_before_a_create_graph_backward_keeps_forwards_value_at_every_order() {
    for through_pow in [false, true] {
        let x = Variable::new(ndarray::arr0(2.0));
        let y = if through_pow {
            pow(&x, 3.0).unwrap()
        } else {
            mul(&mul(&x, &x).unwrap(), &x).unwrap()
        };
        x.set_data(ndarray::arr0(5.0)).unwrap();

        y.backward().unwrap();
        assert_eq!(x.grad().unwrap().sum(), 12.0); // 3·2², not 3·5² = 75
        x.cleargrad();

        y.backward_with(BackwardOptions::default().create_graph(true))
            .unwrap();
        let gx = x.grad_variable().unwrap();
        assert_eq!(gx.item(), Some(12.0));
        x.cleargrad();
        gx.backward_with(BackwardOptions::default().create_graph(true))
            .unwrap();
        let ggx = x.grad_variable().unwrap();
        assert_eq!(ggx.item(), Some(12.0)); // 6·2
        x.cleargrad();
        ggx.backward().unwrap();
        assert_eq!(x.grad().unwrap().sum(), 6.0);
    }
}

/// `y = x³`, a user op written in the one-derivative shape only: its
/// derivative, `3x²·gy`, made of ops, gives every order with no more code.
struct Cube;

impl<S: autograd_ops::Strategy> autograd_ops::Function<S> for Cube {
    fn name(&self) -> &'static str {
        "Cube"
    }
    fn num_inputs(&self) -> usize {
        1
    }
    fn forward(&mut self, xs: &[autograd_ops::Tensor]) -> Result<autograd_ops::Tensors> {
        Ok(xs[0].map(|x| x * x * x).into())
    }
    fn save(&mut self, save: &mut autograd_ops::Save<'_>) {
        save.input(0);
    }
    fn derivative(
        &self,
        cx: &autograd_ops::Saved<'_, S>,
        gys: &[Variable<S>],
    ) -> Result<autograd_ops::Grads<S>> {
        let x = cx.input(0)?;
        Ok(vec![Some(mul(
            &gys[0],
            &mul(&square(&x)?, &cx.scalar(3.0))?,
        )?)])
    }
}

#[test]
fn a_user_op_written_as_one_derivative_has_every_order() {
    let cube = |x: &[V]| autograd_ops::apply_one(Cube, &[&x[0]]);
    let inputs = [ArrayD::from_shape_vec(vec![3], vec![0.7, -1.2, 2.0]).unwrap()];
    assert!(gradcheck(cube, &inputs, GradcheckOptions::default()).is_ok());
    assert!(gradgradcheck(cube, &inputs, GradcheckOptions::default()).is_ok());
    // The third derivative of x³ is 6, from three recorded backward passes.
    let x = V::from_scalar(1.5);
    let mut g = cube(std::slice::from_ref(&x)).unwrap();
    let mut orders = Vec::new();
    for _ in 0..3 {
        x.cleargrad();
        g.backward_with(BackwardOptions::default().create_graph(true))
            .unwrap();
        g = x.grad_variable().unwrap();
        orders.push(g.item().unwrap());
    }
    assert_eq!(orders, [3.0 * 1.5 * 1.5, 6.0 * 1.5, 6.0]);
}
