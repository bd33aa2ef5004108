//! [`Tensor`]: the value a variable holds, and [`Tensors`], a few of them.
//!
//! A tensor is an `f64` array in row-major order that is cheap to share:
//! cloning one never copies its elements. One-element tensors (a scalar, or a
//! `[1, 1]` matrix) live inline, so a graph of scalar ops allocates nothing
//! for its values; larger ones share an ndarray buffer by reference counting.
//! Tensors are immutable once shared: the in-place methods (`into_map`,
//! `into_zip_with`, `add_assign`) write into the buffer only when nothing else
//! holds it, and copy it first otherwise.

use std::fmt;
use std::sync::Arc;

use ndarray::{ArcArray, Array, ArrayD, ArrayViewD, ArrayViewMutD, Dimension, IxDyn, OwnedRepr};

use crate::shape::{broadcast_shapes, element_count};
use crate::{Error, Result};

/// An ndarray array whose buffer is shared by reference counting: what
/// [`Variable::data`](crate::Variable::data) and
/// [`Variable::grad`](crate::Variable::grad) return.
pub type SharedArray = ArcArray<f64, IxDyn>;

/// The most axes a one-element tensor may have and still be stored inline
/// (ndarray keeps up to four axes without allocating).
const INLINE_NDIM: usize = 4;
static ONES: [usize; INLINE_NDIM] = [1; INLINE_NDIM];

/// An `f64` array of any shape, in row-major order, cheap to clone.
///
/// ```
/// use autograd_ops::Tensor;
/// use ndarray::array;
///
/// let t = Tensor::from(array![[1.0, 2.0], [3.0, 4.0]]);
/// assert_eq!(t.shape(), &[2, 2]);
/// let doubled = t.map(|x| 2.0 * x);
/// assert_eq!(doubled.view(), array![[2.0, 4.0], [6.0, 8.0]].into_dyn());
/// let s = Tensor::scalar(3.0);
/// let sum = t.zip_with("add", &s, |a, b| a + b)?; // broadcasting
/// assert_eq!(sum.item(), None);
/// assert_eq!(sum.view()[[1, 1]], 7.0);
/// # Ok::<(), autograd_ops::Error>(())
/// ```
#[derive(Clone)]
pub struct Tensor(Repr);

/// Two aligned words: a whole-word tag and one word of payload. One
/// element's variants name its `ndim` (the shape is `[1; ndim]`) rather
/// than keep it in a field beside the tag. With a byte tag and a byte
/// `ndim`, bytes 1 to 15 were the payload, which the compiler copies
/// (moving an `Option<Tensor>`, or a struct holding a tensor, out of the
/// enum around it) as overlapping unaligned words through the stack; a
/// whole-word read of what was just written that way cannot be forwarded
/// from the store buffer and waits for it. The stalls cost the 1,000-op add
/// chain about a tenth of its time at the same instruction count.
#[derive(Clone)]
#[repr(u64)]
enum Repr {
    One0(f64) = 0,
    One1(f64) = 1,
    One2(f64) = 2,
    One3(f64) = 3,
    One4(f64) = 4,
    /// Standard layout, and the buffer holds exactly `len` elements.
    Shared(Arc<Buffer>) = 5,
}

impl Repr {
    /// The one-element tensor of `ndim` axes (at most [`INLINE_NDIM`]).
    #[inline]
    fn one(ndim: u8, value: f64) -> Repr {
        match ndim {
            0 => Repr::One0(value),
            1 => Repr::One1(value),
            2 => Repr::One2(value),
            3 => Repr::One3(value),
            4 => Repr::One4(value),
            _ => unreachable!("at most {INLINE_NDIM} axes inline"),
        }
    }

    /// `(ndim, value)` of an inline element.
    #[inline]
    fn inline(&self) -> Option<(u8, f64)> {
        match *self {
            Repr::One0(value) => Some((0, value)),
            Repr::One1(value) => Some((1, value)),
            Repr::One2(value) => Some((2, value)),
            Repr::One3(value) => Some((3, value)),
            Repr::One4(value) => Some((4, value)),
            Repr::Shared(_) => None,
        }
    }

