//! Peak memory of one training step of the depthwise case (`[64, 16, 16000]`, 31 taps, groups
//! 16, `same` mode): forward, `y.sum().backward()`, both gradients read. It prints its own peak
//! resident set (`VmHWM`, Linux) before and after the step next to what the tensors themselves
//! need (input, output, input gradient, weight gradient).
//!
//! ```text
//! cargo run --release --example train_memory                      # flex, Method::Auto
//! cargo run --release --example train_memory -- --device ndarray --method fft
//! ```

mod common;

use burn::tensor::{Distribution, Tensor};
use burn_npconv::{Convolve1dOptions, Method, Mode, convolve1d};
use common::{Error, device_from_args, flag, main_with};

/// The process's peak resident set in MiB (`VmHWM` of /proc/self/status).
fn peak_rss_mib() -> Result<f64, Error> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    let line = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .ok_or("no VmHWM in /proc/self/status")?;
    let kib: f64 = line
        .split_whitespace()
        .nth(1)
        .ok_or("VmHWM without a value")?
        .parse()?;
    Ok(kib / 1024.0)
}

fn run() -> Result<(), Error> {
    let (backend, device) = device_from_args()?;
    let method: Method = flag("--method", "auto").parse()?;
    let (batch, channels, n, m) = (64, 16, 16_000, 31);
    let ad = device.autodiff();
    let x = Tensor::<3>::random([batch, channels, n], Distribution::Normal(0.0, 1.0), &ad)
        .require_grad();
    let w =
        Tensor::<3>::random([channels, 1, m], Distribution::Normal(0.0, 1.0), &ad).require_grad();
    let _ = x.clone().sum().into_scalar::<f32>(); // the input exists before the baseline
    let before = peak_rss_mib()?;
    let start = std::time::Instant::now();
    let options = Convolve1dOptions::new(Mode::Same)
        .with_groups(channels)
        .with_method(method);
    let y = convolve1d(x.clone(), w.clone(), None, options)?;
    let grads = y.sum().backward();
    let dx = x.grad(&grads).ok_or("no input gradient")?;
    let dw = w.grad(&grads).ok_or("no weight gradient")?;
    let check = dx.sum().into_scalar::<f32>() + dw.sum().into_scalar::<f32>();
    let elapsed = start.elapsed().as_secs_f64();
    let after = peak_rss_mib()?;
    let mib = |floats: usize| floats as f64 * 4.0 / (1024.0 * 1024.0);
    let signal = mib(batch * channels * n);
    let tensors = 3.0 * signal + mib(channels * m);
    println!(
        "{backend} {method}: one training step in {elapsed:.3} s (checksum {check:.3e})\n\
         tensors: input {signal:.1} MiB + output {signal:.1} + input gradient {signal:.1} + weight gradient {:.3} = {tensors:.1} MiB\n\
         peak resident set: {before:.1} MiB before the step, {after:.1} MiB after: the step added {:.1} MiB, \
         {:.2}x the output and gradients ({:.1} MiB); input included, {:.2}x the tensors",
        mib(channels * m),
        after - before,
        (after - before) / (tensors - signal),
        tensors - signal,
        (after - before + signal) / tensors,
    );
    Ok(())
}

fn main() {
    main_with(run);
}
