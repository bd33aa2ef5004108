//! Guarantee: recurrent layers differentiate right through time, and
//! truncated backpropagation through time holds memory flat per window.
//!
//! * `Rnn` and `Lstm` give central differences' gradients over several
//!   steps under every strategy: for every parameter, through the state
//!   they keep (`forward`) and the state a caller carries (`step`), and
//!   for every step's input.
//! * DeZero's step-59 loop (an RNN of 100 and a linear layer, Adam, the
//!   loss summed on across windows, backward, `loss.unchain_backward()`
//!   and `adam.step()` every 30 steps), both with the examples' releasing
//!   backward (`retain_graph(false)`) and with DeZero's retaining one:
//!   under every strategy (the region and `StrongOnly` included: the cut
//!   breaks every link a window's graph is held by) the live heap after
//!   each of 20 windows is the same to the byte, and is what the objects
//!   and the footprint predict (gradients, Adam's moments, the loss and
//!   the carried state with what they keep); a collected strategy holds
//!   the same after a collection at each window's end; no node is left
//!   once the state is reset and the loss dropped (but for the last sum's
//!   cycle under `StrongOnly` after a retaining pass).
//! * Without the cut, each window keeps its whole graph, step by step, as
//!   the footprint predicts.

use autograd_core::buffers::release_thread_cache;
use autograd_mem::Collector as _;
use autograd_mem::{Freeing, LiveNodes, Policy, Strategy, live, test_each_strategy};
use autograd_nn::{
    Adam, Bptt, Linear, Lstm, LstmState, Module, Optimizer, Rnn, Sequential, datasets,
};
use autograd_ops::prelude::*;
use autograd_ops::{Footprint, GradcheckOptions, Tensor, gradcheck};
use autograd_testkit::alloc;
use autograd_tests::nodes;
use ndarray::{Array2, ArrayD, Axis};

/// A small batch of sequences: `steps` inputs of shape `(2, 2)`.
fn sequence(steps: usize) -> Vec<Array2<f64>> {
    (0..steps)
        .map(|t| Array2::from_shape_fn((2, 2), |(i, j)| ((3 * t + 2 * i + j) as f64 * 0.7).sin()))
        .collect()
}

/// `Σ_t Σ tanh(y_t)·w_t` over the outputs of `steps` calls of `forward`
/// from a reset state, the weights `w_t` fixed and different per step, so
/// that every step's output matters differently.
fn loss_through_forward<S: Strategy>(model: &dyn Module<S>, xs: &[Array2<f64>]) -> Variable<S> {
    model.reset_state();
    let mut loss: Option<Variable<S>> = None;
    for (t, x) in xs.iter().enumerate() {
        let y = model
            .forward(&Variable::constant_from_array(x.clone()))
            .unwrap();
        let weight = Variable::constant_from_tensor(Tensor::scalar(1.0 + 0.5 * t as f64));
        let term = (&y.tanh() * &weight).sum();
        loss = Some(match loss {
            Some(loss) => &loss + &term,
            None => term,
        });
    }
    model.reset_state();
    loss.expect("at least one step")
}

/// Every parameter's gradient from backward against central differences.
fn parameters_match_central_differences<S: Strategy>(
    model: &dyn Module<S>,
    loss: &dyn Fn() -> Variable<S>,
    what: &str,
) {
    model.cleargrad();
    loss().backward().unwrap();
    for (name, param) in model.named_params() {
        let analytic = param.grad().unwrap().to_owned();
        for i in 0..param.len() {
            let h = 1e-6;
            let nudge = |d: f64| {
                param
                    .update_data(|mut v| v.as_slice_mut().unwrap()[i] += d)
                    .unwrap()
            };
            let at = || {
                let _guard = no_grad();
                loss().item().unwrap()
            };
            nudge(h);
            let up = at();
            nudge(-2.0 * h);
            let down = at();
            nudge(h);
            let numeric = (up - down) / (2.0 * h);
            let got = analytic.as_slice().unwrap()[i];
            assert!(
                (numeric - got).abs() <= 1e-7 * numeric.abs().max(1.0),
                "{what} under {}: {name}[{i}] backward {got}, central difference {numeric}",
                S::KIND.name()
            );
        }
    }
    S::Collector::collect();
}

