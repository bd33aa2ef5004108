//! Data in mini-batches: [`DataLoader`] (rows in order or shuffled),
//! [`SeqDataLoader`] (parallel streams over one series, for recurrent
//! models), the [`Targets`] they hand out with the inputs (class labels or
//! real values), and [`accuracy`].

use std::marker::PhantomData;

use autograd_core::{DefaultStrategy, Strategy, Variable};
use ndarray::{Array, ArrayD, Axis, Dimension, RemoveAxis};
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;

use crate::{Error, Result};

/// What a loader hands out beside each batch of inputs: one target per
/// row, selected with the rows.
///
/// Implemented for
/// - `Vec<usize>`: class labels (classification), handed out as a
///   `Vec<usize>` a batch, what
///   [`softmax_cross_entropy`](autograd_ops::softmax_cross_entropy) and
///   [`accuracy`] take;
/// - ndarray arrays of `f64` (`Array2<f64>`, `ArrayD<f64>`, ...) with the
///   rows first (`[N, ...]`): real-valued targets (regression), handed out
///   as a constant [`Variable`] of shape `[batch, ...]`, what
///   [`mean_squared_error`](autograd_ops::mean_squared_error) takes.
pub trait Targets {
    /// The targets of one batch.
    type Batch<S: Strategy>;

    /// Checks that there is one target for each of `rows` rows of inputs.
    ///
    /// # Errors
    /// An error naming `what` (the loader) and both counts when they
    /// differ ([`Error::LabelCount`], [`Error::TargetCount`]), or
    /// [`Error::Rank`] for targets without a row axis.
    fn check_rows(&self, what: &'static str, rows: usize) -> Result<()>;

    /// The targets of these rows, in this order. Every index is below the
    /// row count [`check_rows`](Targets::check_rows) accepted.
    fn select_rows<S: Strategy>(&self, rows: &[usize]) -> Self::Batch<S>;
}

impl Targets for Vec<usize> {
    type Batch<S: Strategy> = Vec<usize>;

    fn check_rows(&self, what: &'static str, rows: usize) -> Result<()> {
        if self.len() != rows {
            return Err(Error::LabelCount {
                what,
                rows,
                labels: self.len(),
            });
        }
        Ok(())
    }

    fn select_rows<S: Strategy>(&self, rows: &[usize]) -> Vec<usize> {
        rows.iter().map(|&r| self[r]).collect()
    }
}

impl<D: RemoveAxis> Targets for Array<f64, D> {
    type Batch<S: Strategy> = Variable<S>;

    fn check_rows(&self, what: &'static str, rows: usize) -> Result<()> {
        let targets = rows_of(what, "targets", self.shape())?;
        if targets != rows {
            return Err(Error::TargetCount {
                what,
                rows,
                targets,
            });
        }
        Ok(())
    }

