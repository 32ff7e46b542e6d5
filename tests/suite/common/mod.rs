//! Shared test support: one test body on every enabled backend, the NumPy fixtures, a naive
//! oracle and float comparisons.
#![allow(dead_code)] // each test binary uses a different part of this module

pub mod fixtures;
pub mod oracle;
pub mod scipy;

use burn::tensor::{Device, Tensor, TensorData};
use burn_npconv::{BackendKind, BackendKindError};

/// Runs `case` on `backend`'s device.
///
/// A backend whose device cannot be had fails the test under `CI=true`; elsewhere (a developer
/// machine without a Vulkan driver) it is skipped with a loud note on stderr, never silently.
pub fn run(backend: BackendKind, case: impl FnOnce(&Device)) {
    match backend.device() {
        Ok(device) => case(&device),
        Err(e @ BackendKindError::Unavailable { .. })
            if std::env::var("CI").as_deref() != Ok("true") =>
        {
            eprintln!(
                "SKIPPED on {backend}: {e}. Run the README's test command to install a software \
                 Vulkan driver; under CI=true this is a failure."
            );
        }
        Err(e) => panic!("{backend}: {e}"),
    }
}

/// Defines, for each `fn name(device: &Device) { body }`, a module `name` with one `#[test]`
/// per enabled backend (`name::flex`, `name::ndarray`, `name::wgpu`) running the same body.
#[macro_export]
macro_rules! on_every_backend {
    ($($(#[$attr:meta])* fn $name:ident($dev:ident: &Device) $body:block)*) => {
        $(
            mod $name {
                #[allow(unused_imports)]
                use super::*;

                $(#[$attr])*
                fn case($dev: &burn::tensor::Device) $body

                #[cfg(feature = "flex")]
                #[test]
                fn flex() {
                    $crate::common::run(burn_npconv::BackendKind::Flex, case)
                }

                #[cfg(feature = "ndarray")]
                #[test]
                fn ndarray() {
                    $crate::common::run(burn_npconv::BackendKind::NdArray, case)
                }

                #[cfg(feature = "wgpu")]
                #[test]
                fn wgpu() {
                    $crate::common::run(burn_npconv::BackendKind::Wgpu, case)
                }
            }
        )*
    };
}

/// A 1-D f32 tensor from f64 values (the fixtures hold f32-exact values).
pub fn t1(values: &[f64], device: &Device) -> Tensor<1> {
    let data: Vec<f32> = values.iter().map(|&v| v as f32).collect();
    Tensor::from_data(TensorData::new(data, [values.len()]), device)
}

/// A 3-D f32 tensor from a flat f64 buffer.
pub fn t3(values: &[f64], shape: [usize; 3], device: &Device) -> Tensor<3> {
    let data: Vec<f32> = values.iter().map(|&v| v as f32).collect();
    Tensor::from_data(TensorData::new(data, shape), device)
}

/// A tensor's values as f64.
pub fn values<const D: usize>(t: Tensor<D>) -> Vec<f64> {
    t.into_data().iter::<f32>().map(f64::from).collect()
}

/// Asserts `got` equals `expected` within f32 rounding of sums of `terms` products whose
/// factors are at most `scale` in magnitude (product of the two inputs' max magnitudes).
/// Where `expected` is NaN, `+inf` or `-inf`, `got` must be exactly that.
pub fn assert_close(got: &[f64], expected: &[f64], terms: usize, scale: f64, what: &str) {
    assert_eq!(got.len(), expected.len(), "{what}: length");
    let tol = 1e-6 + 8.0 * f64::from(f32::EPSILON) * terms as f64 * scale.max(1.0);
    for (i, (g, e)) in got.iter().zip(expected).enumerate() {
        if !e.is_finite() || !g.is_finite() {
            assert!(
                (e.is_nan() && g.is_nan()) || e == g,
                "{what}: index {i}: got {g}, expected {e} (NumPy's NaN/inf)\n got {got:?}\nwant {expected:?}"
            );
            continue;
        }
        assert!(
            approx::abs_diff_eq!(g, e, epsilon = tol),
            "{what}: index {i}: got {g}, expected {e} (tolerance {tol:e})\n got {got:?}\nwant {expected:?}"
        );
    }
}

/// Largest magnitude of a slice.
pub fn max_abs(v: &[f64]) -> f64 {
    v.iter().fold(0.0, |m, x| m.max(x.abs()))
}

/// Every enabled backend's device, under the rules of [`run`]: a missing device fails under
/// `CI=true` and is skipped loudly elsewhere.
pub fn available_devices() -> Vec<(BackendKind, Device)> {
    let mut out = Vec::new();
    for backend in BackendKind::enabled() {
        run(backend, |device| out.push((backend, device.clone())));
    }
    out
}

/// The states of a seeded 64-bit linear congruential generator (Knuth's MMIX constants), one per
/// value: reproducible data for the tests that need more than a few numbers.
pub fn seeded(seed: u64) -> impl Iterator<Item = u64> {
    std::iter::successors(Some(seed), |s| {
        Some(
            s.wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407),
        )
    })
    .skip(1)
}

/// A compensated (Neumaier) sum of products, exact to f64 rounding, and the sum of their
/// magnitudes: the exact references of the accuracy tests.
#[derive(Clone, Copy, Default)]
pub struct ExactSum {
    sum: f64,
    comp: f64,
    magnitude: f64,
}

impl ExactSum {
    /// Adds the term `p`.
    pub fn add(&mut self, p: f64) {
        let s = self.sum + p;
        self.comp += if self.sum.abs() >= p.abs() {
            (self.sum - s) + p
        } else {
            (p - s) + self.sum
        };
        self.sum = s;
        self.magnitude += p.abs();
    }

    /// The sum, and the sum of the terms' magnitudes.
    pub fn value_and_magnitude(self) -> (f64, f64) {
        (self.sum + self.comp, self.magnitude)
    }
}
