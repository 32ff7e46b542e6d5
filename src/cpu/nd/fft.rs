//! The N-D FFT engine: circular correlations of one transform shape `f`, by `realfft` along
//! the last axis and `rustfft` along the others, used tile by tile (`super::tiles`).
//!
//! A spectrum `[f0][f1][h]` (`h = f2 / 2 + 1`) stays in that layout: the real transforms run
//! on its rows, and the other axes' transforms on strips of columns, each copied into a small
//! contiguous buffer, transformed and copied back in place. The strips replace whole-array
//! transposes, which `perf` showed as a fifth of a 3-D call (strided reads over many pages).
//! Transforms skip what they know: rows and planes past the input are zero, and the inverse
//! transforms back only the planes and rows that hold outputs.

use std::sync::Arc;

use rayon::prelude::*;
use realfft::num_complex::Complex;
use realfft::{ComplexToReal, RealToComplex};
use rustfft::{Fft, FftDirection};

use crate::buffers::Kept;
use crate::cpu::Real;
use crate::cpu::real::to;
use crate::fft_plans::{complex_plan, plans};

/// A spectrum-sized buffer, kept for the next call when dropped (fresh pages for each tile's
/// buffers were a fifth of a 256x256 call's profile).
pub(super) type Buf<U> = Kept<Complex<U>>;

/// Bytes of one strip of columns: a few hundred KiB stay in a core's L2 cache.
const STRIP_BYTES: usize = 128 << 10;

/// A pointer to a buffer whose disjoint parts tasks write in parallel.
#[derive(Clone, Copy)]
pub(super) struct Shared<V>(*mut V);

// SAFETY: every user writes through the pointer only to parts no other task reads or writes,
// while the buffer it points to outlives the tasks.
unsafe impl<V: Send> Send for Shared<V> {}
unsafe impl<V: Send> Sync for Shared<V> {}

impl<V> Shared<V> {
    pub(super) fn new(v: &mut [V]) -> Self {
        Shared(v.as_mut_ptr())
    }

    /// The pointer to element `i`.
    ///
    /// # Safety
    /// `i` is within the buffer, and no other task touches element `i` meanwhile.
    pub(super) unsafe fn at(self, i: usize) -> *mut V {
        // SAFETY: the caller keeps `i` within the buffer.
        unsafe { self.0.add(i) }
    }
}

/// What a transform reads of its input.
#[derive(Clone, Copy, Debug)]
pub(super) enum Values {
    /// The values themselves.
    Plain,
    /// Their magnitudes times a scale (the reciprocal of the largest, so that f32 holds them).
    Abs(f64),
}

/// The transforms of one shape `f` (outermost axis first).
pub(super) struct NdFft<U: Real> {
    f: [usize; 3],
    /// Whether one transform's rows and strips run on rayon's workers (a tile alone), or on
    /// the calling thread (tiles in parallel).
    parallel: bool,
    r2c: Arc<dyn RealToComplex<U>>,
    c2r: Arc<dyn ComplexToReal<U>>,
    /// The complex transforms along axes 0 and 1, forward then inverse.
    axes: [[Arc<dyn Fft<U>>; 2]; 2],
}

impl<U: Real> NdFft<U> {
    pub(super) fn new(f: [usize; 3], parallel: bool) -> Self {
        let (r2c, c2r) = plans::<U>(f[2]);
        let axis = |len: usize| {
            [FftDirection::Forward, FftDirection::Inverse].map(|dir| complex_plan::<U>(len, dir))
        };
        NdFft {
            f,
            parallel,
            r2c,
            c2r,
            axes: [axis(f[0]), axis(f[1])],
        }
    }

    /// Complex values per row of the last axis's transform.
    fn h(&self) -> usize {
        self.f[2] / 2 + 1
    }

    /// Complex values in a spectrum.
    pub(super) fn len(&self) -> usize {
        self.h() * self.f[0] * self.f[1]
    }

    /// Real points of a transform.
    pub(super) fn points(&self) -> usize {
        self.f.iter().product()
    }

