"""grpo_core.cpu_threads: CPU runs follow the cores that other processes leave free."""
from __future__ import annotations

import os
import sys

import torch

from grpo_core import cpu_threads
from grpo_core.cpu_threads import ThreadGovernor, governor_for, machine_busy_seconds, threads_for


def test_threads_for_counts_a_core_free_from_half():
    assert [threads_for(2, 2, others) for others in (0.0, 0.4, 0.6, 1.0, 1.6, 2.0, 5.0)] == [2, 2, 1, 1, 1, 1, 1]
    assert [threads_for(8, 6, others) for others in (0.0, 1.0, 2.4, 3.0)] == [6, 6, 6, 5]  # never above the max


class FakeMachine:
    """A clock, the machine's busy seconds and this process's CPU seconds, advanced by hand."""

    def __init__(self):
        self.t = self.busy = self.own = 0.0
        self.set_calls = []

    def advance(self, seconds, own_cores, other_cores):
        self.t += seconds
        self.own += seconds * own_cores
        self.busy += seconds * (own_cores + other_cores)

    def governor(self, max_threads=2, cores=2):
        return ThreadGovernor(max_threads, cores, busy=lambda: self.busy, own=lambda: self.own,
                              clock=lambda: self.t, set_threads=self.set_calls.append)


def test_governor_gives_way_to_other_processes_and_takes_the_cores_back():
    m = FakeMachine()
    gov = m.governor()
    m.advance(1.0, own_cores=2.0, other_cores=0.0)
    assert gov.update() == 2 and m.set_calls == []          # idle machine: all threads, nothing changed
    m.advance(1.0, own_cores=1.2, other_cores=1.0)          # another process took a core
    assert gov.update() == 1 and m.set_calls == [1]
    m.advance(1.0, own_cores=1.0, other_cores=0.9)
    assert gov.update() == 1 and m.set_calls == [1]         # unchanged: torch is not called again
    m.advance(1.0, own_cores=1.0, other_cores=0.1)          # it is gone
    assert gov.update() == 2 and m.set_calls == [1, 2]
    m.advance(0.3, own_cores=0.0, other_cores=2.0)          # under a second: no decision yet
    assert gov.update() == 2
    m.advance(0.8, own_cores=2.0, other_cores=0.0)          # 1.1 s in all: 0.6 of a core was others'
    assert gov.update() == 1


def test_governor_without_proc_stat_changes_nothing():
    calls = []
    gov = ThreadGovernor(2, 2, busy=lambda: None, own=lambda: 0.0, clock=iter(range(100)).__next__,
                         set_threads=calls.append)
    assert gov.update() == 2 and calls == []


def test_governor_applies_to_cpu_runs_only_and_respects_omp_num_threads(monkeypatch):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    assert governor_for(torch.device("cuda", 0)) is None
    if machine_busy_seconds() is not None and len(cpu_threads.os.sched_getaffinity(0)) == cpu_threads.os.cpu_count():
        gov = governor_for(torch.device("cpu"))
        assert gov is not None and gov.max_threads == torch.get_num_threads()
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    assert governor_for(torch.device("cpu")) is None  # the user chose: leave it


def test_machine_busy_seconds_reads_proc_stat(tmp_path, monkeypatch):
    stat = tmp_path / "stat"
    # user nice system idle iowait irq softirq steal guest guest_nice, in ticks
    stat.write_text("cpu  100 5 50 1000 20 3 2 10 0 0\ncpu0 1 2 3 4\n")
    real_open = open
    monkeypatch.setattr(cpu_threads, "open", lambda path, *a, **k: real_open(stat if path == "/proc/stat" else path),
                        raising=False)
    ticks = cpu_threads.os.sysconf("SC_CLK_TCK")
    assert machine_busy_seconds() == (100 + 5 + 50 + 3 + 2 + 10) / ticks
    stat.write_text("intr 1 2 3\n")
    assert machine_busy_seconds() is None


class _FakeLibc:
    def __init__(self, result=1):
        self.calls, self.result = [], result

    def mallopt(self, param, value):
        self.calls.append((param, value))
        return self.result


def test_reuse_freed_memory_sets_glibc_thresholds(monkeypatch):
    for k in [k for k in os.environ if k == "GLIBC_TUNABLES" or k.startswith("MALLOC_")]:
        monkeypatch.delenv(k)
    libc = _FakeLibc()
    assert cpu_threads.reuse_freed_memory(libc) is True
    assert libc.calls == [(cpu_threads.M_MMAP_THRESHOLD, 32 << 20), (cpu_threads.M_TRIM_THRESHOLD, 1 << 30)]
    assert cpu_threads.reuse_freed_memory(_FakeLibc(result=0)) is False  # glibc refused a value
    if sys.platform.startswith("linux"):
        assert cpu_threads.reuse_freed_memory() is True  # this machine's glibc takes both


def test_reuse_freed_memory_leaves_a_users_malloc_settings_alone(monkeypatch):
    monkeypatch.setenv("GLIBC_TUNABLES", "glibc.malloc.trim_threshold=0")
    libc = _FakeLibc()
    assert cpu_threads.reuse_freed_memory(libc) is False and libc.calls == []
