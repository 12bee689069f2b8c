"""Worker processes for CPU-heavy rewards (verifiers), with a hard per-sample time limit.

A reward marked ``isolate = True`` is called one sample at a time inside a worker. Samples travel
in chunks of neighbours (a GRPO group shares its reference, so a worker's parse cache stays warm),
but the clock is per sample: a worker that has not answered ``timeout`` seconds after its last
answer is killed, the sample it was on scores 0 as a timeout, the rest of its chunk is handed to a
fresh worker. Each worker's address space is capped at ``memory_limit_mb`` above what it started
with, so a runaway computation fails with MemoryError inside the worker instead of taking the
machine down.

Workers are forked from the process that owns the rewards, so they inherit the reward objects
already built (no pickling, no second plugin load, start-up in milliseconds).

A worker never outlives the process that owns it, however that process ends (SIGKILL included):
Linux kills it when its parent dies (PR_SET_PDEATHSIG), and everywhere a thread in the worker
watches a "lifeline" pipe whose write end only the owner holds, and exits when it reads end-of-file.
For that to work, and for its own pipe to report the owner's death, each worker first closes every
pool descriptor it inherited but must not hold: the owner's end of its pipe, the other workers'
pipes, the lifeline's write end. What a reward prints in a worker goes to stderr.
"""
from __future__ import annotations

import contextlib
import math
import multiprocessing
import multiprocessing.connection
import os
import signal
import sys
import threading
import time
from collections import deque
from typing import NamedTuple

from . import calling, processes, streams

OK, ERROR, TIMEOUT, CRASH = "ok", "error", "timeout", "crash"


class Outcome(NamedTuple):
    kind: str          # ok | error | timeout | crash
    value: object      # the reward's return value for ok, a message otherwise


def _address_space_bytes() -> int | None:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return None


def _limit_memory(base: int | None, limit_mb: int | None) -> None:
    try:
        import resource
    except ImportError:  # not on this platform: the time limit still holds
        return
    if base is None or not limit_mb:
        return
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    soft = base + int(limit_mb) * 2**20
    if hard != resource.RLIM_INFINITY:
        soft = min(soft, hard)
    try:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))
    except (ValueError, OSError):
        pass


def _die_with_parent(owner_pid: int, lifeline: int, set_pdeathsig: bool) -> None:
    """Make this worker end when the process that forked it ends (see the module docstring)."""
    if set_pdeathsig:
        processes.die_with_parent(signal.SIGKILL)  # where it cannot be set, the lifeline still holds
    if os.getppid() != owner_pid:  # the owner died before the line above took effect
        os._exit(1)

    def watch():
        while True:
            try:
                if not os.read(lifeline, 1):  # end-of-file: no process holds the write end any more
                    break
            except InterruptedError:
                continue
            except OSError:
                break
        os._exit(1)

    threading.Thread(target=watch, name="grpo-lifeline", daemon=True).start()


def _worker_main(conn, rewards, owner_pid, lifeline, inherited, set_pdeathsig) -> None:
    for fd in inherited:  # descriptors of the pool this process must not hold (see the docstring)
        with contextlib.suppress(OSError):
            os.close(fd)
    _die_with_parent(owner_pid, lifeline, set_pdeathsig)
    # Ctrl-C, and a SIGTERM sent to the whole process group (torchrun stopping a rank), are the parent's to
    # handle: it finishes its step with these workers, then closes them; they die with it in any case.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    with contextlib.suppress(OSError):
        os.dup2(2, 1)  # a worker has no results to print: what rewards print goes to stderr
    sys.stdout = sys.stderr
    base = _address_space_bytes()
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):
            return
        if message is None:
            return
        index, limit_mb, items = message
        _limit_memory(base, limit_mb)
        for sample_id, kwargs in items:
            try:
                reply = (sample_id, OK, calling.call(rewards[index], kwargs))
            except MemoryError:
                reply = (sample_id, ERROR, f"MemoryError: over the {limit_mb} MiB limit")
            except BaseException as exc:  # a reward's failure is data for the error policy
                reply = (sample_id, ERROR, f"{type(exc).__name__}: {exc}")
            try:
                conn.send(reply)
            except Exception as exc:  # an unpicklable return value
                conn.send((sample_id, ERROR, f"could not send the result back: {type(exc).__name__}: {exc}"))


def _open_fds() -> set[int] | None:
    try:
        listed = [int(fd) for fd in os.listdir("/proc/self/fd")]
    except OSError:  # no /proc: the pipe and the sentinel are all we know of
        return None
    found = set()
    for fd in listed:  # the listing holds its own directory descriptor, closed by now
        try:
            os.fstat(fd)
            found.add(fd)
        except OSError:
            pass
    return found


