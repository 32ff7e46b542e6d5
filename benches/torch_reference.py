#!/usr/bin/env python3
"""Times PyTorch's CPU conv1d on the training cases of benches/convolve.rs (group `train/`),
with 2 threads, and writes benches/results/torch_reference.json:
- `forward`: the output (computed eagerly, in host memory);
- `step`: forward, `y.sum().backward()`, both gradients (in host memory once backward returns:
  reading them needs no copy, where Burn's `into_data` copies);
- `stack`: one Adam step on a depthwise conv (16 channels, 31 taps), GELU, a dense conv (16 to
  16 channels, 31 taps), `same`, with bias, MSE loss, the loss read with `.item()`.
Run it on the same machine, right after `cargo bench`:

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


STACK_NAME = "depthwise31-gelu-dense31-B16-C16-N16000"
STACK_INPUT = (16, 16, 16_000)


def stack_step():
    """The forward pass and one Adam step of benches/convolve.rs's `Stack`, as functions."""
    c = STACK_INPUT[1]
    model = torch.nn.Sequential(
        torch.nn.Conv1d(c, c, 31, padding="same", groups=c, bias=True),
        torch.nn.GELU(),
        torch.nn.Conv1d(c, c, 31, padding="same", bias=True),
    )
    optim = torch.optim.Adam(model.parameters(), lr=1e-3)
    x, target = torch.randn(*STACK_INPUT), torch.randn(*STACK_INPUT)

    def forward():
        with torch.no_grad():
            model(x)

    def step():
        optim.zero_grad()
        loss = torch.nn.functional.mse_loss(model(x), target)
        loss.backward()
        optim.step()
        return loss.item()

    return forward, step


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

        def step():
            xg.grad = None
            wg.grad = None
            torch.nn.functional.conv1d(xg, wg, padding="same", groups=groups).sum().backward()
            assert xg.grad is not None and wg.grad is not None

        results[name] = {"forward": median_time(forward), "step": median_time(step)}
        print(f"{name}: forward {results[name]['forward'] * 1e3:.1f} ms, "
              f"step {results[name]['step'] * 1e3:.1f} ms", flush=True)
    forward, step = stack_step()
    results[STACK_NAME] = {"forward": median_time(forward), "step": median_time(step)}
    print(f"{STACK_NAME}: forward {results[STACK_NAME]['forward'] * 1e3:.1f} ms, "
          f"step {results[STACK_NAME]['step'] * 1e3:.1f} ms", flush=True)
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
