//! The convolutional network's training step that the `cnn_step` bench and
//! the report's `cnn_step` section measure, and the lone convolution of the
//! `conv2d` bench, each through the engine and as the cheapest plain
//! ndarray code doing the same arithmetic.
//!
//! The network is the `cnn_mnist` example's: conv(1→8, 3×3, pad 1), ReLU,
//! max pool 2 → conv(8→16, 3×3, pad 1), ReLU, max pool 2 → dropout 0.25 →
//! flatten → linear(784→10), softmax cross-entropy, Adam (rate 10⁻³), on a
//! batch of 32 MNIST digits, in `f64` on one thread. [`CnnStep`] runs it
//! through the engine: `cleargrad`, forward, `backward_once`, Adam's step.
//! [`CnnFloor`] computes the same numbers by hand: im2col of each sample
//! into a buffer kept for the weight gradient, products by
//! `general_mat_mul` into buffers allocated once, ReLU in place, each 2×2
//! window's first maximum and its position, the dropout mask drawn from the
//! same generator the same way, the fused softmax cross-entropy gradient
//! `(p − onehot)/N`, no gradient for the input batch, and Adam in place.
//!
//! [`ConvStep`] and [`ConvFloor`] are one `conv2d` (2×3×320×320 to 16
//! channels, 3×3, padding 1, with a bias) forward and backward, the input's,
//! the weight's and the bias's gradients of the output's sum (candle#3119's
//! shape).

use std::ops::Range;

use autograd_nn::{
    Activation, Adam, Conv2d, Dropout, Flatten, Linear, MaxPool2d, Module, Optimizer, Sequential,
    datasets,
};
use autograd_ops::{Result, Strategy, Variable, manual_seed, softmax_cross_entropy};
use ndarray::linalg::general_mat_mul;
use ndarray::{Array1, Array2, Array4, ArrayView2, ArrayViewMut2, Axis, Ix1, Ix2, Ix4, Slice, Zip};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::training::{Param, core};

/// The batch size of a step.
pub const BATCH: usize = 32;
/// Adam's rate.
pub const LR: f64 = 1e-3;
/// The dropout probability.
pub const DROPOUT: f64 = 0.25;
/// The seed of the dropout generator ([`manual_seed`] for the engine).
pub const DROPOUT_SEED: u64 = 0;
/// The channels after each convolution.
pub const CHANNELS: [usize; 2] = [8, 16];
/// The image side, and the side after each pooling.
pub const SIDES: [usize; 3] = [28, 14, 7];
/// The classes.
pub const CLASSES: usize = 10;
/// The features the linear layer reads: 16 planes of 7×7.
pub const FEATURES: usize = CHANNELS[1] * SIDES[2] * SIDES[2];

/// [`BATCH`] digits of the `cnn_mnist` example's training split (the
/// first of its shuffled order, so every digit is there), and their labels.
pub fn mnist_batch() -> (Array4<f64>, Vec<usize>) {
    let (images, labels) = datasets::mnist_5k();
    let ((x, y), _) = datasets::stratified_split(&images, &labels, 0.2, 0).expect("a valid split");
    (
        x.slice_axis(Axis(0), Slice::from(..BATCH)).to_owned(),
        y[..BATCH].to_vec(),
    )
}

/// The network's initial parameters, as the layers draw them from `seed`,
/// `seed + 1` and `seed + 2` (the two convolutions and the linear layer).
#[derive(Debug, Clone)]
pub struct CnnWeights {
    /// The first convolution's weight `[8, 1, 3, 3]` and bias `[8]`.
    pub conv1: (Array4<f64>, Array1<f64>),
    /// The second convolution's weight `[16, 8, 3, 3]` and bias `[16]`.
    pub conv2: (Array4<f64>, Array1<f64>),
    /// The linear layer's weight `[784, 10]` and bias `[10]`.
    pub linear: (Array2<f64>, Array1<f64>),
}

impl CnnWeights {
    /// The parameters the layers' constructors draw from `seed`.
    pub fn new(seed: u64) -> Self {
        type R = autograd_ops::RcWeak;
        let [c1, c2] = CHANNELS;
        let conv = |c: &Conv2d<R>| {
            (
                c.weight()
                    .data()
                    .to_owned()
                    .into_dimensionality()
                    .expect("4-D"),
                c.bias()
                    .expect("a bias")
                    .data()
                    .to_owned()
                    .into_dimensionality()
                    .expect("1-D"),
            )
        };
        let conv1 = Conv2d::<R>::new_in(1, c1, (3, 3), (1, 1), (1, 1), seed).expect("sizes");
        let conv2 = Conv2d::<R>::new_in(c1, c2, (3, 3), (1, 1), (1, 1), seed + 1).expect("sizes");
        let linear = Linear::<R>::new_in(FEATURES, CLASSES, seed + 2).expect("sizes");
        CnnWeights {
            conv1: conv(&conv1),
            conv2: conv(&conv2),
            linear: (
                linear
                    .weight()
                    .data()
                    .to_owned()
                    .into_dimensionality()
                    .expect("2-D"),
                linear
                    .bias()
                    .expect("a bias")
                    .data()
                    .to_owned()
                    .into_dimensionality()
                    .expect("1-D"),
            ),
        }
    }

