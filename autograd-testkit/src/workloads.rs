//! The workloads shared by the report binary, the criterion benches and the
//! tests: the seed's experiment, per-op bookkeeping, a deep chain, and the
//! same arithmetic in plain ndarray as the floor to measure against.

use autograd_ops::{
    BackwardOptions, Result, Strategy, Tensor, Variable, add, matmul, mul, sin, square, sum, tanh,
};
use ndarray::{Array0, Array1, Array2, ArrayD, Zip, arr0};

/// The seed's section 17.5 with backward: `y = square(square(square(x)))`,
/// then `y.backward()`. Returns the leaf `x`, which holds `dy/dx = 8x⁷`; the
/// rest of the graph is released on return (and leaks under `StrongOnly`).
///
/// # Errors
/// None in practice; the ops' `Result` is passed on.
pub fn seed_loop<S: Strategy>(x: Array1<f64>, retain_grad: bool) -> Result<Variable<S>> {
    Ok(seed_graph::<S>(x, retain_grad)?.0)
}

/// One iteration of the seed loop as a training loop runs it (W1): a fresh
/// leaf, forward, backward, the gradient read (its sum) and cleared, the
/// graph dropped. Returns the gradient's sum.
///
/// # Errors
/// None in practice; the ops' `Result` is passed on.
pub fn seed_step<S: Strategy>(x: Array1<f64>) -> Result<f64> {
    let (x, y) = seed_graph::<S>(x, false)?;
    drop(y);
    let grad = x.grad().map_or(f64::NAN, |g| g.sum());
    x.cleargrad();
    Ok(grad)
}

/// [`seed_loop`], returning `(x, y)`: the whole graph stays reachable from `y`.
///
/// # Errors
/// None in practice; the ops' `Result` is passed on.
pub fn seed_graph<S: Strategy>(
    x: Array1<f64>,
    retain_grad: bool,
) -> Result<(Variable<S>, Variable<S>)> {
    let x = Variable::<S>::from_array(x);
    let y = square(&square(&square(&x)?)?)?;
    y.backward_with(BackwardOptions::default().retain_grad(retain_grad))?;
    Ok((x, y))
}

/// One task of the shared-leaf loop: the seed's graph built on `leaf`, a
/// variable that every task reads, then backward, which adds this task's
/// `8x⁷` to the leaf's gradient (tasks on several threads take turns on that
/// gradient's lock); the graph is released on return (and leaks under
/// `StrongOnly`). The leaf's gradient is neither read nor cleared.
///
/// # Errors
/// None in practice; the ops' `Result` is passed on.
pub fn shared_leaf_step<S: Strategy>(leaf: &Variable<S>) -> Result<()> {
    let y = square(&square(&square(leaf)?)?)?;
    y.backward()
}

/// The forward half of [`seed_loop`] only.
///
/// # Errors
/// None in practice; the ops' `Result` is passed on.
pub fn seed_forward<S: Strategy>(x: Array1<f64>) -> Result<Variable<S>> {
    let x = Variable::<S>::from_array(x);
    square(&square(&square(&x)?)?)
}

/// The loop of PyTorch issue 7343, where the second cycle forms: `x` a fresh
/// leaf, `y = tanh(x)`, backward with `create_graph` (so `x`'s gradient is a
/// variable whose graph reads `x`), then `x` and `y` dropped without
/// `cleargrad`. Returns the gradient's sum.
///
/// # Errors
/// None in practice; the ops' `Result` is passed on.
pub fn second_cycle_step<S: Strategy>(x: Array1<f64>) -> Result<f64> {
    let x = Variable::<S>::from_array(x);
    let y = tanh(&x)?;
    y.backward_with(BackwardOptions::default().create_graph(true))?;
    Ok(x.grad().map_or(f64::NAN, |g| g.sum()))
}

/// The per-op bookkeeping workload (W2): `y = y + x`, `k` times from
/// `y = x`, then backward, then `x`'s gradient read and cleared, and the
/// graph dropped. Returns `dy/dx`, which is `k + 1`.
///
/// # Errors
/// None in practice; the ops' `Result` is passed on.
pub fn add_chain<S: Strategy>(x: &Variable<S>, k: usize) -> Result<f64> {
    let mut y = x.clone();
    for _ in 0..k {
        y = add(&y, x)?;
    }
    y.backward()?;
    drop(y);
    let grad = x.grad().map_or(f64::NAN, |g| g.sum());
    x.cleargrad();
    Ok(grad)
}

