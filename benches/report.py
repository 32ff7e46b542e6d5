#!/usr/bin/env python3
"""Reads criterion's results (target/criterion) and benches/results/reference.json, prints per
grid point our time, the best reference time and their ratio as a Markdown table, checks the
targets, and draws time vs kernel length. Writes the tables into docs/PERFORMANCE.md, replacing
what lies between its `<!-- report.py: begin -->` and `<!-- report.py: end -->` lines (the text
around them is kept), and draws docs/bench.png. The training table (criterion's `train/` groups
and benches/results/torch_reference.json) goes between its own `<!-- report.py train: begin -->`
and `<!-- report.py train: end -->` lines, so that it can be measured again on its own:

    python3 benches/report.py           # every table
    python3 benches/report.py --train   # the training table only
"""
import json
import pathlib
import platform
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
CRITERION = ROOT / "target" / "criterion"
REFERENCE = ROOT / "benches" / "results" / "reference.json"
TORCH = ROOT / "benches" / "results" / "torch_reference.json"
REPORT = ROOT / "docs" / "PERFORMANCE.md"
BEGIN = "<!-- report.py: begin -->"
END = "<!-- report.py: end -->"
TRAIN_BEGIN = "<!-- report.py train: begin -->"
TRAIN_END = "<!-- report.py train: end -->"
PLOT = ROOT / "docs" / "bench.png"
BACKENDS = ("flex", "ndarray", "wgpu")


def load_criterion():
    """{(group, id): median seconds} from every benchmark criterion measured."""
    out = {}
    for bench in CRITERION.rglob("new/benchmark.json"):
        meta = json.loads(bench.read_text())
        est = json.loads((bench.parent / "estimates.json").read_text())
        group = meta["group_id"]
        ident = "/".join(p for p in (meta.get("function_id"), meta.get("value_str")) if p)
        out[(group, ident)] = est["median"]["point_estimate"] * 1e-9
    return out


def load_alternated():
    """{id: median ratio} of the bench's `scan/alternating` pairs (ids with `/` as `-`)."""
    out = {}
    for path in (CRITERION / "scan-alternating").glob("*.json"):
        meta = json.loads(path.read_text())
        out[path.stem] = meta["median_ratio"]
    return out


def replace_marked(document, generated, begin=BEGIN, end=END):
    """`document` with the lines strictly between its `begin` and `end` marker lines replaced
    by `generated`; everything else, the markers included, is kept as it is."""
    lines = document.splitlines(keepends=True)
    begins = [i for i, line in enumerate(lines) if line.strip() == begin]
    ends = [i for i, line in enumerate(lines) if line.strip() == end]
    if len(begins) != 1 or len(ends) != 1 or begins[0] > ends[0]:
        raise ValueError(f"expected one {begin!r} line followed by one {end!r} line, found "
                         f"{len(begins)} and {len(ends)}")
    if generated and not generated.endswith("\n"):
        generated += "\n"
    return "".join(lines[: begins[0] + 1]) + generated + "".join(lines[ends[0]:])


def fmt(seconds):
    if seconds is None:
        return "–"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds * 1e6:.0f} µs"


