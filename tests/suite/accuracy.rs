//! `Method::Auto` is as accurate as NumPy's direct sum whatever the magnitudes: every output
//! within `K · ε · S_j` of the exact value, `S_j = Σ_k |a[j-k]| |v[k]|` its own terms' magnitudes
//! and `ε` the dtype's epsilon, on every backend. The exact values come from a compensated
//! (Neumaier) f64 sum of the same f32 values.

use crate::common;

use burn::tensor::{DType, Device, Tensor, TensorData};
use burn_npconv::{Convolve1dOptions, Method, Mode, convolve1d};

/// The accuracy rule's multiple of `ε · S_j`. A sequential direct sum of `M` terms is within
/// `M · ε · S_j` in the worst case; measured here with `M` = 1,023: at most 22 ε·S_j for the
/// direct sums (the CPU kernel in f64 next to a spike of 1e7: 19; Burn's `conv1d` on wgpu for
/// the spike and the quiet half: 19 and 22), at most 3.2 ε·S_j wherever Auto takes an FFT.
const K: f64 = 32.0;

/// Seeded uniform values in [0, 1).
fn uniform(len: usize, seed: u64) -> Vec<f64> {
    common::seeded(seed)
        .take(len)
        .map(|s| ((s >> 11) as f64) / (1u64 << 53) as f64)
        .collect()
}

/// Seeded noise in (-1, 1), rounded to f32.
fn noise(len: usize, seed: u64) -> Vec<f64> {
    uniform(len, seed)
        .into_iter()
        .map(|u| f64::from((2.0 * u - 1.0) as f32))
        .collect()
}

/// `np.convolve(a, v, mode)` exactly (to f64 rounding), and each output's `S_j`.
fn exact(a: &[f64], v: &[f64], mode: Mode) -> (Vec<f64>, Vec<f64>) {
    let (n, m) = (a.len(), v.len());
    let (start, len) = burn_npconv::mode::window(n, m, mode, burn_npconv::Operation::Convolution);
    (0..len)
        .map(|j| {
            let k = j + start; // full-output index
            let mut sum = crate::common::ExactSum::default();
            for t in k.saturating_sub(m - 1)..=k.min(n - 1) {
                sum.add(a[t] * v[k - t]);
            }
            sum.value_and_magnitude()
        })
        .unzip()
}

/// Worst `|got - exact| / (ε · S_j)` of Auto on `device` (`0/0` counts as 0, `x/0` fails).
fn worst_ratio(a: &[f64], v: &[f64], dtype: DType, device: &Device) -> f64 {
    worst_ratio_in(a, v, dtype, device, Mode::Same)
}

/// [`worst_ratio`] in `mode`.
fn worst_ratio_in(a: &[f64], v: &[f64], dtype: DType, device: &Device, mode: Mode) -> f64 {
    worst_ratio_by(a, v, dtype, device, mode, Method::Auto)
}

/// [`worst_ratio_in`] by `method`.
fn worst_ratio_by(
    a: &[f64],
    v: &[f64],
    dtype: DType,
    device: &Device,
    mode: Mode,
    method: Method,
) -> f64 {
    let eps = if dtype == DType::F64 {
        f64::EPSILON
    } else {
        f64::from(f32::EPSILON)
    };
    let (x, w) = if dtype == DType::F64 {
        (
            Tensor::<3>::from_data(
                TensorData::new(a.to_vec(), [1, 1, a.len()]),
                (device, DType::F64),
            ),
            Tensor::<3>::from_data(
                TensorData::new(v.to_vec(), [1, 1, v.len()]),
                (device, DType::F64),
            ),
        )
    } else {
        let f32s = |values: &[f64]| values.iter().map(|&x| x as f32).collect::<Vec<_>>();
        (
            Tensor::<3>::from_data(TensorData::new(f32s(a), [1, 1, a.len()]), device),
            Tensor::<3>::from_data(TensorData::new(f32s(v), [1, 1, v.len()]), device),
        )
    };
    let options = Convolve1dOptions::new(mode).with_method(method);
    let y = convolve1d(x, w, None, options).unwrap();
    let got: Vec<f64> = match dtype {
        DType::F64 => y.into_data().iter::<f64>().collect(),
        _ => y.into_data().iter::<f32>().map(f64::from).collect(),
    };
    let (exact, mag) = exact(a, v, mode);
    let mut worst = 0.0f64;
    for (j, ((g, e), s)) in got.iter().zip(&exact).zip(&mag).enumerate() {
        let err = (g - e).abs();
        if *s == 0.0 {
            assert_eq!(err, 0.0, "output {j}: {g} where every term is 0");
            continue;
        }
        worst = worst.max(err / (eps * s));
    }
    worst
}