fn the_rnns_gradients_match_central_differences_over_several_steps<S: Strategy>() {
    let _turn = autograd_tests::process_wide();
    let xs = sequence(4);
    // Through the state the layer keeps, in a Sequential with a layer after.
    let model = Sequential::<S>::new_in()
        .push(Rnn::new_in(2, 3, 5).unwrap())
        .push(Linear::new_in(3, 2, 6).unwrap());
    parameters_match_central_differences(&model, &|| loss_through_forward(&model, &xs), "Rnn");
    // Through the state the caller carries, for the inputs too.
    let rnn = Rnn::<S>::new_in(2, 3, 7).unwrap();
    let inputs: Vec<ArrayD<f64>> = xs.iter().map(|x| x.clone().into_dyn()).collect();
    let report = gradcheck(
        |x: &[Variable<S>]| {
            let mut h: Option<Variable<S>> = None;
            let mut sum: Option<Variable<S>> = None;
            for x in x {
                let next = rnn.step(x, h.as_ref()).expect("shapes that fit");
                let term = next.tanh().sum();
                sum = Some(match sum {
                    Some(sum) => &sum + &term,
                    None => term,
                });
                h = Some(next);
            }
            Ok(sum.expect("four steps"))
        },
        &inputs,
        GradcheckOptions::default(),
    )
    .unwrap();
    assert!(report.max_rel_error.iter().all(|&e| e < 1e-7), "{report:?}");
    S::Collector::collect();
}

fn the_lstms_gradients_match_central_differences_over_several_steps<S: Strategy>() {
    let _turn = autograd_tests::process_wide();
    let xs = sequence(4);
    let model = Sequential::<S>::new_in()
        .push(Lstm::new_in(2, 3, 5).unwrap())
        .push(Linear::new_in(3, 2, 6).unwrap());
    parameters_match_central_differences(&model, &|| loss_through_forward(&model, &xs), "Lstm");
    let lstm = Lstm::<S>::new_in(2, 3, 7).unwrap();
    let inputs: Vec<ArrayD<f64>> = xs.iter().map(|x| x.clone().into_dyn()).collect();
    let report = gradcheck(
        |x: &[Variable<S>]| {
            let mut state: Option<LstmState<S>> = None;
            let mut sum: Option<Variable<S>> = None;
            for x in x {
                let next = lstm.step(x, state.as_ref()).expect("shapes that fit");
                // The cell matters through h and on its own.
                let term = &next.h.tanh().sum() + &next.c.sin().sum();
                sum = Some(match sum {
                    Some(sum) => &sum + &term,
                    None => term,
                });
                state = Some(next);
            }
            Ok(sum.expect("four steps"))
        },
        &inputs,
        GradcheckOptions::default(),
    )
    .unwrap();
    assert!(report.max_rel_error.iter().all(|&e| e < 1e-7), "{report:?}");
    S::Collector::collect();
}

/// The hidden width of DeZero's step 59.
const HIDDEN: usize = 100;
/// Steps a window.
const BPTT: usize = 30;
/// Windows each memory test trains.
const WINDOWS: usize = 20;

/// How a window ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Loop {
    /// Backward releases the graph as it runs, then `unchain_backward`.
    Released,
    /// Backward keeps the graph, then `unchain_backward` (DeZero's).
    Retained,
    /// Backward keeps the graph, and nothing is cut.
    Uncut,
}

/// DeZero's step-59 training loop, a window at a time: its `SimpleRNN`
/// (an RNN and a linear layer) fed the sin curve one point at a time, the
/// loss summed on across windows.
struct Step59<S: Strategy> {
    rnn: Rnn<S>,
    fc: Linear<S>,
    adam: Adam<S>,
    xs: Array2<f64>,
    ts: Array2<f64>,
    bptt: Bptt,
    loss: Option<Variable<S>>,
    count: usize,
}

impl<S: Strategy> Step59<S> {
    fn new() -> Self {
        let (xs, ts) = datasets::sin_curve(true);
        let rnn = Rnn::new_in(1, HIDDEN, 0).unwrap();
        let fc = Linear::new_in(HIDDEN, 1, 1).unwrap();
        let params = rnn.params().into_iter().chain(fc.params()).collect();
        Step59 {
            adam: Adam::new(params, 1e-3).unwrap(),
            bptt: Bptt::new(BPTT, xs.nrows()).unwrap(),
            rnn,
            fc,
            xs,
            ts,
            loss: None,
            count: 0,
        }
    }

    /// One window: forward steps until the window ends, then DeZero's
    /// `cleargrads`, backward, cut and update. `Loop::Released` is the
    /// examples' loop (backward with `retain_graph(false)`, then the cut),
    /// `Loop::Retained` DeZero's own (backward keeps the graph, the cut
    /// frees it), `Loop::Uncut` DeZero's without the cut.
    fn window(&mut self, how: Loop) {
        loop {
            let row = |a: &Array2<f64>| {
                Variable::<S>::constant_from_array(
                    a.index_axis(Axis(0), self.count)
                        .insert_axis(Axis(0))
                        .to_owned(),
                )
            };
            let (x, t) = (row(&self.xs), row(&self.ts));
            let y = self.fc.forward(&self.rnn.forward(&x).unwrap()).unwrap();
            let term = mean_squared_error(&y, &t).unwrap();
            self.loss = Some(match self.loss.take() {
                Some(loss) => &loss + &term,
                None => term,
            });
            self.count += 1;
            if self.bptt.ends_window(self.count) {
                break;
            }
        }
        let loss = self.loss.as_ref().unwrap();
        self.adam.cleargrad();
        let release = how == Loop::Released;
        (loss.backward_with(BackwardOptions::default().retain_graph(!release))).unwrap();
        if how != Loop::Uncut {
            loss.unchain_backward();
        }
        self.adam.step().unwrap();
    }

