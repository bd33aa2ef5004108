//! Byte budgets for a chain's step: which blocks to keep recorded and
//! which to run again in backward, chosen so that the step's heap peak
//! stays within a number of bytes, predicted to the byte.
//!
//! A model that is a chain of blocks (the layers of an
//! [`Mlp`](../../autograd_nn/struct.Mlp.html), the time steps of a
//! recurrent window) can keep every block's graph between forward and
//! backward (fast, the most memory) or keep only some blocks' inputs and
//! run the blocks between again in backward (gradient checkpointing:
//! less memory, more time). Three steps:
//!
//! 1. [`profile_chain`] measures what each block's steps allocate, with a
//!    [`Meter`] (a counting allocator: `autograd_testkit::alloc::CountingMeter`),
//!    and one step of the whole chain for what the engine around it holds.
//! 2. [`plan_chain`] chooses a [`Plan`] within a [`Budget`]: the fewest
//!    blocks run again ([`Planner::Exact`]), or Chen et al.'s √n segments
//!    ([`Planner::Sqrt`]); it predicts the step's peak, or says which
//!    budget is the smallest that fits ([`Error::BudgetTooSmall`]).
//! 3. [`checkpoint_chain`] runs the chain as the plan says, recorded as one
//!    op; its backward walks the plan.
//!
//! What a budget bounds: the heap bytes the step holds above what was live
//! when it started, from the chain's forward to the end of its backward
//! when the gradient of its last output is given (the values kept for
//! backward, the graphs of the blocks kept or recomputed, the gradients
//! passed between blocks, the parameters' gradients as backward writes
//! them, the engine's own bookkeeping), under the profile's conditions:
//! the same inputs' shapes, the parameters' gradients cleared before the
//! step. What it does not bound: what was live before (the parameters,
//! the inputs, an optimizer's state), what the loss computed from the
//! chain's outputs holds, and another thread's allocations.
//!
//! Why the prediction is exact: each block is recorded on leaves of its own
//! and differentiated alone, the thread's buffer cache is bypassed during
//! the step, so each block's steps allocate the same bytes wherever they
//! run; the prediction sums them in the order the plan runs them, and the
//! engine's part around the chain, which no plan changes, comes from the
//! profile's one step.
//!
//! ```
//! use autograd_ops::budget::{ChainBlock, Plan, checkpoint_chain};
//! use autograd_ops::{Variable, tanh};
//!
//! let w = Variable::scalar(0.9);
//! let blocks: Vec<_> = (0..4)
//!     .map(|_| {
//!         let w2 = w.clone();
//!         ChainBlock::new(vec![w.clone()], move |h| Ok(vec![tanh(&(&h[0] * &w2))?]))
//!     })
//!     .collect();
//! let x = Variable::scalar(1.0);
//! let y = checkpoint_chain(&blocks, &[&x], &Plan::segments_of(4, 2, true))?.remove(0);
//! y.backward()?;
//! assert!(w.grad().is_some());
//! # Ok::<(), autograd_ops::Error>(())
//! ```

mod block;
mod chain;
mod cost;
mod planner;

pub use autograd_core::buffers::{CacheBypass, bypass_cache};
pub use block::ChainBlock;
pub use chain::checkpoint_chain;
pub use cost::{BlockCost, ChainProfile, profile_chain};
pub use planner::plan_chain;

use std::ops::Range;

use autograd_core::{Error, Result};

/// A heap counter a profile reads: live bytes, and the most live since the
/// last [`reset_peak`](Meter::reset_peak). What a process-wide counting
/// allocator gives, or one counting the calling thread's allocations.
pub trait Meter {
    /// Bytes allocated and not yet freed.
    fn live(&self) -> usize;
    /// The most [`live`](Meter::live) since the last reset.
    fn peak(&self) -> usize;
    /// Starts the peak again from the live bytes.
    fn reset_peak(&self);
}