class _Worker:
    def __init__(self, ctx, rewards, lifeline: tuple[int, int], others: list[int]):
        before = _open_fds()
        self.conn, child = ctx.Pipe()
        inherited = [self.conn.fileno(), lifeline[1], *others, *streams.private_fds]
        main = threading.current_thread() is threading.main_thread()  # PDEATHSIG follows the forking thread
        self.process = ctx.Process(target=_worker_main, daemon=True,
                                   args=(child, rewards, os.getpid(), lifeline[0], inherited, main))
        self.process.start()
        child.close()
        # What starting this worker left open here (our pipe end, multiprocessing's sentinel pipes): a
        # worker forked later must close all of it, or it would keep this one's pipes from reporting EOF.
        after = _open_fds()
        self.fds = sorted(after - before) if before is not None and after is not None \
            else [self.conn.fileno(), self.process.sentinel]
        self.items: deque = deque()   # samples of the current chunk not yet answered, in order
        self.deadline = math.inf

    def kill(self) -> None:
        if self.process.is_alive():
            self.process.kill()
        self.process.join(timeout=5)
        self.conn.close()


class WorkerPool:
    """Runs rewards sample by sample in worker processes; ``size`` defaults to the machine's cores."""

    def __init__(self, rewards: list, size: int | None = None):
        self.rewards = rewards
        self.size = max(1, size or os.cpu_count() or 1)
        # fork shares the built rewards with the workers for free; elsewhere spawn (which pickles them).
        method = "fork" if sys.platform.startswith("linux") else "spawn"
        self._ctx = multiprocessing.get_context(method)
        self._idle: list[_Worker] = []
        self._live: set[_Worker] = set()   # idle and busy: each new worker closes their descriptors
        self._lifeline: tuple[int, int] | None = None
        self.replaced = 0   # workers killed or lost and replaced, for tests and reports

    def _new_worker(self) -> _Worker:
        if self._lifeline is None:
            self._lifeline = os.pipe()  # workers read it; only this process holds the write end
        worker = _Worker(self._ctx, self.rewards, self._lifeline, [fd for w in self._live for fd in w.fds])
        self._live.add(worker)
        return worker

    def start(self) -> None:
        """Fork the workers now (the engine does this before a GPU is initialised)."""
        while len(self._idle) < self.size:
            self._idle.append(self._new_worker())

    def run(self, index: int, calls: list[dict], timeout: float, memory_limit_mb: int | None = None
            ) -> list[Outcome]:
        """Call reward ``index`` once per kwargs dict in ``calls``; one Outcome per call, in order."""
        outcomes: list[Outcome | None] = [None] * len(calls)
        chunk = max(1, min(64, math.ceil(len(calls) / (self.size * 4))))
        pending = deque(list(range(i, min(i + chunk, len(calls)))) for i in range(0, len(calls), chunk))
        busy: list[_Worker] = []
        try:
            while pending or busy:
                while pending and len(busy) < self.size:
                    worker = self._idle.pop() if self._idle else self._new_worker()
                    if not worker.process.is_alive():  # died while idle (killed from outside): replace it
                        worker.kill()
                        self._live.discard(worker)
                        self.replaced += 1
                        worker = self._new_worker()
                    ids = pending.popleft()
                    worker.items = deque(ids)
                    worker.conn.send((index, memory_limit_mb, [(i, calls[i]) for i in ids]))
                    worker.deadline = time.monotonic() + timeout
                    busy.append(worker)
                wait_for = max(0.0, min(w.deadline for w in busy) - time.monotonic())
                ready = multiprocessing.connection.wait([w.conn for w in busy], timeout=wait_for)
                for worker in list(busy):
                    if worker.conn in ready:
                        self._receive(worker, outcomes, pending, busy, timeout)
                now = time.monotonic()
                for worker in list(busy):
                    if worker.items and now >= worker.deadline:
                        self._lose(worker, outcomes, pending, busy,
                                   Outcome(TIMEOUT, f"no answer within {timeout:g} s"))
        except BaseException:
            for worker in busy:  # never leave a worker running half a chunk behind
                worker.kill()
                self._live.discard(worker)
            raise
        return outcomes

    def _receive(self, worker, outcomes, pending, busy, timeout):
        try:
            while worker.conn.poll():
                sample_id, kind, value = worker.conn.recv()
                outcomes[sample_id] = Outcome(kind, value)
                worker.items.remove(sample_id)
                worker.deadline = time.monotonic() + timeout  # the clock is per sample
        except (EOFError, OSError):
            code = worker.process.exitcode
            self._lose(worker, outcomes, pending, busy, Outcome(CRASH, f"worker died (exit code {code})"))
            return
        if not worker.items:
            busy.remove(worker)
            self._idle.append(worker)

    def _lose(self, worker, outcomes, pending, busy, outcome):
        """Kill a worker; its current sample gets ``outcome``, the rest of its chunk is re-queued."""
        worker.kill()
        self._live.discard(worker)
        busy.remove(worker)
        self.replaced += 1
        if worker.items:
            outcomes[worker.items.popleft()] = outcome
        if worker.items:
            pending.appendleft(list(worker.items))

    def close(self) -> None:
        for worker in self._idle:
            try:
                worker.conn.send(None)
            except OSError:
                pass
            worker.kill()
        self._idle.clear()
        for worker in self._live:  # busy ones, when a run was cut short
            worker.kill()
        self._live.clear()
        if self._lifeline is not None:
            for fd in self._lifeline:
                with contextlib.suppress(OSError):
                    os.close(fd)
            self._lifeline = None
