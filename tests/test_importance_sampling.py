"""losses.sampler.importance_weights and sampler_mismatch against values computed by hand, and the identity
step.py relies on: scaling the advantages by w >= 0 weighs each token's policy-gradient loss by w."""
import math

import pytest
import torch

from grpo_core.losses import policy_loss
from grpo_core.losses.sampler import importance_weights, sampler_mismatch

# two sequences of three tokens; the last token of the first is padding
TRAINER = torch.tensor([[-1.0, -2.0, -0.5], [-0.1, -0.3, -0.2]])
SAMPLER = torch.tensor([[-1.2, -1.0, -9.0], [-3.0, -0.3, -0.2]])
MASK = torch.tensor([[1, 1, 0], [1, 1, 1]])


def test_token_truncate_by_hand():
    w = importance_weights(TRAINER, SAMPLER, MASK, "token_truncate", cap=3.0)
    # exp(0.2), exp(-1.0), padding; exp(2.9) = 18.17 capped at 3, exp(0) twice
    expected = [[math.exp(0.2), math.exp(-1.0), 0.0], [3.0, 1.0, 1.0]]
    assert torch.allclose(w, torch.tensor(expected), atol=1e-6)


def test_sequence_mask_by_hand():
    w = importance_weights(TRAINER, SAMPLER, MASK, "sequence_mask", cap=3.0)
    # first sequence: exp(0.2 - 1.0) = 0.4493 on its two tokens; second: exp(2.9) > 3, masked out whole
    assert torch.allclose(w, torch.tensor([[math.exp(-0.8)] * 2 + [0.0], [0.0] * 3]), atol=1e-6)
    # with a cap above exp(2.9) the second sequence keeps its whole ratio on every token
    w = importance_weights(TRAINER, SAMPLER, MASK, "sequence_mask", cap=20.0)
    assert torch.allclose(w[1], torch.full((3,), math.exp(2.9)), atol=1e-4)


def test_none_is_the_mask_and_weights_carry_no_gradient():
    trainer = TRAINER.clone().requires_grad_(True)
    assert torch.equal(importance_weights(trainer, SAMPLER, MASK, "none"), MASK.float())
    assert not importance_weights(trainer, SAMPLER, MASK, "token_truncate").requires_grad
    with pytest.raises(ValueError, match="importance_sampling must be one of"):
        importance_weights(TRAINER, SAMPLER, MASK, "sequence_truncate")


def test_mismatch_metrics_by_hand():
    w = importance_weights(TRAINER, SAMPLER, MASK, "token_truncate", cap=3.0)
    m = sampler_mismatch(TRAINER, SAMPLER, MASK, w, cap=3.0)
    assert m["sampler/logprob_diff_mean"] == pytest.approx((0.2 + 1.0 + 2.9) / 5)
    assert m["sampler/logprob_diff_max"] == pytest.approx(2.9)
    k3 = lambda d: math.exp(d) - d - 1  # KL(sampler || trainer) per token, d = trainer - sampler
    assert m["sampler/kl"] == pytest.approx((k3(0.2) + k3(-1.0) + k3(2.9)) / 2, rel=1e-5)
    assert m["sampler/ratio_above_cap"] == pytest.approx(1 / 5)
    assert m["sampler/is_weight_mean"] == pytest.approx((math.exp(0.2) + math.exp(-1.0) + 3 + 1 + 1) / 5, rel=1e-6)


@pytest.mark.parametrize("loss_type", ["grpo", "dapo", "dr_grpo", "bnpo"])
def test_scaled_advantages_weigh_each_tokens_loss(loss_type):
    torch.manual_seed(0)
    logp = (torch.randn(2, 3) * 0.1 - 1).requires_grad_(True)
    old = logp.detach() + torch.randn(2, 3) * 0.3  # ratios inside and outside the clip band
    adv = torch.tensor([1.5, -0.7])
    w = importance_weights(old, SAMPLER, MASK, "token_truncate", cap=3.0)
    scaled, _ = policy_loss(logp, old, None, adv[:, None] * w, MASK, loss_type=loss_type)
    # the same loss written out: w times each token's clipped surrogate, aggregated the same way
    ratio = torch.exp(logp - old)
    per_token = -torch.min(ratio * adv[:, None], ratio.clamp(0.8, 1.2) * adv[:, None]) * w
    m = MASK.float()
    by_hand = {"grpo": ((per_token * m).sum(1) / m.sum(1)).mean(), "dapo": (per_token * m).sum() / m.sum(),
               "dr_grpo": (per_token * m).sum() / (2 * 3), "bnpo": (per_token * m).sum() / m.sum()}[loss_type]
    assert torch.allclose(scaled, by_hand, atol=1e-6)