    /// `(ndim, value)` of an inline element, the value to write.
    #[inline]
    fn inline_mut(&mut self) -> Option<(u8, &mut f64)> {
        match self {
            Repr::One0(value) => Some((0, value)),
            Repr::One1(value) => Some((1, value)),
            Repr::One2(value) => Some((2, value)),
            Repr::One3(value) => Some((3, value)),
            Repr::One4(value) => Some((4, value)),
            Repr::Shared(_) => None,
        }
    }
}

/// A shared array whose buffer goes back to this thread's buffer cache
/// (see [`buffers`](crate::buffers)) when the last tensor holding it goes.
pub(crate) struct Buffer(Option<SharedArray>);

impl std::ops::Deref for Buffer {
    type Target = SharedArray;
    #[inline]
    fn deref(&self) -> &SharedArray {
        self.0.as_ref().expect("a buffer until dropped")
    }
}

impl std::ops::DerefMut for Buffer {
    #[inline]
    fn deref_mut(&mut self) -> &mut SharedArray {
        self.0.as_mut().expect("a buffer until dropped")
    }
}

impl Clone for Buffer {
    fn clone(&self) -> Self {
        Buffer(self.0.clone())
    }
}

impl Drop for Buffer {
    fn drop(&mut self) {
        // Only a buffer nothing else shares (no `data()` clone alive) is kept.
        if let Some(Ok(array)) = self.0.take().map(SharedArray::try_into_owned_nocopy) {
            let (buffer, _) = array.into_raw_vec_and_offset();
            crate::buffers::give(buffer);
        }
    }
}

/// A standard-layout array of `shape`, its buffer from this thread's cache
/// when one of that length is there. Its elements are unspecified: the
/// caller writes all of them.
fn alloc(shape: &[usize]) -> ArrayD<f64> {
    let len = shape.iter().product();
    ArrayD::from_shape_vec(IxDyn(shape), crate::buffers::take(len)).expect("len elements")
}

impl Tensor {
    /// A 0-dimensional tensor.
    #[inline]
    pub fn scalar(value: f64) -> Self {
        Tensor(Repr::One0(value))
    }

    /// A tensor of `shape` with every element `value`.
    ///
    /// # Panics
    /// If the element count overflows `usize` (check a shape that comes from
    /// a user with [`shape::element_count`](crate::shape::element_count) first).
    pub fn full(shape: &[usize], value: f64) -> Self {
        if shape.len() <= INLINE_NDIM && shape.iter().all(|&n| n == 1) {
            return Tensor(Repr::one(shape.len() as u8, value));
        }
        let mut array = alloc(shape);
        array.fill(value);
        Self::from_array(array)
    }

