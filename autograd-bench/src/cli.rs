//! The report binaries' command line (`autograd-bench`, on the benches'
//! allocator, and `autograd-bench-system`, on the system's): parsed as given,
//! resolved into a [`ReportConfig`], run, printed.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use autograd_mem::{Policy, StrategyKind};
use clap::builder::PossibleValuesParser;
use clap::error::ErrorKind;
use clap::{CommandFactory, Parser};
use indicatif::{ProgressBar, ProgressStyle};

use crate::report::seed_loop::{self, INPUT_ARRAYS};
use crate::report::training::EPOCH_STEPS;
use crate::report::{self, Context, Report, ReportConfig, allocators, bytes, config, value_memory};

/// Arrays of `--size` elements that one iteration of the seed loop holds at
/// once on its thread, counted with a margin. Forward holds `x`, `x²`, `x⁴`
/// and `x⁸` (4); backward adds their four gradients, all kept with
/// `--retain-grad` (8); `raw_naive` has one temporary more (9); beside them
/// the engine's buffer cache keeps freed buffers for reuse (at most 16, and
/// 4 MiB, a thread). Measured at 10⁵ elements: at most 10 a thread, the
/// cache included. What the runs that keep their graphs keep is on top, and
/// bounded by the budget itself.
const ARRAYS_PER_ITERATION: usize = 12;

/// The longest deep chain `--deep` accepts. A chain holds about 160 bytes an
/// op until its backward and drop (the report's `peak/op` under `RcWeak`):
/// 1.4 GB for the README's 10⁷ ops, 14 GB at the cap. The deep chains run
/// outside the heap budget, which bounds the seed loop's kept graphs.
const MAX_DEEP: u64 = 100_000_000;

/// The seed's experiment under every ownership strategy (the four ways to
/// free a graph), deep chains, the second cycle: time, live nodes and heap,
/// beside plain ndarray doing the same arithmetic.
///
/// The command line as given (ripgrep's low-level arguments): clap checks
/// each value alone, [`Args::resolve`] what they need together.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// Iterations of the seed loop per run (runs that keep their graphs stop
    /// at their share of the heap budget).
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
    /// every:N nodes. Under never, or every:N with N nodes' graphs more than
    /// the heap budget, their seed-loop runs count among the runs that keep
    /// their graphs.
    #[arg(long, default_value = "auto", value_parser = config::parse_policy)]
    collect: Policy,
    /// Keep intermediate gradients on their variables (the seed's behaviour).
    #[arg(long)]
    retain_grad: bool,
    /// Heap, in MiB, that the seed-loop runs keeping their graphs may fill
    /// together, each its share, warm-up included (and the second-cycle
    /// loop, alone); the arrays every thread works on at once must fit in it
    /// too (about 12 of `--size` elements a thread, and the 8 inputs).
    #[arg(long, default_value_t = 1024, value_parser = clap::value_parser!(u64).range(1..))]
    heap_budget_mib: u64,
    /// Lengths of the deep chains to run, comma-separated (`0` for none), at
    /// most 100000000 (10⁸) each. A chain holds about 160 bytes an op until
    /// it is dropped (14 GB at the cap), outside the heap budget.
    #[arg(long, value_delimiter = ',', default_value = "100000,1000000,10000000",
        value_parser = clap::value_parser!(u64).range(..=MAX_DEEP))]
    deep: Vec<u64>,
    /// Iterations of the second-cycle loop per strategy (`0` for none); a
    /// strategy that keeps what the loop leaves stops at the heap budget.
    #[arg(long, default_value_t = 100_000)]
    second_cycle: usize,
    /// Steps of the training section (the digits MLP) per strategy, at most
    /// one epoch of 43 (`0` for none).
    #[arg(long, default_value_t = EPOCH_STEPS as u64,
        value_parser = clap::value_parser!(u64).range(..=EPOCH_STEPS as u64))]
    training_steps: u64,
    /// Timed steps per strategy of the cnn_step section (the cnn_mnist
    /// example's network on batches of 32, beside its plain-ndarray floor;
    /// `0` for none), at most 10000.
    #[arg(long, default_value_t = report::cnn::DEFAULT_STEPS as u64,
        value_parser = clap::value_parser!(u64).range(..=report::cnn::MAX_STEPS as u64))]
    cnn_steps: u64,
    /// Windows of 30 steps per strategy of the recurrent section (DeZero
    /// step 59's RNN trained with truncated backpropagation, the heap kept
    /// after each window measured and predicted; the loop without the cut;
    /// step 60's LSTM epoch timed beside its plain-ndarray floor over a
    /// quarter as many epochs; `0` for none), at most one epoch's 33.
    #[arg(long, default_value_t = report::recurrent::DEFAULT_WINDOWS as u64,
        value_parser = clap::value_parser!(u64).range(..=report::recurrent::MAX_WINDOWS as u64))]
    recurrent_windows: u64,
    /// Batch rows of the value-memory section (deep ReLU MLPs of width 128
    /// at 16, 64 and 256 layers, each with and without checkpointing; `0`
    /// for none), at most 16384. Its heap grows with the batch, outside the
    /// heap budget: about 350 MiB at 512, 9 GiB at the cap.
    #[arg(long, default_value_t = value_memory::BATCH as u64,
        value_parser = clap::value_parser!(u64).range(..=value_memory::MAX_BATCH as u64))]
    value_memory_batch: u64,
    /// Layers of the budget section's MLP (tanh, 128 wide, batch 512; `0`
    /// for none), at most 256. Its heap grows with the layers: about 330 MiB
    /// at 256 (keep-all's peak, and the parameters with their gradients).
    #[arg(long, default_value_t = report::budget::MLP_LAYERS as u64,
        value_parser = clap::value_parser!(u64).range(..=report::budget::MLP_LAYERS as u64))]
    budget_layers: u64,
    /// Steps of the budget section's LSTM over the sin curve, without
    /// truncation (`0` for none), at most 999 (the whole curve).
    #[arg(long, default_value_t = report::budget::LSTM_STEPS as u64,
        value_parser = clap::value_parser!(u64).range(..=report::budget::LSTM_STEPS as u64))]
    budget_steps: u64,
    /// Budgets a model of the budget section, evenly from the smallest any
    /// plan fits to keep-all's peak (besides √n's, keep-all's and the
    /// targets' rows), 2 to 100.
    #[arg(long, default_value_t = report::budget::DEFAULT_ROWS as u64,
        value_parser = clap::value_parser!(u64).range(2..=100))]
    budget_rows: u64,
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
    /// Folder for report.json and live-heap.svg [default: autograd-report in
    /// the workspace's target directory ($CARGO_TARGET_DIR when set),
    /// wherever the command runs from].
    #[arg(long)]
    out: Option<PathBuf>,
    /// Print the JSON report to stdout instead of the tables.
    #[arg(long)]
    json: bool,
}

