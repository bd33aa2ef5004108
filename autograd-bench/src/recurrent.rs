//! DeZero's recurrent training loops, which the `recurrent` bench
//! (`lstm_epoch`) and the report's `recurrent` section measure.
//!
//! * [`Step59`]: step 59's loop, an RNN of [`HIDDEN`] and a linear layer
//!   fed the noisy sine one point at a time, the loss summed on, and at each
//!   window's end ([`BPTT`] steps) `cleargrad`, backward, the cut
//!   (`unchain_backward`) and Adam's step; a window at a time, with what
//!   predicts the heap it keeps (the logic of the guarantee test
//!   `tests/tests/guarantees/recurrent.rs`).
//! * [`Engine`]: one epoch of step 60, an LSTM of [`HIDDEN`] on
//!   `SeqDataLoader`'s [`BATCH`] streams (34 batches, one releasing
//!   backward over the first 30, the cut, one Adam update, the last 4
//!   forward only), in `f64` on one thread.
//! * [`Floor`]: the same epoch in plain ndarray, no graph, every buffer of
//!   the window preallocated: DeZero's LSTM forward (no hidden term and no
//!   forget gate on a sequence's first step), the mean squared error,
//!   backward through the window by hand, Adam. [`floor_matches_engine`]
//!   checks that both give the same losses.

use autograd_mem::Strategy;
use autograd_nn::{
    Adam, Bptt, Linear, Lstm, Module, Optimizer, Rnn, SeqDataLoader, Sequential, datasets,
};
use autograd_ops::{BackwardOptions, Footprint, Variable, mean_squared_error};
use ndarray::linalg::general_mat_mul;
use ndarray::{Array2, Axis, Ix1, Ix2, Zip};

use crate::training::Param;

/// The hidden width of both models (DeZero's steps 59 and 60).
pub const HIDDEN: usize = 100;
/// Step 60's batch: the streams `SeqDataLoader` reads the series as.
pub const BATCH: usize = 30;
/// Steps a window (truncated backpropagation's length).
pub const BPTT: usize = 30;
/// Adam's rate.
pub const LR: f64 = 1e-3;
/// The full windows of one epoch of step 59 (999 points, one at a time):
/// the most [`Step59`] trains (33).
pub const WINDOWS_PER_EPOCH: usize = (datasets::SIN_CURVE_POINTS - 1) / BPTT;

/// Step 60's model and loop on strategy `S`: an LSTM of [`HIDDEN`] and a
/// linear layer on [`BATCH`] streams of the sin curve, Adam.
pub struct Engine<S: Strategy> {
    model: Sequential<S>,
    adam: Adam<S>,
    loader: SeqDataLoader<Array2<f64>, S>,
    bptt: Bptt,
}

impl<S: Strategy> Engine<S> {
    /// The model from seeds 0 and 1, Adam fresh, the loader over the
    /// training curve.
    pub fn new() -> Self {
        let (xs, ts) = datasets::sin_curve(true);
        let bptt = Bptt::new(BPTT, xs.nrows()).expect("a window of 30");
        let loader = SeqDataLoader::new_in(xs, ts, BATCH).expect("30 streams fit");
        let model = Sequential::new_in()
            .push(Lstm::<S>::new_in(1, HIDDEN, 0).expect("fits"))
            .push(Linear::<S>::new_in(HIDDEN, 1, 1).expect("fits"));
        let adam = Adam::new(model.params(), LR).expect("a valid rate");
        Engine {
            model,
            adam,
            loader,
            bptt,
        }
    }

    /// One epoch; its mean loss, as DeZero prints it.
    pub fn epoch(&mut self) -> f64 {
        self.model.reset_state();
        let (mut loss, mut count): (Option<Variable<S>>, usize) = (None, 0);
        for (x, t) in self.loader.iter() {
            let y = self.model.forward(&x).expect("shapes fit");
            let term = mean_squared_error(&y, &t).expect("shapes fit");
            let sum = match loss.take() {
                Some(loss) => &loss + &term,
                None => term,
            };
            count += 1;
            if self.bptt.ends_window(count) {
                self.model.cleargrad();
                (sum.backward_with(BackwardOptions::default().retain_graph(false)))
                    .expect("a window's graph");
                sum.unchain_backward();
                self.adam.step().expect("gradients");
            }
            loss = Some(sum);
        }
        loss.and_then(|l| l.item()).expect("a scalar") / count as f64
    }

