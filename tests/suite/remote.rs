//! The layer on Burn's remote backend, over WebSocket on loopback (ephemeral ports), with the
//! server in this process: results, gradients and an optimizer step agree with a local device
//! of the server's backend for every method and mode; the FFT runs on the server; tokens are
//! required when set; an unreachable or dying server is an error within a bounded time.
//!
//! Every body runs once per backend a server can serve (flex, ndarray); wgpu devices cannot be
//! served by this crate's server, which `servers_refuse_what_they_cannot_serve` checks.

use crate::common;

use std::time::{Duration, Instant};

use burn::module::Param;
use burn::optim::{AdamConfig, GradientsParams};
use burn::remote::{ConnectError, RemoteHost};
use burn::server::{RemoteServer, TokenAuthorizer, WebSocketTransport};
use burn::tensor::{DType, Device, Tensor, TensorData};
use burn_npconv::remote::RemoteServerError;
use burn_npconv::{
    Boundary, Convolve1dOptions, ConvolveError, Method, Mode, NpConvolve1d, NpConvolve1dConfig,
    convolve1d,
};

/// Far beyond what any bounded step here takes when it works: only a hang reaches it.
const HANG_LIMIT: Duration = Duration::from_secs(20);

/// A server running in this process on its own Tokio runtime, until dropped.
struct Served {
    runtime: tokio::runtime::Runtime,
    task: tokio::task::JoinHandle<Result<(), burn::server::ServeError>>,
    host: RemoteHost,
}

impl Served {
    fn start(server: RemoteServer) -> Served {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        // Bound (listening) before the dial: no sleep needed.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let host = RemoteHost::websocket(&format!("ws://{}", listener.local_addr().unwrap()));
        let task = runtime.spawn(server.serve_async(WebSocketTransport::from_listener(listener)));
        Served {
            runtime,
            task,
            host,
        }
    }

    /// This crate's server for `device`.
    fn ours(device: &Device) -> Served {
        Served::start(burn_npconv::remote::server([device.clone()]).unwrap())
    }

    fn device(&self) -> Device {
        Device::remote_options(&self.host).init().unwrap()
    }

    /// Stops serving and ends the live connections.
    fn kill(self) {
        self.task.abort();
        let _ = self.runtime.block_on(self.task);
        self.runtime.shutdown_background();
    }
}

/// Runs `body` on another thread; fails if it does not finish within `limit`.
fn within<R: Send + 'static>(limit: Duration, body: impl FnOnce() -> R + Send + 'static) -> R {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(body());
    });
    rx.recv_timeout(limit)
        .unwrap_or_else(|_| panic!("did not finish within {limit:?}: a hang"))
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

fn read<const D: usize>(t: Tensor<D>) -> Vec<f64> {
    let data = t.into_data().convert::<f64>();
    data.iter::<f64>().collect()
}

/// `got` equals `want` within `rel` of `want`'s largest magnitude.
fn assert_agree(got: &[f64], want: &[f64], rel: f64, what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: lengths");
    let scale = want
        .iter()
        .fold(0.0f64, |m, v| m.max(v.abs()))
        .max(f64::MIN_POSITIVE);
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            (g - w).abs() <= rel * scale,
            "{what}: [{i}] remote {g}, local {w} (scale {scale})"
        );
    }
}

/// One training step of a layer (forward, backward with a weighted loss, Adam) on `device`:
/// the output, the input's gradient, the weight's gradient and the weight after the step.
fn train_step(config: &NpConvolve1dConfig, dtype: DType, device: &Device) -> [Vec<f64>; 4] {
    let device = device.clone().autodiff();
    let (batch, n) = (2, 300);
    // The same initial weights on every device.
    let (cout, cpg, m) = (
        config.channels_out,
        config.channels_in / config.groups,
        config.kernel_size,
    );
    let layer = NpConvolve1d {
        weight: Param::from_tensor(
            t3(pseudo(cout * cpg * m, 11), [cout, cpg, m], &device).cast(dtype),
        ),
        bias: Some(Param::from_tensor(
            Tensor::<1>::from_data(TensorData::new(pseudo(cout, 12), [cout]), &device).cast(dtype),
        )),
        groups: config.groups,
        mode: config.mode,
        method: config.method,
        boundary: config.boundary,
    };
    let x = t3(
        pseudo(batch * config.channels_in * n, 1),
        [batch, config.channels_in, n],
        &device,
    )
    .cast(dtype)
    .require_grad();
    let y = layer.forward(x.clone());
    let dims = y.dims();
    let t = t3(pseudo(dims.iter().product(), 2), dims, &device).cast(dtype);
    let loss = (y.clone() * t).sum();
    let grads = loss.backward();
    let dx = x.grad(&grads).unwrap();
    let dw = layer.weight.grad(&grads).unwrap();
    let grads = GradientsParams::from_grads(grads, &layer);
    let mut optim = AdamConfig::new().init();
    let layer = optim.step(1e-2, layer, grads);
    [
        read(y.inner()),
        read(dx),
        read(dw),
        read(layer.weight.val().inner()),
    ]
}

/// Defines, for each `fn name(device: &Device) { body }`, one test per backend a server of this
/// crate serves (`name::flex`, `name::ndarray`), with `device` that backend's local device.
macro_rules! on_every_served_backend {
    ($(fn $name:ident($dev:ident: &Device) $body:block)*) => {
        $(
            mod $name {
                #[allow(unused_imports)]
                use super::*;

                fn case($dev: &Device) $body

                #[cfg(feature = "flex")]
                #[test]
                fn flex() {
                    common::run(burn_npconv::BackendKind::Flex, case)
                }

                #[cfg(feature = "ndarray")]
                #[test]
                fn ndarray() {
                    common::run(burn_npconv::BackendKind::NdArray, case)
                }
            }
        )*
    };
}

on_every_served_backend! {
    fn forward_backward_and_a_step_agree_with_local(device: &Device) {
        let served = Served::ours(device);
        let remote = served.device();
        for dtype in [DType::F32, DType::F64] {
            for method in Method::ALL {
                for mode in Mode::ALL {
                    for (cin, cout, m, groups, boundary) in [
                        (2, 3, 31, 1, Boundary::Zeros),
                        (4, 4, 8, 4, Boundary::Zeros),
                        (1, 2, 6, 1, Boundary::Reflect),
                    ] {
                        let config = NpConvolve1dConfig::new(cin, cout, m)
                            .with_mode(mode)
                            .with_groups(groups)
                            .with_method(method)
                            .with_boundary(boundary)
                            .with_bias(true);
                        let local = train_step(&config, dtype, device);
                        let far = train_step(&config, dtype, &remote);
                        let what = ["output", "input gradient", "weight gradient", "weight after Adam"];
                        for ((l, r), what) in local.iter().zip(&far).zip(what) {
                            let what = format!("{what}, {dtype:?} {method} {mode} {boundary} cin {cin} m {m}");
                            assert_agree(r, l, 1e-6, &what);
                        }
                    }
                }
            }
        }
        served.kill();
    }

    fn the_fft_runs_on_the_server(device: &Device) {
        // Forced and chosen by Auto, the FFT's rounding is the server's host FFT's, bit for bit,
        // and not that of a direct sum (which Burn's conv1d would compute).
        let served = Served::ours(device);
        let remote = served.device();
        let (n, m) = (20_000, 1_023);
        let x = pseudo(n, 3);
        let w = pseudo(m, 4);
        let run = |device: &Device, method: Method| {
            let x = t3(x.clone(), [1, 1, n], device);
            let w = t3(w.clone(), [1, 1, m], device);
            read(convolve1d(x, w, None, Convolve1dOptions::new(Mode::Full).with_method(method)).unwrap())
        };
        let local_direct = run(device, Method::Direct);
        for method in Method::ALL {
            let local = run(device, method);
            if method != Method::Direct {
                assert_ne!(local, local_direct, "{method} must round unlike the direct sum here");
            }
            assert_eq!(run(&remote, method), local, "{method} at N = 20,000, M = 1,023");
        }
        served.kill();
    }

    fn a_stream_agrees_with_forward(device: &Device) {
        // On a remote device a stream runs each chunk through the layer's op on the server,
        // keeping the last M - 1 samples there.
        let served = Served::ours(device);
        let remote = served.device();
        let (n, m) = (1_000, 63);
        for mode in Mode::ALL {
            let layer = NpConvolve1d {
                weight: Param::from_tensor(t3(pseudo(m, 13), [1, 1, m], &remote)),
                bias: None,
                groups: 1,
                mode,
                method: Method::Auto,
                boundary: Boundary::Zeros,
            };
            let signal = pseudo(n, 14);
            let whole = read(layer.forward(t3(signal.clone(), [1, 1, n], &remote)));
            let mut stream = layer.stream();
            let mut streamed = Vec::new();
            for chunk in signal.chunks(97) {
                streamed.extend(read(stream.push(t3(chunk.to_vec(), [1, 1, chunk.len()], &remote))));
            }
            streamed.extend(read(stream.finish()));
            assert_agree(&streamed, &whole, 1e-5, &format!("{mode}: stream vs forward"));
        }
        served.kill();
    }

    fn nan_and_infinities_land_where_numpy_puts_them(device: &Device) {
        let served = Served::ours(device);
        let remote = served.device();
        let (n, m) = (5_000, 255);
        let mut x = pseudo(n, 5);
        x[100] = f32::NAN;
        x[2_000] = f32::INFINITY;
        x[4_000] = f32::NEG_INFINITY;
        for method in Method::ALL {
            let run = |device: &Device| {
                let x = t3(x.clone(), [1, 1, n], device);
                let w = t3(pseudo(m, 6), [1, 1, m], device);
                read(convolve1d(x, w, None, Convolve1dOptions::new(Mode::Same).with_method(method)).unwrap())
            };
            let (local, far) = (run(device), run(&remote));
            let class = |v: &f64| (v.is_nan(), *v == f64::INFINITY, *v == f64::NEG_INFINITY);
            let classes = |v: &[f64]| v.iter().map(class).collect::<Vec<_>>();
            assert_eq!(classes(&far), classes(&local), "{method}: non-finite positions");
            let finite = |v: &[f64]| v.iter().map(|v| if v.is_finite() { *v } else { 0.0 }).collect::<Vec<_>>();
            assert_agree(&finite(&far), &finite(&local), 1e-6, &format!("{method}: finite outputs"));
        }
        served.kill();
    }

    fn only_a_client_with_the_token_is_admitted(device: &Device) {
        let token = "a-token-for-the-tests";
        let server = burn_npconv::remote::server([device.clone()])
            .unwrap()
            .with_authorizer(TokenAuthorizer::new(token).unwrap());
        let served = Served::start(server);
        let host = served.host.clone();
        let (none, wrong) = within(HANG_LIMIT, move || {
            (
                Device::remote_options(&host).init().map(|_| ()),
                Device::remote_options(&host.with_credential("not-the-token")).init().map(|_| ()),
            )
        });
        assert!(matches!(none, Err(ConnectError::Unauthorized)), "no token: {none:?}");
        assert!(matches!(wrong, Err(ConnectError::Unauthorized)), "wrong token: {wrong:?}");
        let message = ConnectError::Unauthorized.to_string();
        assert!(!message.is_empty(), "the refusal says why: {message:?}");
        let remote = Device::remote_options(&served.host.clone().with_credential(token))
            .init()
            .unwrap();
        let x = t3(vec![1.0, 2.0, 3.0], [1, 1, 3], &remote);
        let w = t3(vec![0.0, 1.0, 0.5], [1, 1, 3], &remote);
        let y = read(convolve1d(x, w, None, Convolve1dOptions::new(Mode::Full)).unwrap());
        assert_eq!(y, [0.0, 1.0, 2.5, 4.0, 1.5]);
        served.kill();
    }

    fn a_server_that_dies_is_an_error_within_bounded_time(device: &Device) {
        let served = Served::ours(device);
        let remote = served.device();
        let x = t3(pseudo(1_000, 7), [1, 1, 1_000], &remote);
        let w = t3(pseudo(15, 8), [1, 1, 15], &remote);
        let options = Convolve1dOptions::new(Mode::Same);
        assert_eq!(read(convolve1d(x.clone(), w.clone(), None, options).unwrap()).len(), 1_000);
        served.kill();
        let started = Instant::now();
        let result = within(HANG_LIMIT, move || {
            convolve1d(x, w, None, options).map(|y| y.try_into_data().map(|_| ()))
        });
        let err = result.expect_err("a convolution after the server died");
        assert!(matches!(err, ConvolveError::RemoteDevice { .. }), "{err:?}");
        assert!(err.to_string().contains("is its server still running?"), "{err}");
        eprintln!("the dead server's error came after {:?}", started.elapsed());
    }

    fn a_plain_burn_server_is_an_error_not_a_hang(device: &Device) {
        // A server without this crate's op closes the connection when the op arrives.
        let served = Served::start(RemoteServer::new([device.clone()]));
        let remote = served.device();
        let x = t3(pseudo(100, 9), [1, 1, 100], &remote);
        let w = t3(pseudo(5, 10), [1, 1, 5], &remote);
        let read = within(HANG_LIMIT, move || {
            convolve1d(x, w, None, Convolve1dOptions::new(Mode::Same)).unwrap().try_into_data()
        });
        assert!(read.is_err(), "{read:?}");
        served.kill();
    }
}

