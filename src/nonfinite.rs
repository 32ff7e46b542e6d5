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
use burn::tensor::{Bool, Tensor};

use crate::error::ConvolveError;
use crate::mode::Geometry;

/// Whether every value of `t` is finite: one reduction, read back to the host. A device that
/// fails to compute `t` (out of memory) gives [`ConvolveError::DeviceFailure`], not a panic.
pub(crate) fn all_finite<const D: usize>(t: &Tensor<D>) -> Result<bool, ConvolveError> {
    t.clone()
        .is_finite()
        .all()
        .try_into_scalar::<bool>()
        .map_err(|e| ConvolveError::DeviceFailure {
            device: format!("{:?}", t.device()),
            reason: e.to_string(),
        })
}

/// Outputs (batch × length) of one Burn `conv1d` call above which, on a CubeCL device under
/// autodiff, the call is split into segments of the output. Burn 0.22.1's weight gradient of
/// `conv1d` on wgpu is wrong for some large calls while the output and the input gradient stay
/// right. Measured on lavapipe: off by about the gradient's own size for `same`-mode calls of
/// 300,000 samples (one channel) and of `[64, 16, 16000]` (depthwise), and for segments of
/// 32,768 outputs sliced from a padded signal; right for many unpadded calls up to 256,000
/// outputs. The cause was not narrowed down, so the limit is one that
/// `tests/gradients.rs::gradients_of_a_long_signal_are_exact` shows right.
#[cfg(feature = "wgpu")]
pub(crate) const CUBE_GRAD_OUTPUTS: usize = 8_192;

/// Burn's `conv1d` as the sliding dot product of `g`, for a weight in NumPy orientation.
///
/// On a CubeCL device under autodiff, a call of more than [`CUBE_GRAD_OUTPUTS`] outputs runs as
/// `valid` convolutions of overlapping slices of the padded signal, each below it, whose
/// outputs are concatenated: the same values, and a weight gradient summed over the slices.
pub(crate) fn burn_conv(x: Tensor<3>, w: Tensor<3>, g: &Geometry) -> Tensor<3> {
    let w = if g.reversed { w.flip([2]) } else { w };
    #[cfg(feature = "wgpu")]
    {
        let (l, b) = (g.out_len(), g.batch);
        let device = x.device();
        if b * l > CUBE_GRAD_OUTPUTS && device.is_autodiff() && crate::method::cube_device(&device)
        {
            let ([_, cin, n], dtype) = (x.dims(), x.dtype());
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
            let segment = (CUBE_GRAD_OUTPUTS / b).max(1);
            let valid = burn::tensor::ops::ConvOptions::new([1], [0], [1], g.groups);
            let parts: Vec<Tensor<3>> = (0..l)
                .step_by(segment)
                .map(|j0| {
                    let j1 = (j0 + segment).min(l);
                    let xs = xp.clone().slice([0..b, 0..cin, j0..j1 + g.m - 1]);
                    conv1d(xs, w.clone(), None, valid.clone())
                })
                .collect();
            return Tensor::cat(parts, 2);
        }
    }
    conv1d(x, w, None, g.conv_options())
}

/// `compute(x, w)` (a path for the sliding dot product of `g`) with NumPy's NaN and infinities.
/// `fft`: the path is an FFT, whose overflow is NaN rather than NumPy's infinities; finite
/// inputs with a non-finite result are then summed directly.
pub(crate) fn numpy_sums(
    x: Tensor<3>,
    w: Tensor<3>,
    g: &Geometry,
    fft: bool,
    compute: impl Fn(Tensor<3>, Tensor<3>) -> Tensor<3>,
) -> Result<Tensor<3>, ConvolveError> {
    if all_finite(&x)? && all_finite(&w)? {
        let y = compute(x.clone(), w.clone());
        return Ok(if fft && !all_finite(&y)? {
            burn_conv(x, w, g)
        } else {
            y
        });
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
