"""More than one device: data-parallel GRPO on torch.distributed, started by torchrun.

Each rank holds its own copy of the policy on its own device and takes a disjoint, contiguous share of
whole prompts of every step (``grpo.prompts_per_step`` is the global count). A prompt's whole group stays
on one rank, so group advantages need no cross-rank traffic and the shared-prompt KV cache keeps working.
What couples the ranks is small, and all of it lives here:

- the step's batch quantities: every rank's rewards (so advantages, ``scale_rewards = "batch"`` and the
  metrics are those of the whole batch), the token and sequence counts that normalise the loss, the "no
  advantage anywhere" shortcut (decided on the global batch, so every rank runs the same collectives);
- the LoRA gradients, summed over ranks once per optimizer step, after the last micro-batch. Each rank's
  loss is already its share of the global loss (global normalisers), so the sum is the single-process
  gradient of the same batch: what DistributedDataParallel's averaging would give (with the mean, for
  losses normalised per rank). DDP itself is not used: its reducer expects one forward per backward and
  no_sync around accumulation, while a step here runs two forwards per micro-batch (the prompts, then the
  completions on their cache) and several no-grad passes, for a few megabytes of gradients in all;
- rank-0 guards: rank 0 alone writes files; the others hand it their RNG states for checkpoints.

A single process (no WORLD_SIZE, or 1) gets ``SINGLE``: every method hands its input back untouched and
torch.distributed is never set up. Nothing else in grpo reads the launcher's environment.

Faults: a collective that fails (a peer died, or hung past ``train.collective_timeout``) raises ``RankLost``
with one line naming the rank at fault when it can be found: a rank that raises leaves its reason in the
rendezvous store before it exits, a rank that vanished (SIGKILL, out of memory) on this host is found by its
pid, and a rank that hangs is the one whose count of collectives entered (kept in the store) stays behind.
torchrun stops the remaining ranks; ranks die with their launcher (PR_SET_PDEATHSIG).
"""
from __future__ import annotations

import contextlib
import os
import signal
import socket
import sys
import time
from dataclasses import dataclass, field
from datetime import timedelta

from grpo_rewards import processes
from grpo_rewards.errors import ConfigError, UserError


class RankLost(UserError):
    """Another rank died, raised or stopped answering: this rank cannot go on alone."""

    exit_status = 3  # not 1 (a Python traceback), so the launcher can tell the cause from the casualties


# -----------------------------------------------------------------------------
# which rank am I: the launcher's environment, read here and nowhere else

