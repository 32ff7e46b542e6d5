//! The entry of the N-D host kernels: the plan's kernel, `Method::Auto`'s guard on the FFT,
//! and the direct sum wherever a non-finite value or an overflow makes the FFT differ from
//! SciPy's sum.

use rayon::prelude::*;

use super::dims::Dims;
use super::direct::{self, direct};
use super::fft;
use crate::cpu::Real;
use crate::guard::nd::{Verdict, check};
use crate::nonfinite::host::{all_finite, zeroed};
use crate::plan::CpuKernel;

/// The `valid` sliding dot product of `a` with `k` by `kernel`, `guarded` by `Method::Auto`'s
/// accuracy guard: SciPy's direct sum's NaN and infinities in every case.
pub(crate) fn correlate<T: Real>(
    a: &[T],
    k: &[T],
    d: Dims,
    kernel: CpuKernel,
    guarded: bool,
) -> Vec<T> {
    match (kernel, guarded) {
        (CpuKernel::Direct, _) => direct(a, k, d),
        (CpuKernel::Fft, true) => guarded_fft(a, k, d),
        (CpuKernel::Fft, false) => forced_fft(a, k, d),
    }
}

/// `Method::Auto`'s FFT: in the inputs' type, else in f64, where the guard finds it as accurate
/// as the direct sum; the outputs it does not accept summed directly; the direct kernel when
/// the inputs are not finite or too many outputs would be.
fn guarded_fft<T: Real>(a: &[T], k: &[T], d: Dims) -> Vec<T> {
    if !all_finite(a) || !all_finite(k) {
        return direct(a, k, d);
    }
    let magnitudes = |v: &[T]| v.iter().map(|x| x.abs()).collect::<Vec<T>>();
    let (abs_a, abs_k) = (magnitudes(a), magnitudes(k));
    // The FFT and the magnitudes of each output's terms, in `U`.
    let attempt = |wide: bool| {
        let groups: [&[(&[T], &[T])]; 2] = [&[(a, k)], &[(&abs_a, &abs_k)]];
        let mut out = if wide {
            fft::correlate::<T, f64>(&groups, d)
        } else {
            fft::correlate::<T, T>(&groups, d)
        };
        let (s, y) = (
            out.pop().expect("two groups"),
            out.pop().expect("two groups"),
        );
        match check(a, k, d, (&y, &s), wide) {
            Verdict::Accept(bad) => {
                let mut y = y;
                repair(&mut y, &bad, |i| direct::direct_at(a, k, d, i));
                Some(y)
            }
            Verdict::Reject => None,
        }
    };
    let narrow = core::mem::size_of::<T>() < core::mem::size_of::<f64>();
    (if narrow { attempt(false) } else { None })
        .or_else(|| attempt(true))
        .unwrap_or_else(|| direct(a, k, d))
}

/// The forced FFT: every output's sum by the FFT, except the outputs with a non-finite term
/// or an overflow, which are SciPy's direct sums.
fn forced_fft<T: Real>(a: &[T], k: &[T], d: Dims) -> Vec<T> {
    if !all_finite(k) {
        // Every output has each of the kernel's terms.
        return direct(a, k, d);
    }
    let finite = all_finite(a);
    let marked = if finite {
        Vec::new()
    } else {
        match reached_by_non_finite(a, d) {
            Some(marked) => marked,
            None => return direct(a, k, d),
        }
    };
    let zeroed_a;
    let a_fft = if finite {
        a
    } else {
        zeroed_a = zeroed(a);
        &zeroed_a
    };
    let mut y = fft::correlate::<T, T>(&[&[(a_fft, k)]], d)
        .pop()
        .expect("one group");
    let overflow: Vec<usize> = (0..y.len()).filter(|&i| !y[i].is_finite()).collect();
    let mut redo = marked;
    redo.extend(overflow);
    repair(&mut y, &redo, |i| direct::direct_at(a, k, d, i));
    y
}

/// The outputs whose terms include a non-finite value of `a`, or `None` when there are so many
/// that the direct kernel is cheaper.
pub(super) fn reached_by_non_finite<T: Real>(a: &[T], d: Dims) -> Option<Vec<usize>> {
    let bad: Vec<usize> = (0..a.len()).filter(|&i| !a[i].is_finite()).collect();
    let reach = d.taps().min(d.out_len());
    if bad.len().saturating_mul(reach) > d.out_len() / 4 {
        return None;
    }
    let [l0, l1, l2] = d.out();
    let [_, p1, p2] = d.p;
    let mut mark = vec![false; d.out_len()];
    // Output i reads A[i .. i + m]: position q is read by outputs q - m + 1 ..= q.
    let range = |q: usize, m: usize, l: usize| q.saturating_sub(m - 1)..(q + 1).min(l);
    for q in bad {
        let (q0, q1, q2) = (q / (p1 * p2), (q / p2) % p1, q % p2);
        for i0 in range(q0, d.m[0], l0) {
            for i1 in range(q1, d.m[1], l1) {
                for i2 in range(q2, d.m[2], l2) {
                    mark[(i0 * l1 + i1) * l2 + i2] = true;
                }
            }
        }
    }
    Some((0..mark.len()).filter(|&i| mark[i]).collect())
}

/// `y[i] = sum(i)` for every `i` of `outputs`.
pub(super) fn repair<T: Real>(y: &mut [T], outputs: &[usize], sum: impl Fn(usize) -> T + Sync) {
    let values: Vec<T> = if outputs.len() > 64 {
        outputs.par_iter().map(|&i| sum(i)).collect()
    } else {
        outputs.iter().map(|&i| sum(i)).collect()
    };
    for (&i, v) in outputs.iter().zip(values) {
        y[i] = v;
    }
}
