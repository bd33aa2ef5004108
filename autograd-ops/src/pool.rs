//! Pooling: [`MaxPool2d`], whose backward is [`ScatterAdd2d`] by the
//! indices of the maxima and whose second backward is [`Gather2d`] by the
//! same indices; [`AvgPool2d`], whose backward [`AvgPool2dBackward`] is
//! linear with `avg_pool2d` as its own; their free functions and tests.
//!
//! PyTorch's conventions: `[N, C, H, W]`, `(height, width)` pairs, output
//! sizes rounded down, padding at most half the kernel; max pooling counts
//! padding as −∞ and gives the gradient to the first maximum of a window in
//! row-major order; average pooling counts the padded zeros in the mean
//! (`count_include_pad=True`), so that every window divides by `KH·KW`.

use autograd_core::shape::element_count;
use autograd_core::{
    Error, Function, Grads, Result, Save, Saved, Strategy, Tensor, Tensors, Variable, apply_one,
};

use crate::conv::{Geometry, elements, four_d, geometry_error, write_tensor};

/// A (height, width) pair: a kernel's size, a stride or a padding.
type Pair = (usize, usize);

/// A pooling window's geometry, checked as PyTorch's: a convolution's,
/// planes that are not empty, and padding at most half the kernel (so that
/// every window holds at least one input element: a maximum's position).
fn pool_geometry(
    op: &'static str,
    x: &[usize],
    kernel: Pair,
    stride: Pair,
    pad: Pair,
) -> Result<Geometry> {
    let g = Geometry::new(op, x, kernel, stride, pad, &kernel)?;
    if g.input_plane() == 0 {
        let why = "the input's planes are empty";
        return Err(geometry_error(op, why, x, &kernel, stride, pad));
    }
    if 2 * pad.0 > kernel.0 || 2 * pad.1 > kernel.1 {
        let why = "the padding must be at most half the kernel";
        return Err(geometry_error(op, why, x, &kernel, stride, pad));
    }
    Ok(g)
}

/// The input rows (or columns) that window `o` covers, the padding left
/// out: `o·S − P .. o·S − P + K` within `0..len`.
fn window(
    o: usize,
    stride: usize,
    pad: usize,
    kernel: usize,
    len: usize,
) -> std::ops::Range<usize> {
    let start = o * stride;
    start.max(pad) - pad..(start + kernel).min(len + pad) - pad
}

/// Each window's maximum's position `h·W + w` in its plane (as an `f64`,
/// PyTorch's `return_indices`): the first maximum in row-major order, the
/// last NaN if there is one (NaN propagates, as PyTorch's).
fn argmax_windows(g: &Geometry, x: &[f64]) -> Tensor {
    let (h, w) = g.input;
    let ((kh, kw), (sh, sw), (ph, pw), (oh, ow)) = (g.kernel, g.stride, g.pad, g.output);
    let shape = [g.batch, g.channels, oh, ow];
    write_tensor(&shape, |out| {
        for (plane, out) in out.chunks_exact_mut(oh * ow).enumerate() {
            let x = &x[plane * h * w..(plane + 1) * h * w];
            for p in 0..oh {
                let rows = window(p, sh, ph, kh, h);
                for q in 0..ow {
                    let cols = window(q, sw, pw, kw, w);
                    let (mut best, mut at) = (f64::NEG_INFINITY, rows.start * w + cols.start);
                    for r in rows.clone() {
                        for (c, &v) in x[r * w..(r + 1) * w]
                            .iter()
                            .enumerate()
                            .take(cols.end)
                            .skip(cols.start)
                        {
                            if v > best || v.is_nan() {
                                (best, at) = (v, r * w + c);
                            }
                        }
                    }
                    out[p * ow + q] = at as f64;
                }
            }
        }
    })
}

/// Indices checked to be positions in a plane of `size` (whole numbers in
/// `0..H·W`).
fn check_indices(op: &'static str, indices: &[f64], size: Pair) -> Result<()> {
    let len = size.0 * size.1;
    match indices
        .iter()
        .position(|&i| !(i >= 0.0 && i < len as f64 && i.fract() == 0.0))
    {
        Some(at) => Err(Error::InvalidArgument {
            op,
            message: format!(
                "index {} (element {at}) is not a position in a plane of {size:?}",
                indices[at]
            ),
        }),
        None => Ok(()),
    }
}

/// `out[plane, j] = x[plane, indices[plane, j]]` into `shape` (the
/// indices'), planes of `plane` elements in `x` and of `picked` in `out`.
fn gather(x: &[f64], indices: &[f64], shape: &[usize], plane: usize, picked: usize) -> Tensor {
    write_tensor(shape, |out| {
        if picked == 0 {
            return;
        }
        for (n, (out, indices)) in out
            .chunks_exact_mut(picked)
            .zip(indices.chunks_exact(picked))
            .enumerate()
        {
            let x = &x[n * plane..(n + 1) * plane];
            for (o, &i) in out.iter_mut().zip(indices) {
                *o = x[i as usize];
            }
        }
    })
}

