//! The live-heap plot: the four ways to free a graph at a glance. Flat
//! (the weak link frees each graph on drop, a region goes with its
//! output), a sawtooth (a collector frees them when it runs), rising until
//! the budget (nothing frees them). Drawn
//! with plotters' SVG backend, which needs no system library.

use plotters::element::DashedPathElement;
use plotters::prelude::*;

use crate::report::seed_loop::RunResult;
use crate::report::training::TrainingRun;
use crate::report::value_memory::{Mode, ValueMemoryRow};
use crate::report::{Report, bytes};

const COLORS: [RGBColor; 8] = [
    RGBColor(27, 158, 119),
    RGBColor(117, 112, 179),
    RGBColor(217, 95, 2),
    RGBColor(231, 41, 138),
    RGBColor(102, 166, 30),
    RGBColor(230, 171, 2),
    RGBColor(166, 118, 29),
    RGBColor(102, 102, 102),
];

/// A round step for `top` bytes in at most `ticks` intervals (a power of
/// two), and the axis top it gives.
fn byte_ticks(top: u64, ticks: u64) -> (u64, u64) {
    let mut step = 1u64;
    while top.div_ceil(step) > ticks {
        step *= 2;
    }
    (step, top.div_ceil(step).max(1) * step)
}

/// A tick's label: whole units without decimals (`128 MiB`).
fn tick(value: u64) -> String {
    let units = [(1u64 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB")];
    for (size, unit) in units {
        if value >= size && value % size == 0 {
            return format!("{} {unit}", value / size);
        }
    }
    bytes(value as f64)
}

/// The curve's points up to `max_x`, cut where it crosses `max_x`.
fn clipped(run: &RunResult, max_x: u64) -> Vec<(u64, u64)> {
    let mut points = Vec::new();
    let mut previous: Option<(u64, u64)> = None;
    for sample in &run.samples {
        let (x, y) = (
            sample.iteration as u64,
            sample.live_heap_bytes.max(0) as u64,
        );
        if x > max_x {
            if let Some((px, py)) = previous {
                let t = (max_x - px) as f64 / (x - px).max(1) as f64;
                points.push((max_x, (py as f64 + (y as f64 - py as f64) * t) as u64));
            }
            break;
        }
        points.push((x, y));
        previous = Some((x, y));
    }
    points
}

/// Live heap bytes against iterations, one line per strategy. When a run
/// stopped early at the heap budget, the axis ends where it stopped (the
/// other runs go on as they were, and the axis's label says how far); the
/// legend gives each run's value where its line ends on the axis.
///
/// # Errors
/// What plotters reports (drawing into a string does not fail in practice).
pub fn live_heap_svg(report: &Report) -> Result<String, Box<dyn std::error::Error>> {
    let runs: Vec<&RunResult> = report
        .runs
        .iter()
        .filter(|r| r.subject.strategy().is_some())
        .collect();
    let last = |r: &RunResult| r.samples.last().map_or(0, |s| s.iteration as u64);
    let max_x = runs
        .iter()
        .filter(|r| r.capped_by_budget)
        .map(|r| last(r))
        .max()
        .or_else(|| runs.iter().map(|r| last(r)).max())
        .unwrap_or(1)
        .max(1);
    let lines: Vec<Vec<(u64, u64)>> = runs.iter().map(|r| clipped(r, max_x)).collect();
    let longest = runs.iter().map(|r| last(r)).max().unwrap_or(0);
    let x_desc = if longest > max_x {
        format!(
            "iteration (the axis ends at {max_x}, where the heap budget stopped the runs that \
             keep their graphs; the others ran {longest})"
        )
    } else {
        "iteration".to_string()
    };
    let max_y = lines
        .iter()
        .flatten()
        .map(|&(_, y)| y)
        .max()
        .unwrap_or(0)
        .max(1 << 20);
    let (step, top) = byte_ticks(max_y + max_y / 20, 6);
    let y_ticks: Vec<u64> = (0..=top / step).map(|i| i * step).collect();

    let mut svg = String::new();
    {
        let training = (!report.training.is_empty()) as u32;
        let values = (!report.value_memory.is_empty()) as u32;
        let height = 480 + 400 * (training + values);
        let root = SVGBackend::with_string(&mut svg, (960, height)).into_drawing_area();
        root.fill(&WHITE)?;
        let (upper, rest) = root.split_vertically(480);
        let (lower, values_area) = rest.split_vertically(400 * training);
        let mut chart = ChartBuilder::on(&upper)
            .caption(
                format!(
                    "Live heap during the seed loop ({} elements, {} threads)",
                    report.config.size, report.config.threads
                ),
                ("sans-serif", 20),
            )
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(80)
            .build_cartesian_2d(0u64..max_x, (0u64..top).with_key_points(y_ticks))?;
        chart
            .configure_mesh()
            .x_desc(x_desc)
            .y_desc("live heap")
            .x_labels(11)
            .y_labels(8)
            .y_label_formatter(&|v| tick(*v))
            .light_line_style(RGBColor(238, 238, 238))
            .bold_line_style(RGBColor(210, 210, 210))
            .label_style(("sans-serif", 12))
            .axis_desc_style(("sans-serif", 14))
            .draw()?;
        for (i, (run, points)) in runs.iter().zip(lines).enumerate() {
            let freed = run.subject.describe_freeing();
            // The value where the line ends: the run's last sample, or where
            // its line crosses the end of the axis.
            let (x, y) = points.last().copied().unwrap_or_default();
            let label = format!(
                "{} ({freed}): {} at iteration {x}",
                run.subject,
                bytes(y as f64)
            );
            // Lines lying on each other (the weak strategies at 0) alternate
            // dashes, so that each stays visible.
            draw_line(&mut chart, i, points, label)?;
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK.mix(0.4))
            .label_font(("sans-serif", 12))
            .draw()?;
        if training == 1 {
            training_panel(&lower, &report.training)?;
        }
        if values == 1 {
            value_memory_panel(&values_area, &report.value_memory)?;
        }
        root.present()?;
    }
    Ok(svg)
}

/// The training section's panel: the live heap after each step of the
/// digits MLP's epoch, one line per strategy (flat where graphs are freed
/// on drop, rising where they are not, falling at a collection).
fn training_panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    runs: &[TrainingRun],
) -> Result<(), Box<dyn std::error::Error>>
where
    DB::ErrorType: 'static,
{
    let steps = runs
        .iter()
        .map(|r| r.live_heap_after_step.len())
        .max()
        .unwrap_or(1)
        .max(1) as u64;
    let max_y = runs
        .iter()
        .flat_map(|r| r.live_heap_after_step.iter())
        .map(|&b| b.max(0) as u64)
        .max()
        .unwrap_or(0)
        .max(1 << 10);
    let (step, top) = byte_ticks(max_y + max_y / 20, 6);
    let y_ticks: Vec<u64> = (0..=top / step).map(|i| i * step).collect();
    let mut chart = ChartBuilder::on(area)
        .caption(
            "Live heap after each training step (digits MLP 64-100-10, Adam, batches of 32)",
            ("sans-serif", 20),
        )
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(80)
        .build_cartesian_2d(1u64..steps, (0u64..top).with_key_points(y_ticks))?;
    chart
        .configure_mesh()
        .x_desc("step")
        .y_desc("live heap")
        .y_label_formatter(&|v| tick(*v))
        .light_line_style(RGBColor(238, 238, 238))
        .bold_line_style(RGBColor(210, 210, 210))
        .label_style(("sans-serif", 12))
        .axis_desc_style(("sans-serif", 14))
        .draw()?;
    for (i, run) in runs.iter().enumerate() {
        let points: Vec<(u64, u64)> = (1u64..)
            .zip(run.live_heap_after_step.iter().map(|&b| b.max(0) as u64))
            .collect();
        let last = points.last().map_or(0, |p| p.1);
        let label = format!(
            "{} ({}): {} after step {}, {:.0} µs a step",
            run.strategy,
            run.freeing,
            bytes(last as f64),
            points.len(),
            run.micros_per_step
        );
        draw_line(&mut chart, i, points, label)?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.4))
        .label_font(("sans-serif", 12))
        .draw()?;
    Ok(())
}

