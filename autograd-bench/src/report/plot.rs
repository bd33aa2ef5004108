//! The live-heap plot: the four ways to free a graph at a glance, in up to
//! four panels. The seed loop's live heap, flat (the weak link frees each
//! graph on drop, a region goes with its output), a sawtooth (a collector
//! frees them when it runs) or rising until the budget (nothing frees
//! them); the same loop's peak heap over the whole run, where the runs that
//! free their graphs show on their own scale; the training loop's heap
//! after each step; the value-memory section's kept graph against depth;
//! the budget section's peak against step time, a panel a model.
//! Drawn with plotters' SVG backend, which needs no system library.
//!
//! Each series keeps one style in every panel (`Series::style`, the one
//! table): a colour, a dash and a marker. Markers sit at a few points of
//! each line, at a phase of their own, so that lines lying on each other
//! stay visible, and the legend says which line another lies on; where a
//! section measures only a few points, every point is marked.

use std::ops::Range;

use autograd_mem::StrategyKind;
use plotters::coord::Shift;
use plotters::coord::combinators::WithKeyPoints;
use plotters::coord::types::RangedCoordu64;
use plotters::element::ComposedElement;
use plotters::prelude::*;

use crate::report::budget::BudgetModel;
use crate::report::seed_loop::{RunResult, Sample};
use crate::report::subject::Subject;
use crate::report::training::TrainingRun;
use crate::report::value_memory::{Mode, ValueMemoryRow};
use crate::report::{Report, bytes};

/// What plotting can fail with (drawing into a string does not, in practice).
type PlotError = Box<dyn std::error::Error>;

/// Colours of the series, in the order of [`StrategyKind::ALL`] (Dark2, and
/// a grey).
const PALETTE: [RGBColor; 8] = [
    RGBColor(27, 158, 119),
    RGBColor(117, 112, 179),
    RGBColor(217, 95, 2),
    RGBColor(231, 41, 138),
    RGBColor(102, 166, 30),
    RGBColor(230, 171, 2),
    RGBColor(166, 118, 29),
    RGBColor(102, 102, 102),
];

/// Colours of the checkpointing modes (their own panel, their own colours).
const MODE_PALETTE: [RGBColor; 3] = [
    RGBColor(0, 0, 0),
    RGBColor(31, 120, 180),
    RGBColor(227, 26, 28),
];

/// How a line is dashed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dash {
    Solid,
    Dashed,
    Dotted,
}

impl Dash {
    const ALL: [Dash; 3] = [Dash::Solid, Dash::Dashed, Dash::Dotted];

    /// The SVG `stroke-dasharray` of the dash (none for a solid line).
    fn dasharray(self) -> Option<&'static str> {
        match self {
            Dash::Solid => None,
            Dash::Dashed => Some("9 5"),
            Dash::Dotted => Some("2 4"),
        }
    }
}

/// The shape marking a few points of a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Marker {
    Circle,
    Triangle,
    Square,
    Diamond,
    Down,
}

impl Marker {
    const ALL: [Marker; 5] = [
        Marker::Circle,
        Marker::Triangle,
        Marker::Square,
        Marker::Diamond,
        Marker::Down,
    ];

    /// The shape's corners around its point, in pixels.
    fn corners(self) -> Vec<(i32, i32)> {
        match self {
            Marker::Circle => (0..12)
                .map(|i| {
                    let a = f64::from(i) * std::f64::consts::PI / 6.0;
                    (
                        (4.0 * a.cos()).round() as i32,
                        (4.0 * a.sin()).round() as i32,
                    )
                })
                .collect(),
            Marker::Triangle => vec![(0, -5), (5, 4), (-5, 4)],
            Marker::Square => vec![(-4, -4), (4, -4), (4, 4), (-4, 4)],
            Marker::Diamond => vec![(0, -5), (5, 0), (0, 5), (-5, 0)],
            Marker::Down => vec![(0, 5), (5, -4), (-5, -4)],
        }
    }
}

