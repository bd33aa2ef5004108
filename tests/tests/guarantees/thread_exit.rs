//! Guarantee: a graph kept in a thread-local is safe at thread exit under
//! every strategy. The thread's own destructors run in an order nobody
//! chooses, so a user's thread-local may be destroyed after the engine's:
//! its graph is then still freed without recursion (on a 256 KiB stack),
//! and under the collected strategies a node still reachable after the
//! thread's object space is gone is leaked on purpose, counted in `live`,
//! and never written into freed memory.
//!
//! Each scenario runs in a child process (`in_child_process`): a crash at
//! thread exit fails one test instead of killing the suite.

use std::any::Any;
use std::cell::RefCell;
use std::time::Duration;

use autograd_mem::Collector as _;
use autograd_mem::{Freeing, LiveNodes, Policy, live, test_each_strategy};
use autograd_ops::{Collected, Strategy, Variable, add, square};
use autograd_tests::{SMALL_STACK, in_child_process, nodes};

const TIMEOUT: Duration = Duration::from_secs(60);
/// Deep enough that a recursive drop or collection overflows [`SMALL_STACK`].
const DEPTH: usize = 100_000;

thread_local! {
    /// Touched first on each thread here, so that it is destroyed after the
    /// engine's thread-locals (destructors run in reverse order of
    /// registration).
    static KEPT_EARLY: RefCell<Vec<Box<dyn Any>>> = const { RefCell::new(Vec::new()) };
    /// Touched only after the graph is built: destroyed before the engine's.
    static KEPT_LATE: RefCell<Vec<Box<dyn Any>>> = const { RefCell::new(Vec::new()) };
}

/// Which thread-local keeps the graph.
#[derive(Clone, Copy)]
enum Kept {
    Early,
    Late,
}

fn keep(kept: Kept, value: impl Any) {
    let list = match kept {
        Kept::Early => &KEPT_EARLY,
        Kept::Late => &KEPT_LATE,
    };
    list.with(|list| list.borrow_mut().push(Box::new(value)));
}

/// `x + x + ... + x`, `depth` adds.
fn chain<S: Strategy>(x: &Variable<S>, depth: usize) -> Variable<S> {
    let mut y = x.clone();
    for _ in 0..depth {
        y = add(&y, x).unwrap();
    }
    y
}

/// Runs `build` on a new thread with a small stack, after touching
/// [`KEPT_EARLY`] and then the engine's thread-locals (a small graph built
/// and dropped registers them), and returns the nodes of `S` alive in the
/// whole process after the thread is gone, relative to before `build`.
fn left_after_thread_exit<S: Strategy>(build: impl FnOnce() + Send + 'static) -> LiveNodes {
    let before = std::thread::Builder::new()
        .stack_size(SMALL_STACK)
        .spawn(|| {
            KEPT_EARLY.with(|_| ());
            drop(square(&square(&Variable::<S>::from_scalar(1.0)).unwrap()).unwrap());
            S::Collector::collect();
            let before = live::total::<S>();
            build();
            before
        })
        .expect("a thread")
        .join()
        .expect("no panic");
    live::total::<S>().since(before)
}

/// A deep chain kept in a thread-local destroyed after the engine's own.
fn deep_graph_kept_past_the_engine<S: Strategy>() {
    in_child_process(TIMEOUT, || {
        S::Collector::set_policy(Policy::Never);
        let left = left_after_thread_exit::<S>(|| {
            let x = Variable::<S>::from_scalar(1.0);
            let y = chain(&x, DEPTH);
            keep(Kept::Early, y);
        });
        let chain_nodes = nodes(DEPTH as isize + 1, DEPTH as isize);
        match S::FREEING {
            // The weak link: freed, by the fallback worklist; the region, by
            // its own.
            Freeing::OnDrop | Freeing::WithRegion => assert_eq!(left, nodes(0, 0)),
            // Leaked: by design (StrongOnly), or because the graph was still
            // reachable when the thread's object space went (Collected), or
            // because no collection ran after the drop (CollectedSync).
            _ => assert_eq!(left, chain_nodes),
        }
    });
}

test_each_strategy! {
    a_deep_graph_in_a_thread_local_destroyed_after_the_engines_drops_without_recursion => deep_graph_kept_past_the_engine;
}

#[test]
fn a_collected_leaf_kept_in_a_thread_local_outlives_its_object_space_safely() {
    in_child_process(TIMEOUT, || {
        let left = left_after_thread_exit::<Collected>(|| {
            let x = Variable::<Collected>::from_scalar(2.0);
            let y = square(&x).unwrap();
            let lone = Variable::<Collected>::from_scalar(3.0);
            keep(Kept::Early, (x, y, lone));
        });
        // `lone` unlinked itself from the leaked space's list and was freed;
        // `y ⇄ Square → x` was reachable when the space went: leaked, counted.
        assert_eq!(left, nodes(2, 1));
    });
}

#[test]
fn a_deep_collected_graph_dropped_before_the_object_space_is_collected_at_exit() {
    in_child_process(TIMEOUT, || {
        <Collected as Strategy>::Collector::set_policy(Policy::Never);
        let left = left_after_thread_exit::<Collected>(|| {
            let x = Variable::<Collected>::from_scalar(1.0);
            let y = chain(&x, DEPTH);
            keep(Kept::Late, y);
        });
        // Garbage when the space went: its last collection (on a stack deep
        // enough) freed it all.
        assert_eq!(left, nodes(0, 0));
    });
}

#[test]
fn a_collected_graph_created_after_the_object_space_is_gone_is_counted() {
    /// Builds a graph when dropped: after the thread's object space, if it
    /// was registered before it.
    struct BuildsOnDrop;
    impl Drop for BuildsOnDrop {
        fn drop(&mut self) {
            let x = Variable::<Collected>::from_scalar(2.0);
            let y = square(&x).unwrap();
            y.backward().unwrap();
            assert_eq!(x.grad().unwrap().sum(), 4.0);
        }
    }
    in_child_process(TIMEOUT, || {
        let left = left_after_thread_exit::<Collected>(|| {
            keep(Kept::Early, BuildsOnDrop);
            let x = Variable::<Collected>::from_scalar(1.0);
            drop(square(&x).unwrap());
        });
        // The first graph was garbage at the space's last collection; the one
        // built later lives in a space that is never freed.
        assert_eq!(left, nodes(2, 1));
    });
}
