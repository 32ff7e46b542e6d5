//! The accuracy guard's measurements of the signal: per row, `max|x|` and the smallest mean
//! `|x|` over chunks, in one vectorised pass, or block by block as the FFT reads its input
//! ([`block_range`]) so that the guard needs no pass of its own.

use crate::cpu::Real;
use crate::cpu::real::to;

/// What the guard needs of one input block `[x0, x1)` of row `row` (chunks of the row aligned
/// at its start, as [`range`]'s): sums of `|x|`, in f64.
#[derive(Clone, Copy, Debug)]
pub(crate) struct BlockRange {
    pub(crate) row: usize,
    pub(crate) block: usize,
    /// `max |x|` over the block.
    pub(crate) max: f64,
    /// The smallest sum over the whole chunks inside the block (`inf` if none).
    pub(crate) min_sum: f64,
    /// The sums before the block's first chunk boundary and after its last one: parts of the
    /// chunks the block shares with its neighbours.
    pub(crate) head: f64,
    pub(crate) tail: f64,
    /// Whether the block's total is finite (no NaN, no infinity, no overflow).
    pub(crate) finite: bool,
}

/// [`BlockRange`] of `row[span]`, chunks of `chunk` values from the row's start; the values
/// past the row's last whole chunk count only for the maximum and finiteness.
pub(crate) fn block_range<T: Real>(
    row: &[T],
    r: usize,
    block: usize,
    span: std::ops::Range<usize>,
    chunk: usize,
) -> BlockRange {
    #[cfg(target_arch = "x86_64")]
    if crate::cpu::simd::Isa::detected() != crate::cpu::simd::Isa::Portable {
        // SAFETY: every copy but the portable one needs AVX2 and FMA, which `detected` checked.
        return unsafe { block_range_avx2(row, r, block, span, chunk) };
    }
    block_range_body(row, r, block, span, chunk)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn block_range_avx2<T: Real>(
    row: &[T],
    r: usize,
    block: usize,
    span: std::ops::Range<usize>,
    chunk: usize,
) -> BlockRange {
    block_range_body(row, r, block, span, chunk)
}

#[inline(always)]
fn block_range_body<T: Real>(
    row: &[T],
    r: usize,
    block: usize,
    span: std::ops::Range<usize>,
    chunk: usize,
) -> BlockRange {
    let (x0, x1) = (span.start, span.end);
    let head_end = x0.div_ceil(chunk).saturating_mul(chunk).min(x1);
    // Every chunk between the two ends inside the row's whole chunks (`x1 <= row.len()`).
    let tail_start = (x1 / chunk * chunk).max(head_end);
    let (head, mut max) = abs_sum_max(&row[x0..head_end]);
    let (tail, tmax) = abs_sum_max(&row[tail_start..x1]);
    max = larger(max, tmax);
    let (min_sum, sum, cmax) = chunk_sums(&row[head_end..tail_start], chunk);
    let max = larger(max, cmax);
    let total = head + tail + sum;
    BlockRange {
        row: r,
        block,
        max: to(max),
        min_sum: to(min_sum),
        head: to(head),
        tail: to(tail),
        finite: total.is_finite(),
    }
}

/// `(Σ |v|, max |v|)`: [`chunk_sums`] of `v` as one chunk.
#[inline(always)]
fn abs_sum_max<T: Real>(v: &[T]) -> (T, T) {
    if v.is_empty() {
        return (T::zero(), T::zero());
    }
    let (_, sum, max) = chunk_sums(v, v.len());
    (sum, max)
}

/// `(min over chunks of Σ |c|, Σ |v|, max |v|)` over the whole chunks of `chunk` values that
/// make up `v` (`min` is `inf` for none).
#[inline(always)]
fn chunk_sums<T: Real>(v: &[T], chunk: usize) -> (T, T, T) {
    #[cfg(target_arch = "x86_64")]
    if T::dtype() == burn::tensor::DType::F32
        && crate::cpu::simd::Isa::detected() != crate::cpu::simd::Isa::Portable
    {
        // SAFETY: every copy but the portable one needs AVX2 and FMA, which `detected` checked.
        let (min, sum, max) = unsafe { chunk_sums_f32_avx2(bytemuck::cast_slice(v), chunk) };
        return (to(min), to(sum), to(max));
    }
    let (mut min_sum, mut total, mut max) = (T::infinity(), T::zero(), T::zero());
    for c in v.chunks_exact(chunk) {
        let (sum, m) = abs_sum_max_lanes(c);
        max = larger(max, m);
        total = total + sum;
        min_sum = if sum < min_sum { sum } else { min_sum };
    }
    (min_sum, total, max)
}

/// [`chunk_sums`] of f32 values with AVX2 intrinsics: per chunk, four accumulators of eight
/// lanes for the sum, added across in registers; the maximum over the whole run.
///
/// # Safety
/// The CPU has AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn chunk_sums_f32_avx2(v: &[f32], chunk: usize) -> (f32, f32, f32) {
    use std::arch::x86_64::*;
    let abs = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fff_ffff));
    let mut m = [_mm256_setzero_ps(); 4];
    let (mut min_sum, mut total, mut tail_max) = (f32::INFINITY, 0.0f32, 0.0f32);
    if chunk < 32 {
        // SAFETY: the caller's promise (AVX2).
        return unsafe { short_chunk_sums_f32_avx2(v, chunk) };
    }
    for c in v.chunks_exact(chunk) {
        let mut s = [_mm256_setzero_ps(); 4];
        let blocks = c.chunks_exact(32);
        let tail = blocks.remainder();
        for b in blocks {
            for q in 0..4 {
                // SAFETY: `b` holds 32 values; lane group `q` reads values 8q..8q + 8.
                let a = _mm256_and_ps(unsafe { _mm256_loadu_ps(b.as_ptr().add(8 * q)) }, abs);
                s[q] = _mm256_add_ps(s[q], a);
                m[q] = _mm256_max_ps(m[q], a);
            }
        }
        let v8 = _mm256_add_ps(_mm256_add_ps(s[0], s[1]), _mm256_add_ps(s[2], s[3]));
        let x = _mm_add_ps(_mm256_castps256_ps128(v8), _mm256_extractf128_ps(v8, 1));
        let x = _mm_add_ps(x, _mm_movehl_ps(x, x));
        let x = _mm_add_ss(x, _mm_shuffle_ps(x, x, 0b01));
        let mut sum = _mm_cvtss_f32(x);
        for &t in tail {
            sum += t.abs();
            tail_max = larger(tail_max, t.abs());
        }
        min_sum = if sum < min_sum { sum } else { min_sum };
        total += sum;
    }
    let max = _mm256_max_ps(_mm256_max_ps(m[0], m[1]), _mm256_max_ps(m[2], m[3]));
    let mut maxs = [0.0f32; 8];
    // SAFETY: eight f32.
    unsafe { _mm256_storeu_ps(maxs.as_mut_ptr(), max) };
    let max = maxs.iter().fold(tail_max, |a, &b| larger(a, b));
    (min_sum, total, max)
}