/// How many bytes a chain's step may hold at its peak (see the module's
/// docs for what that counts).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Budget(usize);

impl Budget {
    /// At most `bytes` bytes.
    pub fn bytes(bytes: usize) -> Self {
        Budget(bytes)
    }

    /// No bound: every block kept.
    pub fn unlimited() -> Self {
        Budget(usize::MAX)
    }

    /// The bound, in bytes.
    pub fn get(self) -> usize {
        self.0
    }
}

/// How [`plan_chain`] chooses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Planner {
    /// The plan that runs the fewest blocks again within the budget, and
    /// among those the one with the lowest peak: a dynamic programme over
    /// keeping each block or recomputing each run of blocks, on the
    /// profile's exact costs. Its peak never falls as the budget grows.
    #[default]
    Exact,
    /// Chen et al. (2016): segments of ⌈√n⌉ blocks, each run again in
    /// backward, whatever the budget (an error if its peak exceeds it).
    Sqrt,
}

impl Planner {
    /// The planner's name, in reports.
    pub fn name(self) -> &'static str {
        match self {
            Planner::Exact => "exact",
            Planner::Sqrt => "sqrt",
        }
    }
}

/// A run of consecutive blocks in a [`Plan`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Segment {
    /// The blocks, by index in the chain.
    pub blocks: Range<usize>,
    /// `false`: each block is recorded and its graph kept until backward;
    /// `true`: only the first block's input is kept, and backward runs the
    /// blocks again.
    pub recomputed: bool,
}

/// How a chain runs: its segments in order, and the peak predicted for it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Plan {
    segments: Vec<Segment>,
    peak: Option<usize>,
}

impl Plan {
    /// A plan of these segments, which must cover the blocks in order.
    pub fn new(segments: Vec<Segment>) -> Self {
        Plan {
            segments,
            peak: None,
        }
    }

    /// Every block of `blocks` recorded and kept: no checkpointing.
    pub fn keep_all(blocks: usize) -> Self {
        Self::segments_of(blocks, blocks.max(1), false)
    }

    /// Segments of `len` blocks (the last one shorter), all recomputed or
    /// all kept.
    pub fn segments_of(blocks: usize, len: usize, recomputed: bool) -> Self {
        let len = len.max(1);
        Plan::new(
            (0..blocks)
                .step_by(len)
                .map(|start| Segment {
                    blocks: start..(start + len).min(blocks),
                    recomputed,
                })
                .collect(),
        )
    }

    /// The segments, in order.
    pub fn segments(&self) -> &[Segment] {
        &self.segments
    }

    /// How many block forwards backward runs again.
    pub fn recomputed(&self) -> usize {
        self.segments
            .iter()
            .filter(|s| s.recomputed)
            .map(|s| s.blocks.len())
            .sum()
    }

    /// The step's peak [`plan_chain`] predicted, in bytes (`None` for a
    /// plan made by hand: [`ChainProfile::predict`] predicts any plan).
    pub fn peak(&self) -> Option<usize> {
        self.peak
    }

    fn with_peak(mut self, peak: usize) -> Self {
        self.peak = Some(peak);
        self
    }

    /// Checks that the segments cover `blocks` blocks in order.
    pub(crate) fn check(&self, blocks: usize) -> Result<()> {
        let mut next = 0;
        let mut in_order = true;
        for segment in &self.segments {
            in_order &= segment.blocks.start == next && !segment.blocks.is_empty();
            next = segment.blocks.end;
        }
        if in_order && next == blocks && blocks > 0 {
            Ok(())
        } else {
            Err(Error::InvalidArgument {
                op: chain::NAME,
                message: format!(
                    "the plan's segments {:?} do not cover the chain's {blocks} blocks in order",
                    self.segments
                        .iter()
                        .map(|s| s.blocks.clone())
                        .collect::<Vec<_>>()
                ),
            })
        }
    }
}