    /// A tensor of `shape` whose elements `write` sets, in a buffer from this
    /// thread's cache when one of that length is there (an op's output,
    /// such as a matrix product written by `general_mat_mul` with `beta`
    /// 0). `write` must set every element: the buffer may still hold an
    /// earlier tensor's values.
    ///
    /// ```
    /// use autograd_ops::Tensor;
    /// use ndarray::array;
    ///
    /// let t = Tensor::from_writer(&[2, 2], |mut out| out.assign(&array![[1.0, 2.0], [3.0, 4.0]]));
    /// assert_eq!(t.view(), array![[1.0, 2.0], [3.0, 4.0]].into_dyn());
    /// ```
    ///
    /// # Panics
    /// As [`full`](Tensor::full).
    pub fn from_writer(shape: &[usize], write: impl FnOnce(ArrayViewMutD<'_, f64>)) -> Self {
        let mut array = alloc(shape);
        write(array.view_mut());
        Self::from_array(array)
    }

    /// Zeros of `shape`; see [`full`](Tensor::full).
    ///
    /// # Panics
    /// As [`full`](Tensor::full).
    pub fn zeros(shape: &[usize]) -> Self {
        Self::full(shape, 0.0)
    }

    /// Ones of `shape`; see [`full`](Tensor::full).
    ///
    /// # Panics
    /// As [`full`](Tensor::full).
    pub fn ones(shape: &[usize]) -> Self {
        Self::full(shape, 1.0)
    }

    /// Takes `array` over without copying its elements, unless they are not
    /// in row-major order or share their buffer with a slice of it.
    pub fn from_array<D: Dimension>(array: Array<f64, D>) -> Self {
        let array = array.into_dyn();
        if array.len() == 1 && array.ndim() <= INLINE_NDIM {
            let value = array.iter().copied().next().unwrap_or_default();
            return Tensor(Repr::one(array.ndim() as u8, value));
        }
        let len = array.len();
        let dim = array.raw_dim();
        let array = if array.is_standard_layout() {
            array
        } else {
            array.as_standard_layout().into_owned()
        };
        let (mut buffer, offset) = array.into_raw_vec_and_offset();
        if offset.unwrap_or(0) != 0 || buffer.len() != len {
            // A slice of a larger buffer: keep only its own elements.
            let start = offset.unwrap_or(0);
            buffer = buffer[start..start + len].to_vec();
        }
        // The buffer holds exactly the elements, so what it costs is known.
        buffer.shrink_to_fit();
        let array = ArrayD::from_shape_vec(dim, buffer).expect("len elements in standard layout");
        Tensor(Repr::Shared(Arc::new(Buffer(Some(array.into_shared())))))
    }

    /// The tensor's shape.
    #[inline]
    pub fn shape(&self) -> &[usize] {
        match &self.0 {
            Repr::Shared(array) => array.shape(),
            one => &ONES[..usize::from(one.inline().map_or(0, |(ndim, _)| ndim))],
        }
    }

    /// The number of axes.
    #[inline]
    pub fn ndim(&self) -> usize {
        self.shape().len()
    }

    /// The number of elements.
    #[inline]
    pub fn len(&self) -> usize {
        match &self.0 {
            Repr::Shared(array) => array.len(),
            _ => 1,
        }
    }

    /// `true` if the tensor has no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The element of a one-element tensor; `None` for any other size.
    #[inline]
    pub fn item(&self) -> Option<f64> {
        match &self.0 {
            Repr::Shared(array) if array.len() == 1 => array.iter().copied().next(),
            Repr::Shared(_) => None,
            one => one.inline().map(|(_, value)| value),
        }
    }

    /// `(ndim, value)` of a one-element tensor with at most four axes, whether
    /// inline or in a buffer (a leaf's): the case the fast paths take.
    #[inline]
    fn as_one(&self) -> Option<(u8, f64)> {
        match &self.0 {
            Repr::Shared(array) if array.len() == 1 && array.ndim() <= INLINE_NDIM => Some((
                array.ndim() as u8,
                array.first().copied().unwrap_or_default(),
            )),
            Repr::Shared(_) => None,
            one => one.inline(),
        }
    }

    /// The elements as an ndarray view (no copy).
    #[inline]
    pub fn view(&self) -> ArrayViewD<'_, f64> {
        match &self.0 {
            Repr::Shared(array) => array.view(),
            Repr::One0(value)
            | Repr::One1(value)
            | Repr::One2(value)
            | Repr::One3(value)
            | Repr::One4(value) => {
                ArrayViewD::from_shape(IxDyn(&ONES[..self.ndim()]), std::slice::from_ref(value))
                    .expect("one element")
            }
        }
    }

    /// The elements as a shared ndarray array: no copy for a tensor that has
    /// a buffer, a new one-element array otherwise.
    pub fn to_shared(&self) -> SharedArray {
        match &self.0 {
            Repr::Shared(array) => SharedArray::clone(array),
            _ => self.view().to_owned().into_shared(),
        }
    }

