//! Filter identification: recover the taps of an unknown FIR filter from input/output pairs by
//! training an `NpConvolve1d`, whose weight reads directly as NumPy-orientation coefficients.
//!
//! A long random signal is filtered with a known windowed-sinc low-pass
//! (`y = np.convolve(x, h, "same") + noise`), then a one-channel layer learns `h` from random
//! windows of `(x, y)`. Hyperparameters come from `configs/fir_training.json`.
//!
//! ```text
//! cargo run --example fir_identification                              # flex
//! cargo run --example fir_identification --all-features -- --device wgpu
//! cargo run --example fir_identification -- --config my.json --svg out.svg
//! ```

mod common;

use std::f64::consts::PI;

use burn::config::Config;
use burn::module::Module;
use burn::nn::Initializer;
use burn::optim::{AdamConfig, GradientsParams};
use burn_npconv::{Mode, NpConvolve1dConfig, convolve};
use common::{Error, Rng, device_from_args, flag, host, tensor};
use indicatif::{ProgressBar, ProgressStyle};
use plotters::prelude::*;

/// Hyperparameters of the filter-identification run.
#[derive(Config, Debug)]
pub struct FirTrainingConfig {
    /// Number of taps of the true filter and of the learned kernel.
    pub taps: usize,
    /// Cut-off frequency of the true low-pass, in cycles per sample (0 .. 0.5).
    pub cutoff: f64,
    /// Shift of the sinc's centre from the middle tap, in samples. Non-zero makes the filter
    /// asymmetric, so a learned kernel in the wrong orientation (flipped) would show.
    pub delay: f64,
    /// Length of the random input signal.
    pub signal_len: usize,
    /// Output samples per training window.
    pub window: usize,
    /// Windows per step.
    pub batch_size: usize,
    /// Optimizer steps.
    pub steps: usize,
    /// Adam's learning rate at the start (cosine decay to 1% of it).
    pub learning_rate: f64,
    /// Standard deviation of the white noise added to the filtered signal.
    pub noise_std: f64,
    /// Seed of the signal, the noise and the window positions.
    pub seed: u64,
    /// Mode of the layer while training (`valid`: each window brings its own context).
    pub mode: Mode,
}

/// Hamming-windowed sinc low-pass centred `delay` samples off the middle tap, normalised to
/// unit DC gain.
fn windowed_sinc(taps: usize, cutoff: f64, delay: f64) -> Vec<f64> {
    let centre = (taps as f64 - 1.0) / 2.0 + delay;
    let h: Vec<f64> = (0..taps)
        .map(|i| {
            let t = i as f64 - centre;
            let sinc = if t.abs() < 1e-12 {
                2.0 * cutoff
            } else {
                (2.0 * PI * cutoff * t).sin() / (PI * t)
            };
            let window = if taps == 1 {
                1.0
            } else {
                0.54 - 0.46 * (2.0 * PI * i as f64 / (taps as f64 - 1.0)).cos()
            };
            sinc * window
        })
        .collect();
    let dc: f64 = h.iter().sum();
    h.into_iter().map(|v| v / dc).collect()
}

fn main() {
    common::main_with(run);
}