/// `out[plane, indices[plane, j]] += x[plane, j]` into zeros of `shape`,
/// whose last two axes make a plane of `plane` elements.
fn scatter_add(x: &[f64], indices: &[f64], shape: &[usize], plane: usize, picked: usize) -> Tensor {
    write_tensor(shape, |out| {
        out.fill(0.0);
        if picked == 0 || plane == 0 {
            return;
        }
        for (out, (x, indices)) in out
            .chunks_exact_mut(plane)
            .zip(x.chunks_exact(picked).zip(indices.chunks_exact(picked)))
        {
            for (&v, &i) in x.iter().zip(indices) {
                out[i as usize] += v;
            }
        }
    })
}

/// Max pooling: the largest element of each `kernel` window of `x`
/// `[N, C, H, W]`, by `stride`, the `pad`ding counting as −∞:
/// `[N, C, OH, OW]`. Forward finds each window's first maximum (in
/// row-major order) and saves its position, not the input, with
/// [`Save::tensor`]; the gradient is [`ScatterAdd2d`] of `gy` to those
/// positions.
#[derive(Debug, Clone)]
pub struct MaxPool2d {
    /// The window's (height, width).
    pub kernel: Pair,
    /// The steps between windows.
    pub stride: Pair,
    /// The padding on each side, at most half the kernel.
    pub pad: Pair,
    /// The positions forward found, until `save` hands them to the engine.
    indices: Option<Tensor>,
}

impl MaxPool2d {
    /// The op for windows of `kernel` by `stride` with `pad`.
    pub fn new(kernel: Pair, stride: Pair, pad: Pair) -> Self {
        MaxPool2d {
            kernel,
            stride,
            pad,
            indices: None,
        }
    }
}

impl<S: Strategy> Function<S> for MaxPool2d {
    fn name(&self) -> &'static str {
        "max_pool2d"
    }

    fn num_inputs(&self) -> usize {
        1
    }

    fn forward(&mut self, xs: &[Tensor]) -> Result<Tensors> {
        let g = pool_geometry(
            "max_pool2d",
            xs[0].shape(),
            self.kernel,
            self.stride,
            self.pad,
        )?;
        let indices = argmax_windows(&g, elements(&xs[0]));
        let (x, at) = (elements(&xs[0]), elements(&indices));
        let y = gather(x, at, indices.shape(), g.input_plane(), g.output_plane());
        self.indices = Some(indices);
        Ok(y.into())
    }

    /// The maxima's positions, not the input.
    fn save(&mut self, save: &mut Save<'_>) {
        if let Some(indices) = self.indices.take() {
            save.tensor(indices);
        }
    }

    fn derivative(&self, cx: &Saved<'_, S>, gys: &[Variable<S>]) -> Result<Grads<S>> {
        let x = cx.input_shape(0);
        Ok(vec![cx.grad(0, || {
            scatter_add2d(&gys[0], &cx.tensor(0)?, (x[2], x[3]))
        })?])
    }
}

/// The zero gradient of indices (they are piecewise constant), for an
/// index input that needs one.
fn index_gradient<S: Strategy>(cx: &Saved<'_, S>) -> Result<Option<Variable<S>>> {
    cx.grad(1, || Ok(cx.constant(Tensor::zeros(cx.input_shape(1)))))
}

/// Inputs `x` and `indices` of one `[N, C, …]` shape to planes, checked.
fn same_planes(op: &'static str, x: &[usize], indices: &[usize]) -> Result<()> {
    let [n, c, ..] = four_d(op, x)?;
    let [m, d, ..] = four_d(op, indices)?;
    // The planes, which an empty batch lets be of any size.
    element_count(op, &x[2..])?;
    element_count(op, &indices[2..])?;
    if (n, c) != (m, d) {
        return Err(Error::ShapeMismatch {
            op,
            lhs: x.to_vec(),
            rhs: indices.to_vec(),
        });
    }
    Ok(())
}

/// Zeros `[N, C, H, W]`, and each element of `x` `[N, C, OH, OW]` added at
/// the position `h·W + w` that `indices` (of `x`'s shape) gives in its
/// plane: max pooling's backward. Linear in `x`; its gradient is
/// [`Gather2d`] by the same indices. The indices are a constant input:
/// their gradient is zero.
#[derive(Debug, Clone, Copy)]
pub struct ScatterAdd2d {
    /// The output planes' (height, width).
    pub size: Pair,
}

