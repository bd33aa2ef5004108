//! What an op keeps for its backward: declared to the engine in
//! [`Function::save`](crate::Function::save) through [`Save`], kept in the
//! function node ([`Plan`], [`Marks`]), and read back by the op's
//! derivative through [`Saved`].
//!
//! The engine, not the op, owns these values: `graph_footprint` counts them,
//! and a function can let them go once it has run. An op reads nothing it
//! did not declare ([`Error::NotSaved`]), so what a graph keeps is what its
//! ops said they need.

use std::sync::Arc;

use autograd_mem::{DefaultStrategy, Strategy};
use smallvec::SmallVec;

use crate::function_node::{Input, Linked, SavedOutput};
use crate::no_grad::no_grad;
use crate::plan::{Bits, Marks, Plan, Planned, SAVES_INPUT, SAVES_OUTPUT};
use crate::{Error, Function, Grads, Result, Tensor, Tensors, Variable, apply_one};

/// An op's declaration of what its backward reads, made in
/// [`Function::save`](crate::Function::save) right after a recorded forward.
///
/// Inputs and outputs are kept by reference to what the graph already holds
/// (a shared buffer, never a copy); [`tensor`](Save::tensor) keeps any other
/// value (a mask). [`needs_grad`](Save::needs_grad) tells which inputs will
/// ever receive a gradient, so an op keeps only what those gradients need
/// (`x · w` with a data batch `x` keeps `x` for `w`'s gradient, not `w`).
pub struct Save<'a> {
    op: &'static str,
    xs: &'a [Tensor],
    ys: &'a [Tensor],
    needs: Bits,
    inputs: Bits,
    outputs: Bits,
    /// Tensors kept and a bad index, boxed: most ops have neither, and the
    /// declaration is then dropped with a null check.
    rare: Option<Box<Rare>>,
}

/// What few declarations have.
#[derive(Default)]
struct Rare {
    tensors: Vec<Tensor>,
    error: Option<Error>,
}

impl<'a> Save<'a> {
    #[inline]
    pub(crate) fn new(op: &'static str, xs: &'a [Tensor], ys: &'a [Tensor], needs: Bits) -> Self {
        Save {
            op,
            xs,
            ys,
            needs,
            inputs: Bits::default(),
            outputs: Bits::default(),
            rare: None,
        }
    }

    /// The inputs' values, as forward read them.
    pub fn inputs(&self) -> &[Tensor] {
        self.xs
    }

    /// The outputs' values, as forward computed them.
    pub fn outputs(&self) -> &[Tensor] {
        self.ys
    }

    /// `true` if input `index` may receive a gradient (it is not a constant:
    /// see [`Variable::constant`]). At least one input always does: an op on
    /// constants alone is not recorded.
    #[inline]
    pub fn needs_grad(&self, index: usize) -> bool {
        self.needs.get(index)
    }

    /// Keeps input `index`'s value for backward ([`Saved::input`]).
    #[inline]
    pub fn input(&mut self, index: usize) {
        match index < self.xs.len() {
            true => self.inputs.set(index),
            false => self.out_of_range("input", index, self.xs.len()),
        }
    }

    /// Keeps output `index`'s value for backward ([`Saved::output`]).
    #[inline]
    pub fn output(&mut self, index: usize) {
        match index < self.ys.len() {
            true => self.outputs.set(index),
            false => self.out_of_range("output", index, self.ys.len()),
        }
    }

    /// Keeps another tensor for backward and returns its index for
    /// [`Saved::tensor`]. Backward reads it as a constant: no gradient flows
    /// through it (a mask, indices as values).
    pub fn tensor(&mut self, tensor: Tensor) -> usize {
        let tensors = &mut self.rare.get_or_insert_with(Box::default).tensors;
        tensors.push(tensor);
        tensors.len() - 1
    }

    /// For a product of inputs 0 and 1 (`Mul`, `MatMul`, `Linear`): keeps
    /// each factor the other's gradient reads, input 1 if input 0 needs a
    /// gradient and input 0 if input 1 does.
    pub fn product_factors(&mut self) {
        if self.needs_grad(0) {
            self.input(1);
        }
        if self.needs_grad(1) {
            self.input(0);
        }
    }

    /// Keeps every input: what the default [`Function::save`] does.
    ///
    /// [`Function::save`]: crate::Function::save
    pub fn every_input(&mut self) {
        (0..self.xs.len()).for_each(|index| self.inputs.set(index));
    }

    fn out_of_range(&mut self, what: &'static str, index: usize, count: usize) {
        let rare = self.rare.get_or_insert_with(Box::default);
        rare.error.get_or_insert(Error::NotSaved {
            op: self.op,
            what,
            index,
            count,
        });
    }

    /// The plan, packed when it fits (at most two inputs, one output, no
    /// tensors: the common op), or the first out-of-range index the op
    /// declared.
    #[inline]
    pub(crate) fn finish(self) -> Result<Planned> {
        // Up to two inputs and one output, every index set was checked
        // below 2: the sets are one word each.
        if self.rare.is_none() && self.xs.len() <= 2 && self.ys.len() == 1 {
            let bits = (self.needs.low() & 0b11)
                | ((self.inputs.low() & 0b11) << SAVES_INPUT)
                | ((self.outputs.low() & 1) * u64::from(SAVES_OUTPUT));
            return Ok(Planned::Packed(Marks::from_bits(bits as u8)));
        }
        self.finish_wide()
    }

