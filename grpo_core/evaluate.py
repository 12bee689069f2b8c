"""Evaluation: one greedy completion per eval prompt, and optionally K sampled ones, scored by the run's mix.

``accuracy`` is the share of prompts whose greedy completion the FIRST reward of the mix scores at
least 0.5 (the mix puts the verifier first, by convention); ``rewards`` holds the mean of every reward.
With ``samples = K`` each prompt also gets K completions sampled as in training (the [grpo] temperature,
top_p, top_k, min_p and repetition_penalty, seeded by the eval seed): ``mean@K`` is the share of correct
samples and ``pass@k`` (k = 1, 2, 4, ... up to K) the chance that at least one of k samples is correct,
by the unbiased estimator of Chen et al. 2021 (arXiv:2107.03374) over the K drawn.
"""
from __future__ import annotations

from math import comb

import torch

from .data import encode_prompt
from .model import merged_for_sampling
from .rollout import sample_groups


def pass_at_k(n: int, c: int, k: int) -> float:
    """P(at least one of k samples is correct), estimated without bias from n samples of which c are correct."""
    if n - c < k:
        return 1.0
    return 1.0 - comb(n - c, k) / comb(n, k)


def _ks(samples: int) -> list[int]:
    ks = [k for k in (1 << i for i in range(samples.bit_length())) if k <= samples]
    return ks if ks[-1] == samples else ks + [samples]


def _score(mix, tokenizer, rollout, batch, prompt_column, repeat: int):
    completions = rollout.decode(tokenizer)
    columns = {k: [row.get(k) for row in batch for _ in range(repeat)] for k in batch[0] if k != prompt_column}
    return mix.score(completions, prompts=[row[prompt_column] for row in batch for _ in range(repeat)],
                     completion_ids=[r[:n] for r, n in zip(rollout.completion_ids.tolist(),
                                                           rollout.completion_lengths.tolist())],
                     truncated=rollout.truncated.tolist(), **columns)


def evaluate(model, tokenizer, rows: list[dict], *, prompt_column: str, system: str | None, mix,
             max_new_tokens: int, batch_size: int = 64, progress=None, max_prompt_length: int | None = None,
             samples: int = 0, sampling: dict | None = None, seed: int = 0, dist=None) -> dict:
    """Greedy accuracy and reward means; with ``samples`` K > 0 also mean@K and pass@k from K samples per prompt
    drawn with ``sampling`` (keyword arguments of sample_groups: temperature, top_p, ...). ``dist`` (torchrun):
    each rank evaluates its share of ``rows``; the result is the whole set's."""
    first = mix.names[0]
    scores = {name: [] for name in mix.names}
    correct_of = []  # per prompt: how many of its K samples are correct
    device = next(model.parameters()).device
    generator = torch.Generator(device=device).manual_seed(seed) if samples else None
    mine = rows if dist is None else dist.split(rows)
    with merged_for_sampling(model):  # the weights do not change during evaluation: merge once
        for start in range(0, len(mine), batch_size):
            batch = mine[start:start + batch_size]
            ids = [encode_prompt(tokenizer, row[prompt_column], system, max_prompt_length) for row in batch]
            rollout = sample_groups(model, tokenizer, ids, num_generations=1, max_new_tokens=max_new_tokens,
                                    temperature=0.0)
            result = _score(mix, tokenizer, rollout, batch, prompt_column, 1)
            for name in mix.names:
                scores[name].extend(result.rewards[name])
            per = max(1, batch_size // max(samples, 1))  # prompts per sampling call: rows stay near batch_size
            for part in range(0, len(batch) if samples else 0, per):
                chunk, chunk_ids = batch[part:part + per], ids[part:part + per]
                rollout = sample_groups(model, tokenizer, chunk_ids, num_generations=samples,
                                        max_new_tokens=max_new_tokens, generator=generator, **(sampling or {}))
                firsts = _score(mix, tokenizer, rollout, chunk, prompt_column, samples).rewards[first]
                correct_of += [sum(1 for s in firsts[i:i + samples] if s is not None and s >= 0.5)
                               for i in range(0, len(firsts), samples)]
            if progress is not None:
                progress.update(len(batch))
    if dist is not None and dist.enabled:
        shares = dist.gather((scores, correct_of))
        scores = {name: [s for share, _ in shares for s in share[name]] for name in mix.names}
        correct_of = [c for _, share in shares for c in share]
    n = len(rows)
    correct = sum(1 for s in scores[first] if s is not None and s >= 0.5)
    out = {"accuracy": correct / n if n else 0.0, "samples": n,
           "rewards": {name: _mean(values) for name, values in scores.items()}}
    if samples and n:
        out[f"mean@{samples}"] = sum(correct_of) / (n * samples)
        out["pass@k"] = {str(k): sum(pass_at_k(samples, c, k) for c in correct_of) / n for k in _ks(samples)}
    return out


def _mean(values):
    scored = [v for v in values if v is not None]
    return sum(scored) / len(scored) if scored else None


def sampling_settings(grpo_cfg) -> dict:
    """sample_groups' keyword arguments for sampling as training does."""
    g = grpo_cfg
    return dict(temperature=g.temperature, top_p=g.top_p, top_k=g.top_k, min_p=g.min_p,
                repetition_penalty=g.repetition_penalty)


def evaluate_config(cfg, adapter_path: str | None, progress: bool = True, samples: int = 0) -> dict:
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
                            max_prompt_length=cfg.data.max_prompt_length, samples=samples,
                            sampling=sampling_settings(cfg.grpo), seed=cfg.data.eval_seed)
