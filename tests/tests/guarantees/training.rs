//! Guarantee: a model trains under every strategy with the same numbers,
//! and a training loop's memory is what its objects and graph predict.
//!
//! * The digits MLP (64-100-10 ReLU, Adam) reaches 95% test accuracy within
//!   30 epochs, as the README states.
//! * Every strategy computes the same losses, bit for bit.
//! * Where graphs are freed on drop, the live heap after each step is the
//!   same (the buffer cache aside): parameters, gradients, optimizer state.
//!   Where they are not, each step keeps exactly its graph's footprint, its
//!   batch and the weights' old buffers its graph shares (an update copies
//!   a buffer a live graph shares); a collection frees all of it.
//! * An optimizer's `state_bytes` is what it holds on the heap, and a
//!   parameter updated in place holds one copy of its value.

use autograd_core::buffers::release_thread_cache;
use autograd_mem::Collector as _;
use autograd_mem::{Freeing, Policy, RcWeak, Strategy, test_each_strategy};
use autograd_nn::{
    Activation, AdaGrad, Adam, DataLoader, Mlp, Module, MomentumSgd, Optimizer, Sgd, accuracy,
    datasets,
};
use autograd_ops::{Variable, no_grad, softmax_cross_entropy};
use autograd_testkit::alloc;
use autograd_tests::heap;
use ndarray::Array2;

type Split = (Array2<f64>, Vec<usize>);

/// The digits, scaled to `[0, 1]`, split as the `digits` example splits them.
fn digits() -> (Split, Split) {
    let (x, labels) = datasets::digits();
    datasets::train_test_split(&(x / 16.0), &labels, 0.25, 0).unwrap()
}

fn model<S: Strategy>() -> Mlp<S> {
    Mlp::new_in(&[64, 100, 10], Activation::Relu, 0).unwrap()
}

/// One step of the loop the example runs; the loss.
fn step<S: Strategy>(
    model: &Mlp<S>,
    opt: &mut dyn Optimizer<S>,
    x: &Variable<S>,
    labels: &[usize],
) -> f64 {
    opt.cleargrad();
    let loss = softmax_cross_entropy(&model.forward(x).unwrap(), labels).unwrap();
    loss.backward_once().unwrap();
    let value = loss.item().unwrap();
    opt.step().unwrap();
    value
}

#[test]
fn the_digits_mlp_reaches_95_percent_test_accuracy_within_30_epochs() {
    let ((x_train, y_train), (x_test, y_test)) = digits();
    let mut loader = DataLoader::<_, RcWeak>::new_in(x_train, y_train, 32)
        .unwrap()
        .shuffle(0);
    let model = model::<RcWeak>();
    let mut adam = Adam::new(model.params(), 1e-3).unwrap();
    let test = Variable::<RcWeak>::constant_from_array(x_test);
    let mut reached = None;
    for epoch in 1..=30 {
        for (x, labels) in loader.iter() {
            step(&model, &mut adam, &x, &labels);
        }
        let _guard = no_grad();
        if accuracy(&model.forward(&test).unwrap(), &y_test).unwrap() >= 0.95 {
            reached = Some(epoch);
            break;
        }
    }
    assert!(reached.is_some(), "95% test accuracy within 30 epochs");
}

/// The losses of five steps of each optimizer.
fn losses<S: Strategy>() -> Vec<f64> {
    let ((x, labels), _) = digits();
    let mut out = Vec::new();
    for which in 0..4 {
        let mut loader = DataLoader::<_, S>::new_in(x.clone(), labels.clone(), 32)
            .unwrap()
            .shuffle(1);
        let model = model::<S>();
        let mut opt: Box<dyn Optimizer<S>> = match which {
            0 => Box::new(Sgd::new(model.params(), 0.1).unwrap()),
            1 => Box::new(MomentumSgd::new(model.params(), 0.1, 0.9).unwrap()),
            2 => Box::new(AdaGrad::new(model.params(), 0.1).unwrap()),
            _ => Box::new(
                Adam::new(model.params(), 1e-3)
                    .and_then(|a| a.weight_decay(1e-4))
                    .unwrap(),
            ),
        };
        for (x, labels) in loader.iter().take(5) {
            out.push(step(&model, opt.as_mut(), &x, &labels));
        }
    }
    out
}

