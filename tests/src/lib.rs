//! The cross-crate tests' kit. The tests live in `tests/tests/`, one file per
//! promise of the README's Guarantees table; what they share is here:
//! comparisons, a small stack, live-node and heap accounting, and user-written
//! ops that exercise the engine's checks.
//!
//! ```
//! assert!(autograd_tests::close(1.0, 1.0 + 1e-15, 1e-12));
//! ```
#![forbid(unsafe_code)]

use std::panic::{AssertUnwindSafe, catch_unwind};

use autograd_mem::{LiveNodes, live};
use autograd_ops::{
    Error, Function, Grads, Result, Save, Saved, Strategy, Tensor, Tensors, Variable,
};

/// `true` if `a` and `b` agree within `rel`, relative to the larger magnitude (at least 1).
pub fn close(a: f64, b: f64, rel: f64) -> bool {
    (a - b).abs() <= rel * a.abs().max(b.abs()).max(1.0)
}

/// The stack the no-recursion tests run on: a recursion over a million
/// nodes would need tens of megabytes.
pub const SMALL_STACK: usize = 256 * 1024;

/// Runs `f` on a new thread with a [`SMALL_STACK`] and returns its result;
/// a stack overflow aborts the test binary, a panic fails the test.
pub fn on_small_stack<R: Send + 'static>(f: impl FnOnce() -> R + Send + 'static) -> R {
    std::thread::Builder::new()
        .stack_size(SMALL_STACK)
        .spawn(f)
        .expect("a thread")
        .join()
        .expect("no stack overflow, no panic")
}

/// The nodes of strategy `S` that `f` left alive on this thread.
pub fn nodes_left<S: Strategy, R>(f: impl FnOnce() -> R) -> LiveNodes {
    let start = live::this_thread::<S>();
    drop(f());
    live::this_thread::<S>().since(start)
}

/// Takes this test's turn at what is process-wide, for as long as the
/// guard lives: counts over every thread (`live::total`), a collector that
/// frees every thread's garbage (`CollectedSync`), a policy set for all
/// threads. Tests that read or change them take turns, in every module of
/// the test binary.
pub fn process_wide() -> std::sync::MutexGuard<'static, ()> {
    static TURN: std::sync::Mutex<()> = std::sync::Mutex::new(());
    TURN.lock().unwrap_or_else(|e| e.into_inner())
}

/// `LiveNodes` of `variables` and `functions`.
pub fn nodes(variables: isize, functions: isize) -> LiveNodes {
    LiveNodes {
        variables,
        functions,
    }
}

/// The message `f` panics with (operators panic like ndarray's).
///
/// # Panics
/// If `f` does not panic.
pub fn panic_message(f: impl FnOnce()) -> String {
    let payload = catch_unwind(AssertUnwindSafe(f)).expect_err("a panic");
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default()
}

/// The environment variable that tells a re-run test binary it is the child
/// of [`in_child_process`].
pub const CHILD_ENV: &str = "AUTOGRAD_TESTS_CHILD";

