"""train.report_to: the metrics of metrics.jsonl reach TensorBoard (read back with TensorBoard's own
reader), W&B and Trackio (their calls checked against stand-in modules: neither is installed here);
a tracker whose library is missing is a one-line config error before the model loads."""
import json
import math
import os
import sys
import types

import pytest

from engine_fixtures import config_text, make_tiny_model, write_dataset
from sdk_fixtures import run_cli


def _tensorboard_reader():
    if os.environ.get("CI"):  # CI installs it (requirements-test.txt): missing there is a failure
        from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    else:
        EventAccumulator = pytest.importorskip(
            "tensorboard.backend.event_processing.event_accumulator").EventAccumulator
    return EventAccumulator


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("tiny")
    return make_tiny_model(root / "model"), write_dataset(root / "data.jsonl")


def test_tensorboard_event_files_hold_every_metric_of_metrics_jsonl(tiny, tmp_path):
    EventAccumulator = _tensorboard_reader()
    from grpo_core.config import load_config
    from grpo_core.trainer import train

    model, data = tiny
    config = tmp_path / "c.toml"
    config.write_text(config_text(model, data, tmp_path / "run", **{
        "train.steps": "3", "data.eval_limit": "2", "train.report_to": '["tensorboard"]'}))
    train(load_config(str(config)), progress=False)
    events = EventAccumulator(str(tmp_path / "run" / "tensorboard"), size_guidance={"scalars": 0})
    events.Reload()
    records = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    numeric = {k for r in records for k, v in r.items()
               if k != "step" and isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)}
    assert numeric and numeric <= set(events.Tags()["scalars"])
    for key in numeric:
        logged = {e.step: e.value for e in events.Scalars(key)}
        expected = {r["step"]: r[key] for r in records if isinstance(r.get(key), (int, float))}
        assert logged.keys() == expected.keys(), key
        for step, value in expected.items():
            assert logged[step] == pytest.approx(value, rel=1e-6), (key, step)  # event files hold float32


class Recorder(types.ModuleType):
    """A stand-in for wandb or trackio that records what it is asked to do."""

    def __init__(self, name):
        super().__init__(name)
        self.calls = []
        recorder = self

        class Run:
            def log(self, metrics, step=None):
                recorder.calls.append(("log", step, dict(metrics)))

            def finish(self):
                recorder.calls.append(("finish",))

        self.run = Run()

    def init(self, **kwargs):
        self.calls.append(("init", kwargs))
        return self.run

    def log(self, metrics, step=None):
        self.run.log(metrics, step)

    def finish(self):
        self.run.finish()


@pytest.mark.parametrize("name", ["wandb", "trackio"])
def test_wandb_and_trackio_receive_each_step_offline(tmp_path, monkeypatch, name):
    from grpo_core import trackers

    fake = Recorder(name)
    monkeypatch.setitem(sys.modules, name, fake)
    monkeypatch.delenv("WANDB_MODE", raising=False)
    trackers.check([name])
    with trackers.Trackers([name], str(tmp_path), {"train": {"steps": 2}}) as watchers:
        watchers.log(1, {"loss": 0.5, "reward/mean": None, "note": "text", "lr": 1e-3})
        watchers.log(2, {"loss": 0.25, "lr": 1e-3})
    init = fake.calls[0][1]
    assert init["config"] == {"train": {"steps": 2}} and init["resume"] == "allow"
    if name == "wandb":
        assert init["mode"] == "offline" and init["dir"] == str(tmp_path)
    assert fake.calls[1:] == [("log", 1, {"loss": 0.5, "lr": 1e-3}), ("log", 2, {"loss": 0.25, "lr": 1e-3}),
                              ("finish",)]
    # A resumed run continues the same tracker run: the id is kept in the run directory.
    again = Recorder(name)
    monkeypatch.setitem(sys.modules, name, again)
    trackers.Trackers([name], str(tmp_path), {}, first_step=3).close()
    key = "id" if name == "wandb" else "name"
    assert again.calls[0][1][key] == init[key]


def test_a_tracker_that_fails_mid_run_is_dropped_with_one_line(tmp_path, monkeypatch, capsys):
    from grpo_core import trackers

    fake = Recorder("wandb")
    fake.run.log = lambda metrics, step=None: (_ for _ in ()).throw(RuntimeError("service went away"))
    monkeypatch.setitem(sys.modules, "wandb", fake)
    with trackers.Trackers(["wandb"], str(tmp_path), {}) as watchers:
        watchers.log(1, {"loss": 1.0})
        watchers.log(2, {"loss": 1.0})
    assert capsys.readouterr().err.count("grpo: wandb stopped logging: service went away") == 1


def test_a_missing_tracker_library_is_one_line_before_the_model_loads(tmp_path):
    blocked = tmp_path / "blocked"
    (blocked / "wandb").mkdir(parents=True)
    (blocked / "wandb" / "__init__.py").write_text("raise ImportError('No module named wandb')\n")
    empty = tmp_path / "nomodel"
    empty.mkdir()  # never loaded
    data = write_dataset(tmp_path / "data.jsonl")
    config = tmp_path / "c.toml"
    config.write_text(config_text(empty, data, tmp_path / "run", **{"train.report_to": '["wandb"]'}))
    result = run_cli("train", str(config), path_dirs=[blocked])
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert lines == ["grpo: error: train.report_to: 'wandb' needs the wandb package, which cannot be imported "
                     "(No module named wandb): pip install wandb"], result.stderr
    bad = run_cli("train", str(config), "--set", 'train.report_to=["mlflow"]')
    assert bad.returncode == 2 and "train.report_to: unknown tracker \"mlflow\"" in bad.stderr
