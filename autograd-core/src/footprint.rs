//! [`Footprint`]: the nodes and heap bytes a graph holds, computed from the graph.

use std::collections::HashSet;
use std::mem::{size_of, size_of_val};

use autograd_mem::{Cells, Strategy};

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
    pub fn graph_footprint(&self) -> Footprint {
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
                let inner = variable.inner();
                count(&inner.value, &mut footprint.bytes);
                let grad = S::Cells::read(&inner.state, |s| {
                    let extras = s.extras.as_deref()?;
                    footprint.bytes += size_of::<Extras<S>>();
                    if let Some(value) = &extras.value {
                        count(value, &mut footprint.bytes);
                    }
                    footprint.bytes += extras.name.as_ref().map_or(0, String::capacity);
                    match extras.grad.as_ref()? {
                        Grad::Values(grad) => {
                            count(grad, &mut footprint.bytes);
                            None
                        }
                        Grad::Variable(grad) => Some(grad.clone()),
                    }
                });
                grad_variables.extend(grad);
            }
            Step::Creator {
                node, first: true, ..
            } => {
                footprint.functions += 1;
                footprint.bytes += function_bytes(node);
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

fn function_bytes<S: Strategy>(node: &FunctionNode<S>) -> usize {
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
    S::allocation_size::<FunctionInner<S>>()
        + size_of_val(inner.op())
        + inner.op().heap_size()
        + out_of_line
}
