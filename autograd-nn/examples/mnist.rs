//! Real MNIST digits (the 5,000 shipped with the crate) learnt by a
//! 784-100-10 ReLU network built as a `Sequential` (`Flatten` first, as a
//! CNN's head would be), with Adam (rate 10⁻³, batches of 100). The
//! images are split keeping every digit's share: 4,000 to train on (400 a
//! digit), 1,000 held out (100 a digit). Prints the mean training loss and
//! the held-out accuracy (evaluated under `no_grad`) after each epoch.
//!
//! ```text
//! cargo run --release -p autograd-nn --example mnist [-- EPOCHS]
//! ```
//! (`EPOCHS` defaults to 10.)

use autograd_nn::prelude::*;
use ndarray::Array4;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let epochs: usize = std::env::args().nth(1).map_or(Ok(10), |a| a.parse())?;

    // [5000, 1, 28, 28] in [0, 1], sorted by digit.
    let (images, labels) = datasets::mnist_5k();
    let ((x_train, y_train), (x_test, y_test)) =
        datasets::stratified_split(&images, &labels, 0.2, 0)?;
    println!(
        "mnist_5k: {} training and {} held-out images of 28x28 pixels",
        y_train.len(),
        y_test.len()
    );

    let model = Sequential::new()
        .push(Flatten) // [N, 1, 28, 28] -> [N, 784]
        .push(Linear::new(784, 100, 0)?)
        .push(Activation::Relu)
        .push(Linear::new(100, 10, 1)?);
    let mut adam = Adam::new(model.params(), 1e-3)?;
    let mut loader = DataLoader::new(x_train, y_train, 100)?.shuffle(0);

    for epoch in 1..=epochs {
        let mut sum = 0.0;
        for (batch, batch_labels) in loader.iter() {
            adam.cleargrad();
            let loss = softmax_cross_entropy(&model.forward(&batch)?, &batch_labels)?;
            loss.backward_once()?; // released: Adam writes into the weights in place
            sum += loss.item().expect("a 0-d loss") * batch_labels.len() as f64;
            adam.step()?;
        }
        println!(
            "epoch {epoch:2}  loss {:.4}  held-out accuracy {:.1}%",
            sum / loader.len() as f64,
            100.0 * held_out_accuracy(&model, &x_test, &y_test)?
        );
    }
    Ok(())
}

/// The share of held-out images whose largest logit is their digit.
fn held_out_accuracy(model: &Sequential, x: &Array4<f64>, labels: &[usize]) -> Result<f64> {
    let _no_grad = no_grad();
    let logits = model.forward(&Variable::constant(x.clone()))?;
    accuracy(&logits, labels)
}
