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

use super::conv::{reached_by_non_finite, repair};
use super::dims::Dims;
use super::direct::{accumulate, direct, direct_at};
use crate::cost::SERIAL_MACS;
use crate::cpu::Real;
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

/// The `valid` sliding dot product of `a` (shape `d.p`) with the kernel whose factors are
/// `factors` (lengths `d.m`): shape `d.out()`, with the direct sum's NaN, infinities and
/// overflow (see the module's documentation).
pub(crate) fn separable<T: Real>(a: &[T], factors: [&[T]; 3], d: Dims) -> Vec<T> {
    if !factors_exact(factors) {
        return direct(a, &outer(factors), d);
    }
    let finite = all_finite(a);
    let (a_passes, mut redo) = if finite {
        (std::borrow::Cow::Borrowed(a), Vec::new())
    } else {
        match reached_by_non_finite(a, d) {
            Some(marked) => (std::borrow::Cow::Owned(zeroed(a)), marked),
            None => return direct(a, &outer(factors), d),
        }
    };
    let mut y = passes(&a_passes, factors, d);
    // Overflow: outputs whose magnitudes may reach it, and outputs it made non-finite.
    let limit = T::max_value() / to_t(4.0);
    let max_a = a_passes.iter().fold(T::zero(), |m, v| m.max(v.abs()));
    let bound = factors.iter().fold(max_a, |b, f| {
        b * f.iter().fold(T::zero(), |s, v| s + v.abs())
    });
    let near_overflow: Vec<bool> = if bound.is_finite() && bound < limit {
        Vec::new()
    } else {
        let abs = |v: &[T]| v.iter().map(|x| x.abs()).collect::<Vec<T>>();
        let (abs_a, abs_f) = (abs(&a_passes), factors.map(abs));
        let s = passes(&abs_a, [&abs_f[0], &abs_f[1], &abs_f[2]], d);
        s.iter().map(|s| !s.is_finite() || *s >= limit).collect()
    };
    redo.extend(
        (0..y.len())
            .filter(|&i| !y[i].is_finite() || near_overflow.get(i).copied().unwrap_or(false)),
    );
    if redo.is_empty() {
        return y;
    }
    redo.sort_unstable();
    redo.dedup();
    let k = outer(factors);
    if redo.len() > y.len() / 4 {
        return direct(a, &k, d);
    }
    repair(&mut y, &redo, |i| direct_at(a, &k, d, i));
    y
}

/// `v` in `T`.
fn to_t<T: Real>(v: f64) -> T {
    crate::cpu::real::to(v)
}

/// The passes: along the last axis, then the middle one, then the first; an axis whose
/// factor is `[1]` is skipped.
fn passes<T: Real>(a: &[T], factors: [&[T]; 3], d: Dims) -> Vec<T> {
    let [p0, p1, p2] = d.p;
    let [l0, l1, l2] = d.out();
    let identity = |f: &[T]| f.len() == 1 && f[0] == T::one();
    let mut cur = std::borrow::Cow::Borrowed(a);
    if !identity(factors[2]) {
        cur = std::borrow::Cow::Owned(along(&cur, factors[2], p0 * p1, (p2, l2), 1, true));
    }
    if !identity(factors[1]) {
        cur = std::borrow::Cow::Owned(along(&cur, factors[1], p0, (p1, l1), l2, false));
    }
    if !identity(factors[0]) {
        cur = std::borrow::Cow::Owned(along(&cur, factors[0], 1, (p0, l0), l1 * l2, false));
    }
    cur.into_owned()
}

/// Values per block of a row in the passes over outer axes: the block of outputs stays in
/// cache while every term is added to it.
const BLOCK: usize = 4096;

/// One pass: `src` is `planes` planes of `n` rows of `row` values (the `last` axis: `planes`
/// rows of `n` values, `row` = 1), slid along the `n` axis over `w`: `planes` planes of `l`
/// rows, `out[p][i] = Σ_t w[t] · src[p][i + t]`, terms in order.
fn along<T: Real>(
    src: &[T],
    w: &[T],
    planes: usize,
    (n, l): (usize, usize),
    row: usize,
    last: bool,
) -> Vec<T> {
    let mut out = vec![T::zero(); planes * l * row];
    let serial = out.len().saturating_mul(w.len()) < SERIAL_MACS;
    if last {
        let task = |(r, y): (usize, &mut [T])| accumulate(y, &src[r * n..][..n], w);
        if serial {
            out.chunks_mut(l).enumerate().for_each(task);
        } else {
            out.par_chunks_mut(l).enumerate().for_each(task);
        }
        return out;
    }
    // Output row `r` (plane `r / l`, position `r % l`), block `b` of it.
    let blocks = row.div_ceil(BLOCK);
    let task = |(r, y): (usize, &mut [T])| {
        let (p, i) = (r / l, r % l);
        for b in 0..blocks {
            let cols = b * BLOCK..((b + 1) * BLOCK).min(row);
            let y = &mut y[cols.clone()];
            for (t, wt) in w.iter().enumerate() {
                let s = &src[(p * n + i + t) * row..][cols.clone()];
                accumulate(y, s, std::slice::from_ref(wt));
            }
        }
    };
    if serial {
        out.chunks_mut(row).enumerate().for_each(task);
    } else {
        out.par_chunks_mut(row).enumerate().for_each(task);
    }
    out
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
        let got = separable(&a, factors, d);
        for (w, g) in want.iter().zip(&got) {
            assert!((w - g).abs() <= 1e-12 * (1.0 + w.abs()), "{w} vs {g}");
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
