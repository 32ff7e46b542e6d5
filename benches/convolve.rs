//! Criterion benches of burn-npconv (results and commands: docs/PERFORMANCE.md).
//!
//! ```text
//! cargo bench --bench convolve --all-features                 # everything (about 15 minutes)
//! cargo bench --bench convolve --all-features -- grid/flex    # one group
//! cargo bench --bench convolve --features ndarray,internals   # flex and ndarray, no wgpu
//! ```
//! Groups (ids are what benches/report.py reads from target/criterion):
//! - `grid/{backend}/{method}`: one signal, `N` in {1e3, 1e4, 1e5, 1e6} x `M` in {3, 15, 63,
//!   255, 1023, 4095} (`M <= N`) x every mode; ids `{mode}-N{n}-M{m}`.
//! - `pair/{backend}`: Burn's bare `conv1d` and `Method::Direct` on the same shapes, point by
//!   point (`conv1d/{id}`, `direct/{id}`): the yardstick of `Direct`.
//! - `grid64/{backend}`: the grid in f64, `Method::Auto` (backends with f64).
//! - `scan/`: the NaN/inf output check and Auto's accuracy guard, next to the kernels, N = 1e6;
//!   `scan/alternating` lines (printed when the filter is empty or names `scan`: about 4 s)
//!   give the direct kernel's check, the FFT's check and the guard's measurement as fractions
//!   of the work they ride on, from alternated pairs of calls (also saved for
//!   `benches/report.py` in `target/criterion/scan-alternating/`).
//! - `simd/M{m}`: the direct kernel's inner loop per instruction set (AVX-512, AVX2, portable),
//!   one thread, side by side.
//! - `train/{backend}/{method}`: the three training cases of docs/PERFORMANCE.md, as a user
//!   runs them: `forward` (the output read back) and `step` (forward, backward, both gradients
//!   read back); for `Auto` also `stack`, an Adam step on a two-layer network
//!   (`benches/torch_reference.py` times PyTorch doing the same).
//! - `host/{kernel}`: the two CPU kernels alone.
//!
//! `CALIBRATE=1 cargo bench --bench convolve --features internals` instead prints the two CPU
//! kernels' times next to the cost model of `Method::Auto` (`src/cost.rs`), as a Markdown
//! table. The bench needs the `internals` feature (the kernels on plain slices).
//! - `batched/{backend}/{method}`: `[64, 16, 16000]`, depthwise 31-tap kernels, `same` mode,
//!   forward and forward+backward.
//!
//! Every timed region ends with `device.sync()`, so GPU timings are not dispatch times.

use std::time::{Duration, Instant};

use burn::tensor::DType;
use burn::tensor::module::conv1d;
use burn::tensor::ops::ConvOptions;
use burn::tensor::{Device, Distribution, Tensor};
use burn_npconv::internals::{
    CpuKernel, Isa, Real, auto_takes_fft, correlate, correlate_write, cpu_conv, direct_checking,
    fft_measuring, modelled,
};
use burn_npconv::{BackendKind, Convolve1dOptions, Method, Mode, convolve1d, mode};
use criterion::{BenchmarkId, Criterion, criterion_group};

const NS: [usize; 4] = [1_000, 10_000, 100_000, 1_000_000];
const MS: [usize; 6] = [3, 15, 63, 255, 1023, 4095];

fn grid() -> impl Iterator<Item = (Mode, usize, usize)> {
    Mode::NUMPY.into_iter().flat_map(|mode| {
        NS.into_iter().flat_map(move |n| {
            MS.into_iter()
                .filter(move |&m| m <= n)
                .map(move |m| (mode, n, m))
        })
    })
}

fn signal(shape: [usize; 3], device: &Device) -> Tensor<3> {
    Tensor::random(shape, Distribution::Normal(0.0, 1.0), device)
}

fn signal64(shape: [usize; 3], device: &Device) -> Tensor<3> {
    signal(shape, device).cast(DType::F64)
}

