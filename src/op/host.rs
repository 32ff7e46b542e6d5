//! The op on flex and ndarray: their f32 and f64 tensors read in place as host slices by the
//! host kernels ([`crate::cpu`]), on the routes of the plan.

use burn::backend::tensor::FloatTensor;
use burn::backend::{Backend, TensorMetadata};

use super::NpConvOps;
use crate::cpu::Real;
use crate::dtype::with_real;
use crate::plan::{ConvPlan, HostKernel, Route};

/// Host access to a CPU backend's f32 and f64 tensors.
pub(crate) trait HostTensors: Backend {
    /// Runs `f` on the tensor's values, without copying them when they are contiguous.
    ///
    /// # Panics
    /// If the tensor's dtype is not `T`'s (a plan sends only f32 and f64 here, both operands
    /// in one dtype).
    fn read<T: Real, R>(t: FloatTensor<Self>, f: impl FnOnce(&[T]) -> R) -> R;
    /// A tensor of `shape` holding `values`.
    fn write<T: Real>(values: Vec<T>, shape: [usize; 3]) -> FloatTensor<Self>;

    /// [`NpConvOps::npconv_leaf_grad`]: the same tensor unless the backend reads a shared
    /// tensor faster in another form.
    #[cfg(feature = "autodiff")]
    fn for_shared_reading(t: FloatTensor<Self>) -> FloatTensor<Self> {
        t
    }
}

/// The host kernel of `route`.
///
/// # Panics
/// For a route that is not the host's: a plan gives host routes to host and remote devices
/// only, and only those reach this op's host implementation.
fn host_route(route: Route) -> (HostKernel, bool) {
    match route {
        Route::Host { kernel, guarded } => (kernel, guarded),
        other => panic!("burn-npconv: the host op was given the route {other:?}"),
    }
}

/// The forward pass: `x` `[batch, cin, n]`, `w` `[cout, cin / groups, m]` ->
/// `[batch, cout, out_len]`.
pub(crate) fn host_forward<B: HostTensors>(
    x: FloatTensor<B>,
    w: FloatTensor<B>,
    plan: ConvPlan,
) -> FloatTensor<B> {
    let g = plan.geometry;
    let (kernel, guarded) = host_route(plan.forward);
    with_real!(x.dtype(), T => {
        let y = B::read::<T, _>(x, |x| {
            B::read::<T, _>(w, |w| crate::cpu::conv(x, w, &g, kernel, guarded))
        });
        B::write(y, [g.batch, g.cout, g.out_len()])
    })
}

/// The input gradient: `w` `[cout, cin / groups, m]`, `gy` `[batch, cout, out_len]` ->
/// `[batch, cin, n]`.
#[cfg(cpu_grads)]
pub(crate) fn host_input_grad<B: HostTensors>(
    w: FloatTensor<B>,
    gy: FloatTensor<B>,
    plan: ConvPlan,
) -> FloatTensor<B> {
    let g = plan.geometry;
    let (kernel, guarded) = host_route(plan.input_grad_route());
    with_real!(gy.dtype(), T => {
        let dx = B::read::<T, _>(gy, |gy| {
            B::read::<T, _>(w, |w| crate::cpu::input_grad(gy, w, &g, kernel, guarded))
        });
        B::write(dx, [g.batch, g.cin, g.n])
    })
}

/// The weight gradient: `x` `[batch, cin, n]`, `gy` `[batch, cout, out_len]` ->
/// `[cout, cin / groups, m]`.
#[cfg(cpu_grads)]
pub(crate) fn host_weight_grad<B: HostTensors>(
    x: FloatTensor<B>,
    gy: FloatTensor<B>,
    plan: ConvPlan,
) -> FloatTensor<B> {
    let g = plan.geometry;
    let (kernel, _) = host_route(plan.weight_grad_route());
    with_real!(x.dtype(), T => {
        let dw = B::read::<T, _>(x, |x| {
            B::read::<T, _>(gy, |gy| crate::cpu::weight_grad(x, gy, &g, kernel))
        });
        B::write(dw, [g.cout, g.cpg(), g.m])
    })
}

/// The op on a backend with [`HostTensors`]: the host kernels.
impl<B: HostTensors> NpConvOps for B {
    fn npconv(x: FloatTensor<B>, w: FloatTensor<B>, plan: ConvPlan) -> FloatTensor<B> {
        host_forward::<B>(x, w, plan)
    }

    #[cfg(feature = "autodiff")]
    fn npconv_input_grad(
        _x: FloatTensor<B>,
        w: FloatTensor<B>,
        gy: FloatTensor<B>,
        plan: ConvPlan,
    ) -> FloatTensor<B> {
        host_input_grad::<B>(w, gy, plan)
    }

