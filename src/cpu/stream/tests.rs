use super::*;

fn values(len: usize, seed: u64) -> Vec<f64> {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (s >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0
        })
        .collect()
}

/// `y[b, o, e] = Σ_i Σ_j h[o, i, j] x[b, g·C + i, e - j]`, zero before the signal.
fn naive(
    x: &[f64],
    n: usize,
    batch: usize,
    cin: usize,
    groups: usize,
    h: &[f64],
    [cout, cpg, m]: [usize; 3],
) -> Vec<f64> {
    let opg = cout / groups;
    let mut y = vec![0.0; batch * cout * n];
    for b in 0..batch {
        for o in 0..cout {
            let g = o / opg;
            for i in 0..cpg {
                let row = &x[(b * cin + g * cpg + i) * n..][..n];
                let k = &h[(o * cpg + i) * m..][..m];
                for e in 0..n {
                    let mut s = 0.0;
                    for j in 0..m.min(e + 1) {
                        s += k[j] * row[e - j];
                    }
                    y[(b * cout + o) * n + e] += s;
                }
            }
        }
    }
    y
}

#[test]
fn every_kernel_matches_the_definition_for_any_chunks() {
    for &(batch, cin, cout, groups, m) in &[
        (1, 1, 1, 1, 5),
        (1, 1, 1, 1, 100),
        (2, 1, 1, 1, 100),
        (1, 2, 1, 1, 100),
        (1, 1, 3, 1, 100),
        (2, 2, 3, 1, 100),
        (1, 4, 4, 2, 300),
        (1, 1, 1, 1, 700),
    ] {
        let cpg = cin / groups;
        let h = values(cout * cpg * m, 1);
        for first in [1usize, 7, 64, 256] {
            for kernel in [
                StreamKernel::Direct,
                StreamKernel::partitioned(m, first, false),
                StreamKernel::partitioned(m, first, true),
            ] {
                let n = 1500;
                let x = values(batch * cin * n, 2);
                let want = naive(&x, n, batch, cin, groups, &h, [cout, cpg, m]);
                let mut fir =
                    HostFir::<f64>::new(batch, cin, groups, h.clone(), [cout, cpg, m], kernel, 0);
                let mut got = vec![0.0; batch * cout * n];
                let mut at = 0;
                let mut step = 0u64;
                while at < n {
                    let c = if step == 0 {
                        first
                    } else {
                        ((step * 7919) % 97) as usize
                    }
                    .min(n - at);
                    step += 1;
                    let chunk: Vec<f64> = (0..batch * cin)
                        .flat_map(|r| x[r * n + at..][..c].to_vec())
                        .collect();
                    let y = fir.ingest(&chunk, c);
                    for r in 0..batch * cout {
                        got[r * n + at..][..c].copy_from_slice(&y[r * c..][..c]);
                    }
                    at += c;
                }
                for (i, (g, w)) in got.iter().zip(&want).enumerate() {
                    assert!(
                        (g - w).abs() < 1e-9,
                        "{kernel:?} first {first} shape {:?} index {i} (row {}, e {}): {g} vs {w}",
                        (batch, cin, cout, groups, m),
                        i / n,
                        i % n
                    );
                }
            }
        }
    }
}

/// NumPy's direct sum over the samples that exist (none before position 0): its class by
/// the terms (NaN: a NaN term, `inf · 0`, or infinities of both signs; else `±inf` for
/// infinite terms of one sign), else its value in f64; and `Σ |finite terms|`.
fn numpy_sum(x: &[f64], h: &[f64], e: usize) -> (f64, f64) {
    let m = h.len();
    let (mut s, mut own, mut nan, mut pos, mut neg) = (0.0, 0.0, false, false, false);
    for j in 0..m.min(e + 1) {
        let t = h[j] * x[e - j];
        if t.is_nan() {
            nan = true;
        } else if t == f64::INFINITY {
            pos = true;
        } else if t == f64::NEG_INFINITY {
            neg = true;
        } else {
            s += t;
            own += t.abs();
        }
    }
    let class = if nan || (pos && neg) {
        f64::NAN
    } else if pos {
        f64::INFINITY
    } else if neg {
        f64::NEG_INFINITY
    } else {
        s
    };
    (class, own)
}

