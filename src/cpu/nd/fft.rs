//! The N-D FFT kernel: a circular correlation of transform lengths `f` (at least the padded
//! array's on every axis, so the `valid` outputs never wrap), by `realfft` along the last axis
//! and `rustfft` along the others.
//!
//! The spectrum of an array `[f0][f1][f2]` is kept as `[h][f1][f0]` (`h = f2 / 2 + 1`): the
//! real transform runs on rows of the last axis, then each plane is transposed so that the
//! next axis's transforms run on contiguous rows, and so on; the inverse runs the same steps
//! backwards and transforms back only the rows that hold outputs. A call works in four
//! spectrum-sized buffers, allocated once: fresh pages cost more than the transforms
//! (`perf`: page faults and zeroing were a third of a 1024x1024 call when each step had its
//! own buffer).

use rayon::prelude::*;
use realfft::num_complex::Complex;
use rustfft::FftDirection;

use super::dims::Dims;
use crate::cost::SERIAL_FFT_POINTS;
use crate::cpu::Real;
use crate::cpu::real::to;
use crate::fft_plans::{complex_plan, plans};

/// A spectrum-sized buffer.
type Buf<U> = Vec<Complex<U>>;

/// Transforms of one shape.
struct NdFft {
    /// Transform lengths, outermost axis first.
    f: [usize; 3],
}

impl NdFft {
    /// Complex values per row of the last axis's transform.
    fn h(&self) -> usize {
        self.f[2] / 2 + 1
    }

    /// Complex values in a spectrum.
    fn len(&self) -> usize {
        self.h() * self.f[0] * self.f[1]
    }

    /// Whether the work is too small to wake rayon's workers.
    fn serial(&self) -> bool {
        self.f.iter().product::<usize>() < SERIAL_FFT_POINTS
    }

    /// The spectrum of `x` (shape `shape`, each axis at most `f`'s), zero-padded to `f`, into
    /// `out`; `t` is scratch.
    fn forward<T: Real, U: Real>(
        &self,
        x: &[T],
        shape: [usize; 3],
        out: &mut Buf<U>,
        t: &mut Buf<U>,
    ) {
        let [f0, f1, f2] = self.f;
        let h = self.h();
        let (r2c, _) = plans::<U>(f2);
        let zero = Complex::new(U::zero(), U::zero());
        // Rows of the last axis, `[f0][f1][h]`, in `t`; zero rows stay zero.
        let row = |(r, spec): (usize, &mut [Complex<U>]), (buf, scratch): &mut (Vec<U>, Buf<U>)| {
            let (i0, i1) = (r / f1, r % f1);
            if i0 >= shape[0] || i1 >= shape[1] {
                spec.fill(zero);
                return;
            }
            let src = &x[(i0 * shape[1] + i1) * shape[2]..][..shape[2]];
            buf.fill(U::zero());
            for (b, &v) in buf.iter_mut().zip(src) {
                *b = to(v);
            }
            r2c.process_with_scratch(buf, spec, scratch)
                .expect("buffers of the planned lengths");
        };
        let init = || (vec![U::zero(); f2], r2c.make_scratch_vec());
        if self.serial() {
            let mut s = init();
            t.chunks_mut(h).enumerate().for_each(|r| row(r, &mut s));
        } else {
            t.par_chunks_mut(h)
                .enumerate()
                .for_each_init(init, |s, r| row(r, s));
        }
        // `[f0][f1][h]` -> `[f0][h][f1]` (in `out`), transforms along axis 1.
        self.transpose(t, out, f0, f1, h);
        self.complex_rows(out, f1, FftDirection::Forward);
        // `[h f1]` columns of `[f0]` rows -> `[h f1][f0]` (in `t`), transforms along axis 0.
        self.transpose(out, t, 1, f0, h * f1);
        self.complex_rows(t, f0, FftDirection::Forward);
        std::mem::swap(out, t);
    }