    /// The parameters' values, in `named_params` order.
    pub fn weights(&self) -> Vec<ndarray::ArrayD<f64>> {
        self.model
            .params()
            .iter()
            .map(|p| p.data().into_owned())
            .collect()
    }
}

/// What one step keeps for backward: the gates after their
/// nonlinearities, the cell, its tanh, the hidden state and the output.
struct Saved {
    /// `f`, `i`, `o`, `u`, each `(batch, hidden)`.
    gates: [Array2<f64>; 4],
    c: Array2<f64>,
    tanh_c: Array2<f64>,
    h: Array2<f64>,
    y: Array2<f64>,
}

/// Step 60's epoch in plain ndarray: DeZero's LSTM forward (no hidden
/// term and no forget gate on a sequence's first step), the mean squared
/// error, backward through the window by hand, Adam.
pub struct Floor {
    /// `x2f`, `x2i`, `x2o`, `x2u` weights `(1, hidden)` and biases.
    wx: [Param<Ix2>; 4],
    bx: [Param<Ix1>; 4],
    /// `h2f`, `h2i`, `h2o`, `h2u`, `(hidden, hidden)`.
    wh: [Param<Ix2>; 4],
    w: Param<Ix2>,
    b: Param<Ix1>,
    batches: Vec<(Array2<f64>, Array2<f64>)>,
    saved: Vec<Saved>,
    /// Scratch: a gate's pre-activation sum, and the gradients carried.
    dz: [Array2<f64>; 4],
    dh: Array2<f64>,
    dc: Array2<f64>,
    dh_prev: Array2<f64>,
    t: f64,
}

impl<S: Strategy> Default for Engine<S> {
    fn default() -> Self {
        Self::new()
    }
}

impl Floor {
    /// The engine's weights and batches.
    pub fn new<S: Strategy>(engine: &Engine<S>) -> Self {
        // x2f/W, x2f/b, ..., x2u/b, h2f/W, ..., h2u/W, then the output's W, b.
        let weights = engine.weights();
        let two = |i: usize| -> Param<Ix2> {
            Param::new((weights[i].clone().into_dimensionality()).expect("2-d"))
        };
        let one = |i: usize| -> Param<Ix1> {
            Param::new((weights[i].clone().into_dimensionality()).expect("1-d"))
        };
        let (wx, bx, wh) = (
            [0, 2, 4, 6].map(two),
            [1, 3, 5, 7].map(one),
            [8, 9, 10, 11].map(two),
        );
        let (w, b) = (two(12), one(13));
        let batches: Vec<_> = (engine.loader.iter())
            .map(|(x, t)| {
                let two = |v: Variable<S>| {
                    (v.data().into_owned().into_dimensionality::<Ix2>()).expect("2-d")
                };
                (two(x), two(t))
            })
            .collect();
        let zeros = || Array2::<f64>::zeros((BATCH, HIDDEN));
        let saved = (0..batches.len())
            .map(|_| Saved {
                gates: [zeros(), zeros(), zeros(), zeros()],
                c: zeros(),
                tanh_c: zeros(),
                h: zeros(),
                y: Array2::zeros((BATCH, 1)),
            })
            .collect();
        Floor {
            wx,
            bx,
            wh,
            w,
            b,
            batches,
            saved,
            dz: [zeros(), zeros(), zeros(), zeros()],
            dh: zeros(),
            dc: zeros(),
            dh_prev: zeros(),
            t: 0.0,
        }
    }