def main():
    ours = load_criterion()
    ref = json.loads(REFERENCE.read_text())
    lines = []
    say = lines.append
    say(f"Reference: NumPy {ref['numpy_version']}, SciPy {ref['scipy_version']}; ratio = best reference / ours (> 1: we are faster).\n")
    say("| mode | N | M | flex auto | ndarray auto | best reference | ratio flex | ratio ndarray vs np.convolve | direct / bare conv1d: flex, ndarray, wgpu |")
    say("|---|---|---|---|---|---|---|---|---|")
    misses = {"flex >= 1x": [], "flex >= 2x (M >= 31)": [], "ndarray >= np.convolve": []}
    measured = {k[0].split("/")[1] for k in ours if k[0].startswith("pair/")}
    misses.update({f"{b} direct within 5% of bare conv1d": [] for b in BACKENDS if b in measured})
    plot_rows = []
    for key, refs in ref["seconds"].items():
        mode, n, m = key.split("-")
        n, m = int(n[1:]), int(m[1:])
        best_name, best = min(refs.items(), key=lambda kv: kv[1])
        flex = ours.get(("grid/flex/auto", key))
        nd = ours.get(("grid/ndarray/auto", key))
        direct = ours.get(("grid/flex/direct", key))
        bare = ours.get(("pair/flex", f"conv1d/{key}"))
        ratio = best / flex if flex else None
        ratio_nd = refs["np.convolve"] / nd if nd else None
        overheads = {}
        for b in BACKENDS:
            d = ours.get((f"pair/{b}", f"direct/{key}"))
            c = ours.get((f"pair/{b}", f"conv1d/{key}"))
            overheads[b] = d / c if d and c else None
        def x(v, digits=2):
            return "–" if v is None else f"{v:.{digits}f}x"
        say(f"| {mode} | {n:,} | {m:,} | {fmt(flex)} | {fmt(nd)} | {fmt(best)} ({best_name}) | "
            f"{x(ratio)} | {x(ratio_nd)} | {', '.join(x(overheads[b]) for b in BACKENDS)} |")
        if ratio is not None and ratio < 1.0:
            misses["flex >= 1x"].append(f"{key} ({ratio:.2f}x)")
        if ratio is not None and m >= 31 and ratio < 2.0:
            misses["flex >= 2x (M >= 31)"].append(f"{key} ({ratio:.2f}x)")
        if ratio_nd is not None and ratio_nd < 1.0:
            misses["ndarray >= np.convolve"].append(f"{key} ({ratio_nd:.2f}x)")
        for b, overhead in overheads.items():
            if b in measured and overhead is not None and overhead > 1.05:
                misses[f"{b} direct within 5% of bare conv1d"].append(f"{key} ({overhead:.3f})")
        plot_rows.append((mode, n, m, flex, nd, refs, direct, bare))
    say("")
    for target, miss in [(t, m) for t, m in misses.items() if not (t.startswith("AVX") or "PyTorch" in t or "3.5x" in t)]:
        say(f"- target {target}: " + ("met at every measured point" if not miss else f"missed at {len(miss)} points: " + ", ".join(miss)))
    if "seconds_f64" in ref:
        say("\nfloat64 (NumPy's default dtype), `Method::Auto`; references on float64:\n")
        say("| mode | N | M | flex auto | ndarray auto | best reference | ratio flex | ratio ndarray vs np.convolve |")
        say("|---|---|---|---|---|---|---|---|")
        misses64 = {"f64 flex >= 1x": [], "f64 flex >= 2x (M >= 31)": [], "f64 ndarray >= np.convolve": []}
        for key, refs in ref["seconds_f64"].items():
            mode, n, m = key.split("-")
            n, m = int(n[1:]), int(m[1:])
            best_name, best = min(refs.items(), key=lambda kv: kv[1])
            flex = ours.get(("grid64/flex", key))
            nd = ours.get(("grid64/ndarray", key))
            ratio = best / flex if flex else None
            ratio_nd = refs["np.convolve"] / nd if nd else None
            x = lambda v: "–" if v is None else f"{v:.2f}x"
            say(f"| {mode} | {n:,} | {m:,} | {fmt(flex)} | {fmt(nd)} | {fmt(best)} ({best_name}) | {x(ratio)} | {x(ratio_nd)} |")
            if ratio is not None and ratio < 1.0:
                misses64["f64 flex >= 1x"].append(f"{key} ({ratio:.2f}x)")
            if ratio is not None and m >= 31 and ratio < 2.0:
                misses64["f64 flex >= 2x (M >= 31)"].append(f"{key} ({ratio:.2f}x)")
            if ratio_nd is not None and ratio_nd < 1.0:
                misses64["f64 ndarray >= np.convolve"].append(f"{key} ({ratio_nd:.2f}x)")
        say("")
        for target, miss in misses64.items():
            say(f"- target {target}: " + ("met at every measured point" if not miss else f"missed at {len(miss)} points: " + ", ".join(miss)))
    scan = {k[1]: v for k, v in ours.items() if k[0] == "scan"}
    alternated = load_alternated()

    def overhead(alt_id, without, with_):
        """The alternated pairs' median ratio (the measure to trust on a noisy machine), then
        the one from criterion's medians, taken minutes apart."""
        crit = f"{100 * (with_ - without) / without:+.1f}%"
        alt = alternated.get(alt_id)
        return f"{100 * (alt - 1):+.1f}% (criterion medians: {crit})" if alt else f"{crit} (criterion medians)"

    if scan:
        say("\nNaN/inf handling and Auto's accuracy scan on finite inputs, N = 1,000,000, f32 (overhead: median ratio of 201 alternated pairs of calls, `scan/alternating`):\n")
        say("| case | kernel | with the check or scan | overhead |")
        say("|---|---|---|---|")
        for m in (3, 63):
            d = scan.get(f"direct/N1000000-M{m}")
            k, c = scan.get(f"kernel/N1000000-M{m}"), scan.get(f"kernel-checked/N1000000-M{m}")
            du, dc = scan.get(f"direct-unchecked/N1000000-M{m}"), scan.get(f"direct-checked/N1000000-M{m}")
            if du and dc:
                say(f"| direct, M = {m} | the whole kernel (its threads, the output's allocation) without checking its sums: {fmt(du)} | checking them in registers {fmt(dc)} | {overhead(f'direct-check-N1000000-M{m}', du, dc)} |")
            if d and k and c:
                say(f"| direct, M = {m} | {fmt(d)} (checks included); its loop on one thread: {fmt(k)} | the loop with its check in registers {fmt(c)} | {overhead(f'kernel-check-N1000000-M{m}', k, c)} |")
        for m in (255, 4095):
            f, g = scan.get(f"fft/N1000000-M{m}"), scan.get(f"fft-guarded/N1000000-M{m}")
            a, s = scan.get(f"fft-alone/N1000000-M{m}"), scan.get(f"fft-measured/N1000000-M{m}")
            u = scan.get(f"fft-unchecked/N1000000-M{m}")
            if u and a:
                say(f"| FFT, M = {m} | {fmt(u)} without checking its sums | checking its sums for NaN and infinities as it stores them {fmt(a)} | {overhead(f'check-N1000000-M{m}', u, a)} |")
            if a and s:
                say(f"| FFT, M = {m} | {fmt(a)} (`cpu_conv` forced: {fmt(f)}, Auto's whole guarded path with its edge check: {fmt(g)}) | measuring the signal for Auto's accuracy guard as the FFT reads it {fmt(s)} | {overhead(f'guard-N1000000-M{m}', a, s)} |")
    simd = {k[0].split("/")[1]: {} for k in ours if k[0].startswith("simd/")}
    for (group, ident), v in ours.items():
        if group.startswith("simd/"):
            simd[group.split("/")[1]][ident] = v
    if simd:
        say("\nThe direct kernel's inner loop alone, one thread, 100,000 f32 outputs (GMAC/s per core):\n")
        isas = ["Avx512", "Avx2", "Portable"]
        say("| M | " + " | ".join(isas) + " | AVX-512 / AVX2 |")
        say("|---|" + "---|" * (len(isas) + 1))
        for mkey in sorted(simd, key=lambda k: int(k[1:])):
            m = int(mkey[1:])
            rates = {i: 100_000 * m / simd[mkey][i] / 1e9 for i in isas if i in simd[mkey]}
            ratio = rates["Avx512"] / rates["Avx2"] if "Avx512" in rates and "Avx2" in rates else None
            say(f"| {m} | " + " | ".join(f"{rates[i]:.1f}" if i in rates else "–" for i in isas)
                + f" | {'–' if ratio is None else f'{ratio:.2f}x'} |")
            if ratio is not None and m >= 31 and ratio < 1.6:
                misses.setdefault("AVX-512 >= 1.6x AVX2 (M >= 31)", []).append(f"M={m} ({ratio:.2f}x)")
        if not any("Avx512" in simd[mkey] for mkey in simd):
            # No AVX-512 on this CPU: nothing measured, so nothing met (or missed).
            misses["AVX-512 >= 1.6x AVX2 (M >= 31)"] = None
        misses.setdefault("AVX-512 >= 1.6x AVX2 (M >= 31)", [])
    say("")
    for target in [t for t in misses if t.startswith("AVX")]:
        miss = misses[target]
        if miss is None:
            say(f"- target {target}: not measured (this CPU has no AVX-512)")
            continue
        say(f"- target {target}: " + ("met at every measured point" if not miss else f"missed at {len(miss)} points: " + ", ".join(miss)))
    wgpu_keys = sorted({k[1] for k in ours if k[0].startswith("grid/wgpu/")},
                       key=lambda k: (int(k.split("-")[1][1:]), int(k.split("-")[2][1:])))
    if wgpu_keys:
        say("\nwgpu on Mesa's lavapipe (a CPU emulating a GPU: correctness, not speed), `same` mode:\n")
        say("| N | M | Burn conv1d (bare) | direct | fft (device) | auto |")
        say("|---|---|---|---|---|---|")
        for key in wgpu_keys:
            _, n, m = key.split("-")
            bare = ours.get(("pair/wgpu", f"conv1d/{key}"))
            # Direct next to bare conv1d from the same pair run; grid run otherwise.
            d = ours.get(("pair/wgpu", f"direct/{key}")) or ours.get(("grid/wgpu/direct", key))
            f, a = (ours.get((f"grid/wgpu/{meth}", key)) for meth in ("fft", "auto"))
            say(f"| {int(n[1:]):,} | {int(m[1:]):,} | {fmt(bare)} | {fmt(d)} | {fmt(f)} | {fmt(a)} |")
    batched = {k[1]: v for k, v in ours.items() if k[0].startswith("batched/")}
    if batched:
        say("\nBatched `[64, 16, 16000]`, depthwise 31 taps, same mode:\n")
        say("| backend | case | time |")
        say("|---|---|---|")
        for (group, ident), v in sorted(ours.items()):
            if group.startswith("batched/"):
                say(f"| {group.split('/')[1]} | {ident} | {fmt(v)} |")
    text = "\n".join(lines) + "\n"
    print(text)
    plot(plot_rows)
    write(text, BEGIN, END)
    write_training(ours)


