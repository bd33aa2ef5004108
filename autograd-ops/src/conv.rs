//! Convolution: [`Conv2d`], [`ConvTranspose2d`] and the weight gradient
//! [`Conv2dGradW`], each written with the others as its derivative (as
//! DeZero's `functions_conv.py`), so that convolution is differentiable to
//! any order; [`Im2col`] and [`Col2im`], each the other's derivative; their
//! free functions, [`conv_output_size`], and their tests.
//!
//! PyTorch's conventions throughout: `[N, C, H, W]` arrays, cross-correlation
//! (the kernel is not flipped), zero padding, a weight `[OC, C, KH, KW]` for
//! a convolution and `[C_in, C_out, KH, KW]` for a transposed one, and
//! `(height, width)` pairs for the kernel, stride and padding.
//!
//! **How they compute.** Each op is im2col and a matrix product, a sample at
//! a time and a tile of output rows at a time: the columns of a tile
//! (`C·KH·KW` rows by the tile's output positions, about 256 KiB) are
//! unfolded into one scratch buffer reused across tiles and samples, and the
//! product is written by `general_mat_mul` straight into the tile's part of
//! the output, a strided view of the output buffer (which comes from the
//! engine's cache, `Tensor::from_writer`). With the weight as the left
//! factor, the product of a sample comes out `[OC, OH·OW]`, already NCHW:
//! no transpose of the output, and no `[N·OH·OW, C·KH·KW]` matrix of the
//! whole batch (for 2×3×320×320 in, 3×3 kernel, 44 MB) is ever made.
//! The transposed convolution (conv2d's input gradient) multiplies by the
//! weight's transpose into the scratch tile and adds it back into the
//! output (col2im); the weight gradient accumulates each tile's product
//! with the columns' transpose. Conv2d keeps its input and weight for
//! backward, not the columns (DeZero's choice): the weight gradient unfolds
//! the input again.

use std::ops::Range;

use autograd_core::shape::element_count;
use autograd_core::{
    Error, Function, Grads, Result, Save, Saved, Strategy, Tensor, Tensors, Variable, apply_one,
};
use ndarray::linalg::general_mat_mul;
use ndarray::{ArrayView2, ArrayViewMut2, Axis, Slice};

use crate::reduce::sum_axis;
use crate::shape_ops::reshape;

/// About how many elements a tile of columns holds (256 KiB): small enough
/// to stay in a core's L2 cache between the unfolding and the product.
const TILE_ELEMENTS: usize = 32 * 1024;

/// A (height, width) pair: a kernel's size, a stride or a padding.
type Pair = (usize, usize);

/// The output length of a kernel of length `kernel` sliding over `input`
/// zero-padded by `pad` on each side, by steps of `stride`, or why there is
/// none.
fn output_len(
    input: usize,
    kernel: usize,
    stride: usize,
    pad: usize,
) -> std::result::Result<usize, &'static str> {
    if stride == 0 {
        return Err("the stride must be positive");
    }
    if kernel == 0 {
        return Err("the kernel must be at least 1 wide");
    }
    let padded = pad
        .checked_mul(2)
        .and_then(|both| both.checked_add(input))
        .ok_or("the padded input's size overflows")?;
    let span = padded
        .checked_sub(kernel)
        .ok_or("the kernel is larger than the padded input")?;
    Ok(span / stride + 1)
}

/// The output size of a convolution along one axis, `(H + 2·P − K) / S + 1`
/// (rounded down, PyTorch's and DeZero's `get_conv_outsize`): an input of
/// `input` zero-padded by `pad` on each side, a kernel of `kernel`, steps of
/// `stride`.
///
/// ```
/// use autograd_ops::conv_output_size;
/// assert_eq!(conv_output_size(28, 3, 1, 1)?, 28);
/// assert_eq!(conv_output_size(7, 3, 2, 0)?, 3);
/// assert!(conv_output_size(2, 5, 1, 1).is_err()); // 5 > 2 + 2·1
/// # Ok::<(), autograd_ops::Error>(())
/// ```
///
/// # Errors
/// [`Error::InvalidArgument`] naming `conv_output_size` for a stride or a
/// kernel of 0, a kernel larger than the padded input, or a padded size
/// that overflows `usize`.
pub fn conv_output_size(input: usize, kernel: usize, stride: usize, pad: usize) -> Result<usize> {
    output_len(input, kernel, stride, pad).map_err(|why| Error::InvalidArgument {
        op: "conv_output_size",
        message: format!("{why}: input {input}, kernel {kernel}, stride {stride}, padding {pad}"),
    })
}

/// The sizes of one convolution: `batch` samples of `channels` planes of
/// `input` size, a `kernel` sliding over them by `stride` with zero
/// `pad`ding, and the `output` planes that makes. The ops of this file and
/// of `pool.rs` compute from it; every product of its sizes that they use
/// was checked when it was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Geometry {
    pub(crate) batch: usize,
    pub(crate) channels: usize,
    pub(crate) input: Pair,
    pub(crate) kernel: Pair,
    pub(crate) stride: Pair,
    pub(crate) pad: Pair,
    pub(crate) output: Pair,
}

/// The error of sizes that make no convolution: `why`, and every size.
pub(crate) fn geometry_error(
    op: &'static str,
    why: &str,
    input: &[usize],
    kernel: &dyn std::fmt::Debug,
    stride: Pair,
    pad: Pair,
) -> Error {
    Error::InvalidArgument {
        op,
        message: format!(
            "{why}: input {input:?}, kernel {kernel:?}, stride {stride:?}, padding {pad:?}"
        ),
    }
}

/// `shape`, checked to have four axes.
pub(crate) fn four_d(op: &'static str, shape: &[usize]) -> Result<[usize; 4]> {
    shape.try_into().map_err(|_| Error::WrongRank {
        op,
        expected: 4,
        shape: shape.to_vec(),
    })
}

impl Geometry {
    /// `kernel` sliding over `x` (`[N, C, H, W]`); errors name `op`, and
    /// show the kernel as `shown` (a weight's shape, or the pair).
    pub(crate) fn new(
        op: &'static str,
        x: &[usize],
        kernel: Pair,
        stride: Pair,
        pad: Pair,
        shown: &dyn std::fmt::Debug,
    ) -> Result<Geometry> {
        let [batch, channels, h, w] = four_d(op, x)?;
        element_count(op, x)?;
        let fail = |why| geometry_error(op, why, x, shown, stride, pad);
        let oh = output_len(h, kernel.0, stride.0, pad.0).map_err(fail)?;
        let ow = output_len(w, kernel.1, stride.1, pad.1).map_err(fail)?;
        // A sample, a tile's row of columns and the output planes, so that
        // every product of sizes the ops use fits (also when the batch or
        // the channels are empty, and the whole arrays with them).
        element_count(op, &[channels, h, w])?;
        element_count(op, &[channels, kernel.0, kernel.1, ow])?;
        element_count(op, &[batch, channels, oh, ow])?;
        element_count(op, &[oh, ow])?;
        Ok(Geometry {
            batch,
            channels,
            input: (h, w),
            kernel,
            stride,
            pad,
            output: (oh, ow),
        })
    }

    /// `C·KH·KW`: the rows of the columns, a weight's row length.
    pub(crate) fn patch(&self) -> usize {
        self.channels * self.kernel.0 * self.kernel.1
    }

    /// `H·W`.
    pub(crate) fn input_plane(&self) -> usize {
        self.input.0 * self.input.1
    }

    /// `OH·OW`.
    pub(crate) fn output_plane(&self) -> usize {
        self.output.0 * self.output.1
    }

    /// `C·H·W`: one sample of the input.
    fn sample(&self) -> usize {
        self.channels * self.input_plane()
    }

    /// The output rows that a tile of columns holds, about
    /// [`TILE_ELEMENTS`] elements and at least one row.
    fn tiles(&self) -> impl Iterator<Item = Range<usize>> + use<> {
        let oh = self.output.0;
        let rows = (TILE_ELEMENTS / (self.patch() * self.output.1).max(1)).clamp(1, oh.max(1));
        (0..oh).step_by(rows).map(move |r| r..(r + rows).min(oh))
    }

    /// A scratch buffer for one tile of columns.
    fn scratch(&self) -> Vec<f64> {
        let rows = self.tiles().next().map_or(0, |rows| rows.len());
        vec![0.0; self.patch() * rows * self.output.1]
    }

    /// The input positions `(h, w)` that kernel offset `(ki, kj)` reads for
    /// output position `(o, p)`: the output rows (or columns) `o` at which
    /// `o·S + k − P` falls inside an input of length `len`; the others read
    /// padding.
    fn inside(len: usize, k: usize, stride: usize, pad: usize, out: usize) -> Range<usize> {
        let lo = pad.saturating_sub(k).div_ceil(stride).min(out);
        let hi = match (len + pad).checked_sub(k) {
            Some(end) => end.div_ceil(stride).min(out),
            None => 0,
        };
        lo..hi.max(lo)
    }