    /// The spectrum of `values` of `x` (shape `shape`, each axis at most `f`'s), zero-padded
    /// to `f`, into `out` (`len()` values).
    pub(super) fn forward<T: Real>(
        &self,
        x: &[T],
        shape: [usize; 3],
        values: Values,
        out: &mut [Complex<U>],
    ) {
        let [_, f1, f2] = self.f;
        let h = self.h();
        let zero = Complex::new(U::zero(), U::zero());
        let r2c = &self.r2c;
        let row = |(r, spec): (usize, &mut [Complex<U>]),
                   (buf, scratch): &mut (Kept<U>, Buf<U>)| {
            let (i0, i1) = (r / f1, r % f1);
            if i0 >= shape[0] || i1 >= shape[1] {
                spec.fill(zero);
                return;
            }
            let src = &x[(i0 * shape[1] + i1) * shape[2]..][..shape[2]];
            let (head, tail) = buf.split_at_mut(shape[2]);
            match values {
                Values::Plain => head.iter_mut().zip(src).for_each(|(b, &v)| *b = to(v)),
                Values::Abs(scale) => head
                    .iter_mut()
                    .zip(src)
                    .for_each(|(b, &v)| *b = to(to::<T, f64>(v.abs()) * scale)),
            }
            tail.fill(U::zero());
            r2c.process_with_scratch(buf, spec, scratch)
                .expect("buffers of the planned lengths");
        };
        let init = || {
            let scratch = Kept::reuse(r2c.get_scratch_len(), zero);
            (Kept::reuse(f2, U::zero()), scratch)
        };
        if self.parallel {
            out.par_chunks_mut(h)
                .enumerate()
                .for_each_init(init, |s, r| row(r, s));
        } else {
            let mut s = init();
            out.chunks_mut(h).enumerate().for_each(|r| row(r, &mut s));
        }
        // Axis 1 on the planes that hold input (the others are zero), then axis 0.
        let plane = f1 * h;
        self.columns(&mut out[..shape[0] * plane], f1, h, &self.axes[1][0]);
        self.columns(out, self.f[0], plane, &self.axes[0][0]);
    }

    /// The outputs `[0, l)` of the real array whose spectrum is `spec`, times `scale`, in
    /// `T`, into `out` (shape `l`); `spec` is scratch.
    pub(super) fn inverse<T: Real>(
        &self,
        spec: &mut [Complex<U>],
        l: [usize; 3],
        scale: U,
        out: &mut [T],
    ) {
        let [_, f1, f2] = self.f;
        let h = self.h();
        let plane = f1 * h;
        self.columns(spec, self.f[0], plane, &self.axes[0][1]);
        self.columns(&mut spec[..l[0] * plane], f1, h, &self.axes[1][1]);
        let spec = &*spec;
        let c2r = &self.c2r;
        let zero = Complex::new(U::zero(), U::zero());
        let row = |(r, y): (usize, &mut [T]),
                   (buf, line, scratch): &mut (Kept<U>, Buf<U>, Buf<U>)| {
            let (i0, i1) = (r / l[1], r % l[1]);
            line.copy_from_slice(&spec[(i0 * f1 + i1) * h..][..h]);
            // A real array's spectrum: the imaginary parts of DC and Nyquist are zero.
            line[0].im = U::zero();
            if f2.is_multiple_of(2) {
                line[h - 1].im = U::zero();
            }
            c2r.process_with_scratch(line, buf, scratch)
                .expect("buffers of the planned lengths");
            for (o, &v) in y.iter_mut().zip(buf.iter()) {
                *o = to::<U, T>(v * scale);
            }
        };
        let init = || {
            let scratch = Kept::reuse(c2r.get_scratch_len(), zero);
            (Kept::reuse(f2, U::zero()), Kept::reuse(h, zero), scratch)
        };
        if self.parallel {
            out.par_chunks_mut(l[2])
                .enumerate()
                .for_each_init(init, |s, r| row(r, s));
        } else {
            let mut s = init();
            out.chunks_mut(l[2])
                .enumerate()
                .for_each(|r| row(r, &mut s));
        }
    }

