//! A model with several `NpConvolve1d` layers, trained with Burn's own machinery (its
//! `Learner`, `SupervisedTraining`, `LossMetric`, file checkpoints and, in a terminal, its
//! training dashboard) to denoise sums of sinusoids buried in white noise.
//!
//! ```text
//! cargo run --example denoise --features train                   # flex
//! cargo run --example denoise --all-features -- --device wgpu
//! cargo run --release --features remote,train --example denoise -- --device ws://127.0.0.1:3000
//! cargo run --release --features remote,train --example denoise -- --devices ws://127.0.0.1:3001,ws://127.0.0.1:3002
//! ```
//! A `ws://` device is a server started with the `serve` example (`--token-file PATH` or
//! `BURN_NPCONV_TOKEN` when it requires a token).
//! Hyperparameters: `configs/denoise_training.json` (`--config` to change). Checkpoints, logs
//! and metrics go to `artifact_dir` (`target/denoise`).

mod common;

use std::f64::consts::PI;

use burn::config::Config;
use burn::data::dataloader::{DataLoaderBuilder, batcher::Batcher};
use burn::data::dataset::InMemDataset;
use burn::module::{Module, Param};
use burn::optim::AdamConfig;
use burn::tensor::activation::gelu;
use burn::tensor::{Device, Tensor, TensorData};
use burn::train::metric::LossMetric;
use burn::train::{
    ExecutionStrategy, InferenceStep, Learner, MultiDeviceOptim, RegressionOutput,
    SupervisedTraining, TrainOutput, TrainStep,
};
use burn_npconv::{Mode, NpConvolve1d, NpConvolve1dConfig};
use common::{Error, Rng, device_from_args, flag};

/// Hyperparameters of the denoising run.
#[derive(Config, Debug)]
pub struct DenoiseConfig {
    /// Channels of the hidden layers.
    pub hidden: usize,
    /// Kernel length of every layer (all in NumPy's `same` mode).
    pub kernel_size: usize,
    /// Samples per signal.
    pub length: usize,
    /// Training signals.
    pub num_train: usize,
    /// Validation signals.
    pub num_valid: usize,
    /// Each clean signal is a sum of 1 to `max_sinusoids` sinusoids.
    pub max_sinusoids: usize,
    /// Standard deviation of the added white noise.
    pub noise_std: f64,
    /// Signals per batch.
    pub batch_size: usize,
    /// Epochs.
    pub num_epochs: usize,
    /// Adam's learning rate.
    pub learning_rate: f64,
    /// Seed of the data.
    pub seed: u64,
    /// Where the Learner writes checkpoints, logs and metrics.
    pub artifact_dir: String,
}

/// Three `same`-mode convolutions with GELU between them: 1 -> hidden -> hidden -> 1 channels.
#[derive(Module, Debug)]
pub struct Denoiser {
    input: NpConvolve1d,
    hidden: NpConvolve1d,
    output: NpConvolve1d,
}

impl Denoiser {
    /// Weights uniform in `±1/sqrt(fan_in)` (Burn's default for the layer) from the seeded
    /// `rng`, so that every device, local or remote, starts from the same model.
    fn new(
        cfg: &DenoiseConfig,
        rng: &mut Rng,
        device: &Device,
    ) -> Result<Self, burn_npconv::ConvolveError> {
        let mut layer = |cin: usize, cout: usize| {
            let mut layer = NpConvolve1dConfig::new(cin, cout, cfg.kernel_size)
                .with_mode(Mode::Same)
                .with_bias(true)
                .try_init(device)?;
            let bound = 1.0 / ((cin * cfg.kernel_size) as f64).sqrt();
            let mut uniform = |len: usize| -> Vec<f32> {
                (0..len)
                    .map(|_| ((2.0 * rng.uniform() - 1.0) * bound) as f32)
                    .collect()
            };
            let shape = [cout, cin, cfg.kernel_size];
            layer.weight = Param::from_tensor(common::tensor(
                uniform(shape.iter().product()),
                shape,
                device,
            ));
            layer.bias = Some(Param::from_tensor(common::tensor(
                uniform(cout),
                [cout],
                device,
            )));
            Ok(layer)
        };
        Ok(Denoiser {
            input: layer(1, cfg.hidden)?,
            hidden: layer(cfg.hidden, cfg.hidden)?,
            output: layer(cfg.hidden, 1)?,
        })
    }

