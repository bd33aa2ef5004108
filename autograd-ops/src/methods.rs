//! [`VariableOps`]: the ops as methods on [`Variable`].

use autograd_core::{Result, Strategy, Variable, or_panic};

/// Declares each method, its `try_` twin, and the free function behind both:
/// the list of methods is written once, here.
macro_rules! methods {
    ($( $(#[$doc:meta])* fn $name:ident / $try_name:ident ( $($arg:ident : $ty:ty),* ) => $free:path; )*) => {
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
                fn $name(&self, $($arg: $ty),*) -> Self;
                #[doc = concat!("[`", stringify!($name), "`](VariableOps::", stringify!($name), "), returning the error instead of panicking.")]
                ///
                /// # Errors
                /// As the free function's.
                fn $try_name(&self, $($arg: $ty),*) -> Result<Self>;
            )*
        }

        impl<S: Strategy> VariableOps for Variable<S> {
            $(
                fn $name(&self, $($arg: $ty),*) -> Self {
                    or_panic(self.$try_name($($arg),*))
                }
                fn $try_name(&self, $($arg: $ty),*) -> Result<Self> {
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
}
