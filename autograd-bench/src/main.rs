//! The main job: the seed's experiment (DeZero step 17, section 17.5) at
//! scale, under every ownership strategy side by side, rayon-parallel, with
//! time, live nodes and measured heap, a JSON report and an SVG plot.
//!
//! `cargo run --release -p autograd-bench -- --help` lists the options.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use autograd_bench::alloc::CountingAlloc;
use autograd_bench::plot;
use autograd_bench::report::{self, Report};
use autograd_bench::stress::{StressConfig, Subject};
use autograd_mem::StrategyKind;
use clap::{Parser, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};

#[cfg(feature = "mimalloc")]
#[global_allocator]
static GLOBAL: CountingAlloc<mimalloc::MiMalloc> = CountingAlloc(mimalloc::MiMalloc);
#[cfg(feature = "mimalloc")]
const ALLOCATOR: &str = "mimalloc";

#[cfg(not(feature = "mimalloc"))]
#[global_allocator]
static GLOBAL: CountingAlloc<std::alloc::System> = CountingAlloc(std::alloc::System);
#[cfg(not(feature = "mimalloc"))]
const ALLOCATOR: &str = "system";

/// The ownership strategies, as written on the command line.
#[allow(clippy::enum_variant_names)] // the names users know them by
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum StrategyArg {
    RcWeak,
    ArcWeak,
    StrongOnlyRcWeak,
    StrongOnlyArcWeak,
}

impl StrategyArg {
    fn kind(self) -> StrategyKind {
        match self {
            StrategyArg::RcWeak => StrategyKind::RcWeak,
            StrategyArg::ArcWeak => StrategyKind::ArcWeak,
            StrategyArg::StrongOnlyRcWeak => StrategyKind::StrongOnlyRcWeak,
            StrategyArg::StrongOnlyArcWeak => StrategyKind::StrongOnlyArcWeak,
        }
    }
}

/// The seed's experiment under every ownership strategy: time, live nodes and
/// heap, beside plain ndarray doing the same arithmetic.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// Iterations of the seed loop per run (leaking runs stop at the heap budget).
    #[arg(long, default_value_t = 40_000, value_parser = clap::value_parser!(u64).range(1..))]
    iterations: u64,
    /// Elements of each input array (the seed's experiment uses 10,000).
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..))]
    size: u64,
    /// Threads in the rayon pool [default: all cores].
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=1024))]
    threads: Option<u64>,
    /// A strategy to run; repeat for several [default: all].
    #[arg(long = "strategy", value_enum)]
    strategies: Vec<StrategyArg>,
    /// Keep intermediate gradients on their variables (the seed's behaviour).
    #[arg(long)]
    retain_grad: bool,
    /// Heap, in MiB, that the leaking runs may fill together.
    #[arg(long, default_value_t = 1024, value_parser = clap::value_parser!(u64).range(1..))]
    heap_budget_mib: u64,
    /// Lengths of the deep chains to run, comma-separated (`0` for none). Outside
    /// the heap budget: 10,000,000 ops peak at about 4 GB.
    #[arg(long, value_delimiter = ',', default_value = "100000,1000000,10000000")]
    deep: Vec<usize>,
    /// Points per run on the live-heap curve.
    #[arg(long, default_value_t = 40, value_parser = clap::value_parser!(u64).range(1..=10_000))]
    samples: u64,
    /// Folder for report.json and live-heap.svg [default: target/autograd-report].
    #[arg(long)]
    out: Option<PathBuf>,
    /// Print the JSON report to stdout instead of the table.
    #[arg(long)]
    json: bool,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let config = StressConfig {
        iterations: args.iterations as usize,
        size: args.size as usize,
        retain_grad: args.retain_grad,
        heap_budget: (args.heap_budget_mib as usize).saturating_mul(1 << 20),
        samples: args.samples as usize,
    };
    let threads = args.threads.map_or_else(
        || std::thread::available_parallelism().map_or(1, |n| n.get()),
        |n| n as usize,
    );
    let strategies: Vec<StrategyKind> = if args.strategies.is_empty() {
        StrategyKind::ALL.to_vec()
    } else {
        args.strategies.iter().map(|s| s.kind()).collect()
    };
    let deep: Vec<usize> = args.deep.iter().copied().filter(|&d| d > 0).collect();

    let mut progress = Progress::new(!args.json && std::io::stderr().is_terminal());
    let report = report::build(
        &config,
        threads,
        &Subject::plan(&strategies),
        &deep,
        ALLOCATOR,
        &mut |subject, done, total| progress.update(subject, done, total),
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

fn write_outputs(report: &Report, out: &std::path::Path) -> std::io::Result<(PathBuf, PathBuf)> {
    std::fs::create_dir_all(out)?;
    let out = out.canonicalize()?;
    let json_path = out.join("report.json");
    let svg_path = out.join("live-heap.svg");
    std::fs::write(&json_path, to_json(report))?;
    std::fs::write(&svg_path, plot::live_heap_svg(report))?;
    Ok((json_path, svg_path))
}

/// A progress bar on a terminal; one plain line per finished run elsewhere.
struct Progress {
    bar: Option<ProgressBar>,
    terminal: bool,
    current: &'static str,
}

impl Progress {
    fn new(terminal: bool) -> Self {
        Progress {
            bar: None,
            terminal,
            current: "",
        }
    }

    fn update(&mut self, subject: &'static str, done: usize, total: usize) {
        if subject != self.current {
            self.finish();
            self.current = subject;
            if self.terminal {
                let bar = ProgressBar::new(total as u64);
                bar.set_style(
                    ProgressStyle::with_template("{msg:>24} [{bar:40}] {pos}/{len} {elapsed}")
                        .expect("a valid template")
                        .progress_chars("=> "),
                );
                bar.set_message(subject.to_string());
                self.bar = Some(bar);
            }
        }
        if let Some(bar) = &self.bar {
            bar.set_position(done as u64);
        } else if done == total && total > 0 {
            eprintln!("done: {subject} ({total} iterations)");
        }
    }

    fn finish(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish();
        }
    }
}