    /// The network with these parameters, as a [`Sequential`] on strategy
    /// `S`: `l0/W`, `l0/b` (conv), `l3/W`, `l3/b` (conv), `l8/W`, `l8/b`
    /// (linear). Its list of modules holds exactly their number (the
    /// report counts its bytes: [`structure_bytes`]).
    pub fn model<S: Strategy>(&self) -> Sequential<S> {
        let conv = |(w, b): &(Array4<f64>, Array1<f64>)| -> Box<dyn Module<S>> {
            Box::new(
                Conv2d::from_arrays_in(w.clone(), b.clone(), (1, 1), (1, 1))
                    .expect("shapes that fit"),
            )
        };
        let linear = Linear::from_arrays_in(self.linear.0.clone(), self.linear.1.clone())
            .expect("shapes that fit");
        Sequential::from_modules(vec![
            conv(&self.conv1),
            Box::new(Activation::Relu),
            Box::new(MaxPool2d::new((2, 2))),
            conv(&self.conv2),
            Box::new(Activation::Relu),
            Box::new(MaxPool2d::new((2, 2))),
            Box::new(Dropout::new(DROPOUT).expect("a probability")),
            Box::new(Flatten),
            Box::new(linear),
        ])
    }
}

/// The heap a [`Sequential`] holds beside its parameters: its list of
/// boxed modules (of exactly their number, as [`CnnWeights::model`] makes
/// it) and each box.
pub fn structure_bytes<S: Strategy>(model: &Sequential<S>) -> i64 {
    let modules = model.modules();
    (size_of_val(modules) + modules.iter().map(|m| size_of_val(&**m)).sum::<usize>()) as i64
}

/// One conv block of the network on `v = [x, W, b]`: conv2d (3×3, padding
/// 1), ReLU, 2×2 max pooling; what [`forward_checkpointed`] checkpoints.
fn conv_block<S: Strategy>(v: &[Variable<S>]) -> Result<Vec<Variable<S>>> {
    let y = autograd_ops::conv2d(&v[0], &v[1], Some(&v[2]), (1, 1), (1, 1))?;
    let y = autograd_ops::relu(&y)?;
    Ok(vec![autograd_ops::max_pool2d(&y, (2, 2), (2, 2), (0, 0))?])
}

/// The network's loss on `x` with each conv block in a
/// [`checkpoint`](autograd_ops::checkpoint) (the block's input, weight and
/// bias its inputs), so that the graph keeps only each block's input
/// between forward and backward, and backward runs the block again. The
/// same numbers as `model.forward` (the dropout after the blocks draws
/// the same mask).
///
/// # Errors
/// None in practice (the shapes fit).
pub fn forward_checkpointed<S: Strategy>(
    model: &Sequential<S>,
    x: &Variable<S>,
    labels: &[usize],
) -> Result<Variable<S>> {
    let p = model.params(); // W1, b1, W2, b2, W3, b3
    let h = autograd_ops::checkpoint(conv_block, &[x, &p[0], &p[1]])?.remove(0);
    let h = autograd_ops::checkpoint(conv_block, &[&h, &p[2], &p[3]])?.remove(0);
    let h = autograd_ops::dropout(&h, DROPOUT)?;
    let h = autograd_ops::reshape(&h, &[h.shape()[0], FEATURES])?;
    let logits = autograd_ops::linear(&h, &p[4], Some(&p[5]))?;
    softmax_cross_entropy(&logits, labels)
}

/// The step through the engine: the model, its Adam, one batch.
pub struct CnnStep<S: Strategy> {
    /// The network.
    pub model: Sequential<S>,
    /// Adam over its parameters.
    pub adam: Adam<S>,
    /// The batch `[32, 1, 28, 28]`, a constant.
    pub x: Variable<S>,
    /// The batch's labels.
    pub labels: Vec<usize>,
}

impl<S: Strategy> CnnStep<S> {
    /// The network from [`CnnWeights::new`]`(seed)` on [`mnist_batch`];
    /// this thread's dropout generator reseeded with [`DROPOUT_SEED`].
    pub fn new(seed: u64) -> Self {
        let model = CnnWeights::new(seed).model();
        let adam = Adam::new(model.params(), LR).expect("a valid rate");
        let (x, labels) = mnist_batch();
        manual_seed(DROPOUT_SEED);
        CnnStep {
            model,
            adam,
            x: Variable::constant_from_array(x),
            labels,
        }
    }

    /// One step: clear the gradients, forward, `backward_once`, Adam's
    /// step; the loss before it.
    ///
    /// # Errors
    /// None in practice (the shapes fit).
    pub fn step(&mut self) -> Result<f64> {
        self.adam.cleargrad();
        let logits = self.model.forward(&self.x).map_err(core)?;
        let loss = softmax_cross_entropy(&logits, &self.labels)?;
        loss.backward_once()?;
        self.adam.step().map_err(core)?;
        Ok(loss.item().unwrap_or(f64::NAN))
    }
}

