//! `Method::Auto`'s accuracy guard on the host FFT: from the measurements of the inputs
//! ([`super::measure`]), the precision in which the FFT is as accurate as the direct sum
//! ([`guarded`], [`decide`]), and at the signal's edges, the outputs summed directly where their
//! own terms are too small for the FFT's error ([`repair_edges`]).

use rayon::prelude::*;

use super::FFT_DYNAMIC_RANGE;
use super::edges::EdgeRow;
use super::measure::{BlockRange, range, range_of_row};
use crate::cpu::Real;
use crate::cpu::real::to;
use crate::geometry::Geometry;
use crate::nonfinite::host::direct_output;
use crate::plan::FftLens;

/// The type an FFT convolution computes in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Precision {
    /// The inputs' own type.
    Input,
    /// f64, whatever the inputs' type.
    F64,
}

impl Precision {
    /// The transform length of `lens` in this precision.
    pub(crate) fn len(self, lens: FftLens) -> usize {
        match self {
            Precision::Input => lens.input,
            Precision::F64 => lens.f64,
        }
    }
}

/// `Method::Auto`'s accuracy guard for the FFT: the precision in which an FFT convolution of
/// `x` with `wk` is as accurate as the direct sum, or `None` when none is (or the inputs hold
/// NaN or infinities, which the direct kernel handles as NumPy does).
///
/// An FFT's error is spread over a whole block, in proportion to the block's largest values,
/// while the direct sum's error for output `j` is in proportion to its own terms,
/// `S_j = Σ_k |x[j-k]| |w[k]|`. The guard bounds the ratio of the two by the dynamic range
/// `q = (max|x| / min mean|x|) · (max|w| / mean|w|)`, the minimum mean taken over chunks of
/// `m / 2` samples (every window of `m` samples holds one whole chunk). Ordinary signals (noise,
/// audio without long silences) have `q` in the tens and keep the FFT in their own type; a
/// spike in noise, loud and quiet passages or exact silences raise it, and the FFT then
/// computes in f64 or the direct kernel runs. Sums near the type's overflow threshold also
/// leave the input type. One pass over the inputs, in vector lanes: `Auto`'s FFT makes the
/// same measurement of the signal inside its own reads of each block (`cpu::fft::conv_guarded`) and
/// uses this pass only where a chunk could span three blocks.
///
/// Returns the precision with the guard's measurements ([`Guard`]). The chunk rule covers every
/// output whose window holds a whole chunk; the first and last `m - 1` outputs of the full
/// output (windows reaching past the signal) may not, and [`repair_edges`] checks them.
pub(crate) fn guarded<T: Real>(x: &[T], wk: &[T], d: &Geometry, lens: FftLens) -> Option<Guard> {
    guard_of(x, wk, d, lens.input)
}

/// What [`guarded`] decides, with what the edge repair needs.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Guard {
    /// The precision the FFT runs in.
    pub(crate) precision: Precision,
    /// `max |x|` over every row.
    pub(crate) max_x: f64,
    /// The largest `(max|x| / mean|x| over a window) · qw` the FFT in `precision` keeps accurate.
    pub(crate) limit: f64,
}

fn guard_of<T: Real>(x: &[T], wk: &[T], d: &Geometry, f: usize) -> Option<Guard> {
    let chunk = (d.m / 2).max(1);
    let mut qx = 0.0f64;
    let mut max_x = 0.0f64;
    for row in x.chunks(d.n) {
        let (max, min_mean) = range_of_row(row, chunk)?;
        max_x = max_x.max(max);
        qx = qx.max(max / min_mean);
    }
    let (qw, max_w) = kernel_range(wk, d.m)?;
    decide::<T>(qx, max_x, qw, max_w, d, f)
}

/// `(max over kernels of max|w| / mean|w|, max |w|)`, or `None` for a NaN or an infinity.
pub(crate) fn kernel_range<T: Real>(wk: &[T], m: usize) -> Option<(f64, f64)> {
    let mut qw = 0.0f64;
    let mut max_w = 0.0f64;
    for k in wk.chunks(m) {
        let (max, mean) = range(k, m)?;
        max_w = max_w.max(max);
        qw = qw.max(max / mean);
    }
    Some((qw, max_w))
}

