//! A streaming causal FIR filter on the host, the engine behind
//! [`Convolve1dStream`](crate::Convolve1dStream) on flex and ndarray.
//!
//! Every sample `a[e]` that comes in gives the output `y[e] = Σ_j h[j] · a[e - j]` at once
//! (`h` the true-convolution kernel, `M` taps), computed one of two ways:
//!
//! - **direct**: the CPU direct kernel over the last `M - 1` samples and the new ones;
//! - **partitioned**: uniformly partitioned overlap-save (UPOLS), as real-time convolution
//!   engines do. The kernel is cut into `P = ⌈M / B⌉` partitions of `B` taps, each transformed
//!   once (FFT size `2B`). When input block `q` is complete, its segment spectrum `S_q` joins a
//!   frequency-domain delay line, and block `q`'s outputs are `IFFT(Σ_p S_{q-p} · H_p)`; the
//!   sum over `p >= 1` (`A_{q+1}`) is made as soon as block `q` completes, so that outputs of
//!   a block that is still filling (a chunk shorter than `B`) are `IFFT(A_q)` plus the first
//!   partition's `B` taps, summed directly over the samples that have arrived.
//!
//! The partitioned path keeps the direct sum's properties: outputs whose window holds a NaN or
//! an infinity, or that overflow, are computed directly (NumPy's sum, exactly); with the
//! accuracy guard (`Method::Auto`), a block runs directly whenever the magnitudes in its window
//! range wider than the FFT's error allows (the rule of the offline FFT, `FFT_DYNAMIC_RANGE`).

use std::ops::Range;
use std::sync::Arc;

use realfft::num_complex::Complex;
use realfft::{ComplexToReal, RealToComplex};

use super::conv::conv;
use super::real::Real;
use super::simd::correlate_into;
use crate::geometry::Geometry;
use crate::guard::FFT_DYNAMIC_RANGE;
use crate::nonfinite::host::all_finite;
use crate::plan::{HostKernel, StreamKernel};

/// Magnitudes of one input block, for the accuracy guard.
#[derive(Clone, Copy, Debug)]
struct BlockStats {
    max: f64,
    /// The smallest mean magnitude over the block's chunks (of `Partitioned::chunk` samples);
    /// `+inf` for a block that is neutral (all of it the zero fill before the signal, which
    /// adds no FFT error).
    mean: f64,
    finite: bool,
}

const NEUTRAL: BlockStats = BlockStats {
    max: 0.0,
    mean: f64::INFINITY,
    finite: true,
};

/// The streaming filter: `batch` samples of `cin` input channels, `[cout, cin / groups, m]`
/// kernels.
pub(crate) struct HostFir<T: Real> {
    batch: usize,
    cin: usize,
    cout: usize,
    groups: usize,
    m: usize,
    /// `[cout, cpg, m]`: the true-convolution kernels `h`.
    h: Vec<T>,
    /// Per input row (`batch · cin`): the samples at positions `pos - hist.len() .. pos`.
    hist: Vec<Vec<T>>,
    /// Samples kept in `hist` after a trim.
    keep: usize,
    /// Position of the next sample.
    pos: usize,
    /// Positions before this are absent (NumPy's sum has no term for them); the zero fill of
    /// the zero boundary. They matter only where a kernel tap is NaN or infinite.
    absent_before: usize,
    /// Positions from this on are absent (set by [`HostFir::mark_end`]).
    absent_from: usize,
    part: Option<Partitioned<T>>,
}

