//! [`profile_chain`]: what each block's steps allocate, measured; and the
//! prediction of a plan's peak from those measurements ([`Costs`], the one
//! place that knows what a segment holds when).

use autograd_core::buffers::bypass_cache;
use autograd_core::{BackwardOptions, Error, Freeing, Result, Strategy, Tensor, Variable};

use super::chain::{self, CarryGrad, Live, Mark, carry_bytes};
use super::{ChainBlock, Meter, Plan, Segment};
use crate::dropout::{ForkedGenerator, generator_state};

/// What one block's steps allocate, in bytes, measured by
/// [`profile_chain`]. A step's peak is above the live bytes when it
/// starts; what it keeps is what is live after it that was not before.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BlockCost {
    /// The peak of running the block without recording.
    pub run_peak: usize,
    /// The buffers of the block's outputs (what running it keeps).
    pub value: usize,
    /// The peak of recording the block.
    pub record_peak: usize,
    /// What recording it keeps: its graph, its outputs' buffers included.
    pub recorded: usize,
    /// The buffers of its recorded outputs (a one-element value run
    /// without recording is a buffer of its own, recorded it is inline:
    /// the two can differ).
    pub recorded_value: usize,
    /// The peak of differentiating the recorded block.
    pub backward_peak: usize,
    /// The buffers of the gradients of the block's inputs.
    pub input_grad: usize,
    /// The buffers of its parameters' gradients that no later block's
    /// backward made first (what the block adds to the parameters'
    /// gradients once the later blocks have run).
    pub param_grad: usize,
}

/// What the engine holds around a chain, whatever the plan: offsets, in
/// bytes above the live bytes before the step, of the windows the step's
/// peak can fall in (read by the profile's one step of the whole chain).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
struct Overheads {
    /// Before the chain's forward starts.
    before_forward: i64,
    /// Under the forward's blocks.
    forward: i64,
    /// From the forward's end to the backward's start, above what the
    /// forward kept.
    between: i64,
    /// Under the backward's blocks.
    backward: i64,
    /// After the backward's blocks.
    after_backward: i64,
}

/// A chain's measured costs: the input to [`plan_chain`](super::plan_chain)
/// and [`predict`](ChainProfile::predict).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainProfile {
    blocks: Vec<BlockCost>,
    overheads: Overheads,
}

impl ChainProfile {
    /// The blocks' costs, in chain order.
    pub fn blocks(&self) -> &[BlockCost] {
        &self.blocks
    }

    /// A profile of made-up costs, the engine's part `engine` bytes in
    /// every window (for the planner's tests).
    #[cfg(test)]
    pub(super) fn synthetic(blocks: Vec<BlockCost>, engine: i64) -> Self {
        ChainProfile {
            blocks,
            overheads: Overheads {
                before_forward: engine,
                forward: engine,
                between: engine,
                backward: engine,
                after_backward: engine,
            },
        }
    }

    /// The step's peak under `plan`, in bytes above the live bytes before
    /// it.
    ///
    /// # Errors
    /// [`InvalidArgument`](autograd_core::Error::InvalidArgument) when the
    /// plan does not cover the profiled chain.
    pub fn predict(&self, plan: &Plan) -> Result<usize> {
        plan.check(self.blocks.len())?;
        let last = plan.segments().last().is_some_and(|s| s.recomputed);
        Ok(Costs::new(self, last).peak(plan.segments()))
    }
}

/// One segment's part in the step's peak: its own peaks above the bytes
/// the segments before it keep, and what it keeps.
#[derive(Debug, Clone, Copy)]
pub(super) struct SegmentCost {
    /// The forward's peak while the segment runs.
    pub(super) forward: i64,
    /// The backward's peak while the segment runs (the gradients the later
    /// blocks made included).
    pub(super) backward: i64,
    /// What the segment keeps from its forward to its backward.
    pub(super) held: i64,
}

/// The costs of a profiled chain's segments, for the plans whose last
/// segment is recomputed or not (what the chain's output variables hold
/// through backward depends on it).
pub(super) struct Costs<'p> {
    profile: &'p ChainProfile,
    /// `after[j]`: the parameters' gradients the blocks from `j` on made.
    after: Vec<i64>,
    /// Whether the plans' last segment is recomputed.
    last_recomputed: bool,
}

