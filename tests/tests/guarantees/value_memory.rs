//! Guarantee: the memory of values has tools, and each keeps its promise.
//!
//! * `checkpoint` (and `Mlp::forward_checkpointed`) gives the gradients of
//!   the plain graph: bit for bit for chains and the MLP, within 1e-12 for
//!   random DAGs, under every strategy; a block that reaches a leaf outside
//!   its inputs, or recomputes other outputs, is an error and writes no
//!   gradient; the second cycle cannot form through it.
//! * `retain_graph(false)` frees what each function saved while the output
//!   is still held, and a second pass is `Error::GraphReleased`, writing no
//!   gradient; of two concurrent passes over one `ArcWeak` graph one wins.
//! * `unchain` and `unchain_backward` cut the graph without recursion (a
//!   10⁶-op chain on a 256 KiB stack), free it where graphs are freed on
//!   drop, and the second cycle cannot form through an unchained variable.

use std::sync::{Arc, Barrier};

use autograd_mem::Collector as _;
use autograd_mem::{ArcWeak, Freeing, StrategyKind, test_each_strategy};
use autograd_nn::{Activation, Mlp, Module};
use autograd_ops::prelude::*;
use autograd_ops::{Strategy, Tensor, Tensors, checkpoint};
use autograd_tests::dags::{cases, dag};
use autograd_tests::{heap, nodes, nodes_left, on_small_stack};
use ndarray::{Array2, array};
use proptest::prelude::*;

/// A block of a chain: `tanh(h·w)`, then `n` ops alternating `sin` and
/// `square`. Each input is read once (a block reading one twice sums its
/// two contributions before the enclosing pass adds them, so the sum may
/// differ from the plain graph's in the last bit).
fn chain<S: Strategy>(v: &[Variable<S>], n: usize) -> Result<Vec<Variable<S>>> {
    let mut h = mul(&v[0], &v[1])?.tanh();
    for i in 0..n {
        h = if i % 2 == 0 { h.sin() } else { h.square() };
    }
    Ok(vec![h])
}

fn checkpointed_chains_give_the_plain_gradients_bit_for_bit<S: Strategy>() {
    let run = |checkpointed: bool| {
        let x = Variable::<S>::from_array(array![0.3, -0.8, 1.1]);
        let w = Variable::<S>::from_array(array![0.9, 1.4, -0.6]);
        let mut h = x.clone();
        for _ in 0..4 {
            h = if checkpointed {
                checkpoint(|v| chain(v, 5), &[&h, &w]).unwrap().remove(0)
            } else {
                chain(&[h, w.clone()], 5).unwrap().remove(0)
            };
        }
        sum(&h).unwrap().backward().unwrap();
        (h.data(), x.grad().unwrap(), w.grad().unwrap())
    };
    assert_eq!(run(true), run(false), "{}", S::KIND.name());
}

/// Issue 28, item 7, the exact condition: backward adds the gradients
/// that meet at a variable in reverse creation order, and a checkpoint
/// hands on its block's contributions to an input already summed. So a
/// block reading an input several times gives the plain graph's gradient
/// bit for bit when its contributions are the first that input receives
/// (no op created after the block reads it); otherwise the sum is
/// associated differently, and the gradients agree to rounding.
fn checkpointed_blocks_reading_an_input_twice<S: Strategy>() {
    // tanh(h·w)·w: w read twice in each block.
    let block = |v: &[Variable<S>]| Ok(vec![mul(&mul(&v[0], &v[1])?.tanh(), &v[1])?]);
    let run = |checkpointed: bool, blocks: usize| {
        let x = Variable::<S>::from_array(array![0.3, -0.8, 1.1]);
        let w = Variable::<S>::from_array(array![0.9, 1.4, -0.6]);
        let mut h = x.clone();
        for _ in 0..blocks {
            h = if checkpointed {
                checkpoint(block, &[&h, &w]).unwrap().remove(0)
            } else {
                block(&[h, w.clone()]).unwrap().remove(0)
            };
        }
        sum(&h).unwrap().backward().unwrap();
        (x.grad().unwrap(), w.grad().unwrap())
    };
    // One block: w's contributions come first (nothing after reads w).
    assert_eq!(run(true, 1), run(false, 1), "{}", S::KIND.name());
    // Three blocks: the later blocks' gradients reach w first.
    let (plain, checked) = (run(false, 3), run(true, 3));
    assert_eq!(plain.0, checked.0, "x is read once, by the first block");
    for (a, b) in plain.1.iter().zip(checked.1.iter()) {
        assert!((a - b).abs() <= 4.0 * f64::EPSILON * a.abs(), "{a} {b}");
    }
}

