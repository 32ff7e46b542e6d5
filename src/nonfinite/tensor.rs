//! NaN and infinities where NumPy's direct sum puts them, for the paths made of Burn's tensor
//! ops (Burn's `conv1d` and the wgpu FFT). The CPU kernels apply the same rule on host slices
//! (`cpu/nonfinite.rs`), gradients included.
//!
//! An output of NumPy's sum is NaN when one of its terms is (a NaN factor, `±inf · 0`) or when
//! it has both a `+inf` and a `-inf` term, and `±inf` when its infinite terms share a sign. The
//! terms of each kind are counted exactly, by convolving 0/1 indicators of the factors' classes
//! (integer sums, exact in floating point): twelve indicator pairs in one grouped `conv1d`,
//! whose zero padding stands for "no term", as in NumPy. The finite outputs are the
//! convolution of the inputs with their non-finite values set to zero.

use burn::tensor::module::conv1d;
use burn::tensor::{Bool, Device, Tensor};

use crate::error::ConvolveError;
use crate::geometry::Geometry;

/// Whether every value of `t` is finite: one reduction, read back to the host. A device that
/// fails to compute `t` (out of memory) gives [`ConvolveError::DeviceFailure`], not a panic.
pub(crate) fn all_finite<const D: usize>(t: &Tensor<D>) -> Result<bool, ConvolveError> {
    read_flag(t.clone().is_finite().all(), &t.device())
}

/// Whether every value of `a` and of `b` is finite: [`all_finite`] of both in one read-back.
pub(crate) fn both_finite(a: &Tensor<3>, b: &Tensor<3>) -> Result<bool, ConvolveError> {
    let flags = vec![a.clone().is_finite().all(), b.clone().is_finite().all()];
    read_flag(Tensor::cat(flags, 0).all(), &a.device())
}

/// The one value of `flag`, read back from `device`.
fn read_flag(flag: Tensor<1, Bool>, device: &Device) -> Result<bool, ConvolveError> {
    flag.try_into_scalar::<bool>()
        .map_err(|e| ConvolveError::DeviceFailure {
            device: format!("{device:?}"),
            reason: e.to_string(),
        })
}

/// Kernel taps of one Burn `conv1d` call above which, on a CubeCL device, the call is split
/// along the kernel. Burn 0.22.1's `conv1d` on wgpu gives wrong sums for kernels longer than
/// about 21,800 taps: measured on lavapipe, `valid` sliding products of 21,000 taps right and of
/// 22,000 taps (one or two channels per group) wrong, with the same values whatever the length
/// beyond. Weight gradients are such sums (the output gradient is the kernel), which is how
/// the bug first showed. 16,384 taps per call were measured right.
#[cfg(feature = "wgpu")]
pub(crate) const CUBE_CONV_TAPS: usize = 16_384;

/// Burn's `conv1d` as the sliding dot product of `g`, for a weight in NumPy orientation.
///
/// On a CubeCL device, a kernel of more than [`CUBE_CONV_TAPS`] taps is split into segments of
/// at most that many, each a `valid` sliding product over its slice of the padded signal, and
/// the parts are summed.
pub(crate) fn burn_conv(x: Tensor<3>, w: Tensor<3>, g: &Geometry) -> Tensor<3> {
    let w = if g.reversed { w.flip([2]) } else { w };
    #[cfg(feature = "wgpu")]
    if g.m > CUBE_CONV_TAPS
        && crate::device::DeviceKind::of(&x.device()) == crate::device::DeviceKind::Cube
    {
        let ([b, cin, n], [cout, cpg, _], dtype) = (x.dims(), w.dims(), x.dtype());
        let (device, l) = (x.device(), g.out_len());
        let zeros = |len: usize| Tensor::<3>::zeros([b, cin, len], (&device, dtype));
        let mut padded = Vec::new();
        if g.left > 0 {
            padded.push(zeros(g.left));
        }
        padded.push(x);
        if g.right > 0 {
            padded.push(zeros(g.right));
        }
        let xp = Tensor::cat(padded, 2);
        debug_assert_eq!(xp.dims()[2], n + g.left + g.right);
        let valid = burn::tensor::ops::ConvOptions::new([1], [0], [1], g.groups);
        let parts = (0..g.m).step_by(CUBE_CONV_TAPS).map(|k0| {
            let k1 = (k0 + CUBE_CONV_TAPS).min(g.m);
            let xs = xp.clone().slice([0..b, 0..cin, k0..k1 + l - 1]);
            let ws = w.clone().slice([0..cout, 0..cpg, k0..k1]);
            conv1d(xs, ws, None, valid.clone())
        });
        return parts
            .reduce(|acc, part| acc + part)
            .expect("a kernel of at least one tap");
    }
    conv1d(x, w, None, g.conv_options())
}

