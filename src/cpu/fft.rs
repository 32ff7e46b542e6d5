//! The FFT kernel: overlap-add with `realfft`, blocks sized by the cost model
//! ([`crate::cost::fft_len`]), each thread owning a disjoint range of the output. Generic over
//! the input type `T` and the type `U` the transforms compute in (f32 inputs may be
//! transformed in f64 for accuracy).

use std::sync::Arc;

use rayon::prelude::*;
use realfft::num_complex::Complex;
use realfft::{ComplexToReal, RealFftPlanner, RealToComplex};

use super::{Real, SERIAL_FFT_POINTS};
use crate::cost::{FFT_DYNAMIC_RANGE, fft_len};
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
/// it), by overlap-add FFT convolution computed in `U`.
pub(super) fn conv<T: Real, U: Real>(x: &[T], wk: &[T], d: &Geometry) -> Vec<T> {
    let (l, cpg, opg, m, n) = (d.out_len(), d.cpg(), d.opg(), d.m, d.n);
    let f = fft_len(n, m, cpg, opg);
    let bins = f / 2 + 1;
    let block = f - m + 1;
    let start = d.full_start(); // full-output index of output 0
    let (r2c, c2r) = plans::<U>(f);
    let scale = U::one() / to::<f64, U>(f as f64);

    let n_blocks = n.div_ceil(block);
    let units = d.batch * d.groups;
    // Transforms of `f` points, over every input and output channel.
    let transforms = units * n_blocks.min(l.div_ceil(block) + 1) * (cpg + opg);
    let serial = transforms * f < SERIAL_FFT_POINTS;
    // Spectra of the true-convolution kernels h = reverse(wk), scaled for the inverse.
    let spectrum = |k: &[T]| {
        let mut buf = vec![U::zero(); f];
        for (dst, &v) in buf.iter_mut().zip(k.iter().rev()) {
            *dst = to::<T, U>(v) * scale;
        }
        let mut spec = r2c.make_output_vec();
        let mut scratch = r2c.make_scratch_vec();
        r2c.process_with_scratch(&mut buf, &mut spec, &mut scratch)
            .expect("forward FFT of a kernel");
        spec
    };
    let spectra: Vec<Complex<U>> = if wk.len() / m * f < SERIAL_FFT_POINTS {
        wk.chunks(m).flat_map(spectrum).collect()
    } else {
        wk.par_chunks(m).flat_map_iter(spectrum).collect()
    };
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

    let run = |(unit, j0, mut rows): (usize, usize, Vec<&mut [T]>)| {
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
        let mut buf = vec![U::zero(); f];
        let zero = Complex::new(U::zero(), U::zero());
        let mut xspec = vec![vec![zero; bins]; cpg];
        let mut acc = vec![zero; bins];
        let mut scratch_f = r2c.make_scratch_vec();
        let mut scratch_i = c2r.make_scratch_vec();
        for kb in k0..k1 {
            let x0 = kb * block;
            let x1 = (x0 + block).min(n);
            for (i, spec) in xspec.iter_mut().enumerate() {
                let row = &x[(b * d.cin + g * cpg + i) * n..][..n];
                for (dst, &v) in buf.iter_mut().zip(&row[x0..x1]) {
                    *dst = to::<T, U>(v);
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
                acc.fill(zero);
                for (i, spec) in xspec.iter().enumerate() {
                    let h = &spectra[(o * cpg + i) * bins..][..bins];
                    for ((s, &xv), &hv) in acc.iter_mut().zip(spec).zip(h) {
                        *s = *s + xv * hv;
                    }
                }
                // Real signals: the DC and Nyquist bins are real.
                acc[0].im = U::zero();
                acc[bins - 1].im = U::zero();
                c2r.process_with_scratch(&mut acc, &mut buf, &mut scratch_i)
                    .expect("inverse FFT of a block");
                if lo < hi {
                    let dst = &mut row[lo - p0..hi - p0];
                    for (y, &v) in dst.iter_mut().zip(&buf[lo - x0..hi - x0]) {
                        *y = *y + to::<U, T>(v);
                    }
                }
            }
        }
    };
    if serial {
        work.into_iter().for_each(run);
    } else {
        work.into_par_iter().for_each(run);
    }
    out
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
pub(super) fn conv_in<T: Real>(x: &[T], wk: &[T], d: &Geometry, precision: Precision) -> Vec<T> {
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
/// leave the input type. One pass over the inputs, in vector lanes.
pub(super) fn guarded_precision<T: Real>(x: &[T], wk: &[T], d: &Geometry) -> Option<Precision> {
    let chunk = (d.m / 2).max(1);
    let mut qx = 0.0f64;
    let mut max_x = 0.0f64;
    for row in x.chunks(d.n) {
        let (max, min_mean) = range(row, chunk)?;
        max_x = max_x.max(max);
        qx = qx.max(max / min_mean);
    }
    let mut qw = 0.0f64;
    let mut max_w = 0.0f64;
    for k in wk.chunks(d.m) {
        let (max, mean) = range(k, d.m)?;
        max_w = max_w.max(max);
        qw = qw.max(max / mean);
    }
    let q = qx * qw;
    let eps_t = to::<T, f64>(T::epsilon());
    let f = fft_len(d.n, d.m, d.cpg(), d.opg()) as f64;
    // A spectrum can reach f · max|x|, a product f · m · max|x| · max|w|.
    let peak = f * d.m as f64 * max_x * max_w * d.cpg() as f64;
    let fits = |eps_u: f64, max_u: f64| {
        q.is_finite() && q <= FFT_DYNAMIC_RANGE * eps_t / eps_u && peak < max_u / 4.0
    };
    if fits(eps_t, to::<T, f64>(T::max_value())) {
        Some(Precision::Input)
    } else if fits(f64::EPSILON, f64::MAX) {
        Some(Precision::F64)
    } else {
        None
    }
}

/// `(max |v|, the smallest mean |v| over whole chunks of `chunk` values)` in f64 (the whole of
/// `v` when it is shorter than a chunk), or `None` when `v` holds NaN or an infinity.
fn range<T: Real>(v: &[T], chunk: usize) -> Option<(f64, f64)> {
    const L: usize = 8;
    let chunk = chunk.min(v.len());
    let mut max = T::zero();
    let mut min_sum = T::infinity();
    for c in v.chunks_exact(chunk) {
        let (mut sums, mut maxs) = ([T::zero(); L], [T::zero(); L]);
        let lanes = c.chunks_exact(L);
        let tail = lanes.remainder();
        for l in lanes {
            for q in 0..L {
                let a = l[q].abs();
                sums[q] = sums[q] + a;
                maxs[q] = if a > maxs[q] { a } else { maxs[q] };
            }
        }
        let mut sum = sums.iter().fold(T::zero(), |s, &v| s + v);
        let mut m = maxs.iter().fold(T::zero(), |s, &v| s.max(v));
        for &t in tail {
            sum = sum + t.abs();
            m = m.max(t.abs());
        }
        // NaN and ±inf make the sum NaN or inf (`max` would skip a NaN).
        if !sum.is_finite() {
            return None;
        }
        max = max.max(m);
        min_sum = min_sum.min(sum);
    }
    // The samples past the last whole chunk count for the maximum and for finiteness.
    let rest = &v[v.len() / chunk * chunk..];
    let rest_sum = rest.iter().fold(T::zero(), |s, &t| s + t.abs());
    if !rest_sum.is_finite() {
        return None;
    }
    for &t in rest {
        max = max.max(t.abs());
    }
    Some((to(max), to::<T, f64>(min_sum) / chunk as f64))
}
