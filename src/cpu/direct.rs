//! The direct kernel: register-blocked sliding dot products ([`super::simd`]), tiled over
//! output rows and split across threads for large calls.

use std::mem::MaybeUninit;
use std::sync::atomic::{AtomicBool, Ordering};

use rayon::prelude::*;

use super::real::Real;
use super::rows::window;
use super::simd::{Isa, correlate_checked, correlate_into, correlate_write};
use crate::cost::{PARALLEL_OUTPUTS, SERIAL_MACS};
use crate::geometry::Geometry;

/// Outputs per task.
const TILE: usize = 2048;

/// The sliding dot product of `d` over `x` with `wk` (the kernel as the product uses it), and
/// whether every output is finite: the kernel checks its sums while they are in registers
/// (`correlate_write`, `correlate_checked`), with no pass over the output.
pub(super) fn conv<T: Real>(x: &[T], wk: &[T], d: &Geometry) -> (Vec<T>, bool) {
    conv_checking(x, wk, d, true)
}

/// [`conv`], with or without the check of its sums (without: the result says they are
/// finite). Unchecked only for the `scan` bench's reference.
pub(super) fn conv_checking<T: Real>(
    x: &[T],
    wk: &[T],
    d: &Geometry,
    check: bool,
) -> (Vec<T>, bool) {
    let (l, cpg, opg, m, n) = (d.out_len(), d.cpg(), d.opg(), d.m, d.n);
    let len = d.batch * d.cout * l;
    // The output is allocated without zeroing it (`vec![0; len]` zeroes memory the allocator
    // reuses, a pass over the whole output: a third of a 3-tap f64 convolution of 100,000
    // samples); the kernel writes each tile's sums over it, on the thread that computes it
    // (which also writes fresh pages before reading them, see the module docs of `cpu`).
    let mut out: Vec<T> = Vec::with_capacity(len);
    let rows = d.batch * d.cout;
    let nonfinite = AtomicBool::new(false);
    // One tile of row `row` (outputs `j0..j0 + yt.len()`), over the row's input channels.
    let tile_task = |row: usize, j0: usize, yt: &mut [MaybeUninit<T>], scratch: &mut Vec<T>| {
        let (b, o) = (row / d.cout, row % d.cout);
        let g = o / opg;
        let xr = |i: usize| &x[(b * d.cin + g * cpg + i) * n..][..n];
        let kr = |i: usize| &wk[(o * cpg + i) * m..][..m];
        // Outputs whose windows lie inside the signal read it in place (`lo..hi`); only those
        // at its ends read a zero-padded copy of their inputs.
        let end = j0 + yt.len();
        let lo = d.left.clamp(j0, end);
        let hi = (n + d.left + 1).saturating_sub(m).clamp(lo, end);
        let mut finite = true;
        let mut rest = yt;
        for (from, to) in [(j0, lo), (lo, hi), (hi, end)] {
            let (part, tail) = std::mem::take(&mut rest).split_at_mut(to - from);
            rest = tail;
            if part.is_empty() {
                continue;
            }
            let start = from as isize - d.left as isize;
            let span = part.len() + m - 1;
            // The first channel writes the outputs (no zeroing first), the others add to them;
            // the last checks the sums for NaN and ±inf while they are in registers.
            let xs = window(xr(0), start, span, scratch);
            let (ys, mut ok) = correlate_write(Isa::detected(), xs, kr(0), part, check && cpg == 1);
            for i in 1..cpg {
                let xs = window(xr(i), start, span, scratch);
                if check && i + 1 == cpg {
                    ok = correlate_checked(xs, kr(i), ys);
                } else {
                    correlate_into(xs, kr(i), ys);
                }
            }
            finite &= ok;
        }
        if !finite {
            nonfinite.store(true, Ordering::Relaxed);
        }
    };
    let macs = rows * cpg * m * l;
    let spare = &mut out.spare_capacity_mut()[..len];
    if macs < SERIAL_MACS && len < PARALLEL_OUTPUTS {
        let mut scratch = Vec::new();
        for (row, y) in spare.chunks_mut(l).enumerate() {
            for (t, yt) in y.chunks_mut(TILE).enumerate() {
                tile_task(row, t * TILE, yt, &mut scratch);
            }
        }
    } else {
        let threads = rayon::current_num_threads().max(1);
        // Few long rows: split them so that every thread gets several tiles.
        let tile = if rows >= 2 * threads {
            TILE
        } else {
            (rows * l).div_ceil(4 * threads).clamp(1024, TILE)
        };
        spare.par_chunks_mut(l).enumerate().for_each(|(row, y)| {
            y.par_chunks_mut(tile)
                .enumerate()
                .for_each_init(Vec::new, |scratch, (t, yt)| {
                    tile_task(row, t * tile, yt, scratch)
                });
        });
    }
    // SAFETY: the tiles cover `0..len` (chunks of the rows of `spare`), and each tile's parts
    // cover it, every value written by `correlate_write`.
    unsafe { out.set_len(len) };
    (out, !nonfinite.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mode::{Mode, Operation};

    /// Without the check (the `scan` bench's reference) the kernel writes the same sums and
    /// says they are finite; with it, a non-finite sum is reported.
    #[test]
    fn the_check_changes_only_what_is_reported() {
        let (n, m) = (5000, 7);
        let g = Geometry::numpy([1, 1, n], [1, 1, m], 1, Mode::Full, Operation::Convolution);
        let w: Vec<f32> = (0..m).map(|i| i as f32 - 2.5).collect();
        let mut x: Vec<f32> = (0..n)
            .map(|i| ((i * 37 % 23) as f32 - 11.0) / 8.0)
            .collect();
        for poison in [None, Some(f32::INFINITY), Some(f32::NAN)] {
            if let Some(v) = poison {
                x[1234] = v;
            }
            let (checked, finite) = conv_checking(&x, &w, &g, true);
            let (unchecked, said) = conv_checking(&x, &w, &g, false);
            assert_eq!(finite, poison.is_none(), "{poison:?}");
            assert!(said, "{poison:?}");
            let bits = |v: &[f32]| v.iter().map(|a| a.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&checked), bits(&unchecked), "{poison:?}");
        }
    }
}
