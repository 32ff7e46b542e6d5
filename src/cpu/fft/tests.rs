use super::*;
use crate::guard::measure::{PARALLEL_RANGE, range, range_of_row};

/// The sums and the check of every copy of [`add_checked`] (AVX2 with its fused check, the
/// plain loop, unchecked): the same sums as a plain loop, and "finite" exactly when every
/// sum is: NaN, ±inf and overflowing sums at every position class (lanes of the 64-value
/// loop, its remainder), f32 into f32 and f64 into f32.
#[test]
fn added_sums_are_checked_wherever_they_go_non_finite() {
    fn case<T: Real, U: Real>(len: usize, at: Option<(usize, U)>) {
        let mut src: Vec<U> = (0..len).map(|i| to(((i * 7) % 13) as f64 - 6.0)).collect();
        let dst0: Vec<T> = (0..len).map(|i| to((i % 5) as f64 * 0.25)).collect();
        if let Some((i, v)) = at {
            src[i] = v;
        }
        let expected: Vec<T> = dst0.iter().zip(&src).map(|(&d, &s)| d + to(s)).collect();
        let finite = expected.iter().all(|v| v.is_finite());
        type Add<'a, T> = Box<dyn Fn(&mut [T]) -> bool + 'a>;
        let mut copies: Vec<(&str, Add<T>)> = vec![
            (
                "portable",
                Box::new(|d| add_checked_body::<T, U, false>(d, &src, true)),
            ),
            ("unchecked", Box::new(|d| add_checked(d, &src, false))),
            ("dispatched", Box::new(|d| add_checked(d, &src, true))),
        ];
        #[cfg(target_arch = "x86_64")]
        if super::super::simd::Isa::detected() != super::super::simd::Isa::Portable {
            // SAFETY: `detected` checked AVX2 and FMA.
            copies.push((
                "avx2",
                Box::new(|d| unsafe { add_checked_avx2(d, &src, true) }),
            ));
        }
        for (name, add) in copies {
            let mut dst = dst0.clone();
            let ok = add(&mut dst);
            let what = format!("{name}: len {len}, {at:?}");
            for (a, b) in dst.iter().zip(&expected) {
                assert!(
                    a == b || (a.is_nan() && b.is_nan()),
                    "{what}: {a:?} against {b:?}"
                );
            }
            assert_eq!(ok, finite || name == "unchecked", "{what}");
        }
    }
    for len in [1usize, 63, 64, 65, 200, 1000] {
        let positions = [0, len / 2, len - 1];
        case::<f32, f32>(len, None);
        case::<f32, f64>(len, None);
        case::<f64, f64>(len, None);
        for &i in &positions {
            for v in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY, f32::MAX] {
                case::<f32, f32>(len, Some((i, v)));
            }
            // An f64 sum too large for f32 becomes inf when stored.
            for v in [f64::NAN, f64::INFINITY, 1e39] {
                case::<f32, f64>(len, Some((i, v)));
            }
            for v in [f64::NAN, f64::NEG_INFINITY, f64::MAX] {
                case::<f64, f64>(len, Some((i, v)));
            }
        }
    }
}

/// The split pass gives the one-thread pass's range, and refuses NaN and ±inf in either
/// half.
#[test]
fn a_split_row_has_the_rows_range() {
    let len = PARALLEL_RANGE + 12_345;
    let mut row: Vec<f32> = (0..len)
        .map(|i| ((i * 7919 % 1009) as f32 - 504.0) / 97.0)
        .collect();
    row[len / 3] = 3.0e4; // a spike in the first half
    row[len / 2 + 1000..len / 2 + 3000].fill(1e-6); // a quiet stretch in the second
    for chunk in [1usize, 7, 16, 127, 2047] {
        assert_eq!(
            range_of_row(&row, chunk),
            range(&row, chunk),
            "chunk {chunk}"
        );
    }
    for at in [10, len - 10] {
        for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
            let mut r = row.clone();
            r[at] = bad;
            assert_eq!(range_of_row(&r, 127), None, "{bad} at {at}");
        }
    }
}

