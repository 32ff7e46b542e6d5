//! `Method::Auto`'s accuracy guard on the device FFT (wgpu): one read-back of what the guard,
//! the NaN/inf rule and the edge repair need of the inputs ([`probe`]), and the edge outputs
//! summed directly where the FFT's error would exceed their own terms' ([`repair_edges`]).

use burn::tensor::{DType, Tensor};

use super::FFT_DYNAMIC_RANGE;
use crate::cost::device_fft_len;
use crate::error::ConvolveError;
use crate::geometry::Geometry;

/// What `Method::Auto` reads of its inputs before the device FFT, in one read-back (a host
/// round trip per call, not one per statistic): whether they are finite, [`probe`]'s accuracy
/// decision, and the magnitudes of the signal's edges for [`repair_edges`].
pub(crate) struct Probe {
    /// Every value of the signal and of the kernel is finite.
    pub(crate) finite: bool,
    /// `max|x|` when the inputs are finite and the FFT on them is accurate, else `None`.
    pub(crate) max_x: Option<f64>,
    /// `|x|` of the first and of the last [`edge_len`] samples of each row, and `|w|`.
    heads: Vec<f64>,
    tails: Vec<f64>,
    ws: Vec<f64>,
}

/// Samples at each end of a signal row whose outputs [`repair_edges`] may recompute.
fn edge_len(g: &Geometry) -> usize {
    (g.m - 1).min(g.n)
}

/// `Method::Auto`'s accuracy guard for the device FFT, the rule of the CPU FFT's guard
/// ([`super::host::guarded`](crate::guard)): the FFT's error stays within a small multiple of each output's own
/// terms when the dynamic range `q = (max|x| / min chunk mean|x|) · (max|w| / mean|w|)` is at
/// most [`FFT_DYNAMIC_RANGE`] and the sums stay far from overflow. wgpu has no f64 here, so a
/// wider range takes Burn's `conv1d`, and so do inputs with NaN or infinities (whose
/// statistics are not finite), with NumPy's rule (`numpy_sums` in [`crate::nonfinite::tensor`]).
/// A few reductions, the inputs' finiteness and the edges' values, read back to the host
/// together.
///
/// A device that fails to compute or read back gives [`ConvolveError::DeviceFailure`].
pub(crate) fn probe(x: &Tensor<3>, w: &Tensor<3>, g: &Geometry) -> Result<Probe, ConvolveError> {
    let device = x.device();
    let flag = |t: &Tensor<3>| t.clone().is_finite().all().float();
    let chunk = (g.m / 2).max(1).min(g.n);
    let whole = g.n / chunk * chunk;
    let (ax, aw) = (x.clone().abs(), w.clone().abs());
    let min_mean_x = ax
        .clone()
        .slice([0..g.batch, 0..g.cin, 0..whole])
        .reshape([g.batch, g.cin, whole / chunk, chunk])
        .mean_dim(3)
        .min();
    let qw = (aw.clone().max_dim(2) / aw.clone().mean_dim(2)).max();
    let mut parts = vec![flag(x), flag(w), ax.max(), min_mean_x, aw.max(), qw];
    let (n, edge) = (g.n, edge_len(g));
    let flat = |t: Tensor<3>| {
        let len: usize = t.dims().iter().product();
        t.reshape([len])
    };
    if edge > 0 {
        parts.push(flat(x.clone().slice([0..g.batch, 0..g.cin, 0..edge])));
        parts.push(flat(x.clone().slice([0..g.batch, 0..g.cin, n - edge..n])));
        parts.push(flat(w.clone()));
    }
    let parts = parts.into_iter().map(|t| t.cast(DType::F32)).collect();
    let data = Tensor::cat(parts, 0)
        .try_into_data()
        .map_err(|e| device_failure(&device, e))?;
    let values: Vec<f64> = data.iter::<f32>().map(f64::from).collect();
    let [fx, fw, max_x, min_mean_x, max_w, qw] = values[..6] else {
        unreachable!("six statistics first")
    };
    let finite = fx == 1.0 && fw == 1.0;
    let edges: Vec<f64> = values[6..].iter().map(|v| v.abs()).collect();
    let q = max_x / min_mean_x * qw;
    let f = device_fft_len(g) as f64;
    let peak = f * g.m as f64 * max_x * max_w * g.cpg() as f64;
    let fits =
        finite && q.is_finite() && q <= FFT_DYNAMIC_RANGE && peak < f64::from(f32::MAX) / 4.0;
    let rows = g.batch * g.cin * edge;
    let (heads, rest) = edges.split_at(rows.min(edges.len()));
    let (tails, ws) = rest.split_at(rows.min(rest.len()));
    Ok(Probe {
        finite,
        max_x: fits.then_some(max_x),
        heads: heads.to_vec(),
        tails: tails.to_vec(),
        ws: ws.to_vec(),
    })
}

/// [`ConvolveError::DeviceFailure`] on `device` for Burn's error `e`.
fn device_failure(device: &burn::tensor::Device, e: impl std::fmt::Display) -> ConvolveError {
    ConvolveError::DeviceFailure {
        device: format!("{device:?}"),
        reason: e.to_string(),
    }
}

