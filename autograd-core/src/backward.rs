//! The generation-sorted backward pass.
//!
//! The seed (DeZero step 17) keeps a list of pending functions, re-sorts it by
//! generation on every insert and pops the last. The same order comes from a
//! max-heap keyed by `(generation, creation order)`, and a set of visited
//! function nodes keeps each function from running twice.
//!
//! Gradients live in a buffer owned by the call, keyed by variable node. Those
//! that meet at a variable are summed in place. An intermediate gradient is
//! removed from the buffer when its creator runs and handed to the op by value
//! (an op may compute its input gradients in that same buffer); what remains at
//! the end belongs to leaves. Nothing is written to any variable until every
//! function has run, so a failed backward changes no gradient.

use std::cmp::Ordering;
use std::collections::hash_map::Entry;
use std::collections::{BinaryHeap, HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};

use autograd_mem::Strategy;
use ndarray::{ArrayD, Dimension};

use crate::node::FunctionInner;
use crate::{Error, Result, Shape, SharedArray, Variable};

/// How to run [`Variable::backward_with`].
#[derive(Debug, Clone, Default)]
pub struct BackwardOptions {
    /// The gradient of the output; ones of its shape when `None`.
    pub grad: Option<ArrayD<f64>>,
    /// Also store gradients on intermediate variables (DeZero step 17's
    /// behaviour; `retain_grad` in PyTorch). Off by default: intermediate
    /// gradients are freed as soon as they have been passed on.
    pub retain_grad: bool,
}

impl BackwardOptions {
    /// Starts backward from `grad` instead of ones.
    pub fn with_grad(mut self, grad: ArrayD<f64>) -> Self {
        self.grad = Some(grad);
        self
    }

    /// Keeps intermediate gradients on their variables.
    pub fn retain_grad(mut self, retain: bool) -> Self {
        self.retain_grad = retain;
        self
    }
}

impl<S: Strategy> Variable<S> {
    /// Computes the gradient of this variable with respect to every leaf of its
    /// graph, starting from ones, and adds it to the leaves' `grad`.
    ///
    /// Calling it twice adds the gradients twice, as in PyTorch; call
    /// [`cleargrad`](Variable::cleargrad) in between to start over. (The
    /// seed's step-17 code would also feed the intermediate gradients it kept
    /// from the first call into the second; here every call starts afresh.)
    ///
    /// # Errors
    /// Whatever an op's backward returns, and [`Error::GradientCount`] or
    /// [`Error::GradientShape`] when an op returns the wrong gradients. On
    /// error no gradient is changed.
    pub fn backward(&self) -> Result<()> {
        self.backward_with(BackwardOptions::default())
    }

    /// [`backward`](Variable::backward) with a given output gradient or
    /// retained intermediate gradients.
    ///
    /// # Errors
    /// As [`backward`](Variable::backward), and [`Error::SeedShape`] when the
    /// given gradient's shape is not this variable's.
    pub fn backward_with(&self, options: BackwardOptions) -> Result<()> {
        let shape = self.dim();
        let seed = match options.grad {
            Some(grad) if grad.raw_dim() != shape => {
                return Err(Error::SeedShape {
                    expected: shape.slice().to_vec(),
                    got: grad.shape().to_vec(),
                });
            }
            Some(grad) => grad,
            None => ArrayD::ones(shape),
        };
        let mut pass = Pass::new(options.retain_grad);
        pass.add_gradient(self, seed);
        while let Some(Pending(function)) = pass.pending.pop() {
            pass.run(&function)?;
        }
        pass.store();
        Ok(())
    }
}

/// One backward call's state.
struct Pass<S: Strategy> {
    retain_grad: bool,
    /// Gradients not yet passed on, by variable node.
    grads: HashMap<usize, (Variable<S>, ArrayD<f64>), NodeIds>,
    pending: BinaryHeap<Pending<S>>,
    visited: HashSet<usize, NodeIds>,
    /// Intermediate gradients to store at the end, when retaining.
    retained: Vec<(Variable<S>, ArrayD<f64>)>,
    /// Scratch: the current function's outputs, upgraded.
    outputs: Vec<(Option<Variable<S>>, Option<Shape>)>,
}

impl<S: Strategy> Pass<S> {
    fn new(retain_grad: bool) -> Self {
        Pass {
            retain_grad,
            grads: HashMap::default(),
            pending: BinaryHeap::new(),
            visited: HashSet::default(),
            retained: Vec::new(),
            outputs: Vec::new(),
        }
    }

