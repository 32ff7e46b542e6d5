//! The magnitudes of each output's own terms at the signal's edges, for `Method::Auto`'s
//! accuracy guard (the CPU kernels' and the device FFT's): the outputs whose windows reach past
//! the signal hold fewer terms than the guard's chunk rule assumes.

use std::sync::{Mutex, OnceLock};

use realfft::num_complex::Complex;
use realfft::num_traits::Float;
use realfft::{FftNum, RealFftPlanner};

/// A float type the edge sums are computed in, with its shared FFT planner.
trait Planned: FftNum + Float {
    fn planner() -> &'static Mutex<RealFftPlanner<Self>>;
}

impl Planned for f32 {
    fn planner() -> &'static Mutex<RealFftPlanner<f32>> {
        static PLANNER: OnceLock<Mutex<RealFftPlanner<f32>>> = OnceLock::new();
        PLANNER.get_or_init(Default::default)
    }
}

impl Planned for f64 {
    fn planner() -> &'static Mutex<RealFftPlanner<f64>> {
        static PLANNER: OnceLock<Mutex<RealFftPlanner<f64>>> = OnceLock::new();
        PLANNER.get_or_init(Default::default)
    }
}

/// `S` at the two edges of the full output for one output row: `(start, end, Σ |h|)`, `start`
/// and `end` each `e = min(m - 1, n + m - 1)` values, full-output indices `0 .. e` and
/// `n + m - 1 - e ..`, from the magnitudes of the row's input channels (`heads` and `tails`:
/// the first and the last `min(e, n)` samples of each) and their true-convolution kernels `hs`
/// (each `m` taps).
///
/// The sums are convolutions of non-negative sequences, computed by FFT: in f32 when `single`
/// (the inputs are f32, and the sums stay far from f32's overflow), else in f64. Their error,
/// about `ε · max|x| · Σ|h|`, is far below the threshold they are compared with
/// (`max|x| · Σ|h| / 256`).
pub(crate) fn edge_terms(
    heads: &[Vec<f64>],
    tails: &[Vec<f64>],
    hs: &[Vec<f64>],
    n: usize,
    m: usize,
    single: bool,
) -> (Vec<f64>, Vec<f64>, f64) {
    let peak = heads
        .iter()
        .chain(tails)
        .flatten()
        .fold(0.0f64, |a, &v| a.max(v))
        * hs.iter().flatten().sum::<f64>();
    if single && peak < f64::from(f32::MAX) / 1e6 {
        edge_terms_in::<f32>(heads, tails, hs, n, m)
    } else {
        edge_terms_in::<f64>(heads, tails, hs, n, m)
    }
}

fn edge_terms_in<F: Planned>(
    heads: &[Vec<f64>],
    tails: &[Vec<f64>],
    hs: &[Vec<f64>],
    n: usize,
    m: usize,
) -> (Vec<f64>, Vec<f64>, f64) {
    let e = (m - 1).min(n + m - 1);
    let te = e.min(n);
    // Both edges are convolutions with h of `te` samples: `te + m - 1` values.
    let f = (te + m).next_power_of_two().max(2);
    let (r2c, c2r) = {
        let mut planner = F::planner().lock().unwrap_or_else(|e| e.into_inner());
        (planner.plan_fft_forward(f), planner.plan_fft_inverse(f))
    };
    let of = |v: f64| F::from(v).unwrap_or_else(F::infinity);
    let spectrum = |v: &[f64]| {
        let mut buf = vec![F::zero(); f];
        for (d, &s) in buf.iter_mut().zip(v) {
            *d = of(s);
        }
        let mut spec = r2c.make_output_vec();
        r2c.process(&mut buf, &mut spec)
            .expect("forward FFT of magnitudes");
        spec
    };
    let scale = of(1.0 / f as f64);
    let inverse = |a: &[Complex<F>], b: &[Complex<F>]| {
        let mut prod: Vec<Complex<F>> = a.iter().zip(b).map(|(x, y)| x * y * scale).collect();
        let last = prod.len() - 1;
        prod[0].im = F::zero();
        prod[last].im = F::zero();
        let mut out = vec![F::zero(); f];
        c2r.process(&mut prod, &mut out)
            .expect("inverse FFT of magnitudes");
        out
    };
    let (mut s_start, mut s_end, mut total) = (vec![0.0; e], vec![0.0; e], 0.0);
    // The end edge's full index k = n + m - 1 - e + r is tail output r + offset.
    let offset = m - 1 - e + te;
    for ((head_x, tail_x), h) in heads.iter().zip(tails).zip(hs) {
        total += h.iter().sum::<f64>();
        let hspec = spectrum(h);
        let head = inverse(&spectrum(head_x), &hspec);
        let tail = inverse(&spectrum(tail_x), &hspec);
        let value = |v: &F| v.to_f64().unwrap_or(f64::NAN).max(0.0);
        for r in 0..e {
            s_start[r] += value(&head[r]);
            s_end[r] += value(&tail[offset + r]);
        }
    }
    (s_start, s_end, total)
}