/// The outputs at the signal's edges that [`accurate`]'s chunk rule does not cover (windows
/// reaching past the signal), summed directly by Burn's `conv1d` where their own terms are too
/// small for the FFT's error (the host's rule, `guard::host::repair_edges`): from the
/// edges' magnitudes that [`probe`] read back, the outputs up to the last such one at each
/// edge are recomputed.
pub(crate) fn repair_edges(
    x: &Tensor<3>,
    w: &Tensor<3>,
    g: &Geometry,
    y: Tensor<3>,
    probe: &Probe,
) -> Result<Tensor<3>, ConvolveError> {
    let (n, m, l) = (g.n, g.m, g.out_len());
    let Some(max_x) = probe.max_x else {
        return Ok(y); // the FFT did not run
    };
    if m == 1 {
        return Ok(y);
    }
    let e = (m - 1).min(n + m - 1);
    let (heads, tails, ws) = (&probe.heads, &probe.tails, &probe.ws);
    // h, the true-convolution kernel: the weight as is when the sliding product reverses it.
    let hs: Vec<f64> = ws
        .chunks(m)
        .flat_map(|k| {
            if g.reversed {
                k.to_vec()
            } else {
                k.iter().rev().copied().collect()
            }
        })
        .collect();
    let edges =
        super::edges::edge_terms(heads, tails, &hs, [g.batch, g.cin, g.cout, g.groups], n, m);
    let (mut last_start, mut first_end) = (None::<usize>, None::<usize>);
    for edge in &edges {
        let threshold = max_x * edge.total_h / FFT_DYNAMIC_RANGE;
        if let Some(k) = edge.start.iter().rposition(|&s| s < threshold) {
            last_start = Some(last_start.map_or(k, |v: usize| v.max(k)));
        }
        if let Some(r) = edge.end.iter().position(|&s| s < threshold) {
            let k = n + m - 1 - e + r;
            first_end = Some(first_end.map_or(k, |v: usize| v.min(k)));
        }
    }
    // Full-output ranges to recompute, as output ranges of `g`.
    let start = g.full_start();
    let mut y = y;
    let ranges = [
        last_start.map(|k| (0, k + 1)),
        first_end.map(|k| (k, n + m - 1)),
    ];
    for (k0, k1) in ranges.into_iter().flatten() {
        let (j0, j1) = (
            k0.max(start) - start,
            k1.min(start + l).saturating_sub(start),
        );
        if j0 >= j1 {
            continue;
        }
        // Output j reads padded positions j .. j + m, signal positions j - left ...
        let lo = j0 as isize - g.left as isize;
        let hi = (j1 + m - 1) as isize - g.left as isize;
        let (pl, pr) = ((-lo).max(0) as usize, (hi - n as isize).max(0) as usize);
        let (lo, hi) = (lo.max(0) as usize, (hi as usize).min(n));
        let sub = x.clone().slice([0..g.batch, 0..g.cin, lo..hi]);
        let sub_g = Geometry::padded(
            sub.dims(),
            [g.cout, g.cpg(), m],
            g.groups,
            (pl, pr),
            g.reversed,
        );
        debug_assert_eq!(sub_g.out_len(), j1 - j0);
        let direct = crate::nonfinite::tensor::burn_conv(sub, w.clone(), &sub_g);
        y = y.slice_assign([0..g.batch, 0..g.cout, j0..j1], direct);
    }
    Ok(y)
}

#[cfg(all(test, feature = "flex"))]
mod tests {
    use burn::tensor::{Device, TensorData};

    use super::*;
    use crate::mode::{Mode, Operation};

    /// One row of `v` on flex (the probe is Burn's ops only: any device runs it).
    fn row(v: &[f32]) -> Tensor<3> {
        Tensor::from_data(
            TensorData::new(v.to_vec(), [1, 1, v.len()]),
            &Device::flex(),
        )
    }

    fn probed(x: &[f32], w: &[f32]) -> Probe {
        let g = Geometry::numpy(
            [1, 1, x.len()],
            [1, 1, w.len()],
            1,
            Mode::Full,
            Operation::Convolution,
        );
        probe(&row(x), &row(w), &g).expect("flex computes the probe")
    }

    #[test]
    fn the_probe_reads_everything_in_one_go() {
        let p = probed(&[1.0, -2.0, 1.5, 1.0, -1.0, 2.0], &[0.5, -1.0, 0.25, 1.0]);
        assert!(p.finite);
        assert_eq!(p.max_x, Some(2.0));
        assert_eq!(p.ws, [0.5, 1.0, 0.25, 1.0]);
        // Edges of m - 1 = 3 samples.
        assert_eq!(
            (p.heads.as_slice(), p.tails.as_slice()),
            (&[1.0, 2.0, 1.5][..], &[1.0, 1.0, 2.0][..])
        );
    }

    #[test]
    fn the_probe_keeps_nan_and_infinities_from_the_fft() {
        // The same signal, with the range the FFT accepts, once finite and once not.
        let x = [1.0, -2.0, 1.5, 1.0, -1.0, 2.0, 1.0, -1.5];
        assert_eq!(probed(&x, &[1.0, -1.0, 1.0]).max_x, Some(2.0));
        for (bad_x, bad_w) in [
            (f32::NAN, 1.0),
            (f32::INFINITY, 1.0),
            (1.0, f32::NEG_INFINITY),
        ] {
            let mut xs = x;
            xs[3] = bad_x;
            let p = probed(&xs, &[1.0, bad_w, 1.0]);
            assert!(!p.finite);
            assert_eq!(p.max_x, None);
        }
    }

    #[test]
    fn the_probe_refuses_the_fft_for_a_silent_kernel() {
        // max|w| / mean|w| is 0 / 0: no dynamic range the FFT could be trusted with.
        let p = probed(&[1.0, -2.0, 1.5, 1.0, -1.0, 2.0], &[0.0, 0.0, 0.0]);
        assert!(p.finite);
        assert_eq!(p.max_x, None);
    }
}
