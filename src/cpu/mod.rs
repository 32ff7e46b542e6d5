//! The CPU kernels of the `flex` and `ndarray` backends: direct and FFT (overlap-add on
//! `realfft`) convolution on host `f32` slices and their gradients, multi-threaded with rayon
//! once the work pays for waking the worker threads.
//!
//! Every kernel computes the sliding dot product a `Geometry` describes.
//!
//! Outputs are written before they are read. A large `vec![0.0; len]` is fresh memory mapped
//! to the shared zero page: the first write to each page after a read then copies it and
//! flushes the TLBs of the other cores, which in a virtual machine made an accumulate-into-zeros
//! kernel several times slower than its arithmetic (perf: most of the time in `do_wp_page` and
//! inter-processor interrupts). Each task therefore fills its own part of the output with zeros
//! before accumulating into it.

// The kernels serve the CPU backends' op; CpuKernel and the thresholds also serve the cost
// model, which every build has.
#[cfg(cpu_kernels)]
mod direct;
#[cfg(cpu_kernels)]
mod fft;
#[cfg(cpu_grads)]
mod grad;
#[cfg(cpu_kernels)]
mod handoff;
#[cfg(cpu_kernels)]
mod nonfinite;
#[cfg(cpu_kernels)]
mod simd;
#[cfg(cpu_kernels)]
pub(crate) mod stream;

#[cfg(cpu_grads)]
pub(crate) use grad::{input_grad, weight_grad};
#[cfg(all(feature = "internals", cpu_kernels))]
#[cfg(all(feature = "internals", cpu_kernels))]
pub use simd::Isa;
#[cfg(all(feature = "internals", cpu_kernels))]
pub(crate) use simd::{correlate_with, correlate_write};

#[cfg(cpu_kernels)]
use crate::mode::Geometry;

/// Which CPU algorithm.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CpuKernel {
    /// Sliding dot products: `O(L · M)` per channel pair.
    Direct,
    /// Overlap-add with real FFTs: `O(L · log F)` per channel pair and block size `F`.
    Fft,
}

/// Multiply-adds below which a kernel runs on the calling thread: waking rayon's workers costs
/// more (about 10 µs) than the work itself.
pub(crate) const SERIAL_MACS: usize = 3 << 20;

/// Outputs from which the direct kernel runs on every thread however short the kernel: a
/// convolution with a few taps is bound by memory bandwidth rather than arithmetic, and each
/// core brings its own (f64, 3 taps, 1,000,000 outputs: 560-640 µs on one thread, 350-510 µs on
/// two).
pub(crate) const PARALLEL_OUTPUTS: usize = 1 << 18;

/// The length of `Auto`'s edge transforms from which they run on another thread while a
/// one-thread FFT runs (see [`conv`]).
#[cfg(cpu_kernels)]
const HAND_OFF_EDGE_LEN: usize = 4096;

/// FFT points (transform length × transforms) below which the FFT path runs on the calling
/// thread.
pub(crate) const SERIAL_FFT_POINTS: usize = 1 << 17;

/// The float types the CPU kernels compute in, f32 and f64: one generic implementation.
#[cfg(cpu_kernels)]
pub trait Real:
    realfft::FftNum + realfft::num_traits::Float + burn::tensor::Element + bytemuck::Pod
{
    /// Outputs per register block of the direct kernel (see `cpu/simd.rs`).
    const BLOCK: usize;
    /// The FFT planner of this type, shared by every call.
    fn planner() -> &'static std::sync::Mutex<realfft::RealFftPlanner<Self>>;
}

#[cfg(cpu_kernels)]
macro_rules! real {
    ($t:ty, $block:expr) => {
        impl Real for $t {
            const BLOCK: usize = $block;
            fn planner() -> &'static std::sync::Mutex<realfft::RealFftPlanner<Self>> {
                static PLANNER: std::sync::OnceLock<std::sync::Mutex<realfft::RealFftPlanner<$t>>> =
                    std::sync::OnceLock::new();
                PLANNER.get_or_init(Default::default)
            }
        }
    };
}
#[cfg(cpu_kernels)]
real!(f32, 64);
#[cfg(cpu_kernels)]
real!(f64, 32);

