//! The crate's main job in one run: `NpConvolve1d` reproducing `np.convolve` / `np.correlate`
//! in every mode, on every enabled backend, checked against numbers NumPy produced
//! (`tests/fixtures/numpy_cases.json`, made by `tests/fixtures/generate.py`).
//!
//! ```text
//! cargo run --example quickstart                      # flex, the default CPU device
//! cargo run --example quickstart --all-features       # flex, ndarray and wgpu
//! cargo run --example quickstart -- --device ndarray  # one backend (its feature must be on)
//! cargo run --example quickstart --features remote -- --device ws://127.0.0.1:3000  # a server (`serve`)
//! ```

mod common;

use std::time::Instant;

use burn::config::Config;
use burn::module::Param;
use burn::tensor::{Device, Distribution, Tensor, TensorData};
use burn_npconv::{BackendKind, Mode, NpConvolve1d, NpConvolve1dConfig, correlate};
use serde_json::Value;

const CONFIGS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/configs");
const FIXTURES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/numpy_cases.json"
);

use common::Error;

fn main() {
    common::main_with(run);
}

/// `--device NAME` (a backend, or a server's `ws://HOST:PORT`), else every enabled backend.
fn devices() -> Result<Vec<(String, Device)>, Error> {
    let name = common::flag("--device", "");
    if !name.is_empty() {
        return Ok(vec![(name.clone(), common::device_named(&name)?)]);
    }
    if std::env::args().len() > 1 {
        return Err(
            "usage: quickstart [--device flex|ndarray|wgpu|ws://HOST:PORT [--token-file PATH]]"
                .into(),
        );
    }
    BackendKind::enabled()
        .into_iter()
        .map(|b| Ok((b.to_string(), b.device()?)))
        .collect()
}

fn tensor1(values: &[f64], device: &Device) -> Tensor<1> {
    let data: Vec<f32> = values.iter().map(|&v| v as f32).collect();
    Tensor::from_data(TensorData::new(data, [values.len()]), device)
}

fn floats(v: &Value) -> Vec<f64> {
    v.as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_f64)
        .collect()
}

fn fmt(values: &[f64]) -> String {
    let items: Vec<String> = values.iter().map(|v| format!("{v}")).collect();
    format!("[{}]", items.join(", "))
}

fn max_diff(a: &[f64], b: &[f64]) -> f64 {
    if a.len() != b.len() {
        return f64::INFINITY;
    }
    a.iter().zip(b).fold(0.0, |m, (x, y)| m.max((x - y).abs()))
}

fn run() -> Result<(), Error> {
    let devices = devices()?;
    let fixtures: Value = serde_json::from_str(&std::fs::read_to_string(FIXTURES)?)?;
    let numpy = fixtures["numpy_version"].as_str().unwrap_or("?");
    let config = NpConvolve1dConfig::load(format!("{CONFIGS}/quickstart.json"))?;
    println!("burn-npconv quickstart: NumPy's convolution as a Burn layer");
    println!(
        "layer config (configs/quickstart.json): kernel_size {}, mode {}",
        config.kernel_size, config.mode
    );
    println!("reference numbers: NumPy {numpy} (tests/fixtures/numpy_cases.json)\n");

    let mut worst: f64 = 0.0;
    for (name, device) in &devices {
        println!("== {name} ==");
        for case in fixtures["quickstart"]
            .as_array()
            .ok_or("fixtures have no quickstart cases")?
        {
            let (a, v) = (floats(&case["a"]), floats(&case["v"]));
            println!("a = {}\nv = {}", fmt(&a), fmt(&v));
            // NumPy's three modes (the causal mode is not NumPy's: see the README).
            for mode in Mode::NUMPY {
                // The layer, built from the config file when the kernel length matches it.
                let layer = if v.len() == config.kernel_size {
                    let mut layer = config.clone().with_mode(mode).try_init(device)?;
                    layer.weight = Param::from_tensor(tensor1(&v, device).reshape([1, 1, v.len()]));
                    layer
                } else {
                    NpConvolve1d::from_kernel(tensor1(&v, device), mode)
                };
                let x = tensor1(&a, device).reshape([1, 1, a.len()]);
                let y = values(layer.try_forward(x)?);
                let expected = floats(&case["convolve"][mode.as_str()]);
                let d = max_diff(&y, &expected);
                worst = worst.max(d);
                println!(
                    "  np.convolve(a, v, {:<7}) = {}  layer: {}",
                    format!("\"{mode}\""),
                    fmt(&expected),
                    verdict(d)
                );

                let expected = floats(&case["correlate"][mode.as_str()]);
                let y = values(correlate(tensor1(&a, device), tensor1(&v, device), mode)?);
                let d = max_diff(&y, &expected);
                worst = worst.max(d);
                println!(
                    "  np.correlate(a, v, {:<6}) = {}  burn_npconv::correlate: {}",
                    format!("\"{mode}\""),
                    fmt(&expected),
                    verdict(d)
                );
            }
        }
        depthwise(device)?;
        println!();
    }
    if worst > 1e-4 {
        return Err(format!("results differ from NumPy by up to {worst}").into());
    }
    println!(
        "every result matches NumPy {numpy} on {} (max |diff| {worst:e})",
        devices
            .iter()
            .map(|(name, _)| name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    );
    Ok(())
}

fn verdict(diff: f64) -> String {
    if diff <= 1e-4 {
        "matches".into()
    } else {
        format!("DIFFERS by {diff}")
    }
}

fn values<const D: usize>(t: Tensor<D>) -> Vec<f64> {
    t.into_data().iter::<f32>().map(f64::from).collect()
}

/// A batched, depthwise, biased layer from `configs/depthwise.json` on 8 x 4 x 16,000 samples.
fn depthwise(device: &Device) -> Result<(), Error> {
    let config = NpConvolve1dConfig::load(format!("{CONFIGS}/depthwise.json"))?;
    device.seed(7);
    let layer = config.try_init(device)?;
    let x = Tensor::<3>::random(
        [8, config.channels_in, 16_000],
        Distribution::Normal(0.0, 1.0),
        device,
    );
    let start = Instant::now();
    let y = layer.try_forward(x)?;
    let dims = y.dims();
    let mean = y.mean().into_scalar::<f32>();
    println!(
        "  configs/depthwise.json: {layer}\n  forward [8, {}, 16000] -> {dims:?} in {:.1} ms (mean {mean:.4})",
        config.channels_in,
        start.elapsed().as_secs_f64() * 1e3
    );
    Ok(())
}
