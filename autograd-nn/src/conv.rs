//! [`Conv2d`]: the 2-D convolution layer (DeZero steps 55–57), on the
//! [`conv2d`](autograd_ops::conv2d) op.

use autograd_core::{DefaultStrategy, Strategy, Variable};
use ndarray::{Array1, Array4};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rand_distr::StandardNormal;

use crate::{Error, Module, Result};

/// A (height, width) pair: a kernel's size, a stride or a padding.
type Pair = (usize, usize);

/// A 2-D convolution layer: `y[n, o] = b[o] + Σ_c W[o, c] ⋆ x[n, c]` for a
/// batch `x` of shape `[N, C, H, W]`, a weight `W` of shape
/// `[OC, C, KH, KW]` and a bias `b` of shape `[OC]`, by `stride` with zero
/// `pad`ding, giving `[N, OC, OH, OW]` with `OH = (H + 2·PH − KH) / SH + 1`
/// (PyTorch's `nn.Conv2d`: NCHW, cross-correlation; DeZero's `Conv2d`).
/// Its parameters are named `W` and `b`, as DeZero's.
///
/// The constructor takes its sizes in `torch.nn.Conv2d`'s order, each pair
/// `(height, width)`: `Conv2d::new(1, 8, (3, 3), (1, 1), (1, 1), seed)` is
/// `nn.Conv2d(1, 8, 3, stride=1, padding=1)`. (A config struct with a
/// `Default`, as candle's `Conv2dConfig`, would let a call name only what
/// differs; with two settings, both usually written, the positional form
/// reads as the PyTorch line it mirrors.)
///
/// The constructors without a suffix build on the [`DefaultStrategy`] and
/// need no annotation; each has a twin ending in `_in` that builds on the
/// strategy the type names (`Conv2d::<ArcWeak>::new_in(..)`).
///
/// ```
/// use autograd_nn::{Conv2d, Module};
/// use autograd_ops::Variable;
/// use ndarray::Array4;
///
/// let conv = Conv2d::new(1, 8, (3, 3), (1, 1), (1, 1), 0)?; // weights drawn from seed 0
/// let y = conv.forward(&Variable::constant(Array4::<f64>::ones((2, 1, 28, 28))))?;
/// assert_eq!(y.shape(), [2, 8, 28, 28]);
/// let names: Vec<String> = conv.named_params().into_iter().map(|(n, _)| n).collect();
/// assert_eq!(names, ["W", "b"]);
/// assert_eq!(conv.weight().shape(), [8, 1, 3, 3]);
/// # Ok::<(), autograd_nn::Error>(())
/// ```
pub struct Conv2d<S: Strategy = DefaultStrategy> {
    weight: Variable<S>,
    bias: Option<Variable<S>>,
    stride: Pair,
    pad: Pair,
}

impl Conv2d {
    /// A layer on the [`DefaultStrategy`] from `in_channels` to
    /// `out_channels` planes with a `kernel` of (height, width), by
    /// `stride`, with `pad` zeros on each side, initialised as DeZero's
    /// `Conv2d`: every weight drawn from `N(0, 1/(C·KH·KW))` (standard
    /// normal samples times `sqrt(1/(C·KH·KW))`, in the weight's row-major
    /// order) by `rand`'s `StdRng` seeded with `seed`, the bias zeros. The
    /// same seed gives the same weights.
    ///
    /// # Errors
    /// As [`new_in`](Conv2d::new_in).
    pub fn new(
        in_channels: usize,
        out_channels: usize,
        kernel: Pair,
        stride: Pair,
        pad: Pair,
        seed: u64,
    ) -> Result<Self> {
        Self::new_in(in_channels, out_channels, kernel, stride, pad, seed)
    }

    /// A layer on the [`DefaultStrategy`] with this weight, of shape
    /// `[OC, C, KH, KW]`, and bias, of shape `[OC]`, or none (`None`).
    ///
    /// # Errors
    /// As [`from_arrays_in`](Conv2d::from_arrays_in).
    pub fn from_arrays(
        weight: Array4<f64>,
        bias: impl Into<Option<Array1<f64>>>,
        stride: Pair,
        pad: Pair,
    ) -> Result<Self> {
        Self::from_arrays_in(weight, bias, stride, pad)
    }
}

