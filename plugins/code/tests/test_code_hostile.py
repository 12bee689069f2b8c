"""Hostile programs score 0, harm nothing and leave nothing behind, through the same worker pool as training.

A canary file on the host must come out untouched, no new file may appear beside it or in the host's
/tmp, no process of the sandbox may be alive afterwards, the trainer's processes must be alive, and the
batch must finish within the limits the reward sets (per sample: its own budget plus the pool's grace).
"""
import math
import os
import pathlib
import socket
import time

import pytest

import grpo_code
from grpo_rewards.testing import mix
from hostile_programs import HOSTILE

PROJECT_FILE = str(pathlib.Path(__file__).resolve().parents[3] / "README.md")
SECRET_ENV = "GRPO_CODE_TEST_SECRET"
MARKER = "grpo-code-hostile-daemon-marker"
OPTIONS = {"test_timeout": 1.0, "timeout": 3.0, "memory_mb": 256, "output_kb": 256}


def _descendants(root: int) -> list[int]:
    parents = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    parents[int(entry)] = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                pass
    found, frontier = [], [root]
    while frontier:
        pid = frontier.pop()
        children = [p for p, parent in parents.items() if parent == pid]
        found += children
        frontier += children
    return found


def _with_marker() -> list[int]:
    hits = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as f:
                    if MARKER.encode() in f.read():
                        hits.append(int(entry))
            except OSError:
                pass
    return hits


@pytest.fixture
def host(tmp_path, monkeypatch):
    """A canary file, a secret in the environment, and listeners on the loopback and an abstract socket."""
    canary = tmp_path / "canary.txt"
    canary.write_text("intact")
    monkeypatch.setenv(SECRET_ENV, "hunter2")
    tcp = socket.create_server(("127.0.0.1", 0))
    port = tcp.getsockname()[1]
    unix = socket.socket(socket.AF_UNIX)
    unix.bind(f"\0grpo_code_test_{port}")
    unix.listen()
    yield {"canary": canary, "port": port}
    tcp.close()
    unix.close()


def test_hostile_programs_score_zero_and_leave_nothing_behind(sandbox_ready, host):
    canary = host["canary"]
    fill = {"canary": str(canary), "project": PROJECT_FILE, "marker": MARKER, "port": host["port"],
            "secret_env": SECRET_ENV}
    names, completions, tests, test, entry = [], [], [], [], []
    for name, template in HOSTILE.items():
        program = template.format(**fill)
        for style in ("stdio", "assert"):
            names.append(f"{name} ({style})")
            completions.append(f"Here you go:\n```python\n{program}```\n")
            tests.append({"inputs": [""], "outputs": ["ESCAPED"]} if style == "stdio" else None)
            test.append("def check(candidate):\n    assert candidate() == 'unreachable'\n" if style == "assert" else None)
            entry.append("solve" if style == "assert" else None)
    before = set(os.listdir("/tmp"))
    start = time.monotonic()
    with mix(grpo_code, rewards=[{"use": "code", "options": OPTIONS}]) as m:
        component = m.components[0]
        result = m.score(completions, tests=tests, test=test, entry_point=entry)
    elapsed = time.monotonic() - start
    scores = result.rewards["code"]
    assert dict(zip(names, scores)) == {name: 0.0 for name in names}
    assert canary.read_text() == "intact"
    assert sorted(p.name for p in canary.parent.iterdir()) == ["canary.txt"]
    assert not os.path.exists("/tmp/grpo_code_pwned") and not os.path.exists("/usr/grpo_code_pwned")
    assert not {n for n in set(os.listdir("/tmp")) - before if n.startswith("grpo")}
    assert _descendants(os.getpid()) == []
    assert _with_marker() == []
    # Within the limits: no sample may outlast its own budget plus the pool's grace, and the pool has the cores.
    workers = os.cpu_count() or 1
    bound = math.ceil(len(names) / workers) * component.timeout
    assert elapsed < bound, f"{elapsed:.1f} s for {len(names)} samples (bound {bound:.0f} s)"
    assert result.counts["code"].errors == 0
    time.sleep(2.5)  # the "daemon that writes later" would have written by now, had it survived
    assert canary.read_text() == "intact"
    assert _with_marker() == []


def test_the_same_programs_as_an_honest_control_would_score(sandbox_ready):
    # The control: the same harness passes a program that does print ESCAPED, so the zeros above mean something.
    with mix(grpo_code, rewards=[{"use": "code", "options": OPTIONS}]) as m:
        result = m.score(["```python\nprint('ESCAPED')\n```", "```python\ndef solve():\n    return 'unreachable'\n```"],
                         tests=[{"inputs": [""], "outputs": ["ESCAPED"]}, None],
                         test=[None, "def check(candidate):\n    assert candidate() == 'unreachable'\n"],
                         entry_point=[None, "solve"])
    assert result.rewards["code"] == [1.0, 1.0]
