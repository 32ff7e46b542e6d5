//! Streams a WAV file through a causal `NpConvolve1d` with a long kernel (a synthetic room
//! impulse response, 4,095 taps by default), chunk by chunk as a real-time effect would, writes
//! the result as WAV, prints the latency per chunk and checks that the streamed output equals
//! the offline `forward` of the whole signal.
//!
//! ```text
//! cargo run --release --example stream_wav                         # writes a test WAV first
//! cargo run --release --example stream_wav -- --input speech.wav --output wet.wav --chunk 256
//! ```
//! Flags: `--input PATH` (default: a 3-second chirp with clicks, written to
//! `target/stream_wav/input.wav`), `--output PATH` (default `target/stream_wav/output.wav`),
//! `--chunk N` samples per push (default 256), `--taps M` (default 4095), `--device`
//! (`flex`, `ndarray` or `wgpu`), `--plot PATH` (default `target/stream_wav/stream.svg`: the
//! first channel before and after, and the latency of every chunk). Each channel of the file is
//! one row of the batch.

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use burn::tensor::{Tensor, TensorData};
use burn_npconv::{Mode, NpConvolve1d};
use common::{Error, Rng, device_from_args, flag, main_with};
use plotters::prelude::*;

/// A room impulse response: the direct sound, a few early reflections, then exponentially
/// decaying noise (reverberation time `rt60` seconds), scaled so that `Σ |h| = 1`: the output
/// never exceeds the input's peak, so it cannot clip.
fn room_impulse_response(taps: usize, rate: u32, rt60: f64) -> Vec<f32> {
    let mut rng = Rng::new(2026);
    let decay = (1e-3f64).ln() / (rt60 * f64::from(rate)); // -60 dB after rt60
    let mut h: Vec<f64> = (0..taps)
        .map(|t| 0.2 * rng.normal() * (decay * t as f64).exp())
        .collect();
    h[0] = 1.0;
    for (delay_ms, gain) in [(7.0, 0.5), (11.0, -0.35), (17.0, 0.25)] {
        let t = (delay_ms * 1e-3 * f64::from(rate)) as usize;
        if t < taps {
            h[t] += gain;
        }
    }
    let l1: f64 = h.iter().map(|v| v.abs()).sum();
    h.iter().map(|v| (v / l1) as f32).collect()
}

/// Writes a 3-second mono test signal: a 100 Hz to 4 kHz chirp with a click every half second.
fn write_test_wav(path: &Path, rate: u32) -> Result<(), Error> {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: rate,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut writer = hound::WavWriter::create(path, spec)?;
    let n = 3 * rate as usize;
    let (f0, f1, dur) = (100.0f64, 4000.0f64, 3.0f64);
    for i in 0..n {
        let t = i as f64 / f64::from(rate);
        let phase = 2.0 * std::f64::consts::PI * (f0 * t + (f1 - f0) * t * t / (2.0 * dur));
        let click = if i % (rate as usize / 2) < 8 {
            0.8
        } else {
            0.0
        };
        let v = 0.5 * phase.sin() + click;
        writer.write_sample((v.clamp(-1.0, 1.0) * 32767.0) as i16)?;
    }
    writer.finalize()?;
    Ok(())
}