/// How one series is drawn, the same in every panel.
#[derive(Debug, Clone, Copy)]
struct Style {
    color: RGBColor,
    dash: Dash,
    marker: Marker,
    /// Where along the line its markers start, as a share of their spacing
    /// in eighths: lines on each other show their markers apart.
    phase: usize,
}

/// What a series stands for: the key of the style table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Series {
    /// A strategy: its seed-loop runs and its training run.
    Strategy(StrategyKind),
    /// A strategy's seed-loop run on one shared leaf.
    SharedLeaf(StrategyKind),
    /// A checkpointing mode of the value-memory section.
    Mode(Mode),
}

impl Series {
    /// The style table, written once: a strategy's colour, dash and marker
    /// follow its place in [`StrategyKind::ALL`]; its shared-leaf run keeps
    /// its colour with a dash and marker of its own; the modes have their
    /// own colours.
    fn style(self) -> Style {
        let nth = |i: usize, color: RGBColor| Style {
            color,
            dash: Dash::ALL[i % Dash::ALL.len()],
            marker: Marker::ALL[i % Marker::ALL.len()],
            phase: i,
        };
        match self {
            Series::Strategy(kind) => nth(kind.index(), PALETTE[kind.index() % PALETTE.len()]),
            Series::SharedLeaf(kind) => {
                // The strategy's colour, one unit of blue apart: the same to
                // the eye, apart in the SVG, which dashes by colour.
                let RGBColor(r, g, b) = PALETTE[kind.index() % PALETTE.len()];
                Style {
                    phase: StrategyKind::ALL.len(),
                    ..nth(kind.index() + 1, RGBColor(r, g, b ^ 1))
                }
            }
            Series::Mode(mode) => {
                let i = Mode::ALL.iter().position(|&m| m == mode).unwrap_or(0);
                nth(i, MODE_PALETTE[i % MODE_PALETTE.len()])
            }
        }
    }

    /// The series of a seed-loop run (`None` for a baseline, not drawn).
    fn of_subject(subject: Subject) -> Option<Series> {
        match subject {
            Subject::Baseline(_) => None,
            Subject::Strategy(kind) => Some(Series::Strategy(kind)),
            Subject::SharedLeaf(kind) => Some(Series::SharedLeaf(kind)),
        }
    }
}

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

/// A number with thousands separated: `40,000`.
fn count(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A panel's chart: `u64` along x, bytes up y on round ticks.
type Chart<'a, DB> =
    ChartContext<'a, DB, Cartesian2d<RangedCoordu64, WithKeyPoints<RangedCoordu64>>>;

/// One panel's frame: its caption, axes and their names, and a byte axis
/// from 0 to a round tick above `y_max`. Every panel is drawn in one.
struct Frame {
    caption: String,
    x: Range<u64>,
    x_desc: String,
    y_desc: &'static str,
    y_max: u64,
}

impl Frame {
    /// Draws the frame on `area`: the panel to draw the lines in.
    fn draw<'a, DB>(self, area: &'a DrawingArea<DB, Shift>) -> Result<Panel<'a, DB>, PlotError>
    where
        DB: DrawingBackend + 'a,
        DB::ErrorType: 'static,
    {
        let (step, top) = byte_ticks(self.y_max + self.y_max / 20, 6);
        let y_ticks: Vec<u64> = (0..=top / step).map(|i| i * step).collect();
        let x = self.x.start..self.x.end.max(self.x.start + 1);
        let mut chart = ChartBuilder::on(area)
            .caption(self.caption, ("sans-serif", 20))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(80)
            .build_cartesian_2d(x, (0u64..top).with_key_points(y_ticks))?;
        chart
            .configure_mesh()
            .x_desc(self.x_desc)
            .y_desc(self.y_desc)
            .x_labels(11)
            .y_labels(8)
            .x_label_formatter(&|v| count(*v))
            .y_label_formatter(&|v| tick(*v))
            .light_line_style(RGBColor(238, 238, 238))
            .bold_line_style(RGBColor(210, 210, 210))
            .label_style(("sans-serif", 12))
            .axis_desc_style(("sans-serif", 14))
            .draw()?;
        Ok(Panel {
            chart,
            top,
            drawn: Vec::new(),
            dashes: Vec::new(),
        })
    }
}