/// A stride-1 convolution's sizes: `channels` planes of `side`² in, a
/// square `kernel`, `pad` zeros on each side, `out` planes of `out_side`².
#[derive(Debug, Clone, Copy)]
pub struct Shape {
    /// Input channels, `C`.
    pub channels: usize,
    /// Input rows, `H`.
    pub height: usize,
    /// Input columns, `W`.
    pub width: usize,
    /// Kernel side, `K`.
    pub kernel: usize,
    /// Padding on each side, `P`.
    pub pad: usize,
}

impl Shape {
    /// `(OH, OW)`: `H + 2P − K + 1` and the same for `W`.
    pub fn output(&self) -> (usize, usize) {
        (
            self.height + 2 * self.pad + 1 - self.kernel,
            self.width + 2 * self.pad + 1 - self.kernel,
        )
    }

    /// `C·K·K`: the columns' rows.
    pub fn patch(&self) -> usize {
        self.channels * self.kernel * self.kernel
    }

    /// `OH·OW`: the columns' width.
    pub fn positions(&self) -> usize {
        let (oh, ow) = self.output();
        oh * ow
    }

    /// `C·H·W`.
    pub fn sample(&self) -> usize {
        self.channels * self.height * self.width
    }

    /// For kernel offset `k` along an axis of `len`, the output range
    /// `lo..hi` whose input `o + k − P` is inside.
    fn inside(&self, len: usize, out: usize, k: usize) -> (usize, usize) {
        let lo = self.pad.saturating_sub(k).min(out);
        let hi = (len + self.pad).saturating_sub(k).min(out).max(lo);
        (lo, hi)
    }

    /// im2col of one sample `x` (`[C, H, W]`) into `col` (`[C·K·K, OH·OW]`,
    /// row `(c, ki, kj)` holding `x[c, oh + ki − P, ow + kj − P]`, 0 in the
    /// padding).
    pub fn unfold(&self, x: &[f64], col: &mut [f64]) {
        self.unfold_rows(x, 0..self.output().0, col);
    }

    /// im2col of output rows `rows` of one sample `x` into `col`
    /// (`[C·K·K, rows·OW]`): [`unfold`](Shape::unfold) of a tile.
    pub fn unfold_rows(&self, x: &[f64], rows: Range<usize>, col: &mut [f64]) {
        let (h, w, k) = (self.height, self.width, self.kernel);
        let (oh, ow) = self.output();
        let width = rows.len() * ow;
        for c in 0..self.channels {
            let plane = &x[c * h * w..(c + 1) * h * w];
            for ki in 0..k {
                let (rlo, rhi) = self.inside(h, oh, ki);
                for kj in 0..k {
                    let (clo, chi) = self.inside(w, ow, kj);
                    let r = (c * k + ki) * k + kj;
                    let row = &mut col[r * width..(r + 1) * width];
                    for (o, dst) in rows.clone().zip(row.chunks_exact_mut(ow)) {
                        if o < rlo || o >= rhi {
                            dst.fill(0.0);
                            continue;
                        }
                        let src = &plane[(o + ki - self.pad) * w..][..w];
                        dst[..clo].fill(0.0);
                        dst[chi..].fill(0.0);
                        dst[clo..chi]
                            .copy_from_slice(&src[clo + kj - self.pad..chi + kj - self.pad]);
                    }
                }
            }
        }
    }

    /// The adjoint of [`unfold`](Shape::unfold): each element of `col`
    /// added into the input position it was read from, into `x` (`[C, H,
    /// W]`, zeroed first).
    pub fn fold(&self, col: &[f64], x: &mut [f64]) {
        x.fill(0.0);
        self.fold_rows(col, 0..self.output().0, x);
    }

    /// The adjoint of [`unfold_rows`](Shape::unfold_rows): a tile of
    /// columns added into `x` (not zeroed).
    pub fn fold_rows(&self, col: &[f64], rows: Range<usize>, x: &mut [f64]) {
        let (h, w, k) = (self.height, self.width, self.kernel);
        let (oh, ow) = self.output();
        let width = rows.len() * ow;
        for c in 0..self.channels {
            let plane = &mut x[c * h * w..(c + 1) * h * w];
            for ki in 0..k {
                let (rlo, rhi) = self.inside(h, oh, ki);
                for kj in 0..k {
                    let (clo, chi) = self.inside(w, ow, kj);
                    let r = (c * k + ki) * k + kj;
                    let row = &col[r * width..(r + 1) * width];
                    for o in rows.start.max(rlo)..rows.end.min(rhi) {
                        let at = (o - rows.start) * ow;
                        let src = &row[at + clo..at + chi];
                        let dst = &mut plane[(o + ki - self.pad) * w..][..w];
                        let dst = &mut dst[clo + kj - self.pad..chi + kj - self.pad];
                        for (d, s) in dst.iter_mut().zip(src) {
                            *d += *s;
                        }
                    }
                }
            }
        }
    }