/// [`chunk_sums_f32_avx2`] for chunks shorter than 32 values (kernels of fewer than 64 taps):
/// each chunk as up to four vectors, the last loaded under a mask, summed across in
/// registers. The scalar loop over such chunks chained every addition through one register
/// and made the guard's measurement of a block cost more than the block's forward transform
/// (the dense training case, 31 taps: chunks of 15).
///
/// # Safety
/// The CPU has AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn short_chunk_sums_f32_avx2(v: &[f32], chunk: usize) -> (f32, f32, f32) {
    use std::arch::x86_64::*;
    debug_assert!((1..32).contains(&chunk));
    let abs = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fff_ffff));
    let vectors = chunk.div_ceil(8);
    let last = vectors - 1;
    // Lanes of the last vector inside the chunk: those below `chunk - 8 · last`.
    let inside = _mm256_cmpgt_epi32(
        _mm256_set1_epi32((chunk - 8 * last) as i32),
        _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7),
    );
    let mut max = _mm256_setzero_ps();
    let (mut min_sum, mut total) = (f32::INFINITY, 0.0f32);
    for c in v.chunks_exact(chunk) {
        let p = c.as_ptr();
        // SAFETY: vectors before the last read values 8q..8q + 8 < chunk; the last reads only
        // the lanes `inside` the chunk (masked lanes are not accessed).
        let a = _mm256_and_ps(unsafe { _mm256_maskload_ps(p.add(8 * last), inside) }, abs);
        let mut s = a;
        max = _mm256_max_ps(max, a);
        for q in 0..last {
            // SAFETY: as above.
            let a = _mm256_and_ps(unsafe { _mm256_loadu_ps(p.add(8 * q)) }, abs);
            s = _mm256_add_ps(s, a);
            max = _mm256_max_ps(max, a);
        }
        let x = _mm_add_ps(_mm256_castps256_ps128(s), _mm256_extractf128_ps(s, 1));
        let x = _mm_add_ps(x, _mm_movehl_ps(x, x));
        let x = _mm_add_ss(x, _mm_shuffle_ps(x, x, 0b01));
        let sum = _mm_cvtss_f32(x);
        min_sum = if sum < min_sum { sum } else { min_sum };
        total += sum;
    }
    let mut maxs = [0.0f32; 8];
    // SAFETY: eight f32.
    unsafe { _mm256_storeu_ps(maxs.as_mut_ptr(), max) };
    (min_sum, total, maxs.iter().fold(0.0, |a, &b| larger(a, b)))
}

