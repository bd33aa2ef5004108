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
//! (`EPOCHS` defaults to 100, `OUT_DIR` to `nn-examples` in the workspace's
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
        model.reset_state();
        let (mut loss, mut count): (Option<Variable>, usize) = (None, 0);
        for (x, t) in loader.iter() {
            let y = model.forward(&x)?;
            let term = mean_squared_error(&y, &t)?;
            loss = Some(match loss {
                Some(loss) => &loss + &term,
                None => term,
            });
            count += 1;
            if bptt.ends_window(count) {
                let loss = loss.as_ref().expect("a step was taken");
                model.cleargrad();
                loss.backward()?;
                loss.unchain_backward();
                adam.step()?;
            }
        }
        let total = loss.and_then(|l| l.item()).ok_or("an epoch has batches")?;
        let mean = total / count as f64;
        losses.push(mean);
        println!("| epoch {epoch} | loss {mean:.6}");
    }
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "{epochs} epochs in {seconds:.1} s ({:.1} ms an epoch)",
        1e3 * seconds / epochs.max(1) as f64
    );

    let truth = common::cos_curve();
    let predicted = common::predict(&model, &truth)?;
    let prediction = out.join("lstm_sin_prediction.svg");
    std::fs::write(
        &prediction,
        common::prediction_svg("LSTM (DeZero step 60): the cosine predicted point by point", &truth, &predicted)?,
    )?;
    let curve = out.join("lstm_sin_loss.svg");
    std::fs::write(
        &curve,
        common::loss_svg("LSTM (DeZero step 60): loss per epoch", &losses)?,
    )?;
    println!("wrote {} and {}", prediction.display(), curve.display());
    Ok(())
}
