"""`grpo score` under faults (issue 9, points 1, 2, 5, 6): it never destroys data, leaves no process or
temporary file behind, keeps stdout for results, and every file error is one line with exit status 2."""
import json
import os
import signal

import pytest

from fault_fixtures import children, fill, finish, start_cli, tmpfs, user_lines, wait_dead
from sdk_fixtures import make_distribution, run_cli

MIX = '[[rewards]]\nuse = "format.regex"\noptions = { pattern = "a" }\n'


@pytest.fixture
def files(tmp_path):
    config = tmp_path / "mix.toml"
    config.write_text(MIX)
    rows = tmp_path / "in.jsonl"
    rows.write_text("".join(json.dumps({"completion": c}) + "\n" for c in ["a", "b", "ca"]))
    return config, rows


def one_line(result, text):
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and text in lines[0], result.stderr
    assert "Traceback" not in result.stderr


# ---------------------------------------------------------------- 1. score destroys nothing

def test_output_that_is_the_input_is_refused_and_the_input_kept(files, tmp_path):
    config, rows = files
    before = rows.read_text()
    one_line(run_cli("score", "--config", str(config), "--input", str(rows), "--output", str(rows)),
             "is the input file")
    os.link(rows, tmp_path / "hard.jsonl")  # the same file under another name
    os.symlink(rows, tmp_path / "soft.jsonl")
    for other in ("hard.jsonl", "soft.jsonl"):
        one_line(run_cli("score", "--config", str(config), "--input", str(rows), "--output", str(tmp_path / other)),
                 "is the input file")
    assert rows.read_text() == before


def test_bad_input_leaves_an_existing_output_untouched(files, tmp_path):
    config, rows = files
    out = tmp_path / "out.jsonl"
    out.write_text("precious\n")
    rows.write_text('{"completion": "a"}\n' * 600 + "not json\n")  # the error comes after a whole batch
    one_line(run_cli("score", "--config", str(config), "--input", str(rows), "--output", str(out)),
             "in.jsonl:601: invalid JSON")
    assert out.read_text() == "precious\n"
    assert sorted(os.listdir(tmp_path)) == ["in.jsonl", "mix.toml", "out.jsonl"]  # no temporary file left


def test_output_is_written_whole_with_the_usual_permissions(files, tmp_path):
    config, rows = files
    out = tmp_path / "out.jsonl"
    result = run_cli("score", "--config", str(config), "--input", str(rows), "--output", str(out))
    assert result.returncode == 0, result.stderr
    assert [json.loads(line)["total"] for line in out.read_text().splitlines()] == [1.0, 0.0, 1.0]
    assert oct(out.stat().st_mode & 0o777) == oct(0o666 & ~_umask())


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


# ---------------------------------------------------------------- 5. stdout carries results only

NOISY = """
import os, sys
from grpo_rewards import hookimpl, isolated
print("noise at import")

def inline(completions):
    print("noise inline"); os.system("echo noise from a child process")
    return [1.0] * len(completions)

@isolated(timeout=5.0)
def in_worker(completions):
    print("noise in a worker"); sys.stdout.flush(); os.write(1, b"noise on fd 1\\n")
    return [0.5] * len(completions)

@hookimpl
def register_rewards(register):
    register("noisy.inline", inline)
    register("noisy.worker", in_worker)
"""


def test_what_rewards_print_goes_to_stderr_not_into_the_results(tmp_path):
    make_distribution(tmp_path, "grpo-noisy", "grpo_noisy", NOISY)
    config = tmp_path / "mix.toml"
    config.write_text('[[rewards]]\nuse = "noisy.inline"\n\n[[rewards]]\nuse = "noisy.worker"\n')
    rows = tmp_path / "in.jsonl"
    rows.write_text('{"completion": "x"}\n' * 20)
    result = run_cli("score", "--config", str(config), "--input", str(rows), "--workers", "2", path_dirs=[tmp_path])
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 20 and all(json.loads(line)["total"] == 1.5 for line in lines)
    for noise in ("noise at import", "noise inline", "noise from a child process", "noise in a worker",
                  "noise on fd 1"):
        assert noise in result.stderr
    listing = run_cli("plugins", "--json", path_dirs=[tmp_path])  # the same for every command's JSON
    assert "grpo-noisy" in {p["distribution"] for p in json.loads(listing.stdout)["plugins"]}


# ---------------------------------------------------------------- 2. no process outlives `grpo score`

