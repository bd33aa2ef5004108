//! The one error type of the engine and its ops.

/// A shape, as ndarray reports it.
pub type Shape = Vec<usize>;

/// Everything that can go wrong when building or differentiating a graph.
///
/// Every variant names the op (or `backward`) and the shapes involved, so that
/// the message alone tells a user which call to fix. The variants come in
/// four groups, by where they arise: an op's inputs (shapes and
/// arguments), a user-written op's contract (counts, saves, its own
/// failure), a variable's state and backward's options, and
/// checkpointing. Files have their errors in autograd-nn's `Error`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    // An op's inputs: shapes, axes, indices and arguments that do not fit.
    /// Two operands' shapes do not fit together.
    #[error("{op}: shapes {lhs:?} and {rhs:?} are incompatible")]
    ShapeMismatch {
        /// The op's name.
        op: &'static str,
        /// The first operand's shape.
        lhs: Shape,
        /// The second operand's shape.
        rhs: Shape,
    },
    /// A shape whose element count overflows, or whose bytes exceed what one
    /// allocation may hold.
    #[error("{op}: shape {shape:?} is too large")]
    TooLarge {
        /// The op's name.
        op: &'static str,
        /// The shape asked for.
        shape: Shape,
    },
    /// An axis beyond the array's dimensions.
    #[error("{op}: axis {axis} is out of range for shape {shape:?}")]
    InvalidAxis {
        /// The op's name.
        op: &'static str,
        /// The axis asked for.
        axis: usize,
        /// The input's shape.
        shape: Shape,
    },
    /// An index past the end of an axis.
    #[error("{op}: index {index} is out of range for axis {axis} of length {len}")]
    IndexOutOfRange {
        /// The op's name.
        op: &'static str,
        /// The index asked for.
        index: usize,
        /// The axis indexed.
        axis: usize,
        /// The axis's length.
        len: usize,
    },
    /// A range that runs past the end of an axis.
    #[error(
        "{op}: start {start} and length {len} run past the end of axis {axis} of length {size}"
    )]
    RangeOutOfBounds {
        /// The op's name.
        op: &'static str,
        /// The axis.
        axis: usize,
        /// The range's start.
        start: usize,
        /// The range's length.
        len: usize,
        /// The axis's length.
        size: usize,
    },
    /// An input with another number of axes than the op takes.
    #[error("{op}: expected a {expected}-D input, got shape {shape:?}")]
    WrongRank {
        /// The op's name.
        op: &'static str,
        /// The number of axes the op takes.
        expected: usize,
        /// The input's shape.
        shape: Shape,
    },
    /// A reduction that needs at least one element along an empty axis.
    #[error("{op}: axis {axis} of shape {shape:?} is empty")]
    EmptyAxis {
        /// The op's name.
        op: &'static str,
        /// The axis.
        axis: usize,
        /// The input's shape.
        shape: Shape,
    },
    /// An op given an empty list of inputs.
    #[error("{op}: needs at least one input, got none")]
    NoInputs {
        /// The op's name.
        op: &'static str,
    },
    /// An argument out of its domain (a lower bound above the upper).
    #[error("{op}: {message}")]
    InvalidArgument {
        /// The op's name.
        op: &'static str,
        /// What is wrong, with the values.
        message: String,
    },
    /// An op cannot turn an array of one shape into another.
    #[error("{op}: cannot turn shape {from:?} into shape {to:?}")]
    InvalidTarget {
        /// The op's name.
        op: &'static str,
        /// The input's shape.
        from: Shape,
        /// The requested shape.
        to: Shape,
    },
    /// A class label that is not one of the classes.
    #[error("{op}: label {label} is out of range for {classes} classes")]
    LabelOutOfRange {
        /// The op's name.
        op: &'static str,
        /// The label.
        label: usize,
        /// How many classes the input has.
        classes: usize,
    },
    /// A label count that differs from the batch's size.
    #[error("{op}: {labels} labels for a batch of {batch}")]
    LabelCount {
        /// The op's name.
        op: &'static str,
        /// How many labels were given.
        labels: usize,
        /// How many rows the batch has.
        batch: usize,
    },
    // A user-written op's contract: the counts it declares, what it saves, how it fails.
    /// An op was applied to the wrong number of variables.
    #[error("{op}: expected {expected} input(s), got {got}")]
    InputCount {
        /// The op's name.
        op: &'static str,
        /// What the op takes.
        expected: usize,
        /// What it was given.
        got: usize,
    },
    /// An op's forward returned a different number of arrays than it declares
    /// (or `apply_one` was given an op with several outputs).
    #[error("{op}: expected {expected} output(s), got {got}")]
    OutputCount {
        /// The op's name.
        op: &'static str,
        /// What the op declares with `Function::num_outputs`.
        expected: usize,
        /// What forward returned.
        got: usize,
    },
    /// An op's backward returned a different number of gradients than it has inputs.
    #[error("{op}: backward returned {got} gradient(s) for {expected} input(s)")]
    GradientCount {
        /// The op's name.
        op: &'static str,
        /// How many inputs the function has.
        expected: usize,
        /// How many gradients backward returned.
        got: usize,
    },
    /// An op's backward returned a gradient whose shape is not its input's.
    #[error(
        "{op}: gradient for input {index} has shape {got:?}, but the input has shape {expected:?}"
    )]
    GradientShape {
        /// The op's name.
        op: &'static str,
        /// Which input.
        index: usize,
        /// The input's shape.
        expected: Shape,
        /// The gradient's shape.
        got: Shape,
    },
    /// An op's backward read a value its `save` did not keep, or its
    /// `save` named an input or output that does not exist.
    #[error(
        "{op}: {what} {index} was not saved for backward ({count} in all; keep it in Function::save)"
    )]
    NotSaved {
        /// The op's name.
        op: &'static str,
        /// `"input"`, `"output"` or `"tensor"`.
        what: &'static str,
        /// The index asked for.
        index: usize,
        /// How many there are of that kind.
        count: usize,
    },
    /// A user-written op failed in its own way: what it could not do, in its
    /// own words. Build it with [`Error::op_failed`].
    #[error("{op}: {message}")]
    OpFailed {
        /// The op's name.
        op: &'static str,
        /// What went wrong.
        message: String,
    },
    // A variable's state and backward's options.
    /// A change only a leaf born one allows (`set_data`, `update_data`, a
    /// parameter file's load), asked of a variable a function computed
    /// (also one unchained since).
    #[error(
        "{op}: only a leaf's value can be changed; this variable's value is what its creator computed"
    )]
    NotLeaf {
        /// The operation.
        op: &'static str,
    },
    /// `set_data` was given a value of another shape.
    #[error("set_data: the variable has shape {expected:?}, the new value {got:?}")]
    SetDataShape {
        /// The variable's shape.
        expected: Shape,
        /// The new value's shape.
        got: Shape,
    },
    /// The gradient given to `backward` does not have the variable's shape.
    #[error("backward: output gradient has shape {got:?}, but the variable has shape {expected:?}")]
    OutputGradShape {
        /// The variable's shape.
        expected: Shape,
        /// The given gradient's shape.
        got: Shape,
    },
    /// `backward` from a constant: nothing it was computed from needs a
    /// gradient (PyTorch: "element 0 of tensors does not require grad").
    #[error(
        "backward: the variable is a constant (Variable::constant, or an op on constants alone), so no gradient flows from it"
    )]
    BackwardOfConstant,
    /// `retain_grad` with `create_graph`: an intermediate would hold a
    /// gradient whose graph holds the intermediate, a reference cycle.
    #[error(
        "backward: retain_grad with create_graph would make each intermediate own a gradient whose graph owns it (a reference cycle); use grad(...) for intermediate gradients"
    )]
    RetainGradWithCreateGraph,
    /// A gradient was given for several outputs at once.
    #[error("grad: a given output gradient needs exactly one output, got {outputs}")]
    GradForSeveralOutputs {
        /// How many outputs were passed.
        outputs: usize,
    },
    /// Under `create_graph`, a derivative read a saved output of a function
    /// with several outputs, and nothing holds that output any more.
    #[error("{op}: output {index} is gone, so create_graph cannot differentiate through it")]
    OutputGone {
        /// The op's name.
        op: &'static str,
        /// The output's index.
        index: usize,
    },
    /// A backward pass reached a function that an earlier pass with
    /// `retain_graph(false)` released (PyTorch's "Trying to backward
    /// through the graph a second time").
    #[error(
        "{op}: this function's saved values were freed by an earlier backward pass with retain_graph(false); pass retain_graph(true) to the first pass to go through it again"
    )]
    GraphReleased {
        /// The released function's op.
        op: &'static str,
    },
    /// A `create_graph` backward would store a gradient whose graph keeps
    /// the variable's own block of nodes alive, which holds the gradient:
    /// under `Region`, a variable unchained inside a region that its
    /// gradient's graph reads (the second cycle through regions). Nothing
    /// is stored.
    #[error(
        "backward: the gradient graph of an unchained variable of shape {shape:?} reads the region \
         the variable is in, so storing it there would keep that region alive for good; take the \
         gradient with grad() instead"
    )]
    GradientCycle {
        /// The variable's shape.
        shape: Shape,
    },
    // Checkpointing (`autograd_ops::checkpoint`, `autograd_ops::budget`).
    /// A recomputed block (a checkpoint) reached a leaf that needs a
    /// gradient but is not among the block's inputs: its gradient would be
    /// lost, so the block must take it as an input.
    #[error(
        "{op}: the recomputed block reads a leaf of shape {shape:?} that needs a gradient but is not among its inputs; pass it as an input"
    )]
    LeafOutsideBlock {
        /// The op's name (`checkpoint`).
        op: &'static str,
        /// The leaf's shape.
        shape: Shape,
    },
    /// A recomputed block returned outputs of other shapes than the first
    /// time it ran.
    #[error("{op}: output {index} has shape {got:?} when recomputed, {expected:?} the first time")]
    RecomputedShape {
        /// The op's name (`checkpoint`).
        op: &'static str,
        /// The output's position.
        index: usize,
        /// Its shape the first time.
        expected: Shape,
        /// Its shape when recomputed.
        got: Shape,
    },
    /// No plan runs a chain within the byte budget asked for
    /// (`autograd_ops::budget`).
    #[error(
        "{op}: no plan keeps the step within {budget} bytes; the smallest budget that fits is {minimum} bytes"
    )]
    BudgetTooSmall {
        /// The planner's name (`plan_chain`).
        op: &'static str,
        /// The budget asked for, in bytes.
        budget: usize,
        /// The smallest budget any plan fits, in bytes.
        minimum: usize,
    },
}

impl Error {
    /// The error a user-written op returns when it cannot compute: `op` is
    /// its name, `message` says why.
    ///
    /// ```
    /// let err = autograd_ops::Error::op_failed("Sqrt", "negative input at index 3");
    /// assert_eq!(err.to_string(), "Sqrt: negative input at index 3");
    /// ```
    pub fn op_failed(op: &'static str, message: impl Into<String>) -> Self {
        Error::OpFailed {
            op,
            message: message.into(),
        }
    }
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
