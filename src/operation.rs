//! Which of NumPy's two functions a call follows (a leaf: the error type names it too).

/// Which of NumPy's two functions an operation follows.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Operation {
    /// `np.convolve`: the kernel is flipped, `y[k] = Σ_j a[j] · v[k - j]`.
    #[default]
    Convolution,
    /// `np.correlate`: the kernel is not flipped, `y[k] = Σ_n a[n + k] · v[n]` (real inputs, so
    /// no conjugation).
    Correlation,
}

impl Operation {
    /// The NumPy function this operation follows: `"np.convolve"` or `"np.correlate"`.
    pub fn numpy_name(self) -> &'static str {
        match self {
            Operation::Convolution => "np.convolve",
            Operation::Correlation => "np.correlate",
        }
    }

    /// Whether a sliding dot product (Burn's `conv1d`, the CPU kernels) must run over the kernel
    /// reversed to give this operation: `true` for [`Operation::Convolution`]. The one place that
    /// decides the kernel's orientation; every path reads it from [`Geometry::reversed`].
    pub(crate) fn slides_reversed_kernel(self) -> bool {
        self == Operation::Convolution
    }
}
