//! [`Linear`]: the fully connected layer `x · W + b`.

use autograd_core::{DefaultStrategy, Strategy, Variable};
use ndarray::{Array1, Array2};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rand_distr::StandardNormal;

use crate::{Error, Module, Result};

/// A fully connected layer: `x · W + b` for a batch `x` of shape
/// `(batch, in)`, a weight `W` of shape `(in, out)` and a bias `b` of shape
/// `(out,)` (or none: [`without_bias`](Linear::without_bias)), computed by
/// the fused [`linear`](autograd_ops::linear) op. Its parameters are named
/// `W` and `b`, as DeZero's.
///
/// The constructors without a suffix build on the [`DefaultStrategy`] and
/// need no annotation; each has a twin ending in `_in` that builds on the
/// strategy the type names (`Linear::<ArcWeak>::new_in(..)`).
///
/// ```
/// use autograd_nn::{Linear, Module};
/// use autograd_ops::Variable;
///
/// let layer = Linear::new(3, 2, 0)?; // weights drawn from seed 0
/// let y = layer.forward(&Variable::constant(ndarray::Array2::<f64>::ones((4, 3))))?;
/// assert_eq!(y.shape(), [4, 2]);
/// let names: Vec<String> = layer.named_params().into_iter().map(|(n, _)| n).collect();
/// assert_eq!(names, ["W", "b"]);
/// assert!(Linear::without_bias(3, 2, 0)?.bias().is_none());
/// # Ok::<(), autograd_nn::Error>(())
/// ```
pub struct Linear<S: Strategy = DefaultStrategy> {
    weight: Variable<S>,
    bias: Option<Variable<S>>,
}

impl Linear {
    /// A layer on the [`DefaultStrategy`] initialised as DeZero's: every
    /// weight drawn from `N(0, 1/in_size)` (standard normal samples times
    /// `sqrt(1/in_size)`, row by row) by `rand`'s `StdRng` seeded with
    /// `seed`, the bias zeros. The same seed gives the same weights.
    ///
    /// # Errors
    /// As [`new_in`](Linear::new_in).
    pub fn new(in_size: usize, out_size: usize, seed: u64) -> Result<Self> {
        Self::new_in(in_size, out_size, seed)
    }

    /// [`new`](Linear::new) without a bias: `x · W`, one parameter, `W`.
    ///
    /// # Errors
    /// As [`new_in`](Linear::new_in).
    pub fn without_bias(in_size: usize, out_size: usize, seed: u64) -> Result<Self> {
        Self::without_bias_in(in_size, out_size, seed)
    }

    /// A layer on the [`DefaultStrategy`] with this weight, of shape
    /// `(in, out)`, and bias, of shape `(out,)`, or none (`None`).
    ///
    /// # Errors
    /// As [`from_arrays_in`](Linear::from_arrays_in).
    pub fn from_arrays(weight: Array2<f64>, bias: impl Into<Option<Array1<f64>>>) -> Result<Self> {
        Self::from_arrays_in(weight, bias)
    }
}

impl<S: Strategy> Linear<S> {
    /// [`new`](Linear::new) on strategy `S`.
    ///
    /// # Errors
    /// [`Error::LayerSize`] naming both sizes when `in_size · out_size`
    /// weights would not fit in the address space.
    pub fn new_in(in_size: usize, out_size: usize, seed: u64) -> Result<Self> {
        Self::draw(in_size, out_size, true, &mut StdRng::seed_from_u64(seed))
    }

    /// [`without_bias`](Linear::without_bias) on strategy `S`.
    ///
    /// # Errors
    /// As [`new_in`](Linear::new_in).
    pub fn without_bias_in(in_size: usize, out_size: usize, seed: u64) -> Result<Self> {
        Self::draw(in_size, out_size, false, &mut StdRng::seed_from_u64(seed))
    }

