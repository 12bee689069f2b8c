"""How steady is this machine? Fixed CPU work timed over and over, on two threads and on one.

A virtual machine's cores can slow down for seconds at a time for reasons the guest cannot see (other
tenants on the host's cores, caches or memory). This times the same four pieces of work in turn for
``--seconds``: a large float32 product and a decode-sized one on two threads (through cpu_gemm, the library
the engine picks for this processor), small elementwise ops (OpenMP's per-op start and barrier, two
threads), and the large product on one thread (torch.mm, MKL). For each it reports the median and how
far the slowest tenth lies from it, then the medians of each stretch of the run in time order, and the
steal time /proc/stat counted meanwhile. Work on two threads waits at every op for the slower core, so
if the two-thread rows spread far more than the one-thread row, a step's time on this machine moves with
the machine, not with the code.

    python benchmarks/cpu_drift.py [--seconds 60] [--periods 15]
"""
from __future__ import annotations

import argparse
import os
import statistics
import time

from grpo_core.cli import apply_openmp_defaults

apply_openmp_defaults()  # the OpenMP spin `grpo train` runs with; before torch loads

import torch  # noqa: E402

from grpo_core import cpu_gemm  # noqa: E402


def _steal() -> int | None:
    try:
        with open("/proc/stat") as f:
            fields = f.readline().split()
        return int(fields[8])  # cpu user nice system idle iowait irq softirq steal
    except (OSError, IndexError, ValueError):
        return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--periods", type=int, default=15, help="stretches of the run to give medians for")
    args = parser.parse_args()
    g = torch.Generator().manual_seed(0)
    x, w = torch.randn(1504, 256, generator=g), torch.randn(688, 256, generator=g)
    xs, ws = torch.randn(32, 256, generator=g), torch.randn(1376, 256, generator=g)
    small = torch.randn(200, 200, generator=g)
    threads = torch.get_num_threads()

    def one_thread():
        torch.set_num_threads(1)
        for _ in range(30):
            torch.mm(x, w.t())
        torch.set_num_threads(threads)

    work = {
        f"1504x256x688 product, {threads} threads": lambda: [cpu_gemm._inner(x, w) for _ in range(60)],
        f"32x256x1376 product, {threads} threads": lambda: [cpu_gemm._inner(xs, ws) for _ in range(600)],
        f"small elementwise ops, {threads} threads": lambda: [small.add(1.0) for _ in range(3000)],
        "1504x256x688 product, 1 thread": one_thread,
    }
    times: dict[str, list[float]] = {name: [] for name in work}
    steal0, start = _steal(), time.time()
    while time.time() - start < args.seconds:
        for name, fn in work.items():
            t = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t)
    steal1, elapsed = _steal(), time.time() - start
    print(f"{time.strftime('%Y-%m-%d %H:%M:%S %Z')}: {elapsed:.0f} s, torch {torch.__version__}, {threads} threads")
    print(f"{'work':<38} {'median ms':>9} {'p90':>6} {'max':>6}   medians of each stretch, in time order (ms)")
    for name, values in times.items():
        ordered = sorted(values)
        med = statistics.median(values)
        size = max(1, len(values) // args.periods)
        stretches = " ".join(f"{statistics.median(values[i:i + size]) * 1e3:.0f}" for i in range(0, len(values), size))
        print(f"{name:<38} {med * 1e3:>9.1f} {ordered[9 * len(values) // 10] / med - 1:>+6.0%} "
              f"{ordered[-1] / med - 1:>+6.0%}   {stretches}")
    if steal0 is not None and steal1 is not None:
        ticks = steal1 - steal0  # USER_HZ ticks, summed over all CPUs
        print(f"steal time meanwhile: {ticks / 100:.2f} CPU-seconds of {elapsed * (os.cpu_count() or 1):.0f}")


if __name__ == "__main__":
    main()