fn every_strategy_computes_the_same_losses<S: Strategy>() {
    let _turn = autograd_tests::process_wide();
    assert_eq!(losses::<S>(), losses::<RcWeak>(), "{}", S::KIND.name());
}

/// The heap this thread allocated inside `alloc::scoped` and still holds,
/// its buffer cache emptied first (reuse, not what the loop keeps).
fn heap_now() -> i64 {
    release_thread_cache();
    alloc::thread_scoped_bytes() as i64
}

fn where_graphs_are_freed_on_drop_the_heap_is_flat<S: Strategy>() {
    assert!(S::FREEING.at_last_handle());
    let ((x, labels), _) = digits();
    let mut loader = DataLoader::<_, S>::new_in(x, labels, 32).unwrap();
    // Warm up: what a thread allocates once (its teardown lists, live
    // counts, the buffer cache's list) is made before the count.
    {
        let (model, (x, labels)) = (model::<S>(), loader.iter().next().unwrap());
        step(
            &model,
            &mut Adam::new(model.params(), 1e-3).unwrap(),
            &x,
            &labels,
        );
    }
    let model = model::<S>();
    let mut adam = Adam::new(model.params(), 1e-3).unwrap();
    let state_at_start = adam.state_bytes() as i64;
    let footprints = |m: &Mlp<S>| -> i64 {
        m.params()
            .iter()
            .map(|p| p.graph_footprint().bytes as i64)
            .sum()
    };
    let without_grads = footprints(&model);
    // Made before the count: a list made inside would be counted.
    let mut after = Vec::with_capacity(6);
    alloc::scoped(|| {
        let start = heap_now();
        for (x, labels) in loader.iter().take(6) {
            step(&model, &mut adam, &x, &labels);
            drop((x, labels));
            after.push(heap_now() - start);
        }
    });
    // The first step allocates Adam's moments; then nothing more is kept.
    assert!(
        after[1..].iter().all(|&h| h == after[1]),
        "{}: {after:?}",
        S::KIND.name()
    );
    // What a step keeps beyond the model: the gradients and Adam's moments.
    let grads = footprints(&model) - without_grads;
    let moments = adam.state_bytes() as i64 - state_at_start;
    assert!(grads > 0 && moments > 0);
    assert_eq!(
        after[1],
        grads + moments,
        "{}: after a step the loop keeps its gradients and Adam's moments, no graph",
        S::KIND.name()
    );
}

fn where_graphs_are_not_freed_on_drop_a_step_keeps_exactly_its_graph<S: Strategy>() {
    assert_ne!(S::FREEING, Freeing::OnDrop);
    let _turn = autograd_tests::process_wide();
    let policy = S::Collector::policy();
    S::Collector::set_policy(Policy::Never);
    let ((x, labels), _) = digits();
    let mut loader = DataLoader::<_, S>::new_in(x, labels, 32).unwrap();
    let model = model::<S>();
    let mut adam = Adam::new(model.params(), 1e-3).unwrap();
    let mut batches = loader.iter();
    // A first step allocates Adam's moments.
    let (x, labels) = batches.next().unwrap();
    step(&model, &mut adam, &x, &labels);
    drop((x, labels));
    S::Collector::collect();
    release_thread_cache();
    alloc::scoped(|| {
        for _ in 0..3 {
            adam.cleargrad();
            let start = heap_now();
            let (x, labels) = batches.next().unwrap();
            let loss = softmax_cross_entropy(&model.forward(&x).unwrap(), &labels).unwrap();
            loss.backward().unwrap();
            let params: usize = model
                .params()
                .iter()
                .map(|p| p.graph_footprint().bytes)
                .sum();
            let graph = loss.graph_footprint().bytes - params;
            let shared: usize = model.params().iter().map(|p| p.tensor().heap_bytes()).sum();
            drop(loss);
            adam.step().unwrap();
            drop((x, labels));
            // What stays: this step's graph with its batch, the weights' old
            // buffers it shares, and the gradients.
            let grads: usize = model
                .params()
                .iter()
                .map(|p| {
                    p.grad()
                        .map_or(0, |g| autograd_ops::Tensor::from(g).heap_bytes())
                })
                .sum();
            assert_eq!(
                heap_now() - start,
                (graph + shared + grads) as i64,
                "{}: a step keeps its graph, the buffers it shares and the gradients",
                S::KIND.name()
            );
        }
        if S::FREEING == Freeing::OnCollection {
            let start = heap_now();
            let freed = S::Collector::collect().freed;
            assert!(
                freed > 0 && heap_now() < start,
                "{}: a collection frees them",
                S::KIND.name()
            );
        }
    });
    S::Collector::set_policy(policy);
}