    /// The columns of output `rows` of one sample `x` (`[C, H, W]`) into
    /// `col`, `[C·KH·KW, rows·OW]` row-major: row `(c, ki, kj)` holds, at
    /// output position `(oh, ow)`, `x[c, oh·SH + ki − PH, ow·SW + kj − PW]`,
    /// 0 in the padding.
    pub(crate) fn unfold(&self, x: &[f64], rows: Range<usize>, col: &mut [f64]) {
        let (h, w) = self.input;
        let ((kh, kw), (sh, sw), (ph, pw)) = (self.kernel, self.stride, self.pad);
        let (oh, ow) = self.output;
        let width = rows.len() * ow;
        for c in 0..self.channels {
            let plane = &x[c * h * w..(c + 1) * h * w];
            for ki in 0..kh {
                let rows_in = Self::inside(h, ki, sh, ph, oh);
                for kj in 0..kw {
                    let cols_in = Self::inside(w, kj, sw, pw, ow);
                    let r = (c * kh + ki) * kw + kj;
                    let dst = &mut col[r * width..(r + 1) * width];
                    for (d, o) in dst.chunks_exact_mut(ow).zip(rows.clone()) {
                        if !rows_in.contains(&o) || cols_in.is_empty() {
                            d.fill(0.0);
                            continue;
                        }
                        let ih = o * sh + ki - ph;
                        let src = &plane[ih * w..(ih + 1) * w];
                        d[..cols_in.start].fill(0.0);
                        d[cols_in.end..].fill(0.0);
                        let first = cols_in.start * sw + kj - pw;
                        let d = &mut d[cols_in.clone()];
                        if sw == 1 {
                            d.copy_from_slice(&src[first..first + d.len()]);
                        } else {
                            for (d, s) in d.iter_mut().zip(src[first..].iter().step_by(sw)) {
                                *d = *s;
                            }
                        }
                    }
                }
            }
        }
    }

    /// The adjoint of [`unfold`](Geometry::unfold): each column element of
    /// output `rows` added into the input position it was read from (the
    /// padding's dropped), into one sample `x` (`[C, H, W]`).
    pub(crate) fn fold(&self, col: &[f64], rows: Range<usize>, x: &mut [f64]) {
        let (h, w) = self.input;
        let ((kh, kw), (sh, sw), (ph, pw)) = (self.kernel, self.stride, self.pad);
        let (oh, ow) = self.output;
        let width = rows.len() * ow;
        for c in 0..self.channels {
            let plane = &mut x[c * h * w..(c + 1) * h * w];
            for ki in 0..kh {
                let rows_in = Self::inside(h, ki, sh, ph, oh);
                for kj in 0..kw {
                    let cols_in = Self::inside(w, kj, sw, pw, ow);
                    if cols_in.is_empty() {
                        continue;
                    }
                    let r = (c * kh + ki) * kw + kj;
                    let src = &col[r * width..(r + 1) * width];
                    for (s, o) in src.chunks_exact(ow).zip(rows.clone()) {
                        if !rows_in.contains(&o) {
                            continue;
                        }
                        let ih = o * sh + ki - ph;
                        let dst = &mut plane[ih * w..(ih + 1) * w];
                        let first = cols_in.start * sw + kj - pw;
                        let s = &s[cols_in.clone()];
                        for (d, s) in dst[first..].iter_mut().step_by(sw).zip(s) {
                            *d += *s;
                        }
                    }
                }
            }
        }
    }
}

/// A tensor's elements in row-major order (how every tensor is stored).
pub(crate) fn elements(t: &Tensor) -> &[f64] {
    t.view()
        .to_slice()
        .expect("a tensor is stored in standard layout")
}

/// A tensor of `shape` whose elements `write` sets, as a slice.
pub(crate) fn write_tensor(shape: &[usize], write: impl FnOnce(&mut [f64])) -> Tensor {
    Tensor::from_writer(shape, |out| {
        write(
            out.into_slice()
                .expect("a new tensor is in standard layout"),
        )
    })
}

/// `c = a · b + beta · c`; nothing to multiply when a size is 0 (the
/// product is then 0, which `general_mat_mul` is not asked to find).
fn gemm(
    a: &ArrayView2<'_, f64>,
    b: &ArrayView2<'_, f64>,
    beta: f64,
    c: &mut ArrayViewMut2<'_, f64>,
) {
    if a.ncols() == 0 || c.is_empty() {
        if beta == 0.0 {
            c.fill(0.0);
        }
        return;
    }
    general_mat_mul(1.0, a, b, beta, c);
}

/// Each plane (`plane` elements) of `out` set to its channel's bias, the
/// channels cycling; zeros without a bias.
fn fill_planes(out: &mut [f64], plane: usize, bias: Option<&[f64]>) {
    match bias {
        Some(bias) if plane > 0 => {
            for (chunk, &b) in out.chunks_exact_mut(plane).zip(bias.iter().cycle()) {
                chunk.fill(b);
            }
        }
        _ => out.fill(0.0),
    }
}

/// The convolution of `x` (`[N, C, H, W]`) with `w` (`[OC, C·KH·KW]`) plus
/// a bias of `OC`: `[N, OC, OH, OW]`.
fn convolve(g: &Geometry, x: &[f64], w: ArrayView2<'_, f64>, bias: Option<&[f64]>) -> Tensor {
    let (oc, plane, ow) = (w.nrows(), g.output_plane(), g.output.1);
    let shape = [g.batch, oc, g.output.0, ow];
    write_tensor(&shape, |out| {
        let beta = match bias {
            Some(_) => {
                fill_planes(out, plane, bias);
                1.0
            }
            None => 0.0, // the product overwrites the buffer
        };
        if oc * plane == 0 {
            return; // an empty output
        }
        let mut scratch = g.scratch();
        for (n, y) in out.chunks_exact_mut(oc * plane).enumerate() {
            let mut y = ArrayViewMut2::from_shape((oc, plane), y).expect("OC·OH·OW");
            let x = &x[n * g.sample()..(n + 1) * g.sample()];
            for rows in g.tiles() {
                let width = rows.len() * ow;
                let col = &mut scratch[..g.patch() * width];
                g.unfold(x, rows.clone(), col);
                let col = ArrayView2::from_shape((g.patch(), width), &*col).expect("a tile");
                let mut y = y.slice_axis_mut(Axis(1), Slice::from(rows.start * ow..rows.end * ow));
                gemm(&w, &col, beta, &mut y);
            }
        }
    })
}

/// The transposed convolution: `gy` (`[N, OC, OH, OW]`) times `w`
/// (`[OC, C·KH·KW]`) transposed, each column added back where it was read
/// from (col2im), plus a bias of `C`: `[N, C, H, W]`. Conv2d's input
/// gradient, and [`ConvTranspose2d`]'s forward.
fn convolve_transpose(
    g: &Geometry,
    gy: &[f64],
    w: ArrayView2<'_, f64>,
    bias: Option<&[f64]>,
) -> Tensor {
    let (oc, plane, ow) = (w.nrows(), g.output_plane(), g.output.1);
    let shape = [g.batch, g.channels, g.input.0, g.input.1];
    write_tensor(&shape, |out| {
        fill_planes(out, g.input_plane(), bias);
        if g.sample() == 0 {
            return; // nothing to add into
        }
        let wt = w.t();
        let mut scratch = g.scratch();
        for (n, x) in out.chunks_exact_mut(g.sample()).enumerate() {
            let gy = &gy[n * oc * plane..(n + 1) * oc * plane];
            let gy = ArrayView2::from_shape((oc, plane), gy).expect("OC·OH·OW");
            for rows in g.tiles() {
                let width = rows.len() * ow;
                let col = &mut scratch[..g.patch() * width];
                let mut tile =
                    ArrayViewMut2::from_shape((g.patch(), width), &mut *col).expect("a tile");
                gemm(
                    &wt,
                    &gy.slice_axis(Axis(1), Slice::from(rows.start * ow..rows.end * ow)),
                    0.0,
                    &mut tile,
                );
                g.fold(col, rows, x);
            }
        }
    })
}

/// The weight gradient: `gy` (`[N, OC, OH, OW]`) times the columns of `x`
/// (`[N, C, H, W]`) transposed, summed over the samples: `[OC, C, KH, KW]`.
fn weight_gradient(g: &Geometry, x: &[f64], gy: &[f64], oc: usize) -> Tensor {
    let (plane, ow) = (g.output_plane(), g.output.1);
    let shape = [oc, g.channels, g.kernel.0, g.kernel.1];
    write_tensor(&shape, |out| {
        let mut gw = ArrayViewMut2::from_shape((oc, g.patch()), out).expect("OC·C·KH·KW");
        gw.fill(0.0);
        let mut scratch = g.scratch();
        for n in 0..g.batch {
            let x = &x[n * g.sample()..(n + 1) * g.sample()];
            let gy = &gy[n * oc * plane..(n + 1) * oc * plane];
            let gy = ArrayView2::from_shape((oc, plane), gy).expect("OC·OH·OW");
            for rows in g.tiles() {
                let width = rows.len() * ow;
                let col = &mut scratch[..g.patch() * width];
                g.unfold(x, rows.clone(), col);
                let col = ArrayView2::from_shape((g.patch(), width), &*col).expect("a tile");
                let gy = gy.slice_axis(Axis(1), Slice::from(rows.start * ow..rows.end * ow));
                gemm(&gy, &col.t(), 1.0, &mut gw);
            }
        }
    })
}