    /// Step `k`'s forward into `saved[k]`, from step `k - 1`'s state
    /// (none for `k == 0`); its loss.
    fn forward(&mut self, k: usize) -> f64 {
        let (before, rest) = self.saved.split_at_mut(k);
        let s = &mut rest[0];
        let prev = before.last();
        let (x, t) = &self.batches[k];
        // No forget gate on a sequence's first step, as the engine's.
        for g in usize::from(prev.is_none())..4 {
            let z = &mut s.gates[g];
            z.assign(&self.bx[g].value);
            general_mat_mul(1.0, x, &self.wx[g].value, 1.0, z);
            if let Some(prev) = prev {
                general_mat_mul(1.0, &prev.h, &self.wh[g].value, 1.0, z);
            }
            if g == 3 {
                z.mapv_inplace(f64::tanh);
            } else {
                z.mapv_inplace(|v| 1.0 / (1.0 + (-v).exp()));
            }
        }
        let [f, i, o, u] = &s.gates;
        match prev {
            Some(prev) => Zip::from(&mut s.c)
                .and(f)
                .and(&prev.c)
                .and(i)
                .and(u)
                .for_each(|c, &f, &cp, &i, &u| *c = f * cp + i * u),
            None => Zip::from(&mut s.c)
                .and(i)
                .and(u)
                .for_each(|c, &i, &u| *c = i * u),
        }
        Zip::from(&mut s.tanh_c)
            .and(&s.c)
            .for_each(|tc, &c| *tc = c.tanh());
        Zip::from(&mut s.h)
            .and(o)
            .and(&s.tanh_c)
            .for_each(|h, &o, &tc| *h = o * tc);
        s.y.assign(&self.b.value);
        general_mat_mul(1.0, &s.h, &self.w.value, 1.0, &mut s.y);
        let n = s.y.len() as f64;
        Zip::from(&s.y)
            .and(t)
            .fold(0.0, |acc, &y, &t| acc + (y - t) * (y - t))
            / n
    }

    /// Backward through steps `0..steps`, the loss their summed errors.
    fn backward(&mut self, steps: usize) {
        for p in self
            .wx
            .iter_mut()
            .chain(self.wh.iter_mut())
            .chain([&mut self.w])
        {
            p.grad.fill(0.0);
        }
        for p in self.bx.iter_mut().chain([&mut self.b]) {
            p.grad.fill(0.0);
        }
        self.dh.fill(0.0);
        self.dc.fill(0.0);
        let mut dy = Array2::<f64>::zeros((BATCH, 1));
        for k in (0..steps).rev() {
            let (before, rest) = self.saved.split_at(k);
            let s = &rest[0];
            let prev = before.last();
            let (x, t) = &self.batches[k];
            // y = h·W + b; loss += Σ(y − t)²/n.
            let n = s.y.len() as f64;
            Zip::from(&mut dy)
                .and(&s.y)
                .and(t)
                .for_each(|d, &y, &t| *d = 2.0 * (y - t) / n);
            general_mat_mul(1.0, &s.h.t(), &dy, 1.0, &mut self.w.grad);
            self.b.grad += &dy.sum_axis(Axis(0));
            general_mat_mul(1.0, &dy, &self.w.value.t(), 1.0, &mut self.dh);
            // h = o·tanh(c); c = f·c' + i·u.
            let [f, i, o, u] = &s.gates;
            let [dzf, dzi, dzo, dzu] = &mut self.dz;
            Zip::from(&mut self.dc)
                .and(dzo)
                .and(&self.dh)
                .and(o)
                .and(&s.tanh_c)
                .for_each(|dc, dzo, &dh, &o, &tc| {
                    *dc += dh * o * (1.0 - tc * tc);
                    *dzo = dh * tc * o * (1.0 - o);
                });
            Zip::from(dzi)
                .and(dzu)
                .and(&self.dc)
                .and(i)
                .and(u)
                .for_each(|dzi, dzu, &dc, &i, &u| {
                    *dzi = dc * u * i * (1.0 - i);
                    *dzu = dc * i * (1.0 - u * u);
                });
            let gates = match prev {
                Some(prev) => {
                    Zip::from(dzf)
                        .and(&mut self.dc)
                        .and(f)
                        .and(&prev.c)
                        .for_each(|dzf, dc, &f, &cp| {
                            *dzf = *dc * cp * f * (1.0 - f);
                            *dc *= f;
                        });
                    0..4
                }
                None => 1..4, // no forget gate on the first step
            };
            self.dh_prev.fill(0.0);
            for g in gates {
                let dz = &self.dz[g];
                general_mat_mul(1.0, &x.t(), dz, 1.0, &mut self.wx[g].grad);
                self.bx[g].grad += &dz.sum_axis(Axis(0));
                if let Some(prev) = prev {
                    general_mat_mul(1.0, &prev.h.t(), dz, 1.0, &mut self.wh[g].grad);
                    general_mat_mul(1.0, dz, &self.wh[g].value.t(), 1.0, &mut self.dh_prev);
                }
            }
            std::mem::swap(&mut self.dh, &mut self.dh_prev);
        }
    }