SLOW = """
import time
from grpo_rewards import hookimpl, isolated

@isolated(timeout=60.0)
def slow(completions):
    time.sleep(0.2)
    return [1.0]

@hookimpl
def register_rewards(register):
    register("slow", slow)
"""


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, signal.SIGKILL], ids=["TERM", "INT", "KILL"])
def test_a_stopped_score_leaves_no_worker_and_no_partial_output(tmp_path, sig):
    make_distribution(tmp_path, "grpo-slow", "grpo_slow", SLOW)
    config = tmp_path / "mix.toml"
    config.write_text('[[rewards]]\nuse = "slow"\n')
    rows = tmp_path / "in.jsonl"
    rows.write_text('{"completion": "x"}\n' * 400)
    out = tmp_path / "out" / "scored.jsonl"
    out.parent.mkdir()
    out.write_text("old\n")
    proc = start_cli("score", "--config", str(config), "--input", str(rows), "--output", str(out),
                     "--workers", "2", path_dirs=[tmp_path])
    import time

    deadline = time.monotonic() + 60
    while len(children(proc.pid)) < 2 and time.monotonic() < deadline:  # the workers are up and busy
        time.sleep(0.1)
    workers = children(proc.pid)
    assert len(workers) >= 2
    time.sleep(0.5)
    status, err = finish(proc, sig)
    assert wait_dead(workers) == []
    assert out.read_text() == "old\n"
    if sig == signal.SIGKILL:  # no process can clean up after SIGKILL: the next run removes its temporary file
        rows.write_text('{"completion": "x"}\n')
        assert run_cli("score", "--config", str(config), "--input", str(rows), "--output", str(out),
                       path_dirs=[tmp_path]).returncode == 0
    assert os.listdir(out.parent) == ["scored.jsonl"]
    if sig != signal.SIGKILL:
        assert status == 128 + sig
        assert user_lines(err) == [f"grpo: stopped by {signal.Signals(sig).name}"], err


CRASH = """
import os
from grpo_rewards import hookimpl, isolated

@isolated(timeout=5.0)
def fine(completions):
    return [1.0]

def crash(completions):
    # Note the worker processes alive now (the process's children), then take the whole process down,
    # no cleanup at all: the test checks that every one of them dies with it.
    children = []
    for task in os.listdir("/proc/self/task"):
        with open(f"/proc/self/task/{task}/children") as f:
            children += f.read().split()
    with open(os.environ["GRPO_TEST_CHILDREN"], "w") as f:
        f.write(" ".join(children))
    os._exit(9)

@hookimpl
def register_rewards(register):
    register("fine", fine)
    register("crash", crash)
"""


def test_a_reward_that_kills_the_process_takes_no_worker_with_it(tmp_path):
    make_distribution(tmp_path, "grpo-crash", "grpo_crash", CRASH)
    config = tmp_path / "mix.toml"
    config.write_text('[[rewards]]\nuse = "fine"\n\n[[rewards]]\nuse = "crash"\n')
    rows = tmp_path / "in.jsonl"
    rows.write_text('{"completion": "x"}\n' * 4)
    noted = tmp_path / "children"
    proc = start_cli("score", "--config", str(config), "--input", str(rows), "--workers", "2",
                     path_dirs=[tmp_path], env={"GRPO_TEST_CHILDREN": str(noted)})
    assert proc.wait(timeout=120) == 9
    seen = {int(pid) for pid in noted.read_text().split()}
    assert len(seen) >= 2  # the isolated reward's two workers were alive when the process died
    assert wait_dead(seen) == []


# ---------------------------------------------------------------- 6. file errors: one line, exit 2

def test_input_file_errors(files, tmp_path):
    config, rows = files
    (tmp_path / "latin1.jsonl").write_bytes(b'{"completion": "a"}\n{"completion": "caf\xe9"}\n')
    one_line(run_cli("score", "--config", str(config), "--input", str(tmp_path / "latin1.jsonl")),
             "latin1.jsonl:2: not UTF-8 text")
    one_line(run_cli("score", "--config", str(config), "--input", str(tmp_path)), "is a directory")
    (tmp_path / "cut.jsonl").write_text('{"completion": "a"}\n{"completion": "b"\n')
    one_line(run_cli("score", "--config", str(config), "--input", str(tmp_path / "cut.jsonl")),
             "cut.jsonl:2: invalid JSON: Expecting ',' delimiter (column 19)")  # the column on that line
    (tmp_path / "junk.toml").write_bytes(bytes(range(256)) * 4)
    one_line(run_cli("score", "--config", str(tmp_path / "junk.toml"), "--input", str(rows)),
             "junk.toml: invalid TOML: not UTF-8 text")


def test_output_folder_missing_or_read_only(files, tmp_path):
    config, rows = files
    one_line(run_cli("score", "--config", str(config), "--input", str(rows), "--output",
                     str(tmp_path / "nowhere" / "out.jsonl")), "no such directory")
    with tmpfs(read_only=True) as folder:
        one_line(run_cli("score", "--config", str(config), "--input", str(rows), "--output",
                         os.path.join(folder, "out.jsonl")), "read-only file system")


def test_a_full_disk_while_scoring_keeps_the_old_output(files, tmp_path):
    config, rows = files
    rows.write_text("".join(json.dumps({"completion": "a" * 2000}) + "\n" for _ in range(200)))  # ~0.4 MB out
    with tmpfs("128k") as folder:
        out = os.path.join(folder, "out.jsonl")
        with open(out, "w") as f:
            f.write("old results\n")
        fill(folder)
        os.remove(os.path.join(folder, "filler"))  # room for a little, not for all of it
        result = run_cli("score", "--config", str(config), "--input", str(rows), "--output", out)
        one_line(result, "no space left on device")
        assert f"the existing {out} is untouched" in result.stderr
        assert open(out).read() == "old results\n"
        assert sorted(os.listdir(folder)) == ["filler2", "out.jsonl"]
