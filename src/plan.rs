//! The plan of one call: everything static about it, decided once, from the shapes, dtypes,
//! device and options, before any tensor is touched.
//!
//! [`Plan::new`] is the only place that routes a convolution. It fixes NumPy's result dtype,
//! the dtype the kernels compute in (and checks that the device has it), the boundary's
//! padding, the [`Geometry`] of the sliding dot product, and the [`Route`] of the forward pass
//! and of both gradients. Executors only execute a plan; what is left to them is what depends
//! on the values: `Method::Auto`'s accuracy guard and NumPy's NaN/inf rule. The backend op
//! carries the [`ConvPlan`] part (and the remote wire format serialises it), so a backward pass
//! or a server never decides again.
//!
//! A stream is planned once too, at its first chunk ([`StreamPlan`]).

use burn::tensor::{DType, Device};

use crate::boundary::Boundary;
use crate::cost::CpuModel;
use crate::device::{DeviceKind, check_dtype};
use crate::dtype::{compute_dtype, result_type};
use crate::error::ConvolveError;
use crate::geometry::{Axis, Geometry};
use crate::method::Method;

/// Which host algorithm, without its parameters: what the cost model compares (and what the
/// benches name).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CpuKernel {
    /// Sliding dot products: `O(L · M)` per channel pair.
    Direct,
    /// Overlap-add with real FFTs: `O(L · log F)` per channel pair and block size `F`.
    Fft,
}

/// The overlap-add FFT's transform length for one geometry: in the inputs' own type, and in
/// f64 (where `Method::Auto`'s accuracy guard moves an f32 FFT).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct FftLens {
    /// Transform length computing in the inputs' dtype.
    pub input: usize,
    /// Transform length computing in f64.
    pub f64: usize,
}

impl FftLens {
    /// The cost model's lengths for a sliding dot product of geometry `g` in `dtype`.
    pub(crate) fn of(g: &Geometry, dtype: DType) -> FftLens {
        FftLens::for_lengths(g.n, g.m, g.cpg(), g.opg(), dtype)
    }

    /// The cost model's lengths for signals of `n` samples, `m` taps and `cpg`/`opg` channels
    /// per group, in `dtype`.
    pub(crate) fn for_lengths(n: usize, m: usize, cpg: usize, opg: usize, dtype: DType) -> FftLens {
        FftLens {
            input: CpuModel::of(dtype).fft_len(n, m, cpg, opg),
            f64: CpuModel::of(DType::F64).fft_len(n, m, cpg, opg),
        }
    }
}

/// A host kernel with its parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum HostKernel {
    /// The direct kernel.
    Direct,
    /// Overlap-add FFT with transforms of these lengths.
    Fft(FftLens),
}

impl HostKernel {
    /// `kind` for a sliding dot product of geometry `g` in `dtype`.
    pub(crate) fn of(kind: CpuKernel, g: &Geometry, dtype: DType) -> HostKernel {
        match kind {
            CpuKernel::Direct => HostKernel::Direct,
            CpuKernel::Fft => HostKernel::Fft(FftLens::of(g, dtype)),
        }
    }

    /// `kind` for the weight gradient of a forward pass of geometry `g` in `dtype`: its FFT
    /// transforms blocks of the output gradient (`out_len` samples) against the signal.
    pub(crate) fn for_weight_grad(kind: CpuKernel, g: &Geometry, dtype: DType) -> HostKernel {
        match kind {
            CpuKernel::Direct => HostKernel::Direct,
            CpuKernel::Fft => HostKernel::Fft(FftLens::for_lengths(
                g.out_len(),
                g.m,
                g.cpg(),
                g.opg(),
                dtype,
            )),
        }
    }

    /// The algorithm, without its parameters.
    #[cfg(feature = "internals")]
    pub(crate) fn kind(self) -> CpuKernel {
        match self {
            HostKernel::Direct => CpuKernel::Direct,
            HostKernel::Fft(_) => CpuKernel::Fft,
        }
    }
}

