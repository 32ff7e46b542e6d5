//! `(conv1d(x, w) - t).square().mean()` on wgpu with `burn/fusion` against the same on flex,
//! with plain Burn 0.22.1: no other crate involved. With a zero kernel the convolution is zero
//! and the loss must be `mean(t²)`.
//!
//! ```text
//! cargo run --release            # in this folder; a machine without a GPU needs lavapipe
//! ```

use burn::tensor::module::conv1d;
use burn::tensor::ops::ConvOptions;
use burn::tensor::{Device, Tensor, TensorData};

fn pseudo(len: usize, seed: usize) -> Vec<f32> {
    (0..len)
        .map(|i| (((i + seed) * 7919 + seed * 104_729) % 1000) as f32 / 1000.0 - 0.5)
        .collect()
}

/// The loss through `conv1d`, and the same with the convolution's output made by `zeros`.
fn losses(device: &Device, flip: bool) -> (f32, f32) {
    let t = Tensor::<3>::from_data(TensorData::new(pseudo(64, 3), [4, 1, 16]), device);
    let x = Tensor::<3>::from_data(TensorData::new(pseudo(80, 1), [4, 1, 20]), device);
    let w = Tensor::<3>::zeros([1, 1, 5], device);
    let w = if flip { w.flip([2]) } else { w };
    let y = conv1d(x, w, None, ConvOptions::new([1], [0], [1], 1));
    let through_conv = (y - t.clone()).square().mean().into_scalar::<f32>();
    let without = (Tensor::<3>::zeros([4, 1, 16], device) - t)
        .square()
        .mean()
        .into_scalar::<f32>();
    (through_conv, without)
}

fn main() {
    let expected = pseudo(64, 3).iter().map(|v| v * v).sum::<f32>() / 64.0;
    println!("expected mean(t²) = {expected:.6}");
    let wgpu = Device::wgpu(Default::default());
    for (name, device) in [("flex", Device::flex()), ("wgpu + fusion", wgpu)] {
        for flip in [false, true] {
            let (conv, zeros) = losses(&device, flip);
            println!(
                "{name:>14}, kernel flipped {flip:>5}: loss through conv1d {conv:.6}, \
                 through zeros {zeros:.6}{}",
                if (conv - expected).abs() > 1e-5 { "   <-- wrong" } else { "" }
            );
        }
    }
}