    /// The elements as an owned ndarray array, copied only if the buffer is
    /// shared.
    pub fn into_array(self) -> ArrayD<f64> {
        match self.0 {
            Repr::Shared(array) => match Arc::try_unwrap(array) {
                Ok(mut buffer) => buffer.0.take().expect("a buffer").into_owned(),
                Err(array) => array.view().to_owned(),
            },
            _ => self.view().to_owned(),
        }
    }

    /// `f` applied to every element, in a new tensor.
    #[inline]
    pub fn map(&self, f: impl Fn(f64) -> f64) -> Tensor {
        match (self.as_one(), &self.0) {
            (Some((ndim, value)), _) => Tensor(Repr::one(ndim, f(value))),
            (None, Repr::Shared(array)) => {
                let mut out = alloc(array.shape());
                ndarray::Zip::from(&mut out)
                    .and(&***array)
                    .for_each(|o, &x| *o = f(x));
                Self::from_array(out)
            }
            (None, _) => unreachable!("an inline tensor has one element"),
        }
    }

    /// `f` applied to every element, in this tensor's buffer when nothing
    /// else holds it.
    #[inline]
    pub fn into_map(mut self, f: impl Fn(f64) -> f64) -> Tensor {
        if let Some((ndim, value)) = self.as_one() {
            return Tensor(Repr::one(ndim, f(value)));
        }
        self.view_mut().mapv_inplace(f);
        self
    }

    /// `f(a, b)` for the elements of `self` and `other` broadcast together,
    /// as NumPy broadcasts.
    ///
    /// # Errors
    /// [`Error::ShapeMismatch`] naming `op` when the shapes do not
    /// broadcast, [`Error::TooLarge`] when the result would not fit in memory.
    #[inline]
    pub fn zip_with(
        &self,
        op: &'static str,
        other: &Tensor,
        f: impl Fn(f64, f64) -> f64,
    ) -> Result<Tensor> {
        if let (Some((a, x)), Some((b, y))) = (self.as_one(), other.as_one()) {
            return Ok(Tensor(Repr::one(a.max(b), f(x, y))));
        }
        let shape = broadcast_shapes(op, self.shape(), other.shape())?;
        let (a, b) = (self.view(), other.view());
        let (a, b) = (
            a.broadcast(IxDyn(&shape)).expect("checked to broadcast"),
            b.broadcast(IxDyn(&shape)).expect("checked to broadcast"),
        );
        let mut out = alloc(&shape);
        ndarray::Zip::from(&mut out)
            .and(&a)
            .and(&b)
            .for_each(|o, &x, &y| *o = f(x, y));
        Ok(Self::from_array(out))
    }

    /// [`zip_with`](Tensor::zip_with), written into this tensor's buffer when
    /// the result has its shape and nothing else holds the buffer.
    ///
    /// # Errors
    /// As [`zip_with`](Tensor::zip_with).
    #[inline]
    pub fn into_zip_with(
        mut self,
        op: &'static str,
        other: &Tensor,
        f: impl Fn(f64, f64) -> f64,
    ) -> Result<Tensor> {
        if let (Some(_), Some(_)) = (self.as_one(), other.as_one()) {
            return self.zip_with(op, other, f);
        }
        if self.shape() != other.shape()
            && broadcast_shapes(op, self.shape(), other.shape())? != self.shape()
        {
            return self.zip_with(op, other, f);
        }
        let other = other.view();
        self.view_mut().zip_mut_with(&other, |x, &y| *x = f(*x, y));
        Ok(self)
    }

    /// Adds `other`, of the same shape, into this tensor: how gradients
    /// that meet at a variable are summed.
    #[inline]
    pub(crate) fn add_assign(&mut self, other: &Tensor) {
        debug_assert_eq!(self.shape(), other.shape());
        if let (Some((ndim, x)), Some((_, y))) = (self.as_one(), other.as_one()) {
            match self.0.inline_mut() {
                Some((_, value)) => *value = x + y,
                None => self.0 = Repr::one(ndim, x + y),
            }
            return;
        }
        let other = other.view();
        self.view_mut().zip_mut_with(&other, |x, &y| *x += y);
    }