/// Makes an optimizer over the parameters given.
type MakeOptimizer<S> = fn(Vec<Variable<S>>) -> Box<dyn Optimizer<S>>;

/// Where graphs are never freed, a graph keeps sharing the weights' buffers
/// and every update copies them (copy-on-write): the two tests below hold
/// where graphs are freed.
fn state_bytes_is_what_an_optimizer_holds<S: Strategy>() {
    let _turn = autograd_tests::process_wide();
    let model = model::<S>();
    let x = Variable::<S>::constant_from_array(Array2::from_elem((4, 64), 0.5));
    let loss = softmax_cross_entropy(&model.forward(&x).unwrap(), &[1, 2, 3, 4]).unwrap();
    loss.backward().unwrap();
    drop(loss);
    // The graph gone, the first update is in place too.
    S::Collector::collect();
    let optimizers: [MakeOptimizer<S>; 4] = [
        |p| Box::new(Sgd::new(p, 0.1).unwrap()),
        |p| Box::new(MomentumSgd::new(p, 0.1, 0.9).unwrap()),
        |p| Box::new(AdaGrad::new(p, 0.1).unwrap()),
        |p| Box::new(Adam::new(p, 0.1).unwrap()),
    ];
    for make in optimizers {
        let (opt, kept) = heap::kept(|| {
            let mut opt = make(model.params());
            opt.step().unwrap();
            opt
        });
        // The box itself is not state.
        let boxed = std::mem::size_of_val(&*opt) as isize;
        assert_eq!(
            kept - boxed,
            opt.state_bytes() as isize,
            "{}",
            S::KIND.name()
        );
    }
}

fn an_updated_parameter_holds_one_copy_of_its_value<S: Strategy>() {
    let _turn = autograd_tests::process_wide();
    let train = || {
        let w = Variable::<S>::from_array(Array2::from_elem((64, 100), 0.1));
        let b = Variable::<S>::from_array(ndarray::Array1::from_elem(100, 0.0));
        let mut sgd = Sgd::new(vec![w.clone(), b.clone()], 0.1).unwrap();
        for _ in 0..5 {
            sgd.cleargrad();
            let y = autograd_ops::linear(
                &Variable::constant_from_array(Array2::from_elem((2, 64), 1.0)),
                &w,
                Some(&b),
            )
            .unwrap();
            autograd_ops::sum(&y).unwrap().backward().unwrap();
            drop(y);
            sgd.step().unwrap();
        }
        sgd.cleargrad();
        S::Collector::collect();
        (w, b)
    };
    drop(train()); // warm up: what a thread allocates once is made
    let ((w, b), kept) = heap::kept(train);
    let footprint = (w.graph_footprint().bytes + b.graph_footprint().bytes) as isize;
    assert_eq!(
        kept,
        footprint,
        "{}: each holds its node and one buffer",
        S::KIND.name()
    );
    assert!(
        w.data()
            .iter()
            .all(|&v| (v - (0.1 - 5.0 * 0.1 * 2.0)).abs() < 1e-12)
    );
}

test_each_strategy! {
    the_same_losses_under_every_strategy => every_strategy_computes_the_same_losses;
    flat_where_freed_on_drop => where_graphs_are_freed_on_drop_the_heap_is_flat if OnDrop | WithRegion;
    kept_exactly_where_not => where_graphs_are_not_freed_on_drop_a_step_keeps_exactly_its_graph if Never | OnCollection;
    optimizer_state_bytes => state_bytes_is_what_an_optimizer_holds if OnDrop | WithRegion | OnCollection;
    one_copy_of_a_parameter => an_updated_parameter_holds_one_copy_of_its_value if OnDrop | WithRegion | OnCollection;
}
