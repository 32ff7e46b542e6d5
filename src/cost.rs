//! Every cost model of `Method::Auto`, with its measured constants, in nanoseconds.
//!
//! - The CPU kernels (flex, ndarray): fitted to `CALIBRATE=1 cargo bench --bench convolve
//!   --features internals`, which times both kernels over a grid of `N` and `M` and prints the
//!   model beside them, on a 2-core x86-64 machine with AVX2 (docs/PERFORMANCE.md). The
//!   model also picks the FFT block length (`CpuModel::fft_len`).
//! - The wgpu paths: fitted on Mesa's lavapipe (the software Vulkan driver every machine here
//!   has; bench group `grid/wgpu`). A real GPU has other constants but the same shape:
//!   Burn's `conv1d` costs per multiply-add, the FFT per transform point.

use burn::tensor::DType;

use crate::geometry::Geometry;

/// Multiply-adds below which a kernel runs on the calling thread: waking rayon's workers costs
/// more (about 10 µs) than the work itself.
pub(crate) const SERIAL_MACS: usize = 3 << 20;

/// Outputs from which the direct kernel runs on every thread however short the kernel: a
/// convolution with a few taps is bound by memory bandwidth rather than arithmetic, and each
/// core brings its own (f64, 3 taps, 1,000,000 outputs: 560-640 µs on one thread, 350-510 µs on
/// two).
pub(crate) const PARALLEL_OUTPUTS: usize = 1 << 18;

/// FFT points (transform length × transforms) below which the FFT path runs on the calling
/// thread.
pub(crate) const SERIAL_FFT_POINTS: usize = 1 << 17;

/// The measured constants of the CPU kernels in one float type.
#[derive(Clone, Copy, Debug)]
pub(crate) struct CpuModel {
    /// Direct kernel, per multiply-add (AVX2 + FMA, one core).
    ns_per_mac: f64,
    /// Direct kernel, per output value (writing it, page faults, block tails).
    ns_per_output: f64,
    /// The N-D direct kernel (`cpu::nd::direct`), per multiply-add: a multiply and an add
    /// (SciPy's rounding), over rows of the kernel. Fitted on the AVX-512 machine of
    /// docs/SIGNAL_PERFORMANCE.md from forced `Direct` calls with 3³ and 7³ kernels on the
    /// same volume (the difference cancels what both spend outside the sums): 64³ and 128³,
    /// 0.042-0.045 ns in f32, 0.073-0.078 ns in f64 (before that kernel kept its sums in
    /// registers: about 0.08 and 0.15).
    nd_ns_per_mac: f64,
    /// FFT path, per `F · log2 F` of one real transform of `F` points.
    ns_per_fft_unit: f64,
    /// FFT path, per complex multiply-add of a spectrum product.
    ns_per_spectral_mac: f64,
    /// FFT path, per transform: copies, zeroing, bookkeeping.
    ns_per_transform: f64,
    /// FFT path, per call: plans, buffers.
    ns_fft_setup: f64,
}

impl CpuModel {
    /// f32: 8 lanes per AVX2 vector.
    const F32: CpuModel = CpuModel {
        ns_per_mac: 0.035,
        ns_per_output: 0.4,
        nd_ns_per_mac: 0.045,
        ns_per_fft_unit: 0.13,
        ns_per_spectral_mac: 0.33,
        ns_per_transform: 16.0,
        ns_fft_setup: 1_300.0,
    };
    /// f64: 4 lanes per AVX2 vector and twice the memory traffic.
    const F64: CpuModel = CpuModel {
        ns_per_mac: 0.07,
        ns_per_output: 0.6,
        nd_ns_per_mac: 0.075,
        ns_per_fft_unit: 0.26,
        ns_per_spectral_mac: 0.6,
        ns_per_transform: 26.0,
        ns_fft_setup: 1_500.0,
    };

    /// The model of the CPU kernels computing in `dtype` (f32 or f64).
    pub(crate) fn of(dtype: DType) -> CpuModel {
        if dtype == DType::F64 {
            CpuModel::F64
        } else {
            CpuModel::F32
        }
    }

    /// Modelled nanoseconds of the direct CPU kernel.
    pub(crate) fn direct(&self, g: &Geometry) -> f64 {
        let outputs = g.batch * g.cout * g.out_len();
        let macs = outputs * g.cpg() * g.m;
        let ns = macs as f64 * self.ns_per_mac + outputs as f64 * self.ns_per_output;
        if macs < SERIAL_MACS && outputs < PARALLEL_OUTPUTS {
            ns
        } else {
            ns / PARALLEL_SPEEDUP
        }
    }

