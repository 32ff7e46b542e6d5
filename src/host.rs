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

const TILE: usize = 2048;

/// Every input row with `left` zeros before and `right` after.
fn padded(x: &[f32], d: &Dims) -> Vec<f32> {
    let mut out = Vec::with_capacity(x.len() / d.n * (d.n + d.left + d.right));
    for row in x.chunks(d.n) {
        out.resize(out.len() + d.left, 0.0);
        out.extend_from_slice(row);
        out.resize(out.len() + d.right, 0.0);
    }
    out
}

fn direct(x: &[f32], wk: &[f32], d: &Dims) -> Vec<f32> {
    let (l, cpg, opg, m) = (d.out_len(), d.cpg(), d.opg(), d.m);
    let padded_len = d.n + d.left + d.right;
    // Each padded input row once.
    let xpad = padded(x, d);
    let mut out = vec![0.0f32; d.batch * d.cout * l];
    let threads = rayon::current_num_threads().max(1);
    let rows = d.batch * d.cout;
    let tile = if rows >= threads {
        TILE
    } else {
        l.div_ceil(threads).clamp(256, TILE)
    };
    out.par_chunks_mut(l).enumerate().for_each(|(row, y)| {
        let (b, o) = (row / d.cout, row % d.cout);
        let g = o / opg;
        y.par_chunks_mut(tile).enumerate().for_each(|(t, yt)| {
            let j0 = t * tile;
            for i in 0..cpg {
                let xr = &xpad[(b * d.cin + g * cpg + i) * padded_len..][..padded_len];
                let kr = &wk[(o * cpg + i) * m..][..m];
                for (k, &wv) in kr.iter().enumerate() {
                    let xs = &xr[j0 + k..j0 + k + yt.len()];
                    for (yv, &xv) in yt.iter_mut().zip(xs) {
                        *yv += wv * xv;
                    }
                }
            }
        });
    });
    out
}

fn planner() -> &'static Mutex<RealFftPlanner<f32>> {
    static PLANNER: OnceLock<Mutex<RealFftPlanner<f32>>> = OnceLock::new();
    PLANNER.get_or_init(|| Mutex::new(RealFftPlanner::new()))
}

fn plans(f: usize) -> (Arc<dyn RealToComplex<f32>>, Arc<dyn ComplexToReal<f32>>) {
    let mut planner = planner().lock().unwrap_or_else(|e| e.into_inner());
    (planner.plan_fft_forward(f), planner.plan_fft_inverse(f))
}