/// Runs `scenario` in a child process, for a test of a crash or a hang: the
/// test binary is run again with only the calling test selected and
/// [`CHILD_ENV`] set, and the child runs `scenario`. A crash (a signal, an
/// abort, a stack overflow) or a panic in the child, or a child still running
/// after `timeout` (then killed), fails the calling test with what the child
/// printed, so that a regression fails one test instead of killing the
/// suite or hanging it.
///
/// Call it first thing in a `#[test]`; the test's name is read from the
/// test thread's name, as libtest gives it.
///
/// # Panics
/// If the child fails as above, or does not run exactly one test.
pub fn in_child_process(timeout: std::time::Duration, scenario: impl FnOnce()) {
    use std::process::{Command, Stdio};
    use std::time::Instant;

    if std::env::var_os(CHILD_ENV).is_some() {
        scenario();
        return;
    }
    let test = std::thread::current()
        .name()
        .expect("libtest names a test's thread after the test")
        .to_string();
    let mut child = Command::new(std::env::current_exe().expect("the test binary"))
        .args([test.as_str(), "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the test binary runs again");
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("the child's status") {
            break Some(status);
        }
        if started.elapsed() > timeout {
            let _ = child.kill();
            break None;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    let output = child.wait_with_output().expect("the child's output");
    let printed = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    match status {
        None => panic!("{test} still ran after {timeout:?} (a hang), killed:\n{printed}"),
        Some(status) if !status.success() => {
            panic!("{test} failed in its child process ({status}):\n{printed}")
        }
        Some(_) => assert!(
            printed.contains("1 passed"),
            "the child ran no test named {test}:\n{printed}"
        ),
    }
}

/// One use of an op: its name, arity, and a function of that many inputs
/// that runs it (with the inputs mixed in where the op alone would not
/// reach a second derivative).
pub type OpUse<S> = (
    &'static str,
    usize,
    fn(&[Variable<S>]) -> Result<Variable<S>>,
);

/// Every op of the workspace, once each: the "every op" list that the
/// gradient checks and the footprint test run (written once, here).
pub fn every_op<S: Strategy>() -> Vec<OpUse<S>> {
    use autograd_ops::*;
    fn constant<S: Strategy>(c: f64) -> Variable<S> {
        Variable::constant_from_tensor(Tensor::scalar(c))
    }
    fn constant_array<S: Strategy>(shape: &[usize], values: &[f64]) -> Variable<S> {
        let array = ndarray::ArrayD::from_shape_vec(shape, values.to_vec()).expect("a shape");
        Variable::constant_from_array(array)
    }
    /// A `[2, 3]` input as one plane of an image, `[1, 1, 2, 3]`.
    fn plane<S: Strategy>(x: &Variable<S>) -> Result<Variable<S>> {
        reshape(x, &[1, 1, 2, 3])
    }
    vec![
        ("add", 2, |x| add(&x[0], &x[1])),
        ("sub", 2, |x| sub(&x[0], &x[1])),
        ("mul", 2, |x| mul(&x[0], &x[1])),
        ("div", 2, |x| div(&x[0], &x[1])),
        ("neg", 1, |x| mul(&neg(&x[0])?, &x[0])),
        ("square", 1, |x| square(&x[0])),
        ("pow", 1, |x| pow(&x[0], 2.5)),
        ("exp", 1, |x| exp(&x[0])),
        ("log", 1, |x| log(&x[0])),
        ("sin", 1, |x| sin(&x[0])),
        ("cos", 1, |x| cos(&x[0])),
        ("tanh", 1, |x| tanh(&x[0])),
        ("sum", 1, |x| mul(&sum(&x[0])?, &x[0])),
        ("sum_axis", 1, |x| mul(&sum_axis(&x[0], 1, true)?, &x[0])),
        ("sum_to", 1, |x| sum_to(&mul(&x[0], &x[0])?, &[1, 3])),
        ("broadcast_to", 1, |x| {
            mul(&broadcast_to(&x[0], &[2, 2, 3])?, &x[0])
        }),
        ("reshape", 1, |x| {
            mul(&reshape(&x[0], &[3, 2])?, &reshape(&x[0], &[3, 2])?)
        }),
        ("transpose", 1, |x| matmul(&transpose(&x[0])?, &x[0])),
        ("matmul", 2, |x| matmul(&x[0], &transpose(&x[1])?)),
        ("relu", 1, |x| {
            mul(&relu(&sub(&x[0], &constant(1.0))?)?, &x[0])
        }),
        ("leaky_relu", 1, |x| {
            mul(&leaky_relu(&sub(&x[0], &constant(1.0))?, 0.1)?, &x[0])
        }),
        ("sigmoid", 1, |x| sigmoid(&x[0])),
        ("sqrt", 1, |x| sqrt(&x[0])),
        ("abs", 1, |x| {
            mul(&abs(&sub(&x[0], &constant(1.0))?)?, &x[0])
        }),
        ("clip", 1, |x| mul(&clip(&x[0], 0.8, 1.2)?, &x[0])),
        ("maximum", 2, |x| mul(&maximum(&x[0], &x[1])?, &x[0])),
        ("minimum", 2, |x| mul(&minimum(&x[0], &x[1])?, &x[1])),
        ("mean", 1, |x| mul(&mean(&x[0])?, &x[0])),
        ("mean_axis", 1, |x| mul(&mean_axis(&x[0], 0, false)?, &x[0])),
        ("max_axis", 1, |x| mul(&max_axis(&x[0], 1, true)?, &x[0])),
        ("min_axis", 1, |x| mul(&min_axis(&x[0], 0, true)?, &x[0])),
        ("logsumexp", 1, |x| logsumexp(&x[0], 1, false)),
        ("softmax", 1, |x| softmax(&x[0], 1)),
        ("log_softmax", 1, |x| log_softmax(&x[0], 0)),
        ("softmax_cross_entropy", 1, |x| {
            softmax_cross_entropy(&x[0], &[2, 0])
        }),
        ("mean_squared_error", 2, |x| {
            mean_squared_error(&x[0], &x[1])
        }),
        ("linear", 2, |x| {
            linear(&x[0], &transpose(&x[1])?, Some(&sum_axis(&x[1], 1, false)?))
        }),
        ("index_select", 1, |x| {
            square(&index_select(&x[0], 1, &[2, 0, 2])?)
        }),
        ("narrow", 1, |x| square(&narrow(&x[0], 1, 1, 2)?)),
        ("index_add", 1, |x| {
            square(&index_add(&x[0], 0, &[1, 1], 3)?)
        }),
        ("concat", 2, |x| square(&concat(&[&x[0], &x[1]], 0)?)),
        // The convolution family on [2, 3] reshaped to one 2×3 plane.
        ("conv2d", 2, |x| {
            let (x, w) = (plane(&x[0])?, plane(&x[1])?);
            conv2d(&x, &w, None, (1, 1), (1, 1))
        }),
        ("conv_transpose2d", 2, |x| {
            let (x, w) = (plane(&x[0])?, plane(&x[1])?);
            conv_transpose2d(&x, &w, None, (2, 1), (0, 1))
        }),
        ("conv2d_grad_w", 2, |x| {
            conv2d_grad_w(&plane(&x[0])?, &plane(&x[1])?, (1, 1), (1, 1), (0, 0))
        }),
        ("im2col", 1, |x| {
            square(&im2col(&plane(&x[0])?, (2, 2), (1, 1), (0, 0))?)
        }),
        ("col2im", 1, |x| {
            let col = reshape(&x[0], &[3, 2])?;
            square(&col2im(&col, &[1, 1, 2, 3], (2, 1), (1, 1), (0, 0))?)
        }),
        ("max_pool2d", 1, |x| {
            square(&max_pool2d(&plane(&x[0])?, (2, 2), (1, 1), (0, 0))?)
        }),
        ("scatter_add2d", 1, |x| {
            let indices = constant_array(&[1, 1, 2, 3], &[0.0, 3.0, 3.0, 1.0, 2.0, 0.0]);
            square(&scatter_add2d(&plane(&x[0])?, &indices, (2, 2))?)
        }),
        ("gather2d", 1, |x| {
            let indices = constant_array(&[1, 1, 1, 2], &[5.0, 1.0]);
            square(&gather2d(&plane(&x[0])?, &indices)?)
        }),
        ("avg_pool2d", 1, |x| {
            square(&avg_pool2d(&plane(&x[0])?, (2, 2), (1, 1), (1, 1))?)
        }),
        ("avg_pool2d_backward", 1, |x| {
            square(&avg_pool2d_backward(
                &plane(&x[0])?,
                (1, 2),
                (2, 2),
                (1, 1),
                (1, 1),
            )?)
        }),
        ("dropout", 1, |x| {
            manual_seed(1); // the same mask at every evaluation
            mul(&dropout(&x[0], 0.5)?, &x[0])
        }),
        ("a user op that saves a mask", 2, |x| {
            autograd_ops::apply_one(Masked::default(), &[&x[0], &x[1]])
        }),
    ]
}

/// Heap accounting, for test binaries that install the counting allocator:
/// `#[global_allocator] static HEAP: autograd_testkit::alloc::CountingAlloc<std::alloc::System> = ...;`
pub mod heap {
    use autograd_testkit::alloc;

    /// What `f` returns, and the heap bytes it allocated on this thread and
    /// did not free (the result's own heap counts as kept). The engine's
    /// buffer cache on this thread (large buffers kept for reuse, not graph
    /// memory) is emptied before and after, inside the count.
    ///
    /// # Panics
    /// If the test binary did not install the counting allocator.
    pub fn kept<R>(f: impl FnOnce() -> R) -> (R, isize) {
        use autograd_core::buffers::release_thread_cache;
        assert!(alloc::is_counting(), "install the counting allocator");
        release_thread_cache();
        let start = alloc::thread_scoped_bytes();
        let result = alloc::scoped(|| {
            let result = f();
            release_thread_cache();
            result
        });
        (result, alloc::thread_scoped_bytes() - start)
    }
}

/// `y = x`, keeping a variable in a field, as a DeZero port that stores
/// `self.inputs` would. Its drop drops that variable, and with it whatever
/// only that variable held.
pub struct Holding<S: Strategy> {
    /// The variable the op keeps.
    pub kept: Variable<S>,
}

impl<S: Strategy> Function<S> for Holding<S>
where
    Variable<S>: Send + Sync,
{
    fn name(&self) -> &'static str {
        "Holding"
    }
    fn num_inputs(&self) -> usize {
        1
    }
    fn forward(&mut self, xs: &[Tensor]) -> Result<Tensors> {
        Ok(xs[0].clone().into())
    }
    fn derivative(&self, _cx: &Saved<'_, S>, gys: &[Variable<S>]) -> Result<Grads<S>> {
        Ok(vec![Some(gys[0].clone())])
    }
}

/// `y = x0 · mask + x1 · x1`, where `mask = (x0 > 1)` is a tensor the op
/// saves for backward ([`Save::tensor`]) besides `x1`: an op of the
/// one-derivative shape whose saved values live out of line (a mask), for
/// the footprint and needed-gradient tests. Counts each gradient its
/// derivative computes, if given counters.
#[derive(Default)]
pub struct Masked {
    /// How many times the derivative computed input 0's / input 1's
    /// gradient (`None` in the footprint test: no heap of the op's own).
    pub computed: Option<std::sync::Arc<[std::sync::atomic::AtomicUsize; 2]>>,
}

impl<S: Strategy> Function<S> for Masked {
    fn name(&self) -> &'static str {
        "Masked"
    }
    fn num_inputs(&self) -> usize {
        2
    }
    fn forward(&mut self, xs: &[Tensor]) -> Result<Tensors> {
        let masked = xs[0].map(|x| if x > 1.0 { x } else { 0.0 });
        Ok(masked.zip_with("Masked", &xs[1], |a, b| a + b * b)?.into())
    }
    fn save(&mut self, save: &mut Save<'_>) {
        if save.needs_grad(0) {
            let mask = save.inputs()[0].map(|x| f64::from(u8::from(x > 1.0)));
            save.tensor(mask);
        }
        if save.needs_grad(1) {
            save.input(1);
        }
    }
    fn derivative(&self, cx: &Saved<'_, S>, gys: &[Variable<S>]) -> Result<Grads<S>> {
        let count = |i: usize| {
            if let Some(computed) = &self.computed {
                computed[i].fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            }
        };
        let gy = &gys[0];
        Ok(vec![
            cx.grad(0, || {
                count(0);
                autograd_ops::mul(gy, &cx.tensor(0)?)
            })?,
            cx.grad(1, || {
                count(1);
                let x1 = cx.input(1)?;
                autograd_ops::mul(&autograd_ops::mul(gy, &x1)?, &cx.scalar(2.0))
            })?,
        ])
    }
}

