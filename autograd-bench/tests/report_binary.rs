//! Runs the report binary with a tiny configuration and checks what it wrote:
//! every strategy present, each kept graph equal to its prediction from the
//! graph, nothing left by the strategies that free on drop, the collected
//! strategies back to nothing after a collection, and a well-formed SVG.

use std::process::Command;

use autograd_mem::{Freeing, StrategyKind};
use serde_json::Value;

fn run_report(extra: &[&str]) -> (Value, std::path::PathBuf) {
    run_report_with(60, 6, extra)
}

fn run_report_with(
    iterations: usize,
    samples: usize,
    extra: &[&str],
) -> (Value, std::path::PathBuf) {
    let out = std::env::temp_dir().join(format!(
        "autograd-report-test-{}-{}",
        std::process::id(),
        extra.join("_").replace(['-', ':'], "")
    ));
    let (iterations, samples) = (iterations.to_string(), samples.to_string());
    // A small configuration, each flag unless `extra` gives it (clap refuses
    // a flag given twice).
    let small = [
        ["--iterations", &iterations],
        ["--size", "1000"],
        ["--threads", "2"],
        ["--deep", "1000"],
        ["--second-cycle", "50"],
        ["--training-steps", "4"],
        ["--value-memory-batch", "16"],
        ["--recurrent-windows", "0"],
        ["--budget-layers", "4"],
        ["--budget-steps", "18"],
        ["--budget-rows", "3"],
        ["--samples", &samples],
    ];
    let mut command = Command::new(env!("CARGO_BIN_EXE_autograd-bench"));
    for [flag, value] in small {
        if !extra.contains(&flag) {
            command.args([flag, value]);
        }
    }
    let output = command
        .args(["--json", "--out"])
        .arg(&out)
        .args(extra)
        .output()
        .expect("the binary runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let json: Value = serde_json::from_slice(&output.stdout).expect("stdout is JSON");
    (json, out)
}

fn run_named<'a>(report: &'a Value, subject: &str) -> &'a Value {
    report["runs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["subject"] == subject)
        .unwrap_or_else(|| panic!("{subject} is in the report"))
}

