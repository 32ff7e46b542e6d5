//! `burn_npconv::signal` against SciPy 1.17 (tests/fixtures/scipy_cases.json) on every backend
//! and method, and every fast path against the direct sum and a naive oracle.

use burn::tensor::{DType, Device, Tensor, TensorData};
use burn_npconv::signal::{self, Options};
use burn_npconv::{Boundary, ConvolveError, Method, Mode, Operation};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

use crate::common::scipy::{self, Array, Case};

/// An array as a tensor of rank `D` in `dtype` on `device`.
pub fn tensor<const D: usize>(a: &Array, dtype: DType, device: &Device) -> Tensor<D> {
    let shape: [usize; D] = a.shape.clone().try_into().expect("the array's rank");
    match dtype {
        DType::F64 => Tensor::from_data(TensorData::new(a.data.clone(), shape), (device, dtype)),
        _ => {
            let data: Vec<f32> = a.data.iter().map(|&v| v as f32).collect();
            Tensor::<D>::from_data(TensorData::new(data, shape), device).cast(dtype)
        }
    }
}

/// A tensor's values as an array of f64.
pub fn read<const D: usize>(t: Tensor<D>) -> Array {
    let shape = t.dims().to_vec();
    let data = match t.dtype() {
        DType::F64 => t.into_data().iter::<f64>().collect(),
        _ => t
            .cast(DType::F32)
            .into_data()
            .iter::<f32>()
            .map(f64::from)
            .collect(),
    };
    Array { shape, data }
}

/// `func` of SciPy's name on `in1` and `in2` with `options` (`convolve2d` / `correlate2d`
/// with `options.boundary`, `Method::Auto`), in `dtype`: the output as an array of f64.
pub fn call(
    func: &str,
    in1: &Array,
    in2: &Array,
    options: Options,
    dtype: DType,
    device: &Device,
) -> Result<Array, ConvolveError> {
    fn nd<const D: usize>(
        func: &str,
        in1: &Array,
        in2: &Array,
        options: Options,
        dtype: DType,
        device: &Device,
    ) -> Result<Array, ConvolveError> {
        let (a, b) = (
            tensor::<D>(in1, dtype, device),
            tensor::<D>(in2, dtype, device),
        );
        match func {
            "convolve" => signal::convolve_with(a, b, options).map(read),
            "correlate" => signal::correlate_with(a, b, options).map(read),
            other => panic!("not an N-D function: {other}"),
        }
    }
    match (func, in1.shape.len()) {
        ("convolve2d" | "correlate2d", 2) => {
            let (a, b) = (
                tensor::<2>(in1, dtype, device),
                tensor::<2>(in2, dtype, device),
            );
            let f = if func == "convolve2d" {
                signal::convolve2d
            } else {
                signal::correlate2d
            };
            f(a, b, options.mode, options.boundary).map(read)
        }
        (_, 1) => nd::<1>(func, in1, in2, options, dtype, device),
        (_, 2) => nd::<2>(func, in1, in2, options, dtype, device),
        (_, 3) => nd::<3>(func, in1, in2, options, dtype, device),
        (_, rank) => panic!("rank {rank}"),
    }
}

pub fn max_abs(v: &[f64]) -> f64 {
    v.iter()
        .filter(|x| x.is_finite())
        .fold(0.0, |m, x| m.max(x.abs()))
}

/// Asserts `got` is `want`: NaN and infinities exactly, finite values within `tol`.
pub fn assert_matches(got: &Array, want: &Array, tol: f64, what: &str) {
    assert_eq!(got.shape, want.shape, "{what}: shape");
    for (i, (g, e)) in got.data.iter().zip(&want.data).enumerate() {
        if !e.is_finite() || !g.is_finite() {
            assert!(
                (e.is_nan() && g.is_nan()) || e == g,
                "{what}: index {i}: got {g}, SciPy {e}\n got {:?}\nwant {:?}",
                got.data,
                want.data
            );
        } else {
            assert!(
                (g - e).abs() <= tol,
                "{what}: index {i}: got {g}, SciPy {e} (tolerance {tol:e})"
            );
        }
    }
}

