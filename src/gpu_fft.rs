//! FFT convolution on the tensors' device (wgpu), from Burn's `rfft`/`irfft` and elementwise
//! ops, and so differentiable through them.

use burn::tensor::Tensor;
use burn::tensor::signal::{irfft, rfft};

use crate::cost::device_fft_len;
use crate::mode::Geometry;

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
    let start = g.full_start();
    full.slice([0..g.batch, 0..g.cout, start..start + g.out_len()])
}