    /// Output rows a tile of columns holds: about 32 Ki elements (256 KiB,
    /// the engine's tile), so that the columns stay in a core's L2 cache
    /// between the unfolding and the product.
    pub fn tile_rows(&self) -> usize {
        let (oh, ow) = self.output();
        (32 * 1024 / (self.patch() * ow).max(1)).clamp(1, oh.max(1))
    }
}

/// `y` (`[OC, OH·OW]`) = `w` (`[OC, C·K·K]`) · `col` + the bias per row.
fn conv_forward(w: &ArrayView2<'_, f64>, b: &[f64], col: &[f64], y: &mut [f64]) {
    let positions = y.len() / b.len();
    for (plane, &b) in y.chunks_exact_mut(positions).zip(b) {
        plane.fill(b);
    }
    let col = ArrayView2::from_shape((w.ncols(), positions), col).expect("columns");
    let mut y = ArrayViewMut2::from_shape((b.len(), positions), y).expect("an output");
    general_mat_mul(1.0, w, &col, 1.0, &mut y);
}

/// `gw += gy · colᵀ` and `gb += gy`'s row sums, for one sample.
fn conv_weight_grad(
    gy: &[f64],
    col: &[f64],
    gw: &mut ArrayViewMut2<'_, f64>,
    gb: &mut Array1<f64>,
) {
    let (oc, patch) = gw.dim();
    let positions = gy.len() / oc;
    let gy = ArrayView2::from_shape((oc, positions), gy).expect("a gradient");
    let col = ArrayView2::from_shape((patch, positions), col).expect("columns");
    general_mat_mul(1.0, &gy, &col.t(), 1.0, gw);
    for (g, row) in gb.iter_mut().zip(gy.rows()) {
        *g += row.sum();
    }
}

/// `gcol = wᵀ · gy` for one sample.
fn conv_input_grad(w: &ArrayView2<'_, f64>, gy: &[f64], gcol: &mut [f64]) {
    let positions = gy.len() / w.nrows();
    let gy = ArrayView2::from_shape((w.nrows(), positions), gy).expect("a gradient");
    let mut gcol = ArrayViewMut2::from_shape((w.ncols(), positions), gcol).expect("columns");
    general_mat_mul(1.0, &w.t(), &gy, 0.0, &mut gcol);
}

/// 2×2 max pooling by 2 of `planes` planes of `side`² in `x`: each
/// window's first maximum in row-major order into `y`, its position in the
/// plane into `at`.
fn max_pool(x: &[f64], side: usize, y: &mut [f64], at: &mut [u32]) {
    let half = side / 2;
    for (plane, (y, at)) in x.chunks_exact(side * side).zip(
        y.chunks_exact_mut(half * half)
            .zip(at.chunks_exact_mut(half * half)),
    ) {
        for r in 0..half {
            for c in 0..half {
                let (mut best, mut pos) = (f64::NEG_INFINITY, 0);
                for i in 2 * r..2 * r + 2 {
                    for j in 2 * c..2 * c + 2 {
                        let v = plane[i * side + j];
                        if v > best || v.is_nan() {
                            (best, pos) = (v, i * side + j);
                        }
                    }
                }
                y[r * half + c] = best;
                at[r * half + c] = pos as u32;
            }
        }
    }
}

/// The gradient of ReLU then max pooling: `gy` of each window to its
/// maximum's position (`at`) where the ReLU's output `a` is positive, into
/// `gx` (zeroed first).
fn max_pool_relu_grad(gy: &[f64], at: &[u32], a: &[f64], side: usize, gx: &mut [f64]) {
    let pooled = side * side / 4;
    gx.fill(0.0);
    for ((gx, a), (gy, at)) in gx
        .chunks_exact_mut(side * side)
        .zip(a.chunks_exact(side * side))
        .zip(gy.chunks_exact(pooled).zip(at.chunks_exact(pooled)))
    {
        for (&g, &i) in gy.iter().zip(at) {
            let i = i as usize;
            if a[i] > 0.0 {
                gx[i] += g;
            }
        }
    }
}

