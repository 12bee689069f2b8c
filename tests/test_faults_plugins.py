"""Hostile and slow plugins (issue 9, point 8), workers that must die with their owner (point 2), and the
SDK's column declarations that the engine checks before the model loads (point 7)."""
import json
import os
import subprocess
import sys
import time
import types

import pytest

from fault_fixtures import dead, wait_dead
from sdk_fixtures import make_distribution, run_cli


# ---------------------------------------------------------------- 8. plugins that hang or exit at import

def test_a_slow_plugin_import_is_named_while_it_loads(tmp_path):
    make_distribution(tmp_path, "grpo-slowpoke", "grpo_slowpoke", "import time\ntime.sleep(3)\n")
    start = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-m", "grpo_core.cli", "plugins"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True,
                            env=dict(os.environ, PYTHONPATH=str(tmp_path), GRPO_SLOW_IMPORT_SECONDS="1"))
    first = proc.stderr.readline()
    named_after = time.monotonic() - start
    out, _ = proc.communicate(timeout=60)
    assert "still importing plugin grpo-slowpoke (grpo_slowpoke) after 1 s" in first
    assert proc.returncode == 0 and "grpo-slowpoke" in out
    assert named_after < time.monotonic() - start  # said while loading, not after


@pytest.mark.parametrize("code, error", [
    ("import sys\nsys.exit('this plugin needs a GPU')\n", "SystemExit: the plugin called sys.exit('this plugin needs a GPU')"),
    ("raise SystemExit(3)\n", "SystemExit: the plugin called sys.exit(3)"),
    ("class Odd(BaseException):\n    pass\nraise Odd('not an Exception')\n", "Odd: not an Exception"),
    ("from grpo_rewards import hookimpl\n@hookimpl\ndef register_rewards(register):\n    raise SystemExit(1)\n",
     "SystemExit: the plugin called sys.exit(1)"),
])
def test_a_plugin_that_exits_at_import_is_reported_like_any_failed_plugin(tmp_path, code, error):
    make_distribution(tmp_path, "grpo-quitter", "grpo_quitter", code)
    config = tmp_path / "mix.toml"
    config.write_text('[[rewards]]\nuse = "format.regex"\noptions = { pattern = "a" }\n')
    (tmp_path / "in.jsonl").write_text('{"completion": "a"}\n')
    result = run_cli("score", "--config", str(config), "--input", str(tmp_path / "in.jsonl"), path_dirs=[tmp_path])
    assert result.returncode == 0, result.stderr
    assert f"grpo: plugin grpo-quitter (grpo_quitter) failed to load: {error}" in result.stderr
    assert json.loads(result.stdout)["total"] == 1.0
    listing = json.loads(run_cli("plugins", "--json", path_dirs=[tmp_path]).stdout)
    assert {p["distribution"]: p["error"] for p in listing["plugins"]}["grpo-quitter"] == error


def test_sys_exit_inside_a_reward_fails_its_samples_not_the_run():
    from grpo_rewards import hookimpl
    from grpo_rewards.testing import score_batch

    def quits(completions):
        if completions == ["b"]:
            sys.exit(4)
        if len(completions) > 1:
            raise SystemExit("whole batch")
        return [1.0]

    plugin = types.ModuleType("quits")
    plugin.register_rewards = hookimpl(lambda register: register("quits", quits))
    result = score_batch(plugin, "quits", on_error="skip", completions=["a", "b", "c"])
    assert result.rewards["quits"] == [1.0, None, 1.0] and result.counts["quits"].errors == 1


# ---------------------------------------------------------------- 2. workers die with their owner

OWNER = """
import sys, threading, time
from grpo_rewards import hookimpl, isolated
from grpo_rewards.testing import mix

@isolated(timeout=5.0)
def busy(completions):
    time.sleep(30)  # a worker in the middle of a long sample when its owner dies
    return [1.0]

class Plugin:
    @hookimpl
    def register_rewards(self, register):
        register("busy", busy)

m = mix(Plugin(), rewards=[{"use": "busy"}], pool_size=2)
if sys.argv[1] == "thread":  # forked from a thread: no parent-death signal, the lifeline must do it
    t = threading.Thread(target=m.start); t.start(); t.join()
else:
    m.start()
print(" ".join(str(w.process.pid) for w in m._pool._idle), flush=True)
threading.Thread(target=m.score, args=(["x", "y"],), daemon=True).start()
time.sleep(120)
"""


@pytest.mark.parametrize("how", ["main", "thread"])
def test_workers_die_when_their_owner_is_killed(tmp_path, how):
    script = tmp_path / "owner.py"
    script.write_text(OWNER)
    proc = subprocess.Popen([sys.executable, str(script), how], stdout=subprocess.PIPE, text=True)
    pids = [int(p) for p in proc.stdout.readline().split()]
    assert len(pids) == 2 and not any(dead(p) for p in pids)
    time.sleep(0.5)
    proc.kill()  # SIGKILL: no cleanup of any kind runs in the owner
    proc.wait()
    assert wait_dead(pids) == []


def test_a_worker_holds_no_pool_descriptor_but_its_own():
    from grpo_rewards.runtime import WorkerPool

    def fds(completions):
        return [float(len(os.listdir("/proc/self/fd")))]

    pool = WorkerPool([fds], size=3)
    try:
        pool.start()
        counts = {o.value[0] for o in pool.run(0, [{"completions": ["x"]}] * 6, timeout=5.0)}
    finally:
        pool.close()
    assert len(counts) == 1  # the third worker holds no more than the first: no sibling's pipe end


# ---------------------------------------------------------------- 7. the columns a reward needs

def test_needed_columns_come_from_signatures_and_declarations():
    from grpo_rewards import columns
    from grpo_rewards.inputs import required_columns
    from grpo_rewards.testing import mix

    def named(completions, answer, hint=None):
        return [0.0]

    @columns("reference", optional=("difficulty",))
    def declared(completions, difficulty, **fields):
        return [0.0 if difficulty[0] is None else 1.0]

    assert required_columns(named) == ["answer"]
    assert required_columns(declared) == ["reference"]

    plugin = types.ModuleType("p")
    from grpo_rewards import hookimpl

    plugin.register_rewards = hookimpl(lambda register: (register("named", named), register("declared", declared)))
    with mix(plugin, rewards=[{"use": "named"}, {"use": "declared"}]) as m:
        m.check_columns(["completions", "answer", "reference"], "the data")
        with pytest.raises(Exception, match=r"rewards\[1\] \(declared\): needs the column 'reference', which "
                                            r"the data does not have \(columns: answer\)"):
            m.check_columns(["completions", "answer"], "the data")
        # An optional column the data lacks arrives as None for every sample.
        assert m.score(["a"], answer=["1"], reference=["r"]).rewards["declared"] == [0.0]


def test_built_in_rewards_declare_their_reference_column():
    from grpo_rewards.inputs import required_columns
    from grpo_math import MathReward

    assert required_columns(MathReward()) == ["answer"]
    assert required_columns(MathReward(answer_column="solution")) == ["solution"]
