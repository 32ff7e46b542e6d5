//! The inner loop of the direct kernel, register-blocked and compiled three times per float
//! type: for x86-64 CPUs with AVX-512, for those with AVX2 and FMA, and for any CPU. The copy
//! is chosen once per process ([`Isa::detected`]), as RustFFT picks its SIMD planner once.
//!
//! The loops are plain Rust over fixed-size blocks, which the compiler vectorises; the copies
//! differ only in the target features they are compiled with, in the block length and in using
//! fused multiply-adds, so results differ by rounding only. One generic body serves f32 and
//! f64: a block holds eight vector accumulators, [`Real::BLOCK`] outputs (64 f32, 32 f64) with
//! AVX2's 256-bit registers. The AVX-512 copy writes its 512-bit blocks (128 f32, 64 f64) with
//! intrinsics, since the compiler keeps plain loops at 256 bits.

use std::sync::OnceLock;

use super::Real;

/// An instruction set the inner loop is compiled for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Isa {
    /// AVX-512 (`avx512f`, `avx512vl`) with FMA: 512-bit vectors, 32 registers.
    Avx512,
    /// AVX2 with FMA: 256-bit vectors, 16 registers.
    Avx2,
    /// Any CPU: what the compiler makes of the plain loops for the build's target.
    Portable,
}

impl Isa {
    /// Every copy, widest first.
    pub const ALL: [Isa; 3] = [Isa::Avx512, Isa::Avx2, Isa::Portable];

    /// The widest copy this CPU runs, detected once.
    pub fn detected() -> Isa {
        static ISA: OnceLock<Isa> = OnceLock::new();
        *ISA.get_or_init(|| {
            Isa::ALL
                .into_iter()
                .find(|isa| isa.available())
                .unwrap_or(Isa::Portable)
        })
    }