    /// [`finish`](Save::finish) for a plan that goes out of line.
    #[cold]
    #[inline(never)]
    fn finish_wide(self) -> Result<Planned> {
        let Rare { tensors, error } = self.rare.map(|rare| *rare).unwrap_or_default();
        if let Some(error) = error {
            return Err(error);
        }
        Ok(Planned::Wide(Plan {
            needs: self.needs,
            inputs: self.inputs,
            outputs: self.outputs,
            tensors: (!tensors.is_empty()).then(|| tensors.into_boxed_slice()),
        }))
    }
}

/// What a derivative reads: the values its op saved, which inputs need a
/// gradient, and the inputs' and outputs' shapes.
///
/// In a first-order pass the variables it hands out are constants and
/// nothing is recorded; under `create_graph` they are the graph's own
/// variables (a saved input is the input as forward read it, a saved output
/// the output itself), so the gradients the derivative computes with ops
/// are recorded and can be differentiated again.
pub struct Saved<'a, S: Strategy = DefaultStrategy> {
    function: Linked<'a, S>,
    xs: &'a [Tensor],
    needs: &'a Bits,
    recording: bool,
}

impl<'a, S: Strategy> Saved<'a, S> {
    pub(crate) fn new(
        function: Linked<'a, S>,
        xs: &'a [Tensor],
        needs: &'a Bits,
        recording: bool,
    ) -> Self {
        Saved {
            function,
            xs,
            needs,
            recording,
        }
    }

    fn op(&self) -> &'static str {
        self.function.op().name()
    }

    /// `true` under `create_graph`: the gradients the derivative computes
    /// are recorded (and the variables it hands out are the graph's own);
    /// `false` in a first-order pass, which runs on constants.
    pub fn records(&self) -> bool {
        self.recording
    }

    fn not_saved(&self, what: &'static str, index: usize) -> Error {
        let count = match what {
            "input" => self.xs.len(),
            "output" => self.function.output_count(),
            _ => self.function.saved_tensors().len(),
        };
        Error::NotSaved {
            op: self.op(),
            what,
            index,
            count,
        }
    }

    /// `true` if input `index` is to receive a gradient in this pass (it
    /// needs one, and is a live variable). A derivative computes only these.
    #[inline]
    pub fn needs_grad(&self, index: usize) -> bool {
        self.needs.get(index)
    }

    /// How many inputs the function read.
    pub fn num_inputs(&self) -> usize {
        self.xs.len()
    }

    /// Input `index`'s shape (known whether or not its value was saved).
    ///
    /// # Panics
    /// If `index` is not an input's.
    pub fn input_shape(&self, index: usize) -> &[usize] {
        self.xs[index].shape()
    }

    /// The saved value of input `index`, as forward read it.
    ///
    /// # Errors
    /// [`Error::NotSaved`] when the op did not keep it in `save`.
    pub fn input_value(&self, index: usize) -> Result<&Tensor> {
        if self.function.saves_input(index) && index < self.xs.len() {
            Ok(&self.xs[index])
        } else {
            Err(self.not_saved("input", index))
        }
    }

    /// The saved value of output `index`.
    ///
    /// # Errors
    /// [`Error::NotSaved`] when the op did not keep it in `save`.
    pub fn output_value(&self, index: usize) -> Result<Tensor> {
        match self.function.saved_output(index) {
            SavedOutput::NotSaved => Err(self.not_saved("output", index)),
            SavedOutput::Live(y) => Ok(y.tensor()),
            SavedOutput::Gone(Some(value)) => Ok(value),
            SavedOutput::Gone(None) => Err(Error::OutputGone {
                op: self.op(),
                index,
            }),
        }
    }

    /// Tensor `index` kept with [`Save::tensor`].
    ///
    /// # Errors
    /// [`Error::NotSaved`] for an index `save` did not return.
    pub fn tensor_value(&self, index: usize) -> Result<&Tensor> {
        self.function
            .saved_tensors()
            .get(index)
            .ok_or_else(|| self.not_saved("tensor", index))
    }

    /// Input `index` as a variable for the derivative's ops: under
    /// `create_graph` the input as forward read it (gradients flow through
    /// it), a constant otherwise.
    ///
    /// # Errors
    /// [`Error::NotSaved`] when the op did not keep it in `save`.
    pub fn input(&self, index: usize) -> Result<Variable<S>> {
        let value = self.input_value(index)?;
        if !self.recording {
            return Ok(Variable::from_tensor(value.clone()));
        }
        as_forward_read_it(&self.function.inputs()[index])
    }

    /// Output `index` as a variable for the derivative's ops: under
    /// `create_graph` the output itself, whose creator is this function, so
    /// a higher order differentiates through it; a constant otherwise.
    ///
    /// # Errors
    /// [`Error::NotSaved`] when the op did not keep it in `save`;
    /// [`Error::OutputGone`] under `create_graph` for an output of a
    /// function with several that nothing holds any more.
    pub fn output(&self, index: usize) -> Result<Variable<S>> {
        if !self.recording {
            return Ok(Variable::from_tensor(self.output_value(index)?));
        }
        match self.function.saved_output(index) {
            SavedOutput::NotSaved => Err(self.not_saved("output", index)),
            SavedOutput::Live(y) => Ok(y),
            SavedOutput::Gone(_) => Err(Error::OutputGone {
                op: self.op(),
                index,
            }),
        }
    }

    /// Tensor `index` kept with [`Save::tensor`], as a constant.
    ///
    /// # Errors
    /// [`Error::NotSaved`] for an index `save` did not return.
    pub fn tensor(&self, index: usize) -> Result<Variable<S>> {
        let value = self.tensor_value(index)?.clone();
        Ok(if self.recording {
            Variable::constant_from_tensor(value)
        } else {
            Variable::from_tensor(value)
        })
    }

    /// `Some(f())` if input `index` needs a gradient, `None` (and `f` not
    /// run) otherwise: one entry of what a derivative returns.
    ///
    /// # Errors
    /// Whatever `f` returns.
    pub fn grad(
        &self,
        index: usize,
        f: impl FnOnce() -> Result<Variable<S>>,
    ) -> Result<Option<Variable<S>>> {
        if self.needs_grad(index) {
            f().map(Some)
        } else {
            Ok(None)
        }
    }

    /// A constant for the derivative's ops: a leaf that needs no gradient
    /// under `create_graph`, a plain leaf otherwise (nothing is recorded).
    pub fn constant(&self, value: Tensor) -> Variable<S> {
        if self.recording {
            Variable::constant_from_tensor(value)
        } else {
            Variable::from_tensor(value)
        }
    }

    /// A scalar [`constant`](Saved::constant).
    pub fn scalar(&self, value: f64) -> Variable<S> {
        self.constant(Tensor::scalar(value))
    }
}