    /// Sums this tensor down to `shape`: the inverse of broadcasting, and so
    /// its gradient. Returns `self` untouched when the shapes agree.
    ///
    /// # Errors
    /// [`Error::InvalidTarget`] naming `op` when `shape` does not broadcast
    /// to this tensor's shape.
    #[inline]
    pub fn sum_to(self, op: &'static str, shape: &[usize]) -> Result<Tensor> {
        if let Some((ndim, _)) = self.0.inline() {
            if usize::from(ndim) == shape.len() && shape.iter().all(|&n| n == 1) {
                return Ok(self);
            }
        }
        if self.shape() == shape {
            return Ok(self);
        }
        // One element to fewer size-1 axes (never more: that is a broadcast).
        if let Some((_, value)) = self.as_one() {
            if shape.len() <= self.ndim() && shape.iter().all(|&n| n == 1) {
                return Ok(Tensor::full(shape, value));
            }
        }
        let summed = crate::shape::sum_to(op, self.view(), shape)?;
        Ok(Self::from_array(summed))
    }

    /// This tensor repeated along new or size-1 axes to `shape`.
    ///
    /// # Errors
    /// [`Error::InvalidTarget`] naming `op` when it does not broadcast to
    /// `shape`, [`Error::TooLarge`] when `shape` would not fit in memory.
    pub fn broadcast_to(&self, op: &'static str, shape: &[usize]) -> Result<Tensor> {
        if self.shape() == shape {
            return Ok(self.clone());
        }
        let invalid = || Error::InvalidTarget {
            op,
            from: self.shape().to_vec(),
            to: shape.to_vec(),
        };
        element_count(op, shape)?;
        if broadcast_shapes(op, self.shape(), shape).map_err(|_| invalid())? != shape {
            return Err(invalid());
        }
        if let Some(value) = self.item() {
            return Ok(Tensor::full(shape, value));
        }
        let view = self.view();
        let view = view.broadcast(IxDyn(shape)).ok_or_else(invalid)?;
        let mut out = alloc(shape);
        out.assign(&view);
        Ok(Self::from_array(out))
    }

    /// A mutable view, copying the buffer first if anything else holds it.
    #[inline]
    pub(crate) fn view_mut(&mut self) -> ArrayViewMutD<'_, f64> {
        match &mut self.0 {
            Repr::Shared(array) => Arc::make_mut(array).view_mut(),
            one => {
                let (ndim, value) = one.inline_mut().expect("inline");
                ArrayViewMutD::from_shape(
                    IxDyn(&ONES[..usize::from(ndim)]),
                    std::slice::from_mut(value),
                )
                .expect("one element")
            }
        }
    }

    /// `true` if both share one buffer (always `false` for inline tensors).
    pub fn ptr_eq(&self, other: &Tensor) -> bool {
        match (&self.0, &other.0) {
            (Repr::Shared(a), Repr::Shared(b)) => Arc::ptr_eq(a, b),
            _ => false,
        }
    }

    /// The heap bytes this tensor's buffer requested from the allocator (its
    /// handle, ndarray's shared block and the elements), 0 for an inline
    /// one-element tensor: what freeing the last tensor sharing it gives back.
    pub fn heap_bytes(&self) -> usize {
        self.heap().map_or(0, |(_, bytes)| bytes)
    }

    /// The buffer's identity and the bytes it requested from the allocator
    /// (its handle, ndarray's reference-counted block, the elements, and
    /// the shape and strides of arrays with more than four axes); `None` for
    /// an inline tensor, which allocates nothing.
    pub(crate) fn heap(&self) -> Option<(usize, usize)> {
        let Repr::Shared(array) = &self.0 else {
            return None;
        };
        let axes = if array.ndim() > INLINE_NDIM {
            2 * array.ndim() * size_of::<usize>()
        } else {
            0
        };
        let bytes = autograd_mem::shared_block_size::<Buffer>()
            + autograd_mem::shared_block_size::<OwnedRepr<f64>>()
            + array.len() * size_of::<f64>()
            + axes;
        Some((Arc::as_ptr(array) as usize, bytes))
    }

    /// This tensor with a buffer of its own, as leaves hold their values
    /// (so that functions share them for the price of a pointer).
    #[inline]
    pub(crate) fn into_shared_repr(self) -> Arc<Buffer> {
        match self.0 {
            Repr::Shared(array) => array,
            _ => Arc::new(Buffer(Some(self.to_shared()))),
        }
    }

    /// The tensor a shared buffer holds: inline for one element, else sharing it.
    #[inline]
    pub(crate) fn from_buffer(array: &Arc<Buffer>) -> Tensor {
        if array.len() == 1 && array.ndim() <= INLINE_NDIM {
            return Tensor(Repr::one(
                array.ndim() as u8,
                array.first().copied().unwrap_or_default(),
            ));
        }
        Tensor(Repr::Shared(Arc::clone(array)))
    }

    /// A tensor from a shared buffer made by [`into_shared_repr`](Tensor::into_shared_repr).
    #[inline]
    pub(crate) fn from_shared_repr(array: Arc<Buffer>) -> Tensor {
        Tensor(Repr::Shared(array))
    }
}