/// A framed panel, its lines drawn one by one, then its legend.
struct Panel<'a, DB: DrawingBackend> {
    chart: Chart<'a, DB>,
    /// The y axis's top, for telling lines apart.
    top: u64,
    /// The lines drawn so far, by name: to say which a line lies on.
    drawn: Vec<(String, Vec<(u64, u64)>)>,
    /// The colour and dash of each line drawn (see [`dash_natively`]).
    dashes: Vec<(RGBColor, Dash)>,
}

impl<'a, DB> Panel<'a, DB>
where
    DB: DrawingBackend + 'a,
    DB::ErrorType: 'static,
{
    /// The earlier line that `points` lie on (within 1% of the axis at
    /// every point), if any.
    fn lies_on(&self, points: &[(u64, u64)]) -> Option<&str> {
        let close = |a: u64, b: u64| a.abs_diff(b) <= self.top / 100;
        self.drawn
            .iter()
            .find(|(_, other)| {
                other.len() == points.len()
                    && other
                        .iter()
                        .zip(points)
                        .all(|(&(xa, ya), &(xb, yb))| xa == xb && close(ya, yb))
            })
            .map(|(name, _)| name.as_str())
    }

    /// Draws one line in its series' style, with markers at about ten of
    /// its points (all of them when it has at most ten) and a legend entry;
    /// `label(on)` makes the entry's text, told the name of the line this
    /// one lies on, if any.
    fn line(
        &mut self,
        series: Series,
        name: String,
        points: Vec<(u64, u64)>,
        label: impl FnOnce(Option<&str>) -> String,
    ) -> Result<(), PlotError> {
        let style = series.style();
        let label = label(self.lies_on(&points));
        // Drawn solid: the SVG dashes it ([`dash_natively`]).
        self.chart
            .draw_series(LineSeries::new(
                points.clone(),
                style.color.stroke_width(LINE_WIDTH),
            ))?
            .label(label)
            .legend(move |(x, y)| legend_glyph((x, y), style));
        self.dashes.push((style.color, style.dash));
        let every = points.len().div_ceil(10).max(1);
        let start = (style.phase * every / 8) % every;
        self.chart.draw_series(
            points
                .iter()
                .skip(start)
                .step_by(every)
                .map(|&point| EmptyElement::at(point) + marker(style)),
        )?;
        self.drawn.push((name, points));
        Ok(())
    }

    /// Fills the band between `low` and `high` (the same x's) in the
    /// series' colour, lightly: what a line swings between.
    fn band(
        &mut self,
        series: Series,
        low: &[(u64, u64)],
        high: &[(u64, u64)],
    ) -> Result<(), PlotError> {
        let color = series.style().color.mix(0.18).filled();
        let outline: Vec<(u64, u64)> = high.iter().chain(low.iter().rev()).copied().collect();
        self.chart
            .draw_series(std::iter::once(Polygon::new(outline, color)))?;
        Ok(())
    }

    /// Draws the legend, at the top left; returns the colours and dashes
    /// of its lines.
    fn finish(mut self) -> Result<Vec<(RGBColor, Dash)>, PlotError> {
        self.chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK.mix(0.4))
            .label_font(("sans-serif", 12))
            .draw()?;
        Ok(self.dashes)
    }
}

/// The width of every series' line, in pixels (no other line is this wide:
/// [`dash_natively`] finds the lines by it and their colour).
const LINE_WIDTH: u32 = 2;