/// The FFT length for overlap-add: the power of two minimising the estimated work per output
/// sample, `(F log F · (cpg + opg) + F · cpg · opg) / (F - m + 1)`, no longer than needed to
/// hold the whole full output.
pub fn fft_len(n: usize, m: usize, cpg: usize, opg: usize) -> usize {
    let full = n + m - 1;
    let max = full.next_power_of_two().max(m.next_power_of_two());
    let mut f = m.next_power_of_two();
    let mut best = (f64::INFINITY, f);
    while f <= max {
        let block = (f - m + 1) as f64;
        let ff = f as f64;
        let work = ff * ff.log2() * (cpg + opg) as f64 + ff * (cpg * opg) as f64;
        // Blocks past the signal's end cost as much as full ones.
        let blocks = (n as f64 / block).ceil();
        let cost = work * blocks;
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

    // Spectra of the true-convolution kernels h = reverse(wk), scaled for the inverse.
    let spectra: Vec<Complex<f32>> = wk
        .par_chunks(m)
        .flat_map_iter(|k| {
            let mut buf = vec![0.0f32; f];
            for (dst, &v) in buf.iter_mut().zip(k.iter().rev()) {
                *dst = v * scale;
            }
            let mut spec = r2c.make_output_vec();
            let mut scratch = r2c.make_scratch_vec();
            r2c.process_with_scratch(&mut buf, &mut spec, &mut scratch)
                .expect("forward FFT of a kernel");
            spec
        })
        .collect();

    // Blocks of the input whose outputs reach the window [start, start + l).
    let n_blocks = n.div_ceil(block);
    let first = (start + 1)
        .saturating_sub(block + m - 1)
        .div_ceil(block)
        .min(n_blocks);
    let last = (start + l).div_ceil(block).min(n_blocks); // exclusive
    let units = d.batch * d.groups;
    let threads = rayon::current_num_threads().max(1);
    let chunks = if units >= threads {
        1
    } else {
        (threads * 2).div_ceil(units)
    };
    let per_chunk = (last - first).div_ceil(chunks).max(1);

    let work: Vec<(usize, usize, usize)> = (0..units)
        .flat_map(|u| {
            (first..last)
                .step_by(per_chunk)
                .map(move |k0| (u, k0, (k0 + per_chunk).min(last)))
        })
        .collect();

    // Each work item adds its blocks into a local segment of the full output.
    let parts: Vec<(usize, usize, Vec<f32>)> = work
        .into_par_iter()
        .map(|(unit, k0, k1)| {
            let (b, g) = (unit / d.groups, unit % d.groups);
            let seg_start = k0 * block;
            let seg_len = (k1 - k0) * block + m - 1;
            let mut seg = vec![0.0f32; opg * seg_len];
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
                for a in 0..opg {
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
                    let off = x0 - seg_start;
                    let used = (x1 - x0) + m - 1;
                    let dst = &mut seg[a * seg_len + off..][..used];
                    for (s, &v) in dst.iter_mut().zip(&buf[..used]) {
                        *s += v;
                    }
                }
            }
            (unit, seg_start, seg)
        })
        .collect();

    let mut out = vec![0.0f32; d.batch * d.cout * l];
    for (unit, seg_start, seg) in parts {
        let (b, g) = (unit / d.groups, unit % d.groups);
        let seg_len = seg.len() / opg;
        // Overlap of [seg_start, seg_start + seg_len) with [start, start + l).
        let lo = seg_start.max(start);
        let hi = (seg_start + seg_len).min(start + l);
        if lo >= hi {
            continue;
        }
        for a in 0..opg {
            let o = g * opg + a;
            let src = &seg[a * seg_len + (lo - seg_start)..][..hi - lo];
            let dst = &mut out[(b * d.cout + o) * l + (lo - start)..][..hi - lo];
            for (y, &v) in dst.iter_mut().zip(src) {
                *y += v;
            }
        }
    }
    out
}

/// The input gradient of [`conv`]: `gy` `[batch, cout, out_len]` -> `[batch, cin, n]`.
///
/// `dx[t] = Σ_j gy[j] · wk[t + left - j]`: the same sliding dot product, over `gy` padded by
/// `(m - 1 - left, m - 1 - right)`, with the kernel reversed and its channels transposed per group.
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
/// `dwk[o, i, k] = Σ_b Σ_j xpad[b, g·C + i, j + k] · gy[b, o, j]` (reversed when `flip`).
pub fn weight_grad(x: &[f32], gy: &[f32], d: &Dims, flip: bool) -> Vec<f32> {
    let (l, cpg, opg, m) = (d.out_len(), d.cpg(), d.opg(), d.m);
    let padded_len = d.n + d.left + d.right;
    let xpad = padded(x, d);
    let mut dw = vec![0.0f32; d.cout * cpg * m];
    dw.par_chunks_mut(m).enumerate().for_each(|(pair, out)| {
        let (o, i) = (pair / cpg, pair % cpg);
        let g = o / opg;
        for b in 0..d.batch {
            let xr = &xpad[(b * d.cin + g * cpg + i) * padded_len..][..padded_len];
            let gr = &gy[(b * d.cout + o) * l..][..l];
            for (k, acc) in out.iter_mut().enumerate() {
                *acc += dot(&xr[k..k + l], gr);
            }
        }
        if flip {
            out.reverse();
        }
    });
    dw
}

/// A dot product in eight independent lanes, so the compiler vectorises it.
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut lanes = [0.0f32; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for q in 0..8 {
            lanes[q] += x[q] * y[q];
        }
    }
    let tail: f32 = ra.iter().zip(rb).map(|(x, y)| x * y).sum();
    lanes.iter().sum::<f32>() + tail
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
                    let (cpg, opg, l) = (cin / groups, cout / groups, d.out_len());
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
                                    let g = o / opg;
                                    let mut s = 0.0f64;
                                    for b in 0..batch {
                                        for j in 0..l {
                                            let t = (j + k) as isize - left as isize;
                                            if (0..n as isize).contains(&t) {
                                                s += f64::from(
                                                    x[(b * cin + g * cpg + i) * n + t as usize],
                                                ) * f64::from(gy[(b * cout + o) * l + j]);
                                            }
                                        }
                                    }
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
