"""How each language is run: the fence tags that name it, its file, its command, its toolchain.

Python is always there (the interpreter the sandbox runs is a system one under /usr, never the
trainer's virtualenv); C++ (g++) and JavaScript (node) are offered when their toolchain is
installed. Compiled languages build inside a sandbox of their own, and the binary comes back on the
compiler sandbox's stdout, so neither the source nor the build ever touches the host's disk.
"""
from __future__ import annotations

import os
import shutil
from dataclasses import dataclass

from grpo_rewards import ConfigError

SANDBOX_PATH = "/usr/local/bin:/usr/bin:/bin"   # what the sandbox can see (under /usr)


@dataclass(frozen=True)
class Language:
    name: str
    tags: tuple[str, ...]          # fence info strings that name it (lower case); "" is a bare fence
    filename: str
    run: list[str]                 # the command, with files under /tmp (the sandbox's work directory)
    hello: str                     # a program that prints 2: the start-up check of a backend
    compile: list[str] | None = None   # prints the built binary on stdout
    compile_limits: object = None
    extra_as_mb: int = 0           # address space the runtime reserves on top of the program's own


TAGS = {"python": ("python", "py", "python3", "py3", ""),
        "cpp": ("cpp", "c++", "cc", "cxx", "", "c++17", "c++20"),
        "javascript": ("javascript", "js", "node", "nodejs", "")}


def _find(name: str, where: str | None) -> str | None:
    found = shutil.which(name, path=where) if not os.path.isabs(name) else (name if os.access(name, os.X_OK) else None)
    return os.path.realpath(found) if found else None


def build(name: str, *, python: str = "python3", sandboxed: bool = True, ro_paths: tuple[str, ...] = ()) -> Language:
    """The language ``name``, with its toolchain found where the sandbox can see it (or on PATH unsandboxed)."""
    from .interface import Limits

    where = SANDBOX_PATH if sandboxed else None
    visible = ("/usr/",) + tuple(p.rstrip("/") + "/" for p in ro_paths)

    def tool(option: str, binary: str, hint: str) -> str:
        path = _find(binary, where)
        if path is None:
            raise ConfigError(f"code: {option} {binary!r} not found{' under /usr' if sandboxed else ''}; {hint}")
        if sandboxed and not path.startswith(visible):
            raise ConfigError(f"code: {option} {binary!r} is {path}, outside what the sandbox sees (/usr); "
                              "add its installation directory to the option 'ro_paths'")
        return path

    if name == "python":
        exe = tool("option 'python' =", python, "install python3 (apt-get install python3) or set the option 'python'")
        return Language("python", TAGS["python"], "main.py", [exe, "-I", "/tmp/main.py"], "print(1 + 1)")
    if name == "cpp":
        gxx = tool("language 'cpp' needs", "g++", "install it (apt-get install g++)")
        compile_limits = Limits(timeout=20.0, memory_mb=2048, output_bytes=64 << 20, processes=32, file_size_mb=64,
                                tmp_mb=256)
        script = f"{gxx} -std=c++17 -O2 -pipe -o /tmp/prog /tmp/main.cpp 1>&2 && cat /tmp/prog"
        return Language("cpp", TAGS["cpp"], "main.cpp", ["/tmp/prog"],
                        "#include <cstdio>\nint main() { std::printf(\"%d\\n\", 1 + 1); }\n",
                        compile=["/bin/sh", "-c", script], compile_limits=compile_limits)
    if name == "javascript":
        node = tool("language 'javascript' needs", "node", "install it (apt-get install nodejs)")
        # V8 reserves a few GB of address space up front; its heap is capped separately.
        return Language("javascript", TAGS["javascript"], "main.js", [node, "--max-old-space-size={memory_mb}", "/tmp/main.js"],
                        "console.log(1 + 1)", extra_as_mb=4096)
    raise ConfigError(f"code: option 'language' must be one of {', '.join(TAGS)}, got {name!r}")
