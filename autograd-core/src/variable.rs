//! [`Variable`]: a handle to a value in the graph.

use std::fmt;

use autograd_mem::{DefaultStrategy, Strategy};
use ndarray::{Array, ArrayD, Dimension, IxDyn};

use crate::node::VariableInner;
use crate::{FunctionNode, Generation, SharedArray};

/// A value in a computational graph: an `f64` array of any dimension, its
/// gradient, and the function that created it.
///
/// A `Variable` is a cheap handle: cloning it clones a pointer to the node,
/// never the array. The strategy `S` decides how nodes own each other (see
/// [`autograd_mem`]); without a type parameter it is the
/// [`DefaultStrategy`] chosen by cargo features.
///
/// ```
/// use autograd_core::Variable;
/// use ndarray::array;
///
/// let x = Variable::new(array![1.0, 2.0, 3.0]).with_name("x");
/// assert_eq!(x.shape(), vec![3]);
/// assert!(x.is_leaf() && x.grad().is_none());
/// x.backward()?; // the gradient of a leaf with respect to itself
/// assert_eq!(x.grad().unwrap(), array![1.0, 1.0, 1.0].into_dyn());
/// # Ok::<(), autograd_core::Error>(())
/// ```
///
/// Under [`ArcWeak`](autograd_mem::ArcWeak) a variable is `Send + Sync`; under
/// [`RcWeak`](autograd_mem::RcWeak) it cannot leave its thread:
///
/// ```compile_fail
/// fn assert_send<T: Send>() {}
/// assert_send::<autograd_core::Variable<autograd_core::RcWeak>>();
/// ```
pub struct Variable<S: Strategy = DefaultStrategy> {
    pub(crate) node: S::Strong<VariableInner<S>>,
}

impl Variable {
    /// A new leaf under the [`DefaultStrategy`] holding `data`.
    pub fn new<D: Dimension>(data: Array<f64, D>) -> Self {
        Self::from_array(data)
    }

    /// A new 0-dimensional leaf under the [`DefaultStrategy`].
    pub fn scalar(value: f64) -> Self {
        Self::from_scalar(value)
    }
}

impl<S: Strategy> Variable<S> {
    /// A new leaf holding `data`, under strategy `S`: `Variable::<ArcWeak>::from_array(a)`.
    pub fn from_array<D: Dimension>(data: Array<f64, D>) -> Self {
        Self::from_shared(data.into_dyn().into_shared(), None)
    }

    /// A new 0-dimensional leaf under strategy `S`.
    pub fn from_scalar(value: f64) -> Self {
        Self::from_array(ndarray::arr0(value))
    }

    pub(crate) fn from_shared(
        data: SharedArray,
        creator: Option<S::Strong<crate::node::FunctionInner<S>>>,
    ) -> Self {
        let generation = creator
            .as_ref()
            .map_or(Generation::LEAF, |f| f.generation.next());
        Variable {
            node: S::new_strong(VariableInner::new(data, creator, generation)),
        }
    }

    /// Names the variable (shown by `Debug` and graph exports) and returns it.
    pub fn with_name(self, name: impl Into<String>) -> Self {
        self.set_name(name);
        self
    }

    /// Names the variable.
    pub fn set_name(&self, name: impl Into<String>) {
        let name = name.into();
        S::write(&self.node.state, |s| s.name = Some(name));
    }

    /// The variable's name, if it has one.
    pub fn name(&self) -> Option<String> {
        S::read(&self.node.state, |s| s.name.clone())
    }

    /// The value. Cheap: the returned array shares the variable's buffer.
    pub fn data(&self) -> SharedArray {
        S::read(&self.node.state, |s| s.data.clone())
    }

    /// The value of a one-element variable, or `None` for any other size.
    pub fn item(&self) -> Option<f64> {
        S::read(&self.node.state, |s| {
            (s.data.len() == 1).then(|| s.data.iter().copied().next().unwrap_or_default())
        })
    }

