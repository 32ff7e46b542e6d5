//! What kind of device a call runs on, and what it can compute: read once per call by the
//! plan ([`crate::plan`]).

use burn::tensor::{DType, Device};

use crate::error::ConvolveError;

/// The kinds of device the plan routes between.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum DeviceKind {
    /// flex or ndarray: f32 and f64 tensors the host kernels read in place.
    Host,
    /// A CubeCL device (wgpu): Burn's `conv1d` and its FFT ops on the device.
    Cube,
    /// A device of Burn's remote backend: the op runs on the server's host kernels.
    Remote,
    /// Any other device: Burn's own ops.
    Other,
}

impl DeviceKind {
    /// The kind of `device` (autodiff or not).
    pub(crate) fn of(device: &Device) -> DeviceKind {
        if host_backend(device) {
            return DeviceKind::Host;
        }
        #[cfg(any(feature = "wgpu", feature = "remote"))]
        match device.clone().inner().as_dispatch() {
            #[cfg(feature = "wgpu")]
            burn::backend::DispatchDevice::Cube(_) => return DeviceKind::Cube,
            #[cfg(feature = "remote")]
            burn::backend::DispatchDevice::Remote(_) => return DeviceKind::Remote,
            #[allow(unreachable_patterns)]
            _ => {}
        }
        DeviceKind::Other
    }
}

/// Whether `device` is a CPU backend whose f32 and f64 tensors the host kernels can read.
fn host_backend(device: &Device) -> bool {
    #[cfg(feature = "flex")]
    if *device == Device::flex() {
        return true;
    }
    #[cfg(feature = "ndarray")]
    #[allow(deprecated)] // burn-ndarray is deprecated upstream; our users asked for it.
    if *device == Device::ndarray() {
        return true;
    }
    let _ = device;
    false
}

/// Whether `device` computes in `dtype`: [`ConvolveError::UnsupportedDType`] if not, and
/// [`ConvolveError::RemoteDevice`] if the device is remote and its server does not answer (Burn's
/// remote client panics there).
pub(crate) fn check_dtype(
    device: &Device,
    kind: DeviceKind,
    dtype: DType,
) -> Result<(), ConvolveError> {
    let supported = if kind == DeviceKind::Remote {
        answer(device, || device.supports_dtype(dtype))?
    } else {
        device.supports_dtype(dtype)
    };
    if supported {
        Ok(())
    } else {
        Err(ConvolveError::UnsupportedDType {
            dtype: format!("{dtype:?}"),
            device: format!("{device:?}"),
        })
    }
}

/// `query`'s answer, or [`ConvolveError::RemoteDevice`] if Burn's remote client panics
/// because `device`'s server does not answer.
pub(crate) fn answer<R>(device: &Device, query: impl FnOnce() -> R) -> Result<R, ConvolveError> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(query)).map_err(|payload| {
        let reason = payload
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_else(|| "the remote client panicked".into());
        ConvolveError::RemoteDevice {
            device: format!("{device:?}"),
            reason,
        }
    })
}