/// The network's step in plain ndarray, every buffer allocated once.
pub struct CnnFloor {
    x: Vec<f64>,
    labels: Vec<usize>,
    w1: Param<Ix4>,
    b1: Param<Ix1>,
    w2: Param<Ix4>,
    b2: Param<Ix1>,
    w3: Param<Ix2>,
    b3: Param<Ix1>,
    /// Each sample's columns for the first and the second convolution.
    col1: Vec<f64>,
    col2: Vec<f64>,
    /// The convolutions' outputs after ReLU, `[N, OC, side²]`.
    a1: Vec<f64>,
    a2: Vec<f64>,
    /// The poolings' outputs and their maxima's positions.
    p1: Vec<f64>,
    at1: Vec<u32>,
    p2: Vec<f64>,
    at2: Vec<u32>,
    /// The dropout mask, then the dropout's output `[N, 784]`.
    mask: Vec<f64>,
    dropped: Array2<f64>,
    /// The logits, then the probabilities, then their gradient.
    logits: Array2<f64>,
    /// The dropout output's gradient, then the second pooling's.
    g_dropped: Array2<f64>,
    /// The second convolution's output gradient.
    g_a2: Vec<f64>,
    /// One sample's column gradient, its first pooling's output gradient
    /// and its first convolution's output gradient.
    g_col2: Vec<f64>,
    g_p1: Vec<f64>,
    g_a1: Vec<f64>,
    rng: StdRng,
    t: f64,
}

/// The first convolution's shape.
const CONV1: Shape = Shape {
    channels: 1,
    height: SIDES[0],
    width: SIDES[0],
    kernel: 3,
    pad: 1,
};
/// The second convolution's shape.
const CONV2: Shape = Shape {
    channels: CHANNELS[0],
    height: SIDES[1],
    width: SIDES[1],
    kernel: 3,
    pad: 1,
};

impl CnnFloor {
    /// The network from [`CnnWeights::new`]`(seed)` on [`mnist_batch`],
    /// its dropout generator seeded with [`DROPOUT_SEED`].
    pub fn new(seed: u64) -> Self {
        let weights = CnnWeights::new(seed);
        let (x, labels) = mnist_batch();
        let [c1, c2] = CHANNELS;
        let n = BATCH;
        CnnFloor {
            x: x.into_raw_vec_and_offset().0,
            labels,
            w1: Param::new(weights.conv1.0),
            b1: Param::new(weights.conv1.1),
            w2: Param::new(weights.conv2.0),
            b2: Param::new(weights.conv2.1),
            w3: Param::new(weights.linear.0),
            b3: Param::new(weights.linear.1),
            col1: vec![0.0; n * CONV1.patch() * CONV1.positions()],
            col2: vec![0.0; n * CONV2.patch() * CONV2.positions()],
            a1: vec![0.0; n * c1 * CONV1.positions()],
            a2: vec![0.0; n * c2 * CONV2.positions()],
            p1: vec![0.0; n * c1 * CONV2.positions()],
            at1: vec![0; n * c1 * CONV2.positions()],
            p2: vec![0.0; n * FEATURES],
            at2: vec![0; n * FEATURES],
            mask: vec![0.0; n * FEATURES],
            dropped: Array2::zeros((n, FEATURES)),
            logits: Array2::zeros((n, CLASSES)),
            g_dropped: Array2::zeros((n, FEATURES)),
            g_a2: vec![0.0; n * c2 * CONV2.positions()],
            g_col2: vec![0.0; CONV2.patch() * CONV2.positions()],
            g_p1: vec![0.0; c1 * CONV2.positions()],
            g_a1: vec![0.0; c1 * CONV1.positions()],
            rng: StdRng::seed_from_u64(DROPOUT_SEED),
            t: 0.0,
        }
    }

    /// The gradients of the last step, in the order of the model's
    /// parameters (`l0/W`, `l0/b`, `l3/W`, `l3/b`, `l8/W`, `l8/b`).
    pub fn grads(&self) -> [ndarray::ArrayD<f64>; 6] {
        [
            self.w1.grad.clone().into_dyn(),
            self.b1.grad.clone().into_dyn(),
            self.w2.grad.clone().into_dyn(),
            self.b2.grad.clone().into_dyn(),
            self.w3.grad.clone().into_dyn(),
            self.b3.grad.clone().into_dyn(),
        ]
    }

