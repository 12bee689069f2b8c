"""Advantages and the GRPO loss family.

Two pieces, both pure tensor code with no model in sight:

- `group_advantages`: turn one reward per sample into one advantage per sample by comparing each sample
  with the other samples drawn for the same prompt (its group).
- `policy_loss`: the clipped surrogate (PPO-style) with an optional k3 KL penalty, aggregated over
  tokens in one of four ways (grpo | bnpo | dr_grpo | dapo).

The loss is built for gradient accumulation: the trainer splits one generation batch into micro-batches,
calls `policy_loss` on each and backpropagates each result; the sum of the micro-batch losses equals the
loss of the whole generation batch computed in one call (exactly for grpo, dr_grpo and dapo; for bnpo by
definition, see `policy_loss`). To make that possible the normalisers that depend on the whole batch
(`batch_sequences`, `batch_tokens`) are passed in, computed once with `batch_counts(full_mask)`.
"""

import math

import torch

SCALES = ("group", "batch", "none")
LOSS_TYPES = ("grpo", "bnpo", "dr_grpo", "dapo")


# -----------------------------------------------------------------------------
# advantages

def _masked_mean_std(x: torch.Tensor, valid: torch.Tensor, dim=None):
    """Mean and sample (unbiased, n-1) std of x over the entries where valid is True.

    Entries that are not valid may hold NaN; they are zeroed before summing so they never leak.
    With fewer than two valid entries the std is 0 (the caller treats such groups as ties anyway).
    """
    x0 = torch.where(valid, x, torch.zeros_like(x))
    n = valid.sum(dim=dim, keepdim=dim is not None).to(x.dtype)
    mean = x0.sum(dim=dim, keepdim=dim is not None) / n.clamp(min=1)
    sq = torch.where(valid, (x - mean) ** 2, torch.zeros_like(x))
    var = sq.sum(dim=dim, keepdim=dim is not None) / (n - 1).clamp(min=1)
    return mean, var.sqrt()


def group_advantages(rewards: torch.Tensor, num_generations: int, scale: str = "group",
                     eps: float = 1e-4) -> tuple[torch.Tensor, torch.Tensor]:
    """Group-relative advantages.

    rewards: float [N], N = num_prompts * num_generations, the G samples of a prompt contiguous.
             NaN marks a sample whose reward is None ("cannot be scored").
    scale:   "group" A = (r - group mean) / (group std + eps)
             "batch" A = (r - group mean) / (batch std + eps), std over every valid reward of the batch
             "none"  A = r - group mean
    Returns (advantages [N], valid [N] bool).

    - An unscorable sample is left out of its group's mean and std, gets A = 0 and valid = False, so the
      trainer drops it from the loss through the mask.
    - A group whose valid rewards are all equal (including a group with a single valid sample) carries no
      learning signal: its advantages are set to exactly 0 rather than to float round-off of r - mean.
    - The std is the sample (unbiased, n-1) std, the same as torch.std used by TRL and the DeepSeekMath
      reference, so learning rates and curves carry over from those setups unchanged. The population std
      would differ by sqrt((n-1)/n), i.e. a constant factor on the step size for a fixed G.
    """
    if scale not in SCALES:
        raise ValueError(f"scale_rewards must be one of {SCALES}, got {scale!r}")
    if rewards.dim() != 1 or rewards.numel() % num_generations:
        raise ValueError(f"rewards must be 1-D with a multiple of num_generations={num_generations} "
                         f"entries, got shape {tuple(rewards.shape)}")
    r = rewards.view(-1, num_generations)                        # [prompts, G]
    valid = ~torch.isnan(r)
    mean, std = _masked_mean_std(r, valid, dim=1)                # [prompts, 1] each
    if scale == "batch":
        _, std = _masked_mean_std(r, valid)                      # one scalar for the whole batch
    adv = r - mean
    if scale != "none":
        adv = adv / (std + eps)
    # ties: max == min over the valid entries (a single valid sample is a tie with itself)
    lo = torch.where(valid, r, torch.full_like(r, float("inf"))).amin(dim=1, keepdim=True)
    hi = torch.where(valid, r, torch.full_like(r, float("-inf"))).amax(dim=1, keepdim=True)
    informative = valid & (hi > lo)
    adv = torch.where(informative, adv, torch.zeros_like(adv))
    return adv.view(-1), valid.view(-1)


