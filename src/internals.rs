//! The CPU kernels and the cost models of `Method::Auto` on plain slices, for `benches/` (the
//! calibration of the cost model and the kernels alone). Compiled only with the `internals`
//! feature; not a stable API.

use burn::tensor::{DType, Device};

pub use crate::cpu::CpuKernel;
use crate::method::{Method, Path, path};
use crate::mode::{Geometry, Mode, Operation};

/// One signal of `n` samples and an `m`-tap kernel: `np.convolve` in `mode`.
fn one_signal(n: usize, m: usize, mode: Mode) -> Geometry {
    Geometry::numpy([1, 1, n], [1, 1, m], 1, mode, Operation::Convolution)
}

/// `np.convolve(x, w, "full")` through one CPU kernel.
#[cfg(cpu_kernels)]
pub fn cpu_conv(x: &[f32], w: &[f32], kernel: CpuKernel) -> Vec<f32> {
    crate::cpu::conv(
        x,
        w,
        &one_signal(x.len(), w.len(), Mode::Full),
        kernel,
        false,
    )
}

/// Whether `Method::Auto` takes an FFT path (CPU or device) for one f32 signal of `n`
/// samples and an `m`-tap kernel in `mode` on `device`.
pub fn auto_takes_fft(device: &Device, n: usize, m: usize, mode: Mode) -> bool {
    let chosen = path(Method::Auto, device, DType::F32, &one_signal(n, m, mode));
    chosen != Path::Burn && chosen != Path::Cpu(CpuKernel::Direct)
}

/// The cost model's nanoseconds of the direct and FFT kernels for [`cpu_conv`] of the same
/// shapes, the kernel `Auto` would pick for them, and the FFT length it would use.
pub fn modelled(n: usize, m: usize) -> (f64, f64, CpuKernel, usize) {
    let g = one_signal(n, m, Mode::Full);
    (
        crate::cost::cpu_direct(&g),
        crate::cost::cpu_fft(&g),
        crate::cost::cheaper_cpu_kernel(&g),
        crate::cost::fft_len(n, m, 1, 1),
    )
}
