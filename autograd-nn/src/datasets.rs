//! Datasets that ship with the crate: DeZero's [`spiral`] (generated) and
//! scikit-learn's 8×8 handwritten [`digits`] (real data, compiled in; its
//! provenance and licence are in `data/README.md`), and a seeded
//! [`train_test_split`].

use std::borrow::Borrow;
use std::io::Read;

use flate2::read::GzDecoder;
use ndarray::{Array2, Axis};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_distr::StandardNormal;

use crate::{Error, Result};

/// `digits.csv.gz` from scikit-learn 1.5.2: 1,797 rows of 64 pixel counts
/// and the label.
static DIGITS_CSV_GZ: &[u8] = include_bytes!("../data/digits.csv.gz");

/// The number of digit images.
pub const DIGITS_SAMPLES: usize = 1797;
/// The pixels of one image (8 × 8).
pub const DIGITS_FEATURES: usize = 64;

/// DeZero's spiral (`dezero.datasets.get_spiral`): 3 arms of 100 points in
/// the plane, labels 0–2, rows shuffled. The points of arm `j` are
/// `r (sin θ, cos θ)` with `r = i/100` and `θ = 4j + 4r + 0.2·n` for a
/// standard normal `n`; the generator is `rand`'s `StdRng` seeded as
/// DeZero seeds NumPy's (1984 for the training set, 2020 for the test
/// set), so the points are DeZero's in distribution, not in value.
pub fn spiral(train: bool) -> (Array2<f64>, Vec<usize>) {
    const PER_CLASS: usize = 100;
    const CLASSES: usize = 3;
    let mut rng = StdRng::seed_from_u64(if train { 1984 } else { 2020 });
    let mut x = Array2::zeros((PER_CLASS * CLASSES, 2));
    let mut labels = vec![0; PER_CLASS * CLASSES];
    for class in 0..CLASSES {
        for i in 0..PER_CLASS {
            let rate = i as f64 / PER_CLASS as f64;
            let radius = rate;
            let noise: f64 = rng.sample(StandardNormal);
            let theta = class as f64 * 4.0 + 4.0 * rate + noise * 0.2;
            let row = PER_CLASS * class + i;
            x[[row, 0]] = radius * theta.sin();
            x[[row, 1]] = radius * theta.cos();
            labels[row] = class;
        }
    }
    let mut order: Vec<usize> = (0..labels.len()).collect();
    order.shuffle(&mut rng);
    let x = x.select(Axis(0), &order);
    let labels = order.iter().map(|&i| labels[i]).collect();
    (x, labels)
}

/// scikit-learn's handwritten digits (`sklearn.datasets.load_digits`):
/// 1,797 images of 8×8 pixel counts as rows of 64 raw values in 0–16
/// (divide by 16 for inputs in `[0, 1]`), and their digits 0–9. Read from
/// the copy compiled into the crate; nothing is downloaded.
pub fn digits() -> (Array2<f64>, Vec<usize>) {
    let mut csv = String::new();
    GzDecoder::new(DIGITS_CSV_GZ)
        .read_to_string(&mut csv)
        .expect("the shipped digits.csv.gz is valid gzip text");
    let mut x = Array2::zeros((DIGITS_SAMPLES, DIGITS_FEATURES));
    let mut labels = Vec::with_capacity(DIGITS_SAMPLES);
    for (row, line) in csv.lines().enumerate() {
        let mut fields = line.split(',').map(|f| {
            f64::from(
                f.trim()
                    .parse::<u8>()
                    .expect("the shipped digits.csv.gz holds small integers"),
            )
        });
        for (column, value) in fields.by_ref().take(DIGITS_FEATURES).enumerate() {
            x[[row, column]] = value;
        }
        labels.push(fields.next().expect("a label ends each row") as usize);
    }
    assert_eq!(labels.len(), DIGITS_SAMPLES, "the shipped file's row count");
    (x, labels)
}

/// Rows of a dataset and their labels.
pub type Split = (Array2<f64>, Vec<usize>);