/// The command line resolved (ripgrep's high-level arguments): what to run,
/// every size checked against what it allocates, and what to do with the
/// result.
#[derive(Debug)]
struct Resolved {
    /// The report's configuration.
    config: ReportConfig,
    /// What the run prints and writes.
    output: Output,
}

/// What a run prints and writes.
#[derive(Debug)]
enum Output {
    /// The report: its tables (or its JSON) on stdout, `report.json` and
    /// `live-heap.svg` in `dir`.
    Report {
        /// The folder the files go to.
        dir: PathBuf,
        /// JSON on stdout instead of the tables.
        json: bool,
    },
    /// Only this build's allocator figures, as JSON on stdout.
    AllocatorFigures,
}

impl Args {
    /// The command line resolved, or the error that names the flag at fault
    /// (clap prints it and exits with code 2), before any work is done.
    /// Sizes given by the user are multiplied with checked arithmetic: what
    /// overflows, what one iteration's arrays on every thread need beyond
    /// `--heap-budget-mib`, or what the runs that keep their graphs need
    /// beyond their share of it, is refused. (The other sizes are bounded
    /// where clap parses them: `--deep`, `--value-memory-batch`,
    /// `--training-steps`, `--cnn-steps`, `--recurrent-windows`, `--budget-layers`,
    /// `--budget-steps`, `--budget-rows`, `--threads`, `--samples`.)
    fn resolve(&self, allocator: &'static str) -> Result<Resolved, clap::Error> {
        let invalid = |message: String| Args::command().error(ErrorKind::ValueValidation, message);
        // Rust refuses any allocation above `isize::MAX` bytes.
        let addressable = |n: usize| n <= isize::MAX as usize;
        let threads = match self.threads {
            Some(n) => n as usize, // at most 1024
            None => std::thread::available_parallelism().map_or(1, |n| n.get()),
        };
        let mib = self.heap_budget_mib;
        let heap_budget = usize::try_from(mib)
            .ok()
            .and_then(|mib| mib.checked_mul(1 << 20))
            .filter(|&b| addressable(b))
            .ok_or_else(|| {
                invalid(format!(
                    "--heap-budget-mib {mib}: more bytes than this machine can address"
                ))
            })?;
        let size = usize::try_from(self.size).unwrap_or(usize::MAX); // then refused below
        let array = size
            .checked_mul(size_of::<f64>())
            .filter(|&b| addressable(b))
            .ok_or_else(|| {
                invalid(format!(
                    "--size {size}: an array of {size} f64 needs more bytes than one allocation \
                     may hold ({} at most)",
                    isize::MAX
                ))
            })?;
        let arrays = ARRAYS_PER_ITERATION
            .checked_mul(threads)
            .and_then(|n| n.checked_add(INPUT_ARRAYS));
        let needed = arrays
            .and_then(|n| n.checked_mul(array))
            .filter(|&b| addressable(b))
            .ok_or_else(|| {
                invalid(format!(
                    "--size {size} with {threads} threads (--threads): {ARRAYS_PER_ITERATION} \
                     arrays of {size} f64 a thread, and {INPUT_ARRAYS} inputs, need more bytes \
                     than this machine can address"
                ))
            })?;
        if needed > heap_budget {
            return Err(invalid(format!(
                "--size {size} with {threads} threads (--threads) needs about {} at once \
                 ({ARRAYS_PER_ITERATION} arrays of {} a thread, and {INPUT_ARRAYS} inputs), \
                 more than --heap-budget-mib {mib}; lower --size or --threads, or raise \
                 --heap-budget-mib",
                bytes(needed as f64),
                bytes(array as f64),
            )));
        }
        let strategies = if self.strategies.is_empty() {
            StrategyKind::ALL.to_vec()
        } else {
            self.strategies
                .iter()
                .filter_map(|name| StrategyKind::from_cli_name(name))
                .collect()
        };
        let config = ReportConfig {
            iterations: usize::try_from(self.iterations).unwrap_or(usize::MAX),
            size,
            threads,
            strategies,
            retain_grad: self.retain_grad,
            heap_budget,
            samples: self.samples as usize, // at most 100,000
            policy: self.collect,
            // Each at most `MAX_DEEP`.
            deep: self
                .deep
                .iter()
                .filter(|&&d| d > 0)
                .map(|&d| d as usize)
                .collect(),
            second_cycle_iterations: self.second_cycle,
            training_steps: self.training_steps as usize, // at most one epoch
            cnn_steps: self.cnn_steps as usize,           // at most MAX_STEPS
            recurrent_windows: self.recurrent_windows as usize, // at most MAX_WINDOWS
            value_memory_batch: self.value_memory_batch as usize, // at most MAX_BATCH
            budget_layers: self.budget_layers as usize,   // at most MLP_LAYERS
            budget_steps: self.budget_steps as usize,     // at most LSTM_STEPS
            budget_rows: self.budget_rows as usize,       // at most 100
            allocator,
            compare_allocators: self.compare_allocators,
        };
        // Each run that keeps its graphs keeps its warm-up's and at least one
        // iteration's, all in its share of the budget.
        let keeping = config.keeping_runs();
        if let Some(first) = keeping.first() {
            let graphs =
                seed_loop::warm_up_iterations(threads, config.iterations).saturating_add(1);
            let graph = seed_loop::kept_arrays(config.retain_grad).saturating_mul(array);
            let share = config.budget_share();
            let needed = graphs.checked_mul(graph).filter(|&b| b <= share);
            if needed.is_none() {
                let runs = match keeping.len() {
                    1 => format!("the seed-loop run that keeps its graphs ({first})"),
                    n => format!(
                        "each of the {n} seed-loop runs that keep their graphs ({first}, ...)"
                    ),
                };
                return Err(invalid(format!(
                    "--size {size} with {threads} threads (--threads): {runs} keeps {graphs} \
                     graphs of about {} at least (its warm-up's and one iteration's), more than \
                     its share of --heap-budget-mib {mib} ({}); lower --size or --threads, or \
                     raise --heap-budget-mib",
                    bytes(graph as f64),
                    bytes(share as f64),
                )));
            }
        }
        let output = if self.allocator_figures_only {
            Output::AllocatorFigures
        } else {
            Output::Report {
                dir: self
                    .out
                    .clone()
                    .unwrap_or_else(|| target_dir().join("autograd-report")),
                json: self.json,
            }
        };
        Ok(Resolved { config, output })
    }
}

