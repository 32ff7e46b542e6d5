//! `burn_npconv::signal` on images and volumes, against SciPy and PyTorch
//! (`benches/signal_reference.py`, run right after on the same machine).
//!
//! ```text
//! cargo bench --bench signal --features ndarray
//! python3 benches/signal_reference.py
//! ```
//! `signal::convolve(image, kernel, "same")` with `Method::Auto` on flex (and ndarray when the
//! feature is on), f32 and f64, output read back to host memory: the median of rounds lasting
//! about a second in all (at least three); and `signal::convolve_separable(image, [k; D],
//! "same")` on the `sep` points. Writes `benches/results/signal.json`, which the
//! reference script reads to write `docs/SIGNAL_PERFORMANCE.md`.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use burn::tensor::{DType, Device, Distribution, Tensor};
use burn_npconv::{Mode, signal};

/// `(image side, kernel side)` in 2-D and 3-D; the points the references finish in seconds.
const GRID_2D: &[(usize, usize)] = &[
    (256, 3),
    (256, 7),
    (256, 31),
    (256, 127),
    (1024, 3),
    (1024, 7),
    (1024, 31),
    (1024, 127),
    (4096, 3),
    (4096, 7),
    (4096, 31),
];
const GRID_3D: &[(usize, usize)] = &[
    (64, 3),
    (64, 7),
    (64, 15),
    (64, 31),
    (128, 3),
    (128, 7),
    (128, 15),
    (128, 31),
    (256, 31),
];

/// `(image side, factor length)` of the separable points (`signal::convolve_separable`).
const GRID_SEP_2D: &[(usize, usize)] = &[(1024, 7), (1024, 31), (1024, 127), (4096, 31)];
const GRID_SEP_3D: &[(usize, usize)] = &[(64, 15), (128, 15), (128, 31)];

/// Seconds per call: the median of rounds until about `budget` has passed (at least three).
fn time(mut call: impl FnMut(), budget: Duration) -> f64 {
    call(); // plans, pages
    let start = Instant::now();
    let mut runs = Vec::new();
    while runs.len() < 3 || start.elapsed() < budget {
        let t = Instant::now();
        call();
        runs.push(t.elapsed().as_secs_f64());
        if runs.len() >= 50 {
            break;
        }
    }
    runs.sort_by(f64::total_cmp);
    runs[runs.len() / 2]
}

fn point<const D: usize>(device: &Device, dtype: DType, n: usize, m: usize) -> f64 {
    let image = Tensor::<D>::random([n; D], Distribution::Normal(0.0, 1.0), (device, dtype));
    let kernel = Tensor::<D>::random([m; D], Distribution::Normal(0.0, 1.0), (device, dtype));
    time(
        || {
            let y = signal::convolve(image.clone(), kernel.clone(), Mode::Same).unwrap();
            std::hint::black_box(y.into_data());
        },
        Duration::from_secs(1),
    )
}

/// `signal::convolve_separable(image, [k; D], "same")`.
fn separable_point<const D: usize>(device: &Device, dtype: DType, n: usize, m: usize) -> f64 {
    let image = Tensor::<D>::random([n; D], Distribution::Normal(0.0, 1.0), (device, dtype));
    let factor = Tensor::<1>::random([m], Distribution::Normal(0.0, 1.0), (device, dtype));
    time(
        || {
            let factors: [Tensor<1>; D] = core::array::from_fn(|_| factor.clone());
            let options = signal::Options::new(Mode::Same);
            let y = signal::convolve_separable(image.clone(), factors, options).unwrap();
            std::hint::black_box(y.into_data());
        },
        Duration::from_secs(1),
    )
}

/// The point `key` (`2d-1024-7`, `3d-64-15`, `sep2d-1024-31`, ...) on `device` in `dtype`.
fn run_key(device: &Device, dtype: DType, key: &str) -> f64 {
    let parts: Vec<&str> = key.split('-').collect();
    let (n, m) = (parts[1].parse().unwrap(), parts[2].parse().unwrap());
    match parts[0] {
        "2d" => point::<2>(device, dtype, n, m),
        "3d" => point::<3>(device, dtype, n, m),
        "sep2d" => separable_point::<2>(device, dtype, n, m),
        "sep3d" => separable_point::<3>(device, dtype, n, m),
        other => panic!("unknown kind of point {other}"),
    }
}

fn main() {
    // `SIGNAL_BENCH=2d-1024-7,3d-64-7,sep2d-1024-31`: only these points (f32, flex; an
    // `ndarray:` prefix runs a point on ndarray).
    if let Ok(only) = std::env::var("SIGNAL_BENCH") {
        for key in only.split(',') {
            let (name, key, device) = match key.strip_prefix("ndarray:") {
                #[cfg(feature = "ndarray")]
                #[allow(deprecated)]
                // burn-ndarray is deprecated upstream; our users asked for it.
                Some(key) => ("ndarray", key, Device::ndarray()),
                _ => ("flex", key, Device::flex()),
            };
            let s = run_key(&device, DType::F32, key);
            println!("{name}/f32/{key}: {:.3} ms", s * 1e3);
        }
        return;
    }
    let keys: Vec<String> = [
        ("2d", GRID_2D),
        ("3d", GRID_3D),
        ("sep2d", GRID_SEP_2D),
        ("sep3d", GRID_SEP_3D),
    ]
    .iter()
    .flat_map(|(kind, grid)| grid.iter().map(move |(n, m)| format!("{kind}-{n}-{m}")))
    .collect();
    #[allow(unused_mut)] // pushed to with the ndarray feature
    let mut devices = vec![("flex", Device::flex())];
    #[cfg(feature = "ndarray")]
    #[allow(deprecated)] // burn-ndarray is deprecated upstream; our users asked for it.
    devices.push(("ndarray", Device::ndarray()));
    let mut results: BTreeMap<String, f64> = BTreeMap::new();
    for dtype in [DType::F32, DType::F64] {
        let dt = if dtype == DType::F32 { "f32" } else { "f64" };
        for (name, device) in &devices {
            for key in &keys {
                let s = run_key(device, dtype, key);
                let key = format!("{name}/{dt}/{key}");
                println!("{key}: {:.3} ms", s * 1e3);
                results.insert(key, s);
            }
        }
    }
    let out = concat!(env!("CARGO_MANIFEST_DIR"), "/benches/results/signal.json");
    std::fs::write(out, serde_json::to_string_pretty(&results).unwrap()).unwrap();
    println!("wrote {out}");
}
