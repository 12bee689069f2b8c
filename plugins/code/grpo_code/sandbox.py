"""The sandbox: run one untrusted program with one stdin under limits, and say what it did.

Scoring code sees only ``backend.run(program, stdin, limits) -> Result`` (interface.py), so a remote
service (SandboxFusion's ``/run_code``, Piston's ``/api/v2/execute``), which takes the same three
things, can become another backend without touching the scoring. Processes are started, killed and
waited for in process.py.

The local backend is bubblewrap (``bwrap``, the sandbox Flatpak is built on). Each execution gets
every namespace of its own (user, PID, network, IPC, UTS, cgroup; no nested user namespaces), a
root holding only ``/usr`` read-only (no ``/etc``, home, project or dataset), a private size-capped
tmpfs as its work directory, a clean environment and ``--die-with-parent``; inside, ``prlimit``
caps CPU seconds, address space, file size and processes before the program starts. The wall clock
is ours: past the limit the outer bwrap is killed, which takes the sandbox's PID namespace, and so
every process the program started, with it; we then wait until the namespace's init is gone. When
we are root the sandbox is started as ``nobody``: the kernel does not apply the process limit to
real root, and a fork bomb must meet it. Files go in through memfds, so nothing is ever written
to the host's disk.

``sandbox = "none"`` (Unsandboxed) runs the same command directly with the same limits: for trusted
code only, and it says so on every run.
"""
from __future__ import annotations

import os
import shutil
import sys
import tempfile

from grpo_rewards import ConfigError

from .interface import (COMPILE_ERROR, ERROR, OK, OUTPUT_LIMIT, SANDBOX_ERROR, TIMEOUT, Limits,
                        Program, Result)
from .languages import Language
from .process import Spawned, execute, memfd, prlimit

__all__ = ["Bubblewrap", "Unsandboxed", "create", "Limits", "Program", "Result", "OK", "ERROR", "TIMEOUT",
           "OUTPUT_LIMIT", "COMPILE_ERROR", "SANDBOX_ERROR", "ENV"]

WORK = "/tmp"                     # the program's work directory inside the sandbox (a private tmpfs)
ENV = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": WORK, "TMPDIR": WORK, "LANG": "C.UTF-8",
       "LC_ALL": "C.UTF-8", "PYTHONIOENCODING": "utf-8", "PYTHONDONTWRITEBYTECODE": "1",
       "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
NOBODY = 65534
ENABLE_USERNS = ("enable unprivileged user namespaces (sysctl kernel.unprivileged_userns_clone=1; on Ubuntu "
                 "24.04 also kernel.apparmor_restrict_unprivileged_userns=0)")
OR_NONE = 'or set sandbox = "none" to run model-written code unsandboxed (trusted code only)'


class Bubblewrap:
    """The local sandbox. Built once per reward; ``run`` is safe to call from many threads at once."""

    name = "bwrap"

    def __init__(self, languages: dict[str, Language], ro_paths: tuple[str, ...] = ()):
        self.languages = languages
        self.bwrap = shutil.which("bwrap")
        if self.bwrap is None:
            raise ConfigError("code: bubblewrap (bwrap) is not installed, so model-written programs cannot be "
                              f"sandboxed; install it (Debian/Ubuntu: apt-get install bubblewrap), {OR_NONE}")
        self.ro_paths = tuple(ro_paths)
        self._drop = NOBODY if os.geteuid() == 0 else None
        self._root = self._root_args()

    def _root_args(self) -> list[str]:
        args = ["--unshare-all", "--unshare-user", "--disable-userns", "--die-with-parent", "--new-session",
                "--clearenv", "--hostname", "sandbox", "--ro-bind", "/usr", "/usr"]
        for top in ("bin", "sbin", "lib", "lib32", "lib64", "libx32"):  # merged-/usr symlinks, or real dirs
            path = "/" + top
            if os.path.islink(path):
                args += ["--symlink", os.readlink(path), path]
            elif os.path.isdir(path):
                args += ["--ro-bind", path, path]
        for path in self.ro_paths:
            args += ["--ro-bind", path, path]
        for key, value in ENV.items():
            args += ["--setenv", key, value]
        return args + ["--proc", "/proc", "--dev", "/dev"]

    def _spawn(self, files: dict[str, tuple[bytes, str]], command: list[str], limits: Limits,
               extra_as_mb: int) -> Spawned:
        """bwrap argv running ``command`` with ``files`` (name -> (data, mode)) in the work directory."""
        tmp = str(limits.tmp_mb * 2**20)
        args = [self.bwrap, *self._root, "--size", tmp, "--tmpfs", "/dev/shm",
                "--size", tmp, "--tmpfs", WORK]
        fds = []
        for name, (data, mode) in files.items():
            fd = memfd(name, data)
            fds.append(fd)
            args += ["--perms", mode, "--ro-bind-data", str(fd), f"{WORK}/{name}"]
        info_read, info_write = os.pipe()
        fds.append(info_write)
        args += ["--remount-ro", "/dev", "--remount-ro", "/", "--chdir", WORK, "--info-fd", str(info_write),
                 "--", *prlimit(limits, extra_as_mb), *command]
        return Spawned(args, pass_fds=tuple(fds), info_read=info_read, close_after=fds, drop_to=self._drop)

    def run(self, program: Program, stdin: bytes, limits: Limits) -> Result:
        language = self.languages[program.language]
        source = program.source.encode("utf-8", errors="surrogatepass")
        if language.compile is None:
            return execute(self._spawn({language.filename: (source, "0444")}, _command(language, limits), limits,
                                       language.extra_as_mb), stdin, limits)
        binary = self._compile(language, source)
        if not isinstance(binary, bytes):
            return binary
        return execute(self._spawn({"prog": (binary, "0555")}, [f"{WORK}/prog"], limits, 0), stdin, limits)

    def _compile(self, language: Language, source: bytes):
        """The compiled program as bytes (built inside a sandbox, handed out on its stdout), or a Result."""
        key = (language.name, source)
        cached = _compiled.get(key)
        if cached is not None:
            return cached
        limits = language.compile_limits
        result = execute(self._spawn({language.filename: (source, "0444")}, language.compile, limits, 0), b"",
                         limits)
        if result.status != OK:
            return Result(COMPILE_ERROR if result.status == ERROR else result.status, b"", result.stderr,
                          result.time, result.exit_code)
        if len(_compiled) >= 8:
            _compiled.pop(next(iter(_compiled)))
        _compiled[key] = result.stdout
        return result.stdout


