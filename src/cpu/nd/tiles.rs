//! The N-D FFT's tiles (overlap-save): the outputs cut into boxes of `t` per axis, each computed
//! from its own block of the padded array (`t + m - 1` per axis) by transforms of shape `f`.
//! Blocks are read from the array before padding ([`Padder`]), so a call holds its input, its
//! output and a few tile-sized buffers per worker, however large the volume (SciPy's
//! `fftconvolve` holds the whole padded volume's spectra).

use rayon::prelude::*;

use super::dims::Dims;
use super::fft::Shared;
use super::pad::Padder;
use crate::cost::{SERIAL_FFT_POINTS, smooth_len};
use crate::cpu::Real;

/// The largest transform a tile uses, in points: 2 Mi points (16 MiB as an f64 spectrum), so
/// that tile buffers stay small next to the arrays of a large call.
const MAX_TILE_POINTS: usize = 1 << 21;

/// Transforms whose spectrum (as f32) is above this many bytes leave the cache: their passes
/// run at memory speed, modelled as [`OUT_OF_CACHE`] times the work.
const CACHE_BYTES: usize = 2 << 20;
const OUT_OF_CACHE: f64 = 1.5;

/// How the outputs of one N-D call are cut into tiles.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Tiling {
    /// The transform shape.
    pub f: [usize; 3],
    /// Outputs per tile on each axis (the last tile of an axis may have fewer).
    pub t: [usize; 3],
    /// Tiles on each axis.
    pub count: [usize; 3],
}

impl Tiling {
    /// The tiling of `d` with the least modelled work: on each axis, one tile of the whole
    /// axis (the smallest smooth length holding it) or tiles of a power-of-two transform at
    /// least twice the kernel.
    pub(crate) fn of(d: Dims) -> Tiling {
        let l = d.out();
        let candidates = |axis: usize| {
            let whole = smooth_len(d.p[axis], axis == 2);
            let mut c = vec![whole];
            let mut f = (2 * d.m[axis]).next_power_of_two().max(8);
            while f < whole {
                c.push(f);
                f *= 2;
            }
            c
        };
        let (c0, c1, c2) = (candidates(0), candidates(1), candidates(2));
        let mut best: Option<(f64, Tiling)> = None;
        for &f0 in &c0 {
            for &f1 in &c1 {
                for &f2 in &c2 {
                    let f = [f0, f1, f2];
                    let tiling = Tiling::with(d, l, f);
                    // Transforms above the limit only where no candidate is below it.
                    let over = if tiling.points() > MAX_TILE_POINTS {
                        1e12
                    } else {
                        1.0
                    };
                    let cost = tiling.work() * over;
                    if best.is_none_or(|(b, _)| cost < b) {
                        best = Some((cost, tiling));
                    }
                }
            }
        }
        best.expect("at least one candidate per axis").1
    }

    /// The tiling of transforms `f`.
    fn with(d: Dims, l: [usize; 3], f: [usize; 3]) -> Tiling {
        let t: [usize; 3] = core::array::from_fn(|i| (f[i] + 1 - d.m[i]).min(l[i]));
        Tiling {
            f,
            t,
            count: core::array::from_fn(|i| l[i].div_ceil(t[i])),
        }
    }

    /// Points of one transform.
    pub(crate) fn points(&self) -> usize {
        self.f.iter().product()
    }

    /// Tiles in all.
    pub(crate) fn tiles(&self) -> usize {
        self.count.iter().product()
    }

    /// Modelled work, in units of one point of one transform pass: `points · log2(points)`
    /// per transform, more out of cache.
    pub(crate) fn work(&self) -> f64 {
        let p = self.points() as f64;
        let cache = if self.points() * 4 > CACHE_BYTES {
            OUT_OF_CACHE
        } else {
            1.0
        };
        let per_tile = p * (p.log2().max(1.0) + 4.0) * cache;
        // Tiles run in rounds of one per thread; one tile runs its rows on every thread.
        let threads = rayon::current_num_threads().max(1);
        if self.tiles() == 1 {
            per_tile / threads.min(2) as f64 * 1.25
        } else {
            self.tiles().div_ceil(threads) as f64 * per_tile
        }
    }

    /// Whether tiles run in parallel (each on one thread), rather than one after the other
    /// with each transform's rows on every thread.
    pub(crate) fn parallel_tiles(&self) -> bool {
        self.tiles() > 1
    }

    /// Whether the work is worth rayon's workers at all.
    pub(crate) fn parallel(&self) -> bool {
        self.tiles() * self.points() >= SERIAL_FFT_POINTS
    }
}

/// Runs `each` on every tile of `tiling` over the padded array `padder` describes, with a
/// worker state from `init`, and gathers the tiles' outputs (shape `d.out()`). `each` gets the
/// tile's shapes (its block and the kernel), its block (read from `padder`) and a buffer for
/// its outputs, `dims.out()`.
pub(crate) fn run<T: Real, S>(
    padder: &Padder<'_, T>,
    d: Dims,
    tiling: Tiling,
    init: impl Fn() -> S + Sync,
    each: impl Fn(&mut S, Dims, &[T], &mut [T]) + Sync,
) -> Vec<T> {
    let l = d.out();
    let mut out = vec![T::zero(); d.out_len()];
    let shared = Shared::new(&mut out);
    let [_, n1, n2] = tiling.count;
    let tile = |(state, block, y): &mut (S, Vec<T>, Vec<T>), index: usize| {
        let at = [index / (n1 * n2), (index / n2) % n1, index % n2];
        let origin: [usize; 3] = core::array::from_fn(|i| at[i] * tiling.t[i]);
        let tl: [usize; 3] = core::array::from_fn(|i| tiling.t[i].min(l[i] - origin[i]));
        let b: [usize; 3] = core::array::from_fn(|i| tl[i] + d.m[i] - 1);
        block.resize(b.iter().product(), T::zero());
        for (r, row) in block.chunks_mut(b[2]).enumerate() {
            let (j0, j1) = (r / b[1], r % b[1]);
            padder.span(
                (origin[0] + j0) * padder.p[1] + origin[1] + j1,
                origin[2],
                row,
            );
        }
        y.resize(tl.iter().product(), T::zero());
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
    let init = || (init(), Vec::new(), Vec::new());
    if tiling.parallel_tiles() && tiling.parallel() {
        (0..tiling.tiles())
            .into_par_iter()
            .for_each_init(init, |s, i| tile(s, i));
    } else {
        let mut s = init();
        (0..tiling.tiles()).for_each(|i| tile(&mut s, i));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tiles_cover_the_outputs_and_stay_small() {
        for (p, m) in [
            ([1, 1054, 1054], [1, 31, 31]),
            ([1, 1, 100], [1, 1, 3]),
            ([286, 286, 286], [31, 31, 31]),
            ([94, 94, 94], [31, 31, 31]),
            ([7, 9, 4], [4, 2, 4]),
        ] {
            let d = Dims { p, m };
            let t = Tiling::of(d);
            for i in 0..3 {
                assert!(t.f[i] >= t.t[i] + m[i] - 1, "{t:?}");
                assert!(t.count[i] * t.t[i] >= d.out()[i], "{t:?}");
            }
            assert!(t.points() <= MAX_TILE_POINTS, "{p:?}: {t:?}");
        }
        // The 256³ volume with a 31³ kernel is cut into tiles.
        let big = Tiling::of(Dims {
            p: [286; 3],
            m: [31; 3],
        });
        assert!(big.tiles() > 1, "{big:?}");
    }
}
