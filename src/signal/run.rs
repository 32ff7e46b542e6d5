//! One call of `burn_npconv::signal`: laid out by SciPy's rules ([`super::layout`]), planned
//! once ([`SignalPlan`]), then executed: the padded array slid over the kernel by the route
//! the plan chose.

use burn::tensor::Tensor;
use burn::tensor::module::conv3d;
use burn::tensor::ops::ConvOptions;

use super::layout::{Family, layout};
use super::options::Options;
use crate::boundary::pad_axis;
use crate::dtype::cast;
use crate::error::ConvolveError;
use crate::functional::{Convolve1dOptions, convolve1d, same_device};
use crate::mode::Operation;
use crate::plan::{SignalPlan, SignalRoute};

/// `op` of `in1` and `in2` with `options`, by `family`'s rules.
pub(crate) fn run<const D: usize>(
    in1: Tensor<D>,
    in2: Tensor<D>,
    op: Operation,
    options: Options,
    family: Family,
) -> Result<Tensor<D>, ConvolveError> {
    if !(1..=3).contains(&D) {
        return Err(ConvolveError::Rank { rank: D });
    }
    let layout = layout(
        &in1.dims(),
        &in2.dims(),
        op,
        options.mode,
        options.boundary,
        family,
    )?;
    same_device("in1 and in2", &in1.device(), &in2.device())?;
    if layout.numpy_1d {
        let options = Convolve1dOptions::new(options.mode)
            .with_operation(op)
            .with_method(options.method);
        let y = convolve1d(
            in1.reshape([1, 1, -1]),
            in2.reshape([1, 1, -1]),
            None,
            options,
        )?;
        return Ok(y.reshape([-1; D]));
    }
    let device = in1.device();
    let plan = SignalPlan::new(
        &device,
        (in1.dtype(), in2.dtype()),
        &layout.axes,
        options.method,
    )?;
    let (a, k) = if layout.a_is_in2 {
        (in2, in1)
    } else {
        (in1, in2)
    };
    let (a, k) = (cast(a, plan.compute), cast(k, plan.compute));
    let y = match plan.route {
        #[cfg(cpu_kernels)]
        SignalRoute::Host { kernel, guarded } => {
            host(a, k, &layout, options.boundary, (kernel, guarded), &device)?
        }
        #[cfg(not(cpu_kernels))]
        SignalRoute::Host { .. } => unreachable!("host routes need the CPU kernels"),
        SignalRoute::BurnConv => {
            let every_axis: [usize; D] = core::array::from_fn(|i| i);
            let flip = |t: Tensor<D>, yes: bool| if yes { t.flip(every_axis) } else { t };
            let (a, k) = (flip(a, layout.flip_a), flip(k, layout.flip_k));
            let padded = layout.axes.iter().enumerate().fold(a, |t, (axis, ax)| {
                pad_axis(t, axis, (ax.lo, ax.hi), options.boundary)
            });
            flip(burn_conv(padded, k), layout.reverse_out)
        }
    };
    Ok(cast(y, plan.dtype))
}

