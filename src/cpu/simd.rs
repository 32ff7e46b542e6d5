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

use std::mem::MaybeUninit;
use std::sync::OnceLock;

use super::real::Real;

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
    // SAFETY: `y` is initialised, and the kernel writes only sums into it.
    unsafe { run(isa, x, w, as_uninit(y), true, false) };
}

/// [`correlate_into`], and whether every value of `y` it leaves is finite, checked while the
/// sums are in registers (`v · 0` is NaN exactly for NaN and ±inf): a separate pass over the
/// outputs costs about as much as a 3-tap kernel's loads.
pub(crate) fn correlate_checked<T: Real>(x: &[T], w: &[T], y: &mut [T]) -> bool {
    // SAFETY: as in `correlate_with`.
    unsafe { run(Isa::detected(), x, w, as_uninit(y), true, true) }
}

/// `y[j] = Σ_k w[k] · x[j + k]`, overwriting `y` (which need not be initialised, so nothing
/// zeroes it first); returns `y` initialised and, where `check`, whether every value is finite
/// (else `true`). `isa` as in [`correlate_with`].
pub(crate) fn correlate_write<'y, T: Real>(
    isa: Isa,
    x: &[T],
    w: &[T],
    y: &'y mut [MaybeUninit<T>],
    check: bool,
) -> (&'y mut [T], bool) {
    // SAFETY: with `add == false` the kernel reads no value of `y`.
    let finite = unsafe { run(isa, x, w, y, false, check) };
    // SAFETY: the kernel wrote every value of `y` (each output once, `add == false`), and
    // `MaybeUninit<T>` has `T`'s layout.
    (
        unsafe { &mut *(y as *mut [MaybeUninit<T>] as *mut [T]) },
        finite,
    )
}

/// `y` as possibly uninitialised values: the kernel writes only initialised ones into it.
fn as_uninit<T>(y: &mut [T]) -> &mut [MaybeUninit<T>] {
    // SAFETY: same layout; nothing uninitialised is ever written through the result.
    unsafe { &mut *(y as *mut [T] as *mut [MaybeUninit<T>]) }
}

/// The kernel's entry: `y[j] (+)= Σ_k w[k] · x[j + k]`, adding to `y`'s values where `add`,
/// and whether every value written is finite where `check` (else `true`).
///
/// # Safety
/// Where `add`, every value of `y` must be initialised.
///
/// # Panics
/// If this CPU does not run `isa` ([`Isa::available`]), or `x` is too short.
unsafe fn run<T: Real>(
    isa: Isa,
    x: &[T],
    w: &[T],
    y: &mut [MaybeUninit<T>],
    add: bool,
    check: bool,
) -> bool {
    assert!(
        !w.is_empty() && x.len() + 1 >= y.len() + w.len(),
        "correlate_into: {} inputs for {} outputs of a {}-tap kernel",
        x.len(),
        y.len(),
        w.len()
    );
    assert!(isa.available(), "this CPU does not run {isa:?}");
    let out = Out { add, check };
    // SAFETY: `isa.available()` checked that the CPU has the features of each copy; the
    // caller's promise covers `add`.
    unsafe {
        match isa {
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => correlate_avx512(x, w, y, out),
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => correlate_avx2(x, w, y, out),
            _ => correlate_body::<T, false>(x, w, y, out),
        }
    }
}

/// How the kernel stores its sums: added to the output's values or written over them, and
/// checked for NaN and ±inf or not. Callers that add promise initialised outputs.
#[derive(Clone, Copy)]
struct Out {
    add: bool,
    check: bool,
}

impl Out {
    /// Stores `a` (added to the value there where `self.add`) and returns what was stored.
    ///
    /// # Safety
    /// Where `self.add`, `slot` is initialised.
    #[inline(always)]
    unsafe fn put<T: Real>(self, slot: &mut MaybeUninit<T>, a: T) -> T {
        // SAFETY: the caller's promise.
        let v = if self.add {
            (unsafe { slot.assume_init() }) + a
        } else {
            a
        };
        slot.write(v);
        v
    }
}