    /// Whether this CPU runs the copy.
    pub fn available(self) -> bool {
        #[cfg(target_arch = "x86_64")]
        {
            use std::arch::is_x86_feature_detected as has;
            match self {
                Isa::Avx512 => has!("avx512f") && has!("avx512vl") && has!("avx2") && has!("fma"),
                Isa::Avx2 => has!("avx2") && has!("fma"),
                Isa::Portable => true,
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            self == Isa::Portable
        }
    }
}

/// `y[j] += Σ_k w[k] · x[j + k]` for every `j < y.len()`; `x` holds `y.len() + w.len() - 1`
/// values (or more). Runs the copy of [`Isa::detected`].
pub(crate) fn correlate_into<T: Real>(x: &[T], w: &[T], y: &mut [T]) {
    correlate_with(Isa::detected(), x, w, y);
}

/// [`correlate_into`] with the copy compiled for `isa`.
///
/// # Panics
/// If this CPU does not run `isa` ([`Isa::available`]), or `x` is too short.
pub(crate) fn correlate_with<T: Real>(isa: Isa, x: &[T], w: &[T], y: &mut [T]) {
    assert!(
        !w.is_empty() && x.len() + 1 >= y.len() + w.len(),
        "correlate_into: {} inputs for {} outputs of a {}-tap kernel",
        x.len(),
        y.len(),
        w.len()
    );
    assert!(isa.available(), "this CPU does not run {isa:?}");
    match isa {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `isa.available()` checked that the CPU has the features of each copy.
        Isa::Avx512 => unsafe { correlate_avx512(x, w, y) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: as above.
        Isa::Avx2 => unsafe { correlate_avx2(x, w, y) },
        _ => correlate_body::<T, false>(x, w, y),
    }
}

/// The AVX-512 copy: blocks of eight 512-bit accumulators written with intrinsics (the
/// compiler keeps plain loops at 256 bits even with AVX-512 enabled), then the AVX2 code for
/// the rest.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512vl,avx2,fma")]
fn correlate_avx512<T: Real>(x: &[T], w: &[T], y: &mut [T]) {
    use bytemuck::{cast_slice, cast_slice_mut};
    let done = if T::dtype() == burn::tensor::DType::F64 {
        wide::blocks_f64(cast_slice(x), cast_slice(w), cast_slice_mut(y))
    } else {
        wide::blocks_f32(cast_slice(x), cast_slice(w), cast_slice_mut(y))
    };
    correlate_rest::<T, true>(x, w, y, done);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn correlate_avx2<T: Real>(x: &[T], w: &[T], y: &mut [T]) {
    correlate_body::<T, true>(x, w, y);
}

/// Register blocks of eight 512-bit vectors (128 f32 or 64 f64 outputs) with AVX-512
/// intrinsics: one load and one fused multiply-add per tap and vector. One macro body for both
/// float types.
#[cfg(target_arch = "x86_64")]
mod wide {
    use std::arch::x86_64::*;

    macro_rules! blocks {
        ($name:ident, $t:ty, $lanes:expr, $set1:ident, $load:ident, $fmadd:ident, $add:ident, $store:ident, $zero:ident) => {
            /// `y[j] += Σ_k w[k] · x[j + k]` over whole blocks from 0; returns where they end.
            #[target_feature(enable = "avx512f")]
            pub(super) fn $name(x: &[$t], w: &[$t], y: &mut [$t]) -> usize {
                const V: usize = 8;
                const B: usize = V * $lanes;
                let m = w.len();
                let count = y.len() / B;
                assert!(
                    count == 0 || x.len() + 1 >= count * B + m,
                    "a block of inputs"
                );
                for block in 0..count {
                    let j = block * B;
                    let mut acc = [$zero(); V];
                    for (k, &wv) in w.iter().enumerate() {
                        let s = $set1(wv);
                        for (v, a) in acc.iter_mut().enumerate() {
                            // SAFETY: j + k + v·lanes + lanes <= count·B + m - 1 <= x.len().
                            let xv = unsafe { $load(x.as_ptr().add(j + k + v * $lanes)) };
                            *a = $fmadd(s, xv, *a);
                        }
                    }
                    for (v, a) in acc.into_iter().enumerate() {
                        // SAFETY: j + v·lanes + lanes <= count·B <= y.len().
                        unsafe {
                            let p = y.as_mut_ptr().add(j + v * $lanes);
                            $store(p, $add($load(p), a));
                        }
                    }
                }
                count * B
            }
        };
    }

    blocks!(
        blocks_f32,
        f32,
        16,
        _mm512_set1_ps,
        _mm512_loadu_ps,
        _mm512_fmadd_ps,
        _mm512_add_ps,
        _mm512_storeu_ps,
        _mm512_setzero_ps
    );
    blocks!(
        blocks_f64,
        f64,
        8,
        _mm512_set1_pd,
        _mm512_loadu_pd,
        _mm512_fmadd_pd,
        _mm512_add_pd,
        _mm512_storeu_pd,
        _mm512_setzero_pd
    );
}

/// Blocks of eight vector accumulators kept in registers ([`Real::BLOCK`] outputs: one load and
/// one multiply-add per tap and vector), then the rest ([`correlate_rest`]).
#[inline(always)]
fn correlate_body<T: Real, const FMA: bool>(x: &[T], w: &[T], y: &mut [T]) {
    let done = if T::BLOCK == 64 {
        blocks::<T, 64, FMA>(x, w, y, 0)
    } else {
        blocks::<T, 32, FMA>(x, w, y, 0)
    };
    correlate_rest::<T, FMA>(x, w, y, done);
}

/// The outputs from `done` on: for long kernels (a weight gradient's "kernel" is a whole
/// signal) one output at a time as a many-lane dot product, otherwise in blocks of 8 and single
/// outputs.
#[inline(always)]
fn correlate_rest<T: Real, const FMA: bool>(x: &[T], w: &[T], y: &mut [T], done: usize) {
    let m = w.len();
    let done = if m >= LONG {
        done
    } else {
        blocks::<T, 8, FMA>(x, w, y, done)
    };
    for j in done..y.len() {
        y[j] = y[j] + dot_body::<T, FMA>(&x[j..j + m], w);
    }
}

/// Kernel length from which the leftover outputs are computed as dot products.
const LONG: usize = 256;

/// `Σ a[i] · b[i]` in 32 lanes.
#[inline(always)]
fn dot_body<T: Real, const FMA: bool>(a: &[T], b: &[T]) -> T {
    const L: usize = 32;
    let mut lanes = [T::zero(); L];
    let (ca, cb) = (a.chunks_exact(L), b.chunks_exact(L));
    let mut tail = T::zero();
    for (&x, &y) in ca.remainder().iter().zip(cb.remainder()) {
        tail = madd::<T, FMA>(x, y, tail);
    }
    for (x, y) in ca.zip(cb) {
        for q in 0..L {
            lanes[q] = madd::<T, FMA>(x[q], y[q], lanes[q]);
        }
    }
    lanes.iter().fold(T::zero(), |s, &v| s + v) + tail
}

/// Outputs `from..` in whole blocks of `B`; returns where the blocks end.
#[inline(always)]
fn blocks<T: Real, const B: usize, const FMA: bool>(
    x: &[T],
    w: &[T],
    y: &mut [T],
    from: usize,
) -> usize {
    let m = w.len();
    let count = (y.len() - from) / B;
    for block in 0..count {
        let j = from + block * B;
        let window = &x[j..j + B + m - 1];
        let mut acc = [T::zero(); B];
        for (k, &wv) in w.iter().enumerate() {
            let xs: &[T; B] = window[k..k + B].try_into().expect("a block of inputs");
            for q in 0..B {
                acc[q] = madd::<T, FMA>(wv, xs[q], acc[q]);
            }
        }
        for (yv, a) in y[j..j + B].iter_mut().zip(acc) {
            *yv = *yv + a;
        }
    }
    from + count * B
}

#[inline(always)]
fn madd<T: Real, const FMA: bool>(a: T, b: T, c: T) -> T {
    if FMA { a.mul_add(b, c) } else { a * b + c }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_copies_match_a_naive_loop() {
        for m in [1usize, 2, 3, 7, 8, 9, 31, 64, 65, 200] {
            for len in [1usize, 7, 8, 9, 63, 64, 65, 130, 1000] {
                let x: Vec<f32> = (0..len + m - 1)
                    .map(|i| ((i * 37 % 23) as f32 - 11.0) / 8.0)
                    .collect();
                let w: Vec<f32> = (0..m).map(|i| ((i * 13 % 7) as f32 - 3.0) / 4.0).collect();
                let want: Vec<f64> = (0..len)
                    .map(|j| {
                        1.0 + (0..m)
                            .map(|k| f64::from(w[k]) * f64::from(x[j + k]))
                            .sum::<f64>()
                    })
                    .collect();
                let mut got = vec![1.0f32; len];
                correlate_into(&x, &w, &mut got);
                let mut portable = vec![1.0f32; len];
                correlate_body::<f32, false>(&x, &w, &mut portable);
                let (x64, w64): (Vec<f64>, Vec<f64>) = (
                    x.iter().map(|&v| f64::from(v)).collect(),
                    w.iter().map(|&v| f64::from(v)).collect(),
                );
                let mut got64 = vec![1.0f64; len];
                correlate_into(&x64, &w64, &mut got64);
                let mut portable64 = vec![1.0f64; len];
                correlate_body::<f64, false>(&x64, &w64, &mut portable64);
                // Every copy this CPU runs (the wide one too), f32 and f64.
                for isa in Isa::ALL.into_iter().filter(|isa| isa.available()) {
                    let mut each = vec![1.0f32; len];
                    correlate_with(isa, &x, &w, &mut each);
                    let mut each64 = vec![1.0f64; len];
                    correlate_with(isa, &x64, &w64, &mut each64);
                    for j in 0..len {
                        let tol = 1e-5 * m as f64;
                        assert!(
                            (f64::from(each[j]) - want[j]).abs() <= tol,
                            "{isa:?} m {m} len {len} j {j}"
                        );
                        assert_eq!(each64[j], want[j], "{isa:?} f64 m {m} len {len} j {j}");
                    }
                }
                for j in 0..len {
                    let tol = 1e-5 * m as f64;
                    assert!(
                        (f64::from(got[j]) - want[j]).abs() <= tol,
                        "m {m} len {len} j {j}"
                    );
                    assert!(
                        (f64::from(portable[j]) - want[j]).abs() <= tol,
                        "portable m {m}"
                    );
                    // The inputs are exact in f64 and the sums short: f64 is exact.
                    assert_eq!(got64[j], want[j], "f64 m {m} len {len} j {j}");
                    assert_eq!(portable64[j], want[j], "portable f64 m {m}");
                }
            }
        }
    }
}
