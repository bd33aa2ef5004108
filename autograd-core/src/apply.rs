//! Running an op on variables, and recording it in the graph.

use autograd_mem::{Collector, Placement, Strategy};
use smallvec::SmallVec;

use crate::function_node::{FunctionInner, Input, Links, Site};
use crate::generation::Order;
use crate::plan::{Bits, Planned};
use crate::variable::{Reading, VariableInner};
use crate::{
    Error, Function, Generation, Result, Save, Tensor, Tensors, Variable, is_grad_enabled,
};

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

/// What recording reads of its inputs, in one read of each node, without
/// iterator machinery for the common arities: their values, which need a
/// gradient, which are leaves, and the largest order and generation among
/// their creators.
struct Read {
    xs: Tensors,
    needs: Bits,
    leaves: Bits,
    order: Order,
    generation: Generation,
}

#[inline]
fn read<S: Strategy>(inputs: &[&Variable<S>]) -> Read {
    let mut order = Order::LEAF;
    let mut generation = Generation::LEAF;
    let mut one = |reading: Reading, i: u32, needs: &mut u64, leaves: &mut u64| {
        *needs |= u64::from(reading.needs) << i;
        match reading.creator {
            Some((o, g)) => {
                order = order.max(o);
                generation = generation.max(g.next());
            }
            None => *leaves |= 1 << i,
        }
        reading.value
    };
    let (mut needs, mut leaves) = (0, 0);
    match inputs {
        [a] => {
            let x = one(a.inner().reading(), 0, &mut needs, &mut leaves);
            Read {
                xs: x.into(),
                needs: Bits::from_low(needs),
                leaves: Bits::from_low(leaves),
                order,
                generation,
            }
        }
        [a, b] => {
            let x = one(a.inner().reading(), 0, &mut needs, &mut leaves);
            let y = one(b.inner().reading(), 1, &mut needs, &mut leaves);
            Read {
                xs: [x, y].into(),
                needs: Bits::from_low(needs),
                leaves: Bits::from_low(leaves),
                order,
                generation,
            }
        }
        _ => {
            let (mut needs, mut leaves) = (Bits::default(), Bits::default());
            let xs = (inputs.iter().enumerate())
                .map(|(i, x)| {
                    let reading = x.inner().reading();
                    if reading.needs {
                        needs.set(i);
                    }
                    match reading.creator {
                        Some((o, g)) => {
                            order = order.max(o);
                            generation = generation.max(g.next());
                        }
                        None => leaves.set(i),
                    }
                    reading.value
                })
                .collect();
            Read {
                xs,
                needs,
                leaves,
                order,
                generation,
            }
        }
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
    let Read {
        xs,
        needs,
        leaves,
        order,
        generation,
    } = read(inputs);
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

    let site = <S::Placement as Placement<S>>::site(
        (inputs.iter().enumerate())
            .filter(|&(i, _)| !leaves.get(i))
            .map(|(_, x)| &x.node),
    );
    let links = links(inputs, xs, &leaves, plan, &site);
    let inner = FunctionInner::new(Box::new(op), links, order.next(), generation);
    let function = <S::Placement as Placement<S>>::new_function(site, inner);
    let output = |y: Tensor| Variable {
        node: <S::Placement as Placement<S>>::new_output(&function, |creator| {
            VariableInner::new(y, Some(creator))
        }),
    };
    let outputs: SmallVec<[Variable<S>; 1]> = if ys.len() == 1 {
        smallvec::smallvec![output(ys.into_iter().next().expect("one output"))]
    } else {
        ys.into_iter().map(output).collect()
    };
    S::get(&function).set_outputs(&outputs);
    drop(function);
    S::Collector::maybe_collect();
    Ok(outputs)
}