/// The AVX-512 copy: blocks of eight 512-bit accumulators written with intrinsics (the
/// compiler keeps plain loops at 256 bits even with AVX-512 enabled), then the AVX2 code for
/// the rest.
///
/// # Safety
/// As [`run`]'s, and the CPU has the features enabled here.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512vl,avx2,fma")]
unsafe fn correlate_avx512<T: Real>(x: &[T], w: &[T], y: &mut [MaybeUninit<T>], out: Out) -> bool {
    use bytemuck::cast_slice;
    let (ptr, len) = (y.as_mut_ptr(), y.len());
    // SAFETY: `ptr` holds `len` values of `T`, which is the type cast to; the caller's promise
    // covers `out.add`.
    let (done, finite) = unsafe {
        if T::dtype() == burn::tensor::DType::F64 {
            wide::blocks_f64(cast_slice(x), cast_slice(w), ptr.cast(), len, out)
        } else {
            wide::blocks_f32(cast_slice(x), cast_slice(w), ptr.cast(), len, out)
        }
    };
    // SAFETY: as above.
    finite & unsafe { correlate_rest::<T, true, WIDE_DOTS>(x, w, y, done, out) }
}

/// The AVX2 copy.
///
/// # Safety
/// As [`run`]'s, and the CPU has AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn correlate_avx2<T: Real>(x: &[T], w: &[T], y: &mut [MaybeUninit<T>], out: Out) -> bool {
    // SAFETY: the caller's promise.
    unsafe { correlate_body::<T, true>(x, w, y, out) }
}

/// Register blocks of eight 512-bit vectors (128 f32 or 64 f64 outputs) with AVX-512
/// intrinsics: one load and one fused multiply-add per tap and vector. One macro body for both
/// float types.
#[cfg(target_arch = "x86_64")]
mod wide {
    use std::arch::x86_64::*;

    use super::Out;