struct Partitioned<T: Real> {
    b: usize,
    p: usize,
    bins: usize,
    guarded: bool,
    r2c: Arc<dyn RealToComplex<T>>,
    c2r: Arc<dyn ComplexToReal<T>>,
    /// `[cout, cpg, p]` spectra of the kernel partitions, scaled by `1 / 2B`, each as `bins`
    /// real parts then `bins` imaginary parts (so that the products vectorize).
    hspec: Vec<T>,
    /// `[cout, cpg, min(b, m)]`: the first partition reversed, for the sliding dot product.
    head: Vec<T>,
    /// Per input row: a ring of `p` segment spectra (`[p, 2 · bins]`, split as `hspec`), slot
    /// `q mod p`.
    fdl: Vec<Vec<T>>,
    /// Per input row: a ring of `p + 1` block stats, slot `q mod (p + 1)`.
    stats: Vec<Vec<BlockStats>>,
    /// Per output row: `A_q`, the spectrum of every partition but the first for the block
    /// being filled (split as `hspec`).
    acc: Vec<Vec<T>>,

    /// Per output row: `IFFT(A_q)`'s outputs for the block being filled, when `tail_valid`.
    tail: Vec<Vec<T>>,
    tail_valid: bool,
    /// `max |h| / mean |h|` over the kernels (the guard's kernel range) and `max |h|`.
    kernel_range: f64,
    max_h: f64,
    kernel_finite: bool,
    /// Positions below this are the zero fill before the signal.
    neutral_until: usize,
    /// The guard's chunk: the largest power of two up to `m / 2` and `b`, so that every window
    /// of `m` samples holds a whole chunk (the offline guard's rule, `cpu::fft::range`).
    chunk: usize,
    spec: Vec<Complex<T>>,
    buf: Vec<T>,
    scratch_f: Vec<Complex<T>>,
    scratch_i: Vec<Complex<T>>,
}

fn f64_of<T: Real>(v: T) -> f64 {
    <T as realfft::num_traits::ToPrimitive>::to_f64(&v).unwrap_or(f64::NAN)
}

fn of_f64<T: Real>(v: f64) -> T {
    T::from(v).expect("f64 converts to every float type")
}

impl<T: Real> HostFir<T> {
    /// A filter with `h` (`[cout, cin / groups, m]`, true-convolution orientation), before any
    /// sample: the signal is taken to be zero before position 0. `zero_fill` is how many of the
    /// first samples the caller will push as the zero boundary: absent from NumPy's sums, and
    /// neutral for the guard.
    pub fn new(
        batch: usize,
        cin: usize,
        groups: usize,
        h: Vec<T>,
        h_shape: [usize; 3],
        kernel: StreamKernel,
        zero_fill: usize,
    ) -> Self {
        let [cout, cpg, m] = h_shape;
        assert_eq!(h.len(), cout * cpg * m, "kernel buffer");
        assert_eq!(cin, cpg * groups, "channels");
        let block = match kernel {
            StreamKernel::Direct => 0,
            StreamKernel::Partitioned { block, .. } => block,
        };
        let keep = (m - 1 + block).max(2 * block).max(1);
        let part = match kernel {
            StreamKernel::Direct => None,
            StreamKernel::Partitioned { block, guarded } => Some(Partitioned::new(
                &h,
                h_shape,
                batch * cin,
                batch * cout,
                block,
                guarded,
                zero_fill,
            )),
        };
        HostFir {
            batch,
            cin,
            cout,
            groups,
            m,
            h,
            hist: vec![vec![T::zero(); keep]; batch * cin],
            keep,
            pos: 0,
            absent_before: zero_fill,
            absent_from: usize::MAX,
            part,
        }
    }

    /// The samples pushed from now on are the zero boundary after the signal: absent from
    /// NumPy's sums.
    pub fn mark_end(&mut self) {
        self.absent_from = self.pos;
    }

    fn cpg(&self) -> usize {
        self.cin / self.groups
    }

    fn opg(&self) -> usize {
        self.cout / self.groups
    }

