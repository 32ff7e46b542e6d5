//! The padded array of an N-D call, on the host: numpy.pad's rule on every axis at once, as a
//! whole array ([`pad`]) or row by row ([`Padder`], for kernels that read the padded array
//! without storing it).

use rayon::prelude::*;

use crate::boundary::Boundary;
use crate::cpu::Real;
use crate::cpu::real::to;

/// The rows of `a` (shape `n`, as 3-D) padded by `lo` before and `hi` after on each axis with
/// `rule`, as `np.pad(a, list(zip(lo, hi)), mode=rule)`, pads longer than the axis included.
pub(crate) struct Padder<'a, T> {
    a: &'a [T],
    n: [usize; 3],
    lo: [usize; 3],
    /// The padded shape.
    pub p: [usize; 3],
    rule: Boundary,
    /// The rule's constant (zero for rules that copy samples).
    pub constant: T,
    /// The last axis's pads, as the samples they copy (`None`: the constant).
    before: Vec<Option<usize>>,
    after: Vec<Option<usize>>,
}

impl<'a, T: Real> Padder<'a, T> {
    pub(crate) fn new(
        a: &'a [T],
        n: [usize; 3],
        lo: [usize; 3],
        hi: [usize; 3],
        rule: Boundary,
    ) -> Self {
        let p: [usize; 3] = core::array::from_fn(|d| n[d] + lo[d] + hi[d]);
        let source = |j: usize| rule.source(j as isize - lo[2] as isize, n[2]);
        Padder {
            a,
            n,
            lo,
            p,
            rule,
            constant: to(rule.constant().unwrap_or(0.0)),
            before: (0..lo[2]).map(source).collect(),
            after: (lo[2] + n[2]..p[2]).map(source).collect(),
        }
    }

    /// The array before padding.
    pub(crate) fn a(&self) -> &'a [T] {
        self.a
    }

    /// Row `r` of the padded array (`r = i0 * p[1] + i1`), `p[2]` values, into `row`.
    pub(crate) fn row(&self, r: usize, row: &mut [T]) {
        self.span(r, 0, row);
    }

    /// Columns `c0 .. c0 + out.len()` of row `r` of the padded array, into `out`.
    pub(crate) fn span(&self, r: usize, c0: usize, out: &mut [T]) {
        let source = |i: usize, d: usize| {
            self.rule
                .source(i as isize - self.lo[d] as isize, self.n[d])
        };
        let (i0, i1) = (r / self.p[1], r % self.p[1]);
        let (Some(s0), Some(s1)) = (source(i0, 0), source(i1, 1)) else {
            out.fill(self.constant);
            return;
        };
        let (n2, lo) = (self.n[2], self.lo[2]);
        let line = &self.a[(s0 * self.n[1] + s1) * n2..][..n2];
        let c1 = c0 + out.len();
        let pad = |s: &Option<usize>| s.map_or(self.constant, |s| line[s]);
        // Before the row's samples, the samples, after them.
        let (b0, b1) = (c0.min(lo), c1.min(lo));
        let (m0, m1) = (c0.clamp(lo, lo + n2), c1.clamp(lo, lo + n2));
        let (a0, a1) = (c0.max(lo + n2), c1.max(lo + n2));
        let (before, rest) = out.split_at_mut(b1 - b0);
        let (middle, after) = rest.split_at_mut(m1 - m0);
        for (o, s) in before.iter_mut().zip(&self.before[b0..b1]) {
            *o = pad(s);
        }
        middle.copy_from_slice(&line[m0 - lo..m1 - lo]);
        for (o, s) in after
            .iter_mut()
            .zip(&self.after[a0 - lo - n2..a1 - lo - n2])
        {
            *o = pad(s);
        }
    }
}

/// The padded array `padder` describes, stored.
pub(crate) fn pad_with<T: Real>(padder: &Padder<'_, T>) -> Vec<T> {
    let p = padder.p;
    let mut out = vec![T::zero(); p.iter().product()];
    let row = |(r, row): (usize, &mut [T])| padder.row(r, row);
    if out.len() < 1 << 18 {
        out.chunks_mut(p[2]).enumerate().for_each(row);
    } else {
        out.par_chunks_mut(p[2]).enumerate().for_each(row);
    }
    out
}