fn time<F: FnMut()>(iters: u64, device: &Device, mut f: F) -> Duration {
    let start = Instant::now();
    for _ in 0..iters {
        f();
    }
    device.sync().expect("device sync");
    start.elapsed()
}

/// Work (multiply-adds) of a direct convolution: too slow to bench beyond this on a backend.
fn direct_work(n: usize, m: usize, md: Mode) -> usize {
    mode::output_len(n, m, md) * m
}

/// Direct convolutions beyond this many multiply-adds take seconds per run: not benched.
fn direct_budget(backend: BackendKind) -> usize {
    match backend {
        BackendKind::Flex => 300_000_000,
        BackendKind::NdArray => 50_000_000,
        BackendKind::Wgpu => 30_000_000,
    }
}

fn bench_grid(c: &mut Criterion) {
    for backend in BackendKind::enabled() {
        let Ok(device) = backend.device() else {
            eprintln!("skipping {backend}: no device");
            continue;
        };
        for method in Method::ALL {
            let mut group = c.benchmark_group(format!("grid/{backend}/{method}"));
            group
                .sample_size(10)
                .warm_up_time(Duration::from_millis(200))
                .measurement_time(Duration::from_millis(800));
            for (md, n, m) in grid() {
                // Auto on every mode; the other methods and backends on `same`, which has the
                // same cost as the others.
                // On wgpu Auto may take Burn's conv1d: keep it within the same budget there.
                let budgeted = method == Method::Direct
                    || (method == Method::Auto
                        && backend == BackendKind::Wgpu
                        && !auto_takes_fft(&device, n, m, md));
                if (budgeted && direct_work(n, m, md) > direct_budget(backend))
                    || ((method != Method::Auto || backend == BackendKind::Wgpu)
                        && md != Mode::Same)
                {
                    continue;
                }
                let x = signal([1, 1, n], &device);
                let w = signal([1, 1, m], &device);
                let options = Convolve1dOptions::new(md).with_method(method);
                group.bench_function(
                    BenchmarkId::from_parameter(format!("{md}-N{n}-M{m}")),
                    |b| {
                        b.iter_custom(|iters| {
                            time(iters, &device, || {
                                let _ = convolve1d(x.clone(), w.clone(), None, options).unwrap();
                            })
                        })
                    },
                );
            }
            group.finish();
        }

        // `Direct` next to Burn's bare conv1d, point by point, so that the two are measured
        // minutes apart at most (lavapipe's timings drift by tens of percent over a run).
        let mut group = c.benchmark_group(format!("pair/{backend}"));
        group
            .sample_size(10)
            .warm_up_time(Duration::from_millis(200))
            .measurement_time(Duration::from_millis(800));
        for (md, n, m) in grid().filter(|&(md, n, m)| {
            md == Mode::Same && direct_work(n, m, md) <= direct_budget(backend)
        }) {
            let x = signal([1, 1, n], &device);
            let w = signal([1, 1, m], &device);
            let (left, right) = mode::padding(n, m, md, burn_npconv::Operation::Convolution);
            let conv_options = ConvOptions::new_with_padding([1], [(left, right)], [1], 1);
            let options = Convolve1dOptions::new(md).with_method(Method::Direct);
            let id = format!("{md}-N{n}-M{m}");
            group.bench_function(BenchmarkId::new("conv1d", &id), |b| {
                b.iter_custom(|iters| {
                    time(iters, &device, || {
                        let _ = conv1d(x.clone(), w.clone(), None, conv_options.clone());
                    })
                })
            });
            group.bench_function(BenchmarkId::new("direct", &id), |b| {
                b.iter_custom(|iters| {
                    time(iters, &device, || {
                        let _ = convolve1d(x.clone(), w.clone(), None, options).unwrap();
                    })
                })
            });
        }
        group.finish();
    }
}

/// `grid64/{backend}`: the grid in f64 (NumPy's default dtype), `Method::Auto`, every mode, on
/// the backends with f64.
fn bench_grid64(c: &mut Criterion) {
    for backend in BackendKind::enabled() {
        let Ok(device) = backend.device() else {
            continue;
        };
        if !device.supports_dtype(DType::F64) {
            continue;
        }
        let mut group = c.benchmark_group(format!("grid64/{backend}"));
        group
            .sample_size(10)
            .warm_up_time(Duration::from_millis(200))
            .measurement_time(Duration::from_millis(800));
        for (md, n, m) in grid() {
            let x = signal64([1, 1, n], &device);
            let w = signal64([1, 1, m], &device);
            let options = Convolve1dOptions::new(md);
            group.bench_function(
                BenchmarkId::from_parameter(format!("{md}-N{n}-M{m}")),
                |b| {
                    b.iter_custom(|iters| {
                        time(iters, &device, || {
                            let _ = convolve1d(x.clone(), w.clone(), None, options).unwrap();
                        })
                    })
                },
            );
        }
        group.finish();
    }
}

/// `scan/`: what the NaN/inf handling and Auto's accuracy guard cost on finite inputs, at
/// N = 1,000,000: the direct kernel, and its loop on one thread with and without its check of
/// the sums; the FFT with and without the check of its sums, and with and without the guard's
/// measurement of its inputs (criterion, and alternated pairs printed as `scan/alternating`
/// when the filter is empty or names `scan`).
fn bench_scan(c: &mut Criterion) {
    let mut group = c.benchmark_group("scan");
    group
        .sample_size(20)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(2));
    let n = 1_000_000;
    let x: Vec<f32> = (0..n)
        .map(|i| ((i * 37 % 23) as f32 - 11.0) / 8.0)
        .collect();
    for m in [3usize, 63] {
        let w: Vec<f32> = (0..m).map(|i| (i % 5) as f32 - 2.0).collect();
        let y = cpu_conv(&x, &w, CpuKernel::Direct, false);
        group.bench_function(BenchmarkId::new("direct", format!("N{n}-M{m}")), |b| {
            b.iter(|| cpu_conv(&x, &w, CpuKernel::Direct, false))
        });
        // The whole direct kernel (its threads, the output's allocation) with and without the
        // check of its sums: what a call pays for the check.
        for (name, check) in [("direct-unchecked", false), ("direct-checked", true)] {
            group.bench_function(BenchmarkId::new(name, format!("N{n}-M{m}")), |b| {
                b.iter(|| direct_checking(&x, &w, check))
            });
        }
        if alternating_wanted() {
            alternating_overhead(
                &format!("direct-check/N{n}-M{m}"),
                ["the direct kernel unchecked", "checking its sums"],
                || direct_checking(&x, &w, false),
                || direct_checking(&x, &w, true),
            );
        }
        // The kernel checks its sums for NaN and ±inf while they are in registers: the
        // kernel's loop on one thread with and without the check.
        let mut y = y;
        for (name, check) in [("kernel", false), ("kernel-checked", true)] {
            group.bench_function(BenchmarkId::new(name, format!("N{n}-M{m}")), |b| {
                b.iter(|| correlate_write(&x, &w, &mut y[..n - m + 1], check))
            });
        }
        if alternating_wanted() {
            let y = std::cell::RefCell::new(y);
            alternating_overhead(
                &format!("kernel-check/N{n}-M{m}"),
                ["the loop unchecked", "checking its sums"],
                || correlate_write(&x, &w, &mut y.borrow_mut()[..n - m + 1], false),
                || correlate_write(&x, &w, &mut y.borrow_mut()[..n - m + 1], true),
            );
        }
    }
    for m in [255usize, 4095] {
        let w: Vec<f32> = (0..m).map(|i| (i % 5) as f32 - 2.0).collect();
        // The FFT checks its sums for NaN and ±inf as it stores them, and the guard measures
        // the signal as the FFT reads its blocks: the FFT without the check, with it (every
        // FFT call), and measuring for the guard; then the whole guarded path (with the edge
        // check of full mode).
        let cases = [
            ("fft-unchecked", false, false),
            ("fft-alone", true, false),
            ("fft-measured", true, true),
        ];
        for (name, check, measure) in cases {
            group.bench_function(BenchmarkId::new(name, format!("N{n}-M{m}")), |b| {
                b.iter(|| fft_measuring(&x, &w, check, measure))
            });
        }
        if alternating_wanted() {
            alternating_overhead(
                &format!("check/N{n}-M{m}"),
                ["FFT unchecked", "checking its sums"],
                || fft_measuring(&x, &w, false, false),
                || fft_measuring(&x, &w, true, false),
            );
            alternating_overhead(
                &format!("guard/N{n}-M{m}"),
                ["FFT alone", "measuring for the guard"],
                || fft_measuring(&x, &w, true, false),
                || fft_measuring(&x, &w, true, true),
            );
        }
        for (name, guarded) in [("fft", false), ("fft-guarded", true)] {
            group.bench_function(BenchmarkId::new(name, format!("N{n}-M{m}")), |b| {
                b.iter(|| cpu_conv(&x, &w, CpuKernel::Fft, guarded))
            });
        }
    }
    group.finish();
}

/// Whether to print `scan/alternating` (about 4 s): no filter, or one that names `scan`.
fn alternating_wanted() -> bool {
    let filters: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    filters.is_empty() || filters.iter().any(|f| f.contains("scan"))
}

/// What a step costs as a fraction of the work it rides on (the FFT, or the direct kernel's
/// loop), from 201 pairs of calls without and with it
/// (`names`), alternated (first of the pair alternating too) so that the machine's drift hits
/// both: the medians of each and the median of the pairs' ratios, printed as
/// `scan/alternating/{id}`.
fn alternating_overhead<A, B>(
    id: &str,
    names: [&str; 2],
    alone: impl Fn() -> A,
    measured: impl Fn() -> B,
) {
    let time = |f: &dyn Fn()| {
        let t = std::time::Instant::now();
        f();
        t.elapsed().as_secs_f64()
    };
    let run_a = || drop(std::hint::black_box(alone()));
    let run_b = || drop(std::hint::black_box(measured()));
    for _ in 0..10 {
        run_a();
        run_b();
    }
    let (mut a, mut b, mut ratio) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..201 {
        let (ta, tb) = if i % 2 == 0 {
            let ta = time(&run_a);
            (ta, time(&run_b))
        } else {
            let tb = time(&run_b);
            (time(&run_a), tb)
        };
        a.push(ta);
        b.push(tb);
        ratio.push(tb / ta);
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (ma, mb, mr) = (median(&mut a), median(&mut b), median(&mut ratio));
    // For `benches/report.py`, beside criterion's results.
    let dir =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/criterion/scan-alternating");
    let json = format!(
        "{{\"id\": \"{id}\", \"pairs\": 201, \"median_a_s\": {ma:e}, \"median_b_s\": {mb:e}, \"median_ratio\": {mr}}}\n"
    );
    if let Err(e) = std::fs::create_dir_all(&dir)
        .and_then(|()| std::fs::write(dir.join(format!("{}.json", id.replace('/', "-"))), json))
    {
        eprintln!("scan/alternating/{id}: not saved for the report: {e}");
    }
    println!(
        "scan/alternating/{id}: {} {:.3} ms, {} {:.3} ms, median ratio of 201 alternated \
         pairs {mr:.4} ({:+.1}%)",
        names[0],
        ma * 1e3,
        names[1],
        mb * 1e3,
        100.0 * (mr - 1.0)
    );
}

/// `simd/{isa}`: the direct kernel's inner loop alone, on one thread, for each instruction set
/// this CPU runs, side by side: 100,000 f32 outputs of an `M`-tap kernel; ids `M{m}`.
/// Throughput is reported in elements = multiply-adds (criterion's `Melem/s` = MMAC/s).
fn bench_simd(c: &mut Criterion) {
    let outputs = 100_000;
    for m in [3usize, 15, 31, 63, 255, 1023] {
        let mut group = c.benchmark_group(format!("simd/M{m}"));
        group
            .sample_size(20)
            .warm_up_time(Duration::from_millis(300))
            .measurement_time(Duration::from_secs(1))
            .throughput(criterion::Throughput::Elements((outputs * m) as u64));
        let x: Vec<f32> = (0..outputs + m - 1)
            .map(|i| ((i * 37 % 23) as f32 - 11.0) / 8.0)
            .collect();
        let w: Vec<f32> = (0..m).map(|i| (i % 5) as f32 - 2.0).collect();
        let mut y = vec![0.0f32; outputs];
        for isa in Isa::ALL.into_iter().filter(|isa| isa.available()) {
            group.bench_function(BenchmarkId::from_parameter(format!("{isa:?}")), |b| {
                b.iter(|| correlate(isa, &x, &w, &mut y))
            });
        }
        group.finish();
    }
}

/// The training cases of docs/PERFORMANCE.md (`same` mode): `(name, batch, channels_in,
/// channels_out, length, taps, groups)`, as `benches/torch_reference.py` times them.
const TRAIN_CASES: [(&str, usize, usize, usize, usize, usize, usize); 3] = [
    ("depthwise-B64-C16-N16000-M31", 64, 16, 16, 16_000, 31, 16),
    ("dense-B16-C16-N16000-M31", 16, 16, 16, 16_000, 31, 1),
    ("dense-B8-C32-N4000-M255", 8, 32, 32, 4_000, 255, 1),
];

/// `train/{backend}/{method}`, as a user runs a training step, every result read back to the
/// host: `forward/{case}` (the output read with `into_data`) and `step/{case}` (forward,
/// `y.sum().backward()`, both gradients taken with `grad` and read with `into_data`), for
/// [`TRAIN_CASES`] on the CPU backends; and, for `Auto`, `stack/{case}`: [`stack_step`].
fn bench_train(c: &mut Criterion) {
    for backend in [BackendKind::Flex, BackendKind::NdArray] {
        let Ok(device) = backend.device() else {
            continue;
        };
        for method in Method::ALL {
            let mut group = c.benchmark_group(format!("train/{backend}/{method}"));
            group
                .sample_size(10)
                .warm_up_time(Duration::from_millis(300))
                .measurement_time(Duration::from_secs(2));
            for (name, batch, cin, cout, n, m, groups) in TRAIN_CASES {
                let options = Convolve1dOptions::new(Mode::Same)
                    .with_groups(groups)
                    .with_method(method);
                let x = signal([batch, cin, n], &device);
                let w = signal([cout, cin / groups, m], &device);
                group.bench_function(BenchmarkId::new("forward", name), |b| {
                    b.iter_custom(|iters| {
                        time(iters, &device, || {
                            let y = convolve1d(x.clone(), w.clone(), None, options).unwrap();
                            std::hint::black_box(y.into_data());
                        })
                    })
                });
                let ad = device.clone().autodiff();
                let x = signal([batch, cin, n], &ad).require_grad();
                let w = signal([cout, cin / groups, m], &ad).require_grad();
                group.bench_function(BenchmarkId::new("step", name), |b| {
                    b.iter_custom(|iters| {
                        time(iters, &device, || {
                            let y = convolve1d(x.clone(), w.clone(), None, options).unwrap();
                            let grads = y.sum().backward();
                            let dx = x.grad(&grads).expect("input gradient").into_data();
                            let dw = w.grad(&grads).expect("weight gradient").into_data();
                            std::hint::black_box((dx, dw));
                        })
                    })
                });
            }
            if method == Method::Auto {
                let plain = Stack::new(&device);
                let x = signal(STACK_INPUT, &device);
                group.bench_function(BenchmarkId::new("stack-forward", STACK_NAME), |b| {
                    b.iter_custom(|iters| {
                        time(iters, &device, || {
                            std::hint::black_box(plain.forward(x.clone()).into_data());
                        })
                    })
                });
                let ad = device.clone().autodiff();
                let mut stack = Stack::new(&ad);
                let (x, target) = (signal(STACK_INPUT, &ad), signal(STACK_INPUT, &ad));
                group.bench_function(BenchmarkId::new("stack", STACK_NAME), |b| {
                    b.iter_custom(|iters| {
                        time(iters, &device, || {
                            let loss = stack.step(x.clone(), target.clone());
                            std::hint::black_box(loss);
                        })
                    })
                });
            }
            group.finish();
        }
    }
}

/// The stack's input `[batch, channels, length]`, as `benches/torch_reference.py` builds it.
const STACK_INPUT: [usize; 3] = [16, 16, 16_000];
/// The stack's case name in the results.
const STACK_NAME: &str = "depthwise31-gelu-dense31-B16-C16-N16000";

/// Two layers and their optimizer: a depthwise layer (16 channels, 31 taps, groups 16), GELU,
/// a dense layer (16 to 16 channels, 31 taps), both `same`, with bias; Adam.
struct Stack {
    model: Option<StackModule>,
    optim: burn::optim::ModuleOptimizer,
}

/// The two layers as one module, for the optimizer.
#[derive(burn::module::Module, Debug)]
struct StackModule {
    depthwise: burn_npconv::NpConvolve1d,
    dense: burn_npconv::NpConvolve1d,
}

impl Stack {
    fn new(device: &Device) -> Stack {
        use burn_npconv::NpConvolve1dConfig;
        let c = STACK_INPUT[1];
        let layer = |groups| {
            NpConvolve1dConfig::new(c, c, 31)
                .with_mode(Mode::Same)
                .with_groups(groups)
                .with_bias(true)
                .init(device)
        };
        Stack {
            model: Some(StackModule {
                depthwise: layer(c),
                dense: layer(1),
            }),
            optim: burn::optim::AdamConfig::new().init(),
        }
    }

    /// One Adam step on the MSE between the stack's output and `target`: the forward pass,
    /// the backward pass (the dense layer's input gradient is the GELU's and then the
    /// depthwise layer's upstream gradient), the optimizer's update of all four parameters.
    /// Returns the loss, read back.
    fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        let model = self.model.as_ref().expect("a model");
        model
            .dense
            .forward(burn::tensor::activation::gelu(model.depthwise.forward(x)))
    }

    fn step(&mut self, x: Tensor<3>, target: Tensor<3>) -> f32 {
        use burn::optim::GradientsParams;
        let loss = (self.forward(x) - target).square().mean();
        let model = self.model.take().expect("a model");
        let value = loss.clone().into_scalar::<f32>();
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        self.model = Some(self.optim.step(1e-3, model, grads));
        value
    }
}

