//! The crate against NumPy's own numbers (tests/fixtures/numpy_cases.json), on every backend.

use crate::common;

use burn::module::Param;
use burn::tensor::Device;
use burn_npconv::{
    Convolve1dOptions, Method, Mode, NpConvolve1d, Operation, convolve, convolve1d, correlate,
};
use common::fixtures::{self, LayerCase, Pair};
use common::{assert_close, max_abs, t1, t3, values};

/// `convolve` / `correlate` (method Auto), and `convolve1d` with every method.
fn check_pair(pair: &Pair, device: &Device) {
    let (n, m) = (pair.a.len(), pair.v.len());
    let scale = max_abs(&pair.a) * max_abs(&pair.v);
    for (op, mode, expected) in &pair.results {
        let (a, v) = (t1(&pair.a, device), t1(&pair.v, device));
        let got = match op {
            Operation::Convolution => convolve(a, v, *mode),
            Operation::Correlation => correlate(a, v, *mode),
        }
        .unwrap();
        let what = format!("{} N={n} M={m} mode={mode}", op.numpy_name());
        assert_close(&values(got), expected, n.min(m), scale, &what);
        for method in Method::ALL {
            let options = Convolve1dOptions::new(*mode)
                .with_operation(*op)
                .with_method(method);
            let x = t3(&pair.a, [1, 1, n], device);
            let w = t3(&pair.v, [1, 1, m], device);
            let got = convolve1d(x, w, None, options).unwrap();
            assert_close(
                &values(got),
                expected,
                n.min(m),
                scale,
                &format!("{what} method={method}"),
            );
        }
    }
}

fn flat(v: &[Vec<Vec<f64>>]) -> (Vec<f64>, [usize; 3]) {
    let shape = [v.len(), v[0].len(), v[0][0].len()];
    (v.iter().flatten().flatten().copied().collect(), shape)
}

fn layer_for(case: &LayerCase, method: Method, device: &Device) -> NpConvolve1d {
    let (w, w_shape) = flat(&case.weight);
    NpConvolve1d {
        weight: Param::from_tensor(t3(&w, w_shape, device)),
        bias: case
            .bias
            .as_ref()
            .map(|b| Param::from_tensor(t1(b, device))),
        groups: case.groups,
        mode: case.mode,
        method,
        boundary: case.boundary,
    }
}

/// Every layer case with every method: shapes and NumPy's values.
fn check_layers(cases: &[LayerCase], device: &Device) {
    for (case, method) in cases.iter().flat_map(|c| Method::ALL.map(|m| (c, m))) {
        let layer = layer_for(case, method, device);
        let (x, x_shape) = flat(&case.x);
        let got = layer.forward(t3(&x, x_shape, device));
        let (expected, e_shape) = flat(&case.expected);
        let what = format!(
            "layer {x_shape:?} mode {} boundary {} groups {} method {method}",
            case.mode, case.boundary, case.groups
        );
        assert_eq!(got.dims(), e_shape, "{what}");
        let per_in = x_shape[1] / case.groups;
        let (w, _) = flat(&case.weight);
        // Constants of the boundary section are at most 1.5.
        let scale = (max_abs(&x).max(1.5) * max_abs(&w)).max(1.0);
        assert_close(
            &values(got),
            &expected,
            per_in * case.weight[0][0].len() + 1,
            scale,
            &what,
        );
    }
}

