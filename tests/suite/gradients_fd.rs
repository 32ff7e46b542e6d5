//! Gradients of the layer against central finite differences, in f64 (where finite
//! differences are meaningful) on every device that has f64 (flex and ndarray: the CPU
//! kernels' backward pass), for every method: input, weight and bias, every mode, odd and even
//! kernels, kernels longer than the signal, several channels and groups > 1.
#![cfg(feature = "autodiff")]

use burn::module::Param;
use burn::tensor::{DType, Device, Tensor, TensorData};
use burn_npconv::{Boundary, Method, Mode, NpConvolve1d, mode};

fn f64_tensor<const D: usize>(values: &[f64], shape: [usize; D], device: &Device) -> Tensor<D> {
    Tensor::from_data(
        TensorData::new(values.to_vec(), shape),
        (device, DType::F64),
    )
}

fn f64_values<const D: usize>(t: Tensor<D>) -> Vec<f64> {
    t.into_data().iter::<f64>().collect()
}

fn sequence(len: usize, seed: u64) -> Vec<f64> {
    let mut state = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
    (0..len)
        .map(|_| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((state >> 11) as f64 / (1u64 << 53) as f64) * 2.0 - 1.0
        })
        .collect()
}

struct Problem {
    shape_x: [usize; 3],
    shape_w: [usize; 3],
    groups: usize,
    mode: Mode,
    boundary: Boundary,
    g: Vec<f64>,
    len: usize,
}

impl Problem {
    /// L = Σ p(y) · g with y = layer(x) and p the polynomial [`nonlinear`]: nonlinear, so the differences test more than a
    /// linear map.
    fn loss(&self, x: &[f64], w: &[f64], b: &[f64], device: &Device) -> Tensor<1> {
        let layer = NpConvolve1d {
            weight: Param::from_tensor(f64_tensor(w, self.shape_w, device)),
            bias: Some(Param::from_tensor(f64_tensor(b, [self.shape_w[0]], device))),
            groups: self.groups,
            mode: self.mode,
            method: Method::Auto,
            boundary: self.boundary,
        };
        let x = f64_tensor(x, self.shape_x, device);
        let g = f64_tensor(
            &self.g,
            [self.shape_x[0], self.shape_w[0], self.len],
            device,
        );
        (nonlinear(layer.forward(x)) * g).sum()
    }
}

/// `y + y² / 2`: a nonlinearity made of additions and products only, exact in f64 on every
/// device (Vulkan defines `tanh` and the other transcendental functions for 32-bit floats
/// only, so an f64 `tanh` on lavapipe is not f64-accurate).
fn nonlinear(y: Tensor<3>) -> Tensor<3> {
    y.clone() + y.clone() * y * 0.5
}

#[allow(clippy::too_many_arguments)]
fn check(
    device: &Device,
    batch: usize,
    cin: usize,
    cout: usize,
    groups: usize,
    n: usize,
    m: usize,
    mode: Mode,
) {
    check_with(
        device,
        batch,
        cin,
        cout,
        groups,
        n,
        m,
        mode,
        Boundary::Zeros,
    )
}

#[allow(clippy::too_many_arguments)]
fn check_with(
    device: &Device,
    batch: usize,
    cin: usize,
    cout: usize,
    groups: usize,
    n: usize,
    m: usize,
    mode: Mode,
    boundary: Boundary,
) {
    let plain = device.clone();
    let auto = device.clone().autodiff();
    let len = mode::output_len(n, m, mode);
    let p = Problem {
        shape_x: [batch, cin, n],
        shape_w: [cout, cin / groups, m],
        groups,
        mode,
        boundary,
        g: sequence(batch * cout * len, 4),
        len,
    };
    let (x, w, b) = (
        sequence(batch * cin * n, 1),
        sequence(cout * (cin / groups) * m, 2),
        sequence(cout, 3),
    );

    // Autodiff gradients, for every method.
    let autodiff = |method: Method| {
        let xt = f64_tensor(&x, p.shape_x, &auto).require_grad();
        let layer = NpConvolve1d {
            weight: Param::from_tensor(f64_tensor(&w, p.shape_w, &auto)),
            bias: Some(Param::from_tensor(f64_tensor(&b, [cout], &auto))),
            groups,
            mode,
            method,
            boundary,
        };
        let g = f64_tensor(&p.g, [batch, cout, len], &auto);
        let grads = (nonlinear(layer.forward(xt.clone())) * g).sum().backward();
        [
            f64_values(xt.grad(&grads).unwrap()),
            f64_values(layer.weight.grad(&grads).unwrap()),
            f64_values(layer.bias.as_ref().unwrap().grad(&grads).unwrap()),
        ]
    };
    let per_method: Vec<_> = Method::ALL
        .into_iter()
        .map(|method| (method, autodiff(method)))
        .collect();

    // Central differences, one coordinate at a time.
    let h = 1e-6;
    let mut params = [x.clone(), w.clone(), b.clone()];
    for (which, name) in ["input", "weight", "bias"].iter().enumerate() {
        for k in 0..params[which].len() {
            let orig = params[which][k];
            params[which][k] = orig + h;
            let up = p
                .loss(&params[0], &params[1], &params[2], &plain)
                .into_scalar::<f64>();
            params[which][k] = orig - h;
            let down = p
                .loss(&params[0], &params[1], &params[2], &plain)
                .into_scalar::<f64>();
            params[which][k] = orig;
            let fd = (up - down) / (2.0 * h);
            for (method, got) in &per_method {
                let ad = got[which][k];
                assert!(
                    (fd - ad).abs() <= 1e-6 * (1.0 + fd.abs()),
                    "{method} {name}[{k}] batch {batch} cin {cin} cout {cout} groups {groups} N {n} M {m} {mode} {boundary}: autodiff {ad}, finite differences {fd}"
                );
            }
        }
    }
}

/// Whether `device` computes in f64; a device without it (wgpu through OpenGL) refuses f64 calls with a
/// clear error, tested in numpy_parity.rs.
fn has_f64(device: &Device) -> bool {
    let has = device.supports_dtype(DType::F64);
    if !has {
        eprintln!("{device:?} has no f64: finite differences in f64 not applicable");
    }
    has
}

on_every_backend! {
    fn finite_differences_single_channel_every_mode(device: &Device) {
        if !has_f64(device) {
            return;
        }
        for mode in Mode::ALL {
            for (n, m) in [(8, 3), (8, 4), (3, 6), (4, 7), (1, 2)] {
                check(device, 2, 1, 1, 1, n, m, mode);
            }
        }
    }

    /// Every boundary rule in every mode: a copied sample's gradient flows back to the sample
    /// it copies (pads longer than the signal included).
    fn finite_differences_every_boundary(device: &Device) {
        if !has_f64(device) {
            return;
        }
        for boundary in [Boundary::Constant(0.5), Boundary::Reflect, Boundary::Symmetric, Boundary::Edge, Boundary::Wrap] {
            for mode in Mode::ALL {
                for (n, m) in [(7, 4), (3, 6), (1, 3)] {
                    check_with(device, 1, 2, 2, 1, n, m, mode, boundary);
                }
            }
        }
    }

    fn finite_differences_channels_and_groups(device: &Device) {
        if !has_f64(device) {
            return;
        }
        for mode in Mode::ALL {
            check(device, 2, 4, 2, 2, 7, 4, mode);
            check(device, 1, 3, 3, 3, 4, 5, mode);
            check(device, 2, 2, 3, 1, 6, 3, mode);
        }
    }
}