#[test]
fn an_unreachable_server_is_a_clear_error() {
    // Bound but never listening: every dial is refused and no other socket can take the port.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let host = RemoteHost::websocket(&format!("ws://{}", socket.local_addr().unwrap()));
    let started = Instant::now();
    let result = within(Duration::from_secs(90), move || {
        Device::remote_options(&host).init().map(|_| ())
    });
    let took = started.elapsed();
    assert!(
        matches!(result, Err(ConnectError::Unreachable { .. })),
        "{result:?}"
    );
    let message = result.unwrap_err().to_string();
    assert!(message.contains("cannot be reached"), "{message}");
    eprintln!("unreachable after {took:?}: {message}");
    drop(socket);
}

#[test]
fn servers_refuse_what_they_cannot_serve() {
    let none = burn_npconv::remote::server(Vec::<Device>::new())
        .err()
        .unwrap();
    assert_eq!(none, RemoteServerError::NoDevices);
    #[cfg(all(feature = "flex", feature = "ndarray"))]
    #[allow(deprecated)] // burn-ndarray is deprecated upstream; our users asked for it.
    {
        let mixed = burn_npconv::remote::server([Device::flex(), Device::ndarray()])
            .err()
            .unwrap();
        assert!(
            matches!(mixed, RemoteServerError::MixedBackends { .. }),
            "{mixed:?}"
        );
        assert!(
            mixed.to_string().contains("one backend per server"),
            "{mixed}"
        );
    }
    #[cfg(feature = "wgpu")]
    if let Ok(gpu) = burn_npconv::BackendKind::Wgpu.device() {
        let err = burn_npconv::remote::server([gpu]).err().unwrap();
        assert!(
            matches!(err, RemoteServerError::UnsupportedDevice { .. }),
            "{err:?}"
        );
        assert!(err.to_string().contains("flex or ndarray"), "{err}");
    }
}