impl Default for Tensor {
    /// A 0-dimensional zero.
    #[inline]
    fn default() -> Self {
        Tensor::scalar(0.0)
    }
}

impl From<f64> for Tensor {
    fn from(value: f64) -> Self {
        Tensor::scalar(value)
    }
}

impl<D: Dimension> From<Array<f64, D>> for Tensor {
    fn from(array: Array<f64, D>) -> Self {
        Tensor::from_array(array)
    }
}

impl From<SharedArray> for Tensor {
    fn from(array: SharedArray) -> Self {
        Tensor::from_array(array.into_owned())
    }
}

impl PartialEq for Tensor {
    fn eq(&self, other: &Tensor) -> bool {
        self.view() == other.view()
    }
}

/// The values and the shape, as `Tensor([1.0, 2.0], shape=[2])`: never the
/// array's strides and layout, which a tensor always has standard.
impl fmt::Debug for Tensor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Tensor(")?;
        fmt::Display::fmt(self, f)?;
        write!(f, ", shape={:?})", self.shape())
    }
}

/// The values, as ndarray displays an array (nested brackets; a large one
/// elided in the middle), with the formatter's precision if one is given.
impl fmt::Display for Tensor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.view(), f)
    }
}

/// A few tensors: what an op's forward and backward take and return. Up to
/// two are kept inline, so a one- or two-input op allocates nothing for the
/// list.
///
/// ```
/// use autograd_ops::{Tensor, Tensors};
/// let one: Tensors = Tensor::scalar(1.0).into();
/// let two: Tensors = [Tensor::scalar(1.0), Tensor::scalar(2.0)].into();
/// assert_eq!((one.len(), two.len()), (1, 2));
/// assert_eq!(two[1].item(), Some(2.0));
/// ```
#[derive(Clone, PartialEq)]
pub struct Tensors(List);

/// One or two inline, on the heap beyond (and when empty, which costs no
/// allocation). The variants need no tag of their own (a tensor's has room
/// to spare), so a list of two is 32 bytes moved as two aligned halves:
/// building and taking apart one- and two-element lists is the per-op hot
/// path, which is why this is hand-written rather than a `SmallVec`.
#[derive(Clone, PartialEq)]
enum List {
    One(Tensor),
    Two([Tensor; 2]),
    Heap(Vec<Tensor>),
}

impl Tensors {
    /// An empty list.
    #[inline]
    pub fn new() -> Self {
        Tensors(List::Heap(Vec::new()))
    }