on_every_backend! {
    fn every_pair_of_lengths_up_to_9(device: &Device) {
        let fixtures = fixtures::get();
        assert_eq!(fixtures.small.len(), 81);
        for pair in &fixtures.small {
            check_pair(pair, device);
        }
    }

    fn long_signals_and_long_kernels(device: &Device) {
        for pair in &fixtures::get().long {
            check_pair(pair, device);
        }
    }

    fn layer_with_channels_groups_and_bias(device: &Device) {
        check_layers(&fixtures::get().layers, device);
    }

    /// numpy.pad's rules then `np.convolve`/`np.correlate` in `valid` mode, for every rule,
    /// function, mode (causal included) and method, pads longer than the signal included.
    fn every_boundary_rule_matches_numpy_pad(device: &Device) {
        let pairs = &fixtures::get().boundary_pairs;
        assert_eq!(pairs.len(), 12);
        for pair in pairs {
            let (n, m) = (pair.a.len(), pair.v.len());
            assert_eq!(pair.results.len(), 6 * 2 * 4);
            let scale = max_abs(&pair.a).max(0.75) * max_abs(&pair.v);
            for (rule, op, mode, expected) in &pair.results {
                for method in Method::ALL {
                    let options = Convolve1dOptions::new(*mode)
                        .with_operation(*op)
                        .with_method(method)
                        .with_boundary(*rule);
                    let x = t3(&pair.a, [1, 1, n], device);
                    let w = t3(&pair.v, [1, 1, m], device);
                    let got = convolve1d(x, w, None, options).unwrap();
                    let what = format!("{} N={n} M={m} mode={mode} boundary={rule} method={method}", op.numpy_name());
                    assert_close(&values(got), expected, m, scale, &what);
                }
            }
        }
    }

    /// The layer with a boundary rule (reflect, wrap, constant, symmetric, edge), channels,
    /// groups and bias.
    fn layer_with_boundary_rules(device: &Device) {
        let cases = &fixtures::get().boundary_layers;
        assert_eq!(cases.len(), 5);
        check_layers(cases, device);
    }

    fn from_kernel_is_np_convolve_row_by_row(device: &Device) {
        // Every mode, odd and even kernels, kernels longer than the signal: stack three
        // signals of the same length N and compare each row with NumPy.
        let small = &fixtures::get().small;
        for n in 1..=9 {
            for m in 1..=9 {
                // the pairs with this (N, M) sit at index (n-1)*9 + (m-1)
                let pair = &small[(n - 1) * 9 + (m - 1)];
                assert_eq!((pair.a.len(), pair.v.len()), (n, m));
                for (op, mode, expected) in &pair.results {
                    if *op != Operation::Convolution {
                        continue;
                    }
                    let layer = NpConvolve1d::from_kernel(t1(&pair.v, device), *mode);
                    let rows: Vec<f64> = [1.0, -2.0, 0.5]
                        .iter()
                        .flat_map(|s| pair.a.iter().map(move |x| x * s))
                        .collect();
                    let got = values(layer.forward(t3(&rows, [3, 1, n], device)));
                    let len = expected.len();
                    assert_eq!(got.len(), 3 * len, "N={n} M={m} mode={mode}");
                    let scale = 2.0 * max_abs(&pair.a) * max_abs(&pair.v);
                    for (r, s) in [1.0, -2.0, 0.5].iter().enumerate() {
                        let want: Vec<f64> = expected.iter().map(|e| e * s).collect();
                        let what = format!("from_kernel row {r} N={n} M={m} mode={mode}");
                        assert_close(&got[r * len..(r + 1) * len], &want, n.min(m), scale, &what);
                    }
                }
            }
        }
    }

    fn same_mode_centres_even_kernels_like_numpy_not_like_burn(device: &Device) {
        // np.convolve([1, 0, 0, 0, 0], [1, 2, 3, 4], "same") == [2, 3, 4, 0, 0]; Burn's and
        // PyTorch's `Same` would give [3, 4, 0, 0, 0] (flipped kernel) or pad the other way.
        let a = t1(&[1.0, 0.0, 0.0, 0.0, 0.0], device);
        let v = t1(&[1.0, 2.0, 3.0, 4.0], device);
        assert_eq!(values(convolve(a, v, Mode::Same).unwrap()), [2.0, 3.0, 4.0, 0.0, 0.0]);
    }
}

#[test]
fn fixtures_record_their_numpy_version() {
    let version = &fixtures::get().numpy_version;
    assert!(
        version.starts_with("2."),
        "fixtures from NumPy {version}; expected 2.x"
    );
}