impl<S: Strategy> Function<S> for ScatterAdd2d {
    fn name(&self) -> &'static str {
        "scatter_add2d"
    }

    fn num_inputs(&self) -> usize {
        2
    }

    fn forward(&mut self, xs: &[Tensor]) -> Result<Tensors> {
        const OP: &str = "scatter_add2d";
        let (x, indices) = (&xs[0], &xs[1]);
        same_planes(OP, x.shape(), indices.shape())?;
        if x.shape() != indices.shape() {
            return Err(Error::ShapeMismatch {
                op: OP,
                lhs: x.shape().to_vec(),
                rhs: indices.shape().to_vec(),
            });
        }
        let shape = [x.shape()[0], x.shape()[1], self.size.0, self.size.1];
        element_count(OP, &shape)?;
        element_count(OP, &shape[2..])?;
        check_indices(OP, elements(indices), self.size)?;
        let (plane, picked) = (self.size.0 * self.size.1, x.shape()[2] * x.shape()[3]);
        Ok(scatter_add(elements(x), elements(indices), &shape, plane, picked).into())
    }

    /// The indices, for `x`'s gradient.
    fn save(&mut self, save: &mut Save<'_>) {
        if save.needs_grad(0) {
            save.input(1);
        }
    }

    fn derivative(&self, cx: &Saved<'_, S>, gys: &[Variable<S>]) -> Result<Grads<S>> {
        Ok(vec![
            cx.grad(0, || gather2d(&gys[0], &cx.input(1)?))?,
            index_gradient(cx)?,
        ])
    }
}

/// `y[n, c, j] = x[n, c, indices[n, c, j]]`: for `x` `[N, C, H, W]` and
/// `indices` `[N, C, OH, OW]` holding positions `h·W + w` in a plane, the
/// elements they point at, `[N, C, OH, OW]` (max pooling's second
/// backward). Linear in `x`; its gradient is [`ScatterAdd2d`] by the same
/// indices. The indices are a constant input: their gradient is zero.
#[derive(Debug, Clone, Copy, Default)]
pub struct Gather2d;

impl<S: Strategy> Function<S> for Gather2d {
    fn name(&self) -> &'static str {
        "gather2d"
    }

    fn num_inputs(&self) -> usize {
        2
    }

    fn forward(&mut self, xs: &[Tensor]) -> Result<Tensors> {
        const OP: &str = "gather2d";
        let (x, indices) = (&xs[0], &xs[1]);
        same_planes(OP, x.shape(), indices.shape())?;
        let size = (x.shape()[2], x.shape()[3]);
        check_indices(OP, elements(indices), size)?;
        let picked = indices.shape()[2] * indices.shape()[3];
        let y = gather(
            elements(x),
            elements(indices),
            indices.shape(),
            size.0 * size.1,
            picked,
        );
        Ok(y.into())
    }

    /// The indices, for `x`'s gradient.
    fn save(&mut self, save: &mut Save<'_>) {
        if save.needs_grad(0) {
            save.input(1);
        }
    }

    fn derivative(&self, cx: &Saved<'_, S>, gys: &[Variable<S>]) -> Result<Grads<S>> {
        let x = cx.input_shape(0);
        Ok(vec![
            cx.grad(0, || scatter_add2d(&gys[0], &cx.input(1)?, (x[2], x[3])))?,
            index_gradient(cx)?,
        ])
    }
}

/// Average pooling: the mean of each `kernel` window of `x` `[N, C, H, W]`,
/// by `stride`, padded zeros counted (`KH·KW` in every mean):
/// `[N, C, OH, OW]`. Linear, and saves nothing: its gradient is
/// [`AvgPool2dBackward`] of `gy`.
#[derive(Debug, Clone, Copy)]
pub struct AvgPool2d {
    /// The window's (height, width).
    pub kernel: Pair,
    /// The steps between windows.
    pub stride: Pair,
    /// The zeros added on each side, at most half the kernel.
    pub pad: Pair,
}

