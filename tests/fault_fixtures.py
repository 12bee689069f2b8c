"""Helpers for the fault tests: real small file systems (a full disk, a read-only one), processes that
must be gone, and `grpo` commands started so that a test can signal them mid-run."""
from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time

import pytest


@contextlib.contextmanager
def tmpfs(size: str = "64k", read_only: bool = False):
    """A fresh tmpfs of ``size`` (mount needs root, which CI has); under CI a failure to mount fails."""
    where = tempfile.mkdtemp(prefix="grpo-tmpfs-")
    options = f"size={size}" + (",ro" if read_only else "")
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", where], capture_output=True, text=True)
    if mounted.returncode != 0:
        os.rmdir(where)
        message = f"cannot mount a tmpfs here ({mounted.stderr.strip()}); the full-disk tests need root"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", where], capture_output=True)
        os.rmdir(where)


def fill(folder: str) -> None:
    """Fill the file system of ``folder`` to the last byte (files "filler", then "filler2")."""
    for name, chunk in (("filler", 4096), ("filler2", 1)):
        with open(os.path.join(folder, name), "wb", buffering=0) as f:
            with contextlib.suppress(OSError):
                while True:
                    f.write(b"\0" * chunk)


def dead(pid: int) -> bool:
    """Gone, or a zombie waiting for init to reap it (it runs nothing and holds nothing)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


def wait_dead(pids, timeout: float = 10.0) -> list[int]:
    """The pids still alive after ``timeout`` seconds."""
    end = time.monotonic() + timeout
    alive = list(pids)
    while alive and time.monotonic() < end:
        alive = [p for p in alive if not dead(p)]
        time.sleep(0.1)
    return alive


def children(pid: int) -> list[int]:
    """Every descendant of ``pid`` now alive."""
    found, todo = [], [pid]
    while todo:
        parent = todo.pop()
        try:
            with open(f"/proc/{parent}/task/{parent}/children") as f:
                kids = [int(k) for k in f.read().split()]
        except FileNotFoundError:
            kids = []
        found += kids
        todo += kids
    return found


def start_cli(*args, env=None, path_dirs=()):
    """`python -m grpo_core.cli ARGS` in the background, stderr readable line by line."""
    full_env = dict(os.environ, PYTHONUNBUFFERED="1", PYTHONWARNINGS="ignore")
    full_env.update(env or {})
    if path_dirs:
        full_env["PYTHONPATH"] = os.pathsep.join([str(p) for p in path_dirs] + [full_env.get("PYTHONPATH", "")])
    return subprocess.Popen([sys.executable, "-m", "grpo_core.cli", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=full_env)


def wait_for_line(proc, text: str, timeout: float = 300.0) -> list[str]:
    """Read proc's stderr until a line holds ``text``; the lines read so far."""
    lines, end = [], time.monotonic() + timeout
    while time.monotonic() < end:
        line = proc.stderr.readline()
        if not line:
            break
        lines.append(line)
        if text in line:
            return lines
    proc.kill()
    raise AssertionError(f"never printed {text!r}: {''.join(lines)}")


def finish(proc, sig=None, timeout: float = 120.0) -> tuple[int, str]:
    """Send ``sig`` (if any), wait, and return (exit status, the rest of stderr)."""
    if sig is not None:
        proc.send_signal(sig)
    try:
        _, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise
    return proc.returncode, err


def user_lines(err: str) -> list[str]:
    """stderr without libraries' warnings: the lines grpo itself printed."""
    return [line for line in err.splitlines() if line.startswith("grpo:")]


SIGNALS = [signal.SIGINT, signal.SIGTERM]
