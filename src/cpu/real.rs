//! The float types the host kernels compute in.

use crate::fft_plans::Planned;

/// The float types the CPU kernels compute in, f32 and f64: one generic implementation.
pub trait Real: Planned + burn::tensor::Element + bytemuck::Pod {
    /// Outputs per register block of the direct kernel (see `cpu/simd.rs`).
    const BLOCK: usize;
}

macro_rules! real {
    ($t:ty, $block:expr) => {
        impl Real for $t {
            const BLOCK: usize = $block;
        }
    };
}
real!(f32, 64);
real!(f64, 32);

/// `v` as the other float type.
#[inline(always)]
pub(crate) fn to<A: Real, B: Real>(v: A) -> B {
    B::from(v).expect("f32 and f64 convert into each other")
}
