//! The `budget` section: byte budgets (`autograd_ops::budget`) on two
//! chains, each step's peak predicted by the plan and measured by the
//! counting allocator, and what each budget costs in time.
//!
//! * A deep MLP ([`MLP_LAYERS`] tanh layers [`MLP_WIDTH`] wide on a seeded
//!   random batch of [`MLP_BATCH`]), a block a layer (`Mlp::chain_blocks`).
//! * An LSTM of [`HIDDEN`](crate::recurrent::HIDDEN) and a linear head over
//!   the whole training sin curve ([`LSTM_STEPS`] steps, one point at a
//!   time, no truncation), carrying `[h, c, loss_sum]`, the per-step
//!   squared errors summed on; a block is [`LSTM_GROUP`] steps.
//!
//! For each: `--budget-rows` budgets evenly from the smallest any plan fits
//! to the keep-all peak, planned by [`Planner::Exact`]; the rows the
//! issue's targets ask about; Chen's √n ([`Planner::Sqrt`]); keep-all.
//! Each row's step follows the measured protocol of the guarantee test
//! (`tests/tests/guarantees/budget.rs`): the parameters' gradients cleared,
//! the seed allocated, the thread's buffer cache bypassed, the peak of the
//! heap above its start through `checkpoint_chain` and a releasing
//! backward. The step is run [`RUNS`] times: the time is the fastest, the
//! peak must be the prediction every time. Runs under the default strategy
//! (budgets are refused where a graph waits for a collector).

use std::time::Instant;

use autograd_nn::{Activation, Linear, Lstm, LstmState, Mlp, Module, datasets};
use autograd_ops::budget::{
    Budget, ChainBlock, ChainProfile, Plan, Planner, bypass_cache, checkpoint_chain, plan_chain,
    profile_chain,
};
use autograd_ops::{BackwardOptions, DefaultStrategy, Error, Variable, mean_squared_error};
use ndarray::{Array2, ArrayD};
use serde::Serialize;

use crate::SeedRng;
use crate::alloc::{self, CountingMeter};
use crate::report::{Context, bytes};

/// The MLP's layers.
pub const MLP_LAYERS: usize = 256;
/// The MLP's width (input, hidden and output).
pub const MLP_WIDTH: usize = 128;
/// The MLP's batch rows.
pub const MLP_BATCH: usize = 512;
/// The LSTM's steps by default (`--budget-steps`): the training sin
/// curve's 999 (input, next point) pairs, the whole series without
/// truncation.
pub const LSTM_STEPS: usize = datasets::SIN_CURVE_POINTS - 1;
/// LSTM steps a block. The exact planner costs O(n²·r) for n blocks and r
/// recomputed, times a bisection's ~log₂(budget) steps: 999 one-step
/// blocks would take minutes a row, 111 blocks of 9 a fraction of a second.
pub const LSTM_GROUP: usize = 9;
/// Budget rows a model by default (`--budget-rows`).
pub const DEFAULT_ROWS: usize = 10;
/// Timed steps a row: the time is the fastest.
pub const RUNS: usize = 5;
/// The LSTM's target: a peak within this share of keep-all's...
pub const LSTM_PEAK_TARGET: f64 = 0.05;
/// ...at most this many times keep-all's step time.
pub const LSTM_TIME_TARGET: f64 = 1.35;
/// The MLP's target: a quarter of √n's peak at most this many times
/// keep-all's step time.
pub const MLP_TIME_TARGET: f64 = 1.5;

/// The section's figures.
#[derive(Debug, Clone, Serialize)]
pub struct BudgetSection {
    /// Evenly spaced budgets a model.
    pub rows: usize,
    /// Timed steps a row.
    pub runs: usize,
    /// Each model's figures.
    pub models: Vec<BudgetModel>,
}

/// One model's rows and targets.
#[derive(Debug, Clone, Serialize)]
pub struct BudgetModel {
    /// The model, in a few words.
    pub name: String,
    /// Blocks in its chain.
    pub blocks: usize,
    /// The smallest budget any plan fits (`plan_chain`'s minimum), bytes.
    pub minimum: usize,
    /// The keep-all plan's predicted peak, bytes.
    pub keep_all_peak: usize,
    /// `profile_chain`'s time, milliseconds.
    pub profile_millis: f64,
    /// The rows: the evenly spaced budgets, the targets' rows, √n, keep-all.
    pub rows: Vec<BudgetRow>,
    /// The targets for this model, met or missed.
    pub targets: Vec<Target>,
}

