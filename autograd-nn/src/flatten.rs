//! [`Flatten`]: each sample's axes as one.

use autograd_core::{Strategy, Variable};

use crate::{Error, Module, Result};

/// Keeps the first axis (the batch, `N`) and flattens the others into one:
/// `[N, C, H, W]` becomes `[N, C·H·W]`, what a [`Linear`](crate::Linear)
/// layer takes after convolutions (PyTorch's `nn.Flatten()`, DeZero's
/// `x.reshape(x.shape[0], -1)`). A 1-D input `[N]` becomes `[N, 1]`. Row-major:
/// within a sample, the last axis varies fastest. No parameters.
///
/// ```
/// use autograd_nn::{Flatten, Module};
/// use autograd_ops::Variable;
///
/// let x = Variable::constant(ndarray::Array4::<f64>::zeros((8, 1, 28, 28)));
/// assert_eq!(Flatten.forward(&x)?.shape(), [8, 784]);
/// # Ok::<(), autograd_nn::Error>(())
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Flatten;

impl<S: Strategy> Module<S> for Flatten {
    /// # Errors
    /// [`Error::Rank`] for a 0-dimensional input (it has no batch axis).
    /// (The flattened axes' product is checked too, as the engine's
    /// `TooLarge`, though ndarray's own shape checks already bound it.)
    fn forward(&self, x: &Variable<S>) -> Result<Variable<S>> {
        let shape = x.shape();
        let Some((&n, rest)) = shape.split_first() else {
            return Err(Error::Rank {
                what: "Flatten",
                need: "the input needs a batch axis first, [N, ...]",
                shape,
            });
        };
        let Some(features) = rest.iter().try_fold(1usize, |a, &d| a.checked_mul(d)) else {
            return Err(autograd_core::Error::TooLarge {
                op: "Flatten",
                shape: shape.clone(),
            }
            .into());
        };
        Ok(autograd_ops::reshape(x, &[n, features])?)
    }

    /// None: flattening has no parameters.
    fn named_params(&self) -> Vec<(String, Variable<S>)> {
        Vec::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Linear, Sequential};
    use autograd_core::RcWeak;
    use ndarray::{Array1, Array2, Array4, ArrayD, IxDyn, array};

    type V = Variable<RcWeak>;

    #[test]
    fn flatten_keeps_the_batch_axis_and_joins_the_rest_row_major() {
        let x = V::constant_from_array(Array4::from_shape_fn((2, 3, 2, 2), |(n, c, h, w)| {
            (1000 * n + 100 * c + 10 * h + w) as f64
        }));
        let y = Module::<RcWeak>::forward(&Flatten, &x).unwrap();
        assert_eq!(y.shape(), [2, 12]);
        let y = y.data();
        assert_eq!(y[[0, 0]], 0.0);
        assert_eq!(y[[0, 1]], 1.0, "the last axis fastest");
        assert_eq!(y[[0, 2]], 10.0);
        assert_eq!(y[[1, 11]], 1211.0);
        let column = V::constant_from_array(array![1.0, 2.0, 3.0]);
        assert_eq!(Flatten.forward(&column).unwrap().shape(), [3, 1]);
        let flat = V::constant_from_array(Array2::<f64>::zeros((4, 5)));
        assert_eq!(Flatten.forward(&flat).unwrap().shape(), [4, 5]);
        let empty = V::constant_from_array(Array4::<f64>::zeros((0, 2, 3, 4)));
        assert_eq!(Flatten.forward(&empty).unwrap().shape(), [0, 24]);
        assert!(Module::<RcWeak>::named_params(&Flatten).is_empty());
    }

    #[test]
    fn a_scalar_has_no_batch_axis_to_keep() {
        let scalar = V::constant_from_array(ArrayD::<f64>::zeros(IxDyn(&[])));
        let err = Flatten.forward(&scalar).unwrap_err();
        assert!(matches!(&err, Error::Rank { what: "Flatten", shape, .. } if shape.is_empty()));
        assert!(err.to_string().contains("Flatten"), "{err}");
    }

    #[test]
    fn gradients_flow_back_through_flatten_in_the_input_shape() {
        let model = Sequential::<RcWeak>::new_in()
            .push(Flatten)
            .push(Linear::from_arrays_in(Array2::ones((4, 1)), Array1::zeros(1)).unwrap());
        let x = V::from_array(Array4::from_elem((3, 1, 2, 2), 0.5));
        let y = autograd_ops::sum(&model.forward(&x).unwrap()).unwrap();
        assert_eq!(y.item(), Some(6.0));
        y.backward().unwrap();
        assert_eq!(
            x.grad().unwrap(),
            Array4::<f64>::ones((3, 1, 2, 2)).into_dyn()
        );
    }
}
