//! [`Sgd`]: plain stochastic gradient descent.

use autograd_core::{DefaultStrategy, Strategy, Variable};
use ndarray::Zip;

use super::{Optimizer, check_non_negative, update_each, vec_bytes};
use crate::Result;
use crate::module::distinct;

/// `p ← p − lr · g` (`torch.optim.SGD` without momentum).
pub struct Sgd<S: Strategy = DefaultStrategy> {
    params: Vec<Variable<S>>,
    lr: f64,
}

impl<S: Strategy> Sgd<S> {
    /// Plain SGD over `params` at rate `lr`.
    /// A variable listed twice (a weight two layers share) is kept once.
    ///
    /// # Errors
    /// [`Error::Hyperparameter`](crate::Error::Hyperparameter) naming `Sgd`
    /// and the rate unless `lr` is finite and at least 0.
    pub fn new(params: Vec<Variable<S>>, lr: f64) -> Result<Self> {
        let lr = check_non_negative("Sgd", "learning rate", lr)?;
        Ok(Sgd {
            params: distinct(params),
            lr,
        })
    }
}

impl<S: Strategy> Optimizer<S> for Sgd<S> {
    fn step(&mut self) -> Result<()> {
        let step = -self.lr;
        update_each(&self.params, |_, grad, mut value| {
            Zip::from(&mut value)
                .and(grad)
                .for_each(|p, &g| *p += step * g);
        })
    }

    fn params(&self) -> &[Variable<S>] {
        &self.params
    }

    fn lr(&self) -> f64 {
        self.lr
    }

    fn set_lr(&mut self, lr: f64) -> Result<()> {
        self.lr = check_non_negative("Sgd", "learning rate", lr)?;
        Ok(())
    }

    fn state_bytes(&self) -> usize {
        vec_bytes(&self.params)
    }
}
