//! Sums of products of complex spectra, the inner loop of the FFT paths that sum over input
//! channels: the host FFT's blocks ([`crate::cpu`]) and the accuracy guard's edge sums
//! ([`crate::guard`], which the device FFT uses too, hence outside `cpu`).

use realfft::num_complex::Complex;

use crate::fft_plans::Planned;

/// Whether `U` is f64 (else f32: the only two [`Planned`] types).
fn is_f64<U: Planned>() -> bool {
    std::mem::size_of::<U>() == 8
}

/// `acc[k] = Σ_i specs[i][k] · hs[i · bins + k]` over complex bins: a block's spectra (one
/// per input channel of a group) times one output channel's kernel spectra, summed over the
/// channels in the order of `i`.
///
/// The sums of a chunk of bins stay in registers across the channels: a product and a sum per
/// channel pair through `acc` in memory (stored, loaded and stored again) took 28% of the
/// dense training case's forward pass (16 to 16 channels, 31 taps; perf).
pub(crate) fn channel_sum<U: Planned>(
    acc: &mut [Complex<U>],
    specs: &[Vec<Complex<U>>],
    hs: &[Complex<U>],
) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
        // SAFETY: the CPU has AVX2 and FMA, checked above.
        return unsafe { channel_sum_avx2(acc, specs, hs) };
    }
    channel_sum_body(acc, specs, hs)
}

/// [`channel_sum`] with AVX2 and FMA: the bins in chunks of eight vectors, each channel's
/// products accumulated as `x · (h.re, h.re)` and `x · (h.im, h.im)` with fused multiply-adds
/// (two in-lane shuffles of `h` per vector), combined once per chunk: the second sum's halves
/// swapped (`(Σ x.im·h.im, Σ x.re·h.im)`), then `addsub`. Swapping `x` per product instead
/// made the loop wait on the shuffle unit (three shuffles per two multiply-adds). The last
/// bins by [`channel_sum_rest`].
///
/// # Safety
/// The CPU has AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn channel_sum_avx2<U: Planned>(
    acc: &mut [Complex<U>],
    specs: &[Vec<Complex<U>>],
    hs: &[Complex<U>],
) {
    use std::arch::x86_64::*;
    let bins = acc.len();
    assert!(specs.len() * bins <= hs.len() && specs.iter().all(|s| s.len() >= bins));
    // Complex<U> is `#[repr(C)] { re, im }`: the bins as 2·bins values of U.
    let values = |c: &[Complex<U>]| c.as_ptr().cast::<U>();
    let hs_ptr = values(hs);
    let out = acc.as_mut_ptr().cast::<U>();
    // Bins per chunk: eight vectors of sums (four of each product form).
    let chunk = if is_f64::<U>() { 8 } else { 16 };
    let done = bins / chunk * chunk;
    for k in (0..done).step_by(chunk) {
        // SAFETY: bins k..k + chunk lie within `acc`, every `specs[i]` and every kernel's
        // row of `hs` (the assertion above); U is f32 or f64, as each branch reads it.
        unsafe {
            if is_f64::<U>() {
                let mut a = [_mm256_setzero_pd(); 4];
                let mut b = [_mm256_setzero_pd(); 4];
                for (i, spec) in specs.iter().enumerate() {
                    let x = values(spec).cast::<f64>().add(2 * k);
                    let h = hs_ptr.cast::<f64>().add(2 * (i * bins + k));
                    for v in 0..4 {
                        let xv = _mm256_loadu_pd(x.add(4 * v));
                        let hv = _mm256_loadu_pd(h.add(4 * v));
                        a[v] = _mm256_fmadd_pd(xv, _mm256_movedup_pd(hv), a[v]);
                        b[v] = _mm256_fmadd_pd(xv, _mm256_permute_pd(hv, 0b1111), b[v]);
                    }
                }
                for v in 0..4 {
                    _mm256_storeu_pd(
                        out.cast::<f64>().add(2 * k + 4 * v),
                        _mm256_addsub_pd(a[v], _mm256_permute_pd(b[v], 0b0101)),
                    );
                }
            } else {
                let mut a = [_mm256_setzero_ps(); 4];
                let mut b = [_mm256_setzero_ps(); 4];
                for (i, spec) in specs.iter().enumerate() {
                    let x = values(spec).cast::<f32>().add(2 * k);
                    let h = hs_ptr.cast::<f32>().add(2 * (i * bins + k));
                    for v in 0..4 {
                        let xv = _mm256_loadu_ps(x.add(8 * v));
                        let hv = _mm256_loadu_ps(h.add(8 * v));
                        a[v] = _mm256_fmadd_ps(xv, _mm256_moveldup_ps(hv), a[v]);
                        b[v] = _mm256_fmadd_ps(xv, _mm256_movehdup_ps(hv), b[v]);
                    }
                }
                for v in 0..4 {
                    _mm256_storeu_ps(
                        out.cast::<f32>().add(2 * k + 8 * v),
                        _mm256_addsub_ps(a[v], _mm256_permute_ps(b[v], 0b1011_0001)),
                    );
                }
            }
        }
    }
    channel_sum_rest(&mut acc[done..], specs, hs, done);
}

