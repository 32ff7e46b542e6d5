//! The entry of the N-D host kernels: the plan's kernel, `Method::Auto`'s guard on the FFT,
//! and the direct sum wherever a non-finite value or an overflow makes the FFT differ from
//! SciPy's sum.

use std::sync::OnceLock;

use rayon::prelude::*;

use super::dims::Dims;
use super::direct::{direct, direct_in, direct_span, zero_rows};
use super::fft::{Buf, KernelSpectrum, Values};
use super::pad::{Padder, pad_with};
use super::tiles;
use crate::buffers::Kept;
use crate::cost::{SERIAL_MACS, Tiling};
use crate::cpu::Real;
use crate::cpu::real::to;
use crate::guard::nd::{Fft, Verdict, check};
use crate::nonfinite::host::{all_finite, zeroed};
use crate::plan::CpuKernel;

/// The `valid` sliding dot product of the padded array `padder` describes with `k` by
/// `kernel`, `guarded` by `Method::Auto`'s accuracy guard: SciPy's direct sum's NaN and
/// infinities in every case. The FFT reads the padded array tile by tile; the direct kernel
/// stores it.
pub(crate) fn correlate<T: Real>(
    padder: &Padder<'_, T>,
    k: &[T],
    d: Dims,
    kernel: CpuKernel,
    guarded: bool,
) -> Vec<T> {
    match kernel {
        CpuKernel::Direct => direct_tiles(padder, k, d),
        // Every output has each of the kernel's terms: a non-finite one reaches them all.
        CpuKernel::Fft if !all_finite(k) => direct(&pad_with(padder), k, d),
        CpuKernel::Fft => fft(padder, k, d, guarded),
    }
}

/// The direct kernel, tile by tile ([`Tiling::direct`]): each tile's block read from the
/// input as the boundary rule pads it, so the padded array is never stored (its fresh pages
/// cost more than a small kernel's sums: a 1024x1024 image with a 3x3 kernel, 1.4 ms in a
/// fresh process, 5-7 ms where each call faults its buffers in).
fn direct_tiles<T: Real>(padder: &Padder<'_, T>, k: &[T], d: Dims) -> Vec<T> {
    let tiling = Tiling::direct(d.p, d.m);
    let parallel = d.out_len().saturating_mul(d.taps()) >= SERIAL_MACS;
    // Tiles in parallel, each on one thread; a tile alone, its rows.
    let one = tiling.tiles() == 1;
    tiles::run(
        padder,
        d,
        tiling,
        parallel,
        || (),
        |_, dims, a, y| {
            y.copy_from_slice(&direct_in(a, k, dims, parallel && one));
        },
    )
}

/// What the tiles of one FFT call share: the kernel's spectrum in the inputs' type, in f64
/// once a tile needs it, and under `Method::Auto` its magnitudes' (scaled by the largest), in
/// f32 and, once a tile needs it, f64.
struct Spectra<'a, T: Real> {
    k: &'a [T],
    d: Dims,
    tiling: Tiling,
    parallel: bool,
    narrow: KernelSpectrum<T>,
    wide: OnceLock<KernelSpectrum<f64>>,
    magnitudes: Option<Magnitudes>,
}

/// The kernel's magnitudes, for `Method::Auto`'s guard.
struct Magnitudes {
    /// `max|K|` and the 2-norm of `|K| / max|K|`.
    max: f64,
    norm: f64,
    /// The spectrum of `|K| / max|K|` in f32, and in f64 once a tile needs it.
    narrow: KernelSpectrum<f32>,
    wide: OnceLock<KernelSpectrum<f64>>,
}

impl<T: Real> Spectra<'_, T> {
    fn wide(&self) -> &KernelSpectrum<f64> {
        self.wide.get_or_init(|| {
            KernelSpectrum::new(
                self.k,
                self.d.m,
                self.tiling.f,
                self.parallel,
                Values::Plain,
            )
        })
    }

    fn magnitudes(&self) -> &Magnitudes {
        self.magnitudes
            .as_ref()
            .expect("magnitudes are made for guarded calls")
    }

    fn wide_magnitudes(&self) -> &KernelSpectrum<f64> {
        let m = self.magnitudes();
        m.wide.get_or_init(|| {
            let values = Values::Abs(reciprocal(m.max));
            KernelSpectrum::new(self.k, self.d.m, self.tiling.f, self.parallel, values)
        })
    }
}

/// A worker's buffers: spectra in `T`, f64 and f32 (each grown when first used), and the
/// magnitudes' outputs.
type Scratch<T> = (Buf<T>, Buf<f64>, Buf<f32>, Kept<f64>);

