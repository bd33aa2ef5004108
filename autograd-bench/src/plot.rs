//! The live-heap plot as a self-contained SVG: no plotting crate, no fonts or
//! system libraries needed to write it.

use std::fmt::Write as _;

use crate::report::{Report, bytes};

const WIDTH: f64 = 920.0;
const HEIGHT: f64 = 460.0;
const LEFT: f64 = 90.0;
const RIGHT: f64 = 330.0;
const TOP: f64 = 40.0;
const BOTTOM: f64 = 60.0;
const COLORS: [&str; 8] = [
    "#1b9e77", "#d95f02", "#7570b3", "#e7298a", "#66a61e", "#e6ab02", "#a6761d", "#666666",
];

/// Live heap bytes against iterations, one line per run. When a leaking run
/// stopped early at the heap budget, the axis ends where it stopped (the
/// other runs stay flat beyond it; the legend gives each run's final value).
pub fn live_heap_svg(report: &Report) -> String {
    let last = |r: &crate::stress::RunResult| r.samples.last().map_or(0, |s| s.iteration);
    let leaking_end = report
        .runs
        .iter()
        .filter(|r| r.capped_by_budget)
        .map(last)
        .max();
    let max_x = leaking_end
        .or_else(|| report.runs.iter().map(last).max())
        .unwrap_or(1)
        .max(1) as f64;
    let max_y = report
        .runs
        .iter()
        .flat_map(|r| r.samples.iter().map(|s| s.live_heap_bytes))
        .max()
        .unwrap_or(0)
        .max(1024) as f64
        * 1.05;
    let (plot_w, plot_h) = (WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM);
    let x_of = |x: f64| LEFT + x / max_x * plot_w;
    let y_of = |y: f64| TOP + plot_h - y.max(0.0) / max_y * plot_h;

    let mut svg = String::new();
    let _ = writeln!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(svg, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(
        svg,
        r#"<text x="{}" y="22" text-anchor="middle" font-size="15">Live heap during the seed loop ({} elements, {} threads)</text>"#,
        LEFT + plot_w / 2.0,
        report.size,
        report.threads
    );
    for i in 0..=5 {
        let fx = i as f64 / 5.0;
        let (x, y) = (LEFT + fx * plot_w, TOP + plot_h - fx * plot_h);
        let _ = writeln!(
            svg,
            r##"<line x1="{LEFT}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="#e5e5e5"/><text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"##,
            LEFT + plot_w,
            LEFT - 6.0,
            y + 4.0,
            escape(&bytes(fx * max_y))
        );
        let _ = writeln!(
            svg,
            r#"<text x="{x:.1}" y="{:.1}" text-anchor="middle">{:.0}</text>"#,
            TOP + plot_h + 18.0,
            fx * max_x
        );
    }
    let _ = writeln!(
        svg,
        r#"<rect x="{LEFT}" y="{TOP}" width="{plot_w}" height="{plot_h}" fill="none" stroke="black"/>"#
    );
    let _ = writeln!(
        svg,
        r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">iteration</text>"#,
        LEFT + plot_w / 2.0,
        HEIGHT - 15.0
    );
    for (i, run) in report.runs.iter().enumerate() {
        let color = COLORS[i % COLORS.len()];
        let points: Vec<String> = clipped(&run.samples, max_x)
            .into_iter()
            .map(|(x, y)| format!("{:.1},{:.1}", x_of(x), y_of(y)))
            .collect();
        let _ = writeln!(
            svg,
            r#"<polyline fill="none" stroke="{color}" stroke-width="2"{} points="{}"/>"#,
            // Alternate dashes, so that lines lying on each other stay visible.
            if i % 2 == 0 {
                r#" stroke-dasharray="8 5""#
            } else {
                ""
            },
            points.join(" ")
        );
        let ly = TOP + 10.0 + i as f64 * 20.0;
        let lx = LEFT + plot_w + 15.0;
        let _ = writeln!(
            svg,
            r#"<line x1="{lx}" y1="{ly}" x2="{}" y2="{ly}" stroke="{color}" stroke-width="3"/><text x="{}" y="{}">{}</text>"#,
            lx + 20.0,
            lx + 26.0,
            ly + 4.0,
            escape(&format!(
                "{}: {} after {}",
                run.subject,
                bytes(run.live_heap_after_bytes as f64),
                run.iterations
            ))
        );
    }
    svg.push_str("</svg>\n");
    svg
}

/// The curve's points up to `max_x`, cut where it crosses `max_x`.
fn clipped(samples: &[crate::stress::Sample], max_x: f64) -> Vec<(f64, f64)> {
    let mut points = Vec::new();
    let mut previous: Option<(f64, f64)> = None;
    for sample in samples {
        let (x, y) = (sample.iteration as f64, sample.live_heap_bytes as f64);
        if x > max_x {
            if let Some((px, py)) = previous {
                points.push((max_x, py + (y - py) * (max_x - px) / (x - px)));
            }
            break;
        }
        points.push((x, y));
        previous = Some((x, y));
    }
    points
}

/// Escapes text for an XML text node.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}
