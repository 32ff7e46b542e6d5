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
/// | [`Method::Direct`] | Burn's `conv1d` | Burn's `conv1d` |
/// | [`Method::Fft`] | overlap-add on `realfft`, multi-threaded, on the host | Burn's `conv1d` (no device FFT path yet) |
/// | [`Method::Auto`] | the cheaper of a multi-threaded host direct kernel and the FFT path, by a cost model measured on this implementation | Burn's `conv1d` |
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
    /// Burn's own `conv1d`, on every backend.
    Direct,
    /// Overlap-add FFT convolution on the CPU backends.
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
    if method == Method::Direct || dtype != DType::F32 || !host_backend(device) {
        return Path::Burn;
    }
    match method {
        Method::Fft => Path::Host(HostKernel::Fft),
        _ => Path::Host(cheaper(d)),
    }
}

// Costs of the host kernels, in nanoseconds, measured on a 2-core x86-64 machine with
// `cargo bench --bench convolve -- calibrate` (see benches/convolve.rs): the direct kernel per
// multiply-add, the FFT path per `F log2 F` of one transform and per complex multiply-add.
const NS_PER_MAC: f64 = 0.12;
const NS_PER_FFT_UNIT: f64 = 0.55;
const NS_PER_SPECTRAL_MAC: f64 = 0.9;
const NS_FFT_SETUP: f64 = 20_000.0;

/// Estimated nanoseconds of the direct host kernel.
pub(crate) fn direct_cost(d: &Dims) -> f64 {
    let macs = (d.batch * d.cout * (d.cin / d.groups) * d.m * d.out_len()) as f64;
    macs * NS_PER_MAC
}

/// Estimated nanoseconds of the FFT host kernel.
pub(crate) fn fft_cost(d: &Dims) -> f64 {
    let (cpg, opg) = (d.cin / d.groups, d.cout / d.groups);
    let f = host::fft_len(d.n, d.m, cpg, opg);
    let blocks = d.n.div_ceil(f - d.m + 1) as f64;
    let ff = f as f64;
    let per_block = ff * ff.log2() * (cpg + opg) as f64 * NS_PER_FFT_UNIT
        + (ff / 2.0) * (cpg * opg) as f64 * NS_PER_SPECTRAL_MAC;
    let kernels = (d.cout * cpg) as f64 * ff * ff.log2() * NS_PER_FFT_UNIT;
    NS_FFT_SETUP + kernels + (d.batch * d.groups) as f64 * blocks * per_block
}

fn cheaper(d: &Dims) -> HostKernel {
    if direct_cost(d) <= fft_cost(d) {
        HostKernel::Direct
    } else {
        HostKernel::Fft
    }
}
