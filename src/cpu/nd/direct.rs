//! The N-D direct kernel: every output is the sum of all of the kernel's terms, in the
//! kernel's order (outer axes first), as SciPy's direct sum.

use rayon::prelude::*;

use super::dims::Dims;
use crate::cost::SERIAL_MACS;
use crate::cpu::Real;

/// The `valid` sliding dot product of `a` (shape `d.p`) with `k` (shape `d.m`): shape `d.out()`.
/// One task per output row (the last axis); the row is accumulated one kernel row at a time.
pub(crate) fn direct<T: Real>(a: &[T], k: &[T], d: Dims) -> Vec<T> {
    direct_in(a, k, d, d.out_len().saturating_mul(d.taps()) >= SERIAL_MACS)
}

/// [`direct`], its rows on every thread when `parallel`.
pub(crate) fn direct_in<T: Real>(a: &[T], k: &[T], d: Dims, parallel: bool) -> Vec<T> {
    let [l0, l1, l2] = d.out();
    let mut out = vec![T::zero(); l0 * l1 * l2];
    let row = |r: usize, y: &mut [T]| {
        // Written before it is read (see `cpu`'s documentation).
        y.fill(T::zero());
        let (i0, i1) = (r / l1, r % l1);
        for k0 in 0..d.m[0] {
            for k1 in 0..d.m[1] {
                let a_row = &a[((i0 + k0) * d.p[1] + i1 + k1) * d.p[2]..][..d.p[2]];
                let k_row = &k[(k0 * d.m[1] + k1) * d.m[2]..][..d.m[2]];
                accumulate(y, a_row, k_row);
            }
        }
    };
    if !parallel {
        out.chunks_mut(l2).enumerate().for_each(|(r, y)| row(r, y));
    } else {
        out.par_chunks_mut(l2)
            .enumerate()
            .for_each(|(r, y)| row(r, y));
    }
    out
}

/// `y[j] += Σ_t a[j + t] · w[t]`, term by term in `t` (each output's terms in order): in
/// 256-bit vectors where the CPU has AVX2 (the one place that picks the SIMD level decides,
/// `cpu::simd::Isa`). A multiply and an add per term, not fused: the rounding of SciPy's
/// direct sum.
fn accumulate<T: Real>(y: &mut [T], a: &[T], w: &[T]) {
    #[cfg(target_arch = "x86_64")]
    if crate::cpu::simd::Isa::detected() != crate::cpu::simd::Isa::Portable {
        // SAFETY: every copy but the portable one needs AVX2, which `detected` checked.
        return unsafe { accumulate_avx2(y, a, w) };
    }
    accumulate_body(y, a, w)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn accumulate_avx2<T: Real>(y: &mut [T], a: &[T], w: &[T]) {
    accumulate_body(y, a, w)
}

#[inline(always)]
fn accumulate_body<T: Real>(y: &mut [T], a: &[T], w: &[T]) {
    let l = y.len();
    for (t, &wt) in w.iter().enumerate() {
        for (yj, &aj) in y.iter_mut().zip(&a[t..t + l]) {
            *yj = *yj + aj * wt;
        }
    }
}

/// Outputs `first .. first + len` (flat indices into `d.out()`, within one row) alone, summed
/// as [`direct`] sums them. Rows of `a` that are all zeros are skipped: a sum that starts at
/// +0 is never -0, so adding their terms (±0, the kernel being finite) changes nothing, and
/// the outputs at a zero-padded volume's corners, whose windows are mostly padding, cost
/// their data's terms only.
pub(crate) fn direct_span<T: Real>(a: &[T], k: &[T], d: Dims, first: usize, len: usize) -> Vec<T> {
    let [_, l1, l2] = d.out();
    let (i0, i1, i2) = (first / (l1 * l2), (first / l2) % l1, first % l2);
    debug_assert!(i2 + len <= l2);
    let mut y = vec![T::zero(); len];
    for k0 in 0..d.m[0] {
        for k1 in 0..d.m[1] {
            let a_row = &a[((i0 + k0) * d.p[1] + i1 + k1) * d.p[2] + i2..][..len + d.m[2] - 1];
            if a_row.iter().all(|v| v.is_zero()) {
                continue;
            }
            let k_row = &k[(k0 * d.m[1] + k1) * d.m[2]..][..d.m[2]];
            accumulate(&mut y, a_row, k_row);
        }
    }
    y
}