/// How one sliding dot product (a forward pass or a gradient) is computed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Route {
    /// The host kernels, as this crate's backend op: on the tensors' CPU backend (flex,
    /// ndarray), or on a remote device's server. `guarded`: `Method::Auto`'s accuracy guard
    /// on the FFT.
    Host {
        /// The kernel.
        kernel: HostKernel,
        /// Whether the FFT runs behind the accuracy guard.
        guarded: bool,
    },
    /// Burn's `conv1d` on the tensors' device, with NumPy's NaN and infinities.
    BurnConv,
    /// The FFT on the device (CubeCL) from Burn's `rfft`/`irfft`, with NumPy's NaN and
    /// infinities; `guarded`: `Method::Auto`'s accuracy guard and edge repair.
    DeviceFft {
        /// Whether the FFT runs behind the accuracy guard.
        guarded: bool,
    },
}

/// The plan of the sliding dot product of one call: its geometry and the routes of the
/// forward pass and of the two gradients. What the backend op carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct ConvPlan {
    /// Shapes, padding and orientation of the forward pass (after the boundary's padding).
    pub geometry: Geometry,
    /// The forward pass, over `geometry`.
    pub forward: Route,
    /// The input gradient, over [`Geometry::input_grad`]; `None` on a device without autodiff,
    /// where no gradient can be asked for.
    pub input_grad: Option<Route>,
    /// The weight gradient (the forward pass's shapes and work); `None` as `input_grad`.
    pub weight_grad: Option<Route>,
}

impl ConvPlan {
    /// The route of the input gradient.
    #[cfg(any(cpu_grads, all(feature = "wgpu", feature = "autodiff")))]
    ///
    /// # Panics
    /// For a plan made on a device without autodiff (whose tensors record no backward pass).
    pub(crate) fn input_grad_route(&self) -> Route {
        self.input_grad
            .expect("a plan made for gradients (an autodiff device)")
    }

    /// The route of the weight gradient.
    #[cfg(any(cpu_grads, all(feature = "wgpu", feature = "autodiff")))]
    ///
    /// # Panics
    /// As [`input_grad_route`](Self::input_grad_route).
    pub(crate) fn weight_grad_route(&self) -> Route {
        self.weight_grad
            .expect("a plan made for gradients (an autodiff device)")
    }

    /// The routes for `method` on a device of `kind` computing in `compute`, the gradients'
    /// only when `grads` (an autodiff device): the one decision of a call.
    fn new(kind: DeviceKind, compute: DType, method: Method, g: Geometry, grads: bool) -> ConvPlan {
        #[cfg(test)]
        tests::DECISIONS.with(|c| c.set(c.get() + 1));
        let gi = g.input_grad();
        let host = matches!(kind, DeviceKind::Host | DeviceKind::Remote)
            && matches!(compute, DType::F32 | DType::F64);
        let (forward, grads) = if host {
            let guarded = method == Method::Auto;
            let choose = |g: &Geometry| match method {
                Method::Direct => CpuKernel::Direct,
                Method::Fft => CpuKernel::Fft,
                Method::Auto if CpuModel::of(compute).fft_is_cheaper(g) => CpuKernel::Fft,
                Method::Auto => CpuKernel::Direct,
            };
            let route = |g: &Geometry, guarded: bool| Route::Host {
                kernel: HostKernel::of(choose(g), g, compute),
                guarded,
            };
            // The weight gradient has the forward pass's work, and no accuracy guard.
            let weight = || Route::Host {
                kernel: HostKernel::for_weight_grad(choose(&g), &g, compute),
                guarded: false,
            };
            let grads = grads.then(|| (route(&gi, guarded), weight()));
            (route(&g, guarded), grads)
        } else if kind == DeviceKind::Cube && compute == DType::F32 {
            let fft_cheaper = |g: &Geometry| device_fft_is_cheaper(g);
            let route = |g: &Geometry| match method {
                Method::Direct => Route::BurnConv,
                Method::Fft => Route::DeviceFft { guarded: false },
                Method::Auto if fft_cheaper(g) => Route::DeviceFft { guarded: true },
                Method::Auto => Route::BurnConv,
            };
            // The weight gradient has no accuracy guard: under `Auto` it takes the path the
            // cost model chooses for the forward pass.
            let forward = route(&g);
            let weight = match forward {
                Route::DeviceFft { .. } => Route::DeviceFft { guarded: false },
                other => other,
            };
            (forward, grads.then(|| (route(&gi), weight)))
        } else {
            let burn = Route::BurnConv;
            (burn, grads.then_some((burn, burn)))
        };
        ConvPlan {
            geometry: g,
            forward,
            input_grad: grads.map(|g| g.0),
            weight_grad: grads.map(|g| g.1),
        }
    }
}

