//! The N-D FFT on the tensors' device (wgpu), from Burn's `rfft`, `cfft` and `irfft`: the
//! `valid` sliding dot product of a padded array with a kernel, with every output checked
//! before it is returned. Where the FFT cannot be SciPy's direct sum (NaN or infinities, an
//! overflow, under `Method::Auto` an output whose own terms are too small for the FFT's
//! error), the whole call is Burn's convolution instead: one read-back of one flag decides.

use burn::tensor::Tensor;
use burn::tensor::signal::{cfft, irfft, rfft};

use crate::error::ConvolveError;

/// The N-D FFT's error model on the device, in units of `ε_f32 · max|A| · max|K| · taps`: the
/// host's (`guard::nd`).
const ND_FFT_ERROR: f64 = 0.0125;

/// The accuracy the guard keeps, in units of `ε_f32 · S_i`: the host's.
const ACCURACY: f64 = 3.0;

/// Transform lengths: powers of two (Burn's FFT needs them) holding the padded array, at
/// least 2 on the last axis (DC and Nyquist).
fn lens<const D: usize>(p: [usize; D]) -> [usize; D] {
    core::array::from_fn(|i| {
        let f = p[i].next_power_of_two();
        if i == D - 1 { f.max(2) } else { f }
    })
}

/// The circular correlation of `a` (shape `p`) with `k`, both zero-padded to `f`, cut to the
/// `valid` outputs: `y[i] = Σ_j a[i + j] · k[j]`.
fn correlate<const D: usize>(a: Tensor<D>, k: Tensor<D>, f: [usize; D]) -> Tensor<D> {
    let (p, m) = (a.dims(), k.dims());
    let last = D - 1;
    let spectrum = |t: Tensor<D>| {
        let (mut re, mut im) = rfft(t, last, Some(f[last]));
        for (axis, &len) in f.iter().enumerate().take(last) {
            if len > 1 {
                (re, im) = cfft(re, im, axis, Some(len));
            }
        }
        (re, im)
    };
    let (ar, ai) = spectrum(a);
    let (kr, ki) = spectrum(k);
    // A · conj(K).
    let yr = ar.clone() * kr.clone() + ai.clone() * ki.clone();
    let yi = ai * kr - ar * ki;
    // The complex axes' inverse: conj(FFT(conj(Y))) / n.
    let (mut yr, mut yi) = (yr, yi.neg());
    let mut n = 1usize;
    for (axis, &len) in f.iter().enumerate().take(last) {
        if len > 1 {
            (yr, yi) = cfft(yr, yi, axis, Some(len));
            n *= len;
        }
    }
    let (yr, yi) = (yr.div_scalar(n as f64), yi.neg().div_scalar(n as f64));
    let y = irfft(yr, yi, last, Some(f[last]));
    let ranges: [core::ops::Range<usize>; D] = core::array::from_fn(|i| 0..p[i] + 1 - m[i]);
    y.slice(ranges)
}

/// The `valid` sliding dot product of `padded` with `k` by the device FFT, or `None` where
/// an output differs from what SciPy's direct sum gives: a non-finite output (NaN or
/// infinities in the inputs, an overflow) and, when `guarded`, an output whose own terms'
/// magnitudes `S_i` are too small for the FFT's error (`E ≤ 3 ε (S_i − E_s)`, the host
/// guard's rule, with `max|A|` over the whole array). The magnitudes are an FFT of `|A| /
/// max|A|` with `|K| / max|K|`; the rule is evaluated on the device, and one flag read back.
///
/// A device that fails to read back gives [`ConvolveError::DeviceFailure`].
pub(super) fn try_fft<const D: usize>(
    padded: Tensor<D>,
    k: Tensor<D>,
    guarded: bool,
) -> Result<Option<Tensor<D>>, ConvolveError> {
    let device = padded.device();
    let (p, m) = (padded.dims(), k.dims());
    let f = lens(p);
    let y = correlate(padded.clone(), k.clone(), f);
    let mut ok = y.clone().is_finite().all();
    if guarded {
        let points: usize = f.iter().product();
        let taps: usize = m.iter().product();
        let eps = f64::from(f32::EPSILON);
        let log2 = (points as f64).log2().max(1.0);
        // Magnitudes scaled by their largest (a zero array divides to NaN, which fails).
        let scaled = |t: Tensor<D>| {
            let abs = t.abs();
            let max = abs.clone().max().reshape([1; D]);
            let scaled = abs / max;
            let norm = scaled.clone().square().sum().sqrt();
            (scaled, norm)
        };
        let (sa, na) = scaled(padded);
        let (sk, nk) = scaled(k);
        let s = correlate(sa, sk, f);
        // `E / (3 ε)` in units of `max|A| · max|K|`, plus `E_s = ε log2(points) ‖·‖ ‖·‖`.
        let e = ND_FFT_ERROR * (log2 / 12.0).max(1.0) * taps as f64 / ACCURACY;
        let bound = (na * nk)
            .mul_scalar(eps * log2)
            .add_scalar(e)
            .reshape([1; D]);
        let pass = s.sub(bound).greater_equal_elem(0.0).all();
        ok = ok.bool_and(pass);
    }
    let ok = ok
        .try_into_scalar::<bool>()
        .map_err(|e| ConvolveError::DeviceFailure {
            device: format!("{device:?}"),
            reason: e.to_string(),
        })?;
    Ok(ok.then_some(y))
}