#[test]
fn the_report_measures_every_strategy_and_each_kept_graph_matches_its_prediction() {
    // Automatic collection off, so that the collected runs keep exactly
    // their graphs until the final collection.
    for retain in [false, true] {
        let mut args = vec!["--collect", "never"];
        if retain {
            args.push("--retain-grad");
        }
        let (report, out) = run_report(&args);
        assert_eq!(report["config"]["heap_measured"], true);
        for baseline in ["raw_naive", "raw_fused"] {
            let run = run_named(&report, baseline);
            assert_eq!(run["live_heap_after_bytes"], 0, "{baseline}: {run}");
            assert_eq!(run["freeing"], "no graph");
        }
        assert_eq!(
            run_named(&report, "ArcWeak (shared leaf)")["live_heap_after_bytes"],
            0
        );
        for kind in StrategyKind::ALL {
            let run = run_named(&report, kind.name());
            // The one text for how a strategy frees, autograd-mem's.
            assert_eq!(run["freeing"], kind.freeing().describe());
            let iterations = run["iterations"].as_i64().unwrap();
            assert_eq!(iterations, 60);
            let left = |key: &str| run[key].as_i64().unwrap();
            match kind.freeing() {
                Freeing::OnDrop | Freeing::WithRegion => {
                    assert_eq!(left("live_heap_after_bytes"), 0, "{}: {run}", kind.name());
                    assert_eq!(left("live_variables_after"), 0);
                    assert_eq!(left("live_functions_after"), 0);
                }
                _ => {
                    let predicted = left("predicted_leak_per_iteration");
                    // Four arrays of 1,000 f64 (x, a, b, y; the gradient is
                    // cleared), seven with retained gradients, plus the nodes.
                    let arrays = if retain { 7 } else { 4 };
                    assert!(
                        predicted > arrays * 8000 && predicted < arrays * 8000 + 4096,
                        "{}: {predicted}",
                        kind.name()
                    );
                    assert_eq!(
                        left("live_heap_after_bytes"),
                        predicted * iterations,
                        "{}",
                        kind.name()
                    );
                    assert_eq!(left("live_variables_after"), 4 * iterations);
                    assert_eq!(left("live_functions_after"), 3 * iterations);
                    if kind.freeing() == Freeing::OnCollection {
                        assert_eq!(run["live_nodes_after_collection"], 0, "{}", kind.name());
                        // Nothing at all: the lock library's table, which
                        // the first contended lock allocates for good, was
                        // made before the baseline.
                        assert_eq!(
                            run["live_heap_after_collection_bytes"],
                            0,
                            "{}",
                            kind.name()
                        );
                    }
                }
            }
        }
        let svg = std::fs::read_to_string(out.join("live-heap.svg")).unwrap();
        let doc = roxmltree::Document::parse(&svg).expect("the plot is XML");
        assert_eq!(doc.root_element().tag_name().name(), "svg");
        for kind in StrategyKind::ALL {
            assert!(
                svg.contains(&kind.name().replace('<', "&lt;").replace('>', "&gt;")),
                "{} labelled",
                kind.name()
            );
        }
        let on_disk: Value =
            serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).unwrap())
                .unwrap();
        assert_eq!(
            on_disk["runs"].as_array().unwrap().len(),
            3 + StrategyKind::ALL.len()
        );
        // A chain of 1,000 additions: 1,000 functions and 1,001 variables,
        // all freed unless the default strategy is the one that never frees.
        let kept = match <autograd_ops::DefaultStrategy as autograd_mem::Strategy>::FREEING {
            Freeing::Never => 2001,
            _ => 0,
        };
        assert_eq!(report["deep_chains"][0]["live_nodes_after"], kept);
        // The same chain under Region, one region freed at once.
        let region = report["deep_chains"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["strategy"] == "Region")
            .expect("a Region deep chain");
        assert_eq!(region["live_nodes_after"], 0);
        // One early intermediate held: its graph under a weak link or a
        // collector (after a collection), the whole region under Region,
        // everything (kept after it goes, too) where nothing frees; each
        // as its graph_footprint predicts, but where nothing frees.
        let kept = report["kept_intermediate"].as_array().unwrap();
        assert_eq!(kept.len(), StrategyKind::ALL.len());
        for row in kept {
            let name = row["strategy"].as_str().unwrap();
            let kind = StrategyKind::ALL.iter().find(|k| k.name() == name).unwrap();
            let (nodes, after) = (
                row["kept_nodes"].as_i64().unwrap(),
                row["after_drop_bytes"].as_i64().unwrap(),
            );
            match kind.freeing() {
                Freeing::OnDrop | Freeing::OnCollection => {
                    assert_eq!((nodes, after), (20, 0), "{name}")
                }
                Freeing::WithRegion => assert_eq!((nodes, after), (2000, 0), "{name}"),
                Freeing::Never => assert!(nodes == 2000 && after > 0, "{name}"),
                other => panic!("no kept-intermediate promise for {other:?}"),
            }
            if kind.freeing() != Freeing::Never {
                assert_eq!(row["kept_bytes"], row["predicted_bytes"], "{name}");
            }
        }
        std::fs::remove_dir_all(&out).unwrap();
    }
}

#[test]
fn the_plot_labels_the_values_its_axis_shows_when_the_budget_cuts_it_short() {
    // 2 MiB holds StrongOnly's 30 warm-up graphs of 32 KiB and about 34
    // more, not 60.
    let (report, out) = run_report(&[
        "--heap-budget-mib",
        "2",
        "--strategy",
        "rc-weak",
        "--strategy",
        "strong-only-rc-weak",
    ]);
    let kept = run_named(&report, "StrongOnly<RcWeak>");
    assert_eq!(kept["capped_by_budget"], true);
    let end = kept["iterations"].as_u64().unwrap();
    assert!(end < 60, "{end}");
    let svg = std::fs::read_to_string(out.join("live-heap.svg")).unwrap();
    let doc = roxmltree::Document::parse(&svg).expect("the plot is XML");
    let texts: Vec<&str> = doc
        .descendants()
        .filter_map(|n| n.text())
        .map(str::trim)
        .collect();
    for name in ["RcWeak", "StrongOnly<RcWeak>"] {
        let legend = texts
            .iter()
            .find(|t| t.starts_with(&format!("{name} (")))
            .unwrap_or_else(|| panic!("{name} in the legend: {texts:?}"));
        // Both lines end at the axis's end, RcWeak's though it ran on to 60.
        assert!(
            legend.ends_with(&format!(" at iteration {end}")),
            "{legend}"
        );
    }
    assert!(
        texts
            .iter()
            .any(|t| t.contains(&format!("ends at {end}")) && t.contains("ran 60")),
        "{texts:?}"
    );
    std::fs::remove_dir_all(&out).unwrap();
}

