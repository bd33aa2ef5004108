//! [`Footprint`]: the nodes and heap bytes a graph holds, computed from the graph.

use std::collections::HashSet;
use std::mem::{size_of, size_of_val};

use autograd_mem::{Cells, Placement, Strategy};

use crate::function_node::{FunctionInner, GeneralLinks, Input, Links, OutputSlot};
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
    /// Where a strategy keeps nodes in blocks freed together (regions,
    /// under [`Region`](autograd_mem::Region)), a node brings its whole
    /// block and the blocks that one keeps: the footprint is every node of
    /// every block the variable keeps alive (its own, those of stored
    /// gradients and of the leaves the graph reads), whether the root
    /// reaches them or not.
    pub fn graph_footprint(&self) -> Footprint {
        Footprint::of(&[self])
    }
}

impl Footprint {
    /// The nodes and bytes of the graphs behind all of `roots` together,
    /// each node, block and buffer counted once: what they keep alive
    /// between them (a recurrent layer's carried state and the loss beside
    /// it, which may share nodes, or a region). For one root, its
    /// [`graph_footprint`](Variable::graph_footprint).
    ///
    /// ```
    /// use autograd_ops::{Footprint, Variable};
    /// let x = Variable::new(ndarray::array![1.0, 2.0]);
    /// let (a, b) = (&x * &x, &x + &x);
    /// let both = Footprint::of(&[&a, &b]);
    /// assert_eq!((both.variables, both.functions), (3, 2)); // x once
    /// assert!(both.bytes < a.graph_footprint().bytes + b.graph_footprint().bytes);
    /// ```
    pub fn of<S: Strategy>(roots: &[&Variable<S>]) -> Footprint {
        let mut count = Count::<S>::default();
        (count.queue).extend(
            roots
                .iter()
                .map(|&root| Visit::Variable(root.clone(), true)),
        );
        while let Some(visit) = count.queue.pop() {
            match visit {
                Visit::Variable(variable, follow) => count.variable(&variable, follow),
                Visit::Function(function) => count.function(&function),
            }
        }
        count.footprint
    }
}

/// A node the footprint's walk is to visit.
enum Visit<S: Strategy> {
    /// A variable, and whether to follow its creator (not for a stored
    /// gradient: its graph is not the root's).
    Variable(Variable<S>, bool),
    Function(FunctionNode<S>),
}

/// The footprint's walk: a worklist, never a recursion.
struct Count<S: Strategy> {
    footprint: Footprint,
    queue: Vec<Visit<S>>,
    variables: HashSet<usize>,
    followed: HashSet<usize>,
    functions: HashSet<usize>,
    blocks: HashSet<usize>,
    gone: HashSet<usize>,
    buffers: HashSet<usize>,
}

impl<S: Strategy> Default for Count<S> {
    fn default() -> Self {
        Count {
            footprint: Footprint::default(),
            queue: Vec::new(),
            variables: HashSet::new(),
            followed: HashSet::new(),
            functions: HashSet::new(),
            blocks: HashSet::new(),
            gone: HashSet::new(),
            buffers: HashSet::new(),
        }
    }
}

impl<S: Strategy> Count<S> {
    /// A value's buffer, once.
    fn tensor(&mut self, tensor: &Tensor) {
        if let Some((id, size)) = tensor.heap() {
            if self.buffers.insert(id) {
                self.footprint.bytes += size;
            }
        }
    }

    /// A variable's node (or its block, with every node in it), what it
    /// holds, and its creator if `follow`.
    fn variable(&mut self, variable: &Variable<S>, follow: bool) {
        if self.variables.insert(variable.id()) {
            self.footprint.variables += 1;
            match <S::Placement as Placement<S>>::block(&variable.node) {
                None => self.footprint.bytes += S::allocation_size::<VariableInner<S>>(),
                Some(block) if self.blocks.contains(&block) => {}
                Some(_) => self.blocks(variable),
            }
            let grad = self.variable_contents(&variable.inner());
            self.queue
                .extend(grad.map(|grad| Visit::Variable(grad, false)));
        }
        if follow && self.followed.insert(variable.id()) {
            if let Some(creator) = variable.creator() {
                self.queue.push(Visit::Function(creator));
            }
        }
    }