/// The sliding dot product of `g`: `x` `[batch, cin, n]` and `w` `[cout, cin / groups, m]`
/// (NumPy orientation), both contiguous, give `[batch, cout, out_len]`.
///
/// Whatever the kernel, an output is NaN or ±inf exactly when NumPy's direct sum over the
/// overlapping terms is (see [`nonfinite`]). `guarded` is `Method::Auto`'s accuracy guard:
/// the FFT runs in `T` only where its error stays within a small multiple of the direct sum's
/// (else in f64, else the direct kernel runs); a forced FFT (`guarded == false`) keeps `T`.
#[cfg(cpu_kernels)]
pub(crate) fn conv<T: Real>(
    x: &[T],
    w: &[T],
    g: &Geometry,
    kernel: CpuKernel,
    guarded: bool,
) -> Vec<T> {
    assert_eq!(x.len(), g.batch * g.cin * g.n, "input buffer of {g:?}");
    assert_eq!(w.len(), g.cout * g.cpg() * g.m, "weight buffer of {g:?}");
    assert!(
        g.left < g.m && g.right < g.m,
        "padding beyond the kernel: {g:?}"
    );
    // wk: the kernel as the sliding dot product uses it.
    let wk: Vec<T> = if g.reversed {
        let mut wk = w.to_vec();
        wk.chunks_mut(g.m).for_each(<[T]>::reverse);
        wk
    } else {
        w.to_vec()
    };
    let (mut y, finite) = match kernel {
        CpuKernel::Direct => direct::conv(x, &wk, g),
        CpuKernel::Fft => {
            // The magnitudes at the signal's edges need only the inputs: when the FFT runs on
            // one thread and they are worth a hand-off to another (transforms of 4,096 points
            // or more, from M = 2,048: a hand-off costs about 10 µs, the edges of a 255-tap
            // kernel a few), they are computed there meanwhile. Only outputs of the full
            // output's first and last `m - 1` need it: `valid` mode has none of them.
            let edges_needed = guarded && nonfinite::edges_in_output(g);
            let hand_off = edges_needed
                && fft::serial::<T>(g, fft::Precision::Input)
                && crate::magnitudes::edge_len(g.n, g.m) >= HAND_OFF_EDGE_LEN;
            // The worker reads `x` and `wk` in place: a copy made here cost this thread about
            // 10 µs at M = 4,095 (12,000 values written over memory the worker had last read).
            let wk_ref = &wk;
            let job = hand_off
                .then(|| handoff::Handoff::start(move || nonfinite::edge_sums(x, wk_ref, g)));
            let run = if guarded {
                // Auto: the guard measures the inputs as the FFT reads them.
                fft::conv_guarded(x, &wk, g).map(|(guard, y)| (Some(guard), guard.precision, y))
            } else {
                let precision = fft::Precision::Input;
                Some((None, precision, fft::conv_in(x, &wk, g, precision)))
            };
            let edges = job.map(handoff::Handoff::finish);
            match run {
                // Inputs with NaN or ±inf, or the FFT cannot be accurate enough: direct.
                None => direct::conv(x, &wk, g),
                Some((guard, precision, (mut y, finite))) => {
                    if finite {
                        if let Some(guard) = guard.filter(|_| edges_needed) {
                            // The outputs at the signal's edges that the guard's rule does
                            // not cover, summed directly where their windows are too quiet.
                            let edges = edges.unwrap_or_else(|| nonfinite::edge_sums(x, &wk, g));
                            nonfinite::repair_edges(x, &wk, g, &mut y, &guard, &edges);
                        }
                        return y;
                    }
                    if nonfinite::all_finite(x) && nonfinite::all_finite(&wk) {
                        // Finite inputs, non-finite outputs: the sum overflows. NumPy's direct
                        // sum gives the infinities; the FFT's would be NaN or wrong.
                        return direct::conv(x, &wk, g).0;
                    }
                    // The FFT of the finite part, then NumPy's direct sum for the outputs that
                    // a NaN or an infinity reaches.
                    let (xs, ws) = (nonfinite::zeroed(x), nonfinite::zeroed(&wk));
                    let mut y = fft::conv_in(&xs, &ws, g, precision).0;
                    nonfinite::repair(x, &wk, g, &mut y);
                    return y;
                }
            }
        }
    };
    // The direct kernel's outputs are finite unless a term is NaN or infinite (with the zero
    // padding's terms, which NumPy's sum does not have) or the sum overflows.
    if !finite {
        nonfinite::repair(x, &wk, g, &mut y);
    }
    y
}

/// The direct kernel of `x` with `w` in `g` (the sliding product's orientation), with or
/// without the NaN/inf check of its sums (for the scan bench).
#[cfg(all(feature = "internals", cpu_kernels))]
pub(crate) fn direct_checking<T: Real>(x: &[T], w: &[T], g: &Geometry, check: bool) -> Vec<T> {
    direct::conv_checking(x, w, g, check).0
}

