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
    let row = |rows: &mut Vec<(usize, usize)>, (r, y): (usize, &mut [T])| {
        let (i0, i1) = (r / l1, r % l1);
        rows.clear();
        for k0 in 0..d.m[0] {
            for k1 in 0..d.m[1] {
                let a_row = ((i0 + k0) * d.p[1] + i1 + k1) * d.p[2];
                rows.push((a_row, (k0 * d.m[1] + k1) * d.m[2]));
            }
        }
        sum_rows(y, a, k, d.m[2], rows);
    };
    if !parallel {
        let mut rows = Vec::new();
        out.chunks_mut(l2)
            .enumerate()
            .for_each(|r| row(&mut rows, r));
    } else {
        out.par_chunks_mut(l2)
            .enumerate()
            .for_each_init(Vec::new, row);
    }
    out
}

/// `y[j] = Σ_{(a0, k0) in rows} Σ_t a[a0 + j + t] · k[k0 + t]` (`t < m`), each output's terms
/// in the order of `rows` and then of `t`: a multiply and an add per term, not fused, the
/// rounding of SciPy's direct sum. Outputs in register blocks ([`Real::BLOCK`]: 64 f32 or 32
/// f64, eight 256-bit accumulators kept in registers over all of the kernel's terms, one load
/// per term and vector), then blocks of 8, then one by one; with AVX2 where the CPU has it
/// (`cpu::simd::Isa`). Adding each kernel row's terms into the stored outputs instead (a load
/// and a store per term and vector) ran at 5-8 GMAC/s on 2 cores (a 64³ volume with a 7³
/// kernel: 6.1 ms).
fn sum_rows<T: Real>(y: &mut [T], a: &[T], k: &[T], m: usize, rows: &[(usize, usize)]) {
    #[cfg(target_arch = "x86_64")]
    if crate::cpu::simd::Isa::detected() != crate::cpu::simd::Isa::Portable {
        // SAFETY: every copy but the portable one needs AVX2, which `detected` checked.
        return unsafe { sum_rows_avx2(y, a, k, m, rows) };
    }
    sum_rows_body(y, a, k, m, rows)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn sum_rows_avx2<T: Real>(y: &mut [T], a: &[T], k: &[T], m: usize, rows: &[(usize, usize)]) {
    sum_rows_body(y, a, k, m, rows)
}

#[inline(always)]
fn sum_rows_body<T: Real>(y: &mut [T], a: &[T], k: &[T], m: usize, rows: &[(usize, usize)]) {
    let mut done = if T::BLOCK == 64 {
        blocks::<T, 64>(y, 0, a, k, m, rows)
    } else {
        blocks::<T, 32>(y, 0, a, k, m, rows)
    };
    done = blocks::<T, 8>(y, done, a, k, m, rows);
    for (j, yj) in y.iter_mut().enumerate().skip(done) {
        let mut acc = T::zero();
        for &(a0, k0) in rows {
            for (&x, &w) in a[a0 + j..][..m].iter().zip(&k[k0..k0 + m]) {
                acc = acc + x * w;
            }
        }
        *yj = acc;
    }
}

/// [`sum_rows`]'s outputs from `from` on in blocks of `B`; returns where the blocks end.
#[inline(always)]
fn blocks<T: Real, const B: usize>(
    y: &mut [T],
    from: usize,
    a: &[T],
    k: &[T],
    m: usize,
    rows: &[(usize, usize)],
) -> usize {
    let count = (y.len() - from) / B;
    for block in 0..count {
        let j = from + block * B;
        let mut acc = [T::zero(); B];
        for &(a0, k0) in rows {
            let window = &a[a0 + j..][..B + m - 1];
            for (t, &w) in k[k0..k0 + m].iter().enumerate() {
                let xs: &[T; B] = window[t..t + B].try_into().expect("a block of inputs");
                for q in 0..B {
                    acc[q] = acc[q] + xs[q] * w;
                }
            }
        }
        y[j..j + B].copy_from_slice(&acc);
    }
    from + count * B
}

/// Outputs `first .. first + len` (flat indices into `d.out()`, within one row) alone, summed
/// as [`direct`] sums them. Rows of `a` that are all zeros (`zero`, one flag per row of its
/// last axis: [`zero_rows`]) are skipped: a sum that starts at +0 is never -0, so adding their
/// terms (±0, the kernel being finite) changes nothing, and the outputs at a zero-padded
/// volume's corners, whose windows are mostly padding, cost their data's terms only.
pub(crate) fn direct_span<T: Real>(
    (a, zero): (&[T], &[bool]),
    k: &[T],
    d: Dims,
    first: usize,
    len: usize,
) -> Vec<T> {
    let [_, l1, l2] = d.out();
    let (i0, i1, i2) = (first / (l1 * l2), (first / l2) % l1, first % l2);
    debug_assert!(i2 + len <= l2);
    let mut rows = Vec::new();
    for k0 in 0..d.m[0] {
        for k1 in 0..d.m[1] {
            let r = (i0 + k0) * d.p[1] + i1 + k1;
            if !zero[r] {
                rows.push((r * d.p[2] + i2, (k0 * d.m[1] + k1) * d.m[2]));
            }
        }
    }
    let mut y = vec![T::zero(); len];
    sum_rows(&mut y, a, k, d.m[2], &rows);
    y
}

/// Whether each row of `a`'s last axis (shape `d.p`) is all zeros, for [`direct_span`]: one
/// pass over `a` for all of a tile's spans (checking each span's window of each kernel row took
/// as long as the sums, a fifth of a 64³ volume's `Auto` call with a 31³ kernel).
pub(crate) fn zero_rows<T: Real>(a: &[T], d: Dims) -> Vec<bool> {
    a.chunks(d.p[2])
        .map(|row| row.iter().all(|v| v.is_zero()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each output's terms in the kernel's order, one multiply and one add at a time.
    fn naive<T: Real>(a: &[T], k: &[T], d: Dims) -> Vec<T> {
        let [l0, l1, l2] = d.out();
        let mut y = Vec::new();
        for i0 in 0..l0 {
            for i1 in 0..l1 {
                for i2 in 0..l2 {
                    let mut s = T::zero();
                    for k0 in 0..d.m[0] {
                        for k1 in 0..d.m[1] {
                            for k2 in 0..d.m[2] {
                                let x = a[((i0 + k0) * d.p[1] + i1 + k1) * d.p[2] + i2 + k2];
                                s = s + x * k[(k0 * d.m[1] + k1) * d.m[2] + k2];
                            }
                        }
                    }
                    y.push(s);
                }
            }
        }
        y
    }

    fn values<T: Real>(n: usize, seed: u64) -> Vec<T> {
        // Magnitudes over many decades, both signs: the order of the additions shows.
        let mut state = seed;
        (0..n)
            .map(|_| {
                state = state
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                let u = (state >> 11) as f64 / (1u64 << 53) as f64;
                let v = (u - 0.5) * 10f64.powi(((state >> 3) % 13) as i32 - 6);
                T::from(v).expect("a float")
            })
            .collect()
    }

    /// The register blocks (64 or 32 outputs, then 8, then one by one) sum every output as the
    /// naive loop does, bit for bit, on rows of every length around the block sizes.
    #[test]
    fn blocks_sum_in_the_kernels_order() {
        fn check<T: Real>() {
            for (p, m) in [
                ([1, 1, 70], [1, 1, 7]),
                ([1, 3, 140], [1, 2, 5]),
                ([3, 4, 41], [2, 3, 3]),
                ([2, 2, 200], [1, 1, 1]),
                ([4, 5, 9], [3, 5, 9]),
            ] {
                let d = Dims { p, m };
                let a = values::<T>(p.iter().product(), 1);
                let k = values::<T>(m.iter().product(), 2);
                let want = naive(&a, &k, d);
                for parallel in [false, true] {
                    let got = direct_in(&a, &k, d, parallel);
                    let bits = |v: &[T]| bytemuck::cast_slice::<T, u8>(v).to_vec();
                    let same = bits(&got) == bits(&want);
                    assert!(same, "{p:?} * {m:?}: {got:?} against {want:?}");
                }
            }
        }
        check::<f32>();
        check::<f64>();
    }
}