/// `1 / max` (1 for 0): the scale that brings magnitudes up to `max` into `[0, 1]`.
fn reciprocal(max: f64) -> f64 {
    if max > 0.0 { 1.0 / max } else { 1.0 }
}

/// The largest `|v|` of finite values, and the 2-norm of `v / max|v|`, in f64.
fn max_and_norm<T: Real>(v: &[T]) -> (f64, f64) {
    let max: f64 = to(max_abs(v));
    let r = reciprocal(max);
    let sum = v.iter().fold(0.0f64, |s, &x| {
        let x = to::<T, f64>(x) * r;
        s + x * x
    });
    (max, sum.sqrt())
}

/// The FFT, tile by tile ([`tiles`]): under `Method::Auto` ([`guarded_tile`]) the guard's
/// verdict on each tile's outputs, otherwise ([`forced_tile`]) the FFT with SciPy's direct
/// sum wherever a non-finite value or an overflow makes them differ.
fn fft<T: Real>(padder: &Padder<'_, T>, k: &[T], d: Dims, guarded: bool) -> Vec<T> {
    let tiling = Tiling::of(d.p, d.m);
    // One tile: its transforms' rows in parallel; several: tiles in parallel.
    let parallel = tiling.parallel() && !tiling.parallel_tiles();
    let narrow_type = core::mem::size_of::<T>() < core::mem::size_of::<f64>();
    let magnitudes = guarded.then(|| {
        let (max, norm) = max_and_norm(k);
        let values = Values::Abs(reciprocal(max));
        Magnitudes {
            max,
            norm,
            narrow: KernelSpectrum::new(k, d.m, tiling.f, parallel, values),
            wide: OnceLock::new(),
        }
    });
    let spectra = Spectra {
        k,
        d,
        tiling,
        parallel,
        narrow: KernelSpectrum::new(k, d.m, tiling.f, parallel, Values::Plain),
        wide: OnceLock::new(),
        magnitudes,
    };
    let init = Scratch::<T>::default;
    tiles::run(
        padder,
        d,
        tiling,
        tiling.parallel(),
        init,
        |scratch: &mut Scratch<T>, dims, a, y| {
            if guarded {
                guarded_tile(&spectra, narrow_type, a, dims, scratch, y);
            } else {
                forced_tile(&spectra, a, dims, &mut scratch.0, y);
            }
        },
    )
}

/// `Method::Auto`'s FFT on one tile (block `a`, shapes `d`): in the inputs' type, else in
/// f64, where the guard finds it as accurate as the direct sum; the outputs it does not accept
/// summed directly; the direct sum when the block is not finite or too many outputs would be.
/// The magnitudes of each output's terms are computed in f32, and again in f64 when the f32
/// ones leave too many outputs in doubt (a quiet region far below the block's loudest).
fn guarded_tile<T: Real>(
    spectra: &Spectra<'_, T>,
    narrow_type: bool,
    a: &[T],
    d: Dims,
    (spec, wide, spec32, s): &mut Scratch<T>,
    y: &mut [T],
) {
    let k = spectra.k;
    if !all_finite(a) {
        y.copy_from_slice(&direct(a, k, d));
        return;
    }
    let m = spectra.magnitudes();
    let (max_a, norm_a) = max_and_norm(a);
    if max_a == 0.0 || m.max == 0.0 {
        // Every term is ±0: SciPy's sum, from +0, is +0.
        y.fill(T::zero());
        return;
    }
    let abs_a = Values::Abs(reciprocal(max_a));
    s.grow(y.len(), 0.0);
    m.narrow.correlate(a, d, abs_a, spec32, s);
    let mut fft = Fft {
        points: spectra.tiling.points() as f64,
        max: (max_a, m.max),
        norms: norm_a * m.norm,
        eps_s: f64::from(f32::EPSILON),
    };
    let verdict = if narrow_type {
        spectra.narrow.correlate(a, d, Values::Plain, spec, y);
        if let Verdict::Accept(bad) = check(d, (y, s), false, fft) {
            repair(y, &bad, a, k, d);
            return;
        }
        spectra.wide().correlate(a, d, Values::Plain, wide, y);
        check(d, (y, s), true, fft)
    } else {
        // f64 inputs: `narrow` computes in f64.
        spectra.narrow.correlate(a, d, Values::Plain, spec, y);
        check(d, (y, s), true, fft)
    };
    let verdict = match verdict {
        Verdict::Accept(bad) if bad.len() <= d.out_len() / 64 => Verdict::Accept(bad),
        _ => {
            spectra.wide_magnitudes().correlate(a, d, abs_a, wide, s);
            fft.eps_s = f64::EPSILON;
            check(d, (y, s), true, fft)
        }
    };
    match verdict {
        Verdict::Accept(bad) => repair(y, &bad, a, k, d),
        Verdict::Reject => y.copy_from_slice(&direct(a, k, d)),
    }
}