/// The guard's signal range as measured inside the FFT ([`conv_guarded`]) and as its own
/// pass ([`range_of_row`]) on a signal with a quiet stretch at `quiet`, `(max / min mean,
/// max)` for both (`None` if refused).
fn both_ranges(
    n: usize,
    m: usize,
    [batch, cin]: [usize; 2],
    quiet: Option<(usize, usize)>,
    bad: Option<(usize, f32)>,
) -> [Option<(f64, f64)>; 2] {
    use crate::mode::{Mode, Operation};
    let d = Geometry::numpy(
        [batch, cin, n],
        [1, cin, m],
        1,
        Mode::Full,
        Operation::Convolution,
    );
    let mut x: Vec<f32> = (0..batch * cin * n)
        .map(|i| ((i * 7919 % 1009) as f32 - 504.0) / 97.0)
        .collect();
    if let Some((at, len)) = quiet {
        for row in x.chunks_mut(n) {
            row[at..at + len].iter_mut().for_each(|v| *v *= 1e-4);
        }
    }
    if let Some((at, v)) = bad {
        x[at] = v;
    }
    let wk: Vec<f32> = (0..cin * m).map(|i| (i % 5) as f32 - 2.0).collect();
    let chunk = effective_chunk((m / 2).max(1), n);
    let f = FftLens::of(&d, burn::tensor::DType::F32).input;
    let ranges = conv_measured::<f32, f32>(&x, &wk, &d, f, Some(chunk), true).2;
    let fused = signal_range(&x, &d, chunk, f - m + 1, ranges);
    let own = x.chunks(n).try_fold((0.0f64, 0.0f64), |(q, mx), row| {
        let (max, min_mean) = range_of_row(row, chunk)?;
        Some((q.max(max / min_mean), mx.max(max)))
    });
    [fused, own]
}

fn assert_same(what: &str, [fused, own]: [Option<(f64, f64)>; 2]) {
    match (fused, own) {
        (Some((q1, m1)), Some((q2, m2))) => {
            assert_eq!(m1, m2, "{what}: max");
            assert!((q1 - q2).abs() <= 1e-5 * q2, "{what}: q {q1} against {q2}");
        }
        (a, b) => assert_eq!(a.is_some(), b.is_some(), "{what}: {a:?} against {b:?}"),
    }
}

/// The measurement the FFT makes of its blocks is the guard's own pass: quiet stretches
/// inside a block, across a block boundary (the chunk the two blocks share) and at the
/// row's end, NaN and infinities, several rows.
#[test]
fn the_fft_measures_what_the_guard_does() {
    for (n, m) in [(20_000usize, 255usize), (70_001, 1023), (9_999, 64)] {
        let d = Geometry::numpy(
            [1, 1, n],
            [1, 1, m],
            1,
            crate::mode::Mode::Full,
            crate::mode::Operation::Convolution,
        );
        let block = FftLens::of(&d, burn::tensor::DType::F32).input - m + 1;
        let chunk = effective_chunk(m / 2, n);
        assert!(block > chunk && n > 2 * block, "N={n} M={m}: block {block}");
        let mut quiets = vec![
            None,
            Some((n / 3, 2 * chunk)),
            Some((n - chunk - 5, chunk + 5)),
        ];
        for k in 1..=2 {
            // A stretch of one chunk around the k-th boundary, and ones shifted off it.
            for shift in [0, 1, chunk / 2, chunk - 1] {
                let p = k * block;
                quiets.push(Some((p - chunk / 2 + shift, chunk)));
                quiets.push(Some((p - shift, chunk)));
            }
        }
        for quiet in quiets {
            for rows in [[1, 1], [2, 3]] {
                let what = format!("N={n} M={m} quiet {quiet:?} rows {rows:?}");
                assert_same(&what, both_ranges(n, m, rows, quiet, None));
            }
        }
        for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
            for at in [0, block - 1, block, n - 1, 2 * n - 1] {
                let what = format!("N={n} M={m} {bad} at {at}");
                let r = both_ranges(n, m, [2, 1], None, Some((at, bad)));
                assert_eq!(r[0], None, "{what}");
                assert_same(&what, r);
            }
        }
    }
}
