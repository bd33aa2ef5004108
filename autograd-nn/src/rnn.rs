//! [`Rnn`]: DeZero's Elman recurrent layer, `h = tanh(x·Wx + b + h·Wh)`,
//! with its hidden state kept between calls.

use std::cell::RefCell;

use autograd_core::{DefaultStrategy, Strategy, Variable};
use rand::SeedableRng;
use rand::rngs::StdRng;

use crate::linear::check_size;
use crate::{Error, Linear, Module, Result};

/// An Elman recurrent layer with `tanh` (DeZero's `L.RNN`): each call
/// reads one time step `x` of shape `(batch, in)` and returns the new
/// hidden state `h = tanh(x2h(x) + h2h(h_prev))` of shape `(batch, hidden)`,
/// `x2h` a [`Linear`] with a bias and `h2h` one without. The first step
/// after [`new`](Rnn::new) or [`reset_state`](Module::reset_state) has no
/// previous state and no `h2h` term: `h = tanh(x2h(x))`, as DeZero's.
///
/// Two ways to carry the state (ARCHITECTURE.md, "Stateful modules"):
///
/// - [`step`](Rnn::step) takes the previous state and returns the new one;
///   the caller holds it, so what a window's graph keeps is in plain sight
///   (candle-nn's `RNN::step`).
/// - [`forward`](Module::forward) (the [`Module`] impl, what a
///   [`Sequential`](crate::Sequential) calls) keeps the state in the layer
///   (DeZero's `self.h`): it steps from the state it holds and keeps the
///   new one. [`reset_state`](Module::reset_state) forgets it,
///   [`state`](Rnn::state) and [`set_state`](Rnn::set_state) read and
///   replace it.
///
/// The kept state is a variable of the graph: the next step's graph reads
/// it, so backward runs through every step since the last reset unless the
/// graph is cut (`loss.unchain_backward()`, truncated backpropagation
/// through time), which makes the state a leaf that keeps its value and
/// nothing else. The state is not a parameter: parameter files neither
/// save nor load it. A layer with a state is not `Sync` (two threads
/// stepping one layer would interleave their sequences).
///
/// Parameters: `x2h/W` `(in, hidden)`, `x2h/b` `(hidden,)`, `h2h/W`
/// `(hidden, hidden)`, drawn as [`Linear::new`] draws them, `x2h`'s first,
/// from one `StdRng` seeded with the seed.
///
/// ```
/// use autograd_nn::{Linear, Module, Rnn, Sequential};
/// use autograd_ops::Variable;
/// use ndarray::Array2;
///
/// let model = Sequential::new().push(Rnn::new(1, 8, 0)?).push(Linear::new(8, 1, 1)?);
/// let x = Variable::constant(Array2::from_elem((4, 1), 0.5)); // 4 sequences, one step
/// let first = model.forward(&x)?; // h = tanh(x2h(x))
/// let second = model.forward(&x)?; // h = tanh(x2h(x) + h2h(h)): another value
/// assert_eq!(first.shape(), [4, 1]);
/// assert_ne!(first.data(), second.data());
/// model.reset_state(); // the next call starts a new sequence
/// assert_eq!(model.forward(&x)?.data(), first.data());
/// # Ok::<(), autograd_nn::Error>(())
/// ```
pub struct Rnn<S: Strategy = DefaultStrategy> {
    x2h: Linear<S>,
    h2h: Linear<S>,
    /// The hidden state `forward` carries: `None` before the first step.
    state: RefCell<Option<Variable<S>>>,
}

impl Rnn {
    /// A layer on the [`DefaultStrategy`] reading `in_size` features a
    /// step into a hidden state of `hidden_size`, its weights drawn from
    /// `seed` (DeZero's initialisation, as [`Linear::new`]; the same seed
    /// gives the same weights).
    ///
    /// # Errors
    /// As [`new_in`](Rnn::new_in).
    pub fn new(in_size: usize, hidden_size: usize, seed: u64) -> Result<Self> {
        Self::new_in(in_size, hidden_size, seed)
    }
}

