//! DeZero step 59: an RNN (hidden 100) and a linear layer learn to predict
//! the next point of a noisy sine wave, one point at a time, with truncated
//! backpropagation through time (windows of 30 steps) and Adam, for 100
//! epochs; then predict the cosine over two periods from each point alone.
//! Prints the loss of each epoch (the loss summed over the epoch's 999
//! steps, over 999, as DeZero prints it) and the final one and draws the prediction beside
//! the truth, and the loss per epoch, as SVG files.
//!
//! ```text
//! cargo run --release -p autograd-nn --example rnn_sin [-- EPOCHS [OUT_DIR]]
//! ```
//! (`EPOCHS` defaults to 100, CI runs 2; `OUT_DIR` to `nn-examples` in the workspace's
//! target directory, `$CARGO_TARGET_DIR` when set, wherever the command
//! runs from.)

mod common;

use std::error::Error;
use std::time::Instant;

use autograd_nn::prelude::*;
use common::{BPTT_LENGTH, HIDDEN};
use ndarray::Axis;

fn main() -> Result<(), Box<dyn Error>> {
    let (epochs, out) = common::args()?;
    let (xs, ts) = datasets::sin_curve(true);
    let seqlen = xs.nrows();
    let bptt = Bptt::new(BPTT_LENGTH, seqlen)?;

    // DeZero's SimpleRNN: L.RNN(hidden) then L.Linear(1).
    let model = Sequential::new()
        .push(Rnn::new(1, HIDDEN, 0)?)
        .push(Linear::new(HIDDEN, 1, 1)?);
    let mut adam = Adam::new(model.params(), 1e-3)?;

    let mut losses = Vec::with_capacity(epochs);
    let started = Instant::now();
    for epoch in 1..=epochs {
        // One point at a time, as a batch of one: (1, 1).
        let pairs = xs.outer_iter().zip(ts.outer_iter()).map(|(x, t)| {
            let row =
                |a: ndarray::ArrayView1<f64>| Variable::constant(a.insert_axis(Axis(0)).to_owned());
            (row(x), row(t))
        });
        let loss = common::train_epoch(&model, &mut adam, bptt, pairs)?;
        losses.push(loss);
        println!("| epoch {epoch} | loss {loss:.6}");
    }
    common::report(
        &model,
        "rnn_sin",
        "RNN (DeZero step 59)",
        &losses,
        started.elapsed(),
        &out,
    )
}
