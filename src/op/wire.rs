//! The op on Burn's remote backend: the client ships it to the server as a custom op whose
//! scalars are the [`ConvPlan`] (a versioned wire format), and the server runs the plan's
//! routes on its own host kernels ([`handler`]). Nothing is decided again on the server.

use burn::backend::ir::{CustomOpIr, ScalarIr, TensorIr};
use burn::backend::tensor::FloatTensor;
use burn::backend::{Remote, TensorMetadata};
use burn::remote::CustomOpClient;
use burn::tensor::Shape;

use super::NpConvOps;
use crate::geometry::Geometry;
use crate::plan::{ConvPlan, FftLens, HostKernel, Route};

/// The op ids. The version is that of the scalar layout below ([`to_scalars`]), a wire
/// format shared by the client's and the server's builds.
pub(crate) const FORWARD: &str = "burn_npconv/2/conv1d";
/// `(w, gy)` -> the input gradient.
pub(crate) const INPUT_GRAD: &str = "burn_npconv/2/conv1d_input_grad";
/// `(x, gy)` -> the weight gradient.
pub(crate) const WEIGHT_GRAD: &str = "burn_npconv/2/conv1d_weight_grad";
/// Every op id a server must handle.
#[cfg(cpu_kernels)]
pub(crate) const OPS: [&str; 3] = [FORWARD, INPUT_GRAD, WEIGHT_GRAD];

/// Scalars per route: a tag (0 host direct, 1 host FFT, 2 Burn's `conv1d`, 3 device FFT, 4 no
/// route: a gradient of a plan made without autodiff), the guard flag, and the FFT lengths (0
/// where there is none).
const ROUTE_SCALARS: usize = 4;
/// Scalars of the geometry: eight sizes and the orientation.
const GEOMETRY_SCALARS: usize = 9;
/// Scalars of a plan.
const PLAN_SCALARS: usize = GEOMETRY_SCALARS + 3 * ROUTE_SCALARS;

/// The plan as the op's scalars: the geometry's eight sizes and its orientation, then the
/// forward, input-gradient and weight-gradient routes.
fn to_scalars(plan: &ConvPlan) -> Vec<ScalarIr> {
    let g = &plan.geometry;
    let mut scalars: Vec<ScalarIr> = [g.batch, g.cin, g.n, g.cout, g.m, g.groups, g.left, g.right]
        .map(|v| ScalarIr::UInt(v as u64))
        .to_vec();
    scalars.push(ScalarIr::Bool(g.reversed));
    for route in [Some(plan.forward), plan.input_grad, plan.weight_grad] {
        let Some(route) = route else {
            scalars.extend([
                ScalarIr::UInt(4),
                ScalarIr::Bool(false),
                ScalarIr::UInt(0),
                ScalarIr::UInt(0),
            ]);
            continue;
        };
        let (tag, guarded, lens) = match route {
            Route::Host {
                kernel: HostKernel::Direct,
                guarded,
            } => (0, guarded, None),
            Route::Host {
                kernel: HostKernel::Fft(lens),
                guarded,
            } => (1, guarded, Some(lens)),
            Route::BurnConv => (2, false, None),
            Route::DeviceFft { guarded } => (3, guarded, None),
        };
        let (a, b) = lens.map_or((0, 0), |l| (l.input, l.f64));
        scalars.push(ScalarIr::UInt(tag));
        scalars.push(ScalarIr::Bool(guarded));
        scalars.push(ScalarIr::UInt(a as u64));
        scalars.push(ScalarIr::UInt(b as u64));
    }
    debug_assert_eq!(scalars.len(), PLAN_SCALARS);
    scalars
}

