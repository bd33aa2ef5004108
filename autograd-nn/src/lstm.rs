//! [`Lstm`]: DeZero's long short-term memory layer, with its hidden state
//! and memory cell kept between calls, and [`LstmState`], the pair.

use std::cell::RefCell;

use autograd_core::{DefaultStrategy, Strategy, Variable};
use autograd_ops::{add, linear, mul, sigmoid, tanh};
use rand::SeedableRng;
use rand::rngs::StdRng;

use crate::linear::check_size;
use crate::rnn::{check_input, check_state, named};
use crate::{Linear, Module, Result};

/// What an [`Lstm`] carries from one step to the next: the hidden state
/// `h` (the layer's output) and the memory cell `c`, each
/// `(batch, hidden)`.
pub struct LstmState<S: Strategy = DefaultStrategy> {
    /// The hidden state, the step's output.
    pub h: Variable<S>,
    /// The memory cell.
    pub c: Variable<S>,
}

impl<S: Strategy> Clone for LstmState<S> {
    fn clone(&self) -> Self {
        LstmState {
            h: self.h.clone(),
            c: self.c.clone(),
        }
    }
}

/// Shows the shapes, never a graph.
impl<S: Strategy> std::fmt::Debug for LstmState<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LstmState")
            .field("h", &self.h.shape())
            .field("c", &self.c.shape())
            .finish()
    }
}

/// A long short-term memory layer (DeZero's `L.LSTM`): four gates from the
/// step's input `x` of shape `(batch, in)` and the previous hidden state,
///
/// ```text
/// f = σ(x2f(x) + h2f(h))    i = σ(x2i(x) + h2i(h))
/// o = σ(x2o(x) + h2o(h))    u = tanh(x2u(x) + h2u(h))
/// c' = f·c + i·u            h' = o·tanh(c')
/// ```
///
/// the input projections `x2*` [`Linear`] layers with a bias, the hidden
/// ones `h2*` without. The first step after [`new`](Lstm::new) or
/// [`reset_state`](Module::reset_state) has no state: no `h2*` terms and
/// `c' = i·u`, as DeZero's (which computes `f` there too and never reads
/// it; it is not computed here). Each call returns `h'`, `(batch, hidden)`.
///
/// The state is carried as [`Rnn`](crate::Rnn)'s is: by the caller through
/// [`step`](Lstm::step), or in the layer by [`forward`](Module::forward)
/// (the [`Module`] impl), with [`reset_state`](Module::reset_state),
/// [`state`](Lstm::state) and [`set_state`](Lstm::set_state). It is not a
/// parameter, and parameter files neither save nor load it.
///
/// Parameters, named after DeZero's attributes and drawn in this order as
/// [`Linear::new`] draws them from one `StdRng` seeded with the seed:
/// `x2f/W`, `x2f/b`, `x2i/W`, `x2i/b`, `x2o/W`, `x2o/b`, `x2u/W`, `x2u/b`
/// (`(in, hidden)` and `(hidden,)`), then `h2f/W`, `h2i/W`, `h2o/W`, `h2u/W`
/// (`(hidden, hidden)`).
///
/// ```
/// use autograd_nn::{Linear, Lstm, Module, Sequential};
/// use autograd_ops::{Variable, mean_squared_error};
/// use ndarray::Array2;
///
/// let model = Sequential::new().push(Lstm::new(1, 8, 0)?).push(Linear::new(8, 1, 1)?);
/// let x = Variable::constant(Array2::from_elem((3, 1), 0.5));
/// let mut loss = mean_squared_error(&model.forward(&x)?, &x)?;
/// for _ in 0..4 {
///     loss = &loss + &mean_squared_error(&model.forward(&x)?, &x)?;
/// }
/// loss.backward()?; // through the five steps
/// loss.unchain_backward(); // the state is a leaf now: the next window starts here
/// model.reset_state();
/// # Ok::<(), autograd_nn::Error>(())
/// ```
pub struct Lstm<S: Strategy = DefaultStrategy> {
    /// `x2f`, `x2i`, `x2o`, `x2u`.
    x2: [Linear<S>; 4],
    /// `h2f`, `h2i`, `h2o`, `h2u`.
    h2: [Linear<S>; 4],
    /// The state `forward` carries: `None` before the first step.
    state: RefCell<Option<LstmState<S>>>,
}

impl Lstm {
    /// A layer on the [`DefaultStrategy`] reading `in_size` features a
    /// step into a hidden state (and a cell) of `hidden_size`, its weights
    /// drawn from `seed` (DeZero's initialisation, as [`Linear::new`]; the
    /// same seed gives the same weights).
    ///
    /// # Errors
    /// As [`new_in`](Lstm::new_in).
    pub fn new(in_size: usize, hidden_size: usize, seed: u64) -> Result<Self> {
        Self::new_in(in_size, hidden_size, seed)
    }
}

