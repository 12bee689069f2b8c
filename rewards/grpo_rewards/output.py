"""Where `grpo score` writes its results: a file that is complete or untouched, never in between.

Rows go to a temporary file beside ``--output`` (same directory, so the final rename is atomic), which
replaces the target only once every row is written and synced; any failure before that (a bad input
line, a full disk, a signal) removes it and leaves an existing output as it was. An output that is the
input (the same file after resolving links, or a hard link to it) is refused before anything is opened
for writing. A temporary file that SIGKILL left behind (nothing can remove it then) carries its pid in
its name and is removed by the next run once that process is gone.
"""
from __future__ import annotations

import contextlib
import os
import tempfile

from . import processes, streams
from .errors import UserError


class Output:
    """Where scored rows go: a temporary file beside ``--output``, renamed over it only once every row
    is written (an existing output survives any failure), or the results stream for stdout."""

    def __init__(self, path: str | None, input_path: str):
        self.path, self.tmp = path, None
        if not path or path == "-":
            self.file = streams.results()
            return
        if input_path != "-" and _same_file(path, input_path):
            raise UserError(f"--output {path} is the input file: scoring would destroy it; write elsewhere")
        if os.path.isdir(path):
            raise UserError(f"--output {path} is a directory; name a file")
        folder = os.path.dirname(os.path.abspath(path))
        _remove_stale_partials(folder, os.path.basename(path))
        try:
            fd, self.tmp = tempfile.mkstemp(dir=folder, prefix=f".{os.path.basename(path)}.{os.getpid()}-",
                                            suffix=".partial")
        except FileNotFoundError:
            raise UserError(f"--output {path}: no such directory: {folder}") from None
        except OSError as exc:
            raise UserError(f"--output {path}: cannot write in {folder}: {str(exc.strerror or exc).lower()}") from None
        self.file = os.fdopen(fd, "w", encoding="utf-8")

    def write(self, text: str) -> None:
        try:
            self.file.write(text)
        except OSError as exc:
            raise self._error(exc) from None

    def _error(self, exc: OSError) -> UserError:
        where = f"--output {self.path}" if self.tmp else "stdout"
        kept = f" (the existing {self.path} is untouched)" if self.tmp and os.path.exists(self.path) else ""
        return UserError(f"{where}: {(exc.strerror or str(exc)).lower()} while writing results{kept}")

    def commit(self) -> None:
        """Put the finished output in place."""
        if self.tmp is None:
            self.file.flush()
            return
        try:
            self.file.flush()
            os.fsync(self.file.fileno())
            self.file.close()
            os.chmod(self.tmp, _mode_for(self.path))
            os.replace(self.tmp, self.path)
        except OSError as exc:
            raise self._error(exc) from None
        self.tmp = None

    def discard(self) -> None:
        if self.tmp is not None:
            with contextlib.suppress(OSError):
                self.file.close()
            with contextlib.suppress(OSError):
                os.remove(self.tmp)
            self.tmp = None


def _remove_stale_partials(folder: str, name: str) -> None:
    """A run killed outright (SIGKILL) cannot remove its temporary file: the next run does, once the
    process that made it is gone (its pid is in the name)."""
    try:
        entries = os.listdir(folder)
    except OSError:
        return
    for entry in entries:
        rest = entry.removeprefix(f".{name}.")
        pid = rest.split("-", 1)[0]
        if rest != entry and entry.endswith(".partial") and pid.isdigit() and not processes.alive(int(pid)):
            with contextlib.suppress(OSError):
                os.remove(os.path.join(folder, entry))




def _same_file(a: str, b: str) -> bool:
    if os.path.realpath(a) == os.path.realpath(b):
        return True
    try:
        return os.path.samefile(a, b)  # a hard link is the same file under another name
    except OSError:
        return False


def _mode_for(path: str) -> int:
    """An existing output keeps its permissions; a new one gets what open() would have given it."""
    try:
        return os.stat(path).st_mode & 0o7777
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask
