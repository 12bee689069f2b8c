"""A loss and an advantage estimator from an outside package, pip-installed: listed by `grpo plugins`,
selected by name in a config, and trained for two steps, exactly like the built-ins."""
import json

import pytest

from engine_fixtures import config_text, make_tiny_model, write_dataset
from sdk_fixtures import pip_install_plugin, run_cli

# Written only from the documented interface (grpo_rewards.hookspecs, docs/writing-losses.md).
PLUGIN = '''
from grpo_rewards import hookimpl


def clipped_reinforce(inputs, cap=2.0):
    """REINFORCE on the token log-probs, weighted by the importance ratio capped at `cap` (no gradient)."""
    weight = inputs.ratio.clamp(max=cap).detach()
    return -weight * inputs.advantages * inputs.logp, {"capped": inputs.ratio > cap}


clipped_reinforce.aggregation = "sequence"


def rloo(inputs):
    """Leave-one-out baseline: each sample against the mean of the other G - 1 of its group."""
    G = inputs.num_generations
    r = inputs.total.view(-1, G)
    valid = ~r.isnan()
    r0 = r.nan_to_num(0.0)
    n = valid.sum(dim=1, keepdim=True)
    others = (r0.sum(dim=1, keepdim=True) - r0) / (n - 1).clamp(min=1)
    return (r0 - others).where(valid & (n > 1), 0.0).reshape(-1), valid.reshape(-1)


@hookimpl
def register_losses(register):
    register("clipped_reinforce", clipped_reinforce)


@hookimpl
def register_advantages(register):
    register("rloo", rloo)
'''

@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    return pip_install_plugin(tmp_path_factory, "grpo-reinforce", "grpo_reinforce", PLUGIN, "0.3.0", "reinforce")


def test_listed_by_grpo_plugins(installed):
    listing = run_cli("plugins", "--json", path_dirs=[installed])
    plugins = {p["distribution"]: p for p in json.loads(listing.stdout)["plugins"] if p["losses"] or p["advantages"]}
    assert plugins["grpo-reinforce"]["losses"] == ["clipped_reinforce"]
    assert plugins["grpo-reinforce"]["advantages"] == ["rloo"]
    assert plugins["grpo-core"]["losses"] == ["grpo", "bnpo", "dr_grpo", "dapo", "cispo", "sapo"]
    text = run_cli("plugins", path_dirs=[installed]).stdout
    assert "grpo-reinforce 0.3.0\n  loss    clipped_reinforce\n  advantage rloo" in text


def test_selected_by_name_and_trains_two_steps(installed, tmp_path):
    model = make_tiny_model(tmp_path / "model")
    data = write_dataset(tmp_path / "data.jsonl")
    config = tmp_path / "c.toml"
    config.write_text(config_text(model, data, tmp_path / "run", **{
        "grpo.loss": '"clipped_reinforce"', "grpo.loss_options": "{ cap = 1.5 }", "grpo.advantage": '"rloo"',
        "grpo.num_iterations": "2"}))
    result = run_cli("train", str(config), "--no-progress", path_dirs=[installed], timeout=600)
    assert result.returncode == 0, result.stderr
    metrics = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [m["step"] for m in metrics] == [1, 2]
    assert all("capped" in m and 0 <= m["capped"] <= 1 for m in metrics)  # the plugin's own stat, logged
    assert any(m["grad_norm"] for m in metrics)

    # an option the loss does not take is a one-line error before the model loads
    bad = run_cli("train", str(config), "--no-progress", "--set", "grpo.loss_options={ cap = 1.5, floor = 0.1 }",
                  "--set", f"train.output_dir={tmp_path / 'run2'}", path_dirs=[installed])
    assert bad.returncode == 2 and bad.stderr.strip().splitlines() == [
        "grpo: error: grpo.loss_options: loss 'clipped_reinforce': got an unexpected keyword argument 'floor' "
        "(it takes cap)"]
    # and an unknown loss lists the plugin's beside the built-ins
    unknown = run_cli("train", str(config), "--set", "grpo.loss=reinforce", "--set",
                      f"train.output_dir={tmp_path / 'run3'}", path_dirs=[installed])
    assert unknown.returncode == 2
    assert "Installed losses: bnpo, cispo, clipped_reinforce, dapo, dr_grpo, grpo, sapo" in unknown.stderr
