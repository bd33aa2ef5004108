//! Linear regression by gradient descent (DeZero step 42): fit `y = Wx + b`
//! to 100 noisy points of `y = 2x + 5`, with the mean squared error built from
//! the ops and the parameters updated with `set_data`.
//!
//! `cargo run -p autograd-ops --example linear_regression`

use autograd_ops::prelude::*;
use ndarray::Array2;

/// The data: `x` uniform in [0, 1), `y = 2x + 5 + noise`, noise uniform in
/// [-0.5, 0.5), from a fixed seed.
pub(crate) fn data(n: usize, seed: u64) -> (Array2<f64>, Array2<f64>) {
    let mut state = seed;
    let mut uniform = move || {
        // xorshift64*: enough for reproducible example data
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        (state.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64
    };
    let x = Array2::from_shape_simple_fn((n, 1), &mut uniform);
    let y = x.mapv(|x| 2.0 * x + 5.0) + Array2::from_shape_simple_fn((n, 1), || uniform() - 0.5);
    (x, y)
}

/// The result of [`fit`]: the parameters and the loss before each step.
#[derive(Debug)]
pub(crate) struct Fit {
    /// The fitted slope.
    pub(crate) w: f64,
    /// The fitted intercept.
    pub(crate) b: f64,
    /// The loss at each step, before the update.
    pub(crate) losses: Vec<f64>,
}

/// Mean squared error: `sum((a - b)²) / len`.
pub(crate) fn mean_squared_error(a: &Variable, b: &Variable) -> Result<Variable> {
    let diff = a.try_sub(b)?;
    sum(&square(&diff)?)?.try_div(&Variable::scalar(diff.len() as f64))
}

/// Fits `y ≈ x·W + b` by `steps` of plain gradient descent with rate `lr`.
/// `after_step` sees each step's end (the test checks live nodes there).
pub(crate) fn fit(
    x: &Array2<f64>,
    y: &Array2<f64>,
    lr: f64,
    steps: usize,
    mut after_step: impl FnMut(),
) -> Result<Fit> {
    let (x, y) = (Variable::new(x.clone()), Variable::new(y.clone()));
    let w = Variable::new(Array2::<f64>::zeros((1, 1))).with_name("W");
    let b = Variable::new(ndarray::Array1::<f64>::zeros(1)).with_name("b");
    let mut losses = Vec::with_capacity(steps);
    for _ in 0..steps {
        let prediction = add(&matmul(&x, &w)?, &b)?;
        let loss = mean_squared_error(&prediction, &y)?;
        w.cleargrad();
        b.cleargrad();
        loss.backward()?;
        for parameter in [&w, &b] {
            let grad = parameter.grad().expect("a parameter receives a gradient");
            parameter.set_data(&parameter.data() - &(grad * lr))?;
        }
        losses.push(loss.item().unwrap_or(f64::NAN));
        after_step();
    }
    Ok(Fit {
        w: w.item().unwrap_or(f64::NAN),
        b: b.item().unwrap_or(f64::NAN),
        losses,
    })
}

/// The least-squares line through the data, in closed form: `(slope, intercept)`.
pub(crate) fn least_squares(x: &Array2<f64>, y: &Array2<f64>) -> (f64, f64) {
    let (mx, my) = (x.mean().unwrap_or(0.0), y.mean().unwrap_or(0.0));
    let cov = ((x - mx) * (y - my)).sum();
    let var = (x - mx).mapv(|d| d * d).sum();
    let slope = cov / var;
    (slope, my - slope * mx)
}

fn main() -> Result<()> {
    let (x, y) = data(100, 42);
    let fit = fit(&x, &y, 0.1, 1000, || {})?;
    let (slope, intercept) = least_squares(&x, &y);
    for (step, loss) in fit.losses.iter().enumerate().step_by(100) {
        println!("step {step:4}: loss {loss:.6}");
    }
    println!("gradient descent: W = {:.4}, b = {:.4}", fit.w, fit.b);
    println!("least squares:    W = {slope:.4}, b = {intercept:.4}");
    Ok(())
}
