//! `signal::convolve_separable` and `correlate_separable`: SciPy 1.17's values for the kernel
//! the factors stand for (tests/fixtures/scipy_cases.json, "separable"), and the whole
//! kernel's direct sum with NaN, infinities, values near overflow and products of factors
//! outside the normal range, on every backend and method.

use burn::tensor::{DType, Device, Tensor};
use burn_npconv::signal::{self, Options};
use burn_npconv::{ConvolveError, Method, Mode};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

use crate::common::scipy::{self, Array};
use crate::signal::{BOUNDARIES, assert_matches, f32_tolerance, max_abs, read, tensor};

/// `func` (`"convolve"` or `"correlate"`) of `in1` with the kernel whose factors are
/// `factors`, in `dtype`.
fn call(
    func: &str,
    in1: &Array,
    factors: &[Array],
    options: Options,
    dtype: DType,
    device: &Device,
) -> Result<Array, ConvolveError> {
    fn nd<const D: usize>(
        func: &str,
        in1: &Array,
        factors: &[Array],
        options: Options,
        dtype: DType,
        device: &Device,
    ) -> Result<Array, ConvolveError> {
        let a = tensor::<D>(in1, dtype, device);
        let f: [Tensor<1>; D] = core::array::from_fn(|i| tensor::<1>(&factors[i], dtype, device));
        match func {
            "convolve" => signal::convolve_separable(a, f, options).map(read),
            "correlate" => signal::correlate_separable(a, f, options).map(read),
            other => panic!("not a separable function: {other}"),
        }
    }
    match in1.shape.len() {
        1 => nd::<1>(func, in1, factors, options, dtype, device),
        2 => nd::<2>(func, in1, factors, options, dtype, device),
        3 => nd::<3>(func, in1, factors, options, dtype, device),
        rank => panic!("rank {rank}"),
    }
}

/// The kernel of `factors` as the tests' f32 arithmetic forms it, `(k0 · k1) · k2`.
fn outer_f32(factors: &[Array]) -> Array {
    let mut data = vec![1.0f32];
    let mut shape = Vec::new();
    for f in factors {
        data = data
            .iter()
            .flat_map(|&x| f.data.iter().map(move |&v| x * v as f32))
            .collect();
        shape.push(f.data.len());
    }
    // A leading factor `x = 1.0` is exact: `(1 · k0) · k1 = k0 · k1`.
    Array {
        shape,
        data: data.into_iter().map(f64::from).collect(),
    }
}