    fn select_rows<S: Strategy>(&self, rows: &[usize]) -> Variable<S> {
        Variable::constant_from_array(self.select(Axis(0), rows))
    }
}

/// Inputs with their targets, handed out in batches: one epoch per
/// [`iter`](DataLoader::iter), rows in order, or in a new permutation each
/// epoch after [`shuffle`](DataLoader::shuffle) (the same permutations for
/// the same seed). The last batch holds what is left, and may be short.
///
/// The inputs may have any rank, the rows first: `[N, features]` for an
/// MLP, `[N, channels, height, width]` for images; a batch is a constant
/// (it needs no gradient) of shape `[batch, ...]`. The targets `T` are
/// class labels (`Vec<usize>`, the default) or real values (an `f64` array
/// whose rows match the inputs'): see [`Targets`].
///
/// [`new`](DataLoader::new) builds on the [`DefaultStrategy`];
/// [`new_in`](DataLoader::new_in) on the strategy the type names
/// (`DataLoader::<_, ArcWeak>::new_in(..)`, the targets' type inferred).
///
/// ```
/// use autograd_nn::DataLoader;
/// use ndarray::{Array2, Array4};
///
/// // Classification: five 1×2×2 images and their labels.
/// let images = Array4::from_shape_fn((5, 1, 2, 2), |(n, _, _, _)| n as f64);
/// let mut loader = DataLoader::new(images, vec![0, 1, 0, 1, 0], 2)?;
/// let (batch, labels) = loader.iter().next().unwrap();
/// assert_eq!((batch.shape(), labels), (vec![2, 1, 2, 2], vec![0, 1]));
/// assert_eq!(loader.iter().count(), 3); // 2 + 2 + 1 rows
///
/// // Regression: real-valued targets come as a constant variable.
/// let x = Array2::from_shape_fn((4, 1), |(n, _)| n as f64);
/// let mut loader = DataLoader::new(x.clone(), 2.0 * &x, 4)?.shuffle(0);
/// let (batch, targets) = loader.iter().next().unwrap();
/// assert_eq!(targets.data(), 2.0 * &batch.data());
/// # Ok::<(), autograd_nn::Error>(())
/// ```
pub struct DataLoader<T = Vec<usize>, S: Strategy = DefaultStrategy> {
    x: ArrayD<f64>,
    targets: T,
    batch_size: usize,
    /// The row order of the current epoch.
    order: Vec<usize>,
    rng: Option<StdRng>,
    _strategy: PhantomData<fn() -> S>,
}

impl<T: Targets> DataLoader<T> {
    /// A loader on the [`DefaultStrategy`] over the rows of `x` (shape
    /// `[N, ...]`), `targets` holding row `i`'s target at `i`.
    ///
    /// # Errors
    /// As [`new_in`](DataLoader::new_in).
    pub fn new<D: Dimension>(x: Array<f64, D>, targets: T, batch_size: usize) -> Result<Self> {
        Self::new_in(x, targets, batch_size)
    }
}

impl<T: Targets, S: Strategy> DataLoader<T, S> {
    /// [`new`](DataLoader::new) on strategy `S`.
    ///
    /// # Errors
    /// [`Error::BatchSize`] for a batch size of 0, [`Error::Rank`] for
    /// 0-dimensional inputs or targets, [`Error::LabelCount`] or
    /// [`Error::TargetCount`] unless there is one target per row.
    pub fn new_in<D: Dimension>(x: Array<f64, D>, targets: T, batch_size: usize) -> Result<Self> {
        const WHAT: &str = "DataLoader";
        let rows = rows_of(WHAT, "inputs", x.shape())?;
        if batch_size == 0 {
            return Err(Error::BatchSize {
                loader: WHAT,
                batch_size,
                rows,
                need: "at least 1",
            });
        }
        targets.check_rows(WHAT, rows)?;
        Ok(DataLoader {
            order: (0..rows).collect(),
            x: x.into_dyn(),
            targets,
            batch_size,
            rng: None,
            _strategy: PhantomData,
        })
    }

    /// Shuffles the rows anew before each epoch, from a generator seeded
    /// with `seed` (`rand`'s `StdRng`, so the same seed gives the same
    /// epochs).
    pub fn shuffle(mut self, seed: u64) -> Self {
        self.rng = Some(StdRng::seed_from_u64(seed));
        self
    }

    /// One epoch: `(inputs, targets)` batches, the inputs a constant (they
    /// need no gradient) of shape `[rows, ...]`.
    pub fn iter(&mut self) -> Batches<'_, T, S> {
        if let Some(rng) = &mut self.rng {
            self.order.sort_unstable();
            self.order.shuffle(rng);
        }
        Batches {
            loader: self,
            next: 0,
        }
    }

    /// The number of rows.
    pub fn len(&self) -> usize {
        self.order.len()
    }

    /// `true` for a loader with no rows.
    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }

    /// The number of batches in an epoch.
    pub fn batches(&self) -> usize {
        self.len().div_ceil(self.batch_size)
    }

    /// The batch size.
    pub fn batch_size(&self) -> usize {
        self.batch_size
    }
}

