//! A stream's rollback: failures injected at random chunks (on the first chunk too), each
//! retried, give exactly the outputs of the same stream without failures, on both engines.

use burn::tensor::{Device, Tensor, TensorData};
use proptest::prelude::*;

use super::faults;
use crate::boundary::Boundary;
use crate::layer::NpConvolve1d;
use crate::method::Method;
use crate::mode::Mode;
use crate::plan::FORCE_TENSOR_STREAMS;

fn values(len: usize, seed: u64) -> Vec<f32> {
    (0..len as u64)
        .map(|i| ((i * 7919 + seed * 104_729) % 1000) as f32 / 500.0 - 1.0)
        .collect()
}

fn layer(mode: Mode, m: usize, fill: f64, device: &Device) -> NpConvolve1d {
    let kernel = Tensor::<1>::from_data(TensorData::new(values(m, 7), [m]), device);
    let mut layer = NpConvolve1d::from_kernel(kernel, mode);
    layer.method = Method::Auto;
    layer.boundary = if fill == 0.0 {
        Boundary::Zeros
    } else {
        Boundary::Constant(fill)
    };
    layer
}

/// Every output of a stream of `chunks` through `layer`, pushing again each chunk whose index
/// is in `failing` after an injected failure.
fn streamed(layer: &NpConvolve1d, signal: &[f32], chunks: &[usize], failing: &[usize]) -> Vec<f32> {
    let device = Device::flex();
    let mut stream = layer.try_stream().unwrap();
    let mut out = Vec::new();
    let mut at = 0;
    for (i, &len) in chunks.iter().enumerate() {
        let chunk = Tensor::<3>::from_data(
            TensorData::new(signal[at..at + len].to_vec(), [1, 1, len]),
            &device,
        );
        at += len;
        if failing.contains(&i) && len > 0 {
            faults::inject();
            let err = stream.try_push(chunk.clone()).unwrap_err();
            assert!(err.to_string().contains("injected"), "{err}");
        }
        let y = stream.try_push(chunk).unwrap();
        out.extend(y.into_data().iter::<f32>());
    }
    out.extend(stream.try_finish().unwrap().into_data().iter::<f32>());
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn a_failed_push_leaves_the_stream_as_it_was(
        mode in prop::sample::select(vec![Mode::Full, Mode::Same, Mode::Valid, Mode::Causal]),
        m in 1usize..9,
        fill in prop::sample::select(vec![0.0, 0.5]),
        chunks in prop::collection::vec(0usize..7, 1..8),
        failing in prop::collection::vec(0usize..8, 0..4),
        tensors in any::<bool>(),
    ) {
        FORCE_TENSOR_STREAMS.with(|f| f.set(tensors));
        let device = Device::flex();
        let layer = layer(mode, m, fill, &device);
        let total: usize = chunks.iter().sum();
        prop_assume!(total > 0);
        let signal = values(total, 3);
        let clean = streamed(&layer, &signal, &chunks, &[]);
        let retried = streamed(&layer, &signal, &chunks, &failing);
        FORCE_TENSOR_STREAMS.with(|f| f.set(false));
        prop_assert_eq!(&retried, &clean);
        // And the stream is the layer's forward pass.
        let x = Tensor::<3>::from_data(TensorData::new(signal, [1, 1, total]), &device);
        let whole: Vec<f32> = layer.forward(x).into_data().iter::<f32>().collect();
        prop_assert_eq!(retried.len(), whole.len());
        for (a, b) in retried.iter().zip(&whole) {
            prop_assert!((a - b).abs() <= 1e-5 * (1.0 + b.abs()), "{} vs {}", a, b);
        }
    }
}

#[test]
fn chunks_of_another_dtype_and_emptied_weights_are_errors() {
    let device = Device::flex();
    let layer = layer(Mode::Full, 3, 0.0, &device);
    let mut stream = layer.stream();
    stream.push(Tensor::<3>::zeros([1, 1, 4], &device));
    let f64_chunk = Tensor::<3>::zeros([1, 1, 4], (&device, burn::tensor::DType::F64));
    let err = stream.try_push(f64_chunk).unwrap_err();
    assert_eq!(
        err.to_string(),
        "stream chunk has dtype F64 but the stream's first chunk had F32: convert the chunk (a stream computes in one dtype)"
    );
    // The stream goes on after the refusal.
    assert_eq!(
        stream.push(Tensor::<3>::zeros([1, 1, 2], &device)).dims(),
        [1, 1, 2]
    );

    let mut emptied = layer.clone();
    emptied.weight = burn::module::Param::from_tensor(Tensor::<3>::zeros([1, 1, 0], &device));
    let err = emptied.try_stream().err().expect("refused");
    assert_eq!(err.to_string(), "v cannot be empty (got shape [1, 1, 0])");
}
