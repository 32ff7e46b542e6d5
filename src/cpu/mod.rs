//! The host kernels of the `flex` and `ndarray` backends (and of a remote device's server):
//! direct and FFT (overlap-add on `realfft`) convolution on host `f32` and `f64` slices and
//! their gradients, multi-threaded with rayon once the work pays for waking the worker
//! threads; and the streaming engine.
//!
//! Every kernel computes the sliding dot product a `Geometry` describes, with the kernel the
//! plan chose ([`crate::plan::HostKernel`]).
//!
//! Outputs are written before they are read. A large `vec![0.0; len]` is fresh memory mapped
//! to the shared zero page: the first write to each page after a read then copies it and
//! flushes the TLBs of the other cores, which in a virtual machine made an accumulate-into-zeros
//! kernel several times slower than its arithmetic (perf: most of the time in `do_wp_page` and
//! inter-processor interrupts). Each task therefore fills its own part of the output with zeros
//! before accumulating into it.

mod conv;
mod direct;
mod fft;
#[cfg(cpu_grads)]
mod grad;
pub(crate) mod handoff;
pub(crate) mod nd;
pub(crate) mod real;
mod rows;
pub(crate) mod simd;
pub(crate) mod stream;

pub(crate) use conv::conv;
#[cfg(feature = "internals")]
pub(crate) use conv::{direct_checking, fft_measuring};
#[cfg(cpu_grads)]
pub(crate) use grad::{input_grad, weight_grad};
pub use real::Real;
#[cfg(feature = "internals")]
pub use simd::Isa;
#[cfg(feature = "internals")]
pub(crate) use simd::{correlate_with, correlate_write};