/// Runs the report binary on `allocator` (its name, as the report prints it).
pub fn main(allocator: &'static str) -> ExitCode {
    let Resolved { config, output } = Args::parse()
        .resolve(allocator)
        .unwrap_or_else(|err| err.exit());
    let terminal =
        matches!(output, Output::Report { json: false, .. }) && std::io::stderr().is_terminal();
    let mut progress = Progress::new(terminal);
    let cx = match Context::new(&config, |section, done, total| {
        progress.update(section, done, total)
    }) {
        Ok(cx) => cx,
        Err(err) => {
            // Still before any work, as the refusals above.
            let err = Args::command().error(
                ErrorKind::ValueValidation,
                format!("cannot start {} threads (--threads): {err}", config.threads),
            );
            err.exit();
        }
    };
    let (dir, json) = match output {
        Output::AllocatorFigures => {
            let figures = allocators::measure(&cx);
            println!(
                "{}",
                serde_json::to_string(&figures).expect("figures serialise")
            );
            return ExitCode::SUCCESS;
        }
        Output::Report { dir, json } => (dir, json),
    };
    let report = report::build(&cx);
    drop(cx);
    progress.finish();

    match write_outputs(&report, &dir) {
        Ok((json_path, svg_path)) => {
            if json {
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
            eprintln!("error: cannot write the report to {}: {err}", dir.display());
            ExitCode::FAILURE
        }
    }
}

/// The workspace's target directory, whichever folder the command runs
/// from: `CARGO_TARGET_DIR` when set (relative to the current folder, as
/// cargo reads it); else the one this binary was built in (the ancestor of
/// its path that cargo tags with `CACHEDIR.TAG`: a target directory set in a
/// cargo config is found too); else `target` in the workspace's root.
fn target_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("CARGO_TARGET_DIR").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    std::env::current_exe()
        .ok()
        .and_then(|exe| {
            exe.ancestors()
                .find(|dir| dir.join("CACHEDIR.TAG").is_file())
                .map(Path::to_path_buf)
        })
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"))
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
