"""`grpo score`'s exit status: 1 when a reward answered no row (errors, timeouts, unscorable), unless
--allow-unscored; the summary prints either way."""
import json

import pytest

from sdk_fixtures import make_distribution, run_cli

FAILING = '''
import time
from grpo_rewards import hookimpl, isolated

def ok(completions):
    return [1.0] * len(completions)

def broken(completions):
    raise RuntimeError("broken on purpose")

def never(completions):
    return [None] * len(completions)

@isolated(timeout=0.2)
def hangs(completions):
    time.sleep(30)
    return [1.0]

def picky(completions):
    return [1.0 if c == "good" else None for c in completions]

@hookimpl
def register_rewards(register):
    for name, fn in (("ok", ok), ("broken", broken), ("never", never), ("hangs", hangs), ("picky", picky)):
        register("st." + name, fn)
'''


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    root = tmp_path_factory.mktemp("status_site")
    make_distribution(root, "status-rewards", "status_rewards", FAILING)
    return root


def score(site, tmp_path, uses, *flags, on_error=None, rows=("good", "bad")):
    mix = tmp_path / "mix.toml"
    mix.write_text("".join(f'[[rewards]]\nuse = "st.{u}"\n' + (f'on_error = "{on_error}"\n' if on_error else "") + "\n"
                           for u in uses))
    data = tmp_path / "in.jsonl"
    data.write_text("".join(json.dumps({"completion": c}) + "\n" for c in rows))
    out = tmp_path / "out.jsonl"
    result = run_cli("score", "--config", str(mix), "--input", str(data), "--output", str(out), "--workers", "1",
                     *flags, path_dirs=[site], env={"GRPO_PLUGINS": "status-rewards"})
    return result, out


@pytest.mark.parametrize("use, on_error, says", [
    ("broken", None, "st.broken: 2 errors, 0 timeouts, 2 unscorable"),
    ("broken", "zero", "st.broken: 2 errors, 0 timeouts, 0 unscorable"),
    ("hangs", None, "st.hangs: 0 errors, 2 timeouts, 0 unscorable"),
    ("never", None, "st.never: 0 errors, 0 timeouts, 2 unscorable"),
])
def test_a_reward_that_answered_no_row_fails_the_run(site, tmp_path, use, on_error, says):
    result, out = score(site, tmp_path, ["ok", use], on_error=on_error)
    assert result.returncode == 1, result.stderr
    assert "scored 2 rows" in result.stderr and f"st.{use}" in result.stderr   # the summary still prints
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("grpo: error: 1 reward(s) answered none of the 2 rows") and says in last
    assert "Traceback" not in result.stderr
    assert [json.loads(line)["rewards"]["st.ok"] for line in out.read_text().splitlines()] == [1.0, 1.0]

    allowed, _ = score(site, tmp_path, ["ok", use], "--allow-unscored", on_error=on_error)
    assert allowed.returncode == 0, allowed.stderr
    assert "scored 2 rows" in allowed.stderr and "grpo: error" not in allowed.stderr


def test_a_reward_that_answered_some_rows_passes(site, tmp_path):
    result, _ = score(site, tmp_path, ["ok", "picky"])
    assert result.returncode == 0, result.stderr


def test_no_rows_is_not_a_failure(site, tmp_path):
    result, _ = score(site, tmp_path, ["broken"], rows=())
    assert result.returncode == 0, result.stderr
    assert "scored 0 rows" in result.stderr


def test_a_user_error_is_still_status_2(site, tmp_path):
    result, _ = score(site, tmp_path, ["no_such_reward"])
    assert result.returncode == 2 and "unknown reward 'st.no_such_reward'" in result.stderr
