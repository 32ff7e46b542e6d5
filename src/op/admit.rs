//! What a server admits: an op's plan, decoded from the client's scalars, checked against the
//! tensors the server holds for it and against the server's per-request limit, before any work
//! is sized by it. Every rule here is listed in docs/SCALING.md ("What the server checks").

use burn::tensor::DType;

use crate::geometry::Geometry;
use crate::plan::{ConvPlan, FftLens, HostKernel, Route};

/// Which op of the wire format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Op {
    /// `(x, w)` -> `y`.
    Forward,
    /// `(w, gy)` -> the input gradient.
    InputGrad,
    /// `(x, gy)` -> the weight gradient.
    WeightGrad,
}

/// The shapes an op's two inputs and its output must have under `g`.
fn shapes(op: Op, g: &Geometry) -> [[usize; 3]; 3] {
    let x = [g.batch, g.cin, g.n];
    let w = [g.cout, g.cpg(), g.m];
    let y = [g.batch, g.cout, g.out_len()];
    match op {
        Op::Forward => [x, w, y],
        Op::InputGrad => [w, y, x],
        Op::WeightGrad => [x, y, w],
    }
}

/// Checks that `g` is a geometry the kernels can run: every size at least 1, the groups
/// dividing both channel counts, each padding shorter than the kernel, at least one output;
/// every product of sizes the kernels form fits in a `usize`.
pub(crate) fn check_geometry(g: &Geometry) -> Result<(), String> {
    let Geometry {
        batch,
        cin,
        n,
        cout,
        m,
        groups,
        left,
        right,
        ..
    } = *g;
    if [batch, cin, n, cout, m, groups].contains(&0) {
        return Err(format!("a size is 0 in {g:?}"));
    }
    if !cin.is_multiple_of(groups) || !cout.is_multiple_of(groups) {
        return Err(format!(
            "groups = {groups} does not divide cin = {cin} and cout = {cout}"
        ));
    }
    if left >= m || right >= m {
        return Err(format!(
            "padding ({left}, {right}) is not shorter than the kernel (m = {m})"
        ));
    }
    // n + left + right + 1 - m >= 1, without overflow (left, right < m).
    let Some(padded) = left.checked_add(right).and_then(|pads| n.checked_add(pads)) else {
        return Err(format!(
            "n = {n} padded by ({left}, {right}) overflows a usize"
        ));
    };
    if padded < m {
        return Err(format!(
            "no output: n = {n} padded by ({left}, {right}) is shorter than m = {m}"
        ));
    }
    let out = n + left + right + 1 - m;
    for (what, dims) in [
        ("the signal", [batch, cin, n]),
        ("the weight", [cout, cin / groups, m]),
        ("the output", [batch, cout, out]),
        ("the padded signal", [batch, cin, n + left + right]),
    ] {
        if dims
            .iter()
            .try_fold(1usize, |a, &d| a.checked_mul(d))
            .is_none()
        {
            return Err(format!(
                "{what} {dims:?} has more elements than a usize holds"
            ));
        }
    }
    Ok(())
}

/// Checks that the lengths of an FFT route are ones this crate plans for a sliding dot product
/// of `n` samples and `m` taps: powers of two from `m` up to the whole full output.
fn check_fft_lens(lens: FftLens, n: usize, m: usize) -> Result<(), String> {
    let max = n
        .checked_add(m - 1)
        .and_then(usize::checked_next_power_of_two)
        .ok_or_else(|| format!("n = {n} and m = {m} have no FFT length in a usize"))?;
    for f in [lens.input, lens.f64] {
        if !f.is_power_of_two() || f < m || f > max {
            return Err(format!(
                "FFT length {f} is not a power of two from m = {m} to {max} (n = {n})"
            ));
        }
    }
    Ok(())
}

