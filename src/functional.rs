//! `np.convolve` / `np.correlate` on Burn tensors, single and batched.

use burn::tensor::{Device, Tensor};

use crate::boundary::Boundary;
use crate::error::ConvolveError;
use crate::geometry::Geometry;
use crate::method::Method;
use crate::mode::{Mode, Operation};
use crate::plan::Plan;

/// Options of [`convolve1d`]: the NumPy mode, which NumPy function to follow, the number of
/// channel groups, the [`Method`] and the [`Boundary`] rule.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Convolve1dOptions {
    /// NumPy's `mode`. Default [`Mode::Full`], as in NumPy.
    pub mode: Mode,
    /// `np.convolve` (kernel flipped) or `np.correlate` (not flipped). Default
    /// [`Operation::Convolution`].
    pub operation: Operation,
    /// Channel groups: input channel group `g` only feeds output channel group `g`. Default 1.
    pub groups: usize,
    /// How the convolution is computed. Default [`Method::Auto`].
    pub method: Method,
    /// What the signal is outside its samples. Default [`Boundary::Zeros`], NumPy's.
    pub boundary: Boundary,
}

impl Default for Convolve1dOptions {
    fn default() -> Self {
        Self::new(Mode::Full)
    }
}

impl Convolve1dOptions {
    /// `np.convolve` in `mode`, one group.
    pub fn new(mode: Mode) -> Self {
        Self {
            mode,
            operation: Operation::Convolution,
            groups: 1,
            method: Method::Auto,
            boundary: Boundary::Zeros,
        }
    }

    /// Sets the boundary rule: `np.convolve(np.pad(a, (L, R), mode=boundary), v, "valid")`,
    /// `(L, R)` the zero padding of the mode (see [`Boundary`]).
    pub fn with_boundary(mut self, boundary: Boundary) -> Self {
        self.boundary = boundary;
        self
    }

    /// Sets the method.
    pub fn with_method(mut self, method: Method) -> Self {
        self.method = method;
        self
    }

    /// Sets the number of channel groups.
    pub fn with_groups(mut self, groups: usize) -> Self {
        self.groups = groups;
        self
    }

    /// Sets which NumPy function to follow.
    pub fn with_operation(mut self, operation: Operation) -> Self {
        self.operation = operation;
        self
    }
}

/// `np.convolve(a, v, mode)`: the discrete, linear **convolution** (the kernel `v` is flipped).
///
#[cfg_attr(doc, doc = r#"$$y_k = \sum_j a_j \, v_{k-j}$$"#)]
#[cfg_attr(not(doc), doc = "`y[k] = Σ_j a[j] · v[k - j]`")]
///
/// taken over the `full` range and cut to NumPy's window for `mode` (see [`Mode`]). Either
/// argument may be the longer one; like NumPy the result does not depend on their order but
/// for the output length.
///
/// # Arguments
/// - `a`: the signal, `[N]`.
/// - `v`: the kernel, `[M]`, on the same device.
/// - `mode`: NumPy's mode.
///
/// # Returns
/// `[L]` with `L` = `N + M - 1` (full), `max(N, M)` (same) or `max(N, M) - min(N, M) + 1` (valid).
///
/// # Errors
/// [`ConvolveError::EmptySignal`] (`a cannot be empty`), [`ConvolveError::EmptyKernel`]
/// (`v cannot be empty`), [`ConvolveError::DeviceMismatch`].
///
/// # Example
/// ```
/// use burn::tensor::{DType, Device, Tensor};
/// use burn_npconv::{Mode, convolve};
///
/// let device = Device::flex();
/// let a = Tensor::<1>::from_floats([1.0, 2.0, 3.0], &device);
/// let v = Tensor::<1>::from_floats([0.0, 1.0, 0.5], &device);
/// // np.convolve([1, 2, 3], [0, 1, 0.5], "same") == [1.0, 2.5, 4.0]
/// let y = convolve(a, v, Mode::Same)?;
/// assert_eq!(y.into_data().iter::<f32>().collect::<Vec<_>>(), [1.0, 2.5, 4.0]);
/// # Ok::<(), burn_npconv::ConvolveError>(())
/// ```
pub fn convolve(a: Tensor<1>, v: Tensor<1>, mode: Mode) -> Result<Tensor<1>, ConvolveError> {
    single(a, v, mode, Operation::Convolution)
}

