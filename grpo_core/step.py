"""One GRPO step: sample a group per prompt, score it, turn scores into advantages, update the policy.

Data flows one way: rows -> rollout -> reward mix -> advantages -> loss -> optimizer. The old-policy
pass runs only when a generation batch is reused (num_iterations > 1) or another implementation sampled
it (a vLLM server: its log-probs are compared with the trainer's and the loss corrected, loss.py), and the
reference pass only when beta > 0; both use the same weights (the reference is the policy with its
adapter switched off).
"""
from __future__ import annotations

import math
import statistics
import time

import torch

from .data import encode_prompt, prompt_text
from .logprobs import completion_logprobs
from .generation.hf import HfSampler
from .loss import batch_counts, group_advantages, importance_weights, policy_loss, sampler_mismatch
from .model import reference_mode


def _micro_batches(n: int, parts: int, group: int) -> list[slice]:
    """``n`` rows in ``parts`` slices of near-equal size, made of whole groups of ``group`` rows when possible."""
    unit = group if parts <= n // group else 1  # a group kept whole shares its prompt pass (logprobs.py)
    units, slices, start = n // unit, [], 0
    for i in range(min(parts, units)):
        stop = start + (units // parts + (i < units % parts)) * unit
        slices.append(slice(start, stop))
        start = stop
    return slices


def _logprobs(model, rollout, rows: slice, cfg, with_entropy=False):
    G = rollout.num_generations
    whole_groups = rows.start % G == 0 and (rows.stop - rows.start) % G == 0
    return completion_logprobs(model, rollout.input_ids[rows], rollout.attention_mask[rows],
                               rollout.completion_ids.shape[1], temperature=cfg.grpo.temperature,
                               chunk_size=cfg.grpo.logprob_chunk_rows(model.config.vocab_size),
                               with_entropy=with_entropy,
                               group_size=G if whole_groups else 1)


def _spread(values):
    scored = [v for v in values if v is not None]
    if not scored:
        return None, None
    return statistics.fmean(scored), statistics.pstdev(scored) if len(scored) > 1 else 0.0


def grpo_step(model, tokenizer, optimizer, scheduler, mix, rows: list[dict], cfg, generator,
              trainable_params: list, sampler=None) -> tuple[dict, list[dict]]:
    """Run one step on ``rows`` (the prompts of this step); returns (metrics, logged samples).
    ``sampler``: a backend of grpo_core/generation (default: the trainer's own decode loop)."""
    g, G = cfg.grpo, cfg.grpo.num_generations
    sampler = sampler or HfSampler()
    start = time.perf_counter()

    # 1. Rollouts: G completions per prompt, from the backend (the trainer's own loop, or a vLLM server).
    prompt_ids = [encode_prompt(tokenizer, row[cfg.data.prompt], cfg.data.system, cfg.data.max_prompt_length)
                  for row in rows]
    rollout = sampler.sample_groups(model, tokenizer, prompt_ids, num_generations=G,
                                    max_new_tokens=g.max_completion_length, min_new_tokens=g.min_completion_length,
                                    temperature=g.temperature, top_p=g.top_p, top_k=g.top_k, generator=generator)
    sampled = rollout.sampler_logprobs  # None when the trained model sampled: nothing to correct
    generated = time.perf_counter()

    # 2. Rewards: every dataset column travels with each of the G completions of its prompt.
    completions = rollout.decode(tokenizer)
    lengths = rollout.completion_lengths.tolist()
    columns = {k: [row.get(k) for row in rows for _ in range(G)] for k in rows[0] if k != cfg.data.prompt}
    scores = mix.score(completions, prompts=[row[cfg.data.prompt] for row in rows for _ in range(G)],
                       completion_ids=[ids[:n] for ids, n in zip(rollout.completion_ids.tolist(), lengths)],
                       truncated=rollout.truncated.tolist(), **columns)
    scored = time.perf_counter()

    # 3. Advantages; unscorable samples (total None) and, if asked, truncated ones leave the loss.
    device = rollout.input_ids.device
    rewards = torch.tensor([math.nan if t is None else t for t in scores.total], dtype=torch.float32)
    advantages, valid = group_advantages(rewards, G, g.scale_rewards)
    advantages, valid = advantages.to(device), valid.to(device)
    mask = rollout.completion_mask.float() * valid[:, None]
    if g.mask_truncated_completions:
        mask = mask * (~rollout.truncated)[:, None]
    sequences, tokens = batch_counts(mask)
    parts = _micro_batches(len(completions), cfg.train.gradient_accumulation_steps, G)
    # With no advantage anywhere and no KL term the loss is exactly zero: skip the passes, keep the update.
    learns = bool((advantages[mask.sum(1) > 0] != 0).any()) or (g.beta > 0 and tokens > 0)

    # Both run in eval mode, as sampling did: the old policy is the one that sampled, the reference is
    # fixed, and outside training mode the KV cache that shares each prompt across its group is on.
    old = ref = None
    model.eval()
    if (learns and g.num_iterations > 1) or sampled is not None:
        with torch.no_grad():
            old = torch.cat([_logprobs(model, rollout, p, cfg)[0] for p in parts])
    mismatch, loss_advantages = {}, advantages
    if sampled is not None:  # another implementation sampled: weigh each token by p_trainer / p_sampler
        gen = cfg.generation
        weights = importance_weights(old, sampled, mask, gen.importance_sampling, gen.importance_sampling_cap)
        mismatch = sampler_mismatch(old, sampled, mask, weights, gen.importance_sampling_cap)
        loss_advantages = advantages[:, None] * weights  # w >= 0 scales both clip terms: w times the token's loss
    if learns and g.beta > 0:
        with reference_mode(model):
            ref = torch.cat([_logprobs(model, rollout, p, cfg)[0] for p in parts])

    # 4. Updates: num_iterations optimizer steps on this generation batch.
    model.train()
    stats_sum: dict[str, float] = {}
    loss_total, entropy, grad_norm = 0.0, None, None
    for _ in range(g.num_iterations):
        loss_total, ent_sum = 0.0, 0.0
        if learns:
            for p in parts:
                logp, ent = _logprobs(model, rollout, p, cfg, with_entropy=True)
                loss, stats = policy_loss(
                    logp, None if old is None else old[p], None if ref is None else ref[p], loss_advantages[p], mask[p],
                    loss_type=g.loss, epsilon=g.epsilon, epsilon_high=g.epsilon_high, beta=g.beta,
                    max_completion_length=g.max_completion_length, batch_sequences=sequences,
                    batch_tokens=tokens, num_micro_batches=len(parts))
                loss.backward()
                loss_total += float(loss.detach())
                ent_sum += float((ent.detach() * mask[p]).sum())
                weight = float(mask[p].sum()) / max(tokens, 1)  # token share, so stats are batch token means
                for k, v in stats.items():
                    stats_sum[k] = stats_sum.get(k, 0.0) + float(v) * weight / g.num_iterations
            entropy = ent_sum / max(tokens, 1)
        else:
            for param in trainable_params:  # a zero gradient still moves AdamW's moments, as a real pass would
                param.grad = torch.zeros_like(param)
        if cfg.train.max_grad_norm > 0:
            grad_norm = float(torch.nn.utils.clip_grad_norm_(trainable_params, cfg.train.max_grad_norm))
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
    end = time.perf_counter()

    # 5. Metrics and a few samples for completions.jsonl.
    totals = [t for t in scores.total if t is not None]
    groups = [scores.total[i:i + G] for i in range(0, len(scores.total), G)]
    zero_spread = sum(1 for grp in groups if len({t for t in grp if t is not None}) <= 1)
    reward_mean, reward_std = _spread(totals)
    record = {
        "loss": loss_total, "reward/mean": reward_mean, "reward/std": reward_std,
        "frac_reward_zero_std": zero_spread / len(groups),
        "completion_length/mean": statistics.fmean(lengths), "completion_length/min": min(lengths),
        "completion_length/max": max(lengths), "truncated_ratio": float(rollout.truncated.float().mean()),
        "entropy": entropy, "grad_norm": grad_norm, "lr": scheduler.get_last_lr()[0],
        "tokens_per_second": sum(lengths) / (end - start), "step_seconds": end - start,
        "generation_seconds": generated - start, "scoring_seconds": scored - generated,
    }
    for key in ("kl", "clip_ratio/low", "clip_ratio/high", "clip_ratio/region", "ratio_mean"):
        record[key] = stats_sum.get(key)
    record.update(mismatch)
    for name in mix.names:
        mean, std = _spread(scores.rewards[name])
        counts = scores.counts[name]
        record.update({f"rewards/{name}/mean": mean, f"rewards/{name}/std": std,
                       f"rewards/{name}/unscorable": counts.unscorable, f"rewards/{name}/errors": counts.errors,
                       f"rewards/{name}/timeouts": counts.timeouts})
    samples = [{"prompt": prompt_text(rows[i // G][cfg.data.prompt]), "completion": completions[i],
                "rewards": {name: scores.rewards[name][i] for name in mix.names}, "total": scores.total[i],
                "advantage": float(advantages[i]),
                **({"adapter_version": rollout.adapter_versions[i]} if rollout.adapter_versions else {})}
               for i in range(0, len(completions), max(1, G // 2))][:cfg.train.log_completions]
    return record, samples