/// The f32 tolerance of a case: f32 rounding of sums of `taps` products of at most
/// `max|in1| · max|in2|`.
pub fn f32_tolerance(case: &Case) -> f64 {
    let taps: usize = case
        .in1
        .shape
        .iter()
        .zip(&case.in2.shape)
        .map(|(a, b)| *a.min(b))
        .product();
    let scale = max_abs(&case.in1.data) * max_abs(&case.in2.data);
    1e-6 + 8.0 * f64::from(f32::EPSILON) * taps as f64 * scale.max(1.0)
}

/// Every case of `cases` by every method (the 2-D functions take `Auto`) in `dtype`, within
/// `tol(case)`.
fn check_cases(cases: &[Case], dtype: DType, device: &Device, tol: impl Fn(&Case) -> f64) {
    for case in cases {
        let methods: &[Method] = if case.func.ends_with("2d") {
            &[Method::Auto]
        } else {
            &Method::ALL
        };
        for &method in methods {
            let options = Options::new(case.mode)
                .with_method(method)
                .with_boundary(case.boundary);
            let what = format!(
                "{}({:?}, {:?}, {}, {}, {method}) in {dtype:?}",
                case.func, case.in1.shape, case.in2.shape, case.mode, case.boundary
            );
            match (
                &case.out,
                call(&case.func, &case.in1, &case.in2, options, dtype, device),
            ) {
                (Ok(want), Ok(got)) => assert_matches(&got, want, tol(case), &what),
                (Err(text), Err(e)) => {
                    assert!(e.to_string().starts_with(text.as_str()), "{what}: {e}")
                }
                (want, got) => panic!("{what}: SciPy {want:?}, got {got:?}"),
            }
        }
    }
}

on_every_backend! {
    /// `convolve` and `correlate` of ranks 1 to 3, every mode, kernels smaller, larger and
    /// mixed per axis, even and odd: SciPy's values, by every method.
    fn scipy_convolve_and_correlate(device: &Device) {
        check_cases(&scipy::get().nd, DType::F32, device, f32_tolerance);
    }

    /// Full float64 inputs: within 1e-10 of SciPy's output scale, by every method.
    fn scipy_float64(device: &Device) {
        if !device.supports_dtype(DType::F64) {
            return;
        }
        check_cases(&scipy::get().f64, DType::F64, device, |case| {
            1e-10 * case.out.as_ref().map_or(1.0, |out| max_abs(&out.data).max(1e-300))
        });
    }

    /// `convolve2d` and `correlate2d` with fill (0 and 1.5), wrap and symm, every mode.
    fn scipy_convolve2d_and_correlate2d(device: &Device) {
        check_cases(&scipy::get().two_d, DType::F32, device, f32_tolerance);
    }

    /// NaN and infinities in either input land where SciPy's direct sum puts them, by every
    /// method.
    fn scipy_nan_and_infinities(device: &Device) {
        check_cases(&scipy::get().nonfinite, DType::F32, device, f32_tolerance);
    }

    /// SciPy's `valid` rule is an error with its text and both shapes; an empty input is an
    /// error naming it (SciPy has no consistent answer there); where SciPy computes, the
    /// values are SciPy's.
    fn scipy_errors(device: &Device) {
        for case in &scipy::get().errors {
            let options = Options::new(case.mode);
            let got = call(&case.func, &case.in1, &case.in2, options, DType::F32, device);
            let empty = case.in1.shape.contains(&0) || case.in2.shape.contains(&0);
            let what = format!("{}({:?}, {:?}, {})", case.func, case.in1.shape, case.in2.shape, case.mode);
            match (&case.out, got) {
                (_, Err(ConvolveError::EmptyInput { argument, shape })) if empty => {
                    let want = if case.in1.shape.contains(&0) { &case.in1 } else { &case.in2 };
                    assert_eq!((argument == "in1", &shape), (case.in1.shape.contains(&0), &want.shape), "{what}");
                }
                (Err(scipy_text), Err(e)) => {
                    assert!(matches!(e, ConvolveError::ValidShapes { .. }), "{what}: {e}");
                    let text = e.to_string();
                    assert!(text.starts_with(scipy_text.as_str()), "{what}: {text}");
                    assert!(text.contains(&format!("{:?}", case.in1.shape)) && text.contains(&format!("{:?}", case.in2.shape)), "{what}: {text}");
                }
                (Ok(want), Ok(got)) => assert_matches(&got, want, 1e-5, &what),
                (want, got) => panic!("{what}: SciPy {want:?}, got {got:?}"),
            }
        }
    }

    /// Ranks beyond 3, mismatched devices and unsupported dtypes are errors, not panics.
    fn signal_rank_and_dtype_errors(device: &Device) {
        let a = Tensor::<4>::ones([2, 2, 2, 2], device);
        let err = signal::convolve(a.clone(), a, Mode::Full).unwrap_err();
        assert_eq!(err.to_string(), "burn_npconv::signal computes tensors of rank 1 to 3, got rank 4");
        // Mixed dtypes promote like np.result_type.
        if device.supports_dtype(DType::F64) {
            let a = Tensor::<2>::ones([3, 3], (device, DType::F32));
            let b = Tensor::<2>::ones([2, 2], (device, DType::F64));
            let y = signal::convolve(a, b, Mode::Full).unwrap();
            assert_eq!(y.dtype(), DType::F64);
            assert_eq!(y.into_data().iter::<f64>().sum::<f64>(), 36.0);
        }
    }
}

