//! The public functions of [`crate::signal`], SciPy's names and signatures.

use burn::tensor::Tensor;

use super::layout::Family;
use super::options::Options;
use super::run;
use crate::boundary::Boundary;
use crate::error::ConvolveError;
use crate::mode::{Mode, Operation};

/// `scipy.signal.convolve(in1, in2, mode)`: the N-dimensional convolution (`in2` flipped on
/// every axis), for ranks 1 to 3.
///
/// # Shapes
/// `in1` and `in2` of one rank, on one device; returns, per axis, `N1 + N2 - 1` (full), `N1`
/// (same and causal) or `|N1 - N2| + 1` (valid).
///
/// # Errors
/// [`ConvolveError::EmptyInput`], [`ConvolveError::ValidShapes`], [`ConvolveError::Rank`],
/// [`ConvolveError::DeviceMismatch`], [`ConvolveError::UnsupportedDType`].
///
/// # Example
/// ```
/// use burn::tensor::{Device, Tensor};
/// use burn_npconv::{Mode, signal};
///
/// let device = Device::flex();
/// let a = Tensor::<2>::from_floats([[1.0, 2.0], [3.0, 4.0]], &device);
/// let k = Tensor::<2>::from_floats([[0.0, 1.0]], &device);
/// // scipy.signal.convolve([[1, 2], [3, 4]], [[0, 1]]) == [[0, 1, 2], [0, 3, 4]]
/// let y = signal::convolve(a, k, Mode::Full)?;
/// assert_eq!(y.into_data().iter::<f32>().collect::<Vec<_>>(), [0.0, 1.0, 2.0, 0.0, 3.0, 4.0]);
/// # Ok::<(), burn_npconv::ConvolveError>(())
/// ```
pub fn convolve<const D: usize>(
    in1: Tensor<D>,
    in2: Tensor<D>,
    mode: Mode,
) -> Result<Tensor<D>, ConvolveError> {
    convolve_with(in1, in2, Options::new(mode))
}

/// `scipy.signal.correlate(in1, in2, mode)`: the N-dimensional cross-correlation (`in2` not
/// flipped), for ranks 1 to 3.
///
/// # Shapes
/// As [`convolve`].
///
/// # Errors
/// As [`convolve`].
pub fn correlate<const D: usize>(
    in1: Tensor<D>,
    in2: Tensor<D>,
    mode: Mode,
) -> Result<Tensor<D>, ConvolveError> {
    correlate_with(in1, in2, Options::new(mode))
}

/// [`convolve`] with a method and a boundary rule (`scipy.signal.convolve(in1, in2, mode,
/// method)`).
///
/// # Shapes
/// As [`convolve`].
///
/// # Errors
/// As [`convolve`].
pub fn convolve_with<const D: usize>(
    in1: Tensor<D>,
    in2: Tensor<D>,
    options: Options,
) -> Result<Tensor<D>, ConvolveError> {
    run::run(in1, in2, Operation::Convolution, options, Family::Nd)
}

/// [`correlate`] with a method and a boundary rule (`scipy.signal.correlate(in1, in2, mode,
/// method)`).
///
/// # Shapes
/// As [`convolve`].
///
/// # Errors
/// As [`convolve`].
pub fn correlate_with<const D: usize>(
    in1: Tensor<D>,
    in2: Tensor<D>,
    options: Options,
) -> Result<Tensor<D>, ConvolveError> {
    run::run(in1, in2, Operation::Correlation, options, Family::Nd)
}

/// `scipy.signal.convolve2d(in1, in2, mode, boundary, fillvalue)`: `boundary="fill",
/// fillvalue=c` is [`Boundary::Constant`]`(c)` (or [`Boundary::Zeros`]), `"wrap"`
/// [`Boundary::Wrap`], `"symm"` [`Boundary::Symmetric`]; [`Boundary::Reflect`] and
/// [`Boundary::Edge`] go beyond SciPy. `Method::Auto`.
///
/// # Shapes
/// `in1` `[H1, W1]`, `in2` `[H2, W2]`; returns `[H1 + H2 - 1, W1 + W2 - 1]` (full), `[H1, W1]`
/// (same and causal) or `[|H1 - H2| + 1, |W1 - W2| + 1]` (valid).
///
/// # Errors
/// As [`convolve`].
pub fn convolve2d(
    in1: Tensor<2>,
    in2: Tensor<2>,
    mode: Mode,
    boundary: Boundary,
) -> Result<Tensor<2>, ConvolveError> {
    let options = Options::new(mode).with_boundary(boundary);
    run::run(in1, in2, Operation::Convolution, options, Family::TwoD)
}