impl<S: Strategy> Function<S> for AvgPool2d {
    fn name(&self) -> &'static str {
        "avg_pool2d"
    }

    fn num_inputs(&self) -> usize {
        1
    }

    fn forward(&mut self, xs: &[Tensor]) -> Result<Tensors> {
        let g = pool_geometry(
            "avg_pool2d",
            xs[0].shape(),
            self.kernel,
            self.stride,
            self.pad,
        )?;
        let x = elements(&xs[0]);
        let (h, w) = g.input;
        let ((kh, kw), (sh, sw), (ph, pw), (oh, ow)) = (g.kernel, g.stride, g.pad, g.output);
        let scale = 1.0 / (kh * kw) as f64;
        let y = write_tensor(&[g.batch, g.channels, oh, ow], |out| {
            for (plane, out) in out.chunks_exact_mut(oh * ow).enumerate() {
                let x = &x[plane * h * w..(plane + 1) * h * w];
                for p in 0..oh {
                    let rows = window(p, sh, ph, kh, h);
                    for q in 0..ow {
                        let cols = window(q, sw, pw, kw, w);
                        let sum: f64 = rows
                            .clone()
                            .map(|r| x[r * w + cols.start..r * w + cols.end].iter().sum::<f64>())
                            .sum();
                        out[p * ow + q] = sum * scale;
                    }
                }
            }
        });
        Ok(y.into())
    }

    fn save(&mut self, _save: &mut Save<'_>) {}

    fn derivative(&self, cx: &Saved<'_, S>, gys: &[Variable<S>]) -> Result<Grads<S>> {
        let x = cx.input_shape(0);
        Ok(vec![cx.grad(0, || {
            avg_pool2d_backward(&gys[0], (x[2], x[3]), self.kernel, self.stride, self.pad)
        })?])
    }
}

/// Average pooling's backward: `gy` `[N, C, OH, OW]` spread evenly over
/// each window of an input of `input_size`, `[N, C, H, W]` (each element
/// divided by `KH·KW`, the padding's share dropped). The adjoint of
/// [`AvgPool2d`], and linear: its gradient is `avg_pool2d` of the output's.
#[derive(Debug, Clone, Copy)]
pub struct AvgPool2dBackward {
    /// The pooled input's (height, width).
    pub input_size: Pair,
    /// The window's (height, width).
    pub kernel: Pair,
    /// The steps between windows.
    pub stride: Pair,
    /// The zeros added on each side, at most half the kernel.
    pub pad: Pair,
}

impl<S: Strategy> Function<S> for AvgPool2dBackward {
    fn name(&self) -> &'static str {
        "avg_pool2d_backward"
    }

    fn num_inputs(&self) -> usize {
        1
    }

    fn forward(&mut self, xs: &[Tensor]) -> Result<Tensors> {
        const OP: &str = "avg_pool2d_backward";
        let [n, c, ..] = four_d(OP, xs[0].shape())?;
        let input = [n, c, self.input_size.0, self.input_size.1];
        let g = pool_geometry(OP, &input, self.kernel, self.stride, self.pad)?;
        if xs[0].shape() != [n, c, g.output.0, g.output.1] {
            return Err(Error::InvalidTarget {
                op: OP,
                from: xs[0].shape().to_vec(),
                to: input.to_vec(),
            });
        }
        let gy = elements(&xs[0]);
        let (h, w) = g.input;
        let ((kh, kw), (sh, sw), (ph, pw), (oh, ow)) = (g.kernel, g.stride, g.pad, g.output);
        let scale = 1.0 / (kh * kw) as f64;
        let gx = write_tensor(&input, |out| {
            out.fill(0.0);
            if h * w == 0 {
                return;
            }
            for (plane, out) in out.chunks_exact_mut(h * w).enumerate() {
                let gy = &gy[plane * oh * ow..(plane + 1) * oh * ow];
                for p in 0..oh {
                    let rows = window(p, sh, ph, kh, h);
                    for q in 0..ow {
                        let cols = window(q, sw, pw, kw, w);
                        let share = gy[p * ow + q] * scale;
                        for r in rows.clone() {
                            out[r * w + cols.start..r * w + cols.end]
                                .iter_mut()
                                .for_each(|v| *v += share);
                        }
                    }
                }
            }
        });
        Ok(gx.into())
    }

    fn save(&mut self, _save: &mut Save<'_>) {}

    fn derivative(&self, _cx: &Saved<'_, S>, gys: &[Variable<S>]) -> Result<Grads<S>> {
        Ok(vec![Some(avg_pool2d(
            &gys[0],
            self.kernel,
            self.stride,
            self.pad,
        )?)])
    }
}

/// Max pooling of `x` `[N, C, H, W]` over `kernel` windows by `stride`,
/// padding of `pad` (at most half the kernel) counting as −∞:
/// `[N, C, OH, OW]` (PyTorch's `F.max_pool2d`). The gradient goes to each
/// window's first maximum in row-major order.
///
/// ```
/// use autograd_ops::prelude::*;
/// use ndarray::array;
///
/// let x = Variable::new(array![[[[1.0, 3.0], [3.0, 2.0]]]]);
/// let y = max_pool2d(&x, (2, 2), (2, 2), (0, 0))?;
/// assert_eq!(y.item(), Some(3.0));
/// y.backward()?;
/// assert_eq!(x.grad().unwrap(), array![[[[0.0, 1.0], [0.0, 0.0]]]].into_dyn()); // the first 3
/// # Ok::<(), autograd_ops::Error>(())
/// ```
///
/// # Errors
/// [`Error::WrongRank`] unless `x` is 4-D; [`Error::InvalidArgument`] for
/// a stride or kernel of 0, padding over half the kernel or a kernel larger
/// than the padded input; each naming `max_pool2d` and the sizes.
pub fn max_pool2d<S: Strategy>(
    x: &Variable<S>,
    kernel: Pair,
    stride: Pair,
    pad: Pair,
) -> Result<Variable<S>> {
    apply_one(MaxPool2d::new(kernel, stride, pad), &[x])
}