/// The wide-range signals of the accuracy rule, each with a 1,023-tap kernel.
fn signals(n: usize) -> Vec<(&'static str, Vec<f64>)> {
    let f32ed = |v: Vec<f64>| {
        v.into_iter()
            .map(|x| f64::from(x as f32))
            .collect::<Vec<_>>()
    };
    let mut spike = noise(n, 1);
    spike[n / 2] = 1e7;
    let halves: Vec<f64> = noise(n, 2)
        .into_iter()
        .enumerate()
        .map(|(i, x)| if i < n / 2 { x } else { x * 1e-6 })
        .collect();
    let log_uniform: Vec<f64> = uniform(n, 3)
        .into_iter()
        .zip(noise(n, 4))
        .map(|(u, s)| s.signum() * 10f64.powf(12.0 * u - 6.0))
        .collect();
    let mut silence = noise(n, 5);
    silence[n / 4..n / 2].fill(0.0);
    vec![
        ("noise", noise(n, 6)),
        ("a spike of 1e7 in unit noise", spike),
        ("loud and quiet (1e-6) halves", halves),
        ("log-uniform magnitudes over 12 decades", f32ed(log_uniform)),
        ("a silence longer than the kernel", silence),
    ]
}

on_every_backend! {
    /// The first and last outputs of `full` (windows reaching past the signal) hold few
    /// terms: quiet samples at the signal's ends next to loud ones.
    fn auto_keeps_the_accuracy_at_the_signal_edges(device: &Device) {
        for (n, m) in [(20_000, 300), (24_000, 1_023)] {
            let mut a: Vec<f64> = noise(n, 11).into_iter().map(|x| x * 1e6).collect();
            a[0] = 1e-3;
            a[1] = -2e-3;
            a[n - 1] = 3e-3;
            let v = noise(m, 12);
            for dtype in [DType::F32, DType::F64] {
                if !device.supports_dtype(dtype) {
                    continue;
                }
                let worst = worst_ratio_in(&a, &v, dtype, device, Mode::Full);
                eprintln!("{device:?} {dtype:?} quiet edges N={n} M={m}: worst error {worst:.3} ε·S_j");
                assert!(worst <= K, "{dtype:?} quiet edges N={n} M={m}: worst error {worst} ε·S_j (limit {K})");
            }
        }
    }

    /// Regression: Burn 0.22.1's `conv1d` on wgpu sums kernels of more than about 21,800
    /// taps wrongly (the crate splits them); every method, a 40,000-tap kernel (`valid`).
    fn a_kernel_of_40000_taps_sums_right(device: &Device) {
        let (a, v) = (noise(40_010, 21), noise(40_000, 22));
        for dtype in [DType::F32, DType::F64] {
            if !device.supports_dtype(dtype) {
                continue;
            }
            for method in Method::ALL {
                // `valid`: 11 outputs of 40,000 terms each (the exact sums are slow in a debug build).
                let worst = worst_ratio_by(&a, &v, dtype, device, Mode::Valid, method);
                eprintln!("{device:?} {dtype:?} {method} M=40,000: worst error {worst:.3} ε·S_j");
                assert!(worst <= K, "{dtype:?} {method} M=40,000: worst error {worst} ε·S_j (limit {K})");
            }
        }
    }

    fn auto_is_as_accurate_as_the_direct_sum(device: &Device) {
        let v = noise(1_023, 7);
        for (what, a) in signals(24_000) {
            let worst = worst_ratio(&a, &v, DType::F32, device);
            eprintln!("{device:?} f32 {what}: worst error {worst:.3} ε·S_j");
            assert!(worst <= K, "{what}: worst error {worst} ε·S_j (limit {K})");
        }
        if device.supports_dtype(DType::F64) {
            for (what, a) in signals(24_000) {
                let worst = worst_ratio(&a, &v, DType::F64, device);
                eprintln!("{device:?} f64 {what}: worst error {worst:.3} ε·S_j");
                assert!(worst <= K, "f64 {what}: worst error {worst} ε·S_j (limit {K})");
            }
        }
    }
}
