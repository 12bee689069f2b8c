"""The correction for a sampler that is not the trained model (grpo_core/generation/vllm.py).

A vLLM server samples with its own kernels and precision; the loss assumes the trainer's own policy drew
the completions. This room holds the one formula for the per-token importance weights that correct for
that (generation.importance_sampling) and the mismatch metrics logged each step. step.py multiplies the
advantages by the weights, which for weights >= 0 is the same as weighting each token's policy term of
any registered loss (never the KL term).
"""
from __future__ import annotations

import math

import torch

from .compute import k3

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
