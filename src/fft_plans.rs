//! The one FFT planner cache: `realfft` plans for f32 and f64, shared by every call (the host
//! kernels, the streams, the accuracy guard's edge sums).

use std::sync::{Arc, Mutex, OnceLock};

use realfft::num_traits::Float;
use realfft::{ComplexToReal, FftNum, RealFftPlanner, RealToComplex};
use rustfft::FftPlanner;
#[cfg(cpu_kernels)]
use rustfft::{Fft, FftDirection};

/// A float type with the process-wide `realfft` and `rustfft` planners of its type.
pub trait Planned: FftNum + Float {
    /// The real-transform planner of this type, shared by every call.
    fn planner() -> &'static Mutex<RealFftPlanner<Self>>;
    /// The complex-transform planner of this type (the N-D FFT's other axes).
    #[allow(dead_code)] // used by the host kernels only
    fn complex_planner() -> &'static Mutex<FftPlanner<Self>>;
}

impl Planned for f32 {
    fn planner() -> &'static Mutex<RealFftPlanner<f32>> {
        static PLANNER: OnceLock<Mutex<RealFftPlanner<f32>>> = OnceLock::new();
        PLANNER.get_or_init(Default::default)
    }

    fn complex_planner() -> &'static Mutex<FftPlanner<f32>> {
        static PLANNER: OnceLock<Mutex<FftPlanner<f32>>> = OnceLock::new();
        PLANNER.get_or_init(|| Mutex::new(FftPlanner::new()))
    }
}

impl Planned for f64 {
    fn planner() -> &'static Mutex<RealFftPlanner<f64>> {
        static PLANNER: OnceLock<Mutex<RealFftPlanner<f64>>> = OnceLock::new();
        PLANNER.get_or_init(Default::default)
    }

    fn complex_planner() -> &'static Mutex<FftPlanner<f64>> {
        static PLANNER: OnceLock<Mutex<FftPlanner<f64>>> = OnceLock::new();
        PLANNER.get_or_init(|| Mutex::new(FftPlanner::new()))
    }
}

/// A forward and an inverse real transform of `len` points.
pub(crate) type Plans<U> = (Arc<dyn RealToComplex<U>>, Arc<dyn ComplexToReal<U>>);

/// The forward and inverse transforms of `len` points, planned once per process.
pub(crate) fn plans<U: Planned>(len: usize) -> Plans<U> {
    let mut planner = U::planner().lock().unwrap_or_else(|e| e.into_inner());
    (planner.plan_fft_forward(len), planner.plan_fft_inverse(len))
}

#[cfg(cpu_kernels)]
/// A complex transform of `len` points in `direction`, planned once per process.
pub(crate) fn complex_plan<U: Planned>(len: usize, direction: FftDirection) -> Arc<dyn Fft<U>> {
    let mut planner = U::complex_planner()
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    planner.plan_fft(len, direction)
}
