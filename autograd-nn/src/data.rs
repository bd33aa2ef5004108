//! [`DataLoader`]: a dataset in mini-batches, and [`accuracy`].

use std::marker::PhantomData;

use autograd_core::{DefaultStrategy, Strategy, Variable};
use ndarray::{Array2, Axis};
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;

use crate::{Error, Result};

/// Rows of inputs with their labels, handed out in batches: one epoch per
/// [`iter`](DataLoader::iter), rows in order, or in a new permutation each
/// epoch after [`shuffle`](DataLoader::shuffle) (the same permutations for
/// the same seed). The last batch holds what is left, and may be short.
///
/// ```
/// use autograd_nn::DataLoader;
/// use ndarray::array;
///
/// let x = array![[0.0], [1.0], [2.0], [3.0], [4.0]];
/// let mut loader: DataLoader = DataLoader::new(x, vec![0, 1, 0, 1, 0], 2)?;
/// let sizes: Vec<usize> = loader.iter().map(|(x, labels)| x.shape()[0] + 0 * labels.len()).collect();
/// assert_eq!(sizes, [2, 2, 1]);
/// # Ok::<(), autograd_nn::Error>(())
/// ```
pub struct DataLoader<S: Strategy = DefaultStrategy> {
    x: Array2<f64>,
    labels: Vec<usize>,
    batch_size: usize,
    /// The row order of the current epoch.
    order: Vec<usize>,
    rng: Option<StdRng>,
    _strategy: PhantomData<fn() -> S>,
}

impl<S: Strategy> DataLoader<S> {
    /// A loader over the rows of `x`, `labels[i]` the label of row `i`.
    ///
    /// # Errors
    /// [`Error::ZeroBatchSize`] for a batch size of 0, [`Error::LabelCount`]
    /// when there are not as many labels as rows.
    pub fn new(x: Array2<f64>, labels: Vec<usize>, batch_size: usize) -> Result<Self> {
        if batch_size == 0 {
            return Err(Error::ZeroBatchSize);
        }
        if labels.len() != x.nrows() {
            return Err(Error::LabelCount {
                what: "DataLoader",
                rows: x.nrows(),
                labels: labels.len(),
            });
        }
        Ok(DataLoader {
            order: (0..x.nrows()).collect(),
            x,
            labels,
            batch_size,
            rng: None,
            _strategy: PhantomData,
        })
    }

    /// Shuffles the rows anew before each epoch, from a generator seeded
    /// with `seed` (`rand`'s `StdRng`, so the same seed gives the same
    /// epochs with the `rand` version in Cargo.lock).
    pub fn shuffle(mut self, seed: u64) -> Self {
        self.rng = Some(StdRng::seed_from_u64(seed));
        self
    }

    /// One epoch: `(inputs, labels)` batches, the inputs a constant (they
    /// need no gradient) of shape `(rows, features)`.
    pub fn iter(&mut self) -> Batches<'_, S> {
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
        self.labels.len()
    }

    /// `true` for a loader with no rows.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
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
pub struct Batches<'a, S: Strategy> {
    loader: &'a DataLoader<S>,
    next: usize,
}

impl<S: Strategy> Iterator for Batches<'_, S> {
    type Item = (Variable<S>, Vec<usize>);

    fn next(&mut self) -> Option<Self::Item> {
        let loader = self.loader;
        let rows = loader.order.get(self.next..)?;
        if rows.is_empty() {
            return None;
        }
        let rows = &rows[..rows.len().min(loader.batch_size)];
        self.next += rows.len();
        let x = loader.x.select(Axis(0), rows);
        let labels = rows.iter().map(|&r| loader.labels[r]).collect();
        Some((Variable::constant_from_array(x), labels))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = (self.loader.len() - self.next).div_ceil(self.loader.batch_size);
        (left, Some(left))
    }
}

impl<S: Strategy> ExactSizeIterator for Batches<'_, S> {}

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
/// use autograd_core::Variable;
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
    use ndarray::array;

    type Loader = DataLoader<RcWeak>;

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
        let mut loader = Loader::new(x, labels, 3).unwrap();
        assert_eq!((loader.len(), loader.batches()), (7, 3));
        let expected = vec![vec![0, 1, 2], vec![3, 4, 5], vec![6]];
        assert_eq!(epoch(&mut loader), expected);
        assert_eq!(epoch(&mut loader), expected);
        assert_eq!(loader.iter().len(), 3);
    }

    #[test]
    fn shuffled_epochs_are_new_permutations_reproducible_from_the_seed() {
        let (x, labels) = rows(50);
        let mut a = Loader::new(x.clone(), labels.clone(), 8)
            .unwrap()
            .shuffle(7);
        let mut b = Loader::new(x, labels, 8).unwrap().shuffle(7);
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
    fn a_zero_batch_or_a_label_count_that_differs_is_an_error() {
        let (x, labels) = rows(4);
        assert!(matches!(
            Loader::new(x.clone(), labels.clone(), 0),
            Err(Error::ZeroBatchSize)
        ));
        assert!(matches!(
            Loader::new(x, vec![0; 3], 2),
            Err(Error::LabelCount {
                rows: 4,
                labels: 3,
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
