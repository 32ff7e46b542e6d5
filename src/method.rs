//! How a convolution is computed: [`Method`]. The choice `Auto` makes is the plan's
//! ([`crate::plan`]).

use crate::error::ConvolveError;

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
