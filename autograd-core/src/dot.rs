//! Graphviz export: [`Variable::to_dot`].

use std::fmt::Write as _;

use autograd_mem::{Freeing, Strategy};

use crate::traversal::{Step, walk};
use crate::{FunctionNode, Variable};

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
    /// use autograd_core::{DotStyle, Variable};
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
        let weak_back = S::FREEING == Freeing::OnDrop;
        let back_style = if weak_back {
            "style=dashed"
        } else {
            "color=red"
        };
        let mut gone = 0;
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
                variable,
                owned,
                ..
            } => {
                let target = match variable {
                    Some(number) => format!("v{number}"),
                    None => {
                        gone += 1;
                        let _ = writeln!(
                            out,
                            "g{gone} [label=\"(a leaf that is gone)\", shape=ellipse, style=dotted]"
                        );
                        format!("g{gone}")
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
    let label = match variable.name() {
        Some(name) => format!("{}: {shape} float64", escape(&name)),
        None => format!("{shape} float64"),
    };
    let _ = writeln!(
        out,
        "v{id} [label=\"{label}\", shape=ellipse, color=orange, style=filled]"
    );
}

fn write_function<S: Strategy>(out: &mut String, id: usize, function: &FunctionNode<S>) {
    let _ = writeln!(
        out,
        "f{id} [label=\"{}\", shape=box, color=lightblue, style=filled]",
        escape(function.name())
    );
}

/// Escapes a label for a DOT double-quoted string.
fn escape(text: &str) -> String {
    text.replace('\\', "\\\\").replace('"', "\\\"")
}
