"""Atomic checkpoints and exact resume.

A checkpoint is a directory ``checkpoints/step-000050`` holding the LoRA adapter (peft format, so
``PeftModel.from_pretrained`` loads it), and ``state.pt`` with the optimizer, the scheduler, every
RNG state and the data position (of every rank, under torchrun). It is written under a temporary name and renamed into place, then
``checkpoints/latest`` is rewritten the same way: a crash in the middle of a save leaves the previous
checkpoint, and the pointer to it, intact.
"""
from __future__ import annotations

import os
import random
import shutil

import torch

from .model import save_adapter

KEEP = 2  # checkpoints kept on disk besides the newest being written


def _atomic_write_text(path: str, text: str) -> None:
    tmp = f"{path}.tmp"
    with open(tmp, "w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def rng_state(generator: torch.Generator | None = None) -> dict:
    state = {"python": random.getstate(), "torch": torch.get_rng_state()}
    if generator is not None:
        state["sampler"] = generator.get_state()
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng(state: dict, generator: torch.Generator | None = None) -> None:
    random.setstate(state["python"])
    torch.set_rng_state(state["torch"])
    if generator is not None and "sampler" in state:
        generator.set_state(state["sampler"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save(run_dir: str, step: int, model, tokenizer, optimizer, scheduler, generator, data_state: dict,
         extra: dict, ranks: list[dict] | None = None) -> str:
    """``ranks``: every rank's {"rng", "data"} of a torchrun run (distributed.py), rank 0 first."""
    root = os.path.join(run_dir, "checkpoints")
    os.makedirs(root, exist_ok=True)
    name = f"step-{step:06d}"
    final, tmp = os.path.join(root, name), os.path.join(root, f".{name}.partial")
    shutil.rmtree(tmp, ignore_errors=True)
    save_adapter(model, tokenizer, os.path.join(tmp, "adapter"))
    torch.save({"step": step, "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                "rng": rng_state(generator), "data": data_state, "extra": extra,
                "world_size": len(ranks) if ranks else 1, "ranks": ranks},
               os.path.join(tmp, "state.pt"))
    shutil.rmtree(final, ignore_errors=True)  # a re-save of the same step (resume after a crash)
    os.replace(tmp, final)
    _atomic_write_text(os.path.join(root, "latest"), name + "\n")
    # Older checkpoints go only once the new one and the pointer are in place.
    kept = sorted(d for d in os.listdir(root) if d.startswith("step-"))
    for old in kept[:-KEEP]:
        shutil.rmtree(os.path.join(root, old), ignore_errors=True)
    return final


def latest(run_dir: str) -> str | None:
    """The newest complete checkpoint of a run, or None."""
    pointer = os.path.join(run_dir, "checkpoints", "latest")
    if not os.path.exists(pointer):
        return None
    with open(pointer) as f:
        path = os.path.join(run_dir, "checkpoints", f.read().strip())
    return path if os.path.exists(os.path.join(path, "state.pt")) else None


def load_state(path: str) -> dict:
    # weights_only=False: the file holds RNG states and Python tuples that we wrote ourselves.
    return torch.load(os.path.join(path, "state.pt"), map_location="cpu", weights_only=False)
