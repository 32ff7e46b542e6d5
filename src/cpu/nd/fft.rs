//! The N-D FFT kernel: a circular correlation of transform lengths `f` (at least the padded
//! array's on every axis, so the `valid` outputs never wrap), by `realfft` along the last axis
//! and `rustfft` along the others.
//!
//! The spectrum of an array `[f0][f1][f2]` is kept as `[h][f1][f0]` (`h = f2 / 2 + 1`): the
//! real transform runs on rows of the last axis, then each plane is transposed so that the
//! next axis's transforms run on contiguous rows, and so on; the inverse runs the same steps
//! backwards.

use rayon::prelude::*;
use realfft::num_complex::Complex;
use rustfft::FftDirection;

use super::Dims;
use crate::cost::SERIAL_FFT_POINTS;
use crate::cpu::Real;
use crate::cpu::real::to;
use crate::fft_plans::{complex_plan, plans};

/// Transforms of one shape.
pub(crate) struct NdFft {
    /// Transform lengths, outermost axis first.
    f: [usize; 3],
}

impl NdFft {
    /// Transforms of lengths `f` (the last even or 1).
    pub(crate) fn new(f: [usize; 3]) -> NdFft {
        NdFft { f }
    }

    /// Complex values in a spectrum.
    fn spectrum_len(&self) -> usize {
        self.h() * self.f[0] * self.f[1]
    }

    /// Complex values per row of the last axis's transform.
    fn h(&self) -> usize {
        self.f[2] / 2 + 1
    }

    /// Whether the work is too small to wake rayon's workers.
    fn serial(&self) -> bool {
        self.f.iter().product::<usize>() < SERIAL_FFT_POINTS
    }

    /// The spectrum of `x` (shape `shape`, each axis at most `f`'s), zero-padded to `f`.
    pub(crate) fn forward<T: Real, U: Real>(&self, x: &[T], shape: [usize; 3]) -> Vec<Complex<U>> {
        let [f0, f1, f2] = self.f;
        let h = self.h();
        // Rows of the last axis: real transforms, zero rows left zero.
        let mut c = vec![Complex::new(U::zero(), U::zero()); f0 * f1 * h];
        let (r2c, _) = plans::<U>(f2);
        let row = |(r, out): (usize, &mut [Complex<U>]),
                   (buf, scratch): &mut (Vec<U>, Vec<Complex<U>>)| {
            let (i0, i1) = (r / f1, r % f1);
            if i0 >= shape[0] || i1 >= shape[1] {
                return;
            }
            let src = &x[(i0 * shape[1] + i1) * shape[2]..][..shape[2]];
            buf.fill(U::zero());
            for (b, &v) in buf.iter_mut().zip(src) {
                *b = to(v);
            }
            r2c.process_with_scratch(buf, out, scratch)
                .expect("buffers of the planned lengths");
        };
        let init = || (vec![U::zero(); f2], r2c.make_scratch_vec());
        if self.serial() {
            let mut s = init();
            c.chunks_mut(h).enumerate().for_each(|r| row(r, &mut s));
        } else {
            c.par_chunks_mut(h)
                .enumerate()
                .for_each_init(init, |s, r| row(r, s));
        }
        // [f0][f1][h] -> [f0][h][f1], transforms along axis 1.
        let mut c = self.transpose_planes(c, f1, h);
        self.complex_rows(&mut c, f1, FftDirection::Forward);
        // [f0][h f1] -> [h f1][f0], transforms along axis 0.
        let mut c = transpose(c, f0, h * f1, self.serial());
        self.complex_rows(&mut c, f0, FftDirection::Forward);
        c
    }

    /// The real array `[f0][f1][f2]` whose spectrum is `c`, times `f0 · f1 · f2`.
    pub(crate) fn inverse<U: Real>(&self, mut c: Vec<Complex<U>>) -> Vec<U> {
        let [f0, f1, f2] = self.f;
        let h = self.h();
        debug_assert_eq!(c.len(), self.spectrum_len());
        self.complex_rows(&mut c, f0, FftDirection::Inverse);
        let mut c = transpose(c, h * f1, f0, self.serial());
        self.complex_rows(&mut c, f1, FftDirection::Inverse);
        let mut c = self.transpose_planes(c, h, f1);
        let (_, c2r) = plans::<U>(f2);
        let mut out = vec![U::zero(); f0 * f1 * f2];
        let row = |(spec, y): (&mut [Complex<U>], &mut [U]), scratch: &mut Vec<Complex<U>>| {
            // A real array's spectrum: the imaginary parts of DC and Nyquist are zero.
            spec[0].im = U::zero();
            if f2.is_multiple_of(2) {
                spec[h - 1].im = U::zero();
            }
            c2r.process_with_scratch(spec, y, scratch)
                .expect("buffers of the planned lengths");
        };
        let init = || c2r.make_scratch_vec();
        if self.serial() {
            let mut s = init();
            c.chunks_mut(h)
                .zip(out.chunks_mut(f2))
                .for_each(|r| row(r, &mut s));
        } else {
            c.par_chunks_mut(h)
                .zip(out.par_chunks_mut(f2))
                .for_each_init(init, |s, r| row(r, s));
        }
        out
    }

