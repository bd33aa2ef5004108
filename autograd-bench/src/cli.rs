//! The report binaries' command line (`autograd-bench`, on the benches'
//! allocator, and `autograd-bench-system`, on the system's): parsed as given,
//! resolved into a [`ReportConfig`], run, printed.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use autograd_mem::{Policy, StrategyKind};
use clap::Parser;
use clap::builder::PossibleValuesParser;
use indicatif::{ProgressBar, ProgressStyle};

use crate::report::{self, Report, ReportConfig, allocators, config};

/// The seed's experiment under every ownership strategy (the three ways to
/// free a graph), deep chains, the second cycle: time, live nodes and heap,
/// beside plain ndarray doing the same arithmetic.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// Iterations of the seed loop per run (runs that keep their graphs stop
    /// at the heap budget).
    #[arg(long, default_value_t = 40_000, value_parser = clap::value_parser!(u64).range(1..))]
    iterations: u64,
    /// Elements of each input array (the seed's experiment uses 10,000).
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..))]
    size: u64,
    /// Threads in the rayon pool [default: all cores].
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=1024))]
    threads: Option<u64>,
    /// A strategy to run; repeat for several [default: all].
    #[arg(long = "strategy", value_parser = PossibleValuesParser::new(
        StrategyKind::ALL.iter().map(|kind| kind.cli_name())))]
    strategies: Vec<String>,
    /// When the collected strategies collect: auto (their policy), never, or
    /// every:N nodes.
    #[arg(long, default_value = "auto", value_parser = config::parse_policy)]
    collect: Policy,
    /// Keep intermediate gradients on their variables (the seed's behaviour).
    #[arg(long)]
    retain_grad: bool,
    /// Heap, in MiB, that the runs keeping their graphs may fill together.
    #[arg(long, default_value_t = 1024, value_parser = clap::value_parser!(u64).range(1..))]
    heap_budget_mib: u64,
    /// Lengths of the deep chains to run, comma-separated (`0` for none).
    #[arg(long, value_delimiter = ',', default_value = "100000,1000000,10000000")]
    deep: Vec<usize>,
    /// Iterations of the second-cycle loop per strategy (`0` for none).
    #[arg(long, default_value_t = 100_000)]
    second_cycle: usize,
    /// Points per run on the live-heap curve.
    #[arg(long, default_value_t = 4000, value_parser = clap::value_parser!(u64).range(1..=100_000))]
    samples: u64,
    /// Also measure the seed loop's time and scaling under this build's
    /// allocator and under the system allocator (the `autograd-bench-system`
    /// build, built first if needed).
    #[arg(long)]
    compare_allocators: bool,
    /// Print only this build's allocator figures, as JSON (what
    /// `--compare-allocators` runs the other build with).
    #[arg(long, hide = true)]
    allocator_figures_only: bool,
    /// Folder for report.json and live-heap.svg [default: target/autograd-report].
    #[arg(long)]
    out: Option<PathBuf>,
    /// Print the JSON report to stdout instead of the tables.
    #[arg(long)]
    json: bool,
}

/// Runs the report binary on `allocator` (its name, as the report prints it).
pub fn main(allocator: &'static str) -> ExitCode {
    let args = Args::parse();
    let threads = args.threads.map_or_else(
        || std::thread::available_parallelism().map_or(1, |n| n.get()),
        |n| n as usize,
    );
    if args.allocator_figures_only {
        let inputs = report::seed_loop::make_inputs(args.size as usize, 8, 17);
        let figures = allocators::measure(allocator, &inputs, threads);
        println!(
            "{}",
            serde_json::to_string(&figures).expect("figures serialise")
        );
        return ExitCode::SUCCESS;
    }
    let strategies: Vec<StrategyKind> = if args.strategies.is_empty() {
        StrategyKind::ALL.to_vec()
    } else {
        args.strategies
            .iter()
            .filter_map(|name| StrategyKind::from_cli_name(name))
            .collect()
    };
    let config = ReportConfig {
        iterations: args.iterations as usize,
        size: args.size as usize,
        threads,
        strategies,
        retain_grad: args.retain_grad,
        heap_budget: (args.heap_budget_mib as usize).saturating_mul(1 << 20),
        samples: args.samples as usize,
        policy: args.collect,
        deep: args.deep.iter().copied().filter(|&d| d > 0).collect(),
        second_cycle_iterations: args.second_cycle,
        allocator,
    };

    let mut progress = Progress::new(!args.json && std::io::stderr().is_terminal());
    let report = report::build(
        &config,
        args.compare_allocators,
        &mut |section, done, total| progress.update(section, done, total),
    );
    progress.finish();

    let out = args.out.unwrap_or_else(|| {
        PathBuf::from(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../target/autograd-report"
        ))
    });
    match write_outputs(&report, &out) {
        Ok((json_path, svg_path)) => {
            if args.json {
                println!("{}", to_json(&report));
            } else {
                print!("{}", report.table());
                println!(
                    "\nreport: {}\nplot:   {}",
                    json_path.display(),
                    svg_path.display()
                );
            }
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("error: cannot write the report to {}: {err}", out.display());
            ExitCode::FAILURE
        }
    }
}

fn to_json(report: &Report) -> String {
    serde_json::to_string_pretty(report).expect("the report serialises")
}

fn write_outputs(
    report: &Report,
    out: &Path,
) -> Result<(PathBuf, PathBuf), Box<dyn std::error::Error>> {
    std::fs::create_dir_all(out)?;
    let out = out.canonicalize()?;
    let json_path = out.join("report.json");
    let svg_path = out.join("live-heap.svg");
    std::fs::write(&json_path, to_json(report))?;
    std::fs::write(&svg_path, report::plot::live_heap_svg(report)?)?;
    Ok((json_path, svg_path))
}

/// A progress bar on a terminal; one plain line per finished run elsewhere.
struct Progress {
    bar: Option<ProgressBar>,
    terminal: bool,
    current: String,
}

impl Progress {
    fn new(terminal: bool) -> Self {
        Progress {
            bar: None,
            terminal,
            current: String::new(),
        }
    }

    fn update(&mut self, section: &str, done: usize, total: usize) {
        if section != self.current {
            self.finish();
            self.current = section.to_string();
            if self.terminal {
                let bar = ProgressBar::new(total as u64);
                bar.set_style(
                    ProgressStyle::with_template("{msg:>24} [{bar:40}] {pos}/{len} {elapsed}")
                        .expect("a valid template")
                        .progress_chars("=> "),
                );
                bar.set_message(section.to_string());
                self.bar = Some(bar);
            }
        }
        if let Some(bar) = &self.bar {
            bar.set_position(done as u64);
        } else if done == total && total > 0 {
            eprintln!("done: {section} ({total} iterations)");
        }
    }

    fn finish(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish();
        }
    }
}