    #[cfg(feature = "autodiff")]
    fn npconv_weight_grad(
        x: FloatTensor<B>,
        _w: FloatTensor<B>,
        gy: FloatTensor<B>,
        plan: ConvPlan,
    ) -> FloatTensor<B> {
        host_weight_grad::<B>(x, gy, plan)
    }

    #[cfg(feature = "autodiff")]
    fn npconv_leaf_grad(grad: FloatTensor<B>) -> FloatTensor<B> {
        B::for_shared_reading(grad)
    }
}

#[cfg(feature = "flex")]
mod flex {
    use super::*;
    use burn::backend::Flex;
    use burn::backend::flex::FlexTensor;
    use burn::tensor::TensorData;

    impl HostTensors for Flex {
        fn read<T: Real, R>(t: FlexTensor, f: impl FnOnce(&[T]) -> R) -> R {
            let t = t.to_contiguous();
            match t.as_slice::<T>() {
                Some(values) => f(values),
                None => panic!(
                    "CPU convolution of {:?} tensors read as {:?}",
                    t.dtype(),
                    T::dtype()
                ),
            }
        }

        fn write<T: Real>(values: Vec<T>, shape: [usize; 3]) -> FlexTensor {
            FlexTensor::from_data(TensorData::new(values, shape))
        }
    }
}

#[cfg(feature = "ndarray")]
#[allow(deprecated)] // burn-ndarray is deprecated upstream; our users asked for it.
mod ndarray {
    use super::*;
    use burn::backend::NdArray;
    use burn::backend::ndarray::NdArrayTensor;
    use burn::tensor::{DType, TensorData};

    impl HostTensors for NdArray {
        fn read<T: Real, R>(t: NdArrayTensor, f: impl FnOnce(&[T]) -> R) -> R {
            // The storage's own element type, read as `T` once the dtypes agree; a copy
            // only when the storage is not contiguous.
            fn run<E: Real, T: Real, R>(
                contiguous: Option<&[E]>,
                all: impl Iterator<Item = E>,
                f: impl FnOnce(&[T]) -> R,
            ) -> R {
                match contiguous {
                    Some(values) => f(bytemuck::cast_slice(values)),
                    None => f(bytemuck::cast_slice(&all.collect::<Vec<_>>())),
                }
            }
            match &t {
                NdArrayTensor::F32(storage) if T::dtype() == DType::F32 => {
                    let view = storage.view();
                    run(view.as_slice(), view.iter().copied(), f)
                }
                NdArrayTensor::F64(storage) if T::dtype() == DType::F64 => {
                    let view = storage.view();
                    run(view.as_slice(), view.iter().copied(), f)
                }
                other => panic!(
                    "CPU convolution of {:?} tensors read as {:?}",
                    other.dtype(),
                    T::dtype()
                ),
            }
        }

        fn write<T: Real>(values: Vec<T>, shape: [usize; 3]) -> NdArrayTensor {
            NdArrayTensor::from_data(TensorData::new(values, shape))
        }

        /// The tensor's buffer, taken over without a copy, as memory burn-ndarray borrows.
        ///
        /// burn-ndarray reads an array it shares (`into_data` on the clone that
        /// `x.grad(&grads)` returns) by copying it and collecting the copy element by element
        /// through an N-D iterator: 518 ms for the 65 MB input gradient of the depthwise
        /// training case. Borrowed memory (its form for weights loaded from a file) it reads
        /// with one copy of the buffer instead, and copies it once before an op writes to it.
        #[cfg(feature = "autodiff")]
        fn for_shared_reading(t: NdArrayTensor) -> NdArrayTensor {
            use burn::backend::ops::FloatTensorOps;
            use burn::tensor::{AllocationProperty, Bytes};

            /// The buffer of a `TensorData`, as the owner of a `bytes::Bytes`.
            struct Buffer(Bytes);
            impl AsRef<[u8]> for Buffer {
                fn as_ref(&self) -> &[u8] {
                    &self.0
                }
            }

            if !matches!(t.dtype(), DType::F32 | DType::F64) {
                return t;
            }
            // The op's own output, which nothing else holds yet: taken over, not copied.
            let data =
                burn::backend::read_sync(<NdArray as FloatTensorOps<NdArray>>::float_into_data(t))
                    .expect("an ndarray tensor reads without a device");
            let (bytes, shape, dtype) = data.into_parts();
            let shared = bytes::Bytes::from_owner(Buffer(bytes));
            let borrowed = Bytes::from_shared(shared, AllocationProperty::Other);
            NdArrayTensor::from_data(TensorData::from_bytes(borrowed, shape, dtype))
        }
    }
}
