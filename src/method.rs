//! How a convolution is computed: [`Method`], and the choice `Auto` makes.

use burn::tensor::{DType, Device};

use crate::cost;
use crate::cpu::CpuKernel;
use crate::error::ConvolveError;
use crate::mode::Geometry;

/// How a convolution is computed. The result is NumPy's whatever the method, within f32
/// rounding; only speed and memory differ.
///
/// | method | flex, ndarray (f32) | wgpu (f32) |
/// |---|---|---|
/// | [`Method::Direct`] | a register-blocked direct kernel (AVX2 + FMA when the CPU has them) | Burn's `conv1d` |
/// | [`Method::Fft`] | overlap-add on `realfft` | Burn's `rfft`/`irfft` on the device, one transform per channel |
/// | [`Method::Auto`] | the cheaper of the two, by a cost model measured on this implementation | the cheaper of the two, by a cost model measured on lavapipe |
///
/// f64 runs on the host kernels of flex and ndarray; on wgpu, where the adapter has f64 (not
/// lavapipe's), it takes Burn's `conv1d` whatever the method.
///
/// The host kernels use both cores (rayon) once the work is large enough to pay for waking
/// the worker threads, and run on the calling thread below that.
///
/// Every method is differentiable: the convolution runs as a Burn backend op with its own
/// backward pass, whose input and weight gradients are sliding dot products computed on the
/// same path (the host kernels on flex and ndarray; on wgpu, Burn's device ops `conv1d`,
/// `rfft`, `irfft` and elementwise ops, nothing going through the host), with NumPy's rule for
/// NaN and infinities.
///
/// Parsing accepts `"auto"`, `"direct"` and `"fft"`; serde uses the same names.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Method {
    /// Pick the fastest path for the device and the shapes. The default.
    #[default]
    Auto,
    /// Sliding dot products: the host direct kernel on flex and ndarray, Burn's own
    /// `conv1d` elsewhere.
    Direct,
    /// FFT convolution: overlap-add on the host for flex and ndarray, Burn's `rfft`/`irfft` on
    /// wgpu devices.
    Fft,
}

impl Method {
    /// All methods.
    pub const ALL: [Method; 3] = [Method::Auto, Method::Direct, Method::Fft];

    /// `"auto"`, `"direct"` or `"fft"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Auto => "auto",
            Method::Direct => "direct",
            Method::Fft => "fft",
        }
    }
}

crate::names::named_enum!(Method, ConvolveError, |got| ConvolveError::UnknownMethod {
    got
});

/// The path a convolution takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Path {
    /// Burn's `conv1d` on the tensors' device.
    Burn,
    /// A CPU kernel, run as this crate's Burn backend op (flex and ndarray, f32 and f64).
    Cpu(CpuKernel),
    /// FFT convolution on the device with Burn's `rfft`/`irfft` (CubeCL devices).
    #[cfg(feature = "wgpu")]
    DeviceFft,
}

/// Whether `device` is a CubeCL device (wgpu), where Burn's FFT ops run on the device.
#[cfg(feature = "wgpu")]
pub(crate) fn cube_device(device: &Device) -> bool {
    matches!(
        device.clone().inner().as_dispatch(),
        burn::backend::DispatchDevice::Cube(_)
    )
}

/// Whether `device` is a CPU backend whose f32 tensors the CPU kernels can read.
pub(crate) fn host_backend(device: &Device) -> bool {
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
pub(crate) fn check_dtype(device: &Device, dtype: DType) -> Result<(), ConvolveError> {
    #[cfg(feature = "remote")]
    let supported = if crate::remote::is_remote(device) {
        crate::remote::answer(device, || device.supports_dtype(dtype))?
    } else {
        device.supports_dtype(dtype)
    };
    #[cfg(not(feature = "remote"))]
    let supported = device.supports_dtype(dtype);
    if supported {
        Ok(())
    } else {
        Err(ConvolveError::UnsupportedDType {
            dtype: format!("{dtype:?}"),
            device: format!("{device:?}"),
        })
    }
}

/// The path for `method` on `device`, tensors of `dtype`, and the geometry `g`.
pub(crate) fn path(method: Method, device: &Device, dtype: DType, g: &Geometry) -> Path {
    #[cfg(feature = "wgpu")]
    if dtype == DType::F32 && cube_device(device) {
        return match method {
            Method::Direct => Path::Burn,
            Method::Fft => Path::DeviceFft,
            Method::Auto if cost::wgpu_fft(g) < cost::wgpu_direct(g) => Path::DeviceFft,
            Method::Auto => Path::Burn,
        };
    }
    // A remote device: the op runs on the server's host kernels (`crate::remote`).
    #[cfg(feature = "remote")]
    let host = host_backend(device) || crate::remote::is_remote(device);
    #[cfg(not(feature = "remote"))]
    let host = host_backend(device);
    if !matches!(dtype, DType::F32 | DType::F64) || !host {
        return Path::Burn;
    }
    match method {
        Method::Direct => Path::Cpu(CpuKernel::Direct),
        Method::Fft => Path::Cpu(CpuKernel::Fft),
        Method::Auto => Path::Cpu(cost::CpuModel::of(dtype).cheaper(g)),
    }
}

#[cfg(all(test, any(feature = "flex", feature = "wgpu")))]
mod tests {
    use super::*;
    use crate::mode::{Mode, Operation};

    fn dims(batch: usize, channels: usize, n: usize, m: usize) -> Geometry {
        Geometry::numpy(
            [batch, channels, n],
            [channels, 1, m],
            channels,
            Mode::Same,
            Operation::Convolution,
        )
    }

    #[cfg(feature = "flex")]
    #[test]
    fn cpu_methods_take_the_host_kernels_and_auto_follows_the_model() {
        let device = Device::flex();
        let f32 = DType::F32;
        let d = dims(1, 1, 1000, 3);
        assert_eq!(
            path(Method::Direct, &device, f32, &d),
            Path::Cpu(CpuKernel::Direct)
        );
        assert_eq!(
            path(Method::Fft, &device, f32, &d),
            Path::Cpu(CpuKernel::Fft)
        );
        assert_eq!(
            path(Method::Auto, &device, f32, &d),
            Path::Cpu(CpuKernel::Direct)
        );
        let long = dims(1, 1, 1_000_000, 4095);
        assert_eq!(
            path(Method::Auto, &device, f32, &long),
            Path::Cpu(CpuKernel::Fft)
        );
        assert_eq!(
            path(Method::Auto, &device.clone().autodiff(), f32, &long),
            Path::Cpu(CpuKernel::Fft)
        );
        assert_eq!(
            path(Method::Fft, &device, DType::F64, &long),
            Path::Cpu(CpuKernel::Fft)
        );
        assert_eq!(path(Method::Fft, &device, DType::F16, &long), Path::Burn);
    }

    #[cfg(feature = "wgpu")]
    #[test]
    fn wgpu_methods_stay_on_the_device() {
        let device = Device::wgpu(Default::default());
        let f32 = DType::F32;
        let short = dims(1, 1, 100_000, 15);
        let long = dims(1, 1, 100_000, 4095);
        assert_eq!(path(Method::Direct, &device, f32, &long), Path::Burn);
        assert_eq!(path(Method::Fft, &device, f32, &short), Path::DeviceFft);
        assert_eq!(path(Method::Auto, &device, f32, &short), Path::Burn);
        assert_eq!(path(Method::Auto, &device, f32, &long), Path::DeviceFft);
        assert_eq!(
            path(Method::Auto, &device.clone().autodiff(), f32, &long),
            Path::DeviceFft
        );
        assert_eq!(path(Method::Fft, &device, DType::F64, &long), Path::Burn);
    }
}
