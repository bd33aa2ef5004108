//! [`MaxPool2d`] and [`AvgPool2d`]: pooling layers (DeZero step 57), on the
//! [`max_pool2d`](autograd_ops::max_pool2d) and
//! [`avg_pool2d`](autograd_ops::avg_pool2d) ops. No parameters.

use autograd_core::{Strategy, Variable};

use crate::{Module, Result};

/// A (height, width) pair: a kernel's size, a stride or a padding.
type Pair = (usize, usize);

/// Max pooling: the largest element of each `kernel` window of an input
/// `[N, C, H, W]`, by `stride`, the `pad`ding counting as −∞: `[N, C, OH,
/// OW]` (PyTorch's `nn.MaxPool2d`, DeZero's `pooling`). The gradient goes to
/// each window's first maximum in row-major order; what the graph keeps
/// for backward is the maxima's positions, not the input.
///
/// [`new`](MaxPool2d::new) takes the kernel and strides by it, without
/// padding, as `nn.MaxPool2d(kernel)` does; [`with_stride`](MaxPool2d::with_stride)
/// and [`with_pad`](MaxPool2d::with_pad) change either. Settings that make
/// no pooling (a kernel or a stride of 0, a padding above half the kernel,
/// a kernel larger than the padded input) are the op's error at `forward`,
/// naming `max_pool2d` and the shapes.
///
/// ```
/// use autograd_nn::{MaxPool2d, Module};
/// use autograd_ops::Variable;
/// use ndarray::Array4;
///
/// let pool = MaxPool2d::new((2, 2));
/// let x = Variable::constant(Array4::from_shape_fn((1, 1, 4, 4), |(_, _, h, w)| (4 * h + w) as f64));
/// let y = pool.forward(&x)?;
/// assert_eq!(y.data(), ndarray::array![[[[5.0, 7.0], [13.0, 15.0]]]].into_dyn());
/// # Ok::<(), autograd_nn::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MaxPool2d {
    /// The window's (height, width).
    pub kernel: Pair,
    /// The steps between windows.
    pub stride: Pair,
    /// The padding on each side, at most half the kernel.
    pub pad: Pair,
}

impl MaxPool2d {
    /// Windows of `kernel`, each next to the last (the stride is the
    /// kernel), no padding.
    pub fn new(kernel: Pair) -> Self {
        MaxPool2d {
            kernel,
            stride: kernel,
            pad: (0, 0),
        }
    }

    /// The same pooling by `stride`.
    pub fn with_stride(self, stride: Pair) -> Self {
        MaxPool2d { stride, ..self }
    }

    /// The same pooling with `pad` on each side.
    pub fn with_pad(self, pad: Pair) -> Self {
        MaxPool2d { pad, ..self }
    }
}

impl<S: Strategy> Module<S> for MaxPool2d {
    /// # Errors
    /// The op's, naming `max_pool2d` and the shapes: an input that is not
    /// 4-D, or settings that make no pooling.
    fn forward(&self, x: &Variable<S>) -> Result<Variable<S>> {
        Ok(autograd_ops::max_pool2d(
            x,
            self.kernel,
            self.stride,
            self.pad,
        )?)
    }

    /// None: pooling has no parameters.
    fn named_params(&self) -> Vec<(String, Variable<S>)> {
        Vec::new()
    }
}

/// Average pooling: the mean of each `kernel` window of an input
/// `[N, C, H, W]`, by `stride`, the padded zeros counted in the mean (every
/// window divides by `KH·KW`, PyTorch's `nn.AvgPool2d` default):
/// `[N, C, OH, OW]`. Its settings and errors are [`MaxPool2d`]'s (the op's
/// name, `avg_pool2d`).
///
/// ```
/// use autograd_nn::{AvgPool2d, Module};
/// use autograd_ops::Variable;
/// use ndarray::Array4;
///
/// let pool = AvgPool2d::new((2, 2));
/// let x = Variable::constant(Array4::from_shape_fn((1, 1, 2, 4), |(_, _, h, w)| (4 * h + w) as f64));
/// let y = pool.forward(&x)?;
/// assert_eq!(y.data(), ndarray::array![[[[2.5, 4.5]]]].into_dyn());
/// # Ok::<(), autograd_nn::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AvgPool2d {
    /// The window's (height, width).
    pub kernel: Pair,
    /// The steps between windows.
    pub stride: Pair,
    /// The padding on each side, at most half the kernel.
    pub pad: Pair,
}

impl AvgPool2d {
    /// Windows of `kernel`, each next to the last (the stride is the
    /// kernel), no padding.
    pub fn new(kernel: Pair) -> Self {
        AvgPool2d {
            kernel,
            stride: kernel,
            pad: (0, 0),
        }
    }

    /// The same pooling by `stride`.
    pub fn with_stride(self, stride: Pair) -> Self {
        AvgPool2d { stride, ..self }
    }

    /// The same pooling with `pad` on each side.
    pub fn with_pad(self, pad: Pair) -> Self {
        AvgPool2d { pad, ..self }
    }
}

