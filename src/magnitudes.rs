//! The magnitudes of each output's own terms at the signal's edges, for `Method::Auto`'s
//! accuracy guard (the CPU kernels' and the device FFT's): the outputs whose windows reach past
//! the signal hold fewer terms than the guard's chunk rule assumes.

use std::sync::{Mutex, OnceLock};

use realfft::RealFftPlanner;

/// The first `len` values of the convolution of two non-negative sequences, by an f64 FFT
/// (accurate to about `1e-16 · max · Σ`, far below the thresholds it is compared with).
pub(crate) fn abs_conv(a: &[f64], b: &[f64], len: usize) -> Vec<f64> {
    static PLANNER: OnceLock<Mutex<RealFftPlanner<f64>>> = OnceLock::new();
    let f = (a.len() + b.len()).next_power_of_two().max(2);
    let (r2c, c2r) = {
        let mut planner = PLANNER
            .get_or_init(Default::default)
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        (planner.plan_fft_forward(f), planner.plan_fft_inverse(f))
    };
    let spectrum = |v: &[f64]| {
        let mut buf = vec![0.0; f];
        buf[..v.len()].copy_from_slice(v);
        let mut spec = r2c.make_output_vec();
        r2c.process(&mut buf, &mut spec)
            .expect("forward FFT of magnitudes");
        spec
    };
    let (sa, sb) = (spectrum(a), spectrum(b));
    let mut prod: Vec<_> = sa.iter().zip(&sb).map(|(x, y)| x * y / f as f64).collect();
    let last = prod.len() - 1;
    prod[0].im = 0.0;
    prod[last].im = 0.0;
    let mut out = vec![0.0; f];
    c2r.process(&mut prod, &mut out)
        .expect("inverse FFT of magnitudes");
    out.truncate(len);
    out.resize(len, 0.0);
    out
}

/// `S` at the two edges of the full output for one output row: `(start, end, Σ |h|)`, `start`
/// and `end` each `e = min(m - 1, n + m - 1)` values, full-output indices `0 .. e` and
/// `n + m - 1 - e ..`, from the magnitudes of the row's input channels (`heads` and `tails`:
/// the first and the last `min(e, n)` samples of each) and their true-convolution kernels `hs`
/// (each `m` taps).
pub(crate) fn edge_terms(
    heads: &[Vec<f64>],
    tails: &[Vec<f64>],
    hs: &[Vec<f64>],
    n: usize,
    m: usize,
) -> (Vec<f64>, Vec<f64>, f64) {
    let e = (m - 1).min(n + m - 1);
    let (mut s_start, mut s_end, mut total) = (vec![0.0; e], vec![0.0; e], 0.0);
    for ((head_x, tail_x), h) in heads.iter().zip(tails).zip(hs) {
        total += h.iter().sum::<f64>();
        let head = abs_conv(head_x, h, e);
        let tail_rev: Vec<f64> = tail_x.iter().rev().copied().collect();
        let h_rev: Vec<f64> = h.iter().rev().copied().collect();
        let tail = abs_conv(&tail_rev, &h_rev, e);
        for r in 0..e {
            s_start[r] += head[r];
            s_end[e - 1 - r] += tail[r];
        }
    }
    (s_start, s_end, total)
}
