//! [`Mlp`]: a multi-layer perceptron, and the [`Activation`] between its
//! layers.

use autograd_core::{DefaultStrategy, Strategy, Variable};
use rand::Rng;

use crate::module::layer_params;
use crate::{Error, Linear, Module, Result};

/// The nonlinearity between an [`Mlp`]'s layers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activation {
    /// `1 / (1 + e^-x)` ([`sigmoid`](autograd_ops::sigmoid)).
    Sigmoid,
    /// `max(x, 0)` ([`relu`](autograd_ops::relu)).
    Relu,
    /// `tanh x` ([`tanh`](autograd_ops::tanh)).
    Tanh,
}

impl Activation {
    /// The activation applied to `x`.
    ///
    /// # Errors
    /// None in practice: the ops accept any shape.
    pub fn apply<S: Strategy>(self, x: &Variable<S>) -> Result<Variable<S>> {
        Ok(self.op(x)?)
    }

    /// [`apply`](Activation::apply) with the engine's error (inside a block
    /// given to [`checkpoint`](autograd_ops::checkpoint)).
    fn op<S: Strategy>(self, x: &Variable<S>) -> autograd_core::Result<Variable<S>> {
        match self {
            Activation::Sigmoid => autograd_ops::sigmoid(x),
            Activation::Relu => autograd_ops::relu(x),
            Activation::Tanh => autograd_ops::tanh(x),
        }
    }
}

/// [`Linear`] layers with an [`Activation`] between consecutive ones and
/// none after the last (DeZero's `MLP`). Layer `i`'s parameters are named
/// `l{i}/W` and `l{i}/b`.
pub struct Mlp<S: Strategy = DefaultStrategy> {
    layers: Vec<Linear<S>>,
    activation: Activation,
}

impl<S: Strategy> Mlp<S> {
    /// Layers of these widths, the input's first: `&[64, 100, 10]` is a
    /// 64-100-10 network, two layers. Each layer is initialised as
    /// [`Linear::new`] does, in order, from `rng`.
    ///
    /// # Errors
    /// [`Error::NoLayers`] for fewer than two sizes.
    pub fn new(sizes: &[usize], activation: Activation, rng: &mut impl Rng) -> Result<Self> {
        if sizes.len() < 2 {
            return Err(Error::NoLayers {
                model: "Mlp",
                what: "sizes must hold the input width and at least one layer's",
            });
        }
        let layers = sizes
            .windows(2)
            .map(|w| Linear::new(w[0], w[1], rng))
            .collect();
        Ok(Mlp { layers, activation })
    }

    /// A network of these layers.
    ///
    /// # Errors
    /// [`Error::NoLayers`] for no layers, [`Error::LayerWidths`] when a
    /// layer's input width is not the previous layer's output width.
    pub fn from_layers(layers: Vec<Linear<S>>, activation: Activation) -> Result<Self> {
        if layers.is_empty() {
            return Err(Error::NoLayers {
                model: "Mlp",
                what: "at least one layer is needed",
            });
        }
        for (index, pair) in layers.windows(2).enumerate() {
            if pair[1].in_size() != pair[0].out_size() {
                return Err(Error::LayerWidths {
                    model: "Mlp",
                    index: index + 1,
                    input: pair[1].in_size(),
                    previous: pair[0].out_size(),
                });
            }
        }
        Ok(Mlp { layers, activation })
    }

    /// The layers, in order.
    pub fn layers(&self) -> &[Linear<S>] {
        &self.layers
    }

    /// The activation between layers.
    pub fn activation(&self) -> Activation {
        self.activation
    }