fn mlp<S: Strategy>(layers: usize) -> Mlp<S> {
    let sizes: Vec<usize> = std::iter::once(6)
        .chain(std::iter::repeat_n(8, layers - 1))
        .chain([3])
        .collect();
    Mlp::new_in(&sizes, Activation::Tanh, 19).unwrap()
}

fn the_checkpointed_mlp_gives_the_plain_gradients_bit_for_bit<S: Strategy>() {
    let model = mlp::<S>(7);
    let x = Variable::<S>::constant_from_array(Array2::from_shape_fn((5, 6), |(i, j)| {
        ((i * 6 + j) as f64 * 0.37).sin()
    }));
    let labels = [0, 2, 1, 1, 0];
    let grads = |segments: Option<usize>| {
        model.cleargrad();
        let y = match segments {
            Some(n) => model.forward_checkpointed(&x, n).unwrap(),
            None => model.forward(&x).unwrap(),
        };
        let loss = softmax_cross_entropy(&y, &labels).unwrap();
        loss.backward().unwrap();
        let grads: Vec<_> = model.params().iter().map(|p| p.grad().unwrap()).collect();
        (loss.data(), grads)
    };
    let plain = grads(None);
    for segments in [1, 2, 3, 7] {
        assert_eq!(
            grads(Some(segments)),
            plain,
            "{} segments {segments}",
            S::KIND.name()
        );
    }
    assert!(matches!(
        model.forward_checkpointed(&x, 8),
        Err(autograd_nn::Error::Segments {
            segments: 8,
            layers: 7,
            ..
        })
    ));
}

fn checkpointed_random_dags_give_the_plain_gradients<S: Strategy>() {
    let config = ProptestConfig::with_cases(cases());
    proptest!(config, |(dag in dag())| {
        let leaves = || dag.leaves.iter().cloned().map(Variable::<S>::from_array).collect::<Vec<_>>();
        let (plain, recomputed) = (leaves(), leaves());
        dag.build(&plain).unwrap().square().sum().backward().unwrap();
        let block = dag.clone();
        let refs: Vec<&Variable<S>> = recomputed.iter().collect();
        let y = checkpoint(move |v| Ok(vec![block.build(v)?]), &refs).unwrap().remove(0);
        y.square().sum().backward().unwrap();
        for (a, b) in plain.iter().zip(&recomputed) {
            let (a, b) = (a.grad(), b.grad());
            // A leaf the DAG does not read: no gradient without the
            // checkpoint, zeros as the checkpoint's input.
            let b = b.unwrap();
            let a = a.unwrap_or_else(|| ndarray::ArrayD::zeros(b.shape()).into_shared());
            for (a, b) in a.iter().zip(&b) {
                prop_assert!((a - b).abs() <= 1e-12 * a.abs().max(1.0), "{} vs {}", a, b);
            }
        }
    });
}

fn a_block_that_recomputes_other_outputs_fails_and_writes_nothing<S: Strategy>() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let x = Variable::<S>::from_array(array![1.0, 2.0]);
    let runs = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&runs);
    let y = checkpoint(
        move |v| {
            let twice = counter.fetch_add(1, Ordering::Relaxed) > 0;
            Ok(if twice {
                vec![v[0].sum()]
            } else {
                vec![v[0].square()]
            })
        },
        &[&x],
    )
    .unwrap()
    .remove(0);
    let loss = mul(&y, &x).unwrap().sum();
    let err = loss.backward().unwrap_err();
    assert_eq!(
        err,
        Error::RecomputedShape {
            op: "checkpoint",
            index: 0,
            expected: vec![2],
            got: vec![],
        }
    );
    assert!(x.grad().is_none(), "{}", S::KIND.name());
    let failing = checkpoint(|v| Ok(vec![v[0].clone(), v[0].clone()]), &[&x]).unwrap();
    assert_eq!(failing.len(), 2);
    // Under create_graph: an error naming checkpoint, nothing written.
    let z = checkpoint(|v| Ok(vec![v[0].square()]), &[&x])
        .unwrap()
        .remove(0);
    let err = z
        .sum()
        .backward_with(BackwardOptions::default().create_graph(true))
        .unwrap_err();
    assert!(err.to_string().starts_with("checkpoint:"), "{err}");
    assert!(x.grad().is_none());
}

