//! The FFT kernel: overlap-add with `realfft`, blocks sized by the cost model
//! (`CpuModel::fft_len` in `crate::cost`), each thread owning a disjoint range of the output. Generic over
//! the input type `T` and the type `U` the transforms compute in (f32 inputs may be
//! transformed in f64 for accuracy).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use rayon::prelude::*;
use realfft::num_complex::Complex;
use realfft::{ComplexToReal, RealFftPlanner, RealToComplex};

use super::{Real, SERIAL_FFT_POINTS};
use crate::buffers;
use crate::cost::{CpuModel, FFT_DYNAMIC_RANGE};
use crate::mode::Geometry;

type Plans<U> = (Arc<dyn RealToComplex<U>>, Arc<dyn ComplexToReal<U>>);

fn plans<U: Real>(f: usize) -> Plans<U> {
    let mut planner: std::sync::MutexGuard<'_, RealFftPlanner<U>> =
        U::planner().lock().unwrap_or_else(|e| e.into_inner());
    (planner.plan_fft_forward(f), planner.plan_fft_inverse(f))
}

/// `v` as the other float type.
#[inline(always)]
fn to<A: Real, B: Real>(v: A) -> B {
    B::from(v).expect("f32 and f64 convert into each other")
}

/// The sliding dot product of `d` over `x` with the kernel `wk` (as the sliding product uses
/// it), by overlap-add FFT convolution computed in `U`, and whether every block's inverse
/// transform is finite (checked while it is in cache: a NaN or an infinity anywhere in the
/// inputs spreads over its whole block).
pub(super) fn conv<T: Real, U: Real>(x: &[T], wk: &[T], d: &Geometry) -> (Vec<T>, bool) {
    let (y, finite, _) = conv_measured::<T, U>(x, wk, d, None, true);
    (y, finite)
}