    /// One epoch; its mean loss.
    pub fn epoch(&mut self) -> f64 {
        let mut loss = 0.0;
        for k in 0..self.batches.len() {
            loss += self.forward(k);
            if k + 1 == BPTT {
                self.backward(BPTT);
                self.t += 1.0;
                for p in self
                    .wx
                    .iter_mut()
                    .chain(self.wh.iter_mut())
                    .chain([&mut self.w])
                {
                    p.adam(self.t, LR);
                }
                for p in self.bx.iter_mut().chain([&mut self.b]) {
                    p.adam(self.t, LR);
                }
            }
        }
        loss / self.batches.len() as f64
    }
}

/// How a window of [`Step59`] ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Window {
    /// Backward releases the graph as it runs (`retain_graph(false)`),
    /// then `unchain_backward`: the examples' loop.
    Cut,
    /// Backward keeps the graph, and nothing is cut: every window's graph
    /// stays.
    Uncut,
}

/// DeZero's step-59 training loop, a window at a time: its `SimpleRNN`
/// (an RNN of [`HIDDEN`] and a linear layer) fed the sin curve one point
/// at a time, the loss summed on across windows. At most
/// [`WINDOWS_PER_EPOCH`] windows: one epoch's full windows.
pub struct Step59<S: Strategy> {
    rnn: Rnn<S>,
    fc: Linear<S>,
    adam: Adam<S>,
    xs: Array2<f64>,
    ts: Array2<f64>,
    bptt: Bptt,
    loss: Option<Variable<S>>,
    count: usize,
}

impl<S: Strategy> Default for Step59<S> {
    fn default() -> Self {
        Self::new()
    }
}

impl<S: Strategy> Step59<S> {
    /// The model from seeds 0 and 1, Adam fresh, at the series' start.
    pub fn new() -> Self {
        let (xs, ts) = datasets::sin_curve(true);
        let rnn = Rnn::new_in(1, HIDDEN, 0).expect("a valid width");
        let fc = Linear::new_in(HIDDEN, 1, 1).expect("a valid width");
        let params = rnn.params().into_iter().chain(fc.params()).collect();
        Step59 {
            adam: Adam::new(params, LR).expect("a valid rate"),
            bptt: Bptt::new(BPTT, xs.nrows()).expect("a window of 30"),
            rnn,
            fc,
            xs,
            ts,
            loss: None,
            count: 0,
        }
    }

    /// The windows trained so far.
    pub fn windows(&self) -> usize {
        self.count / BPTT
    }