/// The forced FFT on one tile: every output's sum by the FFT, except the outputs with a
/// non-finite term or an overflow, which are SciPy's direct sums.
fn forced_tile<T: Real>(
    spectra: &Spectra<'_, T>,
    a: &[T],
    d: Dims,
    spec: &mut Buf<T>,
    y: &mut [T],
) {
    let k = spectra.k;
    let marked = if all_finite(a) {
        spectra.narrow.correlate(a, d, Values::Plain, spec, y);
        Vec::new()
    } else {
        match reached_by_non_finite(a, d) {
            Some(marked) => {
                spectra
                    .narrow
                    .correlate(&zeroed(a), d, Values::Plain, spec, y);
                marked
            }
            None => {
                y.copy_from_slice(&direct(a, k, d));
                return;
            }
        }
    };
    let mut redo = marked;
    redo.extend((0..y.len()).filter(|&i| !y[i].is_finite()));
    redo.sort_unstable();
    redo.dedup();
    repair(y, &redo, a, k, d);
}

/// The outputs whose terms include a non-finite value of `a`, or `None` when there are so many
/// that the direct kernel is cheaper.
pub(super) fn reached_by_non_finite<T: Real>(a: &[T], d: Dims) -> Option<Vec<usize>> {
    let bad: Vec<usize> = (0..a.len()).filter(|&i| !a[i].is_finite()).collect();
    let reach = d.taps().min(d.out_len());
    if bad.len().saturating_mul(reach) > d.out_len() / 4 {
        return None;
    }
    let [l0, l1, l2] = d.out();
    let [_, p1, p2] = d.p;
    let mut mark = vec![false; d.out_len()];
    // Output i reads A[i .. i + m]: position q is read by outputs q - m + 1 ..= q.
    let range = |q: usize, m: usize, l: usize| q.saturating_sub(m - 1)..(q + 1).min(l);
    for q in bad {
        let (q0, q1, q2) = (q / (p1 * p2), (q / p2) % p1, q % p2);
        for i0 in range(q0, d.m[0], l0) {
            for i1 in range(q1, d.m[1], l1) {
                for i2 in range(q2, d.m[2], l2) {
                    mark[(i0 * l1 + i1) * l2 + i2] = true;
                }
            }
        }
    }
    Some((0..mark.len()).filter(|&i| mark[i]).collect())
}

/// `y[i]` for every `i` of `outputs` (ascending flat indices into `d.out()`), summed as the
/// direct kernel sums it: runs of nearby outputs in a row as one span of the row.
pub(super) fn repair<T: Real>(y: &mut [T], outputs: &[usize], a: &[T], k: &[T], d: Dims) {
    let l2 = d.out()[2];
    // Spans `[first, last]` of one row, outputs at most `GAP` apart.
    const GAP: usize = 16;
    let mut spans: Vec<(usize, usize)> = Vec::new();
    for &i in outputs {
        match spans.last_mut() {
            Some((first, last)) if i / l2 == *first / l2 && i - *last <= GAP => *last = i,
            _ => spans.push((i, i)),
        }
    }
    if spans.is_empty() {
        return;
    }
    let zero = zero_rows(a, d);
    let sum =
        |&(first, last): &(usize, usize)| direct_span((a, &zero), k, d, first, last + 1 - first);
    let work: usize = outputs.len().saturating_mul(d.taps());
    let values: Vec<Vec<T>> = if work > crate::cost::SERIAL_MACS {
        spans.par_iter().map(sum).collect()
    } else {
        spans.iter().map(sum).collect()
    };
    for (&(first, _), v) in spans.iter().zip(values) {
        y[first..][..v.len()].copy_from_slice(&v);
    }
}

/// The largest magnitude of `v` (0 for an empty or all-zero slice), in lanes the compiler
/// vectorizes (a plain `max` fold is sequential: `max` orders NaN).
pub(super) fn max_abs<T: Real>(v: &[T]) -> T {
    let mut lanes = [T::zero(); 16];
    let chunks = v.chunks_exact(16);
    let rest = chunks.remainder();
    for c in chunks {
        for (m, &x) in lanes.iter_mut().zip(c) {
            let x = x.abs();
            *m = if x > *m { x } else { *m };
        }
    }
    rest.iter()
        .chain(&lanes)
        .fold(T::zero(), |m, &x| if x.abs() > m { x.abs() } else { m })
}
