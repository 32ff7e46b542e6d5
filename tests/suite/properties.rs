//! Property tests (seeded): the tensor code against the naive oracle over random lengths,
//! batches, channels, groups, modes and both operations, on every backend. The oracle itself
//! is checked against NumPy's numbers first.

use crate::common;

use burn::module::Param;
use burn::tensor::Device;
use burn_npconv::{Convolve1dOptions, Method, Mode, NpConvolve1d, Operation, convolve1d, mode};
use common::{assert_close, fixtures, oracle, t1, t3, values};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};

const SEED: [u8; 32] = *b"burn-npconv property tests seed!";

#[test]
fn oracle_matches_numpy_fixtures() {
    let f = fixtures::get();
    for pair in f.small.iter().chain(&f.long) {
        for (op, mode, expected) in &pair.results {
            let got = oracle::numpy(*op, &pair.a, &pair.v, *mode);
            let what = format!(
                "oracle {} N={} M={} {mode}",
                op.numpy_name(),
                pair.a.len(),
                pair.v.len()
            );
            assert_close(&got, expected, 1, 1e-3, &what);
        }
    }
    for case in &f.layers {
        let got = oracle::layer(
            Operation::Convolution,
            &case.x,
            &case.weight,
            case.bias.as_deref(),
            case.groups,
            case.mode,
        );
        let flat =
            |v: &Vec<Vec<Vec<f64>>>| v.iter().flatten().flatten().copied().collect::<Vec<_>>();
        assert_close(&flat(&got), &flat(&case.expected), 1, 1e-3, "oracle layer");
    }
}

#[test]
fn window_arithmetic_matches_the_oracle_on_unit_impulses() {
    // The pure window arithmetic alone, against the oracle: convolving a ramp with a unit
    // impulse at 0 shows which part of the full output each mode keeps.
    for n in 1..=16usize {
        for m in 1..=16usize {
            let a: Vec<f64> = (1..=n).map(|i| i as f64).collect();
            let mut v = vec![0.0; m];
            v[0] = 1.0;
            for op in [Operation::Convolution, Operation::Correlation] {
                let full = oracle::numpy(op, &a, &v, Mode::Full);
                for md in Mode::ALL {
                    let (start, len) = mode::window(n, m, md, op);
                    assert_eq!(
                        oracle::numpy(op, &a, &v, md),
                        full[start..start + len],
                        "{op:?} {n} {m} {md}"
                    );
                }
            }
        }
    }
}

/// One random case: shapes, options and values.
#[derive(Debug, Clone)]
struct Case {
    batch: usize,
    groups: usize,
    per_in: usize,
    per_out: usize,
    n: usize,
    m: usize,
    mode: Mode,
    op: Operation,
    method: Method,
    x: Vec<f64>,
    w: Vec<f64>,
    bias: Option<Vec<f64>>,
}

fn values_in(len: usize) -> impl Strategy<Value = Vec<f64>> {
    // Multiples of 1/8 in [-2, 2]: exact in f32, so only summation order can differ.
    prop::collection::vec((-16i32..=16).prop_map(|k| f64::from(k) / 8.0), len)
}

/// `v` with up to `count` values replaced by NaN, `+inf`, `-inf` or 0 (a zero tap or sample
/// makes `inf · 0` terms).
fn with_specials(v: Vec<f64>, count: usize) -> impl Strategy<Value = Vec<f64>> {
    let len = v.len();
    let specials = prop::sample::select(vec![f64::NAN, f64::INFINITY, f64::NEG_INFINITY, 0.0]);
    prop::collection::vec((0..len, specials), 0..=count).prop_map(move |hits| {
        let mut v = v.clone();
        for (i, value) in hits {
            v[i] = value;
        }
        v
    })
}

/// [`cases`] with NaN and infinities scattered in the signal and the kernels.
fn cases_with_specials() -> impl Strategy<Value = Case> {
    cases().prop_flat_map(|case| {
        (
            with_specials(case.x.clone(), 3),
            with_specials(case.w.clone(), 2),
        )
            .prop_map(move |(x, w)| Case {
                x,
                w,
                ..case.clone()
            })
    })
}

