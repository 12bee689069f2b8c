"""Float32 linear maps on this CPU: torch's own ``F.linear`` (MKL's sgemm), oneDNN and MKL's packed sgemm.

The shapes are those of the 1,024-vocabulary step of benchmarks/trl_vs_grpo.py (hidden 256, intermediate
688, 8 query and 2 KV heads of 32, 4 prompts x 8 completions of 48 tokens): the decode step's fused
projections on 32 rows, the training passes' projections on 1,504 rows (32 x 47 completion positions),
the input gradients of the backward, and the output head; then a few of the default run's tiny products,
where oneDNN's cost per call shows (the engine leaves those to torch: cpu_gemm.MIN_MULTIPLY_ADDS). The
engine takes oneDNN on AMD processors and keeps MKL elsewhere, where the decode step packs its weights
(cpu_gemm.Packed: laid out once for the row count, as the packed column here). Each case alternates the
kernels on the same tensors, in rounds, and reports the median time of a call and its GFLOP/s, so a slow
phase of the machine hits all alike.

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
from grpo_core.cpu_threads import cpuinfo  # noqa: E402

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
    return cpuinfo("model name") or platform.processor() or "unknown CPU"


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
    if cpu_gemm._OP is None or cpu_gemm._REORDER is None or not torch.backends.mkldnn.is_available():
        raise SystemExit("cpu_gemm: this torch build lacks oneDNN's linear op or MKL's packed sgemm")
    g = torch.Generator().manual_seed(0)
    rows = []
    for name, m, k, n, transposed in CASES:
        x = torch.randn(m, k, generator=g)
        weight = torch.randn(k, n, generator=g).t() if transposed else torch.randn(n, k, generator=g)
        packed = cpu_gemm.Packed(weight.contiguous(), m)
        kernels = (("torch", lambda: F.linear(x, weight)), ("onednn", lambda: cpu_gemm._inner(x, weight)),
                   ("packed", lambda: packed(x, None)))  # the kernels themselves, not the routing
        plain = kernels[0][1]()
        err = {f"max_abs_diff_{side}": (plain - fn()).abs().max().item() for side, fn in kernels[1:]}
        times = {side: [] for side, _ in kernels}
        for _ in range(args.rounds):
            for side, fn in kernels:
                fn()
                times[side].append(_time(fn, args.calls * (20 if m * k * n < cpu_gemm.MIN_MULTIPLY_ADDS else 1)))
        flops = 2 * m * k * n
        med = {side: statistics.median(t) for side, t in times.items()}
        rows.append({"case": name, "shape": [m, k, n], **err,
                     **{f"{side}_us": med[side] * 1e6 for side in med},
                     **{f"{side}_gflops": flops / med[side] / 1e9 for side in med}})
    info = {"date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"), "cpu": _cpu_name(),
            "cores": os.cpu_count(), "threads": torch.get_num_threads(), "torch": torch.__version__}
    if args.json:
        print(json.dumps({**info, "cases": rows}))
        return
    print(f"{info['date']}  {info['cpu']}, {info['cores']} cores, {info['threads']} torch threads, "
          f"torch {info['torch']}")
    print(f"{'case':<24} {'rows x in x out':>15} {'torch us':>9} {'GF/s':>5} {'oneDNN us':>10} {'GF/s':>5} "
          f"{'x':>5} {'packed us':>10} {'GF/s':>5} {'x':>5} {'max diffs':>16}")
    for r in rows:
        shape = "x".join(map(str, r["shape"]))
        print(f"{r['case']:<24} {shape:>15} {r['torch_us']:>9.1f} {r['torch_gflops']:>5.0f} {r['onednn_us']:>10.1f} "
              f"{r['onednn_gflops']:>5.0f} {r['torch_us'] / r['onednn_us']:>4.2f}x {r['packed_us']:>10.1f} "
              f"{r['packed_gflops']:>5.0f} {r['torch_us'] / r['packed_us']:>4.2f}x "
              f"{r['max_abs_diff_onednn']:>8.1e}{r['max_abs_diff_packed']:>8.1e}")


if __name__ == "__main__":
    main()
