//! [`Dropout`]: inverted dropout while training, the identity in
//! evaluation ([`eval_mode`](crate::eval_mode)); its free function, the
//! generator its masks come from ([`manual_seed`]), and its tests.
//!
//! **The generator.** Masks are drawn from a `StdRng` (ChaCha12) of the
//! calling thread, one uniform draw per element in row-major order.
//! [`manual_seed`] reseeds the calling thread's generator only. Every
//! thread's generator starts from the same seed, [`DEFAULT_SEED`], so a run
//! that never seeds is reproducible (as PyTorch's default generator is);
//! the price is that two threads that never seed draw the same masks, so
//! code that trains on several threads seeds each one (say, a base seed
//! plus the thread's index). Per thread rather than one generator behind a
//! lock: ops run on many threads (rayon workers, concurrent graphs), and a
//! shared generator would make each thread's masks depend on the others'
//! timing, never reproducible.
//!
//! [`checkpoint`](crate::checkpoint) copies the generator when it runs its
//! block and runs the recomputation from that copy (then puts the thread's
//! own back), so a checkpointed block with dropout recomputes the very
//! masks of its first run (as `torch.utils.checkpoint`'s
//! `preserve_rng_state`).

use std::cell::RefCell;

use autograd_core::arith::mul;
use autograd_core::{
    Error, Function, Grads, Result, Save, Saved, Strategy, Tensor, Tensors, Variable, apply_one,
};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::mode::is_training;

/// The seed every thread's dropout generator starts from.
pub const DEFAULT_SEED: u64 = 0;

thread_local! {
    /// This thread's dropout generator.
    static GENERATOR: RefCell<StdRng> = RefCell::new(StdRng::seed_from_u64(DEFAULT_SEED));
}

/// Reseeds the calling thread's dropout generator (PyTorch's
/// `torch.manual_seed`, for this thread only): the masks drawn after it
/// depend on `seed` and on the calls since, nothing else.
///
/// ```
/// use autograd_ops::{Variable, dropout, manual_seed};
/// use ndarray::Array1;
///
/// let x = Variable::new(Array1::<f64>::ones(8));
/// manual_seed(42);
/// let a = dropout(&x, 0.5)?.data();
/// manual_seed(42);
/// assert_eq!(dropout(&x, 0.5)?.data(), a);
/// # Ok::<(), autograd_ops::Error>(())
/// ```
pub fn manual_seed(seed: u64) {
    GENERATOR.with(|generator| *generator.borrow_mut() = StdRng::seed_from_u64(seed));
}

/// A copy of the calling thread's dropout generator, as it stands.
pub(crate) fn generator_state() -> StdRng {
    GENERATOR.with(|generator| generator.borrow().clone())
}

/// While alive, the calling thread's dropout generator is another one (a
/// copy taken earlier); dropping it puts the thread's own back, as it was,
/// also on an early return or a panic (`torch.random.fork_rng`).
pub(crate) struct ForkedGenerator {
    own: Option<StdRng>,
}

impl ForkedGenerator {
    /// Sets the calling thread's generator to `state` until the guard drops.
    pub(crate) fn new(state: StdRng) -> Self {
        let own =
            GENERATOR.with(|generator| std::mem::replace(&mut *generator.borrow_mut(), state));
        ForkedGenerator { own: Some(own) }
    }
}

impl Drop for ForkedGenerator {
    fn drop(&mut self) {
        if let Some(own) = self.own.take() {
            // Fails only during the thread's own teardown: nothing draws then.
            let _ = GENERATOR.try_with(|generator| *generator.borrow_mut() = own);
        }
    }
}

/// `p`, checked to be a probability below 1.
fn check_p(p: f64) -> Result<()> {
    if (0.0..1.0).contains(&p) {
        Ok(())
    } else {
        Err(Error::InvalidArgument {
            op: "dropout",
            message: format!("the probability of dropping must be in [0, 1), got {p}"),
        })
    }
}

/// `y = x ⊙ m`: each element zeroed with probability `p`, the others scaled
/// by `1/(1 − p)` (inverted dropout, so that evaluation needs no scaling);
/// `gx = gy ⊙ m`. The mask `m` (0 or `1/(1 − p)`) is drawn by forward from
/// the thread's generator and saved for backward with [`Save::tensor`]: the
/// engine owns it and `graph_footprint` counts it. The op always drops;
/// [`dropout`] is what returns its input unchanged in evaluation.
#[derive(Debug, Clone)]
pub struct Dropout {
    /// The probability of zeroing an element, in `[0, 1)`.
    pub p: f64,
    /// The mask forward drew, until `save` hands it to the engine.
    mask: Option<Tensor>,
}

impl Dropout {
    /// The op for probability `p` (checked by forward).
    pub fn new(p: f64) -> Self {
        Dropout { p, mask: None }
    }
}

