//! NumPy's modes and the pure length arithmetic behind them.
//!
//! Every off-by-one decision of this crate lives here, as functions of lengths only (no
//! tensors), so it can be tested exhaustively over small lengths.

use crate::error::ConvolveError;
pub use crate::operation::Operation;

/// The `mode` argument of `np.convolve` and `np.correlate`.
///
/// With a signal of length `N` and a kernel of length `M`:
///
/// | mode | output length | NumPy integer |
/// |---|---|---|
/// | [`Mode::Full`] | `N + M - 1` | 2 |
/// | [`Mode::Same`] | `max(N, M)` | 1 |
/// | [`Mode::Valid`] | `max(N, M) - min(N, M) + 1` | 0 |
/// | [`Mode::Causal`] (not NumPy's) | `N` | none |
///
/// Parsing ([`FromStr`](core::str::FromStr)) accepts exactly `"full"`, `"same"`, `"valid"`
/// (as NumPy >= 2.3 does: no abbreviations, no upper case) and `"causal"`;
/// [`Display`](core::fmt::Display) and serde use the same names. [`TryFrom<i64>`] accepts
/// NumPy's integer codes only (0, 1, 2): NumPy has no causal mode.
///
/// ```
/// use burn_npconv::Mode;
///
/// assert_eq!("same".parse::<Mode>().unwrap(), Mode::Same);
/// assert_eq!(Mode::try_from(0).unwrap(), Mode::Valid);
/// assert_eq!(Mode::Full.to_string(), "full");
/// assert!("FULL".parse::<Mode>().is_err());
/// assert_eq!("causal".parse::<Mode>().unwrap(), Mode::Causal);
/// assert!(Mode::try_from(3).is_err());
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Mode {
    /// Every point of overlap: length `N + M - 1`. NumPy's default.
    #[default]
    Full,
    /// Length `max(N, M)`, centred on the full output as NumPy centres it: for even kernels
    /// the extra sample is dropped at the **end** of the full output.
    Same,
    /// Only points where the signals overlap completely: length `max(N, M) - min(N, M) + 1`.
    Valid,
    /// Not one of NumPy's modes: the first `N` outputs of `full`, `full[:N]` of the same
    /// function, so that output `t` depends only on the signal up to sample `t` (for
    /// [`Operation::Convolution`]). Length `N`, whatever `M`: the layer's output lines up with
    /// its input, as a causal filter's does, and [`NpConvolve1d::stream`](crate::NpConvolve1d::stream)
    /// gives every output the moment its sample arrives.
    Causal,
}

impl Mode {
    /// NumPy's modes, in NumPy's integer order (`valid` = 0, `same` = 1, `full` = 2).
    pub const NUMPY: [Mode; 3] = [Mode::Valid, Mode::Same, Mode::Full];

    /// Every mode: NumPy's three, then [`Mode::Causal`].
    pub const ALL: [Mode; 4] = [Mode::Valid, Mode::Same, Mode::Full, Mode::Causal];

    /// The name NumPy uses for this mode: `"full"`, `"same"` or `"valid"`; `"causal"` for
    /// [`Mode::Causal`].
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Full => "full",
            Mode::Same => "same",
            Mode::Valid => "valid",
            Mode::Causal => "causal",
        }
    }
}

crate::names::named_enum!(Mode, ConvolveError, |got| ConvolveError::UnknownMode {
    got
});

impl TryFrom<i64> for Mode {
    type Error = ConvolveError;

    /// NumPy's integer modes: 0 = valid, 1 = same, 2 = full.
    fn try_from(value: i64) -> Result<Self, Self::Error> {
        match value {
            0 => Ok(Mode::Valid),
            1 => Ok(Mode::Same),
            2 => Ok(Mode::Full),
            got => Err(ConvolveError::UnknownModeInteger { got }),
        }
    }
}