/// One plan, measured.
#[derive(Debug, Clone, Serialize)]
pub struct BudgetRow {
    /// `exact`, `sqrt` or `keep-all`.
    pub planner: String,
    /// Why the row is there (`even`, or the target it answers).
    pub note: String,
    /// The budget asked for, bytes (`None`: the planner takes none).
    pub budget: Option<usize>,
    /// The plan's predicted peak, bytes.
    pub predicted: usize,
    /// The measured peak, bytes (the largest of the runs).
    pub measured: usize,
    /// Whether every run's peak was the prediction, to the byte.
    pub exact: bool,
    /// Block forwards run again in backward.
    pub recomputed: usize,
    /// The fastest step (forward + backward), milliseconds.
    pub millis: f64,
    /// `millis` over keep-all's.
    pub vs_keep_all: f64,
    /// `plan_chain`'s time for this row, milliseconds (0 for keep-all).
    pub plan_millis: f64,
}

/// A target as the issue states it, and the figure reached.
#[derive(Debug, Clone, Serialize)]
pub struct Target {
    /// The target.
    pub statement: String,
    /// What was reached.
    pub figure: String,
    /// Whether it was met.
    pub met: bool,
}

/// Runs the section: the MLP with `cx.config.budget_layers` layers (0
/// skips the section), the LSTM over `cx.config.budget_steps` steps (0
/// skips it), `cx.config.budget_rows` evenly spaced budgets each.
pub fn run(cx: &Context<'_>) -> Option<BudgetSection> {
    let config = cx.config;
    if config.budget_layers == 0 && config.budget_steps == 0 {
        return None;
    }
    let rows = config.budget_rows.max(2);
    let mut models = Vec::new();
    if config.budget_layers > 0 {
        cx.progress("budget", 0, 2);
        models.push(mlp_model(config.budget_layers, rows)?);
    }
    if config.budget_steps > 0 {
        cx.progress("budget", 1, 2);
        models.push(lstm_model(config.budget_steps, rows)?);
    }
    cx.progress("budget", 2, 2);
    Some(BudgetSection {
        rows,
        runs: RUNS,
        models,
    })
}

/// A chain and what its measured step needs.
struct Bench {
    blocks: Vec<ChainBlock<DefaultStrategy>>,
    inputs: Vec<Variable>,
    profile: ChainProfile,
    profile_millis: f64,
    minimum: usize,
    keep_all: Plan,
    keep_all_peak: usize,
    /// Keep-all's fastest step, the unit of every row's time.
    keep_all_millis: f64,
}

impl Bench {
    /// Profiles the chain; `None` (and a note on stderr) when the default
    /// strategy refuses budgets.
    fn new(blocks: Vec<ChainBlock<DefaultStrategy>>, inputs: Vec<Variable>) -> Option<Self> {
        let refs: Vec<&Variable> = inputs.iter().collect();
        let timer = Instant::now();
        let profile = match profile_chain(&blocks, &refs, &CountingMeter) {
            Ok(profile) => profile,
            Err(err) => {
                eprintln!("budget section skipped: {err}");
                return None;
            }
        };
        let profile_millis = timer.elapsed().as_secs_f64() * 1e3;
        let minimum = match plan_chain(&profile, Budget::bytes(0), Planner::Exact) {
            Err(Error::BudgetTooSmall { minimum, .. }) => minimum,
            Ok(plan) => plan.peak().unwrap_or(0),
            Err(err) => panic!("planning failed: {err}"),
        };
        let keep_all = Plan::keep_all(blocks.len());
        let keep_all_peak = profile
            .predict(&keep_all)
            .expect("keep-all covers the chain");
        let mut bench = Bench {
            blocks,
            inputs,
            profile,
            profile_millis,
            minimum,
            keep_all,
            keep_all_peak,
            keep_all_millis: f64::NAN,
        };
        // A warm-up step first: the first step after the profile is slower.
        bench.step(&bench.keep_all);
        let millis = bench.step(&bench.keep_all).1;
        bench.keep_all_millis = millis;
        Some(bench)
    }