#[test]
fn the_collected_strategies_collect_on_their_own_by_default() {
    let (report, out) = run_report_with(
        3000,
        300,
        &["--strategy", "collected", "--strategy", "collected-sync"],
    );
    for name in ["Collected", "CollectedSync"] {
        let run = run_named(&report, name);
        assert!(run["collections"]["count"].as_u64().unwrap() > 0, "{run}");
        // A sawtooth: the heap fell at least once between samples.
        let heap: Vec<i64> = run["samples"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["live_heap_bytes"].as_i64().unwrap())
            .collect();
        assert!(heap.windows(2).any(|w| w[1] < w[0]), "{name}: {heap:?}");
        assert_eq!(run["live_nodes_after_collection"], 0, "{name}");
        assert_eq!(run["live_heap_after_collection_bytes"], 0, "{name}");
        // The samples' peaks reach the run's peak: the plot can draw it.
        let peaks = run["samples"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["peak_heap_bytes"].as_i64().unwrap());
        assert_eq!(peaks.max(), run["peak_heap_bytes"].as_i64(), "{name}");
    }
    // The peak panel covers the whole run, and its legend gives the table's
    // peak.
    let svg = std::fs::read_to_string(out.join("live-heap.svg")).unwrap();
    let doc = roxmltree::Document::parse(&svg).expect("the plot is XML");
    let texts: Vec<&str> = doc
        .descendants()
        .filter_map(|n| n.text())
        .map(str::trim)
        .collect();
    for name in ["Collected", "CollectedSync"] {
        let peak = run_named(&report, name)["peak_heap_bytes"]
            .as_f64()
            .unwrap();
        let value = format!(
            ": peak {} at iteration ",
            autograd_bench::report::bytes(peak)
        );
        assert!(
            texts.iter().any(|t| {
                let named =
                    t.starts_with(&format!("{name}: ")) || t.starts_with(&format!("{name} (on "));
                named && t.contains(&value) && t.ends_with(" of 3,000")
            }),
            "{name}{value}... in {texts:?}"
        );
    }
    // Dashed lines are dashed by the SVG, not drawn dash by dash.
    assert!(svg.contains("stroke-dasharray"));
    std::fs::remove_dir_all(&out).unwrap();
}

