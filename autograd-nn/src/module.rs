//! [`Module`]: a model or a part of one, and [`Sequential`], modules in a row.

use std::rc::Rc;

use autograd_core::{DefaultStrategy, Strategy, Variable};
use autograd_ops::budget::ChainBlock;

use crate::{Error, Lambda, Result};

/// A differentiable function with parameters: a layer, a model, or a user's
/// own block, composable with the others in a [`Sequential`].
///
/// Parameters are listed in a stable order, layer by layer and weight
/// before bias, and named as DeZero's `Layer` names them (`l0/W`, `l0/b`,
/// `l1/W`, ...): the names are the keys of a saved parameter file
/// ([`save_params`](crate::save_params)). A module of its own layers names
/// them the same way with [`layer_params`].
///
/// ```
/// use autograd_nn::{Activation, Mlp, Module};
/// use autograd_ops::Variable;
/// use ndarray::array;
///
/// let model = Mlp::new(&[2, 4, 3], Activation::Relu, 0)?;
/// let names: Vec<String> = model.named_params().into_iter().map(|(n, _)| n).collect();
/// assert_eq!(names, ["l0/W", "l0/b", "l1/W", "l1/b"]);
/// let y = model.forward(&Variable::constant(array![[1.0, 2.0]]))?;
/// assert_eq!(y.shape(), [1, 3]);
/// # Ok::<(), autograd_nn::Error>(())
/// ```
pub trait Module<S: Strategy = DefaultStrategy> {
    /// The module applied to `x`, recorded for backward.
    ///
    /// # Errors
    /// An error naming the layer and the shapes when `x` does not fit.
    fn forward(&self, x: &Variable<S>) -> Result<Variable<S>>;

    /// The parameters with their names, in the module's stable order.
    fn named_params(&self) -> Vec<(String, Variable<S>)>;

    /// The parameters, in the order of [`named_params`](Module::named_params),
    /// each once: a parameter that two layers share (weight tying) is
    /// listed where it first appears, as torch's `Module.parameters()`
    /// lists it, so that an optimizer given this list updates it once.
    fn params(&self) -> Vec<Variable<S>> {
        distinct(self.named_params().into_iter().map(|(_, p)| p).collect())
    }

    /// Forgets the state a stateful module carries from one call to the
    /// next (a recurrent layer's hidden state: [`Rnn`](crate::Rnn),
    /// [`Lstm`](crate::Lstm)), so that the next call starts a new sequence:
    /// DeZero's `reset_state`. Nothing for a module without state (the
    /// default); a module of modules resets each, as [`Sequential`] does,
    /// and a user's own module forwards it to its stateful layers as it
    /// lists their parameters.
    fn reset_state(&self) {}

    /// Forgets every parameter's gradient, as [`Variable::cleargrad`] does
    /// one's: the one name for clearing gradients, on a variable, a module
    /// and an optimizer (DeZero's `Model.cleargrads`, PyTorch's
    /// `Module.zero_grad`, which sets them to `None` by default too).
    #[doc(alias = "cleargrads")]
    #[doc(alias = "zero_grad")]
    fn cleargrad(&self) {
        for param in self.params() {
            param.cleargrad();
        }
    }
}

/// `params` with every variable after its first occurrence dropped (by
/// identity, [`Variable::ptr_eq`]), the order kept and the buffer reused.
///
/// Quadratic in the number of parameters: a variable offers no identity
/// key to hash, only `ptr_eq`, and a model has tens to hundreds of
/// parameters, compared once when an optimizer or a parameter file is set
/// up, never per step.
pub(crate) fn distinct<S: Strategy>(mut params: Vec<Variable<S>>) -> Vec<Variable<S>> {
    let mut kept = 0;
    for i in 0..params.len() {
        if !params[..kept].iter().any(|p| p.ptr_eq(&params[i])) {
            // Everything between `kept` and `i` is a duplicate, so the
            // swap keeps the first occurrences in their order.
            params.swap(kept, i);
            kept += 1;
        }
    }
    params.truncate(kept);
    params
}

