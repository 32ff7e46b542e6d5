//! The paths made of Burn's tensor ops, on devices the CPU kernels cannot read (wgpu): Burn's
//! `conv1d` and the device FFT, with NumPy's NaN and infinities ([`crate::nonfinite`]), and
//! their gradients by the same rule.
//!
//! Under autodiff the forward pass runs on the tensors without their autodiff association, and
//! the op `cpu_conv1d_tracked` (`burn_op.rs`) records it. Its backward pass takes the CPU op's
//! shape: the input gradient is the convolution of the output gradient with the transposed,
//! reversed kernel, the weight gradient the correlation of the input with the output gradient,
//! each summed by this path with NumPy's rule. Differentiating through the masking instead
//! would give the gradients of the finite part: no gradient to a NaN sample, none from an
//! output made NaN, and finite gradients beside a NaN tap.

use burn::tensor::Tensor;

use crate::burn_op::CpuConvArgs;
use crate::error::ConvolveError;
use crate::method::Method;
#[cfg(feature = "wgpu")]
use crate::method::{Path, path};
use crate::mode::Geometry;
use crate::nonfinite::{burn_conv, numpy_sums};

/// The sliding dot product of `args.geometry` on this path, with NumPy's NaN and infinities;
/// under autodiff, recorded with gradients by the same rule.
///
/// # Shapes
/// - `x`: `[batch, cin, n]`, `w`: `[cout, cin / groups, m]` (NumPy orientation)
/// - returns: `[batch, cout, out_len]`
pub(crate) fn conv(
    x: Tensor<3>,
    w: Tensor<3>,
    args: CpuConvArgs,
) -> Result<Tensor<3>, ConvolveError> {
    let g = args.geometry;
    // The tracked op's backward pass is implemented for CubeCL devices (below); elsewhere
    // (no such device reaches this path today) Burn's autodiff differentiates the ops.
    #[cfg(all(feature = "autodiff", feature = "wgpu"))]
    if (x.is_autodiff() || w.is_autodiff()) && crate::method::cube_device(&x.device()) {
        let y = sums(x.clone().inner(), w.clone().inner(), &g, args.method())?;
        return Ok(crate::burn_op::cpu_conv1d_tracked(x, w, y, args));
    }
    sums(x, w, &g, args.method())
}

/// The sliding dot product of `g` by `method`'s path on the tensors' device: Burn's `conv1d`,
/// or the device FFT (under `Auto`, behind its accuracy guard, with its edges repaired).
pub(crate) fn sums(
    x: Tensor<3>,
    w: Tensor<3>,
    g: &Geometry,
    method: Method,
) -> Result<Tensor<3>, ConvolveError> {
    #[cfg(feature = "wgpu")]
    if path(method, &x.device(), x.dtype(), g) == Path::DeviceFft {
        let fft = |x: Tensor<3>, w: Tensor<3>, finite: Option<bool>| {
            numpy_sums(x, w, g, true, finite, |x, w| crate::gpu_fft::conv(x, w, g))
        };
        if method != Method::Auto {
            return fft(x, w, None);
        }
        // One read-back for everything the guard, the NaN/inf rule and the edge repair need
        // of the inputs.
        let probe = crate::gpu_fft::probe(&x, &w, g)?;
        if let Some(max_x) = probe.max_x {
            let y = fft(x.clone(), w.clone(), Some(probe.finite))?;
            return crate::gpu_fft::repair_edges(&x, &w, g, y, max_x, &probe);
        }
        return numpy_sums(x, w, g, false, Some(probe.finite), |x, w| {
            burn_conv(x, w, g)
        });
    }
    #[cfg(not(feature = "wgpu"))]
    let _ = method; // Burn's conv1d is the only path here
    numpy_sums(x, w, g, false, None, |x, w| burn_conv(x, w, g))
}

/// The gradient with respect to `x` of `Σ gy · conv(x, w)`: `Σ_j gy[j] · wk[t + left - j]`,
/// the convolution of `gy` with the kernel transposed per group, over the geometry
/// [`Geometry::input_grad`], by `method` (under `Auto`, the path the cost model chooses for it).
///
/// # Shapes
/// - `w`: `[cout, cin / groups, m]`, `gy`: `[batch, cout, out_len]`
/// - returns: `[batch, cin, n]`
#[cfg(all(feature = "wgpu", feature = "autodiff"))]
pub(crate) fn input_grad(
    w: Tensor<3>,
    gy: Tensor<3>,
    g: &Geometry,
    method: Method,
) -> Result<Tensor<3>, ConvolveError> {
    // wt[grp · cpg + i, a, k] = w[grp · opg + a, i, k]
    let wt = w
        .reshape([g.groups, g.opg(), g.cpg(), g.m])
        .swap_dims(1, 2)
        .reshape([g.cin, g.opg(), g.m]);
    sums(gy, wt, &g.input_grad(), method)
}