    /// - noisy: `[batch, 1, length]`
    /// - returns: `[batch, 1, length]`
    fn forward(&self, noisy: Tensor<3>) -> Tensor<3> {
        let h = gelu(self.input.forward(noisy.clone()));
        let h = gelu(self.hidden.forward(h));
        // Predict the noise's complement: a residual around the input.
        noisy + self.output.forward(h)
    }

    fn regress(&self, batch: DenoiseBatch) -> RegressionOutput {
        let prediction = self.forward(batch.noisy);
        let loss = (prediction.clone() - batch.clean.clone()).square().mean();
        let [n, _, len] = prediction.dims();
        RegressionOutput::new(
            loss,
            prediction.reshape([n, len]),
            batch.clean.reshape([n, len]),
        )
    }
}

impl TrainStep for Denoiser {
    type Input = DenoiseBatch;
    type Output = RegressionOutput;

    fn step(&self, batch: DenoiseBatch) -> TrainOutput<RegressionOutput> {
        let out = self.regress(batch);
        TrainOutput::new(self, out.loss.backward(), out)
    }
}

impl InferenceStep for Denoiser {
    type Input = DenoiseBatch;
    type Output = RegressionOutput;

    fn step(&self, batch: DenoiseBatch) -> RegressionOutput {
        self.regress(batch)
    }
}

#[derive(Clone, Debug)]
pub struct Sample {
    noisy: Vec<f32>,
    clean: Vec<f32>,
}

#[derive(Clone, Debug)]
pub struct DenoiseBatch {
    noisy: Tensor<3>,
    clean: Tensor<3>,
}

struct DenoiseBatcher;

impl Batcher<Sample, DenoiseBatch> for DenoiseBatcher {
    fn batch(&self, items: Vec<Sample>, device: &Device) -> DenoiseBatch {
        let (n, len) = (items.len(), items[0].noisy.len());
        let noisy = items.iter().flat_map(|s| s.noisy.iter().copied()).collect();
        let clean = items.iter().flat_map(|s| s.clean.iter().copied()).collect();
        DenoiseBatch {
            noisy: Tensor::from_data(TensorData::new(noisy, [n, 1, len]), device),
            clean: Tensor::from_data(TensorData::new(clean, [n, 1, len]), device),
        }
    }
}

/// Sums of 1..=max sinusoids with random frequency, amplitude and phase, plus white noise.
fn signals(cfg: &DenoiseConfig, count: usize, rng: &mut Rng) -> Vec<Sample> {
    (0..count)
        .map(|_| {
            let k = 1 + rng.below(cfg.max_sinusoids);
            let parts: Vec<(f64, f64, f64)> = (0..k)
                .map(|_| {
                    (
                        0.01 + 0.12 * rng.uniform(),
                        0.3 + 0.7 * rng.uniform(),
                        2.0 * PI * rng.uniform(),
                    )
                })
                .collect();
            let clean: Vec<f32> = (0..cfg.length)
                .map(|t| {
                    parts
                        .iter()
                        .map(|(f, a, p)| a * (2.0 * PI * f * t as f64 + p).sin())
                        .sum::<f64>() as f32
                })
                .collect();
            let noisy = clean
                .iter()
                .map(|&c| c + (cfg.noise_std * rng.normal()) as f32)
                .collect();
            Sample { noisy, clean }
        })
        .collect()
}

/// The devices of `--devices A,B,..`, else the one of `--device`, and a name for them.
fn devices_from_args() -> Result<(String, Vec<Device>), Error> {
    let list = flag("--devices", "");
    if list.is_empty() {
        let (name, device) = device_from_args()?;
        return Ok((name, vec![device]));
    }
    let mut devices = Vec::new();
    for name in list.split(',') {
        devices.push(common::device_named(name.trim())?);
    }
    Ok((format!("{} devices ({list})", devices.len()), devices))
}

