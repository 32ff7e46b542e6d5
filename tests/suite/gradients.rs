//! Gradients through the layer under `device.autodiff()`, proven against the analytic
//! identities of convolution on every backend: with `y = np.convolve(x, w, mode)`, upstream
//! gradient `g` and `g_full` = `g` zero-padded to the `full` window,
//! `dL/dx = np.correlate(g_full, w, "valid")`, `dL/dw = np.correlate(g_full, x, "valid")` and
//! `dL/dbias = Σ g`. (Finite differences in f64 are in `tests/suite/gradients_fd.rs`.)

use crate::common;

use burn::module::{Module, Param};
use burn::optim::{AdamConfig, GradientsParams};
use burn::tensor::Device;
use burn_npconv::{Method, Mode, NpConvolve1d, NpConvolve1dConfig, Operation, mode};
use common::{assert_close, oracle, t1, t3, values};

/// A deterministic pseudo-random sequence in [-1, 1), multiples of 1/64 (exact in f32).
fn sequence(len: usize, seed: u64) -> Vec<f64> {
    let mut state = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..len)
        .map(|_| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((state >> 33) % 128) as f64 / 64.0 - 1.0
        })
        .collect()
}

#[derive(Debug, Clone, Copy)]
struct Shape {
    batch: usize,
    cin: usize,
    cout: usize,
    groups: usize,
    n: usize,
    m: usize,
    mode: Mode,
    bias: bool,
}

fn shapes() -> Vec<Shape> {
    let mut out = Vec::new();
    for mode in Mode::ALL {
        for (n, m) in [(9, 3), (9, 4), (4, 7), (5, 6), (1, 3)] {
            out.push(Shape {
                batch: 2,
                cin: 1,
                cout: 1,
                groups: 1,
                n,
                m,
                mode,
                bias: false,
            });
        }
        out.push(Shape {
            batch: 2,
            cin: 4,
            cout: 6,
            groups: 2,
            n: 11,
            m: 5,
            mode,
            bias: true,
        });
        out.push(Shape {
            batch: 3,
            cin: 3,
            cout: 3,
            groups: 3,
            n: 6,
            m: 8,
            mode,
            bias: true,
        });
        out.push(Shape {
            batch: 1,
            cin: 2,
            cout: 3,
            groups: 1,
            n: 7,
            m: 2,
            mode,
            bias: true,
        });
    }
    out
}

