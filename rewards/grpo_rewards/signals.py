"""SIGINT and SIGTERM, handled alike by every `grpo` command and in every phase of a run.

Python turns Ctrl-C into KeyboardInterrupt but lets SIGTERM (what `kill`, schedulers and containers
send) end the process on the spot: no `finally` runs, so worker processes, temporary files and half
a checkpoint were left behind. Here both signals raise :class:`Stopped` (a KeyboardInterrupt, so that
`except Exception` in plugin or library code never swallows it): every cleanup on the way out runs.
Another signal within UNWIND_SECONDS of a raise is ignored, so that an impatient second Ctrl-C cannot
break the cleanup the first one started (or an extension library in the middle of it); one that comes
later raises again, so a Stopped that some library's ``except BaseException`` swallowed does not leave
the command deaf. Inside :func:`graceful` (the training loop) the first signal only sets a flag so the
step in flight can finish and be saved; a second one raises.

The exit status of a stopped command is 128 + the signal number, as a shell reports it: 130 for
SIGINT, 143 for SIGTERM. A signal the process was started with ignored (SIG_IGN, as a shell does for
background jobs) stays ignored.
"""
from __future__ import annotations

import contextlib
import math
import signal
import sys
import threading
import time

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
UNWIND_SECONDS = 5.0


class Stopped(KeyboardInterrupt):
    """The command was asked to stop by ``signum`` (SIGINT or SIGTERM)."""

    def __init__(self, signum: int = signal.SIGINT):
        super().__init__(signum)
        self.signum = signum

    @property
    def name(self) -> str:
        return signal.Signals(self.signum).name

    @property
    def exit_status(self) -> int:
        return 128 + self.signum


class _State:
    graceful = None           # the open graceful() window, if any
    raised_at = -math.inf     # when the last Stopped was raised (time.monotonic)
    pending = None            # a signal that came before the command could act on it (defer_until_ready)


def _remember(signum, frame):
    _State.pending = _State.pending or signum


def defer_until_ready() -> None:
    """Called first thing by the `grpo` entry point, before its slow imports: a signal arriving then is
    remembered, and raised as soon as :func:`stop_on_signals` is entered (where it can be handled)."""
    if threading.current_thread() is threading.main_thread():
        for sig in STOP_SIGNALS:
            if signal.getsignal(sig) in (signal.SIG_DFL, signal.default_int_handler):
                signal.signal(sig, _remember)


def _handle(signum, frame):
    window = _State.graceful
    if window is not None and not window.requested:
        window.requested, window.signum = True, signum
        print(f"\ngrpo: {signal.Signals(signum).name}: {window.message} "
              f"(send it again to stop at once)", file=sys.stderr)
        return
    if time.monotonic() - _State.raised_at < UNWIND_SECONDS:  # the last one is still unwinding
        return
    _State.raised_at = time.monotonic()
    raise Stopped(signum)


@contextlib.contextmanager
def stop_on_signals():
    """SIGINT and SIGTERM raise Stopped within this block (main thread only; elsewhere a no-op)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    # An ignored signal stays ignored (a shell starts background jobs with SIGINT ignored, on purpose).
    previous = {sig: signal.signal(sig, _handle) for sig in STOP_SIGNALS if signal.getsignal(sig) != signal.SIG_IGN}
    _State.raised_at = -math.inf  # a block is entered on the way in, never while unwinding
    try:
        if _State.pending is not None:  # it came while the command was starting: act on it now
            signum, _State.pending = _State.pending, None
            _State.raised_at = time.monotonic()
            raise Stopped(signum)
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


class _Window:
    def __init__(self, message: str):
        self.message = message
        self.requested = False
        self.signum: int | None = None


@contextlib.contextmanager
def graceful(message: str = "stopping after this step"):
    """Within this block the first SIGINT/SIGTERM sets ``.requested`` (and ``.signum``) instead of
    raising; the caller stops at a consistent point. A second signal raises Stopped as usual."""
    window, outer = _Window(message), _State.graceful
    with stop_on_signals():
        _State.graceful = window
        try:
            yield window
        finally:
            _State.graceful = outer