def write(text, begin, end):
    """`text` written into docs/PERFORMANCE.md between the marker lines `begin` and `end`."""
    try:
        document = REPORT.read_text(encoding="utf-8")
        REPORT.write_text(replace_marked(document, text, begin, end), encoding="utf-8")
    except (OSError, ValueError) as e:
        raise SystemExit(f"{REPORT}: {e}; the tables above were not written")
    print(f"wrote the tables into {REPORT} ({begin})")


def machine():
    """This machine's CPU model, CPU count and widest vector extension, as Linux reports them."""
    try:
        info = pathlib.Path("/proc/cpuinfo").read_text()
    except OSError:
        return platform.processor() or platform.machine()
    model = next((l.split(":", 1)[1].strip() for l in info.splitlines() if l.startswith("model name")), "unknown CPU")
    cpus = sum(1 for l in info.splitlines() if l.startswith("processor"))
    flags = next((l.split(":", 1)[1].split() for l in info.splitlines() if l.startswith("flags")), [])
    isa = "AVX-512" if "avx512f" in flags else "AVX2" if "avx2" in flags else "no AVX2"
    return f"{model}, {cpus} CPUs, {isa}"


def write_training(ours):
    """The training table and its targets, from criterion's `train/` groups and PyTorch's
    times, written between the training markers."""
    lines = []
    say = lines.append
    misses = {}
    train = {k: v for k, v in ours.items() if k[0].startswith("train/")}
    if train and TORCH.exists():
        torch_ref = json.loads(TORCH.read_text())
        say(f"\nTraining step as users run it (`same` mode): the forward pass with its output read back (`into_data`); the step: forward, `y.sum().backward()`, both gradients taken with `grad` and read back (`into_data`); the stack: one Adam step on a depthwise layer, GELU and a dense layer, MSE loss read back. PyTorch {torch_ref['torch_version']} CPU with {torch_ref['threads']} threads does the same (its outputs and gradients are in host memory when its calls return):\n")
        say("| case | backend | method | forward | step | step / forward | PyTorch forward / step | speed-up forward / step |")
        say("|---|---|---|---|---|---|---|---|")
        tmiss = {"step <= 3.5x forward (auto)": [], "step >= 3x faster than PyTorch (auto)": [], "forward >= 3x faster than PyTorch (auto)": []}
        for case, t in torch_ref["seconds"].items():
            stack = "step" in t and case.startswith("depthwise31-gelu")
            for backend in ("flex", "ndarray"):
                for method in ("auto", "direct", "fft"):
                    group = f"train/{backend}/{method}"
                    f = ours.get((group, f"{'stack-forward' if stack else 'forward'}/{case}"))
                    st = ours.get((group, f"{'stack' if stack else 'step'}/{case}"))
                    if not f or not st:
                        continue
                    tf, ts = t["forward"], t["step"]
                    say(f"| {case} | {backend} | {method} | {fmt(f)} | {fmt(st)} | {st / f:.2f}x | {fmt(tf)} / {fmt(ts)} | {tf / f:.2f}x / {ts / st:.2f}x |")
                    if method != "auto":
                        continue
                    tag = f"{case} {backend}"
                    if st / f > 3.5:
                        tmiss["step <= 3.5x forward (auto)"].append(f"{tag} ({st / f:.2f}x)")
                    if ts / st < 3.0:
                        tmiss["step >= 3x faster than PyTorch (auto)"].append(f"{tag} ({ts / st:.2f}x)")
                    if tf / f < 3.0:
                        tmiss["forward >= 3x faster than PyTorch (auto)"].append(f"{tag} ({tf / f:.2f}x)")
        misses.update(tmiss)
    if not lines:
        print("no training results (criterion's train/ groups and benches/results/torch_reference.json): the training table was not written")
        return
    say(f"\nMeasured on: {machine()}.\n")
    for target, miss in misses.items():
        say(f"- target {target}: " + ("met at every measured point" if not miss else f"missed at {len(miss)} points: " + ", ".join(miss)))
    text = "\n".join(lines) + "\n"
    print(text)
    write(text, TRAIN_BEGIN, TRAIN_END)