    /// A layer whose weights are drawn from `rng` (DeZero's
    /// initialisation), with a zero bias when `bias`: what
    /// [`Mlp`](crate::Mlp) calls for each layer in turn from one generator.
    pub(crate) fn draw(
        in_size: usize,
        out_size: usize,
        bias: bool,
        rng: &mut StdRng,
    ) -> Result<Self> {
        check_size("Linear", in_size, out_size)?;
        let scale = (1.0 / in_size as f64).sqrt();
        let weight = Array2::from_shape_simple_fn((in_size, out_size), || {
            rng.sample::<f64, _>(StandardNormal) * scale
        });
        Ok(Linear {
            weight: Variable::from_array(weight),
            bias: bias.then(|| Variable::from_array(Array1::zeros(out_size))),
        })
    }

    /// [`from_arrays`](Linear::from_arrays) on strategy `S`.
    ///
    /// # Errors
    /// [`Error::LayerShapes`] naming both shapes when the bias's length is
    /// not the weight's column count.
    pub fn from_arrays_in(
        weight: Array2<f64>,
        bias: impl Into<Option<Array1<f64>>>,
    ) -> Result<Self> {
        let bias = bias.into();
        if let Some(bias) = bias.as_ref().filter(|b| b.len() != weight.ncols()) {
            return Err(Error::LayerShapes {
                layer: "Linear",
                weight: weight.shape().to_vec(),
                bias: bias.shape().to_vec(),
            });
        }
        Ok(Linear {
            weight: Variable::from_array(weight),
            bias: bias.map(Variable::from_array),
        })
    }

    /// The weight, shape `(in, out)`.
    pub fn weight(&self) -> &Variable<S> {
        &self.weight
    }

    /// The bias, shape `(out,)`; `None` for a layer without one.
    pub fn bias(&self) -> Option<&Variable<S>> {
        self.bias.as_ref()
    }

    /// The input width.
    pub fn in_size(&self) -> usize {
        self.weight.shape()[0]
    }

    /// The output width.
    pub fn out_size(&self) -> usize {
        self.weight.shape()[1]
    }

    /// [`Error::LayerInput`] unless `shape` is `(batch, in)`.
    pub(crate) fn check_input(&self, shape: Vec<usize>) -> Result<()> {
        let (in_size, out_size) = (self.in_size(), self.out_size());
        if shape.len() != 2 || shape[1] != in_size {
            return Err(Error::LayerInput {
                layer: "Linear",
                weight: [in_size, out_size],
                input: shape,
            });
        }
        Ok(())
    }
}

/// [`Error::LayerSize`] naming `layer` and both sizes unless `in_size ·
/// out_size` weights of 8 bytes fit in one allocation: ndarray panics on a
/// shape whose bytes exceed `isize::MAX`, so it is refused here instead,
/// with checked arithmetic. A layer of several weights checks each before
/// drawing any.
pub(crate) fn check_size(layer: &'static str, in_size: usize, out_size: usize) -> Result<()> {
    let fits = in_size
        .checked_mul(out_size)
        .and_then(|n| n.checked_mul(size_of::<f64>()))
        .is_some_and(|bytes| isize::try_from(bytes).is_ok());
    if !fits {
        return Err(Error::LayerSize {
            layer,
            in_size,
            out_size,
        });
    }
    Ok(())
}

impl<S: Strategy> Module<S> for Linear<S> {
    /// # Errors
    /// [`Error::LayerInput`] naming the weight's and the input's shapes
    /// unless `x` is `(batch, in)`.
    fn forward(&self, x: &Variable<S>) -> Result<Variable<S>> {
        self.check_input(x.shape())?;
        Ok(autograd_ops::linear(x, &self.weight, self.bias.as_ref())?)
    }

