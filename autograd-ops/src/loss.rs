//! Normalisation and losses: [`Softmax`], [`LogSoftmax`],
//! [`SoftmaxCrossEntropy`] and `mean_squared_error`, their free functions,
//! and their tests. Each is shifted by the maximum (through `logsumexp`), so
//! logits like `[1000, 0]` give finite, exact results.

use autograd_core::arith::{mul, sub};
use autograd_core::{
    Error, Function, Grads, Result, Save, Saved, Strategy, Tensor, Tensors, Variable, apply_one,
};

use crate::elementwise::{exp, square};
use crate::reduce::{logsumexp_kept, mean, sum_axis};

/// `yᵢ = e^(xᵢ) / Σⱼ e^(xⱼ)` along an axis; `dx = y (gy - Σ gy·y)`, from
/// the saved output.
#[derive(Debug, Clone, Copy)]
pub struct Softmax {
    /// The axis the probabilities sum to 1 along.
    pub axis: usize,
}

impl<S: Strategy> Function<S> for Softmax {
    fn name(&self) -> &'static str {
        "softmax"
    }

    fn num_inputs(&self) -> usize {
        1
    }

    fn forward(&mut self, xs: &[Tensor]) -> Result<Tensors> {
        let lse = logsumexp_kept("softmax", self.axis, &xs[0])?;
        Ok(xs[0]
            .zip_with("softmax", &lse, |x, l| (x - l).exp())?
            .into())
    }

    fn save(&mut self, save: &mut Save<'_>) {
        save.output(0);
    }

    fn derivative(&self, cx: &Saved<'_, S>, gys: &[Variable<S>]) -> Result<Grads<S>> {
        let (y, gy) = (cx.output(0)?, &gys[0]);
        let along = sum_axis(&mul(gy, &y)?, self.axis, true)?;
        Ok(vec![Some(mul(&y, &sub(gy, &along)?)?)])
    }
}

/// `y = x - ln Σ eˣ` along an axis; `dx = gy - e^y Σ gy`, from the saved
/// output.
#[derive(Debug, Clone, Copy)]
pub struct LogSoftmax {
    /// The axis.
    pub axis: usize,
}

impl<S: Strategy> Function<S> for LogSoftmax {
    fn name(&self) -> &'static str {
        "log_softmax"
    }

    fn num_inputs(&self) -> usize {
        1
    }

    fn forward(&mut self, xs: &[Tensor]) -> Result<Tensors> {
        let lse = logsumexp_kept("log_softmax", self.axis, &xs[0])?;
        Ok(xs[0].zip_with("log_softmax", &lse, |x, l| x - l)?.into())
    }

    fn save(&mut self, save: &mut Save<'_>) {
        save.output(0);
    }

    fn derivative(&self, cx: &Saved<'_, S>, gys: &[Variable<S>]) -> Result<Grads<S>> {
        let gy = &gys[0];
        let along = sum_axis(gy, self.axis, true)?;
        let gx = sub(gy, &mul(&exp(&cx.output(0)?)?, &along)?)?;
        Ok(vec![Some(gx)])
    }
}

/// The cross-entropy of softmax probabilities of `(N, C)` logits against
/// `N` class labels, averaged over the batch (a 0-d result): PyTorch's
/// `cross_entropy` with mean reduction, DeZero's `SoftmaxCrossEntropy`.
/// `dx = (softmax(x) - onehot) · gy / N`.
#[derive(Debug, Clone)]
pub struct SoftmaxCrossEntropy {
    /// The class of each row.
    pub labels: Vec<usize>,
}

impl SoftmaxCrossEntropy {
    /// `x`'s batch size and class count, once the labels fit them.
    fn check(&self, x: &Tensor) -> Result<(usize, usize)> {
        let op = "softmax_cross_entropy";
        let &[batch, classes] = x.shape() else {
            return Err(Error::WrongRank {
                op,
                expected: 2,
                shape: x.shape().to_vec(),
            });
        };
        if self.labels.len() != batch {
            return Err(Error::LabelCount {
                op,
                labels: self.labels.len(),
                batch,
            });
        }
        if let Some(&label) = self.labels.iter().find(|&&label| label >= classes) {
            return Err(Error::LabelOutOfRange { op, label, classes });
        }
        Ok((batch, classes))
    }
}