/// Dashes the series' lines in the SVG itself (`stroke-dasharray`): plotters
/// draws a dashed line as one short path a dash, which for a sawtooth of
/// thousands of points made files of megabytes. Every line of a series
/// has its colour and [`LINE_WIDTH`], which no other line has.
fn dash_natively(svg: String, dashes: &[(RGBColor, Dash)]) -> String {
    let mut svg = svg;
    for &(RGBColor(r, g, b), dash) in dashes {
        if let Some(array) = dash.dasharray() {
            let stroke =
                format!(r##"stroke="#{r:02X}{g:02X}{b:02X}" stroke-width="{LINE_WIDTH}""##);
            let dashed = format!(r#"{stroke} stroke-dasharray="{array}""#);
            if !svg.contains(&dashed) {
                svg = svg.replace(&stroke, &dashed);
            }
        }
    }
    svg
}

/// A style's marker, filled, around the point it is placed at.
fn marker(style: Style) -> Polygon<(i32, i32)> {
    Polygon::new(style.marker.corners(), style.color.filled())
}

/// A legend entry's glyph: the line (dashed as the line is, by the SVG)
/// with its marker in the middle.
type Glyph<DB> = ComposedElement<(i32, i32), DB, PathElement<(i32, i32)>, Polygon<(i32, i32)>>;

/// The legend glyph of `style` at `(x, y)`.
fn legend_glyph<DB: DrawingBackend>((x, y): (i32, i32), style: Style) -> Glyph<DB> {
    let corners = style.marker.corners();
    EmptyElement::at((x, y))
        + PathElement::new(vec![(0, 0), (28, 0)], style.color.stroke_width(LINE_WIDTH))
        + Polygon::new(
            corners
                .into_iter()
                .map(|(dx, dy)| (14 + dx, dy))
                .collect::<Vec<_>>(),
            style.color.filled(),
        )
}

/// The live-heap curve's points up to `max_x`, cut where it crosses `max_x`.
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

/// A line's points: iterations (or steps, or layers) and bytes.
type Points = Vec<(u64, u64)>;

/// A run's per-sample peaks gathered into `columns` stretches of its
/// iterations: each stretch's lowest and highest peak, at its middle. The
/// highest of all (the run's peak) survives, so the band reaches it.
fn peak_band(samples: &[Sample], columns: u64) -> (Points, Points) {
    let end = samples.last().map_or(1, |s| s.iteration as u64).max(1);
    let width = end.div_ceil(columns).max(1);
    let (mut low, mut high) = (Points::new(), Points::new());
    for sample in samples.iter().skip(1) {
        let (x, y) = (
            sample.iteration as u64,
            sample.peak_heap_bytes.max(0) as u64,
        );
        let middle = (x.saturating_sub(1) / width) * width + width / 2;
        match (low.last_mut(), high.last_mut()) {
            (Some(l), Some(h)) if l.0 == middle => {
                l.1 = l.1.min(y);
                h.1 = h.1.max(y);
            }
            _ => {
                low.push((middle.min(end), y));
                high.push((middle.min(end), y));
            }
        }
    }
    (low, high)
}

/// The plot of `report`, as SVG: the seed loop's live heap (every run, the
/// axis ending where the budget stopped the runs that keep their graphs;
/// the legend gives each run's value where its line ends on the axis); the
/// seed loop's peak heap over the whole run, for the runs that free their
/// graphs; the training and value-memory sections, when they ran.
///
/// # Errors
/// What plotters reports (drawing into a string does not fail in practice).
pub fn live_heap_svg(report: &Report) -> Result<String, PlotError> {
    let runs: Vec<&RunResult> = report
        .runs
        .iter()
        .filter(|r| r.subject.strategy().is_some())
        .collect();
    let freeing: Vec<&RunResult> = runs.iter().copied().filter(|r| !r.keeps_graphs).collect();
    let panels = [
        true,
        !freeing.is_empty(),
        !report.training.is_empty(),
        !report.value_memory.is_empty(),
    ];
    let heights = [480u32, 400, 400, 400];
    let models: &[BudgetModel] = report.budget.as_ref().map_or(&[], |b| &b.models);
    let height: u32 = heights
        .iter()
        .zip(panels)
        .filter(|&(_, shown)| shown)
        .map(|(h, _)| h)
        .sum::<u32>()
        + BUDGET_HEIGHT * models.len() as u32;
    let (mut svg, mut dashes) = (String::new(), Vec::new());
    {
        let root = SVGBackend::with_string(&mut svg, (960, height)).into_drawing_area();
        root.fill(&WHITE)?;
        let mut rest = root.clone();
        let mut areas = Vec::new();
        for (&h, shown) in heights.iter().zip(panels) {
            if shown {
                let (area, below) = rest.split_vertically(h);
                areas.push(area);
                rest = below;
            }
        }
        let mut areas = areas.into_iter();
        let mut next = || areas.next().expect("an area per panel shown");
        dashes.extend(live_heap_panel(&next(), report, &runs)?);
        if panels[1] {
            dashes.extend(peak_panel(&next(), report, &freeing)?);
        }
        if panels[2] {
            dashes.extend(training_panel(&next(), &report.training)?);
        }
        if panels[3] {
            dashes.extend(value_memory_panel(&next(), &report.value_memory)?);
        }
        for model in models {
            let (area, below) = rest.split_vertically(BUDGET_HEIGHT);
            rest = below;
            budget_panel(&area, model)?;
        }
        root.present()?;
    }
    Ok(dash_natively(svg, &dashes))
}

/// The seed loop's live heap kept, every run: flat, sawtooth, rising. When
/// a run stopped early at the heap budget, the axis ends where it stopped
/// (the other runs go on as they were, and the axis's label says how far).
fn live_heap_panel<DB>(
    area: &DrawingArea<DB, Shift>,
    report: &Report,
    runs: &[&RunResult],
) -> Result<Vec<(RGBColor, Dash)>, PlotError>
where
    DB: DrawingBackend,
    DB::ErrorType: 'static,
{
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
             keep their graphs; the others ran {longest}: the panel below)"
        )
    } else {
        "iteration".to_string()
    };
    let y_max = lines
        .iter()
        .flatten()
        .map(|&(_, y)| y)
        .max()
        .unwrap_or(0)
        .max(1 << 20);
    let mut panel = Frame {
        caption: format!(
            "Live heap kept during the seed loop ({} elements, {} threads)",
            report.config.size, report.config.threads
        ),
        x: 0..max_x,
        x_desc,
        y_desc: "live heap kept",
        y_max,
    }
    .draw(area)?;
    for (run, points) in runs.iter().zip(lines) {
        let Some(series) = Series::of_subject(run.subject) else {
            continue;
        };
        let freed = run.subject.describe_freeing();
        // The value where the line ends: the run's last sample, or where
        // its line crosses the end of the axis.
        let (x, y) = points.last().copied().unwrap_or_default();
        let name = run.subject.to_string();
        panel.line(series, name.clone(), points, |on| {
            let on = on.map_or(String::new(), |other| format!(", on {other}'s line"));
            format!("{name} ({freed}{on}): {} at iteration {x}", bytes(y as f64))
        })?;
    }
    panel.finish()
}

