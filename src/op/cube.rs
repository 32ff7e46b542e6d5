//! The op on CubeCL devices (wgpu): its gradients, on the routes of the plan, by the tensor
//! executor ([`crate::exec::tensor_ops`]) on Cube's tensors read as dispatch tensors without
//! autodiff (the backward pass runs on the inner backend). The forward pass does not go
//! through the op there: the executor computes it and records it (`npconv_tracked`).

use burn::backend::Cube;
#[cfg(feature = "autodiff")]
use burn::backend::tensor::FloatTensor;
#[cfg(feature = "autodiff")]
use burn::backend::{BackendTensor, DispatchAutodiffContext, DispatchTensor, DispatchTensorKind};
#[cfg(feature = "autodiff")]
use burn::tensor::Tensor;

use super::NpConvOps;
#[cfg(feature = "autodiff")]
use crate::error::ConvolveError;
#[cfg(feature = "autodiff")]
use crate::exec::tensor_ops;
#[cfg(feature = "autodiff")]
use crate::plan::ConvPlan;

#[cfg(feature = "autodiff")]
fn wrap(t: FloatTensor<Cube>) -> Tensor<3> {
    Tensor::from_dispatch(DispatchTensor {
        kind: DispatchTensorKind::Cube(BackendTensor::Float(t)),
        autodiff: DispatchAutodiffContext::Disabled,
    })
}

#[cfg(feature = "autodiff")]
fn unwrap(t: Tensor<3>) -> FloatTensor<Cube> {
    match t.into_dispatch().kind {
        DispatchTensorKind::Cube(t) => t.float(),
        #[allow(unreachable_patterns)] // wgpu alone: Cube is the only kind
        other => panic!("burn-npconv: a wgpu op's result on another backend: {other:?}"),
    }
}

/// The result, or a panic naming the failure: a backward pass cannot return an error.
#[cfg(feature = "autodiff")]
fn expect(what: &str, r: Result<Tensor<3>, ConvolveError>) -> FloatTensor<Cube> {
    match r {
        Ok(t) => unwrap(t),
        Err(e) => panic!("burn-npconv: {what} of a convolution on wgpu failed: {e}"),
    }
}

impl NpConvOps for Cube {
    #[cfg(feature = "autodiff")]
    fn npconv_input_grad(
        _x: FloatTensor<Cube>,
        w: FloatTensor<Cube>,
        gy: FloatTensor<Cube>,
        plan: ConvPlan,
    ) -> FloatTensor<Cube> {
        let r = tensor_ops::input_grad(wrap(w), wrap(gy), &plan);
        expect("the input gradient", r)
    }

    #[cfg(feature = "autodiff")]
    fn npconv_weight_grad(
        x: FloatTensor<Cube>,
        _w: FloatTensor<Cube>,
        gy: FloatTensor<Cube>,
        plan: ConvPlan,
    ) -> FloatTensor<Cube> {
        let r = tensor_ops::weight_grad(wrap(x), wrap(gy), &plan);
        expect("the weight gradient", r)
    }
}