/// Whether the device FFT's modelled time is below Burn's `conv1d`'s for `g`.
#[cfg(feature = "wgpu")]
fn device_fft_is_cheaper(g: &Geometry) -> bool {
    crate::cost::wgpu_fft(g) < crate::cost::wgpu_direct(g)
}

/// Without CubeCL devices there is no device FFT.
#[cfg(not(feature = "wgpu"))]
fn device_fft_is_cheaper(_: &Geometry) -> bool {
    false
}

/// Whether the N-D device FFT's modelled time is below Burn's `conv3d`'s.
#[cfg(feature = "wgpu")]
fn wgpu_nd_fft_is_cheaper(padded: &[usize], kernel: &[usize]) -> bool {
    crate::cost::wgpu_nd_fft(padded) < crate::cost::wgpu_nd_direct(padded, kernel)
}

/// Without CubeCL devices there is no device FFT.
#[cfg(not(feature = "wgpu"))]
fn wgpu_nd_fft_is_cheaper(_: &[usize], _: &[usize]) -> bool {
    false
}

/// NumPy's result dtype for inputs of dtypes `x` and `w`, the dtype the call computes in, and
/// the kind of `device`, which must compute in it.
fn dtypes(
    device: &Device,
    (x, w): (DType, DType),
) -> Result<(DType, DType, DeviceKind), ConvolveError> {
    let dtype = result_type(x, w);
    let compute = compute_dtype(dtype);
    let kind = DeviceKind::of(device);
    check_dtype(device, kind, compute)?;
    Ok((dtype, compute, kind))
}

/// The plan of one call of [`convolve1d`](crate::convolve1d) (and of everything built on it).
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Plan {
    /// NumPy's result dtype (`np.result_type` of the two inputs).
    pub dtype: DType,
    /// The dtype the convolution computes in (f32 for half precision).
    pub compute: DType,
    /// The device's kind.
    pub device: DeviceKind,
    /// The signal's padding rule, applied before the sliding dot product.
    pub boundary: Boundary,
    /// The padding `(left, right)` the boundary rule writes (none for zeros, whose padding is
    /// the geometry's own).
    pub pad: (usize, usize),
    /// The sliding dot product.
    pub conv: ConvPlan,
}

impl Plan {
    /// The plan for signals of dtype `x` and weights of dtype `w` on `device`, NumPy's
    /// geometry `g` (validated shapes), `method` and `boundary`; with the gradients' routes
    /// when `grads` (a tensor of the call is on an autodiff device): an inference call runs
    /// the cost model once, not three times.
    ///
    /// # Errors
    /// [`ConvolveError::UnsupportedDType`] when the device cannot compute in the call's dtype,
    /// [`ConvolveError::RemoteDevice`] when a remote device's server does not answer.
    pub(crate) fn new(
        device: &Device,
        (x, w): (DType, DType),
        g: Geometry,
        method: Method,
        boundary: Boundary,
        grads: bool,
    ) -> Result<Plan, ConvolveError> {
        let (dtype, compute, kind) = dtypes(device, (x, w))?;
        // Another boundary: its padding is written into the signal, and the sliding product
        // runs over the padded signal without zeros.
        let (pad, g) = match boundary {
            Boundary::Zeros => ((0, 0), g),
            _ => (
                (g.left, g.right),
                Geometry {
                    n: g.n + g.left + g.right,
                    left: 0,
                    right: 0,
                    ..g
                },
            ),
        };
        Ok(Plan {
            dtype,
            compute,
            device: kind,
            boundary,
            pad,
            conv: ConvPlan::new(kind, compute, method, g, grads),
        })
    }
}

