#!/usr/bin/env python3
"""Times PyTorch's CPU conv1d on the training cases of benches/convolve.rs (group `train/`):
forward, and forward + backward (`y.sum().backward()` with input and weight gradients), with
2 threads, and writes benches/results/torch_reference.json. Run it on the same machine, right
after `cargo bench`:

    pip install torch
    python3 benches/torch_reference.py
"""
import json
import pathlib
import sys
import timeit

import torch

OUT = pathlib.Path(__file__).with_name("results") / "torch_reference.json"
# (name, batch, channels_in, channels_out, length, taps, groups): `same` mode.
CASES = [
    ("depthwise-B64-C16-N16000-M31", 64, 16, 16, 16_000, 31, 16),
    ("dense-B16-C16-N16000-M31", 16, 16, 16, 16_000, 31, 1),
    ("dense-B8-C32-N4000-M255", 8, 32, 32, 4_000, 255, 1),
]


def median_time(fn):
    """Median of 7 repeats of a batch of calls lasting about 0.2 s (seconds per call)."""
    timer = timeit.Timer(fn)
    one = timer.timeit(number=1)
    number = max(1, int(0.2 / max(one, 1e-7)))
    runs = sorted(t / number for t in timer.repeat(repeat=7, number=number))
    return runs[len(runs) // 2]


def main():
    torch.set_num_threads(2)
    torch.manual_seed(0)
    results = {}
    for name, batch, cin, cout, n, m, groups in CASES:
        x = torch.randn(batch, cin, n)
        w = torch.randn(cout, cin // groups, m)
        xg = x.clone().requires_grad_(True)
        wg = w.clone().requires_grad_(True)

        def forward():
            with torch.no_grad():
                torch.nn.functional.conv1d(x, w, padding="same", groups=groups)

        def forward_backward():
            xg.grad = None
            wg.grad = None
            torch.nn.functional.conv1d(xg, wg, padding="same", groups=groups).sum().backward()

        results[name] = {"forward": median_time(forward), "forward+backward": median_time(forward_backward)}
        print(f"{name}: forward {results[name]['forward'] * 1e3:.1f} ms, "
              f"forward+backward {results[name]['forward+backward'] * 1e3:.1f} ms", flush=True)
    doc = {
        "torch_version": torch.__version__,
        "threads": torch.get_num_threads(),
        "python_version": sys.version.split()[0],
        "seconds": results,
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(doc, indent=1) + "\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
