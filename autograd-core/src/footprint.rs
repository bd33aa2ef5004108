//! [`Footprint`]: the nodes and heap bytes a graph holds, computed from the graph.

use std::collections::HashSet;
use std::mem::{size_of, size_of_val};

use autograd_mem::{Strategy, shared_block_size};
use ndarray::OwnedRepr;

use crate::Variable;
use crate::node::{FunctionInner, OutputSlot, VariableInner};

/// What a graph holds on the heap.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Footprint {
    /// Variable nodes reachable from the root.
    pub variables: usize,
    /// Function nodes reachable from the root.
    pub functions: usize,
    /// Bytes requested from the allocator for them: node blocks, the vectors
    /// of inputs and outputs, array buffers (each shared buffer once), stored
    /// gradients and names.
    pub bytes: usize,
}

impl<S: Strategy> Variable<S> {
    /// The nodes and bytes of the graph behind this variable (it and
    /// everything its creators read), walked without recursion.
    ///
    /// This is what a graph that is never freed (under `StrongOnly`) leaks,
    /// except for outputs of multi-output functions that nothing reads (the
    /// walk follows inputs, not outputs; no op here has several outputs).
    /// Array buffers count `len × 8` bytes, exact for arrays the engine and
    /// its ops allocate; an op's own saved state counts only its inline size.
    pub fn graph_footprint(&self) -> Footprint {
        let mut footprint = Footprint::default();
        let mut seen_variables = HashSet::new();
        let mut seen_functions = HashSet::new();
        let mut seen_buffers = HashSet::new();
        let mut stack = vec![self.clone()];
        while let Some(variable) = stack.pop() {
            if !seen_variables.insert(variable.id()) {
                continue;
            }
            footprint.variables += 1;
            footprint.bytes += S::allocation_size::<VariableInner<S>>();
            footprint.bytes += S::read(&variable.node.state, |s| {
                let data = if seen_buffers.insert(s.data.as_ptr() as usize) {
                    shared_block_size::<OwnedRepr<f64>>() + s.data.len() * size_of::<f64>()
                } else {
                    0
                };
                let grad = s.grad.as_ref().map_or(0, |g| {
                    size_of::<ndarray::ArrayD<f64>>() + g.len() * size_of::<f64>()
                });
                data + grad + s.name.as_ref().map_or(0, String::capacity)
            });
            let Some(function) = &variable.node.creator else {
                continue;
            };
            if seen_functions.insert(S::addr(function)) {
                footprint.functions += 1;
                footprint.bytes += function_bytes(function);
                stack.extend(function.inputs.iter().cloned());
            }
        }
        footprint
    }
}

fn function_bytes<S: Strategy>(function: &FunctionInner<S>) -> usize {
    let outputs = S::read(&function.outputs, |slots| {
        let shapes: usize = slots
            .iter()
            .filter_map(|slot| slot.shape.as_ref())
            .map(|shape| shape.len() * size_of::<usize>())
            .sum();
        slots.capacity() * size_of::<OutputSlot<S>>() + shapes
    });
    S::allocation_size::<FunctionInner<S>>()
        + size_of_val(&*function.op)
        + function.inputs.capacity() * size_of::<Variable<S>>()
        + outputs
}
