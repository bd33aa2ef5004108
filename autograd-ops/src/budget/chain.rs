//! [`checkpoint_chain`]: a chain of blocks run as a [`Plan`] says, recorded
//! as one op whose backward walks the plan, and the per-block steps the
//! profile measures.
//!
//! Everything the chain keeps between forward and backward (the blocks,
//! the graphs of the blocks it keeps, the values it starts recomputing
//! from) is not `Send` under every strategy, while a [`Function`] is: it
//! stays in a per-thread table, and the op holds its key. Backward must
//! run on the thread that ran forward.
//!
//! Each block is recorded on leaves of its own holding the carried values
//! (sharing their buffers) and differentiated alone
//! ([`block_gradients`]), so what one block's steps allocate does not
//! depend on the rest of the chain: the sum the profile's prediction
//! makes (`cost.rs`) is what the allocator sees. The thread's buffer cache
//! is bypassed throughout for the same reason.

use std::any::Any;
use std::cell::RefCell;
use std::marker::PhantomData;

use autograd_core::buffers::bypass_cache;
use autograd_core::{
    Error, Function, Grads, Result, Save, Saved, Strategy, Tensor, Tensors, Variable, apply,
    block_gradients, enable_grad, no_grad,
};
use rand::rngs::StdRng;
use smallvec::SmallVec;

use super::{ChainBlock, Meter, Plan};
use crate::dropout::{ForkedGenerator, generator_state};
use crate::mode::{is_training, mode_scope};

/// The op's name, in errors and graph exports.
pub(super) const NAME: &str = "checkpoint_chain";

/// The values a chain carries from block to block (inline: a carry of up
/// to four values allocates nothing of its own).
pub(super) type Carry = SmallVec<[Tensor; 4]>;
/// The gradients of a carry; `None` where none reached it.
pub(super) type CarryGrad = SmallVec<[Option<Tensor>; 4]>;

/// A block recorded on leaves of its own.
pub(super) struct Recorded<S: Strategy> {
    inputs: SmallVec<[Variable<S>; 4]>,
    outputs: Vec<Variable<S>>,
}

impl<S: Strategy> Recorded<S> {
    /// The carry the block computed (sharing its outputs' buffers).
    pub(super) fn output(&self) -> Carry {
        self.outputs.iter().map(Variable::tensor).collect()
    }

    /// The bytes of the outputs' buffers.
    pub(super) fn output_bytes(&self) -> usize {
        carry_bytes(&self.output())
    }
}

/// `t` as the chain passes values and gradients between blocks: a
/// one-element tensor inline. Run without recording, an op's output is a
/// leaf, whose one element has a buffer of its own; a gradient may come
/// either way; what a block allocates depends on which it reads, so the
/// chain hands on one kind only.
pub(super) fn canonical(t: Tensor) -> Tensor {
    match t.item() {
        Some(value) if t.len() == 1 => Tensor::full(t.shape(), value),
        _ => t,
    }
}

/// The bytes of a carry's buffers, each once.
pub(super) fn carry_bytes(carry: &[Tensor]) -> usize {
    let mut bytes = 0;
    for (i, t) in carry.iter().enumerate() {
        if !carry[..i].iter().any(|s| s.ptr_eq(t)) {
            bytes += t.heap_bytes();
        }
    }
    bytes
}

/// The points of a chain's step at which a profile reads the meter.
#[derive(Clone, Copy)]
pub(super) enum Mark {
    ForwardStart = 0,
    ForwardEnd = 1,
    BackwardStart = 2,
    BackwardEnd = 3,
}

/// Meter readings at the [`Mark`]s: live bytes and the peak since the
/// previous reading (the peak is restarted at each).
#[derive(Clone, Copy, Default, Debug)]
pub(super) struct Readings {
    pub(super) live: [usize; 4],
    pub(super) peak: [usize; 4],
}

/// What a plan does with one block.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Step {
    /// Recorded in forward, its graph kept.
    Kept,
    /// Run in forward and again in backward, starting a segment.
    Starts,
    /// Run in forward and again in backward, inside a segment.
    Continues,
}

