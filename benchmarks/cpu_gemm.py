"""Float32 linear maps on this CPU: torch's own ``F.linear`` (MKL's sgemm) against oneDNN (grpo_core/cpu_gemm.py).

The shapes are those of the 1,024-vocabulary step of benchmarks/trl_vs_grpo.py (hidden 256, intermediate
688, 8 query and 2 KV heads of 32, 4 prompts x 8 completions of 48 tokens): the decode step's fused
projections on 32 rows, the training passes' projections on 1,504 rows (32 x 47 completion positions),
the input gradients of the backward, and the output head; then a few of the default run's tiny products,
where oneDNN's cost per call shows (the engine leaves those to torch: cpu_gemm.MIN_MULTIPLY_ADDS). Each
case alternates the two kernels on the same tensors, in rounds, and reports the median time of a call and
its GFLOP/s, so a slow phase of the machine hits both alike.

    python benchmarks/cpu_gemm.py [--rounds 7] [--calls 20] [--json]
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import time

from grpo_core.cli import apply_openmp_defaults

apply_openmp_defaults()  # the OpenMP spin `grpo train` runs with; before torch loads

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from grpo_core import cpu_gemm  # noqa: E402

H, I, Q, KV, V = 256, 688, 256, 64, 1024
CASES = [  # (name, rows, in, out, transposed weight: the backward's dy @ W)
    ("decode q/k/v (fused)", 32, H, Q + 2 * KV, False),
    ("decode gate/up (fused)", 32, H, 2 * I, False),
    ("decode down", 32, I, H, False),
    ("decode head", 32, H, V, False),
    ("pass q or o", 1504, H, Q, False),
    ("pass gate or up", 1504, H, I, False),
    ("pass down", 1504, I, H, False),
    ("pass head", 1536, H, V, False),
    ("backward dx of gate", 1504, I, H, True),
    ("backward dx of down", 1504, H, I, True),
    # the default run's tiny model (hidden 128, intermediate 512): products below cpu_gemm.MIN_MULTIPLY_ADDS
    ("tiny: 1 row", 1, 128, 128, False),
    ("tiny: 8 rows", 8, 128, 512, False),
    ("tiny: 64 rows", 64, 128, 128, False),
    ("tiny: q/k/v, 64 rows", 64, 128, 384, False),
]


def _cpu_name() -> str:
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def _time(fn, calls: int) -> float:
    start = time.perf_counter()
    for _ in range(calls):
        fn()
    return (time.perf_counter() - start) / calls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--calls", type=int, default=20, help="calls per kernel per round")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if not cpu_gemm.ENABLED:
        raise SystemExit("cpu_gemm: oneDNN's linear op is not available in this torch build (or GRPO_CPU_GEMM=mkl)")
    g = torch.Generator().manual_seed(0)
    rows = []
    for name, m, k, n, transposed in CASES:
        x = torch.randn(m, k, generator=g)
        weight = torch.randn(k, n, generator=g).t() if transposed else torch.randn(n, k, generator=g)
        torch_fn, ours_fn = (lambda: F.linear(x, weight)), (lambda: cpu_gemm._inner(x, weight))  # the kernel itself
        err = (torch_fn() - ours_fn()).abs().max().item()
        times = {"torch": [], "onednn": []}
        for _ in range(args.rounds):
            for side, fn in (("torch", torch_fn), ("onednn", ours_fn)):
                fn()
                times[side].append(_time(fn, args.calls * (20 if m * k * n < cpu_gemm.MIN_MULTIPLY_ADDS else 1)))
        flops = 2 * m * k * n
        med = {side: statistics.median(t) for side, t in times.items()}
        rows.append({"case": name, "shape": [m, k, n], "max_abs_diff": err,
                     **{f"{side}_us": med[side] * 1e6 for side in med},
                     **{f"{side}_gflops": flops / med[side] / 1e9 for side in med}})
    info = {"date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"), "cpu": _cpu_name(),
            "cores": os.cpu_count(), "threads": torch.get_num_threads(), "torch": torch.__version__}
    if args.json:
        print(json.dumps({**info, "cases": rows}))
        return
    print(f"{info['date']}  {info['cpu']}, {info['cores']} cores, {info['threads']} torch threads, "
          f"torch {info['torch']}")
    print(f"{'case':<24} {'rows x in x out':>18} {'torch us':>9} {'GF/s':>6} {'oneDNN us':>10} {'GF/s':>6} "
          f"{'speed-up':>8} {'max diff':>9}")
    for r in rows:
        shape = "x".join(map(str, r["shape"]))
        print(f"{r['case']:<24} {shape:>18} {r['torch_us']:>9.1f} {r['torch_gflops']:>6.0f} {r['onednn_us']:>10.1f} "
              f"{r['onednn_gflops']:>6.0f} {r['torch_us'] / r['onednn_us']:>7.2f}x {r['max_abs_diff']:>9.1e}")


if __name__ == "__main__":
    main()