impl<S: Strategy> Function<S> for SoftmaxCrossEntropy {
    fn name(&self) -> &'static str {
        "softmax_cross_entropy"
    }

    fn num_inputs(&self) -> usize {
        1
    }

    fn heap_size(&self) -> usize {
        self.labels.capacity() * std::mem::size_of::<usize>()
    }

    fn forward(&mut self, xs: &[Tensor]) -> Result<Tensors> {
        let (batch, _) = self.check(&xs[0])?;
        let x = matrix(&xs[0]);
        let total: f64 = (x.rows().into_iter().zip(&self.labels))
            .map(|(row, &label)| row_logsumexp(row) - row[label])
            .sum();
        Ok(Tensor::scalar(total / batch as f64).into())
    }

    fn save(&mut self, save: &mut Save<'_>) {
        save.input(0);
    }

    fn derivative(&self, cx: &Saved<'_, S>, gys: &[Variable<S>]) -> Result<Grads<S>> {
        let x = cx.input(0)?;
        let shape = cx.input_shape(0);
        let (batch, classes) = (shape[0], shape[1]);
        let mut onehot = ndarray::Array2::<f64>::zeros((batch, classes));
        for (i, &label) in self.labels.iter().enumerate() {
            onehot[[i, label]] = 1.0;
        }
        let probabilities = softmax(&x, 1)?;
        let diff = sub(&probabilities, &cx.constant(Tensor::from(onehot)))?;
        let scale = mul(&gys[0], &cx.scalar(1.0 / batch as f64))?;
        Ok(vec![Some(mul(&diff, &scale)?)])
    }

    /// The derivative on arrays, fused into one pass over the logits:
    /// `(softmax(x) − onehot) · gy / N`, row by row.
    fn backward_arrays(&self, cx: &Saved<'_, S>, gys: Tensors) -> Result<Tensors> {
        let x = cx.input_value(0)?;
        let x = matrix(x);
        let scale = gys[0].item().unwrap_or(f64::NAN) * (1.0 / x.nrows() as f64);
        let gx = Tensor::from_writer(x.shape(), |out| {
            let mut out = out.into_dimensionality::<ndarray::Ix2>().expect("2-D");
            for ((row, mut out), &label) in
                x.rows().into_iter().zip(out.rows_mut()).zip(&self.labels)
            {
                let lse = row_logsumexp(row);
                out.zip_mut_with(&row, |o, &v| *o = (v - lse).exp());
                out[label] -= 1.0;
                out.mapv_inplace(|d| d * scale);
            }
        });
        Ok(gx.into())
    }
}

/// A 2-D tensor (checked by the op) as a matrix view.
fn matrix(x: &Tensor) -> ndarray::ArrayView2<'_, f64> {
    x.view().into_dimensionality().expect("a 2-D tensor")
}

/// `log Σ exp(row)`, shifted by the row's maximum, as `logsumexp` computes
/// it (a NaN anywhere gives NaN; a row without a finite maximum is not
/// shifted).
fn row_logsumexp(row: ndarray::ArrayView1<'_, f64>) -> f64 {
    let max = row.fold(f64::NEG_INFINITY, |a, &v| {
        if a.is_nan() || v.is_nan() {
            f64::NAN
        } else {
            a.max(v)
        }
    });
    let shift = if max.is_finite() { max } else { 0.0 };
    shift + row.fold(0.0, |a, &v| a + (v - shift).exp()).ln()
}

/// Softmax along `axis`: non-negative, summing to 1, stable for any logits.
///
/// # Errors
/// [`Error::InvalidAxis`] when `axis` is out of range.
pub fn softmax<S: Strategy>(x: &Variable<S>, axis: usize) -> Result<Variable<S>> {
    apply_one(Softmax { axis }, &[x])
}

/// The logarithm of [`softmax`], computed directly (stable, no `ln 0`).
///
/// # Errors
/// [`Error::InvalidAxis`] when `axis` is out of range.
pub fn log_softmax<S: Strategy>(x: &Variable<S>, axis: usize) -> Result<Variable<S>> {
    apply_one(LogSoftmax { axis }, &[x])
}

/// The mean cross-entropy of `(N, C)` logits against `N` labels in
/// `0..C`: a 0-d variable (NaN for an empty batch).
///
/// # Errors
/// [`Error::WrongRank`] unless the logits are 2-D, [`Error::LabelCount`]
/// unless there is one label per row, [`Error::LabelOutOfRange`] for a
/// label that is not a class.
pub fn softmax_cross_entropy<S: Strategy>(
    logits: &Variable<S>,
    labels: &[usize],
) -> Result<Variable<S>> {
    apply_one(
        SoftmaxCrossEntropy {
            labels: labels.to_vec(),
        },
        &[logits],
    )
}

