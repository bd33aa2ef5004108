//! Runs the report binary with a tiny configuration and checks what it wrote:
//! every strategy present, each leak equal to its prediction from the graph,
//! nothing leaked by the weak strategies, and a well-formed SVG.

use std::process::Command;

use serde_json::Value;

fn run_report(extra: &[&str]) -> (Value, std::path::PathBuf) {
    let out = std::env::temp_dir().join(format!("autograd-report-test-{}", std::process::id()));
    let output = Command::new(env!("CARGO_BIN_EXE_autograd-bench"))
        .args(["--iterations", "60", "--size", "1000", "--threads", "2"])
        .args(["--deep", "1000", "--samples", "6", "--json", "--out"])
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
fn the_report_measures_every_strategy_and_the_leak_matches_its_prediction() {
    for retain in [false, true] {
        let (report, out) = run_report(if retain { &["--retain-grad"] } else { &[] });
        assert_eq!(report["heap_measured"], true);
        for weak in [
            "RcWeak",
            "ArcWeak",
            "ArcWeak (shared leaf)",
            "raw_naive",
            "raw_fused",
        ] {
            let run = run_named(&report, weak);
            assert_eq!(run["live_heap_after_bytes"], 0, "{weak} leaked: {run}");
            assert_eq!(run["live_variables_after"], 0);
            assert_eq!(run["live_functions_after"], 0);
            assert_eq!(run["iterations"], 60);
        }
        for leaking in ["StrongOnly<RcWeak>", "StrongOnly<ArcWeak>"] {
            let run = run_named(&report, leaking);
            let iterations = run["iterations"].as_i64().unwrap();
            let predicted = run["predicted_leak_per_iteration"].as_i64().unwrap();
            // Five arrays of 1,000 f64 (x, a, b, y and x's gradient), eight
            // with retained gradients, plus the nodes.
            let arrays = if retain { 8 } else { 5 };
            assert!(
                predicted > arrays * 8000 && predicted < arrays * 8000 + 4096,
                "{predicted}"
            );
            assert_eq!(
                run["live_heap_after_bytes"].as_i64().unwrap(),
                predicted * iterations
            );
            assert_eq!(
                run["live_variables_after"].as_i64().unwrap(),
                4 * iterations
            );
            assert_eq!(
                run["live_functions_after"].as_i64().unwrap(),
                3 * iterations
            );
        }
        let svg = std::fs::read_to_string(out.join("live-heap.svg")).unwrap();
        let doc = roxmltree::Document::parse(&svg).expect("the plot is XML");
        assert_eq!(doc.root_element().tag_name().name(), "svg");
        let on_disk: Value =
            serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).unwrap())
                .unwrap();
        assert_eq!(on_disk["runs"].as_array().unwrap().len(), 7);
        assert_eq!(report["deep_chains"][0]["live_nodes_after"], 0);
        std::fs::remove_dir_all(&out).unwrap();
    }
}

#[test]
fn one_strategy_can_be_chosen() {
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
