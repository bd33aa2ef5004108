//! A convolutional network learns real MNIST digits (the 5,000 shipped
//! with the crate; DeZero steps 54–57's layers): conv(1→8, 3×3, pad 1),
//! ReLU, max pool 2 → conv(8→16, 3×3, pad 1), ReLU, max pool 2 → dropout
//! 0.25 → flatten → linear(784→10), trained with Adam (rate 10⁻³, batches
//! of 32) on 4,000 images (400 a digit, `stratified_split`, seed 0) and
//! tested on the 1,000 held out (100 a digit). Every seed is fixed: the
//! layers' weights, the loader's shuffles and the dropout masks
//! (`manual_seed`). Each epoch prints the mean training loss, the accuracy
//! on the training batches as they went by (dropout on) and the held-out
//! accuracy, evaluated under `no_grad` and `eval_mode`; the end says at
//! which epoch the held-out accuracy first reached 97%, and draws the loss
//! and accuracy curves as an SVG file.
//!
//! ```text
//! cargo run --release -p autograd-nn --example cnn_mnist [-- EPOCHS [TRAIN_IMAGES [OUT_DIR]]]
//! ```
//! (`EPOCHS` defaults to 50; `TRAIN_IMAGES`, at most 4,000, to all of them:
//! fewer train on the first ones of the shuffled training split, for a short
//! run; `OUT_DIR` to `nn-examples` in the workspace's target directory,
//! `$CARGO_TARGET_DIR` when set, wherever the command runs from.)

use std::error::Error;
use std::path::{Path, PathBuf};
use std::time::Instant;

use autograd_nn::prelude::*;
use ndarray::{Array4, Axis, Slice};
use plotters::prelude::*;

/// The held-out accuracy the example is meant to reach.
const TARGET: f64 = 0.97;
/// Images per training batch.
const BATCH: usize = 32;
/// Images per evaluation batch (no graph is kept, so only the activations
/// of one batch are alive at a time).
const EVAL_BATCH: usize = 250;

fn main() -> Result<(), Box<dyn Error>> {
    let mut args = std::env::args().skip(1);
    let epochs: usize = args.next().map_or(Ok(50), |a| a.parse())?;
    let limit: Option<usize> = args.next().map(|a| a.parse()).transpose()?;
    let out = args.next().map_or_else(default_out_dir, PathBuf::from);
    std::fs::create_dir_all(&out)?;

    // [5000, 1, 28, 28] in [0, 1], sorted by digit; split keeping every
    // digit's share, each set in a shuffled order.
    let (images, labels) = datasets::mnist_5k();
    let ((mut x_train, mut y_train), (x_test, y_test)) =
        datasets::stratified_split(&images, &labels, 0.2, 0)?;
    if let Some(n) = limit.filter(|&n| n < y_train.len()) {
        x_train = x_train.slice_axis(Axis(0), Slice::from(..n)).to_owned();
        y_train.truncate(n);
    }
    println!(
        "mnist_5k: {} training and {} held-out images of 28x28 pixels",
        y_train.len(),
        y_test.len()
    );

    manual_seed(0); // the dropout masks
    let model = Sequential::new()
        .push(Conv2d::new(1, 8, (3, 3), (1, 1), (1, 1), 0)?) // [N, 8, 28, 28]
        .push(Activation::Relu)
        .push(MaxPool2d::new((2, 2))) // [N, 8, 14, 14]
        .push(Conv2d::new(8, 16, (3, 3), (1, 1), (1, 1), 1)?) // [N, 16, 14, 14]
        .push(Activation::Relu)
        .push(MaxPool2d::new((2, 2))) // [N, 16, 7, 7]
        .push(Dropout::new(0.25)?)
        .push(Flatten) // [N, 784]
        .push(Linear::new(16 * 7 * 7, 10, 2)?);
    let mut adam = Adam::new(model.params(), 1e-3)?;
    let mut loader = DataLoader::new(x_train, y_train, BATCH)?.shuffle(0);

    let mut curves = Curves::default();
    let started = Instant::now();
    for epoch in 1..=epochs {
        let (mut loss_sum, mut correct) = (0.0, 0.0);
        for (batch, batch_labels) in loader.iter() {
            adam.cleargrad();
            let logits = model.forward(&batch)?;
            let loss = softmax_cross_entropy(&logits, &batch_labels)?;
            // Lets go of the graph as it runs: Adam writes into the
            // weights in place, the loss still in hand.
            loss.backward_once()?;
            adam.step()?;
            let n = batch_labels.len() as f64;
            loss_sum += loss.item().expect("a 0-d loss") * n;
            correct += accuracy(&logits, &batch_labels)? * n;
        }
        let held_out = held_out_accuracy(&model, &x_test, &y_test)?;
        let seen = loader.len() as f64;
        curves.push(loss_sum / seen, correct / seen, held_out);
        println!(
            "epoch {epoch:2}  loss {:.4}  training accuracy {:5.1}%  held-out accuracy {:5.1}%  ({:.0} s)",
            loss_sum / seen,
            100.0 * correct / seen,
            100.0 * held_out,
            started.elapsed().as_secs_f64()
        );
    }
    match curves.held_out.iter().position(|&a| a >= TARGET) {
        Some(i) => println!(
            "held-out accuracy first reached {:.0}% at epoch {}: {:.1}%; best {:.1}%, last {:.1}%",
            100.0 * TARGET,
            i + 1,
            100.0 * curves.held_out[i],
            100.0 * curves.held_out.iter().copied().fold(0.0, f64::max),
            100.0 * curves.held_out.last().copied().unwrap_or(0.0),
        ),
        None => println!(
            "held-out accuracy did not reach {:.0}% in {epochs} epochs",
            100.0 * TARGET
        ),
    }
    if !curves.loss.is_empty() {
        let path = out.join("cnn_mnist_curves.svg");
        std::fs::write(&path, curves.svg()?)?;
        println!("wrote {}", path.display());
    }
    Ok(())
}

