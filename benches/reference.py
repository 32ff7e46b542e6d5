#!/usr/bin/env python3
"""Times np.convolve, scipy.signal.convolve(method="auto") and scipy.signal.oaconvolve on the
grid of benches/convolve.rs (one signal, N x M x mode), in float32 and in float64 (NumPy's
default dtype), and writes benches/results/reference.json. Run it on the same machine, right
after `cargo bench`:

    pip install numpy scipy matplotlib
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python3 benches/reference.py
"""
import json
import os
import pathlib
import sys
import timeit

import numpy as np
import scipy
import scipy.signal

NS = [1_000, 10_000, 100_000, 1_000_000]
MS = [3, 15, 63, 255, 1023, 4095]
MODES = ["valid", "same", "full"]
OUT = pathlib.Path(__file__).with_name("results") / "reference.json"


def best_time(fn):
    """Median of 5 repeats of a batch of calls lasting about 0.1 s (seconds per call)."""
    timer = timeit.Timer(fn)
    one = timer.timeit(number=1)
    number = max(1, int(0.1 / max(one, 1e-7)))
    runs = [t / number for t in timer.repeat(repeat=5, number=number)]
    return sorted(runs)[len(runs) // 2]


def grid(dtype, rng):
    results = {}
    total = sum(1 for n in NS for m in MS if m <= n) * len(MODES)
    done = 0
    for mode in MODES:
        for n in NS:
            for m in MS:
                if m > n:
                    continue
                x = rng.standard_normal(n).astype(dtype)
                v = rng.standard_normal(m).astype(dtype)
                key = f"{mode}-N{n}-M{m}"
                results[key] = {
                    "np.convolve": best_time(lambda: np.convolve(x, v, mode)),
                    "scipy.signal.convolve": best_time(lambda: scipy.signal.convolve(x, v, mode, method="auto")),
                    "scipy.signal.oaconvolve": best_time(lambda: scipy.signal.oaconvolve(x, v, mode)),
                }
                done += 1
                best = min(results[key].values())
                print(f"[{np.dtype(dtype).name} {done}/{total}] {key}: best reference {best * 1e3:.3f} ms", flush=True)
    return results


def main():
    rng = np.random.default_rng(0)
    results = grid(np.float32, rng)
    results64 = grid(np.float64, rng)
    doc = {
        "numpy_version": np.__version__,
        "scipy_version": scipy.__version__,
        "python_version": sys.version.split()[0],
        "openblas_env": {k: os.environ.get(k) for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")},
        "seconds": results,
        "seconds_f64": results64,
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(doc, indent=1) + "\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
