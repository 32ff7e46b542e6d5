//! A layer trained on one backend, saved with Burn's module file format, loads on every other
//! backend and gives the same outputs; a weight file of the wrong shape is a clear error.

use crate::common;

use burn::module::Module;
use burn::optim::{AdamConfig, GradientsParams};
use burn::store::RecordError;
use burn::tensor::{Device, Distribution, Tensor, TensorData};
use burn_npconv::{Mode, NpConvolve1d, NpConvolve1dConfig};
use common::{assert_close, available_devices, values};

fn config() -> NpConvolve1dConfig {
    NpConvolve1dConfig::new(4, 6, 5)
        .with_groups(2)
        .with_bias(true)
        .with_mode(Mode::Same)
}

fn train(device: &Device) -> NpConvolve1d {
    let device = device.clone().autodiff();
    device.seed(21);
    let mut layer = config().init(&device);
    let mut optim = AdamConfig::new().init();
    for _ in 0..5 {
        let x = Tensor::<3>::random([2, 4, 20], Distribution::Normal(0.0, 1.0), &device);
        let loss = layer
            .forward(x.clone())
            .sum_dim(1)
            .sub(x.sum_dim(1))
            .square()
            .mean();
        let grads = GradientsParams::from_grads(loss.backward(), &layer);
        layer = optim.step(0.01, layer, grads);
    }
    layer.valid()
}

fn probe(device: &Device) -> Tensor<3> {
    let data: Vec<f32> = (0..4 * 2 * 20)
        .map(|i| ((i * 37 % 23) as f32 - 11.0) / 8.0)
        .collect();
    Tensor::from_data(TensorData::new(data, [2, 4, 20]), device)
}

fn scratch(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("npconv-save-load-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

#[test]
fn trained_on_one_backend_loads_on_every_other() {
    let devices = available_devices();
    assert!(!devices.is_empty());
    for (trained_on, device) in &devices {
        let layer = train(device);
        let expected = values(layer.forward(probe(device)));
        let path = scratch(&format!("trained-on-{trained_on}"));
        layer.save_file(&path).unwrap();
        for (loaded_on, target) in &devices {
            let loaded = config().init(target).try_load_file(&path).unwrap();
            assert_eq!(loaded.weight.device(), *target);
            let got = values(loaded.forward(probe(target)));
            let what = format!("trained on {trained_on}, loaded on {loaded_on}");
            assert_close(&got, &expected, 2 * 5 + 1, 4.0, &what);
        }
    }
}

#[test]
fn a_weight_file_of_the_wrong_shape_is_a_clear_error() {
    for (backend, device) in available_devices() {
        let path = scratch(&format!("k5-{backend}"));
        config().init(&device).save_file(&path).unwrap();
        let mut other = config();
        other.kernel_size = 7;
        let other = other.init(&device);
        let err = other.try_load_file(&path).unwrap_err();
        let message = err.to_string();
        assert!(
            matches!(err, RecordError::Validation(_)),
            "{backend}: {message}"
        );
        assert!(message.contains("weight"), "{backend}: {message}");
        assert!(
            message.contains("[6, 2, 7]") && message.contains("[6, 2, 5]"),
            "{backend}: the message names both shapes: {message}"
        );
    }
}