    /// Pushes `n` samples per input row (`x`: `[batch, cin, n]`) and returns the outputs at
    /// their positions, `[batch, cout, n]`.
    pub fn ingest(&mut self, x: &[T], n: usize) -> Vec<T> {
        assert_eq!(x.len(), self.batch * self.cin * n, "chunk buffer");
        let mut out = vec![T::zero(); self.batch * self.cout * n];
        if n == 0 {
            return out;
        }
        if self.part.is_none() {
            self.append(x, n, 0, n);
            self.direct(self.pos - n, n, &mut out, n, 0);
        } else {
            let b = self.part.as_ref().map_or(1, |p| p.b);
            let mut c = 0;
            while c < n {
                let fill = self.pos % b;
                let take = (n - c).min(b - fill);
                self.append(x, n, c, take);
                if fill + take == b {
                    self.complete_block(fill, &mut out, n, c);
                } else {
                    self.partial(fill, take, &mut out, n, c);
                }
                c += take;
            }
        }
        self.trim();
        out
    }

    /// Appends columns `c .. c + take` of `x` (`[rows, n]`) to the history.
    fn append(&mut self, x: &[T], n: usize, c: usize, take: usize) {
        for (row, hist) in self.hist.iter_mut().enumerate() {
            hist.extend_from_slice(&x[row * n + c..][..take]);
        }
        self.pos += take;
    }

    fn trim(&mut self) {
        for hist in &mut self.hist {
            if hist.len() > 4 * self.keep {
                hist.drain(..hist.len() - self.keep);
            }
        }
    }

    /// The `len` samples of input row `row` ending `back` samples before the newest.
    fn recent(&self, row: usize, len: usize, back: usize) -> &[T] {
        let hist = &self.hist[row];
        &hist[hist.len() - back - len..hist.len() - back]
    }

    /// NumPy's direct sum for the `len` outputs at positions `first ..` (the newest being at
    /// `pos - 1`), of every unit, into columns `col ..` of `out` (`[batch, cout, n]`).
    fn direct(&self, first: usize, len: usize, out: &mut [T], n: usize, col: usize) {
        for unit in 0..self.batch * self.groups {
            self.direct_unit(unit, first, len, out, n, col);
        }
    }

    fn direct_unit(
        &self,
        unit: usize,
        first: usize,
        len: usize,
        out: &mut [T],
        n: usize,
        col: usize,
    ) {
        let (b, g) = (unit / self.groups, unit % self.groups);
        let (cpg, opg, m) = (self.cpg(), self.opg(), self.m);
        let end = first + len;
        if first < self.absent_before {
            // Outputs before the signal: no term of NumPy's sum (discarded by the stream).
            let before = (self.absent_before - first).min(len);
            for o in 0..opg {
                let row = (unit / self.groups) * self.cout + (unit % self.groups) * opg + o;
                out[row * n + col..][..before].fill(T::zero());
            }
            if before < len {
                self.direct_unit(unit, first + before, len - before, out, n, col + before);
            }
            return;
        }
        // The window `end - span .. end`, without its absent samples (zero padding instead).
        let span = len + m - 1;
        let start = end as isize - span as isize;
        let left = (self.absent_before as isize - start).clamp(0, m as isize - 1) as usize;
        let right = end.saturating_sub(self.absent_from).min(m - 1);
        if left + right >= span {
            return; // every term absent: a discarded output of the fill
        }
        let back = self.pos - end + right;
        let kept = span - left - right;
        let mut xs = Vec::with_capacity(cpg * kept);
        for i in 0..cpg {
            xs.extend_from_slice(self.recent(b * self.cin + g * cpg + i, kept, back));
        }
        let h = &self.h[g * opg * cpg * m..][..opg * cpg * m];
        let geometry = Geometry::padded([1, cpg, kept], [opg, cpg, m], 1, (left, right), true);
        let y = conv(&xs, h, &geometry, HostKernel::Direct, false);
        for o in 0..opg {
            let row = b * self.cout + g * opg + o;
            out[row * n + col..][..len].copy_from_slice(&y[o * len..][..len]);
        }
    }