/// An f64 tensor of `shape` from `values`, exactly.
fn f64_tensor<const D: usize>(
    values: &[f64],
    shape: [usize; D],
    device: &Device,
) -> burn::tensor::Tensor<D> {
    use burn::tensor::{DType, TensorData};
    burn::tensor::Tensor::from_data(
        TensorData::new(values.to_vec(), shape),
        (device, DType::F64),
    )
}

fn f64_values<const D: usize>(t: burn::tensor::Tensor<D>) -> Vec<f64> {
    assert_eq!(t.dtype(), burn::tensor::DType::F64, "f64 in, f64 out");
    t.into_data().iter::<f64>().collect()
}

/// `got` within `1e-10 · max|expected|` of NumPy's float64 result, element by element.
fn assert_f64(got: &[f64], expected: &[f64], what: &str) {
    assert_eq!(got.len(), expected.len(), "{what}: length");
    let tol = 1e-10 * max_abs(expected).max(1.0);
    for (i, (g, e)) in got.iter().zip(expected).enumerate() {
        assert!(
            (g - e).abs() <= tol,
            "{what}: index {i}: {g} vs NumPy {e} (tolerance {tol:e})"
        );
    }
}

on_every_backend! {
    fn float64_agrees_with_numpy_to_1e_10(device: &Device) {
        use burn::tensor::DType;
        let f = fixtures::get();
        if !device.supports_dtype(DType::F64) {
            // No f64 on this adapter (wgpu through OpenGL; lavapipe over Vulkan has f64): a clear
            // error naming the dtype and the device.
            let a = f64_tensor(&f.f64_pairs[0].a, [f.f64_pairs[0].a.len()], device);
            let v = f64_tensor(&f.f64_pairs[0].v, [f.f64_pairs[0].v.len()], device);
            let err = convolve(a, v, Mode::Full).unwrap_err();
            assert!(
                matches!(err, burn_npconv::ConvolveError::UnsupportedDType { .. }),
                "{err}"
            );
            let message = err.to_string();
            assert!(message.contains("F64") && message.contains("Wgpu"), "{message}");
            return;
        }
        for pair in &f.f64_pairs {
            let (n, m) = (pair.a.len(), pair.v.len());
            for (op, mode, expected) in &pair.results {
                let what = format!("f64 {} N={n} M={m} mode={mode}", op.numpy_name());
                let (a, v) = (f64_tensor(&pair.a, [n], device), f64_tensor(&pair.v, [m], device));
                let got = match op {
                    Operation::Convolution => convolve(a, v, *mode),
                    Operation::Correlation => correlate(a, v, *mode),
                }
                .unwrap();
                assert_f64(&f64_values(got), expected, &what);
                for method in Method::ALL {
                    let options = Convolve1dOptions::new(*mode).with_operation(*op).with_method(method);
                    let x = f64_tensor(&pair.a, [1, 1, n], device);
                    let w = f64_tensor(&pair.v, [1, 1, m], device);
                    let got = convolve1d(x, w, None, options).unwrap();
                    assert_f64(&f64_values(got), expected, &format!("{what} method={method}"));
                }
            }
        }
        for case in &f.f64_layers {
            let (x, x_shape) = flat(&case.x);
            let (w, w_shape) = flat(&case.weight);
            let (expected, _) = flat(&case.expected);
            for method in Method::ALL {
                let layer = NpConvolve1d {
                    weight: Param::from_tensor(f64_tensor(&w, w_shape, device)),
                    bias: case.bias.as_ref().map(|b| Param::from_tensor(f64_tensor(b, [b.len()], device))),
                    groups: case.groups,
                    mode: case.mode,
                    method,
                    boundary: burn_npconv::Boundary::Zeros,
                };
                let got = layer.forward(f64_tensor(&x, x_shape, device));
                assert_f64(&f64_values(got), &expected, &format!("f64 layer {x_shape:?} {} {method}", case.mode));
            }
        }
    }
}
