"""The engine side of every loss: what is the same whichever objective is chosen.

`policy_loss` turns log-probs into the loss of one micro-batch:

  ratio        exp(logp - old_logp) per token, or per sequence (GSPO: the exp of the sequence's mean
               log-ratio, so one clip decision per sequence)
  objective    the registered loss's per-token values (objectives.py, or a plugin's)
  entropy mask top_entropy_quantile < 1: only the highest-entropy tokens carry the policy term
  KL           + beta * k3(logp, ref_logp) per token
  aggregation  the loss's own (AGGREGATIONS), from the whole batch's normalisers
  entropy      - entropy_coef * (token mean of the entropy over the generation batch)

The loss is built for gradient accumulation: the trainer splits one generation batch into micro-batches,
calls `policy_loss` on each and backpropagates each result; the sum of the micro-batch losses equals the
loss of the whole generation batch computed in one call (exactly for every aggregation but "micro_batch",
which is a mean of micro-batch means by definition). To make that possible the normalisers that depend on
the whole batch (`batch_sequences`, `batch_tokens`) are passed in, computed once with `batch_counts`, and
are plain sums: with several ranks they are all-reduced the same way.
"""
from __future__ import annotations

import math

import torch
from grpo_rewards.errors import ConfigError

from . import AdvantageInputs, LossInputs
from . import registry as loss_registry


def batch_counts(mask: torch.Tensor) -> tuple[int, int]:
    """(sequences, tokens) of a completion mask [B, T]: the normalisers of `policy_loss`.

    A sequence counts only if it has at least one unmasked token: a sample masked out entirely
    (unscorable reward, truncated under mask_truncated_completions) is treated as absent from the batch
    rather than as a zero-loss sample that dilutes the others.
    """
    return int((mask.sum(dim=1) > 0).sum()), int(mask.sum())


def k3(logp: torch.Tensor, ref_logp: torch.Tensor) -> torch.Tensor:
    """Per-token k3 estimator of KL(policy || ref) (Schulman): exp(d) - d - 1 with d = ref - logp.

    Unbiased for samples drawn from the policy, always >= 0, and zero exactly when the two agree.
    """
    d = ref_logp - logp
    return torch.exp(d) - d - 1


def importance_ratio(logp, old_logp, mask, level: str = "token") -> torch.Tensor:
    """exp(logp - old_logp): [B, T] at level "token", [B, 1] at level "sequence"."""
    log_ratio = logp - old_logp
    if level == "sequence":
        # GSPO (Qwen, arXiv:2507.18071): the sequence's geometric-mean ratio, clipped once per sequence
        log_ratio = (log_ratio * mask).sum(-1, keepdim=True) / mask.sum(-1, keepdim=True).clamp(min=1)
    elif level != "token":
        raise ValueError(f"importance_sampling_level must be 'token' or 'sequence', got {level!r}")
    return torch.exp(log_ratio)


def high_entropy_mask(entropy, mask, quantile: float) -> torch.Tensor:
    """[B, T] 1.0 on the unmasked tokens whose entropy is in the top ``quantile`` of this call's tokens.

    The threshold is taken over the tokens of the call (one micro-batch), as TRL takes it over one
    forward pass.
    """
    # Beyond the 80/20 rule: high-entropy minority tokens drive RLVR (Qwen, arXiv:2506.01939)
    counted = mask.bool()
    values = entropy.detach()[counted].float()
    if values.numel() == 0:
        return torch.zeros_like(mask)
    threshold = torch.quantile(values, 1.0 - quantile)
    return ((entropy.detach() >= threshold) & counted).to(mask.dtype)


def aggregate(per_token, mask, how: str, S: int, N: int, L: int, M: int) -> torch.Tensor:
    """One micro-batch's share of the loss (see AGGREGATIONS); per_token may be [B, T] or [B, 1]."""
    masked = per_token * mask
    if how == "sequence":
        return (masked.sum(dim=1) / mask.sum(dim=1).clamp(min=1)).sum() / max(S, 1)
    if how == "micro_batch":
        return masked.sum() / mask.sum().clamp(min=1) / M
    if how == "constant":
        return masked.sum() / (max(S, 1) * L)
    if how == "token":
        return masked.sum() / max(N, 1)
    raise ValueError(f"unknown aggregation {how!r}")


