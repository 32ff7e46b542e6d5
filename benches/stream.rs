//! Streaming against the offline `forward` (issue: causal, streaming and boundaries).
//!
//! ```text
//! cargo bench --bench stream
//! ```
//! One run, flex, one channel, a 4,095-tap kernel, 1,000,000 samples: the offline `forward` of
//! the whole signal and the stream in 64-, 256- and 1,024-sample chunks, measured alternately
//! (median of several rounds each, so that the ratio compares like with like on a noisy
//! machine), with every push's latency (median and worst). Prints a Markdown table and writes it
//! to `benches/results/stream.md`.

use std::time::{Duration, Instant};

use burn::module::Param;
use burn::tensor::{Device, Distribution, Tensor, TensorData};
use burn_npconv::{Boundary, Method, Mode, NpConvolve1d};

const N: usize = 1_000_000;
const M: usize = 4095;
const ROUNDS: usize = 11;

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn fmt(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s >= 1e-3 {
        format!("{:.2} ms", s * 1e3)
    } else {
        format!("{:.1} µs", s * 1e6)
    }
}

fn main() {
    let device = Device::flex();
    let kernel: Tensor<3> = Tensor::random([1, 1, M], Distribution::Normal(0.0, 1.0), &device);
    let signal: Vec<f32> = Tensor::<1>::random([N], Distribution::Normal(0.0, 1.0), &device)
        .into_data()
        .iter::<f32>()
        .collect();
    let mut rows = Vec::new();
    for mode in [Mode::Causal, Mode::Full] {
        let layer = NpConvolve1d {
            weight: Param::from_tensor(kernel.clone()),
            bias: None,
            groups: 1,
            mode,
            method: Method::Auto,
            boundary: Boundary::Zeros,
        };
        let whole = Tensor::<3>::from_data(TensorData::new(signal.clone(), [1, 1, N]), &device);
        for chunk in [64usize, 256, 1024] {
            // The chunks exist before the clock starts, as they would arrive from a source.
            let chunks: Vec<Tensor<3>> = signal
                .chunks(chunk)
                .map(|c| Tensor::from_data(TensorData::new(c.to_vec(), [1, 1, c.len()]), &device))
                .collect();
            let (mut offline, mut streamed, mut latencies) = (Vec::new(), Vec::new(), Vec::new());
            let mut check = None;
            // The first push of each round (it builds the engine), apart from the others.
            let mut first_pushes = Vec::new();
            for round in 0..ROUNDS + 1 {
                let t = Instant::now();
                let y = layer.forward(whole.clone());
                let _ = y.dims();
                let off = t.elapsed();
                let t = Instant::now();
                let mut stream = layer.stream();
                let mut outs = Vec::with_capacity(chunks.len() + 1);
                let mut lat = Vec::with_capacity(chunks.len());
                for c in &chunks {
                    let p = Instant::now();
                    outs.push(stream.push(c.clone()));
                    lat.push(p.elapsed());
                }
                outs.push(stream.finish());
                let st = t.elapsed();
                if round == 0 {
                    // Warm-up round (plans, pages); also the correctness check.
                    let got: Vec<f32> = Tensor::cat(outs, 2).into_data().iter::<f32>().collect();
                    let want: Vec<f32> = y.into_data().iter::<f32>().collect();
                    let scale = want.iter().fold(0f32, |m, v| m.max(v.abs()));
                    let worst = got
                        .iter()
                        .zip(&want)
                        .fold(0f32, |m, (g, w)| m.max((g - w).abs()));
                    assert_eq!(got.len(), want.len());
                    check = Some(worst / scale);
                    continue;
                }
                offline.push(off);
                streamed.push(st);
                first_pushes.push(lat[0]);
                latencies.extend(&lat[1..]);
            }
            let (off, st) = (median(offline), median(streamed));
            let worst = *latencies.iter().max().expect("pushes");
            let lat = median(latencies);
            let first = median(first_pushes);
            let ratio = st.as_secs_f64() / off.as_secs_f64();
            eprintln!(
                "{mode} chunk {chunk}: offline {}, stream {} ({ratio:.2}x), first push {}, later pushes median {}, worst {}",
                fmt(off),
                fmt(st),
                fmt(first),
                fmt(lat),
                fmt(worst)
            );
            rows.push(format!(
                "| {mode} | {chunk} | {} | {} | {ratio:.2}x | {} | {} | {} | {:.1e} |",
                fmt(off),
                fmt(st),
                fmt(first),
                fmt(lat),
                fmt(worst),
                check.unwrap_or(f32::NAN)
            ));
        }
    }
    let table = format!(
        "| mode | chunk | offline `forward` | stream (all pushes + finish) | stream / offline | first push (builds the engine) | later pushes, median | later pushes, worst | max \\|stream - forward\\| / max \\|forward\\| |\n|---|---|---|---|---|---|---|---|---|\n{}\n",
        rows.join("\n")
    );
    println!(
        "\nflex, f32, one channel, M = {M}, N = {N}, `Method::Auto`, median of {ROUNDS} rounds:\n\n{table}"
    );
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/benches/results/stream.md");
    std::fs::write(path, format!("flex, f32, one channel, M = {M}, N = {N}, `Method::Auto`, median of {ROUNDS} rounds (`cargo bench --bench stream`):\n\n{table}")).expect("write benches/results/stream.md");
}
