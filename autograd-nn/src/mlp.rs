//! [`Mlp`]: a multi-layer perceptron, and the [`Activation`] between its
//! layers.

use autograd_core::{DefaultStrategy, Strategy, Variable};
use rand::SeedableRng;
use rand::rngs::StdRng;

use autograd_ops::budget::{ChainBlock, Plan, checkpoint_chain};

use crate::module::layer_params;
use crate::{Error, Linear, Module, Result};

/// The nonlinearity between an [`Mlp`]'s layers, and a [`Module`] of its
/// own (no parameters), to place between the layers of a
/// [`Sequential`](crate::Sequential).
///
/// ```
/// use autograd_nn::{Activation, Linear, Module, Sequential};
/// use autograd_ops::Variable;
/// use ndarray::array;
///
/// let model = Sequential::new()
///     .push(Linear::from_arrays(array![[1.0, -1.0]], None)?)
///     .push(Activation::Relu);
/// let y = model.forward(&Variable::constant(array![[2.0]]))?;
/// assert_eq!(y.data(), array![[2.0, 0.0]].into_dyn());
/// # Ok::<(), autograd_nn::Error>(())
/// ```
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

impl<S: Strategy> Module<S> for Activation {
    /// # Errors
    /// None in practice: the ops accept any shape.
    fn forward(&self, x: &Variable<S>) -> Result<Variable<S>> {
        self.apply(x)
    }

    /// None: an activation has no parameters.
    fn named_params(&self) -> Vec<(String, Variable<S>)> {
        Vec::new()
    }
}

/// [`Linear`] layers with an [`Activation`] between consecutive ones and
/// none after the last (DeZero's `MLP`). Layer `i`'s parameters are named
/// `l{i}/W` and `l{i}/b`.
///
/// [`new`](Mlp::new) builds on the [`DefaultStrategy`], with no annotation;
/// [`new_in`](Mlp::new_in) on the strategy the type names.
///
/// ```
/// use autograd_nn::{Activation, Mlp, Module};
/// use autograd_ops::{ArcWeak, Variable};
///
/// let m = Mlp::new(&[2, 4, 3], Activation::Relu, 0)?;
/// assert_eq!(m.params().len(), 4);
/// let shared = Mlp::<ArcWeak>::new_in(&[2, 4, 3], Activation::Relu, 0)?;
/// // The same seed draws the same weights under any strategy.
/// assert_eq!(shared.layers()[0].weight().data(), m.layers()[0].weight().data());
/// let y = m.forward(&Variable::constant(ndarray::array![[1.0, 2.0]]))?;
/// assert_eq!(y.shape(), [1, 3]);
/// # Ok::<(), autograd_nn::Error>(())
/// ```
pub struct Mlp<S: Strategy = DefaultStrategy> {
    layers: Vec<Linear<S>>,
    activation: Activation,
}

impl Mlp {
    /// Layers of these widths on the [`DefaultStrategy`], the input's
    /// first: `&[64, 100, 10]` is a 64-100-10 network, two layers. Each
    /// layer is initialised as [`Linear::new`] does, in order, from one
    /// `StdRng` seeded with `seed`: the same seed gives the same weights.
    ///
    /// # Errors
    /// As [`new_in`](Mlp::new_in).
    pub fn new(sizes: &[usize], activation: Activation, seed: u64) -> Result<Self> {
        Self::new_in(sizes, activation, seed)
    }
}

