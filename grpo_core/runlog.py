"""What a run writes as it goes: metrics.jsonl (one line per step), completions.jsonl (a sample of
prompts, completions and their scores), and at the end a PNG of the reward curves.

Each line is flushed when written, so a crash loses at most the step in flight; on resume, lines of
steps after the checkpoint are dropped so the files read as one uninterrupted run. A line that does
not parse (the torn last line a crash in the middle of a write leaves) is dropped too, and the file
is rewritten under a temporary name first, so a crash during the rewrite loses nothing.
"""
from __future__ import annotations

import json
import math
import os
import sys


def _parse(line: str) -> dict | None:
    try:
        record = json.loads(line)
    except ValueError:
        return None
    return record if isinstance(record, dict) else None


class JsonlLog:
    def __init__(self, path: str, resume_after_step: int | None = None):
        self.path = path
        if resume_after_step is not None and os.path.exists(path):
            with open(path, encoding="utf-8", errors="replace") as f:
                lines = [line for line in f if line.strip()]
            records = [_parse(line) for line in lines]
            kept = [line.rstrip("\n") + "\n" for line, r in zip(lines, records)
                    if r is not None and r.get("step", 0) <= resume_after_step]
            torn = sum(r is None for r in records)
            if torn:
                print(f"grpo: {os.path.basename(path)}: dropped {torn} unreadable line{'s' * (torn > 1)} "
                      f"(a write cut short)", file=sys.stderr)
            tmp = f"{path}.tmp"
            with open(tmp, "w", encoding="utf-8") as f:
                f.writelines(kept)
            os.replace(tmp, path)
        self._file = open(path, "a" if resume_after_step is not None else "w", encoding="utf-8")

    def write(self, record: dict) -> None:
        try:
            self._file.write(json.dumps(record, default=_plain) + "\n")
            self._file.flush()
        except OSError as exc:  # name the file: a bare ENOSPC from write() has no path
            raise OSError(exc.errno, exc.strerror, self.path) from None

    def close(self) -> None:
        try:
            self._file.close()
        except OSError:  # the disk filled up under the last line: write() has said so already
            pass


def _plain(value):
    if hasattr(value, "item"):
        return value.item()
    return str(value)


def read_metrics(path: str) -> list[dict]:
    """The records of a JSONL log, skipping lines that do not parse."""
    with open(path, encoding="utf-8", errors="replace") as f:
        return [r for r in (_parse(line) for line in f if line.strip()) if r is not None]


def plot_rewards(metrics_path: str, out_path: str) -> str | None:
    """Reward mean (total and each reward) against step; returns the path written, or None."""
    records = read_metrics(metrics_path) if os.path.exists(metrics_path) else []
    if not records:
        return None
    import matplotlib

    matplotlib.use("Agg")  # files only: no display on a training box
    import matplotlib.pyplot as plt

    steps = [r["step"] for r in records]
    keys = ["reward/mean"] + sorted(k for k in records[0] if k.startswith("rewards/") and k.endswith("/mean"))
    fig, ax = plt.subplots(figsize=(8, 4.5))
    for key in keys:
        values = [r.get(key) for r in records]
        values = [math.nan if v is None else v for v in values]
        label = "total (weighted)" if key == "reward/mean" else key[len("rewards/"):-len("/mean")]
        ax.plot(steps, values, label=label, linewidth=2 if key == "reward/mean" else 1)
    ax.set_xlabel("step")
    ax.set_ylabel("mean reward")
    ax.set_title("Rewards during training")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(out_path, dpi=110)
    plt.close(fig)
    return out_path