    /// The step under `plan` as the protocol measures it, [`RUNS`] times:
    /// each run's peak above its start, and the fastest run's time.
    fn step(&self, plan: &Plan) -> (Vec<usize>, f64) {
        let seed = self.seed();
        let refs: Vec<&Variable> = self.inputs.iter().collect();
        let mut peaks = Vec::with_capacity(RUNS);
        let mut best = f64::INFINITY;
        for _ in 0..RUNS {
            for block in &self.blocks {
                for p in block.params() {
                    p.cleargrad();
                }
            }
            let mut options = BackwardOptions::default().retain_graph(false);
            options.grad = Some(seed.clone());
            let _direct = bypass_cache();
            let start = alloc::live_bytes();
            alloc::reset_peak();
            let timer = Instant::now();
            let outputs = checkpoint_chain(&self.blocks, &refs, plan).expect("the plan runs");
            outputs
                .last()
                .expect("a chain has outputs")
                .backward_with(options)
                .expect("backward runs");
            best = best.min(timer.elapsed().as_secs_f64() * 1e3);
            peaks.push(alloc::peak_bytes() - start);
            drop(outputs);
        }
        (peaks, best)
    }

    /// Ones in the last output's shape.
    fn seed(&self) -> ArrayD<f64> {
        let _plain = autograd_ops::no_grad();
        let mut carry = self.inputs.clone();
        for block in &self.blocks {
            carry = block.forward(&carry).expect("the block runs");
        }
        ArrayD::ones(carry.last().expect("a chain has outputs").shape())
    }

    /// Plans `budget` with `planner`, timing the planner: the plan, or the
    /// smallest budget that fits.
    fn plan(&self, budget: Budget, planner: Planner) -> (Result<Plan, usize>, f64) {
        let timer = Instant::now();
        let plan = plan_chain(&self.profile, budget, planner);
        let millis = timer.elapsed().as_secs_f64() * 1e3;
        let plan = match plan {
            Ok(plan) => Ok(plan),
            Err(Error::BudgetTooSmall { minimum, .. }) => Err(minimum),
            Err(err) => panic!("planning failed: {err}"),
        };
        (plan, millis)
    }

    /// A row for `plan`, measured.
    fn row(
        &self,
        plan: &Plan,
        planner: &str,
        note: &str,
        budget: Option<usize>,
        plan_millis: f64,
    ) -> BudgetRow {
        let predicted = plan.peak().unwrap_or_else(|| {
            self.profile
                .predict(plan)
                .expect("the plan covers the chain")
        });
        let (peaks, millis) = self.step(plan);
        BudgetRow {
            planner: planner.to_string(),
            note: note.to_string(),
            budget,
            predicted,
            measured: peaks.iter().copied().max().unwrap_or(0),
            exact: peaks.iter().all(|&p| p == predicted),
            recomputed: plan.recomputed(),
            millis,
            vs_keep_all: millis / self.keep_all_millis,
            plan_millis,
        }
    }

    /// An exact row at `budget` (`None` when it is below the minimum).
    fn exact_row(&self, budget: usize, note: &str) -> Option<BudgetRow> {
        let (plan, millis) = self.plan(Budget::bytes(budget), Planner::Exact);
        plan.ok()
            .map(|plan| self.row(&plan, Planner::Exact.name(), note, Some(budget), millis))
    }

    /// The evenly spaced exact rows.
    fn even_rows(&self, count: usize) -> Vec<BudgetRow> {
        let span = self.keep_all_peak.saturating_sub(self.minimum);
        (0..count)
            .map(|i| {
                let budget = self.minimum + span * i / (count - 1);
                self.exact_row(budget, "even")
                    .expect("at least the minimum")
            })
            .collect()
    }

    /// The √n plan, and its planning time.
    fn sqrt(&self) -> (Plan, f64) {
        let (sqrt, millis) = self.plan(Budget::unlimited(), Planner::Sqrt);
        (sqrt.expect("an unlimited budget fits"), millis)
    }

