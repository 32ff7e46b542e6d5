//! How a convolution is computed: [`Method`], and the choice `Auto` makes.

use core::fmt;
use core::str::FromStr;

use burn::tensor::{DType, Device};

use crate::error::ConvolveError;
use crate::host::{self, Dims, HostKernel};

/// How a convolution is computed. The result is NumPy's whatever the method, within f32
/// rounding; only speed and memory differ.
///
/// | method | flex, ndarray (f32) | wgpu (f32) |
/// |---|---|---|
/// | [`Method::Direct`] | a register-blocked direct kernel (AVX2 + FMA when the CPU has them) | Burn's `conv1d` |
/// | [`Method::Fft`] | overlap-add on `realfft` | Burn's `rfft`/`irfft` on the device, one transform per channel |
/// | [`Method::Auto`] | the cheaper of the two, by a cost model measured on this implementation | the cheaper of the two, by a cost model measured on lavapipe |
///
/// f64 tensors take Burn's `conv1d` on every backend, whatever the method.
///
/// The host kernels use both cores (rayon) once the work is large enough to pay for waking
/// the worker threads, and run on the calling thread below that.
///
/// Every method is differentiable: on flex and ndarray the host kernels run as a Burn backend
/// op with its own backward pass, whose input and weight gradients are correlations computed
/// on the same host path. On wgpu every path is made of Burn's differentiable device ops
/// (`conv1d`, `rfft`, `irfft`, elementwise); nothing goes through the host.
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

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Method {
    type Err = ConvolveError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Method::ALL
            .into_iter()
            .find(|m| m.as_str() == s)
            .ok_or_else(|| ConvolveError::UnknownMethod { got: s.to_string() })
    }
}

impl burn::serde::Serialize for Method {
    fn serialize<S: burn::serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> burn::serde::Deserialize<'de> for Method {
    fn deserialize<D: burn::serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = <String as burn::serde::Deserialize>::deserialize(deserializer)?;
        name.parse().map_err(burn::serde::de::Error::custom)
    }
}

/// The path a convolution takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Path {
    /// Burn's `conv1d` on the tensors' device.
    Burn,
    /// A host kernel (flex and ndarray, f32 only).
    Host(HostKernel),
    /// FFT convolution on the device with Burn's `rfft`/`irfft` (CubeCL devices).
    #[cfg(feature = "wgpu")]
    DeviceFft,
}

/// Whether `device` is a CubeCL device (wgpu), where Burn's FFT ops run on the device.
#[cfg(feature = "wgpu")]
fn cube_device(device: &Device) -> bool {
    matches!(
        device.clone().inner().as_dispatch(),
        burn::backend::DispatchDevice::Cube(_)
    )
}

/// Whether `device` is a CPU backend whose f32 tensors the host kernels can read.
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

/// The path for `method` on `device`, tensors of `dtype`, and shapes `d`.
pub(crate) fn path(method: Method, device: &Device, dtype: DType, d: &Dims) -> Path {
    #[cfg(feature = "wgpu")]
    if dtype == DType::F32 && cube_device(device) {
        return match method {
            Method::Direct => Path::Burn,
            Method::Fft => Path::DeviceFft,
            Method::Auto if device::fft_cost(d) < device::direct_cost(d) => Path::DeviceFft,
            Method::Auto => Path::Burn,
        };
    }
    if dtype != DType::F32 || !host_backend(device) {
        return Path::Burn;
    }
    match method {
        Method::Direct => Path::Host(HostKernel::Direct),
        Method::Fft => Path::Host(HostKernel::Fft),
        Method::Auto => Path::Host(cheaper(d)),
    }
}

/// Modelled nanoseconds of the direct host kernel (see [`host::cost`]).
pub(crate) fn direct_cost(d: &Dims) -> f64 {
    let outputs = d.batch * d.cout * d.out_len();
    let macs = outputs * (d.cin / d.groups) * d.m;
    let ns = macs as f64 * host::cost::NS_PER_MAC + outputs as f64 * host::cost::NS_PER_OUTPUT;
    if macs < host::SERIAL_MACS {
        ns
    } else {
        ns / host::cost::PARALLEL_SPEEDUP
    }
}