#[test]
fn truncated_backpropagation_keeps_the_predicted_heap_after_every_window_under_every_strategy() {
    let (report, out) = run_report(&[
        "--cnn-steps",
        "0",
        "--training-steps",
        "0",
        "--value-memory-batch",
        "0",
        "--second-cycle",
        "0",
        "--deep",
        "0",
        "--recurrent-windows",
        "4",
    ]);
    let section = &report["recurrent"];
    assert_eq!(section["windows"], 4, "{section}");
    let runs = section["runs"].as_array().unwrap();
    let names: Vec<&str> = runs
        .iter()
        .map(|r| r["strategy"].as_str().unwrap())
        .collect();
    let all: Vec<&str> = StrategyKind::ALL.iter().map(|k| k.name()).collect();
    assert_eq!(names, all);
    let bytes = |run: &Value, key: &str| -> Vec<i64> {
        run[key]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| b.as_i64().unwrap())
            .collect()
    };
    for run in runs {
        let name = run["strategy"].as_str().unwrap();
        let kept = bytes(run, "kept_after_window");
        assert_eq!(kept.len(), 4, "{name}");
        // The same heap after every window, to the byte, and predicted.
        assert!(
            kept.iter().all(|&k| k == kept[0] && k > 0),
            "{name}: {kept:?}"
        );
        assert_eq!(kept, bytes(run, "predicted_after_window"), "{name}");
        assert_eq!(run["flat"], true, "{name}");
        assert_eq!(run["exact"], true, "{name}");
        // Without the cut the heap grows window after window, as predicted.
        let uncut = bytes(run, "uncut_after_window");
        assert_eq!(uncut, bytes(run, "uncut_predicted_after_window"), "{name}");
        assert!(uncut.windows(2).all(|w| w[0] < w[1]), "{name}: {uncut:?}");
        let growth = run["uncut_growth_per_step"].as_f64().unwrap();
        assert!(growth > 0.0, "{name}");
        assert_eq!(
            run["uncut_predicted_growth_per_step"].as_f64(),
            Some(growth)
        );
        assert!(
            run["lstm_millis_per_epoch"].as_f64().unwrap() > 0.0,
            "{name}"
        );
    }
    // 0 skips the section.
    let (skipped, skipped_out) = run_report(&["--strategy", "region", "--recurrent-windows", "0"]);
    assert!(skipped["recurrent"].is_null());
    std::fs::remove_dir_all(&out).unwrap();
    std::fs::remove_dir_all(&skipped_out).unwrap();
}

#[test]
fn the_second_cycle_loop_leaves_nothing_under_the_weak_strategies() {
    let (report, out) = run_report(&[
        "--strategy",
        "rc-weak",
        "--strategy",
        "arc-weak",
        "--strategy",
        "strong-only-rc-weak",
    ]);
    let cycle = report["second_cycle"].as_array().unwrap();
    let named = |name: &str| cycle.iter().find(|s| s["strategy"] == name).unwrap();
    for weak in ["RcWeak", "ArcWeak"] {
        assert_eq!(named(weak)["bytes_left_per_iteration"], 0.0, "{weak}");
        assert_eq!(named(weak)["nodes_left"], 0);
    }
    assert!(
        named("StrongOnly<RcWeak>")["bytes_left_per_iteration"]
            .as_f64()
            .unwrap()
            > 0.0
    );
    std::fs::remove_dir_all(&out).unwrap();
}

#[test]
fn strategies_can_be_chosen_by_their_command_line_names() {
    let (report, out) = run_report(&["--strategy", "rc-weak"]);
    let names: Vec<&str> = report["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["subject"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["raw_naive", "raw_fused", "RcWeak"]);
    std::fs::remove_dir_all(&out).unwrap();
}

#[test]
fn a_bad_argument_is_a_clear_error_with_exit_code_2() {
    for args in [
        &["--size", "0"][..],
        &["--strategy", "gc"],
        &["--iterations", "many"],
        &["--collect", "sometimes"],
    ] {
        let output = Command::new(env!("CARGO_BIN_EXE_autograd-bench"))
            .args(args)
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("error:"), "{stderr}");
    }
}

/// What a run of the binary did.
struct Outcome {
    code: Option<i32>,
    /// The first line of its stderr.
    error: String,
    /// Whether it printed anything on stdout (the report, as JSON).
    printed: bool,
    /// Whether it made its output folder (it does once the report is built).
    wrote: bool,
    elapsed: std::time::Duration,
}

