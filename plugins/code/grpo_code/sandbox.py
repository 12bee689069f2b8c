"""The sandbox: run one untrusted program with one stdin under limits, and say what it did.

Scoring code sees only ``backend.run(program, stdin, limits) -> Result`` (status, stdout, stderr,
time), so a remote service (SandboxFusion's ``/run_code``, Piston's ``/api/v2/execute``), which
takes the same three things, can become another backend without touching the scoring.

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

import json
import math
import os
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field

from grpo_rewards import ConfigError

from .languages import Language

OK, ERROR, TIMEOUT, OUTPUT_LIMIT, COMPILE_ERROR, SANDBOX_ERROR = (
    "ok", "error", "timeout", "output_limit", "compile_error", "sandbox_error")

WORK = "/tmp"                     # the program's work directory inside the sandbox (a private tmpfs)
STDERR_KEEP = 8192                # stderr bytes kept for diagnostics; the rest is read and dropped
ENV = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": WORK, "TMPDIR": WORK, "LANG": "C.UTF-8",
       "LC_ALL": "C.UTF-8", "PYTHONIOENCODING": "utf-8", "PYTHONDONTWRITEBYTECODE": "1",
       "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
NOBODY = 65534
ENABLE_USERNS = ("enable unprivileged user namespaces (sysctl kernel.unprivileged_userns_clone=1; on Ubuntu "
                 "24.04 also kernel.apparmor_restrict_unprivileged_userns=0)")
OR_NONE = 'or set sandbox = "none" to run model-written code unsandboxed (trusted code only)'


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
    language: str                 # a key of languages.LANGUAGES
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


@dataclass
class _Spawned:
    """One child to run: argv, the fds it inherits, and the pipe bwrap reports its namespace init on."""

    argv: list[str]
    pass_fds: tuple = ()
    cwd: str | None = None
    env: dict = field(default_factory=dict)   # bwrap sets the sandbox's own (ENV) with --setenv
    drop_to: int | None = None                 # run as this uid and gid, no supplementary groups
    info_read: int | None = None
    close_after: list = field(default_factory=list)


def _memfd(name: str, data: bytes) -> int:
    fd = os.memfd_create(name, 0)  # inheritable is decided by pass_fds
    os.write(fd, data) if len(data) < 65536 else _write_all(fd, data)
    os.lseek(fd, 0, os.SEEK_SET)
    return fd


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _prlimit(limits: Limits, extra_as_mb: int = 0) -> list[str]:
    address = (limits.memory_mb + extra_as_mb) * 2**20
    return [_PRLIMIT, f"--cpu={limits.cpu_seconds()}:{limits.cpu_seconds() + 1}", f"--as={address}",
            f"--fsize={limits.file_size_mb * 2**20}", f"--nproc={limits.processes}", "--core=0", "--"]


_PRLIMIT = shutil.which("prlimit", path="/usr/bin:/bin") or "prlimit"


def execute(spawned: _Spawned, stdin: bytes, limits: Limits) -> Result:
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
               extra_as_mb: int) -> _Spawned:
        """bwrap argv running ``command`` with ``files`` (name -> (data, mode)) in the work directory."""
        tmp = str(limits.tmp_mb * 2**20)
        args = [self.bwrap, *self._root, "--size", tmp, "--tmpfs", "/dev/shm",
                "--size", tmp, "--tmpfs", WORK]
        fds = []
        for name, (data, mode) in files.items():
            fd = _memfd(name, data)
            fds.append(fd)
            args += ["--perms", mode, "--ro-bind-data", str(fd), f"{WORK}/{name}"]
        info_read, info_write = os.pipe()
        fds.append(info_write)
        args += ["--remount-ro", "/dev", "--remount-ro", "/", "--chdir", WORK, "--info-fd", str(info_write),
                 "--", *_prlimit(limits, extra_as_mb), *command]
        return _Spawned(args, pass_fds=tuple(fds), info_read=info_read, close_after=fds, drop_to=self._drop)

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
                built = execute(_Spawned(_prlimit(limits_c) + _here(language.compile, work), cwd=work,
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
            return execute(_Spawned(_prlimit(limits, language.extra_as_mb) + command, cwd=work, env=_env(work)),
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
