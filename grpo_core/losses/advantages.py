"""The built-in advantage estimator: each sample's reward compared with the other samples of its group.

Two ways to combine several rewards (grpo.multi_objective):
- "sum_then_normalize": the weighted total of each sample is normalised within its group (GRPO).
- "normalize_then_sum": each reward is normalised within its group first, then the weighted sum is
  normalised over the batch (GDPO), so a reward with a large spread cannot drown one with a small spread.

Written with tensor methods only (no `import torch`), for the same reason as objectives.py.
"""
from __future__ import annotations

SCALES = ("group", "batch", "none")
EPS = 1e-4


def _masked_mean_std(x, valid, dim=None):
    """Mean and sample (unbiased, n-1) std of x over the entries where valid is True.

    Entries that are not valid may hold NaN; they are zeroed before summing so they never leak.
    With fewer than two valid entries the std is 0 (the caller treats such groups as ties anyway).
    """
    keep = dim is not None
    x0 = x.where(valid, 0.0)
    n = valid.sum(dim=dim, keepdim=keep).to(x.dtype)
    mean = x0.sum(dim=dim, keepdim=keep) / n.clamp(min=1)
    sq = ((x - mean) ** 2).where(valid, 0.0)
    var = sq.sum(dim=dim, keepdim=keep) / (n - 1).clamp(min=1)
    return mean, var.sqrt()


def _spread(r, valid):
    """[groups, 1] bool: the group's valid entries are not all equal (a single valid entry is a tie with itself)."""
    lo = r.where(valid, float("inf")).amin(dim=1, keepdim=True)
    hi = r.where(valid, float("-inf")).amax(dim=1, keepdim=True)
    return hi > lo


def group_advantages(rewards, num_generations: int, scale: str = "group", eps: float = EPS):
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
      This is the rule dynamic sampling reads: a group is informative when its spread is not zero.
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
    valid = ~r.isnan()
    mean, std = _masked_mean_std(r, valid, dim=1)                # [prompts, 1] each
    if scale == "batch":
        _, std = _masked_mean_std(r, valid)                      # one scalar for the whole batch
    adv = r - mean
    if scale != "none":
        adv = adv / (std + eps)
    adv = adv.where(valid & _spread(r, valid), 0.0)
    return adv.reshape(-1), valid.reshape(-1)


def decoupled_advantages(rewards, weights, total, num_generations: int, eps: float = EPS):
    """GDPO: A = batch-normalised sum_k w_k (r_k - group mean_k) / (group std_k + eps).

    rewards [N, R] (NaN where a reward returned None), weights [R], total [N] (NaN: no reward scored
    the sample, which is then invalid). A reward with weight 0 takes no part. A reward missing for a
    sample is left out of that reward's group statistics and contributes 0 to the sample's sum. The
    sum is then normalised over the valid samples of the batch with the sample std, and a group in
    which no weighted reward varies gets exactly 0, as in group_advantages.
    """
    # GDPO: group reward-decoupled normalisation policy optimisation (NVIDIA, arXiv:2601.05242)
    G, R = num_generations, rewards.shape[1]
    r = rewards.view(-1, G, R)                                   # [prompts, G, R]
    present = ~r.isnan()
    informative = r.new_zeros((r.shape[0], 1), dtype=present.dtype)
    summed = r.new_zeros(r.shape[:2])
    for k in range(R):
        w = float(weights[k])
        if w == 0:
            continue
        rk, vk = r[..., k], present[..., k]
        mean, std = _masked_mean_std(rk, vk, dim=1)
        spread = _spread(rk, vk)
        normalised = ((rk - mean) / (std + eps)).where(vk & spread, 0.0)
        summed = summed + w * normalised
        informative = informative | spread
    valid = ~total.view(-1, G).isnan()
    mean, std = _masked_mean_std(summed, valid)
    adv = ((summed - mean) / (std + eps)).where(valid & informative, 0.0)
    return adv.reshape(-1), valid.reshape(-1)


def grpo(inputs):
    """The built-in estimator (grpo.advantage = "grpo"): group-relative, in either multi-objective mode."""
    if inputs.multi_objective == "normalize_then_sum":
        return decoupled_advantages(inputs.rewards, inputs.weights, inputs.total, inputs.num_generations)
    return group_advantages(inputs.total, inputs.num_generations, inputs.scale_rewards)