    /// [`forward`](Module::forward) with the layers split into `segments`
    /// consecutive blocks of as equal a length as they divide into (the
    /// longer ones first), each run through
    /// [`checkpoint`](autograd_ops::checkpoint) with its layers' weights
    /// and biases as the block's inputs: between forward and backward the
    /// graph keeps each block's input activation, not the values inside
    /// the blocks, and backward runs each block's forward once more. The
    /// gradients are [`forward`](Module::forward)'s, bit for bit.
    ///
    /// `segments` equal to the number of layers checkpoints every layer;
    /// √layers segments is the classic trade (Chen et al., 2016): kept
    /// activations and recomputation both grow as √layers.
    ///
    /// ```
    /// use autograd_nn::{Activation, Mlp, Module};
    /// use autograd_core::Variable;
    /// use rand::{SeedableRng, rngs::StdRng};
    ///
    /// let mlp: Mlp = Mlp::new(&[4, 8, 8, 8, 2], Activation::Tanh, &mut StdRng::seed_from_u64(0))?;
    /// let x = Variable::constant(ndarray::Array2::<f64>::ones((3, 4)));
    /// let y = mlp.forward_checkpointed(&x, 2)?;
    /// assert_eq!(y.data(), mlp.forward(&x)?.data());
    /// # Ok::<(), autograd_nn::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::Segments`] unless `1 ≤ segments ≤` the number of layers;
    /// [`Error::LayerInput`] for an input that is not `(batch, in)`.
    pub fn forward_checkpointed(&self, x: &Variable<S>, segments: usize) -> Result<Variable<S>> {
        let layers = self.layers.len();
        if segments == 0 || segments > layers {
            return Err(Error::Segments {
                model: "Mlp",
                segments,
                layers,
            });
        }
        let first = &self.layers[0];
        let shape = x.shape();
        if shape.len() != 2 || shape[1] != first.in_size() {
            return Err(Error::LayerInput {
                layer: "Linear",
                weight: [first.in_size(), first.out_size()],
                input: shape,
            });
        }
        let (base, longer) = (layers / segments, layers % segments);
        let mut start = 0;
        let mut h = x.clone();
        for segment in 0..segments {
            let end = start + base + usize::from(segment < longer);
            let block = &self.layers[start..end];
            let mut inputs = vec![&h];
            for layer in block {
                inputs.extend([layer.weight(), layer.bias()]);
            }
            let (activation, last) = (self.activation, end == layers);
            let count = block.len();
            let run = move |v: &[Variable<S>]| {
                let mut h = v[0].clone();
                for i in 0..count {
                    h = autograd_ops::linear(&h, &v[1 + 2 * i], Some(&v[2 + 2 * i]))?;
                    if !(last && i + 1 == count) {
                        h = activation.op(&h)?;
                    }
                }
                Ok(vec![h])
            };
            h = autograd_ops::checkpoint(run, &inputs)?.remove(0);
            start = end;
        }
        Ok(h)
    }
}

impl<S: Strategy> Module<S> for Mlp<S> {
    fn forward(&self, x: &Variable<S>) -> Result<Variable<S>> {
        let (last, hidden) = self.layers.split_last().expect("at least one layer");
        let mut y = x.clone();
        for layer in hidden {
            y = self.activation.apply(&layer.forward(&y)?)?;
        }
        last.forward(&y)
    }