/// The naive oracle: SciPy's definition, `op(np.pad(in1, pads, rule), in2, "valid")` with the
/// window SciPy's `same` centres (correlate2d's rounding up), the `valid` swap, and `full`
/// and `causal` per axis, summed term by term in f64. Finite inputs (the swaps of SciPy's
/// direct sum only move NaN).
fn oracle(
    in1: &Array,
    in2: &Array,
    op: Operation,
    mode: Mode,
    boundary: Boundary,
    correlate2d: bool,
) -> Array {
    let rank = in1.shape.len();
    let covers = |a: &[usize], b: &[usize]| a.iter().zip(b).all(|(x, y)| x >= y);
    let swap = mode == Mode::Valid && !covers(&in1.shape, &in2.shape);
    // Full output of `A ⋆ K` per axis, then the window.
    let (a, k, reverse) = if swap {
        (in2, in1, op == Operation::Correlation)
    } else {
        (in1, in2, false)
    };
    let conv = op == Operation::Convolution;
    let strides = |s: &[usize]| {
        let mut st = vec![1; s.len()];
        for i in (0..s.len().saturating_sub(1)).rev() {
            st[i] = st[i + 1] * s[i + 1];
        }
        st
    };
    let (sa, sk) = (strides(&a.shape), strides(&k.shape));
    // Window per axis in `full` coordinates of the correlation of A with K (flipped for a
    // convolution).
    let window: Vec<(usize, usize)> = (0..rank)
        .map(|d| {
            let (n, m) = (a.shape[d], k.shape[d]);
            match mode {
                Mode::Full => (0, n + m - 1),
                Mode::Causal => (0, n),
                Mode::Valid => (m - 1, n - m + 1),
                Mode::Same if correlate2d => (m / 2, n),
                Mode::Same => ((m - 1) / 2, n),
            }
        })
        .collect();
    let out_shape: Vec<usize> = window.iter().map(|w| w.1).collect();
    let total: usize = out_shape.iter().product();
    let so = strides(&out_shape);
    let mut data = Vec::with_capacity(total);
    for flat in 0..total {
        let idx: Vec<usize> = (0..rank).map(|d| (flat / so[d]) % out_shape[d]).collect();
        let mut sum = 0.0f64;
        let taps: usize = k.shape.iter().product();
        for t in 0..taps {
            let kt: Vec<usize> = (0..rank).map(|d| (t / sk[d]) % k.shape[d]).collect();
            // The kernel as slid: flipped for a convolution.
            let kv = if conv {
                let flipped: usize = (0..rank).map(|d| (k.shape[d] - 1 - kt[d]) * sk[d]).sum();
                k.data[flipped]
            } else {
                k.data[t]
            };
            // A's position: full index f = i + start reads A[f - (m - 1) + k].
            let mut pos = 0usize;
            let mut constant = None;
            for d in 0..rank {
                let q = (idx[d] + window[d].0 + kt[d]) as isize - (k.shape[d] as isize - 1);
                match boundary.source(q, a.shape[d]) {
                    Some(s) => pos += s * sa[d],
                    None => constant = Some(boundary.constant().unwrap()),
                }
            }
            let av = constant.unwrap_or(a.data[pos]);
            sum += av * kv;
        }
        data.push(sum);
    }
    if reverse {
        data.reverse();
    }
    Array {
        shape: out_shape,
        data,
    }
}

