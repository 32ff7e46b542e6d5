//! Shared by the examples: command-line flags, a seeded RNG and host/tensor conversions.
#![allow(dead_code)] // each example uses a different part

use burn::tensor::{Device, Tensor, TensorData};
use burn_npconv::BackendKind;

/// What an example's `run` returns.
pub type Error = Box<dyn std::error::Error>;

/// Runs an example's `run`, printing its error and exiting with status 1 on failure.
pub fn main_with(run: fn() -> Result<(), Error>) {
    if let Err(e) = run() {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

/// `--name value` from the command line, or `default`.
pub fn flag(name: &str, default: &str) -> String {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
        .unwrap_or_else(|| default.to_string())
}

/// The device named by `--device` (flex by default): a backend's name, or with the `remote`
/// feature a server's address `ws://HOST:PORT` (the `serve` example), and a name for it.
pub fn device_from_args() -> Result<(String, Device), Box<dyn std::error::Error>> {
    let name = flag("--device", "flex");
    let device = device_named(&name)?;
    if name.starts_with("ws://") {
        return Ok((format!("the server at {name}"), device));
    }
    Ok((name, device))
}

/// The device of a backend's name or of a server's `ws://HOST:PORT`.
pub fn device_named(name: &str) -> Result<Device, Box<dyn std::error::Error>> {
    if name.starts_with("ws://") {
        return remote_device(name);
    }
    let backend: BackendKind = name
        .parse()
        .map_err(|e| format!("{e}, or a server's address ws://HOST:PORT (feature remote)"))?;
    Ok(backend.device()?)
}

/// The device of a server at `url` (`ws://HOST:PORT`), presenting the token of `--token-file`,
/// of `BURN_NPCONV_TOKEN`, or the one a `serve` on this machine generated for its port.
#[cfg(feature = "remote")]
pub fn remote_device(url: &str) -> Result<Device, Box<dyn std::error::Error>> {
    use burn::remote::RemoteHost;
    let token_file = std::env::args()
        .position(|a| a == "--token-file")
        .map(|_| std::path::PathBuf::from(flag("--token-file", "")));
    let mut host = RemoteHost::websocket(url);
    if let Some(token) = burn_npconv::remote::client_token(token_file.as_deref(), url)? {
        host = host.with_credential(token);
    }
    Device::remote_options(&host)
        .init()
        .map_err(|e| format!("{url}: {e}").into())
}

#[cfg(not(feature = "remote"))]
pub fn remote_device(url: &str) -> Result<Device, Box<dyn std::error::Error>> {
    Err(format!("{url} is a remote server: rebuild with `--features remote`").into())
}

/// A small seeded generator (SplitMix64): reproducible data without depending on Burn's
/// device seeding, which is only reproducible single-threaded.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Standard normal (Box-Muller).
    pub fn normal(&mut self) -> f64 {
        let (u, v) = (self.uniform().max(f64::MIN_POSITIVE), self.uniform());
        (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
    }

    /// Uniform integer in 0..n.
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
}

pub fn tensor<const D: usize>(values: Vec<f32>, shape: [usize; D], device: &Device) -> Tensor<D> {
    Tensor::from_data(TensorData::new(values, shape), device)
}

pub fn host<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data().iter::<f32>().collect()
}