/// The FFT in `T` of `x` with `w` in `g`, with or without the NaN/inf check of its sums and
/// the guard's measurement of its blocks (for the scan bench).
#[cfg(all(feature = "internals", cpu_kernels))]
pub(crate) fn fft_measuring<T: Real>(
    x: &[T],
    w: &[T],
    g: &Geometry,
    check: bool,
    measure: bool,
) -> Vec<T> {
    fft::conv_measuring(x, w, g, check, measure)
}

/// The `len` values of `row` from signed position `start`, zeros outside it: a slice of `row`
/// when it lies inside, else a copy in `scratch`.
#[cfg(cpu_kernels)]
fn window<'a, T: Real>(row: &'a [T], start: isize, len: usize, scratch: &'a mut Vec<T>) -> &'a [T] {
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

#[cfg(all(test, cpu_kernels))]
mod tests {
    use super::*;

    /// A convolution geometry with any padding, the weight not reversed.
    fn geometry(x: [usize; 3], w: [usize; 3], groups: usize, pad: (usize, usize)) -> Geometry {
        Geometry::padded(x, w, groups, pad, false)
    }

    /// Burn's conv1d semantics, naively.
    fn naive(x: &[f32], w: &[f32], d: &Geometry) -> Vec<f64> {
        let flip = d.reversed;
        let (l, cpg, opg, m) = (d.out_len(), d.cin / d.groups, d.cout / d.groups, d.m);
        let mut out = vec![0.0f64; d.batch * d.cout * l];
        for b in 0..d.batch {
            for o in 0..d.cout {
                let g = o / opg;
                for j in 0..l {
                    let mut s = 0.0f64;
                    for i in 0..cpg {
                        for k in 0..m {
                            let t = (j + k) as isize - d.left as isize;
                            if t < 0 || t >= d.n as isize {
                                continue;
                            }
                            let kk = if flip { m - 1 - k } else { k };
                            s += f64::from(x[(b * d.cin + g * cpg + i) * d.n + t as usize])
                                * f64::from(w[(o * cpg + i) * m + kk]);
                        }
                    }
                    out[(b * d.cout + o) * l + j] = s;
                }
            }
        }
        out
    }

    fn values(len: usize, seed: u64) -> Vec<f32> {
        let mut s = seed;
        (0..len)
            .map(|_| {
                s = s
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                ((s >> 40) % 64) as f32 / 32.0 - 1.0
            })
            .collect()
    }

    #[cfg(cpu_grads)]
    /// `Σ_b Σ_j xpad[b, g·C + i, j + k] · gy[b, o, j]`: the weight gradient at tap `k` of the
    /// sliding-dot-product kernel, naively.
    fn naive_weight_grad(x: &[f32], gy: &[f32], d: &Geometry, o: usize, i: usize, k: usize) -> f64 {
        let (l, cpg, opg) = (d.out_len(), d.cin / d.groups, d.cout / d.groups);
        let g = o / opg;
        let mut s = 0.0f64;
        for b in 0..d.batch {
            for j in 0..l {
                let t = (j + k) as isize - d.left as isize;
                if (0..d.n as isize).contains(&t) {
                    s += f64::from(x[(b * d.cin + g * cpg + i) * d.n + t as usize])
                        * f64::from(gy[(b * d.cout + o) * l + j]);
                }
            }
        }
        s
    }

    #[test]
    fn both_kernels_match_the_naive_definition() {
        let mut count = 0;
        for (batch, cin, cout, groups) in [(1, 1, 1, 1), (2, 4, 6, 2), (3, 3, 3, 3), (1, 2, 3, 1)] {
            for n in [1usize, 2, 5, 17, 100, 1000] {
                for m in [1usize, 2, 3, 8, 31, 64] {
                    for (left, right) in [(0, 0), (m - 1, m - 1), ((m - 1) / 2, m / 2), (m - 1, 0)]
                    {
                        if n + left + right < m {
                            continue;
                        }
                        let d = geometry(
                            [batch, cin, n],
                            [cout, cin / groups, m],
                            groups,
                            (left, right),
                        );
                        let x = values(batch * cin * n, n as u64);
                        let w = values(cout * (cin / groups) * m, m as u64 + 7);
                        for flip in [false, true] {
                            let d = Geometry {
                                reversed: flip,
                                ..d
                            };
                            let want = naive(&x, &w, &d);
                            let x64: Vec<f64> = x.iter().map(|&v| f64::from(v)).collect();
                            let w64: Vec<f64> = w.iter().map(|&v| f64::from(v)).collect();
                            for kernel in [CpuKernel::Direct, CpuKernel::Fft] {
                                // f64: the same values, within f64 rounding.
                                let got64 = conv(&x64, &w64, &d, kernel, false);
                                for (j, (g, e)) in got64.iter().zip(&want).enumerate() {
                                    assert!(
                                        (g - e).abs() <= 1e-12 * (m * cin) as f64,
                                        "f64 {kernel:?} {d:?} index {j}: {g} vs {e}"
                                    );
                                }
                                let got = conv(&x, &w, &d, kernel, false);
                                assert_eq!(got.len(), want.len());
                                let tol = 1e-5 * (m * cin) as f64;
                                for (j, (g, e)) in got.iter().zip(&want).enumerate() {
                                    assert!(
                                        (f64::from(*g) - e).abs() <= tol,
                                        "{kernel:?} {d:?} flip {flip} index {j}: {g} vs {e}"
                                    );
                                }
                                count += 1;
                            }
                        }
                    }
                }
            }
        }
        assert!(count > 500);
    }

    #[cfg(cpu_grads)]
    #[test]
    fn gradients_match_their_definitions() {
        for (batch, cin, cout, groups) in [(2, 1, 1, 1), (2, 4, 6, 2), (1, 3, 3, 3)] {
            for (n, m) in [(9usize, 3usize), (9, 4), (4, 7), (50, 16)] {
                for (left, right) in [(0, 0), (m - 1, m - 1), ((m - 1) / 2, m / 2)] {
                    if n + left + right < m {
                        continue;
                    }
                    let d = geometry(
                        [batch, cin, n],
                        [cout, cin / groups, m],
                        groups,
                        (left, right),
                    );
                    let (cpg, l) = (cin / groups, d.out_len());
                    let x = values(batch * cin * n, 3);
                    let w = values(cout * cpg * m, 5);
                    let gy = values(batch * cout * l, 9);
                    for flip in [false, true] {
                        let d = Geometry {
                            reversed: flip,
                            ..d
                        };
                        // <gy, conv(x, w)> is bilinear: check both gradients through it.
                        let y = naive(&x, &w, &d);
                        let base: f64 = y.iter().zip(&gy).map(|(a, b)| a * f64::from(*b)).sum();
                        let dw = weight_grad(&x, &gy, &d, CpuKernel::Direct);
                        let dw_fft = weight_grad(&x, &gy, &d, CpuKernel::Fft);
                        for (k, (a, b)) in dw.iter().zip(&dw_fft).enumerate() {
                            assert!(
                                (a - b).abs() <= 1e-4 * (1.0 + a.abs()),
                                "dw FFT {d:?} {flip} tap {k}: {b} vs direct {a}"
                            );
                        }
                        for kernel in [CpuKernel::Direct, CpuKernel::Fft] {
                            let dx = input_grad(&gy, &w, &d, kernel, false);
                            let lin_x: f64 = dx
                                .iter()
                                .zip(&x)
                                .map(|(a, b)| f64::from(*a) * f64::from(*b))
                                .sum();
                            assert!(
                                (lin_x - base).abs() < 1e-3 * (1.0 + base.abs()),
                                "dx {kernel:?} {d:?} {flip}: {lin_x} vs {base}"
                            );
                        }
                        let lin_w: f64 = dw
                            .iter()
                            .zip(&w)
                            .map(|(a, b)| f64::from(*a) * f64::from(*b))
                            .sum();
                        assert!(
                            (lin_w - base).abs() < 1e-3 * (1.0 + base.abs()),
                            "dw {d:?} {flip}: {lin_w} vs {base}"
                        );
                        // And element by element for dw against the definition.
                        for o in 0..cout {
                            for i in 0..cpg {
                                for k in 0..m {
                                    let s = naive_weight_grad(&x, &gy, &d, o, i, k);
                                    let kk = if flip { m - 1 - k } else { k };
                                    let got = f64::from(dw[(o * cpg + i) * m + kk]);
                                    assert!(
                                        (got - s).abs() < 1e-4 * (1.0 + s.abs()),
                                        "dw[{o},{i},{kk}] {d:?} {flip}: {got} vs {s}"
                                    );
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    /// `Auto`'s edge check with its sums computed on another thread (a one-thread FFT, edge
    /// transforms of 8,192 points): a signal whose first and last samples are a million times
    /// quieter than the rest keeps each edge output within a small multiple of its own terms.
    #[test]
    fn quiet_edges_are_repaired_when_the_edge_sums_run_beside_the_fft() {
        let (n, m) = (10_000, 2_500);
        let d = Geometry {
            reversed: true,
            ..geometry([1, 1, n], [1, 1, m], 1, (m - 1, m - 1))
        };
        assert!(
            crate::magnitudes::edge_len(n, m) >= HAND_OFF_EDGE_LEN
                && fft::serial::<f32>(&d, fft::Precision::Input),
            "the test must take the hand-off"
        );
        let mut x = values(n, 5);
        for i in (0..40).chain(n - 40..n) {
            x[i] *= 1e-6;
        }
        let w = values(m, 9);
        let got = conv(&x, &w, &d, CpuKernel::Fft, true);
        let want = naive(&x, &w, &d);
        let own = naive(
            &x.iter().map(|v| v.abs()).collect::<Vec<_>>(),
            &w.iter().map(|v| v.abs()).collect::<Vec<_>>(),
            &d,
        );
        let l = d.out_len();
        for j in (0..60).chain(l - 60..l) {
            let err = (f64::from(got[j]) - want[j]).abs();
            let bound = 32.0 * f64::from(f32::EPSILON) * own[j];
            assert!(err <= bound, "output {j}: off by {err:e}, bound {bound:e}");
        }
    }

    /// The edge check runs only where the output holds edge outputs: never in `valid` mode.
    #[test]
    fn valid_outputs_hold_no_edge_outputs() {
        use crate::mode::{Mode, Operation};
        for (n, m) in [(1000, 255), (10, 10), (5, 9), (100, 1)] {
            for mode in Mode::NUMPY {
                let g = Geometry::numpy([1, 1, n], [1, 1, m], 1, mode, Operation::Convolution);
                let want = m > 1 && (mode != Mode::Valid || n < m);
                assert_eq!(nonfinite::edges_in_output(&g), want, "{mode} n {n} m {m}");
            }
        }
    }

    /// Calls big enough for the multi-threaded paths (`SERIAL_MACS`, `PARALLEL_OUTPUTS`,
    /// `SERIAL_FFT_POINTS`): direct tiles split across threads, FFT pieces sharing blocks at
    /// their edges, and the weight gradient over channel pairs.
    #[test]
    fn large_calls_take_the_parallel_paths_and_agree() {
        for (batch, cin, cout, groups, n, m) in [
            (1, 1, 1, 1, 200_000, 31),
            (2, 2, 4, 2, 40_000, 40),
            (1, 1, 1, 1, 300_000, 3),
        ] {
            let (left, right) = ((m - 1) / 2, m / 2);
            let d = Geometry {
                reversed: true,
                ..geometry(
                    [batch, cin, n],
                    [cout, cin / groups, m],
                    groups,
                    (left, right),
                )
            };
            let macs = batch * cout * (cin / groups) * m * d.out_len();
            let outputs = batch * cout * d.out_len();
            assert!(
                macs >= SERIAL_MACS || outputs >= PARALLEL_OUTPUTS,
                "{d:?} must not run serially"
            );
            let x = values(batch * cin * n, 11);
            let w = values(cout * (cin / groups) * m, 13);
            let want = naive(&x, &w, &d);
            for kernel in [CpuKernel::Direct, CpuKernel::Fft] {
                let got = conv(&x, &w, &d, kernel, false);
                let worst = got
                    .iter()
                    .zip(&want)
                    .map(|(g, e)| (f64::from(*g) - e).abs())
                    .fold(0.0, f64::max);
                assert!(worst <= 1e-4, "{kernel:?} {d:?}: max error {worst}");
            }
            // The weight gradient over channel pairs.
            #[cfg(cpu_grads)]
            {
                let gy = values(batch * cout * d.out_len(), 17);
                let dw = weight_grad(&x, &gy, &d, CpuKernel::Fft);
                let cpg = cin / groups;
                for o in 0..cout {
                    for i in 0..cpg {
                        for k in [0, m / 2, m - 1] {
                            let s = naive_weight_grad(&x, &gy, &d, o, i, k);
                            let got = f64::from(dw[(o * cpg + i) * m + (m - 1 - k)]);
                            assert!(
                                (got - s).abs() < 1e-3 * (1.0 + s.abs()),
                                "dw {d:?}: {got} vs {s}"
                            );
                        }
                    }
                }
            }
        }
    }
}