/// The output `[N, channels, OH, OW]` of a convolution of geometry `g`, and
/// one sample of it, checked to fit.
fn check_output(op: &'static str, g: &Geometry, channels: usize) -> Result<()> {
    element_count(op, &[g.batch, channels, g.output.0, g.output.1])?;
    element_count(op, &[channels, g.output.0, g.output.1])?;
    Ok(())
}

/// `w` (`[OC, …]`) as a matrix `[OC, rest]`.
fn as_matrix(w: &Tensor) -> ArrayView2<'_, f64> {
    let rows = w.shape()[0];
    let cols = w.shape()[1..].iter().product();
    ArrayView2::from_shape((rows, cols), elements(w)).expect("a weight's elements")
}

/// A bias of `len` elements, checked against the weight it goes with.
fn bias<'a>(
    op: &'static str,
    w: &Tensor,
    b: Option<&'a Tensor>,
    len: usize,
) -> Result<Option<&'a [f64]>> {
    match b {
        Some(b) if b.shape() != [len] => Err(Error::ShapeMismatch {
            op,
            lhs: w.shape().to_vec(),
            rhs: b.shape().to_vec(),
        }),
        Some(b) => Ok(Some(elements(b))),
        None => Ok(None),
    }
}

/// A convolution's input and weight, checked: both 4-D, the weight's
/// channels (`w.shape()[channel_axis]`) the input's.
fn input_and_weight(op: &'static str, x: &Tensor, w: &Tensor, channel_axis: usize) -> Result<()> {
    four_d(op, x.shape())?;
    four_d(op, w.shape())?;
    if x.shape()[1] != w.shape()[channel_axis] {
        return Err(Error::ShapeMismatch {
            op,
            lhs: x.shape().to_vec(),
            rhs: w.shape().to_vec(),
        });
    }
    Ok(())
}

/// The gradient of a bias added to each plane: `gy` summed over the
/// samples and positions, `[N, C, H, W]` to `[C]`.
fn bias_gradient<S: Strategy>(gy: &Variable<S>) -> Result<Variable<S>> {
    let shape = gy.shape();
    let per_channel = sum_axis(gy, 0, false)?;
    let per_channel = reshape(&per_channel, &[shape[1], shape[2] * shape[3]])?;
    sum_axis(&per_channel, 1, false)
}

/// [`bias_gradient`] on arrays: each plane of `gy` summed where it lies
/// (contiguous), into its channel. The derivative's `sum_axis` over the
/// positions walks a `[C, H·W]` array column by column instead: on
/// 2×16×320×320 it took a third of conv2d's whole backward.
fn bias_gradient_on_arrays(gy: &Tensor) -> Tensor {
    let [n, c, h, w] = four_d("bias_gradient", gy.shape()).expect("an output's gradient is 4-D");
    let plane = h * w;
    write_tensor(&[c], |out| {
        out.fill(0.0);
        if plane == 0 {
            return;
        }
        let planes = elements(gy).chunks_exact(plane);
        for (k, plane) in planes.enumerate().take(n * c) {
            out[k % c] += plane.iter().sum::<f64>();
        }
    })
}

/// A placeholder for an input that needs no gradient.
fn unused() -> Tensor {
    Tensor::scalar(0.0)
}

/// `y[n, o] = b[o] + Σ_c w[o, c] ⋆ x[n, c]`: the 2-D convolution
/// (cross-correlation) of `x` `[N, C, H, W]` with `w` `[OC, C, KH, KW]`
/// and an optional bias `[OC]`, by `stride` with zero `pad`ding, giving
/// `[N, OC, OH, OW]`. `gx` is the transposed convolution of `gy` with `w`
/// ([`ConvTranspose2d`]), `gw` the weight gradient of `x` and `gy`
/// ([`Conv2dGradW`]), `gb` `gy` summed over all but its channels.
#[derive(Debug, Clone, Copy)]
pub struct Conv2d {
    /// The steps (height, width) between the kernel's positions.
    pub stride: Pair,
    /// The zeros (height, width) added on each side of the input.
    pub pad: Pair,
    /// Whether a third input, the bias, is given.
    pub bias: bool,
}

impl<S: Strategy> Function<S> for Conv2d {
    fn name(&self) -> &'static str {
        "conv2d"
    }

    fn num_inputs(&self) -> usize {
        2 + usize::from(self.bias)
    }

    fn forward(&mut self, xs: &[Tensor]) -> Result<Tensors> {
        let (x, w) = (&xs[0], &xs[1]);
        input_and_weight("conv2d", x, w, 1)?;
        let (oc, kernel) = (w.shape()[0], (w.shape()[2], w.shape()[3]));
        let g = Geometry::new(
            "conv2d",
            x.shape(),
            kernel,
            self.stride,
            self.pad,
            &w.shape(),
        )?;
        check_output("conv2d", &g, oc)?;
        let b = bias("conv2d", w, xs.get(2), oc)?;
        Ok(convolve(&g, elements(x), as_matrix(w), b).into())
    }

    /// The input for the weight's gradient, the weight for the input's;
    /// not the columns (the weight gradient unfolds the input again).
    fn save(&mut self, save: &mut Save<'_>) {
        save.product_factors();
    }

    fn derivative(&self, cx: &Saved<'_, S>, gys: &[Variable<S>]) -> Result<Grads<S>> {
        let gy = &gys[0];
        let (x, w) = (cx.input_shape(0), cx.input_shape(1));
        let mut grads = vec![
            cx.grad(0, || {
                let op = ConvTranspose2d {
                    stride: self.stride,
                    pad: self.pad,
                    output_size: Some((x[2], x[3])),
                    bias: false,
                };
                apply_one(op, &[gy, &cx.input(1)?])
            })?,
            cx.grad(1, || {
                conv2d_grad_w(&cx.input(0)?, gy, (w[2], w[3]), self.stride, self.pad)
            })?,
        ];
        if self.bias {
            grads.push(cx.grad(2, || bias_gradient(gy))?);
        }
        Ok(grads)
    }

    /// The derivative on arrays: the kernels the ops it calls run, without
    /// the ops, and the bias's gradient summed plane by plane
    /// (in one pass over each plane, where it matters).
    fn backward_arrays(&self, cx: &Saved<'_, S>, gys: Tensors) -> Result<Tensors> {
        let gy = &gys[0];
        let w = cx.input_shape(1);
        let g = Geometry::new(
            "conv2d",
            cx.input_shape(0),
            (w[2], w[3]),
            self.stride,
            self.pad,
            &w,
        )?;
        let mut grads = Tensors::new();
        grads.push(match cx.needs_grad(0) {
            true => convolve_transpose(&g, elements(gy), as_matrix(cx.input_value(1)?), None),
            false => unused(),
        });
        grads.push(match cx.needs_grad(1) {
            true => weight_gradient(&g, elements(cx.input_value(0)?), elements(gy), w[0]),
            false => unused(),
        });
        if self.bias {
            grads.push(match cx.needs_grad(2) {
                true => bias_gradient_on_arrays(gy),
                false => unused(),
            });
        }
        Ok(grads)
    }
}

/// The transposed convolution (DeZero's `deconv2d`, PyTorch's
/// `conv_transpose2d`): `x` `[N, C_in, H, W]`, `w` `[C_in, C_out, KH, KW]`,
/// an optional bias `[C_out]`; each input element adds `x[n, i] · w[i, o]`
/// into the output window it maps to, `[N, C_out, OH, OW]` with
/// `OH = S·(H − 1) + KH − 2·P` unless `output_size` says otherwise. It is
/// the adjoint of [`Conv2d`] in its input, and conv2d's input gradient.
/// `gx` is the convolution of `gy` with `w`, `gw` the weight gradient of
/// `gy` and `x` ([`Conv2dGradW`]), `gb` `gy` summed over all but its
/// channels.
#[derive(Debug, Clone, Copy)]
pub struct ConvTranspose2d {
    /// The steps (height, width) of the convolution this transposes.
    pub stride: Pair,
    /// The padding (height, width) of the convolution this transposes,
    /// cropped from the output.
    pub pad: Pair,
    /// The output's (height, width); `None` for the smallest,
    /// `S·(H − 1) + K − 2·P`. A convolution with a stride maps several
    /// sizes to one (rounding down); any of them whose convolution gives
    /// back the input's size may be asked for (PyTorch's `output_padding`):
    /// conv2d's input gradient asks for its input's size.
    pub output_size: Option<Pair>,
    /// Whether a third input, the bias, is given.
    pub bias: bool,
}

