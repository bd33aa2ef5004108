//! [`Optimizer`]s: [`Sgd`], [`MomentumSgd`], [`AdaGrad`] and [`Adam`], one
//! file each, with the update formulas of `torch.optim`'s documentation
//! (and the order of its CPU kernels' arithmetic), so that one model from
//! one set of weights on one sequence of batches gives PyTorch's losses.
//!
//! Each update writes into the parameter's one copy of its value
//! ([`Variable::update_data`]): in place once no graph shares the buffer.
//!
//! Every optimizer keeps each parameter once, by identity
//! ([`Variable::ptr_eq`]): a weight that two layers share (weight tying)
//! and that a module's [`named_params`](crate::Module::named_params) lists
//! twice gets one update a step, from its gradient summed over both uses:
//! what a torch optimizer does over `Module.parameters()`, which lists each
//! parameter once (torch warns about a list with duplicates; these drop
//! them).

mod adagrad;
mod adam;
mod momentum;
mod sgd;

pub use adagrad::AdaGrad;
pub use adam::Adam;
pub use momentum::MomentumSgd;
pub use sgd::Sgd;

use std::mem::size_of;

use autograd_core::{DefaultStrategy, SharedArray, Strategy, Variable};
use ndarray::{ArrayD, ArrayViewMutD};

use crate::{Error, Result};

/// Updates parameters from their gradients.
///
/// ```
/// use autograd_nn::{Optimizer, Sgd};
/// use autograd_ops::{Variable, square, sum};
/// use ndarray::array;
///
/// let w = Variable::new(array![1.0, 2.0]);
/// let mut sgd = Sgd::new(vec![w.clone()], 0.5)?;
/// sum(&square(&w)?)?.backward()?; // the gradient is 2w
/// sgd.step()?;
/// assert_eq!(w.data(), array![0.0, 0.0].into_dyn());
/// sgd.cleargrad();
/// assert!(w.grad().is_none());
/// # Ok::<(), autograd_nn::Error>(())
/// ```
pub trait Optimizer<S: Strategy = DefaultStrategy> {
    /// One update of every parameter that has a gradient, from that
    /// gradient; a parameter without one is skipped and its state (moments,
    /// step count) stays as it was. The hyperparameters were checked when
    /// they were set, so a step never fails on them.
    ///
    /// # Errors
    /// [`Error::Core`] ([`NotLeaf`](autograd_ops::Error::NotLeaf)) when a
    /// parameter is not a leaf: a function computed it, so its value cannot
    /// be written. The parameters before it in the list have been updated
    /// then.
    fn step(&mut self) -> Result<()>;

    /// Forgets every parameter's gradient (each becomes `None`, as
    /// [`Variable::cleargrad`]): PyTorch's `Optimizer.zero_grad`, under the
    /// one name a variable, a module and an optimizer share.
    #[doc(alias = "zero_grad")]
    #[doc(alias = "cleargrads")]
    fn cleargrad(&self) {
        for param in self.params() {
            param.cleargrad();
        }
    }

    /// The parameters, each once, in the order first given to `new`.
    fn params(&self) -> &[Variable<S>];

    /// The learning rate.
    fn lr(&self) -> f64;

    /// Sets the learning rate (a scheduler's call).
    ///
    /// # Errors
    /// [`Error::Hyperparameter`] naming the optimizer and the rate unless it
    /// is finite and at least 0; the rate stays as it was then.
    fn set_lr(&mut self, lr: f64) -> Result<()>;

    /// The heap bytes the optimizer holds: its list of parameter handles
    /// and per-parameter state (moments, sums, step counts), exactly as
    /// requested from the allocator.
    fn state_bytes(&self) -> usize;
}

/// `value` when `ok`, else the optimizer's error for `name = value`.
fn check(
    optimizer: &'static str,
    name: &'static str,
    value: f64,
    ok: bool,
    range: &'static str,
) -> Result<f64> {
    if ok {
        Ok(value)
    } else {
        Err(Error::Hyperparameter {
            optimizer,
            name,
            value,
            range,
        })
    }
}