/// Layer `index`'s parameters, each name prefixed with `l{index}/` as
/// DeZero names a layer's (`W` becomes `l0/W`): what [`Sequential`] and
/// [`Mlp`](crate::Mlp) build their [`named_params`](Module::named_params)
/// from, so that a user's own module composed of layers names its
/// parameters, and saves them ([`save_params`](crate::save_params)), as the
/// built-in ones do.
///
/// ```
/// use autograd_nn::{Activation, Linear, Mlp, Module, Result, layer_params};
/// use autograd_nn::{load_params, save_params};
/// use autograd_ops::Variable;
/// use ndarray::{Array1, Array2};
///
/// /// Two layers with a skip connection around the second.
/// struct Residual {
///     first: Linear,
///     second: Linear,
/// }
///
/// impl Module for Residual {
///     fn forward(&self, x: &Variable) -> Result<Variable> {
///         let h = autograd_ops::relu(&self.first.forward(x)?)?;
///         Ok(autograd_ops::add(&self.second.forward(&h)?, &h)?)
///     }
///
///     fn named_params(&self) -> Vec<(String, Variable)> {
///         layer_params(0, self.first.named_params())
///             .chain(layer_params(1, self.second.named_params()))
///             .collect()
///     }
/// }
///
/// let block = Residual {
///     first: Linear::from_arrays(Array2::from_elem((2, 3), 0.5), Array1::zeros(3))?,
///     second: Linear::from_arrays(Array2::eye(3), Array1::ones(3))?,
/// };
/// let names: Vec<String> = block.named_params().into_iter().map(|(n, _)| n).collect();
/// assert_eq!(names, ["l0/W", "l0/b", "l1/W", "l1/b"]);
///
/// // The same keys as a 2-3-3 Mlp's: one's file loads into the other.
/// let path = std::env::temp_dir().join(format!("autograd-nn-residual-{}.npz", std::process::id()));
/// save_params(&block, &path)?;
/// let mlp = Mlp::new(&[2, 3, 3], Activation::Relu, 0)?;
/// load_params(&mlp, &path)?;
/// assert_eq!(mlp.layers()[1].weight().data(), Array2::<f64>::eye(3).into_dyn());
/// # std::fs::remove_file(&path).ok();
/// # Ok::<(), autograd_nn::Error>(())
/// ```
pub fn layer_params<S: Strategy>(
    index: usize,
    params: impl IntoIterator<Item = (String, Variable<S>)>,
) -> impl Iterator<Item = (String, Variable<S>)> {
    params
        .into_iter()
        .map(move |(name, p)| (format!("l{index}/{name}"), p))
}

/// Modules applied one after the other, each to what the one before gave.
/// Module `i`'s parameters are named `l{i}/...` (a module without
/// parameters, an [`Activation`](crate::Activation), a
/// [`Flatten`](crate::Flatten) or a closure, still takes its index).
///
/// A closure is a module too: [`push_fn`](Sequential::push_fn) appends one
/// (as a [`Lambda`](crate::Lambda)).
///
/// ```
/// use autograd_nn::{Linear, Module, Sequential};
/// use autograd_ops::{Variable, relu};
/// use ndarray::array;
///
/// let model = Sequential::new()
///     .push(Linear::from_arrays(array![[1.0, 0.0], [0.0, -2.0]], array![0.5, 0.0])?)
///     .push_fn(relu)
///     .push(Linear::from_arrays(array![[1.0], [1.0]], array![0.0])?);
/// let y = model.forward(&Variable::constant(array![[1.0, 1.0]]))?;
/// assert_eq!(y.data(), array![[1.5]].into_dyn()); // relu([1.5, -2]) · [1, 1]
/// assert_eq!(model.named_params()[2].0, "l2/W");
/// # Ok::<(), autograd_nn::Error>(())
/// ```
pub struct Sequential<S: Strategy = DefaultStrategy> {
    modules: Vec<Box<dyn Module<S>>>,
}

impl Sequential {
    /// No modules, on the [`DefaultStrategy`]: the identity.
    pub fn new() -> Self {
        Self::new_in()
    }
}

impl<S: Strategy> Sequential<S> {
    /// [`new`](Sequential::new) on strategy `S`:
    /// `Sequential::<ArcWeak>::new_in()`.
    pub fn new_in() -> Self {
        Sequential {
            modules: Vec::new(),
        }
    }