/// A chain between its forward and its backward: what the thread keeps.
pub(super) struct Live<S: Strategy> {
    blocks: Vec<ChainBlock<S>>,
    /// The chain's distinct parameters, in first-read order.
    params: Vec<Variable<S>>,
    /// Each block's parameters as indices into `params`, each once.
    slots: Vec<Vec<usize>>,
    /// Whether each carried input needs a gradient.
    needs: SmallVec<[bool; 4]>,
    /// The dropout generator and mode each block first ran with.
    generators: Vec<Option<StdRng>>,
    training: Vec<bool>,
    /// Whether blocks run again (backward) rather than the first time.
    replaying: bool,
    /// The parameters' gradients summed so far.
    pub(super) param_grads: Vec<Option<Tensor>>,
    /// What the plan does with each block: one byte a block, whatever the
    /// plan (so that what the chain holds does not depend on it).
    steps: Vec<Step>,
    /// The graphs of the blocks recorded and not yet differentiated.
    graphs: Vec<Option<Recorded<S>>>,
    /// The carry each recomputed segment starts from, at its first block.
    starts: Vec<Option<Carry>>,
    /// A profile's meter (its readings go to the thread's [`READINGS`]).
    probe: Option<&'static dyn Meter>,
}

impl<S: Strategy> Live<S> {
    /// A chain of `blocks` whose carried inputs need gradients as `needs`
    /// says, to be run as `plan` says.
    pub(super) fn new(blocks: &[ChainBlock<S>], needs: SmallVec<[bool; 4]>, plan: &Plan) -> Self {
        let mut params: Vec<Variable<S>> = Vec::new();
        let slots = blocks
            .iter()
            .map(|block| {
                let mut mine: Vec<usize> = Vec::with_capacity(block.params().len());
                for p in block.params() {
                    let slot = match params.iter().position(|q| q.ptr_eq(p)) {
                        Some(slot) => slot,
                        None => {
                            params.push(p.clone());
                            params.len() - 1
                        }
                    };
                    if !mine.contains(&slot) {
                        mine.push(slot);
                    }
                }
                mine.shrink_to_fit();
                mine
            })
            .collect();
        let n = blocks.len();
        let mut steps = Vec::with_capacity(n);
        for segment in plan.segments() {
            for block in segment.blocks.clone() {
                steps.push(match (segment.recomputed, block == segment.blocks.start) {
                    (false, _) => Step::Kept,
                    (true, true) => Step::Starts,
                    (true, false) => Step::Continues,
                });
            }
        }
        Live {
            blocks: blocks.to_vec(),
            param_grads: (0..params.len()).map(|_| None).collect(),
            params,
            slots,
            needs,
            generators: (0..n).map(|_| None).collect(),
            training: vec![true; n],
            replaying: false,
            steps,
            graphs: (0..n).map(|_| None).collect(),
            starts: (0..n).map(|_| None).collect(),
            probe: None,
        }
    }

    pub(super) fn with_probe(mut self, meter: &'static dyn Meter) -> Self {
        self.probe = Some(meter);
        self
    }

    /// The chain's distinct parameters.
    pub(super) fn params(&self) -> &[Variable<S>] {
        &self.params
    }

    /// Each block's parameters, as indices into [`params`](Live::params).
    pub(super) fn slots(&self) -> &[Vec<usize>] {
        &self.slots
    }

    fn mark(&mut self, mark: Mark) {
        if let Some(meter) = self.probe {
            let (live, peak) = (meter.live(), meter.peak());
            READINGS.with(|r| {
                let mut readings = r.get();
                readings.live[mark as usize] = live;
                readings.peak[mark as usize] = peak;
                r.set(readings);
            });
            meter.reset_peak();
        }
    }

    /// The guards that make block `block` draw its first run's dropout
    /// masks in its first run's mode, when it runs again; on its first
    /// run, notes the generator and mode.
    fn replay(&mut self, block: usize) -> (Option<ForkedGenerator>, Option<crate::ModeGuard>) {
        if self.replaying {
            let generator = self.generators[block].clone().map(ForkedGenerator::new);
            (generator, Some(mode_scope(self.training[block])))
        } else {
            self.generators[block] = Some(generator_state());
            self.training[block] = is_training();
            (None, None)
        }
    }

    fn check_count(&self, got: usize) -> Result<()> {
        if got == self.needs.len() {
            Ok(())
        } else {
            Err(Error::OutputCount {
                op: NAME,
                expected: self.needs.len(),
                got,
            })
        }
    }

    /// Runs block `block` on `carry` recording nothing.
    pub(super) fn run(&mut self, block: usize, carry: &[Tensor]) -> Result<Carry> {
        let _nothing_recorded = no_grad();
        let _replay = self.replay(block);
        let inputs: SmallVec<[Variable<S>; 4]> = carry
            .iter()
            .map(|t| Variable::constant_from_tensor(t.clone()))
            .collect();
        let outputs = self.blocks[block].forward(&inputs)?;
        self.check_count(outputs.len())?;
        Ok(outputs.iter().map(|y| canonical(y.tensor())).collect())
    }

