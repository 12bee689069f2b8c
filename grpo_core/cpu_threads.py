"""CPU runs: as many torch threads as the rest of the machine leaves cores free.

PyTorch's OpenMP threads meet at the end of every parallel op, and spin for a while before they sleep.
On an idle machine that keeps small ops fast. Beside another busy process it is a trap: a thread the OS
has set aside holds up its teammates at every op, and a spinning teammate keeps the core the other
process needs. Measured on 2 cores (benchmarks/contention.py, BENCHMARKS.md): with 2 threads and
libgomp's default spin, the benchmark step took 1.9 s beside one busy core against 0.58 s idle; one
thread took 0.98 s there. Sleeping at once (OMP_WAIT_POLICY=PASSIVE) avoids the trap but made the idle
step 0.82 s.

So between steps, the trainer asks how much CPU other processes used over the last second or more (the machine's
busy time from /proc/stat minus this process's own CPU time) and runs with the cores they left, at least
one thread and at most what torch started with. Linux only; off Linux, on a GPU, inside a container that
sees more CPUs than it may use, or with OMP_NUM_THREADS set by the user, the thread count is left alone.

A step also allocates and frees the same large tensors many times. glibc hands memory above a threshold
back to the kernel when it is freed, so the next tensor of that size starts on fresh pages, each a page
fault on first touch (dearer in a virtual machine); ``reuse_freed_memory`` keeps it in the process instead.
"""
from __future__ import annotations

import ctypes
import os
import sys
import time

# glibc's mallopt parameters (malloc.h) and the values set: blocks up to 32 MiB (glibc's largest threshold
# on 64-bit) come from the heap, and up to 1 GiB of freed heap stays with the process.
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
MMAP_THRESHOLD_BYTES, TRIM_THRESHOLD_BYTES = 32 << 20, 1 << 30


def reuse_freed_memory(libc=None) -> bool:
    """Keep freed memory for the next allocations (glibc on Linux; True when set). Left alone when the user
    tunes malloc (GLIBC_TUNABLES or MALLOC_* variables) or another C library is in use."""
    if any(k == "GLIBC_TUNABLES" or k.startswith("MALLOC_") for k in os.environ):
        return False
    if libc is None:
        if not sys.platform.startswith("linux"):
            return False
        libc = ctypes.CDLL(None)
        if not hasattr(libc, "gnu_get_libc_version") or not hasattr(libc, "mallopt"):
            return False
    return bool(libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES)) and \
        bool(libc.mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES))


def cpuinfo(field: str, path: str = "/proc/cpuinfo") -> str | None:
    """The first value of ``field`` in /proc/cpuinfo (``vendor_id``, ``model name``...), None where unknown."""
    try:
        with open(path) as f:
            for line in f:
                if line.split(":", 1)[0].strip() == field:
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def machine_busy_seconds() -> float | None:
    """CPU seconds the whole machine has spent busy since boot (all cores), or None where unknown."""
    try:
        with open("/proc/stat") as f:
            fields = f.readline().split()
    except OSError:
        return None
    if not fields or fields[0] != "cpu" or len(fields) < 5:
        return None
    ticks = [int(v) for v in fields[1:9]]  # user nice system idle iowait irq softirq steal (guest is in user)
    return (sum(ticks) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")


def threads_for(cores: int, max_threads: int, others: float) -> int:
    """Threads to run when other processes keep ``others`` cores busy: a core counts as free from half."""
    return max(1, min(max_threads, int(cores - others + 0.5)))


class ThreadGovernor:
    """Measures the CPU other processes used between calls of ``update`` and sets torch's thread count."""

    # /proc/stat counts in ticks (100 a second) and our own CPU time is exact: over a short window the
    # difference is noise, so decide on at least a second of history (a call in between just returns)
    MIN_WINDOW_SECONDS = 1.0

    def __init__(self, max_threads: int, cores: int, busy=machine_busy_seconds, own=time.process_time,
                 clock=time.monotonic, set_threads=None):
        import torch

        self.max_threads, self.cores = max_threads, cores
        self._busy, self._own, self._clock = busy, own, clock
        self._set_threads = set_threads or torch.set_num_threads
        self.threads = max_threads
        self._last = self._sample()

    def _sample(self):
        return self._clock(), self._busy(), self._own()

    def update(self) -> int:
        """Re-decide from what happened since the last decision; returns the thread count now in force."""
        now = self._sample()
        (t0, busy0, own0), (t1, busy1, own1) = self._last, now
        if t1 - t0 < self.MIN_WINDOW_SECONDS:
            return self.threads
        self._last = now
        if busy0 is None or busy1 is None:
            return self.threads
        others = max(0.0, (busy1 - busy0) - (own1 - own0)) / (t1 - t0)
        threads = threads_for(self.cores, self.max_threads, others)
        if threads != self.threads:
            self._set_threads(threads)
            self.threads = threads
        return self.threads


def governor_for(device) -> ThreadGovernor | None:
    """A governor for a run on ``device``, or None where adapting does not apply (see the module docstring)."""
    import torch

    if getattr(device, "type", str(device)) != "cpu" or "OMP_NUM_THREADS" in os.environ:
        return None
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    if cores != os.cpu_count() or machine_busy_seconds() is None:  # /proc/stat would count CPUs we cannot use
        return None
    return ThreadGovernor(torch.get_num_threads(), cores)