/// The batches of one epoch ([`DataLoader::iter`]).
pub struct Batches<'a, T, S: Strategy> {
    loader: &'a DataLoader<T, S>,
    next: usize,
}

impl<T: Targets, S: Strategy> Iterator for Batches<'_, T, S> {
    type Item = (Variable<S>, T::Batch<S>);

    fn next(&mut self) -> Option<Self::Item> {
        let loader = self.loader;
        let rows = loader.order.get(self.next..)?;
        if rows.is_empty() {
            return None;
        }
        let rows = &rows[..rows.len().min(loader.batch_size)];
        self.next += rows.len();
        Some(batch(&loader.x, &loader.targets, rows))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = (self.loader.len() - self.next).div_ceil(self.loader.batch_size);
        (left, Some(left))
    }
}

impl<T: Targets, S: Strategy> ExactSizeIterator for Batches<'_, T, S> {}

/// These rows of the inputs, a constant, and their targets.
fn batch<T: Targets, S: Strategy>(
    x: &ArrayD<f64>,
    targets: &T,
    rows: &[usize],
) -> (Variable<S>, T::Batch<S>) {
    (
        Variable::constant_from_array(x.select(Axis(0), rows)),
        targets.select_rows(rows),
    )
}

/// One series read as `batch_size` parallel streams, for a recurrent model
/// that carries its state from one batch to the next (DeZero's
/// `SeqDataLoader`): with `jump = len / batch_size` (rounded down), row
/// `i` of batch `k` is the series' row `(i · jump + k) mod len`, so stream
/// `i` starts at `i · jump` and moves one step a batch. An epoch
/// ([`iter`](SeqDataLoader::iter)) is `ceil(len / batch_size)` batches of
/// `batch_size` rows each, never shuffled.
///
/// Inputs and targets are as [`DataLoader`]'s: any rank with the rows
/// first, class labels or real values.
///
/// ```
/// use autograd_nn::{SeqDataLoader, datasets};
///
/// let (x, t) = datasets::sin_curve(true); // 999 rows
/// let loader = SeqDataLoader::new(x.clone(), t, 3)?;
/// assert_eq!((loader.jump(), loader.batches()), (333, 333));
/// let second: Vec<_> = loader.iter().nth(1).unwrap().0.data().iter().copied().collect();
/// assert_eq!(second, [x[[1, 0]], x[[334, 0]], x[[667, 0]]]);
/// # Ok::<(), autograd_nn::Error>(())
/// ```
pub struct SeqDataLoader<T = Vec<usize>, S: Strategy = DefaultStrategy> {
    x: ArrayD<f64>,
    targets: T,
    batch_size: usize,
    rows: usize,
    _strategy: PhantomData<fn() -> S>,
}

impl<T: Targets> SeqDataLoader<T> {
    /// A loader on the [`DefaultStrategy`] over the series `x` (shape
    /// `[len, ...]`, in time order) and its `targets`, in `batch_size`
    /// streams.
    ///
    /// # Errors
    /// As [`new_in`](SeqDataLoader::new_in).
    pub fn new<D: Dimension>(x: Array<f64, D>, targets: T, batch_size: usize) -> Result<Self> {
        Self::new_in(x, targets, batch_size)
    }
}

