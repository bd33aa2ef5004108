//! Criterion benchmark `lstm_epoch`: one epoch of DeZero step 60 (an LSTM
//! of 100 and a linear layer on the sin curve read as 30 streams by
//! `SeqDataLoader`: 34 batches, one backward over the first 30 with
//! `retain_graph(false)`, `unchain_backward` and one Adam update, the last
//! 4 forward only), in f64 on one thread, under `RcWeak`, `ArcWeak` and
//! `Region`, beside its floor: the same forward and backward arithmetic in
//! plain ndarray, no graph, every buffer of the window preallocated.
//!
//! `cargo bench -p autograd-bench --bench recurrent`. Before measuring, the
//! floor is checked against the engine: three epochs from the same weights
//! give the same losses (to 10⁻¹⁰ relative), so both do the same work.

use std::hint::black_box;

use autograd_mem::Strategy;
use autograd_nn::{
    Adam, Bptt, Linear, Lstm, Module, Optimizer, SeqDataLoader, Sequential, datasets,
};
use autograd_ops::{ArcWeak, BackwardOptions, RcWeak, Region, Variable, mean_squared_error};
use criterion::{Criterion, criterion_group, criterion_main};
use ndarray::linalg::general_mat_mul;
use ndarray::{Array2, Axis, Ix1, Ix2, Zip};

#[cfg(feature = "mimalloc")]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Step 60's sizes.
const HIDDEN: usize = 100;
const BATCH: usize = 30;
const BPTT: usize = 30;
const LR: f64 = 1e-3;

/// Step 60's model and loop on strategy `S`.
struct Engine<S: Strategy> {
    model: Sequential<S>,
    adam: Adam<S>,
    loader: SeqDataLoader<Array2<f64>, S>,
    bptt: Bptt,
}

impl<S: Strategy> Engine<S> {
    fn new() -> Self {
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
    fn epoch(&mut self) -> f64 {
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
    fn weights(&self) -> Vec<ndarray::ArrayD<f64>> {
        self.model
            .params()
            .iter()
            .map(|p| p.data().into_owned())
            .collect()
    }
}

/// A parameter with its gradient and Adam's moments (the crate's Adam:
/// torch's formula).
struct Param<D: ndarray::Dimension> {
    value: ndarray::Array<f64, D>,
    grad: ndarray::Array<f64, D>,
    m: ndarray::Array<f64, D>,
    v: ndarray::Array<f64, D>,
}

impl<D: ndarray::Dimension> Param<D> {
    fn new(value: ndarray::Array<f64, D>) -> Self {
        let zeros = || ndarray::Array::zeros(value.raw_dim());
        Param {
            grad: zeros(),
            m: zeros(),
            v: zeros(),
            value,
        }
    }

    fn adam(&mut self, t: f64) {
        let (beta1, beta2, eps) = (0.9, 0.999, 1e-8);
        let step_size = -(LR / (1.0 - f64::powf(beta1, t)));
        let correction2 = (1.0 - f64::powf(beta2, t)).sqrt();
        Zip::from(&mut self.value)
            .and(&mut self.m)
            .and(&mut self.v)
            .and(&self.grad)
            .for_each(|p, m, v, &g| {
                *m += (g - *m) * (1.0 - beta1);
                *v = *v * beta2 + (1.0 - beta2) * g * g;
                *p += step_size * *m / (v.sqrt() / correction2 + eps);
            });
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
struct Floor {
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

impl Floor {
    /// The engine's weights and batches.
    fn new<S: Strategy>(engine: &Engine<S>) -> Self {
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
    fn epoch(&mut self) -> f64 {
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
                    p.adam(self.t);
                }
                for p in self.bx.iter_mut().chain([&mut self.b]) {
                    p.adam(self.t);
                }
            }
        }
        loss / self.batches.len() as f64
    }
}

/// The floor does the engine's work: the same losses over three epochs.
fn check_floor() {
    let mut engine = Engine::<RcWeak>::new();
    let mut floor = Floor::new(&engine);
    for epoch in 0..3 {
        let (a, b) = (engine.epoch(), floor.epoch());
        assert!(
            (a - b).abs() <= 1e-10 * b.abs(),
            "lstm_epoch: epoch {epoch}, engine {a}, floor {b}"
        );
    }
}

fn lstm_epoch(c: &mut Criterion) {
    check_floor();
    let mut group = c.benchmark_group("lstm_epoch");
    group.sample_size(20);
    let mut floor = Floor::new(&Engine::<RcWeak>::new());
    group.bench_function("floor", |b| b.iter(|| black_box(floor.epoch())));
    let mut rc = Engine::<RcWeak>::new();
    group.bench_function("rc_weak", |b| b.iter(|| black_box(rc.epoch())));
    let mut arc = Engine::<ArcWeak>::new();
    group.bench_function("arc_weak", |b| b.iter(|| black_box(arc.epoch())));
    let mut region = Engine::<Region>::new();
    group.bench_function("region", |b| b.iter(|| black_box(region.epoch())));
    group.finish();
}

criterion_group!(benches, lstm_epoch);
criterion_main!(benches);