/// The ways a user-written op can get its counts and shapes wrong, or fail.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// forward returns two tensors for one declared output
    TooManyOutputs,
    /// backward returns no gradient
    NoGradient,
    /// backward returns two gradients for one input
    TwoGradients,
    /// backward returns a gradient of another shape
    WrongShape,
    /// backward fails in its own words ([`Error::op_failed`])
    Fails,
}

/// `y = x`, with a fault; `active` can switch the fault off, so that the
/// very graph that failed can be differentiated again.
pub struct Faulty {
    /// What goes wrong.
    pub fault: Fault,
    /// Whether it goes wrong now.
    pub active: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl Faulty {
    /// A faulty op, active.
    pub fn new(fault: Fault) -> Self {
        Faulty {
            fault,
            active: std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true)),
        }
    }
}

impl<S: Strategy> Function<S> for Faulty {
    fn name(&self) -> &'static str {
        "Faulty"
    }
    fn num_inputs(&self) -> usize {
        1
    }
    fn forward(&mut self, xs: &[Tensor]) -> Result<Tensors> {
        let y = xs[0].clone();
        Ok(match self.fault {
            Fault::TooManyOutputs => [y.clone(), y].into(),
            _ => y.into(),
        })
    }
    fn derivative(&self, cx: &Saved<'_, S>, gys: &[Variable<S>]) -> Result<Grads<S>> {
        let gy = gys[0].clone();
        if !self.active.load(std::sync::atomic::Ordering::SeqCst) {
            return Ok(vec![Some(gy)]);
        }
        match self.fault {
            Fault::NoGradient => Ok(Vec::new()),
            Fault::TwoGradients => Ok(vec![Some(gy.clone()), Some(gy)]),
            Fault::WrongShape => Ok(vec![Some(cx.constant(Tensor::zeros(&[7, 7])))]),
            Fault::Fails => Err(Error::op_failed("Faulty", "cannot differentiate here")),
            Fault::TooManyOutputs => Ok(vec![Some(gy)]),
        }
    }
}

