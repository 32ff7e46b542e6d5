//! Peak memory of the FFT paths. Run under `/usr/bin/time -v` and compare the maximum resident
//! set size with the input and output sizes this prints.
//!
//! - by default, one signal of N = 10,000,000 samples and a 4,095-tap kernel (1-D, forced FFT);
//! - with `volume`, a 256³ f32 volume and a 31³ kernel (`signal::convolve`, `same`,
//!   `Method::Auto`): the N-D FFT's tiles hold a few transform-sized buffers per worker, not
//!   the padded volume's spectra.
//!
//! ```text
//! cargo run --example fft_memory --release
//! cargo run --example fft_memory --release -- volume
//! ```

use std::time::Instant;

use burn::tensor::{Device, Distribution, Tensor};
use burn_npconv::{Convolve1dOptions, Method, Mode, convolve1d, signal};

/// MiB of `floats` f32 values.
fn mib(floats: usize) -> f64 {
    floats as f64 * 4.0 / (1024.0 * 1024.0)
}

fn main() {
    let device = Device::flex();
    if std::env::args().nth(1).as_deref() == Some("volume") {
        let (n, m) = (256, 31);
        let x = Tensor::<3>::random([n; 3], Distribution::Normal(0.0, 1.0), &device);
        let k = Tensor::<3>::random([m; 3], Distribution::Normal(0.0, 1.0), &device);
        let start = Instant::now();
        let y = signal::convolve(x, k, Mode::Same).expect("valid shapes");
        let sum = y.sum().into_scalar::<f32>();
        println!(
            "{n}³ * {m}³: {:.2} s (checksum {sum:.3}); input {:.1} MiB, output {:.1} MiB",
            start.elapsed().as_secs_f64(),
            mib(n * n * n),
            mib(n * n * n)
        );
        return;
    }
    let (n, m) = (10_000_000, 4_095);
    let x = Tensor::<3>::random([1, 1, n], Distribution::Normal(0.0, 1.0), &device);
    let w = Tensor::<3>::random([1, 1, m], Distribution::Normal(0.0, 1.0), &device);
    let start = Instant::now();
    let options = Convolve1dOptions::new(Mode::Full).with_method(Method::Fft);
    let y = convolve1d(x, w, None, options).expect("valid shapes");
    let [_, _, len] = y.dims();
    let sum = y.sum().into_scalar::<f32>();
    println!(
        "N {n}, M {m}: output {len} samples in {:.2} s (checksum {sum:.3}); input {:.1} MiB, output {:.1} MiB",
        start.elapsed().as_secs_f64(),
        mib(n),
        mib(len)
    );
}
