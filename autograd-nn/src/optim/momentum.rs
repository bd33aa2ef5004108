//! [`MomentumSgd`]: SGD with momentum.

use autograd_core::{DefaultStrategy, Strategy, Variable};
use ndarray::{ArrayD, Zip};

use super::{Optimizer, array_bytes, check_non_negative, check_unit, update_each, vec_bytes};
use crate::Result;
use crate::module::distinct;

/// `torch.optim.SGD` with momentum `μ` (no dampening, not Nesterov):
/// `b ← μ · b + g` (`b ← g` at a parameter's first update), then
/// `p ← p − lr · b`.
///
/// For a constant rate this is DeZero's `MomentumSGD` (`v ← μ v − lr g`,
/// `p ← p + v`, with `v = −lr · b`).
pub struct MomentumSgd<S: Strategy = DefaultStrategy> {
    params: Vec<Variable<S>>,
    lr: f64,
    momentum: f64,
    /// Each parameter's momentum buffer, from its first update on.
    buffers: Vec<Option<ArrayD<f64>>>,
}

impl<S: Strategy> MomentumSgd<S> {
    /// SGD over `params` at rate `lr` with momentum `momentum` (0.9 is usual).
    /// A variable listed twice (a weight two layers share) is kept once.
    ///
    /// # Errors
    /// [`Error::Hyperparameter`](crate::Error::Hyperparameter) naming
    /// `MomentumSgd` and the value unless `lr` is finite and at least 0 and
    /// `momentum` is in `[0, 1)`.
    pub fn new(params: Vec<Variable<S>>, lr: f64, momentum: f64) -> Result<Self> {
        let lr = check_non_negative("MomentumSgd", "learning rate", lr)?;
        let momentum = check_unit("MomentumSgd", "momentum", momentum)?;
        let params = distinct(params);
        let buffers = params.iter().map(|_| None).collect();
        Ok(MomentumSgd {
            params,
            lr,
            momentum,
            buffers,
        })
    }
}

impl<S: Strategy> Optimizer<S> for MomentumSgd<S> {
    fn step(&mut self) -> Result<()> {
        let (step, momentum) = (-self.lr, self.momentum);
        let buffers = &mut self.buffers;
        update_each(&self.params, |i, grad, mut value| {
            let buffer = match &mut buffers[i] {
                Some(buffer) => {
                    Zip::from(&mut *buffer)
                        .and(grad)
                        .for_each(|b, &g| *b = *b * momentum + g);
                    buffer
                }
                empty => empty.insert(grad.to_owned()),
            };
            Zip::from(&mut value)
                .and(&*buffer)
                .for_each(|p, &b| *p += step * b);
        })
    }

    fn params(&self) -> &[Variable<S>] {
        &self.params
    }

    fn lr(&self) -> f64 {
        self.lr
    }

    fn set_lr(&mut self, lr: f64) -> Result<()> {
        self.lr = check_non_negative("MomentumSgd", "learning rate", lr)?;
        Ok(())
    }

    fn state_bytes(&self) -> usize {
        vec_bytes(&self.params)
            + vec_bytes(&self.buffers)
            + self
                .buffers
                .iter()
                .flatten()
                .map(array_bytes)
                .sum::<usize>()
    }
}
