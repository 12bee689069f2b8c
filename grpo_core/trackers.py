"""Runs people can watch: the metrics of metrics.jsonl, step by step, in TensorBoard, W&B or Trackio.

``train.report_to = ["tensorboard", "wandb", "trackio"]`` (any of them; none by default). Each tracker
is one small class with ``log(step, record)`` and ``close()``, fed the same record metrics.jsonl
gets, numbers only. None of the libraries is a dependency: :func:`check` imports the chosen ones
before the model loads, and a missing one is a one-line config error. Nothing here needs a network:

- tensorboard: event files in RUN_DIR/tensorboard (torch's SummaryWriter; `pip install tensorboard`).
  A resumed run purges the events after its checkpoint's step, as metrics.jsonl drops those lines.
- wandb: offline unless WANDB_MODE says otherwise (files in RUN_DIR/wandb; `wandb sync` uploads
  them); the run id is kept in RUN_DIR, so a resumed run continues the same W&B run.
- trackio: local by design (its own SQLite store, TRACKIO_DIR); the project is WANDB-style, the
  run name the run directory's name; a resumed run continues it.

metrics.jsonl stays the record: a tracker that fails mid-run is reported once and dropped, never
the reason a run stops.
"""
from __future__ import annotations

import importlib
import math
import os
import sys
import uuid

from grpo_rewards.errors import ConfigError, first_line

PACKAGES = {"tensorboard": ("tensorboard", "tensorboard"), "wandb": ("wandb", "wandb"),
            "trackio": ("trackio", "trackio")}  # name -> (module to import, pip package)
PROJECT = os.environ.get("GRPO_PROJECT", "grpo")


def check(names: list[str]) -> None:
    """Import each chosen tracker's library now, so a missing one fails before the model loads."""
    for name in names:
        module, package = PACKAGES[name]
        try:
            importlib.import_module(module)
        except ImportError as err:
            raise ConfigError(f"train.report_to: {name!r} needs the {package} package, which cannot be imported "
                              f"({first_line(err)}): pip install {package}") from None


def numbers(record: dict) -> dict[str, float]:
    """The finite numbers of a metrics record (None, text and NaN are left out)."""
    out = {}
    for key, value in record.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)) or key == "step":
            continue
        if math.isfinite(value):
            out[key] = float(value)
    return out


class TensorBoard:
    def __init__(self, run_dir: str, config: dict, first_step: int):
        from torch.utils.tensorboard import SummaryWriter

        # purge_step: events a killed run wrote after its checkpoint are hidden, as in metrics.jsonl
        self.writer = SummaryWriter(os.path.join(run_dir, "tensorboard"),
                                    purge_step=first_step if first_step > 1 else None)

    def log(self, step: int, metrics: dict) -> None:
        for key, value in metrics.items():
            self.writer.add_scalar(key, value, step)
        self.writer.flush()  # a crash loses no step that metrics.jsonl has

    def close(self) -> None:
        self.writer.close()


def _run_id(run_dir: str, name: str) -> str:
    """A stable id for this run directory, so a resumed run continues the tracker's run."""
    path = os.path.join(run_dir, f".{name}-run-id")
    if os.path.exists(path):
        with open(path) as f:
            return f.read().strip()
    run_id = uuid.uuid4().hex[:12]
    with open(path, "w") as f:
        f.write(run_id + "\n")
    return run_id


class Wandb:
    def __init__(self, run_dir: str, config: dict, first_step: int):
        import wandb

        self.run = wandb.init(project=PROJECT, name=os.path.basename(os.path.abspath(run_dir)), dir=run_dir,
                              config=config, id=_run_id(run_dir, "wandb"), resume="allow",
                              mode=os.environ.get("WANDB_MODE", "offline"))

    def log(self, step: int, metrics: dict) -> None:
        self.run.log(metrics, step=step)

    def close(self) -> None:
        self.run.finish()


class Trackio:
    def __init__(self, run_dir: str, config: dict, first_step: int):
        import trackio

        self.trackio = trackio
        self.run = trackio.init(project=PROJECT, name=f"{os.path.basename(os.path.abspath(run_dir))}-"
                                f"{_run_id(run_dir, 'trackio')}", config=config, resume="allow")

    def log(self, step: int, metrics: dict) -> None:
        self.trackio.log(metrics, step=step)

    def close(self) -> None:
        self.trackio.finish()


KINDS = {"tensorboard": TensorBoard, "wandb": Wandb, "trackio": Trackio}


class Trackers:
    """The chosen trackers of a run, fed together; a context manager that closes them all."""

    def __init__(self, names: list[str], run_dir: str, config: dict, first_step: int = 1):
        self.active: dict[str, object] = {}
        for name in names:
            try:
                self.active[name] = KINDS[name](run_dir, config, first_step)
            except Exception as err:  # a tracker is a window on the run, never a reason to stop it
                print(f"grpo: train.report_to: {name} could not start, continuing without it: {first_line(err)}",
                      file=sys.stderr)

    def log(self, step: int, record: dict) -> None:
        metrics = numbers(record)
        for name, tracker in list(self.active.items()):
            try:
                tracker.log(step, metrics)
            except Exception as err:
                print(f"grpo: {name} stopped logging: {first_line(err)}", file=sys.stderr)
                self.active.pop(name)

    def close(self) -> None:
        for name, tracker in self.active.items():
            try:
                tracker.close()
            except Exception as err:
                print(f"grpo: {name} did not close cleanly: {first_line(err)}", file=sys.stderr)
        self.active.clear()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
