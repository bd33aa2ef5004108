//! [`ChainBlock`]: one block of a chain, its parameters beside it.

use std::rc::Rc;

use autograd_core::{Result, Strategy, Variable};

/// What a block computes from the chain's carried values.
pub(super) type Run<S> = dyn Fn(&[Variable<S>]) -> Result<Vec<Variable<S>>>;

/// One block of a chain: a function from the values the chain carries
/// (an activation; a recurrent layer's state) to the next ones, and the
/// leaves it reads that need a gradient (its parameters), which it may
/// capture.
///
/// ```
/// use autograd_ops::budget::ChainBlock;
/// use autograd_ops::{Variable, linear, tanh};
///
/// let w = Variable::new(ndarray::Array2::<f64>::eye(2));
/// let weight = w.clone();
/// let block = ChainBlock::new(vec![w], move |h| Ok(vec![tanh(&linear(&h[0], &weight, None)?)?]));
/// assert_eq!(block.params().len(), 1);
/// ```
pub struct ChainBlock<S: Strategy> {
    params: Vec<Variable<S>>,
    run: Rc<Run<S>>,
}

impl<S: Strategy> Clone for ChainBlock<S> {
    fn clone(&self) -> Self {
        Self {
            params: self.params.clone(),
            run: Rc::clone(&self.run),
        }
    }
}

impl<S: Strategy> std::fmt::Debug for ChainBlock<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChainBlock")
            .field("params", &self.params.len())
            .finish_non_exhaustive()
    }
}

impl<S: Strategy> ChainBlock<S> {
    /// A block reading `params` (every leaf it reads that needs a
    /// gradient) and computing `run` from the carried values.
    pub fn new<F>(params: Vec<Variable<S>>, run: F) -> Self
    where
        F: Fn(&[Variable<S>]) -> Result<Vec<Variable<S>>> + 'static,
    {
        Self {
            params,
            run: Rc::new(run),
        }
    }

    /// The block's parameters.
    pub fn params(&self) -> &[Variable<S>] {
        &self.params
    }

    /// The block on `carry`, recorded or not as the thread's mode says.
    ///
    /// # Errors
    /// What the block returns.
    pub fn forward(&self, carry: &[Variable<S>]) -> Result<Vec<Variable<S>>> {
        (self.run)(carry)
    }
}