fn check_identities(s: Shape, method: Method, device: &Device) {
    let device = device.clone().autodiff();
    let per_in = s.cin / s.groups;
    let per_out = s.cout / s.groups;
    let len = mode::output_len(s.n, s.m, s.mode);
    let xv = sequence(s.batch * s.cin * s.n, 1);
    let wv = sequence(s.cout * per_in * s.m, 2);
    let bv = sequence(s.cout, 3);
    let gv = sequence(s.batch * s.cout * len, 4);

    let x = t3(&xv, [s.batch, s.cin, s.n], &device).require_grad();
    let layer = NpConvolve1d {
        weight: Param::from_tensor(t3(&wv, [s.cout, per_in, s.m], &device)),
        bias: s.bias.then(|| Param::from_tensor(t1(&bv, &device))),
        groups: s.groups,
        mode: s.mode,
        method,
        boundary: burn_npconv::Boundary::Zeros,
    };
    let g = t3(&gv, [s.batch, s.cout, len], &device);
    let loss = (layer.forward(x.clone()) * g).sum();
    let grads = loss.backward();
    let dx = values(x.grad(&grads).expect("input gradient"));
    let dw = values(layer.weight.grad(&grads).expect("weight gradient"));

    // The identities, in f64 through the oracle.
    let (start, _) = mode::window(s.n, s.m, s.mode, Operation::Convolution);
    let full = s.n + s.m - 1;
    let g_full = |b: usize, o: usize| {
        let mut v = vec![0.0; full];
        v[start..start + len].copy_from_slice(&gv[(b * s.cout + o) * len..][..len]);
        v
    };
    let x_row = |b: usize, i: usize| xv[(b * s.cin + i) * s.n..][..s.n].to_vec();
    let w_row = |o: usize, i: usize| wv[(o * per_in + i) * s.m..][..s.m].to_vec();
    let add = |acc: &mut Vec<f64>, y: Vec<f64>| acc.iter_mut().zip(y).for_each(|(a, y)| *a += y);

    let mut want_dx = Vec::new();
    for b in 0..s.batch {
        for c in 0..s.cin {
            let (grp, i) = (c / per_in, c % per_in);
            let mut acc = vec![0.0; s.n];
            for o in grp * per_out..(grp + 1) * per_out {
                add(
                    &mut acc,
                    oracle::numpy(
                        Operation::Correlation,
                        &g_full(b, o),
                        &w_row(o, i),
                        Mode::Valid,
                    ),
                );
            }
            want_dx.extend(acc);
        }
    }
    let mut want_dw = Vec::new();
    for o in 0..s.cout {
        let grp = o / per_out;
        for i in 0..per_in {
            let mut acc = vec![0.0; s.m];
            for b in 0..s.batch {
                add(
                    &mut acc,
                    oracle::numpy(
                        Operation::Correlation,
                        &g_full(b, o),
                        &x_row(b, grp * per_in + i),
                        Mode::Valid,
                    ),
                );
            }
            want_dw.extend(acc);
        }
    }
    let what = format!("{s:?} {method}");
    assert_close(&dx, &want_dx, per_out * s.m, 1.0, &format!("dL/dx {what}"));
    assert_close(&dw, &want_dw, s.batch * full, 1.0, &format!("dL/dw {what}"));

    if let Some(bias) = &layer.bias {
        let db = values(bias.grad(&grads).expect("bias gradient"));
        let want_db: Vec<f64> = (0..s.cout)
            .map(|o| {
                (0..s.batch)
                    .map(|b| gv[(b * s.cout + o) * len..][..len].iter().sum::<f64>())
                    .sum()
            })
            .collect();
        assert_close(
            &db,
            &want_db,
            s.batch * len,
            1.0,
            &format!("dL/dbias {what}"),
        );
    }
}

#[derive(Module, Debug)]
struct TwoLayers {
    frozen: NpConvolve1d,
    trained: NpConvolve1d,
}

