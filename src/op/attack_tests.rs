//! A hostile client against a live server: ops with forged plans (sizes that do not match the
//! tensors, huge sizes, empty channels, FFT lengths out of range, routes a server does not run,
//! a request over the limit), each refused with an error on that client, while the server
//! keeps serving: after every forged op an honest one gets its right answer, and the server's
//! memory stays bounded.

use std::time::Duration;

use burn::remote::RemoteHost;
use burn::server::WebSocketTransport;
use burn::tensor::{Device, Tensor, TensorData};

use crate::geometry::Geometry;
use crate::mode::{Mode, Operation};
use crate::plan::{ConvPlan, FftLens, HostKernel, Route};

/// A server of this crate in this process, on its own Tokio runtime, on loopback.
struct Server {
    runtime: tokio::runtime::Runtime,
    task: tokio::task::JoinHandle<Result<(), burn::server::ServeError>>,
    host: RemoteHost,
}

impl Server {
    fn start(max_request_bytes: u64) -> Server {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let host = RemoteHost::websocket(&format!("ws://{}", listener.local_addr().unwrap()));
        let server = crate::remote::server_with_limit([Device::flex()], max_request_bytes).unwrap();
        let _guard = runtime.enter();
        let task = runtime.spawn(server.serve_async(WebSocketTransport::from_listener(listener)));
        Server {
            runtime,
            task,
            host,
        }
    }

    fn stop(self) {
        assert!(!self.task.is_finished(), "the server stopped serving");
        self.task.abort();
        let _ = self.runtime.block_on(self.task);
        self.runtime.shutdown_background();
    }
}

/// Deterministic values in [-1, 1).
fn pseudo(len: usize, seed: usize) -> Vec<f32> {
    (0..len)
        .map(|i| (((i + seed) * 7919 + seed * 104_729) % 1000) as f32 / 500.0 - 1.0)
        .collect()
}

/// Both inputs' shapes of the honest call: `[2, 4, 50]` against `[6, 2, 5]`, groups 2, `same`.
const X: [usize; 3] = [2, 4, 50];
const W: [usize; 3] = [6, 2, 5];

fn honest_plan() -> ConvPlan {
    let g = Geometry::numpy(X, W, 2, Mode::Same, Operation::Convolution);
    let direct = Route::Host {
        kernel: HostKernel::Direct,
        guarded: false,
    };
    ConvPlan {
        geometry: g,
        forward: direct,
        input_grad: Some(direct),
        weight_grad: Some(direct),
    }
}

/// What a new client gets back from `plan` on tensors of shapes `x` and `w`: the output and,
/// with `grads`, both gradients, all read back; or the error (a failed read, or a panic of
/// Burn's remote client), within a bounded time.
fn attempt(
    host: &RemoteHost,
    plan: ConvPlan,
    x: [usize; 3],
    w: [usize; 3],
    grads: bool,
) -> Result<Vec<Vec<f32>>, String> {
    // A new client each time: Burn keys a remote device (and its connection to the server) by
    // address and credential, and a server without an authorizer admits any credential. A
    // refused op ends its client's connection; the other clients are what the server must go
    // on serving.
    static CLIENTS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let client = CLIENTS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let host = host.clone().with_credential(format!("client-{client}"));
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let run = || -> Result<Vec<Vec<f32>>, String> {
            let device = Device::remote_options(&host)
                .init()
                .map_err(|e| e.to_string())?;
            let device = if grads { device.autodiff() } else { device };
            let tensor = |shape: [usize; 3], seed| {
                let values = pseudo(shape.iter().product(), seed);
                Tensor::<3>::from_data(TensorData::new(values, shape), &device)
            };
            let (xt, wt) = (tensor(x, 1), tensor(w, 2));
            let (xt, wt) = if grads {
                (xt.require_grad(), wt.require_grad())
            } else {
                (xt, wt)
            };
            let y = super::npconv(xt.clone(), wt.clone(), plan);
            let read = |t: Tensor<3>| {
                t.try_into_data()
                    .map(|d| d.iter::<f32>().collect::<Vec<f32>>())
                    .map_err(|e| e.to_string())
            };
            let mut out = vec![read(y.clone())?];
            if grads {
                let g = y.sum().backward();
                let gx = xt.grad(&g).ok_or("no input gradient")?;
                let gw = wt.grad(&g).ok_or("no weight gradient")?;
                out.push(read(gx)?);
                out.push(read(gw)?);
            }
            Ok(out)
        };
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(run))
            .unwrap_or_else(|_| Err("the remote client panicked".into()));
        let _ = tx.send(result);
    });
    rx.recv_timeout(Duration::from_secs(60))
        .unwrap_or_else(|_| panic!("no answer within 60 s for {plan:?}: a hang"))
}

