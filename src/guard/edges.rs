//! The magnitudes of each output's own terms at the signal's edges, for `Method::Auto`'s
//! accuracy guard (the CPU kernels' and the device FFT's): the outputs whose windows reach past
//! the signal hold fewer terms than the guard's chunk rule assumes.

use realfft::num_complex::Complex;

use crate::fft_plans::{Planned, plans};
use crate::spectra::channel_sum;

/// The edge sums of one output row: `S` at the first and at the last `e = min(m - 1,
/// n + m - 1)` full-output indices (`0 .. e` and `n + m - 1 - e ..`), and `Σ |h|` over the
/// row's kernels.
pub(crate) struct EdgeRow {
    /// `S` at full-output indices `0 .. e`.
    pub start: Vec<f64>,
    /// `S` at full-output indices `n + m - 1 - e ..`.
    pub end: Vec<f64>,
    /// `Σ |h|` over the row's input channels.
    pub total_h: f64,
}

/// The edge sums of every output row `(b, o)` (row `b · cout + o`) of a grouped convolution,
/// from the magnitudes of the input channels' first and last `min(e, n)` samples (`heads` and
/// `tails`, `[batch, cin, min(e, n)]`) and of the true-convolution kernels (`hs`,
/// `[cout, cin / groups, m]`).
///
/// The sums are convolutions of non-negative sequences, computed by FFT: each input channel's
/// and each kernel's spectrum once, their products summed over a row's input channels, one
/// inverse transform per row and edge. In f32, whatever the inputs' type, on magnitudes scaled
/// by their largest (so that nothing overflows, and what underflows only makes a sum smaller,
/// which repairs more outputs, not fewer): the error, about `ε_f32 · log2(F) · max|x| · Σ|h|`,
/// is far below the threshold the sums are compared with (`max|x| · Σ|h| / 256`). f64 serves
/// only magnitudes whose product overflows.
pub(crate) fn edge_terms(
    heads: &[f64],
    tails: &[f64],
    hs: &[f64],
    shape: [usize; 4],
    n: usize,
    m: usize,
) -> Vec<EdgeRow> {
    let sx = heads.iter().chain(tails).fold(0.0f64, |a, &v| a.max(v));
    let sh = hs.iter().fold(0.0f64, |a, &v| a.max(v));
    if sx > 0.0 && sh > 0.0 && (sx * sh).is_finite() {
        edge_terms_in::<f32>(heads, tails, hs, shape, n, m, (1.0 / sx, 1.0 / sh))
    } else {
        edge_terms_in::<f64>(heads, tails, hs, shape, n, m, (1.0, 1.0))
    }
}

/// The length of the transforms of [`edge_terms`] for `n` samples and `m` taps: both edges
/// are convolutions with h of `min(m - 1, n)` samples.
pub(crate) fn edge_len(n: usize, m: usize) -> usize {
    ((m - 1).min(n) + m).next_power_of_two().max(2)
}