/// The plan back from the op's scalars, or why they are not a plan of this wire version (a
/// forged op: the op id carries the version, so this does not happen between builds of this
/// crate). Sizes are taken as they come: [`admit`](super::admit::admit) checks them.
#[cfg(cpu_kernels)]
fn from_scalars(scalars: &[ScalarIr]) -> Result<ConvPlan, String> {
    let size = |s: &ScalarIr| match s {
        ScalarIr::UInt(v) => {
            usize::try_from(*v).map_err(|_| format!("size {v} does not fit in a usize"))
        }
        other => Err(format!("expected a size, got {other:?}")),
    };
    let flag = |s: &ScalarIr| match s {
        ScalarIr::Bool(b) => Ok(*b),
        other => Err(format!("expected a flag, got {other:?}")),
    };
    if scalars.len() != PLAN_SCALARS {
        return Err(format!(
            "expected {PLAN_SCALARS} scalars, got {}",
            scalars.len()
        ));
    }
    let (geometry, routes) = scalars.split_at(GEOMETRY_SCALARS);
    let s = geometry[..8]
        .iter()
        .map(size)
        .collect::<Result<Vec<usize>, String>>()?;
    let geometry = Geometry {
        batch: s[0],
        cin: s[1],
        n: s[2],
        cout: s[3],
        m: s[4],
        groups: s[5],
        left: s[6],
        right: s[7],
        reversed: flag(&geometry[8])?,
    };
    let route = |r: &[ScalarIr]| -> Result<Option<Route>, String> {
        let guarded = flag(&r[1])?;
        Ok(Some(match size(&r[0])? {
            4 => return Ok(None),
            0 => Route::Host {
                kernel: HostKernel::Direct,
                guarded,
            },
            1 => Route::Host {
                kernel: HostKernel::Fft(FftLens {
                    input: size(&r[2])?,
                    f64: size(&r[3])?,
                }),
                guarded,
            },
            2 => Route::BurnConv,
            3 => Route::DeviceFft { guarded },
            other => return Err(format!("unknown route tag {other}")),
        }))
    };
    let routes = routes
        .chunks(ROUTE_SCALARS)
        .map(route)
        .collect::<Result<Vec<_>, String>>()?;
    Ok(ConvPlan {
        geometry,
        forward: routes[0].ok_or("a plan without a forward route")?,
        input_grad: routes[1],
        weight_grad: routes[2],
    })
}

/// Ships op `id` on `inputs` to their server; the result has `shape`.
fn ship(
    id: &'static str,
    inputs: [FloatTensor<Remote>; 2],
    shape: [usize; 3],
    plan: ConvPlan,
) -> FloatTensor<Remote> {
    let device = inputs[0].device();
    let dtype = inputs[0].dtype();
    let client = CustomOpClient::new(&device);
    let out = TensorIr::uninit(client.create_empty_handle(), Shape::from(shape), dtype);
    let inputs = inputs.map(|t| t.into_ir());
    client
        .register(CustomOpIr::with_scalars(
            id,
            &inputs,
            &[out],
            to_scalars(&plan),
        ))
        .pop()
        .expect("the op has one output")
}

/// The client side: every call becomes a custom op run by the server.
impl NpConvOps for Remote {
    fn npconv(x: FloatTensor<Self>, w: FloatTensor<Self>, plan: ConvPlan) -> FloatTensor<Self> {
        let g = plan.geometry;
        ship(FORWARD, [x, w], [g.batch, g.cout, g.out_len()], plan)
    }

    #[cfg(feature = "autodiff")]
    fn npconv_input_grad(
        _x: FloatTensor<Self>,
        w: FloatTensor<Self>,
        gy: FloatTensor<Self>,
        plan: ConvPlan,
    ) -> FloatTensor<Self> {
        let g = plan.geometry;
        ship(INPUT_GRAD, [w, gy], [g.batch, g.cin, g.n], plan)
    }

    #[cfg(feature = "autodiff")]
    fn npconv_weight_grad(
        x: FloatTensor<Self>,
        _w: FloatTensor<Self>,
        gy: FloatTensor<Self>,
        plan: ConvPlan,
    ) -> FloatTensor<Self> {
        let g = plan.geometry;
        ship(WEIGHT_GRAD, [x, gy], [g.cout, g.cpg(), g.m], plan)
    }
}

