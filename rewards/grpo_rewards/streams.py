"""Standard output carries a command's results and nothing else.

`grpo score` writes JSONL to stdout, `--json` flags write JSON there; a reward or a plugin that
prints (a debugging `print`, a library's banner, a child process writing to file descriptor 1)
would land in the middle of it. :func:`results_only` moves the real stdout to a private
descriptor for the command's own results and points descriptor 1, and ``sys.stdout``, at stderr
for everyone else: plugins at import, rewards in this process, and the worker processes forked
from it (they inherit the redirected descriptor 1; runtime.py closes the private one in them).
"""
from __future__ import annotations

import contextlib
import io
import os
import sys

_results: io.TextIOBase | None = None
private_fds: set[int] = set()   # descriptors no child process may hold (runtime.py closes them)


def results() -> io.TextIOBase:
    """Where a command prints its results: the real stdout (sys.stdout outside results_only)."""
    return _results if _results is not None else sys.stdout


@contextlib.contextmanager
def results_only():
    """Within this block, only :func:`results` reaches the real stdout; anything else goes to stderr."""
    global _results
    try:
        sys.stdout.flush()
        saved = os.dup(1)
    except (OSError, ValueError, AttributeError):  # no stdout at all (closed, or not a real file)
        yield
        return
    previous_stdout, previous_results = sys.stdout, _results
    stream = os.fdopen(os.dup(saved), "w", encoding="utf-8", errors="replace", closefd=True)
    private_fds.add(stream.fileno())
    os.dup2(2, 1)
    sys.stdout, _results = sys.stderr, stream
    try:
        yield
    finally:
        private_fds.discard(stream.fileno())
        _results = previous_results
        sys.stdout = previous_stdout
        try:
            stream.flush()
        except OSError:  # a closed pipe: nothing more can reach it
            pass
        with contextlib.suppress(OSError):
            stream.close()
        os.dup2(saved, 1)
        os.close(saved)