/// The route `op` runs, checked: a host route (a server runs host kernels only), whose FFT
/// lengths fit its geometry.
fn check_route(op: Op, plan: &ConvPlan) -> Result<Route, String> {
    let g = &plan.geometry;
    let (route, n) = match op {
        Op::Forward => (Some(plan.forward), g.n),
        Op::InputGrad => (plan.input_grad, g.out_len()),
        Op::WeightGrad => (plan.weight_grad, g.out_len()),
    };
    let route = route.ok_or_else(|| format!("the plan has no route for {op:?}"))?;
    match route {
        Route::Host {
            kernel: HostKernel::Fft(lens),
            ..
        } => check_fft_lens(lens, n, g.m)?,
        Route::Host {
            kernel: HostKernel::Direct,
            ..
        } => {}
        other => return Err(format!("a server runs host routes only, got {other:?}")),
    }
    Ok(route)
}

/// Bytes `op` allocates under `plan` in `dtype`, bounded from above: its output, a padded copy
/// of its signal, and for an FFT route the spectra of every kernel and of one block per input
/// and output channel, at both FFT lengths (the guard's in f64).
pub(crate) fn request_bytes(op: Op, plan: &ConvPlan, route: Route, dtype: DType) -> u128 {
    let g = &plan.geometry;
    let size = dtype.size() as u128;
    let [_, _, out] = shapes(op, g);
    let count = |d: [usize; 3]| d.iter().map(|&v| v as u128).product::<u128>();
    let padded = count([g.batch, g.cin.max(g.cout), g.n + g.left + g.right + g.m]);
    let mut bytes = (count(out) + padded) * size;
    if let Route::Host {
        kernel: HostKernel::Fft(lens),
        ..
    } = route
    {
        let channels = (g.cout as u128) * (g.cpg() as u128) + (g.cin + g.cout) as u128;
        // A spectrum of f points: f / 2 + 1 complex values, two reals each.
        bytes += channels * (lens.input as u128 + 2) * size;
        bytes += channels * (lens.f64 as u128 + 2) * 8;
    }
    bytes
}

/// The tensors an op was given, as the server holds them: shape and dtype.
pub(crate) struct Received {
    /// The first input's.
    pub a: (Vec<usize>, DType),
    /// The second input's.
    pub b: (Vec<usize>, DType),
    /// The output's, as the client declared it.
    pub out: (Vec<usize>, DType),
}