    macro_rules! blocks {
        ($name:ident, $t:ty, $lanes:expr, $set1:ident, $load:ident, $fmadd:ident, $add:ident, $mul:ident, $store:ident, $zero:ident) => {
            /// `y[j] (+)= Σ_k w[k] · x[j + k]` over whole blocks from 0; returns where they
            /// end and whether the values written are finite (where `out.check`).
            ///
            /// # Safety
            /// `y` holds `len` values, initialised where `out.add`.
            #[target_feature(enable = "avx512f")]
            pub(super) unsafe fn $name(
                x: &[$t],
                w: &[$t],
                y: *mut $t,
                len: usize,
                out: Out,
            ) -> (usize, bool) {
                const V: usize = 8;
                const B: usize = V * $lanes;
                let m = w.len();
                let count = len / B;
                assert!(
                    count == 0 || x.len() + 1 >= count * B + m,
                    "a block of inputs"
                );
                let mut check = $zero();
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
                    for (v, a) in acc.iter_mut().enumerate() {
                        // SAFETY: j + v·lanes + lanes <= count·B <= len, initialised where
                        // `out.add` (the caller's promise).
                        unsafe {
                            let p = y.add(j + v * $lanes);
                            if out.add {
                                *a = $add($load(p), *a);
                            }
                            $store(p, *a);
                        }
                    }
                    if out.check {
                        // `v · 0` is ±0 for finite `v`, NaN otherwise; summed as a tree.
                        let z = $zero();
                        let mut p = [z; V];
                        for (q, a) in p.iter_mut().zip(acc) {
                            *q = $mul(a, z);
                        }
                        let s = $add(
                            $add($add(p[0], p[1]), $add(p[2], p[3])),
                            $add($add(p[4], p[5]), $add(p[6], p[7])),
                        );
                        check = $add(check, s);
                    }
                }
                let mut lanes = [0.0 as $t; $lanes];
                // SAFETY: `lanes` holds one vector.
                unsafe { $store(lanes.as_mut_ptr(), check) };
                (count * B, lanes.iter().all(|v| !v.is_nan()))
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
        _mm512_mul_ps,
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
        _mm512_mul_pd,
        _mm512_storeu_pd,
        _mm512_setzero_pd
    );
}

/// Blocks of eight vector accumulators kept in registers ([`Real::BLOCK`] outputs: one load and
/// one multiply-add per tap and vector), then the rest ([`correlate_rest`]).
///
/// # Safety
/// As [`run`]'s.
#[inline(always)]
unsafe fn correlate_body<T: Real, const FMA: bool>(
    x: &[T],
    w: &[T],
    y: &mut [MaybeUninit<T>],
    out: Out,
) -> bool {
    // SAFETY: the caller's promise, passed on.
    unsafe {
        let (done, finite) = if T::BLOCK == 64 {
            blocks::<T, 64, FMA>(x, w, y, 0, out)
        } else {
            blocks::<T, 32, FMA>(x, w, y, 0, out)
        };
        finite & correlate_rest::<T, FMA, DOTS>(x, w, y, done, out)
    }
}

/// The outputs from `done` on: for long kernels (a weight gradient's "kernel" is a whole
/// signal) as dot products, `K` at a time ([`long_dots`]) and then one at a time, otherwise in
/// blocks of 8 and single outputs. Returns whether the values written are finite (where
/// `out.check`).
///
/// # Safety
/// As [`run`]'s.
#[inline(always)]
unsafe fn correlate_rest<T: Real, const FMA: bool, const K: usize>(
    x: &[T],
    w: &[T],
    y: &mut [MaybeUninit<T>],
    done: usize,
    out: Out,
) -> bool {
    let m = w.len();
    let (done, mut finite) = if m >= LONG {
        // SAFETY: the caller's promise, passed on.
        unsafe { long_dots::<T, FMA, K>(x, w, y, done, out) }
    } else {
        // SAFETY: the caller's promise, passed on.
        unsafe { blocks::<T, 8, FMA>(x, w, y, done, out) }
    };
    for j in done..y.len() {
        // SAFETY: the caller's promise.
        let v = unsafe { out.put(&mut y[j], dot_body::<T, FMA>(&x[j..j + m], w)) };
        finite &= !out.check || v.is_finite();
    }
    finite
}

/// Kernel length from which the leftover outputs are computed as dot products.
const LONG: usize = 256;

/// Outputs `from..` of a long kernel in groups of `K` as dot products sharing each load
/// of `w` ([`dots`]); returns where the groups end and whether the values written are finite
/// (where `out.check`).
///
/// A weight gradient's outputs are few (the taps) and its "kernel" long (a whole signal): one
/// dot product at a time loaded `w` once per multiply-add and chained each sum's additions
/// through few registers. Measured on the depthwise training case (31 taps, 16,000 samples):
/// its weight gradient took 34 ms that way against the forward pass's 25 ms (the same
/// multiply-adds), 26 ms in groups of four. With AVX-512's 32 registers, groups of eight took
/// 25-27 ms against 28-30 ms for groups of four, in alternated runs.
///
/// # Safety
/// As [`run`]'s.
#[inline(always)]
unsafe fn long_dots<T: Real, const FMA: bool, const K: usize>(
    x: &[T],
    w: &[T],
    y: &mut [MaybeUninit<T>],
    from: usize,
    out: Out,
) -> (usize, bool) {
    let m = w.len();
    let count = (y.len() - from) / K;
    let mut finite = true;
    for group in 0..count {
        let j = from + group * K;
        let xs = &x[j..j + m + K - 1];
        let sums = if T::BLOCK == 64 {
            dots::<T, 16, K, FMA>(xs, w)
        } else {
            dots::<T, 8, K, FMA>(xs, w)
        };
        for (slot, s) in y[j..j + K].iter_mut().zip(sums) {
            // SAFETY: the caller's promise.
            let v = unsafe { out.put(slot, s) };
            finite &= !out.check || v.is_finite();
        }
    }
    (from + count * K, finite)
}

/// Outputs computed together by [`long_dots`] with AVX2's 16 vector registers: eight vector
/// accumulators.
const DOTS: usize = 4;
/// The same with AVX-512's 32 registers: eight 512-bit accumulators.
const WIDE_DOTS: usize = 8;

/// `[Σ_i x[q + i] · w[i] for q in 0..K]`, `x` holding `w.len() + K - 1` values: each sum in `L`
/// lanes (16 f32 or 8 f64), each chunk of `w` loaded once for the `K` sums.
#[inline(always)]
fn dots<T: Real, const L: usize, const K: usize, const FMA: bool>(x: &[T], w: &[T]) -> [T; K] {
    let m = w.len();
    let chunks = m / L;
    let mut acc = [[T::zero(); L]; K];
    for c in 0..chunks {
        let i = c * L;
        let wv: &[T; L] = w[i..i + L].try_into().expect("a chunk of the kernel");
        for (q, a) in acc.iter_mut().enumerate() {
            let xv: &[T; L] = x[i + q..i + q + L].try_into().expect("a chunk of inputs");
            for l in 0..L {
                a[l] = madd::<T, FMA>(xv[l], wv[l], a[l]);
            }
        }
    }
    let mut sums = [T::zero(); K];
    for (q, (s, a)) in sums.iter_mut().zip(&acc).enumerate() {
        let mut tail = T::zero();
        for i in chunks * L..m {
            tail = madd::<T, FMA>(x[q + i], w[i], tail);
        }
        *s = a.iter().fold(T::zero(), |s, &v| s + v) + tail;
    }
    sums
}

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

/// Outputs `from..` in whole blocks of `B`; returns where the blocks end and whether the
/// values written are finite (where `out.check`).
///
/// # Safety
/// As [`run`]'s.
#[inline(always)]
unsafe fn blocks<T: Real, const B: usize, const FMA: bool>(
    x: &[T],
    w: &[T],
    y: &mut [MaybeUninit<T>],
    from: usize,
    out: Out,
) -> (usize, bool) {
    let m = w.len();
    let count = (y.len() - from) / B;
    // The check's lanes: `v · 0` is ±0 for a finite `v`, NaN otherwise. Wide blocks add it into
    // sixteen lanes with one fused multiply-add per vector (`v · 0 + check`: two AVX2 vectors
    // of f32, four of f64); blocks of 8 fold theirs into eight. On AVX2 at 3 taps, in
    // alternated pairs in one process, the fused form took 10-22% less time than a multiply
    // per vector folded as a tree (the same at 63 taps). One form for both (`chunks(16)`,
    // blocks of 8 in the first eight lanes) measured +31% at 3 taps: the wide blocks' check
    // was no longer vectorized.
    let mut check = [T::zero(); 8];
    let mut check16 = [T::zero(); 16];
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
        let ys = &mut y[j..j + B];
        if out.add {
            for (slot, a) in ys.iter_mut().zip(acc.iter_mut()) {
                // SAFETY: the caller's promise (`out.add`).
                *a = (unsafe { slot.assume_init() }) + *a;
            }
        }
        for (slot, &a) in ys.iter_mut().zip(acc.iter()) {
            slot.write(a);
        }
        if out.check && B >= 16 {
            for g in acc.chunks_exact(16) {
                for (c, &a) in check16.iter_mut().zip(g) {
                    *c = madd::<T, FMA>(a, T::zero(), *c);
                }
            }
        } else if out.check {
            for a in acc.iter_mut() {
                *a = *a * T::zero();
            }
            let mut s = B;
            while s > 8 {
                s /= 2;
                for q in 0..s {
                    acc[q] = acc[q] + acc[q + s];
                }
            }
            for q in 0..8.min(B) {
                check[q] = check[q] + acc[q];
            }
        }
    }
    (
        from + count * B,
        check.iter().chain(&check16).all(|v| !v.is_nan()),
    )
}