    /// Block `q` (ending at `pos`) is complete; `fill` of its outputs were given before.
    fn complete_block(&mut self, fill: usize, out: &mut [T], n: usize, col: usize) {
        let mut part = self.part.take().expect("partitioned");
        let b = part.b;
        let q = self.pos / b - 1;
        for row in 0..self.batch * self.cin {
            let seg = self.recent(row, 2 * b, 0);
            part.add_segment(row, q, seg, q * b + b <= part.neutral_until);
        }
        let len = b - fill;
        let edge = part.guarded && self.near_edge(q * b + fill, q * b + b, part.chunk);
        // The piece's first column, `col`, is the block's output `fill`.
        for unit in 0..self.batch * self.groups {
            let rows = self.unit_rows(unit);
            let exact = !edge && part.usable(rows, q, true);
            let done = exact && part.block_outputs(self, unit, fill, out, n, col);
            if !done {
                self.direct_unit(unit, q * b + fill, len, out, n, col);
            }
        }
        part.next_accumulators(self, q);
        self.part = Some(part);
    }

    /// Outputs `fill .. fill + take` of the block being filled.
    fn partial(&mut self, fill: usize, take: usize, out: &mut [T], n: usize, col: usize) {
        let mut part = self.part.take().expect("partitioned");
        let q = self.pos / part.b;
        let edge = part.guarded && self.near_edge(self.pos - take, self.pos, part.chunk);
        for unit in 0..self.batch * self.groups {
            let rows = self.unit_rows(unit);
            let current_finite = rows
                .clone()
                .all(|r| all_finite(self.recent(r, fill + take, 0)));
            let exact = !edge && current_finite && part.usable(rows, q, false);
            let done = exact && part.partial_outputs(self, unit, take, out, n, col);
            if !done {
                self.direct_unit(unit, self.pos - take, take, out, n, col);
            }
        }
        self.part = Some(part);
    }

    /// Whether an output at positions `lo .. hi` has a window that the signal fills less than
    /// two guard chunks of (the first and the last outputs, whose windows reach past the
    /// signal): the guard's rule (every window holds a whole chunk) does not cover them, so
    /// the guarded path sums them directly.
    fn near_edge(&self, lo: usize, hi: usize, chunk: usize) -> bool {
        let start = lo < self.absent_before + 2 * chunk;
        let end = self.absent_from != usize::MAX && hi + 2 * chunk > self.absent_from + self.m - 1;
        start || end
    }

    /// The input rows of `unit`.
    fn unit_rows(&self, unit: usize) -> Range<usize> {
        let (b, g) = (unit / self.groups, unit % self.groups);
        let first = b * self.cin + g * self.cpg();
        first..first + self.cpg()
    }
}

impl<T: Real> Partitioned<T> {
    fn new(
        h: &[T],
        [cout, cpg, m]: [usize; 3],
        rows_in: usize,
        rows_out: usize,
        b: usize,
        guarded: bool,
        neutral_until: usize,
    ) -> Self {
        let f = 2 * b;
        let bins = b + 1;
        let p = m.div_ceil(b);
        let (r2c, c2r) = crate::fft_plans::plans::<T>(f);
        let scale = T::one() / of_f64::<T>(f as f64);
        let mut buf = r2c.make_input_vec();
        let mut spec = r2c.make_output_vec();
        let mut scratch_f = r2c.make_scratch_vec();
        let mut hspec = Vec::with_capacity(cout * cpg * p * 2 * bins);
        let hb = b.min(m);
        let mut head = Vec::with_capacity(cout * cpg * hb);
        let (mut max_h, mut kernel_range, mut kernel_finite) = (0.0f64, 0.0f64, true);
        for k in h.chunks(m) {
            for part in 0..p {
                buf.fill(T::zero());
                let taps = &k[part * b..((part + 1) * b).min(m)];
                for (dst, &v) in buf.iter_mut().zip(taps) {
                    *dst = if v.is_finite() { v * scale } else { T::zero() };
                }
                r2c.process_with_scratch(&mut buf, &mut spec, &mut scratch_f)
                    .expect("forward FFT of a kernel partition");
                hspec.extend(spec.iter().map(|c| c.re));
                hspec.extend(spec.iter().map(|c| c.im));
            }
            head.extend(k[..hb].iter().rev());
            let (mut max, mut sum) = (0.0f64, 0.0f64);
            for &v in k {
                let a = f64_of(v).abs();
                kernel_finite &= a.is_finite();
                max = max.max(a);
                sum += a;
            }
            max_h = max_h.max(max);
            kernel_range = kernel_range.max(max / (sum / m as f64));
        }
        Partitioned {
            b,
            p,
            bins,
            guarded,
            hspec,
            head,
            fdl: vec![vec![T::zero(); p * 2 * bins]; rows_in],
            stats: vec![vec![NEUTRAL; p + 1]; rows_in],
            acc: vec![vec![T::zero(); 2 * bins]; rows_out],

            tail: vec![vec![T::zero(); b]; rows_out],
            tail_valid: false,
            kernel_range,
            max_h,
            kernel_finite,
            neutral_until,
            chunk: {
                let half = (m / 2).max(1);
                (1usize << (usize::BITS - 1 - half.leading_zeros())).min(b)
            },
            scratch_i: c2r.make_scratch_vec(),
            spec,
            buf,
            scratch_f,
            r2c,
            c2r,
        }
    }