/// [`add_chain`]'s floor, the cheapest code doing the chain's arithmetic: a
/// plain tape of `f64` values and op codes. Forward appends each op's
/// output and a record (its code and its operands' places); backward sweeps
/// the tape in reverse, adding each output's gradient to its operands'.
pub fn add_chain_f64_tape(x: f64, k: usize) -> f64 {
    /// The op codes a tape can hold: the chain has one.
    #[derive(Clone, Copy)]
    enum Code {
        Add,
    }
    /// One op on the tape: what it was and where its operands are.
    struct Record {
        code: Code,
        lhs: usize,
        rhs: usize,
    }
    let mut values = Vec::with_capacity(k + 1);
    values.push(x);
    let mut tape = Vec::with_capacity(k);
    let mut y = 0;
    for _ in 0..k {
        values.push(values[y] + values[0]);
        tape.push(Record {
            code: Code::Add,
            lhs: y,
            rhs: 0,
        });
        y = values.len() - 1;
    }
    std::hint::black_box(&values);
    let mut grads = vec![0.0; values.len()];
    grads[y] = 1.0;
    for (i, record) in tape.iter().enumerate().rev() {
        let g = grads[i + 1];
        match record.code {
            Code::Add => {
                grads[record.lhs] += g;
                grads[record.rhs] += g;
            }
        }
    }
    grads[0]
}

/// [`add_chain`] as an engine that allocates an array per op would do it,
/// with no graph: a tape of one-element arrays. Forward allocates each op's
/// output (a 0-dimensional ndarray array, whose shape costs nothing) and
/// keeps a record per op on a tape; backward walks the tape, allocating each
/// op's gradient for `x` and adding it to `x`'s.
pub fn add_chain_array_tape(x: f64, k: usize) -> f64 {
    /// What a tape keeps of one op: its output, as a graph keeps it.
    struct Record {
        output: Array0<f64>,
    }
    let x = arr0(x);
    let mut tape = Vec::new();
    let mut y = x.clone();
    for _ in 0..k {
        let next = &y + &x;
        tape.push(Record {
            output: std::mem::replace(&mut y, next),
        });
    }
    let gy = arr0(1.0);
    let mut gx = gy.clone(); // y₀ is x itself
    for record in tape.iter().rev() {
        let g = gy.clone(); // each op's gradient for x
        gx += &g;
        std::hint::black_box(&record.output);
    }
    drop(tape);
    gx.into_scalar()
}

/// A chain of `k` ops on a one-element array, alternating `y = y + x` and
/// `y = y²` on `x = 0.2` (`y` settles near 0.076 and the gradient stays
/// finite at any length), then backward: per-op bookkeeping with two kinds
/// of op. Returns `(y, dy/dx)`.
///
/// # Errors
/// None in practice; the ops' `Result` is passed on.
pub fn add_square_chain<S: Strategy>(k: usize) -> Result<(f64, f64)> {
    let x = Variable::<S>::from_scalar(0.2);
    let mut y = x.clone();
    for i in 0..k {
        y = if i % 2 == 0 {
            add(&y, &x)?
        } else {
            square(&y)?
        };
    }
    y.backward()?;
    Ok((
        y.item().unwrap_or(f64::NAN),
        x.grad().map_or(0.0, |g| g.sum()),
    ))
}

/// [`add_square_chain`]'s floor, as [`add_chain_array_tape`] is for [`add_chain`]: a
/// one-element array per op forward and per op backward, and a tape of
/// per-op records (an op's input, which `y²`'s backward needs).
pub fn add_square_chain_raw(k: usize) -> (f64, f64) {
    /// What a tape keeps of one op.
    struct Record {
        square: bool,
        input: Array0<f64>,
    }
    let x = arr0(0.2);
    let mut tape = Vec::with_capacity(k);
    let mut y = x.clone();
    for i in 0..k {
        let square = i % 2 == 1;
        let next = if square { &y * &y } else { &y + &x };
        tape.push(Record {
            square,
            input: std::mem::replace(&mut y, next),
        });
    }
    let mut gy = arr0(1.0);
    let mut gx = arr0(0.0);
    for record in tape.iter().rev() {
        if record.square {
            gy = &gy * &record.input * 2.0; // a new array, as an op's backward makes
        } else {
            gx = &gx + &gy;
        }
    }
    gx = &gx + &gy; // y₀ is x itself
    (y.into_scalar(), gx.into_scalar())
}