/// A random case: rank 1 to 3, sizes 1 to 6 per axis, values of wide magnitudes.
fn arb_case() -> impl Strategy<Value = (Array, Array)> {
    (1usize..=3)
        .prop_flat_map(|rank| {
            (
                proptest::collection::vec(1usize..=6, rank),
                proptest::collection::vec(1usize..=6, rank),
            )
        })
        .prop_flat_map(|(s1, s2)| {
            let (n1, n2) = (s1.iter().product::<usize>(), s2.iter().product::<usize>());
            let value =
                (-1.0f64..1.0, -3i32..=3).prop_map(|(v, e)| f64::from((v * 10f64.powi(e)) as f32));
            (
                Just(s1),
                Just(s2),
                proptest::collection::vec(value.clone(), n1),
                proptest::collection::vec(value, n2),
            )
        })
        .prop_map(|(s1, s2, d1, d2)| {
            (
                Array {
                    shape: s1,
                    data: d1,
                },
                Array {
                    shape: s2,
                    data: d2,
                },
            )
        })
}

pub const BOUNDARIES: [Boundary; 6] = [
    Boundary::Zeros,
    Boundary::Constant(1.5),
    Boundary::Reflect,
    Boundary::Symmetric,
    Boundary::Edge,
    Boundary::Wrap,
];