def policy_loss(logp: torch.Tensor, old_logp: torch.Tensor | None, ref_logp: torch.Tensor | None,
                advantages: torch.Tensor, mask: torch.Tensor, *, loss_type="grpo",
                epsilon: float = 0.2, epsilon_high: float | None = None, beta: float = 0.0,
                max_completion_length: int | None = None, batch_sequences: int | None = None,
                batch_tokens: int | None = None, num_micro_batches: int = 1,
                importance_sampling_level: str = "token", delta: float | None = None,
                entropy: torch.Tensor | None = None, entropy_coef: float = 0.0,
                top_entropy_quantile: float = 1.0, loss_options: dict | None = None):
    """The loss of one micro-batch.

    logp:       [B, T] log-probs of the completion tokens under the current policy (with grad).
    old_logp:   [B, T] log-probs under the policy that sampled them, or None when num_iterations == 1:
                then the sampler *is* the current policy, so logp.detach() stands in (ratio = 1, gradient
                unchanged) and no extra forward pass is needed.
    ref_logp:   [B, T] log-probs under the frozen reference, used only when beta > 0.
    advantages: [B] per sequence (or [B, T] per token).
    mask:       [B, T] 1 for completion tokens that count; 0 for padding, for samples with valid=False
                and for completions masked out as truncated.
    loss_type:  a registered loss name (grpo | bnpo | dr_grpo | dapo | cispo | sapo | a plugin's), or
                the registered callable itself (the trainer resolves it once per run).
    entropy:    [B, T] token entropies: needed by top_entropy_quantile < 1 and by entropy_coef > 0 (then
                with a gradient).
    batch_sequences / batch_tokens default to the counts of this call and max_completion_length to T,
    which is right when the whole generation batch is passed in one call.

    Returns (loss, stats). stats holds detached 0-dim tensors (no device sync), each a token mean over
    the unmasked tokens of this call: "ratio_mean", "kl" (beta > 0), "entropy_mask/kept"
    (top_entropy_quantile < 1), and the objective's own ("clip_ratio/low", "clip_ratio/high",
    "clip_ratio/region" for the clipped surrogate; "clip_ratio/high" for cispo).
    """
    objective = loss_registry.find("loss", loss_type) if isinstance(loss_type, str) else loss_type
    mask = mask.to(logp.dtype)
    adv = advantages.to(logp.dtype)
    if adv.dim() == 1:
        adv = adv.unsqueeze(1)                                   # per-sequence -> broadcast over tokens
    if old_logp is None:
        old_logp = logp.detach()
    if batch_sequences is None or batch_tokens is None:  # counting waits for the device: only when not given
        local_sequences, local_tokens = batch_counts(mask)
    S = local_sequences if batch_sequences is None else batch_sequences
    N = local_tokens if batch_tokens is None else batch_tokens
    L = logp.shape[1] if max_completion_length is None else max_completion_length

    ratio = importance_ratio(logp, old_logp, mask, importance_sampling_level)
    inputs = LossInputs(logp=logp, old_logp=old_logp, ref_logp=ref_logp, advantages=adv, mask=mask,
                        entropy=entropy, ratio=ratio, epsilon=epsilon,
                        epsilon_high=epsilon if epsilon_high is None else epsilon_high, delta=delta,
                        batch_sequences=S, batch_tokens=N, max_completion_length=L,
                        num_micro_batches=num_micro_batches)
    out = objective(inputs, **(loss_options or {}))
    per_token, objective_stats = out if isinstance(out, tuple) else (out, {})

    stats = {"ratio_mean": ratio, **objective_stats}
    if top_entropy_quantile < 1.0:
        if entropy is None:
            raise ValueError("top_entropy_quantile < 1 needs the token entropies")
        kept = high_entropy_mask(entropy, mask, top_entropy_quantile)
        per_token = per_token * kept
        stats["entropy_mask/kept"] = kept
    use_kl = beta > 0 and ref_logp is not None
    if use_kl:
        kl = k3(logp, ref_logp)
        per_token = per_token + beta * kl
        stats["kl"] = kl
    loss = aggregate(per_token, mask, getattr(objective, "aggregation", "token"), S, N, L, num_micro_batches)
    if entropy_coef > 0:
        if entropy is None:
            raise ValueError("entropy_coef > 0 needs the token entropies")
        # one meaning for every loss: the token mean of the batch's entropy, whatever the aggregation
        loss = loss - entropy_coef * (entropy * mask).sum() / max(N, 1)

    with torch.no_grad():
        def token_mean(x):
            return (x.to(mask.dtype) * mask).sum() / mask.sum().clamp(min=1)
        return loss, {k: token_mean(v).detach() for k, v in stats.items()}