/// `compute(x, w)` (a path for the sliding dot product of `g`) with NumPy's NaN and infinities.
/// `fft`: the path is an FFT, whose overflow is NaN rather than NumPy's infinities; finite
/// inputs with a non-finite result are then summed directly. `inputs_finite`: whether every
/// value of `x` and `w` is finite, when the caller has read it already; else it is read back
/// only when the output is not finite (one reduction of the output is read back per call).
pub(crate) fn numpy_sums(
    x: Tensor<3>,
    w: Tensor<3>,
    g: &Geometry,
    fft: bool,
    inputs_finite: Option<bool>,
    compute: impl Fn(Tensor<3>, Tensor<3>) -> Tensor<3>,
) -> Result<Tensor<3>, ConvolveError> {
    if inputs_finite != Some(false) {
        let y = compute(x.clone(), w.clone());
        // A NaN or an infinite term makes its output non-finite, so outputs that are all
        // finite hold no such term: they are NumPy's sums. (A term NumPy does not have, an
        // infinity times a zero of Burn's padding, is NaN and takes the path below.)
        if all_finite(&y)? {
            return Ok(y);
        }
        let inputs_finite = match inputs_finite {
            Some(known) => known,
            None => both_finite(&x, &w)?,
        };
        if inputs_finite {
            // Overflow: NaN from the FFT, NumPy's infinities from the direct sum.
            return Ok(if fft { burn_conv(x, w, g) } else { y });
        }
    }
    let finite_part = |t: &Tensor<3>| t.clone().mask_fill(t.clone().is_finite().bool_not(), 0.0);
    let (xf, wf) = (finite_part(&x), finite_part(&w));
    let y = compute(xf.clone(), wf.clone());
    // The finite part may overflow too (values near the largest float): summed directly.
    let y = if fft && !all_finite(&y)? {
        burn_conv(xf, wf, g)
    } else {
        y
    };
    let [nan, pos, neg] = counts(&x, &w, g);
    Ok(y.mask_fill(pos, f64::INFINITY)
        .mask_fill(neg, f64::NEG_INFINITY)
        .mask_fill(nan, f64::NAN))
}

/// Which outputs NumPy's sum makes NaN, `+inf` and `-inf`: `[batch, cout, out_len]` masks.
fn counts(x: &Tensor<3>, w: &Tensor<3>, g: &Geometry) -> [Tensor<3, Bool>; 3] {
    let classes = |t: &Tensor<3>| {
        let dtype = t.dtype();
        let ind = |mask: Tensor<3, Bool>| mask.float().cast(dtype);
        let pinf = t.clone().equal_elem(f64::INFINITY);
        let ninf = t.clone().equal_elem(f64::NEG_INFINITY);
        Classes {
            nan: ind(t.clone().is_nan()),
            inf: ind(t.clone().is_inf()),
            zero: ind(t.clone().equal_elem(0.0)),
            one: t.clone().ones_like(),
            pinf: ind(pinf),
            ninf: ind(ninf),
            pos: ind(t.clone().greater_elem(0.0)),
            neg: ind(t.clone().lower_elem(0.0)),
        }
    };
    let (a, b) = (classes(x), classes(w));
    // Term kinds, four factor-class pairs each: NaN, then +inf, then -inf.
    let pairs = [
        (&a.nan, &b.one),
        (&a.one, &b.nan),
        (&a.inf, &b.zero),
        (&a.zero, &b.inf),
        (&a.pinf, &b.pos),
        (&a.ninf, &b.neg),
        (&a.pos, &b.pinf),
        (&a.neg, &b.ninf),
        (&a.pinf, &b.neg),
        (&a.ninf, &b.pos),
        (&a.pos, &b.ninf),
        (&a.neg, &b.pinf),
    ];
    let k = pairs.len();
    let xs = Tensor::cat(pairs.iter().map(|(xi, _)| (*xi).clone()).collect(), 1);
    let ws = Tensor::cat(pairs.iter().map(|(_, wi)| (*wi).clone()).collect(), 0);
    let stacked = Geometry {
        cin: k * g.cin,
        cout: k * g.cout,
        groups: k * g.groups,
        ..*g
    };
    let c = burn_conv(xs, ws, &stacked);
    let [batch, _, len] = c.dims();
    let c = c.reshape([batch, 3, 4, g.cout, len]).sum_dim(2);
    let kind = |i: usize| {
        c.clone()
            .slice([0..batch, i..i + 1, 0..1, 0..g.cout, 0..len])
            .reshape([batch, g.cout, len])
            .greater_elem(0.5)
    };
    let (pos, neg) = (kind(1), kind(2));
    let nan = kind(0).bool_or(pos.clone().bool_and(neg.clone()));
    [nan, pos, neg]
}

/// 0/1 indicators of the classes of a factor's values.
struct Classes {
    nan: Tensor<3>,
    inf: Tensor<3>,
    zero: Tensor<3>,
    one: Tensor<3>,
    pinf: Tensor<3>,
    ninf: Tensor<3>,
    pos: Tensor<3>,
    neg: Tensor<3>,
}
