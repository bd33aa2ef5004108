//! [`Error`]: what can go wrong while building, training, saving or loading
//! a model.

use std::path::PathBuf;

/// The result of a fallible call in this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything a call in this crate can fail with. The engine's errors come
/// through as [`Error::Core`]; this enum is its own (it holds I/O errors,
/// which are not `Eq` as the engine's errors are).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A model split into more segments than it has layers, or none.
    #[error("{model}: {segments} segments for {layers} layers; give between 1 and {layers}")]
    Segments {
        /// The model.
        model: &'static str,
        /// The segments asked for.
        segments: usize,
        /// The model's layers.
        layers: usize,
    },
    /// An error from the engine or an op (a shape mismatch, a bad label).
    #[error(transparent)]
    Core(#[from] autograd_core::Error),
    /// A layer got an input whose shape does not fit its weight.
    #[error("{layer}: the weight has shape {weight:?} (in, out), so the input must be (batch, {}); got {input:?}", weight[0])]
    LayerInput {
        /// The layer's kind.
        layer: &'static str,
        /// The weight's shape, `(in, out)`.
        weight: [usize; 2],
        /// The input's shape.
        input: Vec<usize>,
    },
    /// A recurrent layer's carried state that does not fit the step's
    /// input: from a batch of another size (reset the state between
    /// sequences of different batch sizes), or of another width.
    #[error(
        "{layer}: the carried state {part} has shape {state:?}, but the input has shape {input:?}, so it must be [{}, {hidden}] (batch, hidden); reset_state() before a batch of another size",
        input[0]
    )]
    StateShape {
        /// The layer's kind.
        layer: &'static str,
        /// Which part of the state (`h`, or an LSTM's cell `c`).
        part: &'static str,
        /// The state's shape.
        state: Vec<usize>,
        /// The input's shape, `(batch, in)`.
        input: Vec<usize>,
        /// The layer's hidden width.
        hidden: usize,
    },
    /// Truncated backpropagation through time asked for windows of no steps.
    #[error(
        "Bptt: a window of {length} steps over a series of {series} steps; it must be at least 1"
    )]
    BpttLength {
        /// The window length asked for.
        length: usize,
        /// The series' length.
        series: usize,
    },
    /// A layer's weight and bias do not fit together.
    #[error("{layer}: a weight of shape {weight:?} (in, out) needs a bias of shape [{}]; got {bias:?}", weight[1])]
    LayerShapes {
        /// The layer's kind.
        layer: &'static str,
        /// The weight's shape.
        weight: Vec<usize>,
        /// The bias's shape.
        bias: Vec<usize>,
    },
    /// A layer asked for more weights than the address space holds.
    #[error("{layer}: {in_size} × {out_size} weights of 8 bytes do not fit in memory")]
    LayerSize {
        /// The layer's kind.
        layer: &'static str,
        /// The input width asked for.
        in_size: usize,
        /// The output width asked for.
        out_size: usize,
    },
    /// A convolution asked for more weights than the address space holds.
    #[error(
        "{layer}: a weight of shape {shape:?} (out, in, kernel height, kernel width) does not fit in memory"
    )]
    WeightSize {
        /// The layer's kind.
        layer: &'static str,
        /// The weight's shape asked for.
        shape: [usize; 4],
    },
    /// A convolution got an input that is not `[N, C, H, W]` with the
    /// weight's channels.
    #[error("{layer}: the weight has shape {weight:?} (out, in, kernel height, kernel width), so the input must be [N, {}, H, W]; got {input:?}", weight[1])]
    ConvInput {
        /// The layer's kind.
        layer: &'static str,
        /// The weight's shape.
        weight: [usize; 4],
        /// The input's shape.
        input: Vec<usize>,
    },
    /// A convolution's weight and bias that do not fit together.
    #[error("{layer}: a weight of shape {weight:?} (out, in, kernel height, kernel width) needs a bias of shape [{}]; got {bias:?}", weight[0])]
    ConvBias {
        /// The layer's kind.
        layer: &'static str,
        /// The weight's shape.
        weight: [usize; 4],
        /// The bias's shape.
        bias: Vec<usize>,
    },
    /// A layer's setting outside the values it takes: a kernel or a stride
    /// of 0, a dropout probability outside `[0, 1)`.
    #[error("{layer}: {name} {value}; it must be {need}")]
    LayerSetting {
        /// The layer's kind.
        layer: &'static str,
        /// The setting.
        name: &'static str,
        /// Its value, as written.
        value: String,
        /// The values it may take.
        need: &'static str,
    },
    /// Consecutive layers of a model whose widths do not chain.
    #[error("{model}: layer {index} takes {input} inputs, but the layer before gives {previous}")]
    LayerWidths {
        /// The model's kind.
        model: &'static str,
        /// The layer whose input width is wrong.
        index: usize,
        /// Its input width.
        input: usize,
        /// The previous layer's output width.
        previous: usize,
    },
    /// A model was asked for with no layers.
    #[error("{model}: {what}")]
    NoLayers {
        /// The model's kind.
        model: &'static str,
        /// What it needs.
        what: &'static str,
    },
    /// An optimizer's hyperparameter outside its range.
    #[error("{optimizer}: invalid {name} {value} (must be {range})")]
    Hyperparameter {
        /// The optimizer.
        optimizer: &'static str,
        /// The hyperparameter.
        name: &'static str,
        /// Its value.
        value: f64,
        /// The values it may take.
        range: &'static str,
    },
    /// A data loader asked for a batch size it cannot hand out: none, or
    /// (a [`SeqDataLoader`](crate::SeqDataLoader)) more streams than the
    /// series has rows.
    #[error("{loader}: a batch size of {batch_size} over {rows} rows; it must be {need}")]
    BatchSize {
        /// The loader.
        loader: &'static str,
        /// The batch size asked for.
        batch_size: usize,
        /// The rows of the data.
        rows: usize,
        /// The sizes it takes.
        need: &'static str,
    },
    /// Inputs and labels of different counts.
    #[error("{what}: {rows} rows of inputs but {labels} labels")]
    LabelCount {
        /// The call.
        what: &'static str,
        /// Rows of inputs.
        rows: usize,
        /// Labels.
        labels: usize,
    },
    /// Inputs and real-valued targets of different row counts.
    #[error("{what}: {rows} rows of inputs but {targets} rows of targets")]
    TargetCount {
        /// The call.
        what: &'static str,
        /// Rows of inputs.
        rows: usize,
        /// Rows of targets.
        targets: usize,
    },
    /// An array with too few axes for the call: a loader or a split needs
    /// rows first (`[N, ...]`), a layer its input's batch axis.
    #[error("{what}: {need}; got shape {shape:?}")]
    Rank {
        /// The call or the layer.
        what: &'static str,
        /// What it needs.
        need: &'static str,
        /// The shape it got.
        shape: Vec<usize>,
    },
    /// A fraction outside `[0, 1]`.
    #[error("{what}: the fraction must be in [0, 1]; got {value}")]
    Fraction {
        /// The call.
        what: &'static str,
        /// The fraction.
        value: f64,
    },
    /// A parameter file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        #[source]
        source: std::io::Error,
    },
    /// A parameter file without an array for one of the module's parameters.
    #[error("{path}: no array named {name:?}")]
    MissingParam {
        /// The file.
        path: PathBuf,
        /// The parameter's name.
        name: String,
    },
    /// A parameter file with arrays that no parameter of the module claims
    /// (a file for another model, or for a larger one): refused by
    /// [`load_params`](crate::load_params), as PyTorch's
    /// `load_state_dict(strict=True)` refuses them, and ignored by
    /// [`load_params_lenient`](crate::load_params_lenient).
    #[error("{path}: no parameter is named {names:?} (load_params_lenient ignores such arrays)")]
    UnexpectedArrays {
        /// The file.
        path: PathBuf,
        /// The arrays' names, in the file's order.
        names: Vec<String>,
    },
    /// A parameter file whose array has another shape than the parameter.
    #[error(
        "{path}: {name:?} has shape {got:?} in the file, but the parameter has shape {expected:?}"
    )]
    ParamShape {
        /// The file.
        path: PathBuf,
        /// The parameter's name.
        name: String,
        /// The parameter's shape.
        expected: Vec<usize>,
        /// The array's shape in the file.
        got: Vec<usize>,
    },
    /// A parameter file whose array could not be read as `f64` (another
    /// element type, or a malformed array).
    #[error("{path}: {name:?} is not a readable f64 array: {reason}")]
    ParamArray {
        /// The file.
        path: PathBuf,
        /// The parameter's name.
        name: String,
        /// What the reader said.
        reason: String,
    },
    /// A parameter file that is not an `.npz` archive this crate reads: not
    /// a zip file, or a damaged one (a record missing, a CRC-32 that does
    /// not match), or one that uses what `numpy.savez` never writes (a
    /// compression method other than stored and deflate, encryption,
    /// several disks).
    #[error("{path}: not a readable .npz file: {reason}")]
    NpzFormat {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// A size that a parameter file states (a zip member's, an array's
    /// shape, a header's length) larger than what the file holds there: a
    /// damaged or hostile file, refused before anything is allocated for
    /// the size.
    #[error("{path}: {part} claims {claimed} bytes, but only {available} are there")]
    ClaimedSize {
        /// The file.
        path: PathBuf,
        /// The part of the file that states the size, naming its member
        /// or array.
        part: String,
        /// The bytes it states.
        claimed: u128,
        /// The bytes there are (or, for a deflated member, the most its
        /// compressed bytes can inflate to).
        available: u64,
    },
    /// A module's parameter that a function computed (also one
    /// [unchained](autograd_ops::Variable::unchain) since), so that its
    /// value is the function's and no file can set it.
    #[error("{name:?} is not a leaf (a function computed it), so no file can set its value")]
    ParamNotLeaf {
        /// The parameter's name.
        name: String,
    },
    /// A module that gives one name to two different parameters cannot be
    /// saved or loaded by name (one parameter at two places under two
    /// names, a tied weight, can).
    #[error("{name:?} names two different parameters; a parameter file needs each name once")]
    DuplicateName {
        /// The name.
        name: String,
    },
}
