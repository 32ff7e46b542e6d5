//! FFT convolution on the tensors' device (wgpu), from Burn's `rfft`/`irfft` and elementwise
//! ops, and so differentiable through them.

use burn::tensor::Tensor;
use burn::tensor::signal::{irfft, rfft};

use crate::cost::{FFT_DYNAMIC_RANGE, device_fft_len};
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

/// `Method::Auto`'s accuracy guard for the device FFT, the rule of the CPU FFT's guard
/// (`cpu::fft::guarded_precision`): the FFT's error stays within a small multiple of each
/// output's own terms when the dynamic range `q = (max|x| / min chunk mean|x|) · (max|w| /
/// mean|w|)` is at most [`FFT_DYNAMIC_RANGE`] and the sums stay far from overflow. wgpu has no
/// f64 here, so a wider range takes Burn's `conv1d`. A few reductions, read back to the host.
pub(crate) fn accurate(x: &Tensor<3>, w: &Tensor<3>, g: &Geometry) -> bool {
    let scalar = |t: Tensor<1>| f64::from(t.into_scalar::<f32>());
    let chunk = (g.m / 2).max(1).min(g.n);
    let whole = g.n / chunk * chunk;
    let ax = x.clone().abs();
    let max_x = scalar(ax.clone().max());
    let min_mean_x = scalar(
        ax.slice([0..g.batch, 0..g.cin, 0..whole])
            .reshape([g.batch, g.cin, whole / chunk, chunk])
            .mean_dim(3)
            .min(),
    );
    let aw = w.clone().abs();
    let max_w = scalar(aw.clone().max());
    let qw = scalar((aw.clone().max_dim(2) / aw.mean_dim(2)).max());
    let q = max_x / min_mean_x * qw;
    let f = device_fft_len(g) as f64;
    let peak = f * g.m as f64 * max_x * max_w * g.cpg() as f64;
    q.is_finite() && q <= FFT_DYNAMIC_RANGE && peak < f64::from(f32::MAX) / 4.0
}
