#!/usr/bin/env python3
"""Times scipy.signal.convolve(method="auto"), fftconvolve, oaconvolve, convolve2d (2-D) and
PyTorch's conv2d/conv3d on CPU with 2 threads on the grid of benches/signal.rs ("same" mode,
f32 and f64), then writes docs/SIGNAL_PERFORMANCE.md from both. On the separable points
(`sep2d`, `sep3d`: a kernel that is the outer product of one factor per axis) the references
are the same functions on the whole kernel, and also SciPy's convolve and PyTorch's conv one
axis at a time (a 1-D-shaped kernel per axis, as a SciPy user would separate it by hand). Run right after the Rust
bench, on the same machine:

    cargo bench --bench signal --features ndarray
    pip install numpy scipy torch
    python3 benches/signal_reference.py

A reference that would need more than about 5e9 multiply-adds of a direct sum (convolve2d,
PyTorch) is skipped at that point: it cannot finish in a few seconds.
"""
import json
import pathlib
import platform
import sys
import timeit

import numpy as np
import scipy
import scipy.signal

try:
    import torch

    torch.set_num_threads(2)
except ImportError:  # the table then has no PyTorch column
    torch = None

ROOT = pathlib.Path(__file__).resolve().parent.parent
OURS = ROOT / "benches" / "results" / "signal.json"
OUT_JSON = ROOT / "benches" / "results" / "signal_reference.json"
DOC = ROOT / "docs" / "SIGNAL_PERFORMANCE.md"
DIRECT_LIMIT = 5e9