/// `d` ops of `y = y + x` from `y = x`, then backward, then drop. Returns
/// `(y, dy/dx)`, which is `(d + 1, d + 1)` for `x = 1`.
///
/// # Errors
/// None in practice; the ops' `Result` is passed on.
pub fn deep_chain<S: Strategy>(d: usize) -> Result<(f64, f64)> {
    let x = Variable::<S>::from_scalar(1.0);
    let mut y = x.clone();
    for _ in 0..d {
        y = add(&y, &x)?;
    }
    y.backward()?;
    let value = y.item().unwrap_or(f64::NAN);
    drop(y);
    Ok((value, x.grad().map_or(0.0, |g| g.sum())))
}

/// [`deep_chain`]'s floor: `d` additions on a one-element (0-dimensional)
/// array and the backward they imply (one gradient addition per op),
/// allocating an array per op as the graph does, with no graph.
pub fn deep_chain_raw(d: usize) -> (f64, f64) {
    let x = arr0(1.0);
    let mut y = x.clone();
    for _ in 0..d {
        y = &y + &x;
    }
    let gy = arr0(1.0);
    let mut gx = gy.clone(); // y₀ is x itself
    for _ in 0..d {
        gx = &gx + &gy;
    }
    (y.into_scalar(), gx.into_scalar())
}

/// One step of a linear layer on a data batch: `Σ(data · w)`, backward, and
/// `w`'s gradient read and cleared; returns its sum. With `data` a
/// [constant](Variable::constant), backward does one matmul (`dataᵀ · gy`);
/// with `data` a leaf that needs a gradient (every input did before needed
/// gradients), two.
///
/// # Errors
/// [`Error::ShapeMismatch`](autograd_ops::Error::ShapeMismatch) when the
/// shapes do not multiply.
pub fn data_matmul_step<S: Strategy>(data: &Variable<S>, w: &Variable<S>) -> Result<f64> {
    let y = sum(&matmul(data, w)?)?;
    y.backward()?;
    let g = w.grad().map_or(0.0, |g| g.sum());
    w.cleargrad();
    data.cleargrad();
    Ok(g)
}

/// [`data_matmul_step`]'s floor: the forward product and the one backward
/// product `w`'s gradient needs, `dataᵀ · ones`, in plain ndarray.
pub fn data_matmul_raw(data: &Array2<f64>, w: &Array2<f64>) -> f64 {
    let y = data.dot(w);
    let gy = Array2::<f64>::ones(y.raw_dim());
    data.t().dot(&gy).sum()
}

/// The exact arithmetic of [`seed_loop`] in plain ndarray, one new array per
/// expression as a graph allocates them. Returns `(y, dy/dx)`.
pub fn raw_naive(x: &ArrayD<f64>) -> (ArrayD<f64>, ArrayD<f64>) {
    let a = x * x;
    let b = &a * &a;
    let y = &b * &b;
    let gy = ArrayD::ones(y.raw_dim());
    let gb = &gy * &b * 2.0;
    let ga = &gb * &a * 2.0;
    let gx = &ga * x * 2.0;
    (y, gx)
}

/// The same result in one fused pass: `y = x⁸` and `dy/dx = 8x⁷`.
pub fn raw_fused(x: &ArrayD<f64>) -> (ArrayD<f64>, ArrayD<f64>) {
    let mut y = ArrayD::zeros(x.raw_dim());
    let mut gx = ArrayD::zeros(x.raw_dim());
    Zip::from(&mut y).and(&mut gx).and(x).for_each(|y, gx, &x| {
        let x2 = x * x;
        let x4 = x2 * x2;
        let x7 = x4 * x2 * x;
        *y = x7 * x;
        *gx = 8.0 * x7;
    });
    (y, gx)
}