/// `np.correlate(a, v, mode)`: the discrete **cross-correlation** (the kernel `v` is not
/// flipped; real inputs, so nothing is conjugated).
///
#[cfg_attr(doc, doc = r#"$$y_k = \sum_n a_{n+k} \, v_n$$"#)]
#[cfg_attr(not(doc), doc = "`y[k] = Σ_n a[n + k] · v[n]`")]
///
/// cut to NumPy's window for `mode`. When `v` is longer than `a`, NumPy swaps them and reverses
/// the result; the `same` window is then centred differently, and this function does the
/// same (see [`window`](crate::mode::window)).
///
/// # Arguments
/// - `a`: the signal, `[N]`.
/// - `v`: the kernel, `[M]`, on the same device.
/// - `mode`: NumPy's mode. Note that `np.correlate` defaults to `valid`, unlike `np.convolve`.
///
/// # Returns
/// `[L]`, with the lengths of [`convolve`].
///
/// # Errors
/// [`ConvolveError::EmptySignal`] (`first array argument cannot be empty`),
/// [`ConvolveError::EmptyKernel`] (`second array argument cannot be empty`),
/// [`ConvolveError::DeviceMismatch`].
///
/// # Example
/// ```
/// use burn::tensor::{DType, Device, Tensor};
/// use burn_npconv::{Mode, correlate};
///
/// let device = Device::flex();
/// let a = Tensor::<1>::from_floats([1.0, 2.0, 3.0], &device);
/// let v = Tensor::<1>::from_floats([0.0, 1.0, 0.5], &device);
/// // np.correlate([1, 2, 3], [0, 1, 0.5], "full") == [0.5, 2.0, 3.5, 3.0, 0.0]
/// let y = correlate(a, v, Mode::Full)?;
/// assert_eq!(y.into_data().iter::<f32>().collect::<Vec<_>>(), [0.5, 2.0, 3.5, 3.0, 0.0]);
/// # Ok::<(), burn_npconv::ConvolveError>(())
/// ```
pub fn correlate(a: Tensor<1>, v: Tensor<1>, mode: Mode) -> Result<Tensor<1>, ConvolveError> {
    single(a, v, mode, Operation::Correlation)
}

fn single(
    a: Tensor<1>,
    v: Tensor<1>,
    mode: Mode,
    operation: Operation,
) -> Result<Tensor<1>, ConvolveError> {
    let [n] = a.dims();
    let [m] = v.dims();
    if n == 0 {
        return Err(ConvolveError::EmptySignal {
            op: operation,
            shape: vec![n],
        });
    }
    if m == 0 {
        return Err(ConvolveError::EmptyKernel {
            op: operation,
            shape: vec![m],
        });
    }
    same_device("signal and kernel", &a.device(), &v.device())?;
    let options = Convolve1dOptions::new(mode).with_operation(operation);
    let y = convolve1d(a.reshape([1, 1, n]), v.reshape([1, 1, m]), None, options)?;
    Ok(y.reshape([-1]))
}

/// Batched, multi-channel `np.convolve` / `np.correlate`: what [`NpConvolve1d`](crate::NpConvolve1d)
/// runs, for a tensor of kernels without building a module.
///
/// Output channel `o` of sample `b` is
/// `Σ_i np.convolve(x[b, i], weight[o, i - g·C], mode) + bias[o]` over the input channels `i`
/// of `o`'s group `g` (`C = channels_in / groups`), or the same with `np.correlate` when
/// `options.operation` is [`Operation::Correlation`]. With a [`Boundary`] other than zeros,
/// each `x[b, i]` is first padded by that rule, as `np.pad(x[b, i], (L, R), mode)`, and the
/// convolution taken in `valid` mode, `(L, R)` being the zero padding of `mode`
/// ([`padding`](crate::mode::padding)); the output length is that of `mode` either way. The weight is in **NumPy orientation**:
/// a kernel reads as filter coefficients, exactly as passed to `np.convolve`.
///
/// # Shapes
/// - `x`: `[batch, channels_in, length]`
/// - `weight`: `[channels_out, channels_in / groups, kernel_size]`
/// - `bias`: `[channels_out]`
/// - returns: `[batch, channels_out, length_out]`, with `length_out` from
///   [`output_len`](crate::mode::output_len)`(length, kernel_size, mode)`.
///
/// # Errors
/// [`ConvolveError::EmptyBatch`], [`ConvolveError::EmptySignal`], [`ConvolveError::EmptyKernel`],
/// [`ConvolveError::ZeroChannels`], [`ConvolveError::Groups`], [`ConvolveError::ChannelMismatch`],
/// [`ConvolveError::BiasMismatch`], [`ConvolveError::DeviceMismatch`].
///
/// # Example
/// ```
/// use burn::tensor::{DType, Device, Tensor};
/// use burn_npconv::{Convolve1dOptions, Mode, convolve1d};
///
/// let device = Device::flex();
/// // Two samples, two channels each; depthwise (groups = 2) with one kernel per channel.
/// let x = Tensor::<3>::from_floats([[[1.0, 2.0, 3.0], [1.0, 0.0, 0.0]],
///                                   [[0.0, 1.0, 0.0], [4.0, 5.0, 6.0]]], &device);
/// let w = Tensor::<3>::from_floats([[[1.0, 1.0]], [[1.0, -1.0]]], &device);
/// let y = convolve1d(x, w, None, Convolve1dOptions::new(Mode::Valid).with_groups(2))?;
/// assert_eq!(y.dims(), [2, 2, 2]);
/// # Ok::<(), burn_npconv::ConvolveError>(())
/// ```
pub fn convolve1d(
    x: Tensor<3>,
    weight: Tensor<3>,
    bias: Option<Tensor<1>>,
    options: Convolve1dOptions,
) -> Result<Tensor<3>, ConvolveError> {
    check_batched(&x, &weight, bias.as_ref(), &options)?;
    let g = Geometry::numpy(
        x.dims(),
        weight.dims(),
        options.groups,
        options.mode,
        options.operation,
    );
    run(x, weight, bias, g, options.method, options.boundary)
}

