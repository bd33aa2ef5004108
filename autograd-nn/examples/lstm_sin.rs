//! DeZero step 60: an LSTM (hidden 100) and a linear layer learn to predict
//! the next point of a noisy sine wave read as 30 parallel streams
//! (`SeqDataLoader`, batches of 30: 34 batches an epoch), with truncated
//! backpropagation through time (windows of 30 batches: one backward and
//! one update an epoch, the 4 batches after it run forward and never
//! backpropagated, as in the book) and Adam, for 100 epochs; then predict
//! the cosine over two periods from each point alone. Prints the loss of
//! each epoch (summed over the epoch's 34 batches, over 34, as DeZero
//! prints it) and draws the prediction beside the truth, and the loss per
//! epoch, as SVG files.
//!
//! ```text
//! cargo run --release -p autograd-nn --example lstm_sin [-- EPOCHS [OUT_DIR]]
//! ```
//! (`EPOCHS` defaults to 100, CI runs 2; `OUT_DIR` to `nn-examples` in the workspace's
//! target directory, `$CARGO_TARGET_DIR` when set, wherever the command
//! runs from.)

mod common;

use std::error::Error;
use std::time::Instant;

use autograd_nn::prelude::*;
use common::{BPTT_LENGTH, HIDDEN};

/// Streams read in parallel, the rows of a batch.
const BATCH: usize = 30;

fn main() -> Result<(), Box<dyn Error>> {
    let (epochs, out) = common::args()?;
    let (xs, ts) = datasets::sin_curve(true);
    let seqlen = xs.nrows();
    let loader = SeqDataLoader::new(xs, ts, BATCH)?;
    let bptt = Bptt::new(BPTT_LENGTH, seqlen)?;

    // DeZero's BetterRNN: L.LSTM(hidden) then L.Linear(1).
    let model = Sequential::new()
        .push(Lstm::new(1, HIDDEN, 0)?)
        .push(Linear::new(HIDDEN, 1, 1)?);
    let mut adam = Adam::new(model.params(), 1e-3)?;

    let mut losses = Vec::with_capacity(epochs);
    let started = Instant::now();
    for epoch in 1..=epochs {
        let loss = common::train_epoch(&model, &mut adam, bptt, loader.iter())?;
        losses.push(loss);
        println!("| epoch {epoch} | loss {loss:.6}");
    }
    common::report(
        &model,
        "lstm_sin",
        "LSTM (DeZero step 60)",
        &losses,
        started.elapsed(),
        &out,
    )
}