/// [`conv`], and with `chunk`, the guard's measurements of each input block as it is read
/// ([`BlockRange`], one per input row and block read; a block read by two pieces of the output
/// is measured twice, the same). Without `check` (the `scan` bench's reference), the sums are
/// not checked for NaN and infinities, and the result says they are finite.
fn conv_measured<T: Real, U: Real>(
    x: &[T],
    wk: &[T],
    d: &Geometry,
    chunk: Option<usize>,
    check: bool,
) -> (Vec<T>, bool, Vec<BlockRange>) {
    let (l, cpg, opg, m, n) = (d.out_len(), d.cpg(), d.opg(), d.m, d.n);
    let f = CpuModel::of(U::dtype()).fft_len(n, m, cpg, opg);
    let bins = f / 2 + 1;
    let block = f - m + 1;
    let start = d.full_start(); // full-output index of output 0
    let (r2c, c2r) = plans::<U>(f);
    let scale = U::one() / to::<f64, U>(f as f64);

    let n_blocks = n.div_ceil(block);
    let units = d.batch * d.groups;
    let serial = runs_serially::<U>(d);
    // Spectra of the true-convolution kernels h = reverse(wk), scaled for the inverse.
    let zero = Complex::new(U::zero(), U::zero());
    let spectrum = |(spec, k): (&mut [Complex<U>], &[T])| {
        let mut buf = buffers::take(f, U::zero());
        for (dst, &v) in buf.iter_mut().zip(k.iter().rev()) {
            *dst = to::<T, U>(v) * scale;
        }
        let mut scratch = buffers::reuse(r2c.get_scratch_len(), zero);
        r2c.process_with_scratch(&mut buf, spec, &mut scratch)
            .expect("forward FFT of a kernel");
        buffers::give(buf);
        buffers::give(scratch);
    };
    let mut spectra = buffers::reuse(wk.len() / m * bins, zero);
    if wk.len() / m * f < SERIAL_FFT_POINTS {
        spectra
            .chunks_mut(bins)
            .zip(wk.chunks(m))
            .for_each(spectrum);
    } else {
        spectra
            .par_chunks_mut(bins)
            .zip(wk.par_chunks(m))
            .for_each(spectrum);
    }
    let threads = rayon::current_num_threads().max(1);
    // Pieces per unit: disjoint output ranges, each computing the blocks that reach it (the
    // blocks straddling two pieces are transformed twice).
    let pieces = if serial || units >= 2 * threads {
        1
    } else {
        (2 * threads).div_ceil(units)
    };
    let piece_len = l.div_ceil(pieces).max(4 * block).min(l);

    // `out`: `[batch, cout, l]`; the rows of unit (b, g) are rows `g·opg..(g+1)·opg` of
    // sample `b`, so each unit owns a contiguous run of `opg · l` values.
    let mut out = vec![T::zero(); d.batch * d.cout * l];
    let nonfinite = AtomicBool::new(false);
    let mut work: Vec<(usize, usize, Vec<&mut [T]>)> = Vec::new();
    for (unit, rows) in out.chunks_mut(opg * l).enumerate() {
        let mut split: Vec<_> = rows
            .chunks_mut(l)
            .map(|r| r.chunks_mut(piece_len))
            .collect();
        for p in 0..l.div_ceil(piece_len) {
            let slices = split
                .iter_mut()
                .map(|it| it.next().expect("one slice per piece"))
                .collect();
            work.push((unit, p * piece_len, slices));
        }
    }

    let run = |(unit, j0, mut rows): (usize, usize, Vec<&mut [T]>)| -> Vec<BlockRange> {
        let mut ranges = Vec::new();
        // `out` comes from `calloc`: write its pages before reading them (see the module docs
        // of `cpu`).
        for row in rows.iter_mut() {
            row.fill(T::zero());
        }
        let (b, g) = (unit / d.groups, unit % d.groups);
        // The full-output range of this piece, and the input blocks that reach it.
        let (p0, p1) = (start + j0, start + j0 + rows[0].len());
        let k0 = (p0 + 1).saturating_sub(block + m - 1).div_ceil(block);
        let k1 = p1.div_ceil(block).min(n_blocks);
        // Each written before it is read (`buf`'s tail is zeroed per block).
        let mut buf = buffers::reuse(f, U::zero());
        let mut xspec: Vec<_> = (0..cpg).map(|_| buffers::reuse(bins, zero)).collect();
        let mut acc = buffers::reuse(bins, zero);
        let mut scratch_f = buffers::reuse(r2c.get_scratch_len(), zero);
        let mut scratch_i = buffers::reuse(c2r.get_scratch_len(), zero);
        for kb in k0..k1 {
            let x0 = kb * block;
            let x1 = (x0 + block).min(n);
            for (i, spec) in xspec.iter_mut().enumerate() {
                let r = b * d.cin + g * cpg + i;
                let row = &x[r * n..][..n];
                for (dst, &v) in buf.iter_mut().zip(&row[x0..x1]) {
                    *dst = to::<T, U>(v);
                }
                if let Some(chunk) = chunk {
                    // Read again while in cache.
                    ranges.push(block_range(row, r, kb, x0..x1, chunk));
                }
                buf[x1 - x0..].fill(U::zero());
                r2c.process_with_scratch(&mut buf, spec, &mut scratch_f)
                    .expect("forward FFT of a block");
            }
            // This block's outputs: full indices [x0, x0 + used), cut to [p0, p1).
            let used = (x1 - x0) + m - 1;
            let (lo, hi) = (x0.max(p0), (x0 + used).min(p1));
            for (a, row) in rows.iter_mut().enumerate() {
                let o = g * opg + a;
                for (i, spec) in xspec.iter().enumerate() {
                    let h = &spectra[(o * cpg + i) * bins..][..bins];
                    // The first channel's product is stored, so `acc` needs no zeroing (3-4%
                    // of the FFT at N = 1,000,000, M = 255 and 4,095 in alternated pairs).
                    if i == 0 {
                        multiply(&mut acc, spec, h);
                    } else {
                        multiply_add(&mut acc, spec, h);
                    }
                }
                // Real signals: the DC and Nyquist bins are real.
                acc[0].im = U::zero();
                acc[bins - 1].im = U::zero();
                c2r.process_with_scratch(&mut acc, &mut buf, &mut scratch_i)
                    .expect("inverse FFT of a block");
                if lo < hi
                    && !add_checked(&mut row[lo - p0..hi - p0], &buf[lo - x0..hi - x0], check)
                {
                    nonfinite.store(true, Ordering::Relaxed);
                }
            }
        }
        xspec.into_iter().for_each(buffers::give);
        buffers::give(buf);
        buffers::give(acc);
        buffers::give(scratch_f);
        buffers::give(scratch_i);
        ranges
    };
    let ranges: Vec<BlockRange> = if serial {
        work.into_iter().flat_map(run).collect()
    } else {
        work.into_par_iter().flat_map_iter(run).collect()
    };
    buffers::give(spectra);
    (out, !nonfinite.into_inner(), ranges)
}

/// `acc[k] += x[k] · h[k]` over complex bins (a block's spectrum times a kernel's).
fn multiply_add<U: Real>(acc: &mut [Complex<U>], x: &[Complex<U>], h: &[Complex<U>]) {
    products::<U, true>(acc, x, h)
}

/// `acc[k] = x[k] · h[k]` over complex bins: [`multiply_add`] onto zeros, without them.
fn multiply<U: Real>(acc: &mut [Complex<U>], x: &[Complex<U>], h: &[Complex<U>]) {
    products::<U, false>(acc, x, h)
}

