"""grpo_core.losses (the built-in advantage estimator and the loss family) against numbers worked out by hand."""

import math

import pytest
import torch

from grpo_core.losses.advantages import group_advantages
from grpo_core.losses.compute import batch_counts, k3, policy_loss
from grpo_rewards.errors import ConfigError

# -----------------------------------------------------------------------------
# advantages


def test_group_scale_sample_std():
    # G=3, rewards 0 1 2: mean 1, sample std sqrt((1 + 0 + 1) / 2) = 1 -> A = -1 0 1 (eps=0)
    adv, valid = group_advantages(torch.tensor([0.0, 1.0, 2.0]), 3, eps=0.0)
    torch.testing.assert_close(adv, torch.tensor([-1.0, 0.0, 1.0]))
    assert valid.all()


def test_group_scale_two_groups_with_eps_and_tie():
    # group 0 = (1, 0): mean 0.5, sample std sqrt(0.25 + 0.25) = 0.70710678 -> A = +-0.5 / 0.70720678
    # group 1 = (2, 2): a tie -> exactly 0
    adv, valid = group_advantages(torch.tensor([1.0, 0.0, 2.0, 2.0]), 2, eps=1e-4)
    torch.testing.assert_close(adv, torch.tensor([0.7070068, -0.7070068, 0.0, 0.0]))
    assert valid.all()


def test_ties_are_exactly_zero_despite_roundoff():
    # 0.1 + 0.1 + 0.1 != 0.3 in floating point, so r - mean would be ~1e-9 and /eps would blow it up
    for scale in ("group", "batch", "none"):
        adv, _ = group_advantages(torch.tensor([0.1, 0.1, 0.1, 0.7, 0.7, 0.7]), 3, scale=scale)
        assert torch.equal(adv, torch.zeros(6))


def test_none_rewards_left_out_of_the_group():
    # group 0 = (1, None, 3): mean of the valid ones 2, sample std sqrt(1 + 1) = 1.41421356
    #   -> A = -1/1.41421356, 0, +1/1.41421356 = -0.70710678, 0, 0.70710678
    # group 1 = (None, 5, None): one valid sample -> nothing to compare with -> A = 0, still valid
    # group 2 = all None -> all invalid, A = 0 (no NaN leaks)
    nan = float("nan")
    r = torch.tensor([1.0, nan, 3.0, nan, 5.0, nan, nan, nan, nan])
    adv, valid = group_advantages(r, 3, eps=0.0)
    torch.testing.assert_close(adv, torch.tensor([-0.70710678, 0, 0.70710678, 0, 0, 0, 0, 0, 0]))
    assert valid.tolist() == [True, False, True, False, True, False, False, False, False]
    assert not torch.isnan(adv).any()


def test_scale_modes():
    # rewards (0, 2 | 10, 14), G=2: group means 1 and 12, deviations -1 1 -2 2
    r = torch.tensor([0.0, 2.0, 10.0, 14.0])
    # "none": the deviations themselves
    adv, _ = group_advantages(r, 2, scale="none")
    torch.testing.assert_close(adv, torch.tensor([-1.0, 1.0, -2.0, 2.0]))
    # "group": group 0 std sqrt(1+1) = 1.41421356 -> +-0.70710678; group 1 std sqrt(4+4) = 2.8284271
    #   -> +-2/2.8284271 = +-0.70710678
    adv, _ = group_advantages(r, 2, scale="group", eps=0.0)
    torch.testing.assert_close(adv, torch.tensor([-0.70710678, 0.70710678, -0.70710678, 0.70710678]))
    # "batch": batch mean 6.5, squared deviations 42.25 20.25 12.25 56.25 = 131, /3 = 43.666667,
    #   std 6.6080759 -> -1/6.6080759 = -0.1513299, -2/6.6080759 = -0.3026598
    adv, _ = group_advantages(r, 2, scale="batch", eps=0.0)
    torch.testing.assert_close(adv, torch.tensor([-0.1513299, 0.1513299, -0.3026598, 0.3026598]))


def test_batch_scale_ignores_none():
    # G=2, rewards (0, 2 | None, 4): group 1 has one valid sample -> 0
    # batch std over valid rewards 0 2 4: mean 2, (4 + 0 + 4) / 2 = 4 -> std 2 -> A(group 0) = +-1/2
    nan = float("nan")
    adv, valid = group_advantages(torch.tensor([0.0, 2.0, nan, 4.0]), 2, scale="batch", eps=0.0)
    torch.testing.assert_close(adv, torch.tensor([-0.5, 0.5, 0.0, 0.0]))
    assert valid.tolist() == [True, True, False, True]


def test_advantage_argument_errors():
    with pytest.raises(ValueError, match="scale_rewards"):
        group_advantages(torch.zeros(4), 2, scale="rank")
    with pytest.raises(ValueError, match="num_generations"):
        group_advantages(torch.zeros(5), 2)


