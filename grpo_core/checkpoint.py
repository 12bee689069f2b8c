"""Atomic checkpoints, validated when loaded, and exact resume.

A checkpoint is a directory ``checkpoints/step-000050`` holding the LoRA adapter (peft format, so
``PeftModel.from_pretrained`` loads it), and ``state.pt`` with the optimizer, the scheduler, every
RNG state and the data position (of every rank, under torchrun). It is written under a temporary name and renamed into place, then
``checkpoints/latest`` is rewritten the same way: a crash in the middle of a save leaves the previous
checkpoint, and the pointer to it, intact. A save that fails (a full disk) removes its partial
directory, so the space it took is given back, and says so in one line.

What is on disk can still be damaged afterwards (a copy cut short, a disk error), so loading never
trusts it: :func:`validate` reads every file and checks its shape, and :func:`newest_valid` walks
back from the newest checkpoint to the first one that passes, naming each one it skips and why.
"""
from __future__ import annotations

import errno
import os
import random
import re
import shutil
import sys

import torch
from grpo_rewards.errors import UserError, first_line

from .model import check_adapter, save_adapter

KEEP = 2  # checkpoints kept on disk besides the newest being written
STATE_KEYS = ("step", "optimizer", "scheduler", "rng", "data", "extra")
_NAME = re.compile(r"^step-(\d{6,})$")


class Unusable(Exception):
    """A checkpoint that cannot be resumed from; the message says which file and why."""


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


def disk_error(exc: BaseException) -> OSError | None:
    """The OSError behind a failed write: itself, one it was raised from (torch wraps a file object's
    error in a RuntimeError), or the "os error N" that safetensors puts in its message."""
    seen = exc
    while seen is not None:
        if isinstance(seen, OSError):
            return seen
        seen = seen.__cause__ or seen.__context__
    found = re.search(r"os error (\d+)", str(exc))
    return OSError(int(found.group(1)), os.strerror(int(found.group(1)))) if found else None


def _cause(exc: BaseException, folder: str) -> str:
    error = disk_error(exc)
    if error is None:
        try:  # torch's writer can lose the errno; an empty disk speaks for itself
            full = os.statvfs(folder).f_bavail == 0
        except OSError:
            full = False
        error = OSError(errno.ENOSPC, "") if full else None
    if error is not None and error.errno == errno.ENOSPC:
        return "no space left on device"
    if error is not None:
        return (error.strerror or str(error)).lower()
    return f"{type(exc).__name__}: {first_line(exc)}"


def save(run_dir: str, step: int, model, tokenizer, optimizer, scheduler, generator, data_state: dict,
         extra: dict, ranks: list[dict] | None = None) -> str:
    """``ranks``: every rank's {"rng", "data"} of a torchrun run (distributed.py), rank 0 first."""
    root = os.path.join(run_dir, "checkpoints")
    name = f"step-{step:06d}"
    final, tmp = os.path.join(root, name), os.path.join(root, f".{name}.partial")
    try:
        os.makedirs(root, exist_ok=True)
        shutil.rmtree(tmp, ignore_errors=True)
        save_adapter(model, tokenizer, os.path.join(tmp, "adapter"))
        with open(os.path.join(tmp, "state.pt"), "wb") as f:  # a file object: its OSError stays findable
            torch.save({"step": step, "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                        "rng": rng_state(generator), "data": data_state, "extra": extra,
                        "world_size": len(ranks) if ranks else 1, "ranks": ranks}, f)
            f.flush()
            os.fsync(f.fileno())
    except (OSError, RuntimeError) as exc:
        shutil.rmtree(tmp, ignore_errors=True)  # give the space back
        previous = latest(run_dir)
        kept = f"; {os.path.basename(previous)} is kept" if previous else ""
        raise UserError(f"checkpoint {name} not saved in {root}: {_cause(exc, root)}{kept}") from None
    shutil.rmtree(final, ignore_errors=True)  # a re-save of the same step (resume after a crash)
    os.replace(tmp, final)
    _atomic_write_text(os.path.join(root, "latest"), name + "\n")
    # Older checkpoints go only once the new one and the pointer are in place.
    for old in [d for _, d in _steps(root)][KEEP:]:
        shutil.rmtree(os.path.join(root, old), ignore_errors=True)
    return final


