//! Prints the seed's graph, `y = square(square(square(x)))`, as Graphviz DOT.
//!
//! `cargo run -p autograd-ops --example dot | dot -Tsvg > square3.svg`

use autograd_ops::prelude::*;
use ndarray::Array1;

fn main() -> Result<()> {
    let x = Variable::new(Array1::<f64>::zeros(10_000)).with_name("x");
    let a = x.square().with_name("a");
    let b = a.square().with_name("b");
    let y = b.square().with_name("y");
    y.backward()?;
    print!("{}", y.to_dot());
    Ok(())
}
