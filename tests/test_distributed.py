"""Data-parallel GRPO (grpo_core/distributed.py): the pieces in one process, then real 2-rank gloo runs.

The runs use torchrun (and `grpo train --nproc-per-node`, which runs torchrun's launcher) on this CPU, one
thread per rank, with the tiny default model: 2 ranks must give the single-process update, and a killed
rank must end the run quickly and leave nothing behind; `--resume` then continues as if nothing happened.
"""
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from grpo_core import distributed
from grpo_core.distributed import Dist, from_env
from grpo_core.seeds import prompt_generators, prompt_seed

TIMING_KEYS = {"tokens_per_second", "step_seconds", "generation_seconds", "scoring_seconds", "cpu_threads"}


# -----------------------------------------------------------------------------
# in one process

def _grpo_cfg(prompts=8, dynamic=False):
    from types import SimpleNamespace

    return SimpleNamespace(prompts_per_step=prompts, dynamic_sampling=dynamic)


def test_one_process_is_single_and_untouched():
    assert from_env(_grpo_cfg(6), environ={}) is distributed.SINGLE
    assert from_env(_grpo_cfg(6, dynamic=True), environ={"WORLD_SIZE": "1", "RANK": "0"}) is distributed.SINGLE
    single = distributed.SINGLE
    rows = list(range(6))
    assert single.shard(rows) == (rows, 0) and single.split(rows) == rows
    t = torch.arange(4)
    assert single.mine(t) is t and single.sum([1, 2.5]) == [1, 2.5] and single.any(True) is True
    assert single.gather("x") == ["x"] and single.broadcast("x") == "x" and single.reward_workers() is None
    import torch.distributed as td

    assert not td.is_initialized()