fn bench_host(c: &mut Criterion) {
    for kernel in [CpuKernel::Direct, CpuKernel::Fft] {
        let mut group = c.benchmark_group(format!("host/{kernel:?}"));
        group
            .sample_size(10)
            .warm_up_time(Duration::from_millis(200))
            .measurement_time(Duration::from_millis(800));
        for (n, m) in [
            (100_000, 3),
            (100_000, 15),
            (100_000, 31),
            (100_000, 63),
            (100_000, 127),
            (100_000, 255),
            (1_000_000, 63),
            (16_000, 31),
        ] {
            let x: Vec<f32> = (0..n).map(|i| (i % 17) as f32 - 8.0).collect();
            let w: Vec<f32> = (0..m).map(|i| (i % 5) as f32 - 2.0).collect();
            group.bench_function(BenchmarkId::from_parameter(format!("N{n}-M{m}")), |b| {
                b.iter(|| cpu_conv(&x, &w, kernel, false))
            });
        }
        group.finish();
    }
}

fn bench_batched(c: &mut Criterion) {
    let (batch, channels, n, m) = (64, 16, 16_000, 31);
    for backend in BackendKind::enabled() {
        let Ok(device) = backend.device() else {
            continue;
        };
        let methods: &[Method] = match backend {
            BackendKind::Flex => &[Method::Auto, Method::Direct, Method::Fft],
            BackendKind::NdArray => &[Method::Auto],
            BackendKind::Wgpu => &[Method::Direct],
        };
        let mut group = c.benchmark_group(format!("batched/{backend}"));
        group
            .sample_size(10)
            .warm_up_time(Duration::from_millis(200))
            .measurement_time(Duration::from_secs(2));
        for &method in methods {
            let options = Convolve1dOptions::new(Mode::Same)
                .with_groups(channels)
                .with_method(method);
            let x = signal([batch, channels, n], &device);
            let w = signal([channels, 1, m], &device);
            group.bench_function(BenchmarkId::new("forward", method), |b| {
                b.iter_custom(|iters| {
                    time(iters, &device, || {
                        let _ = convolve1d(x.clone(), w.clone(), None, options).unwrap();
                    })
                })
            });
            let ad = device.clone().autodiff();
            let x = signal([batch, channels, n], &ad).require_grad();
            let w = signal([channels, 1, m], &ad).require_grad();
            group.bench_function(BenchmarkId::new("forward+backward", method), |b| {
                b.iter_custom(|iters| {
                    time(iters, &device, || {
                        let y = convolve1d(x.clone(), w.clone(), None, options).unwrap();
                        let grads = y.sum().backward();
                        let _ = (x.grad(&grads), w.grad(&grads));
                    })
                })
            });
        }
        group.finish();
    }
}