/// `acc[k] = x[k] · h[k]`, plus `acc[k]` with `ADD`.
fn products<U: Real, const ADD: bool>(acc: &mut [Complex<U>], x: &[Complex<U>], h: &[Complex<U>]) {
    #[cfg(target_arch = "x86_64")]
    if super::simd::Isa::detected() != super::simd::Isa::Portable {
        // SAFETY: every copy but the portable one needs AVX2 and FMA, which `detected` checked.
        return unsafe { products_avx2::<U, ADD>(acc, x, h) };
    }
    products_body::<U, ADD>(acc, x, h)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn products_avx2<U: Real, const ADD: bool>(
    acc: &mut [Complex<U>],
    x: &[Complex<U>],
    h: &[Complex<U>],
) {
    products_body::<U, ADD>(acc, x, h)
}

#[inline(always)]
fn products_body<U: Real, const ADD: bool>(
    acc: &mut [Complex<U>],
    x: &[Complex<U>],
    h: &[Complex<U>],
) {
    for ((s, &xv), &hv) in acc.iter_mut().zip(x).zip(h) {
        *s = if ADD { *s + xv * hv } else { xv * hv };
    }
}

/// `dst[i] += src[i]`, and whether every sum is finite, checked as it is stored (`v · 0` is NaN
/// exactly for NaN and ±inf, and a non-finite sum stays non-finite through later additions):
/// a NaN or an infinity anywhere in a block's inputs spreads over its whole inverse transform,
/// so a block's outputs carry it, and the accumulation's own overflow is caught too. Without
/// `check`, the plain sums (`true`).
fn add_checked<T: Real, U: Real>(dst: &mut [T], src: &[U], check: bool) -> bool {
    #[cfg(target_arch = "x86_64")]
    if super::simd::Isa::detected() != super::simd::Isa::Portable {
        // SAFETY: every copy but the portable one needs AVX2 and FMA, which `detected` checked.
        return unsafe { add_checked_avx2(dst, src, check) };
    }
    add_checked_body::<T, U, false>(dst, src, check)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn add_checked_avx2<T: Real, U: Real>(dst: &mut [T], src: &[U], check: bool) -> bool {
    add_checked_body::<T, U, true>(dst, src, check)
}

/// [`add_checked`]'s loop: 64 lanes, so that the checks' additions (each a chain through the
/// whole loop) are eight vectors apart in f32 (16 lanes, as this had, made the loop wait on
/// them: 1.6-3.7% of the FFT at N = 1,000,000); with `FMA`, the check is one fused
/// multiply-add (`v · 0 + check`, NaN exactly when the plain sum of the two is).
#[inline(always)]
fn add_checked_body<T: Real, U: Real, const FMA: bool>(
    dst: &mut [T],
    src: &[U],
    check: bool,
) -> bool {
    if !check {
        for (y, &v) in dst.iter_mut().zip(src) {
            *y = *y + to::<U, T>(v);
        }
        return true;
    }
    const L: usize = 64;
    let mut check = [T::zero(); L];
    let (mut d, s) = (dst.chunks_exact_mut(L), src.chunks_exact(L));
    let tail = s.remainder();
    for (y, v) in (&mut d).zip(s) {
        for q in 0..L {
            y[q] = y[q] + to::<U, T>(v[q]);
            check[q] = if FMA {
                y[q].mul_add(T::zero(), check[q])
            } else {
                check[q] + y[q] * T::zero()
            };
        }
    }
    for (y, &v) in d.into_remainder().iter_mut().zip(tail) {
        *y = *y + to::<U, T>(v);
        check[0] = check[0] + *y * T::zero();
    }
    check.iter().all(|c| !c.is_nan())
}

/// Whether [`conv`] computing in `U` runs on the calling thread: fewer transformed points
/// (transforms of `f` points over every input and output channel) than `SERIAL_FFT_POINTS`.
fn runs_serially<U: Real>(d: &Geometry) -> bool {
    let (l, cpg, opg, m, n) = (d.out_len(), d.cpg(), d.opg(), d.m, d.n);
    let f = CpuModel::of(U::dtype()).fft_len(n, m, cpg, opg);
    let block = f - m + 1;
    let transforms =
        d.batch * d.groups * n.div_ceil(block).min(l.div_ceil(block) + 1) * (cpg + opg);
    transforms * f < SERIAL_FFT_POINTS
}

/// Whether [`conv_in`] runs on the calling thread.
pub(super) fn serial<T: Real>(d: &Geometry, precision: Precision) -> bool {
    match precision {
        Precision::Input => runs_serially::<T>(d),
        Precision::F64 => runs_serially::<f64>(d),
    }
}

/// The type an FFT convolution computes in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Precision {
    /// The inputs' own type.
    Input,
    /// f64, whatever the inputs' type.
    F64,
}

/// [`conv`] in `precision`.
pub(super) fn conv_in<T: Real>(
    x: &[T],
    wk: &[T],
    d: &Geometry,
    precision: Precision,
) -> (Vec<T>, bool) {
    match precision {
        Precision::Input => conv::<T, T>(x, wk, d),
        Precision::F64 => conv::<T, f64>(x, wk, d),
    }
}

/// `Method::Auto`'s accuracy guard for the FFT: the precision in which an FFT convolution of
/// `x` with `wk` is as accurate as the direct sum, or `None` when none is (or the inputs hold
/// NaN or infinities, which the direct kernel handles as NumPy does).
///
/// An FFT's error is spread over a whole block, in proportion to the block's largest values,
/// while the direct sum's error for output `j` is in proportion to its own terms,
/// `S_j = Σ_k |x[j-k]| |w[k]|`. The guard bounds the ratio of the two by the dynamic range
/// `q = (max|x| / min mean|x|) · (max|w| / mean|w|)`, the minimum mean taken over chunks of
/// `m / 2` samples (every window of `m` samples holds one whole chunk). Ordinary signals (noise,
/// audio without long silences) have `q` in the tens and keep the FFT in their own type; a
/// spike in noise, loud and quiet passages or exact silences raise it, and the FFT then
/// computes in f64 or the direct kernel runs. Sums near the type's overflow threshold also
/// leave the input type. One pass over the inputs, in vector lanes: `Auto`'s FFT makes the
/// same measurement of the signal inside its own reads of each block ([`conv_guarded`]) and
/// uses this pass only where a chunk could span three blocks.
///
/// Returns the precision with the guard's measurements ([`Guard`]). The chunk rule covers every
/// output whose window holds a whole chunk; the first and last `m - 1` outputs of the full
/// output (windows reaching past the signal) may not, and `nonfinite::repair_edges` checks them.
pub(super) fn guarded<T: Real>(x: &[T], wk: &[T], d: &Geometry) -> Option<Guard> {
    guard_of(x, wk, d)
}

/// What [`guarded`] decides, with what the edge repair needs.
#[derive(Clone, Copy, Debug)]
pub(super) struct Guard {
    /// The precision the FFT runs in.
    pub precision: Precision,
    /// `max |x|` over every row.
    pub max_x: f64,
    /// The largest `(max|x| / mean|x| over a window) · qw` the FFT in `precision` keeps accurate.
    pub limit: f64,
}

fn guard_of<T: Real>(x: &[T], wk: &[T], d: &Geometry) -> Option<Guard> {
    let chunk = (d.m / 2).max(1);
    let mut qx = 0.0f64;
    let mut max_x = 0.0f64;
    for row in x.chunks(d.n) {
        let (max, min_mean) = range_of_row(row, chunk)?;
        max_x = max_x.max(max);
        qx = qx.max(max / min_mean);
    }
    let (qw, max_w) = kernel_range(wk, d.m)?;
    decide::<T>(qx, max_x, qw, max_w, d)
}

/// `(max over kernels of max|w| / mean|w|, max |w|)`, or `None` for a NaN or an infinity.
fn kernel_range<T: Real>(wk: &[T], m: usize) -> Option<(f64, f64)> {
    let mut qw = 0.0f64;
    let mut max_w = 0.0f64;
    for k in wk.chunks(m) {
        let (max, mean) = range(k, m)?;
        max_w = max_w.max(max);
        qw = qw.max(max / mean);
    }
    Some((qw, max_w))
}

/// `Method::Auto`'s FFT with its accuracy guard ([`guarded`]'s rule) measured on the way: the
/// FFT runs in `T` while each input block is measured as it is read (in cache: no pass of its
/// own over the signal), then the guard decides. Where it asks for f64 the FFT runs again in
/// f64; where it refuses the FFT (NaN or infinities in the inputs, or a range no precision
/// keeps accurate), `None`, and the caller sums directly. The decision is [`guarded`]'s up
/// to the rounding of the chunk sums.
pub(super) fn conv_guarded<T: Real>(
    x: &[T],
    wk: &[T],
    d: &Geometry,
) -> Option<(Guard, (Vec<T>, bool))> {
    let chunk = effective_chunk((d.m / 2).max(1), d.n);
    if block_len::<T>(d) <= chunk {
        // A chunk could span three blocks: the guard's own pass.
        let guard = guarded(x, wk, d)?;
        return Some((guard, conv_in(x, wk, d, guard.precision)));
    }
    let (qw, max_w) = kernel_range(wk, d.m)?;
    let (y, finite, ranges) = conv_measured::<T, T>(x, wk, d, Some(chunk), true);
    let (qx, max_x) = signal_range(x, d, chunk, ranges)?;
    let guard = decide::<T>(qx, max_x, qw, max_w, d)?;
    Some(match guard.precision {
        Precision::Input => (guard, (y, finite)),
        Precision::F64 => (guard, conv::<T, f64>(x, wk, d)),
    })
}

/// The FFT in `T` alone (full output, one signal), with or without the NaN/inf check of its
/// sums, and with or without the guard's measurement of its blocks and the decision from it:
/// what the check and the measurement cost (the `scan` bench).
#[cfg(feature = "internals")]
pub(super) fn conv_measuring<T: Real>(
    x: &[T],
    wk: &[T],
    d: &Geometry,
    check: bool,
    measure: bool,
) -> Vec<T> {
    let chunk = effective_chunk((d.m / 2).max(1), d.n);
    let (y, _, ranges) = conv_measured::<T, T>(x, wk, d, measure.then_some(chunk), check);
    if measure {
        let decided = signal_range(x, d, chunk, ranges)
            .zip(kernel_range(wk, d.m))
            .and_then(|((qx, max_x), (qw, max_w))| decide::<T>(qx, max_x, qw, max_w, d));
        std::hint::black_box(decided.map(|g| g.precision));
    }
    y
}

/// What the guard needs of one input block `[x0, x1)` of row `row` (chunks of the row aligned
/// at its start, as [`range`]'s): sums of `|x|`, in f64.
#[derive(Clone, Copy, Debug)]
struct BlockRange {
    row: usize,
    block: usize,
    /// `max |x|` over the block.
    max: f64,
    /// The smallest sum over the whole chunks inside the block (`inf` if none).
    min_sum: f64,
    /// The sums before the block's first chunk boundary and after its last one: parts of the
    /// chunks the block shares with its neighbours.
    head: f64,
    tail: f64,
    /// Whether the block's total is finite (no NaN, no infinity, no overflow).
    finite: bool,
}

/// [`BlockRange`] of `row[span]`, chunks of `chunk` values from the row's start; the values
/// past the row's last whole chunk count only for the maximum and finiteness.
fn block_range<T: Real>(
    row: &[T],
    r: usize,
    block: usize,
    span: std::ops::Range<usize>,
    chunk: usize,
) -> BlockRange {
    #[cfg(target_arch = "x86_64")]
    if super::simd::Isa::detected() != super::simd::Isa::Portable {
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
        && super::simd::Isa::detected() != super::simd::Isa::Portable
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

/// `(max over rows of max|x| / min chunk mean|x|, max |x|)` from the blocks' measurements (a
/// row whose blocks were not all read is measured by [`range_of_row`]), or `None` for a NaN, an
/// infinity or an overflowing total.
fn signal_range<T: Real>(
    x: &[T],
    d: &Geometry,
    chunk: usize,
    mut ranges: Vec<BlockRange>,
) -> Option<(f64, f64)> {
    let (n, block) = (d.n, block_len::<T>(d));
    let n_blocks = n.div_ceil(block);
    ranges.sort_unstable_by_key(|b| (b.row, b.block));
    ranges.dedup_by_key(|b| (b.row, b.block));
    let whole_n = n / chunk * chunk;
    let (mut qx, mut max_x) = (0.0f64, 0.0f64);
    let mut blocks = ranges.as_slice();
    for (r, row) in x.chunks(n).enumerate() {
        let count = blocks.iter().take_while(|b| b.row == r).count();
        let (mine, rest) = blocks.split_at(count);
        blocks = rest;
        let (max, min_mean) = if mine.len() == n_blocks {
            let mut max = 0.0f64;
            let mut min_sum = f64::INFINITY;
            for (k, b) in mine.iter().enumerate() {
                if !b.finite {
                    return None;
                }
                max = max.max(b.max);
                min_sum = min_sum.min(b.min_sum);
                // The chunk across the boundary after block k.
                let p = (k + 1) * block;
                if k + 1 < mine.len() && p % chunk != 0 && (p / chunk + 1) * chunk <= whole_n {
                    min_sum = min_sum.min(b.tail + mine[k + 1].head);
                }
            }
            (max, min_sum / chunk as f64)
        } else {
            range_of_row(row, chunk)?
        };
        max_x = max_x.max(max);
        qx = qx.max(max / min_mean);
    }
    Some((qx, max_x))
}

/// The input block length of [`conv`] computing in `T`.
fn block_len<T: Real>(d: &Geometry) -> usize {
    CpuModel::of(T::dtype()).fft_len(d.n, d.m, d.cpg(), d.opg()) - d.m + 1
}

/// The guard's decision from the measurements of the signal (`qx`, `max_x`) and the kernels.
fn decide<T: Real>(qx: f64, max_x: f64, qw: f64, max_w: f64, d: &Geometry) -> Option<Guard> {
    let q = qx * qw;
    let eps_t = to::<T, f64>(T::epsilon());
    let f = CpuModel::of(T::dtype()).fft_len(d.n, d.m, d.cpg(), d.opg()) as f64;
    // A spectrum can reach f · max|x|, a product f · m · max|x| · max|w|.
    let peak = f * d.m as f64 * max_x * max_w * d.cpg() as f64;
    let fits = |eps_u: f64, max_u: f64| {
        q.is_finite() && q <= FFT_DYNAMIC_RANGE * eps_t / eps_u && peak < max_u / 4.0
    };
    let guard = |precision, eps_u: f64| Guard {
        precision,
        max_x,
        limit: FFT_DYNAMIC_RANGE * eps_t / eps_u,
    };
    if fits(eps_t, to::<T, f64>(T::max_value())) {
        Some(guard(Precision::Input, eps_t))
    } else if fits(f64::EPSILON, f64::MAX) {
        Some(guard(Precision::F64, f64::EPSILON))
    } else {
        None
    }
}

/// Signal rows from which [`range_of_row`] splits its pass between two threads (a pass over
/// 262,144 f32 samples takes about 35 µs here, a hand-off about 10).
const PARALLEL_RANGE: usize = 1 << 18;

/// [`range`] of a signal row, long rows in two halves on two threads: split where a chunk
/// ends, so that both halves see the same whole chunks as the row, and the result is the
/// same. (The one difference: a row whose total alone would overflow is not refused here,
/// which only [`guarded`]'s own limits then decide.)
fn range_of_row<T: Real>(row: &[T], chunk: usize) -> Option<(f64, f64)> {
    let whole = effective_chunk(chunk, row.len());
    let half = row.len() / 2 / whole * whole;
    if row.len() < PARALLEL_RANGE || half < whole || row.len() - half < whole {
        return range(row, chunk);
    }
    let (head, tail) = row.split_at(half);
    let job = super::handoff::Handoff::start_on_pool(move || range(tail, chunk));
    let first = range(head, chunk);
    let second = job.finish();
    let ((max_a, mean_a), (max_b, mean_b)) = (first?, second?);
    Some((max_a.max(max_b), mean_a.min(mean_b)))
}

/// The chunk length [`range`] uses for `chunk` over `len` values.
fn effective_chunk(chunk: usize, len: usize) -> usize {
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
fn range<T: Real>(v: &[T], chunk: usize) -> Option<(f64, f64)> {
    #[cfg(target_arch = "x86_64")]
    if super::simd::Isa::detected() != super::simd::Isa::Portable {
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

/// The weight gradient `dwk[o, i, k] = Σ_b Σ_j xpad[b, g·C + i, j + k] · gy[b, o, j]` by FFT.
///
/// Per block of `B` outputs `j0 .. j0 + B`, the lags `0 .. m` of the cross-correlation of the
/// input segment `xpad[j0 .. j0 + B + m - 1]` with the gradient block `gy[j0 .. j0 + B]` are the
/// start of their circular correlation over `F >= B + m - 1` points, whose spectrum is
/// `X · conj(G)`. These products add up over blocks and samples (each thread keeps its own sums),
/// and one inverse transform per channel pair ends it. The block length comes from the forward
/// pass's cost model for the same shapes.
#[cfg(cpu_grads)]
pub(super) fn weight_grad<T: Real>(x: &[T], gy: &[T], d: &Geometry) -> Vec<T> {
    let (l, cpg, opg, m, n) = (d.out_len(), d.cpg(), d.opg(), d.m, d.n);
    let f = CpuModel::of(T::dtype()).fft_len(l, m, cpg, opg);
    let (bins, block) = (f / 2 + 1, f - m + 1);
    let (r2c, c2r) = plans::<T>(f);
    let n_blocks = l.div_ceil(block);
    let zero = Complex::new(T::zero(), T::zero());
    let acc_len = d.cout * cpg * bins;
    let left = d.left as isize;
    let unit_sums = |mut acc: Vec<Complex<T>>, unit: usize| {
        let (b, g) = (unit / d.groups, unit % d.groups);
        let mut buf = vec![T::zero(); f];
        let mut scratch = Vec::new();
        let mut fft_scratch = r2c.make_scratch_vec();
        let mut xs = vec![vec![zero; bins]; cpg];
        let mut gs = vec![zero; bins];
        for blk in 0..n_blocks {
            let (j0, j1) = (blk * block, ((blk + 1) * block).min(l));
            for (i, spec) in xs.iter_mut().enumerate() {
                let row = &x[(b * d.cin + g * cpg + i) * n..][..n];
                let seg = super::window(row, j0 as isize - left, j1 - j0 + m - 1, &mut scratch);
                buf[..seg.len()].copy_from_slice(seg);
                buf[seg.len()..].fill(T::zero());
                r2c.process_with_scratch(&mut buf, spec, &mut fft_scratch)
                    .expect("forward FFT of an input segment");
            }
            for a in 0..opg {
                let o = g * opg + a;
                let grow = &gy[(b * d.cout + o) * l..][j0..j1];
                buf[..grow.len()].copy_from_slice(grow);
                buf[grow.len()..].fill(T::zero());
                r2c.process_with_scratch(&mut buf, &mut gs, &mut fft_scratch)
                    .expect("forward FFT of a gradient block");
                for (i, spec) in xs.iter().enumerate() {
                    let dst = &mut acc[(o * cpg + i) * bins..][..bins];
                    for ((s, &xv), &gv) in dst.iter_mut().zip(spec).zip(&gs) {
                        *s = *s + xv * gv.conj();
                    }
                }
            }
        }
        acc
    };
    let units = d.batch * d.groups;
    let transforms = units * n_blocks * (cpg + opg);
    let acc = if transforms * f < SERIAL_FFT_POINTS {
        (0..units).fold(vec![zero; acc_len], unit_sums)
    } else {
        (0..units)
            .into_par_iter()
            .with_min_len(units.div_ceil(2 * rayon::current_num_threads().max(1)))
            .fold(|| vec![zero; acc_len], unit_sums)
            .reduce(
                || vec![zero; acc_len],
                |mut a, b| {
                    a.iter_mut().zip(b).for_each(|(s, v)| *s = *s + v);
                    a
                },
            )
    };
    let scale = T::one() / to::<f64, T>(f as f64);
    let mut dw = vec![T::zero(); d.cout * cpg * m];
    let mut spec = vec![zero; bins];
    let mut buf = vec![T::zero(); f];
    let mut scratch = c2r.make_scratch_vec();
    for (pair, out) in dw.chunks_mut(m).enumerate() {
        spec.copy_from_slice(&acc[pair * bins..][..bins]);
        // Real signals: the DC and Nyquist bins are real.
        spec[0].im = T::zero();
        spec[bins - 1].im = T::zero();
        c2r.process_with_scratch(&mut spec, &mut buf, &mut scratch)
            .expect("inverse FFT of a weight gradient");
        for (o, &v) in out.iter_mut().zip(&buf[..m]) {
            *o = v * scale;
        }
    }
    dw
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The sums and the check of every copy of [`add_checked`] (AVX2 with its fused check, the
    /// plain loop, unchecked): the same sums as a plain loop, and "finite" exactly when every
    /// sum is: NaN, ±inf and overflowing sums at every position class (lanes of the 64-value
    /// loop, its remainder), f32 into f32 and f64 into f32.
    #[test]
    fn added_sums_are_checked_wherever_they_go_non_finite() {
        fn case<T: Real, U: Real>(len: usize, at: Option<(usize, U)>) {
            let mut src: Vec<U> = (0..len).map(|i| to(((i * 7) % 13) as f64 - 6.0)).collect();
            let dst0: Vec<T> = (0..len).map(|i| to((i % 5) as f64 * 0.25)).collect();
            if let Some((i, v)) = at {
                src[i] = v;
            }
            let expected: Vec<T> = dst0.iter().zip(&src).map(|(&d, &s)| d + to(s)).collect();
            let finite = expected.iter().all(|v| v.is_finite());
            type Add<'a, T> = Box<dyn Fn(&mut [T]) -> bool + 'a>;
            let mut copies: Vec<(&str, Add<T>)> = vec![
                (
                    "portable",
                    Box::new(|d| add_checked_body::<T, U, false>(d, &src, true)),
                ),
                ("unchecked", Box::new(|d| add_checked(d, &src, false))),
                ("dispatched", Box::new(|d| add_checked(d, &src, true))),
            ];
            #[cfg(target_arch = "x86_64")]
            if super::super::simd::Isa::detected() != super::super::simd::Isa::Portable {
                // SAFETY: `detected` checked AVX2 and FMA.
                copies.push((
                    "avx2",
                    Box::new(|d| unsafe { add_checked_avx2(d, &src, true) }),
                ));
            }
            for (name, add) in copies {
                let mut dst = dst0.clone();
                let ok = add(&mut dst);
                let what = format!("{name}: len {len}, {at:?}");
                for (a, b) in dst.iter().zip(&expected) {
                    assert!(
                        a == b || (a.is_nan() && b.is_nan()),
                        "{what}: {a:?} against {b:?}"
                    );
                }
                assert_eq!(ok, finite || name == "unchecked", "{what}");
            }
        }
        for len in [1usize, 63, 64, 65, 200, 1000] {
            let positions = [0, len / 2, len - 1];
            case::<f32, f32>(len, None);
            case::<f32, f64>(len, None);
            case::<f64, f64>(len, None);
            for &i in &positions {
                for v in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY, f32::MAX] {
                    case::<f32, f32>(len, Some((i, v)));
                }
                // An f64 sum too large for f32 becomes inf when stored.
                for v in [f64::NAN, f64::INFINITY, 1e39] {
                    case::<f32, f64>(len, Some((i, v)));
                }
                for v in [f64::NAN, f64::NEG_INFINITY, f64::MAX] {
                    case::<f64, f64>(len, Some((i, v)));
                }
            }
        }
    }

    /// The split pass gives the one-thread pass's range, and refuses NaN and ±inf in either
    /// half.
    #[test]
    fn a_split_row_has_the_rows_range() {
        let len = PARALLEL_RANGE + 12_345;
        let mut row: Vec<f32> = (0..len)
            .map(|i| ((i * 7919 % 1009) as f32 - 504.0) / 97.0)
            .collect();
        row[len / 3] = 3.0e4; // a spike in the first half
        row[len / 2 + 1000..len / 2 + 3000].fill(1e-6); // a quiet stretch in the second
        for chunk in [1usize, 7, 16, 127, 2047] {
            assert_eq!(
                range_of_row(&row, chunk),
                range(&row, chunk),
                "chunk {chunk}"
            );
        }
        for at in [10, len - 10] {
            for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
                let mut r = row.clone();
                r[at] = bad;
                assert_eq!(range_of_row(&r, 127), None, "{bad} at {at}");
            }
        }
    }

    /// The guard's signal range as measured inside the FFT ([`conv_guarded`]) and as its own
    /// pass ([`range_of_row`]) on a signal with a quiet stretch at `quiet`, `(max / min mean,
    /// max)` for both (`None` if refused).
    fn both_ranges(
        n: usize,
        m: usize,
        [batch, cin]: [usize; 2],
        quiet: Option<(usize, usize)>,
        bad: Option<(usize, f32)>,
    ) -> [Option<(f64, f64)>; 2] {
        use crate::mode::{Mode, Operation};
        let d = Geometry::numpy(
            [batch, cin, n],
            [1, cin, m],
            1,
            Mode::Full,
            Operation::Convolution,
        );
        let mut x: Vec<f32> = (0..batch * cin * n)
            .map(|i| ((i * 7919 % 1009) as f32 - 504.0) / 97.0)
            .collect();
        if let Some((at, len)) = quiet {
            for row in x.chunks_mut(n) {
                row[at..at + len].iter_mut().for_each(|v| *v *= 1e-4);
            }
        }
        if let Some((at, v)) = bad {
            x[at] = v;
        }
        let wk: Vec<f32> = (0..cin * m).map(|i| (i % 5) as f32 - 2.0).collect();
        let chunk = effective_chunk((m / 2).max(1), n);
        let ranges = conv_measured::<f32, f32>(&x, &wk, &d, Some(chunk), true).2;
        let fused = signal_range(&x, &d, chunk, ranges);
        let own = x.chunks(n).try_fold((0.0f64, 0.0f64), |(q, mx), row| {
            let (max, min_mean) = range_of_row(row, chunk)?;
            Some((q.max(max / min_mean), mx.max(max)))
        });
        [fused, own]
    }

    fn assert_same(what: &str, [fused, own]: [Option<(f64, f64)>; 2]) {
        match (fused, own) {
            (Some((q1, m1)), Some((q2, m2))) => {
                assert_eq!(m1, m2, "{what}: max");
                assert!((q1 - q2).abs() <= 1e-5 * q2, "{what}: q {q1} against {q2}");
            }
            (a, b) => assert_eq!(a.is_some(), b.is_some(), "{what}: {a:?} against {b:?}"),
        }
    }

    /// The measurement the FFT makes of its blocks is the guard's own pass: quiet stretches
    /// inside a block, across a block boundary (the chunk the two blocks share) and at the
    /// row's end, NaN and infinities, several rows.
    #[test]
    fn the_fft_measures_what_the_guard_does() {
        for (n, m) in [(20_000usize, 255usize), (70_001, 1023), (9_999, 64)] {
            let d = Geometry::numpy(
                [1, 1, n],
                [1, 1, m],
                1,
                crate::mode::Mode::Full,
                crate::mode::Operation::Convolution,
            );
            let block = block_len::<f32>(&d);
            let chunk = effective_chunk(m / 2, n);
            assert!(block > chunk && n > 2 * block, "N={n} M={m}: block {block}");
            let mut quiets = vec![
                None,
                Some((n / 3, 2 * chunk)),
                Some((n - chunk - 5, chunk + 5)),
            ];
            for k in 1..=2 {
                // A stretch of one chunk around the k-th boundary, and ones shifted off it.
                for shift in [0, 1, chunk / 2, chunk - 1] {
                    let p = k * block;
                    quiets.push(Some((p - chunk / 2 + shift, chunk)));
                    quiets.push(Some((p - shift, chunk)));
                }
            }
            for quiet in quiets {
                for rows in [[1, 1], [2, 3]] {
                    let what = format!("N={n} M={m} quiet {quiet:?} rows {rows:?}");
                    assert_same(&what, both_ranges(n, m, rows, quiet, None));
                }
            }
            for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
                for at in [0, block - 1, block, n - 1, 2 * n - 1] {
                    let what = format!("N={n} M={m} {bad} at {at}");
                    let r = both_ranges(n, m, [2, 1], None, Some((at, bad)));
                    assert_eq!(r[0], None, "{what}");
                    assert_same(&what, r);
                }
            }
        }
    }
}
