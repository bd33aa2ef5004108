//! Shape arithmetic shared by the ops: broadcasting as NumPy defines it, its
//! inverse, and element counts computed with checked arithmetic.
//!
//! Plumbing between the workspace's crates: [`Tensor`](crate::Tensor)'s
//! methods are the API for op authors.

use ndarray::{ArrayD, ArrayViewD, Axis, IxDyn};

use crate::{Error, Result};

/// The number of elements of `shape`, or [`Error::TooLarge`] naming `op` when
/// it does not fit in a `usize` or its bytes would exceed `isize::MAX`.
///
/// ```
/// use autograd_core::shape::element_count;
/// assert_eq!(element_count("reshape", &[2, 3, 4]), Ok(24));
/// assert!(element_count("broadcast_to", &[1 << 31, 1 << 31, 1 << 31]).is_err());
/// ```
///
/// # Errors
/// [`Error::TooLarge`] as above.
pub fn element_count(op: &'static str, shape: &[usize]) -> Result<usize> {
    let too_large = || Error::TooLarge {
        op,
        shape: shape.to_vec(),
    };
    let count = shape
        .iter()
        .try_fold(1usize, |n, &d| n.checked_mul(d))
        .ok_or_else(too_large)?;
    // An allocation may not exceed isize::MAX bytes (ndarray and Vec agree).
    match count.checked_mul(size_of::<f64>()) {
        Some(bytes) if bytes <= isize::MAX as usize => Ok(count),
        _ => Err(too_large()),
    }
}

/// The shape two operands broadcast to, or [`Error::ShapeMismatch`] naming `op`.
///
/// Shapes are aligned at their last axis; each pair of sizes must be equal or
/// one of them 1. `(3, 1, 4)` and `(2, 4)` broadcast to `(3, 2, 4)`.
///
/// ```
/// use autograd_core::shape::broadcast_shapes;
/// assert_eq!(broadcast_shapes("add", &[3, 1, 4], &[2, 4]), Ok(vec![3, 2, 4]));
/// assert!(broadcast_shapes("add", &[3], &[4]).is_err());
/// ```
///
/// # Errors
/// [`Error::ShapeMismatch`] when a pair of sizes differs and neither is 1;
/// [`Error::TooLarge`] when the broadcast shape's element count overflows.
pub fn broadcast_shapes(op: &'static str, lhs: &[usize], rhs: &[usize]) -> Result<Vec<usize>> {
    let ndim = lhs.len().max(rhs.len());
    let size =
        |shape: &[usize], i: usize| (i + shape.len()).checked_sub(ndim).map_or(1, |j| shape[j]);
    let shape = (0..ndim)
        .map(|i| match (size(lhs, i), size(rhs, i)) {
            (a, b) if a == b || b == 1 => Ok(a),
            (1, b) => Ok(b),
            _ => Err(Error::ShapeMismatch {
                op,
                lhs: lhs.to_vec(),
                rhs: rhs.to_vec(),
            }),
        })
        .collect::<Result<Vec<usize>>>()?;
    element_count(op, &shape)?;
    Ok(shape)
}

/// Sums `x` down to `shape`: the inverse of broadcasting, and so the gradient
/// of it. Leading axes are summed away; axes where `shape` has 1 are summed
/// and kept.
///
/// ```
/// use autograd_core::shape::sum_to;
/// use ndarray::array;
/// let x = array![[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]].into_dyn();
/// assert_eq!(sum_to("sum_to", x.view(), &[1, 3])?, array![[5.0, 7.0, 9.0]].into_dyn());
/// assert_eq!(sum_to("sum_to", x.view(), &[])?, ndarray::arr0(21.0).into_dyn());
/// # Ok::<(), autograd_ops::Error>(())
/// ```
///
/// # Errors
/// [`Error::InvalidTarget`] when `shape` does not broadcast to `x`'s shape,
/// [`Error::TooLarge`] when `x` is empty and `shape` would not fit in memory.
pub fn sum_to(op: &'static str, x: ArrayViewD<'_, f64>, shape: &[usize]) -> Result<ArrayD<f64>> {
    let fits = x.ndim() >= shape.len() && {
        let lead = x.ndim() - shape.len();
        shape
            .iter()
            .zip(&x.shape()[lead..])
            .all(|(&to, &from)| to == 1 || to == from)
    };
    if !fits {
        return Err(Error::InvalidTarget {
            op,
            from: x.shape().to_vec(),
            to: shape.to_vec(),
        });
    }
    if x.is_empty() {
        // The sums are of nothing; summing axis by axis could pass through
        // shapes larger than memory (`[0, 2⁶¹]` to `[1]`).
        element_count(op, shape)?;
        return Ok(ArrayD::zeros(IxDyn(shape)));
    }
    // Every partial sum of a non-empty `x` is smaller than `x`.
    let lead = x.ndim() - shape.len();
    let mut y = x.to_owned();
    for _ in 0..lead {
        y = y.sum_axis(Axis(0));
    }
    for (i, &size) in shape.iter().enumerate() {
        if size == 1 && y.shape()[i] != 1 {
            y = y.sum_axis(Axis(i)).insert_axis(Axis(i));
        }
    }
    Ok(y)
}