_compiled: dict = {}  # the last few compiled programs: the tests of one sample share one build


class Unsandboxed:
    """``sandbox = "none"``: the same limits, no isolation. The program can read and write what we can."""

    name = "none"

    def __init__(self, languages: dict[str, Language]):
        self.languages = languages
        print('grpo: code: sandbox = "none": model-written programs run UNSANDBOXED on this machine, with '
              "only time, memory and output limits; use this for trusted code only", file=sys.stderr)

    def run(self, program: Program, stdin: bytes, limits: Limits) -> Result:
        language = self.languages[program.language]
        with tempfile.TemporaryDirectory(prefix="grpo-code-") as work:
            with open(os.path.join(work, language.filename), "w", encoding="utf-8", errors="surrogatepass") as f:
                f.write(program.source)
            if language.compile is not None:
                limits_c = language.compile_limits
                built = execute(Spawned(prlimit(limits_c) + _here(language.compile, work), cwd=work,
                                         env=_env(work)), b"",
                                limits_c)
                if built.status != OK:
                    return Result(COMPILE_ERROR if built.status == ERROR else built.status, b"", built.stderr,
                                  built.time, built.exit_code)
                with open(os.path.join(work, "prog"), "wb") as f:
                    f.write(built.stdout)
                os.chmod(os.path.join(work, "prog"), 0o555)
                command = [os.path.join(work, "prog")]
            else:
                command = _here(_command(language, limits), work)
            return execute(Spawned(prlimit(limits, language.extra_as_mb) + command, cwd=work, env=_env(work)),
                           stdin, limits)


def _command(language: Language, limits: Limits) -> list[str]:
    return [arg.replace("{memory_mb}", str(limits.memory_mb)) for arg in language.run]


def _env(work: str) -> dict:
    return {**ENV, "HOME": work, "TMPDIR": work}


def _here(command: list[str], work: str) -> list[str]:
    return [arg.replace(WORK + "/", work + "/") for arg in command]


def create(kind: str, languages: dict[str, Language], ro_paths: tuple[str, ...] = ()):
    """The backend named by the ``sandbox`` option, checked by running a first program through it."""
    if kind == "bwrap":
        backend = Bubblewrap(languages, ro_paths)
    elif kind == "none":
        backend = Unsandboxed(languages)
    else:
        raise ConfigError(f'code: option \'sandbox\' must be "bwrap" or "none", got {kind!r}')
    for language in languages.values():
        _probe(backend, language)
    return backend


def _probe(backend, language: Language) -> None:
    result = backend.run(Program(language.name, language.hello), b"", Limits(timeout=30.0, memory_mb=512))
    if result.ok and result.stdout.strip() == b"2":
        return
    said = result.stderr.decode("utf-8", "replace").strip().splitlines()
    said = said[-1] if said else f"status {result.status}, exit code {result.exit_code}"
    if backend.name == "bwrap" and ("namespace" in said or "Operation not permitted" in said
                                    or "setting up uid map" in said or "No permissions" in said):
        raise ConfigError(f"code: bubblewrap cannot create its namespaces here ({said}); {ENABLE_USERNS}, "
                          f"{OR_NONE}")
    raise ConfigError(f"code: the {backend.name} sandbox could not run a {language.name} program ({said}); "
                      f"check the option for its {language.name} toolchain, {OR_NONE}")