/// The host kernels: `a` and `k` read to host memory, flipped and padded there (reversing
/// every axis of a row-major array reverses its buffer), the output written back.
#[cfg(cpu_kernels)]
fn host<const D: usize>(
    a: Tensor<D>,
    k: Tensor<D>,
    layout: &super::layout::Layout,
    boundary: crate::boundary::Boundary,
    (kernel, guarded): (crate::plan::CpuKernel, bool),
    device: &burn::tensor::Device,
) -> Result<Tensor<D>, ConvolveError> {
    use burn::tensor::TensorData;

    use crate::cpu::nd::{Dims, correlate, pad};
    let dtype = a.dtype();
    // As 3-D: leading axes of length 1, without padding.
    let three = |f: fn(&crate::geometry::Axis) -> usize, fill: usize| {
        let mut out = [fill; 3];
        let rank = layout.axes.len();
        for (o, axis) in out[3 - rank..].iter_mut().zip(&layout.axes) {
            *o = f(axis);
        }
        out
    };
    let (n, lo, hi) = (three(|x| x.n, 1), three(|x| x.lo, 0), three(|x| x.hi, 0));
    let d = Dims::new(&layout.padded_shape(), &layout.kernel_shape());
    let out: [usize; D] = layout
        .out_shape()
        .try_into()
        .expect("an output shape of the tensors' rank");
    let failure = |reason: String| ConvolveError::DeviceFailure {
        device: format!("{device:?}"),
        reason,
    };
    let read = |t: Tensor<D>| t.try_into_data().map_err(|e| failure(format!("{e:?}")));
    let (a, k) = (read(a)?, read(k)?);
    crate::dtype::with_real!(dtype, T => {
        let a = a.as_slice::<T>().map_err(|e| failure(format!("{e:?}")))?;
        let k = k.as_slice::<T>().map_err(|e| failure(format!("{e:?}")))?;
        let flipped = |v: &[T], yes: bool| {
            let mut v = v.to_vec();
            if yes {
                v.reverse();
            }
            v
        };
        let padded = if layout.flip_a {
            pad(&flipped(a, true), n, lo, hi, boundary)
        } else {
            pad(a, n, lo, hi, boundary)
        };
        let k = if layout.flip_k { std::borrow::Cow::Owned(flipped(k, true)) } else { std::borrow::Cow::Borrowed(k) };
        let mut y = correlate(&padded, &k, d, kernel, guarded);
        if layout.reverse_out {
            y.reverse();
        }
        Ok(Tensor::from_data(TensorData::new(y, out), (device, dtype)))
    })
}

/// Burn's `conv1d`, `conv2d` or `conv3d` as the `valid` sliding dot product of `padded` with
/// `k`. On a CubeCL device a kernel of more than `CUBE_CONV_TAPS` terms is cut along its first
/// axis into parts of at most that many, whose sums are added (Burn 0.22.1's convolutions on
/// wgpu give wrong sums past about 21,800 terms).
fn burn_conv<const D: usize>(padded: Tensor<D>, k: Tensor<D>) -> Tensor<D> {
    #[cfg(feature = "wgpu")]
    {
        use crate::nonfinite::tensor::CUBE_CONV_TAPS;
        let m = k.dims();
        let taps: usize = m.iter().product();
        let per_row = taps / m[0];
        let cube =
            crate::device::DeviceKind::of(&padded.device()) == crate::device::DeviceKind::Cube;
        if cube && taps > CUBE_CONV_TAPS && m[0] > 1 {
            let rows = (CUBE_CONV_TAPS / per_row).max(1);
            let l0 = padded.dims()[0] + 1 - m[0];
            return (0..m[0])
                .step_by(rows)
                .map(|k0| {
                    let len = rows.min(m[0] - k0);
                    let a = padded.clone().narrow(0, k0, len + l0 - 1);
                    one_conv(a, k.clone().narrow(0, k0, len))
                })
                .reduce(|acc, part| acc + part)
                .expect("a kernel of at least one row");
        }
    }
    one_conv(padded, k)
}

/// One Burn convolution, `valid`, on one channel: `conv3d` whatever the rank (leading axes
/// of length 1). On wgpu, Burn autotunes `conv2d` for each new shape, which on lavapipe costs
/// 5-7 s per shape; its `conv3d` is not autotuned.
fn one_conv<const D: usize>(padded: Tensor<D>, k: Tensor<D>) -> Tensor<D> {
    let (p, m) = (padded.dims().to_vec(), k.dims().to_vec());
    let out: [usize; D] = core::array::from_fn(|i| p[i] + 1 - m[i]);
    let five = |s: &[usize]| {
        let mut shape = [1; 5];
        shape[5 - s.len()..].copy_from_slice(s);
        shape
    };
    conv3d(
        padded.reshape(five(&p)),
        k.reshape(five(&m)),
        None,
        ConvOptions::new([1, 1, 1], [0, 0, 0], [1, 1, 1], 1),
    )
    .reshape(out)
}
