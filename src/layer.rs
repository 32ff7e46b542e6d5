//! The `NpConvolve1d` layer and its config.

use burn::config::Config;
use burn::module::{Content, DisplaySettings, Module, ModuleDisplay, Param};
use burn::nn::Initializer;
use burn::tensor::{Device, Tensor};

use crate::boundary::Boundary;
use crate::error::ConvolveError;
use crate::functional::{Convolve1dOptions, convolve1d};
use crate::method::Method;
use crate::mode::Mode;

/// Configuration of an [`NpConvolve1d`] layer, built with [`init`](Self::init) or
/// [`try_init`](Self::try_init).
///
/// Saved and loaded as JSON through Burn's [`Config`] (`save` / `load`); the mode and the
/// method are written by name. A file may leave out any field that has a default, and a field
/// this config does not have (a misspelling such as `kernal_size`) is an error naming it:
///
/// ```
/// use burn::config::Config;
/// use burn_npconv::{Method, Mode, NpConvolve1dConfig};
///
/// let json = r#"{ "channels_in": 1, "channels_out": 1, "kernel_size": 5, "mode": "same",
///                 "initializer": { "Constant": { "value": 0.2 } } }"#;
/// let config = NpConvolve1dConfig::load_binary(json.as_bytes())?;
/// assert_eq!((config.mode, config.groups, config.bias, config.method), (Mode::Same, 1, false, Method::Auto));
///
/// let typo = r#"{ "channels_in": 1, "channels_out": 1, "kernal_size": 5 }"#;
/// let err = NpConvolve1dConfig::load_binary(typo.as_bytes()).unwrap_err();
/// assert!(err.to_string().contains("unknown field `kernal_size`"), "{err}");
/// # Ok::<(), burn::config::ConfigError>(())
/// ```
///
/// It implements Burn's [`Config`] by hand rather than through `#[derive(Config)]`, with the
/// same API (`new` with the required fields, a `with_*` setter per defaulted field, `Clone`,
/// `Display` as JSON): the derive's serde code requires every field and ignores unknown ones.
#[derive(Debug, Clone, burn::serde::Serialize, burn::serde::Deserialize)]
#[serde(crate = "burn::serde", deny_unknown_fields)]
pub struct NpConvolve1dConfig {
    /// Number of input channels.
    pub channels_in: usize,
    /// Number of output channels.
    pub channels_out: usize,
    /// Kernel length `M`.
    pub kernel_size: usize,
    /// NumPy's mode. Default [`Mode::Full`], NumPy's default.
    #[serde(default)]
    pub mode: Mode,
    /// Channel groups; must divide both channel counts. Default 1. `groups == channels_in ==
    /// channels_out` gives one kernel per channel (depthwise).
    #[serde(default = "defaults::groups")]
    pub groups: usize,
    /// Whether a learnable bias `[channels_out]` is added. Default `false`: a plain
    /// `np.convolve` has none.
    #[serde(default)]
    pub bias: bool,
    /// How the convolution is computed. Default [`Method::Auto`].
    #[serde(default)]
    pub method: Method,
    /// Initializer of the weight and the bias. Default Kaiming-uniform with gain `1/√3`, the
    /// default of Burn's `Conv1d`.
    #[serde(default = "defaults::initializer")]
    pub initializer: Initializer,
    /// What the signal is outside its samples. Default [`Boundary::Zeros`], NumPy's. Written
    /// by numpy.pad's name (`"reflect"`, `"constant(0.5)"`, ...).
    #[serde(default)]
    pub boundary: Boundary,
}

/// The defaults of [`NpConvolve1dConfig`] that are not their type's `Default`, used by
/// [`NpConvolve1dConfig::new`] and by deserialisation alike.
mod defaults {
    use burn::nn::Initializer;

    pub fn groups() -> usize {
        1
    }

    pub fn initializer() -> Initializer {
        Initializer::KaimingUniform {
            gain: 0.577_350_269_189_625_8, // 1/√3
            fan_out_only: false,
        }
    }
}

impl Config for NpConvolve1dConfig {}

impl core::fmt::Display for NpConvolve1dConfig {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(&burn::config::config_to_json(self))
    }
}

impl NpConvolve1dConfig {
    /// A config with the required fields; every other field has its default.
    pub fn new(channels_in: usize, channels_out: usize, kernel_size: usize) -> Self {
        Self {
            channels_in,
            channels_out,
            kernel_size,
            mode: Mode::default(),
            groups: defaults::groups(),
            bias: false,
            method: Method::default(),
            initializer: defaults::initializer(),
            boundary: Boundary::Zeros,
        }
    }

    /// Sets [`boundary`](Self::boundary).
    pub fn with_boundary(mut self, boundary: Boundary) -> Self {
        self.boundary = boundary;
        self
    }

    /// Sets [`mode`](Self::mode).
    pub fn with_mode(mut self, mode: Mode) -> Self {
        self.mode = mode;
        self
    }

