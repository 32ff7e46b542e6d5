//! A naive reference implementation of `np.convolve` / `np.correlate`, written after NumPy's
//! own algorithm (`numpy/_core/numeric.py` and `_pyarray_correlate` in `multiarraymodule.c`)
//! and independent of the crate's padding arithmetic. O(N·M), f64.

use burn_npconv::{Mode, Operation};

/// `np.convolve(a, v, mode)` or `np.correlate(a, v, mode)` for non-empty real inputs.
///
/// [`Mode::Causal`] is not NumPy's: it is `full[:N]` of the same function, `N = a.len()`.
pub fn numpy(op: Operation, a: &[f64], v: &[f64], mode: Mode) -> Vec<f64> {
    if mode == Mode::Causal {
        let mut full = numpy(op, a, v, Mode::Full);
        full.truncate(a.len());
        return full;
    }
    match op {
        Operation::Convolution => {
            // np.convolve: if len(v) > len(a): a, v = v, a; correlate(a, v[::-1], mode)
            let (a, v) = if v.len() > a.len() { (v, a) } else { (a, v) };
            let reversed: Vec<f64> = v.iter().rev().copied().collect();
            pyarray_correlate(a, &reversed, mode)
        }
        Operation::Correlation => {
            // correlate2 swaps a shorter first argument and reverses the result.
            if a.len() < v.len() {
                let mut out = pyarray_correlate(v, a, mode);
                out.reverse();
                out
            } else {
                pyarray_correlate(a, v, mode)
            }
        }
    }
}

/// NumPy's `_pyarray_correlate` for `ap1.len() >= ap2.len()`: output `k` is the dot product
/// at lag `k - n_left`.
fn pyarray_correlate(ap1: &[f64], ap2: &[f64], mode: Mode) -> Vec<f64> {
    let (n1, n) = (ap1.len() as isize, ap2.len() as isize);
    assert!(n1 >= n && n >= 1);
    let (n_left, length) = match mode {
        Mode::Valid => (0, n1 - n + 1),
        Mode::Same => (n / 2, n1),
        Mode::Full => (n - 1, n1 + n - 1),
        Mode::Causal => unreachable!("numpy() cuts causal from full"),
    };
    (0..length)
        .map(|k| {
            (0..n)
                .filter_map(|j| {
                    let i = j + k - n_left;
                    (0..n1)
                        .contains(&i)
                        .then(|| ap1[i as usize] * ap2[j as usize])
                })
                .sum()
        })
        .collect()
}

/// The gradients of `Σ_k r[k] · numpy(op, a, v, mode)[k]` with respect to `a` and `v`, as
/// NumPy's direct sums over the same terms: `da[i] = Σ r[k] · v[t]` and `dv[t] = Σ r[k] · a[i]`
/// over the pairs `(i, t)` that the output `k` multiplies (no term for the zero padding), in
/// f64, whose NaN and infinities are NumPy's. `a` at least as long as `v`.
#[allow(dead_code)] // used by some test binaries only
pub fn gradients(
    op: Operation,
    a: &[f64],
    v: &[f64],
    mode: Mode,
    r: &[f64],
) -> (Vec<f64>, Vec<f64>) {
    let (n1, n) = (a.len() as isize, v.len() as isize);
    assert!(
        n1 >= n && n >= 1,
        "the gradient oracle takes a signal at least as long as the kernel"
    );
    let n_left = match mode {
        Mode::Valid => 0,
        Mode::Same => n / 2,
        // Causal is `full[:N]`: full's window, cut by `r`'s length.
        Mode::Full | Mode::Causal => n - 1,
    };
    assert_eq!(r.len(), numpy(op, a, v, mode).len());
    let (mut da, mut dv) = (vec![0.0; a.len()], vec![0.0; v.len()]);
    for (k, rk) in r.iter().enumerate() {
        for j in 0..n {
            let i = j + k as isize - n_left;
            if !(0..n1).contains(&i) {
                continue;
            }
            // np.convolve slides the reversed kernel; np.correlate the kernel as is.
            let t = match op {
                Operation::Convolution => (n - 1 - j) as usize,
                Operation::Correlation => j as usize,
            };
            da[i as usize] += rk * v[t];
            dv[t] += rk * a[i as usize];
        }
    }
    (da, dv)
}

/// The layer's semantics, by the oracle: `y[b, o] = Σ_i numpy(x[b, i], w[o, i]) + bias[o]` over
/// the input channels of `o`'s group. `x` is `[batch][channels_in][n]`, `w` is
/// `[channels_out][channels_in / groups][m]`.
pub fn layer(
    op: Operation,
    x: &[Vec<Vec<f64>>],
    w: &[Vec<Vec<f64>>],
    bias: Option<&[f64]>,
    groups: usize,
    mode: Mode,
) -> Vec<Vec<Vec<f64>>> {
    let per_out = w.len() / groups;
    let per_in = w[0].len();
    x.iter()
        .map(|sample| {
            w.iter()
                .enumerate()
                .map(|(o, kernels)| {
                    let g = o / per_out;
                    let mut acc: Vec<f64> = Vec::new();
                    for (i, kernel) in kernels.iter().enumerate() {
                        let y = numpy(op, &sample[g * per_in + i], kernel, mode);
                        if acc.is_empty() {
                            acc = y;
                        } else {
                            acc.iter_mut().zip(y).for_each(|(s, y)| *s += y);
                        }
                    }
                    let b = bias.map_or(0.0, |b| b[o]);
                    acc.iter_mut().for_each(|s| *s += b);
                    acc
                })
                .collect()
        })
        .collect()
}