/// Average pooling of `x` `[N, C, H, W]` over `kernel` windows by `stride`
/// with `pad` zeros (at most half the kernel) counted in every mean:
/// `[N, C, OH, OW]` (PyTorch's `F.avg_pool2d`, `count_include_pad=True`).
///
/// # Errors
/// As [`max_pool2d`]'s, naming `avg_pool2d`.
pub fn avg_pool2d<S: Strategy>(
    x: &Variable<S>,
    kernel: Pair,
    stride: Pair,
    pad: Pair,
) -> Result<Variable<S>> {
    apply_one(
        AvgPool2d {
            kernel,
            stride,
            pad,
        },
        &[x],
    )
}

/// The backward of [`avg_pool2d`] (see [`AvgPool2dBackward`]): `gy`
/// `[N, C, OH, OW]` spread over the windows of an input of `input_size`.
///
/// # Errors
/// As [`avg_pool2d`]'s for the input's sizes, and
/// [`Error::InvalidTarget`] when `gy` is not the pooled shape; each naming
/// `avg_pool2d_backward`.
pub fn avg_pool2d_backward<S: Strategy>(
    gy: &Variable<S>,
    input_size: Pair,
    kernel: Pair,
    stride: Pair,
    pad: Pair,
) -> Result<Variable<S>> {
    let op = AvgPool2dBackward {
        input_size,
        kernel,
        stride,
        pad,
    };
    apply_one(op, &[gy])
}

/// Each element of `x` `[N, C, OH, OW]` added at the position `h·W + w`
/// given by `indices` (same shape) in a plane of `size` (see
/// [`ScatterAdd2d`]).
///
/// # Errors
/// [`Error::WrongRank`] unless both are 4-D, [`Error::ShapeMismatch`] when
/// their shapes differ, [`Error::InvalidArgument`] for an index that is not
/// a position in the plane, [`Error::TooLarge`] for an output that would
/// not fit; each naming `scatter_add2d`.
pub fn scatter_add2d<S: Strategy>(
    x: &Variable<S>,
    indices: &Variable<S>,
    size: Pair,
) -> Result<Variable<S>> {
    apply_one(ScatterAdd2d { size }, &[x, indices])
}

