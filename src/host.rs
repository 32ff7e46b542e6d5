//! The CPU kernels: direct and FFT (overlap-add on `realfft`) convolution on host `f32`
//! slices, multi-threaded with rayon. Used by the `flex` and `ndarray` backends.
//!
//! Semantics are those of Burn's `conv1d` with stride 1, zero padding `(left, right)` and
//! weight `wk` (= the weight reversed when `flip`): for output channel `o` of group `g`,
//! `y[b, o, j] = Σ_i Σ_k xpad[b, g·C + i, j + k] · wk[o, i, k]`, `j < n + left + right - m + 1`.

use std::sync::{Arc, Mutex, OnceLock};

use rayon::prelude::*;
use realfft::num_complex::Complex;
use realfft::{ComplexToReal, RealFftPlanner, RealToComplex};

/// Shapes and padding of one host convolution.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Dims {
    /// Samples.
    pub batch: usize,
    /// Input channels.
    pub cin: usize,
    /// Signal length.
    pub n: usize,
    /// Output channels.
    pub cout: usize,
    /// Kernel length.
    pub m: usize,
    /// Channel groups.
    pub groups: usize,
    /// Zeros before the signal.
    pub left: usize,
    /// Zeros after the signal.
    pub right: usize,
}

impl Dims {
    /// Output length.
    pub fn out_len(&self) -> usize {
        self.n + self.left + self.right + 1 - self.m
    }
    fn cpg(&self) -> usize {
        self.cin / self.groups
    }
    fn opg(&self) -> usize {
        self.cout / self.groups
    }
}

/// Which host algorithm.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum HostKernel {
    /// Sliding dot products: `O(L · M)` per channel pair.
    Direct,
    /// Overlap-add with real FFTs: `O(L · log F)` per channel pair and block size `F`.
    Fft,
}

/// `x`: `[batch, cin, n]`, `w`: `[cout, cin / groups, m]`, both contiguous; returns
/// `[batch, cout, out_len]`.
pub fn conv(x: &[f32], w: &[f32], d: &Dims, flip: bool, kernel: HostKernel) -> Vec<f32> {
    assert_eq!(x.len(), d.batch * d.cin * d.n, "input buffer of {d:?}");
    assert_eq!(w.len(), d.cout * d.cpg() * d.m, "weight buffer of {d:?}");
    assert!(
        d.left < d.m && d.right < d.m,
        "padding beyond the kernel: {d:?}"
    );
    // wk: the kernel as a sliding dot product uses it.
    let wk: Vec<f32> = if flip {
        w.chunks(d.m)
            .flat_map(|k| k.iter().rev().copied())
            .collect()
    } else {
        w.to_vec()
    };
    match kernel {
        HostKernel::Direct => direct(x, &wk, d),
        HostKernel::Fft => fft(x, &wk, d),
    }
}

/// Outputs per task of the direct kernel.
const TILE: usize = 2048;

/// Multiply-adds below which a kernel runs on the calling thread: waking rayon's workers costs
/// more (about 10 µs) than the work itself.
pub(crate) const SERIAL_MACS: usize = 3 << 20;

/// `len` zeros, written rather than left to `calloc`. A large `vec![0.0; len]` is fresh
/// memory mapped to the shared zero page: the first write to each page after a read then
/// copies it and flushes the TLBs of the other cores, which in a virtual machine made an
/// accumulate-into-zeros kernel several times slower than its arithmetic (perf: most of the
/// time in `do_wp_page` and inter-processor interrupts). Writing the zeros first avoids it.
#[cfg_attr(not(feature = "autodiff"), allow(dead_code))] // used by the backward pass
fn zeroed(len: usize) -> Vec<f32> {
    let mut v = Vec::with_capacity(len);
    v.resize(len, 0.0f32);
    v
}

/// The `len` values of `row` from signed position `start`, zeros outside it: a slice of `row`
/// when it lies inside, else a copy in `scratch`.
fn window<'a>(row: &'a [f32], start: isize, len: usize, scratch: &'a mut Vec<f32>) -> &'a [f32] {
    let n = row.len() as isize;
    if start >= 0 && start + len as isize <= n {
        return &row[start as usize..][..len];
    }
    scratch.clear();
    scratch.resize(len, 0.0);
    let lo = start.max(0);
    let hi = (start + len as isize).min(n);
    if lo < hi {
        scratch[(lo - start) as usize..(hi - start) as usize]
            .copy_from_slice(&row[lo as usize..hi as usize]);
    }
    scratch
}