use proptest::prelude::*;

fn value() -> impl Strategy<Value = f32> {
    prop_oneof![
        8 => -1.0f32..1.0,
        1 => prop::sample::select(vec![f32::NAN, f32::INFINITY, f32::NEG_INFINITY, 3e38, -3e38, 1e30, 1e-30, 0.0]),
        1 => (-1.0f32..1.0).prop_map(|v| v * 1e12),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    /// Every kernel of the stream (direct, partitioned with and without the guard), f32,
    /// against NumPy's sum in f64 over random chunks: NaN and infinities exactly where
    /// the sum has them, and, for the direct kernel and the guarded partitioned one, within
    /// a small multiple of f32's epsilon times the sum of each output's own terms.
    #[test]
    fn streams_keep_numpys_sum(
        m in 1usize..300,
        x in prop::collection::vec(value(), 1..700),
        h_seed in any::<u64>(),
        special_tap in prop::option::of((0usize..300, prop::sample::select(vec![f32::NAN, f32::INFINITY, 1e20]))),
        chunks in prop::collection::vec(0usize..90, 1..40),
        which in 0usize..3,
    ) {
        let mut h: Vec<f32> = values(m, h_seed).into_iter().map(|v| v as f32).collect();
        if let Some((k, v)) = special_tap
            && k < m
        {
            h[k] = v;
        }
        let first = chunks[0].max(1);
        let kernel = match which {
            0 => StreamKernel::Direct,
            1 => StreamKernel::partitioned(m, first, true),
            _ => StreamKernel::partitioned(m, first, false),
        };
        let n = x.len();
        let mut fir = HostFir::<f32>::new(1, 1, 1, h.clone(), [1, 1, m], kernel, 0);
        let mut got = Vec::with_capacity(n);
        let mut at = 0;
        let mut k = 0;
        while at < n {
            let c = chunks[k % chunks.len()].min(n - at);
            k += 1;
            // An empty push is a case of its own, but a list of nothing else would never
            // end: after one round of them, the rest comes in one chunk.
            let c = if k > chunks.len() && chunks.iter().all(|&c| c == 0) { n - at } else { c };
            got.extend(fir.ingest(&x[at..at + c], c));
            at += c;
        }
        let (x64, h64): (Vec<f64>, Vec<f64>) = (x.iter().map(|&v| f64::from(v)).collect(), h.iter().map(|&v| f64::from(v)).collect());
        for (e, &g) in got.iter().enumerate() {
            let (want, own) = numpy_sum(&x64, &h64, e);
            if want.is_nan() {
                prop_assert!(g.is_nan(), "{kernel:?} M={m} e={e}: got {g}, NumPy NaN");
                continue;
            }
            if own > 1e37 {
                // Partial sums near f32's overflow: NumPy's own f32 result depends on the
                // order of its sum. Nothing to compare.
                continue;
            }
            if want.is_infinite() {
                prop_assert!(g == want as f32, "{kernel:?} M={m} e={e}: got {g}, NumPy {want}");
                continue;
            }
            prop_assert!(g.is_finite(), "{kernel:?} M={m} e={e}: got {g}, NumPy {want}");
            if which < 2 {
                let tol = 64.0 * f64::from(f32::EPSILON) * own.max(f64::MIN_POSITIVE) + 1e-30;
                prop_assert!((f64::from(g) - want).abs() <= tol.max(own * 1e-6 * f64::from(f32::EPSILON)),
                    "{kernel:?} M={m} e={e}: got {g}, NumPy {want}, own terms {own}");
            }
        }
    }
}