    /// `rows` with √n's and keep-all's after them, every row's time over
    /// keep-all's fastest (of its row's runs and the first ones').
    fn finish(&self, mut rows: Vec<BudgetRow>, sqrt: &(Plan, f64)) -> Vec<BudgetRow> {
        rows.push(self.row(&sqrt.0, Planner::Sqrt.name(), "√n segments", None, sqrt.1));
        rows.push(self.row(&self.keep_all, "keep-all", "no checkpointing", None, 0.0));
        let unit = rows
            .last()
            .map_or(self.keep_all_millis, |r| r.millis.min(self.keep_all_millis));
        for r in &mut rows {
            r.vs_keep_all = r.millis / unit;
        }
        rows
    }

    fn model(&self, name: String, rows: Vec<BudgetRow>, targets: Vec<Target>) -> BudgetModel {
        BudgetModel {
            name,
            blocks: self.blocks.len(),
            minimum: self.minimum,
            keep_all_peak: self.keep_all_peak,
            profile_millis: self.profile_millis,
            rows,
            targets,
        }
    }
}

/// The deep MLP: rows, and the targets against √n.
fn mlp_model(layers: usize, count: usize) -> Option<BudgetModel> {
    let mlp = Mlp::new(&vec![MLP_WIDTH; layers + 1], Activation::Tanh, 19).expect("sizes");
    let mut rng = SeedRng::new(23);
    let x = Variable::constant_from_array(Array2::from_shape_fn((MLP_BATCH, MLP_WIDTH), |_| {
        rng.normal()
    }));
    let bench = Bench::new(mlp.chain_blocks(), vec![x])?;
    let sqrt = bench.sqrt();
    let sqrt_peak = sqrt.0.peak().expect("planned");
    let sqrt_recomputed = sqrt.0.recomputed();
    let quarter = sqrt_peak / 4;
    let mut rows = bench.even_rows(count);
    let at_sqrt = bench.exact_row(sqrt_peak, "target: √n's peak");
    let at_quarter = bench.exact_row(quarter, "target: √n's peak / 4");
    rows.extend(at_sqrt);
    rows.extend(at_quarter);
    let rows = bench.finish(rows, &sqrt);
    let find = |note: &str| rows.iter().find(|r| r.note == note);

    // Exact within √n's peak: how many blocks it runs again.
    let statement = "exact reaches √n's peak with fewer recomputations".to_string();
    let mut targets = vec![match find("target: √n's peak") {
        Some(r) => Target {
            statement,
            figure: format!(
                "within {} (√n's peak): exact recomputes {} block forwards ({} peak, {:.2}x time), √n {}",
                bytes(sqrt_peak as f64),
                r.recomputed,
                bytes(r.measured as f64),
                r.vs_keep_all,
                sqrt_recomputed
            ),
            met: r.recomputed < sqrt_recomputed && r.measured <= sqrt_peak,
        },
        None => Target {
            statement,
            figure: "√n's peak is below the smallest budget any plan fits".to_string(),
            met: false,
        },
    }];

    // A quarter of √n's peak, at most 1.5× keep-all's time.
    let statement =
        format!("exact reaches a quarter of √n's peak at ≤ {MLP_TIME_TARGET}x keep-all time");
    targets.push(match find("target: √n's peak / 4") {
        Some(r) => Target {
            statement,
            figure: format!(
                "within {}: {} peak, {} recomputed, {:.2}x time",
                bytes(quarter as f64),
                bytes(r.measured as f64),
                r.recomputed,
                r.vs_keep_all
            ),
            met: r.vs_keep_all <= MLP_TIME_TARGET && r.measured <= quarter,
        },
        None => Target {
            statement,
            figure: format!(
                "a quarter of √n's peak ({}) is below the smallest budget any plan fits ({}, {:.0}% of √n's peak)",
                bytes(quarter as f64),
                bytes(bench.minimum as f64),
                100.0 * bench.minimum as f64 / sqrt_peak as f64
            ),
            met: false,
        },
    });
    let name = format!("MLP {layers} tanh layers × {MLP_WIDTH}, batch {MLP_BATCH}");
    Some(bench.model(name, rows, targets))
}

