"""The backend interface: a program, the limits it runs under, and what it did.

A backend is any object with ``run(program: Program, stdin: bytes, limits: Limits) -> Result``; the
scoring code (reward.py) knows nothing else. The local ones are in sandbox.py; a remote service
(SandboxFusion's ``/run_code``, Piston's ``/api/v2/execute``) takes the same three things.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

OK, ERROR, TIMEOUT, OUTPUT_LIMIT, COMPILE_ERROR, SANDBOX_ERROR = (
    "ok", "error", "timeout", "output_limit", "compile_error", "sandbox_error")


@dataclass(frozen=True)
class Limits:
    """Per-execution limits. ``timeout`` is wall-clock seconds; CPU seconds default to it, rounded up."""

    timeout: float = 2.0
    memory_mb: int = 512          # address space, per process
    output_bytes: int = 1 << 20   # stdout + stderr; past it the program is killed
    processes: int = 16           # processes and threads, in the sandbox
    file_size_mb: int = 16        # largest file it may write
    tmp_mb: int = 64              # its whole work directory (tmpfs), and /dev/shm

    def cpu_seconds(self) -> int:
        return max(1, math.ceil(self.timeout))


@dataclass(frozen=True)
class Program:
    language: str                 # a key of languages.TAGS
    source: str


@dataclass
class Result:
    status: str                   # ok | error | timeout | output_limit | compile_error | sandbox_error
    stdout: bytes = b""
    stderr: bytes = b""
    time: float = 0.0             # wall seconds of the execution
    exit_code: int | None = None

    @property
    def ok(self) -> bool:
        return self.status == OK