impl<T: Targets, S: Strategy> SeqDataLoader<T, S> {
    /// [`new`](SeqDataLoader::new) on strategy `S`.
    ///
    /// # Errors
    /// [`Error::BatchSize`] unless `1 ≤ batch_size ≤ len` (each stream
    /// needs a row to start from), [`Error::Rank`] for 0-dimensional
    /// inputs or targets, [`Error::LabelCount`] or [`Error::TargetCount`]
    /// unless there is one target per row.
    pub fn new_in<D: Dimension>(x: Array<f64, D>, targets: T, batch_size: usize) -> Result<Self> {
        const WHAT: &str = "SeqDataLoader";
        let rows = rows_of(WHAT, "inputs", x.shape())?;
        if batch_size == 0 || batch_size > rows {
            return Err(Error::BatchSize {
                loader: WHAT,
                batch_size,
                rows,
                need: "between 1 and the number of rows",
            });
        }
        targets.check_rows(WHAT, rows)?;
        Ok(SeqDataLoader {
            x: x.into_dyn(),
            targets,
            batch_size,
            rows,
            _strategy: PhantomData,
        })
    }

    /// One epoch: [`batches`](SeqDataLoader::batches) `(inputs, targets)`
    /// batches of [`batch_size`](SeqDataLoader::batch_size) rows, row `i`
    /// of each from stream `i`.
    pub fn iter(&self) -> SeqBatches<'_, T, S> {
        SeqBatches {
            loader: self,
            step: 0,
        }
    }

    /// The number of rows of the series.
    pub fn len(&self) -> usize {
        self.rows
    }

    /// Always `false`: a loader holds at least one row per stream.
    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// The number of streams, the rows of a batch.
    pub fn batch_size(&self) -> usize {
        self.batch_size
    }

    /// The rows between the starts of consecutive streams,
    /// `len / batch_size` rounded down.
    pub fn jump(&self) -> usize {
        self.rows / self.batch_size
    }

    /// The number of batches in an epoch, `ceil(len / batch_size)`.
    pub fn batches(&self) -> usize {
        self.rows.div_ceil(self.batch_size)
    }

    /// The series' rows in batch `step`, stream by stream.
    fn rows_at(&self, step: usize) -> Vec<usize> {
        // Below 2·len each (i · jump < len and step < len), so no overflow:
        // len is an allocated array's row count.
        let jump = self.jump();
        (0..self.batch_size)
            .map(|i| (i * jump + step) % self.rows)
            .collect()
    }
}

/// The batches of one epoch of a [`SeqDataLoader`].
pub struct SeqBatches<'a, T, S: Strategy> {
    loader: &'a SeqDataLoader<T, S>,
    step: usize,
}

impl<T: Targets, S: Strategy> Iterator for SeqBatches<'_, T, S> {
    type Item = (Variable<S>, T::Batch<S>);

    fn next(&mut self) -> Option<Self::Item> {
        let loader = self.loader;
        if self.step >= loader.batches() {
            return None;
        }
        let rows = loader.rows_at(self.step);
        self.step += 1;
        Some(batch(&loader.x, &loader.targets, &rows))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = self.loader.batches() - self.step;
        (left, Some(left))
    }
}

impl<T: Targets, S: Strategy> ExactSizeIterator for SeqBatches<'_, T, S> {}

/// The row count of an array of shape `[N, ...]`, or [`Error::Rank`]
/// naming `what` and the shape for a 0-dimensional one (`which` says
/// whose rows: "inputs", "targets").
pub(crate) fn rows_of(what: &'static str, which: &'static str, shape: &[usize]) -> Result<usize> {
    shape.first().copied().ok_or(Error::Rank {
        what,
        need: match which {
            "targets" => "targets need rows first, [N, ...]",
            _ => "inputs need rows first, [N, ...]",
        },
        shape: shape.to_vec(),
    })
}