    /// Sets [`groups`](Self::groups).
    pub fn with_groups(mut self, groups: usize) -> Self {
        self.groups = groups;
        self
    }

    /// Sets [`bias`](Self::bias).
    pub fn with_bias(mut self, bias: bool) -> Self {
        self.bias = bias;
        self
    }

    /// Sets [`method`](Self::method).
    pub fn with_method(mut self, method: Method) -> Self {
        self.method = method;
        self
    }

    /// Sets [`initializer`](Self::initializer).
    pub fn with_initializer(mut self, initializer: Initializer) -> Self {
        self.initializer = initializer;
        self
    }
}

/// `np.convolve` as a trainable Burn layer: batched, multi-channel, grouped, on every backend.
///
/// Output channel `o` of sample `b` is
/// `Σ_i np.convolve(x[b, i], weight[o, i], mode) + bias[o]`, the sum running over the input
/// channels of `o`'s group. The weight is stored in **NumPy orientation** (not flipped, unlike
/// what Burn's `Conv1d` stores, which is a cross-correlation): a trained `weight[o, i]` reads
/// directly as FIR filter coefficients, as you would pass them to `np.convolve`.
///
/// Build it from an [`NpConvolve1dConfig`], or from a single kernel with
/// [`from_kernel`](Self::from_kernel).
///
/// ```
/// use burn::tensor::{Device, Tensor};
/// use burn_npconv::{Mode, NpConvolve1d};
///
/// let device = Device::flex();
/// let layer = NpConvolve1d::from_kernel(Tensor::from_floats([1.0, 2.0, 3.0, 4.0], &device), Mode::Same);
/// let x = Tensor::<3>::from_floats([[[1.0, 0.0, 0.0, 0.0, 0.0]]], &device);
/// // np.convolve([1, 0, 0, 0, 0], [1, 2, 3, 4], "same") == [2, 3, 4, 0, 0]
/// let y = layer.forward(x);
/// assert_eq!(y.into_data().iter::<f32>().collect::<Vec<_>>(), [2.0, 3.0, 4.0, 0.0, 0.0]);
/// ```
#[derive(Module, Debug)]
#[module(custom_display)]
pub struct NpConvolve1d {
    /// The kernels, `[channels_out, channels_in / groups, kernel_size]`, in NumPy orientation.
    pub weight: Param<Tensor<3>>,
    /// The bias, `[channels_out]`, if the layer has one.
    pub bias: Option<Param<Tensor<1>>>,
    /// Channel groups.
    pub groups: usize,
    /// NumPy's mode.
    #[module(skip)]
    pub mode: Mode,
    /// How the convolution is computed.
    #[module(skip)]
    pub method: Method,
    /// What the signal is outside its samples.
    #[module(skip)]
    pub boundary: Boundary,
}

impl NpConvolve1dConfig {
    /// Builds the layer on `device`.
    ///
    /// # Panics
    /// With the message of the [`ConvolveError`] that [`try_init`](Self::try_init) returns.
    pub fn init(&self, device: &Device) -> NpConvolve1d {
        self.try_init(device).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Builds the layer on `device`, or says why the config is invalid.
    ///
    /// # Errors
    /// [`ConvolveError::ZeroKernelSize`], [`ConvolveError::ZeroChannels`],
    /// [`ConvolveError::Groups`]; [`ConvolveError::ConfigTooLarge`] for sizes over
    /// [`MAX_WEIGHT_ELEMENTS`](crate::MAX_WEIGHT_ELEMENTS); [`ConvolveError::Initializer`] for
    /// initializer parameters Burn would reject when it draws the weight or the bias (checked
    /// here, before anything is allocated: Burn draws lazily, at the layer's first use).
    pub fn try_init(&self, device: &Device) -> Result<NpConvolve1d, ConvolveError> {
        self.validate()?;
        let shape = [
            self.channels_out,
            self.channels_in / self.groups,
            self.kernel_size,
        ];
        let fan_in = self.channels_in / self.groups * self.kernel_size;
        let fan_out = self.channels_out / self.groups * self.kernel_size;
        let weight = self
            .initializer
            .init_with(shape, Some(fan_in), Some(fan_out), device);
        let bias = self.bias.then(|| {
            self.initializer
                .init_with([self.channels_out], Some(fan_in), None, device)
        });
        Ok(NpConvolve1d {
            weight,
            bias,
            groups: self.groups,
            mode: self.mode,
            method: self.method,
            boundary: self.boundary,
        })
    }

    fn validate(&self) -> Result<(), ConvolveError> {
        if self.kernel_size == 0 {
            return Err(ConvolveError::ZeroKernelSize);
        }
        if self.channels_in == 0 || self.channels_out == 0 {
            return Err(ConvolveError::ZeroChannels {
                channels_in: self.channels_in,
                channels_out: self.channels_out,
            });
        }
        if self.groups == 0
            || !self.channels_in.is_multiple_of(self.groups)
            || !self.channels_out.is_multiple_of(self.groups)
        {
            return Err(ConvolveError::Groups {
                groups: self.groups,
                channels_in: self.channels_in,
                channels_out: self.channels_out,
            });
        }
        crate::init_check::check_sizes(
            self.channels_in,
            self.channels_out,
            self.kernel_size,
            self.groups,
        )?;
        crate::init_check::check_initializer(
            &self.initializer,
            self.channels_in / self.groups * self.kernel_size,
            self.channels_out / self.groups * self.kernel_size,
            self.bias,
        )
    }
}

impl NpConvolve1d {
    /// A one-channel layer computing `np.convolve(x, kernel, mode)` on each row; the kernel
    /// becomes a trainable `[1, 1, M]` weight, without bias.
    ///
    /// # Panics
    /// If the kernel is empty, with the message of [`ConvolveError::EmptyKernel`]
    /// (`v cannot be empty`). [`try_from_kernel`](Self::try_from_kernel) returns it instead.
    pub fn from_kernel(kernel: Tensor<1>, mode: Mode) -> NpConvolve1d {
        Self::try_from_kernel(kernel, mode).unwrap_or_else(|e| panic!("{e}"))
    }

