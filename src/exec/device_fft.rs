//! FFT convolution on the tensors' device (wgpu), from Burn's `rfft`/`irfft` and elementwise
//! ops, and so differentiable through them.

use burn::tensor::Tensor;
use burn::tensor::signal::{irfft, rfft};

use crate::cost::device_fft_len;
use crate::geometry::Geometry;

/// The whole `full` convolution in one transform of [`device_fft_len`] points per channel, cut
/// to the window of `g`. `weight` is in NumPy orientation, `[cout, cin / groups, m]`.
///
/// # Shapes
/// - `x`: `[batch, cin, n]`
/// - returns: `[batch, cout, g.out_len()]`
pub(crate) fn conv(x: Tensor<3>, weight: Tensor<3>, g: &Geometry) -> Tensor<3> {
    let (cpg, opg, groups) = (g.cpg(), g.opg(), g.groups);
    let f = device_fft_len(g);
    let bins = f / 2 + 1;
    // A true convolution with h is a sliding dot product with h reversed: h is the weight as
    // is when the sliding product reverses it, and reversed otherwise.
    let h = if g.reversed { weight } else { weight.flip([2]) };
    let (xr, xi) = rfft(x, 2, Some(f));
    let (hr, hi) = rfft(h, 2, Some(f));
    // [batch, groups, 1, cpg, bins] x [1, groups, opg, cpg, bins], summed over cpg.
    let xs = |t: Tensor<3>| t.reshape([g.batch, groups, 1, cpg, bins]);
    let hs = |t: Tensor<3>| t.reshape([1, groups, opg, cpg, bins]);
    let (xr, xi, hr, hi) = (xs(xr), xs(xi), hs(hr), hs(hi));
    let yr = xr.clone() * hr.clone() - xi.clone() * hi.clone();
    let yi = xr * hi + xi * hr;
    let (yr, yi) = if cpg == 1 {
        (yr, yi)
    } else {
        (yr.sum_dim(3), yi.sum_dim(3))
    };
    let yr = yr.reshape([g.batch, g.cout, bins]);
    let yi = yi.reshape([g.batch, g.cout, bins]);
    let full = irfft(yr, yi, 2, Some(f));
    window(full, g)
}

/// The outputs of `g` from its `full` convolution (`[batch, cout, >= n + m - 1]`). Padding
/// beyond `full`'s (a weight gradient's geometry, whose kernel is an output gradient shorter
/// than the padding) gives outputs whose window holds no sample: zeros.
fn window(full: Tensor<3>, g: &Geometry) -> Tensor<3> {
    let (l, len) = (g.out_len() as isize, (g.n + g.m - 1) as isize);
    let start = g.m as isize - 1 - g.left as isize; // full index of output 0
    let (lo, hi) = (start.clamp(0, len), (start + l).clamp(0, len));
    let (before, core) = ((lo - start).min(l), (hi - lo).max(0));
    let after = (l - before - core) as usize;
    let before = before as usize;
    let zeros = |k: usize| Tensor::<3>::zeros([g.batch, g.cout, k], (&full.device(), full.dtype()));
    let mut parts = Vec::new();
    if before > 0 {
        parts.push(zeros(before));
    }
    if core > 0 {
        parts.push(
            full.clone()
                .slice([0..g.batch, 0..g.cout, lo as usize..hi as usize]),
        );
    }
    if after > 0 {
        parts.push(zeros(after));
    }
    if parts.len() == 1 {
        return parts.pop().expect("one part");
    }
    Tensor::cat(parts, 2)
}