    /// One step; the loss before it.
    pub fn step(&mut self) -> f64 {
        let n = BATCH;
        let [c1, c2] = CHANNELS;
        let (patch1, pos1) = (CONV1.patch(), CONV1.positions());
        let (patch2, pos2) = (CONV2.patch(), CONV2.positions());
        let w1 = self
            .w1
            .value
            .view()
            .into_shape_with_order((c1, patch1))
            .expect("[8, 9]");
        let w2 = self
            .w2
            .value
            .view()
            .into_shape_with_order((c2, patch2))
            .expect("[16, 72]");

        // Forward: conv, ReLU, pool, twice.
        for s in 0..n {
            let col = &mut self.col1[s * patch1 * pos1..(s + 1) * patch1 * pos1];
            CONV1.unfold(&self.x[s * CONV1.sample()..(s + 1) * CONV1.sample()], col);
            let a = &mut self.a1[s * c1 * pos1..(s + 1) * c1 * pos1];
            conv_forward(&w1, self.b1.value.as_slice().expect("contiguous"), col, a);
        }
        self.a1.iter_mut().for_each(|v| *v = v.max(0.0));
        max_pool(&self.a1, SIDES[0], &mut self.p1, &mut self.at1);
        for s in 0..n {
            let col = &mut self.col2[s * patch2 * pos2..(s + 1) * patch2 * pos2];
            CONV2.unfold(&self.p1[s * CONV2.sample()..(s + 1) * CONV2.sample()], col);
            let a = &mut self.a2[s * c2 * pos2..(s + 1) * c2 * pos2];
            conv_forward(&w2, self.b2.value.as_slice().expect("contiguous"), col, a);
        }
        self.a2.iter_mut().for_each(|v| *v = v.max(0.0));
        max_pool(&self.a2, SIDES[1], &mut self.p2, &mut self.at2);
        // Dropout: the engine's draws, one per element in order.
        let scale = 1.0 / (1.0 - DROPOUT);
        for m in &mut self.mask {
            *m = if self.rng.random::<f64>() < DROPOUT {
                0.0
            } else {
                scale
            };
        }
        Zip::from(self.dropped.as_slice_mut().expect("contiguous"))
            .and(&self.p2[..])
            .and(&self.mask[..])
            .for_each(|d, &p, &m| *d = p * m);
        // Linear, softmax cross-entropy and its gradient (p − onehot)/N.
        self.logits.assign(&self.b3.value);
        general_mat_mul(1.0, &self.dropped, &self.w3.value, 1.0, &mut self.logits);
        let rows = n as f64;
        let loss = crate::training::softmax_cross_entropy_grad(&mut self.logits, &self.labels);

        // Backward: linear, dropout, pool and ReLU, conv, twice.
        general_mat_mul(1.0, &self.dropped.t(), &self.logits, 0.0, &mut self.w3.grad);
        self.b3.grad.assign(&self.logits.sum_axis(Axis(0)));
        general_mat_mul(
            1.0,
            &self.logits,
            &self.w3.value.t(),
            0.0,
            &mut self.g_dropped,
        );
        Zip::from(&mut self.g_dropped.as_slice_mut().expect("contiguous")[..])
            .and(&self.mask[..])
            .for_each(|g, &m| *g *= m);
        max_pool_relu_grad(
            self.g_dropped.as_slice().expect("contiguous"),
            &self.at2,
            &self.a2,
            SIDES[1],
            &mut self.g_a2,
        );
        let mut gw2 = self
            .w2
            .grad
            .view_mut()
            .into_shape_with_order((c2, patch2))
            .expect("[16, 72]");
        gw2.fill(0.0);
        self.b2.grad.fill(0.0);
        let mut gw1 = self
            .w1
            .grad
            .view_mut()
            .into_shape_with_order((c1, patch1))
            .expect("[8, 9]");
        gw1.fill(0.0);
        self.b1.grad.fill(0.0);
        for s in 0..n {
            let g_a2 = &self.g_a2[s * c2 * pos2..(s + 1) * c2 * pos2];
            let col2 = &self.col2[s * patch2 * pos2..(s + 1) * patch2 * pos2];
            let mut gw = gw2.view_mut();
            conv_weight_grad(g_a2, col2, &mut gw, &mut self.b2.grad);
            conv_input_grad(&w2, g_a2, &mut self.g_col2);
            CONV2.fold(&self.g_col2, &mut self.g_p1);
            max_pool_relu_grad(
                &self.g_p1,
                &self.at1[s * c1 * pos2..(s + 1) * c1 * pos2],
                &self.a1[s * c1 * pos1..(s + 1) * c1 * pos1],
                SIDES[0],
                &mut self.g_a1,
            );
            let col1 = &self.col1[s * patch1 * pos1..(s + 1) * patch1 * pos1];
            let mut gw = gw1.view_mut();
            conv_weight_grad(&self.g_a1, col1, &mut gw, &mut self.b1.grad);
        }

        // Adam.
        self.t += 1.0;
        self.w1.adam(self.t, LR);
        self.b1.adam(self.t, LR);
        self.w2.adam(self.t, LR);
        self.b2.adam(self.t, LR);
        self.w3.adam(self.t, LR);
        self.b3.adam(self.t, LR);
        loss / rows
    }
}

/// The `conv2d` bench's shape: 2×3×320×320 to 16 channels, 3×3, padding 1.
pub const CONV_BATCH: usize = 2;
/// Its output channels.
pub const CONV_OUT: usize = 16;
/// Its input's shape.
pub const CONV_SHAPE: Shape = Shape {
    channels: 3,
    height: 320,
    width: 320,
    kernel: 3,
    pad: 1,
};

/// The bench's input, weight and bias, deterministic.
pub fn conv_inputs() -> (Array4<f64>, Array4<f64>, Array1<f64>) {
    let s = CONV_SHAPE;
    let x = Array4::from_shape_fn(
        (CONV_BATCH, s.channels, s.height, s.width),
        |(a, b, i, j)| ((a + 3 * b + 5 * i + 7 * j) % 13) as f64 / 13.0,
    );
    let w = Array4::from_shape_fn(
        (CONV_OUT, s.channels, s.kernel, s.kernel),
        |(a, b, i, j)| ((a + 2 * b + 3 * i + j) % 7) as f64 / 7.0 - 0.5,
    );
    let b = Array1::from_shape_fn(CONV_OUT, |o| o as f64 / 10.0);
    (x, w, b)
}

