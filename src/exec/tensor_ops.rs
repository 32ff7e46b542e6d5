//! The executor of the routes made of Burn's tensor ops, on devices the host kernels cannot
//! read (wgpu, and any other): Burn's `conv1d` and the device FFT, with NumPy's NaN and
//! infinities ([`crate::nonfinite`]), and their gradients by the same rule.
//!
//! Under autodiff on a CubeCL device the forward pass runs on the tensors without their
//! autodiff association, and the op `npconv_tracked` ([`crate::op`]) records it. Its backward
//! pass takes the op's shape: the input gradient is the convolution of the output gradient
//! with the transposed, reversed kernel, the weight gradient the correlation of the input with
//! the output gradient, each summed here with NumPy's rule on the route of the plan.
//! Differentiating through the masking instead would give the gradients of the finite part:
//! no gradient to a NaN sample, none from an output made NaN, and finite gradients beside a
//! NaN tap. On other devices Burn's autodiff differentiates the ops.

use burn::tensor::Tensor;

use crate::error::ConvolveError;
use crate::geometry::Geometry;
use crate::nonfinite::tensor::{burn_conv, numpy_sums};
use crate::plan::{ConvPlan, Route};

/// The forward pass of `plan` on this executor, with NumPy's NaN and infinities; on a CubeCL
/// device under autodiff, recorded with the op's gradients.
///
/// # Shapes
/// - `x`: `[batch, cin, n]`, `w`: `[cout, cin / groups, m]` (NumPy orientation)
/// - returns: `[batch, cout, out_len]`
pub(crate) fn forward(
    x: Tensor<3>,
    w: Tensor<3>,
    plan: &ConvPlan,
) -> Result<Tensor<3>, ConvolveError> {
    let g = plan.geometry;
    #[cfg(all(feature = "autodiff", feature = "wgpu"))]
    if (x.is_autodiff() || w.is_autodiff())
        && crate::device::DeviceKind::of(&x.device()) == crate::device::DeviceKind::Cube
    {
        let y = sums(x.clone().inner(), w.clone().inner(), &g, plan.forward)?;
        return Ok(crate::op::npconv_tracked(x, w, y, *plan));
    }
    sums(x, w, &g, plan.forward)
}

/// The sliding dot product of `g` on `route`: Burn's `conv1d`, or the device FFT (guarded:
/// behind its accuracy guard, with its edges repaired).
pub(crate) fn sums(
    x: Tensor<3>,
    w: Tensor<3>,
    g: &Geometry,
    route: Route,
) -> Result<Tensor<3>, ConvolveError> {
    #[cfg(feature = "wgpu")]
    if let Route::DeviceFft { guarded } = route {
        use super::device_fft;
        let fft = |x: Tensor<3>, w: Tensor<3>, finite: Option<bool>| {
            numpy_sums(x, w, g, true, finite, |x, w| device_fft::conv(x, w, g))
        };
        if !guarded {
            return fft(x, w, None);
        }
        // One read-back for everything the guard, the NaN/inf rule and the edge repair need
        // of the inputs.
        let probe = crate::guard::device::probe(&x, &w, g)?;
        if probe.max_x.is_some() {
            let y = fft(x.clone(), w.clone(), Some(probe.finite))?;
            return crate::guard::device::repair_edges(&x, &w, g, y, &probe);
        }
        return numpy_sums(x, w, g, false, Some(probe.finite), |x, w| {
            burn_conv(x, w, g)
        });
    }
    debug_assert!(
        !matches!(route, Route::Host { .. }),
        "a host route on the tensor executor"
    );
    numpy_sums(x, w, g, false, None, |x, w| burn_conv(x, w, g))
}

/// The gradient with respect to `x` of `Σ gy · conv(x, w)`: `Σ_j gy[j] · wk[t + left - j]`,
/// the convolution of `gy` with the kernel transposed per group, over the geometry
/// [`Geometry::input_grad`], on the plan's input-gradient route.
///
/// # Shapes
/// - `w`: `[cout, cin / groups, m]`, `gy`: `[batch, cout, out_len]`
/// - returns: `[batch, cin, n]`
#[cfg(all(feature = "wgpu", feature = "autodiff"))]
pub(crate) fn input_grad(
    w: Tensor<3>,
    gy: Tensor<3>,
    plan: &ConvPlan,
) -> Result<Tensor<3>, ConvolveError> {
    let g = &plan.geometry;
    // wt[grp · cpg + i, a, k] = w[grp · opg + a, i, k]
    let wt = w
        .reshape([g.groups, g.opg(), g.cpg(), g.m])
        .swap_dims(1, 2)
        .reshape([g.cin, g.opg(), g.m]);
    sums(gy, wt, &g.input_grad(), plan.input_grad_route())
}

/// The gradient with respect to `w` of `Σ gy · conv(x, w)`:
/// `dwk[o, i, k] = Σ_b Σ_j xpad[b, grp · cpg + i, j + k] · gy[b, o, j]`, NumPy's sum over the
/// terms where the padded signal is the signal. As a sliding dot product: the signal's
/// per-group channels become the batch, its batch the channels, and `gy` the kernel. On the
/// plan's weight-gradient route (which has no accuracy guard, as on the host).
///
/// # Shapes
/// - `x`: `[batch, cin, n]`, `gy`: `[batch, cout, out_len]`
/// - returns: `[cout, cin / groups, m]` (NumPy orientation)
#[cfg(all(feature = "wgpu", feature = "autodiff"))]
pub(crate) fn weight_grad(
    x: Tensor<3>,
    gy: Tensor<3>,
    plan: &ConvPlan,
) -> Result<Tensor<3>, ConvolveError> {
    let g = &plan.geometry;
    let (b, groups, cpg, l) = (g.batch, g.groups, g.cpg(), g.out_len());
    // xs[i, grp · b + s, t] = x[s, grp · cpg + i, t]; gs[o, s, j] = gy[s, o, j].
    let xs = x
        .reshape([b, groups, cpg, g.n])
        .permute([2, 1, 0, 3])
        .reshape([cpg, groups * b, g.n]);
    let gs = gy.swap_dims(0, 1);
    let gw = Geometry::padded(
        [cpg, groups * b, g.n],
        [g.cout, b, l],
        groups,
        (g.left, g.right),
        false,
    );
    debug_assert_eq!(gw.out_len(), g.m);
    let dwk = sums(xs, gs, &gw, plan.weight_grad_route())?.swap_dims(0, 1);
    Ok(if g.reversed { dwk.flip([2]) } else { dwk })
}