    /// The `valid` outputs (shape `d.out()`) of the real array whose spectrum is `spec`, times
    /// `scale`, in `T`; `spec` and `t` are scratch.
    fn inverse_valid<T: Real, U: Real>(
        &self,
        spec: &mut Buf<U>,
        t: &mut Buf<U>,
        d: Dims,
        scale: U,
    ) -> Vec<T> {
        let [f0, f1, f2] = self.f;
        let h = self.h();
        self.complex_rows(spec, f0, FftDirection::Inverse);
        self.transpose(spec, t, 1, h * f1, f0);
        self.complex_rows(t, f1, FftDirection::Inverse);
        self.transpose(t, spec, f0, h, f1);
        // `spec` is `[f0][f1][h]`: the rows that hold outputs, back to real values.
        let (_, c2r) = plans::<U>(f2);
        let [l0, l1, l2] = d.out();
        let mut out = vec![T::zero(); l0 * l1 * l2];
        let row = |(r, y): (usize, &mut [T]), (buf, scratch): &mut (Vec<U>, Buf<U>)| {
            let (i0, i1) = (r / l1, r % l1);
            let src = &spec[(i0 * f1 + i1) * h..][..h];
            let mut row: Buf<U> = src.to_vec();
            // A real array's spectrum: the imaginary parts of DC and Nyquist are zero.
            row[0].im = U::zero();
            if f2.is_multiple_of(2) {
                row[h - 1].im = U::zero();
            }
            c2r.process_with_scratch(&mut row, buf, scratch)
                .expect("buffers of the planned lengths");
            for (o, &v) in y.iter_mut().zip(buf.iter()) {
                *o = to::<U, T>(v * scale);
            }
        };
        let init = || (vec![U::zero(); f2], c2r.make_scratch_vec());
        if self.serial() {
            let mut s = init();
            out.chunks_mut(l2).enumerate().for_each(|r| row(r, &mut s));
        } else {
            out.par_chunks_mut(l2)
                .enumerate()
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

    /// Each of the `planes` planes of `src`, `[rows][cols]`, transposed into `dst` as
    /// `[cols][rows]`.
    fn transpose<U: Real>(
        &self,
        src: &[Complex<U>],
        dst: &mut [Complex<U>],
        planes: usize,
        rows: usize,
        cols: usize,
    ) {
        if rows == 1 || cols == 1 {
            dst.copy_from_slice(src);
            return;
        }
        let plane = rows * cols;
        debug_assert_eq!(src.len(), planes * plane);
        // Bands of `BAND` output rows (input columns): each input row's segment is read
        // contiguously and scattered into the band, which stays in cache.
        const BAND: usize = 16;
        let chunk = BAND * rows;
        let band = |(b, out): (usize, &mut [Complex<U>])| {
            let first = b * BAND; // global output row: plane `first / cols`, column `first % cols`
            let count = out.len() / rows;
            let mut done = 0;
            while done < count {
                let (p, c0) = ((first + done) / cols, (first + done) % cols);
                let width = (cols - c0).min(count - done);
                let src = &src[p * plane..][..plane];
                for r in 0..rows {
                    let line = &src[r * cols + c0..][..width];
                    for (j, &v) in line.iter().enumerate() {
                        out[(done + j) * rows + r] = v;
                    }
                }
                done += width;
            }
        };
        if self.serial() {
            dst.chunks_mut(chunk).enumerate().for_each(band);
        } else {
            dst.par_chunks_mut(chunk).enumerate().for_each(band);
        }
    }
}

/// For each group of pairs, `Σ_p` the circular correlation of `a_p` with `k_p` (shapes `d.p`
/// and `d.m`), computed in `U`, cut to the `valid` outputs: shape `d.out()`, in `T`. One
/// inverse transform per group; four spectrum-sized buffers for the whole call.
pub(crate) fn correlate<T: Real, U: Real>(groups: &[&[(&[T], &[T])]], d: Dims) -> Vec<Vec<T>> {
    let lens = crate::cost::nd_fft_lens(&d.p);
    let nd = NdFft {
        f: [lens[0], lens[1], lens[2]],
    };
    let zero = Complex::new(U::zero(), U::zero());
    let new = || vec![zero; nd.len()];
    let (mut acc, mut xs, mut ks, mut t) = (new(), new(), new(), new());
    let scale = U::one() / to::<f64, U>(lens.iter().product::<usize>() as f64);
    groups
        .iter()
        .map(|pairs| {
            acc.fill(zero);
            for (a, k) in pairs.iter() {
                nd.forward(a, d.p, &mut xs, &mut t);
                nd.forward(k, d.m, &mut ks, &mut t);
                // Correlation: A · conj(K).
                let prod = |(s, (x, y)): (&mut Complex<U>, (&Complex<U>, &Complex<U>))| {
                    *s = *s + x * y.conj()
                };
                if nd.serial() {
                    acc.iter_mut().zip(xs.iter().zip(&ks)).for_each(prod);
                } else {
                    acc.par_iter_mut()
                        .zip(xs.par_iter().zip(&ks))
                        .for_each(prod);
                }
            }
            nd.inverse_valid(&mut acc, &mut t, d, scale)
        })
        .collect()
}
