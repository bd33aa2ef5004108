//! Newton's method with the second derivative from a second backward (DeZero
//! step 33): minimise f(x) = x⁴ − 2x² from x = 2, updating
//! x ← x − f′(x) / f″(x).
//!
//! `cargo run -p autograd-ops --example newton`

use autograd_ops::prelude::*;

fn main() -> Result<()> {
    let x = Variable::scalar(2.0);
    for i in 0..10 {
        println!("{i} {:?}", x.item().unwrap_or(f64::NAN));
        let y = x.try_pow(4.0)?.try_sub(&(2.0 * x.try_pow(2.0)?))?;
        x.cleargrad();
        // f′(x) as a variable with a graph, so that it can be differentiated.
        y.backward_with(BackwardOptions::default().create_graph(true))?;
        let gx = x.grad_variable().expect("y depends on x");
        x.cleargrad();
        gx.backward()?; // f″(x)
        let gx2 = x.grad().expect("f′ depends on x");
        x.set_data(&x.data() - &(&gx.data() / &gx2))?;
    }
    Ok(())
}