/// A wide graph: one intermediate `h = sin(x)` read by `n` ops (`hᵢ = h ·
/// cᵢ`, each with a constant of its own), whose outputs are summed by a
/// balanced tree of additions, backward from the sum, the graph dropped;
/// returns `x`'s gradient (read and cleared). A walk that wins on chains
/// meets `n` readers of one node here, and gradients meeting at it.
///
/// # Errors
/// None for these shapes; `Result` as every workload.
pub fn fan_out<S: Strategy>(x: &Variable<S>, n: usize) -> Result<f64> {
    let h = sin(x)?;
    let readers = (0..n)
        .map(|i| {
            mul(
                &h,
                &Variable::constant_from_tensor(Tensor::scalar(1.0 + i as f64 / n as f64)),
            )
        })
        .collect::<Result<Vec<_>>>()?;
    let y = tree_sum(readers)?;
    drop(h);
    y.backward()?;
    drop(y);
    let grad = x.grad().map_or(f64::NAN, |g| g.sum());
    x.cleargrad();
    Ok(grad)
}

/// [`fan_out`]'s floor: the same arithmetic on `f64`s (`Σ cᵢ · cos x`).
pub fn fan_out_f64(x: f64, n: usize) -> f64 {
    let h = x.sin();
    let values: Vec<f64> = (0..n).map(|i| h * (1.0 + i as f64 / n as f64)).collect();
    std::hint::black_box(&values);
    let gh: f64 = (0..n).map(|i| 1.0 + i as f64 / n as f64).sum();
    gh * x.cos()
}

/// A binary tree of additions over `leaves` leaves of one element each,
/// backward from the root, the graph dropped; returns the sum of the
/// leaves' gradients (each 1), read and cleared.
///
/// # Errors
/// None; `Result` as every workload.
pub fn binary_tree<S: Strategy>(leaves: &[Variable<S>]) -> Result<f64> {
    let y = tree_sum(leaves.to_vec())?;
    y.backward()?;
    drop(y);
    let mut grads = 0.0;
    for leaf in leaves {
        grads += leaf.grad().map_or(f64::NAN, |g| g.sum());
        leaf.cleargrad();
    }
    Ok(grads)
}

/// [`binary_tree`]'s floor: the tree's additions forward and the gradient
/// handed down both branches of each, on `f64`s in arrays of one level each.
pub fn binary_tree_f64(leaves: &[f64]) -> f64 {
    let mut levels = vec![leaves.to_vec()];
    while levels.last().is_some_and(|level| level.len() > 1) {
        let level = levels.last().expect("a level");
        let next = level.chunks(2).map(|pair| pair.iter().sum()).collect();
        levels.push(next);
    }
    std::hint::black_box(&levels);
    let mut grads = vec![1.0];
    for level in levels.iter().rev().skip(1) {
        grads = (0..level.len()).map(|i| grads[i / 2]).collect();
    }
    grads.iter().sum()
}

