"""One GRPO step: sample a group per prompt, score it, turn scores into advantages, update the policy.

Data flows one way: rows -> rollout -> reward mix -> advantages -> loss -> optimizer. The rollouts come
from a sampling backend (generation/: the trainer's own loop, or a vLLM server). With dynamic sampling
the first two repeat over fresh prompts until the batch holds enough groups whose rewards differ
(dynamic_sampling.py). The loss and the advantage estimator are the ones registered under grpo.loss and
grpo.advantage (losses/). The old-policy pass runs only when a generation batch is reused
(num_iterations > 1) or another implementation sampled it (a vLLM server: its log-probs are compared
with the trainer's and the loss corrected, losses/sampler.py), and the reference pass only when
beta > 0; both use the same weights (the reference is the policy with its adapter switched off).
Under torchrun ``rows`` are this rank's share of the step's prompts, and ``dist`` (distributed.py) brings
in what the whole batch decides: rewards for the advantages, the loss normalisers, the summed gradients.
"""
from __future__ import annotations

import functools
import statistics
import time

import torch

from . import dynamic_sampling
from .data import encode_prompt, prompt_text
from .distributed import SINGLE
from .dynamic_sampling import Generated
from .logprobs import completion_logprobs
from .generation.hf import HfSampler
from .losses import registry
from .losses.compute import batch_counts, estimate_advantages, loss_settings, policy_loss
from .losses.sampler import importance_weights, sampler_mismatch
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
                               with_entropy=with_entropy, entropy_grad=with_entropy and cfg.grpo.entropy_coef > 0,
                               group_size=G if whole_groups else 1)


def _frozen_logprobs(model, rollout, parts: list[slice], cfg) -> torch.Tensor:
    """Log-probs no gradient flows through (the old policy's, the reference's), over every micro-batch: in
    inference mode, then copied out as an ordinary tensor, which the loss's graph may keep."""
    with torch.inference_mode():
        logprobs = torch.cat([_logprobs(model, rollout, p, cfg)[0] for p in parts])
    return logprobs.clone()


def _spread(values):
    scored = [v for v in values if v is not None]
    if not scored:
        return None, None
    return statistics.fmean(scored), statistics.pstdev(scored) if len(scored) > 1 else 0.0


def generate(model, tokenizer, mix, cfg, generator, sampler, rows: list[dict]) -> Generated:
    """Rollouts (G completions per prompt, from the sampling backend) and their rewards. ``generator``: a
    torch.Generator, or seeds.PromptGenerators (one generator per prompt, in the order sampled)."""
    g, G = cfg.grpo, cfg.grpo.num_generations
    sampler = sampler or HfSampler()
    start = time.perf_counter()
    prompt_ids = [encode_prompt(tokenizer, row[cfg.data.prompt], cfg.data.system, cfg.data.max_prompt_length)
                  for row in rows]
    generators = generator.take(len(rows)) if hasattr(generator, "take") else generator
    rollout = sampler.sample_groups(model, tokenizer, prompt_ids, num_generations=G,
                                    max_new_tokens=g.max_completion_length, min_new_tokens=g.min_completion_length,
                                    temperature=g.temperature, top_p=g.top_p, top_k=g.top_k, min_p=g.min_p,
                                    repetition_penalty=g.repetition_penalty, generator=generators)
    generated = time.perf_counter()
    # every dataset column travels with each of the G completions of its prompt
    completions = rollout.decode(tokenizer)
    lengths = rollout.completion_lengths.tolist()
    columns = {k: [row.get(k) for row in rows for _ in range(G)] for k in rows[0] if k != cfg.data.prompt}
    scores = mix.score(completions, prompts=[row[cfg.data.prompt] for row in rows for _ in range(G)],
                       completion_ids=[ids[:n] for ids, n in zip(rollout.completion_ids.tolist(), lengths)],
                       truncated=rollout.truncated.tolist(), **columns)
    return Generated(rows, rollout, completions, scores, generated - start, time.perf_counter() - generated)


