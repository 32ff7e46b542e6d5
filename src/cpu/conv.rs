//! The forward entry of the host kernels: the sliding dot product of a geometry by the plan's
//! kernel, with NumPy's NaN and infinities ([`crate::nonfinite::host`]) and, under
//! `Method::Auto`, the FFT's accuracy guard ([`crate::guard`]).

use super::real::Real;
use super::{direct, fft, handoff};
use crate::geometry::Geometry;
use crate::guard::host as accuracy;
use crate::nonfinite::host as nonfinite;
use crate::plan::{FftLens, HostKernel};

/// The length of `Auto`'s edge transforms from which they run on another thread while a
/// one-thread FFT runs (see [`conv`]).
const HAND_OFF_EDGE_LEN: usize = 4096;

/// The sliding dot product of `g`: `x` `[batch, cin, n]` and `w` `[cout, cin / groups, m]`
/// (NumPy orientation), both contiguous, give `[batch, cout, out_len]`.
///
/// Whatever the kernel, an output is NaN or ±inf exactly when NumPy's direct sum over the
/// overlapping terms is (see [`nonfinite`]). `guarded` is `Method::Auto`'s accuracy guard:
/// the FFT runs in `T` only where its error stays within a small multiple of the direct sum's
/// (else in f64, else the direct kernel runs); a forced FFT (`guarded == false`) keeps `T`.
pub(crate) fn conv<T: Real>(
    x: &[T],
    w: &[T],
    g: &Geometry,
    kernel: HostKernel,
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
    match kernel {
        HostKernel::Direct => direct_numpy(x, &wk, g),
        HostKernel::Fft(lens) => fft_numpy(x, &wk, g, lens, guarded),
    }
}

/// The direct kernel with NumPy's NaN and infinities. Its outputs are finite unless a term is
/// NaN or infinite (with the zero padding's terms, which NumPy's sum does not have) or the sum
/// overflows; those are summed again as NumPy does.
fn direct_numpy<T: Real>(x: &[T], wk: &[T], g: &Geometry) -> Vec<T> {
    let (mut y, finite) = direct::conv(x, wk, g);
    if !finite {
        nonfinite::repair(x, wk, g, &mut y);
    }
    y
}

/// The FFT kernel with NumPy's NaN and infinities and, when `guarded`, `Auto`'s accuracy
/// guard (the FFT in `T`, else in f64, else the direct kernel) and edge repair.
fn fft_numpy<T: Real>(x: &[T], wk: &[T], g: &Geometry, lens: FftLens, guarded: bool) -> Vec<T> {
    // The magnitudes at the signal's edges need only the inputs: when the FFT runs on one
    // thread and they are worth a hand-off to another (transforms of 4,096 points or more,
    // from M = 2,048: a hand-off costs about 10 µs, the edges of a 255-tap kernel a few), they
    // are computed there meanwhile. Only outputs of the full output's first and last `m - 1`
    // need it: `valid` mode has none of them.
    let edges_needed = guarded && accuracy::edges_in_output(g);
    let hand_off = edges_needed
        && fft::serial(g, lens, accuracy::Precision::Input)
        && crate::guard::edges::edge_len(g.n, g.m) >= HAND_OFF_EDGE_LEN;
    // The worker reads `x` and `wk` in place: a copy made here cost this thread about 10 µs at
    // M = 4,095 (12,000 values written over memory the worker had last read).
    let job = hand_off.then(|| handoff::Handoff::start(move || accuracy::edge_sums(x, wk, g)));
    let run = if guarded {
        // Auto: the guard measures the inputs as the FFT reads them.
        fft::conv_guarded(x, wk, g, lens).map(|(guard, y)| (Some(guard), guard.precision, y))
    } else {
        let precision = accuracy::Precision::Input;
        Some((None, precision, fft::conv_in(x, wk, g, lens, precision)))
    };
    let edges = job.map(handoff::Handoff::finish);
    // Inputs with NaN or ±inf, or the FFT cannot be accurate enough: direct.
    let Some((guard, precision, (mut y, finite))) = run else {
        return direct_numpy(x, wk, g);
    };
    if finite {
        if let Some(guard) = guard.filter(|_| edges_needed) {
            // The outputs at the signal's edges that the guard's rule does not cover, summed
            // directly where their windows are too quiet.
            let edges = edges.unwrap_or_else(|| accuracy::edge_sums(x, wk, g));
            accuracy::repair_edges(x, wk, g, &mut y, &guard, &edges);
        }
        return y;
    }
    if nonfinite::all_finite(x) && nonfinite::all_finite(wk) {
        // Finite inputs, non-finite outputs: the sum overflows. NumPy's direct sum gives the
        // infinities; the FFT's would be NaN or wrong.
        return direct::conv(x, wk, g).0;
    }
    // The FFT of the finite part, then NumPy's direct sum for the outputs that a NaN or an
    // infinity reaches.
    let (xs, ws) = (nonfinite::zeroed(x), nonfinite::zeroed(wk));
    let mut y = fft::conv_in(&xs, &ws, g, lens, precision).0;
    nonfinite::repair(x, wk, g, &mut y);
    y
}

