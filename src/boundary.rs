//! Boundary rules: what the signal is taken to be outside its `N` samples.
//!
//! NumPy's `np.convolve` pads with zeros. A [`Boundary`] replaces those zeros with numpy.pad's
//! other rules: for every mode, `y = np.convolve(np.pad(a, (L, R), mode=b), v, "valid")` (or
//! `np.correlate`), where `(L, R)` is the zero padding that gives the mode's window
//! ([`padding`](crate::mode::padding)), and numpy.pad's rule applies even when a pad is longer
//! than the signal.

use burn::tensor::{Int, Tensor, TensorData};

use crate::error::ConvolveError;

/// What the signal is outside its samples, as numpy.pad's `mode` (the names are numpy.pad's).
///
/// For a signal `a` of length `N`, position `i` outside `0..N` holds:
///
/// | rule | name | `a = [1, 2, 3]` padded by 4 on both sides | SciPy ndimage | PyTorch `padding_mode` |
/// |---|---|---|---|---|
/// | [`Boundary::Zeros`] | `"zeros"` | `0 0 0 0 [1 2 3] 0 0 0 0` | `constant` (`cval=0`) | `zeros` |
/// | [`Boundary::Constant`]`(c)` | `"constant"`, `"constant(c)"` | `c c c c [1 2 3] c c c c` | `constant` (`cval=c`) | – |
/// | [`Boundary::Reflect`] | `"reflect"` | `1 2 3 2 [1 2 3] 2 1 2 3` | `mirror` | `reflect` |
/// | [`Boundary::Symmetric`] | `"symmetric"` | `3 3 2 1 [1 2 3] 3 2 1 1` | `reflect` | – |
/// | [`Boundary::Edge`] | `"edge"` | `1 1 1 1 [1 2 3] 3 3 3 3` | `nearest` | `replicate` |
/// | [`Boundary::Wrap`] | `"wrap"` | `3 1 2 3 [1 2 3] 1 2 3 1` | `wrap` (`grid-wrap`) | `circular` |
///
/// Note the two names that differ between libraries: SciPy ndimage's `reflect` is
/// `symmetric` here (the edge sample is repeated), its `mirror` is `reflect` here (it is not).
///
/// `"constant"` alone is `Constant(0.0)`, numpy.pad's default `constant_values=0`, which gives
/// the same results as `Zeros`. Parsing accepts exactly the names above (`"constant(c)"` with any
/// number Rust's `f64` parser reads, `nan` and `inf` included); [`Display`](core::fmt::Display)
/// and serde write them back (`Constant(0.0)` as `"constant"`).
///
/// ```
/// use burn_npconv::Boundary;
///
/// assert_eq!("reflect".parse::<Boundary>().unwrap(), Boundary::Reflect);
/// assert_eq!("constant(0.5)".parse::<Boundary>().unwrap(), Boundary::Constant(0.5));
/// assert_eq!(Boundary::Constant(-2.0).to_string(), "constant(-2)");
/// assert!("mirror".parse::<Boundary>().is_err());
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub enum Boundary {
    /// Zeros: NumPy's `np.convolve` and `np.correlate`.
    #[default]
    Zeros,
    /// The value `c` (in the tensors' dtype).
    Constant(f64),
    /// Mirrored about the edge sample, which is not repeated: `d c b | a b c d | c b a`.
    Reflect,
    /// Mirrored about the edge, the edge sample repeated: `c b a | a b c d | d c b`.
    Symmetric,
    /// The edge sample repeated: `a a a | a b c d | d d d`.
    Edge,
    /// The signal repeated periodically: `b c d | a b c d | a b c`.
    Wrap,
}

impl Boundary {
    /// Every rule without a parameter, and `Constant(0.0)`.
    pub const NAMED: [Boundary; 6] = [
        Boundary::Zeros,
        Boundary::Constant(0.0),
        Boundary::Reflect,
        Boundary::Symmetric,
        Boundary::Edge,
        Boundary::Wrap,
    ];

    /// numpy.pad's name of the rule (`"zeros"` for [`Boundary::Zeros`]), without the constant.
    pub fn as_str(self) -> &'static str {
        match self {
            Boundary::Zeros => "zeros",
            Boundary::Constant(_) => "constant",
            Boundary::Reflect => "reflect",
            Boundary::Symmetric => "symmetric",
            Boundary::Edge => "edge",
            Boundary::Wrap => "wrap",
        }
    }

    /// Which sample of a signal of length `n` position `i` (negative before the signal,
    /// `>= n` after it) copies, or `None` for a constant (zeros included).
    ///
    /// ```
    /// use burn_npconv::Boundary;
    ///
    /// let padded: Vec<_> = (-4..7).map(|i| Boundary::Reflect.source(i, 3)).collect();
    /// let expected = [0, 1, 2, 1, 0, 1, 2, 1, 0, 1, 2].map(Some);
    /// assert_eq!(padded, expected);
    /// ```
    pub fn source(self, i: isize, n: usize) -> Option<usize> {
        assert!(n >= 1, "a boundary needs a non-empty signal");
        let n = n as isize;
        if (0..n).contains(&i) {
            return Some(i as usize);
        }
        let index = match self {
            Boundary::Zeros | Boundary::Constant(_) => return None,
            Boundary::Edge => i.clamp(0, n - 1),
            Boundary::Wrap => i.rem_euclid(n),
            Boundary::Reflect if n == 1 => 0,
            Boundary::Reflect => {
                let period = 2 * (n - 1);
                let r = i.rem_euclid(period);
                if r < n { r } else { period - r }
            }
            Boundary::Symmetric => {
                let period = 2 * n;
                let r = i.rem_euclid(period);
                if r < n { r } else { period - 1 - r }
            }
        };
        Some(index as usize)
    }

    /// The constant outside the signal: `Some(0.0)` for zeros, `Some(c)` for a constant,
    /// `None` for the rules that copy samples.
    pub fn constant(self) -> Option<f64> {
        match self {
            Boundary::Zeros => Some(0.0),
            Boundary::Constant(c) => Some(c),
            _ => None,
        }
    }
}