/// `(max over rows of max|x| / min chunk mean|x|, max |x|)` from the measurements of the
/// FFT's input blocks of `block` samples (a
/// row whose blocks were not all read is measured by [`range_of_row`]), or `None` for a NaN, an
/// infinity or an overflowing total.
pub(crate) fn signal_range<T: Real>(
    x: &[T],
    d: &Geometry,
    chunk: usize,
    block: usize,
    mut ranges: Vec<BlockRange>,
) -> Option<(f64, f64)> {
    let n = d.n;
    let n_blocks = n.div_ceil(block);
    ranges.sort_unstable_by_key(|b| (b.row, b.block));
    ranges.dedup_by_key(|b| (b.row, b.block));
    let whole_n = n / chunk * chunk;
    let (mut qx, mut max_x) = (0.0f64, 0.0f64);
    let mut blocks = ranges.as_slice();
    for (r, row) in x.chunks(n).enumerate() {
        let count = blocks.iter().take_while(|b| b.row == r).count();
        let (mine, rest) = blocks.split_at(count);
        blocks = rest;
        let (max, min_mean) = if mine.len() == n_blocks {
            let mut max = 0.0f64;
            let mut min_sum = f64::INFINITY;
            for (k, b) in mine.iter().enumerate() {
                if !b.finite {
                    return None;
                }
                max = max.max(b.max);
                min_sum = min_sum.min(b.min_sum);
                // The chunk across the boundary after block k.
                let p = (k + 1) * block;
                if k + 1 < mine.len()
                    && !p.is_multiple_of(chunk)
                    && (p / chunk + 1) * chunk <= whole_n
                {
                    min_sum = min_sum.min(b.tail + mine[k + 1].head);
                }
            }
            (max, min_sum / chunk as f64)
        } else {
            range_of_row(row, chunk)?
        };
        max_x = max_x.max(max);
        qx = qx.max(max / min_mean);
    }
    Some((qx, max_x))
}

/// The guard's decision from the measurements of the signal (`qx`, `max_x`) and the kernels.
pub(crate) fn decide<T: Real>(
    qx: f64,
    max_x: f64,
    qw: f64,
    max_w: f64,
    d: &Geometry,
    f: usize,
) -> Option<Guard> {
    let q = qx * qw;
    let eps_t = to::<T, f64>(T::epsilon());
    let f = f as f64;
    // A spectrum can reach f · max|x|, a product f · m · max|x| · max|w|.
    let peak = f * d.m as f64 * max_x * max_w * d.cpg() as f64;
    let fits = |eps_u: f64, max_u: f64| {
        q.is_finite() && q <= FFT_DYNAMIC_RANGE * eps_t / eps_u && peak < max_u / 4.0
    };
    let guard = |precision, eps_u: f64| Guard {
        precision,
        max_x,
        limit: FFT_DYNAMIC_RANGE * eps_t / eps_u,
    };
    if fits(eps_t, to::<T, f64>(T::max_value())) {
        Some(guard(Precision::Input, eps_t))
    } else if fits(f64::EPSILON, f64::MAX) {
        Some(guard(Precision::F64, f64::EPSILON))
    } else {
        None
    }
}