/// The server side: a handler that admits op `ir` (its plan checked against the tensors it
/// came with and against `max_request_bytes`, see [`admit`](super::admit::admit)) and runs it
/// on the server's host kernels, on the routes of the client's plan.
///
/// A refused op panics with the reason before anything is allocated: Burn's server catches the
/// panic, logs it and closes that client's connection only (the client's next read fails), and
/// keeps serving every other connection.
#[cfg(cpu_kernels)]
pub(crate) fn handler<B: super::host::HostTensors + burn::backend::ir::BackendIr>(
    max_request_bytes: u64,
) -> impl Fn(&mut burn::backend::ir::HandleContainer<B::Handle>, &CustomOpIr, &B::Device)
+ Send
+ Sync
+ 'static {
    use super::admit::{Op, Received, admit};
    use super::host;
    /// Refuses op `id`: Burn's server catches the panic and closes the connection.
    fn refuse(id: &str, why: String) -> ! {
        panic!("burn-npconv server: refused op {id:?}: {why}")
    }
    move |handles, ir, _device| {
        let op = match ir.id.as_str() {
            FORWARD => Op::Forward,
            INPUT_GRAD => Op::InputGrad,
            WEIGHT_GRAD => Op::WeightGrad,
            other => refuse(other, "no such op in this build".into()),
        };
        let plan = from_scalars(&ir.scalars).unwrap_or_else(|why| refuse(&ir.id, why));
        if ir.inputs.len() != 2 || ir.outputs.len() != 1 {
            refuse(
                &ir.id,
                format!(
                    "expected 2 inputs and 1 output, got {} and {}",
                    ir.inputs.len(),
                    ir.outputs.len()
                ),
            );
        }
        let ([a, b], [out]) = ir.as_fixed::<2, 1>();
        let (a, b) = (
            handles.get_float_tensor::<B>(a),
            handles.get_float_tensor::<B>(b),
        );
        let received = Received {
            a: (a.shape().to_vec(), a.dtype()),
            b: (b.shape().to_vec(), b.dtype()),
            out: (out.shape.to_vec(), out.dtype),
        };
        if let Err(why) = admit(op, &plan, &received, max_request_bytes) {
            refuse(&ir.id, why);
        }
        let y = match op {
            Op::Forward => host::host_forward::<B>(a, b, plan),
            Op::InputGrad => host::host_input_grad::<B>(a, b, plan),
            Op::WeightGrad => host::host_weight_grad::<B>(a, b, plan),
        };
        handles.register_float_tensor::<B>(&out.id, y);
    }
}

#[cfg(all(test, cpu_kernels))]
mod tests {
    use super::*;
    use crate::mode::{Mode, Operation};
    use burn::tensor::DType;

    #[test]
    fn a_plan_survives_the_wire() {
        let g = Geometry::numpy(
            [2, 4, 1000],
            [6, 2, 33],
            2,
            Mode::Same,
            Operation::Convolution,
        );
        let fft = HostKernel::Fft(FftLens::of(&g, DType::F32));
        let host = |kernel, guarded| Some(Route::Host { kernel, guarded });
        for (forward, input_grad, weight_grad) in [
            (
                Route::Host {
                    kernel: fft,
                    guarded: true,
                },
                host(HostKernel::Direct, true),
                host(fft, false),
            ),
            (
                Route::BurnConv,
                Some(Route::DeviceFft { guarded: true }),
                Some(Route::DeviceFft { guarded: false }),
            ),
            (
                Route::Host {
                    kernel: fft,
                    guarded: false,
                },
                None,
                None,
            ),
        ] {
            let plan = ConvPlan {
                geometry: g,
                forward,
                input_grad,
                weight_grad,
            };
            assert_eq!(from_scalars(&to_scalars(&plan)), Ok(plan));
        }
    }
}