/// The seed loop's peak heap over each whole run that frees its graphs, on
/// their own scale: per stretch of the run, the band between its lowest and
/// highest sampled peak, the line along the highest (the run's peak is on
/// it).
fn peak_panel<DB>(
    area: &DrawingArea<DB, Shift>,
    report: &Report,
    runs: &[&RunResult],
) -> Result<Vec<(RGBColor, Dash)>, PlotError>
where
    DB: DrawingBackend,
    DB::ErrorType: 'static,
{
    const COLUMNS: u64 = 300;
    let longest = runs
        .iter()
        .filter_map(|r| r.samples.last())
        .map(|s| s.iteration as u64)
        .max()
        .unwrap_or(1);
    // Room above the lines for the legend.
    let y_max = runs
        .iter()
        .map(|r| r.peak_heap_bytes.max(0) as u64)
        .max()
        .unwrap_or(0)
        .max(1 << 10)
        / 2
        * 3;
    let stretch = runs
        .iter()
        .map(|r| {
            r.iterations
                .div_ceil(r.samples.len().saturating_sub(1).max(1))
        })
        .max()
        .unwrap_or(1);
    let mut panel = Frame {
        caption: format!(
            "Peak heap of the runs that free their graphs, whole runs ({} elements, {} threads)",
            report.config.size, report.config.threads
        ),
        x: 0..longest,
        x_desc: format!(
            "iteration (each run's highest heap in every {stretch} iterations, values and \
             arrays in flight included; band: the lowest to the highest in each stretch of \
             the axis)"
        ),
        y_desc: "peak heap",
        y_max,
    }
    .draw(area)?;
    let bands: Vec<_> = runs
        .iter()
        .map(|r| peak_band(&r.samples, COLUMNS))
        .collect();
    for (run, (low, high)) in runs.iter().zip(&bands) {
        if let Some(series) = Series::of_subject(run.subject) {
            panel.band(series, low, high)?;
        }
    }
    for (run, (_, high)) in runs.iter().zip(bands) {
        let Some(series) = Series::of_subject(run.subject) else {
            continue;
        };
        let at = run
            .samples
            .iter()
            .max_by_key(|s| s.peak_heap_bytes)
            .map_or(0, |s| s.iteration);
        let name = run.subject.to_string();
        panel.line(series, name.clone(), high, |on| {
            let on = on.map_or(String::new(), |other| format!(" (on {other}'s line)"));
            format!(
                "{name}{on}: peak {} at iteration {} of {}",
                bytes(run.peak_heap_bytes as f64),
                count(at as u64),
                count(run.iterations as u64)
            )
        })?;
    }
    panel.finish()
}