    /// Records block `block` on leaves holding `carry`.
    pub(super) fn record(&mut self, block: usize, carry: &[Tensor]) -> Result<Recorded<S>> {
        let _recording = enable_grad();
        let _replay = self.replay(block);
        let inputs: SmallVec<[Variable<S>; 4]> = carry
            .iter()
            .enumerate()
            .map(|(i, t)| {
                if block > 0 || self.needs[i] {
                    Variable::from_tensor(t.clone())
                } else {
                    Variable::constant_from_tensor(t.clone())
                }
            })
            .collect();
        let outputs = self.blocks[block].forward(&inputs)?;
        self.check_count(outputs.len())?;
        Ok(Recorded { inputs, outputs })
    }

    /// Differentiates the recorded block `block` given its outputs'
    /// gradients: adds its parameters' gradients to those summed so far
    /// and returns its inputs'.
    pub(super) fn differentiate(
        &mut self,
        block: usize,
        graph: &Recorded<S>,
        grad: &[Option<Tensor>],
    ) -> Result<CarryGrad> {
        let seeds: SmallVec<[(&Variable<S>, Tensor); 4]> = graph
            .outputs
            .iter()
            .zip(grad)
            .filter_map(|(y, g)| Some((y, g.clone()?)))
            .collect();
        let slots = &self.slots[block];
        let mut targets: Vec<&Variable<S>> = Vec::with_capacity(graph.inputs.len() + slots.len());
        targets.extend(&graph.inputs);
        targets.extend(slots.iter().map(|&slot| &self.params[slot]));
        let found = block_gradients(NAME, &seeds, &targets)?;
        drop(targets);
        let mut found = found.into_iter();
        let inputs: CarryGrad = found
            .by_ref()
            .take(graph.inputs.len())
            .map(|g| g.map(canonical))
            .collect();
        for (&slot, grad) in self.slots[block].iter().zip(found) {
            let Some(grad) = grad else { continue };
            let sum = &mut self.param_grads[slot];
            *sum = Some(match sum.take() {
                None => grad,
                // In place: the sum is this chain's own buffer.
                Some(sum) => sum.into_zip_with(NAME, &grad, |a, b| a + b)?,
            });
        }
        Ok(inputs)
    }

    /// Runs the plan's forward from `x`, keeping what backward needs.
    pub(super) fn forward(&mut self, x: Carry) -> Result<Carry> {
        self.mark(Mark::ForwardStart);
        let result = (|| {
            let mut carry = x;
            for block in 0..self.steps.len() {
                match self.steps[block] {
                    Step::Kept => {
                        let graph = self.record(block, &carry)?;
                        carry = graph.output();
                        self.graphs[block] = Some(graph);
                    }
                    step => {
                        if step == Step::Starts {
                            self.starts[block] = Some(carry.clone());
                        }
                        carry = self.run(block, &carry)?;
                    }
                }
            }
            Ok(carry)
        })();
        self.mark(Mark::ForwardEnd);
        result
    }

    /// Runs the plan's backward from the outputs' gradients: returns the
    /// carried inputs' gradients; the parameters' are in `param_grads`.
    /// Segment by segment from the last: a recomputed one is recorded
    /// again from its start, then its blocks are differentiated from the
    /// last.
    pub(super) fn backward(&mut self, grad: CarryGrad) -> Result<CarryGrad> {
        self.mark(Mark::BackwardStart);
        self.replaying = true;
        let result = (|| {
            let mut grad = grad;
            let mut end = self.steps.len();
            while end > 0 {
                let start = match self.steps[end - 1] {
                    Step::Kept => end - 1,
                    _ => {
                        let start = (0..end)
                            .rev()
                            .find(|&b| self.steps[b] == Step::Starts)
                            .expect("a recomputed segment has a start");
                        let mut carry = self.starts[start].take().expect("kept by forward");
                        for block in start..end {
                            let graph = self.record(block, &carry)?;
                            carry = graph.output();
                            self.graphs[block] = Some(graph);
                        }
                        drop(carry);
                        start
                    }
                };
                for block in (start..end).rev() {
                    let graph = self.graphs[block].take().expect("recorded");
                    let next = self.differentiate(block, &graph, &grad)?;
                    drop(graph);
                    grad = next;
                }
                end = start;
            }
            Ok(grad)
        })();
        self.mark(Mark::BackwardEnd);
        result
    }
}

/// A chain in the thread's table: its key, and its [`Live`] while no step
/// has it out.
type Entry = (u64, Option<Box<dyn Any>>);