/// The sliding dot product of `g` (validated shapes) by `method`, the signal padded by
/// `boundary` where `g` pads with zeros, in NumPy's result dtype, plus the bias: planned once,
/// then executed.
pub(crate) fn run(
    x: Tensor<3>,
    weight: Tensor<3>,
    bias: Option<Tensor<1>>,
    g: Geometry,
    method: Method,
    boundary: Boundary,
) -> Result<Tensor<3>, ConvolveError> {
    // The gradients are planned when a backward pass can follow.
    let grads = x.device().is_autodiff() || weight.device().is_autodiff();
    let plan = Plan::new(
        &x.device(),
        (x.dtype(), weight.dtype()),
        g,
        method,
        boundary,
        grads,
    )?;
    crate::exec::run(x, weight, bias, &plan)
}

/// Checks the arguments of [`convolve1d`] without computing anything.
pub(crate) fn check_batched(
    x: &Tensor<3>,
    weight: &Tensor<3>,
    bias: Option<&Tensor<1>>,
    options: &Convolve1dOptions,
) -> Result<(), ConvolveError> {
    check_weight(weight, bias, options.groups, options.operation)?;
    let x_shape = x.dims();
    let w_shape = weight.dims();
    let [batch, channels, n] = x_shape;
    let per_group = w_shape[1];
    let groups = options.groups;
    if channels != per_group * groups {
        return Err(ConvolveError::ChannelMismatch {
            expected: per_group * groups,
            got: channels,
            input_shape: x_shape.to_vec(),
            weight_shape: w_shape.to_vec(),
            groups,
        });
    }
    if batch == 0 {
        return Err(ConvolveError::EmptyBatch {
            shape: x_shape.to_vec(),
        });
    }
    if n == 0 {
        return Err(ConvolveError::EmptySignal {
            op: options.operation,
            shape: x_shape.to_vec(),
        });
    }
    if let Some(bias) = bias {
        same_device("input and bias", &x.device(), &bias.device())?;
    }
    same_device("input and weight", &x.device(), &weight.device())
}

/// Checks a weight `[channels_out, channels_in / groups, M]` and its bias on their own: what
/// [`check_batched`] checks that does not involve the input (a stream's layer is checked so
/// before any chunk).
pub(crate) fn check_weight(
    weight: &Tensor<3>,
    bias: Option<&Tensor<1>>,
    groups: usize,
    operation: Operation,
) -> Result<(), ConvolveError> {
    let w_shape = weight.dims();
    let [channels_out, per_group, m] = w_shape;
    if channels_out == 0 || per_group == 0 {
        return Err(ConvolveError::ZeroChannels {
            channels_in: per_group * groups,
            channels_out,
        });
    }
    if groups == 0 || !channels_out.is_multiple_of(groups) {
        return Err(ConvolveError::Groups {
            groups,
            channels_in: per_group * groups,
            channels_out,
        });
    }
    if m == 0 {
        return Err(ConvolveError::EmptyKernel {
            op: operation,
            shape: w_shape.to_vec(),
        });
    }
    if let Some(bias) = bias {
        let bias_shape = bias.dims();
        if bias_shape != [channels_out] {
            return Err(ConvolveError::BiasMismatch {
                bias_shape: bias_shape.to_vec(),
                channels_out,
            });
        }
        same_device("weight and bias", &weight.device(), &bias.device())?;
    }
    Ok(())
}

/// [`ConvolveError::DeviceMismatch`] unless `first` and `second` are one device.
pub(crate) fn same_device(
    what: &'static str,
    first: &Device,
    second: &Device,
) -> Result<(), ConvolveError> {
    if first == second {
        Ok(())
    } else {
        Err(ConvolveError::DeviceMismatch {
            what,
            first: format!("{first:?}"),
            second: format!("{second:?}"),
        })
    }
}