fn direct(x: &[f32], wk: &[f32], d: &Dims) -> Vec<f32> {
    let (l, cpg, opg, m, n) = (d.out_len(), d.cpg(), d.opg(), d.m, d.n);
    let mut out = vec![0.0f32; d.batch * d.cout * l];
    let rows = d.batch * d.cout;
    // One tile of row `row` (outputs `j0..j0 + yt.len()`), over the row's input channels.
    let tile_task = |row: usize, j0: usize, yt: &mut [f32], scratch: &mut Vec<f32>| {
        // `out` comes from `calloc`: a write must touch its pages first (see `zeroed`).
        yt.fill(0.0);
        let (b, o) = (row / d.cout, row % d.cout);
        let g = o / opg;
        for i in 0..cpg {
            let xr = &x[(b * d.cin + g * cpg + i) * n..][..n];
            let kr = &wk[(o * cpg + i) * m..][..m];
            let xs = window(xr, j0 as isize - d.left as isize, yt.len() + m - 1, scratch);
            crate::simd::correlate_into(xs, kr, yt);
        }
    };
    let macs = rows * cpg * m * l;
    if macs < SERIAL_MACS {
        let mut scratch = Vec::new();
        for (row, y) in out.chunks_mut(l).enumerate() {
            for (t, yt) in y.chunks_mut(TILE).enumerate() {
                tile_task(row, t * TILE, yt, &mut scratch);
            }
        }
        return out;
    }
    let threads = rayon::current_num_threads().max(1);
    // Few long rows: split them so that every thread gets several tiles.
    let tile = if rows >= 2 * threads {
        TILE
    } else {
        (rows * l).div_ceil(4 * threads).clamp(1024, TILE)
    };
    out.par_chunks_mut(l).enumerate().for_each(|(row, y)| {
        y.par_chunks_mut(tile)
            .enumerate()
            .for_each_init(Vec::new, |scratch, (t, yt)| {
                tile_task(row, t * tile, yt, scratch)
            });
    });
    out
}

/// FFT points (transform length × transforms) below which the FFT path runs on the calling
/// thread.
pub(crate) const SERIAL_FFT_POINTS: usize = 1 << 17;

fn planner() -> &'static Mutex<RealFftPlanner<f32>> {
    static PLANNER: OnceLock<Mutex<RealFftPlanner<f32>>> = OnceLock::new();
    PLANNER.get_or_init(|| Mutex::new(RealFftPlanner::new()))
}

fn plans(f: usize) -> (Arc<dyn RealToComplex<f32>>, Arc<dyn ComplexToReal<f32>>) {
    let mut planner = planner().lock().unwrap_or_else(|e| e.into_inner());
    (planner.plan_fft_forward(f), planner.plan_fft_inverse(f))
}

/// Cost model of the two kernels, in nanoseconds, fitted to `CALIBRATE=1 cargo bench --bench
/// convolve` (benches/convolve.rs prints measured and modelled times side by side) on a 2-core
/// x86-64 machine with AVX2 (README, "Performance").
pub(crate) mod cost {
    /// Direct kernel, per multiply-add (AVX2 + FMA, one core).
    pub const NS_PER_MAC: f64 = 0.035;
    /// Direct kernel, per output value (writing it, page faults, block tails).
    pub const NS_PER_OUTPUT: f64 = 0.4;
    /// FFT path, per `F · log2 F` of one real transform of `F` points.
    pub const NS_PER_FFT_UNIT: f64 = 0.2;
    /// FFT path, per complex multiply-add of a spectrum product.
    pub const NS_PER_SPECTRAL_MAC: f64 = 0.5;
    /// FFT path, per transform: copies, zeroing, bookkeeping.
    pub const NS_PER_TRANSFORM: f64 = 25.0;
    /// FFT path, per call: plans, buffers.
    pub const NS_FFT_SETUP: f64 = 2_000.0;
    /// Speed-up of either kernel on both cores of the calibration machine, once the work is
    /// above the serial thresholds.
    pub const PARALLEL_SPEEDUP: f64 = 1.4;
}