thread_local! {
    /// The chains of this thread between forward and backward, by key.
    static CHAINS: RefCell<Vec<Entry>> = const { RefCell::new(Vec::new()) };
    static NEXT_KEY: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
    /// What the last probed chain of this thread read.
    static READINGS: std::cell::Cell<Readings> = const {
        std::cell::Cell::new(Readings { live: [0; 4], peak: [0; 4] })
    };
}

/// What the last probed chain of this thread read at its [`Mark`]s.
pub(super) fn last_readings() -> Readings {
    READINGS.with(std::cell::Cell::get)
}

/// Makes room in this thread's table for a chain and on its mode stack, so
/// that a profile's step finds them made, as the steps after it do.
pub(super) fn make_room() {
    CHAINS.with(|c| c.borrow_mut().reserve(1));
    // The mode stack a replayed block pushes on, grown once per thread.
    drop(mode_scope(is_training()));
}

fn store(live: Box<dyn Any>) -> u64 {
    let key = NEXT_KEY.with(|k| {
        let key = k.get();
        k.set(key + 1);
        key
    });
    CHAINS.with(|c| c.borrow_mut().push((key, Some(live))));
    key
}

/// Takes the chain at `key` out of the table, leaving its place.
fn borrow_live<S: Strategy>(key: u64) -> Option<Box<Live<S>>> {
    CHAINS.with(|c| {
        let mut chains = c.borrow_mut();
        let slot = chains.iter_mut().find(|(k, _)| *k == key)?;
        slot.1.take()?.downcast().ok()
    })
}

/// Puts a chain borrowed by [`borrow_live`] back.
fn give_back<S: Strategy>(key: u64, live: Box<Live<S>>) {
    CHAINS.with(|c| {
        if let Some(slot) = c.borrow_mut().iter_mut().find(|(k, _)| *k == key) {
            slot.1 = Some(live);
        }
    });
}

/// Removes the chain at `key`; returns it.
fn remove(key: u64) -> Option<Box<dyn Any>> {
    CHAINS
        .try_with(|c| {
            let mut chains = c.borrow_mut();
            let at = chains.iter().position(|(k, _)| *k == key)?;
            chains.swap_remove(at).1
        })
        .ok()
        .flatten()
}

/// The recorded op: its key in the thread's table.
struct Chain<S> {
    key: u64,
    carried: usize,
    params: usize,
    _strategy: PhantomData<fn() -> S>,
}

impl<S> Drop for Chain<S> {
    fn drop(&mut self) {
        // A chain dropped without its backward: its graphs go now (on the
        // thread that ran it; elsewhere the thread keeps them until it ends).
        drop(remove(self.key));
    }
}

impl<S: Strategy> Function<S> for Chain<S> {
    fn name(&self) -> &'static str {
        NAME
    }

    fn num_inputs(&self) -> usize {
        self.carried + self.params
    }

    fn num_outputs(&self) -> usize {
        self.carried
    }

    fn forward(&mut self, xs: &[Tensor]) -> Result<Tensors> {
        let _direct = bypass_cache();
        let mut live = borrow_live::<S>(self.key).ok_or_else(elsewhere)?;
        let carry: Carry = xs[..self.carried].iter().cloned().collect();
        let result = live.forward(carry);
        give_back(self.key, live);
        Ok(result?.into_iter().collect())
    }

    fn save(&mut self, _save: &mut Save<'_>) {
        // Nothing: the chain keeps what its plan says in the thread's
        // table, and the blocks read their parameters themselves.
    }

    fn derivative(&self, cx: &Saved<'_, S>, gys: &[Variable<S>]) -> Result<Grads<S>> {
        if cx.records() {
            return Err(Error::op_failed(
                NAME,
                "create_graph cannot differentiate through a checkpointed chain; run the blocks directly for higher-order gradients",
            ));
        }
        let _direct = bypass_cache();
        let mut live = remove(self.key)
            .and_then(|live| live.downcast::<Live<S>>().ok())
            .ok_or_else(elsewhere)?;
        let grad: CarryGrad = gys.iter().map(|g| Some(canonical(g.tensor()))).collect();
        let inputs = live.backward(grad)?;
        let mut grads: Grads<S> = Vec::with_capacity(self.carried + live.params.len());
        for (i, g) in inputs.into_iter().enumerate() {
            grads.push(
                cx.needs_grad(i)
                    .then(|| cx.constant(g.unwrap_or_else(|| Tensor::zeros(cx.input_shape(i))))),
            );
        }
        for (i, g) in live.param_grads.iter_mut().enumerate() {
            let at = self.carried + i;
            grads.push(cx.needs_grad(at).then(|| {
                cx.constant(
                    g.take()
                        .unwrap_or_else(|| Tensor::zeros(&live.params[i].shape())),
                )
            }));
        }
        Ok(grads)
    }
}