/// A closure may capture a parameter under `ArcWeak`; its gradient would be
/// lost, so backward fails naming the op and writes no gradient.
#[test]
fn a_block_reaching_a_captured_parameter_is_an_error() {
    let w = Variable::<ArcWeak>::from_array(array![2.0, 3.0]);
    let x = Variable::<ArcWeak>::from_array(array![1.0, -1.0]);
    let captured = w.clone();
    let y = checkpoint(move |v| Ok(vec![mul(&v[0], &captured)?]), &[&x])
        .unwrap()
        .remove(0);
    let err = y.sum().backward().unwrap_err();
    assert_eq!(
        err,
        Error::LeafOutsideBlock {
            op: "checkpoint",
            shape: vec![2],
        }
    );
    assert!(x.grad().is_none() && w.grad().is_none());
    // Passed as an input, it gets its gradient.
    let y = checkpoint(|v| Ok(vec![mul(&v[0], &v[1])?]), &[&x, &w])
        .unwrap()
        .remove(0);
    y.sum().backward().unwrap();
    assert_eq!(w.grad().unwrap(), array![1.0, -1.0].into_dyn());
}

/// PyTorch issue 7343's loop through a checkpoint: first-order passes leave
/// nothing behind, and a `create_graph` pass is refused before any cycle
/// can form.
fn no_second_cycle_through_a_checkpoint<S: Strategy>() {
    let once = || {
        let x = Variable::<S>::from_array(array![0.5, -1.0]);
        let y = checkpoint(|v| Ok(vec![v[0].tanh()]), &[&x])
            .unwrap()
            .remove(0);
        y.backward().unwrap();
        assert!(
            y.backward_with(BackwardOptions::default().create_graph(true))
                .is_err()
        );
    };
    once();
    let (left, bytes) = heap::kept(|| nodes_left::<S, _>(|| (0..200).for_each(|_| once())));
    assert_eq!((left, bytes), (nodes(0, 0), 0), "{}", S::KIND.name());
}

/// The 7343 loop through an unchained intermediate: `h` is a leaf once
/// unchained, the gradient graph reads it through the back-reference.
fn no_second_cycle_through_an_unchained_variable<S: Strategy>() {
    let once = || {
        let x = Variable::<S>::from_array(array![0.5, -1.0]);
        let h = x.square();
        h.unchain();
        let y = h.tanh();
        y.backward_with(BackwardOptions::default().create_graph(true))
            .unwrap();
        let gh = h.grad_variable().unwrap();
        assert!(!gh.is_leaf() && x.grad().is_none());
    };
    once();
    let (left, bytes) = heap::kept(|| nodes_left::<S, _>(|| (0..200).for_each(|_| once())));
    assert_eq!((left, bytes), (nodes(0, 0), 0), "{}", S::KIND.name());
}

/// A 4-op chain on an array big enough to see: `y = exp(sin(x·w)²)`.
fn small_graph<S: Strategy>(x: &Variable<S>, w: &Variable<S>) -> Variable<S> {
    mul(x, w).unwrap().sin().square().exp().sum()
}

/// Whether this thread's counts see exactly this test's nodes and bytes
/// after a collection: not under `CollectedSync`, whose collector is the
/// process's and frees other tests' garbage on this thread too.
fn counts_are_this_tests<S: Strategy>() -> bool {
    S::FREEING.at_last_handle() || S::KIND == StrategyKind::Collected
}