impl<S: Strategy> Lstm<S> {
    /// [`new`](Lstm::new) on strategy `S`: `Lstm::<ArcWeak>::new_in(..)`.
    ///
    /// # Errors
    /// [`Error::LayerSize`](crate::Error::LayerSize) naming `Lstm` and the
    /// sizes when a weight would not fit in memory (checked before any is
    /// drawn).
    pub fn new_in(in_size: usize, hidden_size: usize, seed: u64) -> Result<Self> {
        check_size("Lstm", in_size, hidden_size)?;
        check_size("Lstm", hidden_size, hidden_size)?;
        let mut rng = StdRng::seed_from_u64(seed);
        let mut draw = |in_size, bias| Linear::draw(in_size, hidden_size, bias, &mut rng);
        let x2 = [
            draw(in_size, true)?,
            draw(in_size, true)?,
            draw(in_size, true)?,
            draw(in_size, true)?,
        ];
        let h2 = [
            draw(hidden_size, false)?,
            draw(hidden_size, false)?,
            draw(hidden_size, false)?,
            draw(hidden_size, false)?,
        ];
        Ok(Lstm {
            x2,
            h2,
            state: RefCell::new(None),
        })
    }

    /// The input projections `x2f`, `x2i`, `x2o`, `x2u`, with biases:
    /// `(in, hidden)` each.
    pub fn input_projections(&self) -> &[Linear<S>; 4] {
        &self.x2
    }

    /// The hidden projections `h2f`, `h2i`, `h2o`, `h2u`, without biases:
    /// `(hidden, hidden)` each.
    pub fn hidden_projections(&self) -> &[Linear<S>; 4] {
        &self.h2
    }

    /// The input width.
    pub fn in_size(&self) -> usize {
        self.x2[0].in_size()
    }

    /// The width of the hidden state and of the cell.
    pub fn hidden_size(&self) -> usize {
        self.x2[0].out_size()
    }

    /// One step from `state` (`None`: the first step of a sequence): the new
    /// state, whose `h` is the step's output. The layer's own state is
    /// neither read nor changed.
    ///
    /// Each gate's sum is one fused op, `h·W + x2*(x)` (the input
    /// projection as the bias of [`linear`]): the same arithmetic as
    /// DeZero's `x2*(x) + h2*(h)`, with a node and a buffer fewer a gate.
    ///
    /// # Errors
    /// [`Error::LayerInput`](crate::Error::LayerInput) naming `Lstm` and
    /// both shapes unless `x` is `(batch, in)`;
    /// [`Error::StateShape`](crate::Error::StateShape) naming `Lstm`, the
    /// part (`h` or `c`) and the shapes unless both are `(batch, hidden)`
    /// for the input's batch (a state from a batch of another size).
    pub fn step(&self, x: &Variable<S>, state: Option<&LstmState<S>>) -> Result<LstmState<S>> {
        let input = x.shape();
        check_input("Lstm", &input, self.in_size(), self.hidden_size())?;
        if let Some(state) = state {
            check_state("Lstm", "h", &state.h.shape(), &input, self.hidden_size())?;
            check_state("Lstm", "c", &state.c.shape(), &input, self.hidden_size())?;
        }
        let gate = |k: usize| -> Result<Variable<S>> {
            let projected = self.x2[k].forward(x)?;
            Ok(match state {
                Some(state) => linear(&state.h, self.h2[k].weight(), Some(&projected))?,
                None => projected,
            })
        };
        // The forget gate only where there is a cell to forget.
        let f = state
            .map(|_| gate(0).and_then(|z| Ok(sigmoid(&z)?)))
            .transpose()?;
        let i = sigmoid(&gate(1)?)?;
        let o = sigmoid(&gate(2)?)?;
        let u = tanh(&gate(3)?)?;
        let iu = mul(&i, &u)?;
        let c = match (f, state) {
            (Some(f), Some(state)) => add(&mul(&f, &state.c)?, &iu)?,
            _ => iu,
        };
        let h = mul(&o, &tanh(&c)?)?;
        Ok(LstmState { h, c })
    }

    /// The state `forward` carries, if a step was taken since the layer
    /// was made or reset.
    pub fn state(&self) -> Option<LstmState<S>> {
        self.state.borrow().clone()
    }

    /// Replaces the state `forward` carries (`None`: as
    /// [`reset_state`](Module::reset_state)). The next `forward` checks its
    /// shapes against its input.
    pub fn set_state(&self, state: Option<LstmState<S>>) {
        let previous = self.state.replace(state);
        drop(previous); // outside the borrow: it may free a graph
    }
}

impl<S: Strategy> Module<S> for Lstm<S> {
    /// One step from the state the layer keeps, which it replaces with the
    /// new one; returns the new hidden state. On an error the state stays
    /// as it was.
    ///
    /// # Errors
    /// As [`step`](Lstm::step).
    fn forward(&self, x: &Variable<S>) -> Result<Variable<S>> {
        let state = self.step(x, self.state().as_ref())?;
        let h = state.h.clone();
        self.set_state(Some(state));
        Ok(h)
    }