    /// Transforms the segment (blocks `q - 1` and `q`, `2B` samples) of input row `row` into
    /// the delay line, NaN and infinities set to zero (the outputs they reach run directly),
    /// and records block `q`'s magnitudes.
    fn add_segment(&mut self, row: usize, q: usize, seg: &[T], neutral: bool) {
        let b = self.b;
        // max |v| and Σ |v| of block q, in 16 lanes (one pass, vectorized); NaN and ±inf
        // make the sum NaN or inf (so does a sum near overflow: the block runs directly).
        const L: usize = 16;
        let (mut maxs, mut sums) = ([T::zero(); L], [T::zero(); L]);
        let lanes = seg[b..].chunks_exact(L);
        let rest = lanes.remainder();
        for c in lanes {
            for q in 0..L {
                let a = c[q].abs();
                sums[q] = sums[q] + a;
                maxs[q] = if a > maxs[q] { a } else { maxs[q] };
            }
        }
        let mut sum = sums.iter().chain(rest).fold(T::zero(), |s, &v| s + v.abs());
        let max = maxs
            .iter()
            .chain(rest)
            .fold(T::zero(), |m, &v| m.max(v.abs()));
        let finite = sum.is_finite();
        if finite {
            self.buf[..2 * b].copy_from_slice(&seg[..2 * b]);
        } else {
            for (dst, &v) in self.buf.iter_mut().zip(seg) {
                *dst = if v.is_finite() { v } else { T::zero() };
            }
            sum = T::infinity();
        }
        let (max, sum) = (f64_of(max), f64_of(sum));
        self.stats[row][q % (self.p + 1)] = if neutral {
            NEUTRAL
        } else {
            BlockStats {
                max,
                mean: if self.chunk == b {
                    sum / b as f64
                } else {
                    seg[b..]
                        .chunks_exact(self.chunk)
                        .map(|c| c.iter().fold(T::zero(), |s, v| s + v.abs()))
                        .fold(f64::INFINITY, |m, s| m.min(f64_of(s)))
                        / self.chunk as f64
                },
                finite,
            }
        };
        self.r2c
            .process_with_scratch(&mut self.buf, &mut self.spec, &mut self.scratch_f)
            .expect("forward FFT of a segment");
        let bins = self.bins;
        let slot = &mut self.fdl[row][(q % self.p) * 2 * bins..][..2 * bins];
        let (re, im) = slot.split_at_mut(bins);
        for ((r, i), c) in re.iter_mut().zip(im.iter_mut()).zip(&self.spec) {
            *r = c.re;
            *i = c.im;
        }
    }