    /// Adds `grad` to what `variable` has received, and schedules its creator.
    fn add_gradient(&mut self, variable: &Variable<S>, grad: ArrayD<f64>) {
        match self.grads.entry(variable.id()) {
            Entry::Occupied(mut entry) => entry.get_mut().1 += &grad,
            Entry::Vacant(entry) => {
                entry.insert((variable.clone(), grad));
            }
        }
        if let Some(creator) = &variable.node.creator {
            if self.visited.insert(S::addr(creator)) {
                self.pending.push(Pending(creator.clone()));
            }
        }
    }

    /// Runs one function's backward and passes the gradients to its inputs.
    fn run(&mut self, function: &FunctionInner<S>) -> Result<()> {
        let gys = self.take_output_grads(function);
        let xs: Vec<SharedArray> = function.inputs.iter().map(Variable::data).collect();
        let op = function.op.name();
        let gxs = function.op.backward(&xs, gys)?;
        if gxs.len() != xs.len() {
            return Err(Error::GradientCount {
                op,
                expected: xs.len(),
                got: gxs.len(),
            });
        }
        for (index, (x, gx)) in xs.iter().zip(&gxs).enumerate() {
            if x.shape() != gx.shape() {
                return Err(Error::GradientShape {
                    op,
                    index,
                    expected: x.shape().to_vec(),
                    got: gx.shape().to_vec(),
                });
            }
        }
        for (x, gx) in function.inputs.iter().zip(gxs) {
            self.add_gradient(x, gx);
        }
        Ok(())
    }

    /// Removes the outputs' gradients from the buffer: zeros for an output
    /// that received none or is gone (and, when retaining, keeps a copy of
    /// each one that arrived).
    fn take_output_grads(&mut self, function: &FunctionInner<S>) -> Vec<ArrayD<f64>> {
        // Upgrade under the slots' cell, then release it before touching any
        // variable: no two cells are ever held at once.
        // The scratch buffer is reused across functions: no allocation per op.
        let mut outputs = std::mem::take(&mut self.outputs);
        S::read(&function.outputs, |slots| {
            outputs.extend(slots.iter().map(|slot| {
                let output = S::upgrade(&slot.variable).map(|node| Variable { node });
                (output, slot.shape.as_deref().map(<[usize]>::to_vec))
            }));
        });
        let gys = outputs
            .drain(..)
            .map(|(output, shape)| {
                let Some(output) = output else {
                    debug_assert!(shape.is_some(), "a sole output is alive here");
                    return ArrayD::zeros(shape.as_deref().unwrap_or_default());
                };
                match self.grads.remove(&output.id()) {
                    Some((_, grad)) => {
                        if self.retain_grad {
                            self.retained.push((output, grad.clone()));
                        }
                        grad
                    }
                    None => ArrayD::zeros(output.dim()),
                }
            })
            .collect();
        self.outputs = outputs;
        gys
    }

    /// Adds the leaves' (and retained) gradients to the variables. Cannot
    /// fail: every gradient has its variable's shape, and shapes never change.
    fn store(self) {
        for (variable, grad) in self.grads.into_values().chain(self.retained) {
            S::write(&variable.node.state, |s| match &mut s.grad {
                Some(stored) => **stored += &grad,
                stored => *stored = Some(Box::new(grad)),
            });
        }
    }
}

/// A scheduled function, ordered by generation, then by creation order.
struct Pending<S: Strategy>(S::Strong<FunctionInner<S>>);

impl<S: Strategy> Pending<S> {
    fn key(&self) -> (crate::Generation, u64) {
        (self.0.generation, self.0.seq)
    }
}

impl<S: Strategy> PartialEq for Pending<S> {
    fn eq(&self, other: &Self) -> bool {
        self.key() == other.key()
    }
}

impl<S: Strategy> Eq for Pending<S> {}

impl<S: Strategy> PartialOrd for Pending<S> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl<S: Strategy> Ord for Pending<S> {
    fn cmp(&self, other: &Self) -> Ordering {
        self.key().cmp(&other.key())
    }
}

/// Hashes node addresses: one multiply, high bits folded down (addresses are
/// aligned, so their low bits carry nothing). SipHash would resist crafted
/// keys, which node addresses are not, at several times the cost.
type NodeIds = BuildHasherDefault<NodeIdHasher>;

#[derive(Default)]
struct NodeIdHasher(u64);

impl Hasher for NodeIdHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.write_u64(u64::from(byte));
        }
    }

    fn write_u64(&mut self, n: u64) {
        let h = (self.0 ^ n).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        self.0 = h ^ (h >> 32);
    }

    fn write_usize(&mut self, n: usize) {
        self.write_u64(n as u64);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}