/// `(2x, 3x)`: two outputs.
pub struct Split;

impl<S: Strategy> Function<S> for Split {
    fn name(&self) -> &'static str {
        "Split"
    }
    fn num_inputs(&self) -> usize {
        1
    }
    fn num_outputs(&self) -> usize {
        2
    }
    fn forward(&mut self, xs: &[Tensor]) -> Result<Tensors> {
        Ok([xs[0].map(|x| 2.0 * x), xs[0].map(|x| 3.0 * x)].into())
    }
    fn save(&mut self, _save: &mut Save<'_>) {}
    fn derivative(&self, cx: &Saved<'_, S>, gys: &[Variable<S>]) -> Result<Grads<S>> {
        let two = autograd_ops::mul(&gys[0], &cx.scalar(2.0))?;
        let three = autograd_ops::mul(&gys[1], &cx.scalar(3.0))?;
        Ok(vec![Some(autograd_ops::add(&two, &three)?)])
    }
}

/// Random DAGs of `add` and `square` over broadcasting shapes, for the
/// property tests of two guarantees (gradients, and freeing).
pub mod dags {
    use autograd_mem::LiveNodes;
    use autograd_ops::{Result, Strategy as Ownership, Variable, add, square};
    use ndarray::{ArrayD, IxDyn};
    use proptest::prelude::*;
    use proptest::sample::Index;