    /// The blocks `variable`'s node keeps that are not counted yet, each
    /// with every node in it.
    fn blocks(&mut self, variable: &Variable<S>) {
        let blocks = <S::Placement as Placement<S>>::blocks_kept::<
            VariableInner<S>,
            FunctionInner<S>,
        >(&variable.node, &mut self.blocks);
        for block in blocks {
            self.footprint.bytes += block.bytes;
            (self.queue).extend(
                (block.variables.into_iter()).map(|node| Visit::Variable(Variable { node }, false)),
            );
            (self.queue).extend(
                (block.functions.into_iter()).map(|inner| Visit::Function(FunctionNode { inner })),
            );
        }
    }

    /// What a variable node holds beside its block (its value, its
    /// extras); a stored gradient that is a variable is returned.
    fn variable_contents(&mut self, inner: &VariableInner<S>) -> Option<Variable<S>> {
        let (value, extras, grad) = inner.read(|s| {
            let extras = s.extras.as_deref();
            (
                s.value.clone(),
                extras
                    .map(|e| size_of::<Extras<S>>() + e.name.as_ref().map_or(0, String::capacity)),
                extras.and_then(|e| match e.grad.as_ref()? {
                    Grad::Values(grad) => Some(Err(grad.clone())),
                    Grad::Variable(grad) => Some(Ok(grad.clone())),
                }),
            )
        });
        self.tensor(&value);
        self.footprint.bytes += extras.unwrap_or(0);
        match grad? {
            Err(values) => {
                self.tensor(&values);
                None
            }
            Ok(variable) => Some(variable),
        }
    }

    /// A function's node (its block is counted with its outputs'), what it
    /// holds, and what it reads.
    fn function(&mut self, function: &FunctionNode<S>) {
        if !self.functions.insert(function.id()) {
            return;
        }
        self.footprint.functions += 1;
        if <S::Placement as Placement<S>>::block(&function.inner).is_none() {
            self.footprint.bytes += S::allocation_size::<FunctionInner<S>>();
        }
        self.footprint.bytes += function_contents(function);
        let inner = S::get(&function.inner);
        let (kept, reads) = inner.linked(|f| {
            let mut kept = Vec::new();
            f.for_each_kept_value(|value| kept.push(value.clone()));
            let reads: Vec<_> = (f.inputs().iter())
                .map(|input| match input {
                    Input::Variable(_) => Read::Variable(input.variable().expect("owned")),
                    Input::Leaf(back, value) => {
                        let value = Tensor::from_shared_repr(std::sync::Arc::clone(value));
                        match S::upgrade(back) {
                            Some(node) => Read::Leaf(Variable { node }, value),
                            None => {
                                Read::Gone(<S::Placement as Placement<S>>::gone_block(back), value)
                            }
                        }
                    }
                })
                .collect();
            (kept, reads)
        });
        drop(inner);
        kept.iter().for_each(|value| self.tensor(value));
        for read in reads {
            match read {
                Read::Variable(variable) => self.queue.push(Visit::Variable(variable, true)),
                Read::Leaf(leaf, value) => {
                    self.tensor(&value);
                    self.queue.push(Visit::Variable(leaf, true));
                }
                Read::Gone(block, value) => {
                    self.tensor(&value);
                    // The leaf's value is dropped, but its node's block
                    // stays allocated while a weak pointer names it.
                    if self.gone.insert(block) {
                        self.footprint.bytes += S::allocation_size::<VariableInner<S>>();
                    }
                }
            }
        }
    }
}

/// What a function reads, as the footprint's walk meets it.
enum Read<S: Strategy> {
    /// An intermediate input.
    Variable(Variable<S>),
    /// A leaf, alive, and the value the function keeps of it.
    Leaf(Variable<S>, Tensor),
    /// A leaf that is gone: the block its back-reference keeps, and the
    /// value the function keeps.
    Gone(usize, Tensor),
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
        Links::Released(Some(survivors)) => size_of_val(&**survivors),
        Links::Nullary(_) | Links::Unary(..) | Links::Binary(..) | Links::Released(None) => 0,
    });
    size_of_val(inner.op()) + inner.op().heap_size() + out_of_line
}