/// `(Σ |v|, max |v|)` in 32 lanes of plain code.
#[inline(always)]
fn abs_sum_max_lanes<T: Real>(v: &[T]) -> (T, T) {
    const L: usize = 32;
    let (mut sums, mut maxs) = ([T::zero(); L], [T::zero(); L]);
    let lanes = v.chunks_exact(L);
    let tail = lanes.remainder();
    for l in lanes {
        for q in 0..L {
            let a = l[q].abs();
            sums[q] = sums[q] + a;
            maxs[q] = larger(maxs[q], a);
        }
    }
    let (mut sum, mut m) = fold(sums, maxs);
    for &t in tail {
        sum = sum + t.abs();
        m = larger(m, t.abs());
    }
    (sum, m)
}

/// Signal rows from which [`range_of_row`] splits its pass between two threads (a pass over
/// 262,144 f32 samples takes about 35 µs here, a hand-off about 10).
pub(crate) const PARALLEL_RANGE: usize = 1 << 18;

/// [`range`] of a signal row, long rows in two halves on two threads: split where a chunk
/// ends, so that both halves see the same whole chunks as the row, and the result is the
/// same. (The one difference: a row whose total alone would overflow is not refused here,
/// which only [`guarded`]'s own limits then decide.)
pub(crate) fn range_of_row<T: Real>(row: &[T], chunk: usize) -> Option<(f64, f64)> {
    let whole = effective_chunk(chunk, row.len());
    let half = row.len() / 2 / whole * whole;
    if row.len() < PARALLEL_RANGE || half < whole || row.len() - half < whole {
        return range(row, chunk);
    }
    let (head, tail) = row.split_at(half);
    let job = crate::cpu::handoff::Handoff::start_on_pool(move || range(tail, chunk));
    let first = range(head, chunk);
    let second = job.finish();
    let ((max_a, mean_a), (max_b, mean_b)) = (first?, second?);
    Some((max_a.max(max_b), mean_a.min(mean_b)))
}

/// The chunk length [`range`] uses for `chunk` over `len` values.
pub(crate) fn effective_chunk(chunk: usize, len: usize) -> usize {
    // Whole vectors of the 32 lanes of [`chunk_sums`].
    const L: usize = 32;
    if chunk >= L { chunk / L * L } else { chunk }
        .min(len)
        .max(1)
}