/// `CALIBRATE=1`: times both CPU kernels alone (full mode, one signal, f32 then f64) over a
/// grid of `N` and `M`, next to the cost model of `Method::Auto`, and says where the model
/// picks the slower one.
fn calibrate() {
    calibrate_type::<f32>();
    calibrate_type::<f64>();
}

fn calibrate_type<T: Real>() {
    let dtype = T::dtype();
    let mut lost = Vec::new();
    println!("\n{dtype:?}\n\n| N | M | direct µs (model) | fft µs (model) | F | Auto picks |");
    println!("|---|---|---|---|---|---|");
    let of = |v: f64| T::from(v).expect("a float");
    for n in NS {
        for m in [3usize, 7, 15, 31, 63, 127, 255, 511, 1023, 4095] {
            if m > n {
                continue;
            }
            let x: Vec<T> = (0..n).map(|i| of((i % 17) as f64 - 8.0)).collect();
            let w: Vec<T> = (0..m).map(|i| of((i % 5) as f64 - 2.0)).collect();
            let measure = |kernel| {
                if kernel == CpuKernel::Direct && n * m > 300_000_000 {
                    return f64::NAN;
                }
                let start = Instant::now();
                std::hint::black_box(cpu_conv(&x, &w, kernel, false));
                let iters = ((0.1 / start.elapsed().as_secs_f64()) as u32).clamp(3, 100_000);
                let start = Instant::now();
                for _ in 0..iters {
                    std::hint::black_box(cpu_conv(&x, &w, kernel, false));
                }
                start.elapsed().as_secs_f64() * 1e6 / f64::from(iters)
            };
            let (direct, fft) = (measure(CpuKernel::Direct), measure(CpuKernel::Fft));
            let (model_direct, model_fft, pick, f) = modelled(n, m, dtype);
            let (picked, other) = match pick {
                CpuKernel::Direct => (direct, fft),
                CpuKernel::Fft => (fft, direct),
            };
            if picked > other {
                lost.push(format!("N={n} M={m}: {:.2}x", picked / other));
            }
            println!(
                "| {n} | {m} | {direct:.1} ({:.1}) | {fft:.1} ({:.1}) | {f} | {pick:?} |",
                model_direct / 1e3,
                model_fft / 1e3
            );
        }
    }
    println!(
        "\n{dtype:?}: Auto picks the slower kernel at {} points: {lost:?}",
        lost.len()
    );
}

criterion_group! {
    name = benches;
    config = Criterion::default().configure_from_args();
    targets = bench_host, bench_simd, bench_scan, bench_grid, bench_grid64, bench_train, bench_batched
}

fn main() {
    if std::env::var_os("CALIBRATE").is_some() {
        calibrate();
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