    /// Appends a tensor.
    #[inline]
    pub fn push(&mut self, tensor: Tensor) {
        self.0 = match std::mem::replace(&mut self.0, List::Heap(Vec::new())) {
            List::Heap(heap) if heap.is_empty() => List::One(tensor),
            List::One(first) => List::Two([first, tensor]),
            List::Two([a, b]) => List::Heap(vec![a, b, tensor]),
            List::Heap(mut heap) => {
                heap.push(tensor);
                List::Heap(heap)
            }
        };
    }

    /// Removes and returns the tensor at `index`, putting a zero scalar in its
    /// place (so that the other indices stay put).
    ///
    /// # Panics
    /// If `index` is out of range.
    #[inline]
    pub fn take(&mut self, index: usize) -> Tensor {
        std::mem::take(&mut self[index])
    }
}

impl Default for Tensors {
    fn default() -> Self {
        Tensors::new()
    }
}

impl std::ops::Deref for Tensors {
    type Target = [Tensor];
    #[inline]
    fn deref(&self) -> &[Tensor] {
        match &self.0 {
            List::One(tensor) => std::slice::from_ref(tensor),
            List::Two(tensors) => tensors,
            List::Heap(heap) => heap,
        }
    }
}

impl std::ops::DerefMut for Tensors {
    #[inline]
    fn deref_mut(&mut self) -> &mut [Tensor] {
        match &mut self.0 {
            List::One(tensor) => std::slice::from_mut(tensor),
            List::Two(tensors) => tensors,
            List::Heap(heap) => heap,
        }
    }
}

impl From<Tensor> for Tensors {
    #[inline]
    fn from(tensor: Tensor) -> Self {
        Tensors(List::One(tensor))
    }
}

impl From<[Tensor; 2]> for Tensors {
    #[inline]
    fn from(tensors: [Tensor; 2]) -> Self {
        Tensors(List::Two(tensors))
    }
}

impl From<Vec<Tensor>> for Tensors {
    fn from(tensors: Vec<Tensor>) -> Self {
        tensors.into_iter().collect()
    }
}

impl FromIterator<Tensor> for Tensors {
    fn from_iter<I: IntoIterator<Item = Tensor>>(iter: I) -> Self {
        let mut list = Tensors::new();
        for tensor in iter {
            list.push(tensor);
        }
        list
    }
}

impl IntoIterator for Tensors {
    type Item = Tensor;
    type IntoIter = TensorsIntoIter;
    #[inline]
    fn into_iter(self) -> TensorsIntoIter {
        TensorsIntoIter(match self.0 {
            List::One(tensor) => ListIter::Inline([tensor, Tensor::default()].into_iter().take(1)),
            List::Two(tensors) => ListIter::Inline(tensors.into_iter().take(2)),
            List::Heap(heap) => ListIter::Heap(heap.into_iter()),
        })
    }
}

/// The tensors of a [`Tensors`], by value.
#[derive(Debug)]
pub struct TensorsIntoIter(ListIter);

#[derive(Debug)]
enum ListIter {
    Inline(std::iter::Take<std::array::IntoIter<Tensor, 2>>),
    Heap(std::vec::IntoIter<Tensor>),
}

impl Iterator for TensorsIntoIter {
    type Item = Tensor;
    #[inline]
    fn next(&mut self) -> Option<Tensor> {
        match &mut self.0 {
            ListIter::Inline(items) => items.next(),
            ListIter::Heap(items) => items.next(),
        }
    }

    #[inline]
    fn size_hint(&self) -> (usize, Option<usize>) {
        match &self.0 {
            ListIter::Inline(items) => items.size_hint(),
            ListIter::Heap(items) => items.size_hint(),
        }
    }
}

impl ExactSizeIterator for TensorsIntoIter {}

