//! Training models on the autograd engine: [`Module`]s ([`Linear`],
//! [`Mlp`], [`Sequential`], the convolutional [`Conv2d`], the recurrent
//! [`Rnn`] and [`Lstm`] with their state, and the parameterless
//! [`Activation`], [`MaxPool2d`], [`AvgPool2d`], [`Dropout`], [`Flatten`]
//! and [`Lambda`]), [`Optimizer`]s ([`Sgd`], [`MomentumSgd`], [`AdaGrad`],
//! [`Adam`]), loaders ([`DataLoader`], [`SeqDataLoader`]) and [`Bptt`]'s
//! windows for truncated backpropagation through time,
//! [`accuracy`], the [`datasets`] that ship with the crate, and parameter
//! files ([`save_params`], [`save_params_compressed`], [`load_params`],
//! [`load_params_lenient`]) that NumPy and DeZero read and write.
//!
//! Everything is generic over the ownership strategy, as the engine is.
//! A constructor without a suffix (`Mlp::new`, `Linear::new`,
//! `Sequential::new`, `DataLoader::new`) builds on the workspace's
//! [`DefaultStrategy`](autograd_ops::DefaultStrategy) and needs no type
//! annotation, as `Variable::new` does; its twin ending in `_in` builds on
//! the strategy the type names: `Mlp::<ArcWeak>::new_in(..)`.
//!
//! A constructor that draws random weights takes a seed (`u64`), not a
//! generator: `Mlp::new(&[64, 100, 10], Activation::Relu, 0)`. The
//! weights come from `rand`'s `StdRng` seeded with it, inside the crate,
//! so the crate's API does not depend on a `rand` version (a user's own
//! `rand`, whatever its version, never meets it), and the same seed gives
//! the same weights. Loaders and splits take seeds the same way.
//!
//! [`prelude`] brings in what a training script needs, the ops included.
//! One training step on the digits, as the `digits` example runs it:
//!
//! ```
//! use autograd_nn::prelude::*;
//!
//! let (x, labels) = datasets::digits();
//! let mut loader = DataLoader::new(x / 16.0, labels, 32)?.shuffle(0);
//! let model = Mlp::new(&[64, 100, 10], Activation::Relu, 0)?;
//! let mut adam = Adam::new(model.params(), 1e-3)?;
//! let (batch, labels) = loader.iter().next().expect("a batch");
//! adam.cleargrad();
//! let loss = softmax_cross_entropy(&model.forward(&batch)?, &labels)?;
//! loss.backward()?;
//! adam.step()?;
//! assert!(loss.item().unwrap() > 0.0);
//! # Ok::<(), Error>(())
//! ```

mod bptt;
mod conv;
mod data;
pub mod datasets;
mod dropout;
mod error;
mod flatten;
mod lambda;
mod linear;
mod lstm;
mod mlp;
mod module;
mod optim;
mod params_file;
mod pool;
mod rnn;
#[cfg(test)]
mod testing;

pub use bptt::Bptt;
pub use conv::Conv2d;
pub use data::{Batches, DataLoader, SeqBatches, SeqDataLoader, Targets, accuracy};
pub use dropout::Dropout;
pub use error::{Error, Result};
pub use flatten::Flatten;
pub use lambda::Lambda;
pub use linear::Linear;
pub use lstm::{Lstm, LstmState};
pub use mlp::{Activation, Mlp};
pub use module::{Module, Sequential, layer_params};
pub use optim::{AdaGrad, Adam, MomentumSgd, Optimizer, Sgd};
pub use params_file::{load_params, load_params_lenient, save_params, save_params_compressed};
pub use pool::{AvgPool2d, MaxPool2d};
pub use rnn::Rnn;

/// What a training script needs, in one import: the ops' prelude
/// ([`autograd_ops::prelude`]: `Variable`, the ops, `no_grad`, ...) and
/// this crate's modules, optimizers, loaders, datasets and parameter files.
/// `Result` and `Error` are this crate's (an op's error converts into it
/// with `?`); the engine's stay at `autograd_ops::{Error, Result}`.
///
/// ```
/// use autograd_nn::prelude::*;
///
/// fn train() -> Result<f64> {
///     let (x, t) = datasets::sin_curve(true);
///     let model = Sequential::new()
///         .push(Linear::new(1, 10, 0)?)
///         .push(Activation::Sigmoid)
///         .push(Linear::new(10, 1, 1)?);
///     let mut sgd = Sgd::new(model.params(), 0.2)?;
///     let mut loader = DataLoader::new(x, t, 100)?.shuffle(0);
///     let mut last = f64::NAN;
///     for (x, t) in loader.iter() {
///         sgd.cleargrad();
///         let loss = mean_squared_error(&model.forward(&x)?, &t)?;
///         loss.backward()?;
///         sgd.step()?;
///         last = loss.item().unwrap_or(f64::NAN);
///     }
///     Ok(last)
/// }
/// assert!(train()? < 1.0);
/// # Ok::<(), Error>(())
/// ```
pub mod prelude {
    pub use autograd_ops::prelude::*;

    // Named, so that they shadow the ops' prelude's `Error` and `Result`.
    pub use crate::{Error, Result};

    pub use crate::{
        Activation, AdaGrad, Adam, AvgPool2d, Bptt, Conv2d, DataLoader, Dropout, Flatten, Lambda,
        Linear, Lstm, LstmState, MaxPool2d, Mlp, Module, MomentumSgd, Optimizer, Rnn,
        SeqDataLoader, Sequential, Sgd, accuracy, datasets, load_params, load_params_lenient,
        save_params, save_params_compressed,
    };
}

/// The README's Rust examples, compiled and run as doc tests (here, the
/// top of the library stack, which sees every crate they use).
#[doc = include_str!("../../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
