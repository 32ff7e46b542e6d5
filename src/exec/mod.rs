//! Executors: a [`Plan`] run on tensors. The host routes go to this crate's backend op
//! ([`crate::op`]: the host kernels on flex and ndarray, the server's on a remote device), the
//! others to Burn's tensor ops on the tensors' device ([`tensor_ops`]). Nothing here decides a
//! route; what is left is what depends on the values (NaN/inf, the accuracy guard).

#[cfg(feature = "wgpu")]
pub(crate) mod device_fft;
pub(crate) mod tensor_ops;

use burn::tensor::Tensor;

use crate::boundary::Boundary;
use crate::dtype::cast;
use crate::error::ConvolveError;
use crate::plan::{Plan, Route};

/// Runs `plan` on `x` `[batch, cin, n]`, `weight` `[cout, cin / groups, m]` (NumPy
/// orientation) and `bias` `[cout]`: the signal padded by the plan's boundary, the sliding dot
/// product of its geometry, the bias, in NumPy's result dtype.
///
/// # Shapes
/// - returns: `[batch, cout, out_len]`
pub(crate) fn run(
    x: Tensor<3>,
    weight: Tensor<3>,
    bias: Option<Tensor<1>>,
    plan: &Plan,
) -> Result<Tensor<3>, ConvolveError> {
    let (x, weight) = (cast(x, plan.compute), cast(weight, plan.compute));
    let x = match plan.boundary {
        Boundary::Zeros => x,
        rule => crate::boundary::pad(x, plan.pad, rule),
    };
    let conv = &plan.conv;
    let y = match conv.forward {
        Route::Host { .. } => crate::op::npconv(x, weight, *conv),
        Route::BurnConv | Route::DeviceFft { .. } => tensor_ops::forward(x, weight, conv)?,
    };
    let y = match bias {
        Some(bias) => y + cast(bias, plan.compute).reshape([1, conv.geometry.cout, 1]),
        None => y,
    };
    Ok(cast(y, plan.dtype))
}
