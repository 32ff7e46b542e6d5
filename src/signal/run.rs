//! One call of `burn_npconv::signal`: laid out by SciPy's rules ([`super::layout`]), planned
//! once ([`SignalPlan`]), then executed: the padded array slid over the kernel by the route
//! the plan chose.

use burn::tensor::module::conv3d;
use burn::tensor::ops::ConvOptions;
use burn::tensor::{DType, Tensor};

use super::layout::{Family, layout};
use super::options::Options;
use crate::boundary::{Boundary, pad_axis};
use crate::dtype::{cast, result_type};
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
    check_rank::<D>()?;
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
    let plan = SignalPlan::new(
        &in1.device(),
        (in1.dtype(), in2.dtype()),
        &layout.axes,
        options.method,
        false,
    )?;
    execute(in1, in2, &layout, plan, options.boundary)
}

/// `op` of `in1` and the kernel whose factors along each axis are `factors`, with `options`,
/// by `scipy.signal.convolve`'s rules: the separable kernel where the plan takes it, else
/// the kernel materialized (`(k0 · k1) · k2` per term) and computed as [`run`] computes it.
pub(crate) fn run_separable<const D: usize>(
    in1: Tensor<D>,
    factors: [Tensor<1>; D],
    op: Operation,
    options: Options,
) -> Result<Tensor<D>, ConvolveError> {
    check_rank::<D>()?;
    let shape: [usize; D] = core::array::from_fn(|i| factors[i].dims()[0]);
    if shape.contains(&0) && !in1.dims().contains(&0) {
        return Err(ConvolveError::EmptyInput {
            argument: "factors",
            shape: shape.to_vec(),
        });
    }
    let layout = layout(
        &in1.dims(),
        &shape,
        op,
        options.mode,
        options.boundary,
        Family::Nd,
    )?;
    for f in &factors {
        same_device("in1 and factors", &in1.device(), &f.device())?;
    }
    let kernel_dtype = factors
        .iter()
        .map(|f| f.dtype())
        .reduce(result_type)
        .expect("a factor per axis");
    if layout.numpy_1d || layout.a_is_in2 {
        // The kernel is not the smaller input: SciPy slides it over `in1`.
        return run(in1, outer(factors, kernel_dtype), op, options, Family::Nd);
    }
    let plan = SignalPlan::new(
        &in1.device(),
        (in1.dtype(), kernel_dtype),
        &layout.axes,
        options.method,
        true,
    )?;
    match plan.route {
        #[cfg(cpu_kernels)]
        SignalRoute::Separable => {
            super::host::host_separable(in1, factors, &layout, plan, options.boundary)
        }
        _ => execute(
            in1,
            outer(factors, kernel_dtype),
            &layout,
            plan,
            options.boundary,
        ),
    }
}

/// The rank check: 1 to 3.
fn check_rank<const D: usize>() -> Result<(), ConvolveError> {
    if (1..=3).contains(&D) {
        Ok(())
    } else {
        Err(ConvolveError::Rank { rank: D })
    }
}

/// The kernel of `factors` in `dtype`: `(k0[i] · k1[j]) · k2[l]`, as SciPy would be given it.
fn outer<const D: usize>(factors: [Tensor<1>; D], dtype: DType) -> Tensor<D> {
    let mut factors = factors.into_iter().enumerate().map(|(axis, f)| {
        let mut shape = [1usize; D];
        shape[axis] = f.dims()[0];
        cast(f, dtype).reshape(shape)
    });
    let first = factors.next().expect("a factor per axis");
    factors.fold(first, |k, f| k * f)
}

/// The call laid out by `layout`, run by `plan`'s route (any but the separable one).
fn execute<const D: usize>(
    in1: Tensor<D>,
    in2: Tensor<D>,
    layout: &super::layout::Layout,
    plan: SignalPlan,
    boundary: Boundary,
) -> Result<Tensor<D>, ConvolveError> {
    let (a, k) = if layout.a_is_in2 {
        (in2, in1)
    } else {
        (in1, in2)
    };
    let (a, k) = (cast(a, plan.compute), cast(k, plan.compute));
    let y = match plan.route {
        #[cfg(cpu_kernels)]
        SignalRoute::Host { kernel, guarded } => {
            let device = a.device();
            super::host::host(a, k, layout, boundary, (kernel, guarded), &device)?
        }
        #[cfg(not(cpu_kernels))]
        SignalRoute::Host { .. } => unreachable!("host routes need the CPU kernels"),
        SignalRoute::Separable => unreachable!("the separable route runs on factors"),
        SignalRoute::BurnConv | SignalRoute::DeviceFft { .. } => {
            let every_axis: [usize; D] = core::array::from_fn(|i| i);
            let flip = |t: Tensor<D>, yes: bool| if yes { t.flip(every_axis) } else { t };
            let (a, k) = (flip(a, layout.flip_a), flip(k, layout.flip_k));
            let padded = layout.axes.iter().enumerate().fold(a, |t, (axis, ax)| {
                pad_axis(t, axis, (ax.lo, ax.hi), boundary)
            });
            let y = match plan.route {
                #[cfg(feature = "wgpu")]
                SignalRoute::DeviceFft { guarded } => {
                    match super::device_fft::try_fft(padded.clone(), k.clone(), guarded)? {
                        Some(y) => y,
                        None => burn_conv(padded, k),
                    }
                }
                _ => burn_conv(padded, k),
            };
            flip(y, layout.reverse_out)
        }
    };
    Ok(cast(y, plan.dtype))
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