/// One conv2d through the engine: forward, and backward of the output's
/// sum into the input's, the weight's and the bias's gradients.
pub struct ConvStep<S: Strategy> {
    /// The input, a leaf that needs a gradient.
    pub x: Variable<S>,
    /// The weight.
    pub w: Variable<S>,
    /// The bias.
    pub b: Variable<S>,
}

impl<S: Strategy> ConvStep<S> {
    /// Leaves from [`conv_inputs`].
    pub fn new() -> Self {
        let (x, w, b) = conv_inputs();
        ConvStep {
            x: Variable::from_array(x),
            w: Variable::from_array(w),
            b: Variable::from_array(b),
        }
    }

    /// The gradients cleared, forward, backward.
    ///
    /// # Errors
    /// None in practice (the shapes fit).
    pub fn step(&self) -> Result<()> {
        for v in [&self.x, &self.w, &self.b] {
            v.cleargrad();
        }
        let y = autograd_ops::conv2d(&self.x, &self.w, Some(&self.b), (1, 1), (1, 1))?;
        y.backward_once()
    }
}

impl<S: Strategy> Default for ConvStep<S> {
    fn default() -> Self {
        Self::new()
    }
}

/// The same conv2d in plain ndarray, every buffer allocated once, a tile
/// of output rows at a time, as the engine computes it (the columns of a
/// whole sample, 22 MB here, would leave the cache between the unfolding
/// and the product: autograd-ops' `conv_timing` example times the whole
/// batch's columns and `dot`, 135–155 ms against the tiles' 53 ms in the
/// README's run): forward unfolds each
/// tile into one scratch buffer and multiplies it by the weight into the
/// output; backward unfolds each tile again for the weight gradient
/// (`gy · colᵀ`), then writes `wᵀ · gy` into the scratch buffer and folds
/// it into the input gradient (col2im).
pub struct ConvFloor {
    x: Vec<f64>,
    w: Array2<f64>,
    b: Vec<f64>,
    scratch: Vec<f64>,
    y: Vec<f64>,
    gy: Vec<f64>,
    /// The input's gradient.
    pub gx: Vec<f64>,
    /// The weight's gradient, `[OC, C·K·K]`.
    pub gw: Array2<f64>,
    /// The bias's gradient.
    pub gb: Array1<f64>,
}

impl ConvFloor {
    /// The arrays of [`conv_inputs`].
    pub fn new() -> Self {
        let (x, w, b) = conv_inputs();
        let s = CONV_SHAPE;
        let (n, oc, patch, positions) = (CONV_BATCH, CONV_OUT, s.patch(), s.positions());
        ConvFloor {
            x: x.into_raw_vec_and_offset().0,
            w: w.into_shape_with_order((oc, patch)).expect("[OC, C·K·K]"),
            b: b.to_vec(),
            scratch: vec![0.0; patch * s.tile_rows() * s.output().1],
            y: vec![0.0; n * oc * positions],
            gy: vec![1.0; n * oc * positions],
            gx: vec![0.0; n * s.sample()],
            gw: Array2::zeros((oc, patch)),
            gb: Array1::zeros(oc),
        }
    }

    /// Forward, and the three gradients of the output's sum.
    pub fn step(&mut self) {
        let s = CONV_SHAPE;
        let (oc, patch, positions) = (CONV_OUT, s.patch(), s.positions());
        let (oh, ow) = s.output();
        let tiles = || {
            (0..oh)
                .step_by(s.tile_rows())
                .map(|r| r..(r + s.tile_rows()).min(oh))
        };
        for n in 0..CONV_BATCH {
            let x = &self.x[n * s.sample()..(n + 1) * s.sample()];
            let y = &mut self.y[n * oc * positions..(n + 1) * oc * positions];
            for (plane, &b) in y.chunks_exact_mut(positions).zip(&self.b) {
                plane.fill(b);
            }
            let mut y = ArrayViewMut2::from_shape((oc, positions), y).expect("an output");
            for rows in tiles() {
                let width = rows.len() * ow;
                let col = &mut self.scratch[..patch * width];
                s.unfold_rows(x, rows.clone(), col);
                let col = ArrayView2::from_shape((patch, width), &*col).expect("a tile");
                let mut y = y.slice_axis_mut(Axis(1), Slice::from(rows.start * ow..rows.end * ow));
                general_mat_mul(1.0, &self.w, &col, 1.0, &mut y);
            }
        }
        // The output's sum: its gradient is ones, as the engine's seed.
        self.gy.fill(1.0);
        self.gw.fill(0.0);
        self.gx.fill(0.0);
        for n in 0..CONV_BATCH {
            let x = &self.x[n * s.sample()..(n + 1) * s.sample()];
            let gx = &mut self.gx[n * s.sample()..(n + 1) * s.sample()];
            let gy = &self.gy[n * oc * positions..(n + 1) * oc * positions];
            let gy = ArrayView2::from_shape((oc, positions), gy).expect("a gradient");
            for rows in tiles() {
                let width = rows.len() * ow;
                let gy = gy.slice_axis(Axis(1), Slice::from(rows.start * ow..rows.end * ow));
                let col = &mut self.scratch[..patch * width];
                s.unfold_rows(x, rows.clone(), col);
                let tile = ArrayView2::from_shape((patch, width), &*col).expect("a tile");
                general_mat_mul(1.0, &gy, &tile.t(), 1.0, &mut self.gw);
                let mut tile =
                    ArrayViewMut2::from_shape((patch, width), &mut *col).expect("a tile");
                general_mat_mul(1.0, &self.w.t(), &gy, 0.0, &mut tile);
                s.fold_rows(col, rows, gx);
            }
        }
        self.gb.fill(0.0);
        for (i, plane) in self.gy.chunks_exact(positions).enumerate() {
            self.gb[i % oc] += plane.iter().sum::<f64>();
        }
    }

