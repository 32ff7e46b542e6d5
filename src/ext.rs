#![allow(deprecated)] // the macro names burn-ndarray, deprecated upstream; our users asked for it.
//! The host convolution as a Burn backend op (`#[backend_extension]`): the CPU kernels of
//! [`crate::host`] on `flex` and `ndarray`, Burn's own conv ops elsewhere, and a backward pass
//! under autodiff whose gradients take the same host path.

use burn::backend::ops::ConvOptions;
use burn::backend::tensor::FloatTensor;
use burn::backend::{Backend, Dispatch, TensorMetadata, backend_extension};
use burn::tensor::Tensor;

use crate::host::{Dims, HostKernel};

/// The non-tensor arguments of the op.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HostConvArgs {
    /// Zeros before the signal.
    pub left: usize,
    /// Zeros after the signal.
    pub right: usize,
    /// Channel groups.
    pub groups: usize,
    /// Whether the weight is reversed (NumPy convolution) before the sliding dot product.
    pub flip: bool,
    /// Which host kernel.
    pub kernel: HostKernel,
}

impl HostConvArgs {
    fn options(&self) -> ConvOptions<1> {
        ConvOptions::new_with_padding([1], [(self.left, self.right)], [1], self.groups)
    }
}

/// `y = conv1d(x, flip ? reverse(w) : w)` with padding `(left, right)` and its two gradients.
#[backend_extension(
    Flex: cfg(feature = "flex"),
    NdArray: cfg(feature = "ndarray"),
    Cube: cfg(feature = "wgpu"),
    Autodiff: cfg(feature = "autodiff"),
)]
pub trait HostConvOps: Backend {
    /// `x` `[batch, cin, n]`, `w` `[cout, cin / groups, m]` -> `[batch, cout, n + left + right - m + 1]`.
    fn host_conv1d(
        x: FloatTensor<Self>,
        w: FloatTensor<Self>,
        args: HostConvArgs,
    ) -> FloatTensor<Self> {
        let w = if args.flip {
            Self::float_flip(w, &[2])
        } else {
            w
        };
        Self::conv1d(x, w, None, args.options())
    }

    /// The gradient with respect to `x` of `Σ gy · host_conv1d(x, w)`.
    #[cfg_attr(not(feature = "autodiff"), allow(dead_code))] // used by the backward pass
    fn host_conv1d_input_grad(
        x: FloatTensor<Self>,
        w: FloatTensor<Self>,
        gy: FloatTensor<Self>,
        args: HostConvArgs,
    ) -> FloatTensor<Self> {
        let w = if args.flip {
            Self::float_flip(w, &[2])
        } else {
            w
        };
        Self::conv1d_x_backward(x, w, gy, args.options())
    }

    /// The gradient with respect to `w` of `Σ gy · host_conv1d(x, w)`.
    #[cfg_attr(not(feature = "autodiff"), allow(dead_code))] // used by the backward pass
    fn host_conv1d_weight_grad(
        x: FloatTensor<Self>,
        w: FloatTensor<Self>,
        gy: FloatTensor<Self>,
        args: HostConvArgs,
    ) -> FloatTensor<Self> {
        let wk = if args.flip {
            Self::float_flip(w, &[2])
        } else {
            w
        };
        let g = Self::conv1d_weight_backward(x, wk, gy, args.options());
        if args.flip {
            Self::float_flip(g, &[2])
        } else {
            g
        }
    }
}

/// Runs the op on `x` and `w`.
pub fn host_conv1d(x: Tensor<3>, w: Tensor<3>, args: HostConvArgs) -> Tensor<3> {
    Tensor::from_dispatch(<Dispatch as HostConvOps>::host_conv1d(
        x.into_dispatch(),
        w.into_dispatch(),
        args,
    ))
}

fn dims(x: [usize; 3], w: [usize; 3], args: &HostConvArgs) -> Dims {
    Dims {
        batch: x[0],
        cin: x[1],
        n: x[2],
        cout: w[0],
        m: w[2],
        groups: args.groups,
        left: args.left,
        right: args.right,
    }
}

fn shape3<T: TensorMetadata>(t: &T) -> [usize; 3] {
    t.shape().dims::<3>()
}

/// Host access to a CPU backend's f32 tensors.
trait HostTensors: Backend {
    /// Runs `f` on the tensor's f32 values, without copying them when they are contiguous.
    fn read<R>(t: FloatTensor<Self>, f: impl FnOnce(&[f32]) -> R) -> R;
    fn write(values: Vec<f32>, shape: [usize; 3]) -> FloatTensor<Self>;
}

fn host_forward<B: HostTensors>(
    x: FloatTensor<B>,
    w: FloatTensor<B>,
    args: HostConvArgs,
) -> FloatTensor<B> {
    let d = dims(shape3(&x), shape3(&w), &args);
    let y = B::read(x, |x| {
        B::read(w, |w| crate::host::conv(x, w, &d, args.flip, args.kernel))
    });
    B::write(y, [d.batch, d.cout, d.out_len()])
}

#[cfg_attr(not(feature = "autodiff"), allow(dead_code))] // used by the backward pass
fn host_input_grad<B: HostTensors>(
    x: FloatTensor<B>,
    w: FloatTensor<B>,
    gy: FloatTensor<B>,
    args: HostConvArgs,
) -> FloatTensor<B> {
    let d = dims(shape3(&x), shape3(&w), &args);
    let dx = B::read(gy, |gy| {
        B::read(w, |w| {
            crate::host::input_grad(gy, w, &d, args.flip, args.kernel)
        })
    });
    B::write(dx, [d.batch, d.cin, d.n])
}