/// The direct kernel of `x` with `w` in `g` (the sliding product's orientation), with or
/// without the NaN/inf check of its sums (for the scan bench).
#[cfg(feature = "internals")]
pub(crate) fn direct_checking<T: Real>(x: &[T], w: &[T], g: &Geometry, check: bool) -> Vec<T> {
    direct::conv_checking(x, w, g, check).0
}

/// The FFT in `T` of `x` with `w` in `g`, with or without the NaN/inf check of its sums and
/// the guard's measurement of its blocks (for the scan bench).
#[cfg(feature = "internals")]
pub(crate) fn fft_measuring<T: Real>(
    x: &[T],
    w: &[T],
    g: &Geometry,
    check: bool,
    measure: bool,
) -> Vec<T> {
    let lens = crate::plan::FftLens::of(g, T::dtype());
    fft::conv_measuring(x, w, g, lens.input, check, measure)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cost::{PARALLEL_OUTPUTS, SERIAL_MACS};
    #[cfg(cpu_grads)]
    use crate::cpu::{input_grad, weight_grad};
    use crate::plan::CpuKernel;
    use burn::tensor::DType;

    /// `kind` with the plan's parameters for `d` in `T`.
    fn host<T: Real>(kind: CpuKernel, d: &Geometry) -> HostKernel {
        HostKernel::of(kind, d, T::dtype())
    }

    /// `kind` with the plan's parameters for the weight gradient of `d` in `T`.
    #[cfg(cpu_grads)]
    fn weight_host<T: Real>(kind: CpuKernel, d: &Geometry) -> HostKernel {
        HostKernel::for_weight_grad(kind, d, T::dtype())
    }

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
                                let got64 = conv(&x64, &w64, &d, host::<f64>(kernel, &d), false);
                                for (j, (g, e)) in got64.iter().zip(&want).enumerate() {
                                    assert!(
                                        (g - e).abs() <= 1e-12 * (m * cin) as f64,
                                        "f64 {kernel:?} {d:?} index {j}: {g} vs {e}"
                                    );
                                }
                                let got = conv(&x, &w, &d, host::<f32>(kernel, &d), false);
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
                        let dw = weight_grad(&x, &gy, &d, HostKernel::Direct);
                        let dw_fft =
                            weight_grad(&x, &gy, &d, weight_host::<f32>(CpuKernel::Fft, &d));
                        for (k, (a, b)) in dw.iter().zip(&dw_fft).enumerate() {
                            assert!(
                                (a - b).abs() <= 1e-4 * (1.0 + a.abs()),
                                "dw FFT {d:?} {flip} tap {k}: {b} vs direct {a}"
                            );
                        }
                        for kernel in [CpuKernel::Direct, CpuKernel::Fft] {
                            let dx = input_grad(
                                &gy,
                                &w,
                                &d,
                                host::<f32>(kernel, &d.input_grad()),
                                false,
                            );
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
            crate::guard::edges::edge_len(n, m) >= HAND_OFF_EDGE_LEN
                && fft::serial(
                    &d,
                    crate::plan::FftLens::of(&d, DType::F32),
                    accuracy::Precision::Input
                ),
            "the test must take the hand-off"
        );
        let mut x = values(n, 5);
        for i in (0..40).chain(n - 40..n) {
            x[i] *= 1e-6;
        }
        let w = values(m, 9);
        let got = conv(&x, &w, &d, host::<f32>(CpuKernel::Fft, &d), true);
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
                assert_eq!(accuracy::edges_in_output(&g), want, "{mode} n {n} m {m}");
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
                let got = conv(&x, &w, &d, host::<f32>(kernel, &d), false);
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
                let dw = weight_grad(&x, &gy, &d, weight_host::<f32>(CpuKernel::Fft, &d));
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
