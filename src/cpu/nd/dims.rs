//! The shapes of one N-D sliding dot product, seen as 3-D.

/// The shapes of one N-D sliding dot product, as 3-D.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Dims {
    /// The padded array `A`.
    pub p: [usize; 3],
    /// The kernel.
    pub m: [usize; 3],
}

impl Dims {
    /// The shapes `padded` and `kernel` (rank 1 to 3), with leading axes of length 1.
    pub(crate) fn new(padded: &[usize], kernel: &[usize]) -> Dims {
        let three = |s: &[usize]| {
            let mut out = [1; 3];
            out[3 - s.len()..].copy_from_slice(s);
            out
        };
        Dims {
            p: three(padded),
            m: three(kernel),
        }
    }

    /// The output's shape.
    pub(crate) fn out(&self) -> [usize; 3] {
        [0, 1, 2].map(|i| self.p[i] + 1 - self.m[i])
    }

    /// Outputs.
    pub(crate) fn out_len(&self) -> usize {
        self.out().iter().product()
    }

    /// The kernel's terms per output.
    pub(crate) fn taps(&self) -> usize {
        self.m.iter().product()
    }
}
