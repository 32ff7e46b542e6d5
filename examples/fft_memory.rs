//! Peak memory of the FFT path: one signal of N = 10,000,000 samples, a 4,095-tap kernel.
//! Run under `/usr/bin/time -v` and compare the maximum resident set size with the input and
//! output sizes this prints.
//!
//! ```text
//! cargo run --example fft_memory --release
//! ```

use std::time::Instant;

use burn::tensor::{Device, Distribution, Tensor};
use burn_npconv::{Convolve1dOptions, Method, Mode, convolve1d};

fn main() {
    let (n, m) = (10_000_000, 4_095);
    let device = Device::flex();
    let x = Tensor::<3>::random([1, 1, n], Distribution::Normal(0.0, 1.0), &device);
    let w = Tensor::<3>::random([1, 1, m], Distribution::Normal(0.0, 1.0), &device);
    let start = Instant::now();
    let options = Convolve1dOptions::new(Mode::Full).with_method(Method::Fft);
    let y = convolve1d(x, w, None, options).expect("valid shapes");
    let [_, _, len] = y.dims();
    let sum = y.sum().into_scalar::<f32>();
    let mib = |floats: usize| floats as f64 * 4.0 / (1024.0 * 1024.0);
    println!(
        "N {n}, M {m}: output {len} samples in {:.2} s (checksum {sum:.3}); input {:.1} MiB, output {:.1} MiB",
        start.elapsed().as_secs_f64(),
        mib(n),
        mib(len)
    );
}