/// The training section's panel: the live heap after each step of the
/// digits MLP's epoch, one line per strategy (flat where graphs are freed
/// on drop, rising where they are not, falling at a collection).
fn training_panel<DB>(
    area: &DrawingArea<DB, Shift>,
    runs: &[TrainingRun],
) -> Result<Vec<(RGBColor, Dash)>, PlotError>
where
    DB: DrawingBackend,
    DB::ErrorType: 'static,
{
    let steps = runs
        .iter()
        .map(|r| r.live_heap_after_step.len())
        .max()
        .unwrap_or(1)
        .max(1) as u64;
    let y_max = runs
        .iter()
        .flat_map(|r| r.live_heap_after_step.iter())
        .map(|&b| b.max(0) as u64)
        .max()
        .unwrap_or(0)
        .max(1 << 10);
    let mut panel = Frame {
        caption: "Live heap after each training step (digits MLP 64-100-10, Adam, batches of 32)"
            .to_string(),
        x: 1..steps,
        x_desc: "step".to_string(),
        y_desc: "live heap",
        y_max,
    }
    .draw(area)?;
    for run in runs {
        let points: Vec<(u64, u64)> = (1u64..)
            .zip(run.live_heap_after_step.iter().map(|&b| b.max(0) as u64))
            .collect();
        let (steps, last) = (points.len(), points.last().map_or(0, |p| p.1));
        panel.line(
            Series::Strategy(run.kind),
            run.strategy.clone(),
            points,
            |on| {
                let on = on.map_or(String::new(), |other| format!(", on {other}'s line"));
                format!(
                    "{} ({}{on}): {} after step {steps}, {:.0} µs a step",
                    run.strategy,
                    run.freeing,
                    bytes(last as f64),
                    run.micros_per_step
                )
            },
        )?;
    }
    panel.finish()
}