    /// The output of the last step, `[N, OC, OH·OW]` row-major.
    pub fn output(&self) -> &[f64] {
        &self.y
    }
}

impl Default for ConvFloor {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use autograd_ops::RcWeak;

    /// `|a − b| ≤ tol·max(|b|, 1)` elementwise, or the first place it fails.
    fn close(a: &ndarray::ArrayD<f64>, b: &ndarray::ArrayD<f64>, tol: f64) -> Result<(), String> {
        if a.shape() != b.shape() {
            return Err(format!("shapes {:?} and {:?}", a.shape(), b.shape()));
        }
        match a
            .iter()
            .zip(b)
            .position(|(x, y)| (x - y).abs() > tol * y.abs().max(1.0))
        {
            Some(i) => Err(format!(
                "element {i}: {} vs {}",
                a.iter().nth(i).unwrap(),
                b.iter().nth(i).unwrap()
            )),
            None => Ok(()),
        }
    }

    #[test]
    fn the_floor_computes_the_engines_losses_and_gradients() {
        let mut engine = CnnStep::<RcWeak>::new(3);
        let mut floor = CnnFloor::new(3);
        for step in 0..4 {
            let (a, b) = (engine.step().unwrap(), floor.step());
            assert!(
                (a - b).abs() <= 1e-12 * b.abs(),
                "step {step}: loss {a} vs {b}"
            );
            let names = engine.model.named_params();
            for ((name, p), g) in names.iter().zip(floor.grads()) {
                let e = p.grad().unwrap().to_owned();
                assert!(
                    g.iter().any(|&v| v != 0.0),
                    "step {step}: {name} has a gradient"
                );
                close(&e, &g, 1e-10).unwrap_or_else(|e| panic!("step {step}: {name}: {e}"));
            }
        }
        // The dropout masks differ from step to step, and the losses fall.
        assert!(engine.step().unwrap() < CnnFloor::new(3).step());
    }

    #[test]
    fn checkpointed_conv_blocks_give_the_plain_graphs_loss_and_gradients() {
        let step = CnnStep::<RcWeak>::new(5);
        let grads = |checkpointed: bool| {
            step.model.cleargrad();
            manual_seed(1);
            let loss = if checkpointed {
                forward_checkpointed(&step.model, &step.x, &step.labels).unwrap()
            } else {
                let logits = step.model.forward(&step.x).unwrap();
                softmax_cross_entropy(&logits, &step.labels).unwrap()
            };
            loss.backward_once().unwrap();
            let grads: Vec<_> = step
                .model
                .params()
                .iter()
                .map(|p| p.grad().unwrap().to_owned())
                .collect();
            (loss.item().unwrap(), grads)
        };
        assert_eq!(grads(true), grads(false));
    }

    #[test]
    fn the_conv_floor_computes_the_engines_output_and_gradients() {
        let engine = ConvStep::<RcWeak>::new();
        engine.step().unwrap();
        let mut floor = ConvFloor::new();
        floor.step();
        let y =
            autograd_ops::conv2d(&engine.x, &engine.w, Some(&engine.b), (1, 1), (1, 1)).unwrap();
        let shape = y.shape();
        let floor_y = ndarray::ArrayD::from_shape_vec(shape, floor.output().to_vec()).unwrap();
        close(&y.data().to_owned(), &floor_y, 1e-12).unwrap();
        let gx = ndarray::ArrayD::from_shape_vec(engine.x.shape(), floor.gx.clone()).unwrap();
        close(&engine.x.grad().unwrap().to_owned(), &gx, 1e-12).unwrap();
        let gw = floor
            .gw
            .clone()
            .into_shape_with_order(engine.w.shape())
            .unwrap();
        close(&engine.w.grad().unwrap().to_owned(), &gw, 1e-10).unwrap();
        close(
            &engine.b.grad().unwrap().to_owned(),
            &floor.gb.clone().into_dyn(),
            1e-12,
        )
        .unwrap();
    }
}