/// Runs the binary with `args` and, for each flag `args` does not give, a
/// tiny configuration, so that a binary that accepts them finishes quickly
/// instead of running the full report (and a flag is never given twice,
/// which clap would refuse for its own reason).
fn run_binary(args: &[&str]) -> Outcome {
    static CALLS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let call = CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let out = std::env::temp_dir().join(format!(
        "autograd-report-refused-{}-{call}",
        std::process::id()
    ));
    let tiny = [
        ["--iterations", "1"],
        ["--second-cycle", "0"],
        ["--samples", "1"],
        ["--strategy", "rc-weak"],
        ["--deep", "0"],
        ["--training-steps", "0"],
        ["--value-memory-batch", "0"],
        ["--recurrent-windows", "0"],
        ["--budget-layers", "0"],
        ["--budget-steps", "0"],
    ];
    let mut command = Command::new(env!("CARGO_BIN_EXE_autograd-bench"));
    for [flag, value] in tiny {
        if !args.contains(&flag) {
            command.args([flag, value]);
        }
    }
    let started = std::time::Instant::now();
    let output = command
        .arg("--json")
        .arg("--out")
        .arg(&out)
        .args(args)
        .output()
        .expect("the binary runs");
    let elapsed = started.elapsed();
    let wrote = out.exists();
    let _ = std::fs::remove_dir_all(&out);
    let stderr = String::from_utf8_lossy(&output.stderr);
    Outcome {
        code: output.status.code(),
        error: stderr.lines().next().unwrap_or_default().to_string(),
        printed: !output.stdout.is_empty(),
        wrote,
        elapsed,
    }
}

/// Runs the binary with `args` and returns its exit code and the first line
/// of its stderr.
fn refused(args: &[&str]) -> (Option<i32>, String) {
    let outcome = run_binary(args);
    (outcome.code, outcome.error)
}

/// Asserts that the binary refuses `args` before any work: exit code 2, an
/// error naming every one of `flags`, nothing printed or written, at once.
fn assert_refused(args: &[&str], flags: &[&str]) {
    let outcome = run_binary(args);
    let error = &outcome.error;
    assert_eq!(outcome.code, Some(2), "{args:?}: {error}");
    assert!(error.starts_with("error:"), "{args:?}: {error}");
    for flag in flags {
        assert!(
            error.contains(flag),
            "{args:?}: {flag} not named in {error}"
        );
    }
    assert!(
        !outcome.printed && !outcome.wrote,
        "{args:?}: work was done"
    );
    assert!(
        outcome.elapsed.as_secs() < 10,
        "{args:?}: refused only after {:?}",
        outcome.elapsed
    );
}

#[test]
fn every_size_flag_beyond_what_it_can_allocate_is_refused_naming_it() {
    let u64_max = "18446744073709551615";
    for (args, flag) in [
        // 10^15 rows aborted on a failed allocation; 2^64 - 1 panicked in
        // ndarray ("Shape too large").
        (
            &["--value-memory-batch", "1000000000000000"][..],
            "--value-memory-batch",
        ),
        (&["--value-memory-batch", u64_max], "--value-memory-batch"),
        (&["--value-memory-batch", "16385"], "--value-memory-batch"),
        // One epoch is 43 steps: more were cut to it without a word.
        (&["--training-steps", "44"], "--training-steps"),
        (&["--training-steps", u64_max], "--training-steps"),
        // One epoch of the sin curve is 33 full windows.
        (&["--recurrent-windows", "34"], "--recurrent-windows"),
        (&["--recurrent-windows", u64_max], "--recurrent-windows"),
        (
            &["--second-cycle", "18446744073709551616"],
            "--second-cycle",
        ),
        (&["--iterations", "0"], "--iterations"),
        (&["--threads", "0"], "--threads"),
        (&["--threads", "1025"], "--threads"),
        (&["--samples", "0"], "--samples"),
        (&["--samples", "100001"], "--samples"),
        (&["--heap-budget-mib", "0"], "--heap-budget-mib"),
        (&["--deep", "100000001"], "--deep"),
        (&["--collect", "every:0"], "--collect"),
        (&["--budget-layers", "257"], "--budget-layers"),
        (&["--budget-steps", "1000"], "--budget-steps"),
        (&["--budget-rows", "1"], "--budget-rows"),
        (&["--budget-rows", "101"], "--budget-rows"),
    ] {
        assert_refused(args, &[flag]);
    }
    // The largest batch and a whole epoch are taken.
    let help = Command::new(env!("CARGO_BIN_EXE_autograd-bench"))
        .arg("--help")
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(
        help.contains("at most 16384")
            && help.contains("one epoch of 43")
            && help.contains("one epoch's 33"),
        "{help}"
    );
}