/// The channels of a WAV file as `[channels][samples]` in [-1, 1], and its spec.
fn read_wav(path: &Path) -> Result<(Vec<Vec<f32>>, hound::WavSpec), Error> {
    let mut reader =
        hound::WavReader::open(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let spec = reader.spec();
    let samples: Vec<f32> = match spec.sample_format {
        hound::SampleFormat::Float => reader.samples::<f32>().collect::<Result<_, _>>()?,
        hound::SampleFormat::Int => {
            let scale = 1.0 / (1u64 << (spec.bits_per_sample - 1)) as f32;
            reader
                .samples::<i32>()
                .map(|s| s.map(|v| v as f32 * scale))
                .collect::<Result<_, _>>()?
        }
    };
    let channels = usize::from(spec.channels);
    if samples.is_empty() {
        return Err(format!("{} holds no samples", path.display()).into());
    }
    let per = samples.len() / channels;
    let rows = (0..channels)
        .map(|c| (0..per).map(|i| samples[i * channels + c]).collect())
        .collect();
    Ok((rows, spec))
}

fn write_wav(path: &Path, rows: &[Vec<f32>], rate: u32) -> Result<(), Error> {
    let spec = hound::WavSpec {
        channels: rows.len() as u16,
        sample_rate: rate,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut writer = hound::WavWriter::create(path, spec)?;
    for i in 0..rows[0].len() {
        for row in rows {
            writer.write_sample((row[i].clamp(-1.0, 1.0) * 32767.0) as i16)?;
        }
    }
    writer.finalize()?;
    Ok(())
}

/// The first channel before and after the filter (its first 150 ms), and the latency of
/// every chunk against the audio time the chunk holds.
fn plot(
    path: &Path,
    dry: &[f32],
    wet: &[f32],
    rate: u32,
    latencies: &[Duration],
    chunk_time: Duration,
) -> Result<(), Error> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let root = SVGBackend::new(path, (1000, 420)).into_drawing_area();
    root.fill(&WHITE)?;
    let (left, right) = root.split_horizontally(500);

    let shown = dry.len().min(rate as usize * 3 / 20);
    let t = |i: usize| i as f64 / f64::from(rate) * 1e3;
    let peak = dry[..shown]
        .iter()
        .chain(&wet[..shown])
        .fold(0f32, |m, v| m.max(v.abs())) as f64
        * 1.1;
    let mut chart = ChartBuilder::on(&left)
        .caption(
            "signal, streamed through the room response",
            ("sans-serif", 18),
        )
        .margin(12)
        .x_label_area_size(35)
        .y_label_area_size(50)
        .build_cartesian_2d(0.0..t(shown), -peak..peak)?;
    chart
        .configure_mesh()
        .x_desc("time (ms)")
        .y_desc("amplitude")
        .draw()?;
    chart
        .draw_series(LineSeries::new(
            (0..shown).map(|i| (t(i), f64::from(dry[i]))),
            BLUE.mix(0.5),
        ))?
        .label("input")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], BLUE));
    chart
        .draw_series(LineSeries::new(
            (0..shown).map(|i| (t(i), f64::from(wet[i]))),
            RED.stroke_width(2),
        ))?
        .label("output (causal, chunk by chunk)")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], RED.stroke_width(2)));
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .border_style(BLACK)
        .background_style(WHITE.mix(0.8))
        .draw()?;

    let us: Vec<f64> = latencies.iter().map(|d| d.as_secs_f64() * 1e6).collect();
    let budget = chunk_time.as_secs_f64() * 1e6;
    let lo = us.iter().cloned().fold(f64::INFINITY, f64::min).max(0.1);
    let hi = us.iter().cloned().fold(budget, f64::max);
    let mut chart = ChartBuilder::on(&right)
        .caption("latency per chunk", ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(35)
        .y_label_area_size(60)
        .build_cartesian_2d(0..us.len(), (lo * 0.5..hi * 2.0).log_scale())?;
    chart
        .configure_mesh()
        .x_desc("chunk")
        .y_desc("µs")
        .y_label_formatter(&|v| format!("{v:.0}"))
        .draw()?;
    chart
        .draw_series(
            us.iter()
                .enumerate()
                .map(|(i, &v)| Circle::new((i, v), 2, BLACK.filled())),
        )?
        .label("push (compute)")
        .legend(|(x, y)| Circle::new((x + 9, y), 2, BLACK.filled()));
    chart
        .draw_series(LineSeries::new([(0, budget), (us.len(), budget)], RED))?
        .label("audio in one chunk (real-time budget)")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], RED));
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::MiddleRight)
        .border_style(BLACK)
        .background_style(WHITE.mix(0.8))
        .draw()?;
    root.present()?;
    Ok(())
}

fn ms(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1e3)
}

