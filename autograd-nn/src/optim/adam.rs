//! [`Adam`]: adaptive moment estimation.

use autograd_core::{DefaultStrategy, Strategy, Variable};
use ndarray::{ArrayD, Zip};

use super::{
    Optimizer, array_bytes, check_non_negative, check_positive, check_unit, update_each, vec_bytes,
};
use crate::Result;
use crate::module::distinct;

/// `torch.optim.Adam` (not AMSGrad), step by step as its CPU kernel computes:
/// with `t` the parameter's own step count (it advances only when the
/// parameter has a gradient),
///
/// ```text
/// g ← g + λ·p                        (weight decay λ, when set)
/// m ← m + (1 − β₁)·(g − m)           (lerp toward g)
/// v ← β₂·v + (1 − β₂)·g·g
/// p ← p − (lr / (1 − β₁ᵗ))·m / (√v / √(1 − β₂ᵗ) + ε)
/// ```
///
/// Defaults: `β = (0.9, 0.999)`, `ε = 1e-8`, `λ = 0`.
pub struct Adam<S: Strategy = DefaultStrategy> {
    params: Vec<Variable<S>>,
    lr: f64,
    betas: (f64, f64),
    eps: f64,
    weight_decay: f64,
    /// Each parameter's moments and step count, from its first update on.
    moments: Vec<Option<Moments>>,
}

/// One parameter's state.
struct Moments {
    step: u64,
    m: ArrayD<f64>,
    v: ArrayD<f64>,
}

impl<S: Strategy> Adam<S> {
    /// Adam over `params` at rate `lr` (0.001 is PyTorch's default).
    /// A variable listed twice (a weight two layers share) is kept once.
    ///
    /// ```
    /// use autograd_nn::{Adam, Error, Optimizer};
    /// use autograd_ops::Variable;
    /// use ndarray::array;
    ///
    /// let w = Variable::new(array![1.0, 2.0]);
    /// let adam = Adam::new(vec![w.clone()], 1e-3)?.betas(0.9, 0.99)?.weight_decay(1e-4)?;
    /// assert_eq!(adam.lr(), 1e-3);
    /// // Checked here, not at the first step.
    /// let err = Adam::new(vec![w], 1e-3)?.betas(1.0, 0.99).err().unwrap();
    /// assert!(matches!(err, Error::Hyperparameter { optimizer: "Adam", name: "beta1", .. }));
    /// # Ok::<(), autograd_nn::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::Hyperparameter`](crate::Error::Hyperparameter) naming `Adam`
    /// and the rate unless `lr` is finite and at least 0.
    pub fn new(params: Vec<Variable<S>>, lr: f64) -> Result<Self> {
        let lr = check_non_negative("Adam", "learning rate", lr)?;
        let params = distinct(params);
        let moments = params.iter().map(|_| None).collect();
        Ok(Adam {
            params,
            lr,
            betas: (0.9, 0.999),
            eps: 1e-8,
            weight_decay: 0.0,
            moments,
        })
    }

    /// Sets the moments' decay rates `β₁` and `β₂`.
    ///
    /// # Errors
    /// [`Error::Hyperparameter`](crate::Error::Hyperparameter) naming `Adam`
    /// and `beta1` or `beta2` unless each is in `[0, 1)`.
    pub fn betas(mut self, beta1: f64, beta2: f64) -> Result<Self> {
        self.betas = (
            check_unit("Adam", "beta1", beta1)?,
            check_unit("Adam", "beta2", beta2)?,
        );
        Ok(self)
    }

    /// Sets `ε`, the term that keeps the denominator from 0.
    ///
    /// # Errors
    /// [`Error::Hyperparameter`](crate::Error::Hyperparameter) naming `Adam`
    /// and `epsilon` unless `eps` is finite and above 0.
    pub fn eps(mut self, eps: f64) -> Result<Self> {
        self.eps = check_positive("Adam", "epsilon", eps)?;
        Ok(self)
    }

    /// Sets the L2 penalty `λ`, added to the gradient as `λ·p` (not
    /// decoupled: that is AdamW).
    ///
    /// # Errors
    /// [`Error::Hyperparameter`](crate::Error::Hyperparameter) naming `Adam`
    /// and `weight decay` unless `weight_decay` is finite and at least 0.
    pub fn weight_decay(mut self, weight_decay: f64) -> Result<Self> {
        self.weight_decay = check_non_negative("Adam", "weight decay", weight_decay)?;
        Ok(self)
    }
}

impl<S: Strategy> Optimizer<S> for Adam<S> {
    fn step(&mut self) -> Result<()> {
        let (beta1, beta2) = self.betas;
        let (lr, eps, decay) = (self.lr, self.eps, self.weight_decay);
        let (w1, w2) = (1.0 - beta1, 1.0 - beta2);
        let moments = &mut self.moments;
        update_each(&self.params, |i, grad, mut value| {
            let state = moments[i].get_or_insert_with(|| Moments {
                step: 0,
                m: ArrayD::zeros(grad.raw_dim()),
                v: ArrayD::zeros(grad.raw_dim()),
            });
            state.step += 1;
            let t = state.step as f64;
            let step_size = -(lr / (1.0 - beta1.powf(t)));
            let correction2 = (1.0 - beta2.powf(t)).sqrt();
            Zip::from(&mut value)
                .and(&mut state.m)
                .and(&mut state.v)
                .and(grad)
                .for_each(|p, m, v, &g| {
                    let g = if decay != 0.0 { g + decay * *p } else { g };
                    *m = lerp(*m, g, w1);
                    *v = *v * beta2 + w2 * g * g;
                    *p += step_size * *m / (v.sqrt() / correction2 + eps);
                });
        })
    }

    fn params(&self) -> &[Variable<S>] {
        &self.params
    }

    fn lr(&self) -> f64 {
        self.lr
    }

    fn set_lr(&mut self, lr: f64) -> Result<()> {
        self.lr = check_non_negative("Adam", "learning rate", lr)?;
        Ok(())
    }

    fn state_bytes(&self) -> usize {
        vec_bytes(&self.params)
            + vec_bytes(&self.moments)
            + self
                .moments
                .iter()
                .flatten()
                .map(|s| array_bytes(&s.m) + array_bytes(&s.v))
                .sum::<usize>()
    }
}

/// `a + w·(b − a)`, as PyTorch's `lerp` computes it (from the far end when
/// `w ≥ 0.5`, for accuracy).
fn lerp(a: f64, b: f64, w: f64) -> f64 {
    if w < 0.5 {
        a + w * (b - a)
    } else {
        b - (b - a) * (1.0 - w)
    }
}