impl<S: Strategy> Rnn<S> {
    /// [`new`](Rnn::new) on strategy `S`: `Rnn::<ArcWeak>::new_in(..)`.
    ///
    /// # Errors
    /// [`Error::LayerSize`] naming `Rnn` and the sizes when a weight would
    /// not fit in memory.
    pub fn new_in(in_size: usize, hidden_size: usize, seed: u64) -> Result<Self> {
        // Both sizes checked before anything is drawn.
        check_size("Rnn", in_size, hidden_size)?;
        check_size("Rnn", hidden_size, hidden_size)?;
        let mut rng = StdRng::seed_from_u64(seed);
        let x2h = Linear::draw(in_size, hidden_size, true, &mut rng)?;
        let h2h = Linear::draw(hidden_size, hidden_size, false, &mut rng)?;
        Ok(Self::from_layers(x2h, h2h))
    }

    fn from_layers(x2h: Linear<S>, h2h: Linear<S>) -> Self {
        Rnn {
            x2h,
            h2h,
            state: RefCell::new(None),
        }
    }

    /// The input projection, with a bias: `(in, hidden)`.
    pub fn x2h(&self) -> &Linear<S> {
        &self.x2h
    }

    /// The hidden projection, without a bias: `(hidden, hidden)`.
    pub fn h2h(&self) -> &Linear<S> {
        &self.h2h
    }

    /// The input width.
    pub fn in_size(&self) -> usize {
        self.x2h.in_size()
    }

    /// The hidden state's width.
    pub fn hidden_size(&self) -> usize {
        self.x2h.out_size()
    }

    /// One step from the state `h` (`None`: the first step of a sequence):
    /// the new state, `tanh(x2h(x) + h2h(h))` (`tanh(x2h(x))` without one).
    /// The layer's own state is neither read nor changed.
    ///
    /// The sum is one fused op, `h·Wh + x2h(x)` (the input projection as
    /// the bias of [`linear`](autograd_ops::linear)), the same arithmetic as
    /// DeZero's `x2h(x) + h2h(h)` with one node and one buffer fewer.
    ///
    /// # Errors
    /// [`Error::LayerInput`] naming `Rnn` and both shapes unless `x` is
    /// `(batch, in)`; [`Error::StateShape`] naming `Rnn`, the state's and
    /// the input's shapes unless `h` is `(batch, hidden)` for the same
    /// batch (a state from a batch of another size).
    pub fn step(&self, x: &Variable<S>, h: Option<&Variable<S>>) -> Result<Variable<S>> {
        let input = x.shape();
        check_input("Rnn", &input, self.in_size(), self.hidden_size())?;
        if let Some(h) = h {
            check_state("Rnn", "h", &h.shape(), &input, self.hidden_size())?;
        }
        let projected = self.x2h.forward(x)?;
        let sum = match h {
            Some(h) => autograd_ops::linear(h, self.h2h.weight(), Some(&projected))?,
            None => projected,
        };
        Ok(autograd_ops::tanh(&sum)?)
    }

    /// The hidden state `forward` carries, if a step was taken since the
    /// layer was made or reset.
    pub fn state(&self) -> Option<Variable<S>> {
        self.state.borrow().clone()
    }

    /// Replaces the hidden state `forward` carries (`None`: as
    /// [`reset_state`](Module::reset_state)). The next `forward` checks its
    /// shape against its input.
    pub fn set_state(&self, h: Option<Variable<S>>) {
        let previous = self.state.replace(h);
        drop(previous); // outside the borrow: it may free a graph
    }
}

impl<S: Strategy> Module<S> for Rnn<S> {
    /// One step from the state the layer keeps, which it replaces with the
    /// new one; returns the new state. On an error the state stays as it was.
    ///
    /// # Errors
    /// As [`step`](Rnn::step).
    fn forward(&self, x: &Variable<S>) -> Result<Variable<S>> {
        let h = self.step(x, self.state().as_ref())?;
        self.set_state(Some(h.clone()));
        Ok(h)
    }

    /// `x2h/W`, `x2h/b`, `h2h/W`; not the state.
    fn named_params(&self) -> Vec<(String, Variable<S>)> {
        named("x2h", self.x2h.named_params())
            .chain(named("h2h", self.h2h.named_params()))
            .collect()
    }

    /// Forgets the hidden state: the next step is a sequence's first.
    fn reset_state(&self) {
        self.set_state(None);
    }
}