on_every_backend! {
    /// SciPy's `convolve` / `correlate` given the factors' outer product, every method, f32 and
    /// (where the device has it) f64 at 1e-10 of the output's scale: kernels smaller and
    /// larger than `in1`, ranks 1 to 3, NaN and infinities in `in1` and in a factor.
    fn scipy_separable(device: &Device) {
        let cases = &scipy::get().separable;
        assert!(!cases.is_empty());
        let mut dtypes = vec![DType::F32];
        if device.supports_dtype(DType::F64) {
            dtypes.push(DType::F64);
        }
        for case in cases {
            for &dtype in &dtypes {
                for method in Method::ALL {
                    let options = Options::new(case.mode).with_method(method);
                    let what = format!(
                        "{}_separable({:?}, {:?}, {}, {method}) in {dtype:?}",
                        case.func, case.in1.shape, case.in2.shape, case.mode
                    );
                    let got = call(&case.func, &case.in1, &case.factors, options, dtype, device);
                    match (&case.out, got) {
                        (Ok(want), Ok(got)) => {
                            let tol = match dtype {
                                DType::F64 => 1e-10 * max_abs(&want.data).max(1.0),
                                _ => f32_tolerance(case),
                            };
                            assert_matches(&got, want, tol, &what);
                        }
                        (Err(text), Err(e)) => assert!(e.to_string().starts_with(text.as_str()), "{what}: {e}"),
                        (want, got) => panic!("{what}: SciPy {want:?}, got {got:?}"),
                    }
                }
            }
        }
    }

    /// `Method::Auto` with factors against the whole kernel's direct sum, with a random boundary
    /// rule, on random shapes whose
    /// values include NaN, infinities, zeros, values near f32's overflow and factors whose
    /// products overflow (1e20 · 1e20) or underflow (1e-25 · 1e-25) in f32: the non-finite
    /// outputs exactly, the finite ones within rounding.
    fn separable_keeps_the_direct_sums_nan_infinities_and_overflow(device: &Device) {
        let special = || prop_oneof![
            6 => (-1.0f64..1.0).prop_map(|v| f64::from(v as f32)),
            1 => Just(f64::NAN),
            1 => Just(f64::INFINITY),
            1 => Just(f64::NEG_INFINITY),
            1 => Just(0.0),
            1 => Just(f64::from(f32::MAX) / 2.0),
            1 => Just(1e20),
            1 => Just(1e-25),
        ];
        let case = (1usize..=3)
            .prop_flat_map(|rank| {
                (
                    proptest::collection::vec(1usize..=6, rank),
                    proptest::collection::vec(1usize..=3, rank),
                )
            })
            .prop_flat_map(move |(s1, ms)| {
                let n1 = s1.iter().product::<usize>();
                let factors: Vec<_> = ms.iter().map(|&m| proptest::collection::vec(special(), m)).collect();
                (Just(s1), proptest::collection::vec(special(), n1), factors, 0..BOUNDARIES.len())
            });
        let mut runner = TestRunner::new(Config { cases: 64, ..Config::default() });
        runner
            .run(&case, |(s1, d1, factors, boundary)| {
                let boundary = BOUNDARIES[boundary];
                let in1 = Array { shape: s1, data: d1 };
                let factors: Vec<Array> = factors.into_iter().map(|f| Array { shape: vec![f.len()], data: f }).collect();
                let kernel = outer_f32(&factors);
                let covers = |a: &[usize], b: &[usize]| a.iter().zip(b).all(|(x, y)| x >= y);
                let valid_ok = covers(&in1.shape, &kernel.shape) || covers(&kernel.shape, &in1.shape);
                for func in ["convolve", "correlate"] {
                    for mode in Mode::ALL {
                        if mode == Mode::Valid && !valid_ok {
                            continue;
                        }
                        let options = Options::new(mode).with_boundary(boundary);
                        let direct = options.with_method(Method::Direct);
                        let want = crate::signal::call(func, &in1, &kernel, direct, DType::F32, device).unwrap();
                        let got = call(func, &in1, &factors, options, DType::F32, device).unwrap();
                        let tol = 1e-4 * max_abs(&want.data).max(1.0);
                        let what = format!("{func}_separable({:?} {:?}, {:?}, {mode}, {boundary})", in1.shape, in1.data, factors.iter().map(|f| &f.data).collect::<Vec<_>>());
                        assert_matches(&got, &want, tol, &what);
                    }
                }
                Ok(())
            })
            .unwrap();
    }

    /// The cases where sliding one axis at a time would differ from the whole kernel's direct
    /// sum, each against that sum: products of factors that overflow (`K` holds infinities
    /// where `in1` or the padding is zero: NaN) or underflow (`K` holds zeros where `in1` is
    /// infinite: NaN), partial sums that overflow in one order and not in the other (`MAX +
    /// MAX - MAX - MAX`), and the largest finite values cancelling.
    fn separable_edge_cases_follow_the_direct_sum(device: &Device) {
        let max = f64::from(f32::MAX);
        let array = |shape: &[usize], data: &[f64]| Array { shape: shape.to_vec(), data: data.to_vec() };
        let cases = [
            // (k0 · k1) overflows f32: inf terms meet the zeros of in1 and of the padding.
            (array(&[3, 3], &[1.0, 0.0, 2.0, 0.0, 1.0, 0.0, 3.0, 0.0, 1.0]), vec![array(&[2], &[1e20, 1.0]), array(&[2], &[1e20, 0.5])]),
            // (k0 · k1) underflows to zero: inf · 0 is NaN where in1 is infinite.
            (array(&[3, 3], &[1.0, f64::INFINITY, 2.0, 0.0, 1.0, 0.0, 3.0, 0.0, 1.0]), vec![array(&[2], &[1e-25, 1.0]), array(&[2], &[1e-25, 1.0])]),
            // MAX + MAX overflows in the direct sum's order; the passes would give NaN.
            (array(&[2, 2], &[max, max, -max, -max]), vec![array(&[2], &[1.0, 1.0]), array(&[2], &[1.0, 1.0])]),
            // MAX + 0 + MAX overflows in the direct sum's order; the passes would give MAX.
            (array(&[2, 2], &[max, 0.0, max, -max]), vec![array(&[2], &[1.0, 1.0]), array(&[2], &[1.0, 1.0])]),
            // 3-D: an overflowing product of three factors.
            (array(&[2, 2, 2], &[1.0, 0.0, 2.0, 0.0, 1.0, 0.0, 3.0, 0.0]), vec![array(&[1], &[1e13]), array(&[2], &[1e13, 1.0]), array(&[1], &[1e13])]),
        ];
        for (in1, factors) in &cases {
            let kernel = outer_f32(factors);
            for func in ["convolve", "correlate"] {
                for mode in Mode::ALL {
                    let direct = Options::new(mode).with_method(Method::Direct);
                    let want = crate::signal::call(func, in1, &kernel, direct, DType::F32, device).unwrap();
                    let got = call(func, in1, factors, Options::new(mode), DType::F32, device).unwrap();
                    let what = format!("{func}_separable({:?}, {:?}, {mode})", in1.data, factors.iter().map(|f| &f.data).collect::<Vec<_>>());
                    assert_matches(&got, &want, 1e-6 * max_abs(&want.data).max(1.0), &what);
                }
            }
        }
    }

    /// An empty factor, a rank beyond 3 and SciPy's `valid` rule are errors naming the shapes.
    fn separable_errors(device: &Device) {
        let image = Tensor::<2>::ones([4, 5], device);
        let f = |n: usize| Tensor::<1>::ones([n], device);
        let err = signal::convolve_separable(image.clone(), [f(3), f(0)], Options::new(Mode::Same)).unwrap_err();
        assert_eq!(err.to_string(), "factors cannot be empty (got shape [3, 0])");
        let err = signal::convolve_separable(image.clone(), [f(5), f(2)], Options::new(Mode::Valid)).unwrap_err();
        assert!(err.to_string().contains("in1 shape [4, 5], in2 shape [5, 2]"), "{err}");
        let four = Tensor::<4>::ones([2, 2, 2, 2], device);
        let err = signal::correlate_separable(four, [f(1), f(1), f(1), f(1)], Options::new(Mode::Full)).unwrap_err();
        assert_eq!(err.to_string(), "burn_npconv::signal computes tensors of rank 1 to 3, got rank 4");
    }

    /// On an autodiff device the gradients reach each factor: the `full` output sums to
    /// `Σ in1 · Σ k0 · Σ k1`, so its gradient with respect to `k0` is `Σ in1 · Σ k1` in every
    /// entry.
    fn separable_gradients_reach_the_factors(device: &Device) {
        let ad = device.clone().autodiff();
        let x = Tensor::<2>::from_floats([[1.0, 2.0, -1.0], [0.5, 3.0, 2.0]], &ad);
        let k0 = Tensor::<1>::from_floats([2.0, -1.0], &ad).require_grad();
        let k1 = Tensor::<1>::from_floats([1.0, 0.5, 0.25], &ad).require_grad();
        let y = signal::convolve_separable(x, [k0.clone(), k1.clone()], Options::new(Mode::Full)).unwrap();
        let grads = y.sum().backward();
        let g0: Vec<f32> = k0.grad(&grads).unwrap().into_data().iter::<f32>().collect();
        let g1: Vec<f32> = k1.grad(&grads).unwrap().into_data().iter::<f32>().collect();
        // Σ in1 = 7.5, Σ k0 = 1, Σ k1 = 1.75.
        assert_eq!(g0, [7.5 * 1.75; 2]);
        assert_eq!(g1, [7.5; 3]);
    }
}
