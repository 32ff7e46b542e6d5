//! NaN and infinities where NumPy's direct sum puts them.
//!
//! NumPy's `np.convolve` sums, for each output, the products of the overlapping samples only:
//! an output is NaN when one of its terms is NaN (a NaN factor, `inf · 0`) or when it has both
//! a `+inf` and a `-inf` term, `±inf` when its infinite terms share a sign, and finite
//! otherwise. The fast paths do not have that property by themselves: the direct kernel also
//! multiplies the zero padding (`0 · inf` is NaN where NumPy has no term at all), and one
//! non-finite sample turns a whole FFT block into NaN. So the kernels compute the finite part,
//! and [`repair`] recomputes, as NumPy's direct sum, exactly the outputs that have a
//! non-finite factor among their terms.

use rayon::prelude::*;

use crate::magnitudes::EdgeRow;

use super::Real;
use crate::mode::Geometry;

/// Whether every value is finite: one vectorised pass (`v · 0` is 0 for a finite `v`, NaN for
/// NaN and ±inf), no early exit. With AVX2 and FMA (chosen once, as the direct kernel's copy
/// is), one fused multiply-add per vector.
pub(crate) fn all_finite<T: Real>(v: &[T]) -> bool {
    #[cfg(target_arch = "x86_64")]
    if super::simd::Isa::detected() != super::simd::Isa::Portable {
        // SAFETY: every copy but the portable one needs AVX2 and FMA, which `detected` checked.
        return unsafe { all_finite_fma(v) };
    }
    all_finite_body::<T, false>(v)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn all_finite_fma<T: Real>(v: &[T]) -> bool {
    all_finite_body::<T, true>(v)
}

/// Enough independent accumulators that the adds' latency does not bound the pass.
#[inline(always)]
fn all_finite_body<T: Real, const FMA: bool>(v: &[T]) -> bool {
    const L: usize = 64;
    let mut acc = [T::zero(); L];
    let chunks = v.chunks_exact(L);
    let tail = chunks.remainder();
    for c in chunks {
        for q in 0..L {
            acc[q] = if FMA {
                c[q].mul_add(T::zero(), acc[q])
            } else {
                acc[q] + c[q] * T::zero()
            };
        }
    }
    acc.iter().chain(tail).all(|v| v.is_finite())
}

/// `v` with every NaN and ±inf replaced by 0.
pub(super) fn zeroed<T: Real>(v: &[T]) -> Vec<T> {
    v.iter()
        .map(|&v| if v.is_finite() { v } else { T::zero() })
        .collect()
}

/// Positions of the non-finite values of `row`.
fn non_finite_positions<T: Real>(row: &[T]) -> Vec<usize> {
    if all_finite(row) {
        return Vec::new();
    }
    (0..row.len()).filter(|&i| !row[i].is_finite()).collect()
}

/// `Method::Auto`'s guard at the signal's edges: an output of the full output whose window
/// reaches past the signal (the first and last `m - 1`) holds fewer terms than a whole window,
/// so the chunk rule of [`fft::guarded`](super::fft::guarded) does not bound its error. For
/// those outputs the magnitudes of their own terms, `S_j = Σ_k |x[j+k-left]| |wk[k]|`, are
/// computed (a small f64 FFT of the absolute values over each edge) and an output is summed
/// directly when `S_j` is below `max|x| · Σ|wk| / limit`, the scale of the FFT's error divided
/// by the guard's range. Ordinary signals repair a few outputs or none.
///
/// [`edge_sums`] computes the magnitudes (it needs only the inputs, so it can run while the FFT
/// does); this applies them to the FFT's output `y`.
pub(super) fn repair_edges<T: Real>(
    x: &[T],
    wk: &[T],
    g: &Geometry,
    y: &mut [T],
    guard: &super::fft::Guard,
    edges: &[EdgeRow],
) {
    let (l, m, n) = (g.out_len(), g.m, g.n);
    if m == 1 {
        return; // every window is whole
    }
    let start = g.full_start();
    let e = (m - 1).min(n + m - 1);
    let row_task = |(row, (yr, edge)): (usize, (&mut [T], &EdgeRow))| {
        let (b, o) = (row / g.cout, row % g.cout);
        let threshold = guard.max_x * edge.total_h / guard.limit;
        let redo = |k: usize, s: f64, yr: &mut [T]| {
            let j = k as isize - start as isize;
            if s < threshold && (0..l as isize).contains(&j) {
                yr[j as usize] = direct_output(x, wk, g, b, o, j as usize);
            }
        };
        for (k, &s) in edge.start.iter().enumerate() {
            redo(k, s, yr);
        }
        for (r, &s) in edge.end.iter().enumerate() {
            redo(n + m - 1 - e + r, s, yr);
        }
    };
    // A few rows: on the calling thread, since handing work to rayon's pool from outside it
    // waits for a worker to wake (tens of µs on a busy machine, more than a row's comparisons
    // and its few direct sums).
    if edges.len() < 4 {
        y.chunks_mut(l).zip(edges).enumerate().for_each(row_task);
    } else {
        y.par_chunks_mut(l)
            .zip(edges.par_iter())
            .enumerate()
            .for_each(row_task);
    }
}

/// Whether the output of `g` holds any of the full output's first and last `min(m - 1, n + m -
/// 1)` values, the outputs [`repair_edges`] checks.
pub(super) fn edges_in_output(g: &Geometry) -> bool {
    let (m, n) = (g.m, g.n);
    let e = (m.max(1) - 1).min(n + m - 1);
    let (start, l) = (g.full_start(), g.out_len());
    e > 0 && l > 0 && (start < e || start + l > n + m - 1 - e)
}

/// The magnitudes of the edge outputs' own terms that [`repair_edges`] compares with its
/// threshold, one [`EdgeRow`] per output row (none when `m == 1`).
pub(super) fn edge_sums<T: Real>(x: &[T], wk: &[T], g: &Geometry) -> Vec<EdgeRow> {
    EdgeInputs::of(x, wk, g).sums()
}

/// What [`edge_sums`] works on, owned: the magnitudes of each input channel's edges and of
/// the kernels, in f64.
struct EdgeInputs {
    heads: Vec<f64>,
    tails: Vec<f64>,
    hs: Vec<f64>,
    shape: [usize; 4],
    n: usize,
    m: usize,
}

impl EdgeInputs {
    fn of<T: Real>(x: &[T], wk: &[T], g: &Geometry) -> EdgeInputs {
        let (m, n) = (g.m, g.n);
        // T is f32 or f64: a cast the compiler vectorises (`ToPrimitive::to_f64` did not).
        let abs = |v: &T| -> f64 {
            if T::dtype() == burn::tensor::DType::F64 {
                bytemuck::cast::<T, f64>(v.abs())
            } else {
                f64::from(bytemuck::cast::<T, f32>(v.abs()))
            }
        };
        // The edges in full-output indices: [0, e) and [n + m - 1 - e, n + m - 1).
        let e = (m.max(1) - 1).min(n + m - 1);
        let te = e.min(n);
        let (mut heads, mut tails) = (Vec::with_capacity(x.len() / n * te), Vec::new());
        tails.reserve(heads.capacity());
        for r in x.chunks(n) {
            heads.extend(r[..te].iter().map(abs));
            tails.extend(r[n - te..].iter().map(abs));
        }
        // h: the true-convolution kernel, |wk| reversed.
        let mut hs = Vec::with_capacity(wk.len());
        for k in wk.chunks(m) {
            hs.extend(k.iter().rev().map(abs));
        }
        EdgeInputs {
            heads,
            tails,
            hs,
            shape: [g.batch, g.cin, g.cout, g.groups],
            n,
            m,
        }
    }

    pub(super) fn sums(&self) -> Vec<EdgeRow> {
        if self.m == 1 {
            return Vec::new(); // every window is whole
        }
        crate::magnitudes::edge_terms(
            &self.heads,
            &self.tails,
            &self.hs,
            self.shape,
            self.n,
            self.m,
        )
    }
}

/// NumPy's direct sum over the overlapping terms for output `j` of row `(b, o)`.
fn direct_output<T: Real>(x: &[T], wk: &[T], g: &Geometry, b: usize, o: usize, j: usize) -> T {
    let (cpg, m, n) = (g.cpg(), g.m, g.n);
    let group = o / g.opg();
    let left = g.left as isize;
    let k0 = (left - j as isize).max(0) as usize;
    let k1 = ((n as isize + left - j as isize).min(m as isize)).max(0) as usize;
    let mut sum = T::zero();
    for i in 0..cpg {
        let xr = &x[(b * g.cin + group * cpg + i) * n..][..n];
        let kr = &wk[(o * cpg + i) * m..][..m];
        for k in k0..k1 {
            sum = sum + xr[(j + k) - g.left] * kr[k];
        }
    }
    sum
}

/// Recomputes, as NumPy's direct sum over the overlapping terms, every output of `y` (the
/// sliding dot product of `g` over `x` with `wk`, the kernel as that product uses it) whose
/// terms include a NaN or an infinite factor, and every output that is not finite (the direct
/// kernel's `0 · inf` where a non-finite tap meets the zero padding, a term NumPy's sum does not
/// have). The other outputs are left as they are.
pub(super) fn repair<T: Real>(x: &[T], wk: &[T], g: &Geometry, y: &mut [T]) {
    let (l, cpg, opg, m, n) = (g.out_len(), g.cpg(), g.opg(), g.m, g.n);
    let left = g.left as isize;
    let bad_x: Vec<Vec<usize>> = x.chunks(n).map(non_finite_positions).collect();
    let bad_w: Vec<Vec<usize>> = wk.chunks(m).map(non_finite_positions).collect();
    y.par_chunks_mut(l).enumerate().for_each(|(row, yr)| {
        let (b, o) = (row / g.cout, row % g.cout);
        let group = o / opg;
        let channels = (0..cpg).map(|i| (b * g.cin + group * cpg + i, o * cpg + i));
        // Outputs reached by a non-finite factor, as a difference array of ranges.
        let mut marks = vec![0i32; l + 1];
        let mut any = false;
        let mut mark = |lo: isize, hi: isize| {
            let (lo, hi) = (lo.max(0), hi.min(l as isize - 1));
            if lo <= hi {
                marks[lo as usize] += 1;
                marks[hi as usize + 1] -= 1;
                any = true;
            }
        };
        for (xi, wi) in channels.clone() {
            // Sample t meets tap k in output j = t + left - k.
            for &t in &bad_x[xi] {
                let t = t as isize;
                mark(t + left - (m as isize - 1), t + left);
            }
            // Tap k meets a sample in outputs j with 0 <= j + k - left < n.
            for &k in &bad_w[wi] {
                let k = k as isize;
                mark(left - k, left - k + n as isize - 1);
            }
        }
        if !any && all_finite(yr) {
            return;
        }
        let mut depth = 0;
        for (j, out) in yr.iter_mut().enumerate() {
            depth += marks[j];
            if depth == 0 && out.is_finite() {
                continue;
            }
            *out = direct_output(x, wk, g, b, o, j);
        }
    });
}