    fn named_params(&self) -> Vec<(String, Variable<S>)> {
        self.layers
            .iter()
            .enumerate()
            .flat_map(|(i, layer)| layer_params(i, layer.named_params()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use autograd_core::{RcWeak, no_grad};
    use autograd_ops::softmax_cross_entropy;
    use ndarray::{Array1, Array2, array};
    use rand::SeedableRng;

    type V = Variable<RcWeak>;

    #[test]
    fn a_linear_layer_computes_x_w_plus_b_and_checks_its_input() {
        let layer = Linear::<RcWeak>::from_arrays(
            array![[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]],
            array![0.5, -0.5],
        )
        .unwrap();
        let y = layer
            .forward(&V::constant_from_array(array![[1.0, 0.0, 1.0]]))
            .unwrap();
        assert_eq!(y.data(), array![[6.5, 7.5]].into_dyn());
        let err = layer
            .forward(&V::constant_from_array(array![[1.0, 0.0]]))
            .unwrap_err();
        assert!(
            matches!(&err, Error::LayerInput { weight: [3, 2], input, .. } if input == &[1, 2]),
            "{err}"
        );
        assert!(err.to_string().contains("[3, 2]") && err.to_string().contains("[1, 2]"));
        let err = Linear::<RcWeak>::from_arrays(Array2::zeros((3, 2)), Array1::zeros(3))
            .err()
            .unwrap();
        assert!(
            err.to_string().contains("[3, 2]") && err.to_string().contains("[3]"),
            "{err}"
        );
    }

    #[test]
    fn dezero_initialisation_draws_weights_of_variance_one_over_in_and_zero_biases() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(5);
        let layer = Linear::<RcWeak>::new(400, 100, &mut rng);
        let w = layer.weight().data();
        let n = w.len() as f64;
        let mean = w.sum() / n;
        let var = w.mapv(|v| (v - mean).powi(2)).sum() / n;
        // 40,000 samples: the mean within 4 standard errors, the variance within 5%.
        assert!(mean.abs() < 4.0 * (1.0f64 / 400.0 / n).sqrt(), "{mean}");
        assert!((var * 400.0 - 1.0).abs() < 0.05, "{var}");
        assert!(layer.bias().data().iter().all(|&b| b == 0.0));
        assert_eq!(layer.bias().shape(), [100]);
    }

    #[test]
    fn an_mlp_checks_its_sizes_and_names_its_parameters_layer_by_layer() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(0);
        assert!(matches!(
            Mlp::<RcWeak>::new(&[3], Activation::Relu, &mut rng),
            Err(Error::NoLayers { .. })
        ));
        assert!(matches!(
            Mlp::<RcWeak>::from_layers(vec![], Activation::Relu),
            Err(Error::NoLayers { .. })
        ));
        let layers = vec![Linear::new(3, 4, &mut rng), Linear::new(5, 2, &mut rng)];
        assert!(matches!(
            Mlp::<RcWeak>::from_layers(layers, Activation::Relu),
            Err(Error::LayerWidths {
                index: 1,
                input: 5,
                previous: 4,
                ..
            })
        ));
        let model = Mlp::<RcWeak>::new(&[3, 4, 4, 2], Activation::Tanh, &mut rng).unwrap();
        let shapes: Vec<(String, Vec<usize>)> = model
            .named_params()
            .into_iter()
            .map(|(n, p)| (n, p.shape()))
            .collect();
        let expected = [
            ("l0/W", vec![3, 4]),
            ("l0/b", vec![4]),
            ("l1/W", vec![4, 4]),
            ("l1/b", vec![4]),
            ("l2/W", vec![4, 2]),
            ("l2/b", vec![2]),
        ];
        assert_eq!(shapes, expected.map(|(n, s)| (n.to_owned(), s)));
        assert!(
            model
                .params()
                .iter()
                .zip(model.named_params())
                .all(|(a, (_, b))| a.ptr_eq(&b))
        );
    }

    /// The loss of `model` on `x` without recording.
    fn loss(model: &Mlp<RcWeak>, x: &V, labels: &[usize]) -> f64 {
        let _guard = no_grad();
        softmax_cross_entropy(&model.forward(x).unwrap(), labels)
            .unwrap()
            .item()
            .unwrap()
    }

    #[test]
    fn every_parameters_gradient_matches_central_differences_for_each_activation() {
        let x =
            V::constant_from_array(array![[0.3, -1.2, 0.8], [1.5, 0.2, -0.4], [-0.7, 0.9, 0.1]]);
        let labels = [2, 0, 1];
        for activation in [Activation::Sigmoid, Activation::Relu, Activation::Tanh] {
            let mut rng = rand::rngs::StdRng::seed_from_u64(11);
            let model = Mlp::<RcWeak>::new(&[3, 5, 3], activation, &mut rng).unwrap();
            model.cleargrad();
            softmax_cross_entropy(&model.forward(&x).unwrap(), &labels)
                .unwrap()
                .backward()
                .unwrap();
            for (name, p) in model.named_params() {
                let grad = p.grad().unwrap().to_owned();
                for i in 0..p.len() {
                    let h = 1e-6;
                    let nudge = |d: f64| {
                        p.update_data(|mut v| {
                            let v = v.as_slice_mut().unwrap();
                            v[i] += d;
                        })
                        .unwrap()
                    };
                    nudge(h);
                    let up = loss(&model, &x, &labels);
                    nudge(-2.0 * h);
                    let down = loss(&model, &x, &labels);
                    nudge(h);
                    let numeric = (up - down) / (2.0 * h);
                    let analytic = grad.as_slice().unwrap()[i];
                    assert!(
                        (numeric - analytic).abs() < 1e-7 * analytic.abs().max(1.0),
                        "{activation:?} {name}[{i}]: {analytic} vs {numeric}"
                    );
                }
            }
            model.cleargrad();
            assert!(model.params().iter().all(|p| p.grad().is_none()));
        }
    }
}