#[test]
fn only_loopback_is_served_without_a_token() {
    use burn_npconv::remote::check_exposure;
    assert!(check_exposure("127.0.0.1:3000".parse().unwrap(), false).is_ok());
    assert!(check_exposure("[::1]:3000".parse().unwrap(), false).is_ok());
    assert!(check_exposure("0.0.0.0:3000".parse().unwrap(), true).is_ok());
    let err = check_exposure("0.0.0.0:3000".parse().unwrap(), false).unwrap_err();
    assert!(matches!(err, RemoteServerError::OpenDoor { .. }), "{err:?}");
    assert!(
        err.to_string()
            .starts_with("refusing to serve on 0.0.0.0:3000 without a token"),
        "{err}"
    );
    assert!(check_exposure("192.168.1.5:3000".parse().unwrap(), false).is_err());
}

#[test]
fn a_token_file_gives_its_first_line() {
    use burn_npconv::remote::token;
    let dir = std::env::temp_dir().join(format!("npconv-token-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("token");
    std::fs::write(&file, "s3cret\n").unwrap();
    assert_eq!(token(Some(&file)).unwrap().as_deref(), Some("s3cret"));
    std::fs::write(&file, "\n").unwrap();
    let empty = token(Some(&file)).unwrap_err();
    assert!(empty.to_string().contains("empty token"), "{empty}");
    let missing = token(Some(&dir.join("absent"))).unwrap_err();
    assert!(
        missing.to_string().contains("cannot read token file"),
        "{missing}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The `serve` example's binary, which `cargo test` builds beside the test binaries.
fn serve_example() -> std::path::PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().and_then(|deps| deps.parent()).unwrap();
    let serve = dir.join("examples").join("serve");
    assert!(
        serve.exists(),
        "{} is missing: `cargo test --features remote` builds it (a `--test remote` run alone does not; run `cargo build --example serve --features remote` first)",
        serve.display()
    );
    serve
}

/// A running `serve` example: the child, its stdout's lines, the lines before `listening`,
/// and the URL it printed.
struct ServeProcess {
    child: std::process::Child,
    lines: std::sync::mpsc::Receiver<String>,
    before: Vec<String>,
    url: String,
}

/// Starts `serve` on an ephemeral loopback port with `args`, without `BURN_NPCONV_TOKEN`.
fn spawn_serve(args: &[&str]) -> ServeProcess {
    use std::io::BufRead;
    use std::process::{Command, Stdio};
    let mut child = Command::new(serve_example())
        .args(["--addr", "127.0.0.1:0"])
        .args(args)
        .env_remove(burn_npconv::remote::TOKEN_ENV)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let (lines_tx, lines) = std::sync::mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            let _ = lines_tx.send(line);
        }
    });
    let mut before = Vec::new();
    let url = loop {
        let line = lines
            .recv_timeout(Duration::from_secs(60))
            .expect("serve printed no `listening` line");
        if let Some(rest) = line.strip_prefix("listening on ") {
            break rest.split_whitespace().next().unwrap().to_string();
        }
        before.push(line);
    };
    assert!(url.starts_with("ws://127.0.0.1:"), "{url}");
    ServeProcess {
        child,
        lines,
        before,
        url,
    }
}