    /// Whether the FFT may give the outputs of block `q` (with `current`: the block just
    /// completed is part of the window; without: only blocks before `q`, the block being
    /// filled being summed directly) for the unit with input rows `rows`: no NaN or infinity
    /// in the window, a finite kernel, and, guarded, magnitudes within the FFT's range.
    fn usable(&self, rows: Range<usize>, q: usize, current: bool) -> bool {
        if !self.kernel_finite {
            return false;
        }
        let end = if current { q + 1 } else { q };
        let (mut max_x, mut min_mean) = (0.0f64, f64::INFINITY);
        for k in q.saturating_sub(self.p)..end {
            for r in rows.clone() {
                let s = self.stats[r][k % (self.p + 1)];
                if !s.finite {
                    return false;
                }
                max_x = max_x.max(s.max);
                min_mean = min_mean.min(s.mean);
            }
        }
        if !self.guarded || max_x == 0.0 {
            return true;
        }
        let q_range = max_x / min_mean * self.kernel_range;
        let peak = (2 * self.b * self.p * self.b) as f64 * max_x * self.max_h * rows.len() as f64;
        q_range.is_finite() && q_range <= FFT_DYNAMIC_RANGE && peak < f64_of(T::max_value()) / 4.0
    }

    /// `Σ_i Σ_{p in parts} S_{q-p, i} · H_{p, o, i}` for output channel `o` (of the whole
    /// layer) of the unit with input rows `rows`, added into `spec`.
    fn accumulate(
        &self,
        sum: &mut [T],
        o: usize,
        rows: Range<usize>,
        q: usize,
        parts: std::ops::Range<usize>,
    ) {
        let (p, w) = (self.p, 2 * self.bins);
        let mut terms: Vec<(&[T], &[T])> = Vec::with_capacity(rows.len() * parts.len());
        for (i, r) in rows.clone().enumerate() {
            // Blocks before the first are zero.
            for part in parts.start..parts.end.min(q + 1) {
                let s = &self.fdl[r][((q - part) % p) * w..][..w];
                let hk = &self.hspec[((o * rows.len() + i) * p + part) * w..][..w];
                terms.push((s, hk));
            }
        }
        complex_mac(sum, &terms);
    }

    /// The split spectrum `sum` into `spec` for the inverse transform.
    fn join(&mut self, sum: &[T]) {
        let (re, im) = sum.split_at(self.bins);
        for ((c, &r), &i) in self.spec.iter_mut().zip(re).zip(im) {
            *c = Complex::new(r, i);
        }
    }

    /// The inverse transform of `spec`'s outputs `from ..` of the block into `dst`; whether
    /// they are all finite.
    fn inverse(&mut self, from: usize, dst: &mut [T]) -> bool {
        let b = self.b;
        // Real signals: the DC and Nyquist bins are real (an overflowed product may have made
        // them NaN; the outputs then are not finite and run directly).
        self.spec[0].im = T::zero();
        self.spec[self.bins - 1].im = T::zero();
        self.c2r
            .process_with_scratch(&mut self.spec, &mut self.buf, &mut self.scratch_i)
            .expect("inverse FFT of a block");
        dst.copy_from_slice(&self.buf[b + from..b + from + dst.len()]);
        all_finite(dst)
    }

    /// Block `q`'s outputs `fill ..` for `unit`, by the FFT; `false` (nothing usable written)
    /// when one overflows.
    fn block_outputs(
        &mut self,
        fir: &HostFir<T>,
        unit: usize,
        fill: usize,
        out: &mut [T],
        n: usize,
        col: usize,
    ) -> bool {
        let (b, g) = (unit / fir.groups, unit % fir.groups);
        let rows = fir.unit_rows(unit);
        let q = fir.pos / self.b - 1;
        let len = self.b - fill;
        for o in 0..fir.opg() {
            let oc = g * fir.opg() + o;
            let row = b * fir.cout + oc;
            // A_q is not needed after this block: the first partition's term joins it in place.
            let mut sum = std::mem::take(&mut self.acc[row]);
            self.accumulate(&mut sum, oc, rows.clone(), q, 0..1);
            self.join(&sum);
            self.acc[row] = sum;
            if !self.inverse(fill, &mut out[row * n + col..][..len]) {
                return false;
            }
        }
        true
    }