/// The LSTM over `steps` points of the sin curve: rows, and the target.
fn lstm_model(steps: usize, count: usize) -> Option<BudgetModel> {
    let hidden = crate::recurrent::HIDDEN;
    let (xs, ts) = datasets::sin_curve(true);
    let steps = steps.min(LSTM_STEPS).min(xs.nrows());
    let lstm = std::rc::Rc::new(Lstm::new(1, hidden, 0).expect("fits"));
    let head = std::rc::Rc::new(Linear::new(hidden, 1, 1).expect("fits"));
    let mut params = lstm.params();
    params.extend(head.params());
    let point = |a: &Array2<f64>, t: usize| {
        Variable::constant_from_array(Array2::from_elem((1, 1), a[[t, 0]]))
    };
    let blocks = (0..steps)
        .step_by(LSTM_GROUP)
        .map(|start| {
            let points: Vec<(Variable, Variable)> = (start..(start + LSTM_GROUP).min(steps))
                .map(|t| (point(&xs, t), point(&ts, t)))
                .collect();
            let (lstm, head) = (lstm.clone(), head.clone());
            ChainBlock::new(params.clone(), move |carry| {
                let mut state = LstmState {
                    h: carry[0].clone(),
                    c: carry[1].clone(),
                };
                let mut loss = carry[2].clone();
                for (x, t) in &points {
                    state = lstm.step(x, Some(&state)).map_err(core_error)?;
                    let y = head.forward(&state.h).map_err(core_error)?;
                    loss = &loss + &mean_squared_error(&y, t)?;
                }
                Ok(vec![state.h, state.c, loss])
            })
        })
        .collect();
    // The state starts at zeros (DeZero's first step, with no state, is
    // the same function of its input: f·0 adds nothing to the cell).
    let inputs = vec![
        Variable::constant_from_array(Array2::<f64>::zeros((1, hidden))),
        Variable::constant_from_array(Array2::<f64>::zeros((1, hidden))),
        Variable::constant_from_array(ndarray::arr0(0.0)),
    ];
    let bench = Bench::new(blocks, inputs)?;
    let sqrt = bench.sqrt();
    let mut rows = bench.even_rows(count);
    let target_budget = (bench.keep_all_peak as f64 * LSTM_PEAK_TARGET) as usize;
    rows.extend(bench.exact_row(target_budget, "target: 5% of keep-all"));
    let rows = bench.finish(rows, &sqrt);
    let share = |r: &BudgetRow| r.measured as f64 / bench.keep_all_peak as f64;
    let best = rows
        .iter()
        .filter(|r| r.vs_keep_all <= LSTM_TIME_TARGET)
        .min_by(|a, b| share(a).total_cmp(&share(b)));
    let target = Target {
        statement: format!(
            "T = {steps}: ≤ {:.0}% of the keep-all peak at ≤ {LSTM_TIME_TARGET}x keep-all time",
            LSTM_PEAK_TARGET * 100.0
        ),
        figure: match best {
            Some(r) => format!(
                "best within {LSTM_TIME_TARGET}x: {:.1}% of keep-all ({}, {} recomputed, {:.2}x time); the smallest budget any plan fits is {:.1}%",
                100.0 * share(r),
                bytes(r.measured as f64),
                r.recomputed,
                r.vs_keep_all,
                100.0 * bench.minimum as f64 / bench.keep_all_peak as f64
            ),
            None => format!("no row within {LSTM_TIME_TARGET}x keep-all time"),
        },
        met: best.is_some_and(|r| share(r) <= LSTM_PEAK_TARGET),
    };
    let name = format!(
        "LSTM {hidden} + linear head, T = {steps} (no truncation), blocks of {LSTM_GROUP} steps"
    );
    Some(bench.model(name, rows, vec![target]))
}

/// An autograd-nn error as the engine's, for a block's result.
fn core_error(err: autograd_nn::Error) -> autograd_ops::Error {
    match err {
        autograd_nn::Error::Core(e) => e,
        other => autograd_ops::Error::op_failed("budget lstm", other.to_string()),
    }
}
