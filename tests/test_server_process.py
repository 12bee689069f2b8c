"""grpo_core.generation.server: a managed server's process group is stopped on every way out.

The server here is a small real HTTP server (a Python script) that, like vLLM's API server with its engine
core, starts a child of its own; every test checks that neither survives. No vLLM needed: this is the
cleanup rule itself, tested where it lives (tests/test_vllm*.py run the real server).
"""
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from grpo_rewards.errors import UserError

FAKE_SERVER = textwrap.dedent("""
    import http.server, os, signal, subprocess, sys, time
    mode = sys.argv[1]
    port = int(sys.argv[2])
    # the "engine core": a child that would outlive its parent if only the parent were signalled
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    def shut_down(*args):  # as vLLM does on SIGTERM: stop the engine core, then exit
        child.kill()
        sys.exit(0)
    signal.signal(signal.SIGTERM, shut_down)
    if mode == "crash":
        print("INFO 12-01 20:00:00 [api_server.py:1] starting", flush=True)
        print("Traceback (most recent call last):", flush=True)
        print('  File "x.py", line 1, in <module>', flush=True)
        print("(EngineCore_DP0 pid=7) ERROR 12-01 20:00:01 [core.py:708] ValueError: this model is not supported", flush=True)
        print("RuntimeError: Engine core initialization failed. See root cause above. Failed core proc(s): {}", flush=True)
        sys.exit(1)
    if mode == "slow":
        time.sleep(600)
    class Health(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200); self.end_headers(); self.wfile.write(b"{}")
        def log_message(self, *a):
            pass
    http.server.HTTPServer(("127.0.0.1", port), Health).serve_forever()
""")


@pytest.fixture
def fake(tmp_path):
    script = tmp_path / "fake_server.py"
    script.write_text(FAKE_SERVER)
    return script


def _group_members(pgid):
    members = []
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                with open(f"/proc/{pid}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[2]) == pgid and fields[0] != "Z":
                members.append(int(pid))
    return members


def _server(fake, tmp_path, mode="ok", **kwargs):
    from grpo_core.generation.server import ManagedServer, free_port

    port = free_port("127.0.0.1")
    return ManagedServer([sys.executable, str(fake), mode, str(port)], url=f"http://127.0.0.1:{port}",
                         log_path=str(tmp_path / "run" / "server.log"), progress=False, **kwargs)


def test_normal_end_and_exception_stop_the_whole_group(fake, tmp_path):
    server = _server(fake, tmp_path)
    with server:
        pgid = server.proc.pid
        time.sleep(0.3)
        assert len(_group_members(pgid)) == 2  # the server and its child
    assert _group_members(pgid) == []

    server = _server(fake, tmp_path)
    with pytest.raises(ZeroDivisionError):
        with server:
            pgid = server.proc.pid
            1 / 0
    assert _group_members(pgid) == []


def test_a_server_that_fails_to_start_is_one_line_with_its_cause(fake, tmp_path):
    server = _server(fake, tmp_path, mode="crash")
    with pytest.raises(UserError) as err:
        with server:
            pass
    message = str(err.value)
    assert "\n" not in message and "exit status 1" in message
    assert "ValueError: this model is not supported" in message  # the root cause, not the wrapper
    assert str(tmp_path / "run" / "server.log") in message
    assert "Engine core initialization failed" in (tmp_path / "run" / "server.log").read_text()  # full log kept


def test_a_server_that_never_answers_times_out_and_is_stopped(fake, tmp_path):
    server = _server(fake, tmp_path, mode="slow", start_timeout=1.0)
    with pytest.raises(UserError, match="did not answer within 1 s"):
        server.__enter__()
    assert server.proc is None


def test_wrong_command_and_port_in_use(tmp_path):
    import socket

    from grpo_core.generation.server import ManagedServer, check_port_free

    with pytest.raises(UserError, match="'no-such-vllm' not found; install vLLM") as err:
        ManagedServer(["no-such-vllm", "serve"], url="http://127.0.0.1:1", log_path=str(tmp_path / "l")).__enter__()
    assert "\n" not in str(err.value)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        with pytest.raises(UserError, match=r"generation.port: 127.0.0.1:\d+ is in use"):
            check_port_free("127.0.0.1", s.getsockname()[1])


PARENT = textwrap.dedent("""
    import sys, time
    sys.path.insert(0, {root!r})
    from grpo_core.generation.server import ManagedServer
    server = ManagedServer([sys.executable, {fake!r}, "ok", sys.argv[2]], url="http://127.0.0.1:" + sys.argv[2],
                           log_path={log!r}, progress=False)
    with server:
        print(server.proc.pid, flush=True)
        if sys.argv[1] == "segfault":
            import ctypes
            sys.stdin.readline()  # crash only once the test has counted the server's processes
            ctypes.string_at(0)  # the trainer crashes without running any cleanup
        time.sleep(600)
""")


@pytest.mark.parametrize("how", ["sigterm", "sigint", "sigkill", "segfault"])
def test_the_server_does_not_outlive_its_parent(fake, tmp_path, how):
    """SIGTERM and Ctrl-C unwind through the context manager; SIGKILL and a crash leave it to the kernel."""
    from grpo_core.generation.server import free_port

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    parent = tmp_path / "parent.py"
    parent.write_text(PARENT.format(root=root, fake=str(fake), log=str(tmp_path / "server.log")))
    proc = subprocess.Popen([sys.executable, str(parent), how, str(free_port("127.0.0.1"))], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    pgid = int(proc.stdout.readline())
    assert len(_group_members(pgid)) == 2
    if how == "segfault":
        proc.stdin.write("crash\n")
        proc.stdin.flush()
    else:
        proc.send_signal({"sigterm": signal.SIGTERM, "sigint": signal.SIGINT, "sigkill": signal.SIGKILL}[how])
    proc.wait(timeout=60)
    deadline = time.monotonic() + 30
    while _group_members(pgid) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _group_members(pgid) == []
