"""`grpo plan` never turns a valid config into an error, and every remedy it suggests is a config `grpo train`
accepts; the example configs' comments carry no GPU figure that `grpo plan` or BENCHMARKS.md does not stand behind."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from grpo_core.config import load_config
from grpo_core.plan import plan_memory, run_plan

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = sorted(p for p in (ROOT / "examples").glob("*.toml") if p.name != "mix.toml")
# Hub models are planned from their published architecture (config.json only), as BENCHMARKS.md does.
ARCHITECTURES = {"Qwen/Qwen2.5-0.5B-Instruct": ROOT / "benchmarks" / "qwen2.5-0.5b-architecture",
                 "Qwen/Qwen2.5-7B-Instruct": ROOT / "benchmarks" / "qwen2.5-7b-architecture"}

EDGES = {
    "min equals max completion length": ["grpo.max_completion_length=32", "grpo.min_completion_length=32"],
    "min just above half of max": ["grpo.max_completion_length=33", "grpo.min_completion_length=17"],
    "one-token completions": ["grpo.max_completion_length=1", "grpo.min_completion_length=1"],
    "G = 2": ["grpo.num_generations=2"],
    "one prompt per step": ["grpo.prompts_per_step=1"],
    "a single micro-batch": ["train.gradient_accumulation_steps=1"],
    "one row per micro-batch": ["grpo.prompts_per_step=1", "grpo.num_generations=2",
                                "train.gradient_accumulation_steps=2"],
    "everything at its minimum": ["grpo.num_generations=2", "grpo.prompts_per_step=1",
                                  "grpo.max_completion_length=1", "grpo.min_completion_length=1"],
}


def _base_overrides(path: Path | None) -> list[str]:
    if path is None:
        return []
    name = load_config(str(path), require_rewards=False).model.name
    return [f"model.name={ARCHITECTURES[name]}"] if name in ARCHITECTURES else []


CASES = [(None, [], "embedded default")] + [(p, [], p.name) for p in EXAMPLES] + \
        [(p, extra, f"{p.name if p else 'default'}: {label}") for label, extra in EDGES.items()
         for p in (None, ROOT / "examples" / "qwen2.5-7b-24gb.toml")]


@pytest.mark.parametrize("path,extra,label", CASES, ids=[c[2] for c in CASES])
def test_every_remedy_is_a_config_train_accepts_and_lowers_the_peak(path, extra, label, capsys):
    overrides = _base_overrides(path) + extra
    config = None if path is None else str(path)
    cfg = load_config(config, overrides)  # what `grpo train` accepts...
    # ...`grpo plan` plans, with or without a budget, in text and in JSON, whatever the suggestions are
    assert run_plan(config, overrides, None, False) == 0
    assert "predicted peak" in capsys.readouterr().out
    assert run_plan(config, overrides, "1MiB", False) == 1  # far over budget: the suggestions are printed
    text = capsys.readouterr().out
    assert "does NOT fit" in text
    run_plan(config, overrides, None, True)
    plan = json.loads(capsys.readouterr().out)
    total = plan["total_bytes"]
    # something to try, or (everything already at its minimum) the one remedy left
    assert plan["alternatives"] or "try: a smaller model" in text
    for alternative in plan["alternatives"]:
        remedy = alternative["set"]
        assert isinstance(remedy, list) and remedy
        changed = load_config(config, overrides + remedy)  # applied with --set, exactly as a user would
        assert changed != cfg
        assert plan_memory(changed, alternatives=False).total_bytes == alternative["total_bytes"] < total
    # each suggestion in the text names every key it needs
    for flags in re.findall(r"((?:--set \S+ ?)+) \(\d", text.split("try:", 1)[1]):
        load_config(config, overrides + flags.replace("--set", "").split())


def test_halving_a_completion_length_also_lowers_the_minimum(capsys):
    overrides = ["grpo.max_completion_length=32", "grpo.min_completion_length=32"]
    run_plan(None, overrides, None, True)
    sets = [a["set"] for a in json.loads(capsys.readouterr().out)["alternatives"]]
    assert ["grpo.max_completion_length=16", "grpo.min_completion_length=16"] in sets
    run_plan(None, ["grpo.max_completion_length=32", "grpo.min_completion_length=8"], None, True)
    sets = [a["set"] for a in json.loads(capsys.readouterr().out)["alternatives"]]
    assert ["grpo.max_completion_length=16"] in sets  # the minimum still fits: nothing else to change


# A figure about memory, time or speed: "12 GB", "4.31 GiB", "2 hours", "30 s", "1.5 it/s", "tokens/s".
FIGURE = re.compile(r"\d+(\.\d+)?\s*(GB|GiB|MB|MiB|TB|hours?|h|minutes?|min|seconds?|s|ms)\b|/s\b", re.I)


def _comment_blocks(text: str) -> list[list[str]]:
    blocks, block = [], []
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("#"):
            block.append(stripped)
        elif block:
            blocks.append(block)
            block = []
    return blocks + ([block] if block else [])


@pytest.mark.parametrize("path", sorted((ROOT / "examples").rglob("*.toml")), ids=lambda p: p.name)
def test_example_comments_give_figures_only_with_their_source(path):
    for block in _comment_blocks(path.read_text()):
        joined = " ".join(block)
        for match in FIGURE.finditer(joined):
            # "a 24 GB GPU" describes hardware, it measures nothing; every other figure names its source
            if re.fullmatch(r"\d+\s*GB", match.group(0)) and joined[match.end():].lstrip().startswith(("GPU", "card")):
                continue
            assert "grpo plan" in joined or "BENCHMARKS.md" in joined, \
                f"{path.name}: {match.group(0)!r} in a comment that names neither `grpo plan` nor BENCHMARKS.md"
