//! The CPU kernels and the cost models of `Method::Auto` on plain slices, for `benches/` (the
//! calibration of the cost model, the kernels alone, the scans' overhead). Compiled only with
//! the `internals` feature; not a stable API.

use burn::tensor::{DType, Device};

use crate::boundary::Boundary;
use crate::cost::CpuModel;
#[cfg(cpu_kernels)]
pub use crate::cpu::Real;
use crate::geometry::Geometry;
use crate::method::Method;
use crate::mode::{Mode, Operation};
pub use crate::plan::CpuKernel;
use crate::plan::{HostKernel, Plan, Route};

/// One signal of `n` samples and an `m`-tap kernel: `np.convolve` in `mode`.
fn one_signal(n: usize, m: usize, mode: Mode) -> Geometry {
    Geometry::numpy([1, 1, n], [1, 1, m], 1, mode, Operation::Convolution)
}

/// `np.convolve(x, w, "full")` through one CPU kernel, f32 or f64; `guarded` is Auto's
/// accuracy guard (and its scan of the inputs).
#[cfg(cpu_kernels)]
pub fn cpu_conv<T: Real>(x: &[T], w: &[T], kernel: CpuKernel, guarded: bool) -> Vec<T> {
    let g = one_signal(x.len(), w.len(), Mode::Full);
    crate::cpu::conv(x, w, &g, HostKernel::of(kernel, &g, T::dtype()), guarded)
}

#[cfg(cpu_kernels)]
pub use crate::cpu::Isa;

/// `y[j] += Σ_k w[k] · x[j + k]`, the direct kernel's inner loop, on the calling thread, with
/// the copy compiled for `isa`.
///
/// # Panics
/// If this CPU does not run `isa`.
#[cfg(cpu_kernels)]
pub fn correlate<T: Real>(isa: Isa, x: &[T], w: &[T], y: &mut [T]) {
    crate::cpu::correlate_with(isa, x, w, y);
}

/// `y[j] = Σ_k w[k] · x[j + k]` written over `y`, as the direct kernel's first input channel
/// writes a tile, on the calling thread with the copy of [`Isa::detected`]; where `check`,
/// with the check of the sums for NaN and ±inf that every CPU convolution makes in registers,
/// and whether they are all finite (else `true`).
#[cfg(cpu_kernels)]
pub fn correlate_write<T: Real>(x: &[T], w: &[T], y: &mut [T], check: bool) -> bool {
    // SAFETY: same layout; the kernel writes only initialised values through the view.
    let y = unsafe { &mut *(y as *mut [T] as *mut [std::mem::MaybeUninit<T>]) };
    crate::cpu::correlate_write(Isa::detected(), x, w, y, check).1
}

/// The direct kernel alone, on the threads of a normal call: `np.convolve(x, w[::-1], "full")`
/// (`w` is taken as the sliding product uses it, not reversed first). With `check`, its sums
/// are checked for NaN and infinities in registers (as every call does); without, they are
/// not (the check's cost on a whole call, for the `scan` bench).
#[cfg(cpu_kernels)]
pub fn direct_checking<T: Real>(x: &[T], w: &[T], check: bool) -> Vec<T> {
    let g = one_signal(x.len(), w.len(), Mode::Full);
    crate::cpu::direct_checking(x, w, &g, check)
}

/// The FFT kernel alone for `np.convolve(x, w[::-1], "full")` (`w` is taken as the sliding
/// product uses it, not reversed first, as in [`direct_checking`]), in the inputs' type. With
/// `check`, its sums are checked for NaN and infinities as they are stored (as every FFT call
/// does); without, they are not (the check's cost, for the `scan` bench). With `measure`,
/// `Method::Auto`'s accuracy guard measures each input block as the FFT reads it and decides
/// from that (the guard's whole cost on an ordinary input, without the edge check).
#[cfg(cpu_kernels)]
pub fn fft_measuring<T: Real>(x: &[T], w: &[T], check: bool, measure: bool) -> Vec<T> {
    let g = one_signal(x.len(), w.len(), Mode::Full);
    crate::cpu::fft_measuring(x, w, &g, check, measure)
}

/// Whether `Method::Auto` takes an FFT path (CPU or device) for one f32 signal of `n`
/// samples and an `m`-tap kernel in `mode` on `device`.
pub fn auto_takes_fft(device: &Device, n: usize, m: usize, mode: Mode) -> bool {
    let g = one_signal(n, m, mode);
    let plan = Plan::new(
        device,
        (DType::F32, DType::F32),
        g,
        Method::Auto,
        Boundary::Zeros,
        false,
    )
    .expect("the device computes in f32");
    match plan.conv.forward {
        Route::Host { kernel, .. } => kernel.kind() == CpuKernel::Fft,
        Route::DeviceFft { .. } => true,
        Route::BurnConv => false,
    }
}

/// The cost model's nanoseconds of the direct and FFT kernels for [`cpu_conv`] of the same
/// shapes in `dtype`, the kernel `Auto` would pick for them, and the FFT length it would use.
pub fn modelled(n: usize, m: usize, dtype: DType) -> (f64, f64, CpuKernel, usize) {
    let g = one_signal(n, m, Mode::Full);
    let model = CpuModel::of(dtype);
    (
        model.direct(&g),
        model.fft(&g),
        if model.fft_is_cheaper(&g) {
            CpuKernel::Fft
        } else {
            CpuKernel::Direct
        },
        model.fft_len(n, m, 1, 1),
    )
}
