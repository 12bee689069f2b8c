"""The run directory (train.output_dir): what it holds, whether a new run may start in it, writing into it.

A directory is one of:
  new        absent or empty: a run starts there;
  unstarted  a run's config.toml but no checkpoint and no finished step (stopped during start-up or its
             first evaluation, or failed before step 1): nothing in it is worth keeping, so it starts again,
             with one line saying so;
  started    checkpoints, finished steps or a summary: `--resume` continues it, `--overwrite` replaces it;
  foreign    files that are not a run (no config.toml): never touched; choose another directory.
Replacing removes only what a run writes (RUN_ENTRIES), never files grpo did not make.
"""
from __future__ import annotations

import os
import shutil
import sys

from grpo_rewards.errors import UserError

from . import checkpoint
from .runlog import read_metrics

RUN_ENTRIES = ("config.toml", "metrics.jsonl", "completions.jsonl", "checkpoints", "adapter", "rewards.png",
               "summary.json", "tensorboard", "wandb", ".wandb-run-id", ".trackio-run-id", "config.toml.tmp",
               "summary.json.tmp", "metrics.jsonl.tmp", "completions.jsonl.tmp", ".adapter.partial")


def finished_steps(run_dir: str) -> int:
    path = os.path.join(run_dir, "metrics.jsonl")
    try:
        return len(read_metrics(path)) if os.path.exists(path) else 0
    except OSError:
        return 0


def kind(run_dir: str) -> str:
    """new | unstarted | started | foreign (see the module docstring)."""
    if not os.path.isdir(run_dir) or not os.listdir(run_dir):
        return "new"
    if not os.path.isfile(os.path.join(run_dir, "config.toml")):
        return "foreign"
    if checkpoint.newest_name(run_dir) or finished_steps(run_dir) \
            or os.path.exists(os.path.join(run_dir, "summary.json")):
        return "started"
    return "unstarted"


def check(run_dir: str, overwrite: bool) -> str:
    """Whether a new run may start in ``run_dir``: its kind, or a refusal in one line (nothing is touched)."""
    if os.path.exists(run_dir) and not os.path.isdir(run_dir):
        raise UserError(f"train.output_dir {run_dir!r} is a file, not a directory")
    found = kind(run_dir)
    if found == "foreign":
        raise UserError(f"train.output_dir {run_dir!r} holds files that are not a grpo run (no config.toml): "
                        f"choose an empty or new directory")
    if found == "started" and not overwrite:
        latest = checkpoint.newest_name(run_dir)
        if latest is None:
            raise UserError(f"train.output_dir {run_dir!r} holds a run with {finished_steps(run_dir)} finished steps "
                            f"and no checkpoint to resume from: replace it with --overwrite, or choose another "
                            f"with --set train.output_dir=...")
        raise UserError(f"train.output_dir {run_dir!r} already holds a run (checkpoint {latest}): "
                        f"continue it with --resume, replace it with --overwrite, or choose another with "
                        f"--set train.output_dir=...")
    return found


def start(run_dir: str, found: str) -> None:
    """Make ``run_dir`` (of the kind check() found) ready for a new run."""
    if found == "unstarted":
        print(f"grpo: {run_dir} holds a run that stopped before its first step; starting it again", file=sys.stderr)
    elif found == "started":
        print(f"grpo: --overwrite: replacing the run in {run_dir}", file=sys.stderr)
    if found != "new":
        clear(run_dir)
    ensure(run_dir)


def clear(run_dir: str) -> None:
    for name in RUN_ENTRIES:
        path = os.path.join(run_dir, name)
        try:
            if os.path.isdir(path) and not os.path.islink(path):
                shutil.rmtree(path)
            elif os.path.lexists(path):
                os.remove(path)
        except OSError as exc:
            raise UserError(f"train.output_dir: cannot remove {path}: {(exc.strerror or str(exc)).lower()}") from None


def ensure(run_dir: str) -> None:
    """Create ``run_dir`` and prove it writable now, not at the first checkpoint."""
    probe = os.path.join(run_dir, ".grpo-write-test")
    try:
        os.makedirs(run_dir, exist_ok=True)
        with open(probe, "w") as f:
            f.write("ok\n")
        os.remove(probe)
    except OSError as exc:
        raise UserError(f"train.output_dir {run_dir!r}: cannot write there: {(exc.strerror or str(exc)).lower()}"
                        ) from None


def write_text(path: str, text: str) -> None:
    """Write a whole file under a temporary name and rename it into place (no half-written file)."""
    tmp = f"{path}.tmp"
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except OSError as exc:
        try:
            os.remove(tmp)
        except OSError:
            pass
        raise OSError(exc.errno, exc.strerror, path) from None
