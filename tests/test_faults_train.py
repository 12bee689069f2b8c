"""`grpo train` and `grpo eval` under faults (issue 9, points 2, 3, 4, 6, 7): damaged checkpoints,
stuck run directories, resumes that would change the run, signals in every phase, file errors and the
checks that must come before the model loads."""
import json
import os
import shutil
import signal

import pytest

from engine_fixtures import config_text, make_tiny_model, write_dataset
from fault_fixtures import SIGNALS, children, fill, finish, start_cli, tmpfs, user_lines, wait_dead, wait_for_line
from sdk_fixtures import make_distribution, run_cli

QUICK = {"train.steps": "3", "train.save_every": "1", "data.eval_limit": "2"}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("tiny")
    return make_tiny_model(root / "model"), write_dataset(root / "data.jsonl")


def load(path, *overrides):
    from grpo_core.config import load_config

    return load_config(str(path), list(overrides))


def write_config(tmp_path, tiny, run, **overrides):
    model, data = tiny
    path = tmp_path / f"{run.name}.toml"
    path.write_text(config_text(model, data, run, **{**QUICK, **overrides}))
    return path


@pytest.fixture(scope="module")
def finished(tiny, tmp_path_factory):
    """A finished 3-step run with checkpoints step-2 and step-3 (copy it before damaging it)."""
    from grpo_core.trainer import train

    root = tmp_path_factory.mktemp("finished")
    config = write_config(root, tiny, root / "run")
    train(load(config), progress=False)
    return config, root / "run"


@pytest.fixture
def run_copy(finished, tmp_path):
    config, run = finished
    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    text = config.read_text().replace(str(run), str(copy))
    (tmp_path / "c.toml").write_text(text)
    return tmp_path / "c.toml", copy


def one_line(result, text, status=2):
    assert result.returncode == status, result.stderr
    lines = user_lines(result.stderr)
    assert len(lines) == 1 and text in lines[0], result.stderr
    assert "Traceback" not in result.stderr


# ---------------------------------------------------------------- 3. damaged checkpoints

def _truncate(path, keep=100):
    data = path.read_bytes()
    path.write_bytes(data[:keep])


DAMAGE = {
    "truncated state.pt": (lambda c: _truncate(c / "state.pt"), "state.pt cannot be read"),
    "empty state.pt": (lambda c: (c / "state.pt").write_bytes(b""), "state.pt is empty"),
    "truncated weights": (lambda c: _truncate(c / "adapter" / "adapter_model.safetensors", 5000),
                          "adapter_model.safetensors cannot be read"),
    "truncated adapter config": (lambda c: _truncate(c / "adapter" / "adapter_config.json", 30),
                                 "adapter_config.json cannot be read"),
    "missing weights": (lambda c: (c / "adapter" / "adapter_model.safetensors").unlink(),
                        "adapter_model.safetensors is missing"),
}


@pytest.mark.parametrize("damage", DAMAGE, ids=list(DAMAGE))
def test_validate_names_what_is_wrong_with_a_checkpoint(run_copy, damage):
    from grpo_core import checkpoint

    _, run = run_copy
    ckpt = run / "checkpoints" / "step-000003"
    assert checkpoint.validate(str(ckpt))["step"] == 3
    harm, reason = DAMAGE[damage]
    harm(ckpt)
    with pytest.raises(checkpoint.Unusable, match=reason):
        checkpoint.validate(str(ckpt))
    lines = []
    path, state, skipped = checkpoint.newest_valid(str(run), say=lines.append)
    assert path.endswith("step-000002") and state["step"] == 2
    assert lines == [f"grpo: skipping checkpoint step-000003: {skipped[0].split(': ', 1)[1]}"]


