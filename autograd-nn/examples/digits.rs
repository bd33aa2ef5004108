//! A 64-100-10 ReLU MLP learns scikit-learn's handwritten digits (shipped
//! with the crate) with Adam, on a fixed split (75% train, 25% test, seed
//! 0), batches of 32; test accuracy after each epoch, evaluated under
//! `no_grad`. Then the trained parameters go to an `.npz` file, a fresh
//! model loads them, and both predict the same.
//!
//! ```text
//! cargo run --release -p autograd-nn --example digits [-- EPOCHS [OUT_DIR]]
//! ```
//! (`EPOCHS` defaults to 30, `OUT_DIR` to `nn-examples` in the workspace's
//! target directory, `$CARGO_TARGET_DIR` when set, wherever the command runs
//! from.)

use std::path::{Path, PathBuf};

use autograd_nn::prelude::*;
use indicatif::{ProgressBar, ProgressStyle};
use ndarray::Array2;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let epochs: usize = args.next().map_or(Ok(30), |a| a.parse())?;
    let out = args.next().map_or_else(default_out_dir, PathBuf::from);
    std::fs::create_dir_all(&out)?;

    let (x, labels) = datasets::digits();
    let x = x / 16.0; // pixel counts 0..16 to [0, 1]
    let ((x_train, y_train), (x_test, y_test)) = datasets::train_test_split(&x, &labels, 0.25, 0)?;
    println!(
        "digits: {} training and {} test images of 8x8 pixels",
        y_train.len(),
        y_test.len()
    );
    let mut loader = DataLoader::new(x_train, y_train, 32)?.shuffle(0);
    let model = Mlp::new(&[64, 100, 10], Activation::Relu, 0)?;
    let mut adam = Adam::new(model.params(), 1e-3)?;

    let style = ProgressStyle::with_template("epoch {prefix:>2} [{bar:30}] {pos}/{len} {msg}")?
        .progress_chars("=> ");
    for epoch in 1..=epochs {
        let bar = ProgressBar::new(loader.batches() as u64)
            .with_style(style.clone())
            .with_prefix(epoch.to_string());
        let mut sum = 0.0;
        for (batch, batch_labels) in loader.iter() {
            adam.cleargrad();
            let loss = softmax_cross_entropy(&model.forward(&batch)?, &batch_labels)?;
            // A releasing backward: the graph no longer shares the weights'
            // buffers, so Adam writes into them in place instead of copying
            // them first (copy-on-write).
            loss.backward_once()?;
            sum += loss.item().expect("a 0-d loss") * batch_labels.len() as f64;
            adam.step()?;
            bar.inc(1);
        }
        bar.finish_and_clear();
        println!(
            "epoch {epoch:2}  loss {:.4}  test accuracy {:.1}%",
            sum / loader.len() as f64,
            100.0 * test_accuracy(&model, &x_test, &y_test)?
        );
    }

    // Save, load into a fresh model, and predict the same.
    let path = out.join("digits_mlp.npz");
    save_params(&model, &path)?;
    let fresh = Mlp::new(&[64, 100, 10], Activation::Relu, 1)?;
    load_params(&fresh, &path)?;
    let (a, b) = {
        let _no_grad = no_grad();
        let test = Variable::constant(x_test.clone());
        (model.forward(&test)?.data(), fresh.forward(&test)?.data())
    };
    assert_eq!(a, b, "the loaded model predicts as the saved one");
    println!(
        "saved to {} and loaded into a fresh model: identical logits on all {} test images",
        path.display(),
        y_test.len()
    );
    Ok(())
}

/// Where the figures go without an argument: `nn-examples` in the
/// workspace's target directory, whichever folder the command runs from:
/// `CARGO_TARGET_DIR` when set (relative to the current folder, as cargo
/// reads it); else the one this example was built in (the ancestor of its
/// path that cargo tags with `CACHEDIR.TAG`); else `target` in the
/// workspace's root.
fn default_out_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .filter(|dir| !dir.is_empty())
        .map(PathBuf::from)
        .or_else(|| {
            let exe = std::env::current_exe().ok()?;
            exe.ancestors()
                .find(|dir| dir.join("CACHEDIR.TAG").is_file())
                .map(Path::to_path_buf)
        })
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"));
    target.join("nn-examples")
}

/// The share of test images whose largest logit is their digit.
fn test_accuracy(model: &Mlp, x: &Array2<f64>, labels: &[usize]) -> Result<f64> {
    let _no_grad = no_grad();
    let logits = model.forward(&Variable::constant(x.clone()))?;
    accuracy(&logits, labels)
}