def best_time(fn):
    """Median of 5 repeats of a batch of calls lasting about 0.2 s (seconds per call)."""
    timer = timeit.Timer(fn)
    one = timer.timeit(number=1)
    number = max(1, int(0.2 / max(one, 1e-7)))
    repeat = 5 if one < 2 else 3
    runs = [t / number for t in timer.repeat(repeat=repeat, number=number)]
    return sorted(runs)[len(runs) // 2]


def references(rank, n, m, dtype, rng):
    x = rng.standard_normal((n,) * rank).astype(dtype)
    k = rng.standard_normal((m,) * rank).astype(dtype)
    out = {
        "scipy.signal.convolve": best_time(lambda: scipy.signal.convolve(x, k, "same", method="auto")),
        "scipy.signal.fftconvolve": best_time(lambda: scipy.signal.fftconvolve(x, k, "same")),
        "scipy.signal.oaconvolve": best_time(lambda: scipy.signal.oaconvolve(x, k, "same")),
    }
    macs = float(n) ** rank * float(m) ** rank
    if rank == 2 and macs <= DIRECT_LIMIT:
        out["scipy.signal.convolve2d"] = best_time(lambda: scipy.signal.convolve2d(x, k, "same"))
    if torch is not None and macs <= DIRECT_LIMIT:
        tx = torch.from_numpy(x)[None, None]
        tk = torch.from_numpy(np.ascontiguousarray(k[(slice(None, None, -1),) * rank]))[None, None]
        conv = torch.nn.functional.conv2d if rank == 2 else torch.nn.functional.conv3d

        def run():
            with torch.no_grad():
                return conv(tx, tk, padding="same").numpy()

        out["torch conv (2 threads)"] = best_time(run)
    return out


def separable_references(rank, n, m, dtype, rng):
    """The whole kernel's references, and the passes one axis at a time."""
    x = rng.standard_normal((n,) * rank).astype(dtype)
    f = rng.standard_normal(m).astype(dtype)
    k = f
    for _ in range(rank - 1):
        k = np.multiply.outer(k, f)
    out = {}
    macs = float(n) ** rank * float(m) ** rank
    # The whole kernel's FFT references (the direct ones only where they finish).
    out["scipy.signal.convolve"] = best_time(lambda: scipy.signal.convolve(x, k, "same", method="auto"))
    out["scipy.signal.fftconvolve"] = best_time(lambda: scipy.signal.fftconvolve(x, k, "same"))
    out["scipy.signal.oaconvolve"] = best_time(lambda: scipy.signal.oaconvolve(x, k, "same"))
    if rank == 2 and macs <= DIRECT_LIMIT:
        out["scipy.signal.convolve2d"] = best_time(lambda: scipy.signal.convolve2d(x, k, "same"))
    shapes = [tuple(m if a == axis else 1 for a in range(rank)) for axis in range(rank)]

    def scipy_passes():
        y = x
        for s in shapes:
            y = scipy.signal.convolve(y, f.reshape(s), "same", method="auto")
        return y

    out["scipy.signal.convolve per axis"] = best_time(scipy_passes)
    if torch is not None:
        conv = torch.nn.functional.conv2d if rank == 2 else torch.nn.functional.conv3d
        tx = torch.from_numpy(x)[None, None]
        tks = [torch.from_numpy(np.ascontiguousarray(f[::-1]).reshape(s))[None, None] for s in shapes]

        def torch_passes():
            with torch.no_grad():
                y = tx
                for tk in tks:
                    y = conv(y, tk, padding="same")
                return y.numpy()

        out["torch conv per axis (2 threads)"] = best_time(torch_passes)
    return out


SCIPY_PEAK = """
import numpy as np, scipy.signal
rng = np.random.default_rng(0)
x = rng.standard_normal((256,) * 3, dtype=np.float32)
k = rng.standard_normal((31,) * 3, dtype=np.float32)
y = scipy.signal.{fn}(x, k, "same")
print(float(y.sum()))
"""


def peak_kib(cmd):
    """Peak resident set size of `cmd` in KiB, by GNU time (None without it)."""
    import shutil
    import subprocess
    if shutil.which("/usr/bin/time") is None:
        return None
    run = subprocess.run(["/usr/bin/time", "-f", "PEAK %M", *cmd], capture_output=True, text=True, cwd=ROOT)
    for line in run.stderr.splitlines():
        if line.startswith("PEAK "):
            return int(line.split()[1])
    return None


def memory_section():
    """Peak memory of the 256³ f32 volume with a 31³ kernel (`same`): ours by
    `examples/fft_memory.rs volume` (flex, `Method::Auto`), SciPy's FFT functions in a
    process of their own; and the same processes' baseline (the arrays made, no call)."""
    import subprocess
    build = subprocess.run(["cargo", "build", "--release", "--quiet", "--example", "fft_memory"], cwd=ROOT)
    if build.returncode != 0:
        return []
    mib = lambda kib: "–" if kib is None else f"{kib / 1024:.0f} MiB"
    data = 2 * 256 ** 3 * 4 / 2 ** 20
    rows = [("burn_npconv `signal::convolve` (flex, Auto)",
             peak_kib(["target/release/examples/fft_memory", "volume"]))]
    for fn in ["fftconvolve", "oaconvolve"]:
        rows.append((f"scipy.signal.{fn}", peak_kib([sys.executable, "-c", SCIPY_PEAK.format(fn=fn)])))
    base = peak_kib([sys.executable, "-c", SCIPY_PEAK.replace("y = scipy.signal.{fn}(x, k, \"same\")", "y = x")])
    out = ["\n## Peak memory\n",
           f"A 256³ f32 volume with a 31³ kernel, `same`: input plus output {data:.0f} MiB. Peak resident set "
           "size of a process doing one call (GNU time), whole process included.\n",
           "| call | peak | peak / (input + output) |", "|---|---|---|"]
    for name, kib in rows:
        ratio = "–" if kib is None else f"{kib / 1024 / data:.2f}x"
        out.append(f"| {name} | {mib(kib)} | {ratio} |")
    out.append(f"\nThe Python process with its two arrays and no call peaks at {mib(base)}.")
    print("\n".join(out), flush=True)
    return out


def fmt(s):
    if s is None:
        return "–"
    return f"{s * 1e3:.2f} ms" if s >= 1e-3 else f"{s * 1e6:.0f} µs"


def main():
    ours = json.loads(OURS.read_text())
    rng = np.random.default_rng(0)
    seconds = {}
    keys = sorted({k.split("/", 2)[2] for k in ours})
    for dt, dtype in [("f32", np.float32), ("f64", np.float64)]:
        for key in keys:
            kind, n, m = key.split("-")
            rank = 2 if kind.endswith("2d") else 3
            refs = separable_references if kind.startswith("sep") else references
            seconds[f"{dt}/{key}"] = refs(rank, int(n), int(m), dtype, rng)
            best = min(seconds[f"{dt}/{key}"].values())
            print(f"{dt}/{key}: best reference {best * 1e3:.2f} ms", flush=True)
    OUT_JSON.write_text(json.dumps({
        "numpy_version": np.__version__,
        "scipy_version": scipy.__version__,
        "torch_version": None if torch is None else torch.__version__,
        "python": platform.python_version(),
        "seconds": seconds,
    }, indent=1))
    lines = []
    say = lines.append
    say("# N-D performance: `burn_npconv::signal` against SciPy and PyTorch\n")
    say("`signal::convolve(image, kernel, \"same\")`, `Method::Auto`, random normal values, output read back to host "
        "memory; the references on the same arrays in one run, right after the Rust bench, on one machine "
        f"(2 cores). NumPy {np.__version__}, SciPy {scipy.__version__}"
        + ("" if torch is None else f", PyTorch {torch.__version__} (CPU, 2 threads)") + ". "
        "Ratio = best reference / flex (> 1: flex is faster). Produced by:\n")
    say("```text\ncargo bench --bench signal --features ndarray\npython3 benches/signal_reference.py\n```\n")
    misses = {"flex no slower than the best reference": [], "flex >= 2x the best reference (>= 7 taps per axis)": [],
              "ndarray no slower than scipy.signal.convolve": []}
    for dt in ["f32", "f64"]:
        say(f"\n## {dt}\n")
        say("| input | kernel | flex | ndarray | best reference | ratio flex | ndarray vs scipy.signal.convolve |")
        say("|---|---|---|---|---|---|---|")
        for key in [k for k in keys if not k.startswith("sep")]:
            kind, n, m = key.split("-")
            rank = 2 if kind == "2d" else 3
            refs = seconds[f"{dt}/{key}"]
            best_name, best = min(refs.items(), key=lambda kv: kv[1])
            flex = ours.get(f"flex/{dt}/{key}")
            nd = ours.get(f"ndarray/{dt}/{key}")
            ratio = best / flex if flex else None
            ratio_nd = refs["scipy.signal.convolve"] / nd if nd else None
            x = lambda v: "–" if v is None else f"{v:.2f}x"
            shape = "×".join([n] * rank)
            ker = "×".join([m] * rank)
            say(f"| {shape} | {ker} | {fmt(flex)} | {fmt(nd)} | {fmt(best)} ({best_name}) | {x(ratio)} | {x(ratio_nd)} |")
            if ratio is not None and ratio < 1.0:
                misses["flex no slower than the best reference"].append(f"{dt} {shape} * {ker} ({ratio:.2f}x)")
            if ratio is not None and int(m) >= 7 and ratio < 2.0:
                misses["flex >= 2x the best reference (>= 7 taps per axis)"].append(f"{dt} {shape} * {ker} ({ratio:.2f}x)")
            if ratio_nd is not None and ratio_nd < 1.0:
                misses["ndarray no slower than scipy.signal.convolve"].append(f"{dt} {shape} * {ker} ({ratio_nd:.2f}x)")
    say("\n## Separable kernels\n")
    say("`signal::convolve_separable(image, [k; D], \"same\")` (a kernel given as one factor per axis: its outer "
        "product is the kernel SciPy is given), `Method::Auto`, against the references on the whole kernel and "
        "one axis at a time.\n")
    for dt in ["f32", "f64"]:
        say(f"\n### {dt}\n")
        say("| input | kernel | flex | ndarray | best reference | ratio flex |")
        say("|---|---|---|---|---|---|")
        for key in [k for k in keys if k.startswith("sep")]:
            kind, n, m = key.split("-")
            rank = 2 if kind == "sep2d" else 3
            refs = seconds[f"{dt}/{key}"]
            best_name, best = min(refs.items(), key=lambda kv: kv[1])
            flex = ours.get(f"flex/{dt}/{key}")
            nd = ours.get(f"ndarray/{dt}/{key}")
            ratio = "–" if flex is None else f"{best / flex:.2f}x"
            say(f"| {'×'.join([n] * rank)} | {'×'.join([m] * rank)} (factors) | {fmt(flex)} | {fmt(nd)} | "
                f"{fmt(best)} ({best_name}) | {ratio} |")
    lines.extend(memory_section())
    say("\n## Targets\n")
    for target, miss in misses.items():
        say(f"- {target}: " + ("met at every measured point" if not miss else f"missed at {len(miss)} points: " + "; ".join(miss)))
    DOC.write_text("\n".join(lines) + "\n")
    print(f"wrote {DOC}")


if __name__ == "__main__":
    sys.exit(main())