    /// Modelled nanoseconds of the FFT CPU kernel.
    pub(crate) fn fft(&self, g: &Geometry) -> f64 {
        let (cpg, opg) = (g.cpg(), g.opg());
        let f = self.fft_len(g.n, g.m, cpg, opg);
        let blocks = g.n.div_ceil(f - g.m + 1);
        let units = g.batch * g.groups;
        let ff = f as f64;
        let kernels = (g.cout * cpg) as f64 * ff * ff.log2() * self.ns_per_fft_unit;
        let ns = (units * blocks) as f64 * self.fft_block_ns(f, cpg, opg);
        let ns = if units * blocks * (cpg + opg) * f < SERIAL_FFT_POINTS {
            ns
        } else {
            ns / PARALLEL_SPEEDUP
        };
        self.ns_fft_setup + kernels + ns
    }

    /// Whether the FFT kernel's modelled time is below the direct kernel's.
    pub(crate) fn fft_is_cheaper(&self, g: &Geometry) -> bool {
        self.fft(g) < self.direct(g)
    }

    /// Modelled nanoseconds of one overlap-add block of `f` points: `cpg` forward and `opg`
    /// inverse transforms and `cpg · opg` spectrum products.
    fn fft_block_ns(&self, f: usize, cpg: usize, opg: usize) -> f64 {
        let ff = f as f64;
        (ff * ff.log2() * self.ns_per_fft_unit + self.ns_per_transform) * (cpg + opg) as f64
            + (ff / 2.0 + 1.0) * (cpg * opg) as f64 * self.ns_per_spectral_mac
    }

    /// The FFT length for overlap-add: the power of two minimising the modelled time of the
    /// whole signal (per block of `F - m + 1` inputs), no longer than needed to hold the whole
    /// full output.
    ///
    /// Sizes whose powers of two do not fit in a `usize` (no tensor has them) stop the search
    /// at the largest power of two that does, rather than wrapping.
    pub(crate) fn fft_len(&self, n: usize, m: usize, cpg: usize, opg: usize) -> usize {
        const TOP: usize = 1 << (usize::BITS - 1);
        let pow2 = |v: usize| v.checked_next_power_of_two().unwrap_or(TOP);
        let full = n.saturating_add(m - 1);
        let max = pow2(full).max(pow2(m));
        let mut f = pow2(m);
        let mut best = (f64::INFINITY, f);
        while f <= max && f >= m {
            // Blocks past the signal's end cost as much as full ones.
            let blocks = n.div_ceil(f - m + 1) as f64;
            let cost = blocks * self.fft_block_ns(f, cpg, opg);
            if cost < best.0 {
                best = (cost, f);
            }
            match f.checked_mul(2) {
                Some(next) => f = next,
                None => break,
            }
        }
        best.1
    }
}

/// The N-D host kernels (`burn_npconv::signal`), from the same constants: a `valid` sliding dot
/// product of a padded array of shape `padded` with a kernel of shape `kernel`.
impl CpuModel {
    /// Modelled nanoseconds of the N-D direct kernel.
    pub(crate) fn nd_direct(&self, padded: &[usize], kernel: &[usize]) -> f64 {
        let outputs: usize = padded.iter().zip(kernel).map(|(p, m)| p + 1 - m).product();
        let taps: usize = kernel.iter().product();
        let ns = outputs as f64 * (taps as f64 * self.nd_ns_per_mac + self.ns_per_output);
        if outputs.saturating_mul(taps) < SERIAL_MACS {
            ns
        } else {
            ns / PARALLEL_SPEEDUP
        }
    }

    /// Modelled nanoseconds of the N-D FFT kernel with `Method::Auto`'s guard, tile by tile
    /// ([`Tiling`]): per tile four real transforms (the block and its magnitudes, two
    /// inverses) and two spectrum products; the kernel's two spectra once.
    pub(crate) fn nd_fft(&self, padded: &[usize], kernel: &[usize]) -> f64 {
        let three = |s: &[usize]| {
            let mut out = [1; 3];
            out[3 - s.len()..].copy_from_slice(s);
            out
        };
        let tiling = Tiling::of(three(padded), three(kernel));
        let points = tiling.points();
        let f = points as f64;
        let transform = f * f.log2().max(1.0) * self.ns_per_fft_unit * tiling.cache()
            + f * self.ns_per_spectral_mac;
        let ns = (4 * tiling.tiles() + 2) as f64 * transform;
        let ns = if tiling.parallel() {
            ns / PARALLEL_SPEEDUP
        } else {
            ns
        };
        self.ns_fft_setup + ns
    }

