//! Streams against `forward` of the whole signal, on every backend, every mode, method and
//! kernel length (the host engine's direct and partitioned paths, and the tensor engine on
//! wgpu): random chunk sizes (0 and 1 included), signals shorter than the kernel, boundaries,
//! NaN, infinities and wide ranges of magnitudes, f64, and the errors.

use crate::common;

use burn::module::Param;
use burn::tensor::{DType, Device, Tensor, TensorData};
use burn_npconv::{Boundary, ConvolveError, Method, Mode, NpConvolve1d, NpConvolve1dConfig};
use common::{assert_close, seeded};

/// Values in [-1, 1) from the seeded generator.
fn uniform(len: usize, seed: u64) -> Vec<f64> {
    seeded(seed)
        .take(len)
        .map(|s| (s >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0)
        .collect()
}

fn tensor(values: &[f64], shape: [usize; 3], device: &Device, dtype: DType) -> Tensor<3> {
    let data = match dtype {
        DType::F64 => TensorData::new(values.to_vec(), shape),
        _ => TensorData::new(values.iter().map(|&v| v as f32).collect::<Vec<_>>(), shape),
    };
    Tensor::from_data(data, (device, dtype))
}

fn f64s(t: Tensor<3>) -> Vec<f64> {
    let data = t.into_data();
    match data.dtype() {
        DType::F64 => data.iter::<f64>().collect(),
        _ => data.iter::<f32>().map(f64::from).collect(),
    }
}

#[allow(clippy::too_many_arguments)]
fn layer(
    device: &Device,
    dtype: DType,
    [cout, cpg, m]: [usize; 3],
    groups: usize,
    mode: Mode,
    method: Method,
    boundary: Boundary,
    seed: u64,
) -> NpConvolve1d {
    let w = uniform(cout * cpg * m, seed);
    NpConvolve1d {
        weight: Param::from_tensor(tensor(&w, [cout, cpg, m], device, dtype)),
        bias: Some(Param::from_tensor(
            tensor(&uniform(cout, seed + 1), [1, 1, cout], device, dtype).reshape([cout]),
        )),
        groups,
        mode,
        method,
        boundary,
    }
}

/// Streams `x` (`[batch, cin, n]`) through `layer` in chunks of the given lengths (the last
/// one takes the rest) and returns the concatenated outputs, `[batch][cout][..]` flattened
/// per row, checking that each push gives what the mode promises.
fn streamed(layer: &NpConvolve1d, x: &Tensor<3>, chunks: &[usize]) -> Tensor<3> {
    let [batch, cin, n] = x.dims();
    let mut stream = layer.stream();
    let mut outs = Vec::new();
    let mut at = 0;
    for &c in chunks.iter().chain(std::iter::once(&usize::MAX)) {
        let c = c.min(n - at);
        let chunk = x.clone().slice([0..batch, 0..cin, at..at + c]);
        let y = stream.push(chunk);
        at += c;
        if matches!(layer.mode, Mode::Causal | Mode::Full) {
            assert_eq!(y.dims()[2], c, "{} gives one output per sample", layer.mode);
        }
        outs.push(y);
        if at == n {
            break;
        }
    }
    outs.push(stream.finish());
    Tensor::cat(outs, 2)
}

/// Chunk lengths from a seed: mostly short, some zero or one, some long.
fn chunk_lengths(seed: u64, count: usize) -> Vec<usize> {
    seeded(seed)
        .take(count)
        .map(|s| match (s >> 33) % 8 {
            0 => 0,
            1 => 1,
            2..=5 => ((s >> 40) % 40) as usize,
            _ => ((s >> 40) % 300) as usize,
        })
        .collect()
}

fn check(
    device: &Device,
    dtype: DType,
    layer: &NpConvolve1d,
    batch: usize,
    n: usize,
    chunks: &[usize],
    what: &str,
) {
    let cin = layer.channels_in();
    let x = tensor(
        &uniform(batch * cin * n, n as u64 + 7),
        [batch, cin, n],
        device,
        dtype,
    );
    let whole = layer.forward(x.clone());
    let parts = streamed(layer, &x, chunks);
    assert_eq!(parts.dims(), whole.dims(), "{what}: shape");
    let terms = layer.kernel_size() * cin + 1;
    let scale = 2.0;
    let (got, want) = (f64s(parts), f64s(whole));
    if dtype == DType::F64 {
        for (i, (g, w)) in got.iter().zip(&want).enumerate() {
            assert!(
                (g - w).abs() <= 1e-12 * terms as f64,
                "{what}: index {i}: {g} vs {w}"
            );
        }
    } else {
        assert_close(&got, &want, terms, scale, what);
    }
}

on_every_backend! {
    fn streams_reproduce_forward_every_mode_and_method(device: &Device) {
        // Kernel lengths for the host engine's direct (<= 64 taps) and partitioned paths.
        let wgpu = format!("{device:?}").contains("Wgpu") || format!("{device:?}").contains("Cube");
        let sizes: &[(usize, usize)] = if wgpu { &[(1, 5), (8, 30), (100, 9)] } else { &[(1, 5), (8, 30), (100, 9), (100, 700), (301, 1200)] };
        for mode in Mode::ALL {
            for method in Method::ALL {
                for (k, &(m, n)) in sizes.iter().enumerate() {
                    let seed = 10 * k as u64 + 3;
                    let layer = layer(device, DType::F32, [3, 2, m], 1, mode, method, Boundary::Zeros, seed);
                    let chunks = chunk_lengths(seed, if wgpu { 6 } else { 60 });
                    check(device, DType::F32, &layer, 2, n, &chunks, &format!("{mode} {method} M={m} N={n}"));
                }
            }
        }
    }

    fn chunks_of_one_and_grouped_channels(device: &Device) {
        let n = 40;
        for m in [3, 70] {
            let layer = layer(device, DType::F32, [4, 1, m], 2, Mode::Same, Method::Auto, Boundary::Zeros, 5);
            check(device, DType::F32, &layer, 1, n, &vec![1; n], &format!("chunks of 1, M={m}"));
            // A first chunk of one sample, then long ones (blocks of the first chunk's size).
            let mut chunks = vec![1];
            chunks.extend([7, 0, 13, 19]);
            check(device, DType::F32, &layer, 1, n, &chunks, &format!("first chunk 1, M={m}"));
        }
    }

    fn constant_boundary_and_causal_edge(device: &Device) {
        for (mode, boundary) in [
            (Mode::Full, Boundary::Constant(0.5)),
            (Mode::Same, Boundary::Constant(-2.0)),
            (Mode::Valid, Boundary::Constant(1.0)),
            (Mode::Causal, Boundary::Constant(3.0)),
            (Mode::Causal, Boundary::Edge),
        ] {
            for m in [4, 90] {
                let layer = layer(device, DType::F32, [2, 2, m], 1, mode, Method::Auto, boundary, 9);
                for n in [3, 150] {
                    check(device, DType::F32, &layer, 2, n, &chunk_lengths(m as u64, 20), &format!("{mode} {boundary} M={m} N={n}"));
                }
            }
        }
    }

    fn float64_streams(device: &Device) {
        if !device.supports_dtype(DType::F64) {
            return;
        }
        for method in Method::ALL {
            for (m, n) in [(5, 50), (200, 900)] {
                let layer = layer(device, DType::F64, [1, 1, m], 1, Mode::Full, method, Boundary::Zeros, 11);
                check(device, DType::F64, &layer, 1, n, &chunk_lengths(3, 40), &format!("f64 {method} M={m}"));
            }
        }
    }

    /// NaN and infinities land where `forward` (NumPy's direct sum) puts them, and a wide range
    /// of magnitudes or values near overflow keep the direct sum's accuracy.
    fn nonfinite_and_wide_ranges(device: &Device) {
        let (n, m) = (2000, 300);
        let mut signal = uniform(n, 21);
        signal[100] = f64::NAN;
        signal[700] = f64::INFINITY;
        signal[703] = f64::NEG_INFINITY;
        signal[1500] = 1e30;
        for v in &mut signal[1700..1800] {
            *v *= 1e-20;
        }
        signal[1900] = 3e38;
        for method in Method::ALL {
            let layer = layer(device, DType::F32, [1, 1, m], 1, Mode::Full, method, Boundary::Zeros, 4);
            let x = tensor(&signal, [1, 1, n], device, DType::F32);
            let whole = f64s(layer.forward(x.clone()));
            let parts = f64s(streamed(&layer, &x, &[256; 8]));
            for (i, (g, w)) in parts.iter().zip(&whole).enumerate() {
                if !w.is_finite() || !g.is_finite() {
                    assert!((w.is_nan() && g.is_nan()) || w == g, "{method} index {i}: stream {g}, forward {w}");
                } else if method == Method::Auto {
                    // Auto promises the direct sum's accuracy relative to each output's own terms.
                    let lo = i.saturating_sub(m - 1);
                    let hi = i.min(n - 1);
                    let own: f64 = signal[lo..=hi].iter().map(|v| v.abs()).sum::<f64>();
                    assert!((g - w).abs() <= 1e-5 * own.max(1e-30) + 1e-30, "{method} index {i}: stream {g}, forward {w}");
                }
            }
        }
    }

    /// A NaN or an infinity in the kernel: NumPy's sum has no term for the zero boundary, so the
    /// first and last outputs stay finite where the tap meets only padding.
    fn nonfinite_kernel_taps(device: &Device) {
        for m in [7, 120] {
            let mut w = uniform(m, 8);
            w[1] = f64::NAN;
            w[m - 2] = f64::INFINITY;
            for mode in Mode::ALL {
                for method in Method::ALL {
                    let mut layer = layer(device, DType::F32, [1, 1, m], 1, mode, method, Boundary::Zeros, 2);
                    layer.weight = Param::from_tensor(tensor(&w, [1, 1, m], device, DType::F32));
                    let x = tensor(&uniform(300, 5), [1, 1, 300], device, DType::F32);
                    let whole = f64s(layer.forward(x.clone()));
                    assert!(whole.iter().any(|v| v.is_nan()));
                    if mode == Mode::Full {
                        assert!(whole[0].is_finite(), "the first output meets only the first tap");
                    }
                    let parts = f64s(streamed(&layer, &x, &chunk_lengths(m as u64, 30)));
                    assert_close(&parts, &whole, m, 2.0, &format!("{mode} {method} M={m}"));
                }
            }
        }
    }

    fn bad_chunks_are_clear_errors(device: &Device) {
        let layer = layer(device, DType::F32, [2, 3, 5], 1, Mode::Full, Method::Auto, Boundary::Zeros, 1);
        let mut stream = layer.stream();
        let err = stream.try_push(Tensor::zeros([1, 2, 4], device)).unwrap_err();
        assert_eq!(err.to_string(), "stream chunk has shape [1, 2, 4] but the stream expects [1, 3, n] (batch and channels_in fixed by the layer)");
        stream.push(Tensor::zeros([2, 3, 4], device));
        let err = stream.try_push(Tensor::zeros([1, 3, 4], device)).unwrap_err();
        assert_eq!(err.to_string(), "stream chunk has shape [1, 3, 4] but the stream expects [2, 3, n] (batch and channels_in fixed by the first chunk)");
        // The stream still works after a refused chunk.
        assert_eq!(stream.push(Tensor::zeros([2, 3, 6], device)).dims(), [2, 2, 6]);
        assert_eq!(stream.finish().dims(), [2, 2, 4]);

        let empty = layer.stream().try_finish().unwrap_err();
        assert!(matches!(empty, ConvolveError::EmptySignal { .. }), "{empty}");
        assert!(empty.to_string().starts_with("a cannot be empty"), "{empty}");

        for (mode, boundary) in [(Mode::Full, Boundary::Reflect), (Mode::Causal, Boundary::Wrap), (Mode::Same, Boundary::Edge), (Mode::Causal, Boundary::Symmetric)] {
            let config = NpConvolve1dConfig::new(1, 1, 3).with_mode(mode).with_boundary(boundary);
            let err = config.init(device).try_stream().err().expect("refused");
            let text = err.to_string();
            assert!(text.starts_with(&format!("streaming supports the zeros and constant boundaries (and edge in causal mode), got boundary {boundary} (mode {mode}): ")), "{text}");
        }
    }

    fn chunks_of_another_dtype_and_emptied_weights_are_errors(device: &Device) {
        let layer = layer(device, DType::F32, [1, 1, 3], 1, Mode::Full, Method::Auto, Boundary::Zeros, 1);
        let mut stream = layer.stream();
        assert_eq!(stream.push(Tensor::zeros([1, 1, 4], device)).dims(), [1, 1, 4]);
        let err = stream.try_push(Tensor::zeros([1, 1, 4], (device, DType::F64))).unwrap_err();
        assert!(matches!(err, ConvolveError::StreamDType { .. }), "{err}");
        assert_eq!(
            err.to_string(),
            "stream chunk has dtype F64 but the stream's first chunk had F32: convert the chunk (a stream computes in one dtype)"
        );
        // The refused chunk left the stream as it was.
        assert_eq!(stream.push(Tensor::zeros([1, 1, 2], device)).dims(), [1, 1, 2]);
        assert_eq!(stream.finish().dims(), [1, 1, 2]);

        let mut emptied = layer.clone();
        emptied.weight = Param::from_tensor(Tensor::<3>::zeros([1, 1, 0], device));
        let err = emptied.try_stream().err().expect("refused");
        assert_eq!(err.to_string(), "v cannot be empty (got shape [1, 1, 0])");
    }
}

#[test]
fn stream_errors_name_the_values() {
    let text = ConvolveError::StreamChunk {
        got: vec![1, 2, 3],
        batch: 4,
        channels_in: 5,
        fixed_by: "the layer",
    }
    .to_string();
    assert!(
        text.contains("[1, 2, 3]") && text.contains("[4, 5, n]"),
        "{text}"
    );
}