#[inline(always)]
fn madd<T: Real, const FMA: bool>(a: T, b: T, c: T) -> T {
    if FMA { a.mul_add(b, c) } else { a * b + c }
}

#[cfg(test)]
mod tests {
    use super::*;
    use realfft::num_traits::Float;

    const ADD: Out = Out {
        add: true,
        check: false,
    };

    /// Writing over uninitialised outputs gives the sums `correlate_into` adds, and the
    /// in-register check flags a NaN or an infinity wherever it lands: in a wide block, a
    /// block of 8 or a single output, written or added.
    #[test]
    fn written_sums_and_their_check() {
        fn case<T: Real + From<f32>>() {
            for isa in Isa::ALL.into_iter().filter(|isa| isa.available()) {
                for m in [1usize, 3, 31, 300] {
                    for len in [1usize, 9, 64, 140, 1000] {
                        let x: Vec<T> = (0..len + m - 1)
                            .map(|i| <T as From<f32>>::from(((i * 37 % 23) as f32 - 11.0) / 8.0))
                            .collect();
                        let w: Vec<T> = (0..m)
                            .map(|i| <T as From<f32>>::from(((i * 13 % 7) as f32 - 3.0) / 4.0))
                            .collect();
                        let mut want = vec![T::zero(); len];
                        correlate_with(isa, &x, &w, &mut want);
                        let mut y = vec![MaybeUninit::<T>::uninit(); len];
                        let (got, finite) = correlate_write(isa, &x, &w, &mut y, true);
                        assert!(finite, "{isa:?} m {m} len {len}");
                        assert_eq!(got, &want[..], "{isa:?} m {m} len {len}");
                        let x_finite = x.clone();
                        for bad in [
                            <T as Float>::nan(),
                            <T as Float>::infinity(),
                            <T as Float>::neg_infinity(),
                        ] {
                            for at in [0, len / 2, len - 1] {
                                let mut x = x.clone();
                                x[at] = bad;
                                let mut y = vec![MaybeUninit::<T>::uninit(); len];
                                assert!(!correlate_write(isa, &x, &w, &mut y, true).1);
                                // Unchecked, nothing is flagged.
                                assert!(correlate_write(isa, &x, &w, &mut y, false).1);
                                // Added to finite sums, or to a non-finite value already there.
                                let mut y = want.clone();
                                assert!(!unsafe {
                                    run(isa, &x, &w, as_uninit(&mut y), true, true)
                                });
                                let (x, mut y) = (x_finite.clone(), want.clone());
                                y[at] = bad;
                                assert!(!unsafe {
                                    run(isa, &x, &w, as_uninit(&mut y), true, true)
                                });
                            }
                        }
                    }
                }
            }
        }
        case::<f32>();
        case::<f64>();
    }

    #[test]
    fn both_copies_match_a_naive_loop() {
        for m in [1usize, 2, 3, 7, 8, 9, 31, 64, 65, 200, 256, 300, 1000] {
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
                // SAFETY: `portable` is initialised.
                unsafe { correlate_body::<f32, false>(&x, &w, as_uninit(&mut portable), ADD) };
                let (x64, w64): (Vec<f64>, Vec<f64>) = (
                    x.iter().map(|&v| f64::from(v)).collect(),
                    w.iter().map(|&v| f64::from(v)).collect(),
                );
                let mut got64 = vec![1.0f64; len];
                correlate_into(&x64, &w64, &mut got64);
                let mut portable64 = vec![1.0f64; len];
                // SAFETY: as above.
                unsafe {
                    correlate_body::<f64, false>(&x64, &w64, as_uninit(&mut portable64), ADD)
                };
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
