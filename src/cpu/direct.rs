//! The direct kernel: register-blocked sliding dot products ([`super::simd`]), tiled over
//! output rows and split across threads for large calls.

use std::mem::MaybeUninit;
use std::sync::atomic::{AtomicBool, Ordering};

use rayon::prelude::*;

use super::{PARALLEL_OUTPUTS, Real, SERIAL_MACS, window};
use crate::mode::Geometry;

/// Outputs per task.
const TILE: usize = 2048;

/// The sliding dot product of `d` over `x` with `wk` (the kernel as the product uses it), and
/// whether every output is finite: each tile is checked while it is in the L1 cache, which
/// costs a fraction of a separate pass over the output.
pub(super) fn conv<T: Real>(x: &[T], wk: &[T], d: &Geometry) -> (Vec<T>, bool) {
    let (l, cpg, opg, m, n) = (d.out_len(), d.cpg(), d.opg(), d.m, d.n);
    let len = d.batch * d.cout * l;
    // The output is allocated without zeroing it (`vec![0; len]` zeroes memory the allocator
    // reuses, a pass over the whole output: a third of a 3-tap f64 convolution of 100,000
    // samples); each tile zeroes its own part while it is in L1, on the thread that computes
    // it (which also writes fresh pages before reading them, see the module docs of `cpu`).
    let mut out: Vec<T> = Vec::with_capacity(len);
    let rows = d.batch * d.cout;
    let nonfinite = AtomicBool::new(false);
    // One tile of row `row` (outputs `j0..j0 + yt.len()`), over the row's input channels.
    let tile_task = |row: usize, j0: usize, yt: &mut [MaybeUninit<T>], scratch: &mut Vec<T>| {
        let yt = zeroed(yt);
        let (b, o) = (row / d.cout, row % d.cout);
        let g = o / opg;
        for i in 0..cpg {
            let xr = &x[(b * d.cin + g * cpg + i) * n..][..n];
            let kr = &wk[(o * cpg + i) * m..][..m];
            let xs = window(xr, j0 as isize - d.left as isize, yt.len() + m - 1, scratch);
            super::simd::correlate_into(xs, kr, yt);
        }
        if !super::nonfinite::all_finite(yt) {
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
    // SAFETY: the tiles cover `0..len` (chunks of the rows of `spare`), and each wrote every
    // value of its tile (`zeroed`) before the kernel accumulated into it.
    unsafe { out.set_len(len) };
    (out, !nonfinite.into_inner())
}

/// `v` filled with zeros, as initialised values.
fn zeroed<T: Real>(v: &mut [MaybeUninit<T>]) -> &mut [T] {
    for slot in v.iter_mut() {
        slot.write(T::zero());
    }
    // SAFETY: every element was just written; `MaybeUninit<T>` has `T`'s layout.
    unsafe { &mut *(v as *mut [MaybeUninit<T>] as *mut [T]) }
}
