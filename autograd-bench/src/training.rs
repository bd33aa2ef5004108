//! The training step the `train_step` bench and the report's training
//! section measure: the digits MLP (64-100-10, ReLU) on a batch of 32, one
//! `cleargrad` + forward + softmax cross-entropy + `backward_once` + Adam step,
//! through the engine ([`TrainStep`]) and as the cheapest plain ndarray
//! code doing the same arithmetic ([`FloorStep`]).

use autograd_nn::{Activation, Adam, Linear, Mlp, Module, Optimizer, datasets};
use autograd_ops::{Result, Strategy, Variable, softmax_cross_entropy};
use ndarray::linalg::general_mat_mul;
use ndarray::{Array1, Array2, Axis, Slice, Zip};

/// The layer widths of the digits MLP.
pub const SIZES: [usize; 3] = [64, 100, 10];
/// The batch size of a step.
pub const BATCH: usize = 32;
/// Adam's rate in the step.
pub const LR: f64 = 1e-3;

/// The first [`BATCH`] digits, pixels scaled to `[0, 1]`, and their labels.
pub fn digits_batch() -> (Array2<f64>, Vec<usize>) {
    let (x, labels) = datasets::digits();
    (
        x.slice_axis(Axis(0), Slice::from(..BATCH))
            .mapv(|v| v / 16.0),
        labels[..BATCH].to_vec(),
    )
}

/// The MLP's initial weights and biases, `(W, b)` per layer, as
/// [`Mlp::new`] draws them from `seed`.
pub fn initial_weights(seed: u64) -> Vec<(Array2<f64>, Array1<f64>)> {
    let model = Mlp::<autograd_ops::RcWeak>::new_in(&SIZES, Activation::Relu, seed).expect("sizes");
    model
        .layers()
        .iter()
        .map(|layer| {
            let weight = layer.weight().data().to_owned();
            let bias = layer.bias().expect("a bias").data().to_owned();
            (
                weight.into_dimensionality().expect("2-D"),
                bias.into_dimensionality().expect("1-D"),
            )
        })
        .collect()
}

/// The step through the engine: the model, its Adam, and one batch.
pub struct TrainStep<S: Strategy> {
    /// The MLP.
    pub model: Mlp<S>,
    /// Adam over the model's parameters.
    pub adam: Adam<S>,
    /// The batch, a constant.
    pub x: Variable<S>,
    /// The batch's labels.
    pub labels: Vec<usize>,
}

impl<S: Strategy> TrainStep<S> {
    /// The MLP from [`initial_weights`]`(seed)` on [`digits_batch`].
    pub fn new(seed: u64) -> Self {
        let layers = initial_weights(seed)
            .into_iter()
            .map(|(w, b)| Linear::from_arrays_in(w, b).expect("shapes that fit"))
            .collect();
        let model = Mlp::from_layers(layers, Activation::Relu).expect("widths that chain");
        let adam = Adam::new(model.params(), LR).expect("a valid rate");
        let (x, labels) = digits_batch();
        TrainStep {
            model,
            adam,
            x: Variable::constant_from_array(x),
            labels,
        }
    }

    /// One step: clear the gradients, forward, `backward_once` (which lets
    /// go of the graph, so that Adam writes into the weights in place),
    /// Adam's step; the loss before it.
    ///
    /// # Errors
    /// None in practice (the shapes fit).
    pub fn step(&mut self) -> Result<f64> {
        self.adam.cleargrad();
        let loss =
            softmax_cross_entropy(&self.model.forward(&self.x).map_err(core)?, &self.labels)?;
        loss.backward_once()?;
        self.adam.step().map_err(core)?;
        Ok(loss.item().unwrap_or(f64::NAN))
    }
}

/// The floors' fused softmax cross-entropy: replaces each row of `logits`
/// with its gradient `(p − onehot)/N` in place and returns the summed
/// (not yet averaged) loss over the `N` rows.
pub(crate) fn softmax_cross_entropy_grad(logits: &mut Array2<f64>, labels: &[usize]) -> f64 {
    let n = labels.len() as f64;
    let mut loss = 0.0;
    for (mut row, &label) in logits.axis_iter_mut(Axis(0)).zip(labels) {
        let max = row.fold(f64::NEG_INFINITY, |a, &b| a.max(b));
        let sum: f64 = row.iter().map(|&v| (v - max).exp()).sum();
        let log_sum = max + sum.ln();
        loss += log_sum - row[label];
        row.mapv_inplace(|v| (v - log_sum).exp() / n);
        row[label] -= 1.0 / n;
    }
    loss
}

/// The engine's error inside an `autograd_nn` one (the workloads return the
/// engine's `Result`; nothing here fails but the engine).
pub(crate) fn core(e: autograd_nn::Error) -> autograd_ops::Error {
    match e {
        autograd_nn::Error::Core(e) => e,
        other => panic!("not an engine error: {other}"),
    }
}

/// One Adam parameter of a floor: value, gradient, moments, in
/// preallocated arrays.
pub(crate) struct Param<D: ndarray::Dimension> {
    pub(crate) value: ndarray::Array<f64, D>,
    pub(crate) grad: ndarray::Array<f64, D>,
    m: ndarray::Array<f64, D>,
    v: ndarray::Array<f64, D>,
}

