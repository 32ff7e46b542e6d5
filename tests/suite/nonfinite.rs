//! NaN and infinities land where NumPy's direct sum puts them, on every backend and every
//! method, for signals and kernels long enough for the FFT paths: NaN and ±inf in the signal,
//! in the kernel, and sums that overflow. Expected values come from the oracle, which sums
//! only the overlapping terms, as NumPy does (`tests/suite/common/oracle.rs`).

use crate::common;

use burn::tensor::Device;
use burn_npconv::{Convolve1dOptions, Method, Mode, Operation, convolve, convolve1d};
use common::{assert_close, oracle, t1, t3, values};

/// Seeded values in [-1, 1], none zero.
fn noise(len: usize, seed: u64) -> Vec<f64> {
    common::seeded(seed)
        .take(len)
        .map(|s| {
            let u = ((s >> 40) as f64) / (1u64 << 24) as f64;
            // Multiples of 1/64 away from 0: exact in f32.
            ((u * 127.0).floor() - 63.0 + 0.5).signum() * (1.0 + (u * 63.0).floor()) / 64.0
        })
        .collect()
}

/// Every mode, both functions and every method on one signal and kernel, against the oracle.
fn every_way(a: &[f64], v: &[f64], device: &Device) {
    every_way_by(&Method::ALL, a, v, device);
}

/// [`every_way`] by `methods` alone.
fn every_way_by(methods: &[Method], a: &[f64], v: &[f64], device: &Device) {
    for &method in methods {
        for op in [Operation::Convolution, Operation::Correlation] {
            for mode in Mode::ALL {
                let options = Convolve1dOptions::new(mode)
                    .with_operation(op)
                    .with_method(method);
                let x = t3(a, [1, 1, a.len()], device);
                let w = t3(v, [1, 1, v.len()], device);
                let got = values(convolve1d(x, w, None, options).unwrap());
                let want = oracle::numpy(op, a, v, mode);
                let what = format!(
                    "{method} {} {mode} N={} M={}",
                    op.numpy_name(),
                    a.len(),
                    v.len()
                );
                assert_close(&got, &want, v.len().min(a.len()), 1.0, &what);
                let count = |f: fn(&f64) -> bool| got.iter().filter(|v| f(v)).count();
                assert_eq!(
                    (
                        count(|v| v.is_nan()),
                        count(|v| *v == f64::INFINITY),
                        count(|v| *v == f64::NEG_INFINITY)
                    ),
                    (
                        want.iter().filter(|v| v.is_nan()).count(),
                        want.iter().filter(|v| **v == f64::INFINITY).count(),
                        want.iter().filter(|v| **v == f64::NEG_INFINITY).count()
                    ),
                    "{what}: NaN, +inf and -inf counts"
                );
            }
        }
    }
}

/// The input and weight gradients of `Σ r · convolve1d(a, v)`, every mode, both functions
/// and every method, against NumPy's direct sums of the gradients' own terms
/// ([`oracle::gradients`]): NaN, `+inf` and `-inf` exactly where those sums have them.
fn gradients_every_way(a: &[f64], v: &[f64], r_seed: u64, device: &Device) {
    let device = device.clone().autodiff();
    for method in Method::ALL {
        for op in [Operation::Convolution, Operation::Correlation] {
            for mode in Mode::ALL {
                let want_y = oracle::numpy(op, a, v, mode);
                // Positive upstream gradients, so that infinite terms keep their factor's
                // sign, and one zero (NumPy's inf · 0 is NaN).
                let mut r: Vec<f64> = noise(want_y.len(), r_seed)
                    .iter()
                    .map(|v| v.abs())
                    .collect();
                r[want_y.len() / 3] = 0.0;
                let (want_da, want_dv) = oracle::gradients(op, a, v, mode, &r);
                let x = t3(a, [1, 1, a.len()], &device).require_grad();
                let w = t3(v, [1, 1, v.len()], &device).require_grad();
                let options = Convolve1dOptions::new(mode)
                    .with_operation(op)
                    .with_method(method);
                let y = convolve1d(x.clone(), w.clone(), None, options).unwrap();
                let grads = (y * t3(&r, [1, 1, r.len()], &device)).sum().backward();
                let da = values(x.grad(&grads).expect("input gradient"));
                let dv = values(w.grad(&grads).expect("weight gradient"));
                let what = format!(
                    "{method} {} {mode} N={} M={}",
                    op.numpy_name(),
                    a.len(),
                    v.len()
                );
                assert_close(
                    &da,
                    &want_da,
                    want_y.len(),
                    1.0,
                    &format!("{what}: input gradient"),
                );
                assert_close(
                    &dv,
                    &want_dv,
                    want_y.len(),
                    1.0,
                    &format!("{what}: weight gradient"),
                );
            }
        }
    }
}