impl<S: Strategy> Function<S> for Dropout {
    fn name(&self) -> &'static str {
        "dropout"
    }

    fn num_inputs(&self) -> usize {
        1
    }

    fn forward(&mut self, xs: &[Tensor]) -> Result<Tensors> {
        check_p(self.p)?;
        let (p, scale) = (self.p, 1.0 / (1.0 - self.p));
        let mask = GENERATOR.with(|generator| {
            let generator = &mut *generator.borrow_mut();
            Tensor::from_writer(xs[0].shape(), |mut out| {
                out.iter_mut().for_each(|m| {
                    *m = if generator.random::<f64>() < p {
                        0.0
                    } else {
                        scale
                    }
                })
            })
        });
        let y = xs[0].zip_with("dropout", &mask, |x, m| x * m)?;
        self.mask = Some(mask);
        Ok(y.into())
    }

    /// The mask, not the input: the gradient is `gy ⊙ m`.
    fn save(&mut self, save: &mut Save<'_>) {
        if let Some(mask) = self.mask.take() {
            save.tensor(mask);
        }
    }

    fn derivative(&self, cx: &Saved<'_, S>, gys: &[Variable<S>]) -> Result<Grads<S>> {
        Ok(vec![cx.grad(0, || mul(&gys[0], &cx.tensor(0)?))?])
    }
}