/// Modelled nanoseconds of one overlap-add block of `f` points: `cpg` forward and `opg`
/// inverse transforms and `cpg · opg` spectrum products.
pub(crate) fn fft_block_ns(f: usize, cpg: usize, opg: usize) -> f64 {
    let ff = f as f64;
    (ff * ff.log2() * cost::NS_PER_FFT_UNIT + cost::NS_PER_TRANSFORM) * (cpg + opg) as f64
        + (ff / 2.0 + 1.0) * (cpg * opg) as f64 * cost::NS_PER_SPECTRAL_MAC
}

/// The FFT length for overlap-add: the power of two minimising the modelled time of the whole
/// signal ([`fft_block_ns`] per block of `F - m + 1` inputs), no longer than needed to hold the
/// whole full output.
pub fn fft_len(n: usize, m: usize, cpg: usize, opg: usize) -> usize {
    let full = n + m - 1;
    let max = full.next_power_of_two().max(m.next_power_of_two());
    let mut f = m.next_power_of_two();
    let mut best = (f64::INFINITY, f);
    while f <= max {
        // Blocks past the signal's end cost as much as full ones.
        let blocks = n.div_ceil(f - m + 1) as f64;
        let cost = blocks * fft_block_ns(f, cpg, opg);
        if cost < best.0 {
            best = (cost, f);
        }
        f *= 2;
    }
    best.1
}

