//! Times a conv2d forward and backward (input, weight and bias gradients)
//! against the same arithmetic written by hand in plain ndarray: im2col
//! into one `[N·OH·OW, C·KH·KW]` matrix, `dot`, and col2im (the floor an
//! engine's convolution is measured against).
//!
//! `cargo run --release -p autograd-ops --example conv_timing [-- N C H W OC K PAD]`
//! (default `2 3 320 320 16 3 1`: 2×3×320×320 to 16 channels, 3×3, padding 1).

use std::time::{Duration, Instant};

use autograd_ops::conv_output_size;
use autograd_ops::prelude::*;
use ndarray::{Array2, Array4, ArrayView4, Axis};

/// The median of `runs` timings of `f` after one warm-up run.
fn median(runs: usize, mut f: impl FnMut()) -> Duration {
    f();
    let mut times: Vec<Duration> = (0..runs)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed()
        })
        .collect();
    times.sort();
    times[runs / 2]
}

/// The hand-written floor: im2col of the whole batch, then products.
struct Floor {
    k: usize,
    pad: usize,
    oh: usize,
    ow: usize,
}

impl Floor {
    fn im2col(&self, x: ArrayView4<'_, f64>) -> Array2<f64> {
        let (n, c, h, w) = x.dim();
        let (k, p, oh, ow) = (self.k, self.pad, self.oh, self.ow);
        let mut col = Array2::<f64>::zeros((n * oh * ow, c * k * k));
        for b in 0..n {
            for i in 0..oh {
                for j in 0..ow {
                    let mut row = col.row_mut((b * oh + i) * ow + j);
                    for ch in 0..c {
                        for a in 0..k {
                            let r = i + a;
                            if r < p || r - p >= h {
                                continue;
                            }
                            for d in 0..k {
                                let q = j + d;
                                if q < p || q - p >= w {
                                    continue;
                                }
                                row[(ch * k + a) * k + d] = x[[b, ch, r - p, q - p]];
                            }
                        }
                    }
                }
            }
        }
        col
    }

    fn col2im(&self, col: &Array2<f64>, shape: (usize, usize, usize, usize)) -> Array4<f64> {
        let (n, c, h, w) = shape;
        let (k, p, oh, ow) = (self.k, self.pad, self.oh, self.ow);
        let mut x = Array4::<f64>::zeros(shape);
        for b in 0..n {
            for i in 0..oh {
                for j in 0..ow {
                    let row = col.row((b * oh + i) * ow + j);
                    for ch in 0..c {
                        for a in 0..k {
                            let r = i + a;
                            if r < p || r - p >= h {
                                continue;
                            }
                            for d in 0..k {
                                let q = j + d;
                                if q < p || q - p >= w {
                                    continue;
                                }
                                x[[b, ch, r - p, q - p]] += row[(ch * k + a) * k + d];
                            }
                        }
                    }
                }
            }
        }
        x
    }

    /// Forward and the three gradients (of `y.sum()`), as plain arrays.
    fn step(&self, x: &Array4<f64>, w: &Array4<f64>, b: &[f64]) -> (Array4<f64>, Array4<f64>) {
        let (n, c, h, wd) = x.dim();
        let (oc, k) = (w.dim().0, self.k);
        let wm = w.view().into_shape_with_order((oc, c * k * k)).unwrap();
        let col = self.im2col(x.view());
        let mut t = col.dot(&wm.t()); // [N·OH·OW, OC]
        t += &ndarray::ArrayView1::from(b);
        let y = t
            .into_shape_with_order((n, self.oh, self.ow, oc))
            .unwrap()
            .permuted_axes([0, 3, 1, 2])
            .as_standard_layout()
            .to_owned();
        let gy = Array4::<f64>::ones(y.dim());
        let gy_m = gy
            .view()
            .permuted_axes([0, 2, 3, 1])
            .as_standard_layout()
            .into_owned()
            .into_shape_with_order((n * self.oh * self.ow, oc))
            .unwrap();
        let gw = gy_m.t().dot(&col);
        let gb = gy_m.sum_axis(Axis(0));
        let gcol = gy_m.dot(&wm);
        let gx = self.col2im(&gcol, (n, c, h, wd));
        assert_eq!((gw.len(), gb.len()), (w.len(), oc));
        (y, gx)
    }
}

fn main() -> Result<()> {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .map(|a| a.parse().expect("sizes are numbers"))
        .collect();
    let [n, c, h, w, oc, k, pad] = match args.as_slice() {
        [] => [2, 3, 320, 320, 16, 3, 1],
        &[n, c, h, w, oc, k, pad] => [n, c, h, w, oc, k, pad],
        _ => panic!("give N C H W OC K PAD, or nothing"),
    };
    let x = Array4::from_shape_fn((n, c, h, w), |(a, b, i, j)| {
        ((a + 3 * b + 5 * i + 7 * j) % 13) as f64 / 13.0
    });
    let wt = Array4::from_shape_fn((oc, c, k, k), |(a, b, i, j)| {
        ((a + 2 * b + 3 * i + j) % 7) as f64 / 7.0 - 0.5
    });
    let bias: Vec<f64> = (0..oc).map(|o| o as f64 / 10.0).collect();
    let oh = conv_output_size(h, k, 1, pad)?;
    let ow = conv_output_size(w, k, 1, pad)?;
    let floor = Floor { k, pad, oh, ow };
    let runs = 11;

    let (xv, wv, bv) = (
        Variable::new(x.clone()),
        Variable::new(wt.clone()),
        Variable::new(ndarray::Array1::from(bias.clone())),
    );
    let engine_forward = median(runs, || {
        let _ = conv2d(&xv, &wv, Some(&bv), (1, 1), (pad, pad)).unwrap();
    });
    let engine = median(runs, || {
        for v in [&xv, &wv, &bv] {
            v.cleargrad();
        }
        let y = conv2d(&xv, &wv, Some(&bv), (1, 1), (pad, pad)).unwrap();
        y.backward().unwrap();
    });
    let floor_time = median(runs, || {
        let _ = floor.step(&x, &wt, &bias);
    });

    // The same numbers both ways.
    let (y, gx) = floor.step(&x, &wt, &bias);
    let ye = conv2d(&xv, &wv, Some(&bv), (1, 1), (pad, pad))?;
    let err = (&ye.data() - &y.into_dyn())
        .mapv(f64::abs)
        .fold(0.0, |a: f64, &b| a.max(b));
    let gerr = (&xv.grad().unwrap() - &gx.into_dyn())
        .mapv(f64::abs)
        .fold(0.0, |a: f64, &b| a.max(b));
    assert!(err < 1e-9 && gerr < 1e-9, "{err} {gerr}");

    println!(
        "conv2d {n}x{c}x{h}x{w} -> {oc} channels, {k}x{k}, stride 1, padding {pad}; median of {runs}"
    );
    println!(
        "engine forward           {:>9.2} ms",
        engine_forward.as_secs_f64() * 1e3
    );
    println!(
        "engine forward+backward  {:>9.2} ms",
        engine.as_secs_f64() * 1e3
    );
    println!(
        "ndarray im2col+dot floor {:>9.2} ms",
        floor_time.as_secs_f64() * 1e3
    );
    println!(
        "ratio                    {:>9.2}x",
        engine.as_secs_f64() / floor_time.as_secs_f64()
    );
    Ok(())
}
