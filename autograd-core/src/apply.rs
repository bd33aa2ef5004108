//! Running an op on variables, and recording it in the graph.

use autograd_mem::{Collector, Placement, Strategy};
use smallvec::SmallVec;

use crate::function_node::{FunctionInner, Input, Links, Site};
use crate::generation::Order;
use crate::plan::{Bits, Planned};
use crate::variable::{Reading, VariableInner};
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

/// What recording reads of each input, in one read of each node, without
/// iterator machinery for the common arities.
#[inline]
fn readings<S: Strategy>(inputs: &[&Variable<S>]) -> SmallVec<[Reading; 2]> {
    match inputs {
        [a] => smallvec::smallvec![a.inner().reading()],
        [a, b] => smallvec::smallvec![a.inner().reading(), b.inner().reading()],
        _ => inputs.iter().map(|x| x.inner().reading()).collect(),
    }
}

/// The links a function keeps of its inputs; the leaves' values move into
/// them (shared with the leaf's node), and the plan packs beside them when
/// it fits.
fn links<S: Strategy>(
    inputs: &[&Variable<S>],
    xs: Tensors,
    leaves: &Bits,
    plan: Planned,
    site: &Site<S>,
) -> Links<S> {
    let mut xs = xs.into_iter().enumerate();
    let mut next = |x: &Variable<S>| {
        let (i, value) = xs.next().expect("one value per input");
        Input::new(x, value, leaves.get(i), site)
    };
    match (inputs, plan) {
        ([], Planned::Packed(marks)) => Links::Nullary(marks),
        ([a], Planned::Packed(marks)) => Links::Unary(marks, [next(a)]),
        ([a, b], Planned::Packed(marks)) => {
            let a = next(a);
            Links::Binary(marks, [a, next(b)])
        }
        (_, Planned::Wide(plan)) => Links::general(inputs.iter().map(|x| next(x)), plan),
        (_, Planned::Packed(_)) => unreachable!("a packed plan has at most two inputs"),
    }
}

/// Runs the op and records it; `expected` outputs, if the caller needs a
/// count (checked before anything is recorded).
///
/// One path for every strategy: the strategy's [`Placement`] says where
/// the function and its outputs go (their own allocations, or a region)
/// and how each intermediate input is linked.
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
    let mut readings = readings(inputs);
    let xs: Tensors = readings
        .iter_mut()
        .map(|r| std::mem::take(&mut r.value))
        .collect();
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
    let mut needs = Bits::default();
    let mut leaves = Bits::default();
    for (i, reading) in readings.iter().enumerate() {
        if reading.needs {
            needs.set(i);
        }
        if reading.creator.is_none() {
            leaves.set(i);
        }
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

    let (order, generation) = readings.iter().filter_map(|r| r.creator).fold(
        (Order::LEAF, Generation::LEAF),
        |(o, g), (order, generation)| (o.max(order), g.max(generation.next())),
    );
    let site = <S::Placement as Placement<S>>::site(
        inputs
            .iter()
            .zip(&readings)
            .filter(|(_, r)| r.creator.is_some())
            .map(|(x, _)| &x.node),
    );
    let links = links(inputs, xs, &leaves, plan, &site);
    let inner = FunctionInner::new(Box::new(op), links, order.next(), generation);
    let function = <S::Placement as Placement<S>>::new_function(site, inner);
    let mut outputs: SmallVec<[Variable<S>; 1]> = SmallVec::new();
    if ys.len() == 1 {
        // The output takes the only handle: no count to raise and drop.
        let y = ys.into_iter().next().expect("one output");
        let node = <S::Placement as Placement<S>>::new_output(function, |creator| {
            VariableInner::new(y, Some(creator))
        });
        outputs.push(Variable { node });
        let output = &outputs[0];
        let creator = output.inner().creator().expect("just made");
        S::get_link(&creator).set_outputs(std::slice::from_ref(output));
    } else {
        for y in ys {
            let node = <S::Placement as Placement<S>>::new_output(function.clone(), |creator| {
                VariableInner::new(y, Some(creator))
            });
            outputs.push(Variable { node });
        }
        S::get(&function).set_outputs(&outputs);
    }
    S::Collector::maybe_collect();
    Ok(outputs)
}
