//! [`Bptt`]: where DeZero's truncated backpropagation through time ends a
//! window.

use crate::{Error, Result};

/// DeZero's truncation rule (steps 59 and 60): over a series of `series`
/// steps, a window ends after every `length` steps and at step `series`;
/// at each end the training loop backpropagates the loss summed so far and
/// cuts the graph behind it,
///
/// ```text
/// loss.backward(); loss.unchain_backward(); optimizer.update()
/// ```
///
/// so that backward never runs through more than one window, and the graph
/// (with the memory it holds) stays one window long. The count is the
/// loop's, starting at 1; the comparison is DeZero's `count % bptt_length
/// == 0 or count == seqlen`. In step 60 the count is of batches of a
/// [`SeqDataLoader`](crate::SeqDataLoader) (34 an epoch over the 999-step
/// sin curve in 30 streams) and `seqlen` the series' 999 steps: the count
/// never reaches it, so the four batches after the last full window run
/// forward and are never backpropagated, as in the book.
///
/// ```
/// use autograd_nn::Bptt;
///
/// let step59 = Bptt::new(30, 999)?; // one step of the series at a time
/// let ends: Vec<usize> = (1..=999).filter(|&n| step59.ends_window(n)).collect();
/// assert_eq!((ends.len(), ends[0], ends[32], ends[33]), (34, 30, 990, 999));
/// let step60 = Bptt::new(30, 999)?; // counting the loader's 34 batches
/// assert_eq!((1..=34).filter(|&n| step60.ends_window(n)).collect::<Vec<_>>(), [30]);
/// assert!(Bptt::new(0, 999).is_err());
/// # Ok::<(), autograd_nn::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bptt {
    length: usize,
    series: usize,
}

impl Bptt {
    /// Windows of `length` steps over a series of `series` steps.
    ///
    /// # Errors
    /// [`Error::BpttLength`] for a length of 0.
    pub fn new(length: usize, series: usize) -> Result<Self> {
        if length == 0 {
            return Err(Error::BpttLength { length, series });
        }
        Ok(Bptt { length, series })
    }

    /// Whether the loop's step `count` (from 1) ends a window.
    pub fn ends_window(&self, count: usize) -> bool {
        count % self.length == 0 || count == self.series
    }

    /// The steps of a full window.
    pub fn length(&self) -> usize {
        self.length
    }

    /// The series' length.
    pub fn series(&self) -> usize {
        self.series
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_window_of_no_steps_is_an_error_naming_bptt_and_the_length() {
        let err = Bptt::new(0, 10).unwrap_err();
        assert!(
            matches!(
                err,
                Error::BpttLength {
                    length: 0,
                    series: 10
                }
            ),
            "{err}"
        );
        let message = err.to_string();
        assert!(
            message.contains("Bptt") && message.contains('0'),
            "{message}"
        );
    }

    #[test]
    fn windows_end_every_length_steps_and_at_the_series_end() {
        let bptt = Bptt::new(4, 10).unwrap();
        let ends: Vec<usize> = (1..=10).filter(|&n| bptt.ends_window(n)).collect();
        assert_eq!(ends, [4, 8, 10]);
        let one = Bptt::new(1, 3).unwrap();
        assert!((1..=3).all(|n| one.ends_window(n)));
    }
}
