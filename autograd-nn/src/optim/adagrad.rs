//! [`AdaGrad`]: per-element rates from the sum of squared gradients.

use autograd_core::{DefaultStrategy, Strategy, Variable};
use ndarray::{ArrayD, Zip};

use super::{Optimizer, array_bytes, check_non_negative, check_positive, update_each, vec_bytes};
use crate::Result;
use crate::module::distinct;

/// `torch.optim.Adagrad` (no rate decay, no weight decay, sums starting at
/// 0): `s ← s + g²`, then `p ← p − lr · g / (√s + ε)`, with `ε = 1e-10`.
pub struct AdaGrad<S: Strategy = DefaultStrategy> {
    params: Vec<Variable<S>>,
    lr: f64,
    eps: f64,
    /// Each parameter's sum of squared gradients, from its first update on.
    sums: Vec<Option<ArrayD<f64>>>,
}

impl<S: Strategy> AdaGrad<S> {
    /// AdaGrad over `params` at rate `lr` (0.01 is PyTorch's default).
    /// A variable listed twice (a weight two layers share) is kept once.
    ///
    /// # Errors
    /// [`Error::Hyperparameter`](crate::Error::Hyperparameter) naming
    /// `AdaGrad` and the rate unless `lr` is finite and at least 0.
    pub fn new(params: Vec<Variable<S>>, lr: f64) -> Result<Self> {
        let lr = check_non_negative("AdaGrad", "learning rate", lr)?;
        let params = distinct(params);
        let sums = params.iter().map(|_| None).collect();
        Ok(AdaGrad {
            params,
            lr,
            eps: 1e-10,
            sums,
        })
    }

    /// Sets `ε`, the term that keeps the denominator from 0.
    ///
    /// # Errors
    /// [`Error::Hyperparameter`](crate::Error::Hyperparameter) naming
    /// `AdaGrad` and `epsilon` unless `eps` is finite and above 0.
    pub fn eps(mut self, eps: f64) -> Result<Self> {
        self.eps = check_positive("AdaGrad", "epsilon", eps)?;
        Ok(self)
    }
}

impl<S: Strategy> Optimizer<S> for AdaGrad<S> {
    fn step(&mut self) -> Result<()> {
        let (step, eps) = (-self.lr, self.eps);
        let sums = &mut self.sums;
        update_each(&self.params, |i, grad, mut value| {
            let sum = sums[i].get_or_insert_with(|| ArrayD::zeros(grad.raw_dim()));
            Zip::from(&mut value)
                .and(&mut *sum)
                .and(grad)
                .for_each(|p, s, &g| {
                    *s += g * g;
                    *p += step * g / (s.sqrt() + eps);
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
        self.lr = check_non_negative("AdaGrad", "learning rate", lr)?;
        Ok(())
    }

    fn state_bytes(&self) -> usize {
        vec_bytes(&self.params)
            + vec_bytes(&self.sums)
            + self.sums.iter().flatten().map(array_bytes).sum::<usize>()
    }
}
