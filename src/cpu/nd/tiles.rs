//! The N-D FFT's tiles (overlap-save): the outputs cut into boxes of `t` per axis, each computed
//! from its own block of the padded array (`t + m - 1` per axis) by transforms of shape `f`.
//! Blocks are read from the array before padding ([`Padder`]), so a call holds its input, its
//! output and a few tile-sized buffers per worker, however large the volume (SciPy's
//! `fftconvolve` holds the whole padded volume's spectra).

use rayon::prelude::*;

use super::dims::Dims;
use super::fft::Shared;
use super::pad::Padder;
use crate::buffers::Kept;
use crate::cost::Tiling;
use crate::cpu::Real;

/// Runs `each` on every tile of `tiling` over the padded array `padder` describes (on every
/// thread when `parallel`), with a
/// worker state from `init`, and gathers the tiles' outputs (shape `d.out()`). `each` gets the
/// tile's shapes (its block and the kernel), its block (read from `padder`) and a buffer for
/// its outputs, `dims.out()`.
pub(crate) fn run<T: Real, S>(
    padder: &Padder<'_, T>,
    d: Dims,
    tiling: Tiling,
    parallel: bool,
    init: impl Fn() -> S + Sync,
    each: impl Fn(&mut S, Dims, &[T], &mut [T]) + Sync,
) -> Vec<T> {
    let l = d.out();
    let mut out = vec![T::zero(); d.out_len()];
    let shared = Shared::new(&mut out);
    let [_, n1, n2] = tiling.count;
    let tile = |(state, block, y): &mut (S, Kept<T>, Kept<T>), index: usize| {
        let at = [index / (n1 * n2), (index / n2) % n1, index % n2];
        let origin: [usize; 3] = core::array::from_fn(|i| at[i] * tiling.t[i]);
        let tl: [usize; 3] = core::array::from_fn(|i| tiling.t[i].min(l[i] - origin[i]));
        let b: [usize; 3] = core::array::from_fn(|i| tl[i] + d.m[i] - 1);
        block.grow(b.iter().product(), T::zero());
        for (r, row) in block.chunks_mut(b[2]).enumerate() {
            let (j0, j1) = (r / b[1], r % b[1]);
            padder.span(
                (origin[0] + j0) * padder.p[1] + origin[1] + j1,
                origin[2],
                row,
            );
        }
        y.grow(tl.iter().product(), T::zero());
        let dims = Dims { p: b, m: d.m };
        each(state, dims, block, y);
        for (r, row) in y.chunks(tl[2]).enumerate() {
            let (j0, j1) = (r / tl[1], r % tl[1]);
            let first = ((origin[0] + j0) * l[1] + origin[1] + j1) * l[2] + origin[2];
            for (j, &v) in row.iter().enumerate() {
                // SAFETY: tiles' output boxes are disjoint, and each lies within `out`.
                unsafe { *shared.at(first + j) = v };
            }
        }
    };
    let init = || (init(), Kept::default(), Kept::default());
    if parallel && tiling.tiles() > 1 {
        (0..tiling.tiles())
            .into_par_iter()
            .for_each_init(init, |s, i| tile(s, i));
    } else {
        let mut s = init();
        (0..tiling.tiles()).for_each(|i| tile(&mut s, i));
    }
    out
}