/// `(train, test)`, each `(rows, labels)`: the rows in an order shuffled from `seed`, the first
/// `ceil(test_fraction · rows)` of it for the test set, the rest for
/// training (as scikit-learn's `train_test_split` counts them).
///
/// ```
/// use autograd_nn::datasets::{digits, train_test_split};
///
/// let (x, labels) = digits();
/// let ((x_train, y_train), (x_test, y_test)) = train_test_split(&x, &labels, 0.25, 0)?;
/// assert_eq!((x_train.nrows(), x_test.nrows()), (1347, 450));
/// assert_eq!((y_train.len(), y_test.len()), (1347, 450));
/// # Ok::<(), autograd_nn::Error>(())
/// ```
///
/// The data may be given by value or by reference (`train_test_split(x,
/// labels, ..)` or `train_test_split(&x, &labels, ..)`).
///
/// # Errors
/// [`Error::Fraction`] unless `test_fraction` is in `[0, 1]`,
/// [`Error::LabelCount`] unless there is one label per row.
pub fn train_test_split(
    x: impl Borrow<Array2<f64>>,
    labels: impl AsRef<[usize]>,
    test_fraction: f64,
    seed: u64,
) -> Result<(Split, Split)> {
    let (x, labels) = (x.borrow(), labels.as_ref());
    if !(0.0..=1.0).contains(&test_fraction) {
        return Err(Error::Fraction {
            what: "train_test_split",
            value: test_fraction,
        });
    }
    if labels.len() != x.nrows() {
        return Err(Error::LabelCount {
            what: "train_test_split",
            rows: x.nrows(),
            labels: labels.len(),
        });
    }
    let mut order: Vec<usize> = (0..labels.len()).collect();
    order.shuffle(&mut StdRng::seed_from_u64(seed));
    // At most `rows`, since the fraction is at most 1.
    let tests = (test_fraction * labels.len() as f64).ceil() as usize;
    let (test, train) = order.split_at(tests.min(labels.len()));
    let part = |rows: &[usize]| {
        (
            x.select(Axis(0), rows),
            rows.iter().map(|&r| labels[r]).collect(),
        )
    };
    Ok((part(train), part(test)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digits_are_scikit_learns_1797_images_with_their_labels() {
        let (x, labels) = digits();
        assert_eq!(x.shape(), [DIGITS_SAMPLES, DIGITS_FEATURES]);
        // The file's first row, as `load_digits().data[0]` prints it.
        let first: Vec<f64> = [
            0, 0, 5, 13, 9, 1, 0, 0, 0, 0, 13, 15, 10, 15, 5, 0, 0, 3, 15, 2, 0, 11, 8, 0, 0, 4,
            12, 0, 0, 8, 8, 0, 0, 5, 8, 0, 0, 9, 8, 0, 0, 4, 11, 0, 1, 12, 7, 0, 0, 2, 14, 5, 10,
            12, 0, 0, 0, 0, 6, 13, 10, 0, 0, 0,
        ]
        .map(f64::from)
        .to_vec();
        assert_eq!(x.row(0).to_vec(), first);
        assert_eq!(&labels[..3], [0, 1, 2]);
        assert!(
            x.iter()
                .all(|&v| (0.0..=16.0).contains(&v) && v.fract() == 0.0)
        );
        let mut counts = [0; 10];
        labels.iter().for_each(|&l| counts[l] += 1);
        // `np.bincount(load_digits().target)`
        assert_eq!(counts, [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]);
    }

    #[test]
    fn the_spiral_has_three_arms_of_100_points_in_the_unit_disc() {
        let (x, labels) = spiral(true);
        assert_eq!(x.shape(), [300, 2]);
        for class in 0..3 {
            assert_eq!(labels.iter().filter(|&&l| l == class).count(), 100);
        }
        assert!(x.rows().into_iter().all(|p| p[0].hypot(p[1]) < 1.0));
        assert_ne!(labels[..10], [0; 10], "rows are shuffled");
        assert_eq!(spiral(true), (x.clone(), labels), "fixed seeds");
        assert_ne!(spiral(false).0, x, "the test set has its own seed");
    }

    #[test]
    fn train_test_split_partitions_the_rows_as_scikit_learn_counts() {
        let x = Array2::from_shape_fn((10, 1), |(i, _)| i as f64);
        let labels: Vec<usize> = (0..10).collect();
        let ((x_train, y_train), (x_test, y_test)) =
            train_test_split(&x, &labels, 0.25, 3).unwrap();
        assert_eq!((y_train.len(), y_test.len()), (7, 3), "ceil(2.5) test rows");
        let mut all: Vec<usize> = y_train.iter().chain(&y_test).copied().collect();
        all.sort_unstable();
        assert_eq!(all, labels);
        assert_eq!(x_test.column(0).mapv(|v| v as usize).to_vec(), y_test);
        assert_eq!(x_train.column(0).mapv(|v| v as usize).to_vec(), y_train);
        assert_eq!(
            train_test_split(x.clone(), labels.clone(), 0.25, 3)
                .unwrap()
                .1
                .1,
            y_test,
            "by value too"
        );
        assert!(matches!(
            train_test_split(&x, &labels, 1.5, 0),
            Err(Error::Fraction { .. })
        ));
        assert!(matches!(
            train_test_split(&x, &labels[..9], 0.5, 0),
            Err(Error::LabelCount { .. })
        ));
    }
}
