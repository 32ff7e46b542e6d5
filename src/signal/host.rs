//! The host routes of `burn_npconv::signal`: the inputs read to host memory, flipped and
//! padded there (reversing every axis of a row-major array reverses its buffer), the N-D host
//! kernel run, the output written back to the device.

use burn::tensor::{Device, Tensor, TensorData};

use super::layout::Layout;
use crate::boundary::Boundary;
use crate::cpu::nd::{Dims, Padder, correlate, separable};
use crate::dtype::{cast, with_real};
use crate::error::ConvolveError;
use crate::geometry::Axis;
use crate::plan::{CpuKernel, SignalPlan};

/// The shapes of a host call as 3-D (leading axes of length 1, without padding).
struct Shapes<const D: usize> {
    /// The array slid over the kernel, before padding.
    n: [usize; 3],
    /// Its padding before each axis.
    lo: [usize; 3],
    /// Its padding after each axis.
    hi: [usize; 3],
    /// The padded array's and the kernel's shapes.
    d: Dims,
    /// The output's shape.
    out: [usize; D],
}

impl<const D: usize> Shapes<D> {
    fn of(layout: &Layout) -> Self {
        let three = |f: fn(&Axis) -> usize, fill: usize| {
            let mut out = [fill; 3];
            let rank = layout.axes.len();
            for (o, axis) in out[3 - rank..].iter_mut().zip(&layout.axes) {
                *o = f(axis);
            }
            out
        };
        Shapes {
            n: three(|x| x.n, 1),
            lo: three(|x| x.lo, 0),
            hi: three(|x| x.hi, 0),
            d: Dims::new(&layout.padded_shape(), &layout.kernel_shape()),
            out: layout
                .out_shape()
                .try_into()
                .expect("an output shape of the tensors' rank"),
        }
    }
}

/// A device failure on `device`.
fn failure(device: &Device, reason: impl core::fmt::Debug) -> ConvolveError {
    ConvolveError::DeviceFailure {
        device: format!("{device:?}"),
        reason: format!("{reason:?}"),
    }
}

/// `t`'s values on the host, read from a tensor of its own: a product with 1, exact for every
/// value (-0, infinities and NaN included), made in one vectorized pass, which flex and ndarray
/// hand over without a copy. Read directly, a tensor the caller still holds is copied: by
/// burn-ndarray element by element, about 25 ns each (25 ms of a 1024x1024 call), and by flex
/// into fresh pages (measured: a 1024x1024 image with a 3x3 kernel, 5.5 ms -> 1.4 ms, and 31x31,
/// 45 ms -> 21 ms, in a process that had run other calls).
fn read<const D: usize>(t: Tensor<D>, device: &Device) -> Result<TensorData, ConvolveError> {
    let t = t.mul_scalar(1.0);
    t.try_into_data().map_err(|e| failure(device, e))
}

/// `v` reversed when `yes`.
fn flipped<T: Clone>(v: &[T], yes: bool) -> Vec<T> {
    let mut v = v.to_vec();
    if yes {
        v.reverse();
    }
    v
}

/// The host kernel `kernel` (`guarded` by `Method::Auto`'s accuracy guard) on `a` and `k`,
/// both in the compute dtype, laid out by `layout`.
pub(super) fn host<const D: usize>(
    a: Tensor<D>,
    k: Tensor<D>,
    layout: &Layout,
    boundary: Boundary,
    (kernel, guarded): (CpuKernel, bool),
    device: &Device,
) -> Result<Tensor<D>, ConvolveError> {
    let dtype = a.dtype();
    let s = Shapes::<D>::of(layout);
    let (a, k) = (read(a, device)?, read(k, device)?);
    with_real!(dtype, T => {
        let a = a.as_slice::<T>().map_err(|e| failure(device, e))?;
        let k = k.as_slice::<T>().map_err(|e| failure(device, e))?;
        let flipped_a;
        let a = if layout.flip_a {
            flipped_a = flipped(a, true);
            &flipped_a
        } else {
            a
        };
        let padder = Padder::new(a, s.n, s.lo, s.hi, boundary);
        let k = if layout.flip_k {
            std::borrow::Cow::Owned(flipped(k, true))
        } else {
            std::borrow::Cow::Borrowed(k)
        };
        let mut y = correlate(&padder, &k, s.d, kernel, guarded);
        if layout.reverse_out {
            y.reverse();
        }
        Ok(Tensor::from_data(TensorData::new(y, s.out), (device, dtype)))
    })
}

/// The separable host kernel on `in1` and the kernel whose factors are `factors`, laid out by
/// `layout` (`in1` padded, the kernel the smaller input), computed in `plan.compute`.
pub(super) fn host_separable<const D: usize>(
    in1: Tensor<D>,
    factors: [Tensor<1>; D],
    layout: &Layout,
    plan: SignalPlan,
    boundary: Boundary,
) -> Result<Tensor<D>, ConvolveError> {
    debug_assert!(!layout.a_is_in2 && !layout.flip_a && !layout.reverse_out);
    let device = in1.device();
    let s = Shapes::<D>::of(layout);
    let a = read(cast(in1, plan.compute), &device)?;
    let factors = factors
        .into_iter()
        .map(|f| read(cast(f, plan.compute), &device))
        .collect::<Result<Vec<_>, _>>()?;
    with_real!(plan.compute, T => {
        let a = a.as_slice::<T>().map_err(|e| failure(&device, e))?;
        let padder = Padder::new(a, s.n, s.lo, s.hi, boundary);
        // Leading axes: the factor `[1]`. A convolution reverses every factor.
        let mut f: [Vec<T>; 3] = core::array::from_fn(|_| vec![1.0 as T]);
        for (slot, data) in f[3 - D..].iter_mut().zip(&factors) {
            let values = data.as_slice::<T>().map_err(|e| failure(&device, e))?;
            *slot = flipped(values, layout.flip_k);
        }
        let y = separable(&padder, [&f[0], &f[1], &f[2]], s.d);
        let y = Tensor::from_data(TensorData::new(y, s.out), (&device, plan.compute));
        Ok(cast(y, plan.dtype))
    })
}