/// `(max |v|, the smallest mean |v| over whole chunks of about `chunk` values)` in f64 (the
/// whole of `v` when it is shorter than a chunk), or `None` when `v` holds NaN or an infinity.
/// Chunks are rounded down to whole vector lanes (never longer than `chunk`, so every window
/// of `2 · chunk` samples still holds a whole one): one branch-free pass.
pub(crate) fn range<T: Real>(v: &[T], chunk: usize) -> Option<(f64, f64)> {
    #[cfg(target_arch = "x86_64")]
    if crate::cpu::simd::Isa::detected() != crate::cpu::simd::Isa::Portable {
        // SAFETY: every copy but the portable one needs AVX2 and FMA, which `detected` checked.
        return unsafe { range_avx2(v, chunk) };
    }
    range_body(v, chunk)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn range_avx2<T: Real>(v: &[T], chunk: usize) -> Option<(f64, f64)> {
    range_body(v, chunk)
}

/// The larger of two values, as one vector instruction (`maxps`): NaN need not propagate here,
/// since the total detects it.
#[inline(always)]
fn larger<T: Real>(a: T, b: T) -> T {
    if a > b { a } else { b }
}

/// The sum and the maximum of `L` lanes (a power of two), folded pairwise (a tree of vector
/// operations rather than a chain of dependent scalar ones).
#[inline(always)]
fn fold<T: Real, const L: usize>(mut sums: [T; L], mut maxs: [T; L]) -> (T, T) {
    let mut w = L / 2;
    while w > 0 {
        for q in 0..w {
            sums[q] = sums[q] + sums[q + w];
            maxs[q] = larger(maxs[q], maxs[q + w]);
        }
        w /= 2;
    }
    (sums[0], maxs[0])
}

#[inline(always)]
fn range_body<T: Real>(v: &[T], chunk: usize) -> Option<(f64, f64)> {
    let chunk = effective_chunk(chunk, v.len());
    // NaN and ±inf make the total NaN or inf (the maxima skip a NaN); so does a total near
    // overflow, which leaves the FFT anyway.
    let whole = v.len() / chunk * chunk;
    let (min_sum, total, mut max) = chunk_sums(&v[..whole], chunk);
    if !total.is_finite() {
        return None;
    }
    // The samples past the last whole chunk count for the maximum and for finiteness.
    let rest = &v[whole..];
    let rest_sum = rest.iter().fold(T::zero(), |s, &t| s + t.abs());
    if !rest_sum.is_finite() {
        return None;
    }
    for &t in rest {
        max = larger(max, t.abs());
    }
    Some((to(max), to::<T, f64>(min_sum) / chunk as f64))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `(min chunk sum, total, max)` of `|v|` in f64, chunk by chunk.
    fn plain(v: &[f32], chunk: usize) -> (f64, f64, f64) {
        let (mut min, mut total, mut max) = (f64::INFINITY, 0.0, 0.0f64);
        for c in v.chunks_exact(chunk) {
            let s: f64 = c.iter().map(|&x| f64::from(x.abs())).sum();
            min = min.min(s);
            total += s;
            max = c.iter().fold(max, |m, &x| m.max(f64::from(x.abs())));
        }
        (min, total, max)
    }

    /// Chunk sums of every length up to 40 (masked vectors below 32, whole ones above), on
    /// rows of whole chunks: the minimum, the total and the maximum of a plain f64 loop (the
    /// values are multiples of 1/8: every sum exact), and a NaN or an infinity in any chunk
    /// makes the total non-finite.
    #[test]
    fn chunk_sums_of_every_chunk_length() {
        for chunk in 1..=40 {
            for chunks in [1, 2, 7] {
                let v: Vec<f32> = (0..chunk * chunks)
                    .map(|i| (((i * 13 + chunk) % 29) as f32 - 14.0) / 8.0)
                    .collect();
                let (min, total, max) = chunk_sums(&v, chunk);
                let want = plain(&v, chunk);
                assert_eq!(
                    (f64::from(min), f64::from(total), f64::from(max)),
                    want,
                    "chunk {chunk}, {chunks} chunks"
                );
                for bad in [f32::NAN, f32::INFINITY] {
                    for at in [0, v.len() / 2, v.len() - 1] {
                        let mut w = v.clone();
                        w[at] = bad;
                        assert!(
                            !chunk_sums(&w, chunk).1.is_finite(),
                            "chunk {chunk}, {bad} at {at}"
                        );
                    }
                }
            }
        }
    }
}
