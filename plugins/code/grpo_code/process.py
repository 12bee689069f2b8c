"""One child process under a deadline and an output cap, and the guarantee that its tree is gone after.

``execute`` feeds stdin, reads stdout and stderr as they come (a program that floods them is killed at
the cap, never buffered without bound), kills the child's whole session at the wall-clock limit, and,
for a bubblewrap child, waits until the sandbox's PID-namespace init has exited: the kernel kills every
process of a PID namespace when its init dies, so once it is gone nothing the program started is left.
This is the one place where processes are started, killed and waited for.
"""
from __future__ import annotations

import json
import os
import selectors
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass, field

from .interface import ERROR, OK, OUTPUT_LIMIT, SANDBOX_ERROR, TIMEOUT, Limits, Result

STDERR_KEEP = 8192                # stderr bytes kept for diagnostics; the rest is read and dropped


@dataclass
class Spawned:
    """One child to run: argv, the fds it inherits, and the pipe bwrap reports its namespace init on."""

    argv: list[str]
    pass_fds: tuple = ()
    cwd: str | None = None
    env: dict = field(default_factory=dict)   # bwrap sets the sandbox's own (ENV) with --setenv
    drop_to: int | None = None                 # run as this uid and gid, no supplementary groups
    info_read: int | None = None
    close_after: list = field(default_factory=list)


def memfd(name: str, data: bytes) -> int:
    """A file in memory holding ``data``: how programs reach a sandbox without touching the disk."""
    fd = os.memfd_create(name, 0)  # inheritable or not is decided by pass_fds
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]
    os.lseek(fd, 0, os.SEEK_SET)
    return fd


def prlimit(limits: Limits, extra_as_mb: int = 0) -> list[str]:
    address = (limits.memory_mb + extra_as_mb) * 2**20
    return [_PRLIMIT, f"--cpu={limits.cpu_seconds()}:{limits.cpu_seconds() + 1}", f"--as={address}",
            f"--fsize={limits.file_size_mb * 2**20}", f"--nproc={limits.processes}", "--core=0", "--"]


_PRLIMIT = shutil.which("prlimit", path="/usr/bin:/bin") or "prlimit"


def execute(spawned: Spawned, stdin: bytes, limits: Limits) -> Result:
    """Run ``spawned`` feeding ``stdin``; kill it (and its process tree) at the wall-clock or output limit."""
    start = time.monotonic()
    deadline = start + limits.timeout
    try:
        proc = subprocess.Popen(spawned.argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                pass_fds=spawned.pass_fds, cwd=spawned.cwd, env=spawned.env,
                                start_new_session=True, user=spawned.drop_to, group=spawned.drop_to,
                                extra_groups=[] if spawned.drop_to is not None else None)
    except OSError as exc:
        if spawned.info_read is not None:
            os.close(spawned.info_read)
        return Result(SANDBOX_ERROR, stderr=f"could not start: {exc}".encode())
    finally:
        for fd in spawned.close_after:
            os.close(fd)
    status = None
    try:
        status, out, err = _communicate(proc, stdin, deadline, limits.output_bytes)
        if status is None:
            try:
                proc.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                status = TIMEOUT
    finally:  # on a limit, and on anything unexpected (Ctrl-C included): nothing may outlive this call
        if status is not None or proc.returncode is None:
            _kill(proc)
        elapsed = time.monotonic() - start
        _wait_for_namespace(spawned.info_read)
    if status is None:
        status = OK if proc.returncode == 0 else ERROR
    return Result(status, bytes(out), bytes(err[:STDERR_KEEP]), elapsed, proc.returncode)


def _communicate(proc, stdin: bytes, deadline: float, cap: int):
    """Feed stdin and collect output until EOF, the deadline or ``cap`` bytes; (status or None, out, err)."""
    out, err, total = bytearray(), bytearray(), 0
    sel = selectors.DefaultSelector()
    view = memoryview(stdin)
    if view:
        os.set_blocking(proc.stdin.fileno(), False)
        sel.register(proc.stdin, selectors.EVENT_WRITE)
    else:
        proc.stdin.close()
    sel.register(proc.stdout, selectors.EVENT_READ, out)
    sel.register(proc.stderr, selectors.EVENT_READ, err)
    try:
        while sel.get_map():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return TIMEOUT, out, err
            for key, _ in sel.select(remaining):
                if key.fileobj is proc.stdin:
                    try:
                        view = view[os.write(key.fd, view[:65536]):]
                    except (BrokenPipeError, OSError):  # the program stopped reading: fine
                        view = view[:0]
                    if not view:
                        sel.unregister(proc.stdin)
                        proc.stdin.close()
                    continue
                chunk = os.read(key.fd, 65536)
                if not chunk:
                    sel.unregister(key.fileobj)
                    continue
                total += len(chunk)
                if total > cap:
                    return OUTPUT_LIMIT, out, err
                if key.data is out or len(err) < STDERR_KEEP:  # stderr past that is read (or the pipe would
                    key.data.extend(chunk)                     # block the program) but not kept
    finally:
        sel.close()
        for pipe in (proc.stdin, proc.stdout, proc.stderr):
            try:
                pipe.close()
            except OSError:
                pass
    return None, out, err


def _kill(proc) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)  # its session: the outer bwrap (or, unsandboxed, the program's group)
    except (ProcessLookupError, PermissionError):
        pass
    proc.kill()
    proc.wait()


def _wait_for_namespace(info_read: int | None, limit: float = 5.0) -> None:
    """Return once the sandbox's PID-namespace init (and so every process in it) has exited."""
    if info_read is None:
        return
    try:
        os.set_blocking(info_read, False)
        try:
            text = os.read(info_read, 65536)
        except BlockingIOError:
            return  # bwrap never got as far as starting the namespace
        pid = json.loads(text or b"{}").get("child-pid")
        if not pid:
            return
        try:
            pidfd = os.pidfd_open(pid)
        except ProcessLookupError:
            return
        try:
            with selectors.DefaultSelector() as sel:  # a pidfd turns readable when its process exits
                sel.register(pidfd, selectors.EVENT_READ)
                sel.select(limit)
        finally:
            os.close(pidfd)
    except (OSError, ValueError):
        pass
    finally:
        os.close(info_read)