/// `Method::Auto`'s guard at the signal's edges: an output of the full output whose window
/// reaches past the signal (the first and last `m - 1`) holds fewer terms than a whole window,
/// so the chunk rule of [`guarded`] does not bound its error. For
/// those outputs the magnitudes of their own terms, `S_j = Σ_k |x[j+k-left]| |wk[k]|`, are
/// computed (a small f64 FFT of the absolute values over each edge) and an output is summed
/// directly when `S_j` is below `max|x| · Σ|wk| / limit`, the scale of the FFT's error divided
/// by the guard's range. Ordinary signals repair a few outputs or none.
///
/// [`edge_sums`] computes the magnitudes (it needs only the inputs, so it can run while the FFT
/// does); this applies them to the FFT's output `y`.
pub(crate) fn repair_edges<T: Real>(
    x: &[T],
    wk: &[T],
    g: &Geometry,
    y: &mut [T],
    guard: &Guard,
    edges: &[EdgeRow],
) {
    let (l, m, n) = (g.out_len(), g.m, g.n);
    if m == 1 {
        return; // every window is whole
    }
    let start = g.full_start();
    let e = (m - 1).min(n + m - 1);
    let row_task = |(row, (yr, edge)): (usize, (&mut [T], &EdgeRow))| {
        let (b, o) = (row / g.cout, row % g.cout);
        let threshold = guard.max_x * edge.total_h / guard.limit;
        let redo = |k: usize, s: f64, yr: &mut [T]| {
            let j = k as isize - start as isize;
            if s < threshold && (0..l as isize).contains(&j) {
                yr[j as usize] = direct_output(x, wk, g, b, o, j as usize);
            }
        };
        for (k, &s) in edge.start.iter().enumerate() {
            redo(k, s, yr);
        }
        for (r, &s) in edge.end.iter().enumerate() {
            redo(n + m - 1 - e + r, s, yr);
        }
    };
    // A few rows: on the calling thread, since handing work to rayon's pool from outside it
    // waits for a worker to wake (tens of µs on a busy machine, more than a row's comparisons
    // and its few direct sums).
    if edges.len() < 4 {
        y.chunks_mut(l).zip(edges).enumerate().for_each(row_task);
    } else {
        y.par_chunks_mut(l)
            .zip(edges.par_iter())
            .enumerate()
            .for_each(row_task);
    }
}

/// Whether the output of `g` holds any of the full output's first and last `min(m - 1, n + m -
/// 1)` values, the outputs [`repair_edges`] checks.
pub(crate) fn edges_in_output(g: &Geometry) -> bool {
    let (m, n) = (g.m, g.n);
    let e = (m.max(1) - 1).min(n + m - 1);
    let (start, l) = (g.full_start(), g.out_len());
    e > 0 && l > 0 && (start < e || start + l > n + m - 1 - e)
}

/// The magnitudes of the edge outputs' own terms that [`repair_edges`] compares with its
/// threshold, one [`EdgeRow`] per output row (none when `m == 1`).
pub(crate) fn edge_sums<T: Real>(x: &[T], wk: &[T], g: &Geometry) -> Vec<EdgeRow> {
    EdgeInputs::of(x, wk, g).sums()
}

/// What [`edge_sums`] works on, owned: the magnitudes of each input channel's edges and of
/// the kernels, in f64.
struct EdgeInputs {
    heads: Vec<f64>,
    tails: Vec<f64>,
    hs: Vec<f64>,
    shape: [usize; 4],
    n: usize,
    m: usize,
}

impl EdgeInputs {
    fn of<T: Real>(x: &[T], wk: &[T], g: &Geometry) -> EdgeInputs {
        let (m, n) = (g.m, g.n);
        // T is f32 or f64: a cast the compiler vectorises (`ToPrimitive::to_f64` did not).
        let abs = |v: &T| -> f64 {
            if T::dtype() == burn::tensor::DType::F64 {
                bytemuck::cast::<T, f64>(v.abs())
            } else {
                f64::from(bytemuck::cast::<T, f32>(v.abs()))
            }
        };
        // The edges in full-output indices: [0, e) and [n + m - 1 - e, n + m - 1).
        let e = (m.max(1) - 1).min(n + m - 1);
        let te = e.min(n);
        let (mut heads, mut tails) = (Vec::with_capacity(x.len() / n * te), Vec::new());
        tails.reserve(heads.capacity());
        for r in x.chunks(n) {
            heads.extend(r[..te].iter().map(abs));
            tails.extend(r[n - te..].iter().map(abs));
        }
        // h: the true-convolution kernel, |wk| reversed.
        let mut hs = Vec::with_capacity(wk.len());
        for k in wk.chunks(m) {
            hs.extend(k.iter().rev().map(abs));
        }
        EdgeInputs {
            heads,
            tails,
            hs,
            shape: [g.batch, g.cin, g.cout, g.groups],
            n,
            m,
        }
    }

    fn sums(&self) -> Vec<EdgeRow> {
        if self.m == 1 {
            return Vec::new(); // every window is whole
        }
        super::edges::edge_terms(
            &self.heads,
            &self.tails,
            &self.hs,
            self.shape,
            self.n,
            self.m,
        )
    }
}
