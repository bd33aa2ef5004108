//! Guarantee: the graphs of every strategy the list marks `shared`
//! (`ArcWeak`, `StrongOnly<ArcWeak>`, `CollectedSync`) are `Send + Sync` and
//! safe to share: moved between threads, built on and differentiated
//! concurrently, concurrent backward calls on one graph adding exactly their
//! contributions, no deadlock, also when an op's backward waits on a worker
//! thread whose ops are due an automatic collection; and every node freed
//! afterwards (after a collection, under a collector), whichever thread made
//! it, unless the strategy never frees. Each test runs every shared strategy
//! of the list and holds `SERIAL`, so that the global live counts it checks
//! are its own. (`Variable<RcWeak>` is not `Send`: a `compile_fail` doctest
//! on `Variable`.)

use std::sync::Barrier;
use std::time::Duration;

use autograd_mem::Collector as _;
use autograd_mem::{Freeing, Policy, StrategyKind, live, with_shared_strategy};
use autograd_ops::{
    Error, Function, Grads, Result, Saved, Strategy, Tensor, Tensors, Variable, VariableOps, add,
    apply_one, mul, square,
};
use autograd_tests::in_child_process;
use ndarray::arr0;
use rayon::prelude::*;

fn serial() -> std::sync::MutexGuard<'static, ()> {
    autograd_tests::process_wide()
}

/// Runs `test` under every strategy of the list whose graphs may be shared
/// between threads (`Variable<S>: Send + Sync`); how many ran.
macro_rules! for_each_shared_strategy {
    ($test:ident) => {{
        let mut ran = 0;
        for &kind in StrategyKind::ALL {
            ran += with_shared_strategy!(kind, S => $test::<S>()).map_or(0, |()| 1);
        }
        assert!(ran >= 2, "ArcWeak and CollectedSync at least");
    }};
}

/// What `f` left alive in the whole process under `S`, once the strategy
/// has collected: nothing, unless `S` never frees.
fn leaves_nothing<S: Strategy>(f: impl FnOnce()) {
    S::Collector::collect();
    let start = live::total::<S>();
    f();
    S::Collector::collect();
    if S::FREEING != Freeing::Never {
        assert_eq!(live::total::<S>(), start, "{}", S::KIND.name());
    }
}

#[test]
fn shared_variables_and_functions_are_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    fn check<S: Strategy>()
    where
        Variable<S>: Send + Sync,
    {
        assert_send_sync::<Variable<S>>();
    }
    for_each_shared_strategy!(check);
    // Their function nodes too (the list's `shared` column says so of the
    // cells; this says it of the handles).
    assert_send_sync::<autograd_ops::FunctionNode<autograd_ops::ArcWeak>>();
    assert_send_sync::<autograd_ops::FunctionNode<autograd_ops::CollectedSync>>();
}

fn built_on_one_thread_differentiated_on_another<S: Strategy>()
where
    Variable<S>: Send + Sync,
{
    leaves_nothing::<S>(|| {
        let x = Variable::<S>::from_scalar(3.0);
        let y = std::thread::spawn({
            let x = x.clone();
            move || square(&square(&x).unwrap()).unwrap()
        })
        .join()
        .unwrap();
        std::thread::spawn(move || y.backward().unwrap())
            .join()
            .unwrap();
        assert_eq!(x.grad().unwrap().sum(), 4.0 * 27.0);
    });
}

#[test]
fn a_graph_built_on_one_thread_runs_backward_on_another() {
    let _serial = serial();
    for_each_shared_strategy!(built_on_one_thread_differentiated_on_another);
}

fn sharing_a_leaf<S: Strategy>()
where
    Variable<S>: Send + Sync,
{
    const THREADS: usize = 4;
    const CALLS: usize = 200;
    leaves_nothing::<S>(|| {
        let leaf = Variable::<S>::from_scalar(3.0);
        let barrier = Barrier::new(THREADS);
        std::thread::scope(|scope| {
            for t in 0..THREADS {
                let (leaf, barrier) = (&leaf, &barrier);
                scope.spawn(move || {
                    barrier.wait();
                    for _ in 0..CALLS {
                        // y = (t + 1)·x²: dy/dx = 2(t + 1)x, an exact integer
                        let c = Variable::<S>::from_scalar((t + 1) as f64);
                        mul(&c, &square(leaf).unwrap()).unwrap().backward().unwrap();
                    }
                });
            }
        });
        let expected: f64 = (1..=THREADS).map(|c| (CALLS * 2 * c * 3) as f64).sum();
        assert_eq!(leaf.grad().unwrap().sum(), expected);
    });
}

#[test]
fn threads_sharing_a_leaf_add_exactly_their_contributions() {
    let _serial = serial();
    for_each_shared_strategy!(sharing_a_leaf);
}

