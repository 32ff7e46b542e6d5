//! The separable N-D kernel: a kernel given as one factor per axis, `K[j0, j1, j2] =
//! (k0[j0] · k1[j1]) · k2[j2]`, slid one axis at a time (`m0 + m1 + m2` terms per output
//! instead of `m0 · m1 · m2`).
//!
//! Each pass is a direct sum, so every output is within a small multiple of
//! `ε · Σ |A| |K|` over its own terms, like the direct sum of the whole kernel. Where the
//! passes could differ from SciPy's direct sum with the materialized `K`, that sum runs
//! instead: for the whole call when a factor is not finite or a product of factors overflows
//! or leaves the normal range (`K` would hold infinities, or zeros where no factor is zero);
//! for each output whose terms include a non-finite value of `A`, whose result is not finite,
//! or whose magnitudes come near the largest finite value (where the direct sum's partial sums
//! may overflow and the passes' may not, or the other way round).

use rayon::prelude::*;

use super::conv::{max_abs, reached_by_non_finite, repair};
use super::dims::Dims;
use super::direct::direct;
use super::pad::{Padder, pad_with};
use crate::cost::SERIAL_MACS;
use crate::cpu::Real;
use crate::cpu::simd::correlate_into;
use crate::nonfinite::host::{all_finite, zeroed};

/// The kernel the factors stand for, term by term `(k0 · k1) · k2`: the array SciPy is given.
pub(crate) fn outer<T: Real>(factors: [&[T]; 3]) -> Vec<T> {
    let mut k = Vec::with_capacity(factors.iter().map(|f| f.len()).product());
    for &x in factors[0] {
        for &y in factors[1] {
            let xy = x * y;
            k.extend(factors[2].iter().map(|&z| xy * z));
        }
    }
    k
}

/// Whether every product of the factors' values, formed as [`outer`] forms it, is finite and
/// either zero (a factor is) or normal: then `K`'s zeros, signs and infinities are the
/// factors', and the passes meet the same NaN and infinities as the direct sum.
fn factors_exact<T: Real>(factors: [&[T]; 3]) -> bool {
    if !factors.iter().all(|f| all_finite(f)) {
        return false;
    }
    let (mut largest, mut smallest) = (T::one(), T::one());
    for f in factors {
        let max = f.iter().fold(T::zero(), |m, v| m.max(v.abs()));
        let min = f
            .iter()
            .filter(|v| !v.is_zero())
            .fold(T::infinity(), |m, v| m.min(v.abs()));
        if min.is_infinite() {
            // An all-zero factor: `K` is zero, every product of its terms too.
            continue;
        }
        largest = largest * max;
        smallest = smallest * min;
        if !largest.is_finite() || smallest < T::min_positive_value() {
            return false;
        }
    }
    true
}

/// The `valid` sliding dot product of the padded array `padder` describes (shape `d.p`) with
/// the kernel whose factors are `factors` (lengths `d.m`): shape `d.out()`, with the direct
/// sum's NaN, infinities and overflow (see the module's documentation). The padded array is
/// read row by row, not stored, unless a direct sum needs it.
pub(crate) fn separable<T: Real>(padder: &Padder<'_, T>, factors: [&[T]; 3], d: Dims) -> Vec<T> {
    if !factors_exact(factors) {
        return direct(&pad_with(padder), &outer(factors), d);
    }
    let finite = padder.constant.is_finite() && all_finite(padder.a());
    // With a non-finite value, the padded array is stored: its non-finite values are summed
    // directly, and zeros stand for them in the passes.
    let (stored, mut redo) = if finite {
        (None, Vec::new())
    } else {
        let a = pad_with(padder);
        match reached_by_non_finite(&a, d) {
            Some(marked) => (Some((zeroed(&a), a)), marked),
            None => return direct(&a, &outer(factors), d),
        }
    };
    let rows = match &stored {
        Some((zeroed, _)) => Rows::Array(zeroed),
        None => Rows::Padder(padder),
    };
    let mut y = passes(&rows, factors, d);
    // Overflow: outputs whose magnitudes may reach it, and outputs it made non-finite.
    let limit = T::max_value() / to_t(4.0);
    let max_a = match &stored {
        Some((zeroed, _)) => max_abs(zeroed),
        None => max_abs(padder.a()).max(padder.constant.abs()),
    };
    let bound = factors.iter().fold(max_a, |b, f| {
        b * f.iter().fold(T::zero(), |s, v| s + v.abs())
    });
    let near_overflow: Vec<bool> = if bound.is_finite() && bound < limit {
        Vec::new()
    } else {
        let abs = |v: &[T]| v.iter().map(|x| x.abs()).collect::<Vec<T>>();
        let abs_a = match &stored {
            Some((zeroed, _)) => abs(zeroed),
            None => abs(&pad_with(padder)),
        };
        let abs_f = factors.map(abs);
        let s = passes(&Rows::Array(&abs_a), [&abs_f[0], &abs_f[1], &abs_f[2]], d);
        s.iter().map(|s| !s.is_finite() || *s >= limit).collect()
    };
    if !near_overflow.is_empty() || !all_finite(&y) {
        redo.extend(
            (0..y.len())
                .filter(|&i| !y[i].is_finite() || near_overflow.get(i).copied().unwrap_or(false)),
        );
    }
    if redo.is_empty() {
        return y;
    }
    redo.sort_unstable();
    redo.dedup();
    let k = outer(factors);
    let a = match stored {
        Some((_, a)) => a,
        None => pad_with(padder),
    };
    if redo.len() > y.len() / 4 {
        return direct(&a, &k, d);
    }
    repair(&mut y, &redo, &a, &k, d);
    y
}