def loss_settings(grpo_cfg, loss, **normalisers) -> dict:
    """The keyword arguments of `policy_loss` that come from the [grpo] config (and the batch normalisers)."""
    g = grpo_cfg
    return dict(loss_type=loss, epsilon=g.epsilon, epsilon_high=g.epsilon_high, beta=g.beta, delta=g.delta,
                max_completion_length=g.max_completion_length, importance_sampling_level=g.importance_sampling_level,
                entropy_coef=g.entropy_coef, top_entropy_quantile=g.top_entropy_quantile,
                loss_options=g.loss_options, **normalisers)


def check_on_example(grpo_cfg, loss) -> None:
    """Run the configured loss, forward and backward, on a tiny made-up batch before any model loads, so
    that a bad option value or a plugin's broken loss is one clear line, not a crash after the model load."""
    logp = torch.linspace(-2.0, -0.1, 6).view(2, 3).requires_grad_()  # fixed numbers: no RNG state touched
    # what training passes: no old log-probs for a single iteration, no reference without a KL term
    old = logp.detach() - 0.05 if getattr(grpo_cfg, "num_iterations", 1) > 1 else None
    ref = logp.detach() + 0.05 if grpo_cfg.beta > 0 else None
    entropy = torch.linspace(0.1, 2.0, 6).view(2, 3).requires_grad_(grpo_cfg.entropy_coef > 0)
    try:
        value, _ = policy_loss(logp, old, ref, torch.tensor([1.0, -1.0]), torch.ones(2, 3), entropy=entropy,
                               **loss_settings(grpo_cfg, loss))
        value.backward()
        if value.dim() != 0 or not torch.isfinite(value):
            raise ValueError(f"it returned {tuple(value.shape)}-shaped {value.detach().tolist()}, not one finite number")
    except Exception as exc:
        raise ConfigError(f"grpo.loss: loss {grpo_cfg.loss!r} fails on a test batch: "
                          f"{type(exc).__name__}: {' '.join(str(exc).split())}") from None


# -----------------------------------------------------------------------------
# advantages

def estimate_advantages(estimator, scores, names, num_generations: int, grpo_cfg, device=None):
    """Run an advantage estimator on a batch's MixScores; returns (advantages [N], valid [N] bool) on ``device``."""
    nan = math.nan
    rewards = torch.tensor([[nan if v is None else v for v in scores.rewards[name]] for name in names],
                           dtype=torch.float32).T.reshape(len(scores.total), len(names))
    inputs = AdvantageInputs(
        rewards=rewards, weights=torch.tensor([scores.weights[name] for name in names], dtype=torch.float32),
        total=torch.tensor([nan if t is None else t for t in scores.total], dtype=torch.float32),
        num_generations=num_generations, scale_rewards=grpo_cfg.scale_rewards,
        multi_objective=grpo_cfg.multi_objective, names=tuple(names))
    out = estimator(inputs, **grpo_cfg.advantage_options)
    advantages, valid = out if isinstance(out, tuple) else (out, ~inputs.total.isnan())
    advantages = advantages.float().nan_to_num(0.0)
    return advantages.to(device), valid.to(device)