    /// One window: forward steps until the window ends, then DeZero's
    /// `cleargrads`, backward, the cut (unless [`Window::Uncut`]) and the
    /// update. Returns `false`, doing nothing, once one epoch's
    /// [`WINDOWS_PER_EPOCH`] full windows are trained.
    pub fn window(&mut self, how: Window) -> bool {
        if self.windows() >= WINDOWS_PER_EPOCH {
            return false;
        }
        loop {
            let row = |a: &Array2<f64>| {
                Variable::<S>::constant_from_array(
                    a.index_axis(Axis(0), self.count)
                        .insert_axis(Axis(0))
                        .to_owned(),
                )
            };
            let (x, t) = (row(&self.xs), row(&self.ts));
            let h = self.rnn.forward(&x).expect("one input a step");
            let y = self.fc.forward(&h).expect("the hidden width");
            let term = mean_squared_error(&y, &t).expect("one target a step");
            self.loss = Some(match self.loss.take() {
                Some(loss) => &loss + &term,
                None => term,
            });
            self.count += 1;
            if self.bptt.ends_window(self.count) {
                break;
            }
        }
        let Some(loss) = self.loss.as_ref() else {
            return false;
        };
        self.adam.cleargrad();
        let release = how == Window::Cut;
        (loss.backward_with(BackwardOptions::default().retain_graph(!release)))
            .expect("a window's graph");
        if release {
            loss.unchain_backward();
        }
        self.adam.step().expect("gradients");
        true
    }

    /// The parameters' footprints, their gradients included.
    pub fn parameters(&self) -> i64 {
        (self.adam.params().iter())
            .map(|p| p.graph_footprint().bytes as i64)
            .sum()
    }

    /// What the loop keeps of its graph: `Footprint::of(&[&loss, &state])`
    /// with the parameters they reach left out (none before a window).
    pub fn graph(&self) -> Footprint {
        let (Some(loss), Some(state)) = (self.loss.as_ref(), self.rnn.state()) else {
            return Footprint::default();
        };
        let mut roots: Vec<&Variable<S>> = vec![loss, &state];
        let params = self.adam.params();
        roots.extend(params);
        let all = Footprint::of(&roots);
        let params = Footprint::of(&params.iter().collect::<Vec<_>>());
        Footprint {
            variables: all.variables - params.variables,
            functions: all.functions - params.functions,
            bytes: all.bytes - params.bytes,
        }
    }

    /// The heap this loop keeps beyond `baseline` (a fresh loop's), as the
    /// objects and the graph predict it: the parameters' gradients, Adam's
    /// moments (`state_bytes`) and `graph`, the loss's and the state's
    /// footprint ([`Step59::graph`]).
    pub fn predicted(&self, baseline: &Step59<S>, graph: Footprint) -> i64 {
        (self.parameters() - baseline.parameters())
            + (self.adam.state_bytes() as i64 - baseline.adam.state_bytes() as i64)
            + graph.bytes as i64
    }

    /// Cuts the summed loss from its graph, so that nothing of it stays
    /// once the loop goes (under `StrongOnly`, a retained loss and its
    /// creator own each other).
    pub fn unchain(&self) {
        if let Some(loss) = &self.loss {
            loss.unchain();
        }
    }
}

/// Whether [`Floor`] does [`Engine`]'s work: the same mean losses over
/// `epochs` epochs from the same weights, to 10⁻¹⁰ relative; the first
/// that differs as an error.
///
/// # Errors
/// The epoch and both losses where they differ.
pub fn floor_matches_engine<S: Strategy>(epochs: usize) -> Result<(), String> {
    let mut engine = Engine::<S>::new();
    let mut floor = Floor::new(&engine);
    for epoch in 0..epochs {
        let (a, b) = (engine.epoch(), floor.epoch());
        if (a - b).abs() > 1e-10 * b.abs() {
            return Err(format!("lstm_epoch: epoch {epoch}, engine {a}, floor {b}"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use autograd_ops::RcWeak;

    #[test]
    fn the_floor_gives_the_engines_losses() {
        floor_matches_engine::<RcWeak>(2).unwrap();
    }

    #[test]
    fn step_59_trains_one_epochs_full_windows_and_no_more() {
        assert_eq!(WINDOWS_PER_EPOCH, 33);
        let mut run = Step59::<RcWeak>::new();
        assert_eq!(run.graph(), Footprint::default());
        assert!(run.window(Window::Cut));
        assert_eq!(run.windows(), 1);
        // The cut leaves the loss and the state, two leaves.
        assert_eq!((run.graph().variables, run.graph().functions), (2, 0));
        run.count = WINDOWS_PER_EPOCH * BPTT;
        assert!(!run.window(Window::Cut));
    }
}