/// A learning rate or a weight decay: finite and at least 0 (NaN is not;
/// infinity would turn every parameter it touches into NaN or infinity).
pub(crate) fn check_non_negative(
    optimizer: &'static str,
    name: &'static str,
    value: f64,
) -> Result<f64> {
    let ok = value.is_finite() && value >= 0.0;
    check(optimizer, name, value, ok, "finite and >= 0")
}

/// An epsilon: finite and above 0, so that it keeps a denominator from 0.
pub(crate) fn check_positive(
    optimizer: &'static str,
    name: &'static str,
    value: f64,
) -> Result<f64> {
    let ok = value.is_finite() && value > 0.0;
    check(optimizer, name, value, ok, "finite and > 0")
}

/// A momentum or a beta: in `[0, 1)`, so that the running averages it
/// weighs decay instead of growing without bound.
pub(crate) fn check_unit(optimizer: &'static str, name: &'static str, value: f64) -> Result<f64> {
    check(
        optimizer,
        name,
        value,
        (0.0..1.0).contains(&value),
        "in [0, 1)",
    )
}

/// Runs `update` on each parameter that has a gradient, with its index,
/// its gradient and its value to write into.
pub(crate) fn update_each<S: Strategy>(
    params: &[Variable<S>],
    mut update: impl FnMut(usize, &SharedArray, ArrayViewMutD<'_, f64>),
) -> Result<()> {
    for (index, param) in params.iter().enumerate() {
        let Some(grad) = param.grad() else { continue };
        param.update_data(|value| update(index, &grad, value))?;
    }
    Ok(())
}

/// The heap bytes of a `Vec`'s buffer.
pub(crate) fn vec_bytes<T>(v: &Vec<T>) -> usize {
    v.capacity() * size_of::<T>()
}

/// The heap bytes of an owned array: its elements, and its shape and
/// strides when it has more axes than ndarray keeps inline (four).
pub(crate) fn array_bytes(a: &ArrayD<f64>) -> usize {
    let axes = if a.ndim() > 4 {
        2 * a.ndim() * size_of::<usize>()
    } else {
        0
    };
    a.len() * size_of::<f64>() + axes
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Error, Module, Sequential};
    use autograd_core::RcWeak;
    use autograd_ops::{mul, sum};
    use ndarray::{ArrayD, array};

    type V = Variable<RcWeak>;

    /// Gives `w` exactly the gradient `g`: backward of `Σ w·g`, `g` a constant.
    fn set_grad(w: &V, g: &ArrayD<f64>) {
        let g = V::constant_from_array(g.clone());
        sum(&mul(w, &g).unwrap()).unwrap().backward().unwrap();
    }

    fn close(a: &ArrayD<f64>, b: &ArrayD<f64>, rel: f64) -> bool {
        a.iter()
            .zip(b)
            .all(|(x, y)| (x - y).abs() <= rel * x.abs().max(y.abs()).max(1e-300))
    }

    fn param(values: &[f64]) -> V {
        V::from_array(ArrayD::from_shape_vec(vec![values.len()], values.to_vec()).unwrap())
    }

    fn data(w: &V) -> ArrayD<f64> {
        w.data().to_owned()
    }

    #[test]
    fn sgd_subtracts_the_rate_times_the_gradient() {
        let w = param(&[1.0, 2.0]);
        let mut sgd = Sgd::new(vec![w.clone()], 0.1).unwrap();
        set_grad(&w, &array![0.5, -1.0].into_dyn());
        sgd.step().unwrap();
        assert_eq!(data(&w), array![1.0 - 0.1 * 0.5, 2.0 + 0.1].into_dyn());
    }

    #[test]
    fn momentum_starts_from_the_gradient_then_accumulates() {
        let (lr, mu) = (0.1, 0.9);
        let w = param(&[1.0, -3.0]);
        let g = array![0.5, 2.0].into_dyn();
        let mut opt = MomentumSgd::new(vec![w.clone()], lr, mu).unwrap();
        set_grad(&w, &g);
        opt.step().unwrap();
        let p1 = array![1.0, -3.0].into_dyn() - lr * &g;
        assert!(close(&data(&w), &p1, 1e-15));
        opt.cleargrad();
        set_grad(&w, &g);
        opt.step().unwrap();
        // b₂ = μ·g + g
        let p2 = &p1 - lr * (mu + 1.0) * &g;
        assert!(close(&data(&w), &p2, 1e-15));
    }

    #[test]
    fn adagrad_divides_by_the_root_of_the_summed_squares() {
        let lr = 0.5;
        let w = param(&[1.0, 1.0]);
        let g = array![0.25, -4.0].into_dyn();
        let mut opt = AdaGrad::new(vec![w.clone()], lr).unwrap();
        for t in 1..=3 {
            opt.cleargrad();
            set_grad(&w, &g);
            let before = data(&w);
            opt.step().unwrap();
            let sum_sq = g.mapv(|g| t as f64 * g * g);
            let expected = &before - &(lr * &g / (sum_sq.mapv(f64::sqrt) + 1e-10));
            assert!(close(&data(&w), &expected, 1e-14), "step {t}");
        }
    }

    /// Adam as its paper writes it (bias-corrected moments), computed here
    /// independently of the kernel's order of operations.
    fn adam_textbook(p: f64, grads: &[f64], lr: f64, b1: f64, b2: f64, eps: f64, wd: f64) -> f64 {
        let (mut p, mut m, mut v) = (p, 0.0, 0.0);
        for (t, &g) in grads.iter().enumerate() {
            let t = (t + 1) as i32;
            let g = g + wd * p;
            m = b1 * m + (1.0 - b1) * g;
            v = b2 * v + (1.0 - b2) * g * g;
            let m_hat = m / (1.0 - b1.powi(t));
            let v_hat = v / (1.0 - b2.powi(t));
            p -= lr * m_hat / (v_hat.sqrt() + eps);
        }
        p
    }

    #[test]
    fn adam_matches_the_bias_corrected_formula_with_and_without_weight_decay() {
        let grads = [0.3, -1.2, 0.05, 2.0, -0.7];
        for (b1, b2, eps, wd) in [(0.9, 0.999, 1e-8, 0.0), (0.5, 0.9, 1e-3, 0.1)] {
            let w = param(&[0.8]);
            let mut adam = Adam::new(vec![w.clone()], 0.01)
                .and_then(|a| a.betas(b1, b2))
                .and_then(|a| a.eps(eps))
                .and_then(|a| a.weight_decay(wd))
                .unwrap();
            for (i, &g) in grads.iter().enumerate() {
                adam.cleargrad();
                set_grad(&w, &array![g].into_dyn());
                adam.step().unwrap();
                let expected = adam_textbook(0.8, &grads[..=i], 0.01, b1, b2, eps, wd);
                let got = w.data()[[0]];
                assert!(
                    (got - expected).abs() <= 1e-12 * expected.abs(),
                    "step {}: {got} vs {expected}",
                    i + 1
                );
            }
        }
    }

    #[test]
    fn a_parameter_without_a_gradient_is_skipped_and_its_state_waits() {
        let (a, b) = (param(&[1.0]), param(&[1.0]));
        let mut adam = Adam::new(vec![a.clone(), b.clone()], 0.1).unwrap();
        set_grad(&a, &array![1.0].into_dyn());
        adam.step().unwrap();
        assert_eq!(data(&b), array![1.0].into_dyn(), "no gradient, no update");
        // b's first update is a first step (t = 1), a's is its second.
        adam.cleargrad();
        set_grad(&a, &array![1.0].into_dyn());
        set_grad(&b, &array![1.0].into_dyn());
        adam.step().unwrap();
        let first = adam_textbook(1.0, &[1.0], 0.1, 0.9, 0.999, 1e-8, 0.0);
        let second = adam_textbook(1.0, &[1.0, 1.0], 0.1, 0.9, 0.999, 1e-8, 0.0);
        assert!((b.data()[[0]] - first).abs() < 1e-12);
        assert!((a.data()[[0]] - second).abs() < 1e-12);
    }

    /// Asserts that `built` is the error naming `optimizer`, `name` and `value`.
    #[track_caller]
    fn refused<O>(built: Result<O>, optimizer: &str, name: &str, value: f64) {
        let Err(err) = built else {
            panic!("{optimizer} {name} = {value} was accepted")
        };
        let Error::Hyperparameter {
            optimizer: o,
            name: n,
            value: v,
            ..
        } = &err
        else {
            panic!("{optimizer} {name}: {err}")
        };
        assert_eq!((*o, *n), (optimizer, name));
        // NaN is compared by its bits: it is not equal to itself.
        assert_eq!(v.to_bits(), value.to_bits(), "{optimizer} {name}");
        assert!(err.to_string().starts_with(optimizer), "{err}");
    }

    #[test]
    fn bad_hyperparameters_are_refused_when_the_optimizer_is_built() {
        let w = param(&[1.0]);
        let p = || vec![w.clone()];
        let (nan, inf) = (f64::NAN, f64::INFINITY);
        refused(Sgd::new(p(), -1.0), "Sgd", "learning rate", -1.0);
        refused(Sgd::new(p(), nan), "Sgd", "learning rate", nan);
        refused(Sgd::new(p(), inf), "Sgd", "learning rate", inf);
        refused(
            MomentumSgd::new(p(), -0.1, 0.9),
            "MomentumSgd",
            "learning rate",
            -0.1,
        );
        refused(
            MomentumSgd::new(p(), 0.1, -0.5),
            "MomentumSgd",
            "momentum",
            -0.5,
        );
        refused(
            MomentumSgd::new(p(), 0.1, 1.0),
            "MomentumSgd",
            "momentum",
            1.0,
        );
        refused(AdaGrad::new(p(), nan), "AdaGrad", "learning rate", nan);
        let adagrad = || AdaGrad::new(p(), 0.1).unwrap();
        refused(adagrad().eps(-1.0), "AdaGrad", "epsilon", -1.0);
        refused(adagrad().eps(0.0), "AdaGrad", "epsilon", 0.0);
        refused(Adam::new(p(), -1e-3), "Adam", "learning rate", -1e-3);
        let adam = || Adam::new(p(), 0.1).unwrap();
        refused(adam().betas(1.0, 0.999), "Adam", "beta1", 1.0);
        refused(adam().betas(0.9, -0.1), "Adam", "beta2", -0.1);
        refused(adam().eps(0.0), "Adam", "epsilon", 0.0);
        refused(adam().weight_decay(inf), "Adam", "weight decay", inf);
        // The edges of the ranges are accepted.
        Sgd::new(p(), 0.0).unwrap();
        MomentumSgd::new(p(), 0.1, 0.0).unwrap();
        Adam::new(p(), 0.1).unwrap().betas(0.0, 0.0).unwrap();
    }

    #[test]
    fn set_lr_refuses_a_bad_rate_and_keeps_the_old_one() {
        let w = param(&[1.0]);
        set_grad(&w, &array![1.0].into_dyn());
        let mut sgd = Sgd::new(vec![w.clone()], 0.5).unwrap();
        let err = sgd.set_lr(-1.0).unwrap_err();
        assert!(
            matches!(
                err,
                Error::Hyperparameter {
                    optimizer: "Sgd",
                    name: "learning rate",
                    ..
                }
            ),
            "{err}"
        );
        assert_eq!(sgd.lr(), 0.5);
        sgd.step().unwrap();
        assert_eq!(data(&w), array![0.5].into_dyn());
        sgd.set_lr(0.25).unwrap();
        assert_eq!(sgd.lr(), 0.25);
        let mut adam = Adam::new(vec![w.clone()], 0.1).unwrap();
        assert!(adam.set_lr(f64::NAN).is_err());
        assert_eq!(adam.lr(), 0.1);
    }

    /// An optimizer of each kind over the given parameters.
    type MakeOptimizer = fn(Vec<V>) -> Result<Box<dyn Optimizer<RcWeak>>>;

    /// `x · W + b`, with a weight that another layer may share.
    struct Tied {
        weight: V,
        bias: V,
    }

    impl Module<RcWeak> for Tied {
        fn forward(&self, x: &V) -> Result<V> {
            Ok(autograd_ops::linear(x, &self.weight, Some(&self.bias))?)
        }

        fn named_params(&self) -> Vec<(String, V)> {
            vec![
                ("W".to_owned(), self.weight.clone()),
                ("b".to_owned(), self.bias.clone()),
            ]
        }
    }

    #[test]
    fn a_parameter_shared_by_two_layers_is_updated_once_per_step() {
        let weight = V::from_array(array![[1.0, 2.0], [3.0, 4.0]]);
        let layer = || Tied {
            weight: weight.clone(),
            bias: V::from_array(array![0.0, 0.0]),
        };
        let model = Sequential::new_in().push(layer()).push(layer());
        assert_eq!(model.named_params().len(), 4, "the tie is named twice");
        assert_eq!(model.params().len(), 3, "and listed once");
        // The list with the tie twice, as a user's own module might give it.
        let listed = || -> Vec<V> { model.named_params().into_iter().map(|(_, p)| p).collect() };
        let makers: [MakeOptimizer; 4] = [
            |p| Ok(Box::new(Sgd::new(p, 0.1)?)),
            |p| Ok(Box::new(MomentumSgd::new(p, 0.1, 0.9)?)),
            |p| Ok(Box::new(AdaGrad::new(p, 0.1)?)),
            |p| Ok(Box::new(Adam::new(p, 0.1)?)),
        ];
        let start = array![[1.0, 2.0], [3.0, 4.0]].into_dyn();
        for make in makers {
            weight.set_data(start.clone()).unwrap();
            model.cleargrad();
            let x = V::constant_from_array(array![[1.0, -1.0], [0.5, 2.0]]);
            sum(&model.forward(&x).unwrap())
                .unwrap()
                .backward()
                .unwrap();
            // Both uses' gradients, summed into the one variable.
            let g = weight.grad().unwrap().to_owned();
            let mut opt = make(listed()).unwrap();
            assert_eq!(opt.params().len(), 3);
            assert!(opt.params()[0].ptr_eq(&weight));
            opt.step().unwrap();
            // The same optimizer over the weight alone, with the same gradient.
            let alone = param(&[1.0, 2.0, 3.0, 4.0]);
            set_grad(
                &alone,
                &g.iter().copied().collect::<ndarray::Array1<_>>().into_dyn(),
            );
            make(vec![alone.clone()]).unwrap().step().unwrap();
            assert_eq!(
                data(&weight).iter().collect::<Vec<_>>(),
                data(&alone).iter().collect::<Vec<_>>()
            );
        }
        // SGD in figures: the weight moves by lr·g, not 2·lr·g.
        weight.set_data(start.clone()).unwrap();
        model.cleargrad();
        let x = V::constant_from_array(array![[1.0, -1.0]]);
        sum(&model.forward(&x).unwrap())
            .unwrap()
            .backward()
            .unwrap();
        let g = weight.grad().unwrap().to_owned();
        Sgd::new(listed(), 0.1).unwrap().step().unwrap();
        assert_eq!(data(&weight), &start - &(0.1 * &g));
    }

    #[test]
    fn updates_write_into_the_one_copy_unless_a_graph_shares_it() {
        let w = param(&[1.0, 2.0, 3.0]);
        let mut sgd = Sgd::new(vec![w.clone()], 1.0).unwrap();
        set_grad(&w, &array![1.0, 1.0, 1.0].into_dyn());
        let address = w.data().as_ptr();
        sgd.step().unwrap();
        assert_eq!(w.data().as_ptr(), address, "in place");
        // A live graph that read w keeps the value it read.
        let y = mul(&w, &w).unwrap();
        sgd.step().unwrap();
        assert_eq!(data(&w), array![-1.0, 0.0, 1.0].into_dyn());
        assert_eq!(y.data(), array![0.0, 1.0, 4.0].into_dyn());
    }

    #[test]
    fn state_bytes_count_what_each_optimizer_keeps() {
        let w = param(&[1.0; 10]);
        let g = ArrayD::from_elem(vec![10], 1.0);
        set_grad(&w, &g);
        let handles = size_of::<V>();
        let sgd = Sgd::new(vec![w.clone()], 0.1).unwrap();
        assert_eq!(sgd.state_bytes(), handles);
        let mut adam = Adam::new(vec![w.clone()], 0.1).unwrap();
        let before = adam.state_bytes();
        adam.step().unwrap();
        assert_eq!(adam.state_bytes(), before + 2 * 10 * size_of::<f64>());
        let mut momentum = MomentumSgd::new(vec![w.clone()], 0.1, 0.9).unwrap();
        let before = momentum.state_bytes();
        momentum.step().unwrap();
        assert_eq!(momentum.state_bytes(), before + 10 * size_of::<f64>());
    }
}