/// The share of held-out images whose largest logit is their digit,
/// evaluated without a graph and with dropout off, a batch at a time.
fn held_out_accuracy(model: &Sequential, x: &Array4<f64>, labels: &[usize]) -> Result<f64> {
    let _no_grad = no_grad();
    let _eval = eval_mode();
    let mut correct = 0.0;
    for (i, labels) in labels.chunks(EVAL_BATCH).enumerate() {
        let rows = Slice::from(i * EVAL_BATCH..i * EVAL_BATCH + labels.len());
        let batch = Variable::constant(x.slice_axis(Axis(0), rows).to_owned());
        correct += accuracy(&model.forward(&batch)?, labels)? * labels.len() as f64;
    }
    Ok(correct / labels.len().max(1) as f64)
}

/// Each epoch's figures.
#[derive(Default)]
struct Curves {
    loss: Vec<f64>,
    training: Vec<f64>,
    held_out: Vec<f64>,
}

impl Curves {
    fn push(&mut self, loss: f64, training: f64, held_out: f64) {
        self.loss.push(loss);
        self.training.push(training);
        self.held_out.push(held_out);
    }

    /// Two panels: the mean training loss per epoch; the training and
    /// held-out accuracy per epoch, with the 97% line.
    fn svg(&self) -> Result<String, Box<dyn Error>> {
        const BLUE: RGBColor = RGBColor(27, 158, 119);
        const ORANGE: RGBColor = RGBColor(217, 95, 2);
        const PURPLE: RGBColor = RGBColor(117, 112, 179);
        let epochs = self.loss.len();
        let mut svg = String::new();
        {
            let root = SVGBackend::with_string(&mut svg, (1000, 420)).into_drawing_area();
            root.fill(&WHITE)?;
            let (left, right) = root.split_horizontally(500);

            let top = self.loss.iter().copied().fold(0.0, f64::max) * 1.05;
            let mut chart = ChartBuilder::on(&left)
                .caption("CNN on MNIST: mean training loss", ("sans-serif", 18))
                .margin(10)
                .x_label_area_size(35)
                .y_label_area_size(50)
                .build_cartesian_2d(1..epochs.max(2), 0.0..top.max(1e-3))?;
            chart
                .configure_mesh()
                .x_desc("epoch")
                .y_desc("softmax cross-entropy")
                .draw()?;
            chart.draw_series(LineSeries::new(
                (1..).zip(self.loss.iter().copied()),
                BLUE.stroke_width(2),
            ))?;

            let lowest = self
                .training
                .iter()
                .chain(&self.held_out)
                .copied()
                .fold(TARGET, f64::min);
            let bottom = (100.0 * lowest - 1.0).floor().max(0.0);
            let mut chart = ChartBuilder::on(&right)
                .caption("CNN on MNIST: accuracy", ("sans-serif", 18))
                .margin(10)
                .x_label_area_size(35)
                .y_label_area_size(50)
                .build_cartesian_2d(1..epochs.max(2), bottom..100.0)?;
            chart
                .configure_mesh()
                .x_desc("epoch")
                .y_desc("accuracy, %")
                .draw()?;
            let percent = |v: &Vec<f64>| (1..).zip(v.iter().map(|a| 100.0 * a)).collect::<Vec<_>>();
            chart
                .draw_series(LineSeries::new(
                    percent(&self.training),
                    BLUE.stroke_width(2),
                ))?
                .label("training batches (dropout on)")
                .legend(|(x, y)| PathElement::new([(x, y), (x + 20, y)], BLUE.stroke_width(2)));
            chart
                .draw_series(LineSeries::new(
                    percent(&self.held_out),
                    ORANGE.stroke_width(2),
                ))?
                .label("1,000 held out (evaluation)")
                .legend(|(x, y)| PathElement::new([(x, y), (x + 20, y)], ORANGE.stroke_width(2)));
            let target = 100.0 * TARGET;
            chart
                .draw_series(LineSeries::new(
                    [(1, target), (epochs.max(2), target)],
                    PURPLE.stroke_width(1),
                ))?
                .label("97%")
                .legend(|(x, y)| PathElement::new([(x, y), (x + 20, y)], PURPLE.stroke_width(1)));
            chart
                .configure_series_labels()
                .position(SeriesLabelPosition::LowerRight)
                .background_style(WHITE.mix(0.9))
                .border_style(BLACK.mix(0.4))
                .label_font(("sans-serif", 12))
                .draw()?;
            root.present()?;
        }
        Ok(svg)
    }
}

/// Where the figure goes without an argument: `nn-examples` in the
/// workspace's target directory, whichever folder the command runs from:
/// `CARGO_TARGET_DIR` when set (relative to the current folder, as cargo
/// reads it); else the one this example was built in (the ancestor of its
/// path that cargo tags with `CACHEDIR.TAG`); else `target` in the
/// workspace's root.
fn default_out_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .filter(|dir| !dir.is_empty())
        .map(PathBuf::from)
        .or_else(|| {
            let exe = std::env::current_exe().ok()?;
            exe.ancestors()
                .find(|dir| dir.join("CACHEDIR.TAG").is_file())
                .map(Path::to_path_buf)
        })
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"));
    target.join("nn-examples")
}
