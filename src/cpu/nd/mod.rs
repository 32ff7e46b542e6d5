//! The N-D host kernels of `burn_npconv::signal`: the `valid` sliding dot product of a padded
//! array `A` with a kernel `K`, `y[i] = Σ_k A[i + k] · K[k]` over every `k` of `K`'s box,
//! for ranks 1 to 3 (seen as 3-D, with leading axes of length 1).
//!
//! - `direct`: the direct sum, in the kernel's order, with SciPy's NaN and infinities;
//! - `fft`: the N-D real FFT of one transform shape;
//! - `tiles`: the FFT's tiles (overlap-save), each block read from the array before padding;
//! - `pad`: the padded array, by numpy.pad's rules;
//! - `separable`: a kernel given as one factor per axis, slid one axis at a time, with the
//!   direct sum wherever the passes could differ from it;
//! - [`conv`]: [`correlate`], the kernel the plan chose, with `Method::Auto`'s guard on the FFT
//!   (`guard::nd`) and the direct sum wherever a non-finite value or an overflow makes the
//!   FFT's output differ from SciPy's.

mod conv;
pub(crate) mod dims;
mod direct;
mod fft;
mod pad;
mod separable;
mod tiles;

pub(crate) use conv::correlate;
pub(crate) use dims::Dims;
pub(crate) use pad::Padder;
pub(crate) use separable::separable;