fn without_retain_graph_the_saved_values_go_while_the_output_is_held<S: Strategy>() {
    // Warm up this thread's teardown list, which keeps its capacity.
    small_graph(
        &Variable::<S>::from_scalar(1.0),
        &Variable::from_scalar(2.0),
    )
    .backward_with(BackwardOptions::default().retain_graph(false))
    .unwrap();
    let x = Variable::<S>::from_array(ndarray::Array1::linspace(-1.0, 1.0, 1000));
    let w = Variable::<S>::from_array(ndarray::Array1::from_elem(1000, 0.5));
    let (retained, released) = (small_graph(&x, &w), small_graph(&x, &w));
    retained.backward().unwrap();
    let expected = x.grad().unwrap();
    x.cleargrad();
    w.cleargrad();
    let before = released.graph_footprint().bytes;
    let ((), freed) = heap::kept(|| {
        released
            .backward_with(BackwardOptions::default().retain_graph(false))
            .unwrap();
        x.cleargrad();
        w.cleargrad();
    });
    let after = released.graph_footprint().bytes;
    // Only the output and its released creator remain of the graph: the
    // heap fell by what the walk no longer finds, to the byte, but for the
    // leaves, which the test holds.
    let leaves = (x.graph_footprint().bytes + w.graph_footprint().bytes) as isize;
    assert_eq!(
        freed,
        after as isize - before as isize + leaves,
        "{}",
        S::KIND.name()
    );
    // Under Region the intermediates' own values stay with their nodes
    // until the region goes; what functions kept of the leaves goes.
    let share = if S::FREEING == Freeing::WithRegion {
        1
    } else {
        10
    };
    assert!(
        after < before / share,
        "{} {after} of {before}",
        S::KIND.name()
    );
    let creator = released.creator().unwrap();
    assert!(creator.is_released() && creator.inputs().is_empty());
    assert!(released.to_dot().contains("(released)"));
    // Same gradient as the retained pass.
    released
        .backward_with(BackwardOptions::default().retain_graph(true))
        .unwrap_err();
    let again = small_graph(&x, &w);
    again
        .backward_with(BackwardOptions::default().retain_graph(false))
        .unwrap();
    assert_eq!(x.grad().unwrap(), expected);
}

fn a_second_pass_through_a_released_graph_fails_and_writes_nothing<S: Strategy>() {
    let x = Variable::<S>::from_array(array![1.0, 2.0]);
    let y = x.exp().sum();
    let release = || BackwardOptions::default().retain_graph(false);
    y.backward_with(release()).unwrap();
    let first = x.grad().unwrap();
    assert_eq!(y.backward(), Err(Error::GraphReleased { op: "sum" }));
    assert_eq!(
        y.backward_with(release()),
        Err(Error::GraphReleased { op: "sum" })
    );
    assert_eq!(
        grad(&[&y], &[&x], BackwardOptions::default()).unwrap_err(),
        Error::GraphReleased { op: "sum" }
    );
    assert_eq!(x.grad().unwrap(), first, "{}", S::KIND.name());
    // grad() with retain_graph(false) releases too.
    let z = x.square().sum();
    let g = grad(&[&z], &[&x], release()).unwrap().remove(0);
    assert_eq!(g.data(), array![2.0, 4.0].into_dyn());
    assert!(z.creator().unwrap().is_released());
}

/// Two threads backpropagate through one graph, both releasing: the root's
/// creator goes to one of them, the other gets the error and writes nothing.
#[test]
fn of_two_releasing_passes_over_one_arc_weak_graph_one_succeeds() {
    for _ in 0..50 {
        let x = Variable::<ArcWeak>::from_array(array![0.5, 1.5]);
        let y = x.sin().square().sum();
        let barrier = Arc::new(Barrier::new(2));
        let results: Vec<_> = (0..2)
            .map(|_| {
                let (y, barrier) = (y.clone(), Arc::clone(&barrier));
                std::thread::spawn(move || {
                    barrier.wait();
                    y.backward_with(BackwardOptions::default().retain_graph(false))
                })
            })
            .collect::<Vec<_>>()
            .into_iter()
            .map(|t| t.join().unwrap())
            .collect();
        let failed: Vec<_> = results.iter().filter(|r| r.is_err()).collect();
        assert_eq!(failed.len(), 1, "{results:?}");
        assert_eq!(failed[0], &Err(Error::GraphReleased { op: "sum" }));
        let expected = x.data().mapv(|v| 2.0 * v.sin() * v.cos());
        assert_eq!(x.grad().unwrap(), expected);
    }
}

