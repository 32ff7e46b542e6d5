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
        let source = |i: usize, d: usize| {
            self.rule
                .source(i as isize - self.lo[d] as isize, self.n[d])
        };
        let (i0, i1) = (r / self.p[1], r % self.p[1]);
        let (Some(s0), Some(s1)) = (source(i0, 0), source(i1, 1)) else {
            row.fill(self.constant);
            return;
        };
        let n2 = self.n[2];
        let line = &self.a[(s0 * self.n[1] + s1) * n2..][..n2];
        let (left, rest) = row.split_at_mut(self.lo[2]);
        let (middle, right) = rest.split_at_mut(n2);
        middle.copy_from_slice(line);
        for (o, s) in left
            .iter_mut()
            .zip(&self.before)
            .chain(right.iter_mut().zip(&self.after))
        {
            *o = s.map_or(self.constant, |s| line[s]);
        }
    }
}

/// `a` (shape `n`, as 3-D) padded by `lo` before and `hi` after on each axis with `rule`, as
/// `np.pad(a, list(zip(lo, hi)), mode=rule)`, pads longer than the axis included.
pub(crate) fn pad<T: Real>(
    a: &[T],
    n: [usize; 3],
    lo: [usize; 3],
    hi: [usize; 3],
    rule: Boundary,
) -> Vec<T> {
    pad_with(&Padder::new(a, n, lo, hi, rule))
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