    /// The parameters' footprints, their gradients included.
    fn parameters(&self) -> i64 {
        (self.adam.params().iter())
            .map(|p| p.graph_footprint().bytes as i64)
            .sum()
    }

    /// What the loop keeps of its graph: the summed loss and the carried
    /// state with everything they keep alive, the parameters they reach
    /// left out.
    fn graph(&self) -> Footprint {
        let loss = self.loss.as_ref().expect("a window was trained");
        let state = self.rnn.state().expect("a step was taken");
        let mut roots: Vec<&Variable<S>> = vec![loss, &state];
        let params = self.adam.params();
        roots.extend(params);
        let all = Footprint::of(&roots);
        let params = Footprint::of(&params.iter().collect::<Vec<_>>());
        Footprint {
            variables: all.variables - params.variables,
            functions: all.functions - params.functions,
            bytes: all.bytes - params.bytes,
        }
    }
}

/// The heap this thread allocated inside `alloc::scoped` and still holds,
/// its buffer cache emptied first (reuse, not what the loop keeps).
fn heap_now() -> i64 {
    release_thread_cache();
    alloc::thread_scoped_bytes() as i64
}

/// The live nodes of `S` on this thread.
fn live_nodes<S: Strategy>() -> LiveNodes {
    live::this_thread::<S>()
}

/// Two windows of a loop of its own, dropped: what a thread allocates once
/// (teardown lists, live counts, the buffer cache's list) is made before
/// anything is counted. Its loss is unchained before it goes, so that its
/// last sum does not stay behind under `StrongOnly` (see below).
fn warm_up<S: Strategy>(how: Loop) {
    let mut warm = Step59::<S>::new();
    warm.window(how);
    warm.window(how);
    if let Some(loss) = &warm.loss {
        loss.unchain();
    }
    drop(warm);
    S::Collector::collect();
}

/// The heap after each window of `windows`, above the heap before the
/// first (the loop made before), with a collection at each window's end;
/// and the loop.
fn train_windows<S: Strategy>(windows: usize, how: Loop) -> (Vec<i64>, Vec<Footprint>, Step59<S>) {
    let mut run = Step59::<S>::new();
    // Made before the count: lists made inside would be counted.
    let mut heap = Vec::with_capacity(windows);
    let mut graphs = Vec::with_capacity(windows);
    alloc::scoped(|| {
        let start = heap_now();
        for _ in 0..windows {
            run.window(how);
            S::Collector::collect();
            heap.push(heap_now() - start);
            graphs.push(run.graph());
        }
    });
    (heap, graphs, run)
}

/// The heap a window of `run` keeps, as the objects and the graph predict
/// it: the parameters' gradients, Adam's moments and the graph the loss
/// and the state keep (what `baseline` does not hold: a fresh loop's).
fn predicted<S: Strategy>(run: &Step59<S>, baseline: &Step59<S>, graph: Footprint) -> i64 {
    (run.parameters() - baseline.parameters())
        + (run.adam.state_bytes() as i64 - baseline.adam.state_bytes() as i64)
        + graph.bytes as i64
}

/// The parameters of the step-59 model: `x2h/W`, `x2h/b`, `h2h/W`, `W`, `b`.
const PARAMETERS: isize = 5;