impl<'p> Costs<'p> {
    pub(super) fn new(profile: &'p ChainProfile, last_recomputed: bool) -> Self {
        let mut after = vec![0; profile.blocks.len() + 1];
        for (j, block) in profile.blocks.iter().enumerate().rev() {
            after[j] = after[j + 1] + block.param_grad as i64;
        }
        Costs {
            profile,
            after,
            last_recomputed,
        }
    }

    /// Whether the plans' last segment is recomputed.
    pub(super) fn last_recomputed(&self) -> bool {
        self.last_recomputed
    }

    pub(super) fn blocks(&self) -> usize {
        self.profile.blocks.len()
    }

    fn block(&self, j: usize) -> BlockCost {
        self.profile.blocks[j]
    }

    /// The gradient backward hands block `j - 1`, made by block `j` (the
    /// last block's comes from outside the chain: the engine's part).
    fn grad_into(&self, j: usize) -> i64 {
        if j == self.blocks() {
            0
        } else {
            self.block(j).input_grad as i64
        }
    }

    /// The chain's output buffers, which its output variables hold through
    /// the whole backward: as the last block ran or was recorded.
    fn chain_output(&self) -> i64 {
        self.profile.blocks.last().map_or(0, |b| {
            if self.last_recomputed {
                b.value as i64
            } else {
                b.recorded_value as i64
            }
        })
    }

    /// Block `j`'s backward peak above the segments before its segment,
    /// given that the recorded blocks of its segment up to it keep
    /// `graphs`; the chain's output counted apart unless `graphs` holds
    /// it (the last block, kept).
    fn backward_at(&self, j: usize, graphs: i64, recomputed: bool) -> i64 {
        let output = if j + 1 < self.blocks() || recomputed {
            self.chain_output()
        } else {
            0
        };
        graphs
            + output
            + self.grad_into(j + 1)
            + self.after[j + 1]
            + self.block(j).backward_peak as i64
    }

    /// Block `j` kept: recorded in forward, its graph differentiated in
    /// backward.
    pub(super) fn kept(&self, j: usize) -> SegmentCost {
        let b = self.block(j);
        SegmentCost {
            forward: b.record_peak as i64,
            backward: self.backward_at(j, b.recorded as i64, false),
            held: b.recorded as i64,
        }
    }

    /// The segments recomputed from block `start`, one block longer at each
    /// step.
    pub(super) fn recomputed_from(&self, start: usize) -> Recomputed<'_, 'p> {
        Recomputed {
            costs: self,
            start,
            end: start,
            forward: 0,
            graphs: 0,
            recording: i64::MIN,
            differentiating: i64::MIN,
        }
    }

    /// The cost of `segment`.
    pub(super) fn segment(&self, segment: &Segment) -> SegmentCost {
        if segment.recomputed {
            let mut run = self.recomputed_from(segment.blocks.start);
            let mut cost = None;
            for _ in segment.blocks.clone() {
                cost = run.next();
            }
            cost.expect("a segment has a block")
        } else {
            let mut costs = segment.blocks.clone().map(|j| self.kept(j));
            let first = costs.next().expect("a segment has a block");
            costs.fold(first, |sum, c| SegmentCost {
                forward: sum.forward.max(sum.held + c.forward),
                backward: sum.backward.max(sum.held + c.backward),
                held: sum.held + c.held,
            })
        }
    }

    /// The step's peak for these segments, engine included.
    pub(super) fn peak(&self, segments: &[Segment]) -> usize {
        let (mut held, mut forward, mut backward) = (0, i64::MIN, i64::MIN);
        for segment in segments {
            let cost = self.segment(segment);
            forward = forward.max(held + cost.forward);
            backward = backward.max(held + cost.backward);
            held += cost.held;
        }
        self.engine_peak(forward, backward, held)
    }

    /// The step's peak given the chain's forward and backward peaks and
    /// what its forward keeps, with the engine's part around them.
    pub(super) fn engine_peak(&self, forward: i64, backward: i64, held: i64) -> usize {
        let o = self.profile.overheads;
        let peak = o
            .before_forward
            .max(o.forward + forward)
            .max(o.between + held)
            .max(o.backward + backward)
            .max(o.after_backward);
        usize::try_from(peak).unwrap_or(0)
    }