def test_prompts_split_into_whole_prompts_per_rank():
    env = {"WORLD_SIZE": "4", "RANK": "2", "LOCAL_RANK": "0", "LOCAL_WORLD_SIZE": "2"}
    d = from_env(_grpo_cfg(8), environ=env)
    assert (d.rank, d.world_size, d.local_world_size) == (2, 4, 2) and d.enabled and not d.is_main
    assert d.shard(list("abcdefgh")) == (["e", "f"], 4)
    assert d.mine(torch.arange(16)).tolist() == [8, 9, 10, 11]  # rows of the whole batch, G=2
    # evaluation prompts of any count: near-equal contiguous shares covering everything once
    shares = [Dist(rank=r, world_size=4).split(list(range(10))) for r in range(4)]
    assert shares == [[0, 1, 2], [3, 4, 5], [6, 7], [8, 9]]
    cores = len(os.sched_getaffinity(0))
    assert d.reward_workers() == max(1, cores // 2)  # this rank's share of the machine's cores


def test_what_the_world_cannot_share_is_one_line():
    from grpo_rewards.errors import ConfigError

    with pytest.raises(ConfigError, match=r"grpo.prompts_per_step = 6 does not split over 4 ranks"):
        from_env(_grpo_cfg(6), environ={"WORLD_SIZE": "4", "RANK": "0"})
    with pytest.raises(ConfigError, match=r"grpo.dynamic_sampling = true is not supported with 2 ranks"):
        from_env(_grpo_cfg(8, dynamic=True), environ={"WORLD_SIZE": "2", "RANK": "1"})


def test_prompt_seeds_depend_on_seed_step_and_index_only():
    assert prompt_seed(0, 3, 5) == prompt_seed(0, 3, 5)
    assert len({prompt_seed(0, 3, 5), prompt_seed(1, 3, 5), prompt_seed(0, 4, 5), prompt_seed(0, 3, 6)}) == 4
    whole = [g.initial_seed() for g in prompt_generators(7, 2, 0, 4, "cpu")]
    halves = [g.initial_seed() for g in prompt_generators(7, 2, 0, 2, "cpu") + prompt_generators(7, 2, 2, 2, "cpu")]
    assert whole == halves


def test_a_prompts_completions_do_not_depend_on_the_rest_of_the_batch():
    """What makes N ranks sample what one process samples: per-prompt generators."""
    from transformers import Qwen2Config, Qwen2ForCausalLM

    from engine_fixtures import make_tokenizer
    from grpo_core.rollout import sample_groups

    tokenizer = make_tokenizer()
    config = Qwen2Config(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=128,
                         eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id)
    torch.manual_seed(0)
    model = Qwen2ForCausalLM(config).eval()
    prompts = [tokenizer(t)["input_ids"] for t in ("ab", "hello there", "x", "what is 2+2")]
    kwargs = dict(num_generations=3, max_new_tokens=6, temperature=1.0)
    whole = sample_groups(model, tokenizer, prompts, generator=prompt_generators(0, 1, 0, 4, "cpu"), **kwargs)
    parts = [sample_groups(model, tokenizer, prompts[i:i + 2], generator=prompt_generators(0, 1, i, 2, "cpu"),
                           **kwargs) for i in (0, 2)]
    texts = whole.decode(tokenizer)
    assert texts == parts[0].decode(tokenizer) + parts[1].decode(tokenizer)
    assert len(set(texts)) > 3  # really sampled, not all alike
    other = sample_groups(model, tokenizer, prompts, generator=prompt_generators(0, 2, 0, 4, "cpu"), **kwargs)
    assert other.decode(tokenizer) != texts  # another step draws anew


def test_launcher_failure_line_names_the_first_rank_and_how():
    from types import SimpleNamespace

    from grpo_core.launch import describe_failure

    def failure(rank, code, signal_name, t):
        return SimpleNamespace(local_rank=rank, pid=100 + rank, exitcode=code, timestamp=t,
                               signal_name=lambda: signal_name)

    # rank 0 stopped because rank 1 was killed (status 3), though torchrun saw rank 0 first
    line = describe_failure({0: failure(0, 3, "", 10), 1: failure(1, -9, "SIGKILL", 11)})
    assert line.startswith("rank 1 (local rank 1, pid 101) was killed by SIGKILL; rank 0 stopped with it")
    line = describe_failure({1: failure(1, 2, "", 10), 0: failure(0, -15, "SIGTERM", 10)})
    assert line.startswith("rank 1 (local rank 1, pid 101) exited with status 2 (its error is above)")


def test_torchrun_command_line():
    from argparse import Namespace

    from grpo_core.launch import torchrun_args
    from grpo_rewards.errors import UserError

    args = Namespace(nproc_per_node=2, nnodes=1, node_rank=None, rdzv_endpoint=None, config="c.toml",
                     overrides=["grpo.beta=0.04"], resume=True, no_progress=False)
    assert torchrun_args(args) == ["--nproc-per-node", "2", "--nnodes", "1", "--standalone", "--module",
                                   "grpo_core", "train", "c.toml", "--set=grpo.beta=0.04", "--resume"]
    args.nnodes, args.node_rank, args.rdzv_endpoint = 2, 1, "10.0.0.1:29400"
    assert torchrun_args(args)[4:12] == ["--node-rank", "1", "--master-addr", "10.0.0.1", "--master-port",
                                        "29400", "--module", "grpo_core"]
    args.rdzv_endpoint = None
    with pytest.raises(UserError, match="--rdzv-endpoint"):
        torchrun_args(args)


def test_plan_is_per_gpu_for_a_world_size():
    from grpo_core.config import load_config
    from grpo_core.plan import plan_memory, run_plan
    from grpo_rewards.errors import ConfigError

    four = plan_memory(load_config(None, ["grpo.prompts_per_step=8"]), world_size=4)
    one = plan_memory(load_config(None, ["grpo.prompts_per_step=2"]))
    assert four.assumptions["rows_per_step"] == one.assumptions["rows_per_step"] == 16  # 2 prompts x G=8 per GPU
    assert four.total_bytes == one.total_bytes  # the gradient all-reduce buffer never meets the activations
    assert any(t.name == "gradient all-reduce buffer" for t in four.terms)
    with pytest.raises(ConfigError, match="does not split over 3 ranks"):
        run_plan(None, [], None, False, world_size=3)


# -----------------------------------------------------------------------------
# real ranks (gloo, one thread each)

SMALL = {"data.eval_limit": "4", "train.save_every": "0"}


def _env(**extra):
    env = dict(os.environ, OMP_NUM_THREADS="1", HF_HUB_OFFLINE="1", **extra)
    env.pop("GRPO_PLUGINS", None)
    return env


def _sets(overrides: dict) -> list[str]:
    return [f"--set={k}={v}" for k, v in overrides.items()]


def _torchrun(*args, timeout=600):
    return subprocess.run([sys.executable, "-m", "torch.distributed.run", *args], capture_output=True, text=True,
                          env=_env(), timeout=timeout)


def _grpo(*args, env=None):
    return subprocess.Popen([sys.executable, "-m", "grpo_core", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=_env(**(env or {})))


@contextlib.contextmanager
def _one_thread():
    """A run in this process with one torch thread, as each rank has."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def _metrics(run: Path) -> list[dict]:
    return [{k: v for k, v in json.loads(line).items() if k not in TIMING_KEYS}
            for line in (run / "metrics.jsonl").read_text().splitlines()]


def _adapter(run: Path) -> dict:
    from safetensors.torch import load_file

    return load_file(str(run / "adapter" / "adapter_model.safetensors"))


EQUIVALENCE = {  # name: (overrides of both runs, of the single process only, of the 2 ranks only)
    "dapo": ({"grpo.loss": '"dapo"'}, {}, {}),
    "grpo": ({"grpo.loss": '"grpo"'}, {}, {}),
    # bnpo averages micro-batch means: 2 ranks x 2 micro-batches are the single process's 4 micro-batches
    "bnpo-batch-std": ({"grpo.loss": '"bnpo"', "grpo.scale_rewards": '"batch"'},
                       {"train.gradient_accumulation_steps": "4"}, {"train.gradient_accumulation_steps": "2"}),
}


@pytest.mark.parametrize("name", list(EQUIVALENCE))
def test_two_ranks_give_the_single_process_update(name, tmp_path):
    from grpo_core.config import load_config
    from grpo_core.trainer import train

    both, single, ranks = EQUIVALENCE[name]
    both = {**SMALL, "train.steps": "3", "grpo.beta": "0.04", "grpo.num_iterations": "2", **both}
    result = _torchrun("--standalone", "--nproc-per-node", "2", "-m", "grpo_core", "train", "--no-progress",
                       *_sets({**both, **ranks, "train.output_dir": json.dumps(str(tmp_path / "two"))}))
    assert result.returncode == 0, result.stderr[-3000:]

    with _one_thread():
        train(load_config(None, [f"{k}={v}" for k, v in
                                 {**both, **single, "train.output_dir": json.dumps(str(tmp_path / "one"))}.items()]),
              progress=False)

    one, two = _adapter(tmp_path / "one"), _adapter(tmp_path / "two")
    assert one.keys() == two.keys() and len(one) > 0
    worst = max(float((one[k] - two[k]).abs().max()) for k in one)
    moved = max(float(v.abs().max()) for k, v in one.items() if "lora_B" in k)
    assert moved > 1e-3, "the LoRA weights did not move: nothing was compared"
    print(f"{name}: LoRA weights of 2 ranks vs 1 process: max |difference| {worst:.3g}, max |B| {moved:.3g}")
    assert worst < 1e-5, f"2 ranks differ from 1 process by {worst:.3g}"
    summaries = [json.loads((tmp_path / run / "summary.json").read_text()) for run in ("one", "two")]
    for when in ("eval_before", "eval_after"):  # each rank evaluated its half of the prompts
        assert summaries[0][when] == summaries[1][when]
    a, b = _metrics(tmp_path / "one"), _metrics(tmp_path / "two")
    # the same completions: per-prompt sampling does not care how the batch is split
    assert [m["reward/mean"] for m in a] == [m["reward/mean"] for m in b]
    assert [m["completion_length/mean"] for m in a] == [m["completion_length/mean"] for m in b]
    assert all(abs(x["loss"] - y["loss"]) < 1e-5 and abs(x["kl"] - y["kl"]) < 1e-5 for x, y in zip(a, b))
    logged = [json.loads(line) for line in (tmp_path / "two" / "completions.jsonl").read_text().splitlines()]
    assert {s["rank"] for s in logged} == {0, 1}  # samples from every rank
    state = torch.load(tmp_path / "two" / "checkpoints" / "step-000003" / "state.pt", weights_only=False)
    assert state["world_size"] == 2 and len(state["ranks"]) == 2  # every rank's RNG and data position


def _tree(root: int) -> dict[int, int]:
    """{pid: ppid} of ``root`` and its descendants, from /proc."""
    parents = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                parents[int(entry)] = int(Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                pass
    tree, frontier = {}, [root]
    while frontier:
        pid = frontier.pop()
        for child, parent in parents.items():
            if parent == pid and child not in tree:
                tree[child] = pid
                frontier.append(child)
    return tree


def _alive(pid):
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _wait_for_steps(run: Path, n: int, proc, timeout=300):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        path = run / "metrics.jsonl"
        if path.exists() and len(path.read_text().splitlines()) >= n:
            return
        assert proc.poll() is None, proc.communicate()[1][-3000:]
        time.sleep(0.05)
    raise AssertionError(f"no step {n} within {timeout} s")


def _rank_pids(launcher: int) -> dict[int, int]:
    """{local rank: pid} of the ranks a launcher started."""
    ranks = {}
    for pid, parent in _tree(launcher).items():
        if parent == launcher:
            env = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
            local = [e for e in env if e.startswith(b"LOCAL_RANK=")]
            if local:
                ranks[int(local[0].split(b"=")[1])] = pid
    return ranks


FAULT = {**SMALL, "train.steps": "12", "train.save_every": "2", "grpo.beta": "0.04", "grpo.num_iterations": "2"}


def test_a_killed_rank_ends_the_run_and_resume_matches_an_uninterrupted_run(tmp_path):
    straight = _grpo("train", "--nproc-per-node", "2", "--no-progress",
                     *_sets({**FAULT, "train.output_dir": json.dumps(str(tmp_path / "a"))}))
    _, err = straight.communicate(timeout=600)
    assert straight.returncode == 0, err[-3000:]

    run = tmp_path / "b"
    broken = _grpo("train", "--nproc-per-node", "2", "--no-progress",
                   *_sets({**FAULT, "train.output_dir": json.dumps(str(run))}))
    _wait_for_steps(run, 3, broken)
    ranks = _rank_pids(broken.pid)
    tree = _tree(broken.pid)
    assert sorted(ranks) == [0, 1], tree
    cores = len(os.sched_getaffinity(0))
    for pid in ranks.values():  # each rank's reward pool: its share of the cores
        assert sum(1 for parent in tree.values() if parent == pid) == max(1, cores // 2)
    killed = time.monotonic()
    os.kill(ranks[1], signal.SIGKILL)
    _, err = broken.communicate(timeout=120)
    took = time.monotonic() - killed
    assert took < 60, f"the run took {took:.0f} s to end"
    assert broken.returncode == distributed.RankLost.exit_status, err[-3000:]
    assert not [pid for pid in tree if _alive(pid)], "processes outlived the run"
    lines = [line for line in err.splitlines() if line.startswith("grpo: error:")]
    assert any(f"rank 1 (pid {ranks[1]}) died without an error" in line for line in lines), err[-3000:]
    assert lines[-1].startswith(f"grpo: error: rank 1 (local rank 1, pid {ranks[1]}) was killed by SIGKILL")
    assert "Traceback" not in err
    from grpo_core import checkpoint

    latest = checkpoint.latest(str(run))
    assert latest and checkpoint.load_state(latest)["step"] >= 2  # intact, and loadable

    resumed = _grpo("train", "--nproc-per-node", "2", "--no-progress", "--resume",
                    *_sets({**FAULT, "train.output_dir": json.dumps(str(run))}))
    _, err = resumed.communicate(timeout=600)
    assert resumed.returncode == 0, err[-3000:]
    assert _metrics(tmp_path / "a") == _metrics(run)
    assert [m["step"] for m in _metrics(run)] == list(range(1, 13))
    assert torch.equal(torch.cat([v.flatten() for v in _adapter(tmp_path / "a").values()]),
                       torch.cat([v.flatten() for v in _adapter(run).values()]))


FAILS_ON_RANK_1 = """
import os, time
from grpo_rewards import hookimpl

calls = 0

def fails_on_rank_1(completions):  # call 1 is the evaluation before training, call 3 step 2
    global calls
    calls += 1
    if os.environ.get("RANK") == "1" and calls >= 3:
        if os.environ["HOW"] == "hangs":
            time.sleep(600)
        raise RuntimeError("this rank's verifier broke")
    return [0.0 for _ in completions]

@hookimpl
def register_rewards(register):
    register("fails_on_rank_1", fails_on_rank_1)
"""


@pytest.mark.parametrize("how", ["raises", "hangs"])
def test_a_rank_that_raises_or_hangs_ends_the_run_naming_it(tmp_path, how):
    from sdk_fixtures import make_distribution

    site = tmp_path / "site"
    site.mkdir()
    make_distribution(site, "grpo-rankfail", "grpo_rankfail", FAILS_ON_RANK_1)
    config = tmp_path / "c.toml"
    config.write_text('[model]\nname = "builtin:tiny-arith"\n[data]\ndataset = "arithmetic"\n'
                      '[grpo]\nmax_completion_length = 8\n'
                      '[[rewards]]\nuse = "math"\n[[rewards]]\nuse = "fails_on_rank_1"\non_error = "raise"\n')
    run = tmp_path / "run"
    proc = _grpo("train", str(config), "--nproc-per-node", "2", "--no-progress",
                 *_sets({**SMALL, "train.steps": "50", "train.output_dir": json.dumps(str(run)),
                         # a hang is given up on after 20 s (ample for step-time skew under load)
                         "train.collective_timeout": "20" if how == "hangs" else "600"}),
                 env={"PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")]), "HOW": how})
    _wait_for_steps(run, 1, proc)
    tree = _tree(proc.pid)
    started = time.monotonic()
    _, err = proc.communicate(timeout=120)
    assert time.monotonic() - started < (90 if how == "hangs" else 60)  # a hang: 20 s, then torchrun's 30 s grace
    assert proc.returncode == distributed.RankLost.exit_status, err[-3000:]
    assert not [pid for pid in tree if _alive(pid)], "processes outlived the run"
    lines = [line for line in err.splitlines() if line.startswith("grpo: error:")]
    because = ("rank 1 failed: RewardError: reward 'fails_on_rank_1'" if how == "raises" else
               "rank 1 did not get there within train.collective_timeout = 20 s: it is still in its step")
    assert any("rank 0 stopping in" in line and because in line for line in lines), err[-3000:]
    assert lines[-1].startswith("grpo: error: rank 1 (local rank 1, pid ")
    assert "Traceback" not in err


def test_sigterm_to_the_launcher_stops_every_rank_after_its_step_and_one_process_resumes(tmp_path, capfd):
    run = tmp_path / "run"
    sets = {**SMALL, "train.steps": "40", "train.output_dir": json.dumps(str(run))}
    proc = _grpo("train", "--nproc-per-node", "2", "--no-progress", *_sets(sets))
    _wait_for_steps(run, 2, proc)
    tree = _tree(proc.pid)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 143, err[-3000:]  # 128 + SIGTERM, as a shell reports it
    assert not [pid for pid in tree if _alive(pid)], "processes outlived the run"
    assert "grpo: error: stopped by SIGTERM after step" in err and "continue with --resume" in err
    from grpo_core import checkpoint

    state = checkpoint.load_state(checkpoint.latest(str(run)))
    assert state["step"] == len(_metrics(run)) and state["world_size"] == 2

    # another world size: one process continues the 2-rank run where it stopped
    from grpo_core.config import load_config
    from grpo_core.trainer import train

    with _one_thread():
        summary = train(load_config(None, [f"{k}={v}" for k, v in sets.items()]), resume=True, progress=False)
    assert summary["resumed"] and [m["step"] for m in _metrics(run)] == list(range(1, 41))
    assert "saved by 2 rank(s), now 1" in capfd.readouterr().err


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_nodes_on_this_machine(tmp_path):
    """Two launchers, as on two machines: bare torchrun for node 0, the `grpo train` shortcut for node 1."""
    port = _free_port()
    sets = _sets({**SMALL, "train.steps": "2", "train.output_dir": json.dumps(str(tmp_path / "run"))})
    node1 = _grpo("train", "--nproc-per-node", "1", "--nnodes", "2", "--node-rank", "1",
                  "--rdzv-endpoint", f"127.0.0.1:{port}", "--no-progress", *sets)
    node0 = _torchrun("--nnodes", "2", "--node-rank", "0", "--nproc-per-node", "1", "--master-addr", "127.0.0.1",
                      "--master-port", str(port), "-m", "grpo_core", "train", "--no-progress", *sets)
    _, err1 = node1.communicate(timeout=600)
    assert node0.returncode == 0, node0.stderr[-3000:]
    assert node1.returncode == 0, err1[-3000:]
    assert "x 2 ranks" in node0.stderr
    assert [m["step"] for m in _metrics(tmp_path / "run")] == [1, 2]

    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    from grpo_core.config import resolve_model_path

    base = AutoModelForCausalLM.from_pretrained(resolve_model_path("builtin:tiny-arith"))
    model = PeftModel.from_pretrained(base, str(tmp_path / "run" / "adapter"))
    assert any("lora_A" in name for name, _ in model.named_parameters())


def test_two_ranks_sample_through_their_own_vllm_servers(tmp_path):
    """generation.backend = "vllm" under 2 ranks: each rank starts its own managed server and syncs its own
    adapter; the run finishes, the metrics carry the servers' mismatch, and no server outlives the run."""
    import glob
    import tempfile

    from vllm_fixtures import processes_of, vllm_overrides

    overrides = vllm_overrides()
    run = tmp_path / "run"
    logs_before = set(glob.glob(os.path.join(tempfile.gettempdir(), "grpo-vllm-server-rank1-*.log")))
    proc = _grpo("train", "--nproc-per-node", "2", "--no-progress", *[f"--set={o}" for o in overrides],
                 *_sets({**SMALL, "train.steps": "2", "train.output_dir": json.dumps(str(run))}))
    _, err = proc.communicate(timeout=1200)
    assert proc.returncode == 0, err[-3000:]
    assert err.count("grpo: starting the vLLM server") == 2 and "x 2 ranks" in err
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [1, 2]
    assert all(r["sampler/logprob_diff_max"] is not None for r in records)
    assert [r["generation/adapter_version"] for r in records] == [0, 1]
    logged = [json.loads(line) for line in (run / "completions.jsonl").read_text().splitlines()]
    assert {s["rank"] for s in logged} == {0, 1}
    assert (run / "vllm-server.log").exists()  # rank 0's; rank 1's temporary log went with its clean exit
    assert set(glob.glob(os.path.join(tempfile.gettempdir(), "grpo-vllm-server-rank1-*.log"))) == logs_before
    assert processes_of(run) == []