fn elsewhere() -> Error {
    Error::op_failed(
        NAME,
        "the chain's kept graphs are gone: backward runs once per forward, on the thread that ran forward",
    )
}

/// Runs `blocks` on `inputs` (the values the chain carries in) as `plan`
/// says, recorded as one op: a segment the plan keeps is recorded block by
/// block and kept until backward; a segment it recomputes keeps only its
/// first block's input and runs again in backward. Returns the carried
/// values after the last block.
///
/// Gradients are those of the blocks run without a plan, bit for bit:
/// each block is differentiated alone on the gradients of its outputs,
/// the same ops on the same values, dropout drawing the same masks in the
/// same mode when a block runs again; a parameter several blocks read
/// gets their gradients summed latest block first, as backward sums
/// them. Backward must run on the thread that ran forward, and once
/// (the plan frees as it goes).
///
/// ```
/// use autograd_ops::budget::{ChainBlock, Plan, checkpoint_chain};
/// use autograd_ops::{Variable, tanh};
///
/// let w = Variable::scalar(0.5);
/// let blocks: Vec<_> = (0..6)
///     .map(|_| {
///         let w2 = w.clone();
///         ChainBlock::new(vec![w.clone()], move |h| Ok(vec![tanh(&(&h[0] * &w2))?]))
///     })
///     .collect();
/// let x = Variable::scalar(1.0);
/// let plan = Plan::segments_of(6, 2, true); // three segments of two, each run again
/// let y = checkpoint_chain(&blocks, &[&x], &plan)?.remove(0);
/// y.backward()?;
/// let checkpointed = (x.grad().unwrap(), w.grad().unwrap());
///
/// let (x2, w2) = (Variable::scalar(1.0), Variable::scalar(0.5));
/// let mut h = x2.clone();
/// for _ in 0..6 {
///     h = tanh(&(&h * &w2))?;
/// }
/// h.backward()?;
/// assert_eq!(checkpointed, (x2.grad().unwrap(), w2.grad().unwrap())); // bit for bit
/// # Ok::<(), autograd_ops::Error>(())
/// ```
///
/// # Errors
/// [`Error::InvalidArgument`] naming `checkpoint_chain` when the plan does
/// not cover the blocks in order, or there are no inputs;
/// [`Error::OutputCount`] when a block returns another number of values
/// than it was given; what a block returns.
pub fn checkpoint_chain<S: Strategy>(
    blocks: &[ChainBlock<S>],
    inputs: &[&Variable<S>],
    plan: &Plan,
) -> Result<Vec<Variable<S>>> {
    run_chain(blocks, inputs, plan, None)
}

/// [`checkpoint_chain`], read by `probe` at the [`Mark`]s when given.
pub(super) fn run_chain<S: Strategy>(
    blocks: &[ChainBlock<S>],
    inputs: &[&Variable<S>],
    plan: &Plan,
    probe: Option<&'static dyn Meter>,
) -> Result<Vec<Variable<S>>> {
    plan.check(blocks.len())?;
    if inputs.is_empty() {
        return Err(Error::InvalidArgument {
            op: NAME,
            message: "a chain carries at least one value".into(),
        });
    }
    if !autograd_core::is_grad_enabled() {
        // Nothing is recorded: the blocks run one after the other.
        let mut carry: Vec<Variable<S>> = inputs.iter().map(|&x| x.clone()).collect();
        for block in blocks {
            carry = block.forward(&carry)?;
        }
        return Ok(carry);
    }
    let needs = inputs.iter().map(|x| x.requires_grad()).collect();
    let mut live = Live::new(blocks, needs, plan);
    if let Some(meter) = probe {
        live = live.with_probe(meter);
    }
    let mut all: Vec<&Variable<S>> = inputs.to_vec();
    all.extend(live.params.iter());
    let all: Vec<Variable<S>> = all.into_iter().cloned().collect();
    let refs: Vec<&Variable<S>> = all.iter().collect();
    let key = store(Box::new(live));
    let op = Chain::<S> {
        key,
        carried: inputs.len(),
        params: all.len() - inputs.len(),
        _strategy: PhantomData,
    };
    let outputs = apply(op, &refs)?;
    Ok(outputs)
}