on_every_backend! {
    /// Every function, mode, boundary and method against the naive oracle, on random shapes
    /// (kernels larger, smaller and mixed) of ranks 1 to 3.
    fn signal_matches_the_oracle(device: &Device) {
        let mut runner = TestRunner::new(Config { cases: 24, ..Config::default() });
        runner
            .run(&arb_case(), |(in1, in2)| {
                // The constant boundary's 1.5 is a factor too.
                let scale = max_abs(&in1.data).max(1.5) * max_abs(&in2.data);
                let taps: usize = in2.shape.iter().product::<usize>().max(in1.shape.iter().product());
                let tol = 1e-6 + 8.0 * f64::from(f32::EPSILON) * taps as f64 * scale;
                let covers = |a: &[usize], b: &[usize]| a.iter().zip(b).all(|(x, y)| x >= y);
                let valid_ok = covers(&in1.shape, &in2.shape) || covers(&in2.shape, &in1.shape);
                for (func, op) in [
                    ("convolve", Operation::Convolution),
                    ("correlate", Operation::Correlation),
                    ("convolve2d", Operation::Convolution),
                    ("correlate2d", Operation::Correlation),
                ] {
                    let two_d = func.ends_with("2d");
                    if two_d && in1.shape.len() != 2 {
                        continue;
                    }
                    for mode in Mode::ALL {
                        if mode == Mode::Valid && !valid_ok {
                            continue;
                        }
                        for boundary in BOUNDARIES {
                            let methods: &[Method] = if two_d { &[Method::Auto] } else { &Method::ALL };
                            let want = oracle(&in1, &in2, op, mode, boundary, func == "correlate2d");
                            for &method in methods {
                                let options = Options::new(mode).with_method(method).with_boundary(boundary);
                                let got = call(func, &in1, &in2, options, DType::F32, device).unwrap();
                                assert_matches(&got, &want, tol, &format!("{func}({:?}, {:?}, {mode}, {boundary}, {method})", in1.shape, in2.shape));
                            }
                        }
                    }
                }
                Ok(())
            })
            .unwrap();
    }

    /// NaN, infinities and values near overflow: the FFT and Auto give the direct sum's
    /// non-finite outputs exactly, and its finite ones within rounding.
    fn signal_fast_paths_keep_nan_and_infinities(device: &Device) {
        let special = prop_oneof![
            4 => (-1.0f64..1.0).prop_map(|v| f64::from(v as f32)),
            1 => Just(f64::NAN),
            1 => Just(f64::INFINITY),
            1 => Just(f64::NEG_INFINITY),
            1 => Just(0.0),
            1 => Just(f64::from(f32::MAX) / 2.0),
        ];
        let case = (1usize..=3)
            .prop_flat_map(|rank| {
                (
                    proptest::collection::vec(1usize..=5, rank),
                    proptest::collection::vec(1usize..=5, rank),
                )
            })
            .prop_flat_map(move |(s1, s2)| {
                let (n1, n2) = (s1.iter().product::<usize>(), s2.iter().product::<usize>());
                (
                    Just(s1),
                    Just(s2),
                    proptest::collection::vec(special.clone(), n1),
                    proptest::collection::vec(special.clone(), n2),
                )
            });
        let mut runner = TestRunner::new(Config { cases: 24, ..Config::default() });
        runner
            .run(&case, |(s1, s2, d1, d2)| {
                let in1 = Array { shape: s1, data: d1 };
                let in2 = Array { shape: s2, data: d2 };
                let covers = |a: &[usize], b: &[usize]| a.iter().zip(b).all(|(x, y)| x >= y);
                let valid_ok = covers(&in1.shape, &in2.shape) || covers(&in2.shape, &in1.shape);
                for func in ["convolve", "correlate"] {
                    for mode in Mode::ALL {
                        if mode == Mode::Valid && !valid_ok {
                            continue;
                        }
                        let run = |method| {
                            call(func, &in1, &in2, Options::new(mode).with_method(method), DType::F32, device).unwrap()
                        };
                        let direct = run(Method::Direct);
                        let scale = max_abs(&direct.data).max(1.0);
                        // The forced FFT's error is in proportion to the largest factors
                        // (values near overflow included), not to each output's own terms.
                        let taps = in1.data.len().max(in2.data.len()) as f64;
                        let fft_scale = taps * max_abs(&in1.data) * max_abs(&in2.data);
                        for (method, tol) in [(Method::Fft, 1e-5 * fft_scale + 1e-4 * scale), (Method::Auto, 1e-4 * scale)] {
                            let got = run(method);
                            let what = format!("{func}({:?} {:?}, {:?} {:?}, {mode}, {method})", in1.shape, in1.data, in2.shape, in2.data);
                            assert_matches(&got, &direct, tol, &what);
                        }
                    }
                }
                Ok(())
            })
            .unwrap();
    }
}

