"""The built-in policy objectives: what each token contributes to the loss, before aggregation.

Each takes a LossInputs (see __init__.py) and returns (per_token_loss, stats): the loss is [B, T], or
[B, 1] when the ratio is per sequence and the objective does not involve logp directly; stats are
per-token indicators whose token means are logged. The KL term, the entropy bonus, the entropy mask
and the aggregation are added by compute.py, the same way for every objective (a plugin's too).

Written with tensor methods only (no `import torch`): builtin.py registers these functions, and
`grpo plugins` imports it without loading torch.
"""
from __future__ import annotations


def clipped_surrogate(inputs):
    """-min(r A, clip(r, 1 - epsilon, 1 + epsilon_high) A): the loss of grpo, bnpo, dr_grpo and dapo.

    With delta set, the unclipped ratio is capped at delta, which only bites for A < 0 (delta >= 1 +
    epsilon_high is enforced by the config): without the cap, a token made far likelier than the
    sampler made it while its advantage is negative contributes without bound.
    """
    # PPO's clipped surrogate (Schulman et al. 2017, arXiv:1707.06347) as GRPO uses it (DeepSeekMath, arXiv:2402.03300)
    # with decoupled clip bounds (DAPO, arXiv:2503.14476)
    r, adv = inputs.ratio, inputs.advantages
    low_bound, high_bound = 1 - inputs.epsilon, 1 + inputs.epsilon_high
    clipped = r.clamp(low_bound, high_bound)
    # two-sided clipping: the ratio capped at delta for negative advantages (INTELLECT-2, arXiv:2505.07291)
    unclipped = r if inputs.delta is None else r.clamp(max=inputs.delta)
    loss = -(unclipped * adv).minimum(clipped * adv)
    # A ratio outside the band on the other side of A (r < 1 - epsilon with A > 0, say) is not clipped:
    # min() keeps the unclipped term there, so it is not counted.
    low = (r < low_bound) & (adv < 0)
    high = (r > high_bound) & (adv > 0)
    stats = {"clip_ratio/low": low, "clip_ratio/high": high, "clip_ratio/region": low | high}
    if inputs.delta is not None:
        stats["clip_ratio/delta"] = (r > inputs.delta) & (adv < 0)
    return loss, stats


def cispo(inputs):
    """-sg(min(r, 1 + epsilon_high)) A logp: REINFORCE weighted by a clipped, stop-gradient ratio.

    Unlike the clipped surrogate, no token's gradient is ever zeroed: a clipped token still pushes with
    weight 1 + epsilon_high. (TRL's cispo caps the ratio at epsilon_high itself, e.g. 5.0; here the
    band is [.., 1 + epsilon_high] for every loss, so TRL's 5.0 is epsilon_high = 4.0.)
    """
    # CISPO: clipped importance-sampling-weight policy optimisation (MiniMax-M1, arXiv:2506.13585)
    cap = 1 + inputs.epsilon_high
    weight = inputs.ratio.clamp(max=cap).detach()
    loss = -weight * inputs.advantages * inputs.logp
    return loss, {"clip_ratio/high": inputs.ratio > cap}


def sapo(inputs, temperature_pos: float = 1.0, temperature_neg: float = 1.05):
    """-(4 / tau) sigmoid(tau (r - 1)) A: a soft gate that fades a token's gradient as r leaves 1.

    The gradient is 4 s (1 - s) r A with s the sigmoid: exactly the policy gradient r A at r = 1, and
    smoothly smaller away from it, instead of a hard cut at the clip band. tau is temperature_pos for
    A > 0 and temperature_neg otherwise (a larger tau fades faster: negative tokens are the unstable ones).
    """
    # SAPO: soft adaptive policy optimisation (Qwen, arXiv:2511.20347)
    if temperature_pos <= 0 or temperature_neg <= 0:
        raise ValueError("sapo: temperature_pos and temperature_neg must be positive")
    adv = inputs.advantages
    tau = adv.new_full(adv.shape, temperature_neg).masked_fill(adv > 0, temperature_pos)
    gate = (tau * (inputs.ratio - 1)).sigmoid() * 4 / tau
    return -gate * adv, {}