fn fft(x: &[f32], wk: &[f32], d: &Dims) -> Vec<f32> {
    let (l, cpg, opg, m, n) = (d.out_len(), d.cpg(), d.opg(), d.m, d.n);
    let f = fft_len(n, m, cpg, opg);
    let bins = f / 2 + 1;
    let block = f - m + 1;
    let start = m - 1 - d.left; // full-output index of output 0
    let (r2c, c2r) = plans(f);
    let scale = 1.0 / f as f32;

    let n_blocks = n.div_ceil(block);
    let units = d.batch * d.groups;
    // Transforms of `f` points, over every input and output channel.
    let transforms = units * n_blocks.min(l.div_ceil(block) + 1) * (cpg + opg);
    let serial = transforms * f < SERIAL_FFT_POINTS;
    // Spectra of the true-convolution kernels h = reverse(wk), scaled for the inverse.
    let spectrum = |k: &[f32]| {
        let mut buf = vec![0.0f32; f];
        for (dst, &v) in buf.iter_mut().zip(k.iter().rev()) {
            *dst = v * scale;
        }
        let mut spec = r2c.make_output_vec();
        let mut scratch = r2c.make_scratch_vec();
        r2c.process_with_scratch(&mut buf, &mut spec, &mut scratch)
            .expect("forward FFT of a kernel");
        spec
    };
    let spectra: Vec<Complex<f32>> = if wk.len() / m * f < SERIAL_FFT_POINTS {
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
    let mut out = vec![0.0f32; d.batch * d.cout * l];
    let mut work: Vec<(usize, usize, Vec<&mut [f32]>)> = Vec::new();
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

    let run = |(unit, j0, mut rows): (usize, usize, Vec<&mut [f32]>)| {
        // `out` comes from `calloc`: write its pages before reading them (see `zeroed`).
        for row in rows.iter_mut() {
            row.fill(0.0);
        }
        let (b, g) = (unit / d.groups, unit % d.groups);
        // The full-output range of this piece, and the input blocks that reach it.
        let (p0, p1) = (start + j0, start + j0 + rows[0].len());
        let k0 = (p0 + 1).saturating_sub(block + m - 1).div_ceil(block);
        let k1 = p1.div_ceil(block).min(n_blocks);
        let mut buf = vec![0.0f32; f];
        let mut xspec = vec![vec![Complex::new(0.0f32, 0.0); bins]; cpg];
        let mut acc = vec![Complex::new(0.0f32, 0.0); bins];
        let mut scratch_f = r2c.make_scratch_vec();
        let mut scratch_i = c2r.make_scratch_vec();
        for kb in k0..k1 {
            let x0 = kb * block;
            let x1 = (x0 + block).min(n);
            for (i, spec) in xspec.iter_mut().enumerate() {
                let row = &x[(b * d.cin + g * cpg + i) * n..][..n];
                buf[..x1 - x0].copy_from_slice(&row[x0..x1]);
                buf[x1 - x0..].fill(0.0);
                r2c.process_with_scratch(&mut buf, spec, &mut scratch_f)
                    .expect("forward FFT of a block");
            }
            // This block's outputs: full indices [x0, x0 + used), cut to [p0, p1).
            let used = (x1 - x0) + m - 1;
            let (lo, hi) = (x0.max(p0), (x0 + used).min(p1));
            for (a, row) in rows.iter_mut().enumerate() {
                let o = g * opg + a;
                acc.fill(Complex::new(0.0, 0.0));
                for (i, spec) in xspec.iter().enumerate() {
                    let h = &spectra[(o * cpg + i) * bins..][..bins];
                    for ((s, &xv), &hv) in acc.iter_mut().zip(spec).zip(h) {
                        *s += xv * hv;
                    }
                }
                // Real signals: the DC and Nyquist bins are real.
                acc[0].im = 0.0;
                acc[bins - 1].im = 0.0;
                c2r.process_with_scratch(&mut acc, &mut buf, &mut scratch_i)
                    .expect("inverse FFT of a block");
                if lo < hi {
                    let dst = &mut row[lo - p0..hi - p0];
                    for (y, &v) in dst.iter_mut().zip(&buf[lo - x0..hi - x0]) {
                        *y += v;
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

/// The input gradient of [`conv`]: `gy` `[batch, cout, out_len]` -> `[batch, cin, n]`.
///
/// `dx[t] = Σ_j gy[j] · wk[t + left - j]`: the same sliding dot product, over `gy` padded by
/// `(m - 1 - left, m - 1 - right)`, with the kernel reversed and its channels transposed per group.
#[cfg_attr(not(feature = "autodiff"), allow(dead_code))] // used by the backward pass
pub fn input_grad(gy: &[f32], w: &[f32], d: &Dims, flip: bool, kernel: HostKernel) -> Vec<f32> {
    let (cpg, opg, m) = (d.cpg(), d.opg(), d.m);
    // wt[g·cpg + i, a, k] = w[g·opg + a, i, k]
    let mut wt = vec![0.0f32; w.len()];
    for g in 0..d.groups {
        for a in 0..opg {
            for i in 0..cpg {
                let src = &w[((g * opg + a) * cpg + i) * m..][..m];
                wt[((g * cpg + i) * opg + a) * m..][..m].copy_from_slice(src);
            }
        }
    }
    let dt = Dims {
        batch: d.batch,
        cin: d.cout,
        n: d.out_len(),
        cout: d.cin,
        m,
        groups: d.groups,
        left: m - 1 - d.left,
        right: m - 1 - d.right,
    };
    conv(gy, &wt, &dt, !flip, kernel)
}

/// The weight gradient of [`conv`]: `[cout, cin / groups, m]`, with
/// `dwk[o, i, k] = Σ_b Σ_j xpad[b, g·C + i, j + k] · gy[b, o, j]` (reversed when `flip`): per
/// channel pair and sample, the correlation of the padded input with the output gradient.
#[cfg_attr(not(feature = "autodiff"), allow(dead_code))] // used by the backward pass
pub fn weight_grad(x: &[f32], gy: &[f32], d: &Dims, flip: bool) -> Vec<f32> {
    let (l, cpg, opg, m, n) = (d.out_len(), d.cpg(), d.opg(), d.m, d.n);
    let mut dw = zeroed(d.cout * cpg * m);
    let pair_task = |pair: usize, out: &mut [f32], scratch: &mut Vec<f32>| {
        let (o, i) = (pair / cpg, pair % cpg);
        let g = o / opg;
        for b in 0..d.batch {
            let xr = &x[(b * d.cin + g * cpg + i) * n..][..n];
            let gr = &gy[(b * d.cout + o) * l..][..l];
            let xs = window(xr, -(d.left as isize), l + m - 1, scratch);
            crate::simd::correlate_into(xs, gr, out);
        }
        if flip {
            out.reverse();
        }
    };
    if d.batch * d.cout * cpg * m * l < SERIAL_MACS {
        let mut scratch = Vec::new();
        for (pair, out) in dw.chunks_mut(m).enumerate() {
            pair_task(pair, out, &mut scratch);
        }
    } else {
        dw.par_chunks_mut(m)
            .enumerate()
            .for_each_init(Vec::new, |scratch, (pair, out)| {
                pair_task(pair, out, scratch)
            });
    }
    dw
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Burn's conv1d semantics, naively.
    fn naive(x: &[f32], w: &[f32], d: &Dims, flip: bool) -> Vec<f64> {
        let (l, cpg, opg, m) = (d.out_len(), d.cin / d.groups, d.cout / d.groups, d.m);
        let mut out = vec![0.0f64; d.batch * d.cout * l];
        for b in 0..d.batch {
            for o in 0..d.cout {
                let g = o / opg;
                for j in 0..l {
                    let mut s = 0.0f64;
                    for i in 0..cpg {
                        for k in 0..m {
                            let t = (j + k) as isize - d.left as isize;
                            if t < 0 || t >= d.n as isize {
                                continue;
                            }
                            let kk = if flip { m - 1 - k } else { k };
                            s += f64::from(x[(b * d.cin + g * cpg + i) * d.n + t as usize])
                                * f64::from(w[(o * cpg + i) * m + kk]);
                        }
                    }
                    out[(b * d.cout + o) * l + j] = s;
                }
            }
        }
        out
    }

    fn values(len: usize, seed: u64) -> Vec<f32> {
        let mut s = seed;
        (0..len)
            .map(|_| {
                s = s
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                ((s >> 40) % 64) as f32 / 32.0 - 1.0
            })
            .collect()
    }

    /// `Σ_b Σ_j xpad[b, g·C + i, j + k] · gy[b, o, j]`: the weight gradient at tap `k` of the
    /// sliding-dot-product kernel, naively.
    fn naive_weight_grad(x: &[f32], gy: &[f32], d: &Dims, o: usize, i: usize, k: usize) -> f64 {
        let (l, cpg, opg) = (d.out_len(), d.cin / d.groups, d.cout / d.groups);
        let g = o / opg;
        let mut s = 0.0f64;
        for b in 0..d.batch {
            for j in 0..l {
                let t = (j + k) as isize - d.left as isize;
                if (0..d.n as isize).contains(&t) {
                    s += f64::from(x[(b * d.cin + g * cpg + i) * d.n + t as usize])
                        * f64::from(gy[(b * d.cout + o) * l + j]);
                }
            }
        }
        s
    }

    #[test]
    fn both_kernels_match_the_naive_definition() {
        let mut count = 0;
        for (batch, cin, cout, groups) in [(1, 1, 1, 1), (2, 4, 6, 2), (3, 3, 3, 3), (1, 2, 3, 1)] {
            for n in [1usize, 2, 5, 17, 100, 1000] {
                for m in [1usize, 2, 3, 8, 31, 64] {
                    for (left, right) in [(0, 0), (m - 1, m - 1), ((m - 1) / 2, m / 2), (m - 1, 0)]
                    {
                        if n + left + right < m {
                            continue;
                        }
                        let d = Dims {
                            batch,
                            cin,
                            n,
                            cout,
                            m,
                            groups,
                            left,
                            right,
                        };
                        let x = values(batch * cin * n, n as u64);
                        let w = values(cout * (cin / groups) * m, m as u64 + 7);
                        for flip in [false, true] {
                            let want = naive(&x, &w, &d, flip);
                            for kernel in [HostKernel::Direct, HostKernel::Fft] {
                                let got = conv(&x, &w, &d, flip, kernel);
                                assert_eq!(got.len(), want.len());
                                let tol = 1e-5 * (m * cin) as f64;
                                for (j, (g, e)) in got.iter().zip(&want).enumerate() {
                                    assert!(
                                        (f64::from(*g) - e).abs() <= tol,
                                        "{kernel:?} {d:?} flip {flip} index {j}: {g} vs {e}"
                                    );
                                }
                                count += 1;
                            }
                        }
                    }
                }
            }
        }
        assert!(count > 500);
    }

    #[test]
    fn gradients_match_their_definitions() {
        for (batch, cin, cout, groups) in [(2, 1, 1, 1), (2, 4, 6, 2), (1, 3, 3, 3)] {
            for (n, m) in [(9usize, 3usize), (9, 4), (4, 7), (50, 16)] {
                for (left, right) in [(0, 0), (m - 1, m - 1), ((m - 1) / 2, m / 2)] {
                    if n + left + right < m {
                        continue;
                    }
                    let d = Dims {
                        batch,
                        cin,
                        n,
                        cout,
                        m,
                        groups,
                        left,
                        right,
                    };
                    let (cpg, l) = (cin / groups, d.out_len());
                    let x = values(batch * cin * n, 3);
                    let w = values(cout * cpg * m, 5);
                    let gy = values(batch * cout * l, 9);
                    for flip in [false, true] {
                        // <gy, conv(x, w)> is bilinear: check both gradients through it.
                        let y = naive(&x, &w, &d, flip);
                        let base: f64 = y.iter().zip(&gy).map(|(a, b)| a * f64::from(*b)).sum();
                        let dw = weight_grad(&x, &gy, &d, flip);
                        for kernel in [HostKernel::Direct, HostKernel::Fft] {
                            let dx = input_grad(&gy, &w, &d, flip, kernel);
                            let lin_x: f64 = dx
                                .iter()
                                .zip(&x)
                                .map(|(a, b)| f64::from(*a) * f64::from(*b))
                                .sum();
                            assert!(
                                (lin_x - base).abs() < 1e-3 * (1.0 + base.abs()),
                                "dx {kernel:?} {d:?} {flip}: {lin_x} vs {base}"
                            );
                        }
                        let lin_w: f64 = dw
                            .iter()
                            .zip(&w)
                            .map(|(a, b)| f64::from(*a) * f64::from(*b))
                            .sum();
                        assert!(
                            (lin_w - base).abs() < 1e-3 * (1.0 + base.abs()),
                            "dw {d:?} {flip}: {lin_w} vs {base}"
                        );
                        // And element by element for dw against the definition.
                        for o in 0..cout {
                            for i in 0..cpg {
                                for k in 0..m {
                                    let s = naive_weight_grad(&x, &gy, &d, o, i, k);
                                    let kk = if flip { m - 1 - k } else { k };
                                    let got = f64::from(dw[(o * cpg + i) * m + kk]);
                                    assert!(
                                        (got - s).abs() < 1e-4 * (1.0 + s.abs()),
                                        "dw[{o},{i},{kk}] {d:?} {flip}: {got} vs {s}"
                                    );
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    /// Calls big enough for the multi-threaded paths (`SERIAL_MACS`, `SERIAL_FFT_POINTS`):
    /// direct tiles split across threads, FFT pieces sharing blocks at their edges, and the
    /// weight gradient over channel pairs.
    #[test]
    fn large_calls_take_the_parallel_paths_and_agree() {
        for (batch, cin, cout, groups, n, m) in
            [(1, 1, 1, 1, 200_000, 31), (2, 2, 4, 2, 40_000, 40)]
        {
            let (left, right) = ((m - 1) / 2, m / 2);
            let d = Dims {
                batch,
                cin,
                n,
                cout,
                m,
                groups,
                left,
                right,
            };
            let macs = batch * cout * (cin / groups) * m * d.out_len();
            assert!(macs >= SERIAL_MACS, "{d:?} must not run serially");
            let x = values(batch * cin * n, 11);
            let w = values(cout * (cin / groups) * m, 13);
            let want = naive(&x, &w, &d, true);
            for kernel in [HostKernel::Direct, HostKernel::Fft] {
                let got = conv(&x, &w, &d, true, kernel);
                let worst = got
                    .iter()
                    .zip(&want)
                    .map(|(g, e)| (f64::from(*g) - e).abs())
                    .fold(0.0, f64::max);
                assert!(worst <= 1e-4, "{kernel:?} {d:?}: max error {worst}");
            }
            let gy = values(batch * cout * d.out_len(), 17);
            let dw = weight_grad(&x, &gy, &d, true);
            let cpg = cin / groups;
            for o in 0..cout {
                for i in 0..cpg {
                    for k in [0, m / 2, m - 1] {
                        let s = naive_weight_grad(&x, &gy, &d, o, i, k);
                        let got = f64::from(dw[(o * cpg + i) * m + (m - 1 - k)]);
                        assert!(
                            (got - s).abs() < 1e-3 * (1.0 + s.abs()),
                            "dw {d:?}: {got} vs {s}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn fft_len_is_a_power_of_two_at_least_the_kernel() {
        for m in [1, 3, 31, 1023, 4095] {
            for n in [1, 1000, 1_000_000] {
                let f = fft_len(n, m, 1, 1);
                assert!(f.is_power_of_two() && f >= m, "n {n} m {m}: {f}");
            }
        }
    }
}