/// Bytes sent over the loopback interface so far (Linux), to measure a remote run's traffic.
fn loopback_bytes() -> Option<u64> {
    std::fs::read_to_string("/sys/class/net/lo/statistics/tx_bytes")
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// Mean squared error of `model` on `samples`, and of the noisy input itself.
fn evaluate(model: &Denoiser, samples: &[Sample], device: &Device) -> (f64, f64) {
    let batch = DenoiseBatcher.batch(samples.to_vec(), device);
    let noisy_mse = (batch.noisy.clone() - batch.clean.clone())
        .square()
        .mean()
        .into_scalar::<f32>();
    let mse = model.valid().regress(batch).loss.into_scalar::<f32>();
    (f64::from(mse), f64::from(noisy_mse))
}

fn main() {
    common::main_with(run);
}

fn run() -> Result<(), Error> {
    let config_path = flag(
        "--config",
        concat!(env!("CARGO_MANIFEST_DIR"), "/configs/denoise_training.json"),
    );
    let cfg = DenoiseConfig::load(&config_path).map_err(|e| format!("{config_path}: {e}"))?;
    // `--devices A,B,..` trains on several devices (Burn's multi-device strategy: each device
    // runs its share of every batch's steps, the optimizer steps on the first); `--device`
    // on one. Each is a backend's name or a server's `ws://HOST:PORT`.
    let (name, devices) = devices_from_args()?;
    let device = devices[0].clone();
    let remote = name.contains("ws://");
    let artifact_dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(&cfg.artifact_dir);
    let _ = std::fs::remove_dir_all(&artifact_dir);

    let mut rng = Rng::new(cfg.seed);
    let train = signals(&cfg, cfg.num_train, &mut rng);
    let valid = signals(&cfg, cfg.num_valid, &mut rng);
    // The Learner trains on the autodiff version of the device the model lives on.
    let model = Denoiser::new(&cfg, &mut rng, &device.clone().autodiff())?;
    println!("denoising on {name}: {model}");
    let (before, noisy) = evaluate(&model, &valid, &device);
    println!("validation MSE before training: {before:.4} (the noisy input itself: {noisy:.4})");

    let learner = Learner::new(model, AdamConfig::new().init(), cfg.learning_rate);
    let train_loader = DataLoaderBuilder::new(DenoiseBatcher)
        .batch_size(cfg.batch_size)
        .shuffle(cfg.seed)
        .build(InMemDataset::new(train));
    let valid_loader = DataLoaderBuilder::new(DenoiseBatcher)
        .batch_size(cfg.batch_size)
        .build(InMemDataset::new(valid.clone()));
    let mut training = SupervisedTraining::new(&artifact_dir, train_loader, valid_loader);
    if devices.len() > 1 {
        let devices = devices.iter().map(|d| d.clone().autodiff()).collect();
        training = training.with_training_strategy(
            ExecutionStrategy::multi(devices, MultiDeviceOptim::OptimMainDevice).into(),
        );
    }
    let traffic_before = loopback_bytes();
    let started = std::time::Instant::now();
    let result = training
        .metric_train_numeric(LossMetric::new())
        .metric_valid_numeric(LossMetric::new())
        .with_default_checkpointers()
        .num_epochs(cfg.num_epochs)
        .summary()
        .launch(learner);
    if let Some(e) = &result.error {
        return Err(format!("training failed: {e}").into());
    }
    let model = result.model;
    drop(result.renderer); // closes the dashboard, which prints the summary
    let elapsed = started.elapsed().as_secs_f64();
    let batches = cfg.num_epochs * cfg.num_train.div_ceil(cfg.batch_size);
    println!(
        "training: {elapsed:.1} s for {batches} batches, {:.1} ms per batch (validation included)",
        1e3 * elapsed / batches as f64
    );
    if let (true, Some(before), Some(after)) = (remote, traffic_before, loopback_bytes()) {
        let bytes = after.saturating_sub(before) as f64;
        println!(
            "loopback traffic while training: {:.1} MB, {:.1} kB per batch (every byte on `lo`, both directions)",
            bytes / 1e6,
            bytes / 1e3 / batches as f64
        );
    }

    let (after, noisy) = evaluate(&model, &valid, &device);
    println!(
        "validation MSE after training:  {after:.4} (before {before:.4}; noisy input {noisy:.4})"
    );
    println!(
        "noise power reduced {:.1}x ({:.1} dB)",
        noisy / after,
        10.0 * (noisy / after).log10()
    );
    println!("checkpoints: {}", artifact_dir.join("checkpoint").display());
    if after >= noisy {
        return Err("the trained model does not denoise".into());
    }
    Ok(())
}