/// The value-memory section's panel: the graph kept between forward and
/// backward against depth, one line per checkpointing mode.
fn value_memory_panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    rows: &[ValueMemoryRow],
) -> Result<(), Box<dyn std::error::Error>>
where
    DB::ErrorType: 'static,
{
    let max_x = rows
        .iter()
        .map(|r| r.layers as u64)
        .max()
        .unwrap_or(1)
        .max(1);
    let max_y = rows
        .iter()
        .map(|r| r.kept_bytes.max(0) as u64)
        .max()
        .unwrap_or(0)
        .max(1 << 10);
    let (step, top) = byte_ticks(max_y + max_y / 20, 6);
    let y_ticks: Vec<u64> = (0..=top / step).map(|i| i * step).collect();
    let batch = rows.first().map_or(0, |r| r.batch);
    let mut chart = ChartBuilder::on(area)
        .caption(
            format!(
                "Graph kept between forward and backward (ReLU MLP {} wide, batch {batch})",
                crate::report::value_memory::WIDTH
            ),
            ("sans-serif", 20),
        )
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(80)
        .build_cartesian_2d(
            0u64..max_x + max_x / 20,
            (0u64..top).with_key_points(y_ticks),
        )?;
    chart
        .configure_mesh()
        .x_desc("layers")
        .y_desc("kept graph")
        .y_label_formatter(&|v| tick(*v))
        .light_line_style(RGBColor(238, 238, 238))
        .bold_line_style(RGBColor(210, 210, 210))
        .label_style(("sans-serif", 12))
        .axis_desc_style(("sans-serif", 14))
        .draw()?;
    for (i, mode) in Mode::ALL.into_iter().enumerate() {
        let points: Vec<(u64, u64)> = rows
            .iter()
            .filter(|r| r.mode == mode)
            .map(|r| (r.layers as u64, r.kept_bytes.max(0) as u64))
            .collect();
        let (x, y) = points.last().copied().unwrap_or_default();
        let label = format!("{}: {} at {x} layers", mode.name(), bytes(y as f64));
        draw_line(&mut chart, i, points, label)?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.4))
        .label_font(("sans-serif", 12))
        .draw()?;
    Ok(())
}

