//! [`FunctionNode`]: a handle to a function in the graph.

use std::fmt;

use autograd_mem::{DefaultStrategy, Strategy};

use crate::node::FunctionInner;
use crate::{Generation, Variable};

/// A function node of a graph, as [`Variable::creator`] returns it: which op
/// ran, on which inputs, producing which outputs.
///
/// Like a variable it is a cheap handle; holding it keeps its inputs (and their
/// creators) alive, but not its outputs under the weak strategies.
pub struct FunctionNode<S: Strategy = DefaultStrategy> {
    inner: S::Strong<FunctionInner<S>>,
}

impl<S: Strategy> FunctionNode<S> {
    pub(crate) fn from_inner(inner: S::Strong<FunctionInner<S>>) -> Self {
        FunctionNode { inner }
    }

    /// The op's name (`Function::name`).
    pub fn name(&self) -> &'static str {
        self.inner.op.name()
    }

    /// The largest generation among the inputs.
    pub fn generation(&self) -> Generation {
        self.inner.generation
    }

    /// The variables the function read.
    pub fn inputs(&self) -> &[Variable<S>] {
        &self.inner.inputs
    }

    /// The variables the function produced; `None` where an output is gone.
    pub fn outputs(&self) -> Vec<Option<Variable<S>>> {
        S::read(&self.inner.outputs, |slots| {
            slots
                .iter()
                .map(|slot| S::upgrade(&slot.variable).map(|node| Variable { node }))
                .collect()
        })
    }

    /// `true` if both handles point at the same node.
    pub fn ptr_eq(&self, other: &Self) -> bool {
        self.id() == other.id()
    }

    /// The node's identity while it is alive (its address).
    pub(crate) fn id(&self) -> usize {
        S::addr(&self.inner)
    }
}

impl<S: Strategy> Clone for FunctionNode<S> {
    fn clone(&self) -> Self {
        FunctionNode {
            inner: self.inner.clone(),
        }
    }
}

/// Shows this node only, never the graph behind it.
impl<S: Strategy> fmt::Debug for FunctionNode<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FunctionNode")
            .field("op", &self.name())
            .field("inputs", &self.inner.inputs.len())
            .field("generation", &self.inner.generation.0)
            .finish()
    }
}