/// How an N-D call of `burn_npconv::signal` computes its sliding dot product.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SignalRoute {
    /// The N-D host kernels (flex, ndarray; f32 and f64); `guarded`: `Method::Auto`'s accuracy
    /// guard on the FFT.
    Host {
        /// The kernel.
        kernel: CpuKernel,
        /// Whether the FFT runs behind the accuracy guard.
        guarded: bool,
    },
    /// The separable host kernel: a kernel given as one factor per axis, slid one axis at a
    /// time (`Method::Auto` on flex and ndarray, f32 and f64).
    Separable,
    /// Burn's `conv1d`/`conv2d`/`conv3d` on the tensors' device (wgpu, a remote device, any
    /// autodiff device, whose gradients then flow through it).
    BurnConv,
    /// Burn's FFT ops on a CubeCL device (wgpu, f32), checked on the device: Burn's convolution
    /// where an output would differ from SciPy's direct sum; `guarded`: `Method::Auto`'s
    /// accuracy rule too.
    DeviceFft {
        /// Whether the outputs are checked against `Method::Auto`'s accuracy rule.
        guarded: bool,
    },
}

/// The plan of one N-D call: its dtypes and its route, from a geometry per axis.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct SignalPlan {
    /// NumPy's result dtype.
    pub dtype: DType,
    /// The dtype the call computes in.
    pub compute: DType,
    /// How the sliding dot product is computed.
    pub route: SignalRoute,
}

impl SignalPlan {
    /// The plan for inputs of dtypes `x` and `w` on `device`, slid along `axes`, by `method`;
    /// `separable`: the kernel is given as one factor per axis.
    ///
    /// # Errors
    /// As [`Plan::new`].
    pub(crate) fn new(
        device: &Device,
        (x, w): (DType, DType),
        axes: &[Axis],
        method: Method,
        separable: bool,
    ) -> Result<SignalPlan, ConvolveError> {
        #[cfg(test)]
        tests::DECISIONS.with(|c| c.set(c.get() + 1));
        let (dtype, compute, kind) = dtypes(device, (x, w))?;
        let host = kind == DeviceKind::Host
            && matches!(compute, DType::F32 | DType::F64)
            && !device.is_autodiff()
            && cfg!(cpu_kernels);
        let route = if host && separable && method == Method::Auto {
            SignalRoute::Separable
        } else if host {
            let padded: Vec<usize> = axes.iter().map(Axis::padded).collect();
            let kernel: Vec<usize> = axes.iter().map(|a| a.m).collect();
            let kernel = match method {
                Method::Direct => CpuKernel::Direct,
                Method::Fft => CpuKernel::Fft,
                Method::Auto if CpuModel::of(compute).nd_fft_is_cheaper(&padded, &kernel) => {
                    CpuKernel::Fft
                }
                Method::Auto => CpuKernel::Direct,
            };
            SignalRoute::Host {
                kernel,
                guarded: method == Method::Auto,
            }
        } else if kind == DeviceKind::Cube
            && compute == DType::F32
            && !device.is_autodiff()
            && cfg!(feature = "wgpu")
        {
            let padded: Vec<usize> = axes.iter().map(Axis::padded).collect();
            let kernel: Vec<usize> = axes.iter().map(|a| a.m).collect();
            match method {
                Method::Direct => SignalRoute::BurnConv,
                Method::Fft => SignalRoute::DeviceFft { guarded: false },
                Method::Auto if wgpu_nd_fft_is_cheaper(&padded, &kernel) => {
                    SignalRoute::DeviceFft { guarded: true }
                }
                Method::Auto => SignalRoute::BurnConv,
            }
        } else {
            SignalRoute::BurnConv
        };
        Ok(SignalPlan {
            dtype,
            compute,
            route,
        })
    }
}

/// How a stream computes, chosen at its first chunk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum StreamKernel {
    /// The direct kernel for every output.
    Direct,
    /// Uniformly partitioned overlap-save with blocks of `block` samples; `guarded` is
    /// `Method::Auto`'s accuracy guard.
    Partitioned {
        /// `B`, a power of two.
        block: usize,
        /// Whether blocks whose magnitudes range too widely run directly.
        guarded: bool,
    },
}