    /// `fft` (of `rows` points) along the middle axis of `data`, `[planes][rows][cols]`, for
    /// every plane and column: strips of columns copied into a contiguous buffer, transformed,
    /// and copied back.
    fn columns(&self, data: &mut [Complex<U>], rows: usize, cols: usize, fft: &Arc<dyn Fft<U>>) {
        if rows == 1 || data.is_empty() {
            return;
        }
        let planes = data.len() / (rows * cols);
        let size = core::mem::size_of::<Complex<U>>();
        let width = (STRIP_BYTES / (rows * size)).clamp(4, 64).min(cols);
        let strips = cols.div_ceil(width);
        let zero = Complex::new(U::zero(), U::zero());
        let data = Shared::new(data);
        let strip = |s: usize, (buf, scratch): &mut (Buf<U>, Buf<U>)| {
            let (p, c0) = (s / strips, (s % strips) * width);
            let w = width.min(cols - c0);
            let base = p * rows * cols + c0;
            let buf = &mut buf[..w * rows];
            // SAFETY: strip `s` alone reads and writes columns `c0 .. c0 + w` of plane `p`,
            // which lie within `data`; one row's part at a time is borrowed.
            let row =
                |r: usize| unsafe { std::slice::from_raw_parts_mut(data.at(base + r * cols), w) };
            // Eight rows at a time, column by column: each column's eight values are one
            // cache line of `buf`, read from eight lines that stay in L1.
            for r0 in (0..rows).step_by(8) {
                if r0 + 8 <= rows {
                    let lines: [&[Complex<U>]; 8] = core::array::from_fn(|q| &*row(r0 + q));
                    for (j, dst) in buf.chunks_exact_mut(rows).enumerate() {
                        for (d, line) in dst[r0..r0 + 8].iter_mut().zip(&lines) {
                            *d = line[j];
                        }
                    }
                } else {
                    for r in r0..rows {
                        for (j, &v) in row(r).iter().enumerate() {
                            buf[j * rows + r] = v;
                        }
                    }
                }
            }
            fft.process_with_scratch(buf, scratch);
            for r0 in (0..rows).step_by(8) {
                if r0 + 8 <= rows {
                    let mut lines: [&mut [Complex<U>]; 8] = core::array::from_fn(|q| row(r0 + q));
                    for (j, src) in buf.chunks_exact(rows).enumerate() {
                        for (line, &v) in lines.iter_mut().zip(&src[r0..r0 + 8]) {
                            line[j] = v;
                        }
                    }
                } else {
                    for r in r0..rows {
                        for (j, v) in row(r).iter_mut().enumerate() {
                            *v = buf[j * rows + r];
                        }
                    }
                }
            }
        };
        let init = || {
            (
                Kept::reuse(width * rows, zero),
                Kept::reuse(fft.get_inplace_scratch_len(), zero),
            )
        };
        if self.parallel {
            (0..planes * strips)
                .into_par_iter()
                .for_each_init(init, |b, s| strip(s, b));
        } else {
            let mut b = init();
            (0..planes * strips).for_each(|s| strip(s, &mut b));
        }
    }
}

/// A kernel's spectrum at one transform shape, in `U`: of its values, or (`Method::Auto`'s
/// guard) of its magnitudes.
pub(super) struct KernelSpectrum<U: Real> {
    nd: NdFft<U>,
    /// Allocated afresh for each call, then kept when dropped like the tiles' buffers (in the
    /// calling thread's pool, where later calls' smaller buffers of the type reuse it). Both
    /// alternatives measured worse on a 1024² image with a 31² kernel (f32 `Auto`, 100 calls):
    /// taken from the pool, or freed at once, the call's output and its input's copy were
    /// faulted in afresh on each call (about 2,000 page faults a call against 70; 14.1-14.5 ms
    /// against 11.8-11.9 ms): glibc hands them the heap memory the call frees.
    k: Buf<U>,
}

impl<U: Real> KernelSpectrum<U> {
    /// The spectrum of `values` of `k` (shape `m`) at `f`.
    pub(super) fn new<T: Real>(
        k: &[T],
        m: [usize; 3],
        f: [usize; 3],
        parallel: bool,
        values: Values,
    ) -> Self {
        let nd = NdFft::new(f, parallel);
        let mut s = Kept::from(vec![Complex::new(U::zero(), U::zero()); nd.len()]);
        nd.forward(k, m, values, &mut s);
        KernelSpectrum { nd, k: s }
    }

    /// The `valid` correlation of `values` of `x` (shape `d.p`) with the kernel, `d.out()`
    /// values into `out`; `spec` is scratch (resized to a spectrum).
    pub(super) fn correlate<T: Real, V: Real>(
        &self,
        x: &[T],
        d: super::Dims,
        values: Values,
        spec: &mut Buf<U>,
        out: &mut [V],
    ) {
        let zero = Complex::new(U::zero(), U::zero());
        spec.grow(self.nd.len(), zero);
        self.nd.forward(x, d.p, values, spec);
        // Correlation: X · conj(K).
        let prod = |(s, k): (&mut Complex<U>, &Complex<U>)| *s = *s * k.conj();
        if self.nd.parallel {
            spec.par_iter_mut().zip(self.k.par_iter()).for_each(prod);
        } else {
            spec.iter_mut().zip(self.k.iter()).for_each(prod);
        }
        let scale = U::one() / to::<f64, U>(self.nd.points() as f64);
        self.nd.inverse(spec, d.out(), scale, out);
    }
}