    /// [`from_kernel`](Self::from_kernel) that returns an error for an empty kernel.
    ///
    /// # Errors
    /// [`ConvolveError::EmptyKernel`].
    pub fn try_from_kernel(kernel: Tensor<1>, mode: Mode) -> Result<NpConvolve1d, ConvolveError> {
        let [m] = kernel.dims();
        if m == 0 {
            return Err(ConvolveError::EmptyKernel {
                op: crate::Operation::Convolution,
                shape: vec![m],
            });
        }
        Ok(NpConvolve1d {
            weight: Param::from_tensor(kernel.reshape([1, 1, m])),
            bias: None,
            groups: 1,
            mode,
            method: Method::Auto,
            boundary: Boundary::Zeros,
        })
    }

    /// NumPy's mode of this layer.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// Kernel length `M`.
    pub fn kernel_size(&self) -> usize {
        self.weight.dims()[2]
    }

    /// Number of input channels.
    pub fn channels_in(&self) -> usize {
        self.weight.dims()[1] * self.groups
    }

    /// Number of output channels.
    pub fn channels_out(&self) -> usize {
        self.weight.dims()[0]
    }

    /// The options this layer passes to [`convolve1d`].
    pub fn options(&self) -> Convolve1dOptions {
        Convolve1dOptions::new(self.mode)
            .with_groups(self.groups)
            .with_method(self.method)
            .with_boundary(self.boundary)
    }

    /// Applies the layer: `np.convolve` of every input row with its kernels, summed per output
    /// channel, plus bias.
    ///
    /// # Shapes
    /// - input: `[batch_size, channels_in, length_in]`
    /// - output: `[batch_size, channels_out, length_out]`, with `length_out` = `N + M - 1`
    ///   (full), `max(N, M)` (same), `max(N, M) - min(N, M) + 1` (valid) or `N` (causal) for
    ///   `N = length_in`, `M = kernel_size`: NumPy's lengths, also when a sample is shorter
    ///   than the kernel, whatever the boundary.
    ///
    /// # Panics
    /// With the message of the [`ConvolveError`] that [`try_forward`](Self::try_forward)
    /// returns (wrong channel count, empty input, ...).
    pub fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        self.try_forward(x).unwrap_or_else(|e| panic!("{e}"))
    }

    /// [`forward`](Self::forward) that returns an error instead of panicking.
    ///
    /// # Shapes
    /// - input: `[batch_size, channels_in, length_in]`
    /// - output: `[batch_size, channels_out, length_out]`, as in [`forward`](Self::forward).
    ///
    /// # Errors
    /// [`ConvolveError::ChannelMismatch`], [`ConvolveError::EmptyBatch`],
    /// [`ConvolveError::EmptySignal`], [`ConvolveError::DeviceMismatch`].
    pub fn try_forward(&self, x: Tensor<3>) -> Result<Tensor<3>, ConvolveError> {
        let bias = self.bias.as_ref().map(|b| b.val());
        convolve1d(x, self.weight.val(), bias, self.options())
    }
}

impl ModuleDisplay for NpConvolve1d {
    fn custom_settings(&self) -> Option<DisplaySettings> {
        DisplaySettings::new()
            .with_new_line_after_attribute(false)
            .optional()
    }

    fn custom_content(&self, content: Content) -> Option<Content> {
        content
            .add("ch_in", &self.channels_in())
            .add("ch_out", &self.channels_out())
            .add("kernel_size", &self.kernel_size())
            .add("groups", &self.groups)
            .add("mode", &self.mode.to_string())
            .add("method", &self.method.to_string())
            .add("boundary", &self.boundary.to_string())
            .add("bias", &self.bias.is_some())
            .optional()
    }
}