/// The fraction of rows of `(N, C)` logits whose largest entry is at the
/// row's label (the first largest, on ties); NaN for no rows.
///
/// ```
/// use autograd_ops::Variable;
/// use ndarray::array;
///
/// let logits = Variable::constant(array![[0.1, 0.9], [0.8, 0.2], [0.3, 0.7]]);
/// assert_eq!(autograd_nn::accuracy(&logits, &[1, 0, 0])?, 2.0 / 3.0);
/// # Ok::<(), autograd_nn::Error>(())
/// ```
///
/// # Errors
/// [`Error::Core`] with the engine's rank error unless `logits` is 2-D, and
/// [`Error::LabelCount`] unless there is one label per row.
pub fn accuracy<S: Strategy>(logits: &Variable<S>, labels: &[usize]) -> Result<f64> {
    if logits.ndim() != 2 {
        return Err(autograd_core::Error::WrongRank {
            op: "accuracy",
            expected: 2,
            shape: logits.shape(),
        }
        .into());
    }
    let predicted = autograd_ops::argmax(logits, 1)?;
    if predicted.len() != labels.len() {
        return Err(Error::LabelCount {
            what: "accuracy",
            rows: predicted.len(),
            labels: labels.len(),
        });
    }
    let correct = predicted.iter().zip(labels).filter(|(p, l)| p == l).count();
    Ok(correct as f64 / labels.len() as f64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use autograd_core::RcWeak;
    use ndarray::{Array2, Array4, array};

    type Loader = DataLoader<Vec<usize>, RcWeak>;

    fn rows(n: usize) -> (Array2<f64>, Vec<usize>) {
        let x = Array2::from_shape_fn((n, 2), |(i, j)| (10 * i + j) as f64);
        (x, (0..n).collect())
    }

    /// The row indices of an epoch, from the first column (10 · row).
    fn epoch(loader: &mut Loader) -> Vec<Vec<usize>> {
        loader
            .iter()
            .map(|(x, labels)| {
                assert!(!x.requires_grad(), "inputs need no gradient");
                let from_x: Vec<usize> = x
                    .data()
                    .rows()
                    .into_iter()
                    .map(|r| r[0] as usize / 10)
                    .collect();
                assert_eq!(from_x, labels, "labels travel with their rows");
                labels
            })
            .collect()
    }

    #[test]
    fn without_shuffle_rows_come_in_order_and_the_last_batch_is_short() {
        let (x, labels) = rows(7);
        let mut loader = Loader::new_in(x, labels, 3).unwrap();
        assert_eq!((loader.len(), loader.batches()), (7, 3));
        let expected = vec![vec![0, 1, 2], vec![3, 4, 5], vec![6]];
        assert_eq!(epoch(&mut loader), expected);
        assert_eq!(epoch(&mut loader), expected);
        assert_eq!(loader.iter().len(), 3);
    }

    #[test]
    fn shuffled_epochs_are_new_permutations_reproducible_from_the_seed() {
        let (x, labels) = rows(50);
        let mut a = Loader::new_in(x.clone(), labels.clone(), 8)
            .unwrap()
            .shuffle(7);
        let mut b = Loader::new_in(x, labels, 8).unwrap().shuffle(7);
        let epochs_a: Vec<Vec<usize>> = (0..3).map(|_| epoch(&mut a).concat()).collect();
        let epochs_b: Vec<Vec<usize>> = (0..3).map(|_| epoch(&mut b).concat()).collect();
        assert_eq!(epochs_a, epochs_b, "the same seed, the same epochs");
        for order in &epochs_a {
            let mut sorted = order.clone();
            sorted.sort_unstable();
            assert_eq!(
                sorted,
                (0..50).collect::<Vec<_>>(),
                "each epoch is a permutation"
            );
        }
        assert_ne!(epochs_a[0], epochs_a[1], "a new permutation each epoch");
        assert_ne!(epochs_a[0], (0..50).collect::<Vec<_>>());
    }

    #[test]
    fn image_batches_keep_their_axes_and_every_image_comes_once_an_epoch() {
        // Image n is filled with n; its label is n too.
        let images = Array4::from_shape_fn((23, 1, 3, 2), |(n, _, _, _)| n as f64);
        let mut loader = DataLoader::<Vec<usize>, RcWeak>::new_in(images, (0..23).collect(), 5)
            .unwrap()
            .shuffle(3);
        for _ in 0..2 {
            let mut seen = Vec::new();
            for (x, labels) in loader.iter() {
                assert_eq!(&x.shape()[1..], [1, 3, 2]);
                let x = x.data();
                for (image, label) in x.outer_iter().zip(&labels) {
                    assert!(image.iter().all(|&v| v == *label as f64));
                }
                seen.extend(labels);
            }
            assert_ne!(seen, (0..23).collect::<Vec<_>>(), "shuffled");
            seen.sort_unstable();
            assert_eq!(seen, (0..23).collect::<Vec<_>>(), "every row once");
        }
    }

    #[test]
    fn real_valued_targets_come_as_constants_with_their_rows() {
        let x = Array2::from_shape_fn((9, 1), |(i, _)| i as f64);
        let t = Array2::from_shape_fn((9, 2), |(i, j)| (10 * i + j) as f64);
        let mut loader = DataLoader::<Array2<f64>, RcWeak>::new_in(x, t, 4)
            .unwrap()
            .shuffle(1);
        let mut seen = Vec::new();
        for (x, t) in loader.iter() {
            assert!(!t.requires_grad(), "targets need no gradient");
            let (x, t) = (x.data(), t.data());
            assert_eq!(t.shape()[1], 2);
            for (row, target) in x.outer_iter().zip(t.outer_iter()) {
                let i = row[0];
                assert_eq!(
                    target.iter().copied().collect::<Vec<_>>(),
                    [10.0 * i, 10.0 * i + 1.0]
                );
                seen.push(i as usize);
            }
        }
        seen.sort_unstable();
        assert_eq!(seen, (0..9).collect::<Vec<_>>());
    }

    #[test]
    fn a_zero_batch_or_counts_or_ranks_that_do_not_fit_are_errors_naming_the_loader() {
        let (x, labels) = rows(4);
        let err = Loader::new_in(x.clone(), labels.clone(), 0).err().unwrap();
        assert!(
            matches!(
                err,
                Error::BatchSize {
                    loader: "DataLoader",
                    batch_size: 0,
                    rows: 4,
                    ..
                }
            ),
            "{err}"
        );
        assert!(matches!(
            Loader::new_in(x.clone(), vec![0; 3], 2),
            Err(Error::LabelCount {
                what: "DataLoader",
                rows: 4,
                labels: 3,
            })
        ));
        let err = DataLoader::<Array2<f64>, RcWeak>::new_in(x.clone(), Array2::zeros((5, 1)), 2)
            .err()
            .unwrap();
        assert!(
            matches!(
                err,
                Error::TargetCount {
                    rows: 4,
                    targets: 5,
                    ..
                }
            ),
            "{err}"
        );
        assert!(err.to_string().contains("DataLoader"), "{err}");
        let scalar = ArrayD::<f64>::zeros(ndarray::IxDyn(&[]));
        let err = Loader::new_in(scalar.clone(), vec![], 2).err().unwrap();
        assert!(
            matches!(
                err,
                Error::Rank {
                    what: "DataLoader",
                    ..
                }
            ),
            "{err}"
        );
        let err = DataLoader::<ArrayD<f64>, RcWeak>::new_in(x, scalar, 2)
            .err()
            .unwrap();
        assert!(err.to_string().contains("targets"), "{err}");
        // A batch larger than the data is one short batch.
        let (x, labels) = rows(3);
        assert_eq!(
            epoch(&mut Loader::new_in(x, labels, 10).unwrap()),
            [vec![0, 1, 2]]
        );
    }

    type SeqLoader = SeqDataLoader<Vec<usize>, RcWeak>;

    /// The row indices of each batch of an epoch.
    fn streams(loader: &SeqLoader) -> Vec<Vec<usize>> {
        loader
            .iter()
            .map(|(x, labels)| {
                let from_x: Vec<usize> = x
                    .data()
                    .rows()
                    .into_iter()
                    .map(|r| r[0] as usize / 10)
                    .collect();
                assert_eq!(from_x, labels, "labels travel with their rows");
                labels
            })
            .collect()
    }

    #[test]
    fn seq_batches_read_parallel_streams_each_one_step_a_batch() {
        let (x, labels) = rows(10);
        let loader = SeqLoader::new_in(x, labels, 3).unwrap();
        assert_eq!((loader.jump(), loader.batches(), loader.len()), (3, 4, 10));
        // Stream i starts at 3i (DeZero: (i · jump + step) % len).
        let expected = vec![vec![0, 3, 6], vec![1, 4, 7], vec![2, 5, 8], vec![3, 6, 9]];
        assert_eq!(streams(&loader), expected);
        assert_eq!(streams(&loader), expected, "every epoch the same");
        assert_eq!(loader.iter().len(), 4);
        // One stream reads the whole series in order.
        let (x, labels) = rows(5);
        let one = SeqLoader::new_in(x, labels, 1).unwrap();
        assert_eq!(streams(&one), [[0], [1], [2], [3], [4]]);
        // As many streams as rows: one batch of every row.
        let (x, labels) = rows(4);
        let all = SeqLoader::new_in(x, labels, 4).unwrap();
        assert_eq!(streams(&all), [[0, 1, 2, 3]]);
    }

    #[test]
    fn seq_streams_over_dezeros_sin_curve_start_at_multiples_of_the_jump() {
        let (x, t) = crate::datasets::sin_curve(true);
        let loader =
            SeqDataLoader::<Array2<f64>, RcWeak>::new_in(x.clone(), t.clone(), 30).unwrap();
        assert_eq!((loader.jump(), loader.batches()), (33, 34));
        for (step, (xb, tb)) in loader.iter().enumerate() {
            assert_eq!((xb.shape(), tb.shape()), (vec![30, 1], vec![30, 1]));
            for i in 0..30 {
                let row = 33 * i + step;
                assert_eq!(xb.data()[[i, 0]], x[[row, 0]], "stream {i}, step {step}");
                assert_eq!(tb.data()[[i, 0]], t[[row, 0]]);
            }
        }
    }

    #[test]
    fn seq_batch_sizes_of_zero_or_above_the_series_length_are_errors() {
        let (x, labels) = rows(4);
        for batch_size in [0, 5] {
            let err = SeqLoader::new_in(x.clone(), labels.clone(), batch_size)
                .err()
                .unwrap();
            assert!(
                matches!(
                    err,
                    Error::BatchSize {
                        loader: "SeqDataLoader",
                        rows: 4,
                        ..
                    }
                ),
                "{err}"
            );
            let message = err.to_string();
            assert!(
                message.contains(&batch_size.to_string()) && message.contains('4'),
                "{message}"
            );
        }
        let empty = Array2::<f64>::zeros((0, 1));
        assert!(matches!(
            SeqLoader::new_in(empty, vec![], 1),
            Err(Error::BatchSize { rows: 0, .. })
        ));
        assert!(matches!(
            SeqLoader::new_in(x, vec![0; 5], 2),
            Err(Error::LabelCount {
                what: "SeqDataLoader",
                ..
            })
        ));
    }

    #[test]
    fn accuracy_counts_rows_whose_largest_logit_is_the_label() {
        let logits =
            Variable::<RcWeak>::constant_from_array(array![[1.0, 2.0, 0.0], [3.0, 3.0, 1.0]]);
        assert_eq!(
            accuracy(&logits, &[1, 0]).unwrap(),
            1.0,
            "the first of ties"
        );
        assert_eq!(accuracy(&logits, &[1, 1]).unwrap(), 0.5);
        assert!(matches!(
            accuracy(&logits, &[1]),
            Err(Error::LabelCount { .. })
        ));
        let flat = Variable::<RcWeak>::constant_from_array(array![1.0, 2.0]);
        let message = accuracy(&flat, &[0]).unwrap_err().to_string();
        assert!(
            message.contains("accuracy") && message.contains("[2]"),
            "{message}"
        );
    }
}