/// The peak resident memory of this process (the server runs in it), in bytes.
fn peak_rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map_or(0, |kib| kib * 1024)
}

#[test]
fn forged_ops_are_refused_and_the_server_serves_on() {
    let server = Server::start(16 << 20);
    let honest = attempt(&server.host, honest_plan(), X, W, true).expect("an honest step");
    assert_eq!(honest.len(), 3);
    let before = peak_rss();

    let plan = honest_plan();
    let fft = |input, f64| Route::Host {
        kernel: HostKernel::Fft(FftLens { input, f64 }),
        guarded: true,
    };
    let mut forged: Vec<(&str, ConvPlan, [usize; 3], [usize; 3])> = Vec::new();
    let mut p = plan;
    p.geometry.cout = 1 << 58;
    forged.push(("cout 2^58", p, X, W));
    let mut p = plan;
    p.geometry.cin = 0;
    forged.push(("cin 0", p, X, W));
    let mut p = plan;
    p.geometry.n = (1 << 62) + 1;
    p.forward = fft(4, 4);
    forged.push(("n 2^62 + 1 on a guarded FFT", p, X, W));
    let mut p = plan;
    p.forward = fft(1 << 30, 1 << 30);
    forged.push(("an FFT of 2^30 points", p, X, W));
    let mut p = plan;
    p.forward = Route::BurnConv;
    forged.push(("a route a server does not run", p, X, W));
    let mut p = plan;
    p.geometry.left = 7;
    forged.push(("padding longer than the kernel", p, X, W));
    let mut p = plan;
    p.geometry.batch = 3;
    forged.push(("a batch the tensor does not have", p, X, W));
    // Shapes consistent with the plan, but 16 MiB is the limit: [1024, 1, 2048] -> 8 MiB of
    // f32 outputs, plus the padded copy's 8 MiB.
    let big_x = [1024, 1, 2048];
    let big_w = [1, 1, 1];
    let g = Geometry::numpy(big_x, big_w, 1, Mode::Full, Operation::Convolution);
    forged.push((
        "a request over the limit",
        ConvPlan {
            geometry: g,
            ..plan
        },
        big_x,
        big_w,
    ));

    // 512 KiB sent, a 16 GiB output asked for.
    let amp = [65536, 1, 1];
    let g = Geometry::numpy(amp, amp, 1, Mode::Full, Operation::Convolution);
    forged.push((
        "a 16 GiB output from 512 KiB",
        ConvPlan {
            geometry: g,
            ..plan
        },
        amp,
        amp,
    ));

    for (what, plan, x, w) in forged {
        let result = attempt(&server.host, plan, x, w, false);
        assert!(result.is_err(), "{what}: answered {result:?}");
        // The server goes on: an honest step in a new connection gives the same answer.
        let again = attempt(&server.host, honest_plan(), X, W, true)
            .unwrap_or_else(|e| panic!("after {what}: {e}"));
        assert_eq!(again, honest, "after {what}");
    }

    // A gradient route forged behind an honest forward route: the forward answers, the
    // backward is refused.
    let mut p = honest_plan();
    p.weight_grad = Some(fft(1 << 40, 1 << 40));
    let result = attempt(&server.host, p, X, W, true);
    assert!(
        result.is_err(),
        "a forged weight-gradient route: {result:?}"
    );
    let again = attempt(&server.host, honest_plan(), X, W, true).unwrap();
    assert_eq!(again, honest);

    // Nothing was sized by the forged values: the peak grew by less than the limit.
    let grown = peak_rss().saturating_sub(before);
    assert!(grown < 256 << 20, "peak memory grew by {grown} bytes");
    server.stop();
}