fn unchain_makes_a_leaf_and_frees_the_graph_behind<S: Strategy>() {
    // Warm up this thread's teardown list, which keeps its capacity.
    Variable::<S>::from_scalar(1.0).sin().sin().unchain();
    S::Collector::collect();
    let x = Variable::<S>::from_array(ndarray::Array1::linspace(0.0, 1.0, 500));
    let mut h = x.clone();
    for _ in 0..10 {
        h = h.sin();
    }
    let before = h.graph_footprint();
    let ((), kept) = heap::kept(|| {
        h.unchain();
        S::Collector::collect();
    });
    let after = h.graph_footprint();
    assert!(h.is_leaf() && h.creator().is_none());
    if S::FREEING == Freeing::WithRegion {
        // Nothing goes until the region does: h's region holds the chain,
        // and the cut links' values alone are freed.
        assert_eq!((after.variables, after.functions), (11, 10));
        assert_eq!(kept, after.bytes as isize - before.bytes as isize);
    } else {
        // The creator is gone with the graph behind it (DeZero's
        // `creator = None`).
        assert_eq!((after.variables, after.functions), (1, 0));
    }
    if counts_are_this_tests::<S>() && S::FREEING != Freeing::WithRegion {
        // The leaf x stays: the test holds it.
        let x_bytes = x.graph_footprint().bytes as isize;
        let predicted = after.bytes as isize - before.bytes as isize + x_bytes;
        assert_eq!(kept, predicted, "{}", S::KIND.name());
    }
    // Backward stops at h, which receives the gradient as a leaf.
    let y = mul(&h, &h).unwrap().sum();
    y.backward().unwrap();
    assert!(x.grad().is_none());
    assert_eq!(h.grad().unwrap(), h.data().mapv(|v| 2.0 * v));
    assert!(h.set_data(h.data().to_owned()).is_err());
}

fn unchain_backward_cuts_a_million_op_chain_without_recursion<S: Strategy>() {
    on_small_stack(|| {
        let left = nodes_left::<S, _>(|| {
            let x = Variable::<S>::from_scalar(1.0);
            let mut y = x.clone();
            for _ in 0..1_000_000 {
                y = add(&y, &x).unwrap();
            }
            y.unchain_backward();
            S::Collector::collect();
            // y's creator and its input (now a leaf, its creator gone) are
            // what is left, with x: one function, the root's creator, as in
            // DeZero; under Region, the whole region until it goes.
            let footprint = y.graph_footprint();
            let left = match S::FREEING {
                Freeing::WithRegion => (1_000_001, 1_000_000),
                _ => (3, 1),
            };
            assert_eq!((footprint.variables, footprint.functions), left);
            y.backward().unwrap();
            assert_eq!(x.grad().unwrap().sum(), 1.0);
            drop((x, y));
            S::Collector::collect();
        });
        if counts_are_this_tests::<S>() {
            assert_eq!(left, nodes(0, 0), "{}", S::KIND.name());
        }
    });
}

/// `y = x` keeping a buffer in its own fields (a mask, as a DeZero port's
/// `self.mask`), which tells when the op is dropped.
struct HoldsAMask {
    mask: Vec<f64>,
    dropped: Arc<std::sync::atomic::AtomicBool>,
}

