//! `Method::Auto`'s accuracy guard on the N-D host FFT (`burn_npconv::signal`), output by
//! output.
//!
//! The N-D FFT's error on an output is modelled, as the 1-D overlap-add's, by the largest
//! values it mixes: `E = ND_FFT_ERROR · ε_U · max|A| · max|K| · taps`, `ε_U` the epsilon of
//! the type it computes in (times `log2(points) / 12` for transforms of more than 4,096
//! points). The direct sum's error on output `i` is in proportion to its own terms,
//! `S_i = Σ_k |A[i + k]| |K[k]|`, which the guard computes by the same FFT of the magnitudes
//! (within `E` itself). An output passes when `E ≤ ACCURACY · ε_T · (S_i − E)`; the others
//! (an exact silence, where SciPy's sum is exactly 0; the quiet side of a spike) are summed
//! directly. When more than a few outputs fail, the FFT moves to f64, and then to the direct
//! kernel.

use crate::cost::nd_fft_lens;
use crate::cpu::Real;
use crate::cpu::nd::dims::Dims;
use crate::cpu::real::to;

/// The N-D FFT's error, in units of `ε_U · max|A| · max|K| · taps` (the 1-D overlap-add's
/// fit, [`super::FFT_DYNAMIC_RANGE`]'s `1 / 80`).
const ND_FFT_ERROR: f64 = 0.0125;

/// The accuracy the guard keeps, in units of `ε_T · S_i`.
const ACCURACY: f64 = 3.0;

/// What the guard makes of one FFT.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// The FFT stands, but for these outputs (flat indices), to be summed directly.
    Accept(Vec<usize>),
    /// Too many outputs fail: compute in a wider type, or directly.
    Reject,
}

/// The verdict on `y`, an FFT of `a` with `k` computed in f64 (`wide`) or in `T`, whose
/// outputs' term magnitudes the same FFT computed as `s`. An output the FFT made non-finite
/// (an overflow on the way) is always summed directly.
pub(crate) fn check<T: Real>(
    a: &[T],
    k: &[T],
    d: Dims,
    (y, s): (&[T], &[T]),
    wide: bool,
) -> Verdict {
    let eps_t: f64 = to(T::epsilon());
    let eps_u = if wide { f64::EPSILON } else { eps_t };
    let max = |v: &[T]| v.iter().fold(0.0f64, |m, &x| m.max(to::<T, f64>(x).abs()));
    let points = nd_fft_lens(&d.p).iter().product::<usize>() as f64;
    let e =
        ND_FFT_ERROR * eps_u * (points.log2() / 12.0).max(1.0) * max(a) * max(k) * d.taps() as f64;
    let bad: Vec<usize> = (0..s.len())
        .filter(|&i| {
            let s_i = to::<T, f64>(s[i]);
            !y[i].is_finite() || !s_i.is_finite() || e > ACCURACY * eps_t * (s_i - e)
        })
        .collect();
    // Outputs summed directly cost `taps` each: a few percent of the outputs in the inputs'
    // type, a quarter in f64 (the direct kernel costs about as much).
    let limit = if wide {
        d.out_len() / 4
    } else {
        d.out_len() / 64
    };
    if bad.len() > limit {
        Verdict::Reject
    } else {
        Verdict::Accept(bad)
    }
}