/// The gradient with respect to `w` of `Σ gy · conv(x, w)`:
/// `dwk[o, i, k] = Σ_b Σ_j xpad[b, grp · cpg + i, j + k] · gy[b, o, j]`, NumPy's sum over the
/// terms where the padded signal is the signal. As a sliding dot product: the signal's
/// per-group channels become the batch, its batch the channels, and `gy` the kernel.
///
/// As on the CPU, this gradient has no accuracy guard: under `Auto` it takes the path the cost
/// model chooses for the forward pass.
///
/// # Shapes
/// - `x`: `[batch, cin, n]`, `gy`: `[batch, cout, out_len]`
/// - returns: `[cout, cin / groups, m]` (NumPy orientation)
#[cfg(all(feature = "wgpu", feature = "autodiff"))]
pub(crate) fn weight_grad(
    x: Tensor<3>,
    gy: Tensor<3>,
    g: &Geometry,
    method: Method,
) -> Result<Tensor<3>, ConvolveError> {
    let (b, groups, cpg, l) = (g.batch, g.groups, g.cpg(), g.out_len());
    let method = match method {
        Method::Auto => match path(Method::Auto, &x.device(), x.dtype(), g) {
            Path::DeviceFft => Method::Fft,
            _ => Method::Direct,
        },
        forced => forced,
    };
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
    let dwk = sums(xs, gs, &gw, method)?.swap_dims(0, 1);
    Ok(if g.reversed { dwk.flip([2]) } else { dwk })
}

/// The op on wgpu: this module's paths on Cube's tensors, read as dispatch tensors without
/// autodiff (the op's backward pass runs on the inner backend).
#[cfg(feature = "wgpu")]
mod cube {
    use super::*;
    use crate::burn_op::CpuConvOps;
    use burn::backend::tensor::FloatTensor;
    use burn::backend::{
        BackendTensor, Cube, DispatchAutodiffContext, DispatchTensor, DispatchTensorKind,
    };

    fn wrap(t: FloatTensor<Cube>) -> Tensor<3> {
        Tensor::from_dispatch(DispatchTensor {
            kind: DispatchTensorKind::Cube(BackendTensor::Float(t)),
            autodiff: DispatchAutodiffContext::Disabled,
        })
    }

    fn unwrap(t: Tensor<3>) -> FloatTensor<Cube> {
        match t.into_dispatch().kind {
            DispatchTensorKind::Cube(t) => t.float(),
            #[allow(unreachable_patterns)] // wgpu alone: Cube is the only kind
            other => panic!("burn-npconv: a wgpu op's result on another backend: {other:?}"),
        }
    }

    /// The result, or a panic naming the failure: a backward pass cannot return an error.
    fn expect(what: &str, r: Result<Tensor<3>, ConvolveError>) -> FloatTensor<Cube> {
        match r {
            Ok(t) => unwrap(t),
            Err(e) => panic!("burn-npconv: {what} of a convolution on wgpu failed: {e}"),
        }
    }

    impl CpuConvOps for Cube {
        fn cpu_conv1d(
            x: FloatTensor<Cube>,
            w: FloatTensor<Cube>,
            args: CpuConvArgs,
        ) -> FloatTensor<Cube> {
            let r = sums(wrap(x), wrap(w), &args.geometry, args.method());
            expect("the forward pass", r)
        }

        #[cfg(feature = "autodiff")]
        fn cpu_conv1d_input_grad(
            _x: FloatTensor<Cube>,
            w: FloatTensor<Cube>,
            gy: FloatTensor<Cube>,
            args: CpuConvArgs,
        ) -> FloatTensor<Cube> {
            let r = input_grad(wrap(w), wrap(gy), &args.geometry, args.method());
            expect("the input gradient", r)
        }

        #[cfg(feature = "autodiff")]
        fn cpu_conv1d_weight_grad(
            x: FloatTensor<Cube>,
            _w: FloatTensor<Cube>,
            gy: FloatTensor<Cube>,
            args: CpuConvArgs,
        ) -> FloatTensor<Cube> {
            let r = weight_grad(wrap(x), wrap(gy), &args.geometry, args.method());
            expect("the weight gradient", r)
        }
    }
}
