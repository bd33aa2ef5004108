//! [`Footprint`]: the nodes and heap bytes a graph holds, computed from the graph.

use std::collections::HashSet;
use std::mem::{size_of, size_of_val};

use autograd_mem::{Cells, Freeing, Strategy};

use crate::function_node::{FunctionInner, GeneralLinks, Input, Links, OutputSlot};
use crate::traversal::{Read, Step, walk};
use crate::variable::{Extras, Grad, VariableInner};
use crate::{FunctionNode, Tensor, Variable};

/// What a graph holds on the heap.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Footprint {
    /// Variable nodes reachable from the root.
    pub variables: usize,
    /// Function nodes reachable from the root.
    pub functions: usize,
    /// Bytes requested from the allocator for them: node blocks, links kept
    /// out of line, values (each buffer once), stored gradients and names.
    pub bytes: usize,
}

impl<S: Strategy> Variable<S> {
    /// The nodes and bytes of the graph behind this variable (it and
    /// everything its creators read), walked without recursion.
    ///
    /// This is what the graph holds, to the byte, for values of any shape
    /// and size: what a graph that is never freed (under `StrongOnly`)
    /// leaks, and what a live graph keeps under any strategy, the values
    /// its ops saved for backward included (each buffer once). Two
    /// exceptions it does not see: outputs of multi-output functions that
    /// nothing reads (the walk follows inputs, not outputs), and what a
    /// user op allocates in its own fields unless its
    /// [`Function::heap_size`](crate::Function::heap_size) says so. A
    /// stored gradient that is a variable counts its node and value, not
    /// its graph.
    ///
    /// Under [`Region`](autograd_mem::Region) a graph holds whole regions:
    /// the footprint is every region the variable keeps alive (its own, the
    /// ones it keeps, those of stored gradients and of the leaves the
    /// graph reads), each with all its nodes and their values, whether the
    /// root reaches them or not.
    pub fn graph_footprint(&self) -> Footprint {
        if S::FREEING == Freeing::WithRegion {
            return region_footprint(self);
        }
        let mut footprint = Footprint::default();
        let mut buffers = HashSet::new();
        let mut grad_variables = Vec::new();
        let mut count = |tensor: &Tensor, bytes: &mut usize| {
            if let Some((id, size)) = tensor.heap() {
                if buffers.insert(id) {
                    *bytes += size;
                }
            }
        };
        walk(self, |step| match step {
            Step::Variable { variable, .. } => {
                footprint.variables += 1;
                footprint.bytes += S::allocation_size::<VariableInner<S>>();
                let grad = variable_contents(
                    &variable.inner(),
                    &mut |tensor, bytes| count(tensor, bytes),
                    &mut footprint.bytes,
                );
                grad_variables.extend(grad);
            }
            Step::Creator {
                node, first: true, ..
            } => {
                footprint.functions += 1;
                footprint.bytes +=
                    S::allocation_size::<FunctionInner<S>>() + function_contents(node);
                // What the op saved for backward beyond its links' values.
                S::get(&node.inner).linked(|f| {
                    f.for_each_kept_value(|value| count(value, &mut footprint.bytes));
                });
            }
            Step::Input { read, saved, .. } => {
                if let Read::Gone { first: true, .. } = read {
                    // The leaf's value is dropped, but its node's block
                    // stays allocated while a weak pointer names it.
                    footprint.bytes += S::allocation_size::<VariableInner<S>>();
                }
                if let Some(value) = saved {
                    count(value, &mut footprint.bytes);
                }
            }
            Step::Creator { .. } => {}
        });
        for grad in grad_variables {
            footprint.bytes += S::allocation_size::<VariableInner<S>>();
            count(&grad.tensor(), &mut footprint.bytes);
        }
        footprint
    }
}

/// Counts what a variable node holds beside its block (its value, its
/// extras) with `count`; a stored gradient that is a variable is returned.
fn variable_contents<S: Strategy>(
    inner: &VariableInner<S>,
    count: &mut impl FnMut(&Tensor, &mut usize),
    bytes: &mut usize,
) -> Option<Variable<S>> {
    count(&inner.value, bytes);
    S::Cells::read(&inner.state, |s| {
        let extras = s.extras.as_deref()?;
        *bytes += size_of::<Extras<S>>();
        if let Some(value) = &extras.value {
            count(value, bytes);
        }
        *bytes += extras.name.as_ref().map_or(0, String::capacity);
        match extras.grad.as_ref()? {
            Grad::Values(grad) => {
                count(grad, bytes);
                None
            }
            Grad::Variable(grad) => Some(grad.clone()),
        }
    })
}

/// [`Variable::graph_footprint`] under a region strategy: whole regions.
fn region_footprint<S: Strategy>(root: &Variable<S>) -> Footprint {
    let mut footprint = Footprint::default();
    let mut buffers = HashSet::new();
    let mut count = |tensor: &Tensor, bytes: &mut usize| {
        if let Some((id, size)) = tensor.heap() {
            if buffers.insert(id) {
                *bytes += size;
            }
        }
    };
    let mut regions = HashSet::new();
    let mut gone_leaves = HashSet::new();
    let mut queue = vec![root.clone()];
    while let Some(variable) = queue.pop() {
        for region in S::regions_kept::<VariableInner<S>, FunctionInner<S>>(&variable.node) {
            if !regions.insert(region.id) {
                continue;
            }
            footprint.bytes += region.bytes;
            for node in region.variables {
                footprint.variables += 1;
                let grad = variable_contents(&S::get(&node), &mut count, &mut footprint.bytes);
                queue.extend(grad);
            }
            for inner in region.functions {
                footprint.functions += 1;
                let node: FunctionNode<S> = FunctionNode { inner };
                footprint.bytes += function_contents(&node);
                S::get(&node.inner).linked(|f| {
                    f.for_each_kept_value(|value| count(value, &mut footprint.bytes));
                    for input in f.inputs() {
                        if let Some(value) = input.saved_value() {
                            count(&value, &mut footprint.bytes);
                        }
                        match input.variable() {
                            Some(leaf) if matches!(input, Input::Leaf(..)) => queue.push(leaf),
                            Some(_) => {}
                            // A gone leaf's block stays while a weak pointer names it.
                            None => {
                                if gone_leaves.insert(input.id()) {
                                    footprint.bytes += S::allocation_size::<VariableInner<S>>();
                                }
                            }
                        }
                    }
                });
            }
        }
    }
    footprint
}

/// What a function node holds beside its block: its op and the links it
/// keeps out of line.
fn function_contents<S: Strategy>(node: &FunctionNode<S>) -> usize {
    let inner = S::get(&node.inner);
    let out_of_line = inner.linked(|f| match f.links {
        Links::General(general) => {
            let outputs = S::Cells::once_get(&general.outputs).map_or(0, |slots| {
                slots
                    .iter()
                    .map(|slot| size_of::<OutputSlot<S>>() + slot.shape.len() * size_of::<usize>())
                    .sum()
            });
            size_of::<GeneralLinks<S>>()
                + general.inputs.capacity() * size_of::<Input<S>>()
                + outputs
                + general.plan.heap_bytes()
        }
        Links::Nullary(_) | Links::Unary(..) | Links::Binary(..) => 0,
    });
    size_of_val(inner.op()) + inner.op().heap_size() + out_of_line
}