impl StreamKernel {
    /// The kernel for `method`, `m` taps and chunks of about `chunk` samples. `Auto`: direct
    /// for kernels of up to 64 taps, else partitioned with the guard. The partitions have `B`
    /// taps, the largest power of two up to the chunk (so that whole chunks complete whole
    /// blocks), at least 32 and at most 4,096 and `m`'s next power of two.
    fn new(method: Method, m: usize, chunk: usize) -> StreamKernel {
        match method {
            Method::Direct => StreamKernel::Direct,
            Method::Fft => StreamKernel::partitioned(m, chunk, false),
            Method::Auto if m <= 64 => StreamKernel::Direct,
            Method::Auto => StreamKernel::partitioned(m, chunk, true),
        }
    }

    /// Partitions of `B` taps for `m` taps and chunks of about `chunk` samples (see
    /// [`new`](Self::new)).
    pub(crate) fn partitioned(m: usize, chunk: usize, guarded: bool) -> StreamKernel {
        let floor_pow2 = |v: usize| 1usize << (usize::BITS - 1 - v.max(1).leading_zeros());
        let block = floor_pow2(chunk)
            .clamp(32, 4096)
            .min(m.next_power_of_two().max(32));
        StreamKernel::Partitioned { block, guarded }
    }
}

/// How a stream's chunks are computed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum StreamRoute {
    /// The host engine (flex and ndarray, f32 and f64).
    Host(StreamKernel),
    /// Each chunk through [`Plan`]'s routes, with the last `M - 1` samples before it.
    Tensors,
}

/// The plan of a stream: its dtypes and route, fixed by its first chunk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct StreamPlan {
    /// NumPy's result dtype.
    pub dtype: DType,
    /// The dtype the stream computes in.
    pub compute: DType,
    /// How chunks are computed.
    pub route: StreamRoute,
}

