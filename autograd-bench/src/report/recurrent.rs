//! The `recurrent` section: truncated backpropagation through time under
//! every strategy.
//!
//! * DeZero step 59's loop ([`Step59`]: an RNN of 100 and a linear layer,
//!   the sin curve one point at a time, windows of 30, Adam; at each
//!   window's end `cleargrad`, `backward_with(retain_graph(false))`,
//!   `unchain_backward`, Adam's step) for `--recurrent-windows` windows:
//!   the heap kept after each window, measured by the counting allocator
//!   (this thread's allocations, its buffer cache emptied first) and
//!   predicted from the objects (the gradients, Adam's `state_bytes`, and
//!   `Footprint::of(&[&loss, &state])`), as the guarantee test
//!   `tests/tests/guarantees/recurrent.rs` does; the collected strategies
//!   collect at each window's end.
//! * The same loop without the cut (backward keeping the graph), for
//!   [`UNCUT_WINDOWS`] windows: the heap grows by each window's graph, the
//!   bytes a step measured and predicted.
//! * One epoch of step 60's LSTM ([`Engine`]) timed under every strategy
//!   beside its plain-ndarray floor ([`Floor`]).

use std::time::Instant;

use autograd_mem::Collector as _;
use autograd_mem::{Policy, StrategyKind, with_strategy};
use autograd_ops::{Footprint, Strategy};
use serde::Serialize;

use crate::alloc;
use crate::recurrent::{BPTT, Engine, Floor, Step59, WINDOWS_PER_EPOCH, Window};
use crate::report::Context;
use crate::report::heap::{Cache, Counted, HeapMark};

/// Windows of the RNN per strategy by default (`--recurrent-windows`), as
/// the guarantee test trains.
pub const DEFAULT_WINDOWS: usize = 20;
/// The most windows `--recurrent-windows` takes: one epoch's full windows.
pub const MAX_WINDOWS: usize = WINDOWS_PER_EPOCH;
/// Windows of the loop without the cut: enough for two differences.
pub const UNCUT_WINDOWS: usize = 3;

/// The section's figures.
#[derive(Debug, Clone, Serialize)]
pub struct RecurrentSection {
    /// Windows of the RNN trained per strategy with the cut.
    pub windows: usize,
    /// Steps a window.
    pub bptt: usize,
    /// Windows trained without the cut.
    pub uncut_windows: usize,
    /// LSTM epochs timed per strategy (after one untimed): a quarter of
    /// the windows, at least one.
    pub lstm_epochs: usize,
    /// The floor's median ms an LSTM epoch.
    pub floor_millis_per_epoch: f64,
    /// Each strategy's row.
    pub runs: Vec<RecurrentRun>,
}

/// One strategy's figures.
#[derive(Debug, Clone, Serialize)]
pub struct RecurrentRun {
    /// The strategy, by name.
    pub strategy: String,
    /// How it frees a graph.
    pub freeing: String,
    /// The heap kept after each window, above the heap before the first
    /// (the loop made before), measured.
    pub kept_after_window: Vec<i64>,
    /// The same, predicted from the objects and the footprint.
    pub predicted_after_window: Vec<i64>,
    /// The graph's share of the prediction after the last window: the
    /// loss's and the state's footprint.
    pub graph_bytes: i64,
    /// Its variables and functions.
    pub graph_nodes: (usize, usize),
    /// Whether the heap was the same after every window, to the byte.
    pub flat: bool,
    /// Whether every window's measured heap is its prediction.
    pub exact: bool,
    /// Without the cut: the heap after each window, measured.
    pub uncut_after_window: Vec<i64>,
    /// Without the cut: the heap after each window, predicted.
    pub uncut_predicted_after_window: Vec<i64>,
    /// Without the cut: bytes more a step over the last window, measured.
    pub uncut_growth_per_step: f64,
    /// Without the cut: the same, predicted.
    pub uncut_predicted_growth_per_step: f64,
    /// The median ms of an epoch of step 60's LSTM, the collected
    /// strategies collecting under the report's `--collect` policy. (Each
    /// epoch's last 4 steps are forward only and never cut: a strategy that
    /// never frees keeps their graph, epoch after epoch.)
    pub lstm_millis_per_epoch: f64,
    /// `lstm_millis_per_epoch` over the floor's.
    pub vs_floor: f64,
}

