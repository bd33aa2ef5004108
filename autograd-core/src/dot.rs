//! Graphviz export: [`Variable::to_dot`].

use std::fmt::Write as _;

use autograd_mem::Strategy;

use crate::traversal::{Read, Step, walk};
use crate::{FunctionNode, Tensor, Variable};

/// What [`Variable::to_dot_with`] draws.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum DotStyle {
    /// What owns what, with edges from owner to owned: a variable owns its
    /// creator and a function its inputs (solid); a function's link to its
    /// output and to a leaf it reads is dashed where it is weak, and red
    /// where it is strong, so that under `StrongOnly` and the collected
    /// strategies every `y ⇄ f` cycle shows.
    #[default]
    Ownership,
    /// DeZero's picture: edges in the direction data flows, input →
    /// function → output.
    DataFlow,
}

impl<S: Strategy> Variable<S> {
    /// The graph behind this variable as Graphviz DOT text, drawing what owns
    /// what ([`DotStyle::Ownership`]).
    ///
    /// Variables are ellipses labelled with name, shape and dtype, functions
    /// are boxes labelled with the op's name. Nodes are numbered in the order
    /// a breadth-first walk from this variable meets them (`v0` is this
    /// variable), so the same graph always gives the same text. The walk uses
    /// a queue, not recursion.
    ///
    /// ```
    /// use autograd_ops::{DotStyle, Variable};
    /// let x = Variable::scalar(1.0).with_name("x");
    /// let y = (&x + &x).with_name("y");
    /// let dot = y.to_dot();
    /// assert!(dot.starts_with("digraph g {"));
    /// assert!(dot.contains(r#"v1 [label="x: () float64", shape=ellipse"#));
    /// assert!(dot.contains("v0 -> f0")); // y owns its creator
    /// assert!(y.to_dot_with(DotStyle::DataFlow).contains("v1 -> f0")); // x flows into Add
    /// ```
    pub fn to_dot(&self) -> String {
        self.to_dot_with(DotStyle::Ownership)
    }

    /// The graph as Graphviz DOT text in the given style.
    pub fn to_dot_with(&self, style: DotStyle) -> String {
        let mut out = String::from("digraph g {\n");
        let weak_back = !S::BACK_OWNS;
        let back_style = if weak_back {
            "style=dashed"
        } else {
            "color=red"
        };
        walk(self, |step| match step {
            Step::Variable { number, variable } => write_variable(&mut out, number, variable),
            Step::Creator {
                output,
                function,
                node,
                first,
            } => {
                if first {
                    write_function(&mut out, function, node);
                }
                let _ = match style {
                    DotStyle::DataFlow => writeln!(out, "f{function} -> v{output}"),
                    DotStyle::Ownership => writeln!(
                        out,
                        "v{output} -> f{function}\nf{function} -> v{output} [{back_style}, constraint=false]"
                    ),
                };
            }
            Step::Input {
                function,
                read,
                owned,
                constant,
                value,
            } => {
                let target = match read {
                    Read::Live(number) => format!("v{number}"),
                    Read::Gone { number, first } => {
                        if first {
                            let _ = match (constant, value) {
                                // A constant an op made for itself (the 1
                                // in 1 - y²), gone once the op read it.
                                (true, Some(value)) => writeln!(
                                    out,
                                    "g{number} [label=\"{}\", shape=plaintext]",
                                    constant_label(&value)
                                ),
                                _ => writeln!(
                                    out,
                                    "g{number} [label=\"(a leaf that is gone)\", shape=ellipse, style=dotted]"
                                ),
                            };
                        }
                        format!("g{number}")
                    }
                };
                let _ = match (style, owned) {
                    (DotStyle::DataFlow, _) => writeln!(out, "{target} -> f{function}"),
                    (DotStyle::Ownership, true) => writeln!(out, "f{function} -> {target}"),
                    (DotStyle::Ownership, false) => {
                        writeln!(out, "f{function} -> {target} [style=dashed]")
                    }
                };
            }
        });
        out.push_str("}\n");
        out
    }
}

fn write_variable<S: Strategy>(out: &mut String, id: usize, variable: &Variable<S>) {
    let shape = match variable.shape().as_slice() {
        [] => "()".to_string(),
        [n] => format!("({n},)"),
        dims => format!("{dims:?}").replace('[', "(").replace(']', ")"),
    };
    let constant = if variable.requires_grad() {
        ""
    } else {
        " constant"
    };
    let label = match variable.name() {
        Some(name) => format!("{}: {shape} float64{constant}", escape(&name)),
        None => format!("{shape} float64{constant}"),
    };
    let _ = writeln!(
        out,
        "v{id} [label=\"{label}\", shape=ellipse, color=orange, style=filled]"
    );
}

/// A function that has let go of its links (released by a backward pass
/// with `retain_graph(false)`, or cut by `unchain`) shows as its op's name
/// with "(released)", and no edges to inputs.
fn write_function<S: Strategy>(out: &mut String, id: usize, function: &FunctionNode<S>) {
    let released = if function.is_released() {
        " (released)"
    } else {
        ""
    };
    let _ = writeln!(
        out,
        "f{id} [label=\"{}{released}\", shape=box, color=lightblue, style=filled]",
        escape(function.name())
    );
}

/// A constant's label: its value if it has one element, else its shape.
fn constant_label(value: &Tensor) -> String {
    match value.item() {
        Some(v) => format!("{v}"),
        None => format!("constant {:?}", value.shape()),
    }
}

/// Escapes a label for a DOT double-quoted string.
fn escape(text: &str) -> String {
    text.replace('\\', "\\\\").replace('"', "\\\"")
}

#[cfg(test)]
mod tests {
    use autograd_mem::RcWeak;

    use crate::Variable;
    use crate::arith::add;

    #[test]
    fn a_gone_leaf_read_three_times_is_one_node() {
        // Issue 14, defect 11: each read drew a node of its own.
        let y = {
            let x = Variable::<RcWeak>::from_scalar(2.0);
            add(&add(&x, &x).unwrap(), &x).unwrap()
        };
        let dot = y.to_dot();
        assert_eq!(dot.matches("(a leaf that is gone)").count(), 1, "{dot}");
        assert_eq!(dot.matches("-> g0 [style=dashed]").count(), 3, "{dot}");
        // Two leaves that are gone are two nodes.
        let z = {
            let (a, b) = (
                Variable::<RcWeak>::from_scalar(1.0),
                Variable::from_scalar(2.0),
            );
            add(&a, &b).unwrap()
        };
        assert_eq!(z.to_dot().matches("(a leaf that is gone)").count(), 2);
    }

    #[test]
    fn a_constant_an_op_made_is_drawn_as_its_value() {
        // Issue 34: the 1 in 1 − y² was drawn as a leaf that is gone.
        let x = Variable::<RcWeak>::from_scalar(0.5);
        let y = crate::arith::sub(
            &Variable::constant_from_tensor(crate::Tensor::scalar(1.0)),
            &x,
        )
        .unwrap();
        let dot = y.to_dot();
        assert!(dot.contains("[label=\"1\", shape=plaintext]"), "{dot}");
        assert!(!dot.contains("(a leaf that is gone)"), "{dot}");
    }
}