/// The budget section: every plan's peak measured is its prediction, the
/// evenly spaced budgets' plans peak within their budgets and never higher
/// for a larger budget, √n's and keep-all's rows are there, and each
/// model has its panel in the plot.
#[test]
fn every_budget_plan_peaks_at_its_prediction() {
    let (report, out) = run_report(&["--strategy", "rc-weak"]);
    let section = &report["budget"];
    assert_eq!(section["rows"], 3);
    let models = section["models"].as_array().unwrap();
    assert_eq!(models.len(), 2);
    for model in models {
        let rows = model["rows"].as_array().unwrap();
        for r in rows {
            assert_eq!(r["exact"], true, "{r}");
            assert_eq!(r["predicted"], r["measured"], "{r}");
        }
        let even: Vec<&Value> = rows.iter().filter(|r| r["note"] == "even").collect();
        assert_eq!(even.len(), 3);
        let mut last = 0;
        for r in even {
            let peak = r["measured"].as_u64().unwrap();
            assert!(peak <= r["budget"].as_u64().unwrap() && peak >= last, "{r}");
            last = peak;
        }
        for planner in ["sqrt", "keep-all"] {
            assert!(rows.iter().any(|r| r["planner"] == planner), "{planner}");
        }
        assert!(!model["targets"].as_array().unwrap().is_empty());
    }
    let svg = std::fs::read_to_string(out.join("live-heap.svg")).unwrap();
    assert_eq!(svg.matches("Byte budgets: ").count(), 2);
    let _ = std::fs::remove_dir_all(&out);
}

#[test]
fn a_run_that_keeps_its_graphs_and_cannot_fit_its_warm_up_in_its_share_is_refused() {
    // 8 MB arrays on one thread: 20 of them at once fit 160 MiB, but a run
    // that never frees keeps its warm-up's 6 graphs of four arrays and one
    // iteration's (224 MB).
    let big = [
        "--size",
        "1000000",
        "--threads",
        "1",
        "--heap-budget-mib",
        "160",
    ];
    for keeping in [
        &["--strategy", "strong-only-rc-weak"][..],
        &["--strategy", "collected", "--collect", "never"],
        // A collector that would run only after 10^9 nodes keeps as much.
        &["--strategy", "collected", "--collect", "every:1000000000"],
    ] {
        assert_refused(
            &[&big[..], keeping].concat(),
            &["--size", "--threads", "--heap-budget-mib"],
        );
    }
    // The same arrays under a collector that runs after every graph (7
    // nodes), or a strategy that frees on drop, run.
    for freeing in [
        &["--strategy", "collected", "--collect", "every:7"][..],
        &["--strategy", "rc-weak"],
    ] {
        let outcome = run_binary(&[&big[..], freeing].concat());
        assert_eq!(outcome.code, Some(0), "{freeing:?}: {}", outcome.error);
    }
}

#[test]
fn a_run_that_keeps_its_graphs_stops_at_its_share_warm_up_included() {
    // 4 MiB for one run: about 30 warm-up graphs of 32 KB, and the rest.
    let (report, out) = run_report_with(
        600,
        6,
        &[
            "--heap-budget-mib",
            "4",
            "--strategy",
            "strong-only-rc-weak",
            "--strategy",
            "collected",
            "--collect",
            "every:1000000000",
            "--second-cycle",
            "100000",
        ],
    );
    for name in ["StrongOnly<RcWeak>", "Collected"] {
        let run = run_named(&report, name);
        assert_eq!(run["capped_by_budget"], true, "{name}");
        let iterations = run["iterations"].as_u64().unwrap();
        let predicted = run["predicted_leak_per_iteration"].as_u64().unwrap();
        // Three rounds of one graph a thread and 8 shared out.
        let warm_up = 3 * (2 + 8);
        let share = (4 << 20) / 2;
        assert!(
            iterations > 1 && (iterations + warm_up) * predicted <= share,
            "{name}: {iterations} iterations of {predicted} bytes"
        );
    }
    // The second cycle under a collector that would run too late stops at
    // the budget as well.
    let cycle = report["second_cycle"].as_array().unwrap();
    let collected = cycle.iter().find(|s| s["strategy"] == "Collected").unwrap();
    let iterations = collected["iterations"].as_u64().unwrap();
    assert!(iterations < 100_000, "{iterations}");
    std::fs::remove_dir_all(&out).unwrap();
}

