//! The gradients of [`super::conv`]: the input gradient is itself a convolution (any
//! kernel); the weight gradient correlates the padded input with the output gradient.

use rayon::prelude::*;

use super::conv::conv;
use super::real::Real;
use super::rows::window;
use crate::cost::SERIAL_MACS;
use crate::geometry::Geometry;
use crate::nonfinite::host::all_finite;
use crate::plan::HostKernel;

/// The input gradient of [`conv`]: `gy` `[batch, cout, out_len]` -> `[batch, cin, n]`.
///
/// `dx[t] = Σ_j gy[j] · wk[t + left - j]`: the same sliding dot product, over `gy` padded by
/// `(m - 1 - left, m - 1 - right)`, with the kernel reversed and its channels transposed per group.
pub(crate) fn input_grad<T: Real>(
    gy: &[T],
    w: &[T],
    d: &Geometry,
    kernel: HostKernel,
    guarded: bool,
) -> Vec<T> {
    let (cpg, opg, m) = (d.cpg(), d.opg(), d.m);
    // wt[g·cpg + i, a, k] = w[g·opg + a, i, k]
    let mut wt = zeroed(w.len());
    for g in 0..d.groups {
        for a in 0..opg {
            for i in 0..cpg {
                let src = &w[((g * opg + a) * cpg + i) * m..][..m];
                wt[((g * cpg + i) * opg + a) * m..][..m].copy_from_slice(src);
            }
        }
    }
    conv(gy, &wt, &d.input_grad(), kernel, guarded)
}

/// The weight gradient of [`conv`]: `[cout, cin / groups, m]`, with
/// `dwk[o, i, k] = Σ_b Σ_j xpad[b, g·C + i, j + k] · gy[b, o, j]` (reversed when `d.reversed`): per
/// channel pair and sample, the correlation of the padded input with the output gradient.
/// NaN and infinities follow NumPy's rule for sums (only the terms where `xpad` is the signal,
/// not its zero padding).
pub(crate) fn weight_grad<T: Real>(x: &[T], gy: &[T], d: &Geometry, kernel: HostKernel) -> Vec<T> {
    let m = d.m;
    let mut dw = match kernel {
        HostKernel::Direct => direct_weight_grad(x, gy, d),
        HostKernel::Fft(lens) => super::fft::weight_grad(x, gy, d, lens.input),
    };
    // NaN and infinities: the taps whose sum is not finite are summed again as NumPy's sum.
    for (pair, out) in dw.chunks_mut(m).enumerate() {
        if !all_finite(out) {
            exact_weight_grad(x, gy, d, pair, out);
        }
    }
    if d.reversed {
        for k in dw.chunks_mut(m) {
            k.reverse();
        }
    }
    dw
}

/// [`weight_grad`] by sliding dot products, in the sliding product's orientation.
fn direct_weight_grad<T: Real>(x: &[T], gy: &[T], d: &Geometry) -> Vec<T> {
    let (l, cpg, opg, m, n) = (d.out_len(), d.cpg(), d.opg(), d.m, d.n);
    let mut dw = zeroed(d.cout * cpg * m);
    let pair_task = |pair: usize, out: &mut [T], scratch: &mut Vec<T>| {
        let (o, i) = (pair / cpg, pair % cpg);
        let g = o / opg;
        for b in 0..d.batch {
            let xr = &x[(b * d.cin + g * cpg + i) * n..][..n];
            let gr = &gy[(b * d.cout + o) * l..][..l];
            let xs = window(xr, -(d.left as isize), l + m - 1, scratch);
            super::simd::correlate_into(xs, gr, out);
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

/// The weight gradient of channel pair `pair` as NumPy's direct sum: the taps whose sum is not
/// finite are summed again over the terms where the padded input is the signal itself.
fn exact_weight_grad<T: Real>(x: &[T], gy: &[T], d: &Geometry, pair: usize, out: &mut [T]) {
    let (l, cpg, opg, n) = (d.out_len(), d.cpg(), d.opg(), d.n);
    let (o, i) = (pair / cpg, pair % cpg);
    let g = o / opg;
    for (k, tap) in out.iter_mut().enumerate() {
        if tap.is_finite() {
            continue;
        }
        // Terms j with 0 <= j + k - left < n.
        let j0 = d.left.saturating_sub(k);
        let j1 = (n + d.left).saturating_sub(k).min(l);
        let mut sum = T::zero();
        for b in 0..d.batch {
            let xr = &x[(b * d.cin + g * cpg + i) * n..][..n];
            let gr = &gy[(b * d.cout + o) * l..][..l];
            for j in j0..j1 {
                sum = sum + xr[j + k - d.left] * gr[j];
            }
        }
        *tap = sum;
    }
}

/// `len` zeros, written rather than left to `calloc`. A large `vec![0.0; len]` is fresh
/// memory mapped to the shared zero page: the first write to each page after a read then
/// copies it and flushes the TLBs of the other cores, which in a virtual machine made an
/// accumulate-into-zeros kernel several times slower than its arithmetic (perf: most of the
/// time in `do_wp_page` and inter-processor interrupts). Writing the zeros first avoids it.
fn zeroed<T: Real>(len: usize) -> Vec<T> {
    let mut v = Vec::with_capacity(len);
    v.resize(len, T::zero());
    v
}
