"""The loss family and the advantage estimators, each registered by name through a plugin hook.

`grpo.loss = "name"` and `grpo.advantage = "name"` pick a policy loss and an advantage estimator from
what the installed plugins registered (`register_losses`, `register_advantages` in
grpo_rewards.hookspecs). The built-ins register through the same hooks (builtin.py), so a plugin's
loss is selected, checked and trained exactly like a built-in one.

This module holds the two records the engine hands to a loss and to an estimator: the public API of
those hooks. The rooms of the package:

  objectives.py  the built-in per-token objectives: clipped surrogate (grpo, bnpo, dr_grpo, dapo), CISPO, SAPO
  advantages.py  the built-in estimator: group-relative advantages, and GDPO's normalize_then_sum
  builtin.py     the built-in plugin: registers the two modules above through the hooks
  registry.py    finding a loss or estimator by name and checking its options, before the model loads
  compute.py     the engine side, the same for every loss: importance ratio (token or sequence level),
                 entropy mask, KL term, entropy bonus, aggregation over the batch, logged stats

Everything but compute.py imports no torch (the objectives use tensor methods only), so that
`grpo plugins` can list the built-ins without loading torch.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from torch import Tensor

# How a loss's per-token values become one number (the `aggregation` attribute of a registered loss).
# S sequences and N tokens are counted over the whole generation batch, L = max_completion_length,
# M = the number of micro-batches: each call returns its share, so micro-batch losses add up.
AGGREGATIONS = {
    "token": "sum over tokens / N (DAPO): each token weighs the same",
    "sequence": "each sequence's token mean, summed / S (GRPO): each sequence weighs the same",
    "micro_batch": "token mean of the micro-batch / M (BNPO)",
    "constant": "sum over tokens / (S * L) (Dr. GRPO): no length bias",
}


@dataclass(frozen=True)
class LossInputs:
    """What a loss gets for one micro-batch of B sequences of T completion tokens (torch tensors)."""

    logp: Tensor                 # [B, T] log-probs under the policy being trained: carries the gradient
    old_logp: Tensor             # [B, T] under the policy that sampled them, detached (logp.detach() when
                                 #        grpo.num_iterations == 1: then the sampler *is* the current policy)
    ref_logp: Tensor | None      # [B, T] under the reference (adapter off), when grpo.beta > 0
    advantages: Tensor           # [B, 1] one per sequence, or [B, T] per token
    mask: Tensor                 # [B, T] float: 1 on the tokens that count, 0 on padding and dropped samples
    entropy: Tensor | None       # [B, T] entropy of each token's distribution (with a gradient only when
                                 #        grpo.entropy_coef > 0)
    ratio: Tensor                # exp(logp - old_logp): [B, T] per token, or [B, 1] per sequence (the exp of
                                 #        each sequence's mean log-ratio) under importance_sampling_level = "sequence"
    epsilon: float               # the ratio's clip band is [1 - epsilon, 1 + epsilon_high]
    epsilon_high: float
    delta: float | None          # two-sided clipping: the ratio's cap for negative advantages (None: off)
    batch_sequences: int         # S: sequences with at least one counted token, in the whole generation batch
    batch_tokens: int            # N: counted tokens in the whole generation batch
    max_completion_length: int   # L
    num_micro_batches: int       # M


@dataclass(frozen=True)
class AdvantageInputs:
    """What an advantage estimator gets for one generation batch of N = prompts * G samples (torch tensors)."""

    rewards: Tensor              # [N, R] float32: each reward's score per sample, NaN where it returned None
    weights: Tensor              # [R] the weights in force this step (0: logged, never summed)
    total: Tensor                # [N] the weighted sum of the rewards that scored each sample, NaN where none did
    num_generations: int         # G: samples b*G .. b*G+G-1 are the group of prompt b
    scale_rewards: str           # "group" | "batch" | "none"
    multi_objective: str         # "sum_then_normalize" | "normalize_then_sum"
    names: tuple[str, ...]       # the rewards' names, in the order of the columns of `rewards`


def __getattr__(name: str) -> Any:  # the engine functions, without importing torch for the records above
    if name in ("policy_loss", "batch_counts", "k3", "estimate_advantages"):
        from . import compute
        return getattr(compute, name)
    if name == "group_advantages":
        from .advantages import group_advantages
        return group_advantages
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
