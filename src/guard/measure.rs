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