impl<D: ndarray::Dimension> Param<D> {
    pub(crate) fn new(value: ndarray::Array<f64, D>) -> Self {
        let zeros = || ndarray::Array::zeros(value.raw_dim());
        Param {
            grad: zeros(),
            m: zeros(),
            v: zeros(),
            value,
        }
    }

    /// `torch.optim.Adam`'s update, as [`Adam`] computes it, in place.
    pub(crate) fn adam(&mut self, t: f64, lr: f64) {
        let (beta1, beta2, eps) = (0.9f64, 0.999f64, 1e-8);
        let step_size = -(lr / (1.0 - beta1.powf(t)));
        let correction2 = (1.0 - beta2.powf(t)).sqrt();
        let (w1, w2) = (1.0 - beta1, 1.0 - beta2);
        Zip::from(&mut self.value)
            .and(&mut self.m)
            .and(&mut self.v)
            .and(&self.grad)
            .for_each(|p, m, v, &g| {
                *m += w1 * (g - *m);
                *v = *v * beta2 + w2 * g * g;
                *p += step_size * *m / (v.sqrt() / correction2 + eps);
            });
    }
}

/// The same step in plain ndarray, every buffer allocated once: products
/// by `general_mat_mul` into them, ReLU and its mask in place, the fused
/// softmax cross-entropy gradient `(p − onehot)/N`, no gradient for the
/// input batch, Adam in place.
pub struct FloorStep {
    x: Array2<f64>,
    labels: Vec<usize>,
    w0: Param<ndarray::Ix2>,
    b0: Param<ndarray::Ix1>,
    w1: Param<ndarray::Ix2>,
    b1: Param<ndarray::Ix1>,
    /// The hidden layer after ReLU, `(batch, 100)`.
    hidden: Array2<f64>,
    /// The logits, then the probabilities, then their gradient.
    logits: Array2<f64>,
    /// The hidden layer's gradient.
    d_hidden: Array2<f64>,
    t: f64,
}

impl FloorStep {
    /// The MLP from [`initial_weights`]`(seed)` on [`digits_batch`].
    pub fn new(seed: u64) -> Self {
        let mut weights = initial_weights(seed).into_iter();
        let (w0, b0) = weights.next().expect("two layers");
        let (w1, b1) = weights.next().expect("two layers");
        let (x, labels) = digits_batch();
        FloorStep {
            hidden: Array2::zeros((BATCH, SIZES[1])),
            logits: Array2::zeros((BATCH, SIZES[2])),
            d_hidden: Array2::zeros((BATCH, SIZES[1])),
            x,
            labels,
            w0: Param::new(w0),
            b0: Param::new(b0),
            w1: Param::new(w1),
            b1: Param::new(b1),
            t: 0.0,
        }
    }

    /// One step; the loss before it.
    pub fn step(&mut self) -> f64 {
        let n = self.labels.len() as f64;
        // Forward: hidden = relu(x·W0 + b0), logits = hidden·W1 + b1.
        self.hidden.assign(&self.b0.value);
        general_mat_mul(1.0, &self.x, &self.w0.value, 1.0, &mut self.hidden);
        self.hidden.mapv_inplace(|v| v.max(0.0));
        self.logits.assign(&self.b1.value);
        general_mat_mul(1.0, &self.hidden, &self.w1.value, 1.0, &mut self.logits);
        // Softmax cross-entropy, and its gradient (p − onehot)/N in place.
        let loss = softmax_cross_entropy_grad(&mut self.logits, &self.labels);
        // Backward.
        general_mat_mul(1.0, &self.hidden.t(), &self.logits, 0.0, &mut self.w1.grad);
        self.b1.grad.assign(&self.logits.sum_axis(Axis(0)));
        general_mat_mul(
            1.0,
            &self.logits,
            &self.w1.value.t(),
            0.0,
            &mut self.d_hidden,
        );
        Zip::from(&mut self.d_hidden)
            .and(&self.hidden)
            .for_each(|d, &h| {
                if h <= 0.0 {
                    *d = 0.0;
                }
            });
        general_mat_mul(1.0, &self.x.t(), &self.d_hidden, 0.0, &mut self.w0.grad);
        self.b0.grad.assign(&self.d_hidden.sum_axis(Axis(0)));
        // Adam.
        self.t += 1.0;
        self.w0.adam(self.t, LR);
        self.b0.adam(self.t, LR);
        self.w1.adam(self.t, LR);
        self.b1.adam(self.t, LR);
        loss / n
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use autograd_ops::RcWeak;

    #[test]
    fn the_floor_computes_the_engines_losses() {
        let mut engine = TrainStep::<RcWeak>::new(3);
        let mut floor = FloorStep::new(3);
        for step in 0..5 {
            let (a, b) = (engine.step().unwrap(), floor.step());
            assert!((a - b).abs() <= 1e-12 * b.abs(), "step {step}: {a} vs {b}");
        }
    }
}