/// Admits op `op` with `plan` on `received` under `max_request_bytes`: the dtype the op runs
/// in, or why it is refused.
pub(crate) fn admit(
    op: Op,
    plan: &ConvPlan,
    received: &Received,
    max_request_bytes: u64,
) -> Result<DType, String> {
    check_geometry(&plan.geometry)?;
    let [a, b, out] = shapes(op, &plan.geometry);
    let dtype = received.a.1;
    if !matches!(dtype, DType::F32 | DType::F64) {
        return Err(format!("a server computes in f32 or f64, got {dtype:?}"));
    }
    for (what, (shape, got), expected) in [
        ("first input", &received.a, a),
        ("second input", &received.b, b),
        ("output", &received.out, out),
    ] {
        if shape.as_slice() != expected {
            return Err(format!(
                "the {what} has shape {shape:?}, the plan's geometry needs {expected:?}"
            ));
        }
        if *got != dtype {
            return Err(format!(
                "the {what} has dtype {got:?}, the first input {dtype:?}"
            ));
        }
    }
    let route = check_route(op, plan)?;
    let bytes = request_bytes(op, plan, route, dtype);
    if bytes > max_request_bytes as u128 {
        return Err(format!(
            "the op would allocate about {bytes} bytes, over this server's limit of {max_request_bytes} (serve --max-request-bytes)"
        ));
    }
    Ok(dtype)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mode::{Mode, Operation};

    fn honest() -> (ConvPlan, Received) {
        let g = Geometry::numpy(
            [2, 4, 100],
            [6, 2, 9],
            2,
            Mode::Same,
            Operation::Convolution,
        );
        let route = Route::Host {
            kernel: HostKernel::Fft(FftLens::of(&g, DType::F32)),
            guarded: true,
        };
        let plan = ConvPlan {
            geometry: g,
            forward: route,
            input_grad: Some(route),
            weight_grad: Some(route),
        };
        let received = Received {
            a: (vec![2, 4, 100], DType::F32),
            b: (vec![6, 2, 9], DType::F32),
            out: (vec![2, 6, 100], DType::F32),
        };
        (plan, received)
    }

    #[test]
    fn an_honest_op_is_admitted() {
        let (plan, received) = honest();
        assert_eq!(
            admit(Op::Forward, &plan, &received, 1 << 30),
            Ok(DType::F32)
        );
    }

    #[test]
    fn forged_plans_are_refused_before_any_work() {
        let (plan, received) = honest();
        let refused = |plan: ConvPlan, needle: &str| {
            let why = admit(Op::Forward, &plan, &received, 1 << 30).unwrap_err();
            assert!(why.contains(needle), "{why}");
        };
        let mut p = plan;
        p.geometry.cout = 1 << 58;
        refused(p, "more elements");
        let mut p = plan;
        p.geometry.cout = 12;
        refused(p, "the plan's geometry needs [12, 2, 9]");
        let mut p = plan;
        p.geometry.cin = 0;
        refused(p, "a size is 0");
        let mut p = plan;
        p.geometry.n = (1 << 62) + 1;
        refused(p, "more elements");
        let mut p = plan;
        p.geometry.left = 9;
        refused(p, "not shorter than the kernel");
        let mut p = plan;
        p.forward = Route::Host {
            kernel: HostKernel::Fft(FftLens {
                input: 1 << 30,
                f64: 1 << 30,
            }),
            guarded: true,
        };
        refused(p, "FFT length");
        let mut p = plan;
        p.forward = Route::BurnConv;
        refused(p, "host routes only");
        let mut p = plan;
        p.geometry.n = usize::MAX - 3;
        refused(p, "overflows");
    }

    #[test]
    fn gradient_ops_check_their_own_tensors() {
        let (plan, _) = honest();
        let g = plan.geometry;
        let x = (vec![2, 4, 100], DType::F32);
        let w = (vec![6, 2, 9], DType::F32);
        let y = (vec![2, 6, 100], DType::F32);
        let ok = |a: &(Vec<usize>, DType), b: &(Vec<usize>, DType), out: &(Vec<usize>, DType)| {
            Received {
                a: a.clone(),
                b: b.clone(),
                out: out.clone(),
            }
        };
        assert_eq!(
            admit(Op::InputGrad, &plan, &ok(&w, &y, &x), 1 << 30),
            Ok(DType::F32)
        );
        assert_eq!(
            admit(Op::WeightGrad, &plan, &ok(&x, &y, &w), 1 << 30),
            Ok(DType::F32)
        );
        // A weight gradient sized by a forged cout (the tensors are an honest call's).
        for cout in [1 << 58, 1 << 60, 12] {
            let mut p = plan;
            p.geometry = Geometry { cout, ..g };
            for (op, received) in [
                (Op::InputGrad, ok(&w, &y, &x)),
                (Op::WeightGrad, ok(&x, &y, &w)),
            ] {
                assert!(
                    admit(op, &p, &received, 1 << 30).is_err(),
                    "{op:?}, cout {cout}"
                );
            }
        }
        // A plan without gradient routes (made without autodiff) runs no gradient.
        let mut p = plan;
        p.weight_grad = None;
        let why = admit(Op::WeightGrad, &p, &ok(&x, &y, &w), 1 << 30).unwrap_err();
        assert!(why.contains("no route"), "{why}");
    }

    #[test]
    fn the_request_limit_counts_output_and_workspace() {
        let (plan, received) = honest();
        let why = admit(Op::Forward, &plan, &received, 1000).unwrap_err();
        assert!(why.contains("over this server's limit of 1000"), "{why}");
        let mut mismatched = received;
        mismatched.b.1 = DType::F64;
        let why = admit(Op::Forward, &plan, &mismatched, 1 << 30).unwrap_err();
        assert!(why.contains("dtype"), "{why}");
    }
}