/// [`edge_terms`] computed in `F` on `|x| · ax` and `|h| · ah`.
fn edge_terms_in<F: Planned>(
    heads: &[f64],
    tails: &[f64],
    hs: &[f64],
    [batch, cin, cout, groups]: [usize; 4],
    n: usize,
    m: usize,
    (ax, ah): (f64, f64),
) -> Vec<EdgeRow> {
    use rayon::prelude::*;
    let e = (m - 1).min(n + m - 1);
    let te = e.min(n);
    let (cpg, opg) = (cin / groups, cout / groups);
    let f = edge_len(n, m);
    let (r2c, c2r) = plans::<F>(f);
    let of = |v: f64| F::from(v).unwrap_or_else(F::infinity);
    let zero = Complex::new(F::zero(), F::zero());
    let bins = f / 2 + 1;
    // Small calls stay on this thread (rayon's hand-offs would cost more than the work).
    let parallel = (batch * cin + cout * cin / groups) * f >= 1 << 16;
    let spectra = |v: &[f64], len: usize, a: f64| -> Vec<Vec<Complex<F>>> {
        let spectrum = |v: &[f64]| {
            let mut buf = crate::buffers::take(f, F::zero());
            for (d, &s) in buf.iter_mut().zip(v) {
                *d = of(s * a);
            }
            let mut spec = crate::buffers::reuse(bins, zero);
            let mut scratch = crate::buffers::reuse(r2c.get_scratch_len(), zero);
            r2c.process_with_scratch(&mut buf, &mut spec, &mut scratch)
                .expect("forward FFT of magnitudes");
            crate::buffers::give(buf);
            crate::buffers::give(scratch);
            spec
        };
        if parallel {
            v.par_chunks(len).map(spectrum).collect()
        } else {
            v.chunks(len).map(spectrum).collect()
        }
    };
    let (head_specs, tail_specs) = (spectra(heads, te, ax), spectra(tails, te, ax));
    // The kernels' spectra in one run, `[cout][cin / groups][bins]`, as `channel_sum` reads them.
    let h_specs = spectra(hs, m, ah);
    let h_all: Vec<Complex<F>> = h_specs.concat();
    let scale = of(1.0 / f as f64);
    let inverse = |prod: &mut [Complex<F>], out: &mut [F], scratch: &mut [Complex<F>]| {
        for p in prod.iter_mut() {
            *p = *p * scale;
        }
        let last = prod.len() - 1;
        prod[0].im = F::zero();
        prod[last].im = F::zero();
        c2r.process_with_scratch(prod, out, scratch)
            .expect("inverse FFT of magnitudes");
    };
    // The end edge's full index k = n + m - 1 - e + r is tail output r + offset.
    let offset = m - 1 - e + te;
    let unscale = 1.0 / (ax * ah);
    let value = |v: &F| (v.to_f64().unwrap_or(f64::NAN) * unscale).max(0.0);
    let row_sums = |row: usize| {
        let (b, o) = (row / cout, row % cout);
        let first = b * cin + (o / opg) * cpg;
        // Written whole by `channel_sum`.
        let (mut head, mut tail) = (
            crate::buffers::reuse(bins, zero),
            crate::buffers::reuse(bins, zero),
        );
        let h = &h_all[o * cpg * bins..][..cpg * bins];
        channel_sum(&mut head, &head_specs[first..first + cpg], h);
        channel_sum(&mut tail, &tail_specs[first..first + cpg], h);
        let mut out = crate::buffers::reuse(f, F::zero());
        let mut scratch = crate::buffers::reuse(c2r.get_scratch_len(), zero);
        inverse(&mut head, &mut out, &mut scratch);
        let start = out[..e].iter().map(value).collect();
        inverse(&mut tail, &mut out, &mut scratch);
        let end = out[offset..offset + e].iter().map(value).collect();
        [head, tail].into_iter().for_each(crate::buffers::give);
        crate::buffers::give(out);
        crate::buffers::give(scratch);
        EdgeRow {
            start,
            end,
            total_h: hs[o * cpg * m..][..cpg * m].iter().sum(),
        }
    };
    let rows = if parallel {
        (0..batch * cout).into_par_iter().map(row_sums).collect()
    } else {
        (0..batch * cout).map(row_sums).collect()
    };
    [head_specs, tail_specs, h_specs]
        .into_iter()
        .flatten()
        .for_each(crate::buffers::give);
    rows
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `S` by its definition: `Σ_i Σ_j h[o, i, j] · x[b, g·C + i, k - j]` over the signal.
    fn naive(
        x: &[f64],
        h: &[f64],
        shape: [usize; 4],
        n: usize,
        m: usize,
        row: usize,
        k: usize,
    ) -> f64 {
        let [_, cin, cout, groups] = shape;
        let (cpg, opg) = (cin / groups, cout / groups);
        let (b, o) = (row / cout, row % cout);
        let mut s = 0.0;
        for i in 0..cpg {
            let xr = &x[(b * cin + (o / opg) * cpg + i) * n..][..n];
            let hr = &h[(o * cpg + i) * m..][..m];
            for (j, hj) in hr.iter().enumerate() {
                if let Some(t) = k.checked_sub(j).filter(|&t| t < n) {
                    s += hj * xr[t];
                }
            }
        }
        s
    }

    #[test]
    fn edge_sums_match_their_definition_for_grouped_channels() {
        let mut state = 7u64;
        let mut next = || {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (state >> 11) as f64 / (1u64 << 53) as f64
        };
        // Magnitudes far outside f32's range are scaled into it.
        for (n, m, sx, sh) in [
            (50, 7, 1.0, 1.0),
            (3, 9, 1e-200, 1e150),
            (40, 16, 1e300, 1e-300),
            (1, 2, 1.0, 1.0),
        ] {
            let shape = [2, 4, 6, 2];
            let [batch, cin, cout, groups] = shape;
            let x: Vec<f64> = (0..batch * cin * n).map(|_| next() * sx).collect();
            let h: Vec<f64> = (0..cout * (cin / groups) * m)
                .map(|_| next() * sh)
                .collect();
            let e = (m - 1).min(n + m - 1);
            let te = e.min(n);
            let heads: Vec<f64> = x.chunks(n).flat_map(|r| r[..te].to_vec()).collect();
            let tails: Vec<f64> = x.chunks(n).flat_map(|r| r[n - te..].to_vec()).collect();
            let rows = edge_terms(&heads, &tails, &h, shape, n, m);
            assert_eq!(rows.len(), batch * cout);
            // Relative to the largest sum a row can hold (f32 transforms).
            let tol = 1e-5 * sx * sh * (m * cin / groups) as f64;
            for (row, edge) in rows.iter().enumerate() {
                for k in 0..e {
                    let want = naive(&x, &h, shape, n, m, row, k);
                    assert!(
                        (edge.start[k] - want).abs() <= tol,
                        "n {n} m {m} row {row} start {k}: {} vs {want}",
                        edge.start[k]
                    );
                    let k_end = n + m - 1 - e + k;
                    let want = naive(&x, &h, shape, n, m, row, k_end);
                    assert!(
                        (edge.end[k] - want).abs() <= tol,
                        "n {n} m {m} row {row} end {k_end}: {} vs {want}",
                        edge.end[k]
                    );
                }
                let o = row % cout;
                let cpg = cin / groups;
                let total: f64 = h[o * cpg * m..][..cpg * m].iter().sum();
                assert!((edge.total_h - total).abs() <= 1e-12 * total);
            }
        }
    }
}