# -----------------------------------------------------------------------------
# the policy loss

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


def policy_loss(logp: torch.Tensor, old_logp: torch.Tensor | None, ref_logp: torch.Tensor | None,
                advantages: torch.Tensor, mask: torch.Tensor, *, loss_type: str = "grpo",
                epsilon: float = 0.2, epsilon_high: float | None = None, beta: float = 0.0,
                max_completion_length: int | None = None, batch_sequences: int | None = None,
                batch_tokens: int | None = None, num_micro_batches: int = 1):
    """Clipped GRPO loss of one micro-batch.

    logp:       [B, T] log-probs of the completion tokens under the current policy (with grad).
    old_logp:   [B, T] log-probs under the policy that sampled them, or None when num_iterations == 1:
                then the sampler *is* the current policy, so logp.detach() stands in (ratio = 1, gradient
                unchanged) and no extra forward pass is needed.
    ref_logp:   [B, T] log-probs under the frozen reference, used only when beta > 0.
    advantages: [B] per sequence (or [B, T] per token).
    mask:       [B, T] 1 for completion tokens that count; 0 for padding, for samples with valid=False
                and for completions masked out as truncated.

    Per token: ratio = exp(logp - old_logp),
               loss  = -min(ratio * A, clamp(ratio, 1 - epsilon, 1 + epsilon_high) * A) + beta * k3.

    Aggregation over the generation batch (S sequences and N tokens counted by `batch_counts` over the
    whole batch, L = max_completion_length, M = num_micro_batches). Each micro-batch returns its share so
    that summing the M micro-batch losses gives the full-batch value:
      "grpo"    mean over each sequence's tokens, then mean over sequences: sum_seq(seq mean) / S
      "bnpo"    mean over the tokens passed in, divided by M: the average over micro-batches of each
                micro-batch's token mean (with M = 1 and the full batch it is the token mean)
      "dr_grpo" sum over tokens / (S * L): a constant normaliser, no length bias
      "dapo"    sum over tokens / N: token mean over the whole generation batch
    batch_sequences / batch_tokens default to the counts of this call and max_completion_length to T,
    which is right when the whole generation batch is passed in one call.

    Returns (loss, stats). stats holds detached 0-dim tensors (no device sync), each a token mean over
    the unmasked tokens of this call:
      "ratio_mean"         mean importance ratio
      "clip_ratio/low"     share of tokens where the lower clip is active: ratio < 1 - epsilon and A < 0
      "clip_ratio/high"    share of tokens where the upper clip is active: ratio > 1 + epsilon_high, A > 0
      "clip_ratio/region"  low + high, tokens whose gradient the clip zeroes
      "kl"                 mean k3, only when beta > 0 and ref_logp is given
    (A ratio outside the band on the other side of A, e.g. ratio < 1 - epsilon with A > 0, is not clipped:
    min() keeps the unclipped term there, so it is not counted.)
    """
    if loss_type not in LOSS_TYPES:
        raise ValueError(f"loss must be one of {LOSS_TYPES}, got {loss_type!r}")
    eps_low, eps_high = epsilon, epsilon if epsilon_high is None else epsilon_high
    mask = mask.to(logp.dtype)
    adv = advantages.to(logp.dtype)
    if adv.dim() == 1:
        adv = adv.unsqueeze(1)                                   # per-sequence -> broadcast over tokens
    if old_logp is None:
        old_logp = logp.detach()

    ratio = torch.exp(logp - old_logp)
    clipped = torch.clamp(ratio, 1 - eps_low, 1 + eps_high)
    per_token = -torch.min(ratio * adv, clipped * adv)
    use_kl = beta > 0 and ref_logp is not None
    if use_kl:
        kl = k3(logp, ref_logp)
        per_token = per_token + beta * kl

    # ---- token aggregation, see the docstring for why each normaliser makes micro-batches add up
    local_sequences, local_tokens = (mask.sum(dim=1) > 0).sum(), mask.sum()
    S = local_sequences if batch_sequences is None else batch_sequences
    N = local_tokens if batch_tokens is None else batch_tokens
    L = logp.shape[1] if max_completion_length is None else max_completion_length
    summed = (per_token * mask).sum()
    if loss_type == "grpo":
        seq_mean = (per_token * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1)
        loss = seq_mean.sum() / max(S, 1)
    elif loss_type == "bnpo":
        loss = summed / local_tokens.clamp(min=1) / num_micro_batches
    elif loss_type == "dr_grpo":
        loss = summed / (max(S, 1) * L)
    else:  # dapo
        loss = summed / max(N, 1)

    # ---- stats (token means over this call's unmasked tokens)
    with torch.no_grad():
        def token_mean(x):
            return (x.to(mask.dtype) * mask).sum() / local_tokens.clamp(min=1)
        low = (ratio < 1 - eps_low) & (adv < 0)
        high = (ratio > 1 + eps_high) & (adv > 0)
        stats = {
            "ratio_mean": token_mean(ratio),
            "clip_ratio/low": token_mean(low),
            "clip_ratio/high": token_mean(high),
            "clip_ratio/region": token_mean(low | high),
        }
        if use_kl:
            stats["kl"] = token_mean(kl)
    return loss, {k: v.detach() for k, v in stats.items()}