#[cfg(test)]
thread_local! {
    /// Streams planned on this thread take the tensor engine (for tests of that engine on a
    /// CPU device).
    pub(crate) static FORCE_TENSOR_STREAMS: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

impl StreamPlan {
    /// The plan for chunks of dtype `x` (the first of about `chunk` samples) through weights
    /// of dtype `w` with `m` taps on `device`.
    ///
    /// # Errors
    /// As [`Plan::new`].
    pub(crate) fn new(
        device: &Device,
        (x, w): (DType, DType),
        method: Method,
        m: usize,
        chunk: usize,
    ) -> Result<StreamPlan, ConvolveError> {
        let (dtype, compute, kind) = dtypes(device, (x, w))?;
        let host = kind == DeviceKind::Host && matches!(compute, DType::F32 | DType::F64);
        #[cfg(test)]
        let host = host && !FORCE_TENSOR_STREAMS.with(|f| f.get());
        let route = if host && cfg!(cpu_kernels) {
            StreamRoute::Host(StreamKernel::new(method, m, chunk))
        } else {
            StreamRoute::Tensors
        };
        Ok(StreamPlan {
            dtype,
            compute,
            route,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(any(feature = "flex", feature = "wgpu"))]
    use crate::mode::{Mode, Operation};

    thread_local! {
        /// Routing decisions made on this thread ([`ConvPlan::new`] calls).
        pub(super) static DECISIONS: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
    }

    #[cfg(all(feature = "flex", feature = "autodiff"))]
    fn decisions() -> usize {
        DECISIONS.with(|c| c.get())
    }

    #[cfg(any(feature = "flex", feature = "wgpu"))]
    fn dims(batch: usize, channels: usize, n: usize, m: usize) -> Geometry {
        Geometry::numpy(
            [batch, channels, n],
            [channels, 1, m],
            channels,
            Mode::Same,
            Operation::Convolution,
        )
    }

    #[cfg(any(feature = "flex", feature = "wgpu"))]
    fn forward(device: &Device, dtype: DType, method: Method, g: Geometry) -> Route {
        Plan::new(device, (dtype, dtype), g, method, Boundary::Zeros, false)
            .expect("a supported dtype")
            .conv
            .forward
    }

    #[cfg(feature = "flex")]
    fn host(kind: CpuKernel, guarded: bool, g: &Geometry, dtype: DType) -> Route {
        Route::Host {
            kernel: HostKernel::of(kind, g, dtype),
            guarded,
        }
    }

    #[cfg(feature = "flex")]
    #[test]
    fn cpu_methods_take_the_host_kernels_and_auto_follows_the_model() {
        let device = Device::flex();
        let f32 = DType::F32;
        let d = dims(1, 1, 1000, 3);
        let long = dims(1, 1, 1_000_000, 4095);
        assert_eq!(
            forward(&device, f32, Method::Direct, d),
            host(CpuKernel::Direct, false, &d, f32)
        );
        assert_eq!(
            forward(&device, f32, Method::Fft, d),
            host(CpuKernel::Fft, false, &d, f32)
        );
        assert_eq!(
            forward(&device, f32, Method::Auto, d),
            host(CpuKernel::Direct, true, &d, f32)
        );
        assert_eq!(
            forward(&device, f32, Method::Auto, long),
            host(CpuKernel::Fft, true, &long, f32)
        );
        assert_eq!(
            forward(&device.clone().autodiff(), f32, Method::Auto, long),
            host(CpuKernel::Fft, true, &long, f32)
        );
        assert_eq!(
            forward(&device, DType::F64, Method::Fft, long),
            host(CpuKernel::Fft, false, &long, DType::F64)
        );
        // The gradients' routes.
        let plan = |device: &Device, grads| {
            Plan::new(
                device,
                (f32, f32),
                long,
                Method::Auto,
                Boundary::Zeros,
                grads,
            )
            .unwrap()
        };
        let inference = plan(&device, false).conv;
        assert_eq!((inference.input_grad, inference.weight_grad), (None, None));
        let training = plan(&device.clone().autodiff(), true).conv;
        assert_eq!(
            training.weight_grad,
            Some(Route::Host {
                kernel: HostKernel::for_weight_grad(CpuKernel::Fft, &long, f32),
                guarded: false
            })
        );
        assert!(matches!(
            training.input_grad,
            Some(Route::Host { guarded: true, .. })
        ));
        // Half precision computes in f32 on the host kernels.
        assert_eq!(
            forward(&device, DType::F16, Method::Fft, long),
            host(CpuKernel::Fft, false, &long, f32)
        );
    }

    #[cfg(feature = "wgpu")]
    #[test]
    fn wgpu_methods_stay_on_the_device() {
        let device = Device::wgpu(Default::default());
        let f32 = DType::F32;
        let short = dims(1, 1, 100_000, 15);
        let long = dims(1, 1, 100_000, 4095);
        let fft = |guarded| Route::DeviceFft { guarded };
        assert_eq!(forward(&device, f32, Method::Direct, long), Route::BurnConv);
        assert_eq!(forward(&device, f32, Method::Fft, short), fft(false));
        assert_eq!(forward(&device, f32, Method::Auto, short), Route::BurnConv);
        assert_eq!(forward(&device, f32, Method::Auto, long), fft(true));
        let autodiff = device.clone().autodiff();
        assert_eq!(forward(&autodiff, f32, Method::Auto, long), fft(true));
        // f64 (where the adapter has it) takes Burn's conv1d whatever the method.
        let f64_plan = ConvPlan::new(DeviceKind::Cube, DType::F64, Method::Fft, long, true);
        assert_eq!(f64_plan.forward, Route::BurnConv);
        // N-D calls: the device FFT when forced, and for Auto where it is modelled cheaper.
        let axis = |n: usize, m: usize| Axis::window(n, m, (m - 1) / 2, n);
        let nd = |device: &Device, n, m, method| {
            SignalPlan::new(device, (f32, f32), &[axis(n, m), axis(n, m)], method, false)
                .unwrap()
                .route
        };
        let device_fft = |guarded| SignalRoute::DeviceFft { guarded };
        assert_eq!(nd(&device, 64, 3, Method::Fft), device_fft(false));
        assert_eq!(nd(&device, 64, 3, Method::Auto), SignalRoute::BurnConv);
        assert_eq!(nd(&device, 256, 63, Method::Auto), device_fft(true));
        assert_eq!(nd(&device, 64, 31, Method::Direct), SignalRoute::BurnConv);
        // Gradients flow through Burn's convolution on an autodiff device.
        assert_eq!(nd(&autodiff, 256, 63, Method::Fft), SignalRoute::BurnConv);
    }

    /// One routing decision per forward call, none in the backward pass: the gradients run
    /// the routes the forward call's plan fixed.
    #[cfg(all(feature = "flex", feature = "autodiff"))]
    #[test]
    fn a_training_step_decides_once() {
        use burn::tensor::{Distribution, Tensor};
        let device = Device::flex().autodiff();
        for method in Method::ALL {
            for m in [5, 300] {
                let x = Tensor::<3>::random([2, 2, 2000], Distribution::Default, &device)
                    .require_grad();
                let w =
                    Tensor::<3>::random([2, 1, m], Distribution::Default, &device).require_grad();
                let before = decisions();
                let options = crate::Convolve1dOptions::new(Mode::Same)
                    .with_groups(2)
                    .with_method(method);
                let y = crate::convolve1d(x.clone(), w.clone(), None, options).unwrap();
                assert_eq!(decisions() - before, 1, "{method} forward, m {m}");
                let grads = y.sum().backward();
                let _ = (x.grad(&grads).unwrap(), w.grad(&grads).unwrap());
                assert_eq!(decisions() - before, 1, "{method} backward, m {m}");
            }
        }
    }

    #[cfg(feature = "flex")]
    #[test]
    fn a_boundary_pads_the_signal_and_slides_without_zeros() {
        let g = dims(1, 1, 10, 4);
        let device = Device::flex();
        let plan =
            |b| Plan::new(&device, (DType::F32, DType::F32), g, Method::Auto, b, false).unwrap();
        let zeros = plan(Boundary::Zeros);
        assert_eq!((zeros.pad, zeros.conv.geometry), ((0, 0), g));
        let reflect = plan(Boundary::Reflect);
        assert_eq!(reflect.pad, (g.left, g.right));
        let p = reflect.conv.geometry;
        assert_eq!((p.n, p.left, p.right), (10 + g.left + g.right, 0, 0));
        assert_eq!(p.out_len(), g.out_len());
    }

    #[cfg(feature = "flex")]
    #[test]
    fn images_take_the_fft_where_the_model_expects_it_faster() {
        let axis = |n: usize, m: usize| Axis::window(n, m, (m - 1) / 2, n);
        let plan = |n, m, method| {
            SignalPlan::new(
                &Device::flex(),
                (DType::F32, DType::F32),
                &[axis(n, m), axis(n, m)],
                method,
                false,
            )
            .unwrap()
            .route
        };
        let host = |kernel, guarded| SignalRoute::Host { kernel, guarded };
        assert_eq!(plan(128, 31, Method::Auto), host(CpuKernel::Fft, true));
        assert_eq!(plan(128, 3, Method::Auto), host(CpuKernel::Direct, true));
        assert_eq!(plan(128, 3, Method::Fft), host(CpuKernel::Fft, false));
        assert_eq!(
            plan(128, 31, Method::Direct),
            host(CpuKernel::Direct, false)
        );
        // Gradients flow through Burn's convolution on an autodiff device.
        let autodiff = SignalPlan::new(
            &Device::flex().autodiff(),
            (DType::F32, DType::F32),
            &[axis(128, 31)],
            Method::Auto,
            false,
        )
        .unwrap();
        assert_eq!(autodiff.route, SignalRoute::BurnConv);
        // A kernel given as factors: the separable kernel for Auto, the chosen one otherwise.
        let factored = |method| {
            SignalPlan::new(
                &Device::flex(),
                (DType::F32, DType::F32),
                &[axis(128, 31), axis(128, 31)],
                method,
                true,
            )
            .unwrap()
            .route
        };
        assert_eq!(factored(Method::Auto), SignalRoute::Separable);
        assert_eq!(factored(Method::Direct), host(CpuKernel::Direct, false));
    }

    #[test]
    fn streams_pick_partitions_for_long_kernels() {
        assert_eq!(
            StreamKernel::new(Method::Auto, 64, 256),
            StreamKernel::Direct
        );
        assert_eq!(
            StreamKernel::new(Method::Auto, 65, 256),
            StreamKernel::Partitioned {
                block: 128,
                guarded: true
            }
        );
        assert_eq!(
            StreamKernel::new(Method::Fft, 1000, 10_000),
            StreamKernel::Partitioned {
                block: 1024,
                guarded: false
            }
        );
        assert_eq!(
            StreamKernel::new(Method::Direct, 1000, 1),
            StreamKernel::Direct
        );
    }
}
