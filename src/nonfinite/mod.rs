//! NaN and infinities where NumPy's direct sum puts them, whatever the method: the one home of
//! NumPy's rule, for the host kernels ([`host`], on slices) and for the routes made of Burn's
//! tensor ops ([`tensor`]).
//!
//! NumPy's `np.convolve` sums, for each output, the products of the overlapping samples only:
//! an output is NaN when one of its terms is NaN (a NaN factor, `inf · 0`) or when it has both
//! a `+inf` and a `-inf` term, `±inf` when its infinite terms share a sign, and finite
//! otherwise. The fast paths do not have that property by themselves: a sliding product also
//! multiplies the zero padding (`0 · inf` is NaN where NumPy has no term at all), and one
//! non-finite sample turns a whole FFT block into NaN. So the fast paths compute the finite
//! part, and the outputs that have a non-finite factor among their terms are recomputed as
//! NumPy's sum (host) or counted exactly and masked (tensor ops).

#[cfg(cpu_kernels)]
pub(crate) mod host;
pub(crate) mod tensor;
