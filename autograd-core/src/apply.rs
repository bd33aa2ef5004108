//! Running an op on variables, and recording it in the graph.

use autograd_mem::{Freeing, Strategy};
use smallvec::SmallVec;

use crate::function_node::{FunctionInner, Input, Links};
use crate::saved::{Bits, Planned};
use crate::variable::VariableInner;
use crate::{Error, Function, Generation, Result, Save, Tensors, Variable, is_grad_enabled};

/// Runs `op` on `inputs` and returns its outputs, linked into the graph.
///
/// The outputs' creator is a new function node holding `inputs` (see
/// [`FunctionNode`](crate::FunctionNode) for which it owns) and the outputs
/// through the strategy's back-reference, and what the op's
/// [`save`](Function::save) declared its backward reads. Inside a
/// [`no_grad`](crate::no_grad) scope no node is created and the outputs are
/// leaves; an op whose inputs are all [constants](Variable::constant) is not
/// recorded either, and its outputs are constants; an op that returns no
/// outputs records nothing.
///
/// # Errors
/// [`Error::InputCount`] or [`Error::OutputCount`] when the counts differ from
/// what the op declares, [`Error::NotSaved`] when its `save` names an input
/// or output it does not have, and whatever the op's forward returns. A
/// failed application records nothing.
pub fn apply<S: Strategy, F: Function<S>>(
    op: F,
    inputs: &[&Variable<S>],
) -> Result<Vec<Variable<S>>> {
    Ok(record(op, inputs, None)?.into_vec())
}

/// [`apply`] for an op with one output.
///
/// # Errors
/// As [`apply`]; [`Error::OutputCount`] if the op does not return exactly one
/// output.
pub fn apply_one<S: Strategy, F: Function<S>>(
    op: F,
    inputs: &[&Variable<S>],
) -> Result<Variable<S>> {
    let name = op.name();
    record(op, inputs, Some(1))?
        .into_iter()
        .next()
        .ok_or(Error::OutputCount {
            op: name,
            expected: 1,
            got: 0,
        })
}

/// The inputs' values and whether each needs a gradient, without iterator
/// machinery for the common arities (a leaf's cell is read once for both).
#[inline]
fn values<S: Strategy>(inputs: &[&Variable<S>]) -> (Tensors, Bits) {
    match inputs {
        [a] => {
            let (x, needs) = a.inner().value_and_needs();
            (x.into(), Bits::from_low(u64::from(needs)))
        }
        [a, b] => {
            let ((x, na), (y, nb)) = (a.inner().value_and_needs(), b.inner().value_and_needs());
            (
                [x, y].into(),
                Bits::from_low(u64::from(na) | u64::from(nb) << 1),
            )
        }
        _ => {
            let mut needs = Bits::default();
            let xs = (inputs.iter().enumerate())
                .map(|(i, x)| {
                    let (value, need) = x.inner().value_and_needs();
                    if need {
                        needs.set(i);
                    }
                    value
                })
                .collect();
            (xs, needs)
        }
    }
}

/// The links a function keeps of its inputs; the values move into them (a
/// leaf's value is shared with its node), and the plan packs beside them
/// when it fits.
fn links<S: Strategy>(
    inputs: &[&Variable<S>],
    mut xs: Tensors,
    plan: Planned,
    near: Option<&S::Handle<VariableInner<S>>>,
) -> Links<S> {
    match (inputs, plan) {
        ([], Planned::Packed(marks)) => Links::Nullary(marks),
        ([a], Planned::Packed(marks)) => Links::Unary(marks, [Input::new(a, xs.take(0), near)]),
        ([a, b], Planned::Packed(marks)) => Links::Binary(
            marks,
            [
                Input::new(a, xs.take(0), near),
                Input::new(b, xs.take(1), near),
            ],
        ),
        (_, Planned::Wide(plan)) => Links::general(
            inputs
                .iter()
                .zip(xs)
                .map(|(x, value)| Input::new(x, value, near)),
            plan,
        ),
        (_, Planned::Packed(_)) => unreachable!("a packed plan has at most two inputs"),
    }
}

/// Runs the op and records it; `expected` outputs, if the caller needs a
/// count (checked before anything is recorded).
fn record<S: Strategy, F: Function<S>>(
    mut op: F,
    inputs: &[&Variable<S>],
    expected: Option<usize>,
) -> Result<SmallVec<[Variable<S>; 1]>> {
    let name = op.name();
    if inputs.len() != op.num_inputs() {
        return Err(Error::InputCount {
            op: name,
            expected: op.num_inputs(),
            got: inputs.len(),
        });
    }
    let (xs, needs) = values(inputs);
    let ys = op.forward(&xs)?;
    let declared = op.num_outputs();
    let expected = expected.unwrap_or(declared);
    if ys.len() != declared || ys.len() != expected {
        return Err(Error::OutputCount {
            op: name,
            expected,
            got: ys.len(),
        });
    }
    if ys.is_empty() {
        return Ok(SmallVec::new());
    }
    if !is_grad_enabled() {
        return Ok(ys.into_iter().map(Variable::from_tensor).collect());
    }
    if !needs.any() {
        // Nothing can receive a gradient through it: constants out, no node.
        return Ok(ys.into_iter().map(Variable::constant_from_tensor).collect());
    }
    let plan = {
        let mut save = Save::new(name, &xs, &ys, needs);
        op.save(&mut save);
        save.finish()?
    };

    let generation = inputs
        .iter()
        .map(|x| x.generation())
        .max()
        .unwrap_or(Generation::LEAF);
    if S::FREEING == Freeing::WithRegion {
        return Ok(in_region(op, inputs, xs, plan, generation, ys));
    }
    let links = links(inputs, xs, plan, None);
    let function = S::new_link(FunctionInner::new(Box::new(op), links, generation));
    let mut outputs: SmallVec<[Variable<S>; 1]> = SmallVec::new();
    if ys.len() == 1 {
        // The output takes the only handle: no count to raise and drop.
        let y = ys.into_iter().next().expect("one output");
        outputs.push(Variable::with_creator(y, Some(function)));
        let output = &outputs[0];
        let inner = output.inner();
        let creator = inner.creator.as_ref().expect("just made");
        S::get_link(creator).set_outputs(std::slice::from_ref(output));
    } else {
        outputs.extend(
            ys.into_iter()
                .map(|y| Variable::with_creator(y, Some(function.clone()))),
        );
        S::get_link(&function).set_outputs(&outputs);
        drop(function);
    }
    S::maybe_collect();
    Ok(outputs)
}

/// [`record`]'s last part under a region strategy: the function and its
/// outputs go into the region [`Strategy::place`] picks from the
/// intermediate inputs (a new one if there are none), and the function is
/// held by a handle until its outputs link to it.
fn in_region<S: Strategy, F: Function<S>>(
    op: F,
    inputs: &[&Variable<S>],
    xs: Tensors,
    plan: Planned,
    generation: Generation,
    ys: Tensors,
) -> SmallVec<[Variable<S>; 1]> {
    let near = S::place(
        inputs
            .iter()
            .filter(|x| !x.inner().is_leaf())
            .map(|x| &x.node),
    );
    let links = links(inputs, xs, plan, near);
    let function = S::new_handle_near(near, FunctionInner::new(Box::new(op), links, generation));
    let outputs: SmallVec<[Variable<S>; 1]> = ys
        .into_iter()
        .map(|y| Variable {
            node: S::new_handle_near(
                Some(&function),
                VariableInner::new(y, Some(S::link(&function))),
            ),
        })
        .collect();
    S::get(&function).set_outputs(&outputs);
    outputs
}