#[cfg(test)]
mod tests {
    use burn::tensor::{Device, TensorData};

    use super::*;

    /// Seeded noise in [-1, 1): the fractional parts of a fast-growing sine.
    fn noise(len: usize, seed: u64) -> Vec<f32> {
        (0..len)
            .map(|i| {
                let x = ((i as f64 + seed as f64 * 1e3) * 12.9898).sin() * 43758.5453;
                (x.fract().abs() * 2.0 - 1.0) as f32
            })
            .collect()
    }

    /// The `valid` sliding dot product of `a` (`n x n`) with `k` (`m x m`), in f64.
    fn direct(a: &[f32], k: &[f32], n: usize, m: usize) -> Vec<f64> {
        let l = n + 1 - m;
        let mut y = vec![0.0; l * l];
        for i in 0..l {
            for j in 0..l {
                for u in 0..m {
                    for v in 0..m {
                        y[i * l + j] += f64::from(a[(i + u) * n + j + v]) * f64::from(k[u * m + v]);
                    }
                }
            }
        }
        y
    }

    #[test]
    fn the_device_fft_is_checked_output_by_output() {
        let device = Device::wgpu(Default::default());
        let (n, m) = (40, 9);
        let tensor = |v: &[f32], side: usize| {
            Tensor::<2>::from_data(TensorData::new(v.to_vec(), [side, side]), &device)
        };
        let k = noise(m * m, 2);
        let run = |a: &[f32], guarded: bool| try_fft(tensor(a, n), tensor(&k, m), guarded).unwrap();
        // Noise: accepted, within f32's rounding of the exact sums.
        let a = noise(n * n, 1);
        let y = run(&a, true).expect("noise passes the check");
        let y = y.into_data().try_to_vec::<f32>().unwrap();
        for (got, want) in y.iter().zip(direct(&a, &k, n, m)) {
            assert!(
                (f64::from(*got) - want).abs() < 1e-5,
                "{got} against {want}"
            );
        }
        // A silence (outputs whose terms are all 0, which SciPy sums to exactly 0) and a 1e7
        // spike in noise (outputs far smaller than the error it brings): Burn's convolution
        // under `Auto`, the FFT when forced.
        let mut silence = a.clone();
        for i in 0..20 {
            silence[i * n..i * n + 20].fill(0.0);
        }
        let mut spike = a.clone();
        spike[n * n / 2] = 1e7;
        for case in [&silence, &spike] {
            assert!(run(case, true).is_none());
            assert!(run(case, false).is_some());
        }
        // NaN, infinities and overflow: Burn's convolution whatever the method.
        let mut nan = a.clone();
        nan[5] = f32::NAN;
        let mut inf = a.clone();
        inf[n * n - 1] = f32::INFINITY;
        let huge: Vec<f32> = a.iter().map(|v| v * 3e37).collect();
        for case in [&nan, &inf, &huge] {
            assert!(run(case, true).is_none());
            assert!(run(case, false).is_none());
        }
    }
}
