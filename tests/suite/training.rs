//! Training end to end on every backend: a conv followed by a loss reduces correctly, and a
//! one-channel layer recovers an asymmetric FIR filter with Adam.

use crate::common;

use burn::module::Module;
use burn::nn::Initializer;
use burn::optim::{AdamConfig, GradientsParams};
use burn::tensor::{Tensor, TensorData};
use burn_npconv::{Mode, NpConvolve1d, NpConvolve1dConfig};
use common::values;

fn pseudo(len: usize, seed: usize) -> Vec<f32> {
    (0..len)
        .map(|i| (((i + seed) * 7919 + seed * 104_729) % 1000) as f32 / 1000.0 - 0.5)
        .collect()
}

on_every_backend! {
    fn loss_after_a_convolution_is_reduced_correctly(device: &Device) {
        // Regression: with burn/fusion on wgpu this gave 0.099 instead of 0.084.
        let target_values = pseudo(4 * 16, 3);
        let target = Tensor::<3>::from_data(TensorData::new(target_values.clone(), [4, 1, 16]), device);
        let x = Tensor::<3>::from_data(TensorData::new(pseudo(4 * 20, 1), [4, 1, 20]), device);
        let layer = NpConvolve1d::from_kernel(Tensor::<1>::zeros([5], device), Mode::Valid);
        let loss = (layer.forward(x) - target).square().mean().into_scalar::<f32>();
        let want = target_values.iter().map(|v| v * v).sum::<f32>() / 64.0;
        assert!((loss - want).abs() < 1e-6, "loss {loss}, expected {want}");
    }

    fn adam_recovers_an_asymmetric_filter(device: &Device) {
        let device = device.clone().autodiff();
        let truth = [0.05f32, -0.2, 0.7, 0.4, -0.1, 0.02, 0.0];
        let m = truth.len();
        let (batch, len) = (8, 64);
        let mut layer = NpConvolve1dConfig::new(1, 1, m)
            .with_mode(Mode::Valid)
            .with_initializer(Initializer::Zeros)
            .init(&device);
        let reference = NpConvolve1d::from_kernel(Tensor::from_floats(truth, &device), Mode::Valid).valid();
        let mut optim = AdamConfig::new().init();
        for step in 0..200 {
            let x = Tensor::<3>::from_data(TensorData::new(pseudo(batch * (len + m - 1), step), [batch, 1, len + m - 1]), &device);
            let target = Tensor::from_inner(reference.forward(x.clone().inner()));
            let loss = (layer.forward(x) - target).square().mean();
            let grads = GradientsParams::from_grads(loss.backward(), &layer);
            let lr = if step < 150 { 0.02 } else { 0.002 };
            layer = optim.step(lr, layer, grads);
        }
        let learned = values(layer.weight.val());
        let err = learned.iter().zip(truth).map(|(a, b)| (a - f64::from(b)).abs()).fold(0.0, f64::max);
        assert!(err < 1e-2, "learned {learned:?}, true {truth:?}, max error {err}");
    }
}
