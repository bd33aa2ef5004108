//! Running an op on variables, and recording it in the graph.

use crate::node::{FunctionInner, OutputSlot};
use crate::{Error, Function, Result, SharedArray, Variable, is_grad_enabled};
use autograd_mem::Strategy;

/// Runs `op` on `inputs` and returns its outputs, linked into the graph.
///
/// The outputs' creator is a new function node holding `inputs` strongly and
/// the outputs through the strategy's back-reference. Inside a
/// [`no_grad`](crate::no_grad) scope no node is created and the outputs are leaves.
///
/// # Errors
/// [`Error::InputCount`] or [`Error::OutputCount`] when the counts differ from
/// what the op declares, and whatever the op's forward returns.
pub fn apply<S: Strategy, F: Function>(
    mut op: F,
    inputs: &[&Variable<S>],
) -> Result<Vec<Variable<S>>> {
    if inputs.len() != op.num_inputs() {
        return Err(Error::InputCount {
            op: op.name(),
            expected: op.num_inputs(),
            got: inputs.len(),
        });
    }
    let values: Vec<SharedArray> = inputs.iter().map(|x| x.data()).collect();
    let ys = op.forward(&values)?;
    if ys.len() != op.num_outputs() {
        return Err(Error::OutputCount {
            op: op.name(),
            expected: op.num_outputs(),
            got: ys.len(),
        });
    }
    if !is_grad_enabled() {
        return Ok(ys
            .into_iter()
            .map(|y| Variable::from_shared(y, None))
            .collect());
    }

    let inputs = inputs.iter().map(|&x| x.clone()).collect();
    let node = S::new_strong(FunctionInner::new(Box::new(op), inputs));
    let outputs: Vec<Variable<S>> = ys
        .into_iter()
        .map(|y| Variable::from_shared(y, Some(node.clone())))
        .collect();
    // Collected, not pushed: an exact-size collect allocates exactly one slot
    // per output (pushing into an empty `Vec` reserves four).
    let several = outputs.len() > 1;
    let slots = outputs
        .iter()
        .map(|y| OutputSlot {
            variable: S::back(&y.node),
            shape: several.then(|| y.shape().into_boxed_slice()),
        })
        .collect();
    S::write(&node.outputs, |outputs| *outputs = slots);
    Ok(outputs)
}

/// [`apply`] for an op with one output.
///
/// # Errors
/// As [`apply`]; [`Error::OutputCount`] if the op declares more than one output.
pub fn apply_one<S: Strategy, F: Function>(op: F, inputs: &[&Variable<S>]) -> Result<Variable<S>> {
    if op.num_outputs() != 1 {
        return Err(Error::OutputCount {
            op: op.name(),
            expected: 1,
            got: op.num_outputs(),
        });
    }
    let mut outputs = apply(op, inputs)?;
    Ok(outputs.swap_remove(0))
}
