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
        ns_per_fft_unit: 0.13,
        ns_per_spectral_mac: 0.33,
        ns_per_transform: 16.0,
        ns_fft_setup: 1_300.0,
    };
    /// f64: 4 lanes per AVX2 vector and twice the memory traffic.
    const F64: CpuModel = CpuModel {
        ns_per_mac: 0.07,
        ns_per_output: 0.6,
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
        let ns = outputs as f64 * (taps as f64 * self.ns_per_mac + self.ns_per_output);
        if outputs.saturating_mul(taps) < SERIAL_MACS {
            ns
        } else {
            ns / PARALLEL_SPEEDUP
        }
    }

    /// Modelled nanoseconds of the N-D FFT kernel with `Method::Auto`'s guard: six real
    /// transforms of the padded shape (the two inputs, their magnitudes, two inverses) and two
    /// spectrum products.
    pub(crate) fn nd_fft(&self, padded: &[usize]) -> f64 {
        let points: usize = nd_fft_lens(padded).iter().product();
        let f = points as f64;
        let ns = 6.0 * f * f.log2().max(1.0) * self.ns_per_fft_unit + f * self.ns_per_spectral_mac;
        let ns = if points < SERIAL_FFT_POINTS {
            ns
        } else {
            ns / PARALLEL_SPEEDUP
        };
        self.ns_fft_setup + ns
    }

    /// Whether the N-D FFT kernel's modelled time is below the direct kernel's.
    pub(crate) fn nd_fft_is_cheaper(&self, padded: &[usize], kernel: &[usize]) -> bool {
        self.nd_fft(padded) < self.nd_direct(padded, kernel)
    }
}

/// The N-D FFT's transform length on each axis of a padded array of shape `padded`: the
/// smallest product of powers of 2, 3, 5 and 7 at least the axis's length (even on the last
/// axis, the real transform's). A circular correlation of that length holds the whole `valid`
/// output, which never reads past the padded array.
pub(crate) fn nd_fft_lens(padded: &[usize]) -> Vec<usize> {
    let last = padded.len().saturating_sub(1);
    padded
        .iter()
        .enumerate()
        .map(|(axis, &p)| smooth_len(p, axis == last))
        .collect()
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nd_fft_lens_are_smooth_and_even_on_the_last_axis() {
        assert_eq!(nd_fft_lens(&[1, 11, 11]), [1, 12, 12]);
        assert_eq!(nd_fft_lens(&[97, 127]), [98, 128]);
        assert_eq!(nd_fft_lens(&[286, 286, 286]), [288, 288, 288]);
        assert_eq!(nd_fft_lens(&[3]), [4]);
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
}
