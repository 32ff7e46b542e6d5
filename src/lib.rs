#![doc = include_str!("../README.md")]
#![warn(missing_docs)]
#![deny(rustdoc::broken_intra_doc_links)]

pub mod backend;
mod error;
mod ext;
mod functional;
mod host;
mod method;
pub mod mode;
mod module;
mod simd;

pub use backend::{Backend, BackendError};
pub use error::ConvolveError;
pub use functional::{Convolve1dOptions, convolve, convolve1d, correlate};
pub use method::Method;
pub use mode::{Mode, Operation};
pub use module::{NpConvolve1d, NpConvolve1dConfig};

/// Internals exposed for `benches/` only; not part of the API.
#[doc(hidden)]
pub mod bench_support {
    use crate::host::Dims;
    pub use crate::host::HostKernel;

    /// One signal and one kernel, padded by `(left, right)`.
    fn one_signal(n: usize, m: usize, left: usize, right: usize) -> Dims {
        Dims {
            batch: 1,
            cin: 1,
            n,
            cout: 1,
            m,
            groups: 1,
            left,
            right,
        }
    }

    /// One signal through one host kernel (NumPy convolution, `full` padding).
    pub fn host_conv(x: &[f32], w: &[f32], n: usize, m: usize, kernel: HostKernel) -> Vec<f32> {
        crate::host::conv(x, w, &one_signal(n, m, m - 1, m - 1), true, kernel)
    }

    /// Whether `Method::Auto` takes an FFT path (host or device) for one f32 signal of `n`
    /// samples and an `m`-tap kernel (`m <= n`) in `mode` on `device`.
    pub fn auto_takes_fft(
        device: &burn::tensor::Device,
        n: usize,
        m: usize,
        mode: crate::Mode,
    ) -> bool {
        let (left, right) = crate::mode::padding(n, m, mode, crate::Operation::Convolution);
        let d = one_signal(n, m, left, right);
        let path = crate::method::path(crate::Method::Auto, device, burn::tensor::DType::F32, &d);
        path != crate::method::Path::Burn && path != crate::method::Path::Host(HostKernel::Direct)
    }

    /// The cost model's nanoseconds for [`host_conv`] of the same shapes, the kernel `Auto`
    /// would pick for them, and the FFT length it would use.
    pub fn modelled(n: usize, m: usize) -> (f64, f64, HostKernel, usize) {
        let d = one_signal(n, m, m - 1, m - 1);
        (
            crate::method::direct_cost(&d),
            crate::method::fft_cost(&d),
            crate::method::cheaper(&d),
            crate::host::fft_len(n, m, 1, 1),
        )
    }
}