/// Modelled nanoseconds of the FFT host kernel (see [`host::cost`]).
pub(crate) fn fft_cost(d: &Dims) -> f64 {
    let (cpg, opg) = (d.cin / d.groups, d.cout / d.groups);
    let f = host::fft_len(d.n, d.m, cpg, opg);
    let blocks = d.n.div_ceil(f - d.m + 1);
    let units = d.batch * d.groups;
    let ff = f as f64;
    let kernels = (d.cout * cpg) as f64 * ff * ff.log2() * host::cost::NS_PER_FFT_UNIT;
    let ns = (units * blocks) as f64 * host::fft_block_ns(f, cpg, opg);
    let ns = if units * blocks * (cpg + opg) * f < host::SERIAL_FFT_POINTS {
        ns
    } else {
        ns / host::cost::PARALLEL_SPEEDUP
    };
    host::cost::NS_FFT_SETUP + kernels + ns
}

pub(crate) fn cheaper(d: &Dims) -> HostKernel {
    if direct_cost(d) <= fft_cost(d) {
        HostKernel::Direct
    } else {
        HostKernel::Fft
    }
}

/// Cost model of the two wgpu paths, in nanoseconds, fitted on Mesa's lavapipe (the software
/// Vulkan driver every machine here has; `benches/convolve.rs`, group `grid/wgpu`). A real GPU
/// has other constants, but the same shape: Burn's `conv1d` costs per multiply-add, the FFT
/// per transform point, so the FFT wins for long kernels.
#[cfg(feature = "wgpu")]
mod device {
    use crate::host::Dims;

    /// Burn's `conv1d`, per multiply-add, one group.
    const NS_PER_MAC: f64 = 3.4;
    /// Burn's `conv1d`, per multiply-add, grouped (measured 4x slower on lavapipe).
    const NS_PER_MAC_GROUPED: f64 = 13.0;
    /// Burn's `conv1d`, per output value.
    const NS_PER_OUTPUT: f64 = 30.0;
    /// FFT path, per point of one transform.
    const NS_PER_FFT_POINT: f64 = 400.0;
    /// FFT path, per call (kernel launches).
    const NS_FFT_SETUP: f64 = 3e6;

    pub(super) fn direct_cost(d: &Dims) -> f64 {
        let outputs = (d.batch * d.cout * d.out_len()) as f64;
        let per_mac = if d.groups == 1 {
            NS_PER_MAC
        } else {
            NS_PER_MAC_GROUPED
        };
        outputs * (NS_PER_OUTPUT + per_mac * (d.m * d.cin / d.groups) as f64)
    }

    pub(super) fn fft_cost(d: &Dims) -> f64 {
        let f = (d.n + d.m - 1).next_power_of_two().max(2) as f64;
        NS_FFT_SETUP + (d.batch * (d.cin + d.cout)) as f64 * f * NS_PER_FFT_POINT
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dims(batch: usize, channels: usize, n: usize, m: usize) -> Dims {
        Dims {
            batch,
            cin: channels,
            n,
            cout: channels,
            m,
            groups: channels,
            left: (m - 1) / 2,
            right: m / 2,
        }
    }

    #[cfg(feature = "flex")]
    #[test]
    fn cpu_methods_take_the_host_kernels_and_auto_follows_the_model() {
        let device = Device::flex();
        let f32 = DType::F32;
        let d = dims(1, 1, 1000, 3);
        assert_eq!(
            path(Method::Direct, &device, f32, &d),
            Path::Host(HostKernel::Direct)
        );
        assert_eq!(
            path(Method::Fft, &device, f32, &d),
            Path::Host(HostKernel::Fft)
        );
        assert_eq!(
            path(Method::Auto, &device, f32, &d),
            Path::Host(HostKernel::Direct)
        );
        let long = dims(1, 1, 1_000_000, 4095);
        assert_eq!(
            path(Method::Auto, &device, f32, &long),
            Path::Host(HostKernel::Fft)
        );
        assert_eq!(
            path(Method::Auto, &device.clone().autodiff(), f32, &long),
            Path::Host(HostKernel::Fft)
        );
        assert_eq!(path(Method::Fft, &device, DType::F64, &long), Path::Burn);
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