def test_resume_falls_back_past_a_damaged_checkpoint_and_torn_logs(run_copy):
    config, run = run_copy
    (run / "summary.json").unlink()  # a run that died during its final evaluation
    _truncate(run / "checkpoints" / "step-000003" / "adapter" / "adapter_model.safetensors", 5000)
    for log in ("metrics.jsonl", "completions.jsonl"):
        with open(run / log, "a") as f:
            f.write('{"step": 4, "loss": 0.1')  # the torn last line of a write cut short
    result = run_cli("train", str(config), "--resume", "--no-progress", env={"PYTHONWARNINGS": "ignore"}, timeout=600)
    assert result.returncode == 0, result.stderr
    assert "grpo: skipping checkpoint step-000003: adapter_model.safetensors cannot be read" in result.stderr
    assert "resuming" in result.stderr and "after step 2" in result.stderr
    steps = [json.loads(line)["step"] for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert steps == [1, 2, 3]


def test_no_valid_checkpoint_is_one_line_and_eval_stays_off_the_network(run_copy):
    config, run = run_copy
    for step in ("step-000002", "step-000003"):
        (run / "checkpoints" / step / "state.pt").write_bytes(b"")
    one_line(run_cli("train", str(config), "--resume"), "--resume: no usable checkpoint")
    (run / "adapter" / "adapter_model.safetensors").unlink()
    # With the hub reachable in principle, a damaged local adapter must still never be looked up there.
    env = {"HF_HUB_OFFLINE": "0", "HF_ENDPOINT": "http://127.0.0.1:9"}
    one_line(run_cli("eval", str(run), "--json", env=env), "adapter_model.safetensors is missing")
    shutil.rmtree(run / "adapter")  # no final adapter and no usable checkpoint either
    one_line(run_cli("eval", str(run), "--json", env=env), "no usable checkpoint")


# ---------------------------------------------------------------- 4. run directories that get stuck

def test_run_directory_states(tiny, tmp_path, capsys):
    from grpo_rewards.errors import UserError

    from grpo_core.trainer import prepare

    run = tmp_path / "run"
    cfg = load(write_config(tmp_path, tiny, run))
    run.mkdir()
    (run / "config.toml").write_text("# a run stopped during start-up\n")
    prepare(cfg)  # unstarted: starts again, saying so
    assert "stopped before its first step; starting it again" in capsys.readouterr().err
    (run / "checkpoints" / "step-000001").mkdir(parents=True)
    with pytest.raises(UserError, match="already holds a run .*--overwrite"):
        prepare(cfg)
    prepare(cfg, overwrite=True)
    assert "--overwrite: replacing the run" in capsys.readouterr().err and not (run / "checkpoints").exists()
    (run / "metrics.jsonl").write_text('{"step": 1}\n')  # steps done, no checkpoint: only --overwrite helps
    with pytest.raises(UserError, match="1 finished steps and no checkpoint .*--overwrite"):
        prepare(cfg)
    with pytest.raises(UserError, match="start it again with --overwrite"):
        prepare(cfg, resume_run=True)
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("mine\n")
    with pytest.raises(UserError, match="not a grpo run"):
        prepare(load(write_config(tmp_path, tiny, other)), overwrite=True)
    assert (other / "notes.txt").read_text() == "mine\n"
    (tmp_path / "afile").write_text("x")
    with pytest.raises(UserError, match="is a file"):
        prepare(load(write_config(tmp_path, tiny, tmp_path / "afile")))
    with tmpfs(read_only=True) as folder:
        with pytest.raises(UserError, match="cannot write there: read-only file system"):
            prepare(load(write_config(tmp_path, tiny, tmp_path / "x", **{"train.output_dir": json.dumps(folder)})))


def test_a_crash_before_the_first_step_leaves_a_directory_that_starts_again(tiny, tmp_path):
    make_distribution(tmp_path, "grpo-boom", "grpo_boom", """
        from grpo_rewards import hookimpl
        def boom(completions):
            raise SystemExit("reward gave up")  # on_error = "raise" turns the failure into a stop
        @hookimpl
        def register_rewards(register):
            register("boom", boom)
        """)
    run = tmp_path / "run"
    config = write_config(tmp_path, tiny, run)
    config.write_text(config.read_text() + '\n[[rewards]]\nuse = "boom"\non_error = "raise"\n')
    result = run_cli("train", str(config), "--no-progress", path_dirs=[tmp_path], timeout=600)
    assert result.returncode == 2 and "reward 'boom'" in result.stderr, result.stderr
    assert (run / "config.toml").exists()
    config.write_text(config.read_text().replace('on_error = "raise"', 'on_error = "zero"'))
    again = run_cli("train", str(config), "--no-progress", path_dirs=[tmp_path], env={"PYTHONWARNINGS": "ignore"},
                    timeout=600)
    assert again.returncode == 0, again.stderr
    assert "stopped before its first step; starting it again" in again.stderr


def test_resume_refuses_what_cannot_change_and_accepts_more_steps(run_copy):
    from grpo_rewards.errors import UserError

    from grpo_core.trainer import prepare

    config, run = run_copy
    for override, key in [("lora.r=8", "lora.r"), ("grpo.num_generations=8", "grpo.num_generations"),
                          ("model.quantization=\"nf4\"", "model.quantization"), ("rewards.0.weight=2.0", "the reward mix"),
                          ("train.learning_rate=0.1", "train.learning_rate")]:
        with pytest.raises(UserError, match=f"--resume: {key} cannot change .*accepts changes to train.steps"):
            prepare(load(config, override), resume_run=True)
    with pytest.raises(UserError, match="train.steps = 2, but the run has done 3 steps"):
        prepare(load(config, "train.steps=2"), resume_run=True)
    with pytest.raises(UserError, match="is complete"):
        prepare(load(config), resume_run=True)
    prepared = prepare(load(config, "train.steps=5", "grpo.beta=0.04"), resume_run=True)
    assert prepared.state["step"] == 3
    assert "steps = 5" in (run / "config.toml").read_text() and "lora" in (run / "config.toml").read_text()


# ---------------------------------------------------------------- SIGINT and SIGTERM in every phase

PHASES = ["start-up", "evaluation", "training", "saving", "final evaluation"]


@pytest.mark.parametrize("sig", SIGNALS, ids=["INT", "TERM"])
@pytest.mark.parametrize("phase", PHASES)
def test_signals_act_alike_in_every_phase(tiny, tmp_path, monkeypatch, phase, sig):
    from grpo_core import checkpoint, trainer

    def kill():
        os.kill(os.getpid(), sig)

    calls = {"eval": 0}
    real_load, real_eval, real_save = trainer.load_from_config, trainer.evaluate, checkpoint.save
    if phase == "start-up":
        monkeypatch.setattr(trainer, "load_from_config", lambda *a, **k: (kill(), real_load(*a, **k))[1])

    def evaluate(*args, **kwargs):
        calls["eval"] += 1
        if (phase == "evaluation" and calls["eval"] == 1) or (phase == "final evaluation" and calls["eval"] == 2):
            kill()
        return real_eval(*args, **kwargs)

    def save(*args, **kwargs):
        if phase == "saving" and args[1] == 1:
            kill()  # arrives while the checkpoint is written: the save completes, then the run stops
        return real_save(*args, **kwargs)

    monkeypatch.setattr(trainer, "evaluate", evaluate)
    monkeypatch.setattr(checkpoint, "save", save)
    on_step = (lambda step, record: step == 1 and kill()) if phase == "training" else None
    run = tmp_path / "run"
    cfg = load(write_config(tmp_path, tiny, run, **{"train.steps": "2"}))
    with pytest.raises(trainer.Interrupted) as stopped:
        trainer.train(cfg, on_step=on_step, progress=False)
    name = signal.Signals(sig).name
    assert stopped.value.exit_status == 128 + sig and f"stopped by {name}" in str(stopped.value)
    expected = {"start-up": "before step 1", "evaluation": "before step 1", "training": "after step 1",
                "saving": "after step 1", "final evaluation": "after the last step"}[phase]
    assert expected in str(stopped.value)
    assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL  # the handlers are put back
    # And the directory is never stuck: what the message says goes on does (the checks that need no model).
    if phase in ("start-up", "evaluation"):
        trainer.prepare(cfg)  # an unstarted directory: the same command starts again
    else:
        assert trainer.prepare(cfg, resume_run=True).state["step"] == (2 if phase == "final evaluation" else 1)
    if phase == "training" and sig == signal.SIGINT:  # once all the way: the resumed run finishes
        assert trainer.train(cfg, resume=True, progress=False)["steps"] == 2


def test_sigterm_at_start_up_through_the_cli_is_one_line_and_leaves_no_worker(tiny, tmp_path):
    make_distribution(tmp_path, "grpo-sleepy", "grpo_sleepy", """
        import sys, time
        from grpo_rewards import hookimpl, isolated
        @isolated(timeout=120.0)
        def sleepy(completions):
            print("scoring", file=sys.stderr, flush=True)
            time.sleep(60)
            return [0.0]
        @hookimpl
        def register_rewards(register):
            register("sleepy", sleepy)
        """)
    config = write_config(tmp_path, tiny, tmp_path / "run")
    config.write_text(config.read_text() + '\n[[rewards]]\nuse = "sleepy"\n')
    proc = start_cli("train", str(config), "--no-progress", path_dirs=[tmp_path])
    wait_for_line(proc, "scoring")  # in the evaluation before training, in a worker
    workers = children(proc.pid)
    status, err = finish(proc, signal.SIGTERM)
    assert status == 143
    assert user_lines(err) == ["grpo: error: stopped by SIGTERM during the evaluation before training, before step 1; "
                               "nothing to resume: "
                               "the same command starts the run again"], err
    assert workers and wait_dead(workers) == []


def test_sigkill_during_training_leaves_no_worker(tiny, tmp_path):
    config = write_config(tmp_path, tiny, tmp_path / "run", **{"train.steps": "50"})
    config.write_text(config.read_text() + '\n[[rewards]]\nuse = "math"\nweight = 0.0\n')
    proc = start_cli("train", str(config), "--no-progress")
    wait_for_line(proc, "eval before training")
    workers = children(proc.pid)
    proc.kill()
    proc.wait()
    assert workers and wait_dead(workers) == []


# ---------------------------------------------------------------- 6. a full disk during a checkpoint

def test_a_full_disk_during_a_checkpoint_keeps_the_previous_one(tiny, tmp_path):
    from grpo_rewards.errors import UserError

    from grpo_core import checkpoint
    from grpo_core.trainer import train

    with tmpfs("3m") as folder:
        run = os.path.join(folder, "run")
        cfg = load(write_config(tmp_path, tiny, tmp_path / "x", **{"train.output_dir": json.dumps(run)}))

        def fill_after_first(step, record):
            if step == 2:
                fill(folder)

        with pytest.raises(UserError, match="checkpoint step-000002 not saved .*: no space left on device; "
                                            "step-000001 is kept"):
            train(cfg, on_step=fill_after_first, progress=False)
        assert checkpoint.validate(os.path.join(run, "checkpoints", "step-000001"))["step"] == 1
        assert sorted(os.listdir(os.path.join(run, "checkpoints"))) == ["latest", "step-000001"]


# ---------------------------------------------------------------- 7. checks before the model loads

def test_checks_before_the_model_loads(tiny, tmp_path):
    """Each fails in one line, exit 2, with a model directory that would not even load."""
    _, data = tiny
    empty = tmp_path / "nomodel"
    empty.mkdir()
    rows = tmp_path / "rows.jsonl"
    cases = [
        ([{"question": "q", "solution": "1"}], '[[rewards]]\nuse = "math"\n',
         "rewards[2] (math): needs the column 'answer', which data.dataset"),
        ([{"question": None, "answer": "1"}], "", "data.prompt: row 0 of split 'train' holds null"),
        ([{"question": 7, "answer": "1"}], "", "holds int 7 in column 'question'"),
    ]
    for content, extra, message in cases:
        rows.write_text("".join(json.dumps(r) + "\n" for r in content))
        config = tmp_path / "c.toml"
        config.write_text(config_text(empty, rows, tmp_path / "run", **QUICK) + extra)
        one_line(run_cli("train", str(config)), message)
        assert not (tmp_path / "run").exists()
    one_line(run_cli("train", str(config), "--set", "train.steps=99999999999999999999999"),
             "train.steps must be at most")


def test_prompts_too_long_for_the_model_are_refused_or_cut(tiny, tmp_path, capsys):
    from grpo_rewards.errors import ConfigError

    from grpo_core.trainer import prepare

    model, _ = tiny
    rows = tmp_path / "long.jsonl"
    rows.write_text(json.dumps({"question": "1 + 1 = ? " * 100, "answer": "2"}) + "\n"
                    + json.dumps({"question": "short", "answer": "2"}) + "\n")
    config = tmp_path / "c.toml"
    config.write_text(config_text(model, rows, tmp_path / "run", **QUICK))
    with pytest.raises(ConfigError, match=r"row 0 of split 'train' is \d{3} tokens long; .* context of 256 tokens"):
        prepare(load(config))
    with pytest.raises(ConfigError, match="data.max_prompt_length: 250 prompt tokens"):
        prepare(load(config, "data.max_prompt_length=250"))
    prepare(load(config, "data.max_prompt_length=64"))
    assert "2 of 4 prompts are longer than data.max_prompt_length = 64 tokens" in capsys.readouterr().err


def test_a_huge_step_count_starts_at_once(tmp_path):
    import time

    from grpo_core.data import MAX_GENERATED_ROWS
    from grpo_core.trainer import prepare

    start = time.monotonic()
    prepared = prepare(load_default(tmp_path, "train.steps=100000000", "data.eval_limit=2"))
    assert len(prepared.train_rows) == MAX_GENERATED_ROWS
    assert time.monotonic() - start < 60  # seconds at most, where generating every prompt took minutes


def load_default(tmp_path, *overrides):
    from grpo_core.config import load_config

    return load_config(None, [*overrides, f"train.output_dir={json.dumps(str(tmp_path / 'run'))}"])