/// [`channel_sum`] in plain Rust, for any CPU.
fn channel_sum_body<U: Planned>(
    acc: &mut [Complex<U>],
    specs: &[Vec<Complex<U>>],
    hs: &[Complex<U>],
) {
    channel_sum_rest(acc, specs, hs, 0);
}

/// Bins `from..` of [`channel_sum`] (`acc` holds those bins), one at a time.
fn channel_sum_rest<U: Planned>(
    acc: &mut [Complex<U>],
    specs: &[Vec<Complex<U>>],
    hs: &[Complex<U>],
    from: usize,
) {
    let bins = from + acc.len();
    for (j, slot) in acc.iter_mut().enumerate() {
        let k = from + j;
        let mut s = Complex::new(U::zero(), U::zero());
        for (i, spec) in specs.iter().enumerate() {
            s = s + spec[k] * hs[i * bins + k];
        }
        *slot = s;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    /// [`channel_sum`] (the AVX2 copy where the CPU has it) and its plain loop against a sum of
    /// complex products in f64, for f32 and f64, whole chunks and their remainders, one to three
    /// channels. The values are multiples of 1/8 with small products: every sum is exact.
    #[test]
    fn channel_sums_match_the_plain_products() {
        fn case<U: Planned>(bins: usize, channels: usize) {
            let f = |v: U| v.to_f64().unwrap();
            let value = |i: usize, s: usize| -> U {
                U::from((((i * 7 + s * 3) % 17) as f64 - 8.0) / 8.0).unwrap()
            };
            let specs: Vec<Vec<Complex<U>>> = (0..channels)
                .map(|c| {
                    (0..bins)
                        .map(|k| Complex::new(value(k, c), value(k + 5, c + 1)))
                        .collect()
                })
                .collect();
            let hs: Vec<Complex<U>> = (0..channels * bins)
                .map(|j| Complex::new(value(j + 2, 9), value(j, 4)))
                .collect();
            let expected: Vec<(f64, f64)> = (0..bins)
                .map(|k| {
                    (0..channels).fold((0.0, 0.0), |(re, im), i| {
                        let (x, h) = (specs[i][k], hs[i * bins + k]);
                        let (xr, xi, hr, hi) = (f(x.re), f(x.im), f(h.re), f(h.im));
                        (re + xr * hr - xi * hi, im + xr * hi + xi * hr)
                    })
                })
                .collect();
            let zero = Complex::new(U::zero(), U::zero());
            let mut plain = vec![zero; bins];
            channel_sum_body(&mut plain, &specs, &hs);
            let mut dispatched = vec![zero; bins];
            channel_sum(&mut dispatched, &specs, &hs);
            for (name, got) in [("plain", &plain), ("dispatched", &dispatched)] {
                for (k, (g, e)) in got.iter().zip(&expected).enumerate() {
                    assert_eq!(
                        (f(g.re), f(g.im)),
                        *e,
                        "{name} bin {k} of {bins}, {channels} channels"
                    );
                }
            }
        }
        for bins in [1, 7, 8, 9, 15, 16, 17, 33, 129, 257] {
            for channels in 1..=3 {
                case::<f32>(bins, channels);
                case::<f64>(bins, channels);
            }
        }
    }
}