fn cases() -> impl Strategy<Value = Case> {
    let modes = prop::sample::select(Mode::ALL.to_vec());
    let ops = prop::sample::select(vec![Operation::Convolution, Operation::Correlation]);
    let methods = prop::sample::select(Method::ALL.to_vec());
    (
        1..=3usize,
        1..=3usize,
        1..=2usize,
        1..=2usize,
        1..=24usize,
        1..=16usize,
        modes,
        ops,
        (methods, any::<bool>()),
    )
        .prop_flat_map(
            |(batch, groups, per_in, per_out, n, m, mode, op, (method, has_bias))| {
                let (cin, cout) = (groups * per_in, groups * per_out);
                (
                    values_in(batch * cin * n),
                    values_in(cout * per_in * m),
                    values_in(cout),
                )
                    .prop_map(move |(x, w, bias)| {
                        let bias = has_bias.then_some(bias);
                        Case {
                            batch,
                            groups,
                            per_in,
                            per_out,
                            n,
                            m,
                            mode,
                            op,
                            method,
                            x,
                            w,
                            bias,
                        }
                    })
            },
        )
}

fn nest(flat: &[f64], shape: [usize; 3]) -> Vec<Vec<Vec<f64>>> {
    flat.chunks(shape[1] * shape[2])
        .map(|c| c.chunks(shape[2]).map(<[f64]>::to_vec).collect())
        .collect()
}

fn check(case: &Case, device: &Device) -> Result<(), TestCaseError> {
    let cin = case.groups * case.per_in;
    let cout = case.groups * case.per_out;
    let x_shape = [case.batch, cin, case.n];
    let w_shape = [cout, case.per_in, case.m];
    let expected = oracle::layer(
        case.op,
        &nest(&case.x, x_shape),
        &nest(&case.w, w_shape),
        case.bias.as_deref(),
        case.groups,
        case.mode,
    );
    let expected: Vec<f64> = expected.into_iter().flatten().flatten().collect();

    let x = t3(&case.x, x_shape, device);
    let w = t3(&case.w, w_shape, device);
    let b = case.bias.as_ref().map(|b| t1(b, device));
    let options = Convolve1dOptions::new(case.mode)
        .with_groups(case.groups)
        .with_operation(case.op)
        .with_method(case.method);
    let got = convolve1d(x.clone(), w.clone(), b.clone(), options)
        .map_err(|e| TestCaseError::fail(e.to_string()))?;
    let len = mode::output_len(case.n, case.m, case.mode);
    prop_assert_eq!(got.dims(), [case.batch, cout, len]);
    let terms = case.per_in * case.n.min(case.m) + 1;
    assert_close(
        &values(got),
        &expected,
        terms,
        4.0,
        &format!("convolve1d {case:?}"),
    );

    if case.op == Operation::Convolution {
        let layer = NpConvolve1d {
            weight: Param::from_tensor(w),
            bias: b.map(Param::from_tensor),
            groups: case.groups,
            mode: case.mode,
            method: case.method,
            boundary: burn_npconv::Boundary::Zeros,
        };
        assert_close(
            &values(layer.forward(x)),
            &expected,
            terms,
            4.0,
            &format!("layer {case:?}"),
        );
    }
    Ok(())
}

fn run_properties(device: &Device, count: u32, strategy: impl Strategy<Value = Case>) {
    let config = Config {
        cases: count,
        failure_persistence: None,
        ..Config::default()
    };
    let mut runner =
        TestRunner::new_with_rng(config, TestRng::from_seed(RngAlgorithm::ChaCha, &SEED));
    runner.run(&strategy, |case| check(&case, device)).unwrap();
}

on_every_backend! {
    fn batched_tensor_code_matches_the_oracle(device: &Device) {
        run_properties(device, 96, cases());
    }

    fn nan_and_infinities_land_where_numpys_sum_puts_them(device: &Device) {
        run_properties(device, 64, cases_with_specials());
    }
}
