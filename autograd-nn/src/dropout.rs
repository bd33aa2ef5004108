//! [`Dropout`]: the dropout layer (DeZero step 54), on the
//! [`dropout`](autograd_ops::dropout) op. No parameters.

use autograd_core::{Strategy, Variable};

use crate::{Error, Module, Result};

/// Inverted dropout while training: each element zeroed with probability
/// `p`, the others scaled by `1/(1 − p)`; the identity in evaluation
/// (inside [`eval_mode`](autograd_ops::eval_mode) or
/// [`with_eval_mode`](autograd_ops::with_eval_mode)), PyTorch's
/// `nn.Dropout` and DeZero's `dropout`. The mode is the thread's scope, not
/// a flag in the layer, so a model switches every dropout it holds with one
/// guard; the masks come from the thread's generator, which
/// [`manual_seed`](autograd_ops::manual_seed) seeds.
///
/// ```
/// use autograd_nn::{Dropout, Module};
/// use autograd_ops::{Variable, with_eval_mode};
/// use ndarray::Array2;
///
/// let layer = Dropout::new(0.25)?;
/// let x = Variable::constant(Array2::<f64>::ones((4, 100)));
/// let y = layer.forward(&x)?;
/// assert!(y.data().iter().all(|&v| v == 0.0 || v == 4.0 / 3.0));
/// let same = with_eval_mode(|| layer.forward(&x))?;
/// assert!(same.ptr_eq(&x));
/// # Ok::<(), autograd_nn::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Dropout {
    p: f64,
}

impl Dropout {
    /// A layer dropping each element with probability `p`.
    ///
    /// # Errors
    /// [`Error::LayerSetting`] naming `Dropout` and `p` unless `0 ≤ p < 1`
    /// (checked here, not at the first `forward`).
    pub fn new(p: f64) -> Result<Self> {
        if !(0.0..1.0).contains(&p) {
            return Err(Error::LayerSetting {
                layer: "Dropout",
                name: "p",
                value: p.to_string(),
                need: "in [0, 1)",
            });
        }
        Ok(Dropout { p })
    }

    /// The probability of dropping an element.
    pub fn p(&self) -> f64 {
        self.p
    }
}

impl<S: Strategy> Module<S> for Dropout {
    /// # Errors
    /// None in practice: `p` was checked when the layer was made, and the
    /// op takes any shape.
    fn forward(&self, x: &Variable<S>) -> Result<Variable<S>> {
        Ok(autograd_ops::dropout(x, self.p)?)
    }

    /// None: dropout has no parameters.
    fn named_params(&self) -> Vec<(String, Variable<S>)> {
        Vec::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Linear, Sequential};
    use autograd_core::RcWeak;
    use autograd_ops::{eval_mode, manual_seed, train_mode};
    use ndarray::{Array1, Array2};

    type V = Variable<RcWeak>;

    #[test]
    fn a_probability_outside_0_1_is_refused_when_the_layer_is_made() {
        for p in [-0.1, 1.0, 1.5, f64::NAN, f64::INFINITY] {
            let err = Dropout::new(p).unwrap_err();
            assert!(
                matches!(
                    &err,
                    Error::LayerSetting {
                        layer: "Dropout",
                        name: "p",
                        ..
                    }
                ),
                "{err}"
            );
            assert!(err.to_string().contains(&p.to_string()), "{err}");
        }
        assert_eq!(Dropout::new(0.0).unwrap().p(), 0.0);
    }

    #[test]
    fn training_drops_about_p_and_scales_the_rest_and_evaluation_passes_through() {
        let layer = Dropout::new(0.25).unwrap();
        let x = V::from_array(Array2::<f64>::ones((100, 100)));
        manual_seed(3);
        let y = Module::<RcWeak>::forward(&layer, &x).unwrap();
        let kept = y.data().iter().filter(|&&v| v != 0.0).count();
        // 10,000 draws: the kept count is 7,500 ± 43 (one σ).
        assert!((7_300..7_700).contains(&kept), "{kept}");
        assert!(
            y.data()
                .iter()
                .all(|&v| v == 0.0 || (v - 4.0 / 3.0).abs() < 1e-15)
        );
        // The gradient is the mask: 1/(1 − p) where kept, 0 where dropped.
        autograd_ops::sum(&y).unwrap().backward().unwrap();
        assert_eq!(x.grad().unwrap(), y.data());

        let eval = eval_mode();
        assert!(Module::<RcWeak>::forward(&layer, &x).unwrap().ptr_eq(&x));
        {
            let _train = train_mode();
            assert!(!Module::<RcWeak>::forward(&layer, &x).unwrap().ptr_eq(&x));
        }
        drop(eval);
        // Seeded again, the same mask.
        manual_seed(3);
        assert_eq!(
            Module::<RcWeak>::forward(&layer, &x).unwrap().data(),
            y.data()
        );
    }

    #[test]
    fn dropout_in_a_sequential_takes_its_index_and_switches_with_the_mode() {
        let model = Sequential::<RcWeak>::new_in()
            .push(Linear::from_arrays_in(Array2::eye(3), Array1::zeros(3)).unwrap())
            .push(Dropout::new(0.5).unwrap())
            .push(Linear::from_arrays_in(Array2::ones((3, 1)), None).unwrap());
        let names: Vec<String> = model.named_params().into_iter().map(|(n, _)| n).collect();
        assert_eq!(names, ["l0/W", "l0/b", "l2/W"]);
        let x = V::constant_from_array(Array2::from_elem((2, 3), 1.0));
        let _eval = eval_mode();
        assert_eq!(
            model.forward(&x).unwrap().data(),
            Array2::from_elem((2, 1), 3.0).into_dyn()
        );
    }
}