    /// Whether the N-D FFT kernel's modelled time is below the direct kernel's.
    pub(crate) fn nd_fft_is_cheaper(&self, padded: &[usize], kernel: &[usize]) -> bool {
        self.nd_fft(padded, kernel) < self.nd_direct(padded, kernel)
    }
}

/// The N-D FFT's tiles (overlap-save, `cpu::nd::tiles`): the outputs cut into boxes of `t`
/// per axis, each computed from its own block of the padded array (`t + m - 1` per axis) by
/// transforms of shape `f`, chosen by modelled work. Measured on 2 cores (f32, forced FFT):
/// a 128³ volume with a 15³ kernel took 49-56 ms in one 144³ transform and 31-35 ms in tiles
/// of 144x64x64 or 144x32x64; a 1024² image with 31², 19-23 ms in one transform and 8-11 ms
/// in tiles of 256² or 64x1056.
/// A tile's work per row of its last axis's transforms (`f[0] · f[1]` rows), besides the
/// transforms' `points · (log2(points) + 4)`, in the same units: the fixed cost of a short
/// row, which makes tiles cut across the last axis slower than tiles cut across the others (a
/// 256² image with a 31² kernel, f32 `Auto`: 1.08 ms in tiles of 64x288, 1.66 ms in tiles of
/// 288x64). Fitted with [`Tiling::work`]'s rule for a tile alone on `Method::Auto`'s times of
/// every tiling `Tiling::of` considers (2-D images of 256² to 1024² with kernels of 7² to
/// 127², 3-D volumes of 64³ and 128³ with 7³ to 31³, f32 and f64): the tiling it picks took
/// 1.06x the fastest one's time on average, at worst 1.31x (before: 1.14x, at worst 1.75x).
const PER_ROW: f64 = 32.0;

/// The largest transform a tile uses, in points: 2 Mi points (16 MiB as an f64 spectrum), so
/// that tile buffers stay small next to the arrays of a large call.
const MAX_TILE_POINTS: usize = 1 << 21;

/// The largest transform of a tile over a padded array of `padded` points: [`MAX_TILE_POINTS`],
/// and for arrays of 16 Mi points and more a sixteenth of the array (at least 1 Mi points).
/// Each of the two workers holds about 32 bytes per point under `Method::Auto` in f32 (the
/// block, its spectrum, its magnitudes' spectrum and sums, its outputs): a 256³ volume with a
/// 31³ kernel peaked at 252 MiB in tiles of 128³ (2 Mi points), against 256 MiB allowed
/// (twice the input and output).
fn max_tile_points(padded: usize) -> usize {
    if padded >= 1 << 24 {
        (padded / 16).clamp(1 << 20, MAX_TILE_POINTS)
    } else {
        MAX_TILE_POINTS
    }
}

/// Transforms whose spectrum (as f32) is above this many bytes leave the cache: their passes
/// run at memory speed, modelled as [`OUT_OF_CACHE`] times the work.
const CACHE_BYTES: usize = 2 << 20;
const OUT_OF_CACHE: f64 = 1.5;

/// How the outputs of one N-D call are cut into tiles.
#[cfg_attr(not(cpu_kernels), allow(dead_code))] // the tiles run in the host kernels only
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Tiling {
    /// The transform shape.
    pub f: [usize; 3],
    /// Outputs per tile on each axis (the last tile of an axis may have fewer).
    pub t: [usize; 3],
    /// Tiles on each axis.
    pub count: [usize; 3],
}

