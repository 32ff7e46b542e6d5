//! Rows of a signal read through a window that may reach past their ends.

use super::real::Real;

/// The `len` values of `row` from signed position `start`, zeros outside it: a slice of `row`
/// when it lies inside, else a copy in `scratch`.
pub(crate) fn window<'a, T: Real>(
    row: &'a [T],
    start: isize,
    len: usize,
    scratch: &'a mut Vec<T>,
) -> &'a [T] {
    let n = row.len() as isize;
    if start >= 0 && start + len as isize <= n {
        return &row[start as usize..][..len];
    }
    scratch.clear();
    scratch.resize(len, T::zero());
    let lo = start.max(0);
    let hi = (start + len as isize).min(n);
    if lo < hi {
        scratch[(lo - start) as usize..(hi - start) as usize]
            .copy_from_slice(&row[lo as usize..hi as usize]);
    }
    scratch
}
