//! Plumbing for the op families' tests (here and in autograd-ops): checks a
//! hand-fused array backward against the op's one derivative.

use ndarray::{ArrayD, IxDyn};

use crate::{BackwardOptions, RcWeak, Result, Variable};

/// Checks that the first-order gradients of `f` (which run each op's
/// `backward_arrays`, hand-fused or not) equal those the op's derivative
/// gives under `create_graph`, to 1e-12 relative, on random inputs of
/// `shapes`: once with every input needing a gradient, and once with each
/// input a constant in turn.
///
/// # Panics
/// When they differ, or when `f` or a backward fails.
pub fn assert_fused_agrees_with_derivative(
    f: impl Fn(&[Variable<RcWeak>]) -> Result<Variable<RcWeak>>,
    shapes: &[&[usize]],
) {
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    let mut uniform = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        0.5 + (state >> 11) as f64 / (1u64 << 53) as f64
    };
    let values: Vec<ArrayD<f64>> = shapes
        .iter()
        .map(|shape| ArrayD::from_shape_simple_fn(IxDyn(shape), &mut uniform))
        .collect();
    let constant_choices =
        std::iter::once(None).chain((0..shapes.len()).filter(|_| shapes.len() > 1).map(Some));
    for constant in constant_choices {
        let run = |create_graph: bool| {
            let xs: Vec<Variable<RcWeak>> = values
                .iter()
                .enumerate()
                .map(|(i, v)| match Some(i) == constant {
                    true => Variable::constant_from_array(v.clone()),
                    false => Variable::from_array(v.clone()),
                })
                .collect();
            let y = f(&xs).expect("forward");
            y.backward_with(BackwardOptions::default().create_graph(create_graph))
                .expect("backward");
            xs.iter().map(Variable::grad).collect::<Vec<_>>()
        };
        let (fused, derivative) = (run(false), run(true));
        for (i, (a, b)) in fused.iter().zip(&derivative).enumerate() {
            match (a, b) {
                (None, None) => assert_eq!(Some(i), constant, "input {i} got no gradient"),
                (Some(a), Some(b)) => {
                    assert_eq!(a.shape(), b.shape(), "input {i}");
                    for (x, y) in a.iter().zip(b.iter()) {
                        let scale = x.abs().max(y.abs()).max(1.0);
                        assert!((x - y).abs() <= 1e-12 * scale, "input {i}: {x} vs {y}");
                    }
                }
                _ => panic!("input {i}: one pass gave a gradient, the other none"),
            }
        }
    }
}
