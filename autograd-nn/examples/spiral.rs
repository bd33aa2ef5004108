//! DeZero step 48: a 2-10-3 sigmoid MLP learns the spiral with plain SGD
//! (rate 1.0, batches of 30, 300 epochs). Prints the mean loss every 10
//! epochs and the final accuracy, and draws the decision regions with the
//! points, and the loss curve, as SVG files.
//!
//! ```text
//! cargo run --release -p autograd-nn --example spiral [-- OUT_DIR]
//! ```
//! (`OUT_DIR` defaults to `nn-examples` in the workspace's target directory,
//! `$CARGO_TARGET_DIR` when set, wherever the command runs from.)

use std::error::Error;
use std::path::{Path, PathBuf};

use autograd_nn::prelude::*;
use ndarray::Array2;
use plotters::prelude::*;

const EPOCHS: usize = 300;
const BATCH: usize = 30;
const COLORS: [RGBColor; 3] = [
    RGBColor(27, 158, 119),
    RGBColor(217, 95, 2),
    RGBColor(117, 112, 179),
];

fn main() -> Result<(), Box<dyn Error>> {
    let out = std::env::args()
        .nth(1)
        .map_or_else(default_out_dir, PathBuf::from);
    std::fs::create_dir_all(&out)?;

    let (x, labels) = datasets::spiral(true);
    let mut loader = DataLoader::new(x.clone(), labels.clone(), BATCH)?.shuffle(0);
    let model = Mlp::new(&[2, 10, 3], Activation::Sigmoid, 0)?;
    let mut sgd = Sgd::new(model.params(), 1.0)?;

    let mut losses = Vec::with_capacity(EPOCHS);
    for epoch in 1..=EPOCHS {
        let mut sum = 0.0;
        for (batch, batch_labels) in loader.iter() {
            sgd.cleargrad();
            let loss = softmax_cross_entropy(&model.forward(&batch)?, &batch_labels)?;
            loss.backward()?;
            sgd.step()?;
            sum += loss.item().expect("a 0-d loss") * batch_labels.len() as f64;
        }
        let mean = sum / loader.len() as f64;
        losses.push(mean);
        if epoch % 10 == 0 {
            println!("epoch {epoch:3}  loss {mean:.4}");
        }
    }
    let logits = {
        let _no_grad = no_grad();
        model.forward(&Variable::constant(x.clone()))?
    };
    println!(
        "final accuracy {:.1}% on the training spiral",
        100.0 * accuracy(&logits, &labels)?
    );

    let regions = out.join("spiral_regions.svg");
    std::fs::write(&regions, regions_svg(&model, &x, &labels)?)?;
    let curve = out.join("spiral_loss.svg");
    std::fs::write(&curve, loss_svg(&losses)?)?;
    println!("wrote {} and {}", regions.display(), curve.display());
    Ok(())
}

/// Where the figures go without an argument: `nn-examples` in the
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

/// A tick's label with one decimal, never "-0.0".
fn tick(v: &f64) -> String {
    let v = if v.abs() < 1e-9 { 0.0 } else { *v };
    format!("{v:.1}")
}

/// The class the model predicts over a grid of the plane, with the points
/// and a legend of the classes. Each row of the grid is drawn as runs of
/// one class (a rectangle a run, not a cell), which keeps the file small.
fn regions_svg(model: &Mlp, x: &Array2<f64>, labels: &[usize]) -> Result<String, Box<dyn Error>> {
    const CELLS: usize = 160;
    let (lo, hi) = (-1.1, 1.1);
    let cell = (hi - lo) / CELLS as f64;
    let grid = Array2::from_shape_fn((CELLS * CELLS, 2), |(i, axis)| {
        let (row, column) = (i / CELLS, i % CELLS);
        lo + cell * (if axis == 0 { column } else { row }) as f64 + cell / 2.0
    });
    let predicted = {
        let _no_grad = no_grad();
        argmax(&model.forward(&Variable::constant(grid))?, 1)?
    };
    // Each row's runs of one class: (row, first column, past the last, class).
    let mut runs = Vec::new();
    for (row, classes) in predicted.chunks(CELLS).enumerate() {
        let mut start = 0;
        for column in 1..=CELLS {
            if column == CELLS || classes[column] != classes[start] {
                runs.push((row, start, column, classes[start]));
                start = column;
            }
        }
    }
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (600, 600)).into_drawing_area();
        root.fill(&WHITE)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(
                "Spiral: decision regions of a 2-10-3 MLP",
                ("sans-serif", 18),
            )
            .margin(10)
            .x_label_area_size(40)
            .y_label_area_size(50)
            .build_cartesian_2d(lo..hi, lo..hi)?;
        chart
            .configure_mesh()
            .disable_mesh()
            .x_desc("first coordinate")
            .y_desc("second coordinate")
            .x_label_formatter(&tick)
            .y_label_formatter(&tick)
            .draw()?;
        chart.draw_series(runs.iter().map(|&(row, first, past, class)| {
            let y0 = lo + cell * row as f64;
            Rectangle::new(
                [
                    (lo + cell * first as f64, y0),
                    (lo + cell * past as f64, y0 + cell),
                ],
                COLORS[class].mix(0.25).filled(),
            )
        }))?;
        for (class, color) in COLORS.iter().enumerate() {
            let points = x
                .rows()
                .into_iter()
                .zip(labels)
                .filter(|&(_, &label)| label == class)
                .map(|(p, _)| Circle::new((p[0], p[1]), 3, color.filled()));
            chart
                .draw_series(points)?
                .label(format!(
                    "class {class}: points, and where the model predicts it"
                ))
                .legend(move |(x, y)| {
                    EmptyElement::at((x, y))
                        + Rectangle::new([(0, -6), (20, 6)], color.mix(0.25).filled())
                        + Circle::new((10, 0), 3, color.filled())
                });
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(WHITE.mix(0.9))
            .border_style(BLACK.mix(0.4))
            .label_font(("sans-serif", 12))
            .draw()?;
        root.present()?;
    }
    Ok(svg)
}

/// The mean loss of each epoch.
fn loss_svg(losses: &[f64]) -> Result<String, Box<dyn Error>> {
    let top = losses.iter().copied().fold(0.0, f64::max) * 1.05;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (640, 400)).into_drawing_area();
        root.fill(&WHITE)?;
        let mut chart = ChartBuilder::on(&root)
            .caption("Spiral: mean loss per epoch", ("sans-serif", 18))
            .margin(10)
            .x_label_area_size(35)
            .y_label_area_size(50)
            .build_cartesian_2d(1..losses.len(), 0.0..top)?;
        chart
            .configure_mesh()
            .x_desc("epoch")
            .y_desc("softmax cross-entropy")
            .draw()?;
        chart.draw_series(LineSeries::new(
            losses.iter().enumerate().map(|(i, &l)| (i + 1, l)),
            COLORS[0].stroke_width(2),
        ))?;
        root.present()?;
    }
    Ok(svg)
}