/// The value-memory section's panel: the graph kept between forward and
/// backward against depth, one line per checkpointing mode, each measured
/// depth marked.
fn value_memory_panel<DB>(
    area: &DrawingArea<DB, Shift>,
    rows: &[ValueMemoryRow],
) -> Result<Vec<(RGBColor, Dash)>, PlotError>
where
    DB: DrawingBackend,
    DB::ErrorType: 'static,
{
    let max_x = rows
        .iter()
        .map(|r| r.layers as u64)
        .max()
        .unwrap_or(1)
        .max(1);
    let y_max = rows
        .iter()
        .map(|r| r.kept_bytes.max(0) as u64)
        .max()
        .unwrap_or(0)
        .max(1 << 10);
    let batch = rows.first().map_or(0, |r| r.batch);
    let mut panel = Frame {
        caption: format!(
            "Graph kept between forward and backward (ReLU MLP {} wide, batch {batch})",
            crate::report::value_memory::WIDTH
        ),
        x: 0..max_x + max_x / 20,
        x_desc: "layers (a marker at each depth measured)".to_string(),
        y_desc: "kept graph",
        y_max,
    }
    .draw(area)?;
    for mode in Mode::ALL {
        let points: Vec<(u64, u64)> = rows
            .iter()
            .filter(|r| r.mode == mode)
            .map(|r| (r.layers as u64, r.kept_bytes.max(0) as u64))
            .collect();
        let (x, y) = points.last().copied().unwrap_or_default();
        panel.line(Series::Mode(mode), mode.name().to_string(), points, |_| {
            format!("{}: {} at {x} layers", mode.name(), bytes(y as f64))
        })?;
    }
    panel.finish()
}

/// The height of a budget panel, in pixels.
const BUDGET_HEIGHT: u32 = 400;