/// `S·(H − 1) + K − 2·P`, or `None` when it overflows or is not positive.
fn transposed_len(input: usize, kernel: usize, stride: usize, pad: usize) -> Option<usize> {
    stride
        .checked_mul(input.checked_sub(1)?)?
        .checked_add(kernel)?
        .checked_sub(pad.checked_mul(2)?)
        .filter(|&len| len > 0)
}

impl<S: Strategy> Function<S> for ConvTranspose2d {
    fn name(&self) -> &'static str {
        "conv_transpose2d"
    }

    fn num_inputs(&self) -> usize {
        2 + usize::from(self.bias)
    }

    fn forward(&mut self, xs: &[Tensor]) -> Result<Tensors> {
        const OP: &str = "conv_transpose2d";
        let (x, w) = (&xs[0], &xs[1]);
        input_and_weight(OP, x, w, 0)?;
        let [n, _, h, wd] = four_d(OP, x.shape())?;
        let [_, out_channels, kh, kw] = four_d(OP, w.shape())?;
        let fail =
            |why: &str| geometry_error(OP, why, x.shape(), &w.shape(), self.stride, self.pad);
        if self.stride.0 == 0 || self.stride.1 == 0 {
            return Err(fail("the stride must be positive"));
        }
        if kh == 0 || kw == 0 {
            return Err(fail("the kernel must be at least 1 wide"));
        }
        let size = match self.output_size {
            Some(size) => size,
            None => transposed_len(h, kh, self.stride.0, self.pad.0)
                .zip(transposed_len(wd, kw, self.stride.1, self.pad.1))
                .ok_or_else(|| fail("the output would be empty or its size overflows"))?,
        };
        let out = [n, out_channels, size.0, size.1];
        let g = Geometry::new(OP, &out, (kh, kw), self.stride, self.pad, &w.shape()).map_err(
            |err| match err {
                Error::InvalidArgument { .. } => fail(&format!(
                    "an output of size {size:?} is smaller than the kernel"
                )),
                err => err,
            },
        )?;
        if g.output != (h, wd) {
            return Err(fail(&format!(
                "an output of size {size:?} convolves back to {:?}, not the input's",
                g.output
            )));
        }
        check_output(OP, &g, x.shape()[1])?; // the input is that convolution's output
        let b = bias(OP, w, xs.get(2), out_channels)?;
        Ok(convolve_transpose(&g, elements(x), as_matrix(w), b).into())
    }

    /// The input for the weight's gradient, the weight for the input's.
    fn save(&mut self, save: &mut Save<'_>) {
        save.product_factors();
    }

    fn derivative(&self, cx: &Saved<'_, S>, gys: &[Variable<S>]) -> Result<Grads<S>> {
        let gy = &gys[0];
        let w = cx.input_shape(1);
        let mut grads = vec![
            cx.grad(0, || conv2d(gy, &cx.input(1)?, None, self.stride, self.pad))?,
            cx.grad(1, || {
                conv2d_grad_w(gy, &cx.input(0)?, (w[2], w[3]), self.stride, self.pad)
            })?,
        ];
        if self.bias {
            grads.push(cx.grad(2, || bias_gradient(gy))?);
        }
        Ok(grads)
    }

    /// The derivative on arrays, as [`Conv2d`]'s: the kernels without the
    /// ops, the bias's gradient plane by plane.
    fn backward_arrays(&self, cx: &Saved<'_, S>, gys: Tensors) -> Result<Tensors> {
        const OP: &str = "conv_transpose2d";
        let gy = &gys[0];
        let w = cx.input_shape(1);
        // The convolution this transposes, run over the output's gradient.
        let g = Geometry::new(OP, gy.shape(), (w[2], w[3]), self.stride, self.pad, &w)?;
        let mut grads = Tensors::new();
        grads.push(match cx.needs_grad(0) {
            true => convolve(&g, elements(gy), as_matrix(cx.input_value(1)?), None),
            false => unused(),
        });
        grads.push(match cx.needs_grad(1) {
            true => weight_gradient(&g, elements(gy), elements(cx.input_value(0)?), w[0]),
            false => unused(),
        });
        if self.bias {
            grads.push(match cx.needs_grad(2) {
                true => bias_gradient_on_arrays(gy),
                false => unused(),
            });
        }
        Ok(grads)
    }
}

/// The weight gradient of a convolution (DeZero's `Conv2DGradW`): from its
/// input `x` `[N, C, H, W]` and its output's gradient `gy`
/// `[N, OC, OH, OW]`, `gw[o, c, ki, kj] = Σ gy[n, o, p, q] ·
/// x[n, c, p·SH + ki − PH, q·SW + kj − PW]`, `[OC, C, KH, KW]`. Bilinear in
/// its inputs: given `ggw`, `x`'s gradient is the transposed convolution of
/// `gy` with `ggw` and `gy`'s the convolution of `x` with `ggw`.
#[derive(Debug, Clone, Copy)]
pub struct Conv2dGradW {
    /// The kernel's (height, width).
    pub kernel: Pair,
    /// The convolution's stride.
    pub stride: Pair,
    /// The convolution's padding.
    pub pad: Pair,
}

impl<S: Strategy> Function<S> for Conv2dGradW {
    fn name(&self) -> &'static str {
        "conv2d_grad_w"
    }

    fn num_inputs(&self) -> usize {
        2
    }

    fn forward(&mut self, xs: &[Tensor]) -> Result<Tensors> {
        const OP: &str = "conv2d_grad_w";
        let (x, gy) = (&xs[0], &xs[1]);
        let g = Geometry::new(
            OP,
            x.shape(),
            self.kernel,
            self.stride,
            self.pad,
            &self.kernel,
        )?;
        let [n, oc, oh, ow] = four_d(OP, gy.shape())?;
        if n != g.batch || (oh, ow) != g.output {
            return Err(Error::ShapeMismatch {
                op: OP,
                lhs: x.shape().to_vec(),
                rhs: gy.shape().to_vec(),
            });
        }
        check_output(OP, &g, oc)?;
        element_count(OP, &[oc, g.channels, g.kernel.0, g.kernel.1])?;
        Ok(weight_gradient(&g, elements(x), elements(gy), oc).into())
    }

    /// Each input for the other's gradient.
    fn save(&mut self, save: &mut Save<'_>) {
        save.product_factors();
    }

    fn derivative(&self, cx: &Saved<'_, S>, gys: &[Variable<S>]) -> Result<Grads<S>> {
        let ggw = &gys[0];
        let x = cx.input_shape(0);
        Ok(vec![
            cx.grad(0, || {
                let op = ConvTranspose2d {
                    stride: self.stride,
                    pad: self.pad,
                    output_size: Some((x[2], x[3])),
                    bias: false,
                };
                apply_one(op, &[&cx.input(1)?, ggw])
            })?,
            cx.grad(1, || {
                conv2d(&cx.input(0)?, ggw, None, self.stride, self.pad)
            })?,
        ])
    }
}

/// The patches a kernel reads (DeZero's `im2col` with `to_matrix`): `x`
/// `[N, C, H, W]` to `[N·OH·OW, C·KH·KW]`, a row per output position in
/// order `(n, oh, ow)`, a column per kernel element in order `(c, ki, kj)`,
/// zeros in the padding; so that a convolution is this times the weight
/// reshaped to `[OC, C·KH·KW]` and transposed. Linear; its gradient is
/// [`Col2im`] of the output's.
#[derive(Debug, Clone, Copy)]
pub struct Im2col {
    /// The kernel's (height, width).
    pub kernel: Pair,
    /// The steps between the kernel's positions.
    pub stride: Pair,
    /// The zeros added on each side.
    pub pad: Pair,
}

impl<S: Strategy> Function<S> for Im2col {
    fn name(&self) -> &'static str {
        "im2col"
    }

    fn num_inputs(&self) -> usize {
        1
    }

    fn forward(&mut self, xs: &[Tensor]) -> Result<Tensors> {
        let g = Geometry::new(
            "im2col",
            xs[0].shape(),
            self.kernel,
            self.stride,
            self.pad,
            &self.kernel,
        )?;
        element_count("im2col", &[g.batch, g.output_plane(), g.patch()])?;
        Ok(im2col_matrix(&g, elements(&xs[0])).into())
    }

    fn save(&mut self, _save: &mut Save<'_>) {}

    fn derivative(&self, cx: &Saved<'_, S>, gys: &[Variable<S>]) -> Result<Grads<S>> {
        let shape = cx.input_shape(0);
        Ok(vec![cx.grad(0, || {
            col2im(&gys[0], shape, self.kernel, self.stride, self.pad)
        })?])
    }
}

