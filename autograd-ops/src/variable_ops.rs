//! [`VariableOps`]: the ops as methods on [`Variable`].

use autograd_core::{Result, Strategy, Variable};

/// Method sugar for the ops. Each panics where its free function would return
/// an error, like ndarray's operators; the `try_` twin returns the error.
pub trait VariableOps: Sized {
    /// `self²`; see [`square`](crate::square).
    fn square(&self) -> Self;

    /// `self²`, as a `Result`.
    ///
    /// # Errors
    /// As [`square`](crate::square).
    fn try_square(&self) -> Result<Self>;
}

impl<S: Strategy> VariableOps for Variable<S> {
    fn square(&self) -> Self {
        self.try_square().unwrap_or_else(|err| panic!("{err}"))
    }

    fn try_square(&self) -> Result<Self> {
        crate::square(self)
    }
}