def save_final_adapter(run_dir: str, model, tokenizer) -> str:
    """RUN_DIR/adapter, written like a checkpoint: under a temporary name, renamed into place; a failure
    (a full disk) leaves the previous adapter, if any, and says the last checkpoint holds the weights."""
    final, tmp = os.path.join(run_dir, "adapter"), os.path.join(run_dir, ".adapter.partial")
    try:
        shutil.rmtree(tmp, ignore_errors=True)
        save_adapter(model, tokenizer, tmp)
    except (OSError, RuntimeError) as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise UserError(f"adapter not saved in {final}: {_cause(exc, run_dir)}; the last checkpoint in "
                        f"{os.path.join(run_dir, 'checkpoints')} holds the trained weights") from None
    shutil.rmtree(final, ignore_errors=True)
    os.replace(tmp, final)
    return final


def _steps(root: str) -> list[tuple[int, str]]:
    """(step, directory name) of every finished checkpoint directory, newest first."""
    try:
        names = os.listdir(root)
    except OSError:
        return []
    found = [(int(m.group(1)), d) for d in names if (m := _NAME.match(d)) and os.path.isdir(os.path.join(root, d))]
    return sorted(found, reverse=True)


def latest(run_dir: str) -> str | None:
    """The newest checkpoint directory of a run that has a state file, unchecked (see newest_valid)."""
    root = os.path.join(run_dir, "checkpoints")
    for _, name in _steps(root):
        if os.path.exists(os.path.join(root, name, "state.pt")):
            return os.path.join(root, name)
    return None


def newest_name(run_dir: str) -> str | None:
    """The name of the newest checkpoint directory, complete or not."""
    found = _steps(os.path.join(run_dir, "checkpoints"))
    return found[0][1] if found else None


def load_state(path: str) -> dict:
    # weights_only=False: the file holds RNG states and Python tuples that we wrote ourselves.
    return torch.load(os.path.join(path, "state.pt"), map_location="cpu", weights_only=False)


def validate(path: str, lora_r: int | None = None) -> dict:
    """The state of the checkpoint at ``path`` once every file is read and checked; raises Unusable."""
    state_file = os.path.join(path, "state.pt")
    if not os.path.isfile(state_file):
        raise Unusable("state.pt is missing")
    if os.path.getsize(state_file) == 0:
        raise Unusable("state.pt is empty")
    try:
        state = load_state(path)
    except Exception as exc:  # truncated zip, bad pickle, unreadable file: all mean "cannot resume from it"
        raise Unusable(f"state.pt cannot be read ({first_line(exc)})") from None
    if not isinstance(state, dict) or any(key not in state for key in STATE_KEYS):
        raise Unusable("state.pt does not hold a grpo checkpoint")
    match = _NAME.match(os.path.basename(path))
    if match and state["step"] != int(match.group(1)):
        raise Unusable(f"state.pt is for step {state['step']}, not {int(match.group(1))}")
    try:
        check_adapter(os.path.join(path, "adapter"), lora_r=lora_r)
    except UserError as exc:
        raise Unusable(str(exc).removeprefix(f"adapter {os.path.join(path, 'adapter')}: ")) from None
    return state


def newest_valid(run_dir: str, lora_r: int | None = None, say=None) -> tuple[str | None, dict | None, list[str]]:
    """(path, state, reasons): the newest checkpoint that passes :func:`validate`, walking back from the
    newest. When one passes, each one skipped is reported through ``say`` (one line each); when none
    does, nothing is said: the caller's error lists ``reasons`` in its one line."""
    say = say or (lambda line: print(line, file=sys.stderr))
    root, reasons = os.path.join(run_dir, "checkpoints"), []
    for _, name in _steps(root):
        path = os.path.join(root, name)
        try:
            state = validate(path, lora_r)
        except Unusable as exc:
            reasons.append(f"{name}: {exc}")
            continue
        for reason in reasons:
            say(f"grpo: skipping checkpoint {reason}")
        return path, state, reasons
    return None, None, reasons


def check_optimizer(state: dict, params: list) -> None:
    """The optimizer state of a checkpoint fits the trainable parameters of the model it goes into."""
    saved = state["optimizer"]
    count = sum(len(group["params"]) for group in saved["param_groups"])
    if count != len(params):
        raise UserError(f"checkpoint step {state['step']}: its optimizer holds {count} parameters, the model "
                        f"has {len(params)} trainable ones (was lora.* or model.* changed?)")
    for index, values in saved["state"].items():
        for key, value in values.items():
            if torch.is_tensor(value) and value.dim() > 0 and value.shape != params[int(index)].shape:
                raise UserError(f"checkpoint step {state['step']}: optimizer state {key} of parameter {index} has "
                                f"shape {tuple(value.shape)}, the model's is {tuple(params[int(index)].shape)}")
