//! Higher-order derivatives of tanh (DeZero step 35): differentiate
//! y = tanh(x) again and again with `create_graph`, print how many nodes the
//! graph of each derivative has, and write the last one as Graphviz DOT.
//!
//! `cargo run -p autograd-ops --example tanh_derivatives -- 3 > tanh3.dot`,
//! then `dot -Tsvg tanh3.dot > tanh3.svg`. The argument is the order
//! (default 3); the counts go to stderr, the DOT to stdout.

use autograd_ops::prelude::*;

fn main() -> Result<()> {
    let order: usize = match std::env::args().nth(1) {
        None => 3,
        Some(arg) => match arg.parse() {
            Ok(n) if n >= 1 => n,
            _ => {
                eprintln!("the order is a whole number of at least 1, not {arg:?}");
                std::process::exit(2);
            }
        },
    };
    let x = Variable::scalar(1.0).with_name("x");
    let mut derivative = x.try_tanh()?.with_name("y");
    for n in 1..=order {
        x.cleargrad();
        derivative.backward_with(BackwardOptions::default().create_graph(true))?;
        derivative = x
            .grad_variable()
            .expect("every derivative of tanh depends on x")
            .with_name(format!("gx{n}"));
        let nodes = derivative.graph_footprint();
        eprintln!(
            "order {n}: value {:+.6}, graph of {} variables and {} functions",
            derivative.item().unwrap_or(f64::NAN),
            nodes.variables,
            nodes.functions
        );
    }
    print!("{}", derivative.to_dot());
    Ok(())
}
