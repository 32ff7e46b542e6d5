//! The geometry of one batched sliding dot product: shapes, zero padding and the kernel's
//! orientation, as pure arithmetic of lengths. NumPy's terms enter only through
//! [`Geometry::numpy`].

use burn::tensor::ops::ConvOptions;

use crate::mode::{Mode, Operation, padding};

/// The shapes, zero padding and kernel orientation of one batched convolution, as a sliding
/// dot product (Burn's `conv1d` with stride 1) computes it: for output channel `o` of group `g`,
/// `y[b, o, j] = Σ_i Σ_k xpad[b, g·C + i, j + k] · wk[o, i, k]`, where `xpad` is the signal with
/// `left` zeros before and `right` zeros after it, and `wk` the weight, reversed when
/// `reversed`. Every path (CPU kernels, Burn's `conv1d`, the device FFT, the gradients) is
/// driven by one of these; NumPy's terms enter only through [`Geometry::numpy`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Geometry {
    /// Samples.
    pub batch: usize,
    /// Input channels.
    pub cin: usize,
    /// Signal length.
    pub n: usize,
    /// Output channels.
    pub cout: usize,
    /// Kernel length.
    pub m: usize,
    /// Channel groups.
    pub groups: usize,
    /// Zeros before the signal.
    pub left: usize,
    /// Zeros after the signal.
    pub right: usize,
    /// Whether the weight is reversed before the sliding dot product.
    pub reversed: bool,
}

impl Geometry {
    /// NumPy's `mode` and function `op` for a signal `x` `[batch, channels_in, n]` and a weight
    /// `w` `[channels_out, channels_in / groups, m]` in NumPy orientation.
    pub fn numpy(x: [usize; 3], w: [usize; 3], groups: usize, mode: Mode, op: Operation) -> Self {
        let pad = padding(x[2], w[2], mode, op);
        Self::padded(x, w, groups, pad, op.slides_reversed_kernel())
    }

    /// Any zero padding `(left, right)` (each below `m`) and orientation, for the same shapes.
    pub fn padded(
        x: [usize; 3],
        w: [usize; 3],
        groups: usize,
        (left, right): (usize, usize),
        reversed: bool,
    ) -> Self {
        let [batch, cin, n] = x;
        let [cout, _, m] = w;
        Geometry {
            batch,
            cin,
            n,
            cout,
            m,
            groups,
            left,
            right,
            reversed,
        }
    }

    /// Output length of the sliding dot product over the padded signal.
    pub fn out_len(&self) -> usize {
        self.n + self.left + self.right + 1 - self.m
    }

    /// Index in the `full` output (length `n + m - 1`) of output 0.
    pub fn full_start(&self) -> usize {
        self.m - 1 - self.left
    }

    /// Input channels per group.
    pub fn cpg(&self) -> usize {
        self.cin / self.groups
    }

    /// Output channels per group.
    pub fn opg(&self) -> usize {
        self.cout / self.groups
    }

    /// The geometry of the input gradient: the output gradient `[batch, cout, out_len]` slid
    /// over the kernel reversed (channels transposed per group), padded by
    /// `(m - 1 - left, m - 1 - right)`, gives `[batch, cin, n]`.
    pub fn input_grad(&self) -> Geometry {
        Self::padded(
            [self.batch, self.cout, self.out_len()],
            [self.cin, self.opg(), self.m],
            self.groups,
            (self.m - 1 - self.left, self.m - 1 - self.right),
            !self.reversed,
        )
    }

    /// Burn's options for `conv1d` with this padding and these groups.
    pub fn conv_options(&self) -> ConvOptions<1> {
        ConvOptions::new_with_padding([1], [(self.left, self.right)], [1], self.groups)
    }
}

/// One axis of an N-D sliding dot product (`burn_npconv::signal`): every axis of `A` slid
/// over the kernel, with `A`'s length `n`, the kernel's `m`, and the padding
/// `(lo, hi)` written before and after `A`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Axis {
    /// `A`'s length.
    pub n: usize,
    /// The kernel's length.
    pub m: usize,
    /// Padding before `A`.
    pub lo: usize,
    /// Padding after `A`.
    pub hi: usize,
}

impl Axis {
    /// The padded length.
    pub fn padded(&self) -> usize {
        self.n + self.lo + self.hi
    }

    /// The output length.
    #[cfg_attr(not(cpu_kernels), allow(dead_code))] // the host kernels' shapes
    pub fn out(&self) -> usize {
        self.padded() + 1 - self.m
    }

    /// The axis of `A` (length `n`) and a kernel of `m` whose output is the `full` output's
    /// window `start .. start + len` (in the coordinates of `A` correlated with the kernel).
    pub fn window(n: usize, m: usize, start: usize, len: usize) -> Axis {
        let lo = m - 1 - start;
        Axis {
            n,
            m,
            lo,
            hi: len + start - n,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mode::window;

    #[test]
    fn geometry_gives_numpys_window_and_orientation() {
        for n in 1..=40 {
            for m in 1..=40 {
                for mode in Mode::ALL {
                    for op in [Operation::Convolution, Operation::Correlation] {
                        let g = Geometry::numpy([2, 3, n], [6, 1, m], 3, mode, op);
                        assert_eq!((g.full_start(), g.out_len()), window(n, m, mode, op));
                        assert_eq!(g.reversed, op == Operation::Convolution);
                        {
                            // The input gradient maps the output back onto the signal.
                            let t = g.input_grad();
                            assert_eq!((t.n, t.out_len(), t.cin, t.cout), (g.out_len(), n, 6, 3));
                            assert_eq!(t.input_grad(), g);
                        }
                    }
                }
            }
        }
    }
}