/// The sum of `values` by a balanced tree of additions (pairs, then pairs
/// of sums, ...): a graph as wide as its input.
fn tree_sum<S: Strategy>(mut values: Vec<Variable<S>>) -> Result<Variable<S>> {
    while values.len() > 1 {
        values = values
            .chunks(2)
            .map(|pair| match pair {
                [a, b] => add(a, b),
                [a] => Ok(a.clone()),
                _ => unreachable!("chunks of two"),
            })
            .collect::<Result<_>>()?;
    }
    Ok(values.pop().expect("at least one value"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SeedRng;
    use autograd_ops::{ArcWeak, RcWeak};

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-12 * (1.0 + b.abs())
    }

    #[test]
    fn the_wide_graphs_compute_their_floors_gradients() {
        use autograd_ops::Region;
        let x = Variable::<RcWeak>::from_scalar(0.5);
        assert!(close(fan_out(&x, 1000).unwrap(), fan_out_f64(0.5, 1000)));
        let x = Variable::<Region>::from_scalar(0.5);
        assert!(close(fan_out(&x, 7).unwrap(), fan_out_f64(0.5, 7)));
        let values: Vec<f64> = (0..1000).map(|i| i as f64).collect();
        let leaves: Vec<Variable<RcWeak>> =
            values.iter().map(|&v| Variable::from_scalar(v)).collect();
        assert_eq!(binary_tree(&leaves).unwrap(), 1000.0);
        assert_eq!(binary_tree_f64(&values), 1000.0);
        assert!(leaves.iter().all(|leaf| leaf.grad().is_none()), "cleared");
    }

    #[test]
    fn seed_loop_gradient_is_8x7() {
        let x = SeedRng::new(3).randn(1000);
        for retain in [false, true] {
            let leaf = seed_loop::<RcWeak>(x.clone(), retain).unwrap();
            let grad = leaf.grad().unwrap();
            for (g, &x) in grad.iter().zip(&x) {
                assert!(close(*g, 8.0 * x.powi(7)), "{g} vs {x}");
            }
        }
    }

    #[test]
    fn each_shared_leaf_step_adds_8x7_to_the_leaf() {
        let x = SeedRng::new(6).randn(100);
        let leaf = Variable::<ArcWeak>::from_array(x.clone());
        for _ in 0..3 {
            shared_leaf_step(&leaf).unwrap();
        }
        let grad = leaf.grad().unwrap();
        for (g, &x) in grad.iter().zip(&x) {
            assert!(close(*g, 3.0 * 8.0 * x.powi(7)), "{g} vs {x}");
        }
    }

    #[test]
    fn raw_baselines_agree_with_the_graph() {
        let x = SeedRng::new(4).randn(500).into_dyn();
        let (y_naive, g_naive) = raw_naive(&x);
        let (y_fused, g_fused) = raw_fused(&x);
        let y_graph = seed_forward::<ArcWeak>(x.clone().into_dimensionality().unwrap()).unwrap();
        for i in 0..x.len() {
            assert!(close(y_naive[i], x[i].powi(8)));
            assert!(close(y_fused[i], y_naive[i]) && close(g_fused[i], g_naive[i]));
            assert!(close(y_graph.data()[i], y_naive[i]));
            assert!(close(g_naive[i], 8.0 * x[i].powi(7)));
        }
    }

    #[test]
    fn add_square_chain_matches_its_floor() {
        for k in [0, 1, 2, 7, 1000] {
            let (y, g) = add_square_chain::<RcWeak>(k).unwrap();
            let (y_raw, g_raw) = add_square_chain_raw(k);
            assert!(
                close(y, y_raw) && close(g, g_raw),
                "k={k}: {y} {g} vs {y_raw} {g_raw}"
            );
            assert!(y.is_finite() && y < 0.5 && g.is_finite());
        }
        // By hand for k = 2: y = (x + x)², dy/dx = 8x at x = 0.2.
        let (y, g) = add_square_chain::<ArcWeak>(2).unwrap();
        assert!(close(y, 0.16) && close(g, 1.6), "{y} {g}");
    }

    #[test]
    fn add_chain_and_its_floor_agree() {
        let x = Variable::<RcWeak>::from_scalar(0.5);
        assert_eq!(add_chain(&x, 1000).unwrap(), 1001.0);
        assert!(x.grad().is_none(), "read and cleared");
        assert_eq!(add_chain_array_tape(0.5, 1000), 1001.0);
        assert_eq!(add_chain_f64_tape(0.5, 1000), 1001.0);
        assert_eq!(add_chain_f64_tape(0.5, 0), 1.0);
    }

    #[test]
    fn the_w1_and_second_cycle_steps_compute_their_gradients() {
        let x = SeedRng::new(5).randn(100);
        let expected: f64 = x.iter().map(|&x| 8.0 * x.powi(7)).sum();
        assert!(close(seed_step::<RcWeak>(x.clone()).unwrap(), expected));
        let expected: f64 = x.iter().map(|&x| 1.0 - x.tanh().powi(2)).sum();
        assert!(close(second_cycle_step::<ArcWeak>(x).unwrap(), expected));
    }

    #[test]
    fn the_data_matmul_step_matches_its_floor_with_or_without_data_gradients() {
        let mut rng = SeedRng::new(5);
        let data = Array2::from_shape_simple_fn((8, 5), || rng.uniform());
        let w = Array2::from_shape_simple_fn((5, 3), || rng.uniform());
        let floor = data_matmul_raw(&data, &w);
        let constant = Variable::<RcWeak>::constant_from_array(data.clone());
        let leaf = Variable::<RcWeak>::from_array(data);
        let w = Variable::<RcWeak>::from_array(w);
        for data in [&constant, &leaf] {
            assert!(close(data_matmul_step(data, &w).unwrap(), floor));
        }
    }

    #[test]
    fn deep_chain_gradient_is_d_plus_one() {
        assert_eq!(deep_chain::<RcWeak>(1000).unwrap(), (1001.0, 1001.0));
        assert_eq!(deep_chain_raw(1000), (1001.0, 1001.0));
    }
}