fn more_tasks_than_threads<S: Strategy>()
where
    Variable<S>: Send + Sync,
{
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .build()
        .unwrap();
    let leaf = Variable::<S>::from_scalar(2.0);
    pool.install(|| {
        (0..2000).into_par_iter().for_each(|_| {
            let y = leaf.square().square(); // x⁴: dy/dx = 4x³ = 32
            y.backward().unwrap();
            // Nested parallelism while other tasks hold the leaf.
            (0..4).into_par_iter().for_each(|_| {
                let _ = add(&leaf, &leaf).unwrap();
            });
        })
    });
    assert_eq!(leaf.grad().unwrap(), arr0(2000.0 * 32.0).into_dyn());
}

#[test]
fn rayon_with_more_tasks_than_threads_does_not_deadlock() {
    let _serial = serial();
    for_each_shared_strategy!(more_tasks_than_threads);
}

fn concurrent_backward<S: Strategy>()
where
    Variable<S>: Send + Sync,
{
    const THREADS: usize = 4;
    const CALLS: usize = 300;
    leaves_nothing::<S>(|| {
        let x = Variable::<S>::from_scalar(2.0);
        let w = Variable::<S>::from_scalar(3.0);
        // One graph, y = (x·w)² + x: dy/dx = 2xw² + 1 = 37, dy/dw = 2x²w = 24.
        let y = add(&square(&mul(&x, &w).unwrap()).unwrap(), &x).unwrap();
        let barrier = Barrier::new(THREADS);
        std::thread::scope(|scope| {
            for _ in 0..THREADS {
                scope.spawn(|| {
                    barrier.wait();
                    for _ in 0..CALLS {
                        y.backward().unwrap();
                    }
                });
            }
        });
        let calls = (THREADS * CALLS) as f64;
        assert_eq!(x.grad().unwrap().sum(), 37.0 * calls);
        assert_eq!(w.grad().unwrap().sum(), 24.0 * calls);
    });
}

#[test]
fn concurrent_backward_calls_on_one_graph_add_exactly() {
    let _serial = serial();
    for_each_shared_strategy!(concurrent_backward);
}

fn backward_while_building<S: Strategy>()
where
    Variable<S>: Send + Sync,
{
    leaves_nothing::<S>(|| {
        let x = Variable::<S>::from_scalar(2.0);
        let a = square(&x).unwrap();
        let y = square(&a).unwrap(); // x⁴
        const ROUNDS: usize = 300;
        std::thread::scope(|scope| {
            scope.spawn(|| {
                for _ in 0..ROUNDS {
                    y.backward().unwrap();
                }
            });
            scope.spawn(|| {
                let mut z = a.clone();
                for _ in 0..ROUNDS {
                    z = add(&z, &y).unwrap(); // builds on a and y meanwhile
                }
                assert_eq!(z.item(), Some(4.0 + ROUNDS as f64 * 16.0));
            });
        });
        assert_eq!(x.grad().unwrap().sum(), ROUNDS as f64 * 32.0);
    });
}

#[test]
fn backward_runs_while_another_thread_builds_on_the_same_graph() {
    let _serial = serial();
    for_each_shared_strategy!(backward_while_building);
}

/// `y = x`, whose backward waits for a worker thread that builds a graph of
/// its own (as a rayon-parallel kernel's workers allocate).
struct WaitsOnAWorker;

impl<S: Strategy> Function<S> for WaitsOnAWorker
where
    Variable<S>: Send + Sync,
{
    fn name(&self) -> &'static str {
        "WaitsOnAWorker"
    }
    fn num_inputs(&self) -> usize {
        1
    }
    fn forward(&mut self, xs: &[Tensor]) -> Result<Tensors> {
        Ok(xs[0].clone().into())
    }
    fn derivative(&self, _cx: &Saved<'_, S>, gys: &[Variable<S>]) -> Result<Grads<S>> {
        let worked = std::thread::scope(|scope| {
            scope
                .spawn(|| {
                    let x = Variable::<S>::from_scalar(2.0);
                    square(&square(&x)?)?
                        .item()
                        .ok_or(Error::op_failed("WaitsOnAWorker", "a one-element result"))
                })
                .join()
                .expect("the worker does not panic")
        })?;
        assert_eq!(worked, 16.0);
        Ok(vec![Some(gys[0].clone())])
    }
}

/// The worker's ops are due an automatic collection (one after every node):
/// it must not wait for the borrow that the waiting backward holds.
fn a_backward_waiting_on_a_worker<S: Strategy>()
where
    Variable<S>: Send + Sync,
{
    let policy = S::Collector::policy();
    S::Collector::set_policy(Policy::Every(1));
    let x = Variable::<S>::from_scalar(3.0);
    let y = apply_one(WaitsOnAWorker, &[&x]).unwrap();
    y.backward().unwrap();
    assert_eq!(x.grad().unwrap().sum(), 1.0);
    S::Collector::set_policy(policy);
}

#[test]
fn an_op_whose_backward_waits_on_a_worker_does_not_deadlock() {
    // Issue 14, defect 4: this hung under `CollectedSync`.
    in_child_process(Duration::from_secs(30), || {
        for_each_shared_strategy!(a_backward_waiting_on_a_worker);
    });
}