    /// Replaces the value with one of the same shape (what an optimizer
    /// step does).
    ///
    /// Shapes in a graph never change, so every shape checked when an op ran
    /// still holds when backward runs. Ops that read their inputs during
    /// backward see the new value (`Exp` uses the output it computed), so
    /// update parameters after backward, as a training step does.
    ///
    /// # Errors
    /// [`Error::SetDataShape`](crate::Error::SetDataShape) when `data` has
    /// another shape; the variable keeps its value.
    pub fn set_data<D: Dimension>(&self, data: Array<f64, D>) -> crate::Result<()> {
        let data = data.into_dyn().into_shared();
        S::write(&self.node.state, |s| {
            if s.data.shape() != data.shape() {
                return Err(crate::Error::SetDataShape {
                    expected: s.data.shape().to_vec(),
                    got: data.shape().to_vec(),
                });
            }
            s.data = data;
            Ok(())
        })
    }

    /// The value's shape.
    pub fn shape(&self) -> Vec<usize> {
        S::read(&self.node.state, |s| s.data.shape().to_vec())
    }

    pub(crate) fn dim(&self) -> IxDyn {
        S::read(&self.node.state, |s| s.data.raw_dim())
    }

    /// The number of axes.
    pub fn ndim(&self) -> usize {
        S::read(&self.node.state, |s| s.data.ndim())
    }

    /// The number of elements.
    pub fn len(&self) -> usize {
        S::read(&self.node.state, |s| s.data.len())
    }

    /// `true` if the value has no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The gradient accumulated by [`backward`](Variable::backward), if any.
    ///
    /// Leaves always receive theirs; other variables only when backward was
    /// asked to retain intermediate gradients.
    pub fn grad(&self) -> Option<ArrayD<f64>> {
        S::read(&self.node.state, |s| s.grad.as_deref().cloned())
    }

    /// Forgets the gradient, so that the next backward starts from zero.
    pub fn cleargrad(&self) {
        S::write(&self.node.state, |s| s.grad = None);
    }

    /// The function that created this variable; `None` for a leaf.
    pub fn creator(&self) -> Option<FunctionNode<S>> {
        self.node.creator.clone().map(FunctionNode::from_inner)
    }

    /// `true` if no function created this variable.
    pub fn is_leaf(&self) -> bool {
        self.node.creator.is_none()
    }

    /// The variable's [`Generation`]: 0 for a leaf, its creator's plus one otherwise.
    pub fn generation(&self) -> Generation {
        self.node.generation
    }

    /// A new leaf that shares this variable's value but not its graph.
    pub fn detach(&self) -> Self {
        Self::from_shared(self.data(), None)
    }

    /// `true` if both handles point at the same node.
    pub fn ptr_eq(&self, other: &Self) -> bool {
        self.id() == other.id()
    }

    /// The node's identity while it is alive (its address).
    pub(crate) fn id(&self) -> usize {
        S::addr(&self.node)
    }
}

impl<S: Strategy> Clone for Variable<S> {
    fn clone(&self) -> Self {
        Variable {
            node: self.node.clone(),
        }
    }
}

impl<S: Strategy, D: Dimension> From<Array<f64, D>> for Variable<S> {
    fn from(data: Array<f64, D>) -> Self {
        Self::from_array(data)
    }
}

/// Shows this node only: never walks the graph (a derived `Debug` would
/// recurse through creators, and loop forever on a `StrongOnly` cycle).
impl<S: Strategy> fmt::Debug for Variable<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let creator = self.node.creator.as_ref().map(|c| c.op.name());
        S::read(&self.node.state, |s| {
            f.debug_struct("Variable")
                .field("name", &s.name)
                .field("data", &s.data)
                .field("grad", &s.grad)
                .field("creator", &creator)
                .field("generation", &self.node.generation.0)
                .field("strategy", &S::NAME)
                .finish()
        })
    }
}