# -----------------------------------------------------------------------------
# a sampler that is not the trained model (grpo_core/generation/vllm.py)

IMPORTANCE_SAMPLING = ("none", "token_truncate", "sequence_mask")


def importance_weights(trainer_logp: torch.Tensor, sampler_logp: torch.Tensor, mask: torch.Tensor,
                       mode: str = "token_truncate", cap: float = 3.0) -> torch.Tensor:
    """Per-token weights [B, T] that correct the loss for completions drawn by another implementation.

    A vLLM server samples with its own kernels and precision (q); the loss assumes that the trainer's
    policy before this step's update (p) drew them. With the per-token ratio rho_t = p(y_t) / q(y_t) =
    exp(trainer_logp - sampler_logp):
      "none"            w = 1
      "token_truncate"  w_t = min(rho_t, cap): truncated importance sampling (bounded variance; a token q
                        over-samples is weighted down, one it under-samples weighted up to at most cap)
      "sequence_mask"   rho = prod_t rho_t over the sequence's unmasked tokens; every token of the sequence
                        gets w = rho when rho <= cap and w = 0 above it (the sequence leaves the loss)
    The weights multiply the policy-gradient term of each token (step.py scales the advantages by them,
    which is the same thing for w >= 0), never the KL term. Detached; 0 where mask is 0.
    """
    if mode not in IMPORTANCE_SAMPLING:
        raise ValueError(f"importance_sampling must be one of {IMPORTANCE_SAMPLING}, got {mode!r}")
    mask = mask.to(trainer_logp.dtype)
    if mode == "none":
        return mask.clone()
    log_rho = (trainer_logp.detach() - sampler_logp.to(trainer_logp.dtype)) * mask
    if mode == "token_truncate":
        return torch.exp(log_rho).clamp(max=cap) * mask
    sequence = torch.exp(log_rho.sum(dim=1, keepdim=True))  # [B, 1]
    return torch.where(sequence <= cap, sequence, torch.zeros_like(sequence)) * mask


def sampler_mismatch(trainer_logp: torch.Tensor, sampler_logp: torch.Tensor, mask: torch.Tensor,
                     weights: torch.Tensor, cap: float) -> dict[str, float]:
    """How far the sampler's log-probs are from the trainer's, for metrics.jsonl (token means over mask):
      "sampler/logprob_diff_mean"  mean |trainer - sampler| per token
      "sampler/logprob_diff_max"   the largest |trainer - sampler|
      "sampler/kl"                 KL(sampler || trainer) per sequence (k3 summed over its tokens; an
                                   unbiased estimate, the samples being the sampler's), mean over sequences
      "sampler/ratio_above_cap"    share of tokens whose ratio p/q exceeds the cap
      "sampler/is_weight_mean"     mean importance weight
    """
    m = mask.to(torch.float32)
    tokens, sequences = m.sum().clamp(min=1), (m.sum(dim=1) > 0).sum().clamp(min=1)
    t, s = trainer_logp.detach().float(), sampler_logp.float()
    diff = (t - s).abs() * m
    return {"sampler/logprob_diff_mean": float(diff.sum() / tokens),
            "sampler/logprob_diff_max": float(diff.max()) if diff.numel() else 0.0,
            "sampler/kl": float((k3(s, t).clamp(min=0) * m).sum() / sequences),  # k3 >= 0; float32 rounds
            "sampler/ratio_above_cap": float((((t - s) > math.log(cap)).float() * m).sum() / tokens),
            "sampler/is_weight_mean": float((weights.float() * m).sum() / tokens)}