/// `v` in `T`.
fn to_t<T: Real>(v: f64) -> T {
    crate::cpu::real::to(v)
}

/// Where the first pass reads the padded array's rows.
enum Rows<'a, 'b, T> {
    /// A stored padded array.
    Array(&'a [T]),
    /// The array and its padding rule: each row padded into a buffer of its task.
    Padder(&'a Padder<'b, T>),
}

/// The passes: along the last axis, then the middle one, then the first; an outer axis whose
/// factor is `[1]` is skipped. Every pass but the last writes into scratch kept across calls.
fn passes<T: Real>(rows: &Rows<'_, '_, T>, factors: [&[T]; 3], d: Dims) -> Vec<T> {
    let [p0, p1, p2] = d.p;
    let [l0, l1, l2] = d.out();
    let identity = |f: &[T]| f.len() == 1 && f[0] == T::one();
    let (mid, first) = (!identity(factors[1]), !identity(factors[0]));
    // The last axis: into a fresh output when no other pass follows, else into scratch. Before
    // the middle axis's pass, its rows are [`ROW_GAP`] values apart more than their length: rows
    // a power of two of bytes apart share the same cache sets (1024 f32: the pass ran 3x slower).
    if !mid && !first {
        let mut out = vec![T::zero(); p0 * p1 * l2];
        last_pass(rows, factors[2], p2, (l2, l2), &mut out);
        return out;
    }
    let ls = if mid { l2 + ROW_GAP } else { l2 };
    let last_len = p0 * p1 * ls;
    let mut s1 = scratch::take::<T>(last_len);
    last_pass(
        rows,
        factors[2],
        p2,
        (l2, ls),
        scratch::view(&mut s1, last_len),
    );
    let s1_view: &[T] = scratch::view(&mut s1, last_len);
    let out = if mid && first {
        let mid_len = p0 * l1 * l2;
        let mut s2 = scratch::take::<T>(mid_len);
        let s2_view = scratch::view(&mut s2, mid_len);
        along(s1_view, ls, factors[1], p0, (p1, l1), l2, s2_view);
        let mut out = vec![T::zero(); l0 * l1 * l2];
        along(s2_view, l1 * l2, factors[0], 1, (p0, l0), l1 * l2, &mut out);
        scratch::give(s2);
        out
    } else if mid {
        let mut out = vec![T::zero(); p0 * l1 * l2];
        along(s1_view, ls, factors[1], p0, (p1, l1), l2, &mut out);
        out
    } else {
        let mut out = vec![T::zero(); l0 * p1 * l2];
        along(s1_view, p1 * l2, factors[0], 1, (p0, l0), p1 * l2, &mut out);
        out
    };
    scratch::give(s1);
    out
}

/// Values between the rows of the last pass's output beyond their length, when the middle
/// axis's pass reads them (see [`passes`]).
const ROW_GAP: usize = 16;

/// The pass along the last axis: every row of the padded array (`p2` values) slid over `w`,
/// `l2` outputs per row, into `out`, by the 1-D direct kernel (register-blocked, fused
/// multiply-adds where the CPU has them). Each task writes its outputs before it reads them: a
/// fresh page read first maps the shared zero page, and the write after it faults again and
/// flushes every CPU's TLB (`perf`: two thirds of a 1024x1024 call before this).
fn last_pass<T: Real>(
    rows: &Rows<'_, '_, T>,
    w: &[T],
    p2: usize,
    (l2, stride): (usize, usize),
    out: &mut [T],
) {
    let task = |buf: &mut Vec<T>, (r, y): (usize, &mut [T])| {
        let y = &mut y[..l2];
        let src: &[T] = match rows {
            Rows::Array(a) => &a[r * p2..][..p2],
            Rows::Padder(padder) => {
                padder.row(r, buf);
                buf
            }
        };
        y.fill(T::zero());
        correlate_into(src, w, y);
    };
    let init = || vec![T::zero(); p2];
    if out.len().saturating_mul(w.len()) < SERIAL_MACS {
        let mut buf = init();
        out.chunks_mut(stride)
            .enumerate()
            .for_each(|r| task(&mut buf, r));
    } else {
        out.par_chunks_mut(stride)
            .enumerate()
            .for_each_init(init, task);
    }
}

/// Rows longer than this (the planes of a 3-D array's first axis) are streamed in blocks of
/// this many values; shorter ones are summed in registers ([`column_blocks`]).
const STREAM: usize = 4096;

/// A pass over an outer axis: `src` is `planes` planes of `n` rows, `stride` values apart,
/// of `row` values, slid along the `n` axis over `w`, into `out`: `planes` planes of `l` rows
/// of `row` values, `out[p][i] = Σ_t w[t] · src[p][i + t]`, terms in order.
fn along<T: Real>(
    src: &[T],
    stride: usize,
    w: &[T],
    planes: usize,
    (n, l): (usize, usize),
    row: usize,
    out: &mut [T],
) {
    debug_assert_eq!(out.len(), planes * l * row);
    // Output row `r` (plane `r / l`, position `r % l`).
    let task = |(r, y): (usize, &mut [T])| {
        let (p, i) = (r / l, r % l);
        let first = &src[(p * n + i) * stride..];
        if row <= STREAM {
            column_blocks(first, stride, w, y, false);
        } else {
            for (b, y) in y.chunks_mut(STREAM).enumerate() {
                y.fill(T::zero());
                for (t, wt) in w.iter().enumerate() {
                    let s = &first[t * stride + b * STREAM..][..y.len()];
                    column_blocks(s, 0, std::slice::from_ref(wt), &mut *y, true);
                }
            }
        }
    };
    if out.len().saturating_mul(w.len()) < SERIAL_MACS {
        out.chunks_mut(row).enumerate().for_each(task);
    } else {
        out.par_chunks_mut(row).enumerate().for_each(task);
    }
}

/// `y[j] (+)= Σ_t w[t] · src[t · stride + j]` (adding to `y` where `add`), in blocks of
/// sums held in eight vector registers over every term (64 f32 or 32 f64 with AVX2): in
/// 256-bit vectors with fused multiply-adds where the CPU has AVX2 and FMA (`cpu::simd::Isa`
/// decides, as for the 1-D direct kernel).
fn column_blocks<T: Real>(src: &[T], stride: usize, w: &[T], y: &mut [T], add: bool) {
    #[cfg(target_arch = "x86_64")]
    if crate::cpu::simd::Isa::detected() != crate::cpu::simd::Isa::Portable {
        // SAFETY: every copy but the portable one needs AVX2 and FMA, which `detected` checked.
        return unsafe { column_blocks_fma(src, stride, w, y, add) };
    }
    column_blocks_sized::<T, false>(src, stride, w, y, add)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn column_blocks_fma<T: Real>(src: &[T], stride: usize, w: &[T], y: &mut [T], add: bool) {
    column_blocks_sized::<T, true>(src, stride, w, y, add)
}

/// Eight 256-bit registers of `T`.
#[inline(always)]
fn column_blocks_sized<T: Real, const FMA: bool>(
    src: &[T],
    stride: usize,
    w: &[T],
    y: &mut [T],
    add: bool,
) {
    if size_of::<T>() == 4 {
        column_blocks_body::<T, 64, FMA>(src, stride, w, y, add)
    } else {
        column_blocks_body::<T, 32, FMA>(src, stride, w, y, add)
    }
}

#[inline(always)]
fn column_blocks_body<T: Real, const B: usize, const FMA: bool>(
    src: &[T],
    stride: usize,
    w: &[T],
    y: &mut [T],
    add: bool,
) {
    let madd = |a: T, b: T, c: T| if FMA { a.mul_add(b, c) } else { c + a * b };
    let mut c = 0;
    let mut blocks = y.chunks_exact_mut(B);
    for block in &mut blocks {
        let mut acc = [T::zero(); B];
        if add {
            acc.copy_from_slice(block);
        }
        for (t, &wt) in w.iter().enumerate() {
            let s: &[T; B] = src[t * stride + c..][..B]
                .try_into()
                .expect("a block of columns");
            for (a, &v) in acc.iter_mut().zip(s) {
                *a = madd(v, wt, *a);
            }
        }
        block.copy_from_slice(&acc);
        c += B;
    }
    let rest = blocks.into_remainder();
    if !add {
        rest.fill(T::zero());
    }
    for (t, &wt) in w.iter().enumerate() {
        let s = &src[t * stride + c..][..rest.len()];
        for (a, &v) in rest.iter_mut().zip(s) {
            *a = madd(v, wt, *a);
        }
    }
}

/// Scratch buffers kept across calls, so that a call's intermediate arrays do not land on
/// fresh pages (page faults and zeroing cost more than a pass over a 1024x1024 image).
mod scratch {
    use std::sync::Mutex;

    use crate::cpu::Real;

    /// Buffers larger than this (bytes) are not kept.
    const KEEP: usize = 64 << 20;

    /// At most two idle buffers (a call uses at most two at once).
    static IDLE: Mutex<Vec<Vec<u64>>> = Mutex::new(Vec::new());

    /// A buffer of at least `len` values of `T` (values unspecified).
    pub(super) fn take<T: Real>(len: usize) -> Vec<u64> {
        let words = (len * size_of::<T>()).div_ceil(8);
        let mut idle = IDLE.lock().unwrap_or_else(|e| e.into_inner());
        // The largest idle buffer, grown if it is too small.
        let best = (0..idle.len()).max_by_key(|&i| idle[i].len());
        let mut v = best.map(|i| idle.swap_remove(i)).unwrap_or_default();
        drop(idle);
        if v.len() < words {
            v.resize(words, 0);
        }
        v
    }

    /// The first `len` values of `T` of `v`.
    pub(super) fn view<T: Real>(v: &mut [u64], len: usize) -> &mut [T] {
        &mut bytemuck::cast_slice_mut::<u64, T>(v)[..len]
    }

    /// `v` back, kept if it is small enough.
    pub(super) fn give(v: Vec<u64>) {
        if v.len() * 8 > KEEP {
            return;
        }
        let mut idle = IDLE.lock().unwrap_or_else(|e| e.into_inner());
        idle.push(v);
        idle.sort_by_key(|b| std::cmp::Reverse(b.len()));
        idle.truncate(2);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The passes against the direct sum of the materialized kernel, on 3-D shapes.
    #[test]
    fn passes_match_the_direct_sum() {
        let d = Dims::new(&[6, 7, 9], &[2, 3, 4]);
        let a: Vec<f64> = (0..6 * 7 * 9)
            .map(|i| ((i * 37 % 101) as f64 - 50.0) / 7.0)
            .collect();
        let f: [Vec<f64>; 3] = [
            vec![0.5, -1.25],
            vec![2.0, 0.0, -3.5],
            vec![1.0, 0.75, -0.5, 4.0],
        ];
        let factors = [&f[0][..], &f[1][..], &f[2][..]];
        let want = direct(&a, &outer(factors), d);
        let padder = Padder::new(&a, d.p, [0; 3], [0; 3], crate::boundary::Boundary::Zeros);
        let got = separable(&padder, factors, d);
        for (w, g) in want.iter().zip(&got) {
            assert!((w - g).abs() <= 1e-12 * (1.0 + w.abs()), "{w} vs {g}");
        }
    }

    /// Planes longer than `STREAM` values take the streamed first-axis pass.
    #[test]
    fn long_planes_match_the_direct_sum() {
        let d = Dims::new(&[3, 70, 71], &[2, 2, 3]);
        assert!(d.out()[1] * d.out()[2] > STREAM);
        let a: Vec<f32> = (0..3 * 70 * 71)
            .map(|i| ((i * 37 % 101) as f32 - 50.0) / 7.0)
            .collect();
        let f: [Vec<f32>; 3] = [vec![0.5, -1.25], vec![2.0, -3.5], vec![1.0, 0.75, -0.5]];
        let factors = [&f[0][..], &f[1][..], &f[2][..]];
        let want = direct(&a, &outer(factors), d);
        let padder = Padder::new(&a, d.p, [0; 3], [0; 3], crate::boundary::Boundary::Zeros);
        let got = separable(&padder, factors, d);
        for (w, g) in want.iter().zip(&got) {
            assert!((w - g).abs() <= 1e-4 * (1.0 + w.abs()), "{w} vs {g}");
        }
    }

    /// Products that underflow or overflow make the factors inexact.
    #[test]
    fn products_out_of_the_normal_range_are_not_exact() {
        let one = [1.0f64];
        assert!(factors_exact([&one, &[1e150, 0.0], &[1e150]]));
        assert!(!factors_exact([&one, &[1e200], &[1e200]]));
        assert!(!factors_exact([&one, &[1e-200, 1.0], &[1e-200]]));
        assert!(!factors_exact([&one, &[f64::NAN], &[1.0]]));
        assert!(factors_exact([&one, &[0.0, 0.0], &[1e-300]]));
    }
}