/// The windows of `how` (cut) hold the same heap, window after window.
fn windows_hold_flat_memory<S: Strategy>(how: Loop) {
    let _turn = autograd_tests::process_wide();
    let policy = S::Collector::policy();
    S::Collector::set_policy(Policy::Never);
    let name = S::KIND.name();
    warm_up::<S>(how);
    let start = live_nodes::<S>();
    let (heap, graphs, run) = train_windows::<S>(WINDOWS, how);
    let expected = predicted(&run, &Step59::new(), graphs[0]);
    eprintln!(
        "{name} ({how:?}): {} bytes kept after each of {WINDOWS} windows (predicted {expected}), \
         graph {:?}",
        heap[0], graphs[0]
    );
    // The same heap after every window, to the byte, and the same graph.
    assert!(heap.iter().all(|&h| h == heap[0]), "{name}: {heap:?}");
    assert!(graphs.iter().all(|g| *g == graphs[0]), "{name}: {graphs:?}");
    assert_eq!(heap[0], expected, "{name}: {graphs:?}");
    // The state is a leaf after the cut. A region keeps the regions its
    // variables are in whole: no count of nodes is promised there.
    assert!(run.rnn.state().unwrap().is_leaf());
    let loss = run.loss.as_ref().unwrap();
    let region = S::FREEING == Freeing::WithRegion;
    match how {
        // The released loss is cut too: the loss and the state, two leaves.
        Loop::Released => {
            assert!(loss.is_leaf(), "{name}");
            if !region {
                assert_eq!((graphs[0].variables, graphs[0].functions), (2, 0), "{name}");
            }
        }
        // The loss keeps its creator (the last sum), whose inputs are
        // leaves now: the loss before it and the last step's error.
        _ => {
            let inputs = loss.creator().unwrap().inputs();
            let leaves = inputs
                .iter()
                .all(|x| x.as_ref().is_some_and(Variable::is_leaf));
            assert!(leaves, "{name}");
            drop(inputs);
            if !region {
                // The creator, its output, its two inputs and the state.
                assert_eq!((graphs[0].variables, graphs[0].functions), (4, 1), "{name}");
            }
        }
    }
    // Once the state is reset and the loss dropped, the parameters are
    // all that is left; except under StrongOnly after a retaining pass,
    // where the loss and its creator own each other: that cycle and the
    // creator's two inputs stay.
    let Step59 {
        rnn,
        fc,
        adam,
        loss,
        ..
    } = run;
    rnn.reset_state();
    drop(loss);
    S::Collector::collect();
    let kept = match (S::FREEING, how) {
        (Freeing::OnDrop | Freeing::WithRegion | Freeing::OnCollection, _) => nodes(0, 0),
        (Freeing::Never, Loop::Released) => nodes(0, 0),
        (Freeing::Never, _) => nodes(3, 1),
        (other, _) => panic!("no promise for {other:?}"),
    };
    let left = live_nodes::<S>().since(start);
    assert_eq!(
        left,
        nodes(PARAMETERS + kept.variables, kept.functions),
        "{name}"
    );
    drop((rnn, fc, adam));
    S::Collector::collect();
    assert_eq!(live_nodes::<S>().since(start), kept, "{name}");
    S::Collector::set_policy(policy);
}

/// The examples' loop: backward releases the window as it runs, the cut
/// makes the state and the loss leaves.
fn released_windows_hold_flat_memory<S: Strategy>() {
    windows_hold_flat_memory::<S>(Loop::Released);
}

/// DeZero's loop: backward keeps the graph, the cut frees it.
fn retained_windows_hold_flat_memory<S: Strategy>() {
    windows_hold_flat_memory::<S>(Loop::Retained);
}

/// Without `unchain_backward`, each window keeps its graph, and the next
/// backward runs through every window before it: the heap after each
/// window is the whole history's footprint, and rises window by window.
fn without_the_cut_each_window_keeps_its_graph<S: Strategy>() {
    let _turn = autograd_tests::process_wide();
    let policy = S::Collector::policy();
    S::Collector::set_policy(Policy::Never);
    let name = S::KIND.name();
    warm_up::<S>(Loop::Uncut);
    let (heap, graphs, run) = train_windows::<S>(3, Loop::Uncut);
    let baseline = Step59::<S>::new();
    for (window, graph) in graphs.iter().enumerate() {
        // A window of 30 steps of six ops or more each, every window kept.
        assert!(
            graph.functions >= 6 * 30 * (window + 1),
            "{name}: {graphs:?}"
        );
        let moments = run.adam.state_bytes() as i64 - baseline.adam.state_bytes() as i64;
        let grads = run.parameters() - baseline.parameters();
        assert_eq!(
            heap[window],
            grads + moments + graph.bytes as i64,
            "{name}: window {window}"
        );
    }
    assert!(heap[0] < heap[1] && heap[1] < heap[2], "{name}: {heap:?}");
    let per_step = |bytes: i64| bytes / BPTT as i64;
    eprintln!(
        "{name} (Uncut): {} bytes more a step (predicted {}), heap after each window {heap:?}",
        per_step(heap[2] - heap[1]),
        per_step(graphs[2].bytes as i64 - graphs[1].bytes as i64),
    );
    drop((run, baseline));
    S::Collector::collect();
    S::Collector::set_policy(policy);
}

test_each_strategy! {
    rnn_gradients => the_rnns_gradients_match_central_differences_over_several_steps;
    lstm_gradients => the_lstms_gradients_match_central_differences_over_several_steps;
    flat_per_window => released_windows_hold_flat_memory;
    flat_per_window_retained => retained_windows_hold_flat_memory;
    without_the_cut => without_the_cut_each_window_keeps_its_graph;
}
