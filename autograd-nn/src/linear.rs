//! [`Linear`]: the fully connected layer `x · W + b`.

use autograd_core::{DefaultStrategy, Strategy, Variable};
use ndarray::{Array1, Array2};
use rand::Rng;
use rand_distr::StandardNormal;

use crate::{Error, Module, Result};

/// A fully connected layer: `x · W + b` for a batch `x` of shape
/// `(batch, in)`, a weight `W` of shape `(in, out)` and a bias `b` of shape
/// `(out,)`, computed by the fused [`linear`](autograd_ops::linear) op.
/// Its parameters are named `W` and `b`, as DeZero's.
pub struct Linear<S: Strategy = DefaultStrategy> {
    weight: Variable<S>,
    bias: Variable<S>,
}

impl<S: Strategy> Linear<S> {
    /// A layer initialised as DeZero's: every weight drawn from
    /// `N(0, 1/in_size)` (standard normal samples times `sqrt(1/in_size)`,
    /// row by row), the bias zeros.
    ///
    /// # Panics
    /// When `in_size * out_size` elements do not fit in memory, as ndarray.
    pub fn new(in_size: usize, out_size: usize, rng: &mut impl Rng) -> Self {
        let scale = (1.0 / in_size as f64).sqrt();
        let weight = Array2::from_shape_simple_fn((in_size, out_size), || {
            rng.sample::<f64, _>(StandardNormal) * scale
        });
        Linear {
            weight: Variable::from_array(weight),
            bias: Variable::from_array(Array1::zeros(out_size)),
        }
    }

    /// A layer with this weight, of shape `(in, out)`, and bias, of shape
    /// `(out,)`.
    ///
    /// # Errors
    /// [`Error::LayerShapes`] naming both shapes when the bias's length is
    /// not the weight's column count.
    pub fn from_arrays(weight: Array2<f64>, bias: Array1<f64>) -> Result<Self> {
        if bias.len() != weight.ncols() {
            return Err(Error::LayerShapes {
                layer: "Linear",
                weight: weight.shape().to_vec(),
                bias: bias.shape().to_vec(),
            });
        }
        Ok(Linear {
            weight: Variable::from_array(weight),
            bias: Variable::from_array(bias),
        })
    }

    /// The weight, shape `(in, out)`.
    pub fn weight(&self) -> &Variable<S> {
        &self.weight
    }

    /// The bias, shape `(out,)`.
    pub fn bias(&self) -> &Variable<S> {
        &self.bias
    }

    /// The input width.
    pub fn in_size(&self) -> usize {
        self.weight.shape()[0]
    }

    /// The output width.
    pub fn out_size(&self) -> usize {
        self.weight.shape()[1]
    }
}

impl<S: Strategy> Module<S> for Linear<S> {
    /// # Errors
    /// [`Error::LayerInput`] naming the weight's and the input's shapes
    /// unless `x` is `(batch, in)`.
    fn forward(&self, x: &Variable<S>) -> Result<Variable<S>> {
        let (in_size, out_size) = (self.in_size(), self.out_size());
        let shape = x.shape();
        if shape.len() != 2 || shape[1] != in_size {
            return Err(Error::LayerInput {
                layer: "Linear",
                weight: [in_size, out_size],
                input: shape,
            });
        }
        Ok(autograd_ops::linear(x, &self.weight, Some(&self.bias))?)
    }

    fn named_params(&self) -> Vec<(String, Variable<S>)> {
        vec![
            ("W".to_owned(), self.weight.clone()),
            ("b".to_owned(), self.bias.clone()),
        ]
    }
}