on_every_backend! {
    fn gradients_of_a_long_signal_are_exact(device: &Device) {
        // Regression: Burn 0.22.1's conv1d weight gradient on wgpu is wrong beyond about
        // 128,000 outputs per call (off by the gradient's own size at 300,000).
        // Full mode and y.sum(): every sample meets every tap once, so
        // dL/dw[c, 0, k] = Σ_b Σ_t x[b, c, t] and dL/dx[b, c, t] = Σ_k w[c, 0, k].
        let device = device.clone().autodiff();
        let (batch, channels, n, m) = (2, 2, 150_000, 31);
        let xs = sequence(batch * channels * n, 41);
        let ws = sequence(channels * m, 42);
        for method in Method::ALL {
            let x = t3(&xs, [batch, channels, n], &device).require_grad();
            let w = t3(&ws, [channels, 1, m], &device).require_grad();
            let options = burn_npconv::Convolve1dOptions::new(Mode::Full)
                .with_groups(channels)
                .with_method(method);
            let y = burn_npconv::convolve1d(x.clone(), w.clone(), None, options).unwrap();
            let grads = y.sum().backward();
            let dw = values(w.grad(&grads).unwrap());
            let dx = values(x.grad(&grads).unwrap());
            for c in 0..channels {
                let (sum, size) = (0..batch)
                    .flat_map(|b| &xs[(b * channels + c) * n..][..n])
                    .fold((0.0, 0.0), |(s, a), v| (s + v, a + v.abs()));
                for k in 0..m {
                    let got = dw[c * m + k];
                    assert!((got - sum).abs() <= 1e-5 * size, "{method}: dw[{c}, 0, {k}] = {got}, expected {sum}");
                }
                let tap_sum: f64 = ws[c * m..][..m].iter().sum();
                for b in 0..batch {
                    let row = &dx[(b * channels + c) * n..][..n];
                    let worst = row.iter().fold(0.0f64, |w, v| w.max((v - tap_sum).abs()));
                    assert!(worst <= 1e-5 * (1.0 + tap_sum.abs()), "{method}: dx row ({b}, {c}) off by {worst}");
                }
            }
        }
    }

    fn a_leaf_gradient_is_an_ordinary_tensor(device: &Device) {
        // The input gradient of a leaf is registered in the form its backend reads fastest
        // while `Gradients` holds it (borrowed memory on ndarray). It must accumulate, take
        // part in arithmetic, be read twice and stay unchanged by what is done to a copy.
        // Full mode and y.sum(): dL/dx[b, c, t] = Σ_k w1[c, 0, k] + Σ_k w2[c, 0, k].
        let device = device.clone().autodiff();
        let (batch, channels, n, m) = (2, 3, 40, 5);
        let xs = sequence(batch * channels * n, 43);
        let (w1s, w2s) = (sequence(channels * m, 44), sequence(channels * m, 45));
        for method in Method::ALL {
            let x = t3(&xs, [batch, channels, n], &device).require_grad();
            let w1 = t3(&w1s, [channels, 1, m], &device);
            let w2 = t3(&w2s, [channels, 1, m], &device);
            let options = burn_npconv::Convolve1dOptions::new(Mode::Full)
                .with_groups(channels)
                .with_method(method);
            let y1 = burn_npconv::convolve1d(x.clone(), w1, None, options).unwrap();
            let y2 = burn_npconv::convolve1d(x.clone(), w2, None, options).unwrap();
            let grads = (y1.sum() + y2.sum()).backward();
            let expected = |c: usize| -> f64 {
                w1s[c * m..][..m].iter().sum::<f64>() + w2s[c * m..][..m].iter().sum::<f64>()
            };
            let check = |dx: &[f64], what: &str| {
                for (i, v) in dx.iter().enumerate() {
                    let e = expected(i / n % channels);
                    assert!((v - e).abs() <= 1e-5, "{method}, {what}: dx[{i}] = {v}, expected {e}");
                }
            };
            let g = x.grad(&grads).unwrap();
            let doubled = values(g.clone() * 2.0 - g.clone());
            check(&doubled, "2·dx - dx");
            check(&values(g), "dx");
            check(&values(x.grad(&grads).unwrap()), "dx read again");
        }
    }

    fn gradients_satisfy_the_convolution_identities(device: &Device) {
        for method in Method::ALL {
            for shape in shapes() {
                check_identities(shape, method, device);
            }
        }
    }

    fn a_frozen_kernel_does_not_move_while_the_rest_trains(device: &Device) {
        let device = device.clone().autodiff();
        device.seed(11);
        let config = NpConvolve1dConfig::new(2, 2, 5).with_mode(Mode::Same).with_bias(true);
        let model = TwoLayers { frozen: config.init(&device).no_grad(), trained: config.init(&device) };
        let frozen_before = values(model.frozen.weight.val());
        let trained_before = values(model.trained.weight.val());

        let mut optim = AdamConfig::new().init();
        let x = t3(&sequence(2 * 2 * 16, 5), [2, 2, 16], &device);
        let target = t3(&sequence(2 * 2 * 16, 6), [2, 2, 16], &device);
        let mut model = model;
        for _ in 0..3 {
            let y = model.trained.forward(model.frozen.forward(x.clone()));
            let loss = (y - target.clone()).square().mean();
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            model = optim.step(0.05, model, grads);
        }
        assert_eq!(values(model.frozen.weight.val()), frozen_before, "the frozen kernel moved");
        let moved = values(model.trained.weight.val())
            .iter()
            .zip(&trained_before)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f64::max);
        assert!(moved > 1e-3, "the trainable kernel did not train (max change {moved})");
    }
}