    /// Complex transforms of `len` points on every row of `c`.
    fn complex_rows<U: Real>(&self, c: &mut [Complex<U>], len: usize, direction: FftDirection) {
        if len == 1 {
            return;
        }
        let fft = complex_plan::<U>(len, direction);
        let init = || vec![Complex::new(U::zero(), U::zero()); fft.get_inplace_scratch_len()];
        if self.serial() {
            let mut s = init();
            c.chunks_mut(len)
                .for_each(|r| fft.process_with_scratch(r, &mut s));
        } else {
            c.par_chunks_mut(len)
                .for_each_init(init, |s, r| fft.process_with_scratch(r, s));
        }
    }

    /// Each of the `f0` planes of `c`, `[rows][cols]`, transposed to `[cols][rows]`.
    fn transpose_planes<U: Real>(
        &self,
        c: Vec<Complex<U>>,
        rows: usize,
        cols: usize,
    ) -> Vec<Complex<U>> {
        if rows == 1 || cols == 1 {
            return c;
        }
        let plane = rows * cols;
        let mut out = vec![Complex::new(U::zero(), U::zero()); c.len()];
        let one =
            |(src, dst): (&[Complex<U>], &mut [Complex<U>])| transpose_into(src, dst, rows, cols);
        if self.serial() {
            c.chunks(plane).zip(out.chunks_mut(plane)).for_each(one);
        } else {
            c.par_chunks(plane)
                .zip(out.par_chunks_mut(plane))
                .for_each(one);
        }
        out
    }
}

/// `c`, `[rows][cols]`, transposed to `[cols][rows]`.
fn transpose<U: Real>(
    c: Vec<Complex<U>>,
    rows: usize,
    cols: usize,
    serial: bool,
) -> Vec<Complex<U>> {
    if rows == 1 || cols == 1 {
        return c;
    }
    let mut out = vec![Complex::new(U::zero(), U::zero()); c.len()];
    // Bands of output rows, each read from a band of input columns.
    const BAND: usize = 64;
    let band = |(b, dst): (usize, &mut [Complex<U>])| {
        let c0 = b * BAND;
        let width = dst.len() / rows;
        for r in 0..rows {
            for j in 0..width {
                dst[j * rows + r] = c[r * cols + c0 + j];
            }
        }
    };
    if serial {
        out.chunks_mut(BAND * rows).enumerate().for_each(band);
    } else {
        out.par_chunks_mut(BAND * rows).enumerate().for_each(band);
    }
    out
}

/// `src`, `[rows][cols]`, transposed into `dst`, `[cols][rows]`.
fn transpose_into<U: Copy>(src: &[U], dst: &mut [U], rows: usize, cols: usize) {
    for r in 0..rows {
        for j in 0..cols {
            dst[j * rows + r] = src[r * cols + j];
        }
    }
}

/// `Σ_p` the circular correlation of `a_p` with `k_p` (shapes `d.p` and `d.m`), in `U`, cut to
/// the `valid` outputs: shape `d.out()`, in `T`. One inverse transform for all pairs.
pub(crate) fn correlate<T: Real, U: Real>(pairs: &[(&[T], &[T])], d: Dims) -> Vec<T> {
    let lens = crate::cost::nd_fft_lens(&d.p);
    let f = [lens[0], lens[1], lens[2]];
    let nd = NdFft::new(f);
    let mut acc: Option<Vec<Complex<U>>> = None;
    for (a, k) in pairs {
        let sa = nd.forward::<T, U>(a, d.p);
        let sk = nd.forward::<T, U>(k, d.m);
        // Correlation: A · conj(K).
        let prod =
            |(s, (x, y)): (&mut Complex<U>, (&Complex<U>, &Complex<U>))| *s = *s + x * y.conj();
        let mut sum = acc
            .take()
            .unwrap_or_else(|| vec![Complex::new(U::zero(), U::zero()); sa.len()]);
        if nd.serial() {
            sum.iter_mut().zip(sa.iter().zip(&sk)).for_each(prod);
        } else {
            sum.par_iter_mut()
                .zip(sa.par_iter().zip(&sk))
                .for_each(prod);
        }
        acc = Some(sum);
    }
    let y = nd.inverse(acc.expect("at least one pair"));
    let scale = U::one() / to::<f64, U>(f.iter().product::<usize>() as f64);
    let [l0, l1, l2] = d.out();
    let mut out = Vec::with_capacity(l0 * l1 * l2);
    for i0 in 0..l0 {
        for i1 in 0..l1 {
            let row = &y[(i0 * f[1] + i1) * f[2]..][..l2];
            out.extend(row.iter().map(|&v| to::<U, T>(v * scale)));
        }
    }
    out
}