/// The adjoint of [`Im2col`] (DeZero's `col2im` with `to_matrix`): `col`
/// `[N·OH·OW, C·KH·KW]` to `[N, C, H, W]`, each element added into the
/// input position its patch read (those in the padding dropped). Linear;
/// its gradient is [`Im2col`] of the output's.
#[derive(Debug, Clone, Copy)]
pub struct Col2im {
    /// The shape of the input the patches were read from, `[N, C, H, W]`.
    pub input_shape: [usize; 4],
    /// The kernel's (height, width).
    pub kernel: Pair,
    /// The steps between the kernel's positions.
    pub stride: Pair,
    /// The zeros added on each side.
    pub pad: Pair,
}

impl<S: Strategy> Function<S> for Col2im {
    fn name(&self) -> &'static str {
        "col2im"
    }

    fn num_inputs(&self) -> usize {
        1
    }

    fn forward(&mut self, xs: &[Tensor]) -> Result<Tensors> {
        let g = Geometry::new(
            "col2im",
            &self.input_shape,
            self.kernel,
            self.stride,
            self.pad,
            &self.kernel,
        )?;
        let rows = g.batch.checked_mul(g.output_plane());
        if rows.is_none() || xs[0].shape() != [rows.unwrap_or(0), g.patch()] {
            return Err(Error::InvalidTarget {
                op: "col2im",
                from: xs[0].shape().to_vec(),
                to: self.input_shape.to_vec(),
            });
        }
        Ok(col2im_matrix(&g, elements(&xs[0])).into())
    }

    fn save(&mut self, _save: &mut Save<'_>) {}

    fn derivative(&self, cx: &Saved<'_, S>, gys: &[Variable<S>]) -> Result<Grads<S>> {
        Ok(vec![cx.grad(0, || {
            im2col(&gys[0], self.kernel, self.stride, self.pad)
        })?])
    }
}

/// [`Im2col`]'s forward: each tile of columns unfolded, then written
/// transposed into its rows of the matrix.
fn im2col_matrix(g: &Geometry, x: &[f64]) -> Tensor {
    let (plane, ow) = (g.output_plane(), g.output.1);
    write_tensor(&[g.batch * plane, g.patch()], |out| {
        let mut out = ArrayViewMut2::from_shape((g.batch * plane, g.patch()), out).expect("rows");
        let mut scratch = g.scratch();
        for n in 0..g.batch {
            let x = &x[n * g.sample()..(n + 1) * g.sample()];
            for rows in g.tiles() {
                let width = rows.len() * ow;
                let col = &mut scratch[..g.patch() * width];
                g.unfold(x, rows.clone(), col);
                let col = ArrayView2::from_shape((g.patch(), width), &*col).expect("a tile");
                let first = n * plane + rows.start * ow;
                out.slice_axis_mut(Axis(0), Slice::from(first..first + width))
                    .assign(&col.t());
            }
        }
    })
}

/// [`Col2im`]'s forward: each tile of rows of the matrix copied transposed
/// into the scratch tile, then folded into its sample.
fn col2im_matrix(g: &Geometry, col: &[f64]) -> Tensor {
    let (plane, ow) = (g.output_plane(), g.output.1);
    let matrix = ArrayView2::from_shape((g.batch * plane, g.patch()), col).expect("rows");
    write_tensor(&[g.batch, g.channels, g.input.0, g.input.1], |out| {
        out.fill(0.0);
        if g.sample() == 0 {
            return;
        }
        let mut scratch = g.scratch();
        for (n, x) in out.chunks_exact_mut(g.sample()).enumerate() {
            for rows in g.tiles() {
                let width = rows.len() * ow;
                let first = n * plane + rows.start * ow;
                let tile = &mut scratch[..g.patch() * width];
                ArrayViewMut2::from_shape((g.patch(), width), &mut *tile)
                    .expect("a tile")
                    .assign(
                        &matrix
                            .slice_axis(Axis(0), Slice::from(first..first + width))
                            .t(),
                    );
                g.fold(tile, rows, x);
            }
        }
    })
}

/// The 2-D convolution (cross-correlation) of `x` `[N, C, H, W]` with `w`
/// `[OC, C, KH, KW]`, plus a bias `b` `[OC]` if given, by `stride` with
/// `pad` zeros on each side: `[N, OC, OH, OW]` with `OH =
/// conv_output_size(H, KH, SH, PH)` (PyTorch's `F.conv2d`).
///
/// ```
/// use autograd_ops::prelude::*;
/// use ndarray::Array4;
///
/// let x = Variable::new(Array4::<f64>::ones((2, 3, 8, 8)));
/// let w = Variable::new(Array4::<f64>::ones((4, 3, 3, 3)));
/// let b = Variable::new(ndarray::arr1(&[0.0, 1.0, 2.0, 3.0]));
/// let y = conv2d(&x, &w, Some(&b), (1, 1), (1, 1))?;
/// assert_eq!(y.shape(), [2, 4, 8, 8]);
/// assert_eq!(y.data()[[0, 1, 4, 4]], 27.0 + 1.0); // a full 3·3·3 window
/// assert_eq!(y.data()[[0, 0, 0, 0]], 12.0); // a corner: 3·2·2 inside
/// y.sum().backward()?;
/// assert_eq!(b.grad().unwrap()[0], 128.0); // 2·8·8 positions
/// # Ok::<(), autograd_ops::Error>(())
/// ```
///
/// # Errors
/// [`Error::WrongRank`] unless `x` and `w` are 4-D, [`Error::ShapeMismatch`]
/// when their channels differ or `b` is not `[OC]`,
/// [`Error::InvalidArgument`] for a stride or kernel of 0 or a kernel
/// larger than the padded input, [`Error::TooLarge`] when the output or
/// the columns would not fit in memory; each naming `conv2d` and the shapes.
pub fn conv2d<S: Strategy>(
    x: &Variable<S>,
    w: &Variable<S>,
    b: Option<&Variable<S>>,
    stride: Pair,
    pad: Pair,
) -> Result<Variable<S>> {
    let op = Conv2d {
        stride,
        pad,
        bias: b.is_some(),
    };
    match b {
        Some(b) => apply_one(op, &[x, w, b]),
        None => apply_one(op, &[x, w]),
    }
}

/// The transposed convolution of `x` `[N, C_in, H, W]` with `w`
/// `[C_in, C_out, KH, KW]`, plus a bias `b` `[C_out]` if given:
/// `[N, C_out, S·(H − 1) + KH − 2·P, …]`, the adjoint of [`conv2d`] with
/// the same weight, stride and padding (DeZero's `deconv2d`, PyTorch's
/// `F.conv_transpose2d` without output padding; [`ConvTranspose2d`] takes
/// an output size).
///
/// # Errors
/// [`Error::WrongRank`] unless `x` and `w` are 4-D, [`Error::ShapeMismatch`]
/// when `x`'s channels are not `w`'s first axis or `b` is not `[C_out]`,
/// [`Error::InvalidArgument`] for a stride or kernel of 0 or an output that
/// would be empty, [`Error::TooLarge`] for one that would not fit; each
/// naming `conv_transpose2d` and the shapes.
pub fn conv_transpose2d<S: Strategy>(
    x: &Variable<S>,
    w: &Variable<S>,
    b: Option<&Variable<S>>,
    stride: Pair,
    pad: Pair,
) -> Result<Variable<S>> {
    let op = ConvTranspose2d {
        stride,
        pad,
        output_size: None,
        bias: b.is_some(),
    };
    match b {
        Some(b) => apply_one(op, &[x, w, b]),
        None => apply_one(op, &[x, w]),
    }
}

/// The weight gradient of the convolution of `x` `[N, C, H, W]` by a
/// `kernel`, `stride` and `pad`, from its output's gradient `gy`
/// `[N, OC, OH, OW]`: `[OC, C, KH, KW]` (see [`Conv2dGradW`]).
///
/// # Errors
/// [`Error::WrongRank`] unless both are 4-D, [`Error::InvalidArgument`] for
/// sizes that make no convolution, [`Error::ShapeMismatch`] when `gy` is not
/// the shape of the convolution's output (its channels aside); each naming
/// `conv2d_grad_w`.
pub fn conv2d_grad_w<S: Strategy>(
    x: &Variable<S>,
    gy: &Variable<S>,
    kernel: Pair,
    stride: Pair,
    pad: Pair,
) -> Result<Variable<S>> {
    apply_one(
        Conv2dGradW {
            kernel,
            stride,
            pad,
        },
        &[x, gy],
    )
}

