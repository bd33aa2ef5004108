//! [`VariableOps`]: the ops as methods on [`Variable`].

use autograd_core::{Result, Strategy, Variable, or_panic};

/// Declares each method, its `try_` twin, and the free function behind both:
/// the list of methods is written once, here.
/// A method's return type: `Self` unless the entry names one.
macro_rules! or_self {
    () => {
        Self
    };
    ($ret:ty) => {
        $ret
    };
}

macro_rules! methods {
    ($( $(#[$doc:meta])* fn $name:ident / $try_name:ident ( $($arg:ident : $ty:ty),* ) $(-> $ret:ty)? => $free:path; )*) => {
        /// Method sugar for the ops. Each method panics where its free
        /// function would return an error, like ndarray's operators; its
        /// `try_` twin returns the error.
        ///
        /// ```
        /// use autograd_ops::prelude::*;
        /// let x = Variable::scalar(2.0);
        /// let y = x.square().exp().log(); // = x²
        /// y.backward()?;
        /// assert!((x.grad().unwrap().sum() - 4.0).abs() < 1e-12);
        /// assert!(x.try_reshape(&[3]).is_err());
        /// # Ok::<(), autograd_ops::Error>(())
        /// ```
        pub trait VariableOps: Sized {
            $(
                $(#[$doc])*
                #[track_caller]
                fn $name(&self, $($arg: $ty),*) -> or_self!($($ret)?);
                #[doc = concat!("[`", stringify!($name), "`](VariableOps::", stringify!($name), "), returning the error instead of panicking.")]
                ///
                /// # Errors
                /// As the free function's.
                fn $try_name(&self, $($arg: $ty),*) -> Result<or_self!($($ret)?)>;
            )*
        }

        impl<S: Strategy> VariableOps for Variable<S> {
            $(
                fn $name(&self, $($arg: $ty),*) -> or_self!($($ret)?) {
                    or_panic(self.$try_name($($arg),*))
                }
                fn $try_name(&self, $($arg: $ty),*) -> Result<or_self!($($ret)?)> {
                    $free(self, $($arg),*)
                }
            )*
        }
    };
}

methods! {
    /// `self²`; see [`square`](crate::square).
    fn square / try_square() => crate::square;
    /// `selfᶜ`; see [`pow`](crate::pow).
    fn pow / try_pow(exponent: f64) => crate::pow;
    /// `eˢᵉˡᶠ`; see [`exp`](crate::exp).
    fn exp / try_exp() => crate::exp;
    /// `ln self`; see [`log`](crate::log).
    fn log / try_log() => crate::log;
    /// `sin self`; see [`sin`](crate::sin).
    fn sin / try_sin() => crate::sin;
    /// `cos self`; see [`cos`](crate::cos).
    fn cos / try_cos() => crate::cos;
    /// `tanh self`; see [`tanh`](crate::tanh).
    fn tanh / try_tanh() => crate::tanh;
    /// The sum of all elements; see [`sum`](crate::sum).
    fn sum / try_sum() => crate::sum;
    /// The sum along an axis; see [`sum_axis`](crate::sum_axis).
    fn sum_axis / try_sum_axis(axis: usize, keepdims: bool) => crate::sum_axis;
    /// Summed down to a shape; see [`sum_to`](crate::sum_to).
    fn sum_to / try_sum_to(shape: &[usize]) => crate::sum_to;
    /// Broadcast to a shape; see [`broadcast_to`](crate::broadcast_to).
    fn broadcast_to / try_broadcast_to(shape: &[usize]) => crate::broadcast_to;
    /// In another shape; see [`reshape`](crate::reshape).
    fn reshape / try_reshape(shape: &[usize]) => crate::reshape;
    /// Axes reversed; see [`transpose`](crate::transpose).
    fn transpose / try_transpose() => crate::transpose;
    /// The matrix product; see [`matmul`](crate::matmul).
    fn matmul / try_matmul(rhs: &Self) => crate::matmul;
    /// `max(self, 0)`; see [`relu`](crate::relu).
    fn relu / try_relu() => crate::relu;
    /// A leaky ReLU; see [`leaky_relu`](crate::leaky_relu).
    fn leaky_relu / try_leaky_relu(slope: f64) => crate::leaky_relu;
    /// The logistic function; see [`sigmoid`](crate::sigmoid).
    fn sigmoid / try_sigmoid() => crate::sigmoid;
    /// `√self`; see [`sqrt`](crate::sqrt).
    fn sqrt / try_sqrt() => crate::sqrt;
    /// `|self|`; see [`abs`](crate::abs).
    fn abs / try_abs() => crate::abs;
    /// Clamped to `[lo, hi]`; see [`clip`](crate::clip).
    fn clip / try_clip(lo: f64, hi: f64) => crate::clip;
    /// The elementwise maximum; see [`maximum`](crate::maximum).
    fn maximum / try_maximum(rhs: &Self) => crate::maximum;
    /// The elementwise minimum; see [`minimum`](crate::minimum).
    fn minimum / try_minimum(rhs: &Self) => crate::minimum;
    /// The mean of all elements; see [`mean`](crate::mean).
    fn mean / try_mean() => crate::mean;
    /// The mean along an axis; see [`mean_axis`](crate::mean_axis).
    fn mean_axis / try_mean_axis(axis: usize, keepdims: bool) => crate::mean_axis;
    /// The maximum along an axis; see [`max_axis`](crate::max_axis).
    fn max_axis / try_max_axis(axis: usize, keepdims: bool) => crate::max_axis;
    /// The minimum along an axis; see [`min_axis`](crate::min_axis).
    fn min_axis / try_min_axis(axis: usize, keepdims: bool) => crate::min_axis;
    /// `ln Σ e^self` along an axis; see [`logsumexp`](crate::logsumexp).
    fn logsumexp / try_logsumexp(axis: usize, keepdims: bool) => crate::logsumexp;
    /// Softmax along an axis; see [`softmax`](crate::softmax).
    fn softmax / try_softmax(axis: usize) => crate::softmax;
    /// Log-softmax along an axis; see [`log_softmax`](crate::log_softmax).
    fn log_softmax / try_log_softmax(axis: usize) => crate::log_softmax;
    /// Slices at indices; see [`index_select`](crate::index_select).
    fn index_select / try_index_select(axis: usize, indices: &[usize]) => crate::index_select;
    /// A range along an axis; see [`narrow`](crate::narrow).
    fn narrow / try_narrow(axis: usize, start: usize, len: usize) => crate::narrow;
    /// The indices of the maxima along an axis; see [`argmax`](crate::argmax).
    fn argmax / try_argmax(axis: usize) -> Vec<usize> => crate::argmax;
    /// Max pooling; see [`max_pool2d`](crate::max_pool2d).
    fn max_pool2d / try_max_pool2d(
        kernel: (usize, usize), stride: (usize, usize), pad: (usize, usize)
    ) => crate::max_pool2d;
    /// Average pooling; see [`avg_pool2d`](crate::avg_pool2d).
    fn avg_pool2d / try_avg_pool2d(
        kernel: (usize, usize), stride: (usize, usize), pad: (usize, usize)
    ) => crate::avg_pool2d;
    /// The patches a kernel reads, as a matrix; see [`im2col`](crate::im2col).
    fn im2col / try_im2col(
        kernel: (usize, usize), stride: (usize, usize), pad: (usize, usize)
    ) => crate::im2col;
    /// Patches added back into an image; see [`col2im`](crate::col2im).
    fn col2im / try_col2im(
        input_shape: &[usize], kernel: (usize, usize), stride: (usize, usize), pad: (usize, usize)
    ) => crate::col2im;
    /// Inverted dropout while training; see [`dropout`](crate::dropout).
    fn dropout / try_dropout(p: f64) => crate::dropout;
}