impl<S: Strategy> Conv2d<S> {
    /// [`new`](Conv2d::new) on strategy `S`.
    ///
    /// # Errors
    /// [`Error::LayerSetting`] for a kernel or a stride with a 0;
    /// [`Error::WeightSize`] naming the weight's shape when its bytes would
    /// not fit in the address space.
    pub fn new_in(
        in_channels: usize,
        out_channels: usize,
        kernel: Pair,
        stride: Pair,
        pad: Pair,
        seed: u64,
    ) -> Result<Self> {
        check_settings(kernel, stride)?;
        let shape = [out_channels, in_channels, kernel.0, kernel.1];
        // ndarray panics on a shape whose bytes exceed isize::MAX: refuse
        // it here instead, with checked arithmetic.
        let fits = shape
            .iter()
            .try_fold(size_of::<f64>(), |bytes, &d| bytes.checked_mul(d))
            .is_some_and(|bytes| isize::try_from(bytes).is_ok());
        if !fits {
            return Err(Error::WeightSize {
                layer: "Conv2d",
                shape,
            });
        }
        // C·KH·KW fits: it divides the weight's element count, unless
        // out_channels is 0, and then there is nothing to draw.
        let fan_in = in_channels
            .saturating_mul(kernel.0)
            .saturating_mul(kernel.1);
        let scale = (1.0 / fan_in as f64).sqrt();
        let mut rng = StdRng::seed_from_u64(seed);
        let weight =
            Array4::from_shape_simple_fn(shape, || rng.sample::<f64, _>(StandardNormal) * scale);
        Ok(Conv2d {
            weight: Variable::from_array(weight),
            bias: Some(Variable::from_array(Array1::zeros(out_channels))),
            stride,
            pad,
        })
    }

    /// [`from_arrays`](Conv2d::from_arrays) on strategy `S`.
    ///
    /// # Errors
    /// [`Error::ConvBias`] naming both shapes when the bias's length is not
    /// the weight's output channels; [`Error::LayerSetting`] for a kernel
    /// (the weight's last two axes) or a stride with a 0.
    pub fn from_arrays_in(
        weight: Array4<f64>,
        bias: impl Into<Option<Array1<f64>>>,
        stride: Pair,
        pad: Pair,
    ) -> Result<Self> {
        let shape = weight.dim();
        let shape = [shape.0, shape.1, shape.2, shape.3];
        check_settings((shape[2], shape[3]), stride)?;
        let bias = bias.into();
        if let Some(bias) = bias.as_ref().filter(|b| b.len() != shape[0]) {
            return Err(Error::ConvBias {
                layer: "Conv2d",
                weight: shape,
                bias: bias.shape().to_vec(),
            });
        }
        Ok(Conv2d {
            weight: Variable::from_array(weight),
            bias: bias.map(Variable::from_array),
            stride,
            pad,
        })
    }

    /// The weight, shape `[OC, C, KH, KW]`.
    pub fn weight(&self) -> &Variable<S> {
        &self.weight
    }

    /// The bias, shape `[OC]`; `None` for a layer without one.
    pub fn bias(&self) -> Option<&Variable<S>> {
        self.bias.as_ref()
    }

    /// The kernel's (height, width).
    pub fn kernel(&self) -> Pair {
        let shape = self.weight_shape();
        (shape[2], shape[3])
    }

    /// The steps (height, width) between the kernel's positions.
    pub fn stride(&self) -> Pair {
        self.stride
    }

    /// The zeros (height, width) added on each side of the input.
    pub fn pad(&self) -> Pair {
        self.pad
    }

    /// The input's channels, `C`.
    pub fn in_channels(&self) -> usize {
        self.weight_shape()[1]
    }

    /// The output's channels, `OC`.
    pub fn out_channels(&self) -> usize {
        self.weight_shape()[0]
    }

    fn weight_shape(&self) -> [usize; 4] {
        let shape = self.weight.shape();
        [shape[0], shape[1], shape[2], shape[3]]
    }
}