/// The budget section's panel for one model: each exact row's measured
/// peak against its step time over keep-all's, joined in the order of
/// their budgets, and √n's and keep-all's points. Its line is wider than
/// [`LINE_WIDTH`] and of colours of its own: [`dash_natively`] leaves it.
fn budget_panel<DB>(area: &DrawingArea<DB, Shift>, model: &BudgetModel) -> Result<(), PlotError>
where
    DB: DrawingBackend,
    DB::ErrorType: 'static,
{
    const EXACT: RGBColor = RGBColor(33, 102, 172);
    const SQRT: RGBColor = RGBColor(178, 24, 43);
    const KEEP_ALL: RGBColor = RGBColor(64, 64, 64);
    let mib = |b: usize| b as f64 / f64::from(1u32 << 20);
    let times = model.rows.iter().map(|r| r.vs_keep_all);
    let x_min = times.clone().fold(1.0, f64::min) - 0.05;
    let x_max = times.fold(1.0, f64::max) + 0.05;
    let y_max = mib(model.rows.iter().map(|r| r.measured).max().unwrap_or(1)) * 1.1;
    let mut chart = ChartBuilder::on(area)
        .caption(format!("Byte budgets: {}", model.name), ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(80)
        .build_cartesian_2d(x_min..x_max, 0.0..y_max.max(1e-3))?;
    chart
        .configure_mesh()
        .x_desc("step time (forward + backward) over keep-all's")
        .y_desc("measured peak (MiB)")
        .x_label_formatter(&|v| format!("{v:.2}x"))
        .y_label_formatter(&|v| format!("{v:.1}"))
        .light_line_style(RGBColor(238, 238, 238))
        .bold_line_style(RGBColor(210, 210, 210))
        .label_style(("sans-serif", 12))
        .axis_desc_style(("sans-serif", 14))
        .draw()?;
    let mut exact: Vec<_> = model.rows.iter().filter(|r| r.planner == "exact").collect();
    exact.sort_by_key(|r| r.budget);
    let points: Vec<(f64, f64)> = exact
        .iter()
        .map(|r| (r.vs_keep_all, mib(r.measured)))
        .collect();
    chart
        .draw_series(LineSeries::new(points.clone(), EXACT.stroke_width(3)))?
        .label("exact planner, a point a budget")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 24, y)], EXACT.stroke_width(3)));
    chart.draw_series(points.iter().map(|&p| Circle::new(p, 4, EXACT.filled())))?;
    for (planner, color, name) in [
        ("sqrt", SQRT, "√n segments"),
        ("keep-all", KEEP_ALL, "keep-all"),
    ] {
        if let Some(r) = model.rows.iter().find(|r| r.planner == planner) {
            let label = format!(
                "{name}: {}, {:.2}x",
                bytes(r.measured as f64),
                r.vs_keep_all
            );
            chart
                .draw_series(std::iter::once(TriangleMarker::new(
                    (r.vs_keep_all, mib(r.measured)),
                    8,
                    color.filled(),
                )))?
                .label(label)
                .legend(move |(x, y)| TriangleMarker::new((x + 12, y), 6, color.filled()));
        }
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.4))
        .label_font(("sans-serif", 12))
        .draw()?;
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
        assert_eq!(count(40_000), "40,000");
        assert_eq!(count(999), "999");
    }

    #[test]
    fn every_strategy_has_a_style_of_its_own_in_every_panel() {
        let key = |s: Style| (s.color, s.dash, s.marker);
        let styles: Vec<_> = StrategyKind::ALL
            .iter()
            .map(|&kind| key(Series::Strategy(kind).style()))
            .collect();
        for (i, a) in styles.iter().enumerate() {
            for b in &styles[i + 1..] {
                assert_ne!(a.0, b.0, "two strategies share a colour");
            }
        }
        // A shared-leaf run keeps its strategy's colour to the eye (one unit
        // of blue apart, for the SVG's dashes), drawn otherwise.
        let arc = Series::Strategy(StrategyKind::ArcWeak).style();
        let shared = Series::SharedLeaf(StrategyKind::ArcWeak).style();
        let (RGBColor(r, g, b), RGBColor(r2, g2, b2)) = (arc.color, shared.color);
        assert!((r, g) == (r2, g2) && b.abs_diff(b2) == 1);
        assert!(arc.dash != shared.dash && arc.marker != shared.marker);
    }

    #[test]
    fn dashed_lines_are_dashed_by_the_svg_and_only_they() {
        let line = |color: &str, width: u32| {
            format!(r#"<polyline stroke="{color}" stroke-width="{width}" points="0,0 1,1"/>"#)
        };
        let svg = [
            line("#7570B3", 2),
            line("#7570B3", 2),
            line("#1B9E77", 2),
            line("#7570B3", 1),
        ]
        .concat();
        let dashes = [
            (RGBColor(117, 112, 179), Dash::Dashed),
            (RGBColor(117, 112, 179), Dash::Dashed),
            (RGBColor(27, 158, 119), Dash::Solid),
        ];
        let dashed = dash_natively(svg, &dashes);
        assert_eq!(dashed.matches(r#"stroke-dasharray="9 5""#).count(), 2);
        assert_eq!(dashed.matches("stroke-dasharray").count(), 2);
    }

    #[test]
    fn the_peak_band_keeps_the_runs_peak() {
        let samples: Vec<Sample> = (0..=1000)
            .map(|i| Sample {
                iteration: i * 10,
                live_heap_bytes: 0,
                peak_heap_bytes: if i == 677 { 5000 } else { (i % 10) as i64 },
            })
            .collect();
        let (low, high) = peak_band(&samples, 30);
        assert_eq!(low.len(), high.len());
        assert!(high.len() <= 31);
        assert_eq!(high.iter().map(|p| p.1).max(), Some(5000));
        assert!(low.iter().zip(&high).all(|(l, h)| l.0 == h.0 && l.1 <= h.1));
        assert!(high.windows(2).all(|w| w[0].0 < w[1].0));
    }
}