    /// Leaf shapes, all broadcasting to (2, 3).
    const SHAPES: [&[usize]; 5] = [&[2, 3], &[1, 3], &[2, 1], &[3], &[]];

    /// One op of a DAG, on earlier variables (chosen by index).
    #[derive(Debug, Clone)]
    pub enum Step {
        /// `a + b`
        Add(Index, Index),
        /// `a²`
        Square(Index),
    }

    /// Leaves and the ops built on them.
    #[derive(Debug, Clone)]
    pub struct Dag {
        /// The leaves' values.
        pub leaves: Vec<ArrayD<f64>>,
        /// The ops, in order.
        pub steps: Vec<Step>,
    }

    fn leaf() -> impl Strategy<Value = ArrayD<f64>> {
        (0..SHAPES.len()).prop_flat_map(|s| {
            let shape = SHAPES[s];
            let n = shape.iter().product::<usize>();
            prop::collection::vec(-1.0..1.0f64, n)
                .prop_map(move |v| ArrayD::from_shape_vec(IxDyn(shape), v).expect("n elements"))
        })
    }

    fn step() -> impl Strategy<Value = Step> {
        prop_oneof![
            (any::<Index>(), any::<Index>()).prop_map(|(a, b)| Step::Add(a, b)),
            any::<Index>().prop_map(Step::Square),
        ]
    }

    /// DAGs of one to three leaves and one to eight ops.
    pub fn dag() -> impl Strategy<Value = Dag> {
        (
            prop::collection::vec(leaf(), 1..4),
            prop::collection::vec(step(), 1..9),
        )
            .prop_map(|(leaves, steps)| Dag { leaves, steps })
    }

    impl Dag {
        /// Builds the graph on `leaves`; returns its last variable.
        ///
        /// # Errors
        /// None for the shapes used here (they all broadcast).
        pub fn build<S: Ownership>(&self, leaves: &[Variable<S>]) -> Result<Variable<S>> {
            let mut pool: Vec<Variable<S>> = leaves.to_vec();
            for step in &self.steps {
                let next = match step {
                    Step::Add(a, b) => add(&pool[a.index(pool.len())], &pool[b.index(pool.len())])?,
                    Step::Square(a) => square(&pool[a.index(pool.len())])?,
                };
                pool.push(next);
            }
            Ok(pool.pop().expect("at least one step"))
        }

        /// The nodes the graph keeps when nothing frees it: every op's output
        /// and function, and every leaf some op reads.
        pub fn own_nodes(&self) -> LiveNodes {
            let mut used = vec![false; self.leaves.len()];
            let mut mark = |i: usize| {
                if i < used.len() {
                    used[i] = true;
                }
            };
            for (pool_len, step) in (self.leaves.len()..).zip(&self.steps) {
                match step {
                    Step::Add(a, b) => {
                        mark(a.index(pool_len));
                        mark(b.index(pool_len));
                    }
                    Step::Square(a) => mark(a.index(pool_len)),
                }
            }
            let ops = self.steps.len() as isize;
            LiveNodes {
                variables: ops + used.iter().filter(|&&u| u).count() as isize,
                functions: ops,
            }
        }
    }

    /// The case count: 64, or `AUTOGRAD_PROPTEST_CASES` (read here, since
    /// `ProptestConfig::with_cases` overrides `PROPTEST_CASES`).
    pub fn cases() -> u32 {
        std::env::var("AUTOGRAD_PROPTEST_CASES")
            .ok()
            .and_then(|n| n.parse().ok())
            .unwrap_or(64)
    }
}