/// A sublayer's parameters under its name, DeZero's `x2h/W`.
pub(crate) fn named<S: Strategy>(
    layer: &'static str,
    params: Vec<(String, Variable<S>)>,
) -> impl Iterator<Item = (String, Variable<S>)> {
    params
        .into_iter()
        .map(move |(name, p)| (format!("{layer}/{name}"), p))
}

/// [`Error::LayerInput`] naming `layer` unless `input` is `(batch, in_size)`.
pub(crate) fn check_input(
    layer: &'static str,
    input: &[usize],
    in_size: usize,
    hidden_size: usize,
) -> Result<()> {
    if input.len() != 2 || input[1] != in_size {
        return Err(Error::LayerInput {
            layer,
            weight: [in_size, hidden_size],
            input: input.to_vec(),
        });
    }
    Ok(())
}

/// [`Error::StateShape`] naming `layer` and the state `part` unless `state`
/// is `(batch, hidden_size)` for the batch of `input` (already checked to
/// be 2-D).
pub(crate) fn check_state(
    layer: &'static str,
    part: &'static str,
    state: &[usize],
    input: &[usize],
    hidden_size: usize,
) -> Result<()> {
    if state != [input[0], hidden_size] {
        return Err(Error::StateShape {
            layer,
            part,
            state: state.to_vec(),
            input: input.to_vec(),
            hidden: hidden_size,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use autograd_core::RcWeak;
    use ndarray::{Array2, array};

    type V = Variable<RcWeak>;

    fn constant(a: Array2<f64>) -> V {
        V::constant_from_array(a)
    }

    /// A model of both recurrent layers saves and loads its parameters
    /// and nothing of its state: a loaded copy, from a reset state, steps
    /// as the original does from its own reset state.
    #[test]
    fn a_sequential_of_recurrent_layers_saves_and_loads_its_weights_and_not_its_state() {
        use crate::{Lstm, Sequential, load_params, save_params};
        let model = |seed| {
            Sequential::<RcWeak>::new_in()
                .push(Rnn::new_in(2, 3, seed).unwrap())
                .push(Lstm::<RcWeak>::new_in(3, 4, seed + 1).unwrap())
                .push(Linear::new_in(4, 1, seed + 2).unwrap())
        };
        let (original, copy) = (model(0), model(10));
        let x = constant(array![[0.5, -1.0], [0.2, 0.3]]);
        original.forward(&x).unwrap(); // a state that is not saved
        let path = std::env::temp_dir().join(format!("autograd-nn-rnn-{}.npz", std::process::id()));
        save_params(&original, &path).unwrap();
        load_params(&copy, &path).unwrap();
        std::fs::remove_file(&path).unwrap();
        let names: Vec<String> = original
            .named_params()
            .into_iter()
            .map(|(n, _)| n)
            .collect();
        assert_eq!(names.len(), 3 + 12 + 2, "{names:?}");
        assert!(names.iter().all(|n| n.starts_with('l')), "{names:?}");
        assert_eq!(&names[..3], ["l0/x2h/W", "l0/x2h/b", "l0/h2h/W"]);
        assert_eq!(names[3], "l1/x2f/W");
        original.reset_state();
        for _ in 0..3 {
            assert_eq!(
                original.forward(&x).unwrap().data(),
                copy.forward(&x).unwrap().data()
            );
        }
    }

    #[test]
    fn the_first_step_has_no_hidden_term_and_later_ones_do() {
        let rnn = Rnn::<RcWeak>::new_in(2, 3, 5).unwrap();
        let x = constant(array![[0.5, -1.0]]);
        let weight = |l: &Linear<RcWeak>| -> Array2<f64> {
            l.weight().data().into_dimensionality().unwrap().to_owned()
        };
        let (wx, wh) = (weight(rnn.x2h()), weight(rnn.h2h()));
        let x_arr = x.data().into_dimensionality::<ndarray::Ix2>().unwrap();
        let h1 = rnn.forward(&x).unwrap();
        let expected1 = x_arr.dot(&wx).mapv(f64::tanh); // the bias is zero
        assert_eq!(h1.data(), expected1.clone().into_dyn());
        let h2 = rnn.forward(&x).unwrap();
        let expected2 = (x_arr.dot(&wx) + expected1.dot(&wh)).mapv(f64::tanh);
        for (a, b) in h2.data().iter().zip(expected2.iter()) {
            assert!((a - b).abs() < 1e-15, "{a} vs {b}");
        }
        assert!(rnn.state().unwrap().ptr_eq(&h2));
        rnn.reset_state();
        assert!(rnn.state().is_none());
        assert_eq!(rnn.forward(&x).unwrap().data(), h1.data());
    }

    #[test]
    fn parameters_are_named_after_dezeros_sublayers_and_the_state_is_not_one() {
        let rnn = Rnn::<RcWeak>::new_in(1, 4, 0).unwrap();
        rnn.forward(&constant(array![[1.0]])).unwrap();
        let names: Vec<(String, Vec<usize>)> = rnn
            .named_params()
            .into_iter()
            .map(|(n, p)| (n, p.shape()))
            .collect();
        assert_eq!(
            names,
            [
                ("x2h/W".to_owned(), vec![1, 4]),
                ("x2h/b".to_owned(), vec![4]),
                ("h2h/W".to_owned(), vec![4, 4]),
            ]
        );
        // The same weights for the same seed; x2h's are Linear::new's.
        let again = Rnn::<RcWeak>::new_in(1, 4, 0).unwrap();
        assert_eq!(again.h2h().weight().data(), rnn.h2h().weight().data());
        let linear = Linear::<RcWeak>::new_in(1, 4, 0).unwrap();
        assert_eq!(linear.weight().data(), rnn.x2h().weight().data());
    }

    #[test]
    fn a_wrong_width_or_a_state_of_another_batch_is_an_error_naming_the_layer_and_shapes() {
        let rnn = Rnn::<RcWeak>::new_in(2, 3, 0).unwrap();
        let err = rnn.forward(&constant(Array2::zeros((4, 5)))).unwrap_err();
        assert!(
            matches!(&err, Error::LayerInput { layer: "Rnn", weight: [2, 3], input } if input == &[4, 5]),
            "{err}"
        );
        let message = err.to_string();
        assert!(
            message.contains("Rnn") && message.contains("[4, 5]"),
            "{message}"
        );
        assert!(rnn.state().is_none(), "a failed step keeps the state");
        let rank = rnn
            .forward(&V::constant_from_array(array![1.0, 2.0]))
            .unwrap_err();
        assert!(
            matches!(rank, Error::LayerInput { layer: "Rnn", .. }),
            "{rank}"
        );

        rnn.forward(&constant(Array2::zeros((4, 2)))).unwrap();
        let kept = rnn.state().unwrap();
        let err = rnn.forward(&constant(Array2::zeros((3, 2)))).unwrap_err();
        assert!(
            matches!(&err, Error::StateShape { layer: "Rnn", part: "h", state, input, hidden: 3 }
                if state == &[4, 3] && input == &[3, 2]),
            "{err}"
        );
        let message = err.to_string();
        assert!(
            message.contains("Rnn") && message.contains("[4, 3]") && message.contains("[3, 2]"),
            "{message}"
        );
        assert!(
            rnn.state().unwrap().ptr_eq(&kept),
            "a failed step keeps the state"
        );
        // A state of the wrong width given to `step`.
        let wide = constant(Array2::zeros((4, 7)));
        assert!(matches!(
            rnn.step(&constant(Array2::zeros((4, 2))), Some(&wide)),
            Err(Error::StateShape { layer: "Rnn", .. })
        ));
        // After a reset, another batch size is fine.
        rnn.reset_state();
        assert_eq!(
            rnn.forward(&constant(Array2::zeros((3, 2))))
                .unwrap()
                .shape(),
            [3, 3]
        );
    }

    #[test]
    fn sizes_whose_weights_cannot_fit_are_errors_naming_rnn() {
        // x2h (1 × 2³²) would fit, h2h (2³² × 2³²) would not: refused before
        // x2h's 32 GiB are drawn.
        let err = Rnn::<RcWeak>::new_in(1, 1 << 32, 0).err().unwrap();
        assert!(
            matches!(err, Error::LayerSize { layer: "Rnn", in_size, out_size } if in_size == 1 << 32 && out_size == 1 << 32),
            "{err}"
        );
        let err = Rnn::<RcWeak>::new_in(1 << 62, 2, 0).err().unwrap();
        assert!(
            matches!(err, Error::LayerSize { layer: "Rnn", .. }),
            "{err}"
        );
    }
}