    /// The next block's `A_{q+1}` for every output row, once block `q` is complete.
    fn next_accumulators(&mut self, fir: &HostFir<T>, q: usize) {
        for unit in 0..fir.batch * fir.groups {
            let (b, g) = (unit / fir.groups, unit % fir.groups);
            let rows = fir.unit_rows(unit);
            for o in 0..fir.opg() {
                let oc = g * fir.opg() + o;
                let mut acc = std::mem::take(&mut self.acc[b * fir.cout + oc]);
                acc.fill(T::zero());
                self.accumulate(&mut acc, oc, rows.clone(), q + 1, 1..self.p);
                self.acc[b * fir.cout + oc] = acc;
            }
        }
        self.tail_valid = false;
    }

    /// Outputs `fill .. fill + take` of the block being filled for `unit`: `IFFT(A_q)` plus
    /// the first partition summed directly; `false` when one overflows.
    fn partial_outputs(
        &mut self,
        fir: &HostFir<T>,
        unit: usize,
        take: usize,
        out: &mut [T],
        n: usize,
        col: usize,
    ) -> bool {
        let (b, g) = (unit / fir.groups, unit % fir.groups);
        let fill = fir.pos % self.b - take;
        if !self.tail_valid {
            for row in 0..self.acc.len() {
                let acc = std::mem::take(&mut self.acc[row]);
                self.join(&acc);
                self.acc[row] = acc;
                let mut tail = std::mem::take(&mut self.tail[row]);
                self.inverse(0, &mut tail);
                self.tail[row] = tail;
            }
            self.tail_valid = true;
        }
        let rows = fir.unit_rows(unit);
        let hb = self.b.min(fir.m);
        for o in 0..fir.opg() {
            let oc = g * fir.opg() + o;
            let row = b * fir.cout + oc;
            let dst = &mut out[row * n + col..][..take];
            dst.copy_from_slice(&self.tail[row][fill..fill + take]);
            for (i, r) in rows.clone().enumerate() {
                let x = fir.recent(r, take + hb - 1, 0);
                let w = &self.head[(oc * rows.len() + i) * hb..][..hb];
                // Adds the first partition's sums to the tail's.
                correlate_into(x, w, dst);
            }
            if !all_finite(dst) {
                return false;
            }
        }
        true
    }
}

#[cfg(test)]
mod tests;

/// `sum += Σ x · h` over `terms` for split complex spectra (`bins` real parts, then `bins`
/// imaginary parts), with FMA where the CPU has it (chosen once, as the direct kernel's
/// instruction set).
fn complex_mac<T: Real>(sum: &mut [T], terms: &[(&[T], &[T])]) {
    #[cfg(target_arch = "x86_64")]
    if super::simd::Isa::detected() != super::simd::Isa::Portable {
        // SAFETY: every instruction set but `Portable` has AVX2 and FMA.
        return unsafe { complex_mac_fma(sum, terms) };
    }
    complex_mac_body::<T, false>(sum, terms)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn complex_mac_fma<T: Real>(sum: &mut [T], terms: &[(&[T], &[T])]) {
    complex_mac_body::<T, true>(sum, terms)
}

#[inline(always)]
fn complex_mac_body<T: Real, const FMA: bool>(sum: &mut [T], terms: &[(&[T], &[T])]) {
    let bins = sum.len() / 2;
    let (sr, si) = sum.split_at_mut(bins);
    let madd = |a: T, b: T, c: T| if FMA { a.mul_add(b, c) } else { a * b + c };
    for (x, h) in terms {
        let (xr, xi) = x[..2 * bins].split_at(bins);
        let (hr, hi) = h[..2 * bins].split_at(bins);
        for k in 0..bins {
            sr[k] = madd(xr[k], hr[k], madd(-xi[k], hi[k], sr[k]));
            si[k] = madd(xr[k], hi[k], madd(xi[k], hr[k], si[k]));
        }
    }
}