# -----------------------------------------------------------------------------
# the policy loss on a worked example: 2 groups x 2 samples x 3 tokens, epsilon 0.2, epsilon_high 0.28
# (clip band [0.8, 1.28])
#
#   seq  A     ratios            mask     per-token loss -min(r A, clip(r) A)
#   0    +1    1.0  1.5  0.5     1 1 1    -1.0   -1.28 (high clip)  -0.5 (below band, A>0: not clipped)
#   1    -1    1.1  0.7  1.0     1 1 0    +1.1   +0.8  (low clip)   masked
#   2    +2    1.3  2.0  2.0     1 0 0    -2.56 (high clip)         masked, masked
#   3    -0.5  0.6  1.0  1.25    1 1 1    +0.4 (low clip)  +0.5  +0.625 (inside band)
#
#   sequence sums:  -2.78, 1.9, -2.56, 1.525  -> total -1.915 over 9 tokens
#   sequence means: -0.9266667, 0.95, -2.56, 0.5083333 -> sum -2.0283333

RATIOS = torch.tensor([[1.0, 1.5, 0.5], [1.1, 0.7, 1.0], [1.3, 2.0, 2.0], [0.6, 1.0, 1.25]])
MASK = torch.tensor([[1, 1, 1], [1, 1, 0], [1, 0, 0], [1, 1, 1]], dtype=torch.float32)
ADV = torch.tensor([1.0, -1.0, 2.0, -0.5])
CLIP = dict(epsilon=0.2, epsilon_high=0.28)


def _inputs():
    logp = torch.linspace(-3.0, -0.5, 12).view(4, 3)
    old = logp - RATIOS.log()                                  # so exp(logp - old) = RATIOS
    return logp, old


@pytest.mark.parametrize("loss_type, extra, expected", [
    ("grpo", {}, -2.0283333 / 4),                              # mean of sequence means
    ("bnpo", {}, -1.915 / 9),                                  # token mean
    ("dr_grpo", {"max_completion_length": 4}, -1.915 / (4 * 4)),  # sum / (sequences * L)
    ("dapo", {}, -1.915 / 9),                                  # token mean of the whole batch
])
def test_loss_variants_hand_computed(loss_type, extra, expected):
    logp, old = _inputs()
    loss, stats = policy_loss(logp, old, None, ADV, MASK, loss_type=loss_type, **CLIP, **extra)
    assert loss.item() == pytest.approx(expected, abs=1e-6)
    # clip stats over the 9 unmasked tokens: low-active at (1,1) (3,0); high-active at (0,1) (2,0).
    # (0,2) is below the band but A > 0 so not clipped; seq 2's masked ratios of 2.0 do not count.
    assert stats["clip_ratio/low"].item() == pytest.approx(2 / 9)
    assert stats["clip_ratio/high"].item() == pytest.approx(2 / 9)
    assert stats["clip_ratio/region"].item() == pytest.approx(4 / 9)
    # unmasked ratios: 3.0 + 1.8 + 1.3 + 2.85 = 8.95
    assert stats["ratio_mean"].item() == pytest.approx(8.95 / 9)
    assert "kl" not in stats


def test_microbatches_sum_to_full_batch():
    logp, old = _inputs()
    S, N = batch_counts(MASK)
    assert (S, N) == (4, 9)
    halves = [slice(0, 2), slice(2, 4)]
    for loss_type in ("grpo", "dr_grpo", "dapo"):
        full, _ = policy_loss(logp, old, None, ADV, MASK, loss_type=loss_type, **CLIP, max_completion_length=3)
        parts = [policy_loss(logp[s], old[s], None, ADV[s], MASK[s], loss_type=loss_type, **CLIP,
                             max_completion_length=3, batch_sequences=S, batch_tokens=N,
                             num_micro_batches=2)[0] for s in halves]
        assert (parts[0] + parts[1]).item() == pytest.approx(full.item(), abs=1e-6), loss_type
    # grpo by hand: (-0.9266667 + 0.95) / 4 + (-2.56 + 0.5083333) / 4 = 0.0058333 - 0.5129167
    grpo_parts = [policy_loss(logp[s], old[s], None, ADV[s], MASK[s], loss_type="grpo", **CLIP,
                              batch_sequences=S, batch_tokens=N, num_micro_batches=2)[0] for s in halves]
    assert grpo_parts[0].item() == pytest.approx(0.0058333, abs=1e-6)
    # bnpo: each micro-batch is its own token mean, averaged over micro-batches:
    #   (-2.78 + 1.9) / 5 = -0.176 and (-2.56 + 1.525) / 4 = -0.25875 -> mean -0.217375
    bnpo = sum(policy_loss(logp[s], old[s], None, ADV[s], MASK[s], loss_type="bnpo", **CLIP,
                           num_micro_batches=2)[0] for s in halves)
    assert bnpo.item() == pytest.approx(-0.217375, abs=1e-6)


