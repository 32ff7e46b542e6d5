//! SciPy's rules for one call of `burn_npconv::signal`, as a layout: which input is slid over
//! which, each axis's padding, the flips, and whether NumPy's 1-D functions run the call.
//!
//! Every call is computed as a `valid` sliding dot product (a correlation) of an array `A`,
//! padded on each axis, with a kernel `K`: `y[i] = Σ_k Apad[i + k] · K[k]` over **every** `k`
//! of `K`'s box, the padding's values included. That is SciPy's direct sum in N-D
//! (`_correlateND` and `_convolve2d` multiply the padding's zeros or fill values): `±inf · 0`
//! in the padding is a NaN term, as in SciPy. Which input is `A` follows SciPy's swaps, since it
//! decides which padding products exist:
//! - `convolve` / `correlate` with zeros: `valid` slides the smaller input over the larger
//!   (an error when neither is at least as large in every axis); `full` makes the input with
//!   fewer elements the kernel (a tie keeps `in2`), and reverses the output when that is
//!   `in1` of `correlate`; `same` and `causal` pad `in1`. In 1-D, SciPy hands `full`, `valid`,
//!   and `same` with `len(in1) >= len(in2)` to NumPy, whose sum has no padding terms: those
//!   calls run this crate's NumPy path.
//! - another boundary, and `convolve2d` / `correlate2d`: `in1` is padded (with the rule's
//!   values), except in a swapped `valid` call, which has no padding.
//!
//! `same` keeps `in1`'s shape. Its window starts at `floor((M-1)/2)` of the `full` output per
//! axis, except `correlate2d`'s, at `ceil((M-1)/2)`.

use crate::boundary::Boundary;
use crate::error::ConvolveError;
use crate::geometry::Axis;
use crate::mode::{Mode, Operation};

/// Which SciPy function family a call follows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Family {
    /// `scipy.signal.convolve` / `correlate`, any rank.
    Nd,
    /// `scipy.signal.convolve2d` / `correlate2d`.
    TwoD,
}

/// How one call is computed (see the module's documentation).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Layout {
    /// NumPy's 1-D function runs the call (`np.convolve` / `np.correlate` semantics).
    pub numpy_1d: bool,
    /// `A` is `in2` (else `in1`).
    pub a_is_in2: bool,
    /// `A` is reversed along every axis before it is padded.
    pub flip_a: bool,
    /// The kernel is reversed along every axis.
    pub flip_k: bool,
    /// The output is reversed along every axis.
    pub reverse_out: bool,
    /// The axes, outermost first (empty when `numpy_1d`).
    pub axes: Vec<Axis>,
}

// The shapes feed the host kernels.
#[cfg_attr(not(cpu_kernels), allow(dead_code))]
impl Layout {
    /// The output's shape.
    pub fn out_shape(&self) -> Vec<usize> {
        self.axes.iter().map(Axis::out).collect()
    }

    /// The kernel's shape.
    pub fn kernel_shape(&self) -> Vec<usize> {
        self.axes.iter().map(|a| a.m).collect()
    }

    /// The padded array's shape.
    pub fn padded_shape(&self) -> Vec<usize> {
        self.axes.iter().map(Axis::padded).collect()
    }
}

/// The error of SciPy's `valid` rule, or of an empty input.
pub(crate) fn check(s1: &[usize], s2: &[usize], mode: Mode) -> Result<(), ConvolveError> {
    for (argument, shape) in [("in1", s1), ("in2", s2)] {
        if shape.contains(&0) {
            return Err(ConvolveError::EmptyInput {
                argument,
                shape: shape.to_vec(),
            });
        }
    }
    if mode == Mode::Valid && !covers(s1, s2) && !covers(s2, s1) {
        return Err(ConvolveError::ValidShapes {
            in1: s1.to_vec(),
            in2: s2.to_vec(),
        });
    }
    Ok(())
}

/// Whether `a` is at least as large as `b` in every axis.
fn covers(a: &[usize], b: &[usize]) -> bool {
    a.iter().zip(b).all(|(x, y)| x >= y)
}

