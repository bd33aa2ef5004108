//! Property tests: random DAGs of `add` and `square` over random shapes
//! (broadcasting included) with random reuse of earlier variables.
//!
//! * Every leaf's gradient matches central differences: relative error at
//!   most 1e-4 (`|analytic - numeric| / max(|numeric|, 1)`, step 1e-6).
//! * After the graph is dropped, live nodes (this thread's view) are back at
//!   the start under `RcWeak` and `ArcWeak`; under `StrongOnly` exactly the
//!   graph's own nodes remain.
//!
//! The case count defaults to 64; set `AUTOGRAD_PROPTEST_CASES` to raise it
//! (`ProptestConfig::with_cases` overrides `PROPTEST_CASES`, so it is read here).

use autograd_mem::{LiveNodes, live};
use autograd_ops::{
    ArcWeak, GradcheckOptions, RcWeak, Result, Strategy as Ownership, StrongOnly, Variable, add,
    gradcheck, square,
};
use ndarray::{ArrayD, IxDyn};
use proptest::prelude::*;
use proptest::sample::Index;

/// Leaf shapes, all broadcasting to (2, 3).
const SHAPES: [&[usize]; 5] = [&[2, 3], &[1, 3], &[2, 1], &[3], &[]];

#[derive(Debug, Clone)]
enum Step {
    Add(Index, Index),
    Square(Index),
}

#[derive(Debug, Clone)]
struct Dag {
    leaves: Vec<ArrayD<f64>>,
    steps: Vec<Step>,
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

fn dag() -> impl Strategy<Value = Dag> {
    (
        prop::collection::vec(leaf(), 1..4),
        prop::collection::vec(step(), 1..9),
    )
        .prop_map(|(leaves, steps)| Dag { leaves, steps })
}

impl Dag {
    /// Builds the graph on `leaves`; returns its last variable.
    fn build<S: Ownership>(&self, leaves: &[Variable<S>]) -> Result<Variable<S>> {
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

    /// The nodes the graph keeps when nothing frees it: every op's output and
    /// function, and every leaf some op reads.
    fn own_nodes(&self) -> LiveNodes {
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

fn cases() -> u32 {
    std::env::var("AUTOGRAD_PROPTEST_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(64)
}

/// Builds, differentiates and drops the DAG; returns the nodes left behind.
fn leftover<S: Ownership>(dag: &Dag) -> LiveNodes {
    let start = live::this_thread::<S>();
    {
        let leaves: Vec<Variable<S>> = dag
            .leaves
            .iter()
            .cloned()
            .map(Variable::from_array)
            .collect();
        let y = dag.build(&leaves).expect("shapes broadcast");
        y.backward().expect("backward succeeds");
        for (leaf, value) in leaves.iter().zip(&dag.leaves) {
            if let Some(grad) = leaf.grad() {
                assert_eq!(
                    grad.shape(),
                    value.shape(),
                    "a gradient has its leaf's shape"
                );
            }
        }
    }
    live::this_thread::<S>().since(start)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    #[test]
    fn gradients_match_central_differences(dag in dag()) {
        let options = GradcheckOptions { eps: 1e-6, tolerance: 1e-4 };
        let result = gradcheck::<RcWeak>(|leaves| dag.build(leaves), &dag.leaves, options);
        prop_assert!(result.is_ok(), "{}", result.unwrap_err());
    }

    #[test]
    fn dropped_graphs_free_their_nodes_unless_strong_only(dag in dag()) {
        prop_assert_eq!(leftover::<RcWeak>(&dag), LiveNodes::default());
        prop_assert_eq!(leftover::<ArcWeak>(&dag), LiveNodes::default());
        prop_assert_eq!(leftover::<StrongOnly<RcWeak>>(&dag), dag.own_nodes());
        prop_assert_eq!(leftover::<StrongOnly<ArcWeak>>(&dag), dag.own_nodes());
    }
}
