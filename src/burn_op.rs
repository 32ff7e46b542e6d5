#![allow(deprecated)] // the macro names burn-ndarray, deprecated upstream; our users asked for it.
//! The CPU kernels as a Burn backend op (`#[backend_extension]`): [`crate::cpu`] on `flex` and
//! `ndarray`, Burn's own conv ops as the body elsewhere, and under autodiff a backward pass
//! whose gradients take the same CPU path.

use burn::backend::tensor::FloatTensor;
use burn::backend::{Backend, Dispatch, backend_extension};
use burn::tensor::Tensor;

use crate::cpu::CpuKernel;
use crate::mode::Geometry;

/// The non-tensor arguments of the op.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct CpuConvArgs {
    /// Shapes, padding and orientation: the tensors' shapes must be those of the geometry.
    pub geometry: Geometry,
    /// Which CPU kernel.
    pub kernel: CpuKernel,
    /// `Method::Auto`'s accuracy guard on the FFT (see `cpu::conv`).
    pub guarded: bool,
}

impl CpuConvArgs {
    /// The kernel of a gradient whose work is that of a convolution of geometry `g`: the
    /// forward's kernel when it was forced, the cost model's choice for `g` under `Auto`.
    #[cfg(all(feature = "autodiff", cpu_kernels))]
    fn gradient_kernel(&self, g: &Geometry, dtype: burn::tensor::DType) -> CpuKernel {
        if self.guarded {
            crate::cost::CpuModel::of(dtype).cheaper(g)
        } else {
            self.kernel
        }
    }
}

/// The weight as the sliding dot product uses it: reversed along the taps when `reversed`.
fn oriented<B: Backend>(w: FloatTensor<B>, reversed: bool) -> FloatTensor<B> {
    if reversed { B::float_flip(w, &[2]) } else { w }
}

/// The sliding dot product of a [`Geometry`] and its two gradients.
#[backend_extension(
    Flex: cfg(feature = "flex"),
    NdArray: cfg(feature = "ndarray"),
    Cube: cfg(feature = "wgpu"),
    Autodiff: cfg(feature = "autodiff"),
)]
pub(crate) trait CpuConvOps: Backend {
    /// `x` `[batch, cin, n]`, `w` `[cout, cin / groups, m]` -> `[batch, cout, out_len]`.
    fn cpu_conv1d(
        x: FloatTensor<Self>,
        w: FloatTensor<Self>,
        args: CpuConvArgs,
    ) -> FloatTensor<Self> {
        let g = args.geometry;
        Self::conv1d(x, oriented::<Self>(w, g.reversed), None, g.conv_options())
    }

    /// The gradient with respect to `x` of `Σ gy · cpu_conv1d(x, w)`.
    #[cfg(feature = "autodiff")]
    fn cpu_conv1d_input_grad(
        x: FloatTensor<Self>,
        w: FloatTensor<Self>,
        gy: FloatTensor<Self>,
        args: CpuConvArgs,
    ) -> FloatTensor<Self> {
        let g = args.geometry;
        Self::conv1d_x_backward(x, oriented::<Self>(w, g.reversed), gy, g.conv_options())
    }

    /// The gradient with respect to `w` of `Σ gy · cpu_conv1d(x, w)`.
    #[cfg(feature = "autodiff")]
    fn cpu_conv1d_weight_grad(
        x: FloatTensor<Self>,
        w: FloatTensor<Self>,
        gy: FloatTensor<Self>,
        args: CpuConvArgs,
    ) -> FloatTensor<Self> {
        let g = args.geometry;
        let wk = oriented::<Self>(w, g.reversed);
        oriented::<Self>(
            Self::conv1d_weight_backward(x, wk, gy, g.conv_options()),
            g.reversed,
        )
    }
}

/// Runs the op on `x` and `w`.
pub(crate) fn cpu_conv1d(x: Tensor<3>, w: Tensor<3>, args: CpuConvArgs) -> Tensor<3> {
    Tensor::from_dispatch(<Dispatch as CpuConvOps>::cpu_conv1d(
        x.into_dispatch(),
        w.into_dispatch(),
        args,
    ))
}

/// The op's implementations on the CPU backends: their f32 and f64 tensors read as host
/// slices.
#[cfg(cpu_kernels)]
mod host {
    use super::*;
    use crate::cpu::Real;
    use burn::backend::TensorMetadata;
    use burn::tensor::DType;

    /// Host access to a CPU backend's f32 and f64 tensors.
    trait HostTensors: Backend {
        /// Runs `f` on the tensor's values, without copying them when they are contiguous.
        ///
        /// # Panics
        /// If the tensor's dtype is not `T`'s (the routing sends only f32 and f64 here, both
        /// operands in one dtype).
        fn read<T: Real, R>(t: FloatTensor<Self>, f: impl FnOnce(&[T]) -> R) -> R;
        /// A tensor of `shape` holding `values`.
        fn write<T: Real>(values: Vec<T>, shape: [usize; 3]) -> FloatTensor<Self>;
    }

    /// Runs `$body` with `$t` the float type of `$dtype` (f32 or f64).
    macro_rules! with_real {
        ($dtype:expr, $t:ident => $body:expr) => {
            match $dtype {
                DType::F64 => {
                    type $t = f64;
                    $body
                }
                DType::F32 => {
                    type $t = f32;
                    $body
                }
                other => panic!("the CPU kernels take f32 and f64, got {other:?}"),
            }
        };
    }

