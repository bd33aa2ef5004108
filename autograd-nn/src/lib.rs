//! Training models on the autograd engine: [`Module`]s ([`Linear`],
//! [`Mlp`], [`Sequential`]), [`Optimizer`]s ([`Sgd`], [`MomentumSgd`],
//! [`AdaGrad`], [`Adam`]), a [`DataLoader`], [`accuracy`], the
//! [`datasets`] that ship with the crate, and parameter files
//! ([`save_params`], [`save_params_compressed`], [`load_params`],
//! [`load_params_lenient`]) that NumPy and DeZero read and write.
//!
//! Everything is generic over the ownership strategy, as the engine is; the
//! default is the workspace's [`DefaultStrategy`](autograd_core::DefaultStrategy).
//!
//! One training step on the digits, as the `digits` example runs it:
//!
//! ```
//! use autograd_nn::{Activation, Adam, DataLoader, Mlp, Module, Optimizer, datasets};
//! use autograd_ops::softmax_cross_entropy;
//! use rand::SeedableRng;
//!
//! let (x, labels) = datasets::digits();
//! let mut loader: DataLoader = DataLoader::new(x / 16.0, labels, 32)?.shuffle(0);
//! let mut rng = rand::rngs::StdRng::seed_from_u64(0);
//! let model: Mlp = Mlp::new(&[64, 100, 10], Activation::Relu, &mut rng)?;
//! let mut adam = Adam::new(model.params(), 1e-3)?;
//! let (batch, labels) = loader.iter().next().expect("a batch");
//! adam.cleargrad();
//! let loss = softmax_cross_entropy(&model.forward(&batch)?, &labels)?;
//! loss.backward()?;
//! adam.step()?;
//! assert!(loss.item().unwrap() > 0.0);
//! # Ok::<(), autograd_nn::Error>(())
//! ```

mod data;
pub mod datasets;
mod error;
mod linear;
mod mlp;
mod module;
mod optim;
mod params_file;

pub use data::{Batches, DataLoader, SeqBatches, SeqDataLoader, Targets, accuracy};
pub use error::{Error, Result};
pub use linear::Linear;
pub use mlp::{Activation, Mlp};
pub use module::{Module, Sequential, layer_params};
pub use optim::{AdaGrad, Adam, MomentumSgd, Optimizer, Sgd};
pub use params_file::{load_params, load_params_lenient, save_params, save_params_compressed};

/// The README's Rust examples, compiled and run as doc tests (here, the
/// top of the library stack, which sees every crate they use).
#[doc = include_str!("../../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
