//! The three training cases of docs/PERFORMANCE.md (`same` mode, `y.sum().backward()` with the input and
//! weight gradients) on one device for every method: the time of a forward and of a forward +
//! backward (one run each after a warm-up run of the same shapes), and the largest difference
//! of the output and both gradients from flex's `Method::Direct`, relative to each tensor's
//! largest magnitude.
//!
//! For wgpu on a machine without a GPU (Mesa's lavapipe) the times are correctness-only; the
//! CPU backends are measured properly by `cargo bench --bench convolve` (group `train`).
//!
//! ```text
//! cargo run --release --example train_check --features wgpu -- --device wgpu   # needs flex too (the reference)
//! ```

mod common;

use std::time::Instant;

use burn::tensor::{Device, Tensor, TensorData};
use burn_npconv::{Convolve1dOptions, Method, Mode, convolve1d};
use common::{Error, device_from_args, main_with};

/// `(name, batch, channels_in, channels_out, length, taps, groups)`, as in benches/convolve.rs.
const CASES: [(&str, usize, usize, usize, usize, usize, usize); 3] = [
    ("depthwise-B64-C16-N16000-M31", 64, 16, 16, 16_000, 31, 16),
    ("dense-B16-C16-N16000-M31", 16, 16, 16, 16_000, 31, 1),
    ("dense-B8-C32-N4000-M255", 8, 32, 32, 4_000, 255, 1),
];

fn pseudo(len: usize, seed: usize) -> Vec<f32> {
    let mut rng = common::Rng::new(seed as u64);
    (0..len).map(|_| rng.normal() as f32).collect()
}

/// Output, input gradient and weight gradient of one training step, and the times of the
/// forward alone and of forward + backward.
fn step(
    device: &Device,
    case: (usize, usize, usize, usize, usize, usize),
    method: Method,
) -> Result<([Vec<f32>; 3], f64, f64), Error> {
    let (batch, cin, cout, n, m, groups) = case;
    let options = Convolve1dOptions::new(Mode::Same)
        .with_groups(groups)
        .with_method(method);
    let ad = device.clone().autodiff();
    let tensor = |shape: [usize; 3], seed| {
        Tensor::<3>::from_data(
            TensorData::new(pseudo(shape.iter().product(), seed), shape),
            &ad,
        )
    };
    let x = tensor([batch, cin, n], 1).require_grad();
    let w = tensor([cout, cin / groups, m], 2).require_grad();
    device.sync()?;
    let start = Instant::now();
    let y = convolve1d(x.clone().inner(), w.clone().inner(), None, options)?;
    device.sync()?;
    let forward = start.elapsed().as_secs_f64();
    drop(y);
    let start = Instant::now();
    let y = convolve1d(x.clone(), w.clone(), None, options)?;
    let grads = y.clone().sum().backward();
    let dx = x.grad(&grads).ok_or("no input gradient")?;
    let dw = w.grad(&grads).ok_or("no weight gradient")?;
    device.sync()?;
    let both = start.elapsed().as_secs_f64();
    let host = |t: Tensor<3>| t.into_data().iter::<f32>().collect::<Vec<_>>();
    Ok(([host(y.inner()), host(dx), host(dw)], forward, both))
}

/// The largest `|a - b|` over the largest `|b|`.
fn rel_diff(a: &[f32], b: &[f32]) -> f64 {
    let scale = b.iter().fold(0.0f64, |s, v| s.max(f64::from(v.abs())));
    let diff = a
        .iter()
        .zip(b)
        .fold(0.0f64, |s, (x, y)| s.max(f64::from((x - y).abs())));
    diff / scale.max(f64::MIN_POSITIVE)
}

fn run() -> Result<(), Error> {
    let (name, device) = device_from_args()?;
    println!(
        "| case | method | forward | forward + backward | ratio | max rel. diff from flex direct: output, input grad, weight grad |"
    );
    println!("|---|---|---|---|---|---|");
    let mut worst: f64 = 0.0;
    for (case_name, batch, cin, cout, n, m, groups) in CASES {
        let case = (batch, cin, cout, n, m, groups);
        let (reference, _, _) = step(&Device::flex(), case, Method::Direct)?;
        for method in Method::ALL {
            step(&device, case, method)?; // warm-up: shaders, autotune, plans
            let (got, forward, both) = step(&device, case, method)?;
            let diffs: Vec<f64> = got
                .iter()
                .zip(&reference)
                .map(|(g, r)| rel_diff(g, r))
                .collect();
            worst = diffs.iter().fold(worst, |w, &d| w.max(d));
            println!(
                "| {case_name} | {method} | {:.0} ms | {:.0} ms | {:.2}x | {:.1e}, {:.1e}, {:.1e} |",
                forward * 1e3,
                both * 1e3,
                both / forward,
                diffs[0],
                diffs[1],
                diffs[2]
            );
        }
    }
    println!("\non {name}; worst relative difference from flex direct: {worst:.1e}");
    if worst > 1e-4 {
        return Err(format!("{name} differs from flex by {worst:.1e}").into());
    }
    Ok(())
}

fn main() {
    main_with(run);
}
