//! SciPy's `scipy.signal.convolve`, `correlate`, `convolve2d` and `correlate2d` on Burn tensors
//! of rank 1 to 3: images and volumes, exactly as SciPy computes them.
//!
//! | SciPy | here |
//! |---|---|
//! | `scipy.signal.convolve(in1, in2, mode)` | [`convolve`]`(in1, in2, mode)` |
//! | `scipy.signal.correlate(in1, in2, mode)` | [`correlate`]`(in1, in2, mode)` |
//! | `… , method="direct" / "fft" / "auto"` | [`convolve_with`]`(in1, in2, Options::new(mode).with_method(..))` |
//! | `scipy.signal.convolve2d(in1, in2, mode, boundary="fill", fillvalue=c)` | [`convolve2d`]`(in1, in2, mode, Boundary::Constant(c))` |
//! | `… , boundary="wrap"` / `"symm"` | `Boundary::Wrap` / `Boundary::Symmetric` |
//! | `scipy.signal.correlate2d(..)` | [`correlate2d`] (same arguments) |
//! | `scipy.signal.convolve(in1, np.outer(k0, k1), mode)` | [`convolve_separable`]`(in1, [k0, k1], Options::new(mode))` |
//!
//! # SciPy's semantics, not NumPy's
//! - `same` has `in1`'s shape, whichever input is larger. (In 1-D, NumPy's `same` has the
//!   longer input's length: [`crate::convolve`] keeps NumPy's rule, these functions SciPy's.)
//! - `valid` slides the smaller input inside the larger: `in2` may be the larger one, if it is
//!   at least as large in every axis; when neither input is,
//!   [`ConvolveError::ValidShapes`](crate::ConvolveError::ValidShapes) (SciPy's `ValueError`).
//! - `same`'s window for an even kernel length `M` starts at `floor((M-1)/2)` of the `full`
//!   output on each axis, except in [`correlate2d`], where it starts at `ceil((M-1)/2)` (a 7x9
//!   image with a 4x2 kernel: `correlate2d` keeps `full[2.., 1..]`, `correlate`
//!   `full[1.., 0..]`). [`convolve2d`] and [`convolve`] agree.
//! - [`Mode::Causal`](crate::Mode::Causal) is this crate's own: `full[:N1, :N2, ...]` on every
//!   axis.
//! - An empty input is [`ConvolveError::EmptyInput`](crate::ConvolveError::EmptyInput) (SciPy 1.17 has no consistent answer
//!   there: broadcast errors, or empty outputs of odd shapes).
//! - Dtypes are promoted like `np.result_type` (f32 with f64 gives f64); half precision
//!   computes in f32 and returns its own dtype.
//!
//! # NaN and infinities
//! Every method puts NaN and `±inf` where SciPy's direct sum does. In N-D that sum multiplies
//! every kernel term by the zero-padded input, so an infinite kernel value meets the padding's
//! zeros (`inf · 0` is NaN) in `full` and `same`: `convolve([[1, 2], [3, 4]], [[1, inf]],
//! "full")` has a NaN column where SciPy's has one. Which input is zero-padded follows SciPy's
//! own swaps (in `full`, the input with fewer elements is the kernel). In 1-D, SciPy hands
//! `full`, `valid` and `same` with `len(in1) >= len(in2)` to NumPy, whose sum has no padding
//! terms; those calls run this crate's NumPy functions and follow NumPy's rule.
//!
//! # Boundaries
//! With a [`Boundary`](crate::Boundary) other than zeros, `op(in1, in2)` is
//! `op(np.pad(in1, pads, mode=rule), in2, "valid")`, `pads` the zero padding of SciPy's
//! window on each axis (so [`Boundary::Zeros`](crate::Boundary::Zeros) is SciPy's own result, and in 2-D the rules
//! reproduce `convolve2d`'s `fill`, `wrap` and `symm`). [`Boundary::Reflect`](crate::Boundary::Reflect) and
//! [`Boundary::Edge`](crate::Boundary::Edge) go beyond SciPy, defined the same way.
//!
//! # Methods
//! - [`Method::Direct`](crate::Method::Direct): SciPy's direct sum.
//! - [`Method::Fft`](crate::Method::Fft): an N-D real FFT. Its error is spread over the
//!   whole array in proportion to the largest values: outputs much smaller than that (a
//!   quiet region next to a loud one, an exact silence) are not within the direct sum's error
//!   of their own terms. NaN, infinities and overflow are still SciPy's.
//! - [`Method::Auto`](crate::Method::Auto) (the default): the FFT where the cost model
//!   expects it to be faster, behind an accuracy guard that checks each output against the
//!   magnitudes of its own terms and sums directly the outputs the FFT would get wrong (or
//!   moves the FFT to f64, or to the direct kernel): every output within a small multiple of
//!   `ε · Σ |in1| |in2|` over its own terms, whatever the magnitudes.
//!
//! On flex and ndarray the host kernels run (f32 and f64). On wgpu, a remote device, and any
//! autodiff device (whose gradients then flow through the call), Burn's
//! `conv1d`/`conv2d`/`conv3d` computes the direct sum.
//!
//! # Example: blurring an image
//! ```
//! use burn::tensor::{Device, Tensor};
//! use burn_npconv::{Boundary, Mode, signal};
//!
//! let device = Device::flex();
//! let image = Tensor::<2>::from_floats([[0.0, 0.0, 0.0], [0.0, 9.0, 0.0], [0.0, 0.0, 0.0]], &device);
//! let blur = Tensor::<2>::ones([3, 3], &device) / 9.0;
//! // scipy.signal.convolve2d(image, blur, "same", boundary="symm")
//! let y = signal::convolve2d(image, blur, Mode::Same, Boundary::Symmetric)?;
//! assert_eq!(y.dims(), [3, 3]);
//! let values: Vec<f32> = y.into_data().iter::<f32>().collect();
//! assert!(values.iter().all(|v| (v - 1.0).abs() < 1e-6));
//! # Ok::<(), burn_npconv::ConvolveError>(())
//! ```

#[cfg(feature = "wgpu")]
mod device_fft;
mod functions;
#[cfg(cpu_kernels)]
mod host;
mod layout;
mod options;
mod run;

pub use functions::{
    convolve, convolve_separable, convolve_with, convolve2d, correlate, correlate_separable,
    correlate_with, correlate2d,
};
pub use options::Options;