#[cfg_attr(not(cpu_kernels), allow(dead_code))]
impl Tiling {
    /// The tiling of a padded array of shape `p` (as 3-D) and a kernel of shape `m` with the
    /// least modelled work: on each axis, one tile of the whole
    /// axis (the smallest smooth length holding it) or tiles of a power-of-two transform at
    /// least twice the kernel.
    pub(crate) fn of(p: [usize; 3], m: [usize; 3]) -> Tiling {
        let l: [usize; 3] = core::array::from_fn(|i| p[i] + 1 - m[i]);
        let candidates = |axis: usize| {
            let whole = smooth_len(p[axis], axis == 2);
            let mut c = vec![whole];
            let mut f = (2 * m[axis]).next_power_of_two().max(8);
            while f < whole {
                c.push(f);
                f *= 2;
            }
            c
        };
        let (c0, c1, c2) = (candidates(0), candidates(1), candidates(2));
        let limit = max_tile_points(p.iter().product());
        let mut best: Option<(f64, Tiling)> = None;
        for &f0 in &c0 {
            for &f1 in &c1 {
                for &f2 in &c2 {
                    let f = [f0, f1, f2];
                    let tiling = Tiling::with(m, l, f);
                    // Transforms above the limit only where no candidate is below it.
                    let over = if tiling.points() > limit { 1e12 } else { 1.0 };
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
    fn with(m: [usize; 3], l: [usize; 3], f: [usize; 3]) -> Tiling {
        let t: [usize; 3] = core::array::from_fn(|i| (f[i] + 1 - m[i]).min(l[i]));
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

    /// The factor of a transform's time out of cache ([`OUT_OF_CACHE`]), 1 in cache.
    pub(crate) fn cache(&self) -> f64 {
        if self.points() * 4 > CACHE_BYTES {
            OUT_OF_CACHE
        } else {
            1.0
        }
    }

    /// Modelled work, in units of one point of one transform pass: `points · log2(points)`
    /// per transform, `4 · points` of copies and products and [`PER_ROW`] per row, more out
    /// of cache. A tile alone (one transform for the whole array) counts its whole work:
    /// its rows and strips run on every thread, but measured no faster than on one (a 256²
    /// image with a 127² kernel, f32 `Auto`: 3.8 ms in one 384² transform, 2.4 ms in four
    /// tiles of 256² on two threads).
    pub(crate) fn work(&self) -> f64 {
        let p = self.points() as f64;
        let rows = (self.f[0] * self.f[1]) as f64;
        let per_tile = (p * (p.log2().max(1.0) + 4.0) + PER_ROW * rows) * self.cache();
        // Tiles run in rounds of one per thread.
        let threads = rayon::current_num_threads().max(1);
        if self.tiles() == 1 {
            per_tile
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

    /// The direct kernel's tiles: up to 4 x 32 x 512 outputs, whose block (the tile plus the
    /// kernel's reach) the kernel reads from a small buffer in cache instead of a stored
    /// padded array (`f` is the block's shape, there are no transforms).
    pub(crate) fn direct(p: [usize; 3], m: [usize; 3]) -> Tiling {
        let l: [usize; 3] = core::array::from_fn(|i| p[i] + 1 - m[i]);
        let t = [l[0].min(4), l[1].min(32), l[2].min(512)];
        Tiling {
            f: core::array::from_fn(|i| t[i] + m[i] - 1),
            t,
            count: core::array::from_fn(|i| l[i].div_ceil(t[i])),
        }
    }
}

/// The smallest `2^a 3^b 5^c 7^d` at least `p` (and even when `even`, for `p > 1`).
pub(crate) fn smooth_len(p: usize, even: bool) -> usize {
    if p <= 1 {
        return 1;
    }
    let smooth = |mut v: usize| {
        for f in [2, 3, 5, 7] {
            while v.is_multiple_of(f) {
                v /= f;
            }
        }
        v == 1
    };
    (p..)
        .find(|&v| smooth(v) && (!even || v.is_multiple_of(2)))
        .expect("a smooth length above any size")
}

/// Speed-up of either CPU kernel on both cores of the calibration machine, once the work is
/// above the serial thresholds.
const PARALLEL_SPEEDUP: f64 = 1.4;

/// The length of the wgpu FFT path's one transform per channel: the whole `full` output,
/// rounded up to a power of two, and at least the 2 points (DC and Nyquist) cubek-fft needs.
#[cfg(feature = "wgpu")]
pub(crate) fn device_fft_len(g: &Geometry) -> usize {
    (g.n + g.m - 1).next_power_of_two().max(2)
}

/// Constants of the wgpu paths, fitted on lavapipe.
#[cfg(feature = "wgpu")]
mod wgpu {
    /// Burn's `conv1d`, per multiply-add, one group.
    pub const NS_PER_MAC: f64 = 3.4;
    /// Burn's `conv1d`, per multiply-add, grouped (measured 4x slower on lavapipe).
    pub const NS_PER_MAC_GROUPED: f64 = 13.0;
    /// Burn's `conv1d`, per output value.
    pub const NS_PER_OUTPUT: f64 = 30.0;
    /// FFT path, per point of one transform.
    pub const NS_PER_FFT_POINT: f64 = 400.0;
    /// FFT path, per call (kernel launches).
    pub const NS_FFT_SETUP: f64 = 3e6;
    /// The N-D FFT (`burn_npconv::signal`), per point of one pass along one axis: forced, 2-D
    /// 128² with 31² in 95 ms (393k point-passes), 256² with 63² in 204 ms (1.6M), 3-D 32³ with
    /// 7³ in 420 ms (2.4M); Burn's `conv3d` took 58, 720 and 60 ms there.
    pub const NS_PER_ND_FFT_POINT: f64 = 150.0;
    /// The N-D FFT with `Method::Auto`'s check, per call (launches, reductions, a read-back).
    pub const NS_ND_FFT_SETUP: f64 = 40e6;
}

/// Modelled nanoseconds of Burn's `conv1d` on wgpu.
#[cfg(feature = "wgpu")]
pub(crate) fn wgpu_direct(g: &Geometry) -> f64 {
    let outputs = (g.batch * g.cout * g.out_len()) as f64;
    let per_mac = if g.groups == 1 {
        wgpu::NS_PER_MAC
    } else {
        wgpu::NS_PER_MAC_GROUPED
    };
    outputs * (wgpu::NS_PER_OUTPUT + per_mac * (g.m * g.cpg()) as f64)
}

/// Modelled nanoseconds of the wgpu FFT path.
#[cfg(feature = "wgpu")]
pub(crate) fn wgpu_fft(g: &Geometry) -> f64 {
    let f = device_fft_len(g) as f64;
    wgpu::NS_FFT_SETUP + (g.batch * (g.cin + g.cout)) as f64 * f * wgpu::NS_PER_FFT_POINT
}

/// Modelled nanoseconds of Burn's `conv3d` on wgpu for an N-D call (`burn_npconv::signal`).
#[cfg(feature = "wgpu")]
pub(crate) fn wgpu_nd_direct(padded: &[usize], kernel: &[usize]) -> f64 {
    let outputs: usize = padded.iter().zip(kernel).map(|(p, m)| p + 1 - m).product();
    let taps: usize = kernel.iter().product();
    outputs as f64 * (wgpu::NS_PER_OUTPUT + wgpu::NS_PER_MAC * taps as f64)
}

/// Modelled nanoseconds of the N-D device FFT with `Method::Auto`'s check: two correlations
/// (the inputs, their magnitudes), each two forward transforms and an inverse of the padded
/// shape rounded up to powers of two, one pass per axis.
#[cfg(feature = "wgpu")]
pub(crate) fn wgpu_nd_fft(padded: &[usize]) -> f64 {
    let points: usize = padded.iter().map(|p| p.next_power_of_two()).product();
    let passes = 6 * padded.len();
    wgpu::NS_ND_FFT_SETUP + (passes * points) as f64 * wgpu::NS_PER_ND_FFT_POINT
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smooth_lengths_are_smooth_and_even_when_asked() {
        assert_eq!([1, 11, 11].map(|p| smooth_len(p, true)), [1, 12, 12]);
        assert_eq!(smooth_len(97, false), 98);
        assert_eq!(smooth_len(127, true), 128);
        assert_eq!(smooth_len(286, true), 288);
        assert_eq!(smooth_len(3, true), 4);
        assert_eq!(smooth_len(11, false), 12);
        assert_eq!(smooth_len(13, false), 14);
    }

    #[test]
    fn fft_len_is_a_power_of_two_at_least_the_kernel() {
        for m in [1, 3, 31, 1023, 4095] {
            for n in [1, 1000, 1_000_000] {
                let f = CpuModel::F32.fft_len(n, m, 1, 1);
                assert!(f.is_power_of_two() && f >= m, "n {n} m {m}: {f}");
            }
        }
    }

    #[test]
    fn fft_len_stops_at_sizes_no_tensor_has() {
        // These wrapped to 0 and looped forever before (a forged remote op could ask for them).
        for (n, m) in [((1 << 62) + 1, 2), (usize::MAX - 1, 3), (5, (1 << 63) + 1)] {
            let f = CpuModel::F32.fft_len(n, m, 1, 1);
            assert!(f.is_power_of_two(), "n {n} m {m}: {f}");
        }
    }

    #[test]
    fn tiles_cover_the_outputs_and_stay_small() {
        for (p, m) in [
            ([1, 1054, 1054], [1, 31, 31]),
            ([1, 1, 100], [1, 1, 3]),
            ([286, 286, 286], [31, 31, 31]),
            ([94, 94, 94], [31, 31, 31]),
            ([7, 9, 4], [4, 2, 4]),
        ] {
            let t = Tiling::of(p, m);
            for i in 0..3 {
                assert!(t.f[i] >= t.t[i] + m[i] - 1, "{t:?}");
                assert!(t.count[i] * t.t[i] >= p[i] + 1 - m[i], "{t:?}");
            }
            assert!(t.points() <= MAX_TILE_POINTS, "{p:?}: {t:?}");
        }
        // The 256³ volume with a 31³ kernel is cut into tiles.
        let big = Tiling::of([286; 3], [31; 3]);
        assert!(big.tiles() > 1, "{big:?}");
    }
}
