"""Isolated rewards: worker processes, hard per-sample time limits, replacement, memory caps."""
import json
import os
import time
import types

from grpo_rewards import hookimpl, isolated
from grpo_rewards.runtime import CRASH, OK, TIMEOUT, WorkerPool
from grpo_rewards.testing import mix, score_batch


@isolated(timeout=0.5)
def verifier(completions, answer):
    text = completions[0]
    if text == "hang":
        time.sleep(60)
    if text == "die":
        os._exit(3)
    if text == "pid":
        return [float(os.getpid())]
    if text == "hog":
        blob = bytearray(2 * 1024**3)  # 2 GiB, over the cap below
        return [float(len(blob))]
    return [float(text == answer[0])]


verifier.memory_limit_mb = 256


def plugin():
    @hookimpl
    def register_rewards(register):
        register("verify", verifier)
    mod = types.ModuleType("verifier_plugin")
    mod.register_rewards = register_rewards
    return mod


def test_isolated_reward_runs_in_workers_not_in_this_process():
    result = score_batch(plugin(), "verify", completions=["pid"] * 4, answer=[""] * 4, pool_size=2)
    pids = set(result.rewards["verify"])
    assert os.getpid() not in pids and len(pids) >= 1


def test_hanging_sample_times_out_scores_zero_and_others_finish():
    completions = ["1", "hang", "2", "3", "hang", "4"]
    answers = ["1", "x", "0", "3", "x", "4"]
    start = time.monotonic()
    with mix(plugin(), rewards=[{"use": "verify"}], pool_size=2) as m:
        result = m.score(completions, answer=answers)
        replaced = m._pool.replaced
    elapsed = time.monotonic() - start
    assert result.rewards["verify"] == [1.0, 0.0, 0.0, 1.0, 0.0, 1.0]
    assert result.counts["verify"].timeouts == 2
    assert replaced == 2
    # Two hangs on two workers can overlap; they are bounded by the time limit, not the 60 s sleep.
    assert elapsed < 2 * 0.5 + 3.0


def test_worker_that_dies_is_replaced_and_its_sample_scores_zero():
    with mix(plugin(), rewards=[{"use": "verify"}], pool_size=1) as m:
        result = m.score(["die", "5", "die", "6"], answer=["x", "5", "x", "6"])
        assert m._pool.replaced == 2
    assert result.rewards["verify"] == [0.0, 1.0, 0.0, 1.0]
    assert result.counts["verify"].timeouts == 2


def test_memory_cap_turns_a_runaway_allocation_into_an_error():
    result = score_batch(plugin(), "verify", on_error="skip", completions=["hog", "7"], answer=["", "7"],
                         pool_size=1)
    assert result.rewards["verify"] == [None, 1.0]
    assert "MemoryError" in result.counts["verify"].first_error


def test_pool_keeps_order_over_many_chunks():
    def echo(completions):
        return [float(completions[0])]

    pool = WorkerPool([echo], size=2)
    try:
        outcomes = pool.run(0, [{"completions": [str(i)]} for i in range(300)], timeout=5.0)
    finally:
        pool.close()
    assert [o.kind for o in outcomes] == [OK] * 300
    assert [o.value for o in outcomes] == [[float(i)] for i in range(300)]


def test_pool_outcomes_name_timeouts_and_crashes():
    def misbehave(completions):
        if completions[0] == "hang":
            time.sleep(30)
        os._exit(1)

    pool = WorkerPool([misbehave], size=1)
    try:
        outcomes = pool.run(0, [{"completions": ["hang"]}, {"completions": ["die"]}], timeout=0.3)
    finally:
        pool.close()
    assert [o.kind for o in outcomes] == [TIMEOUT, CRASH]


def test_workers_die_with_their_parent_even_when_it_is_killed_and_ignore_a_group_sigterm(tmp_path):
    """A parent killed by SIGKILL runs no cleanup; its workers must not wait on their pipes for ever. And a
    SIGTERM to the whole process group (torchrun stopping a rank) is the parent's to handle: an idle worker
    it killed anyway is replaced."""
    import signal
    import subprocess
    import sys

    code = (
        "import json, os, signal, sys, time\n"
        "from grpo_rewards.runtime import WorkerPool\n"
        "pool = WorkerPool([lambda completions: [1.0]], size=2)\n"
        "pool.start()\n"
        "time.sleep(0.5)\n"  # the workers are up
        "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        "os.killpg(0, signal.SIGTERM)\n"  # the parent ignores it too; the workers must survive it
        "time.sleep(0.5)\n"
        "os.kill(pool._idle[0].process.pid, signal.SIGKILL)\n"  # an idle worker killed from outside
        "time.sleep(0.5)\n"
        "kinds = [o.kind for o in pool.run(0, [{'completions': ['x']}] * 4, timeout=5)]\n"
        "print(json.dumps([kinds, pool.replaced, [w.process.pid for w in pool._idle]]), flush=True)\n"
        "time.sleep(60)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True,
                            start_new_session=True)  # its own process group, for its killpg
    try:
        kinds, replaced, pids = json.loads(proc.stdout.readline())
        assert kinds == [OK] * 4 and replaced == 1 and len(pids) == 2
        proc.kill()
        proc.wait()
        deadline = time.monotonic() + 10
        while any(os.path.exists(f"/proc/{pid}") for pid in pids) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not any(os.path.exists(f"/proc/{pid}") for pid in pids), "workers outlived their killed parent"
    finally:
        proc.kill()
