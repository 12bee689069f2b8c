"""Process hygiene shared by every process grpo starts: reward workers (runtime.py), torchrun ranks
(grpo_core/distributed.py) and a managed vLLM server (grpo_core/generation/server.py).

Two questions come up in each of them: is that process still alive (a zombie is not: it is dead, only not yet
reaped), and how does a process make sure it dies with its parent, whatever kills the parent (Linux's
parent-death signal; elsewhere the callers have their own second line of defence).
"""
from __future__ import annotations

import ctypes
import os
import sys

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def alive(pid: int) -> bool:
    """Whether process ``pid`` exists and is not a zombie; True when it exists but belongs to someone else."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):  # no /proc (not Linux), or it vanished meanwhile: kill(0) said it was there
        return True


def die_with_parent(sig: int) -> bool:
    """Ask the kernel to send this process ``sig`` when its parent ends (Linux); False where that is not possible.
    Safe in a ``preexec_fn``: ctypes is imported with this module, not here."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        return ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, sig, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False