def grpo_step(model, tokenizer, optimizer, scheduler, mix, rows: list[dict], cfg, generator,
              trainable_params: list, sampler=None, draw=None, sampling_state: dict | None = None,
              dist=SINGLE) -> tuple[dict, list[dict]]:
    """Run one step on ``rows`` (the prompts of this step); ``sampler`` is a backend of grpo_core/generation
    (default: the trainer's own decode loop). For dynamic sampling ``draw(n)`` gives more prompts, and
    ``sampling_state`` carries what one step learns for the next (checkpointed). Returns (metrics, samples)."""
    g, G = cfg.grpo, cfg.grpo.num_generations
    start = time.perf_counter()
    loss_fn, estimator = registry.find("loss", g.loss), registry.find("advantage", g.advantage)

    def advantages_of(batch):  # unscorable samples and, if asked, truncated ones leave the loss
        # on the whole step's scores (every rank's rows, in rank order); this rank keeps its own rows
        whole = dist.gather_scores(batch.scores)
        adv, valid = estimate_advantages(estimator, whole, mix.names, G, g, batch.rollout.input_ids.device)
        adv, valid = dist.mine(adv), dist.mine(valid)
        return adv, valid & ~batch.rollout.truncated if g.mask_truncated_completions else valid

    # 1-2. Rollouts and rewards, in rounds with dynamic sampling. Sampling and the passes of step 3 all run in
    # eval mode (outside training mode the KV cache that shares each prompt across its group is on): one switch
    # here and one back before the updates, where every switch walks the whole model.
    model.eval()
    sample = functools.partial(generate, model, tokenizer, mix, cfg, generator, sampler)
    rounds = None
    if g.dynamic_sampling:
        batch, rounds = dynamic_sampling.collect(
            sample, rows, draw, lambda b: dynamic_sampling.informative_groups(*advantages_of(b), G),
            target=g.prompts_per_step, max_rounds=g.max_generation_rounds, max_prompts=g.max_round_prompts,
            state=sampling_state)
    else:
        batch = sample(rows)
    generated = rounds.generated if rounds else [batch]

    # 3. Advantages of the groups that train.
    rollout = batch.rollout
    sampled = rollout.sampler_logprobs  # None when the trained model sampled: nothing to correct
    advantages, in_loss = advantages_of(batch)
    mask = rollout.completion_mask.float() * in_loss[:, None]
    parts = _micro_batches(mask.shape[0], cfg.train.gradient_accumulation_steps, G)
    # With no advantage anywhere and no KL term the loss is exactly zero: skip the passes, keep the update.
    # Counts and that decision are global, so every rank normalises alike and runs the same collectives.
    sequences, tokens, anywhere = dist.sum([*batch_counts(mask), bool((advantages[mask.sum(1) > 0] != 0).any())])
    sequences, tokens = int(sequences), int(tokens)
    learns = anywhere > 0 or (g.beta > 0 and tokens > 0)

    # Both run in eval mode, as sampling did: the old policy is the one that sampled, the reference is fixed.
    old = ref = None
    if (learns and g.num_iterations > 1) or sampled is not None:
        old = _frozen_logprobs(model, rollout, parts, cfg)
    mismatch, loss_advantages = {}, advantages
    if sampled is not None:  # another implementation sampled: weigh each token by p_trainer / p_sampler
        gen = cfg.generation
        weights = importance_weights(old, sampled, mask, gen.importance_sampling, gen.importance_sampling_cap)
        mismatch = dist.mean_metrics(sampler_mismatch(old, sampled, mask, weights, gen.importance_sampling_cap))
        loss_advantages = advantages[:, None] * weights  # w >= 0 scales both clip terms: w times the token's loss
    if learns and g.beta > 0:
        with reference_mode(model):
            ref = _frozen_logprobs(model, rollout, parts, cfg)

    # 4. Updates: num_iterations optimizer steps on this generation batch.
    model.train()
    settings = loss_settings(g, loss_fn, batch_sequences=sequences, batch_tokens=tokens,
                             num_micro_batches=len(parts) * dist.world_size)
    stats_sum: dict[str, float] = {}
    loss_total, entropy, grad_norm = 0.0, None, None
    for _ in range(g.num_iterations):
        loss_total, ent_sum = 0.0, 0.0
        if learns:
            for p in parts:
                logp, ent = _logprobs(model, rollout, p, cfg, with_entropy=True)
                loss, stats = policy_loss(logp, None if old is None else old[p], None if ref is None else ref[p],
                                          loss_advantages[p], mask[p], entropy=ent, **settings)
                loss.backward()
                loss_total += float(loss.detach())
                ent_sum += float((ent.detach() * mask[p]).sum())
                weight = float(mask[p].sum()) / max(tokens, 1)  # token share, so stats are batch token means
                for k, v in stats.items():
                    stats_sum[k] = stats_sum.get(k, 0.0) + float(v) * weight / g.num_iterations
            dist.sum_gradients(trainable_params)  # the clip below and AdamW then see the whole batch's gradient
        else:
            for param in trainable_params:  # a zero gradient still moves AdamW's moments, as a real pass would
                param.grad = torch.zeros_like(param)
        if cfg.train.max_grad_norm > 0:
            grad_norm = float(torch.nn.utils.clip_grad_norm_(trainable_params, cfg.train.max_grad_norm))
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
    end = time.perf_counter()
    loss_total, ent_sum, *stat_values = dist.sum([loss_total, ent_sum, *stats_sum.values()])
    stats_sum = dict(zip(stats_sum, stat_values))
    entropy = ent_sum / max(tokens, 1) if learns else None

    # 5. Metrics (rewards and lengths over everything sampled this step, on every rank) and samples (of this
    # rank's rows) for completions.jsonl.
    kinds = ("unscorable", "errors", "timeouts")
    totals, lengths, truncated, rewards, counts = dist.combine((
        [t for b in generated for t in b.scores.total],
        [n for b in generated for n in b.rollout.completion_lengths.tolist()],
        [t for b in generated for t in b.rollout.truncated.tolist()],
        {name: [s for b in generated for s in b.scores.rewards[name]] for name in mix.names},
        {name: {k: sum(getattr(b.scores.counts[name], k) for b in generated) for k in kinds} for name in mix.names}))
    groups = [totals[i:i + G] for i in range(0, len(totals), G)]
    zero_spread = sum(1 for grp in groups if len({t for t in grp if t is not None}) <= 1)
    reward_mean, reward_std = _spread([t for t in totals if t is not None])
    record = {
        "loss": loss_total, "reward/mean": reward_mean, "reward/std": reward_std,
        "frac_reward_zero_std": zero_spread / len(groups),
        "completion_length/mean": statistics.fmean(lengths), "completion_length/min": min(lengths),
        "completion_length/max": max(lengths),
        "truncated_ratio": sum(truncated) / len(lengths),
        "entropy": entropy, "grad_norm": grad_norm, "lr": scheduler.get_last_lr()[0],
        "tokens_per_second": sum(lengths) / (end - start), "step_seconds": end - start,
        "generation_seconds": sum(b.generation_seconds for b in generated),
        "scoring_seconds": sum(b.scoring_seconds for b in generated),
        **dict.fromkeys(("kl", "clip_ratio/low", "clip_ratio/high", "clip_ratio/region", "ratio_mean")),
        **stats_sum, **mismatch, **(rounds.metrics() if rounds else {}),
    }
    for name in mix.names:
        mean, std = _spread(rewards[name])
        record.update({f"rewards/{name}/mean": mean, f"rewards/{name}/std": std,
                       f"rewards/{name}/weight": batch.scores.weights[name]})
        for kind in kinds:
            record[f"rewards/{name}/{kind}"] = counts[name][kind]
    versions = rollout.adapter_versions
    samples = [{"prompt": prompt_text(batch.rows[i // G][cfg.data.prompt]), "completion": batch.completions[i],
                "rewards": {name: batch.scores.rewards[name][i] for name in mix.names},
                "total": batch.scores.total[i], "advantage": float(advantages[i]),
                **({"adapter_version": versions[i]} if versions else {})}
               for i in range(0, len(batch.completions), max(1, G // 2))][:cfg.train.log_completions]
    return record, samples