/// `scipy.signal.correlate2d(in1, in2, mode, boundary, fillvalue)`, with [`convolve2d`]'s
/// boundaries. Its `same` window for an even kernel length `M` starts at `ceil((M-1)/2)`.
///
/// # Shapes
/// As [`convolve2d`].
///
/// # Errors
/// As [`convolve`].
pub fn correlate2d(
    in1: Tensor<2>,
    in2: Tensor<2>,
    mode: Mode,
    boundary: Boundary,
) -> Result<Tensor<2>, ConvolveError> {
    let options = Options::new(mode).with_boundary(boundary);
    run::run(in1, in2, Operation::Correlation, options, Family::TwoD)
}

/// [`convolve_with`] with a kernel given as one factor per axis: `in2[i, j, l] = (k0[i] ·
/// k1[j]) · k2[l]`, SciPy's `convolve(in1, np.multiply.outer(np.multiply.outer(k0, k1), k2),
/// mode)` (in 2-D, `np.outer(k0, k1)`). A Gaussian or a box blur is such a kernel.
///
/// On flex and ndarray with [`Method::Auto`](crate::Method::Auto), the kernel is slid one axis at
/// a time: `m0 + m1 + m2` terms per output instead of `m0 · m1 · m2`, each pass a direct sum
/// (so every output is within a small multiple of `ε · Σ |in1| |in2|` over its own terms),
/// with the whole kernel's direct sum wherever NaN, infinities or overflow could come out
/// otherwise. Everywhere else (another method, wgpu, a remote or autodiff device, or a kernel
/// larger than `in1`, which SciPy slides `in1` over) the kernel is materialized and the call is
/// [`convolve_with`]'s: on an autodiff device the gradients flow to each factor.
///
/// # Shapes
/// `in1` of rank `D` (1 to 3), `factors[a]` of length `M_a`; returns [`convolve`]'s shape for
/// a kernel of shape `[M_0, .., M_{D-1}]`.
///
/// # Errors
/// As [`convolve`]; an empty factor is [`ConvolveError::EmptyInput`] for `"factors"`.
///
/// # Example
/// ```
/// use burn::tensor::{Device, Tensor};
/// use burn_npconv::{Mode, signal};
///
/// let device = Device::flex();
/// let image = Tensor::<2>::ones([4, 5], &device);
/// let box3 = || Tensor::<1>::from_floats([1.0 / 3.0; 3], &device);
/// // scipy.signal.convolve(image, np.outer(box3, box3), "same")
/// let y = signal::convolve_separable(image, [box3(), box3()], signal::Options::new(Mode::Same))?;
/// assert_eq!(y.dims(), [4, 5]);
/// let values: Vec<f32> = y.into_data().iter::<f32>().collect();
/// assert!((values[6] - 1.0).abs() < 1e-6); // an inner pixel: the whole box
/// assert!((values[0] - 4.0 / 9.0).abs() < 1e-6); // a corner: 4 of 9 terms
/// # Ok::<(), burn_npconv::ConvolveError>(())
/// ```
pub fn convolve_separable<const D: usize>(
    in1: Tensor<D>,
    factors: [Tensor<1>; D],
    options: Options,
) -> Result<Tensor<D>, ConvolveError> {
    run::run_separable(in1, factors, Operation::Convolution, options)
}

/// [`correlate_with`] with a kernel given as one factor per axis (see
/// [`convolve_separable`]): SciPy's `correlate(in1, np.multiply.outer(..), mode)`.
///
/// # Shapes
/// As [`convolve_separable`].
///
/// # Errors
/// As [`convolve_separable`].
pub fn correlate_separable<const D: usize>(
    in1: Tensor<D>,
    factors: [Tensor<1>; D],
    options: Options,
) -> Result<Tensor<D>, ConvolveError> {
    run::run_separable(in1, factors, Operation::Correlation, options)
}
