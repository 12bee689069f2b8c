"""The sandbox on its own: its interface, each limit, what a program inside can see, and the refusals."""
import json
import os
import shutil
import subprocess
import sys
import tempfile

import pytest

from grpo_rewards import ConfigError

from grpo_code import CodeReward
from grpo_code.languages import build
from grpo_code.sandbox import ENV, ERROR, OK, OUTPUT_LIMIT, TIMEOUT, Bubblewrap, Limits, Program, create


@pytest.fixture(scope="module")
def box(sandbox_ready):
    return sandbox_ready.backend


def run(box, source, stdin=b"", **limits):
    return box.run(Program("python", source), stdin, Limits(**{"timeout": 2.0, **limits}))


def test_interface_status_stdout_stderr_time(box):
    result = run(box, "import sys\nprint(input().upper())\nprint('warn', file=sys.stderr)\nsys.exit(3)", b"hi\n")
    assert (result.status, result.stdout, result.stderr, result.exit_code) == (ERROR, b"HI\n", b"warn\n", 3)
    assert 0 < result.time < 2.0
    assert run(box, "print(1)").status == OK


def test_each_limit(box):
    assert run(box, "while True: pass", timeout=0.5).status == TIMEOUT
    slept = run(box, "import time; time.sleep(60)", timeout=0.5)
    assert slept.status == TIMEOUT and slept.time < 5
    assert b"MemoryError" in run(box, "x = bytearray(300 * 2**20)", memory_mb=128).stderr
    assert run(box, "x = bytearray(64 * 2**20); print('ok')", memory_mb=256).stdout == b"ok\n"
    assert run(box, "print('x' * 5000)", output_bytes=1000).status == OUTPUT_LIMIT
    forks = run(box, "import os\nfor _ in range(40):\n    if os.fork() == 0:\n        import time; time.sleep(1); os._exit(0)\n",
                processes=8)
    assert forks.status == ERROR and b"BlockingIOError" in forks.stderr
    big_file = run(box, "open('/tmp/big', 'wb').write(b'x' * (8 * 2**20))", file_size_mb=4)
    assert big_file.status == ERROR  # SIGXFSZ, or an OSError
    filled = run(box, "for i in range(64):\n    open(f'/tmp/f{i}', 'wb').write(b'x' * 2**20)", tmp_mb=16)
    assert filled.status == ERROR and b"No space left" in filled.stderr


def test_a_clean_environment_and_a_minimal_view(box, monkeypatch):
    monkeypatch.setenv("GRPO_CODE_SECRET", "1")  # the backend was built before: env must not leak either way
    got = run(box, "import json, os\nprint(json.dumps([dict(os.environ), sorted(os.listdir('/')), os.getcwd(), "
                   "os.listdir('/tmp'), os.getuid(), sorted(os.listdir('/proc'))[:3]]))")
    env, root, cwd, tmp, uid, _ = json.loads(got.stdout)
    assert env == {**ENV, "PWD": "/tmp"}  # PWD: bwrap's --chdir
    assert set(root) <= {"bin", "dev", "lib", "lib32", "lib64", "libx32", "proc", "sbin", "tmp", "usr"}
    assert cwd == "/tmp" and tmp == ["main.py"]
    if os.geteuid() == 0:
        assert uid == 65534  # root on the host runs programs as nobody: the process limit applies to nobody
    pids = run(box, "import os\nprint(sorted(int(p) for p in os.listdir('/proc') if p.isdigit()))")
    assert json.loads(pids.stdout)[0] == 1 and len(json.loads(pids.stdout)) <= 3  # its own PID namespace


def test_read_only_system_and_no_network(box):
    got = run(box, "import socket\nfor path in ['/usr/x', '/x', '/dev/x']:\n    try:\n        open(path, 'w')\n"
                   "        print('wrote', path)\n    except OSError as e:\n        print(e.errno)\n"
                   "print([n for _, n in socket.if_nameindex()])")
    assert got.stdout.decode().split("\n")[:4] == ["30", "30", "30", "['lo']"]  # EROFS everywhere; loopback only


@pytest.fixture
def fake_bwrap():
    """A directory holding a `bwrap` that fails with a given message, readable by nobody (setpriv drops to it)."""
    made = []

    def make(message):
        folder = tempfile.mkdtemp(prefix="grpo-code-fake-bwrap-")
        os.chmod(folder, 0o755)
        with open(os.path.join(folder, "bwrap"), "w") as f:
            f.write(f"#!/bin/sh\necho {message!r} >&2\nexit 1\n")
        os.chmod(os.path.join(folder, "bwrap"), 0o755)
        made.append(folder)
        return folder

    yield make
    for folder in made:
        shutil.rmtree(folder)


def test_refuses_without_bwrap(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ConfigError) as err:
        Bubblewrap({"python": build("python")})
    message = str(err.value)
    assert "\n" not in message and "apt-get install bubblewrap" in message and 'sandbox = "none"' in message


def test_refuses_where_namespaces_are_disabled(fake_bwrap, monkeypatch):
    monkeypatch.setenv("PATH", fake_bwrap("bwrap: No permissions to creating new namespace, likely "
                                                     "because the kernel does not allow non-privileged user namespaces"))
    with pytest.raises(ConfigError) as err:
        create("bwrap", {"python": build("python")})
    message = str(err.value)
    assert "\n" not in message and "unprivileged_userns_clone" in message and 'sandbox = "none"' in message


def test_grpo_score_refusal_is_one_line_exit_2(tmp_path, fake_bwrap):
    (tmp_path / "mix.toml").write_text('[[rewards]]\nuse = "code"\n')
    (tmp_path / "in.jsonl").write_text(json.dumps({"completion": "```python\nprint(1)\n```", "tests": "{}"}) + "\n")
    env = {**os.environ, "PATH": fake_bwrap("bwrap: setting up uid map: Permission denied")}
    result = subprocess.run([sys.executable, "-m", "grpo_rewards", "score", "--config", str(tmp_path / "mix.toml"),
                             "--input", str(tmp_path / "in.jsonl")], capture_output=True, text=True, env=env,
                            timeout=120)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert "bubblewrap cannot create its namespaces" in result.stderr


def test_sandbox_none_warns_on_every_run(capsys):
    for _ in range(2):
        reward = CodeReward(sandbox="none")
        assert reward(["```python\nprint(input())\n```"], tests=[{"inputs": ["a\n"], "outputs": ["a"]}]) == [1.0]
    assert capsys.readouterr().err.count("UNSANDBOXED") == 2


@pytest.mark.parametrize("options, says", [
    ({"sandbox": "docker"}, "'sandbox'"), ({"language": "cobol"}, "'language'"), ({"compare": "fuzzy"}, "'compare'"),
    ({"test_timeout": 0}, "'test_timeout'"), ({"memory_mb": 1.5}, "'memory_mb'"), ({"no_code": None}, "'no_code'"),
    ({"python": "/nonexistent/python3"}, "'python'"), ({"ro_paths": ["relative"]}, "'ro_paths'"),
    ({"all_or_nothing": "yes"}, "'all_or_nothing'"), ({"float_tol": -1}, "'float_tol'"),
])
def test_bad_options_are_one_line_config_errors(options, says):
    with pytest.raises(ConfigError) as err:
        CodeReward(**options)
    assert says in str(err.value) and "\n" not in str(err.value)
