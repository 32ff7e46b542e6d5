//! The FFT kernel: overlap-add with `realfft`, blocks sized by the cost model
//! ([`crate::cost::fft_len`]), each thread owning a disjoint range of the output.

use std::sync::{Arc, Mutex, OnceLock};

use rayon::prelude::*;
use realfft::num_complex::Complex;
use realfft::{ComplexToReal, RealFftPlanner, RealToComplex};

use super::SERIAL_FFT_POINTS;
use crate::cost::fft_len;
use crate::mode::Geometry;

fn planner() -> &'static Mutex<RealFftPlanner<f32>> {
    static PLANNER: OnceLock<Mutex<RealFftPlanner<f32>>> = OnceLock::new();
    PLANNER.get_or_init(|| Mutex::new(RealFftPlanner::new()))
}

fn plans(f: usize) -> (Arc<dyn RealToComplex<f32>>, Arc<dyn ComplexToReal<f32>>) {
    let mut planner = planner().lock().unwrap_or_else(|e| e.into_inner());
    (planner.plan_fft_forward(f), planner.plan_fft_inverse(f))
}

pub(super) fn conv(x: &[f32], wk: &[f32], d: &Geometry) -> Vec<f32> {
    let (l, cpg, opg, m, n) = (d.out_len(), d.cpg(), d.opg(), d.m, d.n);
    let f = fft_len(n, m, cpg, opg);
    let bins = f / 2 + 1;
    let block = f - m + 1;
    let start = d.full_start(); // full-output index of output 0
    let (r2c, c2r) = plans(f);
    let scale = 1.0 / f as f32;

    let n_blocks = n.div_ceil(block);
    let units = d.batch * d.groups;
    // Transforms of `f` points, over every input and output channel.
    let transforms = units * n_blocks.min(l.div_ceil(block) + 1) * (cpg + opg);
    let serial = transforms * f < SERIAL_FFT_POINTS;
    // Spectra of the true-convolution kernels h = reverse(wk), scaled for the inverse.
    let spectrum = |k: &[f32]| {
        let mut buf = vec![0.0f32; f];
        for (dst, &v) in buf.iter_mut().zip(k.iter().rev()) {
            *dst = v * scale;
        }
        let mut spec = r2c.make_output_vec();
        let mut scratch = r2c.make_scratch_vec();
        r2c.process_with_scratch(&mut buf, &mut spec, &mut scratch)
            .expect("forward FFT of a kernel");
        spec
    };
    let spectra: Vec<Complex<f32>> = if wk.len() / m * f < SERIAL_FFT_POINTS {
        wk.chunks(m).flat_map(spectrum).collect()
    } else {
        wk.par_chunks(m).flat_map_iter(spectrum).collect()
    };
    let threads = rayon::current_num_threads().max(1);
    // Pieces per unit: disjoint output ranges, each computing the blocks that reach it (the
    // blocks straddling two pieces are transformed twice).
    let pieces = if serial || units >= 2 * threads {
        1
    } else {
        (2 * threads).div_ceil(units)
    };
    let piece_len = l.div_ceil(pieces).max(4 * block).min(l);

    // `out`: `[batch, cout, l]`; the rows of unit (b, g) are rows `g·opg..(g+1)·opg` of
    // sample `b`, so each unit owns a contiguous run of `opg · l` values.
    let mut out = vec![0.0f32; d.batch * d.cout * l];
    let mut work: Vec<(usize, usize, Vec<&mut [f32]>)> = Vec::new();
    for (unit, rows) in out.chunks_mut(opg * l).enumerate() {
        let mut split: Vec<_> = rows
            .chunks_mut(l)
            .map(|r| r.chunks_mut(piece_len))
            .collect();
        for p in 0..l.div_ceil(piece_len) {
            let slices = split
                .iter_mut()
                .map(|it| it.next().expect("one slice per piece"))
                .collect();
            work.push((unit, p * piece_len, slices));
        }
    }

    let run = |(unit, j0, mut rows): (usize, usize, Vec<&mut [f32]>)| {
        // `out` comes from `calloc`: write its pages before reading them (see the module docs
        // of `cpu`).
        for row in rows.iter_mut() {
            row.fill(0.0);
        }
        let (b, g) = (unit / d.groups, unit % d.groups);
        // The full-output range of this piece, and the input blocks that reach it.
        let (p0, p1) = (start + j0, start + j0 + rows[0].len());
        let k0 = (p0 + 1).saturating_sub(block + m - 1).div_ceil(block);
        let k1 = p1.div_ceil(block).min(n_blocks);
        let mut buf = vec![0.0f32; f];
        let mut xspec = vec![vec![Complex::new(0.0f32, 0.0); bins]; cpg];
        let mut acc = vec![Complex::new(0.0f32, 0.0); bins];
        let mut scratch_f = r2c.make_scratch_vec();
        let mut scratch_i = c2r.make_scratch_vec();
        for kb in k0..k1 {
            let x0 = kb * block;
            let x1 = (x0 + block).min(n);
            for (i, spec) in xspec.iter_mut().enumerate() {
                let row = &x[(b * d.cin + g * cpg + i) * n..][..n];
                buf[..x1 - x0].copy_from_slice(&row[x0..x1]);
                buf[x1 - x0..].fill(0.0);
                r2c.process_with_scratch(&mut buf, spec, &mut scratch_f)
                    .expect("forward FFT of a block");
            }
            // This block's outputs: full indices [x0, x0 + used), cut to [p0, p1).
            let used = (x1 - x0) + m - 1;
            let (lo, hi) = (x0.max(p0), (x0 + used).min(p1));
            for (a, row) in rows.iter_mut().enumerate() {
                let o = g * opg + a;
                acc.fill(Complex::new(0.0, 0.0));
                for (i, spec) in xspec.iter().enumerate() {
                    let h = &spectra[(o * cpg + i) * bins..][..bins];
                    for ((s, &xv), &hv) in acc.iter_mut().zip(spec).zip(h) {
                        *s += xv * hv;
                    }
                }
                // Real signals: the DC and Nyquist bins are real.
                acc[0].im = 0.0;
                acc[bins - 1].im = 0.0;
                c2r.process_with_scratch(&mut acc, &mut buf, &mut scratch_i)
                    .expect("inverse FFT of a block");
                if lo < hi {
                    let dst = &mut row[lo - p0..hi - p0];
                    for (y, &v) in dst.iter_mut().zip(&buf[lo - x0..hi - x0]) {
                        *y += v;
                    }
                }
            }
        }
    };
    if serial {
        work.into_iter().for_each(run);
    } else {
        work.into_par_iter().for_each(run);
    }
    out
}
