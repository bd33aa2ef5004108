//! What the two recurrent examples (`rnn_sin`, DeZero step 59, and
//! `lstm_sin`, step 60) share: their arguments, DeZero's training loop
//! with truncated backpropagation through time, DeZero's test curve and
//! prediction loop, and the two figures.

use std::error::Error;
use std::path::{Path, PathBuf};

use autograd_nn::prelude::*;
use plotters::prelude::*;

/// The hidden width of both examples' layer.
pub(crate) const HIDDEN: usize = 100;
/// Steps a window of truncated backpropagation runs.
pub(crate) const BPTT_LENGTH: usize = 30;
/// Epochs, unless the command line gives another number.
pub(crate) const EPOCHS: usize = 100;

/// The command line: `[EPOCHS [OUT_DIR]]` (CI runs 2 epochs).
pub(crate) fn args() -> Result<(usize, PathBuf), Box<dyn Error>> {
    let mut args = std::env::args().skip(1);
    let epochs: usize = args.next().map_or(Ok(EPOCHS), |a| a.parse())?;
    let out = args.next().map_or_else(default_out_dir, PathBuf::from);
    std::fs::create_dir_all(&out)?;
    Ok((epochs, out))
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

/// One epoch of DeZero's truncated-BPTT loop (steps 59 and 60) over the
/// `(x, t)` pairs: the state reset, the loss summed on over the whole
/// epoch, and at each window's end (`bptt`, counting the pairs from 1)
/// `cleargrads`, backward, `unchain_backward` and an update. Backward
/// releases the window's graph as it runs (`retain_graph(false)`), and the
/// cut makes the carried state and the loss leaves: nothing of the window
/// is left but its values. Pairs after the last window's end run forward
/// only. Returns the epoch's mean loss, DeZero's `loss.data / count`.
pub(crate) fn train_epoch(
    model: &dyn Module,
    optimizer: &mut dyn Optimizer,
    bptt: Bptt,
    pairs: impl Iterator<Item = (Variable, Variable)>,
) -> Result<f64, Box<dyn Error>> {
    model.reset_state();
    let (mut loss, mut count): (Option<Variable>, usize) = (None, 0);
    for (x, t) in pairs {
        let term = mean_squared_error(&model.forward(&x)?, &t)?;
        // DeZero's `loss += F.mean_squared_error(y, t)`, from 0.
        let sum = match loss.take() {
            Some(loss) => &loss + &term,
            None => term,
        };
        count += 1;
        if bptt.ends_window(count) {
            model.cleargrad();
            sum.backward_with(BackwardOptions::default().retain_graph(false))?;
            sum.unchain_backward();
            optimizer.step()?;
        }
        loss = Some(sum);
    }
    let total = loss.and_then(|l| l.item()).ok_or("an epoch of no steps")?;
    Ok(total / count as f64)
}

/// DeZero's test curve: `cos` at 1,000 points of `np.linspace(0, 4π, 1000)`
/// (two periods, where the training curve is one period of `sin`).
pub(crate) fn cos_curve() -> Vec<f64> {
    const N: usize = 1000;
    let step = 4.0 * std::f64::consts::PI / (N - 1) as f64;
    (0..N)
        .map(|i| {
            let x = if i + 1 == N {
                4.0 * std::f64::consts::PI
            } else {
                i as f64 * step
            };
            x.cos()
        })
        .collect()
}

/// DeZero's prediction loop: the state reset, then each point fed alone as
/// a `(1, 1)` batch under `no_grad`, the model's output kept.
pub(crate) fn predict(model: &dyn Module, xs: &[f64]) -> Result<Vec<f64>, Box<dyn Error>> {
    model.reset_state();
    let _no_grad = no_grad();
    let mut predicted = Vec::with_capacity(xs.len());
    for &x in xs {
        let y = model.forward(&Variable::constant(ndarray::arr2(&[[x]])))?;
        predicted.push(y.item().ok_or("a (1, 1) output")?);
    }
    model.reset_state();
    Ok(predicted)
}

/// The truth and the prediction against the point's index, as DeZero's
/// figure draws them.
pub(crate) fn prediction_svg(
    title: &str,
    truth: &[f64],
    predicted: &[f64],
) -> Result<String, Box<dyn Error>> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (720, 400)).into_drawing_area();
        root.fill(&WHITE)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 18))
            .margin(10)
            .x_label_area_size(35)
            .y_label_area_size(45)
            .build_cartesian_2d(0..truth.len(), -1.3..1.3)?;
        chart
            .configure_mesh()
            .x_desc("x (index of the point)")
            .y_desc("y")
            .draw()?;
        let blue = RGBColor(31, 119, 180);
        let orange = RGBColor(255, 127, 14);
        chart
            .draw_series(LineSeries::new(
                truth.iter().copied().enumerate(),
                blue.stroke_width(2),
            ))?
            .label("y = cos(x)")
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], blue.stroke_width(2)));
        chart
            .draw_series(LineSeries::new(
                predicted.iter().copied().enumerate(),
                orange.stroke_width(2),
            ))?
            .label("predict")
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], orange.stroke_width(2)));
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::LowerRight)
            .background_style(WHITE.mix(0.9))
            .border_style(BLACK.mix(0.4))
            .draw()?;
        root.present()?;
    }
    Ok(svg)
}