def plot(rows):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib not installed: no plot")
        return
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    for ax, n in zip(axes, (100_000, 1_000_000)):
        sel = sorted((r for r in rows if r[0] == "same" and r[1] == n), key=lambda r: r[2])
        ms = [r[2] for r in sel]
        series = {
            "burn-npconv flex auto": [r[3] for r in sel],
            "burn-npconv ndarray auto": [r[4] for r in sel],
            "burn-npconv flex direct": [r[6] for r in sel],
            "Burn conv1d flex (bare)": [r[7] for r in sel],
            "np.convolve": [r[5]["np.convolve"] for r in sel],
            "scipy.signal.convolve": [r[5]["scipy.signal.convolve"] for r in sel],
            "scipy.signal.oaconvolve": [r[5]["scipy.signal.oaconvolve"] for r in sel],
        }
        for name, ys in series.items():
            pts = [(m, y * 1e3) for m, y in zip(ms, ys) if y]
            if pts:
                style = "-o" if name.startswith("burn") else ":^" if name.startswith("Burn") else "--s"
                ax.plot(*zip(*pts), style, label=name, markersize=4)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("kernel length M")
        ax.set_ylabel("time (ms)")
        ax.set_title(f"one f32 signal, N = {n:,}, mode same")
        ax.grid(True, which="both", alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    PLOT.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(PLOT, dpi=110)
    print(f"wrote {PLOT}")


if __name__ == "__main__":
    if sys.argv[1:] == ["--train"]:
        write_training(load_criterion())
    else:
        main()