impl<S: Strategy> Module<S> for AvgPool2d {
    /// # Errors
    /// The op's, naming `avg_pool2d` and the shapes: an input that is not
    /// 4-D, or settings that make no pooling.
    fn forward(&self, x: &Variable<S>) -> Result<Variable<S>> {
        Ok(autograd_ops::avg_pool2d(
            x,
            self.kernel,
            self.stride,
            self.pad,
        )?)
    }

    /// None: pooling has no parameters.
    fn named_params(&self) -> Vec<(String, Variable<S>)> {
        Vec::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Error;
    use autograd_core::RcWeak;
    use ndarray::{Array4, array};

    type V = Variable<RcWeak>;

    fn plane(h: usize, w: usize) -> V {
        V::from_array(Array4::from_shape_fn((1, 1, h, w), |(_, _, i, j)| {
            ((i * w + j) as f64 * 1.7).sin()
        }))
    }

    #[test]
    fn max_pooling_takes_each_windows_maximum_and_sends_it_the_gradient() {
        // sin(1.7·k) for k = 0..9 on a 3x3 plane: windows of 2 by 1.
        let x = plane(3, 3);
        let pool = MaxPool2d::new((2, 2)).with_stride((1, 1));
        assert_eq!(pool.stride, (1, 1));
        let y = Module::<RcWeak>::forward(&pool, &x).unwrap();
        let xs = x.data();
        let max = |r: usize, c: usize| {
            [
                xs[[0, 0, r, c]],
                xs[[0, 0, r, c + 1]],
                xs[[0, 0, r + 1, c]],
                xs[[0, 0, r + 1, c + 1]],
            ]
            .into_iter()
            .fold(f64::NEG_INFINITY, f64::max)
        };
        for (r, c) in [(0, 0), (0, 1), (1, 0), (1, 1)] {
            assert_eq!(y.data()[[0, 0, r, c]], max(r, c));
        }
        autograd_ops::sum(&y).unwrap().backward().unwrap();
        // Each window's maximum gets 1 for each window it tops.
        let g = x.grad().unwrap();
        assert_eq!(g.sum(), 4.0);
        for (r, c) in [(0, 0), (0, 1), (1, 0), (1, 1)] {
            let m = max(r, c);
            let at = xs.indexed_iter().find(|(_, v)| **v == m).unwrap().0;
            assert!(
                g[at] >= 1.0,
                "the maximum of window ({r}, {c}) has a gradient"
            );
        }
        // Padding counts as −∞: a padded window's maximum is inside.
        let padded = MaxPool2d::new((2, 2)).with_pad((1, 1));
        let y = Module::<RcWeak>::forward(
            &padded,
            &V::constant_from_array(-Array4::<f64>::ones((1, 1, 2, 2))),
        )
        .unwrap();
        assert_eq!(y.data(), array![[[[-1.0, -1.0], [-1.0, -1.0]]]].into_dyn());
    }

    #[test]
    fn average_pooling_counts_padding_and_spreads_the_gradient_evenly() {
        let x = V::from_array(Array4::from_elem((1, 1, 2, 2), 4.0));
        let pool = AvgPool2d::new((2, 2)).with_stride((1, 1)).with_pad((1, 1));
        let y = Module::<RcWeak>::forward(&pool, &x).unwrap();
        // Corner windows hold one element and three padded zeros.
        assert_eq!(y.shape(), [1, 1, 3, 3]);
        assert_eq!(y.data()[[0, 0, 0, 0]], 1.0);
        assert_eq!(y.data()[[0, 0, 1, 1]], 4.0);
        autograd_ops::sum(&y).unwrap().backward().unwrap();
        // Each element lies in four windows, each giving it 1/4.
        assert_eq!(
            x.grad().unwrap(),
            Array4::<f64>::ones((1, 1, 2, 2)).into_dyn()
        );
    }

    #[test]
    fn settings_that_make_no_pooling_are_the_ops_errors_naming_it() {
        let x = plane(4, 4);
        let cases: [(&dyn Module<RcWeak>, &str); 4] = [
            (&MaxPool2d::new((0, 2)), "max_pool2d"),
            (&MaxPool2d::new((2, 2)).with_pad((2, 0)), "max_pool2d"),
            (&AvgPool2d::new((2, 2)).with_stride((1, 0)), "avg_pool2d"),
            (&AvgPool2d::new((5, 5)), "avg_pool2d"),
        ];
        for (pool, op) in cases {
            let err = pool.forward(&x).unwrap_err();
            assert!(matches!(err, Error::Core(_)), "{err}");
            assert!(err.to_string().contains(op), "{err}");
            assert!(err.to_string().contains("[1, 1, 4, 4]"), "{err}");
        }
        let flat = V::constant_from_array(ndarray::Array2::<f64>::zeros((4, 4)));
        let err = Module::<RcWeak>::forward(&MaxPool2d::new((2, 2)), &flat).unwrap_err();
        assert!(err.to_string().contains("max_pool2d"), "{err}");
    }
}
