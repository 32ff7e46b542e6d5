//! The crate's one error type.
//!
//! Error policy: every validation of input and configuration returns a [`ConvolveError`] whose
//! variant carries the values involved. Only the Burn-convention entry points that cannot
//! return a `Result` ([`NpConvolve1d::forward`](crate::NpConvolve1d::forward),
//! [`NpConvolve1dConfig::init`](crate::NpConvolve1dConfig::init),
//! [`NpConvolve1d::from_kernel`](crate::NpConvolve1d::from_kernel)) panic, and they panic with
//! exactly this error's message. Nothing is computed before validation passes.

use crate::operation::Operation;

/// Everything that can be wrong with a call to this crate.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConvolveError {
    /// A mode name other than `"full"`, `"same"`, `"valid"` or `"causal"`.
    #[error("unknown mode {got:?}: use one of \"valid\", \"same\", \"full\" or \"causal\"")]
    UnknownMode {
        /// The name that was given.
        got: String,
    },

    /// A method name other than `"auto"`, `"direct"` or `"fft"`.
    #[error("unknown method {got:?}: use one of \"auto\", \"direct\" or \"fft\"")]
    UnknownMethod {
        /// The name that was given.
        got: String,
    },

    /// A boundary name other than numpy.pad's `"constant"`, `"reflect"`, `"symmetric"`,
    /// `"edge"`, `"wrap"`, and `"zeros"` (or `"constant(c)"` with a number `c`).
    #[error(
        "unknown boundary {got:?}: use one of \"zeros\", \"constant\", \"constant(c)\" with a number c, \"reflect\", \"symmetric\", \"edge\" or \"wrap\""
    )]
    UnknownBoundary {
        /// The name that was given.
        got: String,
    },

    /// A stream was asked for a combination it cannot run chunk by chunk.
    #[error(
        "streaming supports the zeros and constant boundaries (and edge in causal mode), got boundary {boundary} (mode {mode}): {why}; run forward on the whole signal instead"
    )]
    StreamBoundary {
        /// The layer's boundary rule.
        boundary: String,
        /// The layer's mode.
        mode: String,
        /// Why this rule needs samples a stream does not have yet.
        why: &'static str,
    },

    /// A chunk pushed into a stream does not have the shape the stream runs on.
    #[error(
        "stream chunk has shape {got:?} but the stream expects [{batch}, {channels_in}, n] (batch and channels_in fixed by {fixed_by})"
    )]
    StreamChunk {
        /// The chunk's shape.
        got: Vec<usize>,
        /// The batch size the stream runs on.
        batch: usize,
        /// The input channels of the layer.
        channels_in: usize,
        /// What fixed the batch size: the layer, or the first chunk.
        fixed_by: &'static str,
    },

    /// A chunk pushed into a stream has another dtype than the stream's first chunk (a
    /// stream computes in one dtype: it neither promotes nor casts down).
    #[error(
        "stream chunk has dtype {got} but the stream's first chunk had {first}: convert the chunk (a stream computes in one dtype)"
    )]
    StreamDType {
        /// The first chunk's dtype.
        first: String,
        /// This chunk's dtype.
        got: String,
    },

    /// A NumPy integer mode other than 0, 1 or 2.
    #[error("integer convolve/correlate mode must be 0 (valid), 1 (same) or 2 (full), got {got}")]
    UnknownModeInteger {
        /// The integer that was given.
        got: i64,
    },

    /// The signal is empty. NumPy's text: `a cannot be empty` (`np.convolve`),
    /// `first array argument cannot be empty` (`np.correlate`).
    #[error("{} (got shape {shape:?})", empty_signal_text(*op))]
    EmptySignal {
        /// Which NumPy function the call follows.
        op: Operation,
        /// The signal's shape.
        shape: Vec<usize>,
    },

    /// The kernel is empty. NumPy's text: `v cannot be empty` (`np.convolve`),
    /// `second array argument cannot be empty` (`np.correlate`).
    #[error("{} (got shape {shape:?})", empty_kernel_text(*op))]
    EmptyKernel {
        /// Which NumPy function the call follows.
        op: Operation,
        /// The kernel's shape.
        shape: Vec<usize>,
    },

    /// An input of `burn_npconv::signal` with no elements (an axis of length 0).
    #[error("{argument} cannot be empty (got shape {shape:?})")]
    EmptyInput {
        /// `"in1"` or `"in2"`, SciPy's names of the arguments (`"factors"` for a separable
        /// kernel's).
        argument: &'static str,
        /// The input's shape.
        shape: Vec<usize>,
    },

    /// SciPy's `valid` rule: one input must be at least as large as the other in every axis.
    #[error(
        "For 'valid' mode, one must be at least as large as the other in every dimension (in1 shape {in1:?}, in2 shape {in2:?})"
    )]
    ValidShapes {
        /// `in1`'s shape.
        in1: Vec<usize>,
        /// `in2`'s shape.
        in2: Vec<usize>,
    },

    /// A rank `burn_npconv::signal` does not compute (it computes ranks 1 to 3).
    #[error("burn_npconv::signal computes tensors of rank 1 to 3, got rank {rank}")]
    Rank {
        /// The tensors' rank.
        rank: usize,
    },

    /// A batched input with no samples.
    #[error("input batch is empty: input shape {shape:?} has batch size 0")]
    EmptyBatch {
        /// The input's shape `[batch, channels, length]`.
        shape: Vec<usize>,
    },

    /// A configuration with `kernel_size` 0.
    #[error("kernel_size must be at least 1, got 0")]
    ZeroKernelSize,

    /// A configuration or weight with 0 input or output channels.
    #[error(
        "channels must be at least 1, got channels_in = {channels_in}, channels_out = {channels_out}"
    )]
    ZeroChannels {
        /// Input channels.
        channels_in: usize,
        /// Output channels.
        channels_out: usize,
    },

    /// `groups` is 0 or does not divide both channel counts.
    #[error(
        "groups = {groups} must be at least 1 and divide both channels_in = {channels_in} and channels_out = {channels_out}"
    )]
    Groups {
        /// The number of groups.
        groups: usize,
        /// Input channels.
        channels_in: usize,
        /// Output channels.
        channels_out: usize,
    },

    /// A configuration whose sizes exceed what a layer may allocate: one field over
    /// [`MAX_WEIGHT_ELEMENTS`](crate::MAX_WEIGHT_ELEMENTS), or the weight's element count
    /// (`channels_out × channels_in / groups × kernel_size`) over it.
    #[error(
        "{field} = {value} exceeds the limit of {limit} weight elements (a weight of {limit} f32 elements takes 8 GiB)"
    )]
    ConfigTooLarge {
        /// The config field, or the product of fields, that is too large.
        field: &'static str,
        /// Its value (the product, for a product).
        value: u128,
        /// The limit, [`MAX_WEIGHT_ELEMENTS`](crate::MAX_WEIGHT_ELEMENTS).
        limit: usize,
    },

    /// A configuration's initializer that Burn would reject when it draws the weight or the
    /// bias (it panics there, at the first use of the layer).
    #[error("initializer {initializer} cannot initialize the {what}: {why}")]
    Initializer {
        /// The initializer, as Rust prints it.
        initializer: String,
        /// `"weight"` or `"bias"`.
        what: &'static str,
        /// Why, with the values involved.
        why: String,
    },

    /// The input's channel count does not match what the weight expects.
    #[error(
        "input has {got} channels but the weight expects {expected} (input shape {input_shape:?}, weight shape {weight_shape:?}, groups = {groups})"
    )]
    ChannelMismatch {
        /// Channels the weight expects (`weight.dims()[1] * groups`).
        expected: usize,
        /// Channels the input has.
        got: usize,
        /// The input's shape `[batch, channels_in, length]`.
        input_shape: Vec<usize>,
        /// The weight's shape `[channels_out, channels_in / groups, kernel_size]`.
        weight_shape: Vec<usize>,
        /// The number of groups.
        groups: usize,
    },

    /// The bias length is not the number of output channels.
    #[error("bias has shape {bias_shape:?} but the weight has {channels_out} output channels")]
    BiasMismatch {
        /// The bias's shape.
        bias_shape: Vec<usize>,
        /// Output channels of the weight.
        channels_out: usize,
    },

    /// The device cannot compute in the dtype the call needs (e.g. f64 on a wgpu adapter
    /// without 64-bit floats, e.g. wgpu through OpenGL; Mesa's lavapipe over Vulkan has them).
    #[error(
        "{dtype} is not supported on {device}: convert the tensors to a dtype the device has (e.g. f32), or use a CPU device"
    )]
    UnsupportedDType {
        /// The dtype the call computes in.
        dtype: String,
        /// The device.
        device: String,
    },

    /// The device failed while computing the convolution or reading its result back (out of
    /// memory, a lost device): Burn's own error, as text.
    #[error("the device {device} failed during the convolution: {reason}")]
    DeviceFailure {
        /// The device.
        device: String,
        /// What Burn said.
        reason: String,
    },

    /// A remote device's server did not answer (it stopped, or the connection broke).
    #[error("the remote device {device} failed: {reason} (is its server still running?)")]
    RemoteDevice {
        /// The device.
        device: String,
        /// What Burn's remote client said.
        reason: String,
    },

    /// Two tensors of one call live on different devices.
    #[error("{what} are on different devices: {first} and {second}")]
    DeviceMismatch {
        /// Which tensors.
        what: &'static str,
        /// The first tensor's device.
        first: String,
        /// The second tensor's device.
        second: String,
    },
}

fn empty_signal_text(op: Operation) -> &'static str {
    match op {
        Operation::Convolution => "a cannot be empty",
        Operation::Correlation => "first array argument cannot be empty",
    }
}

fn empty_kernel_text(op: Operation) -> &'static str {
    match op {
        Operation::Convolution => "v cannot be empty",
        Operation::Correlation => "second array argument cannot be empty",
    }
}
