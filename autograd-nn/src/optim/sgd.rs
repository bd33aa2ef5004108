//! [`Sgd`]: plain stochastic gradient descent.

use autograd_core::{DefaultStrategy, Strategy, Variable};
use ndarray::Zip;

use super::{Optimizer, check_non_negative, update_each, vec_bytes};
use crate::Result;

/// `p ← p − lr · g` (`torch.optim.SGD` without momentum).
pub struct Sgd<S: Strategy = DefaultStrategy> {
    params: Vec<Variable<S>>,
    lr: f64,
}

impl<S: Strategy> Sgd<S> {
    /// Plain SGD over `params` at rate `lr`.
    pub fn new(params: Vec<Variable<S>>, lr: f64) -> Self {
        Sgd { params, lr }
    }
}

impl<S: Strategy> Optimizer<S> for Sgd<S> {
    fn step(&mut self) -> Result<()> {
        check_non_negative("Sgd", "learning rate", self.lr)?;
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

    fn set_lr(&mut self, lr: f64) {
        self.lr = lr;
    }

    fn state_bytes(&self) -> usize {
        vec_bytes(&self.params)
    }
}
