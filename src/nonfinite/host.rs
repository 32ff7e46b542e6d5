//! NaN and infinities where NumPy's direct sum puts them.
//!
//! NumPy's `np.convolve` sums, for each output, the products of the overlapping samples only:
//! an output is NaN when one of its terms is NaN (a NaN factor, `inf · 0`) or when it has both
//! a `+inf` and a `-inf` term, `±inf` when its infinite terms share a sign, and finite
//! otherwise. The fast paths do not have that property by themselves: the direct kernel also
//! multiplies the zero padding (`0 · inf` is NaN where NumPy has no term at all), and one
//! non-finite sample turns a whole FFT block into NaN. So the kernels compute the finite part,
//! and [`repair`] recomputes, as NumPy's direct sum, exactly the outputs that have a
//! non-finite factor among their terms.

use rayon::prelude::*;

use crate::cpu::Real;
use crate::geometry::Geometry;

/// Whether every value is finite: one vectorised pass (`v · 0` is 0 for a finite `v`, NaN for
/// NaN and ±inf), no early exit. With AVX2 and FMA (chosen once, as the direct kernel's copy
/// is), one fused multiply-add per vector.
pub(crate) fn all_finite<T: Real>(v: &[T]) -> bool {
    #[cfg(target_arch = "x86_64")]
    if crate::cpu::simd::Isa::detected() != crate::cpu::simd::Isa::Portable {
        // SAFETY: every copy but the portable one needs AVX2 and FMA, which `detected` checked.
        return unsafe { all_finite_fma(v) };
    }
    all_finite_body::<T, false>(v)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn all_finite_fma<T: Real>(v: &[T]) -> bool {
    all_finite_body::<T, true>(v)
}

/// Enough independent accumulators that the adds' latency does not bound the pass.
#[inline(always)]
fn all_finite_body<T: Real, const FMA: bool>(v: &[T]) -> bool {
    const L: usize = 64;
    let mut acc = [T::zero(); L];
    let chunks = v.chunks_exact(L);
    let tail = chunks.remainder();
    for c in chunks {
        for q in 0..L {
            acc[q] = if FMA {
                c[q].mul_add(T::zero(), acc[q])
            } else {
                acc[q] + c[q] * T::zero()
            };
        }
    }
    acc.iter().chain(tail).all(|v| v.is_finite())
}

/// `v` with every NaN and ±inf replaced by 0.
pub(crate) fn zeroed<T: Real>(v: &[T]) -> Vec<T> {
    v.iter()
        .map(|&v| if v.is_finite() { v } else { T::zero() })
        .collect()
}

/// Positions of the non-finite values of `row`.
fn non_finite_positions<T: Real>(row: &[T]) -> Vec<usize> {
    if all_finite(row) {
        return Vec::new();
    }
    (0..row.len()).filter(|&i| !row[i].is_finite()).collect()
}

/// NumPy's direct sum over the overlapping terms for output `j` of row `(b, o)`.
pub(crate) fn direct_output<T: Real>(
    x: &[T],
    wk: &[T],
    g: &Geometry,
    b: usize,
    o: usize,
    j: usize,
) -> T {
    let (cpg, m, n) = (g.cpg(), g.m, g.n);
    let group = o / g.opg();
    let left = g.left as isize;
    let k0 = (left - j as isize).max(0) as usize;
    let k1 = ((n as isize + left - j as isize).min(m as isize)).max(0) as usize;
    let mut sum = T::zero();
    for i in 0..cpg {
        let xr = &x[(b * g.cin + group * cpg + i) * n..][..n];
        let kr = &wk[(o * cpg + i) * m..][..m];
        for k in k0..k1 {
            sum = sum + xr[(j + k) - g.left] * kr[k];
        }
    }
    sum
}

/// Recomputes, as NumPy's direct sum over the overlapping terms, every output of `y` (the
/// sliding dot product of `g` over `x` with `wk`, the kernel as that product uses it) whose
/// terms include a NaN or an infinite factor, and every output that is not finite (the direct
/// kernel's `0 · inf` where a non-finite tap meets the zero padding, a term NumPy's sum does not
/// have). The other outputs are left as they are.
pub(crate) fn repair<T: Real>(x: &[T], wk: &[T], g: &Geometry, y: &mut [T]) {
    let (l, cpg, opg, m, n) = (g.out_len(), g.cpg(), g.opg(), g.m, g.n);
    let left = g.left as isize;
    let bad_x: Vec<Vec<usize>> = x.chunks(n).map(non_finite_positions).collect();
    let bad_w: Vec<Vec<usize>> = wk.chunks(m).map(non_finite_positions).collect();
    y.par_chunks_mut(l).enumerate().for_each(|(row, yr)| {
        let (b, o) = (row / g.cout, row % g.cout);
        let group = o / opg;
        let channels = (0..cpg).map(|i| (b * g.cin + group * cpg + i, o * cpg + i));
        // Outputs reached by a non-finite factor, as a difference array of ranges.
        let mut marks = vec![0i32; l + 1];
        let mut any = false;
        let mut mark = |lo: isize, hi: isize| {
            let (lo, hi) = (lo.max(0), hi.min(l as isize - 1));
            if lo <= hi {
                marks[lo as usize] += 1;
                marks[hi as usize + 1] -= 1;
                any = true;
            }
        };
        for (xi, wi) in channels.clone() {
            // Sample t meets tap k in output j = t + left - k.
            for &t in &bad_x[xi] {
                let t = t as isize;
                mark(t + left - (m as isize - 1), t + left);
            }
            // Tap k meets a sample in outputs j with 0 <= j + k - left < n.
            for &k in &bad_w[wi] {
                let k = k as isize;
                mark(left - k, left - k + n as isize - 1);
            }
        }
        if !any && all_finite(yr) {
            return;
        }
        let mut depth = 0;
        for (j, out) in yr.iter_mut().enumerate() {
            depth += marks[j];
            if depth == 0 && out.is_finite() {
                continue;
            }
            *out = direct_output(x, wk, g, b, o, j);
        }
    });
}
