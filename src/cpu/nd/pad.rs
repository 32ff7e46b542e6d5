//! The padded array of an N-D call, on the host: numpy.pad's rule on every axis at once.

use rayon::prelude::*;

use crate::boundary::Boundary;
use crate::cpu::Real;
use crate::cpu::real::to;

/// `a` (shape `n`, as 3-D) padded by `lo` before and `hi` after on each axis with `rule`, as
/// `np.pad(a, list(zip(lo, hi)), mode=rule)`, pads longer than the axis included.
pub(crate) fn pad<T: Real>(
    a: &[T],
    n: [usize; 3],
    lo: [usize; 3],
    hi: [usize; 3],
    rule: Boundary,
) -> Vec<T> {
    let p: [usize; 3] = core::array::from_fn(|d| n[d] + lo[d] + hi[d]);
    let constant: T = to(rule.constant().unwrap_or(0.0));
    let source = |i: usize, d: usize| rule.source(i as isize - lo[d] as isize, n[d]);
    // The last axis's pads, as the samples they copy (`None`: the constant).
    let before: Vec<Option<usize>> = (0..lo[2]).map(|j| source(j, 2)).collect();
    let after: Vec<Option<usize>> = (lo[2] + n[2]..p[2]).map(|j| source(j, 2)).collect();
    let mut out = vec![T::zero(); p.iter().product()];
    let row = |(r, row): (usize, &mut [T])| {
        let (i0, i1) = (r / p[1], r % p[1]);
        let (Some(s0), Some(s1)) = (source(i0, 0), source(i1, 1)) else {
            row.fill(constant);
            return;
        };
        let line = &a[(s0 * n[1] + s1) * n[2]..][..n[2]];
        let (left, rest) = row.split_at_mut(lo[2]);
        let (middle, right) = rest.split_at_mut(n[2]);
        middle.copy_from_slice(line);
        for (o, s) in left
            .iter_mut()
            .zip(&before)
            .chain(right.iter_mut().zip(&after))
        {
            *o = s.map_or(constant, |s| line[s]);
        }
    };
    if out.len() < 1 << 18 {
        out.chunks_mut(p[2]).enumerate().for_each(row);
    } else {
        out.par_chunks_mut(p[2]).enumerate().for_each(row);
    }
    out
}