    /// The peak bytes any step holds, whatever the plan: the engine's part
    /// before and after the chain's blocks.
    pub(super) fn floor(&self) -> usize {
        let o = self.profile.overheads;
        usize::try_from(o.before_forward.max(o.after_backward)).unwrap_or(0)
    }
}

/// The costs of the segments recomputed from one block, growing by one
/// block per step (an iterator: the planner walks them in this order).
pub(super) struct Recomputed<'c, 'p> {
    costs: &'c Costs<'p>,
    start: usize,
    end: usize,
    /// The forward's peak so far (the blocks run one after the other, each
    /// on the previous one's outputs).
    forward: i64,
    /// The graphs of the blocks recorded again so far.
    graphs: i64,
    /// The most the recomputation reached, without the gradients around it.
    recording: i64,
    /// The most the backward of the blocks so far reached.
    differentiating: i64,
}

impl Iterator for Recomputed<'_, '_> {
    type Item = SegmentCost;

    fn next(&mut self) -> Option<SegmentCost> {
        let c = self.costs;
        let n = c.blocks();
        if self.end == n {
            return None;
        }
        let j = self.end;
        let b = c.block(j);
        // Forward: block j runs while block j - 1's outputs are held
        // (block `start`'s input belongs to the segments before).
        let input = if j == self.start {
            0
        } else {
            c.block(j - 1).value as i64
        };
        self.forward = self.forward.max(input + b.run_peak as i64);
        // Backward: recorded again on top of the graphs before it, then
        // differentiated when the graphs after it are gone.
        self.recording = self.recording.max(self.graphs + b.record_peak as i64);
        self.graphs += b.recorded as i64;
        self.differentiating = self
            .differentiating
            .max(c.backward_at(j, self.graphs, true));
        self.end += 1;
        let end = self.end;
        let recording = self.recording + c.chain_output() + c.grad_into(end) + c.after[end];
        Some(SegmentCost {
            forward: self.forward,
            backward: recording.max(self.differentiating),
            held: b.value as i64,
        })
    }
}

/// Measures what each of `blocks`' steps allocates on `inputs` with
/// `meter`, and one step of the whole chain for the engine's part: the
/// input to [`plan_chain`](super::plan_chain).
///
/// Runs each block three times (without recording, recorded, and its
/// backward) and the chain once more with its backward from the last
/// output, whose gradient is ones. It clears the parameters' gradients
/// (a step's first line does) and leaves them cleared, and puts the
/// thread's dropout generator back as it found it. `meter` must see this
/// thread's allocations, and no other thread may allocate through it
/// meanwhile if it counts them too.
///
/// # Errors
/// [`Error::InvalidArgument`] naming `profile_chain` under a strategy that
/// does not free a graph when its last handle goes (`Collected`,
/// `CollectedSync`, `StrongOnly`: what a step holds there depends on when
/// the collector runs, or it holds everything); what a block returns;
/// [`Error::OutputCount`] when a block returns another number of values
/// than it was given.
pub fn profile_chain<S: Strategy>(
    blocks: &[ChainBlock<S>],
    inputs: &[&Variable<S>],
    meter: &'static dyn Meter,
) -> Result<ChainProfile> {
    let n = blocks.len();
    Plan::keep_all(n).check(n)?;
    if matches!(S::FREEING, Freeing::OnCollection | Freeing::Never) {
        return Err(Error::InvalidArgument {
            op: "profile_chain",
            message: format!(
                "a byte budget needs a strategy that frees a graph when its last handle goes \
                 (RcWeak, ArcWeak, Region); under {} it waits for {}",
                S::KIND.name(),
                if S::FREEING == Freeing::Never {
                    "nothing"
                } else {
                    "a collection"
                }
            ),
        });
    }
    let _generator = ForkedGenerator::new(generator_state());
    let needs = inputs.iter().map(|x| x.requires_grad()).collect();
    let mut live = Live::new(blocks, needs, &Plan::keep_all(n));
    chain::make_room();
    for p in live.params() {
        p.cleargrad();
    }
    let first_made: Vec<Option<usize>> = {
        // The block whose backward makes each parameter's gradient first:
        // the last one reading it.
        let mut first = vec![None; live.params().len()];
        for (j, slots) in live.slots().iter().enumerate() {
            for &slot in slots {
                first[slot] = Some(j);
            }
        }
        first
    };
    let mut costs = Vec::with_capacity(n);
    let seed = {
        let _direct = bypass_cache();
        let mut carry: chain::Carry = inputs.iter().map(|x| x.tensor()).collect();
        for j in 0..n {
            let generator = generator_state();
            let (output, run) = measure(meter, || live.run(j, &carry))?;
            // Recorded with the masks the run drew.
            let forked = ForkedGenerator::new(generator);
            let (graph, record) = measure(meter, || live.record(j, &carry))?;
            drop(forked);
            let seed: CarryGrad = graph
                .output()
                .iter()
                .map(|t| Some(Tensor::ones(t.shape())))
                .collect();
            let (grads, backward) = measure(meter, || live.differentiate(j, &graph, &seed))?;
            let input_grad = carry_bytes(&grads.iter().flatten().cloned().collect::<Vec<_>>());
            let mut param_grad = 0;
            for &slot in &live.slots()[j] {
                if first_made[slot] == Some(j) {
                    param_grad += live.param_grads[slot]
                        .as_ref()
                        .map_or(0, Tensor::heap_bytes);
                }
            }
            for g in &mut live.param_grads {
                *g = None;
            }
            let recorded_value = graph.output_bytes();
            drop((grads, seed, graph));
            costs.push(BlockCost {
                run_peak: run.peak,
                value: carry_bytes(&output),
                record_peak: record.peak,
                recorded: usize::try_from(record.kept).unwrap_or(0),
                recorded_value,
                backward_peak: backward.peak,
                input_grad,
                param_grad,
            });
            carry = output;
        }
        let last = carry.last().expect("a chain carries a value");
        ndarray::ArrayD::ones(last.shape())
    };
    let mut profile = ChainProfile {
        blocks: costs,
        overheads: Overheads::default(),
    };
    profile.overheads = engine_part(blocks, inputs, meter, &profile, seed)?;
    for p in live.params() {
        p.cleargrad();
    }
    Ok(profile)
}

