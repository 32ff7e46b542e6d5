//! The FFT kernel: overlap-add with `realfft`, transforms of the plan's length
//! ([`FftLens`], from the cost model), each thread owning a disjoint range of the output. Generic over
//! the input type `T` and the type `U` the transforms compute in (f32 inputs may be
//! transformed in f64 for accuracy).

use std::sync::atomic::{AtomicBool, Ordering};

use rayon::prelude::*;
use realfft::num_complex::Complex;

use super::real::{Real, to};
#[cfg(cpu_grads)]
use super::rows::window;
use crate::buffers;
use crate::cost::SERIAL_FFT_POINTS;
use crate::fft_plans::plans;
use crate::geometry::Geometry;
use crate::guard::host::{Guard, Precision, decide, guarded, kernel_range, signal_range};
use crate::guard::measure::{BlockRange, block_range, effective_chunk};
use crate::plan::FftLens;
use crate::spectra::channel_sum;

/// The sliding dot product of `d` over `x` with the kernel `wk` (as the sliding product uses
/// it), by overlap-add FFT convolution computed in `U`, and whether every block's inverse
/// transform is finite (checked while it is in cache: a NaN or an infinity anywhere in the
/// inputs spreads over its whole block).
pub(super) fn conv<T: Real, U: Real>(x: &[T], wk: &[T], d: &Geometry, f: usize) -> (Vec<T>, bool) {
    let (y, finite, _) = conv_measured::<T, U>(x, wk, d, f, None, true);
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
    f: usize,
    chunk: Option<usize>,
    check: bool,
) -> (Vec<T>, bool, Vec<BlockRange>) {
    let (l, cpg, opg, m, n) = (d.out_len(), d.cpg(), d.opg(), d.m, d.n);
    let bins = f / 2 + 1;
    let block = f - m + 1;
    let start = d.full_start(); // full-output index of output 0
    let (r2c, c2r) = plans::<U>(f);
    let scale = U::one() / to::<f64, U>(f as f64);

    let n_blocks = n.div_ceil(block);
    let units = d.batch * d.groups;
    let serial = runs_serially(d, f);
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
                channel_sum(&mut acc, &xspec, &spectra[o * cpg * bins..][..cpg * bins]);
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

/// Whether [`conv`] with transforms of `f` points runs on the calling thread: fewer
/// transformed points (over every input and output channel) than `SERIAL_FFT_POINTS`.
fn runs_serially(d: &Geometry, f: usize) -> bool {
    let (l, cpg, opg, m, n) = (d.out_len(), d.cpg(), d.opg(), d.m, d.n);
    let block = f - m + 1;
    let transforms =
        d.batch * d.groups * n.div_ceil(block).min(l.div_ceil(block) + 1) * (cpg + opg);
    transforms * f < SERIAL_FFT_POINTS
}

/// Whether [`conv_in`] runs on the calling thread.
pub(super) fn serial(d: &Geometry, lens: FftLens, precision: Precision) -> bool {
    runs_serially(d, precision.len(lens))
}

/// [`conv`] in `precision`.
pub(super) fn conv_in<T: Real>(
    x: &[T],
    wk: &[T],
    d: &Geometry,
    lens: FftLens,
    precision: Precision,
) -> (Vec<T>, bool) {
    match precision {
        Precision::Input => conv::<T, T>(x, wk, d, lens.input),
        Precision::F64 => conv::<T, f64>(x, wk, d, lens.f64),
    }
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
    lens: FftLens,
) -> Option<(Guard, (Vec<T>, bool))> {
    let chunk = effective_chunk((d.m / 2).max(1), d.n);
    if lens.input - d.m < chunk {
        // A chunk could span three blocks: the guard's own pass.
        let guard = guarded(x, wk, d, lens)?;
        return Some((guard, conv_in(x, wk, d, lens, guard.precision)));
    }
    let (qw, max_w) = kernel_range(wk, d.m)?;
    let (y, finite, ranges) = conv_measured::<T, T>(x, wk, d, lens.input, Some(chunk), true);
    let (qx, max_x) = signal_range(x, d, chunk, lens.input - d.m + 1, ranges)?;
    let guard = decide::<T>(qx, max_x, qw, max_w, d, lens.input)?;
    Some(match guard.precision {
        Precision::Input => (guard, (y, finite)),
        Precision::F64 => (guard, conv::<T, f64>(x, wk, d, lens.f64)),
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
    f: usize,
    check: bool,
    measure: bool,
) -> Vec<T> {
    let chunk = effective_chunk((d.m / 2).max(1), d.n);
    let (y, _, ranges) = conv_measured::<T, T>(x, wk, d, f, measure.then_some(chunk), check);
    if measure {
        let decided = signal_range(x, d, chunk, f - d.m + 1, ranges)
            .zip(kernel_range(wk, d.m))
            .and_then(|((qx, max_x), (qw, max_w))| decide::<T>(qx, max_x, qw, max_w, d, f));
        std::hint::black_box(decided.map(|g| g.precision));
    }
    y
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
pub(super) fn weight_grad<T: Real>(x: &[T], gy: &[T], d: &Geometry, f: usize) -> Vec<T> {
    let (l, cpg, opg, m, n) = (d.out_len(), d.cpg(), d.opg(), d.m, d.n);
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
                let seg = window(row, j0 as isize - left, j1 - j0 + m - 1, &mut scratch);
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
mod tests;