/// Where NumPy's output sits inside the full output: `full[start .. start + len]`.
///
/// `n` is the signal length, `m` the kernel length, both at least 1. The full output (length
/// `n + m - 1`) is the same sequence whichever argument is longer; NumPy's swap of a kernel
/// longer than the signal only changes which part of it `same` keeps for `np.correlate`.
///
/// ```
/// use burn_npconv::{Mode, Operation, mode::window};
///
/// // np.convolve([1, 2, 3, 4, 5], [1, 1, 1, 1], "same") keeps full[1..6]: the extra sample of
/// // an even kernel is dropped at the end of the full output.
/// assert_eq!(window(5, 4, Mode::Same, Operation::Convolution), (1, 5));
/// // np.correlate with the kernel longer than the signal centres the other way.
/// assert_eq!(window(2, 5, Mode::Same, Operation::Correlation), (1, 5));
/// ```
pub fn window(n: usize, m: usize, mode: Mode, op: Operation) -> (usize, usize) {
    debug_assert!(n >= 1 && m >= 1, "lengths must be at least 1");
    let min = n.min(m);
    let max = n.max(m);
    match mode {
        Mode::Full => (0, n + m - 1),
        Mode::Causal => (0, n),
        Mode::Valid => (min - 1, max - min + 1),
        Mode::Same => {
            let swapped = m > n;
            let start = match op {
                Operation::Correlation if swapped => min / 2,
                _ => (min - 1) / 2,
            };
            (start, max)
        }
    }
}

/// The output length NumPy gives for a signal of length `n` and a kernel of length `m`.
pub fn output_len(n: usize, m: usize, mode: Mode) -> usize {
    window(n, m, mode, Operation::Convolution).1
}

/// Zero padding `(left, right)` of the signal such that a plain sliding dot product (Burn's
/// `conv1d`, a cross-correlation with no padding of its own) with the kernel (flipped for
/// [`Operation::Convolution`]) gives exactly NumPy's output.
///
/// Both sides are never negative: for every mode `0 <= start <= m - 1` and the window never
/// extends past the full output.
pub fn padding(n: usize, m: usize, mode: Mode, op: Operation) -> (usize, usize) {
    let (start, len) = window(n, m, mode, op);
    // Output j of a padded cross-correlation is full output j + (m - 1) - left.
    let left = m - 1 - start;
    // Padded length n + left + right gives n + left + right - m + 1 outputs.
    let right = (len + m - 1) - (n + left);
    (left, right)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_follow_numpy() {
        for n in 1..=40 {
            for m in 1..=40 {
                assert_eq!(output_len(n, m, Mode::Full), n + m - 1);
                assert_eq!(output_len(n, m, Mode::Same), n.max(m));
                assert_eq!(output_len(n, m, Mode::Valid), n.max(m) - n.min(m) + 1);
            }
        }
    }

    #[test]
    fn padding_reproduces_the_window() {
        for n in 1..=40 {
            for m in 1..=40 {
                for mode in Mode::ALL {
                    for op in [Operation::Convolution, Operation::Correlation] {
                        let (start, len) = window(n, m, mode, op);
                        assert!(start + len < n + m, "{n} {m} {mode} {op:?}");
                        let (left, right) = padding(n, m, mode, op);
                        assert_eq!(n + left + right - m + 1, len);
                        assert_eq!(m - 1 - left, start);
                    }
                }
            }
        }
    }

    #[test]
    fn even_kernels_drop_the_extra_sample_at_the_end() {
        // Burn's and PyTorch's `Same` pad (k/2 - 1, k/2); NumPy pads (k/2, k/2 - 1).
        assert_eq!(padding(10, 4, Mode::Same, Operation::Convolution), (2, 1));
        assert_eq!(padding(10, 2, Mode::Same, Operation::Convolution), (1, 0));
        assert_eq!(padding(10, 3, Mode::Same, Operation::Convolution), (1, 1));
    }

    #[test]
    fn causal_is_the_start_of_full_and_pads_only_the_left() {
        for n in 1..=40 {
            for m in 1..=40 {
                for op in [Operation::Convolution, Operation::Correlation] {
                    assert_eq!(window(n, m, Mode::Causal, op), (0, n));
                    assert_eq!(padding(n, m, Mode::Causal, op), (m - 1, 0));
                }
            }
        }
    }

    #[test]
    fn names_round_trip() {
        for mode in Mode::ALL {
            assert_eq!(mode.to_string().parse::<Mode>().unwrap(), mode);
        }
        for (i, mode) in Mode::NUMPY.iter().enumerate() {
            assert_eq!(Mode::try_from(i as i64).unwrap(), *mode);
        }
    }
}