/// Runs the section: `cx.config.recurrent_windows` windows per strategy
/// (0 skips the section, at most [`MAX_WINDOWS`]).
pub fn run(cx: &Context<'_>) -> Option<RecurrentSection> {
    let windows = cx.config.recurrent_windows.min(MAX_WINDOWS);
    if windows == 0 {
        return None;
    }
    let lstm_epochs = windows.div_ceil(4);
    let floor_millis_per_epoch = {
        let mut floor = Floor::new(&Engine::<autograd_ops::RcWeak>::new());
        timed(lstm_epochs, || {
            std::hint::black_box(floor.epoch());
        })
    };
    let strategies = &cx.config.strategies;
    let runs = strategies
        .iter()
        .map(|&kind| {
            let mut run = with_strategy!(kind, S => run_one::<S>(kind, windows, lstm_epochs, cx.config.policy));
            run.vs_floor = run.lstm_millis_per_epoch / floor_millis_per_epoch;
            run
        })
        .collect();
    Some(RecurrentSection {
        windows,
        bptt: BPTT,
        uncut_windows: UNCUT_WINDOWS,
        lstm_epochs,
        floor_millis_per_epoch,
        runs,
    })
}

/// The median ms of `epochs` calls of `epoch`, after one.
fn timed(epochs: usize, mut epoch: impl FnMut()) -> f64 {
    epoch();
    let mut times: Vec<f64> = (0..epochs)
        .map(|_| {
            let started = Instant::now();
            epoch();
            started.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    times.sort_by(f64::total_cmp);
    match times.len() {
        0 => 0.0,
        n if n % 2 == 1 => times[n / 2],
        n => (times[n / 2 - 1] + times[n / 2]) / 2.0,
    }
}

/// Two windows of a loop of its own, dropped: what a thread allocates once
/// (teardown lists, live counts, the buffer cache's list) is made before
/// anything is counted. Its loss is unchained before it goes.
fn warm_up<S: Strategy>(how: Window) {
    let mut warm = Step59::<S>::new();
    warm.window(how);
    warm.window(how);
    warm.unchain();
    drop(warm);
    S::Collector::collect();
}

/// `windows` windows of a fresh loop, a collection at each window's end:
/// the heap after each above the heap before the first, the prediction
/// after each, and the last window's graph.
fn train<S: Strategy>(windows: usize, how: Window) -> (Vec<i64>, Vec<i64>, Footprint) {
    warm_up::<S>(how);
    let mut run = Step59::<S>::new();
    // Made before the count: lists made inside would be counted.
    let mut heap = Vec::with_capacity(windows);
    let mut graphs = Vec::with_capacity(windows);
    alloc::scoped(|| {
        let start = HeapMark::now(Counted::ThreadScoped, Cache::Emptied);
        for _ in 0..windows {
            run.window(how);
            S::Collector::collect();
            heap.push(start.since());
            graphs.push(run.graph());
        }
    });
    let baseline = Step59::<S>::new();
    let predicted = graphs
        .iter()
        .map(|&graph| run.predicted(&baseline, graph))
        .collect();
    let last = graphs.last().copied().unwrap_or_default();
    run.unchain();
    drop((run, baseline));
    S::Collector::collect();
    (heap, predicted, last)
}

/// Bytes more a step from the window before the last to the last.
fn per_step(values: &[i64]) -> f64 {
    match values {
        [.., before, last] => (last - before) as f64 / BPTT as f64,
        _ => 0.0,
    }
}

fn run_one<S: Strategy>(
    kind: StrategyKind,
    windows: usize,
    lstm_epochs: usize,
    policy: Policy,
) -> RecurrentRun {
    S::Collector::set_policy(Policy::Never);
    autograd_core::buffers::release_thread_cache();
    let (kept, predicted, graph) = train::<S>(windows, Window::Cut);
    let (uncut, uncut_predicted, _) = train::<S>(UNCUT_WINDOWS, Window::Uncut);
    S::Collector::set_policy(policy);
    let lstm_millis_per_epoch = {
        let mut engine = Engine::<S>::new();
        timed(lstm_epochs, || {
            std::hint::black_box(engine.epoch());
        })
    };
    S::Collector::collect();
    S::Collector::set_policy(Policy::Auto);
    autograd_core::buffers::release_thread_cache();
    RecurrentRun {
        strategy: kind.name().to_string(),
        freeing: kind.freeing().describe().to_string(),
        flat: kept.iter().all(|&k| Some(&k) == kept.first()),
        exact: kept == predicted,
        graph_bytes: graph.bytes as i64,
        graph_nodes: (graph.variables, graph.functions),
        uncut_growth_per_step: per_step(&uncut),
        uncut_predicted_growth_per_step: per_step(&uncut_predicted),
        kept_after_window: kept,
        predicted_after_window: predicted,
        uncut_after_window: uncut,
        uncut_predicted_after_window: uncut_predicted,
        lstm_millis_per_epoch,
        vs_floor: 0.0,
    }
}
