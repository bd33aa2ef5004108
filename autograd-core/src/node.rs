//! The graph's nodes and their iterative teardown.
//!
//! ```text
//!   Variable ──creator (strong)──▶ FunctionInner ──inputs (strong)──▶ Variable ...
//!      ▲                                │
//!      └──────── outputs (S::Back) ─────┘   weak under RcWeak/ArcWeak: no cycle
//! ```
//!
//! Dropping the last handle to a long chain would, left to the compiler's drop
//! glue, recurse once per node and overflow the stack. The `Drop` impls here
//! instead detach what a node owns and free the chain with an explicit stack.

use std::mem;
use std::sync::atomic::{AtomicU64, Ordering};

use autograd_mem::{NodeKind, Strategy, live};

use crate::{Function, Generation, SharedArray, Variable};

/// A variable's node: immutable links outside the cell, mutable state inside.
pub(crate) struct VariableInner<S: Strategy> {
    pub(crate) state: S::Cell<VariableState>,
    /// Set once at creation; `None` for a leaf.
    pub(crate) creator: Option<S::Strong<FunctionInner<S>>>,
    pub(crate) generation: Generation,
}

/// What can change on a variable after it is created.
pub(crate) struct VariableState {
    pub(crate) data: SharedArray,
    /// Boxed: most variables never hold one, and an inline `ArrayD` would
    /// make every node 100 bytes larger.
    pub(crate) grad: Option<Box<ndarray::ArrayD<f64>>>,
    pub(crate) name: Option<String>,
}

/// A function's node: the op, what it read, and what it produced.
pub(crate) struct FunctionInner<S: Strategy> {
    pub(crate) op: Box<dyn Function>,
    pub(crate) inputs: Vec<Variable<S>>,
    /// Filled right after the outputs exist (they need this node first).
    pub(crate) outputs: S::Cell<Vec<OutputSlot<S>>>,
    pub(crate) generation: Generation,
    /// Creation order: breaks ties between functions of one generation.
    pub(crate) seq: u64,
}

/// A function's link to one output.
pub(crate) struct OutputSlot<S: Strategy> {
    pub(crate) variable: S::Back<VariableInner<S>>,
    /// The output's shape, for a zero gradient once the output is gone. Kept
    /// only for functions with several outputs: backward reaches a function
    /// through an output it holds, so a sole output is never gone then.
    pub(crate) shape: Option<Box<[usize]>>,
}

static NEXT_SEQ: AtomicU64 = AtomicU64::new(0);

impl<S: Strategy> VariableInner<S> {
    pub(crate) fn new(
        data: SharedArray,
        creator: Option<S::Strong<FunctionInner<S>>>,
        generation: Generation,
    ) -> Self {
        live::record_created::<S>(NodeKind::Variable);
        VariableInner {
            state: S::new_cell(VariableState {
                data,
                grad: None,
                name: None,
            }),
            creator,
            generation,
        }
    }
}

impl<S: Strategy> FunctionInner<S> {
    pub(crate) fn new(op: Box<dyn Function>, inputs: Vec<Variable<S>>) -> Self {
        live::record_created::<S>(NodeKind::Function);
        let generation = inputs
            .iter()
            .map(Variable::generation)
            .max()
            .unwrap_or(Generation::LEAF);
        FunctionInner {
            op,
            inputs,
            outputs: S::new_cell(Vec::new()),
            generation,
            seq: NEXT_SEQ.fetch_add(1, Ordering::Relaxed),
        }
    }
}

impl<S: Strategy> Drop for VariableInner<S> {
    fn drop(&mut self) {
        live::record_dropped::<S>(NodeKind::Variable);
        if let Some(creator) = self.creator.take() {
            free_iteratively::<S>(vec![creator]);
        }
    }
}

impl<S: Strategy> Drop for FunctionInner<S> {
    fn drop(&mut self) {
        live::record_dropped::<S>(NodeKind::Function);
        let mut stack = Vec::new();
        release_inputs(mem::take(&mut self.inputs), &mut stack);
        free_iteratively::<S>(stack);
    }
}

/// Frees the functions on `stack` and everything only they own, one node at a
/// time. A node still owned elsewhere is merely released.
fn free_iteratively<S: Strategy>(mut stack: Vec<S::Strong<FunctionInner<S>>>) {
    while let Some(function) = stack.pop() {
        if let Some(mut function) = S::into_inner(function) {
            release_inputs(mem::take(&mut function.inputs), &mut stack);
            // `function` drops here with no inputs left: no recursion.
        }
    }
}

/// Releases `inputs`; the creators of those freed by it go on `stack`.
fn release_inputs<S: Strategy>(
    inputs: Vec<Variable<S>>,
    stack: &mut Vec<S::Strong<FunctionInner<S>>>,
) {
    for input in inputs {
        if let Some(mut variable) = S::into_inner(input.node) {
            stack.extend(variable.creator.take());
            // `variable` drops here without a creator: no recursion.
        }
    }
}