/// A step's peak above its start and what it kept.
struct Measured {
    peak: usize,
    kept: i64,
}

fn measure<T>(meter: &dyn Meter, step: impl FnOnce() -> Result<T>) -> Result<(T, Measured)> {
    meter.reset_peak();
    let start = meter.live();
    let value = step()?;
    let (peak, end) = (meter.peak(), meter.live());
    Ok((
        value,
        Measured {
            peak: peak - start,
            kept: end as i64 - start as i64,
        },
    ))
}

/// Runs the chain once keeping every block, reading the meter around and
/// inside it: the engine's part of the step, as offsets from what the
/// blocks' costs predict for that plan.
fn engine_part<S: Strategy>(
    blocks: &[ChainBlock<S>],
    inputs: &[&Variable<S>],
    meter: &'static dyn Meter,
    profile: &ChainProfile,
    seed: ndarray::ArrayD<f64>,
) -> Result<Overheads> {
    let plan = Plan::keep_all(blocks.len());
    let costs = Costs::new(profile, false);
    let held: i64 = plan.segments().iter().map(|s| costs.segment(s).held).sum();
    let _direct = bypass_cache();
    meter.reset_peak();
    let start = meter.live() as i64;
    let outputs = chain::run_chain(blocks, inputs, &plan, Some(meter))?;
    let after_forward = meter.peak() as i64;
    meter.reset_peak();
    backward_step(&outputs, seed)?;
    let after_backward = meter.peak() as i64;
    drop(outputs);
    let r = chain::last_readings();
    let live = |m: Mark| r.live[m as usize] as i64;
    let peak = |m: Mark| r.peak[m as usize] as i64;
    Ok(Overheads {
        before_forward: peak(Mark::ForwardStart) - start,
        forward: live(Mark::ForwardStart) - start,
        between: after_forward.max(peak(Mark::BackwardStart)) - start - held,
        backward: live(Mark::BackwardStart) - start - held,
        after_backward: after_backward - start,
    })
}

/// A measured step's backward: from the chain's last output, with `seed`
/// as its gradient, letting the graph go.
pub(super) fn backward_step<S: Strategy>(
    outputs: &[Variable<S>],
    seed: ndarray::ArrayD<f64>,
) -> Result<()> {
    let mut options = BackwardOptions::default().retain_graph(false);
    options.grad = Some(seed);
    outputs
        .last()
        .expect("a chain carries a value")
        .backward_with(options)
}