impl Drop for HoldsAMask {
    fn drop(&mut self) {
        self.dropped
            .store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

impl<S: Strategy> autograd_ops::Function<S> for HoldsAMask {
    fn name(&self) -> &'static str {
        "holds_a_mask"
    }
    fn num_inputs(&self) -> usize {
        1
    }
    fn forward(&mut self, xs: &[Tensor]) -> Result<Tensors> {
        Ok(xs[0].clone().into())
    }
    fn heap_size(&self) -> usize {
        self.mask.capacity() * size_of::<f64>()
    }
    fn save(&mut self, _save: &mut autograd_ops::Save<'_>) {}
    fn derivative(
        &self,
        _cx: &autograd_ops::Saved<'_, S>,
        gys: &[Variable<S>],
    ) -> Result<autograd_ops::Grads<S>> {
        Ok(vec![Some(gys[0].clone())])
    }
}

/// Issue 28, item 1: `unchain` drops the creator link, so the cut function
/// (its node and its op's own fields) goes as soon as nothing else reads
/// it, as DeZero's `creator = None` frees it.
fn unchain_frees_the_cut_function_and_its_op<S: Strategy>() {
    let dropped = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let x = Variable::<S>::from_array(array![1.0, 2.0]);
    let op = HoldsAMask {
        mask: vec![1.0; 1000],
        dropped: Arc::clone(&dropped),
    };
    let h = autograd_ops::apply_one(op, &[&x.sin()]).unwrap();
    let before = nodes_left::<S, _>(|| ());
    let (left, _) = heap::kept(|| {
        nodes_left::<S, _>(|| {
            h.unchain();
            S::Collector::collect();
        })
    });
    assert_eq!(before, nodes(0, 0));
    let gone = dropped.load(std::sync::atomic::Ordering::SeqCst);
    match S::FREEING {
        // The function and the sin behind it (its node and x·sin's output)
        // are gone, and the op with its mask.
        Freeing::OnDrop | Freeing::OnCollection => {
            assert!(gone, "{}", S::KIND.name());
            assert_eq!(left, nodes(-1, -2), "{}", S::KIND.name());
        }
        // A region frees no node before it goes: the op goes with it.
        Freeing::WithRegion => {
            assert!(!gone);
            drop(h);
            assert!(dropped.load(std::sync::atomic::Ordering::SeqCst));
        }
        // The leaf x owns nothing, but the graph behind h is a cycle.
        Freeing::Never => assert!(!gone || left.functions < 0),
        other => panic!("no promise for {other:?}"),
    }
}

/// Issue 28, items 2 and 3: cutting works on a graph a releasing backward
/// let go of: the variable becomes a leaf of generation 0 whose creator is
/// gone, whatever state its creator was in.
fn unchain_cuts_a_released_graph<S: Strategy>() {
    let x = Variable::<S>::from_array(array![0.5, 1.5]);
    let h = x.sin();
    let y = h.square().sum();
    y.backward_with(BackwardOptions::default().retain_graph(false))
        .unwrap();
    assert!(h.creator().unwrap().is_released());
    h.unchain();
    assert!(h.is_leaf() && h.creator().is_none());
    assert_eq!(h.generation().0, 0);
    // A new graph on h backpropagates into h as into a leaf.
    (&h * &h).sum().backward().unwrap();
    assert_eq!(h.grad().unwrap(), h.data().mapv(|v| 2.0 * v));
}

/// One window of DeZero's step-59 loop on a scalar recurrence: `h =
/// tanh(h·w + x_t)` for `steps` steps, the loss summed on across windows.
fn rnn_window<S: Strategy>(
    h: &mut Variable<S>,
    loss: &mut Option<Variable<S>>,
    w: &Variable<S>,
    xs: &[f64],
) {
    for &x_t in xs {
        *h = (&(&*h * w) + &Variable::<S>::constant_from_tensor(Tensor::scalar(x_t))).tanh();
        let term = h.square();
        *loss = Some(match loss.take() {
            Some(loss) => &loss + &term,
            None => term,
        });
    }
}

/// Issue 28, item 2: DeZero's truncated loop (`loss.backward(); loss.
/// unchain_backward()` per window, the loss summed on across windows, the
/// hidden state carried) runs with `retain_graph(false)` under every
/// strategy, and gives the retained loop's gradients bit for bit.
fn the_truncated_loop_runs_on_released_graphs<S: Strategy>() {
    let run = |retain: bool| {
        let w = Variable::<S>::from_scalar(0.7);
        let mut h = Variable::<S>::from_scalar(0.0);
        let mut loss = None;
        let mut grads = Vec::new();
        for window in 0..4 {
            let xs: Vec<f64> = (0..5).map(|t| ((window * 5 + t) as f64).sin()).collect();
            rnn_window(&mut h, &mut loss, &w, &xs);
            let root = loss.as_ref().unwrap();
            w.cleargrad();
            root.backward_with(BackwardOptions::default().retain_graph(retain))
                .unwrap_or_else(|e| panic!("window {window} under {}: {e}", S::KIND.name()));
            root.unchain_backward();
            assert!(h.is_leaf(), "the carried state is cut");
            grads.push(w.grad().unwrap().sum());
        }
        grads
    };
    assert_eq!(run(false), run(true), "{}", S::KIND.name());
}

/// `y = a + a⁴` with `a = 2x`: the pass reaches `a` from `y` at once and
/// again through `a⁴`; it must run `a`'s creator once, with both gradients
/// (running it early would release it before the second arrives).
fn a_releasing_pass_waits_for_every_path_to_an_intermediate<S: Strategy>() {
    let x = Variable::<S>::from_array(array![0.5, -1.5]);
    let a = add(&x, &x).unwrap();
    let y = add(&a, &a.square().square()).unwrap().sum();
    y.backward_with(BackwardOptions::default().retain_graph(false))
        .unwrap_or_else(|e| panic!("under {}: {e}", S::KIND.name()));
    let expected = x.data().mapv(|x| 2.0 * (1.0 + 4.0 * (2.0 * x).powi(3)));
    assert_eq!(x.grad().unwrap(), expected.into_shared());
}

/// Issue 28, item 5: `grad` with respect to an intermediate runs only the
/// functions between the outputs and it: the graph below it may be
/// released already, and a releasing `grad` leaves it alone.
fn grad_to_an_intermediate_needs_nothing_below_it<S: Strategy>() {
    let x = Variable::<S>::from_array(array![0.2, 0.4]);
    let h = x.exp();
    let y1 = h.sum();
    let y2 = h.sin().sum();
    y1.backward_with(BackwardOptions::default().retain_graph(false))
        .unwrap();
    assert!(h.creator().unwrap().is_released(), "below h is released");
    let gh = grad(&[&y2], &[&h], BackwardOptions::default()).unwrap();
    assert_eq!(gh[0].data(), h.data().mapv(f64::cos));
    // A releasing grad to h releases sin and sum, never h's creator.
    let x = Variable::<S>::from_array(array![0.2, 0.4]);
    let h = x.exp();
    let y = h.sin().sum();
    grad(&[&y], &[&h], BackwardOptions::default().retain_graph(false)).unwrap();
    assert!(y.creator().unwrap().is_released());
    assert!(!h.creator().unwrap().is_released());
    h.sum().backward().unwrap();
    assert_eq!(x.grad().unwrap(), x.data().mapv(f64::exp));
}

#[test]
fn a_failed_checkpoint_changes_nothing_around_it_under_every_shared_strategy() {
    let mut ran = 0;
    for &kind in StrategyKind::ALL {
        ran += autograd_mem::with_shared_strategy!(kind, S => {
            a_failed_checkpoint_changes_nothing_around_it::<S>();
        })
        .map_or(0, |()| 1);
    }
    assert_eq!(ran, 3, "ArcWeak, StrongOnly<ArcWeak>, CollectedSync");
}

/// Issue 28, item 6: a checkpointed block that reads an intermediate of the
/// graph around it (a closure may capture one where graphs are `Send +
/// Sync`) fails (`LeafOutsideBlock`, through the parameter behind it) and
/// leaves that graph as it was: it still runs backward.
fn a_failed_checkpoint_changes_nothing_around_it<S: Strategy>()
where
    Variable<S>: Send + Sync,
{
    let w = Variable::<S>::from_array(array![0.3, 0.6]);
    let x = Variable::<S>::from_array(array![1.0, -1.0]);
    let s = w.sin();
    let captured = s.clone();
    let y = checkpoint(move |v| Ok(vec![mul(&v[0], &captured)?]), &[&x])
        .unwrap()
        .remove(0);
    let err = y.sum().backward().unwrap_err();
    assert_eq!(
        err,
        Error::LeafOutsideBlock {
            op: "checkpoint",
            shape: vec![2],
        }
    );
    assert!(x.grad().is_none() && w.grad().is_none());
    assert!(!s.creator().unwrap().is_released());
    s.sum().backward().unwrap();
    assert_eq!(w.grad().unwrap(), w.data().mapv(f64::cos));
}

test_each_strategy! {
    checkpointed_chains => checkpointed_chains_give_the_plain_gradients_bit_for_bit;
    checkpointed_inputs_read_twice => checkpointed_blocks_reading_an_input_twice;
    checkpointed_mlp => the_checkpointed_mlp_gives_the_plain_gradients_bit_for_bit;
    checkpointed_dags => checkpointed_random_dags_give_the_plain_gradients;
    recomputed_outputs => a_block_that_recomputes_other_outputs_fails_and_writes_nothing;
    checkpoint_cycle => no_second_cycle_through_a_checkpoint if OnDrop | WithRegion;
    unchained_cycle => no_second_cycle_through_an_unchained_variable if OnDrop | WithRegion;
    released_values => without_retain_graph_the_saved_values_go_while_the_output_is_held if OnDrop | WithRegion;
    released_error => a_second_pass_through_a_released_graph_fails_and_writes_nothing;
    unchain => unchain_makes_a_leaf_and_frees_the_graph_behind;
    unchain_backward => unchain_backward_cuts_a_million_op_chain_without_recursion;
    unchain_frees => unchain_frees_the_cut_function_and_its_op;
    unchain_released => unchain_cuts_a_released_graph;
    truncated_loop_released => the_truncated_loop_runs_on_released_graphs;
    grad_between => grad_to_an_intermediate_needs_nothing_below_it;
    released_paths => a_releasing_pass_waits_for_every_path_to_an_intermediate;
}