    fn host_forward<B: HostTensors>(
        x: FloatTensor<B>,
        w: FloatTensor<B>,
        args: CpuConvArgs,
    ) -> FloatTensor<B> {
        let g = args.geometry;
        with_real!(x.dtype(), T => {
            let y = B::read::<T, _>(x, |x| {
                B::read::<T, _>(w, |w| crate::cpu::conv(x, w, &g, args.kernel, args.guarded))
            });
            B::write(y, [g.batch, g.cout, g.out_len()])
        })
    }

    #[cfg(feature = "autodiff")]
    fn host_input_grad<B: HostTensors>(
        w: FloatTensor<B>,
        gy: FloatTensor<B>,
        args: CpuConvArgs,
    ) -> FloatTensor<B> {
        let g = args.geometry;
        let kernel = args.gradient_kernel(&g.input_grad(), gy.dtype());
        with_real!(gy.dtype(), T => {
            let dx = B::read::<T, _>(gy, |gy| {
                B::read::<T, _>(w, |w| {
                    crate::cpu::input_grad(gy, w, &g, kernel, args.guarded)
                })
            });
            B::write(dx, [g.batch, g.cin, g.n])
        })
    }

    #[cfg(feature = "autodiff")]
    fn host_weight_grad<B: HostTensors>(
        x: FloatTensor<B>,
        gy: FloatTensor<B>,
        args: CpuConvArgs,
    ) -> FloatTensor<B> {
        let g = args.geometry;
        // The weight gradient has the forward pass's shapes and work.
        let kernel = args.gradient_kernel(&g, x.dtype());
        with_real!(x.dtype(), T => {
            let dw = B::read::<T, _>(x, |x| {
                B::read::<T, _>(gy, |gy| crate::cpu::weight_grad(x, gy, &g, kernel))
            });
            B::write(dw, [g.cout, g.cpg(), g.m])
        })
    }

    /// The op on a backend with [`HostTensors`]: the CPU kernels.
    impl<B: HostTensors> CpuConvOps for B {
        fn cpu_conv1d(x: FloatTensor<B>, w: FloatTensor<B>, args: CpuConvArgs) -> FloatTensor<B> {
            host_forward::<B>(x, w, args)
        }

        #[cfg(feature = "autodiff")]
        fn cpu_conv1d_input_grad(
            _x: FloatTensor<B>,
            w: FloatTensor<B>,
            gy: FloatTensor<B>,
            args: CpuConvArgs,
        ) -> FloatTensor<B> {
            host_input_grad::<B>(w, gy, args)
        }

        #[cfg(feature = "autodiff")]
        fn cpu_conv1d_weight_grad(
            x: FloatTensor<B>,
            _w: FloatTensor<B>,
            gy: FloatTensor<B>,
            args: CpuConvArgs,
        ) -> FloatTensor<B> {
            host_weight_grad::<B>(x, gy, args)
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
    mod ndarray {
        use super::*;
        use burn::backend::NdArray;
        use burn::backend::ndarray::NdArrayTensor;
        use burn::tensor::TensorData;

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
        }
    }
}

// Never routed here (the crate sends wgpu tensors to Burn's own conv1d or the device FFT), but
// a listed backend with Burn's ops as the body is safer than the macro's `unimplemented!` arm.
#[cfg(feature = "wgpu")]
impl CpuConvOps for burn::backend::Cube {}

#[cfg(feature = "autodiff")]
mod autodiff {
    use super::*;
    use burn::backend::autodiff::{
        Autodiff,
        checkpoint::{base::Checkpointer, strategy::CheckpointStrategy},
        grads::Gradients,
        ops::{Backward, Ops, OpsKind},
    };

    #[derive(Debug)]
    struct CpuConvBackward;

    impl<B: Backend + CpuConvOps> Backward<B, 2> for CpuConvBackward {
        type State = (FloatTensor<B>, FloatTensor<B>, CpuConvArgs);

        fn backward(self, ops: Ops<Self::State, 2>, grads: &mut Gradients, _: &mut Checkpointer) {
            let [node_x, node_w] = ops.parents;
            let gy = grads.consume::<B>(&ops.node);
            let (x, w, args) = ops.state;
            if let Some(node) = node_x {
                let dx = B::cpu_conv1d_input_grad(x.clone(), w.clone(), gy.clone(), args);
                grads.register::<B>(node.id, dx);
            }
            if let Some(node) = node_w {
                grads.register::<B>(node.id, B::cpu_conv1d_weight_grad(x, w, gy, args));
            }
        }
    }

    impl<B: Backend + CpuConvOps, C: CheckpointStrategy> CpuConvOps for Autodiff<B, C> {
        fn cpu_conv1d(
            x: FloatTensor<Self>,
            w: FloatTensor<Self>,
            args: CpuConvArgs,
        ) -> FloatTensor<Self> {
            let (x, x_node) = x.into_parts();
            let (w, w_node) = w.into_parts();
            match CpuConvBackward
                .prepare::<C>([x_node, w_node])
                .compute_bound()
                .stateful()
            {
                OpsKind::Tracked(prep) => {
                    let y = B::cpu_conv1d(x.clone(), w.clone(), args);
                    prep.finish((x, w, args), y)
                }
                OpsKind::UnTracked(prep) => prep.finish(B::cpu_conv1d(x, w, args)),
            }
        }
    }
}
