//! [`Optimizer`]s: [`Sgd`], [`MomentumSgd`], [`AdaGrad`] and [`Adam`], one
//! file each, with the update formulas of `torch.optim`'s documentation
//! (and the order of its CPU kernels' arithmetic), so that one model from
//! one set of weights on one sequence of batches gives PyTorch's losses.
//!
//! Each update writes into the parameter's one copy of its value
//! ([`Variable::update_data`]): in place once no graph shares the buffer.

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
/// let mut sgd = Sgd::new(vec![w.clone()], 0.5);
/// sum(&square(&w)?)?.backward()?; // the gradient is 2w
/// sgd.step()?;
/// assert_eq!(w.data(), array![0.0, 0.0].into_dyn());
/// sgd.zero_grad();
/// assert!(w.grad().is_none());
/// # Ok::<(), autograd_nn::Error>(())
/// ```
pub trait Optimizer<S: Strategy = DefaultStrategy> {
    /// One update of every parameter that has a gradient, from that
    /// gradient; a parameter without one is skipped and its state (moments,
    /// step count) stays as it was.
    ///
    /// # Errors
    /// [`Error::Hyperparameter`] naming the optimizer and the value when a
    /// rate, beta, momentum, epsilon or weight decay is out of range; no
    /// parameter changes then.
    fn step(&mut self) -> Result<()>;

    /// Forgets every parameter's gradient (each becomes `None`, as
    /// [`Variable::cleargrad`]).
    fn zero_grad(&self) {
        for param in self.params() {
            param.cleargrad();
        }
    }

    /// The parameters, in the order given to `new`.
    fn params(&self) -> &[Variable<S>];

    /// The learning rate.
    fn lr(&self) -> f64;

    /// Sets the learning rate (checked at the next [`step`](Optimizer::step)).
    fn set_lr(&mut self, lr: f64);

    /// The heap bytes the optimizer holds: its list of parameter handles
    /// and per-parameter state (moments, sums, step counts), exactly as
    /// requested from the allocator.
    fn state_bytes(&self) -> usize;
}

/// `Ok` when `ok`, else the optimizer's error for `name = value`.
pub(crate) fn check(
    optimizer: &'static str,
    name: &'static str,
    value: f64,
    ok: bool,
    range: &'static str,
) -> Result<()> {
    if ok {
        Ok(())
    } else {
        Err(Error::Hyperparameter {
            optimizer,
            name,
            value,
            range,
        })
    }
}

/// A rate, epsilon, momentum or decay: at least 0 (NaN is not).
pub(crate) fn check_non_negative(
    optimizer: &'static str,
    name: &'static str,
    value: f64,
) -> Result<()> {
    check(optimizer, name, value, value >= 0.0, ">= 0")
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
    use crate::Error;
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
        let mut sgd = Sgd::new(vec![w.clone()], 0.1);
        set_grad(&w, &array![0.5, -1.0].into_dyn());
        sgd.step().unwrap();
        assert_eq!(data(&w), array![1.0 - 0.1 * 0.5, 2.0 + 0.1].into_dyn());
    }

    #[test]
    fn momentum_starts_from_the_gradient_then_accumulates() {
        let (lr, mu) = (0.1, 0.9);
        let w = param(&[1.0, -3.0]);
        let g = array![0.5, 2.0].into_dyn();
        let mut opt = MomentumSgd::new(vec![w.clone()], lr, mu);
        set_grad(&w, &g);
        opt.step().unwrap();
        let p1 = array![1.0, -3.0].into_dyn() - lr * &g;
        assert!(close(&data(&w), &p1, 1e-15));
        opt.zero_grad();
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
        let mut opt = AdaGrad::new(vec![w.clone()], lr);
        for t in 1..=3 {
            opt.zero_grad();
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
                .betas(b1, b2)
                .eps(eps)
                .weight_decay(wd);
            for (i, &g) in grads.iter().enumerate() {
                adam.zero_grad();
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
        let mut adam = Adam::new(vec![a.clone(), b.clone()], 0.1);
        set_grad(&a, &array![1.0].into_dyn());
        adam.step().unwrap();
        assert_eq!(data(&b), array![1.0].into_dyn(), "no gradient, no update");
        // b's first update is a first step (t = 1), a's is its second.
        adam.zero_grad();
        set_grad(&a, &array![1.0].into_dyn());
        set_grad(&b, &array![1.0].into_dyn());
        adam.step().unwrap();
        let first = adam_textbook(1.0, &[1.0], 0.1, 0.9, 0.999, 1e-8, 0.0);
        let second = adam_textbook(1.0, &[1.0, 1.0], 0.1, 0.9, 0.999, 1e-8, 0.0);
        assert!((b.data()[[0]] - first).abs() < 1e-12);
        assert!((a.data()[[0]] - second).abs() < 1e-12);
    }

    #[test]
    fn bad_hyperparameters_are_errors_from_step_and_change_nothing() {
        let w = param(&[1.0]);
        set_grad(&w, &array![1.0].into_dyn());
        let p = || vec![w.clone()];
        let mut cases: Vec<(Box<dyn Optimizer<RcWeak>>, &str)> = vec![
            (Box::new(Sgd::new(p(), -1.0)), "learning rate"),
            (Box::new(Sgd::new(p(), f64::NAN)), "learning rate"),
            (Box::new(MomentumSgd::new(p(), 0.1, -0.5)), "momentum"),
            (Box::new(AdaGrad::new(p(), 0.1).eps(-1.0)), "epsilon"),
            (Box::new(Adam::new(p(), 0.1).betas(1.0, 0.999)), "beta1"),
            (Box::new(Adam::new(p(), 0.1).betas(0.9, -0.1)), "beta2"),
            (
                Box::new(Adam::new(p(), 0.1).weight_decay(-1.0)),
                "weight decay",
            ),
        ];
        for (opt, what) in &mut cases {
            match opt.step() {
                Err(Error::Hyperparameter { name, .. }) => assert_eq!(name, *what),
                other => panic!("{what}: {other:?}"),
            }
            assert_eq!(data(&w), array![1.0].into_dyn());
        }
        // A rate fixed with set_lr works again.
        let mut sgd = Sgd::new(p(), -1.0);
        assert!(sgd.step().is_err());
        sgd.set_lr(0.5);
        sgd.step().unwrap();
        assert_eq!((sgd.lr(), data(&w)), (0.5, array![0.5].into_dyn()));
    }

    #[test]
    fn updates_write_into_the_one_copy_unless_a_graph_shares_it() {
        let w = param(&[1.0, 2.0, 3.0]);
        let mut sgd = Sgd::new(vec![w.clone()], 1.0);
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
        let sgd = Sgd::new(vec![w.clone()], 0.1);
        assert_eq!(sgd.state_bytes(), handles);
        let mut adam = Adam::new(vec![w.clone()], 0.1);
        let before = adam.state_bytes();
        adam.step().unwrap();
        assert_eq!(adam.state_bytes(), before + 2 * 10 * size_of::<f64>());
        let mut momentum = MomentumSgd::new(vec![w.clone()], 0.1, 0.9);
        let before = momentum.state_bytes();
        momentum.step().unwrap();
        assert_eq!(momentum.state_bytes(), before + 10 * size_of::<f64>());
    }
}