/// The patches of `x` `[N, C, H, W]` that a `kernel` reads by `stride` with
/// `pad` zeros on each side, as a matrix `[N·OH·OW, C·KH·KW]` (see
/// [`Im2col`]).
///
/// ```
/// use autograd_ops::prelude::*;
/// use ndarray::Array4;
///
/// let x = Variable::new(Array4::from_shape_fn((1, 1, 3, 3), |(_, _, h, w)| (3 * h + w) as f64));
/// let col = im2col(&x, (2, 2), (1, 1), (0, 0))?;
/// assert_eq!(col.shape(), [4, 4]);
/// let last: Vec<f64> = col.data().index_axis(ndarray::Axis(0), 3).iter().copied().collect();
/// assert_eq!(last, [4.0, 5.0, 7.0, 8.0]); // the window at (1, 1)
/// # Ok::<(), autograd_ops::Error>(())
/// ```
///
/// # Errors
/// [`Error::WrongRank`] unless `x` is 4-D, [`Error::InvalidArgument`] for a
/// stride or kernel of 0 or a kernel larger than the padded input,
/// [`Error::TooLarge`] when the matrix would not fit in memory; each naming
/// `im2col`.
pub fn im2col<S: Strategy>(
    x: &Variable<S>,
    kernel: Pair,
    stride: Pair,
    pad: Pair,
) -> Result<Variable<S>> {
    apply_one(
        Im2col {
            kernel,
            stride,
            pad,
        },
        &[x],
    )
}

