//! [`Options`]: SciPy's `mode` and `method`, and the boundary rule, of one call.

use crate::boundary::Boundary;
use crate::method::Method;
use crate::mode::Mode;

/// The options of [`convolve_with`](super::convolve_with) and
/// [`correlate_with`](super::correlate_with): SciPy's `mode` and `method`, and
/// the boundary rule.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Options {
    /// SciPy's `mode`. Default [`Mode::Full`], as in SciPy.
    pub mode: Mode,
    /// How the call is computed. Default [`Method::Auto`].
    pub method: Method,
    /// What `in1` is outside its samples. Default [`Boundary::Zeros`], SciPy's.
    pub boundary: Boundary,
}

impl Default for Options {
    fn default() -> Self {
        Self::new(Mode::Full)
    }
}

impl Options {
    /// `mode`, [`Method::Auto`], [`Boundary::Zeros`].
    pub fn new(mode: Mode) -> Self {
        Self {
            mode,
            method: Method::Auto,
            boundary: Boundary::Zeros,
        }
    }

    /// Sets the method (SciPy's `method=`: `"direct"`, `"fft"`, `"auto"`).
    pub fn with_method(mut self, method: Method) -> Self {
        self.method = method;
        self
    }

    /// Sets the boundary rule: `op(np.pad(in1, pads, mode=boundary), in2, "valid")`, `pads`
    /// the zero padding of the mode's window.
    pub fn with_boundary(mut self, boundary: Boundary) -> Self {
        self.boundary = boundary;
        self
    }
}