/// `scipy.signal.convolve(a, k, "same")` in 2-D exactly (compensated f64 sums of the same
/// values), and each output's `S_i = Σ |a| |k|` over its own terms.
fn exact_same_2d(a: &Array, k: &Array) -> (Vec<f64>, Vec<f64>) {
    let ([n0, n1], [m0, m1]) = ([a.shape[0], a.shape[1]], [k.shape[0], k.shape[1]]);
    let (s0, s1) = ((m0 - 1) / 2, (m1 - 1) / 2);
    let mut out = Vec::with_capacity(n0 * n1);
    let mut mags = Vec::with_capacity(n0 * n1);
    for i0 in 0..n0 {
        for i1 in 0..n1 {
            let (f0, f1) = (i0 + s0, i1 + s1); // full-output index
            let mut sum = crate::common::ExactSum::default();
            for t0 in f0.saturating_sub(m0 - 1)..=f0.min(n0 - 1) {
                for t1 in f1.saturating_sub(m1 - 1)..=f1.min(n1 - 1) {
                    sum.add(a.data[t0 * n1 + t1] * k.data[(f0 - t0) * m1 + (f1 - t1)]);
                }
            }
            let (value, mag) = sum.value_and_magnitude();
            out.push(value);
            mags.push(mag);
        }
    }
    (out, mags)
}

/// Seeded noise in (-1, 1), rounded to f32.
fn noise(len: usize, seed: u64) -> Vec<f64> {
    crate::common::seeded(seed)
        .take(len)
        .map(|s| f64::from((2.0 * ((s >> 11) as f64 / (1u64 << 53) as f64) - 1.0) as f32))
        .collect()
}

on_every_backend! {
    /// `Method::Auto` on images where the host takes the FFT (128x128, a 31x31 kernel): every
    /// output within 32 ε of its own terms' magnitudes, whatever the magnitudes (a 1e7 spike in
    /// unit noise, a quiet quarter at 1e-6, 12 decades of magnitudes, an exact silence), in f32
    /// and f64.
    fn auto_keeps_the_accuracy_of_each_output(device: &Device) {
        let (n, m) = (128, 31);
        let kernel = Array { shape: vec![m, m], data: noise(m * m, 11) };
        let mut spike = noise(n * n, 12);
        spike[n * n / 2 + n / 2] = 1e7;
        let quiet: Vec<f64> = noise(n * n, 13)
            .into_iter()
            .enumerate()
            .map(|(i, x)| if (i / n) < n / 2 && (i % n) < n / 2 { f64::from((x * 1e-6) as f32) } else { x })
            .collect();
        let log_uniform: Vec<f64> = noise(n * n, 14)
            .into_iter()
            .zip(noise(n * n, 15))
            .map(|(u, s)| f64::from((s.signum() * 10f64.powf(6.0 * u)) as f32))
            .collect();
        let mut silence = noise(n * n, 16);
        for (i, v) in silence.iter_mut().enumerate() {
            if (30..90).contains(&(i / n)) && (30..90).contains(&(i % n)) {
                *v = 0.0;
            }
        }
        let images = [
            ("noise", noise(n * n, 17)),
            ("a spike of 1e7 in unit noise", spike),
            ("a quiet quarter (1e-6)", quiet),
            ("12 decades of magnitudes", log_uniform),
            ("a 60x60 silence", silence),
        ];
        for dtype in [DType::F32, DType::F64] {
            if !device.supports_dtype(dtype) {
                continue;
            }
            let eps = if dtype == DType::F64 { f64::EPSILON } else { f64::from(f32::EPSILON) };
            for (name, data) in &images {
                let image = Array { shape: vec![n, n], data: data.clone() };
                let (exact, mags) = exact_same_2d(&image, &kernel);
                let got = call("convolve", &image, &kernel, Options::new(Mode::Same), dtype, device).unwrap();
                let mut worst = 0.0f64;
                for (i, ((g, e), s)) in got.data.iter().zip(&exact).zip(&mags).enumerate() {
                    let err = (g - e).abs();
                    if *s == 0.0 {
                        assert_eq!(err, 0.0, "{name} in {dtype:?}: output {i} is {g} where every term is 0");
                        continue;
                    }
                    worst = worst.max(err / (eps * s));
                }
                assert!(worst <= 32.0, "{name} in {dtype:?}: an output is {worst:.1} ε of its own terms away");
            }
        }
    }
}