def test_fully_masked_sample_is_absent_not_zero():
    # appending a sample with valid=False (mask all 0) must not change any variant
    logp, old = _inputs()
    logp5 = torch.cat([logp, torch.zeros(1, 3)])
    old5 = torch.cat([old, torch.zeros(1, 3)])
    adv5, mask5 = torch.cat([ADV, torch.zeros(1)]), torch.cat([MASK, torch.zeros(1, 3)])
    assert batch_counts(mask5) == (4, 9)
    for loss_type in ("grpo", "bnpo", "dr_grpo", "dapo"):
        a = policy_loss(logp, old, None, ADV, MASK, loss_type=loss_type, **CLIP)[0]
        b = policy_loss(logp5, old5, None, adv5, mask5, loss_type=loss_type, **CLIP)[0]
        assert a.item() == pytest.approx(b.item(), abs=1e-7), loss_type


def test_k3_hand_computed():
    # d = ref - logp; k3 = e^d - d - 1: d = ln2 -> 2 - 0.6931472 - 1 = 0.3068528; d = 0 -> 0;
    # d = -ln2 -> 0.5 + 0.6931472 - 1 = 0.1931472 (the two sum to exactly 0.5)
    logp = torch.zeros(1, 3)
    ref = torch.tensor([[math.log(2), 0.0, -math.log(2)]])
    torch.testing.assert_close(k3(logp, ref), torch.tensor([[0.3068528, 0.0, 0.1931472]]))
    # in the loss: A = 0 kills the surrogate, beta = 0.1, grpo mean over 3 tokens -> 0.1 * 0.5 / 3
    loss, stats = policy_loss(logp, None, ref, torch.zeros(1), torch.ones(1, 3), beta=0.1)
    assert loss.item() == pytest.approx(0.1 * 0.5 / 3, abs=1e-7)
    assert stats["kl"].item() == pytest.approx(0.5 / 3, abs=1e-7)
    # beta = 0 ignores ref entirely
    loss, stats = policy_loss(logp, None, ref, torch.zeros(1), torch.ones(1, 3), beta=0.0)
    assert loss.item() == 0.0 and "kl" not in stats


def test_old_logp_none_is_ratio_one():
    # ratio 1 -> loss = -A per token; grpo over 3 tokens: d loss / d logp_t = -A / 3
    logp = torch.tensor([[-1.0, -2.0, -0.5]], requires_grad=True)
    loss, stats = policy_loss(logp, None, None, torch.tensor([2.0]), torch.ones(1, 3))
    assert loss.item() == pytest.approx(-2.0)
    assert stats["ratio_mean"].item() == 1.0
    loss.backward()
    torch.testing.assert_close(logp.grad, torch.full((1, 3), -2.0 / 3))


@pytest.mark.parametrize("adv, ratio, clipped", [
    (1.0, 1.5, True),    # A > 0 above the band: no incentive to push further
    (1.0, 0.5, False),   # A > 0 below the band: min keeps r A, still pushed up
    (-1.0, 0.5, True),   # A < 0 below the band: no incentive to push further down
    (-1.0, 1.5, False),  # A < 0 above the band: min keeps r A, still pushed down
])
def test_clip_zeroes_gradient_only_on_the_active_side(adv, ratio, clipped):
    logp = torch.tensor([[0.0]], requires_grad=True)
    old = torch.tensor([[-math.log(ratio)]])
    loss, stats = policy_loss(logp, old, None, torch.tensor([adv]), torch.ones(1, 1), **CLIP)
    loss.backward()
    # loss = -A r when unclipped, d/dlogp = -A r; a constant -A clip(r) when clipped
    expected = 0.0 if clipped else -adv * ratio
    assert logp.grad.item() == pytest.approx(expected, abs=1e-6)
    assert stats["clip_ratio/region"].item() == (1.0 if clipped else 0.0)


def test_gradient_direction():
    # raising the log-prob of a positive-advantage token lowers the loss; of a negative one raises it
    old = torch.full((2, 2), -1.0)
    adv = torch.tensor([1.0, -1.0])
    base = policy_loss(old.clone(), old, None, adv, torch.ones(2, 2))[0]
    up_pos = old.clone(); up_pos[0, 0] += 0.05
    up_neg = old.clone(); up_neg[1, 0] += 0.05
    assert policy_loss(up_pos, old, None, adv, torch.ones(2, 2))[0] < base
    assert policy_loss(up_neg, old, None, adv, torch.ones(2, 2))[0] > base


def test_unknown_loss_type():
    with pytest.raises(ConfigError, match="unknown loss 'ppo'.*Installed losses: bnpo, cispo, dapo"):
        policy_loss(torch.zeros(1, 1), None, None, torch.zeros(1), torch.ones(1, 1), loss_type="ppo")


def test_per_token_advantages_broadcast_the_same():
    logp, old = _inputs()
    per_seq = policy_loss(logp, old, None, ADV, MASK, **CLIP)[0]
    per_tok = policy_loss(logp, old, None, ADV[:, None].expand(4, 3), MASK, **CLIP)[0]
    assert per_seq.item() == pytest.approx(per_tok.item(), abs=1e-7)
