#![allow(deprecated)] // the macro names burn-ndarray, deprecated upstream; our users asked for it.
//! This crate's Burn backend op (`#[backend_extension]`): the sliding dot product of a
//! [`ConvPlan`] and its two gradients, one file per role:
//!
//! - here: the trait and its entry points;
//! - [`host`]: flex and ndarray, whose tensors the host kernels ([`crate::cpu`]) read in place;
//! - `cube`: CubeCL devices (wgpu), the gradients on the device ([`crate::exec::tensor_ops`]);
//! - `wire`: Burn's remote backend, the op shipped to a server that runs it on its host
//!   kernels (client and server side, and the versioned wire format of the plan);
//! - `admit`: what a server checks of an op before it runs it;
//! - `backward`: the autodiff backward pass, whose gradients take the routes of the plan.

#[cfg(all(feature = "remote", cpu_kernels))]
mod admit;
#[cfg(all(test, feature = "remote", feature = "flex", feature = "autodiff"))]
mod attack_tests;
#[cfg(feature = "autodiff")]
mod backward;
#[cfg(feature = "wgpu")]
mod cube;
#[cfg(cpu_kernels)]
pub(crate) mod host;
#[cfg(feature = "remote")]
pub(crate) mod wire;

use burn::backend::tensor::FloatTensor;
use burn::backend::{Backend, Dispatch, backend_extension};
use burn::tensor::Tensor;

use crate::plan::ConvPlan;

/// The weight as the sliding dot product uses it: reversed along the taps when `reversed`.
fn oriented<B: Backend>(w: FloatTensor<B>, reversed: bool) -> FloatTensor<B> {
    if reversed { B::float_flip(w, &[2]) } else { w }
}

/// The sliding dot product of a [`ConvPlan`] and its two gradients. The default bodies are
/// Burn's own conv ops, for a backend without an implementation of its own.
#[backend_extension(
    Flex: cfg(feature = "flex"),
    NdArray: cfg(feature = "ndarray"),
    Cube: cfg(feature = "wgpu"),
    Remote: cfg(feature = "remote"),
    Autodiff: cfg(feature = "autodiff"),
)]
pub(crate) trait NpConvOps: Backend {
    /// `x` `[batch, cin, n]`, `w` `[cout, cin / groups, m]` -> `[batch, cout, out_len]`.
    fn npconv(x: FloatTensor<Self>, w: FloatTensor<Self>, plan: ConvPlan) -> FloatTensor<Self> {
        let g = plan.geometry;
        Self::conv1d(x, oriented::<Self>(w, g.reversed), None, g.conv_options())
    }

    /// `y`, computed from `x` and `w` outside the op (on the tensors without autodiff), as the
    /// op's output: under autodiff, its gradients are those of the op's backward pass.
    #[cfg(all(feature = "autodiff", feature = "wgpu"))]
    fn npconv_tracked(
        x: FloatTensor<Self>,
        w: FloatTensor<Self>,
        y: FloatTensor<Self>,
        plan: ConvPlan,
    ) -> FloatTensor<Self> {
        let _ = (x, w, plan);
        y
    }

    /// The gradient with respect to `x` of `Σ gy · npconv(x, w)`.
    #[cfg(feature = "autodiff")]
    fn npconv_input_grad(
        x: FloatTensor<Self>,
        w: FloatTensor<Self>,
        gy: FloatTensor<Self>,
        plan: ConvPlan,
    ) -> FloatTensor<Self> {
        let g = plan.geometry;
        Self::conv1d_x_backward(x, oriented::<Self>(w, g.reversed), gy, g.conv_options())
    }

    /// The gradient with respect to `w` of `Σ gy · npconv(x, w)`.
    #[cfg(feature = "autodiff")]
    fn npconv_weight_grad(
        x: FloatTensor<Self>,
        w: FloatTensor<Self>,
        gy: FloatTensor<Self>,
        plan: ConvPlan,
    ) -> FloatTensor<Self> {
        let g = plan.geometry;
        let wk = oriented::<Self>(w, g.reversed);
        oriented::<Self>(
            Self::conv1d_weight_backward(x, wk, gy, g.conv_options()),
            g.reversed,
        )
    }

    /// A gradient of a leaf tensor (one the caller asked gradients for), as the backend reads
    /// it fastest while `Gradients` keeps a reference to it: the caller's `grad(&grads)` is a
    /// second reference, so reading it cannot take the buffer over. The same tensor by default.
    #[cfg(feature = "autodiff")]
    fn npconv_leaf_grad(grad: FloatTensor<Self>) -> FloatTensor<Self> {
        grad
    }
}

/// Runs the op on `x` and `w`.
pub(crate) fn npconv(x: Tensor<3>, w: Tensor<3>, plan: ConvPlan) -> Tensor<3> {
    Tensor::from_dispatch(<Dispatch as NpConvOps>::npconv(
        x.into_dispatch(),
        w.into_dispatch(),
        plan,
    ))
}

/// Records `y`, the op's result computed from `x` and `w` without autodiff, with the op's
/// backward pass.
#[cfg(all(feature = "autodiff", feature = "wgpu"))]
pub(crate) fn npconv_tracked(
    x: Tensor<3>,
    w: Tensor<3>,
    y: Tensor<3>,
    plan: ConvPlan,
) -> Tensor<3> {
    Tensor::from_dispatch(<Dispatch as NpConvOps>::npconv_tracked(
        x.into_dispatch(),
        w.into_dispatch(),
        y.into_dispatch(),
        plan,
    ))
}