fn run() -> Result<(), Error> {
    let (backend, device) = device_from_args()?;
    let chunk: usize = flag("--chunk", "256").parse()?;
    let taps: usize = flag("--taps", "4095").parse()?;
    if chunk == 0 || taps == 0 {
        return Err("--chunk and --taps must be at least 1".into());
    }
    let dir = PathBuf::from("target/stream_wav");
    std::fs::create_dir_all(&dir)?;
    let input = match flag("--input", "") {
        path if !path.is_empty() => PathBuf::from(path),
        _ => {
            let path = dir.join("input.wav");
            write_test_wav(&path, 16_000)?;
            println!(
                "no --input given: wrote a 3 s test signal to {}",
                path.display()
            );
            path
        }
    };
    let output = PathBuf::from(flag("--output", "target/stream_wav/output.wav"));
    let (rows, spec) = read_wav(&input)?;
    let (channels, n) = (rows.len(), rows[0].len());
    let rate = spec.sample_rate;
    println!(
        "{}: {channels} channel(s), {n} samples at {rate} Hz ({:.2} s); {taps}-tap room response, chunks of {chunk} samples, on {backend}",
        input.display(),
        n as f64 / f64::from(rate)
    );

    let h = room_impulse_response(taps, rate, 0.3);
    let kernel = Tensor::<1>::from_data(TensorData::new(h, [taps]), &device);
    let layer = NpConvolve1d::from_kernel(kernel, Mode::Causal);

    // Chunk by chunk, channels as the batch: [channels, 1, chunk] in, [channels, 1, chunk] out.
    let mut stream = layer.stream();
    let mut out: Vec<Vec<f32>> = vec![Vec::with_capacity(n); channels];
    let mut latencies = Vec::with_capacity(n.div_ceil(chunk));
    let started = Instant::now();
    let mut next_report = Duration::from_secs(1);
    for start in (0..n).step_by(chunk) {
        let len = chunk.min(n - start);
        let data: Vec<f32> = rows
            .iter()
            .flat_map(|r| r[start..start + len].to_vec())
            .collect();
        let x = Tensor::<3>::from_data(TensorData::new(data, [channels, 1, len]), &device);
        let t = Instant::now();
        let y = stream.push(x);
        let y: Vec<f32> = y.into_data().iter::<f32>().collect();
        latencies.push(t.elapsed());
        for (c, row) in out.iter_mut().enumerate() {
            row.extend_from_slice(&y[c * len..(c + 1) * len]);
        }
        if started.elapsed() >= next_report {
            println!(
                "  streamed {:.0}% ({} of {n} samples)",
                100.0 * (start + len) as f64 / n as f64,
                start + len
            );
            next_report += Duration::from_secs(1);
        }
    }
    let rest = stream.finish();
    assert_eq!(
        rest.dims()[2],
        0,
        "causal mode has no outputs after the last sample"
    );
    let total = started.elapsed();

    let mut sorted = latencies.clone();
    sorted.sort();
    let chunk_time = Duration::from_secs_f64(chunk as f64 / f64::from(rate));
    println!(
        "latency per chunk of {chunk} samples ({} of audio): median {}, 99th percentile {}, worst {}; {} chunks in {} ({:.0}x real time)",
        ms(chunk_time),
        ms(sorted[sorted.len() / 2]),
        ms(sorted[sorted.len() * 99 / 100]),
        ms(*sorted.last().expect("chunks")),
        sorted.len(),
        ms(total),
        (n as f64 / f64::from(rate)) / total.as_secs_f64()
    );

    // The offline result of the whole signal, for the check.
    let all: Vec<f32> = rows.iter().flatten().copied().collect();
    let offline = layer.forward(Tensor::from_data(
        TensorData::new(all, [channels, 1, n]),
        &device,
    ));
    let offline: Vec<f32> = offline.into_data().iter::<f32>().collect();
    let streamed: Vec<f32> = out.iter().flatten().copied().collect();
    let peak = offline
        .iter()
        .fold(0f32, |m, v| m.max(v.abs()))
        .max(f32::MIN_POSITIVE);
    let worst = streamed
        .iter()
        .zip(&offline)
        .fold(0f32, |m, (s, o)| m.max((s - o).abs()));
    println!(
        "streamed vs offline forward: max |difference| = {worst:.2e} ({:.2e} of the peak)",
        worst / peak
    );
    if worst > 1e-5 * peak {
        return Err(format!("the stream differs from forward by {worst} (peak {peak})").into());
    }
    write_wav(&output, &out, rate)?;
    println!("wrote {}", output.display());
    let plot_path = PathBuf::from(flag("--plot", "target/stream_wav/stream.svg"));
    plot(&plot_path, &rows[0], &out[0], rate, &latencies, chunk_time)?;
    println!("wrote {}", plot_path.display());
    Ok(())
}

fn main() {
    main_with(run);
}