/// The patches `col` `[N·OH·OW, C·KH·KW]` added back into an array of
/// `input_shape` `[N, C, H, W]` (see [`Col2im`]): the adjoint of
/// [`im2col`].
///
/// # Errors
/// [`Error::WrongRank`] unless `input_shape` has four axes,
/// [`Error::InvalidArgument`] for sizes that make no convolution,
/// [`Error::InvalidTarget`] when `col` is not the shape `im2col` gives for
/// `input_shape`; each naming `col2im`.
pub fn col2im<S: Strategy>(
    col: &Variable<S>,
    input_shape: &[usize],
    kernel: Pair,
    stride: Pair,
    pad: Pair,
) -> Result<Variable<S>> {
    let input_shape = four_d("col2im", input_shape)?;
    apply_one(
        Col2im {
            input_shape,
            kernel,
            stride,
            pad,
        },
        &[col],
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{check_both_orders, check_first_order, positive};
    use crate::{VariableOps, square, sum};
    use autograd_core::RcWeak;
    use ndarray::{Array4, ArrayD, Ix4, IxDyn};

    type V = Variable<RcWeak>;

    /// The strides and paddings the checks run over (non-square ones too).
    const STRIDES_AND_PADS: [(Pair, Pair); 5] = [
        ((1, 1), (0, 0)),
        ((1, 1), (1, 1)),
        ((2, 2), (0, 0)),
        ((2, 1), (1, 0)),
        ((2, 2), (1, 1)),
    ];

    fn four(a: &ArrayD<f64>) -> ndarray::ArrayView4<'_, f64> {
        a.view().into_dimensionality::<Ix4>().unwrap()
    }

    /// `x[n, c, h, w]` at a padded position, 0 outside.
    fn at(x: &ndarray::ArrayView4<'_, f64>, n: usize, c: usize, h: isize, w: isize) -> f64 {
        let (hh, ww) = (x.shape()[2] as isize, x.shape()[3] as isize);
        if h < 0 || w < 0 || h >= hh || w >= ww {
            0.0
        } else {
            x[[n, c, h as usize, w as usize]]
        }
    }

    /// The convolution as its definition, loop by loop.
    fn naive_conv(
        x: &ArrayD<f64>,
        w: &ArrayD<f64>,
        b: Option<&[f64]>,
        stride: Pair,
        pad: Pair,
    ) -> ArrayD<f64> {
        let (x, w) = (four(x), four(w));
        let [n, c, h, wd] = four_d("test", x.shape()).unwrap();
        let [oc, _, kh, kw] = four_d("test", w.shape()).unwrap();
        let oh = conv_output_size(h, kh, stride.0, pad.0).unwrap();
        let ow = conv_output_size(wd, kw, stride.1, pad.1).unwrap();
        Array4::from_shape_fn((n, oc, oh, ow), |(n, o, p, q)| {
            let mut sum = b.map_or(0.0, |b| b[o]);
            for ci in 0..c {
                for i in 0..kh {
                    for j in 0..kw {
                        let h = (p * stride.0 + i) as isize - pad.0 as isize;
                        let ww = (q * stride.1 + j) as isize - pad.1 as isize;
                        sum += at(&x, n, ci, h, ww) * w[[o, ci, i, j]];
                    }
                }
            }
            sum
        })
        .into_dyn()
    }

    /// The transposed convolution as its definition: each input element
    /// scattered through the kernel.
    fn naive_conv_transpose(
        x: &ArrayD<f64>,
        w: &ArrayD<f64>,
        stride: Pair,
        pad: Pair,
    ) -> ArrayD<f64> {
        let (x, w) = (four(x), four(w));
        let [n, _, h, wd] = four_d("test", x.shape()).unwrap();
        let [_, co, kh, kw] = four_d("test", w.shape()).unwrap();
        let oh = stride.0 * (h - 1) + kh - 2 * pad.0;
        let ow = stride.1 * (wd - 1) + kw - 2 * pad.1;
        let mut y = Array4::<f64>::zeros((n, co, oh, ow));
        for ((n, i, p, q), &v) in x.indexed_iter() {
            for o in 0..co {
                for a in 0..kh {
                    for b in 0..kw {
                        let r = (p * stride.0 + a) as isize - pad.0 as isize;
                        let s = (q * stride.1 + b) as isize - pad.1 as isize;
                        if r >= 0 && s >= 0 && (r as usize) < oh && (s as usize) < ow {
                            y[[n, o, r as usize, s as usize]] += v * w[[i, o, a, b]];
                        }
                    }
                }
            }
        }
        y.into_dyn()
    }

    fn assert_close(a: &ArrayD<f64>, b: &ArrayD<f64>) {
        assert_eq!(a.shape(), b.shape());
        for (x, y) in a.iter().zip(b) {
            assert!(
                (x - y).abs() <= 1e-12 * x.abs().max(y.abs()).max(1.0),
                "{x} vs {y}"
            );
        }
    }

    #[test]
    fn conv2d_is_the_loops_of_its_definition() {
        for (stride, pad) in STRIDES_AND_PADS {
            let (x, w, b) = (
                positive(&[2, 3, 7, 6], 1),
                positive(&[4, 3, 3, 2], 2),
                positive(&[4], 3),
            );
            let y = conv2d(
                &V::from_array(x.clone()),
                &V::from_array(w.clone()),
                Some(&V::from_array(b.clone())),
                stride,
                pad,
            )
            .unwrap();
            let expected = naive_conv(&x, &w, Some(b.as_slice().unwrap()), stride, pad);
            assert_close(&y.data().to_owned(), &expected);
        }
    }

    /// More output rows than one tile holds, so that the tiles' seams are
    /// crossed: 64 channels of a 3×3 kernel, 100 wide, make 57,600 column
    /// elements a row (above 32,768).
    #[test]
    fn tiles_join_without_seams() {
        let (x, w) = (positive(&[1, 64, 9, 100], 4), positive(&[2, 64, 3, 3], 5));
        let y = conv2d(
            &V::from_array(x.clone()),
            &V::from_array(w.clone()),
            None,
            (1, 1),
            (1, 1),
        )
        .unwrap();
        assert_close(
            &y.data().to_owned(),
            &naive_conv(&x, &w, None, (1, 1), (1, 1)),
        );
        let g = Geometry::new("test", &[1, 64, 9, 100], (3, 3), (1, 1), (1, 1), &"").unwrap();
        assert!(g.tiles().count() > 1);
    }

    #[test]
    fn conv_transpose2d_is_the_loops_of_its_definition() {
        for (stride, pad) in STRIDES_AND_PADS {
            let (x, w) = (positive(&[2, 4, 4, 3], 6), positive(&[4, 3, 3, 2], 7));
            let y = conv_transpose2d(
                &V::from_array(x.clone()),
                &V::from_array(w.clone()),
                None,
                stride,
                pad,
            )
            .unwrap();
            assert_close(
                &y.data().to_owned(),
                &naive_conv_transpose(&x, &w, stride, pad),
            );
        }
    }

    /// ⟨conv2d(x, w), y⟩ = ⟨x, conv_transpose2d(y, w)⟩, and the weight
    /// gradient is ⟨conv2d(x, w), y⟩'s gradient in `w`, element by element.
    #[test]
    fn conv_transpose2d_and_the_weight_gradient_are_conv2ds_adjoints() {
        for (stride, pad) in STRIDES_AND_PADS {
            let (x, w) = (positive(&[2, 3, 7, 6], 8), positive(&[4, 3, 3, 2], 9));
            let cx = conv2d(
                &V::from_array(x.clone()),
                &V::from_array(w.clone()),
                None,
                stride,
                pad,
            )
            .unwrap();
            let y = positive(&cx.shape(), 10);
            let op = ConvTranspose2d {
                stride,
                pad,
                output_size: Some((7, 6)),
                bias: false,
            };
            let ty =
                apply_one(op, &[&V::from_array(y.clone()), &V::from_array(w.clone())]).unwrap();
            let lhs = (cx.data().to_owned() * &y).sum();
            let rhs = (ty.data().to_owned() * &x).sum();
            assert!((lhs - rhs).abs() < 1e-12 * lhs.abs(), "{lhs} vs {rhs}");
            let gw = conv2d_grad_w(
                &V::from_array(x.clone()),
                &V::from_array(y.clone()),
                (3, 2),
                stride,
                pad,
            )
            .unwrap();
            let mut expected = ArrayD::zeros(IxDyn(&[4, 3, 3, 2]));
            for (index, e) in expected.indexed_iter_mut() {
                let mut unit = ArrayD::zeros(IxDyn(&[4, 3, 3, 2]));
                unit[index] = 1.0;
                *e = (naive_conv(&x, &unit, None, stride, pad) * &y).sum();
            }
            assert_close(&gw.data().to_owned(), &expected);
        }
    }

    #[test]
    fn im2col_is_dezeros_matrix_and_col2im_its_adjoint() {
        let x = positive(&[2, 3, 5, 4], 11);
        for (stride, pad) in STRIDES_AND_PADS {
            let kernel = (3, 2);
            let col = im2col(&V::from_array(x.clone()), kernel, stride, pad)
                .unwrap()
                .data()
                .to_owned();
            let xv = four(&x);
            let oh = conv_output_size(5, 3, stride.0, pad.0).unwrap();
            let ow = conv_output_size(4, 2, stride.1, pad.1).unwrap();
            assert_eq!(col.shape(), [2 * oh * ow, 3 * 3 * 2]);
            // Row (n, p, q), column (c, i, j), as DeZero's to_matrix.
            for ((row, column), &v) in col
                .view()
                .into_dimensionality::<ndarray::Ix2>()
                .unwrap()
                .indexed_iter()
            {
                let (n, p, q) = (row / (oh * ow), row / ow % oh, row % ow);
                let (c, i, j) = (column / 6, column / 2 % 3, column % 2);
                let h = (p * stride.0 + i) as isize - pad.0 as isize;
                let w = (q * stride.1 + j) as isize - pad.1 as isize;
                assert_eq!(v, at(&xv, n, c, h, w));
            }
            let c = positive(col.shape(), 12);
            let back = col2im(
                &V::from_array(c.clone()),
                &[2, 3, 5, 4],
                kernel,
                stride,
                pad,
            )
            .unwrap();
            let lhs = (&col * &c).sum();
            let rhs = (back.data().to_owned() * &x).sum();
            assert!((lhs - rhs).abs() < 1e-12 * lhs.abs(), "{lhs} vs {rhs}");
        }
    }

    #[test]
    fn a_convolution_is_im2col_times_the_weight() {
        let (x, w) = (
            V::from_array(positive(&[2, 3, 6, 5], 13)),
            V::from_array(positive(&[4, 3, 3, 3], 14)),
        );
        let y = conv2d(&x, &w, None, (2, 1), (1, 1)).unwrap();
        let col = x.im2col((3, 3), (2, 1), (1, 1));
        let t = col.matmul(&w.reshape(&[4, 27]).transpose()); // [N·OH·OW, OC]
        let [n, oc, oh, ow] = four_d("test", &y.shape()).unwrap();
        let t = t
            .data()
            .to_owned()
            .into_shape_with_order((n, oh, ow, oc))
            .unwrap();
        let t = t.permuted_axes([0, 3, 1, 2]).into_dyn();
        assert_close(&y.data().to_owned(), &t);
    }

    #[test]
    fn the_fused_backwards_agree_with_the_one_derivative() {
        use autograd_core::testing::assert_fused_agrees_with_derivative as agrees;
        for (stride, pad) in STRIDES_AND_PADS {
            let y = conv2d(
                &V::from_array(positive(&[2, 2, 5, 4], 1)),
                &V::from_array(positive(&[3, 2, 3, 2], 2)),
                None,
                stride,
                pad,
            )
            .unwrap()
            .shape();
            agrees(
                |v| conv2d(&v[0], &v[1], Some(&v[2]), stride, pad),
                &[&[2, 2, 5, 4], &[3, 2, 3, 2], &[3]],
            );
            agrees(
                |v| conv2d(&v[0], &v[1], None, stride, pad),
                &[&[2, 2, 5, 4], &[3, 2, 3, 2]],
            );
            agrees(
                |v| conv_transpose2d(&v[0], &v[1], Some(&v[2]), stride, pad),
                &[&y, &[3, 2, 3, 2], &[2]],
            );
            agrees(
                |v| conv_transpose2d(&v[0], &v[1], None, stride, pad),
                &[&y, &[3, 2, 3, 2]],
            );
        }
    }

    #[test]
    fn first_and_second_order_gradcheck() {
        let (x, w, b) = (
            positive(&[2, 2, 5, 4], 1),
            positive(&[3, 2, 3, 2], 2),
            positive(&[3], 3),
        );
        for (stride, pad) in STRIDES_AND_PADS {
            check_both_orders(
                |v| conv2d(&v[0], &v[1], Some(&v[2]), stride, pad),
                &[x.clone(), w.clone(), b.clone()],
            );
            let y = conv2d(
                &V::from_array(x.clone()),
                &V::from_array(w.clone()),
                None,
                stride,
                pad,
            )
            .unwrap();
            let gy = positive(&y.shape(), 4);
            // Back from y's shape to x's: the bias has x's channels.
            check_both_orders(
                |v| conv_transpose2d(&v[0], &v[1], Some(&v[2]), stride, pad),
                &[gy.clone(), w.clone(), positive(&[2], 6)],
            );
            check_both_orders(
                |v| conv2d_grad_w(&v[0], &v[1], (3, 2), stride, pad),
                &[x.clone(), gy],
            );
            // Linear: squared, so that the second derivative is not zero.
            check_both_orders(
                |v| square(&im2col(&v[0], (3, 2), stride, pad)?),
                std::slice::from_ref(&x),
            );
            let col = im2col(&V::from_array(x.clone()), (3, 2), stride, pad).unwrap();
            check_both_orders(
                |v| square(&col2im(&v[0], &[2, 2, 5, 4], (3, 2), stride, pad)?),
                &[positive(&col.shape(), 5)],
            );
        }
    }

    /// The input gradient of a strided convolution whose last rows or
    /// columns no window reaches: zeros there, and the input's shape.
    #[test]
    fn what_no_window_reads_gets_a_zero_gradient() {
        let x = V::from_array(positive(&[1, 1, 6, 6], 1));
        let w = V::from_array(positive(&[1, 1, 3, 3], 2));
        let y = conv2d(&x, &w, None, (2, 2), (0, 0)).unwrap(); // rows 0..5 read
        assert_eq!(y.shape(), [1, 1, 2, 2]);
        sum(&y).unwrap().backward().unwrap();
        let g = x.grad().unwrap();
        assert_eq!(g.shape(), [1, 1, 6, 6]);
        assert!(g.index_axis(Axis(2), 5).iter().all(|&v| v == 0.0));
        assert!(g.index_axis(Axis(3), 5).iter().all(|&v| v == 0.0));
        assert!(g[[0, 0, 4, 4]] > 0.0);
    }

    #[test]
    fn empty_batches_and_channels_give_empty_or_bias_outputs() {
        let y = conv2d(
            &V::from_array(ArrayD::zeros(IxDyn(&[0, 2, 4, 4]))),
            &V::from_array(positive(&[3, 2, 3, 3], 1)),
            None,
            (1, 1),
            (0, 0),
        )
        .unwrap();
        assert_eq!(y.shape(), [0, 3, 2, 2]);
        let b = V::from_array(positive(&[3], 2));
        let y = conv2d(
            &V::from_array(ArrayD::zeros(IxDyn(&[1, 0, 4, 4]))),
            &V::from_array(ArrayD::zeros(IxDyn(&[3, 0, 3, 3]))),
            Some(&b),
            (1, 1),
            (0, 0),
        )
        .unwrap();
        assert_eq!(y.data()[[0, 2, 1, 1]], b.data()[2]);
    }

    fn invalid(err: &Error, op: &str, words: &[&str]) -> bool {
        match err {
            Error::InvalidArgument { op: o, message } => {
                *o == op && words.iter().all(|w| message.contains(w))
            }
            _ => false,
        }
    }

    #[test]
    fn bad_input_is_an_error_naming_the_op_and_the_shapes() {
        let x = V::from_array(ArrayD::zeros(IxDyn(&[1, 2, 4, 4])));
        let w = V::from_array(ArrayD::zeros(IxDyn(&[3, 2, 3, 3])));
        let conv =
            |x: &V, w: &V, b: Option<&V>, s: Pair, p: Pair| conv2d(x, w, b, s, p).unwrap_err();
        // Channels.
        let w3 = V::from_array(ArrayD::zeros(IxDyn(&[3, 1, 3, 3])));
        assert_eq!(
            conv(&x, &w3, None, (1, 1), (0, 0)),
            Error::ShapeMismatch {
                op: "conv2d",
                lhs: vec![1, 2, 4, 4],
                rhs: vec![3, 1, 3, 3]
            }
        );
        // Not 4-D.
        let flat = V::from_array(ArrayD::zeros(IxDyn(&[2, 4, 4])));
        assert_eq!(
            conv(&flat, &w, None, (1, 1), (0, 0)),
            Error::WrongRank {
                op: "conv2d",
                expected: 4,
                shape: vec![2, 4, 4]
            }
        );
        assert_eq!(
            conv(&x, &flat, None, (1, 1), (0, 0)),
            Error::WrongRank {
                op: "conv2d",
                expected: 4,
                shape: vec![2, 4, 4]
            }
        );
        // The kernel larger than the padded input; stride 0.
        let big = V::from_array(ArrayD::zeros(IxDyn(&[3, 2, 7, 3])));
        let err = conv(&x, &big, None, (1, 1), (1, 1));
        assert!(
            invalid(&err, "conv2d", &["larger", "[1, 2, 4, 4]", "[3, 2, 7, 3]"]),
            "{err}"
        );
        assert!(
            conv2d(&x, &big, None, (1, 1), (2, 0)).is_ok(),
            "4 + 2·2 ≥ 7"
        );
        let err = conv(&x, &w, None, (0, 1), (0, 0));
        assert!(invalid(&err, "conv2d", &["stride", "(0, 1)"]), "{err}");
        // A bias of the wrong length.
        let b = V::from_array(ArrayD::zeros(IxDyn(&[2])));
        assert_eq!(
            conv(&x, &w, Some(&b), (1, 1), (0, 0)),
            Error::ShapeMismatch {
                op: "conv2d",
                lhs: vec![3, 2, 3, 3],
                rhs: vec![2]
            }
        );
        // Sizes that overflow.
        let err = conv(&x, &w, None, (1, 1), (usize::MAX / 2, 0));
        assert!(invalid(&err, "conv2d", &["overflows"]), "{err}");
        let err = conv(&x, &w, None, (1, 1), (1 << 40, 1 << 40));
        assert!(matches!(err, Error::TooLarge { op: "conv2d", .. }), "{err}");
        // Sizes from a user that make planes too large to hold, where the
        // empty batch makes the whole arrays fit: errors, not overflows.
        let empty = V::from_array(ArrayD::zeros(IxDyn(&[0, 1, 4, 4])));
        let w1 = V::from_array(ArrayD::zeros(IxDyn(&[2, 1, 1, 1])));
        let err = conv(&empty, &w1, None, (1, 1), (1 << 40, 1 << 40));
        assert!(matches!(err, Error::TooLarge { op: "conv2d", .. }), "{err}");
        let none = V::from_array(ArrayD::zeros(IxDyn(&[0, 1])));
        let err = col2im(&none, &[0, 1, 1 << 40, 1 << 40], (1, 1), (1, 1), (0, 0)).unwrap_err();
        assert!(matches!(err, Error::TooLarge { op: "col2im", .. }), "{err}");
        assert!(invalid(
            &conv_output_size(3, 0, 1, 0).unwrap_err(),
            "conv_output_size",
            &["kernel"]
        ));
        assert!(invalid(
            &conv_output_size(3, 1, 1, usize::MAX).unwrap_err(),
            "conv_output_size",
            &["overflows"]
        ));

        // The transposed convolution.
        let y = V::from_array(ArrayD::zeros(IxDyn(&[1, 3, 2, 2])));
        assert_eq!(
            conv_transpose2d(&x, &w, None, (1, 1), (0, 0)).unwrap_err(),
            Error::ShapeMismatch {
                op: "conv_transpose2d",
                lhs: vec![1, 2, 4, 4],
                rhs: vec![3, 2, 3, 3]
            }
        );
        let err = conv_transpose2d(&y, &w, None, (1, 1), (3, 3)).unwrap_err(); // 1 + 3 − 6 < 1
        assert!(
            invalid(&err, "conv_transpose2d", &["empty", "[1, 3, 2, 2]"]),
            "{err}"
        );
        let err = conv_transpose2d(&y, &w, None, (usize::MAX, 1), (0, 0)).unwrap_err();
        assert!(invalid(&err, "conv_transpose2d", &["overflows"]), "{err}");
        let err = conv_transpose2d(&y, &w, None, (1 << 40, 1 << 40), (0, 0)).unwrap_err();
        assert!(
            matches!(
                err,
                Error::TooLarge {
                    op: "conv_transpose2d",
                    ..
                }
            ),
            "{err}"
        );
        let err = conv_transpose2d(&y, &w, None, (0, 1), (0, 0)).unwrap_err();
        assert!(invalid(&err, "conv_transpose2d", &["stride"]), "{err}");
        let b = V::from_array(ArrayD::zeros(IxDyn(&[3])));
        assert_eq!(
            conv_transpose2d(&y, &w, Some(&b), (1, 1), (0, 0)).unwrap_err(),
            Error::ShapeMismatch {
                op: "conv_transpose2d",
                lhs: vec![3, 2, 3, 3],
                rhs: vec![3]
            }
        );
        let sized = |size| {
            apply_one(
                ConvTranspose2d {
                    stride: (2, 2),
                    pad: (0, 0),
                    output_size: Some(size),
                    bias: false,
                },
                &[&y, &w],
            )
        };
        assert_eq!(sized((5, 5)).unwrap().shape(), [1, 2, 5, 5]);
        assert_eq!(sized((6, 6)).unwrap().shape(), [1, 2, 6, 6]);
        let err = sized((7, 6)).unwrap_err();
        assert!(invalid(&err, "conv_transpose2d", &["(3, 2)"]), "{err}");

        // The weight gradient: gy that is not the output's shape.
        let gy = V::from_array(ArrayD::zeros(IxDyn(&[1, 3, 3, 2])));
        assert_eq!(
            conv2d_grad_w(&x, &gy, (3, 3), (1, 1), (0, 0)).unwrap_err(),
            Error::ShapeMismatch {
                op: "conv2d_grad_w",
                lhs: vec![1, 2, 4, 4],
                rhs: vec![1, 3, 3, 2]
            }
        );
        assert!(invalid(
            &conv2d_grad_w(&x, &gy, (5, 3), (1, 1), (0, 0)).unwrap_err(),
            "conv2d_grad_w",
            &["larger"]
        ));

        // im2col and col2im.
        assert!(invalid(
            &x.try_im2col((5, 1), (1, 1), (0, 0)).unwrap_err(),
            "im2col",
            &["larger", "(5, 1)"]
        ));
        assert_eq!(
            flat.try_im2col((1, 1), (1, 1), (0, 0)).unwrap_err(),
            Error::WrongRank {
                op: "im2col",
                expected: 4,
                shape: vec![2, 4, 4]
            }
        );
        let col = V::from_array(ArrayD::zeros(IxDyn(&[4, 18])));
        assert_eq!(
            col2im(&col, &[1, 2, 4, 4], (3, 3), (1, 1), (0, 0))
                .unwrap()
                .shape(),
            [1, 2, 4, 4]
        );
        assert_eq!(
            col2im(&col, &[1, 2, 4, 5], (3, 3), (1, 1), (0, 0)).unwrap_err(),
            Error::InvalidTarget {
                op: "col2im",
                from: vec![4, 18],
                to: vec![1, 2, 4, 5]
            }
        );
        assert_eq!(
            col2im(&col, &[2, 4, 4], (3, 3), (1, 1), (0, 0)).unwrap_err(),
            Error::WrongRank {
                op: "col2im",
                expected: 4,
                shape: vec![2, 4, 4]
            }
        );
    }

    fn gradcheck_under<S: Strategy>() {
        let (stride, pad) = ((2, 1), (1, 0));
        let (x, w, b) = (
            positive(&[1, 2, 4, 3], 1),
            positive(&[2, 2, 2, 2], 2),
            positive(&[2], 3),
        );
        check_first_order::<S>(
            |v| conv2d(&v[0], &v[1], Some(&v[2]), stride, pad),
            &[x.clone(), w.clone(), b.clone()],
        );
        let gy = positive(&[1, 2, 3, 2], 4);
        check_first_order::<S>(
            |v| conv_transpose2d(&v[0], &v[1], Some(&v[2]), stride, pad),
            &[gy.clone(), w, b],
        );
        check_first_order::<S>(
            |v| conv2d_grad_w(&v[0], &v[1], (2, 2), stride, pad),
            &[x.clone(), gy],
        );
        check_first_order::<S>(
            |v| square(&im2col(&v[0], (2, 2), stride, pad)?),
            std::slice::from_ref(&x),
        );
        check_first_order::<S>(
            |v| square(&col2im(&v[0], &[1, 2, 4, 3], (2, 2), stride, pad)?),
            &[positive(&[6, 8], 5)],
        );
    }

    autograd_mem::test_each_strategy! {
        gradcheck_under_every_strategy => gradcheck_under;
    }
}