impl<S: Strategy> Mlp<S> {
    /// [`new`](Mlp::new) on strategy `S`.
    ///
    /// # Errors
    /// [`Error::NoLayers`] for fewer than two sizes, [`Error::LayerSize`]
    /// for a layer whose weights would not fit in memory.
    pub fn new_in(sizes: &[usize], activation: Activation, seed: u64) -> Result<Self> {
        if sizes.len() < 2 {
            return Err(Error::NoLayers {
                model: "Mlp",
                what: "sizes must hold the input width and at least one layer's",
            });
        }
        let mut rng = StdRng::seed_from_u64(seed);
        // A list of exactly the layers' number (the report's memory
        // breakdown counts it so).
        let mut layers = Vec::with_capacity(sizes.len() - 1);
        for w in sizes.windows(2) {
            layers.push(Linear::draw(w[0], w[1], true, &mut rng)?);
        }
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
    /// use autograd_ops::Variable;
    ///
    /// let mlp = Mlp::new(&[4, 8, 8, 8, 2], Activation::Tanh, 0)?;
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
        self.layers[0].check_input(x.shape())?;
        let (base, longer) = (layers / segments, layers % segments);
        let mut start = 0;
        let mut h = x.clone();
        for segment in 0..segments {
            let end = start + base + usize::from(segment < longer);
            let block = &self.layers[start..end];
            // The block's inputs: h, then each layer's weight and its bias
            // when it has one.
            let mut inputs = vec![&h];
            for layer in block {
                inputs.push(layer.weight());
                inputs.extend(layer.bias());
            }
            let biases: Vec<bool> = block.iter().map(|l| l.bias().is_some()).collect();
            let (activation, last) = (self.activation, end == layers);
            let run = move |v: &[Variable<S>]| {
                let mut h = v[0].clone();
                let mut next = 1;
                for (i, &biased) in biases.iter().enumerate() {
                    let bias = biased.then(|| &v[next + 1]);
                    h = autograd_ops::linear(&h, &v[next], bias)?;
                    next += 1 + usize::from(biased);
                    if !(last && i + 1 == biases.len()) {
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
    /// The layers as the blocks of a chain, for a byte budget
    /// ([`autograd_ops::budget`]): block `i` is layer `i` and the
    /// activation after it (none after the last), reading the layer's
    /// weight and bias.
    pub fn chain_blocks(&self) -> Vec<ChainBlock<S>> {
        let layers = self.layers.len();
        self.layers
            .iter()
            .enumerate()
            .map(|(i, layer)| {
                let (w, b) = (layer.weight().clone(), layer.bias().cloned());
                let activation = (i + 1 < layers).then_some(self.activation);
                let mut params = vec![w.clone()];
                params.extend(b.clone());
                ChainBlock::new(params, move |h| {
                    let y = autograd_ops::linear(&h[0], &w, b.as_ref())?;
                    Ok(vec![match activation {
                        Some(activation) => activation.op(&y)?,
                        None => y,
                    }])
                })
            })
            .collect()
    }

    /// [`forward`](Module::forward) run as `plan` says: its layers kept or
    /// recomputed in backward by segments, within a byte budget when the
    /// plan comes from [`plan_chain`](autograd_ops::budget::plan_chain) on
    /// [`chain_blocks`](Mlp::chain_blocks)' profile. The gradients are
    /// [`forward`](Module::forward)'s, bit for bit.
    ///
    /// ```
    /// use autograd_nn::{Activation, Mlp, Module};
    /// use autograd_ops::Variable;
    /// use autograd_ops::budget::Plan;
    ///
    /// let mlp = Mlp::new(&[4, 8, 8, 8, 2], Activation::Tanh, 0)?;
    /// let x = Variable::constant(ndarray::Array2::<f64>::ones((3, 4)));
    /// let y = mlp.forward_planned(&x, &Plan::segments_of(4, 2, true))?;
    /// assert_eq!(y.data(), mlp.forward(&x)?.data());
    /// # Ok::<(), autograd_nn::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::LayerInput`] for an input that is not `(batch, in)`; an
    /// invalid argument for a plan that does not cover the layers.
    pub fn forward_planned(&self, x: &Variable<S>, plan: &Plan) -> Result<Variable<S>> {
        self.layers[0].check_input(x.shape())?;
        Ok(checkpoint_chain(&self.chain_blocks(), &[x], plan)?.remove(0))
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

    type V = Variable<RcWeak>;

    #[test]
    fn a_linear_layer_computes_x_w_plus_b_and_checks_its_input() {
        let layer = Linear::<RcWeak>::from_arrays_in(
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
        let err = Linear::<RcWeak>::from_arrays_in(Array2::zeros((3, 2)), Array1::zeros(3))
            .err()
            .unwrap();
        assert!(
            err.to_string().contains("[3, 2]") && err.to_string().contains("[3]"),
            "{err}"
        );
    }

    #[test]
    fn dezero_initialisation_draws_weights_of_variance_one_over_in_and_zero_biases() {
        let layer = Linear::<RcWeak>::new_in(400, 100, 5).unwrap();
        let w = layer.weight().data();
        let n = w.len() as f64;
        let mean = w.sum() / n;
        let var = w.mapv(|v| (v - mean).powi(2)).sum() / n;
        // 40,000 samples: the mean within 4 standard errors, the variance within 5%.
        assert!(mean.abs() < 4.0 * (1.0f64 / 400.0 / n).sqrt(), "{mean}");
        assert!((var * 400.0 - 1.0).abs() < 0.05, "{var}");
        let bias = layer.bias().unwrap();
        assert!(bias.data().iter().all(|&b| b == 0.0));
        assert_eq!(bias.shape(), [100]);
    }

    #[test]
    fn an_mlp_draws_its_layers_in_turn_from_one_generator_seeded_once() {
        let model = Mlp::<RcWeak>::new_in(&[3, 4, 2], Activation::Relu, 9).unwrap();
        let mut rng = StdRng::seed_from_u64(9);
        let first = Linear::<RcWeak>::draw(3, 4, true, &mut rng).unwrap();
        let second = Linear::<RcWeak>::draw(4, 2, true, &mut rng).unwrap();
        assert_eq!(model.layers()[0].weight().data(), first.weight().data());
        assert_eq!(model.layers()[1].weight().data(), second.weight().data());
        let again = Mlp::<RcWeak>::new_in(&[3, 4, 2], Activation::Relu, 9).unwrap();
        assert_eq!(again.layers()[1].weight().data(), second.weight().data());
        let other = Mlp::<RcWeak>::new_in(&[3, 4, 2], Activation::Relu, 10).unwrap();
        assert_ne!(other.layers()[0].weight().data(), first.weight().data());
    }

    #[test]
    fn an_mlp_checks_its_sizes_and_names_its_parameters_layer_by_layer() {
        assert!(matches!(
            Mlp::<RcWeak>::new_in(&[3], Activation::Relu, 0),
            Err(Error::NoLayers { .. })
        ));
        assert!(matches!(
            Mlp::<RcWeak>::new_in(&[3, usize::MAX, 2], Activation::Relu, 0),
            Err(Error::LayerSize {
                in_size: 3,
                out_size: usize::MAX,
                ..
            })
        ));
        assert!(matches!(
            Mlp::<RcWeak>::from_layers(vec![], Activation::Relu),
            Err(Error::NoLayers { .. })
        ));
        let layers = vec![
            Linear::new_in(3, 4, 0).unwrap(),
            Linear::new_in(5, 2, 1).unwrap(),
        ];
        assert!(matches!(
            Mlp::<RcWeak>::from_layers(layers, Activation::Relu),
            Err(Error::LayerWidths {
                index: 1,
                input: 5,
                previous: 4,
                ..
            })
        ));
        let model = Mlp::<RcWeak>::new_in(&[3, 4, 4, 2], Activation::Tanh, 0).unwrap();
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

    #[test]
    fn checkpointing_layers_without_bias_gives_forwards_values_and_gradients() {
        let layers = vec![
            Linear::<RcWeak>::without_bias_in(3, 4, 1).unwrap(),
            Linear::new_in(4, 4, 2).unwrap(),
            Linear::without_bias_in(4, 2, 3).unwrap(),
        ];
        let model = Mlp::from_layers(layers, Activation::Tanh).unwrap();
        let names: Vec<String> = model.named_params().into_iter().map(|(n, _)| n).collect();
        assert_eq!(names, ["l0/W", "l1/W", "l1/b", "l2/W"]);
        let x = V::constant_from_array(array![[0.3, -1.2, 0.8], [1.5, 0.2, -0.4]]);
        let grads = |segments: Option<usize>| {
            model.cleargrad();
            let y = match segments {
                Some(s) => model.forward_checkpointed(&x, s).unwrap(),
                None => model.forward(&x).unwrap(),
            };
            autograd_ops::sum(&autograd_ops::square(&y).unwrap())
                .unwrap()
                .backward()
                .unwrap();
            let grads: Vec<_> = model.params().iter().map(|p| p.grad().unwrap()).collect();
            (y.data(), grads)
        };
        let plain = grads(None);
        for segments in 1..=3 {
            assert_eq!(grads(Some(segments)), plain, "{segments} segments");
        }
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
            let model = Mlp::<RcWeak>::new_in(&[3, 5, 3], activation, 11).unwrap();
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