impl fmt::Debug for Tensors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn one_element_tensors_are_inline_and_keep_their_shape() {
        let t = Tensor::from(array![[5.0]]);
        assert_eq!((t.shape(), t.item()), (&[1, 1][..], Some(5.0)));
        assert!(t.heap().is_none());
        assert_eq!(t.to_shared(), array![[5.0]].into_dyn());
        assert_eq!(Tensor::ones(&[1, 1, 1]).shape(), &[1, 1, 1]);
        // Beyond four axes a one-element array has a buffer (and is still right).
        let five = Tensor::ones(&[1; 5]);
        assert!(five.heap().is_some());
        assert_eq!(five.shape(), &[1; 5]);
    }

    #[test]
    fn slices_and_column_major_arrays_are_stored_row_major() {
        let a = ndarray::Array2::from_shape_fn((3, 4), |(i, j)| (i * 4 + j) as f64);
        let t = Tensor::from(a.t().to_owned()); // column-major
        assert_eq!(t.view(), a.t().into_dyn());
        let mut sliced = a.clone();
        sliced.slice_axis_inplace(ndarray::Axis(0), ndarray::Slice::from(1..));
        sliced.slice_axis_inplace(ndarray::Axis(1), ndarray::Slice::from(..2));
        let t = Tensor::from(sliced.clone());
        assert_eq!(t.view(), sliced.into_dyn());
        assert_eq!(t.into_array().into_raw_vec_and_offset().0.len(), 4);
    }

    #[test]
    fn in_place_methods_never_change_a_shared_buffer() {
        let a = Tensor::from(array![1.0, 2.0]);
        let b = a.clone();
        let doubled = a.into_map(|x| 2.0 * x);
        assert_eq!(b.view(), array![1.0, 2.0].into_dyn());
        assert_eq!(doubled.view(), array![2.0, 4.0].into_dyn());
        let shared = b.to_shared();
        let mut c = b;
        c.add_assign(&Tensor::from(array![1.0, 1.0]));
        assert_eq!(shared, array![1.0, 2.0].into_dyn());
        assert_eq!(c.view(), array![2.0, 3.0].into_dyn());
    }

    #[test]
    fn broadcasting_and_its_inverse() {
        let row = Tensor::from(array![[1.0, 2.0, 3.0]]);
        let col = Tensor::from(array![[10.0], [20.0]]);
        let sum = row.zip_with("add", &col, |a, b| a + b).unwrap();
        assert_eq!(
            sum.view(),
            array![[11.0, 12.0, 13.0], [21.0, 22.0, 23.0]].into_dyn()
        );
        assert_eq!(
            sum.clone().sum_to("sum_to", &[1, 3]).unwrap().view(),
            array![[32.0, 34.0, 36.0]].into_dyn()
        );
        assert_eq!(sum.sum_to("sum_to", &[]).unwrap().item(), Some(102.0));
        assert_eq!(
            Tensor::scalar(2.0)
                .broadcast_to("broadcast_to", &[2, 2])
                .unwrap()
                .view(),
            array![[2.0, 2.0], [2.0, 2.0]].into_dyn()
        );
        assert!(matches!(
            row.zip_with("mul", &Tensor::from(array![1.0, 2.0]), |a, b| a * b),
            Err(Error::ShapeMismatch { op: "mul", .. })
        ));
        assert!(matches!(
            row.broadcast_to("broadcast_to", &[1 << 40, 1 << 40, 3]),
            Err(Error::TooLarge {
                op: "broadcast_to",
                ..
            })
        ));
    }

    #[test]
    fn the_value_types_stay_small() {
        assert_eq!(size_of::<Tensor>(), 16);
        assert_eq!(size_of::<Option<Tensor>>(), 16);
        assert_eq!(size_of::<Tensors>(), 32);
    }

    #[test]
    fn lists_grow_and_come_apart_in_order() {
        let mut list = Tensors::new();
        assert!(list.is_empty());
        for i in 0..4 {
            list.push(Tensor::scalar(f64::from(i)));
            assert_eq!(list.len(), i as usize + 1);
        }
        let items: Vec<f64> = list.into_iter().map(|t| t.item().unwrap()).collect();
        assert_eq!(items, [0.0, 1.0, 2.0, 3.0]);
        let two: Tensors = [Tensor::scalar(1.0), Tensor::scalar(2.0)].into();
        assert_eq!(two.into_iter().len(), 2);
    }
}