on_every_backend! {
    fn gradients_follow_numpys_rule(device: &Device) {
        // NaN and ±inf in the signal near its ends, where only some taps meet them: the
        // weight gradient is NaN, +inf or -inf at those taps, the input gradient finite.
        let mut a = noise(3_000, 7);
        a[3] = f64::NAN;
        a[2_998] = f64::INFINITY;
        a[2_900] = f64::NEG_INFINITY;
        let v = noise(255, 8);
        gradients_every_way(&a, &v, 9, device);
        // NaN and +inf taps: the input gradient is NaN or +inf where they reach (NaN where the
        // zero upstream gradient meets the +inf tap), the weight gradient finite.
        let a = noise(3_000, 10);
        let mut v = noise(255, 11);
        v[2] = f64::INFINITY;
        v[250] = f64::NAN;
        gradients_every_way(&a, &v, 12, device);
    }

    fn nan_and_infinities_in_a_long_signal(device: &Device) {
        // The case, scaled to test time: one NaN, one +inf and one -inf in a long
        // signal with a 1,023-tap kernel (Auto takes an FFT path for these lengths).
        let mut a = noise(12_000, 1);
        a[2_000] = f64::NAN;
        a[6_000] = f64::INFINITY;
        a[9_500] = f64::NEG_INFINITY;
        let v = noise(1_023, 2);
        every_way(&a, &v, device);
    }

    fn nan_and_infinities_in_the_kernel(device: &Device) {
        // np.convolve([1, 2, 3, 4, 5, 6], [1, nan, 1]) == [1, nan, nan, nan, nan, nan, nan, 6]:
        // the zero padding never meets the NaN tap in NumPy's sum.
        let a = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
        let y = values(convolve(t1(&a, device), t1(&[1.0, f64::NAN, 1.0], device), Mode::Full).unwrap());
        assert_eq!((y[0], y[7]), (1.0, 6.0), "{y:?}");
        assert!(y[1..7].iter().all(|v| v.is_nan()), "{y:?}");
        for method in Method::ALL {
            let options = Convolve1dOptions::new(Mode::Full).with_method(method);
            let x = t3(&a, [1, 1, 6], device);
            let w = t3(&[1.0, f64::NAN, 1.0], [1, 1, 3], device);
            let y = values(convolve1d(x, w, None, options).unwrap());
            let nan = f64::NAN;
            let want = [1.0, nan, nan, nan, nan, nan, nan, 6.0];
            assert_close(&y, &want, 3, 6.0, &format!("{method}"));
        }
        // Long kernels with NaN and ±inf taps, and a zero sample (inf · 0 is NaN).
        let mut a = noise(3_000, 3);
        a[1_000] = 0.0;
        let mut v = noise(255, 4);
        v[10] = f64::INFINITY;
        v[200] = f64::NEG_INFINITY;
        every_way(&a, &v, device);
        v[100] = f64::NAN;
        every_way(&a[..400], &v, device);
        // Infinite taps in a kernel of the lengths where Auto takes its FFT paths on finite
        // inputs (the long signal's), by Auto: its check before an FFT, on every backend.
        let a = noise(12_000, 5);
        let mut v = noise(1_023, 6);
        v[3] = f64::INFINITY;
        v[1_000] = f64::NEG_INFINITY;
        every_way_by(&[Method::Auto], &a, &v, device);
    }

    fn overflow_gives_numpys_infinities(device: &Device) {
        // np.convolve(np.float32([MAX, 1, 2]), np.float32([2])) == [inf, 2, 4]
        let max = f64::from(f32::MAX);
        for method in Method::ALL {
            let options = Convolve1dOptions::new(Mode::Full).with_method(method);
            let x = t3(&[max, 1.0, 2.0], [1, 1, 3], device);
            let w = t3(&[2.0], [1, 1, 1], device);
            let y = values(convolve1d(x, w, None, options).unwrap());
            assert_eq!(y, [f64::INFINITY, 2.0, 4.0], "{method}");
        }
        // A long signal near the threshold: the FFT's spectra overflow where the direct sums
        // do not; every method gives the direct sums' values.
        let mut a = noise(5_000, 5);
        for (i, s) in a.iter_mut().enumerate().skip(2_000).take(50) {
            *s = if i % 2 == 0 { max / 4.0 } else { -max / 4.0 };
        }
        let v = noise(300, 6).iter().map(|v| v.abs()).collect::<Vec<_>>();
        for method in Method::ALL {
            let options = Convolve1dOptions::new(Mode::Same).with_method(method);
            let x = t3(&a, [1, 1, a.len()], device);
            let w = t3(&v, [1, 1, v.len()], device);
            let y = values(convolve1d(x, w, None, options).unwrap());
            let want = oracle::numpy(Operation::Convolution, &a, &v, Mode::Same);
            for (j, (g, e)) in y.iter().zip(&want).enumerate() {
                // The oracle sums in f64, which does not overflow: where its sum is beyond
                // f32's range, NumPy's float32 sum is infinite (or NaN after inf - inf).
                if e.abs() > max {
                    assert!(!g.is_finite(), "{method} index {j}: {g} for {e}");
                } else if g.is_finite() {
                    assert!((g - e).abs() <= 1e-6 * max, "{method} index {j}: {g} vs {e}");
                } else {
                    // A partial sum of float32 terms may overflow on the way to a finite total.
                    assert!(e.abs() > max / 8.0, "{method} index {j}: {g} for {e}");
                }
            }
        }
    }
}
