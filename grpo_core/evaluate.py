"""Greedy evaluation: one completion per eval prompt, scored by the run's reward mix.

``accuracy`` is the share of samples whose FIRST reward of the mix scores at least 0.5 (the mix
puts the verifier first, by convention); ``rewards`` holds the mean of every reward.
"""
from __future__ import annotations

from .data import encode_prompt
from .model import merged_for_sampling
from .rollout import sample_groups


def evaluate(model, tokenizer, rows: list[dict], *, prompt_column: str, system: str | None, mix,
             max_new_tokens: int, batch_size: int = 64, progress=None, max_prompt_length: int | None = None) -> dict:
    first = mix.names[0]
    scores = {name: [] for name in mix.names}
    with merged_for_sampling(model):  # the weights do not change during evaluation: merge once
        for start in range(0, len(rows), batch_size):
            batch = rows[start:start + batch_size]
            ids = [encode_prompt(tokenizer, row[prompt_column], system, max_prompt_length) for row in batch]
            rollout = sample_groups(model, tokenizer, ids, num_generations=1, max_new_tokens=max_new_tokens,
                                    temperature=0.0)
            completions = rollout.decode(tokenizer)
            columns = {k: [row.get(k) for row in batch] for k in batch[0] if k != prompt_column}
            result = mix.score(completions, prompts=[row[prompt_column] for row in batch],
                               completion_ids=[r[:n] for r, n in zip(rollout.completion_ids.tolist(),
                                                                     rollout.completion_lengths.tolist())],
                               truncated=rollout.truncated.tolist(), **columns)
            for name in mix.names:
                scores[name].extend(result.rewards[name])
            if progress is not None:
                progress.update(len(batch))
    n = len(rows)
    correct = sum(1 for s in scores[first] if s is not None and s >= 0.5)
    return {"accuracy": correct / n if n else 0.0, "samples": n,
            "rewards": {name: _mean(values) for name, values in scores.items()}}


def _mean(values):
    scored = [v for v in values if v is not None]
    return sum(scored) / len(scored) if scored else None


def evaluate_config(cfg, adapter_path: str | None, progress: bool = True) -> dict:
    """Load the config's model (with ``adapter_path`` when given) and evaluate it on the eval split."""
    from grpo_rewards import RewardMix, plugins
    from tqdm.auto import tqdm

    from . import preflight
    from .data import load_rows
    from .model import check_adapter, load_from_config

    registry = plugins.registry()
    with RewardMix.from_config(cfg.rewards, registry=registry) as mix:
        rows = load_rows(cfg.data, cfg.data.eval_split, seed=cfg.data.eval_seed, count=cfg.data.eval_limit,
                         registry=registry)[:cfg.data.eval_limit]
        preflight.check(cfg, mix, {cfg.data.eval_split: rows})
        preflight.check_lengths(cfg, {cfg.data.eval_split: rows})
        if adapter_path is not None:
            check_adapter(adapter_path, lora_r=cfg.lora.r)  # before the model loads, not after
        mix.start()
        model, tokenizer = load_from_config(cfg, adapter_path=adapter_path, trainable=False)
        with tqdm(total=len(rows), desc="eval", disable=not progress, leave=False) as bar:
            return evaluate(model, tokenizer, rows, prompt_column=cfg.data.prompt, system=cfg.data.system, mix=mix,
                            max_new_tokens=cfg.eval.max_completion_length, progress=bar,
                            max_prompt_length=cfg.data.max_prompt_length)