#[test]
fn sizes_whose_bytes_overflow_are_refused_naming_the_flag() {
    // 8 bytes × (2⁶⁴ − 1) elements overflows; 1.6 × 10¹⁹ bytes does not,
    // but is more than one allocation may hold (isize::MAX).
    for size in ["18446744073709551615", "2000000000000000000"] {
        let (code, error) = refused(&["--deep", "0", "--size", size]);
        assert_eq!(code, Some(2), "--size {size}: {error}");
        assert!(
            error.starts_with("error:") && error.contains("--size"),
            "{error}"
        );
    }
    // The arrays of every thread together overflow, though one array does not.
    let (code, error) = refused(&[
        "--deep",
        "0",
        "--size",
        "100000000000000000",
        "--threads",
        "1024",
    ]);
    assert_eq!(code, Some(2), "{error}");
    assert!(
        error.contains("--size") && error.contains("--threads"),
        "{error}"
    );
    let (code, error) = refused(&["--deep", "0", "--heap-budget-mib", "18446744073709551615"]);
    assert_eq!(code, Some(2), "{error}");
    assert!(error.contains("--heap-budget-mib"), "{error}");
}

#[test]
fn arrays_that_exceed_the_heap_budget_are_refused_before_any_work() {
    for args in [
        // 10¹⁵ elements: 8 PB an array (this aborted, allocation failing).
        &["--size", "1000000000000000"][..],
        // 8 MB arrays on two threads: far more than 16 MiB at once.
        &[
            "--size",
            "1000000",
            "--threads",
            "2",
            "--heap-budget-mib",
            "16",
        ],
    ] {
        let started = std::time::Instant::now();
        let (code, error) = refused(&[&["--deep", "0"][..], args].concat());
        assert_eq!(code, Some(2), "{args:?}: {error}");
        assert!(
            error.contains("--size") && error.contains("--heap-budget-mib"),
            "{error}"
        );
        assert!(started.elapsed().as_secs() < 10, "refused before any work");
    }
    // The same arrays fit a budget that holds them.
    let (code, error) = refused(&[
        "--deep",
        "0",
        "--size",
        "1000",
        "--threads",
        "2",
        "--heap-budget-mib",
        "16",
    ]);
    assert_eq!(code, Some(0), "{error}");
}

#[test]
fn deep_chains_beyond_the_stated_cap_are_refused() {
    let help = Command::new(env!("CARGO_BIN_EXE_autograd-bench"))
        .arg("--help")
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(help.contains("at most 100000000"), "{help}");
    for deep in ["100000001", "1000,18446744073709551615"] {
        let (code, error) = refused(&["--size", "1000", "--deep", deep]);
        assert_eq!(code, Some(2), "--deep {deep}: {error}");
        assert!(error.contains("--deep"), "{error}");
    }
}

#[test]
fn the_files_go_to_the_target_directory_whichever_folder_the_command_runs_from() {
    let root = std::env::temp_dir().join(format!("autograd-report-where-{}", std::process::id()));
    let (elsewhere, target) = (root.join("elsewhere"), root.join("target-dir"));
    std::fs::create_dir_all(&elsewhere).unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_autograd-bench"))
        .current_dir(&elsewhere)
        .env("CARGO_TARGET_DIR", &target)
        .args(["--iterations", "1", "--second-cycle", "0", "--samples", "1"])
        .args([
            "--strategy",
            "rc-weak",
            "--deep",
            "0",
            "--training-steps",
            "0",
        ])
        .args([
            "--value-memory-batch",
            "0",
            "--recurrent-windows",
            "0",
            "--budget-layers",
            "0",
            "--budget-steps",
            "0",
            "--json",
        ])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    for file in ["report.json", "live-heap.svg"] {
        assert!(
            target.join("autograd-report").join(file).is_file(),
            "{file}"
        );
    }
    // Nothing in the folder it ran from.
    assert_eq!(std::fs::read_dir(&elsewhere).unwrap().count(), 0);
    std::fs::remove_dir_all(&root).unwrap();
}