#[cfg_attr(not(feature = "autodiff"), allow(dead_code))] // used by the backward pass
fn host_weight_grad<B: HostTensors>(
    x: FloatTensor<B>,
    w: FloatTensor<B>,
    gy: FloatTensor<B>,
    args: HostConvArgs,
) -> FloatTensor<B> {
    let w_shape = shape3(&w);
    let d = dims(shape3(&x), w_shape, &args);
    let dw = B::read(x, |x| {
        B::read(gy, |gy| crate::host::weight_grad(x, gy, &d, args.flip))
    });
    B::write(dw, w_shape)
}

#[cfg(feature = "flex")]
mod flex {
    use super::*;
    use burn::backend::Flex;
    use burn::backend::flex::FlexTensor;
    use burn::tensor::TensorData;

    impl HostTensors for Flex {
        fn read<R>(t: FlexTensor, f: impl FnOnce(&[f32]) -> R) -> R {
            let t = t.to_contiguous();
            match t.as_slice::<f32>() {
                Some(values) => f(values),
                None => panic!("host convolution needs f32 tensors, got {:?}", t.dtype()),
            }
        }

        fn write(values: Vec<f32>, shape: [usize; 3]) -> FlexTensor {
            FlexTensor::from_data(TensorData::new(values, shape))
        }
    }

    impl HostConvOps for Flex {
        fn host_conv1d(x: FlexTensor, w: FlexTensor, args: HostConvArgs) -> FlexTensor {
            host_forward::<Self>(x, w, args)
        }
        fn host_conv1d_input_grad(
            x: FlexTensor,
            w: FlexTensor,
            gy: FlexTensor,
            args: HostConvArgs,
        ) -> FlexTensor {
            host_input_grad::<Self>(x, w, gy, args)
        }
        fn host_conv1d_weight_grad(
            x: FlexTensor,
            w: FlexTensor,
            gy: FlexTensor,
            args: HostConvArgs,
        ) -> FlexTensor {
            host_weight_grad::<Self>(x, w, gy, args)
        }
    }
}

#[cfg(feature = "ndarray")]
#[allow(deprecated)] // burn-ndarray is deprecated upstream; our users asked for it.
mod ndarray {
    use super::*;
    use burn::backend::NdArray;
    use burn::backend::ndarray::NdArrayTensor;
    use burn::tensor::TensorData;

    impl HostTensors for NdArray {
        fn read<R>(t: NdArrayTensor, f: impl FnOnce(&[f32]) -> R) -> R {
            match &t {
                NdArrayTensor::F32(storage) => {
                    let view = storage.view();
                    match view.as_slice() {
                        Some(values) => f(values),
                        None => f(&view.iter().copied().collect::<Vec<_>>()),
                    }
                }
                other => panic!(
                    "host convolution needs f32 tensors, got {:?}",
                    other.dtype()
                ),
            }
        }

        fn write(values: Vec<f32>, shape: [usize; 3]) -> NdArrayTensor {
            NdArrayTensor::from_data(TensorData::new(values, shape))
        }
    }

    impl HostConvOps for NdArray {
        fn host_conv1d(x: NdArrayTensor, w: NdArrayTensor, args: HostConvArgs) -> NdArrayTensor {
            host_forward::<Self>(x, w, args)
        }
        fn host_conv1d_input_grad(
            x: NdArrayTensor,
            w: NdArrayTensor,
            gy: NdArrayTensor,
            args: HostConvArgs,
        ) -> NdArrayTensor {
            host_input_grad::<Self>(x, w, gy, args)
        }
        fn host_conv1d_weight_grad(
            x: NdArrayTensor,
            w: NdArrayTensor,
            gy: NdArrayTensor,
            args: HostConvArgs,
        ) -> NdArrayTensor {
            host_weight_grad::<Self>(x, w, gy, args)
        }
    }
}

// Never routed here (the crate sends wgpu tensors to Burn's own conv1d), but a listed backend
// with Burn's ops as the body is safer than the macro's `unimplemented!` arm.
#[cfg(feature = "wgpu")]
impl HostConvOps for burn::backend::Cube {}

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
    struct HostConvBackward;

    impl<B: Backend + HostConvOps> Backward<B, 2> for HostConvBackward {
        type State = (FloatTensor<B>, FloatTensor<B>, HostConvArgs);

        fn backward(self, ops: Ops<Self::State, 2>, grads: &mut Gradients, _: &mut Checkpointer) {
            let [node_x, node_w] = ops.parents;
            let gy = grads.consume::<B>(&ops.node);
            let (x, w, args) = ops.state;
            if let Some(node) = node_x {
                let dx = B::host_conv1d_input_grad(x.clone(), w.clone(), gy.clone(), args);
                grads.register::<B>(node.id, dx);
            }
            if let Some(node) = node_w {
                grads.register::<B>(node.id, B::host_conv1d_weight_grad(x, w, gy, args));
            }
        }
    }

    impl<B: Backend + HostConvOps, C: CheckpointStrategy> HostConvOps for Autodiff<B, C> {
        fn host_conv1d(
            x: FloatTensor<Self>,
            w: FloatTensor<Self>,
            args: HostConvArgs,
        ) -> FloatTensor<Self> {
            let (x, x_node) = x.into_parts();
            let (w, w_node) = w.into_parts();
            match HostConvBackward
                .prepare::<C>([x_node, w_node])
                .compute_bound()
                .stateful()
            {
                OpsKind::Tracked(prep) => {
                    let y = B::host_conv1d(x.clone(), w.clone(), args);
                    prep.finish((x, w, args), y)
                }
                OpsKind::UnTracked(prep) => prep.finish(B::host_conv1d(x, w, args)),
            }
        }
    }
}