/// The loss of each epoch, on a log scale.
pub(crate) fn loss_svg(title: &str, losses: &[f64]) -> Result<String, Box<dyn Error>> {
    let positive = || losses.iter().copied().filter(|l| *l > 0.0 && l.is_finite());
    let top = positive().fold(f64::MIN_POSITIVE, f64::max) * 1.5;
    let bottom = positive().fold(top, f64::min) / 1.5;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (640, 400)).into_drawing_area();
        root.fill(&WHITE)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 18))
            .margin(10)
            .x_label_area_size(35)
            .y_label_area_size(60)
            .build_cartesian_2d(1..losses.len().max(2), (bottom..top).log_scale())?;
        chart
            .configure_mesh()
            .x_desc("epoch")
            .y_desc("mean squared error (log scale)")
            .y_label_formatter(&|v| format!("{v:.0e}"))
            .draw()?;
        chart.draw_series(LineSeries::new(
            losses.iter().enumerate().map(|(i, &l)| (i + 1, l)),
            RGBColor(31, 119, 180).stroke_width(2),
        ))?;
        root.present()?;
    }
    Ok(svg)
}

/// Prints the run's time and final loss, then draws the model's prediction
/// of the cosine beside the truth and the loss per epoch into `out`, as
/// `{name}_prediction.svg` and `{name}_loss.svg`.
pub(crate) fn report(
    model: &dyn Module,
    name: &str,
    title: &str,
    losses: &[f64],
    elapsed: std::time::Duration,
    out: &Path,
) -> Result<(), Box<dyn Error>> {
    let (epochs, seconds) = (losses.len(), elapsed.as_secs_f64());
    println!(
        "{epochs} epochs in {seconds:.1} s ({:.1} ms an epoch)",
        1e3 * seconds / epochs.max(1) as f64
    );
    if let Some(last) = losses.last() {
        println!("final loss {last:.6} after {epochs} epochs");
    }
    let truth = cos_curve();
    let predicted = predict(model, &truth)?;
    let prediction = out.join(format!("{name}_prediction.svg"));
    let svg = prediction_svg(
        &format!("{title}: the cosine predicted point by point"),
        &truth,
        &predicted,
    )?;
    std::fs::write(&prediction, svg)?;
    let curve = out.join(format!("{name}_loss.svg"));
    std::fs::write(
        &curve,
        loss_svg(&format!("{title}: loss per epoch"), losses)?,
    )?;
    println!("wrote {} and {}", prediction.display(), curve.display());
    Ok(())
}