/// The first-order pass through an op's one derivative: the output
/// gradients as constants, recording off; the default of
/// [`Function::backward_arrays`](crate::Function::backward_arrays).
pub(crate) fn derivative_on_arrays<S: Strategy>(
    cx: &Saved<'_, S>,
    gys: Tensors,
    derivative: impl FnOnce(&Saved<'_, S>, &[Variable<S>]) -> Result<crate::Grads<S>>,
) -> Result<Tensors> {
    let _constants = no_grad();
    let gys: SmallVec<[Variable<S>; 1]> = gys.into_iter().map(Variable::from_tensor).collect();
    let gxs = derivative(cx, &gys)?;
    let n = cx.num_inputs();
    if gxs.len() != n {
        return Err(Error::GradientCount {
            op: cx.op(),
            expected: n,
            got: gxs.len(),
        });
    }
    // An input that needs no gradient gets a placeholder the engine skips;
    // one that needs a gradient and got none gets zeros.
    Ok(gxs
        .into_iter()
        .enumerate()
        .map(|(i, gx)| match gx {
            Some(gx) => gx.tensor(),
            None if cx.needs_grad(i) => Tensor::zeros(cx.input_shape(i)),
            None => Tensor::scalar(0.0),
        })
        .collect())
}

/// The input as a recorded backward reads it: the variable, or what
/// forward read of a leaf. A leaf whose value `set_data` has replaced
/// since stands behind a [`ValueAtForward`] node holding the old value,
/// so that gradients still reach the leaf and every order is taken at
/// the value forward saw; a leaf that is gone is a constant of it.
fn as_forward_read_it<S: Strategy>(input: &Input<S>) -> Result<Variable<S>> {
    let (back, saved) = match input {
        Input::Variable(link) => {
            return Ok(Variable {
                node: S::handle(link),
            });
        }
        Input::Leaf(back, saved) => (back, saved),
    };
    let Some(node) = S::upgrade(back) else {
        return Ok(Variable::from_tensor(Tensor::from_buffer(saved)));
    };
    let leaf = Variable { node };
    let saved = Tensor::from_shared_repr(Arc::clone(saved));
    if leaf.tensor().ptr_eq(&saved) {
        Ok(leaf)
    } else {
        apply_one(ValueAtForward(saved), &[&leaf])
    }
}

/// `y = x` at the value `x` had when forward read it (a leaf's value before
/// a `set_data`): the gradient passes through unchanged.
struct ValueAtForward(Tensor);

impl<S: Strategy> Function<S> for ValueAtForward {
    fn name(&self) -> &'static str {
        "value_at_forward"
    }

    fn num_inputs(&self) -> usize {
        1
    }

    fn forward(&mut self, _xs: &[Tensor]) -> Result<Tensors> {
        Ok(self.0.clone().into())
    }

    fn save(&mut self, _save: &mut Save<'_>) {}

    fn derivative(&self, _cx: &Saved<'_, S>, gys: &[Variable<S>]) -> Result<Grads<S>> {
        Ok(vec![Some(gys[0].clone())])
    }
}
