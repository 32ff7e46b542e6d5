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
    /// The [`Method`](crate::Method) these arguments stand for: `Auto` when guarded, else the
    /// forced kernel (on wgpu, `Direct` is Burn's `conv1d` and `Fft` the device FFT).
    pub(crate) fn method(&self) -> crate::Method {
        match (self.guarded, self.kernel) {
            (true, _) => crate::Method::Auto,
            (false, CpuKernel::Direct) => crate::Method::Direct,
            (false, CpuKernel::Fft) => crate::Method::Fft,
        }
    }

    /// The kernel of a gradient whose work is that of a convolution of geometry `g`: the
    /// forward's kernel when it was forced, the cost model's choice for `g` under `Auto`.
    #[cfg(cpu_grads)]
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
    Remote: cfg(feature = "remote"),
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

    /// `y`, computed from `x` and `w` outside the op (on the tensors without autodiff), as the
    /// op's output: under autodiff, its gradients are those of the op's backward pass.
    #[cfg(all(feature = "autodiff", feature = "wgpu"))]
    fn cpu_conv1d_tracked(
        x: FloatTensor<Self>,
        w: FloatTensor<Self>,
        y: FloatTensor<Self>,
        args: CpuConvArgs,
    ) -> FloatTensor<Self> {
        let _ = (x, w, args);
        y
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

/// Records `y`, the op's result computed from `x` and `w` without autodiff, with the op's
/// backward pass.
#[cfg(all(feature = "autodiff", feature = "wgpu"))]
pub(crate) fn cpu_conv1d_tracked(
    x: Tensor<3>,
    w: Tensor<3>,
    y: Tensor<3>,
    args: CpuConvArgs,
) -> Tensor<3> {
    Tensor::from_dispatch(<Dispatch as CpuConvOps>::cpu_conv1d_tracked(
        x.into_dispatch(),
        w.into_dispatch(),
        y.into_dispatch(),
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
    pub(crate) trait HostTensors: Backend {
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

    pub(crate) fn host_forward<B: HostTensors>(
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

    #[cfg(cpu_grads)]
    pub(crate) fn host_input_grad<B: HostTensors>(
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

    #[cfg(cpu_grads)]
    pub(crate) fn host_weight_grad<B: HostTensors>(
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

/// The op on Burn's remote backend: the client ships it to the server as a custom op
/// ([`wire`]), and the server runs it on its own host kernels ([`wire::handler`]).
#[cfg(feature = "remote")]
pub(crate) mod wire {
    use super::*;
    use burn::backend::ir::{CustomOpIr, ScalarIr, TensorIr};
    use burn::backend::{Remote, TensorMetadata};
    use burn::remote::CustomOpClient;
    use burn::tensor::Shape;

    /// The op ids. The version is that of the scalar layout below, a wire format shared by
    /// the client's and the server's builds.
    pub(crate) const FORWARD: &str = "burn_npconv/1/conv1d";
    /// `(w, gy)` -> the input gradient.
    pub(crate) const INPUT_GRAD: &str = "burn_npconv/1/conv1d_input_grad";
    /// `(x, gy)` -> the weight gradient.
    pub(crate) const WEIGHT_GRAD: &str = "burn_npconv/1/conv1d_weight_grad";
    /// Every op id a server must handle.
    #[cfg(cpu_kernels)]
    pub(crate) const OPS: [&str; 3] = [FORWARD, INPUT_GRAD, WEIGHT_GRAD];

    /// The arguments as the op's scalars: the geometry's eight sizes, its orientation, the
    /// kernel and whether `Auto` chose it.
    fn to_scalars(args: &CpuConvArgs) -> Vec<ScalarIr> {
        let g = &args.geometry;
        let mut scalars: Vec<ScalarIr> =
            [g.batch, g.cin, g.n, g.cout, g.m, g.groups, g.left, g.right]
                .map(|v| ScalarIr::UInt(v as u64))
                .to_vec();
        scalars.push(ScalarIr::Bool(g.reversed));
        scalars.push(ScalarIr::Bool(args.kernel == CpuKernel::Fft));
        scalars.push(ScalarIr::Bool(args.guarded));
        scalars
    }

    /// The arguments back from the op's scalars.
    ///
    /// # Panics
    /// If the layout is not [`to_scalars`]'s (a client of another wire version: the op id
    /// carries the version, so this does not happen between builds of this crate).
    #[cfg(cpu_kernels)]
    fn from_scalars(scalars: &[ScalarIr]) -> CpuConvArgs {
        let size = |s: &ScalarIr| match s {
            ScalarIr::UInt(v) => *v as usize,
            other => panic!("burn_npconv op: expected a size, got {other:?}"),
        };
        let flag = |s: &ScalarIr| match s {
            ScalarIr::Bool(b) => *b,
            other => panic!("burn_npconv op: expected a flag, got {other:?}"),
        };
        let [
            b,
            cin,
            n,
            cout,
            m,
            groups,
            left,
            right,
            reversed,
            fft,
            guarded,
        ] = scalars
        else {
            panic!("burn_npconv op: expected 11 scalars, got {}", scalars.len());
        };
        CpuConvArgs {
            geometry: Geometry {
                batch: size(b),
                cin: size(cin),
                n: size(n),
                cout: size(cout),
                m: size(m),
                groups: size(groups),
                left: size(left),
                right: size(right),
                reversed: flag(reversed),
            },
            kernel: if flag(fft) {
                CpuKernel::Fft
            } else {
                CpuKernel::Direct
            },
            guarded: flag(guarded),
        }
    }

    /// Ships op `id` on `inputs` to their server; the result has `shape`.
    fn ship(
        id: &'static str,
        inputs: [FloatTensor<Remote>; 2],
        shape: [usize; 3],
        args: CpuConvArgs,
    ) -> FloatTensor<Remote> {
        let device = inputs[0].device();
        let dtype = inputs[0].dtype();
        let client = CustomOpClient::new(&device);
        let out = TensorIr::uninit(client.create_empty_handle(), Shape::from(shape), dtype);
        let inputs = inputs.map(|t| t.into_ir());
        client
            .register(CustomOpIr::with_scalars(
                id,
                &inputs,
                &[out],
                to_scalars(&args),
            ))
            .pop()
            .expect("the op has one output")
    }

    /// The client side: every call becomes a custom op run by the server.
    impl CpuConvOps for Remote {
        fn cpu_conv1d(
            x: FloatTensor<Self>,
            w: FloatTensor<Self>,
            args: CpuConvArgs,
        ) -> FloatTensor<Self> {
            let g = args.geometry;
            ship(FORWARD, [x, w], [g.batch, g.cout, g.out_len()], args)
        }

        #[cfg(feature = "autodiff")]
        fn cpu_conv1d_input_grad(
            _x: FloatTensor<Self>,
            w: FloatTensor<Self>,
            gy: FloatTensor<Self>,
            args: CpuConvArgs,
        ) -> FloatTensor<Self> {
            let g = args.geometry;
            ship(INPUT_GRAD, [w, gy], [g.batch, g.cin, g.n], args)
        }

        #[cfg(feature = "autodiff")]
        fn cpu_conv1d_weight_grad(
            x: FloatTensor<Self>,
            _w: FloatTensor<Self>,
            gy: FloatTensor<Self>,
            args: CpuConvArgs,
        ) -> FloatTensor<Self> {
            let g = args.geometry;
            ship(WEIGHT_GRAD, [x, gy], [g.cout, g.cpg(), g.m], args)
        }
    }

    /// The server side: runs op `ir` on the server's host kernels. Under `Auto` the kernel is
    /// chosen again here, by the cost model of the server's machine.
    #[cfg(cpu_kernels)]
    pub(crate) fn handler<B: host::HostTensors + burn::backend::ir::BackendIr>(
        handles: &mut burn::backend::ir::HandleContainer<B::Handle>,
        ir: &CustomOpIr,
        _device: &B::Device,
    ) {
        let mut args = from_scalars(&ir.scalars);
        let ([a, b], [out]) = ir.as_fixed::<2, 1>();
        let (a, b) = (
            handles.get_float_tensor::<B>(a),
            handles.get_float_tensor::<B>(b),
        );
        let y = match ir.id.as_str() {
            FORWARD => {
                if args.guarded {
                    args.kernel = crate::cost::CpuModel::of(a.dtype()).cheaper(&args.geometry);
                }
                host::host_forward::<B>(a, b, args)
            }
            INPUT_GRAD => host::host_input_grad::<B>(a, b, args),
            WEIGHT_GRAD => host::host_weight_grad::<B>(a, b, args),
            other => panic!("burn_npconv: no op {other:?} in this build"),
        };
        handles.register_float_tensor::<B>(&out.id, y);
    }
}

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
            record::<B, C>(x, w, args, |x, w| B::cpu_conv1d(x, w, args))
        }

        #[cfg(feature = "wgpu")]
        fn cpu_conv1d_tracked(
            x: FloatTensor<Self>,
            w: FloatTensor<Self>,
            y: FloatTensor<Self>,
            args: CpuConvArgs,
        ) -> FloatTensor<Self> {
            let (y, _) = y.into_parts();
            record::<B, C>(x, w, args, |_, _| y)
        }
    }

    /// The op's output, `y` of the inner tensors, recorded with the op's backward pass when
    /// `x` or `w` is tracked.
    fn record<B: Backend + CpuConvOps, C: CheckpointStrategy>(
        x: FloatTensor<Autodiff<B, C>>,
        w: FloatTensor<Autodiff<B, C>>,
        args: CpuConvArgs,
        y: impl FnOnce(FloatTensor<B>, FloatTensor<B>) -> FloatTensor<B>,
    ) -> FloatTensor<Autodiff<B, C>> {
        let (x, x_node) = x.into_parts();
        let (w, w_node) = w.into_parts();
        match CpuConvBackward
            .prepare::<C>([x_node, w_node])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let y = y(x.clone(), w.clone());
                prep.finish((x, w, args), y)
            }
            OpsKind::UnTracked(prep) => prep.finish(y(x, w)),
        }
    }
}