/// The elements of `x` `[N, C, H, W]` at the positions `h·W + w` given by
/// `indices` `[N, C, OH, OW]`, one plane at a time (see [`Gather2d`]).
///
/// # Errors
/// [`Error::WrongRank`] unless both are 4-D, [`Error::ShapeMismatch`] when
/// their first two axes differ, [`Error::InvalidArgument`] for an index
/// that is not a position in `x`'s planes; each naming `gather2d`.
pub fn gather2d<S: Strategy>(x: &Variable<S>, indices: &Variable<S>) -> Result<Variable<S>> {
    apply_one(Gather2d, &[x, indices])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{check_both_orders, check_first_order, positive};
    use crate::{VariableOps, square, sum};
    use autograd_core::RcWeak;
    use ndarray::{Array4, ArrayD, Ix4, IxDyn, array};

    type V = Variable<RcWeak>;

    /// Kernels, strides and paddings the checks run over (non-square ones
    /// and overlapping windows too).
    const CASES: [(Pair, Pair, Pair); 5] = [
        ((2, 2), (2, 2), (0, 0)),
        ((3, 3), (1, 1), (1, 1)),
        ((3, 2), (2, 1), (1, 0)),
        ((2, 3), (1, 2), (1, 1)),
        ((3, 3), (2, 2), (1, 0)),
    ];

    /// Each window's elements, the padding as `pad_value`, by the definition.
    fn naive_pool(
        x: &ArrayD<f64>,
        (kernel, stride, pad): (Pair, Pair, Pair),
        pad_value: f64,
        reduce: fn(&[f64]) -> f64,
    ) -> ArrayD<f64> {
        let x = x.view().into_dimensionality::<Ix4>().unwrap();
        let [n, c, h, w] = four_d("test", x.shape()).unwrap();
        let oh = (h + 2 * pad.0 - kernel.0) / stride.0 + 1;
        let ow = (w + 2 * pad.1 - kernel.1) / stride.1 + 1;
        Array4::from_shape_fn((n, c, oh, ow), |(n, c, p, q)| {
            let mut window = Vec::new();
            for i in 0..kernel.0 {
                for j in 0..kernel.1 {
                    let r = (p * stride.0 + i) as isize - pad.0 as isize;
                    let s = (q * stride.1 + j) as isize - pad.1 as isize;
                    let inside = r >= 0 && s >= 0 && (r as usize) < h && (s as usize) < w;
                    window.push(if inside {
                        x[[n, c, r as usize, s as usize]]
                    } else {
                        pad_value
                    });
                }
            }
            reduce(&window)
        })
        .into_dyn()
    }

    fn max(v: &[f64]) -> f64 {
        v.iter().copied().fold(f64::NEG_INFINITY, f64::max)
    }

    fn mean(v: &[f64]) -> f64 {
        v.iter().sum::<f64>() / v.len() as f64
    }

    #[test]
    fn pools_are_the_loops_of_their_definitions() {
        // Negative values too: max pooling's padding must not win as a 0.
        let x = positive(&[2, 3, 7, 6], 1).mapv(|v| v - 1.2);
        for case in CASES {
            let (kernel, stride, pad) = case;
            let y = max_pool2d(&V::from_array(x.clone()), kernel, stride, pad).unwrap();
            assert_eq!(y.data(), naive_pool(&x, case, f64::NEG_INFINITY, max));
            let y = avg_pool2d(&V::from_array(x.clone()), kernel, stride, pad).unwrap();
            for (a, b) in y.data().iter().zip(&naive_pool(&x, case, 0.0, mean)) {
                assert!((a - b).abs() < 1e-15, "{a} vs {b}");
            }
        }
    }

    #[test]
    fn max_pool_ties_go_to_the_first_in_row_major_order() {
        let x = V::from_array(ArrayD::ones(IxDyn(&[1, 1, 4, 4])));
        sum(&max_pool2d(&x, (2, 2), (2, 2), (0, 0)).unwrap())
            .unwrap()
            .backward()
            .unwrap();
        let expected = array![
            [1.0, 0.0, 1.0, 0.0],
            [0.0; 4],
            [1.0, 0.0, 1.0, 0.0],
            [0.0; 4]
        ];
        assert_eq!(
            x.grad().unwrap(),
            expected
                .into_shape_with_order((1, 1, 4, 4))
                .unwrap()
                .into_dyn()
        );
        // Overlapping windows with padding: the first maximum inside each.
        let x = V::from_array(array![[[[1.0, 2.0, 2.0], [2.0, 0.0, 2.0]]]]);
        sum(&max_pool2d(&x, (2, 2), (1, 1), (1, 1)).unwrap())
            .unwrap()
            .backward()
            .unwrap();
        // By hand, window by window (3 rows of 4): the first row picks
        // (0,0) (0,1) (0,1) (0,2), the second (1,0) (0,1) (0,1) (0,2), the
        // third (1,0) (1,0) (1,2) (1,2).
        let counts = x.grad().unwrap();
        assert_eq!(
            counts,
            array![[[[1.0, 4.0, 2.0], [3.0, 0.0, 2.0]]]].into_dyn()
        );
        assert_eq!(counts.sum(), 12.0, "one per window");
    }

    #[test]
    fn a_nan_in_a_window_is_its_maximum() {
        let x = V::from_array(array![[[[1.0, f64::NAN], [3.0, 2.0]]]]);
        let y = max_pool2d(&x, (2, 2), (2, 2), (0, 0)).unwrap();
        assert!(y.item().unwrap().is_nan());
        y.backward().unwrap();
        assert_eq!(x.grad().unwrap()[[0, 0, 0, 1]], 1.0);
    }

    #[test]
    fn avg_pool_counts_the_padded_zeros() {
        let x = V::from_array(ArrayD::ones(IxDyn(&[1, 1, 3, 3])));
        let y = avg_pool2d(&x, (3, 3), (1, 1), (1, 1)).unwrap();
        assert_eq!(y.data()[[0, 0, 0, 0]], 4.0 / 9.0);
        assert_eq!(y.data()[[0, 0, 1, 1]], 1.0);
        assert_eq!(y.data()[[0, 0, 0, 1]], 6.0 / 9.0);
    }

    /// ⟨avg_pool2d(x), y⟩ = ⟨x, avg_pool2d_backward(y)⟩, and max pooling's
    /// scatter and gather likewise by the same indices.
    #[test]
    fn each_backward_is_its_forwards_adjoint() {
        let x = positive(&[2, 3, 7, 6], 2);
        for (kernel, stride, pad) in CASES {
            let ay = avg_pool2d(&V::from_array(x.clone()), kernel, stride, pad).unwrap();
            let y = positive(&ay.shape(), 3);
            let back = avg_pool2d_backward(&V::from_array(y.clone()), (7, 6), kernel, stride, pad)
                .unwrap();
            let (lhs, rhs) = (
                (ay.data().to_owned() * &y).sum(),
                (back.data().to_owned() * &x).sum(),
            );
            assert!((lhs - rhs).abs() < 1e-12 * lhs.abs(), "{lhs} vs {rhs}");
        }
        let indices = V::constant_from_array(array![[[[0.0, 5.0, 5.0], [3.0, 2.0, 0.0]]]]);
        let (x, y) = (positive(&[1, 1, 2, 3], 4), positive(&[1, 1, 2, 3], 5));
        let gathered = gather2d(&V::from_array(x.clone()), &indices).unwrap();
        let scattered = scatter_add2d(&V::from_array(y.clone()), &indices, (2, 3)).unwrap();
        let (lhs, rhs) = (
            (gathered.data().to_owned() * &y).sum(),
            (scattered.data().to_owned() * &x).sum(),
        );
        assert!((lhs - rhs).abs() < 1e-12 * lhs.abs(), "{lhs} vs {rhs}");
        assert_eq!(
            scattered.data()[[0, 0, 1, 2]],
            y[[0, 0, 0, 1]] + y[[0, 0, 0, 2]]
        );
    }

    /// What max pooling keeps for backward is its indices (an output-sized
    /// tensor), one buffer more than average pooling, which keeps nothing.
    #[test]
    fn max_pool_saves_its_indices() {
        let x = V::from_array(positive(&[2, 4, 32, 32], 6));
        let max = max_pool2d(&x, (2, 2), (2, 2), (0, 0))
            .unwrap()
            .graph_footprint();
        let avg = avg_pool2d(&x, (2, 2), (2, 2), (0, 0))
            .unwrap()
            .graph_footprint();
        let indices = 2 * 4 * 16 * 16 * size_of::<f64>();
        let more = max.bytes - avg.bytes;
        assert!(more >= indices && more < indices + 512, "{more}");
    }

    #[test]
    fn first_and_second_order_gradcheck() {
        // Distinct values (no ties within a finite difference's step).
        let x = positive(&[2, 2, 5, 4], 7);
        for (kernel, stride, pad) in CASES {
            check_both_orders(
                |v| square(&max_pool2d(&v[0], kernel, stride, pad)?),
                std::slice::from_ref(&x),
            );
            check_both_orders(
                |v| square(&avg_pool2d(&v[0], kernel, stride, pad)?),
                std::slice::from_ref(&x),
            );
            let pooled = avg_pool2d(&V::from_array(x.clone()), kernel, stride, pad)
                .unwrap()
                .shape();
            check_both_orders(
                |v| square(&avg_pool2d_backward(&v[0], (5, 4), kernel, stride, pad)?),
                &[positive(&pooled, 8)],
            );
        }
        let indices = V::constant_from_array(array![[[[0.0, 5.0, 5.0], [3.0, 2.0, 0.0]]]]);
        check_both_orders(
            |v| square(&gather2d(&v[0], &indices)?),
            &[positive(&[1, 1, 2, 3], 9)],
        );
        check_both_orders(
            |v| square(&scatter_add2d(&v[0], &indices, (2, 3))?),
            &[positive(&[1, 1, 2, 3], 10)],
        );
    }

    #[test]
    fn bad_input_is_an_error_naming_the_op_and_the_sizes() {
        let x = V::from_array(ArrayD::zeros(IxDyn(&[1, 2, 4, 4])));
        let invalid = |err: Error, op: &str, words: &[&str]| match &err {
            Error::InvalidArgument { op: o, message } => assert!(
                *o == op && words.iter().all(|w| message.contains(w)),
                "{err}"
            ),
            _ => panic!("{err}"),
        };
        for (op, pool) in [
            (
                "max_pool2d",
                max_pool2d::<RcWeak> as fn(&V, Pair, Pair, Pair) -> Result<V>,
            ),
            ("avg_pool2d", avg_pool2d::<RcWeak>),
        ] {
            invalid(
                pool(&x, (3, 3), (1, 1), (2, 2)).unwrap_err(),
                op,
                &["half", "[1, 2, 4, 4]", "(2, 2)"],
            );
            invalid(
                pool(&x, (5, 2), (1, 1), (0, 0)).unwrap_err(),
                op,
                &["larger", "(5, 2)"],
            );
            invalid(
                pool(&x, (2, 2), (1, 0), (0, 0)).unwrap_err(),
                op,
                &["stride"],
            );
            invalid(
                pool(&x, (0, 2), (1, 1), (0, 0)).unwrap_err(),
                op,
                &["kernel"],
            );
            let empty = V::from_array(ArrayD::zeros(IxDyn(&[1, 2, 0, 4])));
            invalid(
                pool(&empty, (2, 2), (1, 1), (1, 1)).unwrap_err(),
                op,
                &["empty", "[1, 2, 0, 4]"],
            );
            let flat = V::from_array(ArrayD::zeros(IxDyn(&[4, 4])));
            assert_eq!(
                pool(&flat, (2, 2), (1, 1), (0, 0)).unwrap_err(),
                Error::WrongRank {
                    op,
                    expected: 4,
                    shape: vec![4, 4]
                }
            );
        }
        assert!(x.try_max_pool2d((2, 2), (2, 2), (0, 0)).is_ok());
        assert!(x.try_avg_pool2d((9, 2), (2, 2), (0, 0)).is_err());
        let none = V::from_array(ArrayD::zeros(IxDyn(&[0, 1, 1, 1])));
        let err = avg_pool2d_backward(&none, (1 << 40, 1 << 40), (1, 1), (1, 1), (0, 0));
        assert!(matches!(
            err,
            Err(Error::TooLarge {
                op: "avg_pool2d_backward",
                ..
            })
        ));
        let gy = V::from_array(ArrayD::zeros(IxDyn(&[1, 2, 3, 3])));
        assert_eq!(
            avg_pool2d_backward(&gy, (4, 4), (2, 2), (2, 2), (0, 0)).unwrap_err(),
            Error::InvalidTarget {
                op: "avg_pool2d_backward",
                from: vec![1, 2, 3, 3],
                to: vec![1, 2, 4, 4]
            }
        );
        let v = V::from_array(ArrayD::zeros(IxDyn(&[1, 1, 2, 2])));
        for bad in [4.0, -1.0, 0.5, f64::NAN] {
            let indices = V::constant_from_array(array![[[[0.0, 1.0], [2.0, bad]]]]);
            invalid(
                gather2d(&v, &indices).unwrap_err(),
                "gather2d",
                &["(2, 2)", &bad.to_string()],
            );
            invalid(
                scatter_add2d(&v, &indices, (2, 2)).unwrap_err(),
                "scatter_add2d",
                &["(2, 2)"],
            );
        }
        // A plane too large to hold, for an empty batch: an error.
        let none = V::constant_from_array(ArrayD::zeros(IxDyn(&[0, 1, 1, 1])));
        let err = scatter_add2d(&none, &none, (1 << 40, 1 << 40)).unwrap_err();
        assert!(
            matches!(
                err,
                Error::TooLarge {
                    op: "scatter_add2d",
                    ..
                }
            ),
            "{err}"
        );
        let indices = V::constant_from_array(ArrayD::zeros(IxDyn(&[1, 1, 2, 1])));
        assert_eq!(
            scatter_add2d(&v, &indices, (2, 2)).unwrap_err(),
            Error::ShapeMismatch {
                op: "scatter_add2d",
                lhs: vec![1, 1, 2, 2],
                rhs: vec![1, 1, 2, 1]
            }
        );
        let indices = V::constant_from_array(ArrayD::zeros(IxDyn(&[2, 1, 2, 2])));
        assert_eq!(
            gather2d(&v, &indices).unwrap_err(),
            Error::ShapeMismatch {
                op: "gather2d",
                lhs: vec![1, 1, 2, 2],
                rhs: vec![2, 1, 2, 2]
            }
        );
    }

    fn gradcheck_under<S: Strategy>() {
        let (kernel, stride, pad) = ((3, 2), (2, 1), (1, 0));
        let x = positive(&[1, 2, 5, 4], 11);
        check_first_order::<S>(
            |v| square(&max_pool2d(&v[0], kernel, stride, pad)?),
            std::slice::from_ref(&x),
        );
        check_first_order::<S>(|v| square(&avg_pool2d(&v[0], kernel, stride, pad)?), &[x]);
        check_first_order::<S>(
            |v| square(&avg_pool2d_backward(&v[0], (5, 4), kernel, stride, pad)?),
            &[positive(&[1, 2, 3, 3], 12)],
        );
        let indices =
            || Variable::<S>::constant_from_array(array![[[[0.0, 5.0, 5.0], [3.0, 2.0, 0.0]]]]);
        check_first_order::<S>(
            |v| square(&gather2d(&v[0], &indices())?),
            &[positive(&[1, 1, 2, 3], 13)],
        );
        check_first_order::<S>(
            |v| square(&scatter_add2d(&v[0], &indices(), (2, 3))?),
            &[positive(&[1, 1, 2, 3], 14)],
        );
    }

    autograd_mem::test_each_strategy! {
        gradcheck_under_every_strategy => gradcheck_under;
    }
}