/// Inverted dropout while training: each element of `x` zeroed with
/// probability `p`, the others scaled by `1/(1 − p)`, so that the expected
/// value is `x` (PyTorch's `F.dropout`, DeZero's `dropout`). In evaluation
/// ([`eval_mode`](crate::eval_mode)), and for `p = 0`, `x` itself (the same
/// variable: no node, no mask). The masks come from the calling thread's
/// generator ([`manual_seed`]; see the module's docs).
///
/// ```
/// use autograd_ops::{Variable, dropout, with_eval_mode};
/// use ndarray::Array1;
///
/// let x = Variable::new(Array1::<f64>::ones(1000));
/// let y = dropout(&x, 0.25)?; // each element 0 or 4/3
/// assert!(y.data().iter().all(|&v| v == 0.0 || v == 4.0 / 3.0));
/// let same = with_eval_mode(|| dropout(&x, 0.25))?;
/// assert!(same.ptr_eq(&x));
/// # Ok::<(), autograd_ops::Error>(())
/// ```
///
/// # Errors
/// [`Error::InvalidArgument`] naming `dropout` unless `0 ≤ p < 1` (also in
/// evaluation, where `p` is not used).
pub fn dropout<S: Strategy>(x: &Variable<S>, p: f64) -> Result<Variable<S>> {
    check_p(p)?;
    if p == 0.0 || !is_training() {
        return Ok(x.clone());
    }
    apply_one(Dropout::new(p), &[x])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{check_both_orders, check_first_order, positive};
    use crate::{VariableOps, checkpoint, eval_mode, square, sum, train_mode, with_eval_mode};
    use autograd_core::RcWeak;
    use ndarray::{ArrayD, IxDyn};

    type V = Variable<RcWeak>;

    fn ones(n: usize) -> V {
        V::from_array(ArrayD::ones(IxDyn(&[n])))
    }

    #[test]
    fn kept_elements_are_scaled_and_the_gradient_is_the_mask() {
        manual_seed(1);
        let n = 20_000;
        let x = V::from_array(positive(&[n], 3));
        let y = dropout(&x, 0.3).unwrap();
        let scale = 1.0 / 0.7;
        let (mut kept, mut dropped) = (0usize, 0usize);
        for (&yi, &xi) in y.data().iter().zip(x.data().iter()) {
            if yi == 0.0 {
                dropped += 1;
            } else {
                assert_eq!(yi, xi * scale);
                kept += 1;
            }
        }
        assert_eq!(kept + dropped, n);
        // Kept with probability 0.7: within 5 standard deviations (0.32%).
        let rate = kept as f64 / n as f64;
        assert!((rate - 0.7).abs() < 0.017, "{rate}");
        sum(&y).unwrap().backward().unwrap();
        let mask = y.data().mapv(|v| if v == 0.0 { 0.0 } else { scale });
        assert_eq!(x.grad().unwrap(), mask);
    }

    #[test]
    fn a_seed_gives_its_masks_and_another_seed_others() {
        let x = ones(256);
        manual_seed(5);
        let a = dropout(&x, 0.5).unwrap().data();
        let b = dropout(&x, 0.5).unwrap().data();
        assert_ne!(a, b, "the stream moves on");
        manual_seed(5);
        assert_eq!(dropout(&x, 0.5).unwrap().data(), a);
        assert_eq!(dropout(&x, 0.5).unwrap().data(), b);
        manual_seed(6);
        assert_ne!(dropout(&x, 0.5).unwrap().data(), a);
    }

    #[test]
    fn evaluation_and_p_zero_are_the_identity() {
        let x = V::from_array(positive(&[3, 4], 1));
        let y = with_eval_mode(|| dropout(&x, 0.9)).unwrap();
        assert!(y.ptr_eq(&x), "the same variable, no node");
        assert!(dropout(&x, 0.0).unwrap().ptr_eq(&x));
        let eval = eval_mode();
        assert!(x.dropout(0.5).ptr_eq(&x));
        {
            let _train = train_mode();
            assert!(!x.dropout(0.5).ptr_eq(&x), "training inside eval drops");
        }
        drop(eval);
        assert!(!dropout(&x, 0.5).unwrap().ptr_eq(&x));
    }

    #[test]
    fn p_outside_zero_to_one_is_an_error_in_either_mode() {
        let x = ones(3);
        for p in [-0.1, 1.0, 1.5, f64::NAN, f64::INFINITY] {
            for eval in [false, true] {
                let _mode = eval.then(eval_mode);
                let err = dropout(&x, p).unwrap_err();
                assert!(
                    matches!(&err, Error::InvalidArgument { op: "dropout", message } if message.contains(&p.to_string())),
                    "{err}"
                );
            }
        }
        assert!(matches!(
            x.try_dropout(1.0),
            Err(Error::InvalidArgument { .. })
        ));
    }

    /// The mask is saved with `Save::tensor`, so the graph's footprint
    /// counts it: a dropout holds one buffer more than an op that saves
    /// nothing (`neg`).
    #[test]
    fn the_mask_is_saved_and_counted() {
        let n = 4096;
        let x = V::from_array(positive(&[n], 2));
        let dropped = dropout(&x, 0.5).unwrap().graph_footprint();
        let negated = crate::neg(&x).unwrap().graph_footprint();
        let mask = n * size_of::<f64>();
        let more = dropped.bytes - negated.bytes;
        assert!(
            more >= mask && more < mask + 512,
            "{more} bytes more than neg's graph"
        );
        assert_eq!((dropped.functions, dropped.variables), (1, 2));
    }

    #[test]
    fn first_and_second_order_gradcheck() {
        // Reseeded inside, so that every evaluation draws the same mask.
        check_both_orders(
            |x| {
                manual_seed(9);
                square(&dropout(&x[0], 0.4)?)
            },
            &[positive(&[3, 5], 4)],
        );
    }

    fn gradcheck_under<S: Strategy>() {
        check_first_order::<S>(
            |x| {
                manual_seed(9);
                square(&dropout(&x[0], 0.4)?)
            },
            &[positive(&[2, 3], 5)],
        );
    }

    autograd_mem::test_each_strategy! {
        gradcheck_under_every_strategy => gradcheck_under;
    }

    /// A block with dropout, checkpointed: backward recomputes it from the
    /// generator as it stood when forward ran it (the stream moved on in
    /// between), so the gradients are the plain graph's bit for bit, and the
    /// recomputation leaves the thread's stream where it was.
    #[test]
    fn a_checkpointed_block_recomputes_the_same_masks_bit_for_bit() {
        fn block(v: &[V]) -> Result<Vec<V>> {
            let h = dropout(&v[0].matmul(&v[1]).tanh(), 0.5)?;
            Ok(vec![dropout(&h.exp(), 0.3)?])
        }
        let run = |checkpointed: bool| {
            manual_seed(11);
            let x = V::from_array(positive(&[4, 6], 1));
            let w = V::from_array(positive(&[6, 5], 2));
            let y = match checkpointed {
                true => checkpoint(block, &[&x, &w]).unwrap().remove(0),
                false => block(&[x.clone(), w.clone()]).unwrap().remove(0),
            };
            let between = dropout(&ones(64), 0.5).unwrap().data();
            sum(&y).unwrap().backward().unwrap();
            let after = dropout(&ones(64), 0.5).unwrap().data();
            (
                y.data(),
                x.grad().unwrap(),
                w.grad().unwrap(),
                between,
                after,
            )
        };
        let (checkpointed, plain) = (run(true), run(false));
        assert!(checkpointed.0.iter().any(|&y| y == 0.0), "some dropped");
        assert_eq!(checkpointed, plain);
    }

    /// A block checkpointed in evaluation is recomputed in evaluation, also
    /// when backward runs outside the scope.
    #[test]
    fn a_checkpointed_block_is_recomputed_in_the_mode_it_ran_in() {
        fn block(v: &[V]) -> Result<Vec<V>> {
            Ok(vec![dropout(&v[0].square(), 0.5)?])
        }
        let x = V::from_array(positive(&[8], 1));
        let y = with_eval_mode(|| checkpoint(block, &[&x]))
            .unwrap()
            .remove(0);
        sum(&y).unwrap().backward().unwrap();
        assert_eq!(x.grad().unwrap(), x.data().mapv(|v| 2.0 * v));
    }
}
