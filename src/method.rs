//! How a convolution is computed: [`Method`], and the choice `Auto` makes.

use core::fmt;
use core::str::FromStr;

use burn::tensor::{DType, Device};

use crate::error::ConvolveError;
use crate::host::{self, Dims, HostKernel};

/// How a convolution is computed. The result is NumPy's whatever the method, within f32
/// rounding; only speed and memory differ.
///
/// | method | flex, ndarray (f32) | wgpu, and other dtypes |
/// |---|---|---|
/// | [`Method::Direct`] | a register-blocked direct kernel (AVX2 + FMA when the CPU has them) | Burn's `conv1d` |
/// | [`Method::Fft`] | overlap-add on `realfft` | Burn's `conv1d` (no device FFT path yet) |
/// | [`Method::Auto`] | the cheaper of the two, by a cost model measured on this implementation | Burn's `conv1d` |
///
/// The host kernels use both cores (rayon) once the work is large enough to pay for waking
/// the worker threads, and run on the calling thread below that.
///
/// Every method is differentiable: on flex and ndarray the host kernels run as a Burn backend
/// op with its own backward pass, whose input and weight gradients are correlations computed
/// on the same host path. Nothing goes through the host on wgpu.
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
    /// Overlap-add FFT convolution on the CPU backends; Burn's own `conv1d` elsewhere.
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

fn cheaper(d: &Dims) -> HostKernel {
    if direct_cost(d) <= fft_cost(d) {
        HostKernel::Direct
    } else {
        HostKernel::Fft
    }
}