@dataclass
class Dist:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    local_world_size: int = 1
    timeout: float = 600.0
    _store: object = field(default=None, repr=False)
    _device: object = field(default=None, repr=False)
    _count: int = 0  # collectives entered: a rank that stays behind is the one that hangs

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    # ---- set-up

    def start(self, timeout_seconds: float) -> None:
        """Join the process group (gloo on the CPU, NCCL on CUDA) and pin this rank to its GPU."""
        if not self.enabled or self._device is not None:
            return
        import torch
        import torch.distributed as td

        _die_with_launcher()
        self.timeout = timeout_seconds
        if torch.cuda.is_available():
            if self.local_rank >= torch.cuda.device_count():
                raise UserError(f"rank {self.rank}: LOCAL_RANK {self.local_rank}, but this machine shows "
                                f"{torch.cuda.device_count()} CUDA device(s): one rank per GPU (--nproc-per-node)")
            torch.cuda.set_device(self.local_rank)  # model.pick_device() then picks this rank's GPU
            backend, self._device = "nccl", torch.device("cuda", self.local_rank)
        else:
            backend, self._device = "gloo", torch.device("cpu")
        if not td.is_initialized():  # ranks load their models at their own pace: a generous start-up wait
            td.init_process_group(backend, timeout=timedelta(seconds=max(timeout_seconds, STARTUP_SECONDS)))
        try:  # for naming a rank that dies; diagnosis only, so any trouble just turns it off
            self._store = td.distributed_c10d._get_default_store()
            self._store.set(f"grpo/rank/{self.rank}", f"{socket.gethostname()} {os.getpid()}")
        except Exception:
            self._store = None

    def close(self) -> None:
        if self.enabled and self._device is not None:
            import torch.distributed as td

            if td.is_initialized():
                td.destroy_process_group()
            self._device = None

    @contextlib.contextmanager
    def reporting(self, run_dir: str):
        """Around a rank's whole run: an error of this rank is left in the store for the others to name
        (they only see a closed connection); a lost rank's message says where the last checkpoint is; the
        process group is closed on the way out."""
        try:
            yield self
        except RankLost as exc:
            from .checkpoint import latest

            ckpt = latest(run_dir) if self.is_main else None
            raise RankLost(f"{exc}; " + (f"the last checkpoint, {ckpt}, is intact: continue with --resume"
                                         if ckpt else "see rank 0 for the last checkpoint")) from None
        except (KeyboardInterrupt, SystemExit):
            self._left()
            raise
        except BaseException as exc:
            if self._store is not None:
                first = (str(exc).strip().splitlines() or [""])[0]
                with contextlib.suppress(Exception):  # first failure wins
                    self._store.compare_set("grpo/failed", "", f"rank {self.rank} failed: "
                                            f"{type(exc).__name__}: {first}"[:500])
            raise
        self._left()
        self.close()

    def _left(self) -> None:
        """Tell the others this rank exits on purpose (finished, or stopped by a signal): not a death to name."""
        if self._store is not None:
            with contextlib.suppress(Exception):
                self._store.set(f"grpo/left/{self.rank}", "1")

    def server_env(self) -> dict:
        """Environment for a server this rank starts for itself (a managed vLLM server): its own GPU."""
        if not self.enabled:
            return {}
        visible = [d for d in os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",") if d.strip()]
        return {"CUDA_VISIBLE_DEVICES": visible[self.local_rank] if self.local_rank < len(visible)
                else str(self.local_rank)}

    def reward_workers(self) -> int | None:
        """Worker processes for this rank's isolated rewards: its share of the cores (None: the pool's default,
        all of them, for a single process)."""
        if not self.enabled:
            return None
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
        return max(1, cores // self.local_world_size)

    # ---- the work split

    def shard(self, rows: list) -> tuple[list, int]:
        """This rank's contiguous share of a step's prompts, and the global index of its first prompt."""
        n = len(rows) // self.world_size
        return rows[self.rank * n:(self.rank + 1) * n], self.rank * n

    def split(self, rows: list) -> list:
        """This rank's share of a list of any length (evaluation prompts): near-equal contiguous parts."""
        n, extra = divmod(len(rows), self.world_size)
        start = self.rank * n + min(self.rank, extra)
        return rows[start:start + n + (self.rank < extra)]

    def mine(self, batch: torch.Tensor) -> torch.Tensor:
        """This rank's rows of a tensor over the whole step's batch (rows in rank order)."""
        if not self.enabled:
            return batch
        n = batch.shape[0] // self.world_size
        return batch[self.rank * n:(self.rank + 1) * n]

    # ---- reductions (collectives: every rank calls them in the same order)

    def sum(self, values: list[float]) -> list[float]:
        """Element-wise sums over ranks, in float64 (counts stay exact up to 2**53)."""
        if not self.enabled:
            return list(values)
        import torch
        import torch.distributed as td

        t = torch.tensor(values, dtype=torch.float64, device=self._device)
        self._collective("all_reduce", td.all_reduce, t)
        return t.tolist()

    def any(self, flag: bool) -> bool:
        return bool(self.sum([float(flag)])[0] > 0) if self.enabled else flag

    def gather(self, obj) -> list:
        """Every rank's ``obj`` (picklable), in rank order, on every rank."""
        if not self.enabled:
            return [obj]
        import torch.distributed as td

        out = [None] * self.world_size
        self._collective("all_gather_object", td.all_gather_object, out, obj)
        return out

    def broadcast(self, obj):
        """Rank 0's ``obj`` on every rank."""
        if not self.enabled:
            return obj
        import torch.distributed as td

        box = [obj]
        self._collective("broadcast_object_list", td.broadcast_object_list, box, 0)
        return box[0]

    def gather_scores(self, scores):
        """The whole step's MixScores (every rank's rows, in rank order; counts summed)."""
        if not self.enabled:
            return scores
        from grpo_rewards.mix import MixScores

        parts, names = self.gather(scores), list(scores.rewards)
        counts = {name: _summed([p.counts[name] for p in parts]) for name in names}
        return MixScores(total=[t for p in parts for t in p.total],
                         rewards={name: [v for p in parts for v in p.rewards[name]] for name in names},
                         weights=scores.weights, counts=counts)

    def combine(self, obj):
        """``obj`` over every rank: lists concatenated in rank order, numbers summed, dicts and tuples item by
        item (the step's metrics inputs)."""
        return obj if not self.enabled else _combine(self.gather(obj))

    def mean_metrics(self, metrics: dict) -> dict:
        """Per-rank means averaged over ranks (equal shares), ``*_max`` keys their maximum; a value every rank
        has alike (an adapter version) stays as it is."""
        if not self.enabled:
            return metrics
        parts = self.gather(metrics)

        def over_ranks(k):
            values = [p[k] for p in parts]
            if all(v == values[0] for v in values) or not all(isinstance(v, (int, float)) for v in values):
                return values[0]
            return max(values) if k.endswith("_max") else sum(values) / len(values)

        return {k: over_ranks(k) for k in metrics}

    def sum_gradients(self, params: list) -> None:
        """Sum the gradients of ``params`` over ranks, in one flat all-reduce."""
        if not self.enabled:
            return
        import torch
        import torch.distributed as td

        grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
        flat = torch.cat([g.reshape(-1) for g in grads])
        self._collective("all_reduce (gradients)", td.all_reduce, flat)
        offset = 0
        for p, g in zip(params, grads):  # views of the one buffer: the old gradients are freed
            p.grad = flat[offset:offset + g.numel()].view_as(g)
            offset += g.numel()

    def same_start(self, params: list) -> None:
        """Rank 0's values of ``params`` on every rank (the LoRA weights, at start and on resume). The start-up
        ends here: from now on the ranks meet every step, and one that keeps the others waiting longer than
        ``train.collective_timeout`` has failed."""
        if not self.enabled:
            return
        import torch
        import torch.distributed as td

        shapes = self.broadcast([tuple(p.shape) for p in params])
        if shapes != [tuple(p.shape) for p in params]:
            raise ConfigError(f"rank {self.rank}: its LoRA weights do not match rank 0's (a checkpoint saved "
                              f"with other [lora] settings?)")
        flat = torch.cat([p.detach().reshape(-1) for p in params])
        self._collective("broadcast (LoRA weights)", td.broadcast, flat, 0)
        with torch.no_grad():
            offset = 0
            for p in params:
                p.copy_(flat[offset:offset + p.numel()].view_as(p))
                offset += p.numel()
        td.distributed_c10d._set_pg_timeout(timedelta(seconds=self.timeout))

    # ---- rank-0 guards

    def gather_samples(self, samples: list[dict], limit: int) -> list[dict]:
        """The samples to log: each rank's in turn (marked with their rank), at most ``limit``."""
        if not self.enabled:
            return samples
        per_rank, out = self.gather(samples), []
        for i in range(max(len(items) for items in per_rank)):
            out += [{"rank": r, **items[i]} for r, items in enumerate(per_rank) if i < len(items)]
        return out[:limit]

    def stop(self, exc: UserError):
        """Raise ``exc`` on rank 0 (its one line for the user); the others leave quietly with its status."""
        if self.is_main:
            raise exc
        raise SystemExit(exc.exit_status)

    # ---- faults

    def _collective(self, what: str, fn, *args):
        self._count += 1
        if self._store is not None:
            try:
                self._store.set(f"grpo/at/{self.rank}", f"{self._count} {what}")
            except Exception:  # the store lived in the launcher, which is gone: no more diagnosis
                self._store = None
        try:
            return fn(*args)
        except RuntimeError as exc:  # DistBackendError, DistNetworkError, gloo's and NCCL's errors
            raise RankLost(self._diagnose(what, exc)) from None

    def _diagnose(self, what: str, exc: Exception) -> str:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
        timed_out = "timeout" in first.lower() or "timed out" in first.lower()
        culprit = self._culprit(timed_out)
        if culprit is None:
            culprit = (f"another rank did not reach {what} within train.collective_timeout = {self.timeout:g} s"
                       if timed_out else f"another rank stopped answering ({first})")
        return f"rank {self.rank} stopping in {what}: {culprit}"

    def failure_elsewhere(self) -> str | None:
        """The failure another rank recorded before it exited ("rank 1 failed: ..."), else a rank on this host
        whose process is gone (killed, crashed), or None."""
        if self._store is None:
            return None
        try:
            if self._store.check(["grpo/failed"]):
                failed = self._store.get("grpo/failed").decode()
                if not failed.startswith(f"rank {self.rank} failed"):
                    return failed
            return self._dead_rank()
        except Exception:  # the store went with the launcher
            return None

    def _culprit(self, timed_out: bool = True) -> str | None:
        store = self._store
        if store is None:
            return None
        try:
            # A killed rank's sockets close while the kernel is still tearing it down, so the collective can
            # fail before the process looks dead: give a rank that broke the connection a moment to be gone.
            deadline = time.monotonic() + (0 if timed_out else 5)
            while True:
                failed = self.failure_elsewhere()  # recorded by that rank, or its process gone
                if failed:
                    return failed
                if time.monotonic() >= deadline:
                    break
                time.sleep(0.1)
            if not timed_out:
                return None
            for r in range(self.world_size):
                key = f"grpo/at/{r}"
                if r == self.rank or not store.check([key]):
                    continue
                count, last = store.get(key).decode().split(" ", 1)
                if int(count) < self._count:
                    return (f"rank {r} did not get there within train.collective_timeout = {self.timeout:g} s: it "
                            f"is still in its step, after {last} (a hung reward, a stuck device?)")
        except Exception:  # the store went with the launcher: say what the collective said
            return None
        return None

    def _dead_rank(self) -> str | None:
        """The first other rank on this host whose process is gone, in one line, or None."""
        host = socket.gethostname()
        for r in range(self.world_size):
            key = f"grpo/rank/{r}"
            if r == self.rank or not self._store.check([key]) or self._store.check([f"grpo/left/{r}"]):
                continue
            where, pid = self._store.get(key).decode().split()
            if where == host and not processes.alive(int(pid)):
                return f"rank {r} (pid {pid}) died without an error: killed (SIGKILL, out of memory?) or crashed"
        return None


SINGLE = Dist()  # one process: no torch.distributed at all
STARTUP_SECONDS = 1800  # the wait for every rank to join and load its model


def from_env(grpo_cfg, environ=None) -> Dist:
    """The Dist of this process, from torchrun's environment (RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE).
    One process (no WORLD_SIZE, or 1) is SINGLE. What cannot be split over the world is refused (check_world)."""
    env = os.environ if environ is None else environ
    world = int(env.get("WORLD_SIZE", "1") or 1)
    if world <= 1:
        return SINGLE
    if "RANK" not in env:
        raise UserError(f"WORLD_SIZE={world} but no RANK in the environment: start ranks with torchrun "
                        f"(or grpo train --nproc-per-node N)")
    check_world(grpo_cfg, world)
    return Dist(rank=int(env["RANK"]), world_size=world, local_rank=int(env.get("LOCAL_RANK", 0)),
                local_world_size=int(env.get("LOCAL_WORLD_SIZE", world)))


def check_world(grpo_cfg, world: int) -> None:
    """Refuse, in one line, a [grpo] config that ``world`` ranks cannot share."""
    if grpo_cfg.prompts_per_step % world:
        raise ConfigError(f"grpo.prompts_per_step = {grpo_cfg.prompts_per_step} does not split over {world} ranks: "
                          f"use a multiple of {world} (each rank takes whole prompts)")
    if world > 1 and getattr(grpo_cfg, "dynamic_sampling", False):
        # its rounds would have each rank draw its own extra prompts and stop on its own count: not yet
        raise ConfigError(f"grpo.dynamic_sampling = true is not supported with {world} ranks yet: run it in "
                          f"one process, or set it to false")


def _combine(parts: list):
    first = parts[0]
    if isinstance(first, dict):
        return {k: _combine([p[k] for p in parts]) for k in first}
    if isinstance(first, tuple):
        return tuple(_combine(list(items)) for items in zip(*parts))
    if isinstance(first, list):
        return [x for p in parts for x in p]
    return sum(parts)


def _summed(counts: list):
    total = type(counts[0])()
    for c in counts:
        total.add(c)
    return total


def nowhere(path: str, resume_after_step=None):
    """What a rank other than 0 writes its logs to (runlog.JsonlLog's interface)."""
    return _Nowhere()


class _Nowhere:
    def write(self, record: dict) -> None:
        pass

    def close(self) -> None:
        pass


def resume_note(state: dict, dist: Dist) -> str:
    """What a resume on another world size means, for the log line (empty when nothing changed)."""
    saved = state.get("world_size", 1)
    if saved == dist.world_size:
        return ""
    return (f" (saved by {saved} rank(s), now {dist.world_size}: the data position is global and sampling is "
            f"seeded per prompt, so the run continues on the same batches; ranks the checkpoint lacks seed "
            f"their dropout afresh)")


def rank_rng(state: dict, rank: int) -> dict | None:
    """This rank's RNG states from a checkpoint (None: the checkpoint had fewer ranks than this run)."""
    ranks = state.get("ranks")
    if ranks is None:  # a checkpoint of a single process, before ranks were recorded
        return state["rng"] if rank == 0 else None
    return ranks[rank]["rng"] if rank < len(ranks) else None


# -----------------------------------------------------------------------------
# process hygiene

def _die_with_launcher() -> None:
    """Linux: SIGTERM this rank when its torchrun agent dies (even by SIGKILL), so no rank outlives it; the
    rank then stops as on Ctrl-C, at the end of its step. A no-op off Linux or outside torchrun."""
    if "TORCHELASTIC_RUN_ID" not in os.environ:
        return
    parent = os.getppid()
    if not processes.die_with_parent(signal.SIGTERM):
        return
    if os.getppid() != parent:
        print("grpo: the torchrun agent is gone; stopping", file=sys.stderr)
        raise SystemExit(1)