impl core::fmt::Display for Boundary {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Boundary::Constant(c) if *c != 0.0 || c.is_sign_negative() => {
                write!(f, "constant({c})")
            }
            other => f.write_str(other.as_str()),
        }
    }
}

impl core::str::FromStr for Boundary {
    type Err = ConvolveError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let unknown = || ConvolveError::UnknownBoundary { got: s.to_string() };
        if let Some(named) = Self::NAMED.into_iter().find(|b| b.as_str() == s) {
            return Ok(named);
        }
        let value = s
            .strip_prefix("constant(")
            .and_then(|rest| rest.strip_suffix(')'))
            .ok_or_else(unknown)?;
        value
            .parse::<f64>()
            .map(Boundary::Constant)
            .map_err(|_| unknown())
    }
}

impl burn::serde::Serialize for Boundary {
    fn serialize<S: burn::serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> burn::serde::Deserialize<'de> for Boundary {
    fn deserialize<D: burn::serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = <String as burn::serde::Deserialize>::deserialize(deserializer)?;
        name.parse().map_err(burn::serde::de::Error::custom)
    }
}

/// `x` `[batch, channels, n]` padded by `(left, right)` samples of `rule` along its last
/// axis, as `np.pad(x, ((0, 0), (0, 0), (left, right)), mode)`: `[batch, channels, left + n +
/// right]`. Differentiable: a copied sample's gradient flows back to the sample it copies (by
/// `select`, whose backward adds), a constant's nowhere.
pub(crate) fn pad(x: Tensor<3>, pads: (usize, usize), rule: Boundary) -> Tensor<3> {
    pad_axis(x, 2, pads, rule)
}

/// `x` padded by `(left, right)` samples of `rule` along `axis`, as numpy.pad with that one
/// axis padded; differentiable as [`pad`].
pub(crate) fn pad_axis<const D: usize>(
    x: Tensor<D>,
    axis: usize,
    (left, right): (usize, usize),
    rule: Boundary,
) -> Tensor<D> {
    if left == 0 && right == 0 {
        return x;
    }
    let n = x.dims()[axis];
    let device = x.device();
    match rule.constant() {
        Some(c) => {
            let side = |len: usize| {
                let mut shape = x.dims();
                shape[axis] = len;
                Tensor::<D>::full(shape, c, (&device, x.dtype()))
            };
            let mut parts = Vec::with_capacity(3);
            if left > 0 {
                parts.push(side(left));
            }
            parts.push(x.clone());
            if right > 0 {
                parts.push(side(right));
            }
            Tensor::cat(parts, axis)
        }
        None => {
            let index: Vec<i64> = (-(left as isize)..(n + right) as isize)
                .map(|i| rule.source(i, n).expect("a copying rule") as i64)
                .collect();
            let len = index.len();
            let index = Tensor::<1, Int>::from_data(TensorData::new(index, [len]), &device);
            x.select(axis, index)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for b in Boundary::NAMED.into_iter().chain([
            Boundary::Constant(1.5),
            Boundary::Constant(-0.0),
            Boundary::Constant(1e-300),
            Boundary::Constant(f64::INFINITY),
        ]) {
            let back: Boundary = b.to_string().parse().unwrap();
            assert_eq!(back.as_str(), b.as_str());
            assert_eq!(
                back.constant().map(f64::to_bits),
                b.constant().map(f64::to_bits)
            );
        }
        let nan: Boundary = "constant(NaN)".parse().unwrap();
        assert!(nan.constant().unwrap().is_nan());
        for bad in [
            "Reflect",
            "mirror",
            "constant()",
            "constant(x)",
            "constant(1",
            "",
        ] {
            let err = bad.parse::<Boundary>().unwrap_err().to_string();
            assert!(
                err.starts_with(&format!("unknown boundary {bad:?}")),
                "{err}"
            );
        }
    }

    #[test]
    fn sources_stay_inside_the_signal() {
        for n in 1..=9 {
            for i in -40..40 {
                for b in Boundary::NAMED {
                    if let Some(s) = b.source(i, n) {
                        assert!(s < n, "{b} {i} {n}");
                    }
                }
            }
        }
    }
}