fn run() -> Result<(), Error> {
    let config_path = flag(
        "--config",
        concat!(env!("CARGO_MANIFEST_DIR"), "/configs/fir_training.json"),
    );
    let svg = flag(
        "--svg",
        concat!(env!("CARGO_MANIFEST_DIR"), "/target/fir_identification.svg"),
    );
    let cfg = FirTrainingConfig::load(&config_path).map_err(|e| format!("{config_path}: {e}"))?;
    let (backend, device) = device_from_args()?;
    println!(
        "filter identification on {backend}: {} taps, cut-off {} cycles/sample, noise std {}",
        cfg.taps, cfg.cutoff, cfg.noise_std
    );
    println!("config: {config_path}");

    // The data: x random, y = np.convolve(x, h, "same") + noise.
    let truth = windowed_sinc(cfg.taps, cfg.cutoff, cfg.delay);
    let mut rng = Rng::new(cfg.seed);
    let x: Vec<f32> = (0..cfg.signal_len).map(|_| rng.normal() as f32).collect();
    let h = tensor(
        truth.iter().map(|&v| v as f32).collect(),
        [cfg.taps],
        &device,
    );
    let clean = host(convolve(
        tensor(x.clone(), [cfg.signal_len], &device),
        h,
        Mode::Same,
    )?);
    let y: Vec<f32> = clean
        .iter()
        .map(|&v| v + (cfg.noise_std * rng.normal()) as f32)
        .collect();

    // In valid mode a window of W + M - 1 inputs gives W outputs; in same mode the target is
    // aligned with the input window itself.
    let m = cfg.taps;
    let context = if cfg.mode == Mode::Valid { m - 1 } else { 0 };
    let span = cfg.window + context;
    let offset = if cfg.mode == Mode::Valid {
        (m - 1) / 2
    } else {
        0
    };
    if cfg.signal_len < span + offset {
        return Err(format!(
            "signal_len {} is shorter than one window ({})",
            cfg.signal_len,
            span + offset
        )
        .into());
    }

    let train_device = device.clone().autodiff();
    let mut layer = NpConvolve1dConfig::new(1, 1, m)
        .with_mode(cfg.mode)
        .with_initializer(Initializer::Zeros)
        .try_init(&train_device)?;
    let mut optim = AdamConfig::new().init();

    let bar = ProgressBar::new(cfg.steps as u64);
    bar.set_style(ProgressStyle::with_template(
        "{bar:40} {pos}/{len} steps  {elapsed}  loss {msg}",
    )?);
    let mut losses = Vec::with_capacity(cfg.steps);
    let report_every = (cfg.steps / 10).max(1);
    for step in 0..cfg.steps {
        let mut xs = Vec::with_capacity(cfg.batch_size * span);
        let mut ys = Vec::with_capacity(cfg.batch_size * cfg.window);
        for _ in 0..cfg.batch_size {
            let t = rng.below(cfg.signal_len - span - offset + 1);
            xs.extend_from_slice(&x[t..t + span]);
            ys.extend_from_slice(&y[t + offset..t + offset + cfg.window]);
        }
        let input = tensor(xs, [cfg.batch_size, 1, span], &train_device);
        let target = tensor(ys, [cfg.batch_size, 1, cfg.window], &train_device);
        let loss = (layer.try_forward(input)? - target).square().mean();
        let value = loss.clone().into_scalar::<f32>() as f64;
        losses.push(value);
        let grads = GradientsParams::from_grads(loss.backward(), &layer);
        let progress = step as f64 / cfg.steps as f64;
        let lr = cfg.learning_rate * (0.01 + 0.99 * 0.5 * (1.0 + (PI * progress).cos()));
        layer = optim.step(lr, layer, grads);
        bar.set_message(format!("{value:.3e}"));
        bar.inc(1);
        if bar.is_hidden() && (step + 1) % report_every == 0 {
            println!("step {:>5}/{}  loss {value:.3e}", step + 1, cfg.steps);
        }
    }
    bar.finish();

    let learned: Vec<f64> = host(layer.valid().weight.val())
        .into_iter()
        .map(f64::from)
        .collect();
    let max_err = learned
        .iter()
        .zip(&truth)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f64::max);
    let final_loss = losses[losses.len().saturating_sub(20)..]
        .iter()
        .sum::<f64>()
        / losses.len().min(20) as f64;
    println!(
        "final loss (mean of last 20 steps): {final_loss:.3e}  (noise floor noise_std^2 = {:.3e})",
        cfg.noise_std.powi(2)
    );
    println!(
        "max |learned tap - true tap| = {max_err:.2e} over {m} taps (largest true tap {:.4})",
        truth.iter().cloned().fold(0.0, f64::max)
    );
    plot(&svg, &truth, &learned, &losses)?;
    println!("picture of learned vs true taps and of the loss curve: {svg}");
    if max_err >= 1e-2 {
        return Err(format!("taps not recovered: max error {max_err:.2e} >= 1e-2").into());
    }
    Ok(())
}

fn plot(path: &str, truth: &[f64], learned: &[f64], losses: &[f64]) -> Result<(), Error> {
    if let Some(dir) = std::path::Path::new(path).parent() {
        std::fs::create_dir_all(dir)?;
    }
    let root = SVGBackend::new(path, (1000, 420)).into_drawing_area();
    root.fill(&WHITE)?;
    let (left, right) = root.split_horizontally(500);

    let lo = truth
        .iter()
        .chain(learned)
        .cloned()
        .fold(f64::INFINITY, f64::min)
        - 0.02;
    let hi = truth
        .iter()
        .chain(learned)
        .cloned()
        .fold(f64::NEG_INFINITY, f64::max)
        + 0.02;
    let mut chart = ChartBuilder::on(&left)
        .caption("FIR taps: true vs learned", ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(35)
        .y_label_area_size(50)
        .build_cartesian_2d(-0.5..truth.len() as f64 - 0.5, lo..hi)?;
    chart
        .configure_mesh()
        .x_desc("tap index")
        .y_desc("coefficient")
        .draw()?;
    chart
        .draw_series(LineSeries::new(
            truth.iter().enumerate().map(|(i, &v)| (i as f64, v)),
            BLUE.stroke_width(2),
        ))?
        .label("true taps (asymmetric windowed sinc)")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], BLUE.stroke_width(2)));
    chart
        .draw_series(
            learned
                .iter()
                .enumerate()
                .map(|(i, &v)| Circle::new((i as f64, v), 3, RED.filled())),
        )?
        .label("learned NpConvolve1d weight")
        .legend(|(x, y)| Circle::new((x + 9, y), 3, RED.filled()));
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .border_style(BLACK)
        .background_style(WHITE.mix(0.8))
        .draw()?;

    let min_loss = losses
        .iter()
        .cloned()
        .fold(f64::INFINITY, f64::min)
        .max(1e-12);
    let max_loss = losses
        .iter()
        .cloned()
        .fold(0.0, f64::max)
        .max(min_loss * 10.0);
    let mut chart = ChartBuilder::on(&right)
        .caption("training loss (MSE)", ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(35)
        .y_label_area_size(60)
        .build_cartesian_2d(
            0..losses.len(),
            (min_loss * 0.8..max_loss * 1.2).log_scale(),
        )?;
    chart
        .configure_mesh()
        .x_desc("step")
        .y_desc("loss")
        .y_label_formatter(&|v| format!("{v:.0e}"))
        .draw()?;
    chart.draw_series(LineSeries::new(losses.iter().cloned().enumerate(), BLACK))?;
    root.present()?;
    Ok(())
}
