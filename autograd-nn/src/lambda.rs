//! [`Lambda`]: a function as a module.

use autograd_core::{DefaultStrategy, Strategy, Variable};

use crate::{Error, Module, Result};

/// The boxed function a [`Lambda`] calls.
type Forward<S> = Box<dyn Fn(&Variable<S>) -> Result<Variable<S>>>;

/// A function of one variable as a [`Module`] without parameters: an op
/// (`Lambda::new(relu)`) or a closure, to compose with layers in a
/// [`Sequential`](crate::Sequential) (whose
/// [`push_fn`](crate::Sequential::push_fn) wraps one) or to keep in a
/// module of one's own. Keras's `Lambda` layer; DeZero writes such steps
/// inside a model's `forward` instead.
///
/// The function returns the ops' `Result` or this crate's; its errors come
/// out of [`forward`](Module::forward) as this crate's [`Error`].
///
/// ```
/// use autograd_nn::{Lambda, Module};
/// use autograd_ops::{Variable, reshape, tanh};
/// use ndarray::array;
///
/// let squash = Lambda::new(tanh);
/// let y = squash.forward(&Variable::constant(array![0.0]))?;
/// assert_eq!(y.data(), array![0.0].into_dyn());
/// let row = Lambda::new(|x| reshape(x, &[1, 2]));
/// assert_eq!(row.forward(&Variable::constant(array![1.0, 2.0]))?.shape(), [1, 2]);
/// assert!(row.named_params().is_empty());
/// # Ok::<(), autograd_nn::Error>(())
/// ```
pub struct Lambda<S: Strategy = DefaultStrategy> {
    f: Forward<S>,
}

impl Lambda {
    /// `f` as a module on the [`DefaultStrategy`] (its argument a
    /// [`Variable`] of it, so a closure needs no annotation).
    pub fn new<F, E>(f: F) -> Self
    where
        F: Fn(&Variable) -> std::result::Result<Variable, E> + 'static,
        E: Into<Error>,
    {
        Self::new_in(f)
    }
}

impl<S: Strategy> Lambda<S> {
    /// [`new`](Lambda::new) on strategy `S`.
    pub fn new_in<F, E>(f: F) -> Self
    where
        F: Fn(&Variable<S>) -> std::result::Result<Variable<S>, E> + 'static,
        E: Into<Error>,
    {
        Lambda {
            f: Box::new(move |x| f(x).map_err(Into::into)),
        }
    }
}

impl<S: Strategy> Module<S> for Lambda<S> {
    /// # Errors
    /// The function's own.
    fn forward(&self, x: &Variable<S>) -> Result<Variable<S>> {
        (self.f)(x)
    }

    /// None: a function has no parameters of its own.
    fn named_params(&self) -> Vec<(String, Variable<S>)> {
        Vec::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Activation, Linear, Mlp, Sequential};
    use autograd_core::RcWeak;
    use autograd_ops::{relu, reshape, tanh};
    use ndarray::{Array1, Array2, array};

    type V = Variable<RcWeak>;

    #[test]
    fn closures_and_ops_compose_with_layers_and_keep_their_index() {
        let model = Sequential::<RcWeak>::new_in()
            .push(Linear::from_arrays_in(array![[1.0, -1.0]], array![0.0, 0.5]).unwrap())
            .push_fn(relu)
            .push_fn(|x| reshape(x, &[2, 1]))
            .push(Linear::from_arrays_in(array![[3.0]], None).unwrap());
        let y = model
            .forward(&V::constant_from_array(array![[2.0]]))
            .unwrap();
        // relu([2, -1.5]) = [2, 0], as a column, times 3.
        assert_eq!(y.data(), array![[6.0], [0.0]].into_dyn());
        let names: Vec<String> = model.named_params().into_iter().map(|(n, _)| n).collect();
        assert_eq!(
            names,
            ["l0/W", "l0/b", "l3/W"],
            "a function takes its index"
        );
        assert_eq!(model.modules().len(), 4);
    }

    #[test]
    fn a_functions_error_comes_out_of_forward_and_this_crates_errors_pass_through() {
        let model = Sequential::<RcWeak>::new_in().push_fn(|x| reshape(x, &[5]));
        let err = model
            .forward(&V::constant_from_array(array![1.0, 2.0]))
            .unwrap_err();
        assert!(matches!(err, Error::Core(_)), "{err}");
        assert!(err.to_string().contains("[5]"), "{err}");
        let refuse = Lambda::<RcWeak>::new_in(|_: &V| {
            Err::<V, _>(Error::NoLayers {
                model: "user",
                what: "nothing",
            })
        });
        assert!(matches!(
            refuse.forward(&V::constant_from_array(array![1.0])),
            Err(Error::NoLayers { model: "user", .. })
        ));
    }

    #[test]
    fn activations_and_lambdas_in_a_sequential_give_the_mlps_values_and_gradients() {
        let mlp = Mlp::<RcWeak>::new_in(&[3, 4, 2], Activation::Tanh, 7).unwrap();
        let copy = |i: usize| {
            let layer = &mlp.layers()[i];
            let w: Array2<f64> = layer
                .weight()
                .data()
                .to_owned()
                .into_dimensionality()
                .unwrap();
            let b: Array1<f64> = layer
                .bias()
                .unwrap()
                .data()
                .to_owned()
                .into_dimensionality()
                .unwrap();
            Linear::<RcWeak>::from_arrays_in(w, b).unwrap()
        };
        let with_activation = Sequential::new_in()
            .push(copy(0))
            .push(Activation::Tanh)
            .push(copy(1));
        let with_lambda = Sequential::new_in()
            .push(copy(0))
            .push_fn(tanh)
            .push(copy(1));
        let x = V::constant_from_array(array![[0.1, -0.4, 0.9], [1.2, 0.3, -0.5]]);
        let expected = mlp.forward(&x).unwrap();
        for model in [&with_activation, &with_lambda] {
            let y = model.forward(&x).unwrap();
            assert_eq!(y.data(), expected.data());
            autograd_ops::sum(&y).unwrap().backward().unwrap();
        }
        autograd_ops::sum(&expected).unwrap().backward().unwrap();
        let grads = |m: &dyn Module<RcWeak>| -> Vec<_> {
            m.params().iter().map(|p| p.grad().unwrap()).collect()
        };
        assert_eq!(grads(&with_activation), grads(&mlp));
        assert_eq!(grads(&with_lambda), grads(&mlp));
    }
}