impl ServeProcess {
    /// SIGTERM: serve returns and prints `stopped`.
    fn stop(mut self) {
        use std::process::Command;
        // The shell's own `kill`: a fresh machine may lack procps' /bin/kill.
        let status = Command::new("sh")
            .args(["-c", &format!("kill -TERM {}", self.child.id())])
            .status()
            .unwrap();
        assert!(status.success());
        let started = Instant::now();
        let exit = loop {
            if let Some(exit) = self.child.try_wait().unwrap() {
                break exit;
            }
            assert!(
                started.elapsed() < HANG_LIMIT,
                "serve did not stop on SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(20));
        };
        assert!(exit.success(), "serve exited with {exit}");
        // The rest of its output, up to the end of the stream.
        let rest: Vec<String> = self.lines.iter().collect();
        assert!(rest.iter().any(|l| l == "stopped"), "{rest:?}");
    }
}

/// A convolution on `device` gives NumPy's answer.
fn convolves(device: &Device) {
    let x = t3(vec![1.0, 2.0, 3.0], [1, 1, 3], device);
    let w = t3(vec![0.0, 1.0, 0.5], [1, 1, 3], device);
    let y = read(convolve1d(x, w, None, Convolve1dOptions::new(Mode::Same)).unwrap());
    assert_eq!(y, [1.0, 2.5, 4.0]);
}

fn temp_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("npconv-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn the_serve_example_requires_its_token_and_stops_on_sigterm() {
    let dir = temp_dir("serve-token-file");
    let file = dir.join("token");
    std::fs::write(&file, "serve-test-token\n").unwrap();
    let served = spawn_serve(&["--token-file", file.to_str().unwrap()]);
    let host = RemoteHost::websocket(&served.url);
    let refused = Device::remote_options(&host).init().map(|_| ());
    assert!(
        matches!(refused, Err(ConnectError::Unauthorized)),
        "{refused:?}"
    );
    let device = Device::remote_options(&host.with_credential("serve-test-token"))
        .init()
        .unwrap();
    convolves(&device);
    served.stop();
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn serve_without_a_token_generates_one_only_its_user_can_read() {
    use burn_npconv::remote::{client_token, token_path};
    let served = spawn_serve(&[]);
    let port: u16 = served.url.rsplit(':').next().unwrap().parse().unwrap();
    // The child has this process's environment: the same path.
    let path = token_path(port).unwrap();
    assert!(
        served
            .before
            .iter()
            .any(|l| l == &format!("token written to {}", path.display())),
        "{:?}",
        served.before
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "{mode:o}");
        let dir_mode = std::fs::metadata(path.parent().unwrap())
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(dir_mode & 0o777, 0o700, "{dir_mode:o}");
    }
    let token = std::fs::read_to_string(&path).unwrap().trim().to_string();
    assert_eq!(token.len(), 64, "{token}");
    // Loopback is no exemption.
    let host = RemoteHost::websocket(&served.url);
    let refused = Device::remote_options(&host).init().map(|_| ());
    assert!(
        matches!(refused, Err(ConnectError::Unauthorized)),
        "{refused:?}"
    );
    // A client on this machine finds the token where serve wrote it.
    let found = client_token(None, &served.url).unwrap();
    assert_eq!(found.as_deref(), Some(token.as_str()));
    let device = Device::remote_options(&host.with_credential(token))
        .init()
        .unwrap();
    convolves(&device);
    served.stop();
    assert!(!path.exists(), "serve left its token file behind");
}
