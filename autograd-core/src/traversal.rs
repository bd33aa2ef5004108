//! The one walk over a graph that is not backward: breadth-first from a
//! variable through creators and their inputs, with a queue, never recursion.
//! [`graph_footprint`](crate::Variable::graph_footprint) and
//! [`to_dot`](crate::Variable::to_dot) are built on it.

use std::collections::{HashMap, VecDeque};

use autograd_mem::Strategy;

use crate::function_node::Input;
use crate::{FunctionNode, Tensor, Variable};

/// What a walk meets, in breadth-first order. Variables and functions are
/// numbered in the order they are first met; the root is variable 0.
pub(crate) enum Step<'a, S: Strategy> {
    /// A variable met for the first time.
    Variable {
        number: usize,
        variable: &'a Variable<S>,
    },
    /// Variable `output` was created by function `function`; `first` on the
    /// function's first visit (its inputs follow).
    Creator {
        output: usize,
        function: usize,
        node: &'a FunctionNode<S>,
        first: bool,
    },
    /// Function `function` reads a variable or a leaf that is gone.
    /// `owned`: whether the function owns it; `constant`: whether it is an
    /// input that needs no gradient (a constant, as the function recorded
    /// it); `value`: the value the function keeps of a leaf it reads.
    Input {
        function: usize,
        read: Read,
        owned: bool,
        constant: bool,
        value: Option<Tensor>,
    },
}

/// What a function reads.
#[derive(Clone, Copy)]
pub(crate) enum Read {
    /// A live variable, by its number.
    Live(usize),
    /// A leaf that is gone, numbered apart from the live variables: one
    /// number per leaf however many functions read it; `first` on the first.
    Gone { number: usize, first: bool },
}

/// Walks the graph behind `root`, calling `visit` at every step.
pub(crate) fn walk<S: Strategy>(root: &Variable<S>, mut visit: impl FnMut(Step<'_, S>)) {
    let mut variables: HashMap<usize, usize> = HashMap::new();
    let mut functions: HashMap<usize, usize> = HashMap::new();
    let mut gone: HashMap<usize, usize> = HashMap::new();
    let mut queue = VecDeque::new();
    variables.insert(root.id(), 0);
    visit(Step::Variable {
        number: 0,
        variable: root,
    });
    queue.push_back((0, root.clone()));
    while let Some((output, variable)) = queue.pop_front() {
        let Some(node) = variable.creator() else {
            continue;
        };
        let next = functions.len();
        let function = *functions.entry(node.id()).or_insert(next);
        let first = function == next;
        visit(Step::Creator {
            output,
            function,
            node: &node,
            first,
        });
        if !first {
            continue;
        }
        // Read under the cell, visited outside it (a visit reads the
        // function again).
        let inputs: Vec<_> = S::get(&node.inner).linked(|f| {
            let needs = f.recorded_needs();
            (f.inputs().iter().enumerate())
                .map(|(i, input)| {
                    let value = matches!(input, Input::Leaf(..)).then(|| input.value());
                    let constant = !needs.get(i);
                    (
                        input.is_owned(),
                        input.variable(),
                        input.id(),
                        constant,
                        value,
                    )
                })
                .collect()
        });
        for (owned, x, id, constant, value) in inputs {
            let Some(x) = x else {
                // A gone leaf's node is freed, but the function's link to it
                // still names it (a weak pointer keeps its address).
                let next = gone.len();
                let number = *gone.entry(id).or_insert(next);
                visit(Step::Input {
                    function,
                    read: Read::Gone {
                        number,
                        first: number == next,
                    },
                    owned,
                    constant,
                    value,
                });
                continue;
            };
            let next = variables.len();
            let number = *variables.entry(x.id()).or_insert(next);
            if number == next {
                visit(Step::Variable {
                    number,
                    variable: &x,
                });
                queue.push_back((number, x.clone()));
            }
            visit(Step::Input {
                function,
                read: Read::Live(number),
                owned,
                constant,
                value,
            });
        }
    }
}
