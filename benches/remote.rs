//! The layer on a remote device against the same work locally (issue: beyond one machine).
//!
//! ```text
//! cargo bench --features remote --bench remote
//! ```
//! A flex server of this crate runs in this process on loopback (WebSocket, an ephemeral port);
//! the client is a remote device of it. Measured alternately with the local flex device (median
//! of several rounds each, so that the ratios compare like with like on a noisy machine):
//! - `convolve` of 1,000,000 samples with a 4,095-tap kernel, `Method::Auto` (and `Direct`), full mode, with
//!   the tensors already on the device: the call and a `sync` (the server computes, nothing but
//!   the op travels);
//! - the same from host memory to host memory: upload, call, read back (8 MB over the wire);
//! - one training step (forward, backward, Adam) of a `[16, 16, 16000]` → 16-channel, 31-tap
//!   layer, the batch already on the device.
//!
//! Server and client share this machine's cores. Prints a Markdown table and writes it to
//! `benches/results/remote.md`.

use std::time::{Duration, Instant};

use burn::module::Param;
use burn::optim::{AdamConfig, GradientsParams};
use burn::remote::RemoteHost;
use burn::server::WebSocketTransport;
use burn::tensor::{Device, Tensor, TensorData};
use burn_npconv::{Boundary, Convolve1dOptions, Method, Mode, NpConvolve1d, convolve1d};

const N: usize = 1_000_000;
const M: usize = 4095;
const ROUNDS: usize = 11;

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1e3)
}

/// Deterministic values in [-1, 1).
fn pseudo(len: usize, seed: usize) -> Vec<f32> {
    (0..len)
        .map(|i| (((i + seed) * 7919 + seed * 104_729) % 1000) as f32 / 500.0 - 1.0)
        .collect()
}

fn t3(values: Vec<f32>, shape: [usize; 3], device: &Device) -> Tensor<3> {
    Tensor::from_data(TensorData::new(values, shape), device)
}

/// One case: a closure timed on the local and on the remote device, alternately.
fn compare(
    local: &Device,
    remote: &Device,
    mut run: impl FnMut(&Device) -> Duration,
) -> (Duration, Duration) {
    // Warm-up: plans, buffers, the first connection's caches.
    run(local);
    run(remote);
    let (mut l, mut r) = (Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        l.push(run(local));
        r.push(run(remote));
    }
    (median(l), median(r))
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("ws://{}", listener.local_addr().unwrap());
    let server = burn_npconv::remote::server([Device::flex()]).unwrap();
    runtime.spawn(server.serve_async(WebSocketTransport::from_listener(listener)));
    let remote = Device::remote_options(&RemoteHost::websocket(&url))
        .init()
        .unwrap();
    let local = Device::flex();

    let signal = pseudo(N, 1);
    let kernel = pseudo(M, 2);
    let options = Convolve1dOptions::new(Mode::Full).with_method(Method::Auto);
    let mut rows = Vec::new();

    // Resident: the tensors are on the device before the clock starts.
    for method in [Method::Auto, Method::Direct] {
        let options = options.with_method(method);
        let (l, r) = compare(&local, &remote, |device| {
            let x = t3(signal.clone(), [1, 1, N], device);
            let w = t3(kernel.clone(), [1, 1, M], device);
            device.sync().unwrap();
            let start = Instant::now();
            let y = convolve1d(x, w, None, options).unwrap();
            device.sync().unwrap();
            let elapsed = start.elapsed();
            drop(y);
            elapsed
        });
        rows.push((
            format!("`convolve`, N = {N}, M = {M}, {method}, full; tensors on the device"),
            l,
            r,
        ));
    }

    // Host to host: upload, compute, read back.
    let (l, r) = compare(&local, &remote, |device| {
        let start = Instant::now();
        let x = t3(signal.clone(), [1, 1, N], device);
        let w = t3(kernel.clone(), [1, 1, M], device);
        let y = convolve1d(x, w, None, options).unwrap();
        let values = y.into_data();
        let elapsed = start.elapsed();
        assert_eq!(values.num_elements(), N + M - 1);
        elapsed
    });
    rows.push((
        "`convolve` as in the first row (Auto), from host memory to host memory (upload, call, read back)".to_string(),
        l,
        r,
    ));

    // A training step.
    let (batch, cin, cout, n, m) = (16, 16, 16, 16_000, 31);
    let x_values = pseudo(batch * cin * n, 3);
    let w_values = pseudo(cout * cin * m, 4);
    let (l, r) = compare(&local, &remote, |device| {
        let device = device.clone().autodiff();
        let layer = NpConvolve1d {
            weight: Param::from_tensor(t3(w_values.clone(), [cout, cin, m], &device)),
            bias: None,
            groups: 1,
            mode: Mode::Same,
            method: Method::Auto,
            boundary: Boundary::Zeros,
        };
        let x = t3(x_values.clone(), [batch, cin, n], &device);
        let mut optim = AdamConfig::new().init();
        device.sync().unwrap();
        let start = Instant::now();
        let loss = layer.forward(x).square().mean();
        let grads = GradientsParams::from_grads(loss.backward(), &layer);
        let layer = optim.step(1e-3, layer, grads);
        device.sync().unwrap();
        let elapsed = start.elapsed();
        drop(layer);
        elapsed
    });
    rows.push((
        format!("training step, [{batch}, {cin}, {n}] → {cout} channels, {m} taps, same (forward, backward, Adam)"),
        l,
        r,
    ));

    let mut table = String::from(
        "| case | local flex | remote flex (loopback) | remote / local |\n|---|---|---|---|\n",
    );
    for (case, l, r) in rows {
        table += &format!(
            "| {case} | {} | {} | {:.2}x |\n",
            ms(l),
            ms(r),
            r.as_secs_f64() / l.as_secs_f64()
        );
    }
    println!("{table}");
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/benches/results/remote.md");
    std::fs::write(
        path,
        format!(
            "Median of {ROUNDS} rounds, measured alternately; the server runs in the bench's process on loopback WebSocket and shares its 2 cores (`cargo bench --features remote --bench remote`):\n\n{table}"
        ),
    )
    .expect("write benches/results/remote.md");
    runtime.shutdown_background();
}