/// A kernel and a stride without a 0.
fn check_settings(kernel: Pair, stride: Pair) -> Result<()> {
    let setting = |name, value: Pair, need| Error::LayerSetting {
        layer: "Conv2d",
        name,
        value: format!("{value:?}"),
        need,
    };
    if kernel.0 == 0 || kernel.1 == 0 {
        return Err(setting("kernel", kernel, "at least 1 in both axes"));
    }
    if stride.0 == 0 || stride.1 == 0 {
        return Err(setting("stride", stride, "at least 1 in both axes"));
    }
    Ok(())
}

impl<S: Strategy> Module<S> for Conv2d<S> {
    /// # Errors
    /// [`Error::ConvInput`] naming the weight's and the input's shapes
    /// unless `x` is `[N, C, H, W]` with the weight's `C`; the op's error
    /// (naming `conv2d` and the shapes) for a kernel larger than the padded
    /// input or an output that would not fit in memory.
    fn forward(&self, x: &Variable<S>) -> Result<Variable<S>> {
        let input = x.shape();
        let weight = self.weight_shape();
        if input.len() != 4 || input[1] != weight[1] {
            return Err(Error::ConvInput {
                layer: "Conv2d",
                weight,
                input,
            });
        }
        Ok(autograd_ops::conv2d(
            x,
            &self.weight,
            self.bias.as_ref(),
            self.stride,
            self.pad,
        )?)
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
    use crate::testing::assert_gradients_match_central_differences;
    use autograd_core::RcWeak;
    use ndarray::{Array, Ix4};

    type V = Variable<RcWeak>;

    /// A deterministic, irregular input `[N, C, H, W]`.
    fn input(shape: Ix4) -> V {
        let x = Array::from_shape_fn(shape, |(n, c, h, w)| {
            ((n * 131 + c * 71 + h * 17 + w * 7) as f64 * 0.37).sin()
        });
        V::constant_from_array(x)
    }

    #[test]
    fn weights_are_dezeros_normal_draws_scaled_by_the_fan_in_and_the_bias_zeros() {
        let (c, oc, k) = (16, 64, (3, 3));
        let conv = Conv2d::<RcWeak>::new_in(c, oc, k, (1, 1), (1, 1), 5).unwrap();
        let w = conv.weight().data();
        assert_eq!(w.shape(), [oc, c, 3, 3]);
        let n = w.len() as f64;
        let mean = w.sum() / n;
        let std = (w.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n).sqrt();
        let expected = (1.0 / (c * 9) as f64).sqrt();
        // 9,216 draws: the sample std is within 2% of σ with room to spare
        // (its standard error is σ/√(2n) ≈ 0.7%).
        assert!((std / expected - 1.0).abs() < 0.02, "{std} vs {expected}");
        assert!(mean.abs() < 3.0 * expected / n.sqrt(), "{mean}");
        assert!(conv.bias().unwrap().data().iter().all(|&b| b == 0.0));
        // The same seed, the same weights; another seed, others; and under
        // another strategy the same.
        let again = Conv2d::<RcWeak>::new_in(c, oc, k, (1, 1), (1, 1), 5).unwrap();
        assert_eq!(again.weight().data(), w);
        let other = Conv2d::<RcWeak>::new_in(c, oc, k, (1, 1), (1, 1), 6).unwrap();
        assert_ne!(other.weight().data(), w);
        let arc = Conv2d::<autograd_core::ArcWeak>::new_in(c, oc, k, (1, 1), (1, 1), 5).unwrap();
        assert_eq!(arc.weight().data(), w);
    }

    #[test]
    fn forward_is_the_conv2d_op_with_the_layers_stride_and_padding() {
        let w = Array::from_shape_fn((3, 2, 2, 3), |(o, c, h, w)| {
            (o as f64 - 1.0) * 0.5 + c as f64 * 0.25 - h as f64 * 0.1 + w as f64 * 0.05
        });
        let b = ndarray::array![0.5, -1.0, 2.0];
        let conv = Conv2d::<RcWeak>::from_arrays_in(w.clone(), b.clone(), (2, 1), (1, 0)).unwrap();
        assert_eq!(conv.kernel(), (2, 3));
        assert_eq!((conv.stride(), conv.pad()), ((2, 1), (1, 0)));
        assert_eq!((conv.in_channels(), conv.out_channels()), (2, 3));
        let x = input(Ix4(2, 2, 5, 6));
        let y = conv.forward(&x).unwrap();
        // (5 + 2 − 2)/2 + 1 = 3 rows, (6 − 3)/1 + 1 = 4 columns.
        assert_eq!(y.shape(), [2, 3, 3, 4]);
        // One output by hand: sample 1, channel 2, row 1, column 3 reads
        // input rows 1..3 (row 1·2 − 1 + kh) and columns 3..6.
        let xs = x.data();
        let mut expected = b[2];
        for c in 0..2 {
            for kh in 0..2 {
                for kw in 0..3 {
                    expected += w[[2, c, kh, kw]] * xs[[1, c, 1 + kh, 3 + kw]];
                }
            }
        }
        assert!((y.data()[[1, 2, 1, 3]] - expected).abs() < 1e-14);
        // A row of padding: output row 0 reads input row 0 only (kh = 1).
        let mut top = b[0];
        for c in 0..2 {
            for kw in 0..3 {
                top += w[[0, c, 1, kw]] * xs[[0, c, 0, kw]];
            }
        }
        assert!((y.data()[[0, 0, 0, 0]] - top).abs() < 1e-14);
        let bare = Conv2d::<RcWeak>::from_arrays_in(w, None, (2, 1), (1, 0)).unwrap();
        assert!(bare.bias().is_none());
        assert_eq!(bare.named_params().len(), 1);
    }

    #[test]
    fn the_weight_and_bias_gradients_match_central_differences() {
        for (stride, pad) in [((1, 1), (1, 1)), ((2, 1), (0, 1))] {
            let conv = Conv2d::<RcWeak>::new_in(2, 3, (3, 2), stride, pad, 9).unwrap();
            // A bias that is not zero, so that the check sees it.
            conv.bias().unwrap().update_data(|mut b| b += 0.3).unwrap();
            let x = input(Ix4(2, 2, 5, 4));
            // A loss that is not linear in the parameters.
            let loss = || {
                let y = conv.forward(&x)?;
                Ok(autograd_ops::sum(&autograd_ops::tanh(&y)?)?)
            };
            assert_gradients_match_central_differences(&conv.params(), loss);
        }
    }

    /// A small CNN of every layer kind: conv, relu, max pool, conv, average
    /// pool, dropout, flatten, linear.
    fn small_cnn(seed: u64) -> crate::Sequential<RcWeak> {
        crate::Sequential::new_in()
            .push(Conv2d::new_in(1, 3, (3, 3), (1, 1), (1, 1), seed).unwrap())
            .push(crate::Activation::Relu)
            .push(crate::MaxPool2d::new((2, 2)))
            .push(Conv2d::new_in(3, 4, (3, 3), (1, 1), (1, 1), seed + 1).unwrap())
            .push(crate::AvgPool2d::new((2, 2)))
            .push(crate::Dropout::new(0.25).unwrap())
            .push(crate::Flatten)
            .push(crate::Linear::new_in(4 * 2 * 2, 3, seed + 2).unwrap())
    }

    #[test]
    fn every_parameter_of_a_small_cnn_with_dropout_matches_central_differences() {
        let model = small_cnn(1);
        for p in model.params() {
            // Biases that are not zero, so that the check sees them.
            p.update_data(|mut v| v += 0.05).unwrap();
        }
        let x = input(Ix4(2, 1, 8, 8));
        let labels = [2, 0];
        // The same dropout mask in every evaluation.
        let loss = || {
            autograd_ops::manual_seed(11);
            let logits = model.forward(&x)?;
            Ok(autograd_ops::softmax_cross_entropy(&logits, &labels)?)
        };
        assert_gradients_match_central_differences(&model.params(), loss);
    }

    #[test]
    fn a_cnns_parameters_save_and_load_by_layer() {
        let model = small_cnn(1);
        let names: Vec<String> = model.named_params().into_iter().map(|(n, _)| n).collect();
        assert_eq!(names, ["l0/W", "l0/b", "l3/W", "l3/b", "l7/W", "l7/b"]);
        let path = std::env::temp_dir().join(format!(
            "autograd-nn-cnn-{}-{:?}.npz",
            std::process::id(),
            std::thread::current().id()
        ));
        crate::save_params(&model, &path).unwrap();
        let other = small_cnn(40);
        assert_ne!(other.params()[0].data(), model.params()[0].data());
        crate::load_params(&other, &path).unwrap();
        for (a, b) in model.params().iter().zip(other.params()) {
            assert_eq!(a.data(), b.data());
        }
        // A file for another kernel's weights does not load.
        let wider = crate::Sequential::<RcWeak>::new_in()
            .push(Conv2d::new_in(1, 3, (5, 5), (1, 1), (2, 2), 0).unwrap());
        let err = crate::load_params_lenient(&wider, &path).unwrap_err();
        assert!(
            matches!(&err, Error::ParamShape { name, .. } if name == "l0/W"),
            "{err}"
        );
        std::fs::remove_file(&path).ok();
    }

    #[test]
    fn inputs_and_settings_that_make_no_convolution_are_errors_naming_the_layer() {
        let conv = Conv2d::<RcWeak>::new_in(3, 4, (3, 3), (1, 1), (0, 0), 0).unwrap();
        for shape in [vec![2, 2, 8, 8], vec![3, 8, 8], vec![1, 1, 3, 8, 8]] {
            let x = V::constant_from_array(ndarray::ArrayD::zeros(shape.clone()));
            let err = conv.forward(&x).unwrap_err();
            assert!(
                matches!(&err, Error::ConvInput { layer: "Conv2d", weight: [4, 3, 3, 3], input } if *input == shape),
                "{err}"
            );
            assert!(err.to_string().contains("[N, 3, H, W]"), "{err}");
        }
        // A kernel larger than the (unpadded) input: the op says so.
        let err = conv.forward(&input(Ix4(1, 3, 2, 8))).unwrap_err();
        assert!(err.to_string().contains("conv2d"), "{err}");
        assert!(err.to_string().contains("[1, 3, 2, 8]"), "{err}");

        let err = Conv2d::<RcWeak>::new_in(3, 4, (3, 0), (1, 1), (0, 0), 0)
            .err()
            .unwrap();
        assert!(
            matches!(err, Error::LayerSetting { name: "kernel", .. }),
            "{err}"
        );
        let err = Conv2d::<RcWeak>::new_in(3, 4, (3, 3), (0, 1), (0, 0), 0)
            .err()
            .unwrap();
        assert!(
            matches!(err, Error::LayerSetting { name: "stride", .. }),
            "{err}"
        );
        assert!(err.to_string().contains("(0, 1)"), "{err}");
        let err =
            Conv2d::<RcWeak>::from_arrays_in(Array4::zeros((2, 1, 3, 3)), None, (1, 0), (0, 0))
                .err()
                .unwrap();
        assert!(
            matches!(err, Error::LayerSetting { name: "stride", .. }),
            "{err}"
        );
        for (c, oc, k) in [
            (usize::MAX, 2, (1, 1)),
            (1 << 20, 1 << 20, (1 << 10, 1 << 10)),
            (1 << 30, 1 << 30, (3, 3)),
        ] {
            let err = Conv2d::<RcWeak>::new_in(c, oc, k, (1, 1), (0, 0), 0)
                .err()
                .unwrap();
            assert!(
                matches!(err, Error::WeightSize { layer: "Conv2d", shape } if shape == [oc, c, k.0, k.1]),
                "{err}"
            );
        }
        let err = Conv2d::<RcWeak>::from_arrays_in(
            Array4::zeros((2, 1, 3, 3)),
            Array1::zeros(3),
            (1, 1),
            (0, 0),
        )
        .err()
        .unwrap();
        assert!(
            matches!(&err, Error::ConvBias { weight: [2, 1, 3, 3], bias, .. } if *bias == [3]),
            "{err}"
        );
        // Empty layers are fine.
        let empty = Conv2d::<RcWeak>::new_in(0, 2, (3, 3), (1, 1), (1, 1), 0).unwrap();
        assert_eq!(empty.weight().shape(), [2, 0, 3, 3]);
    }
}
