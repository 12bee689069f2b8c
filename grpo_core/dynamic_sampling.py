"""Dynamic sampling (DAPO): a step trains only on groups whose rewards differ.

A group whose G samples all score the same has zero advantage everywhere: it costs a full update and
teaches nothing (and as accuracy rises most groups end up that way). With grpo.dynamic_sampling = true
such groups leave the batch, and fresh prompts are sampled in further rounds until the step has
prompts_per_step informative groups or grpo.max_generation_rounds rounds have run; then the step
trains on what there is and the metrics say how short it fell.

Three separable pieces, so that a generation backend or several ranks can slot in: `generate(rows)`
(rollout + scores for some prompts, from step.py), `informative_groups` (the decision: a group is kept
when some sample that reaches the loss has a non-zero advantage, which for the built-in estimator means
a non-zero reward spread), and `collect` (the loop: how many prompts each round draws, when to stop).
With several ranks the kept counts are what the ranks must sum before deciding to stop.

Everything is driven by the prompt stream, the sampling generator and the previous step's keep rate, all
checkpointed, so a resumed run draws exactly the same rounds.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from grpo_rewards.mix import MixScores

from .rollout import Rollout


@dataclass
class Generated:
    """Prompts with their rollout and scores: one round, or the groups a step trains on."""

    rows: list[dict]
    rollout: Rollout
    completions: list[str]        # decoded, one per rollout row
    scores: MixScores
    generation_seconds: float = 0.0
    scoring_seconds: float = 0.0


@dataclass
class Rounds:
    """What dynamic sampling did in one step (logged as sampling/*)."""

    generated: list[Generated] = field(default_factory=list)  # every round, for the reward metrics
    prompts_consumed: int = 0
    groups_dropped: int = 0       # zero-spread groups left out
    groups_surplus: int = 0       # informative groups beyond prompts_per_step, left out
    groups_short: int = 0         # prompts_per_step minus the informative groups found (budget spent)
    keep_rate: float = 0.0        # informative groups / prompts consumed

    def metrics(self) -> dict:
        return {"sampling/rounds": len(self.generated), "sampling/prompts_consumed": self.prompts_consumed,
                "sampling/groups_dropped": self.groups_dropped, "sampling/groups_surplus": self.groups_surplus,
                "sampling/groups_short": self.groups_short, "sampling/keep_rate": self.keep_rate}


def informative_groups(advantages: torch.Tensor, in_loss: torch.Tensor, num_generations: int) -> list[bool]:
    """One flag per group: some sample of it reaches the loss with a non-zero advantage."""
    signal = (advantages != 0) & in_loss
    return signal.view(-1, num_generations).any(dim=1).tolist()


def round_size(missing: int, keep_rate: float | None, max_prompts: int) -> int:
    """Prompts to draw for ``missing`` informative groups when a share ``keep_rate`` of groups is informative.

    Enough that the expected informative count, less one standard deviation (binomial), still covers the
    missing ones: (missing + sqrt(missing (1 - p))) / p, so one round suffices about five times in six.
    """
    if keep_rate is None:
        return missing
    p = max(keep_rate, 1e-6)
    return min(max_prompts, max(missing, math.ceil((missing + math.sqrt(missing * (1 - p))) / p)))


def collect(generate, rows: list[dict], draw, decide, *, target: int, max_rounds: int, max_prompts: int,
            state: dict | None = None) -> tuple[Generated, Rounds]:
    """Rounds of ``generate`` until ``target`` informative groups (``decide``) or ``max_rounds`` rounds.

    ``rows`` are the step's prompts and ``draw(n)`` gives n fresh ones. A round's size is the missing groups
    divided by the expected share of informative groups, at most ``max_prompts``: for the first round the
    share the previous step saw (``state["keep_rate"]``, which this updates and the trainer checkpoints),
    for the next ones the share seen so far in this step. A few prompts too many in one round cost far less
    than a second round (each round pays the full per-token decoding overhead), so a step usually needs
    one round. With no informative group at all, the step trains on the first round (zero advantages:
    only a KL term can move the policy).
    """
    state = {} if state is None else state
    extra = round_size(target, state.get("keep_rate"), max_prompts) - len(rows)
    rows = rows + draw(extra) if extra > 0 else rows
    info, kept = Rounds(), []  # kept: (round, group) in the order found
    while True:
        batch = generate(rows)
        info.generated.append(batch)
        info.prompts_consumed += len(rows)
        flags = decide(batch)
        kept += [(len(info.generated) - 1, g) for g, keep in enumerate(flags) if keep]
        info.groups_dropped += flags.count(False)
        if len(kept) >= target or len(info.generated) == max_rounds:
            break
        rows = draw(round_size(target - len(kept), len(kept) / info.prompts_consumed, max_prompts))
    state["keep_rate"] = info.keep_rate = len(kept) / info.prompts_consumed
    info.groups_surplus, info.groups_short = max(0, len(kept) - target), max(0, target - len(kept))
    if not kept:
        return info.generated[0], info
    pieces: dict[int, list[int]] = {}
    for r, g in kept[:target]:
        pieces.setdefault(r, []).append(g)
    return merge([(info.generated[r], groups) for r, groups in pieces.items()]), info


def merge(pieces: list[tuple[Generated, list[int]]]) -> Generated:
    """The chosen groups of several rounds as one batch, re-padded to common widths.

    Prompts are left-padded and completions right-padded, as the rollout made them. New pad columns get
    token id 0: they are masked (no attention to them, no loss on them), so their id never matters.
    The scores keep what the loss and the logged samples need; the reward metrics and error counts come
    from the rounds themselves (Rounds.generated).
    """
    G, pad = pieces[0][0].rollout.num_generations, 0
    chosen = []
    for part, groups in pieces:
        rows = torch.tensor([g * G + i for g in groups for i in range(G)], device=part.rollout.input_ids.device)
        chosen.append((part, groups, rows))
    P = max(part.rollout.prompt_length for part, _, _ in chosen)
    T = max(int(part.rollout.completion_lengths[rows].max()) for part, _, rows in chosen)

    def widen(x, left, right, value):
        return F.pad(x, (left, right), value=value)

    ids, masks, completions, completion_masks, truncated, lengths = [], [], [], [], [], []
    rows_out, texts, totals, rewards, sampler_logprobs, versions = [], [], [], {}, [], []
    for part, groups, rows in chosen:
        r = part.rollout
        p, t = r.prompt_length, min(r.completion_ids.shape[1], T)
        prompt = widen(r.input_ids[rows, :p], P - p, 0, pad)
        prompt_mask = widen(r.attention_mask[rows, :p], P - p, 0, 0)
        completion = widen(r.completion_ids[rows, :t], 0, T - t, pad)
        completion_mask = widen(r.completion_mask[rows, :t], 0, T - t, 0)
        ids.append(torch.cat([prompt, completion], dim=1))
        masks.append(torch.cat([prompt_mask, completion_mask], dim=1))
        completions.append(completion)
        completion_masks.append(completion_mask)
        truncated.append(r.truncated[rows])
        lengths.append(r.completion_lengths[rows])
        if r.sampler_logprobs is not None:  # another implementation sampled (generation/vllm.py)
            sampler_logprobs.append(widen(r.sampler_logprobs[rows, :t], 0, T - t, 0.0))
            versions += [r.adapter_versions[i] for i in rows.tolist()] if r.adapter_versions else []
        rows_out += [part.rows[g] for g in groups]
        index = rows.tolist()
        texts += [part.completions[i] for i in index]
        totals += [part.scores.total[i] for i in index]
        for name, values in part.scores.rewards.items():
            rewards.setdefault(name, []).extend(values[i] for i in index)
    rollout = Rollout(input_ids=torch.cat(ids), attention_mask=torch.cat(masks), prompt_length=P,
                      completion_ids=torch.cat(completions), completion_mask=torch.cat(completion_masks),
                      truncated=torch.cat(truncated), completion_lengths=torch.cat(lengths), num_generations=G,
                      sampler_logprobs=torch.cat(sampler_logprobs) if sampler_logprobs else None,
                      adapter_versions=versions or None)
    scores = MixScores(total=totals, rewards=rewards, weights=dict(pieces[0][0].scores.weights))
    return Generated(rows_out, rollout, texts, scores)
