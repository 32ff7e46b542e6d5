//! `Method::Auto`'s accuracy guard on the N-D host FFT (`burn_npconv::signal`), tile by tile
//! and output by output.
//!
//! The N-D FFT's error on an output is modelled, as the 1-D overlap-add's, by the largest
//! values it mixes: `E = ND_FFT_ERROR · ε_U · max|A| · max|K| · taps`, `max|A|` over the
//! tile's block, `ε_U` the epsilon of the type it computes in (times `log2(points) / 12` for
//! transforms of more than 4,096 points). The direct sum's error on output `i` is in
//! proportion to its own terms, `S_i = Σ_k |A[i + k]| |K[k]|`, which the guard computes by an
//! f32 FFT of the magnitudes, scaled by their largest so that nothing overflows (what
//! underflows only makes a sum smaller), within `E_s`, a bound of that FFT's error (see
//! [`check`]); in f64 where f32 leaves too many outputs in doubt. An output passes when
//! `E ≤ ACCURACY · ε_T · (S_i − E_s)`; the others (an exact silence, where SciPy's
//! sum is exactly 0; the quiet side of a spike) are summed directly. When more than a few
//! outputs fail, the tile's FFT moves to f64, and then to the direct kernel.

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

/// One FFT of a tile, as the guard models its error.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Fft {
    /// Points of each transform.
    pub points: f64,
    /// `max|A|` over the tile's block and `max|K|`.
    pub max: (f64, f64),
    /// The product of the 2-norms of `|A| / max|A|` and `|K| / max|K|`.
    pub norms: f64,
    /// The epsilon of the type the magnitudes' FFT computed in.
    pub eps_s: f64,
}

/// The verdict on `y`, an FFT computed in f64 (`wide`) or in `T`, given `s`, the magnitudes of
/// each output's terms computed by an FFT of the magnitudes scaled by their largest (`S_i /
/// (max|A| max|K|)`, in a type of epsilon `fft.eps_s`). An output passes when `E ≤ ACCURACY ·
/// ε_T · (S_i − E_s)`. `E_s = ε_s · log2(points) · ‖|A|‖₂ · ‖|K|‖₂` (scaled) bounds the 2-norm
/// of the magnitudes' FFT's error over the whole tile, so `S_i − E_s` is at most the exact
/// `S_i` (on non-negative inputs the error is larger than `E`'s model for signed ones). An
/// output the FFT made non-finite (an overflow on the way) is always summed directly.
pub(crate) fn check<T: Real>(d: Dims, (y, s): (&[T], &[f64]), wide: bool, fft: Fft) -> Verdict {
    let eps_t: f64 = to(T::epsilon());
    let eps_u = if wide { f64::EPSILON } else { eps_t };
    let (max_a, max_k) = fft.max;
    let scale = max_a * max_k;
    if !scale.is_finite() {
        return Verdict::Reject;
    }
    // In units of `max|A| · max|K|`.
    let e = ND_FFT_ERROR * eps_u * (fft.points.log2() / 12.0).max(1.0) * d.taps() as f64;
    let e_s = fft.eps_s * fft.points.log2().max(1.0) * fft.norms;
    // `E > ACCURACY ε_T (S_i − E_s)` is `S_i < floor`; first a branch-free pass the compiler
    // vectorizes, since most tiles have no output to repair.
    let floor = e / (ACCURACY * eps_t) + e_s;
    let fails = |(y, &s): (&T, &f64)| !(y.is_finite() & (s >= floor));
    if !y.iter().zip(s).fold(false, |any, p| any | fails(p)) {
        return Verdict::Accept(Vec::new());
    }
    let bad: Vec<usize> = (0..s.len()).filter(|&i| fails((&y[i], &s[i]))).collect();
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
