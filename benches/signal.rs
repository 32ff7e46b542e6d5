//! `burn_npconv::signal` on images and volumes, against SciPy and PyTorch
//! (`benches/signal_reference.py`, run right after on the same machine).
//!
//! ```text
//! cargo bench --bench signal --features ndarray
//! python3 benches/signal_reference.py
//! ```
//! `signal::convolve(image, kernel, "same")` with `Method::Auto` on flex (and ndarray when the
//! feature is on), f32 and f64, output read back to host memory: the median of rounds lasting
//! about a second in all (at least three). Writes `benches/results/signal.json`, which the
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
];
const GRID_3D: &[(usize, usize)] = &[
    (64, 3),
    (64, 7),
    (64, 15),
    (64, 31),
    (128, 3),
    (128, 7),
    (128, 15),
];

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

fn main() {
    // `SIGNAL_BENCH=2d-1024-7,3d-64-7`: only these points (f32, flex).
    if let Ok(only) = std::env::var("SIGNAL_BENCH") {
        let device = Device::flex();
        for key in only.split(',') {
            let parts: Vec<&str> = key.split('-').collect();
            let (n, m) = (parts[1].parse().unwrap(), parts[2].parse().unwrap());
            let s = match parts[0] {
                "2d" => point::<2>(&device, DType::F32, n, m),
                _ => point::<3>(&device, DType::F32, n, m),
            };
            println!("flex/f32/{key}: {:.3} ms", s * 1e3);
        }
        return;
    }
    let mut devices = vec![("flex", Device::flex())];
    #[cfg(feature = "ndarray")]
    #[allow(deprecated)] // burn-ndarray is deprecated upstream; our users asked for it.
    devices.push(("ndarray", Device::ndarray()));
    let mut results: BTreeMap<String, f64> = BTreeMap::new();
    for dtype in [DType::F32, DType::F64] {
        let dt = if dtype == DType::F32 { "f32" } else { "f64" };
        for (name, device) in &devices {
            for &(n, m) in GRID_2D {
                let s = point::<2>(device, dtype, n, m);
                let key = format!("{name}/{dt}/2d-{n}-{m}");
                println!("{key}: {:.3} ms", s * 1e3);
                results.insert(key, s);
            }
            for &(n, m) in GRID_3D {
                let s = point::<3>(device, dtype, n, m);
                let key = format!("{name}/{dt}/3d-{n}-{m}");
                println!("{key}: {:.3} ms", s * 1e3);
                results.insert(key, s);
            }
        }
    }
    let out = concat!(env!("CARGO_MANIFEST_DIR"), "/benches/results/signal.json");
    std::fs::write(out, serde_json::to_string_pretty(&results).unwrap()).unwrap();
    println!("wrote {out}");
}