/// The mean of `(a - b)²` over all elements, a 0-d variable (PyTorch's
/// `mse_loss`; DeZero divides by the rows instead).
///
/// # Errors
/// [`Error::ShapeMismatch`] naming `mean_squared_error` unless `a` and `b`
/// have the same shape.
pub fn mean_squared_error<S: Strategy>(a: &Variable<S>, b: &Variable<S>) -> Result<Variable<S>> {
    let (lhs, rhs) = (a.shape(), b.shape());
    if lhs != rhs {
        return Err(Error::ShapeMismatch {
            op: "mean_squared_error",
            lhs,
            rhs,
        });
    }
    mean(&square(&sub(a, b)?)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::check_both_orders;
    use autograd_core::RcWeak;
    use ndarray::{ArrayD, IxDyn, array};

    type V = Variable<RcWeak>;

    #[test]
    fn the_fused_cross_entropy_backward_agrees_with_its_derivative() {
        // Logits around 1000 too: the shift by the row's maximum.
        for offset in [0.0, 1000.0] {
            autograd_core::testing::assert_fused_agrees_with_derivative(
                |x| {
                    let shifted = crate::add(&x[0], &V::constant_from_array(array![offset]))?;
                    crate::mul(&softmax_cross_entropy(&shifted, &[2, 0, 3])?, &x[1])
                },
                &[&[3, 4], &[]],
            );
        }
    }

    fn logits() -> ArrayD<f64> {
        ArrayD::from_shape_vec(IxDyn(&[2, 3]), vec![0.2, -1.0, 1.5, 0.7, 0.1, -0.4]).unwrap()
    }

    #[test]
    fn large_logits_give_finite_exact_results() {
        let x = V::from_array(array![[1000.0, 0.0]]);
        assert_eq!(
            softmax(&x, 1).unwrap().data(),
            array![[1.0, 0.0]].into_dyn()
        );
        assert_eq!(
            log_softmax(&x, 1).unwrap().data(),
            array![[0.0, -1000.0]].into_dyn()
        );
        let loss = softmax_cross_entropy(&x, &[1]).unwrap();
        assert_eq!(loss.item(), Some(1000.0));
        loss.backward().unwrap();
        assert_eq!(x.grad().unwrap(), array![[1.0, -1.0]].into_dyn());
    }

    #[test]
    fn cross_entropy_is_the_mean_of_minus_log_softmax_at_the_labels() {
        let x = V::from_array(logits());
        let loss = softmax_cross_entropy(&x, &[2, 0]).unwrap();
        let l = log_softmax(&x, 1).unwrap().data();
        let expected = -(l[[0, 2]] + l[[1, 0]]) / 2.0;
        assert!((loss.item().unwrap() - expected).abs() < 1e-15);
        assert_eq!(loss.shape(), Vec::<usize>::new());
    }

    #[test]
    fn bad_labels_and_shapes_name_the_op() {
        let x = V::from_array(ArrayD::zeros(vec![2, 10]));
        let op = "softmax_cross_entropy";
        assert_eq!(
            softmax_cross_entropy(&x, &[1, 10]).unwrap_err(),
            Error::LabelOutOfRange {
                op,
                label: 10,
                classes: 10
            }
        );
        assert_eq!(
            softmax_cross_entropy(&x, &[1]).unwrap_err(),
            Error::LabelCount {
                op,
                labels: 1,
                batch: 2
            }
        );
        let v = V::from_array(ArrayD::zeros(vec![3]));
        assert_eq!(
            softmax_cross_entropy(&v, &[0]).unwrap_err(),
            Error::WrongRank {
                op,
                expected: 2,
                shape: vec![3]
            }
        );
        assert_eq!(
            mean_squared_error(&x, &v).unwrap_err(),
            Error::ShapeMismatch {
                op: "mean_squared_error",
                lhs: vec![2, 10],
                rhs: vec![3]
            }
        );
    }

    #[test]
    fn first_and_second_order_gradcheck() {
        check_both_orders(|x| softmax(&x[0], 1), &[logits()]);
        check_both_orders(|x| softmax(&x[0], 0), &[logits()]);
        check_both_orders(|x| log_softmax(&x[0], 1), &[logits()]);
        check_both_orders(|x| softmax_cross_entropy(&x[0], &[2, 0]), &[logits()]);
        let target = logits().mapv(|v| v * 0.5 + 0.1);
        check_both_orders(|x| mean_squared_error(&x[0], &x[1]), &[logits(), target]);
    }
}