    fn named_params(&self) -> Vec<(String, Variable<S>)> {
        let mut params = vec![("W".to_owned(), self.weight.clone())];
        params.extend(self.bias.iter().map(|b| ("b".to_owned(), b.clone())));
        params
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use autograd_core::{RcWeak, no_grad};
    use ndarray::array;

    type V = Variable<RcWeak>;

    #[test]
    fn a_layer_without_bias_computes_x_w_and_has_one_parameter() {
        let layer = Linear::<RcWeak>::from_arrays_in(array![[1.0, 2.0], [3.0, 4.0]], None).unwrap();
        assert!(layer.bias().is_none());
        let y = layer
            .forward(&V::constant_from_array(array![[1.0, 1.0]]))
            .unwrap();
        assert_eq!(y.data(), array![[4.0, 6.0]].into_dyn());
        let drawn = Linear::<RcWeak>::without_bias_in(3, 5, 4).unwrap();
        let names: Vec<String> = drawn.named_params().into_iter().map(|(n, _)| n).collect();
        assert_eq!(names, ["W"]);
        // The same weights as the layer with a bias from the same seed.
        let biased = Linear::<RcWeak>::new_in(3, 5, 4).unwrap();
        assert_eq!(drawn.weight().data(), biased.weight().data());
        assert_eq!(biased.bias().unwrap().shape(), [5]);
    }

    #[test]
    fn the_weight_gradient_without_bias_matches_central_differences() {
        let layer = Linear::<RcWeak>::without_bias_in(3, 2, 1).unwrap();
        let x = V::constant_from_array(array![[0.3, -1.2, 0.8], [1.5, 0.2, -0.4]]);
        // A loss that is not linear in W, so that the check means something.
        let loss = |layer: &Linear<RcWeak>| {
            let y = layer.forward(&x).unwrap();
            autograd_ops::sum(&autograd_ops::tanh(&y).unwrap()).unwrap()
        };
        loss(&layer).backward().unwrap();
        let w = layer.weight();
        let grad = w.grad().unwrap().to_owned();
        assert_eq!(grad.shape(), [3, 2]);
        for i in 0..w.len() {
            let h = 1e-6;
            let nudge = |d: f64| {
                w.update_data(|mut v| v.as_slice_mut().unwrap()[i] += d)
                    .unwrap()
            };
            let at = || {
                let _guard = no_grad();
                loss(&layer).item().unwrap()
            };
            nudge(h);
            let up = at();
            nudge(-2.0 * h);
            let down = at();
            nudge(h);
            let numeric = (up - down) / (2.0 * h);
            let analytic = grad.as_slice().unwrap()[i];
            assert!(
                (numeric - analytic).abs() < 1e-8 * analytic.abs().max(1.0),
                "W[{i}]: {analytic} vs {numeric}"
            );
        }
    }

    #[test]
    fn sizes_whose_weights_cannot_fit_are_errors_naming_both() {
        for (in_size, out_size) in [(usize::MAX, 2), (1 << 32, 1 << 32), (1 << 60, 1)] {
            let err = Linear::<RcWeak>::new_in(in_size, out_size, 0)
                .err()
                .unwrap();
            assert!(
                matches!(err, Error::LayerSize { layer: "Linear", in_size: i, out_size: o } if i == in_size && o == out_size),
                "{err}"
            );
            assert!(err.to_string().contains(&in_size.to_string()), "{err}");
            assert!(Linear::<RcWeak>::without_bias_in(in_size, out_size, 0).is_err());
        }
        // Empty layers are fine.
        assert_eq!(
            Linear::<RcWeak>::new_in(0, 3, 0).unwrap().weight().shape(),
            [0, 3]
        );
    }

    #[test]
    fn the_same_seed_draws_the_same_weights_and_another_seed_others() {
        let a = Linear::<RcWeak>::new_in(4, 3, 42).unwrap();
        let b = Linear::<RcWeak>::new_in(4, 3, 42).unwrap();
        let c = Linear::<RcWeak>::new_in(4, 3, 43).unwrap();
        assert_eq!(a.weight().data(), b.weight().data());
        assert_ne!(a.weight().data(), c.weight().data());
    }
}