    /// `x2f/W`, `x2f/b`, ..., `x2u/b`, `h2f/W`, ..., `h2u/W`; not the state.
    fn named_params(&self) -> Vec<(String, Variable<S>)> {
        const X2: [&str; 4] = ["x2f", "x2i", "x2o", "x2u"];
        const H2: [&str; 4] = ["h2f", "h2i", "h2o", "h2u"];
        let inputs = (X2.iter().zip(&self.x2)).flat_map(|(name, l)| named(name, l.named_params()));
        let hidden = (H2.iter().zip(&self.h2)).flat_map(|(name, l)| named(name, l.named_params()));
        inputs.chain(hidden).collect()
    }

    /// Forgets the hidden state and the cell: the next step is a
    /// sequence's first.
    fn reset_state(&self) {
        self.set_state(None);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Error;
    use autograd_core::RcWeak;
    use ndarray::{Array2, Ix2, array};

    type V = Variable<RcWeak>;

    fn weight(l: &Linear<RcWeak>) -> Array2<f64> {
        l.weight()
            .data()
            .into_dimensionality::<Ix2>()
            .unwrap()
            .to_owned()
    }

    fn sigma(v: f64) -> f64 {
        1.0 / (1.0 + (-v).exp())
    }

    /// DeZero's formulas on arrays, for two steps.
    #[test]
    fn two_steps_compute_dezeros_gates() {
        let lstm = Lstm::<RcWeak>::new_in(2, 3, 7).unwrap();
        let xs = [
            array![[0.5, -1.0], [0.2, 0.3]],
            array![[1.5, 0.1], [-0.7, 0.4]],
        ];
        let (mut h, mut c): (Option<Array2<f64>>, Option<Array2<f64>>) = (None, None);
        for x in &xs {
            let out = lstm.forward(&V::constant_from_array(x.clone())).unwrap();
            let pre = |k: usize| {
                let mut z = x.dot(&weight(&lstm.x2[k])); // biases are zero
                if let Some(h) = &h {
                    z = z + h.dot(&weight(&lstm.h2[k]));
                }
                z
            };
            let (i, o, u) = (
                pre(1).mapv(sigma),
                pre(2).mapv(sigma),
                pre(3).mapv(f64::tanh),
            );
            let c_new = match &c {
                Some(c) => pre(0).mapv(sigma) * c + &i * &u,
                None => &i * &u,
            };
            let h_new = o * c_new.mapv(f64::tanh);
            for (a, b) in out.data().iter().zip(h_new.iter()) {
                assert!((a - b).abs() < 1e-14, "{a} vs {b}");
            }
            let state = lstm.state().unwrap();
            for (a, b) in state.c.data().iter().zip(c_new.iter()) {
                assert!((a - b).abs() < 1e-14, "{a} vs {b}");
            }
            (h, c) = (Some(h_new), Some(c_new));
        }
        lstm.reset_state();
        assert!(lstm.state().is_none());
    }

    #[test]
    fn parameters_are_named_after_dezeros_sublayers() {
        let lstm = Lstm::<RcWeak>::new_in(1, 2, 0).unwrap();
        let names: Vec<String> = lstm.named_params().into_iter().map(|(n, _)| n).collect();
        assert_eq!(
            names,
            [
                "x2f/W", "x2f/b", "x2i/W", "x2i/b", "x2o/W", "x2o/b", "x2u/W", "x2u/b", "h2f/W",
                "h2i/W", "h2o/W", "h2u/W"
            ]
        );
        // Drawn in turn from one generator: every weight differs.
        let weights: Vec<_> = lstm
            .named_params()
            .into_iter()
            .map(|(_, p)| p.data())
            .collect();
        assert_ne!(weights[0], weights[2]);
        assert_ne!(weights[8], weights[9]);
    }

    #[test]
    fn bad_inputs_and_states_are_errors_naming_lstm_and_the_shapes() {
        let lstm = Lstm::<RcWeak>::new_in(2, 3, 0).unwrap();
        let err = lstm
            .forward(&V::constant_from_array(Array2::zeros((5, 1))))
            .unwrap_err();
        assert!(
            matches!(&err, Error::LayerInput { layer: "Lstm", weight: [2, 3], input } if input == &[5, 1]),
            "{err}"
        );
        lstm.forward(&V::constant_from_array(Array2::zeros((5, 2))))
            .unwrap();
        let err = lstm
            .forward(&V::constant_from_array(Array2::zeros((2, 2))))
            .unwrap_err();
        assert!(
            matches!(&err, Error::StateShape { layer: "Lstm", part: "h", state, input, hidden: 3 }
                if state == &[5, 3] && input == &[2, 2]),
            "{err}"
        );
        // A cell that does not match its hidden state.
        let state = LstmState {
            h: V::constant_from_array(Array2::zeros((2, 3))),
            c: V::constant_from_array(Array2::zeros((2, 4))),
        };
        let x = V::constant_from_array(Array2::zeros((2, 2)));
        let err = lstm.step(&x, Some(&state)).unwrap_err();
        assert!(matches!(err, Error::StateShape { part: "c", .. }), "{err}");
        assert!(err.to_string().contains("Lstm"), "{err}");
        let err = Lstm::<RcWeak>::new_in(3, 1 << 32, 0).err().unwrap();
        assert!(
            matches!(err, Error::LayerSize { layer: "Lstm", .. }),
            "{err}"
        );
    }
}
