//! Graphviz export: [`Variable::to_dot`].

use std::collections::HashMap;
use std::fmt::Write as _;

use autograd_mem::Strategy;

use crate::{FunctionNode, Variable};

impl<S: Strategy> Variable<S> {
    /// The graph behind this variable as Graphviz DOT text: variables as
    /// ellipses labelled with name, shape and dtype, functions as boxes
    /// labelled with the op's name, edges in the direction data flows.
    ///
    /// Nodes are numbered in the order a breadth-first walk from this
    /// variable meets them (`v0` is this variable), so the same graph always
    /// gives the same text. The walk uses a queue, not recursion.
    ///
    /// ```
    /// use autograd_core::Variable;
    /// let x = Variable::scalar(1.0).with_name("x");
    /// let y = (&x + &x).with_name("y");
    /// let dot = y.to_dot();
    /// assert!(dot.starts_with("digraph g {"));
    /// assert!(dot.contains(r#"v1 [label="x: () float64", shape=ellipse"#));
    /// assert!(dot.contains("v1 -> f0"));
    /// ```
    pub fn to_dot(&self) -> String {
        let mut out = String::from("digraph g {\n");
        let mut variables: HashMap<usize, usize> = HashMap::new();
        let mut functions: HashMap<usize, usize> = HashMap::new();
        let mut queue = std::collections::VecDeque::new();
        variables.insert(self.id(), 0);
        write_variable(&mut out, 0, self);
        queue.push_back(self.clone());
        while let Some(variable) = queue.pop_front() {
            let Some(function) = variable.creator() else {
                continue;
            };
            let v = variables[&variable.id()];
            if let Some(&f) = functions.get(&function.id()) {
                let _ = writeln!(out, "f{f} -> v{v}");
                continue;
            }
            let f = functions.len();
            functions.insert(function.id(), f);
            write_function(&mut out, f, &function);
            let _ = writeln!(out, "f{f} -> v{v}");
            for input in function.inputs() {
                let next = variables.len();
                let i = *variables.entry(input.id()).or_insert_with(|| {
                    write_variable(&mut out, next, input);
                    queue.push_back(input.clone());
                    next
                });
                let _ = writeln!(out, "v{i} -> f{f}");
            }
        }
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