/// Draws one line of a chart with its legend entry: dashed for even `i`,
/// solid for odd, so that lines lying on each other stay visible.
fn draw_line<'a, DB, X, Y>(
    chart: &mut ChartContext<'a, DB, Cartesian2d<X, Y>>,
    i: usize,
    points: Vec<(X::ValueType, Y::ValueType)>,
    label: String,
) -> Result<(), Box<dyn std::error::Error>>
where
    DB: DrawingBackend + 'a,
    DB::ErrorType: 'static,
    X: Ranged,
    Y: Ranged,
    X::ValueType: Clone + 'static,
    Y::ValueType: Clone + 'static,
{
    let style = COLORS[i % COLORS.len()].stroke_width(2);
    if i % 2 == 0 {
        chart
            .draw_series(DashedLineSeries::new(points, 9, 6, style))?
            .label(label)
            .legend(move |(x, y)| DashedPathElement::new(vec![(x, y), (x + 24, y)], 6, 3, style));
    } else {
        chart
            .draw_series(LineSeries::new(points, style))?
            .label(label)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 24, y)], style));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_ticks_are_round_and_cover_the_top() {
        assert_eq!(byte_ticks(100 << 20, 4), (32 << 20, 128 << 20));
        assert_eq!(byte_ticks(1, 6), (1, 1));
        assert_eq!(tick(128 << 20), "128 MiB");
        assert_eq!(tick(0), "0 B");
        let (step, top) = byte_ticks(300, 6);
        assert!(step.is_power_of_two() && top >= 300 && top / step <= 6);
    }
}