/// The layout of `op` in `mode` on inputs of shapes `s1` and `s2` (same rank), with
/// `boundary`, following `family`'s rules.
///
/// # Errors
/// [`ConvolveError::EmptyInput`] and [`ConvolveError::ValidShapes`] (see [`check`]).
pub(crate) fn layout(
    s1: &[usize],
    s2: &[usize],
    op: Operation,
    mode: Mode,
    boundary: Boundary,
    family: Family,
) -> Result<Layout, ConvolveError> {
    check(s1, s2, mode)?;
    let conv = op == Operation::Convolution;
    let swap_valid = mode == Mode::Valid && !covers(s1, s2);
    let base = Layout {
        numpy_1d: false,
        a_is_in2: false,
        flip_a: false,
        flip_k: conv,
        reverse_out: false,
        axes: Vec::new(),
    };
    if family == Family::Nd
        && s1.len() == 1
        && boundary == Boundary::Zeros
        && (mode != Mode::Same || s1[0] >= s2[0])
    {
        return Ok(Layout {
            numpy_1d: true,
            ..base
        });
    }
    // A swapped `valid` call slides in1 inside in2, without padding, whatever the boundary.
    if swap_valid {
        return Ok(Layout {
            a_is_in2: true,
            reverse_out: !conv,
            axes: axes(s2, s1, |n, m| (m - 1, n - m + 1)),
            ..base
        });
    }
    let size = |s: &[usize]| s.iter().product::<usize>();
    // SciPy's size swap in `full`: the input with fewer elements becomes the kernel.
    if family == Family::Nd && boundary == Boundary::Zeros && mode == Mode::Full {
        let (volume, kernel) = (size(s1), size(s2));
        if kernel > volume {
            // correlate(in1, in2) = reverse(correlate(in2, in1)); convolve(in1, in2) =
            // reverse(correlate(reverse(in2), in1)).
            return Ok(Layout {
                a_is_in2: true,
                flip_a: conv,
                flip_k: false,
                reverse_out: true,
                axes: axes(s2, s1, |n, m| (0, n + m - 1)),
                ..base
            });
        }
    }
    let same_start = |m: usize| match family {
        Family::TwoD if !conv => m / 2,
        _ => (m - 1) / 2,
    };
    let window = |n: usize, m: usize| match mode {
        Mode::Full => (0, n + m - 1),
        Mode::Same => (same_start(m), n),
        Mode::Causal => (0, n),
        Mode::Valid => (m - 1, n - m + 1),
    };
    Ok(Layout {
        axes: axes(s1, s2, window),
        ..base
    })
}

/// The axes of `A` of shape `a` and a kernel of shape `k`, each taking the window
/// `(start, len)` that `window(n, m)` gives.
fn axes(a: &[usize], k: &[usize], window: impl Fn(usize, usize) -> (usize, usize)) -> Vec<Axis> {
    a.iter()
        .zip(k)
        .map(|(&n, &m)| {
            let (start, len) = window(n, m);
            Axis::window(n, m, start, len)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_shapes_follow_scipy() {
        let l = |s1: &[usize], s2: &[usize], mode, family| {
            layout(
                s1,
                s2,
                Operation::Convolution,
                mode,
                Boundary::Zeros,
                family,
            )
            .unwrap()
            .out_shape()
        };
        for family in [Family::Nd, Family::TwoD] {
            assert_eq!(l(&[7, 9], &[4, 2], Mode::Full, family), [10, 10]);
            assert_eq!(l(&[7, 9], &[4, 2], Mode::Same, family), [7, 9]);
            assert_eq!(l(&[3, 2], &[5, 6], Mode::Same, family), [3, 2]);
            assert_eq!(l(&[7, 9], &[4, 2], Mode::Valid, family), [4, 8]);
            assert_eq!(l(&[2, 3], &[5, 6], Mode::Valid, family), [4, 4]);
            assert_eq!(l(&[7, 9], &[4, 2], Mode::Causal, family), [7, 9]);
            assert_eq!(l(&[2, 3], &[50, 6], Mode::Full, family), [51, 8]);
        }
    }

    #[test]
    fn valid_needs_one_input_to_cover_the_other() {
        let err = check(&[5, 3], &[2, 6], Mode::Valid).unwrap_err();
        assert_eq!(
            err.to_string(),
            "For 'valid' mode, one must be at least as large as the other in every dimension (in1 shape [5, 3], in2 shape [2, 6])"
        );
        assert!(check(&[5, 3], &[2, 6], Mode::Full).is_ok());
        let empty = check(&[5, 0], &[2, 6], Mode::Full).unwrap_err();
        assert_eq!(empty.to_string(), "in1 cannot be empty (got shape [5, 0])");
    }

    #[test]
    fn windows_of_even_kernels() {
        // A 7x9 signal with a 4x2 kernel: correlate2d's `same` starts at (2, 1) of `full`,
        // correlate's and the convolutions' at (1, 0): the padding before is m - 1 - start.
        let lo = |op, family| {
            layout(&[7, 9], &[4, 2], op, Mode::Same, Boundary::Zeros, family)
                .unwrap()
                .axes
                .iter()
                .map(|a| a.lo)
                .collect::<Vec<_>>()
        };
        assert_eq!(lo(Operation::Correlation, Family::TwoD), [1, 0]);
        assert_eq!(lo(Operation::Correlation, Family::Nd), [2, 1]);
        assert_eq!(lo(Operation::Convolution, Family::TwoD), [2, 1]);
        assert_eq!(lo(Operation::Convolution, Family::Nd), [2, 1]);
    }
}