    /// Modules already boxed, applied in order.
    pub fn from_modules(modules: Vec<Box<dyn Module<S>>>) -> Self {
        Sequential { modules }
    }

    /// Appends `module` and returns the model.
    pub fn push(mut self, module: impl Module<S> + 'static) -> Self {
        self.modules.push(Box::new(module));
        self
    }

    /// Appends the function `f` as a module without parameters (a
    /// [`Lambda`]) and returns the model: an op (`push_fn(relu)`), or a
    /// closure (`push_fn(|x| reshape(x, &[1, 4]))`). The closure's
    /// argument is a `&Variable<S>` of the model's strategy, so it needs no
    /// annotation; it returns the ops' `Result` or this crate's.
    ///
    /// ```
    /// use autograd_nn::{Module, Sequential};
    /// use autograd_ops::{Variable, mul, relu};
    ///
    /// let double_relu = Sequential::new()
    ///     .push_fn(relu)
    ///     .push_fn(|x| mul(x, &Variable::constant(ndarray::arr0(2.0))));
    /// let y = double_relu.forward(&Variable::constant(ndarray::array![-1.0, 3.0]))?;
    /// assert_eq!(y.data(), ndarray::array![0.0, 6.0].into_dyn());
    /// # Ok::<(), autograd_nn::Error>(())
    /// ```
    pub fn push_fn<F, E>(self, f: F) -> Self
    where
        F: Fn(&Variable<S>) -> std::result::Result<Variable<S>, E> + 'static,
        E: Into<Error>,
    {
        self.push(Lambda::new_in(f))
    }

    /// The modules, in order.
    pub fn modules(&self) -> &[Box<dyn Module<S>>] {
        &self.modules
    }

    /// The modules as the blocks of a chain, one each, for a byte budget
    /// ([`autograd_ops::budget`]): each reads its module's parameters.
    /// The modules move into the blocks (run them with
    /// [`checkpoint_chain`](autograd_ops::budget::checkpoint_chain), a
    /// [`Plan::keep_all`](autograd_ops::budget::Plan::keep_all) for a plain
    /// forward); the parameters are the model's.
    ///
    /// ```
    /// use autograd_nn::{Linear, Sequential};
    /// use autograd_ops::budget::{Plan, checkpoint_chain};
    /// use autograd_ops::{Variable, relu};
    /// use ndarray::array;
    ///
    /// let blocks = Sequential::new()
    ///     .push(Linear::from_arrays(array![[1.0, -1.0]], None)?)
    ///     .push_fn(relu)
    ///     .into_chain_blocks();
    /// let x = Variable::constant(array![[2.0]]);
    /// let y = checkpoint_chain(&blocks, &[&x], &Plan::segments_of(2, 2, true))?.remove(0);
    /// assert_eq!(y.data(), array![[2.0, 0.0]].into_dyn());
    /// # Ok::<(), autograd_nn::Error>(())
    /// ```
    pub fn into_chain_blocks(self) -> Vec<ChainBlock<S>> {
        self.modules
            .into_iter()
            .map(|module| {
                let module: Rc<dyn Module<S>> = Rc::from(module);
                let params = module.params();
                ChainBlock::new(params, move |h| {
                    module.forward(&h[0]).map(|y| vec![y]).map_err(|e| match e {
                        Error::Core(e) => e,
                        other => autograd_core::Error::op_failed("Sequential", other.to_string()),
                    })
                })
            })
            .collect()
    }
}

impl<S: Strategy> Default for Sequential<S> {
    fn default() -> Self {
        Self::new_in()
    }
}

impl<S: Strategy> Module<S> for Sequential<S> {
    fn forward(&self, x: &Variable<S>) -> Result<Variable<S>> {
        let mut y = x.clone();
        for module in &self.modules {
            y = module.forward(&y)?;
        }
        Ok(y)
    }

    fn named_params(&self) -> Vec<(String, Variable<S>)> {
        self.modules
            .iter()
            .enumerate()
            .flat_map(|(i, m)| layer_params(i, m.named_params()))
            .collect()
    }

    /// Resets each module's state.
    fn reset_state(&self) {
        for module in &self.modules {
            module.reset_state();
        }
    }
}
