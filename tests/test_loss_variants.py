"""The GRPO variants (GSPO, CISPO, SAPO, delta, top-entropy mask, entropy bonus, GDPO) against numbers
worked out by hand in the comments, and the loss registry's checks."""
import math

import pytest
import torch

from grpo_core.losses import registry
from grpo_core.losses.advantages import decoupled_advantages, group_advantages
from grpo_core.losses.compute import check_on_example, policy_loss
from grpo_rewards.errors import ConfigError

CLIP = dict(epsilon=0.2, epsilon_high=0.28)  # band [0.8, 1.28]


def leaf(rows):
    return torch.tensor(rows, requires_grad=True)


def test_sequence_level_ratio_gspo():
    # seq 0: log-ratios 0.3, 0.1 (and 5.0 on a masked token): mean 0.2 -> ratio e^0.2 = 1.2214028, inside
    #   the band with A = +1 -> loss -1.2214028 for the sequence; d/dlogp_t = -e^0.2 / 2 = -0.6107014 on
    #   each counted token, 0 on the masked one
    # seq 1: log-ratios 0.5, 0.5: ratio e^0.5 = 1.6487 > 1.28 with A = +1 -> clipped at -1.28, no gradient
    # grpo aggregation: (-1.2214028 - 1.28) / 2 = -1.2507014
    logp = leaf([[-1.0, -1.0, -1.0], [-1.0, -1.0, -1.0]])
    old = torch.tensor([[-1.3, -1.1, -6.0], [-1.5, -1.5, -1.0]])
    mask = torch.tensor([[1.0, 1.0, 0.0], [1.0, 1.0, 0.0]])
    loss, stats = policy_loss(logp, old, None, torch.tensor([1.0, 1.0]), mask, loss_type="grpo",
                              importance_sampling_level="sequence", **CLIP)
    assert loss.item() == pytest.approx(-1.2507014, abs=1e-6)
    loss.backward()
    torch.testing.assert_close(logp.grad, torch.tensor([[-0.6107014 / 2, -0.6107014 / 2, 0.0], [0.0, 0.0, 0.0]]))
    assert stats["clip_ratio/high"].item() == pytest.approx(0.5)  # seq 1's two tokens of four
    # the token-level ratio of the same numbers clips seq 0's first token (e^0.3 = 1.35) instead
    token, _ = policy_loss(logp, old, None, torch.tensor([1.0, 1.0]), mask, loss_type="grpo", **CLIP)
    assert token.item() != pytest.approx(loss.item(), abs=1e-4)


def test_delta_caps_the_ratio_of_negative_advantages_only():
    # ratio 2.0, A = -1: plain clipping gives -min(-2.0, -1.28) = 2.0 and gradient -A r = 2.0;
    # delta = 1.5 caps it: -min(-1.5, -1.28) = 1.5 with no gradient (the cap is a clamp)
    logp, old, adv, mask = leaf([[0.0]]), torch.tensor([[-math.log(2.0)]]), torch.tensor([-1.0]), torch.ones(1, 1)
    plain, _ = policy_loss(logp, old, None, adv, mask, loss_type="dapo", **CLIP)
    capped, stats = policy_loss(logp, old, None, adv, mask, loss_type="dapo", delta=1.5, **CLIP)
    assert (plain.item(), capped.item()) == pytest.approx((2.0, 1.5))
    assert torch.autograd.grad(plain, logp)[0].item() == pytest.approx(2.0)
    assert torch.autograd.grad(capped, logp)[0].item() == 0.0
    assert stats["clip_ratio/delta"].item() == 1.0
    # A = +1 at the same ratio: the upper clip already holds it at 1.28, delta changes nothing
    pos = torch.tensor([1.0])
    assert policy_loss(logp, old, None, pos, mask, loss_type="dapo", delta=1.5, **CLIP)[0].item() == \
        pytest.approx(policy_loss(logp, old, None, pos, mask, loss_type="dapo", **CLIP)[0].item()) == -1.28


def test_cispo_weight_is_clipped_and_stop_gradient():
    # token 0: ratio 1.5, A = +1, logp -0.7: weight min(1.5, 1.28) = 1.28 -> -1.28 * 1 * -0.7 = 0.896,
    #          gradient -1.28 (the weight carries none), never zeroed as the hard clip would
    # token 1: ratio 0.5, A = -1, logp -2.0: no lower cap -> weight 0.5 -> -0.5 * -1 * -2 = -1.0, gradient 0.5
    # dapo-style token mean over 2 tokens: (0.896 - 1.0) / 2 = -0.052; gradients / 2
    logp = leaf([[-0.7], [-2.0]])
    old = torch.tensor([[-0.7 - math.log(1.5)], [-2.0 - math.log(0.5)]])
    loss, stats = policy_loss(logp, old, None, torch.tensor([1.0, -1.0]), torch.ones(2, 1), loss_type="cispo", **CLIP)
    assert loss.item() == pytest.approx(-0.052, abs=1e-6)
    loss.backward()
    torch.testing.assert_close(logp.grad, torch.tensor([[-0.64], [0.25]]))
    assert stats["clip_ratio/high"].item() == pytest.approx(0.5)


def test_sapo_soft_gate():
    # loss = -(4 / tau) sigmoid(tau (r - 1)) A, gradient -A 4 s (1 - s) r with s = sigmoid(tau (r - 1))
    # token 0: r = 1.5, A = +1, tau_pos = 1: s = sigmoid(0.5) -> loss -2.4898373, gradient -1.4100223
    # token 1: r = 1.5, A = -1, tau_neg = 1.05: s = sigmoid(0.525) -> loss 2.3935855, gradient 1.4012097
    # grpo aggregation, one token per sequence: (-2.4898373 + 2.3935855) / 2
    logp = leaf([[-1.0], [-1.0]])
    old = logp.detach() - math.log(1.5)
    loss, _ = policy_loss(logp, old, None, torch.tensor([1.0, -1.0]), torch.ones(2, 1), loss_type="sapo",
                          loss_options={"temperature_pos": 1.0, "temperature_neg": 1.05})
    assert loss.item() == pytest.approx((-2.4898373 + 2.3935855) / 2, abs=1e-6)
    loss.backward()
    torch.testing.assert_close(logp.grad, torch.tensor([[-1.4100223 / 2], [1.4012097 / 2]]))
    # at r = 1 the gradient is the plain policy gradient -A, whatever the temperature
    at_one = leaf([[-1.0]])
    loss, _ = policy_loss(at_one, None, None, torch.tensor([2.0]), torch.ones(1, 1), loss_type="sapo",
                          loss_options={"temperature_pos": 3.0})
    assert torch.autograd.grad(loss, at_one)[0].item() == pytest.approx(-2.0)


def test_top_entropy_quantile_keeps_the_high_entropy_tokens():
    # entropies 0.1 0.5 0.9 0.3 (a fifth token masked): the 0.5 quantile of the four counted ones is 0.4
    # (halfway between 0.3 and 0.5) -> tokens 1 and 2 keep their policy term. ratio 1, A = 1, dapo over
    # N = 4 tokens: loss -2/4, gradient -1/4 on tokens 1 and 2 only
    logp = leaf([[-1.0] * 5])
    entropy = torch.tensor([[0.1, 0.5, 0.9, 0.3, 5.0]])
    mask = torch.tensor([[1.0, 1.0, 1.0, 1.0, 0.0]])
    loss, stats = policy_loss(logp, None, None, torch.tensor([1.0]), mask, loss_type="dapo",
                              entropy=entropy, top_entropy_quantile=0.5)
    assert loss.item() == pytest.approx(-0.5)
    loss.backward()
    torch.testing.assert_close(logp.grad, torch.tensor([[0.0, -0.25, -0.25, 0.0, 0.0]]))
    assert stats["entropy_mask/kept"].item() == pytest.approx(0.5)


def test_entropy_bonus_is_the_token_mean_for_every_aggregation():
    # loss -= 0.1 * (0.2 + 0.4 + 0.6) / 3 = 0.04 on top of the policy term (0 here: A = 0)
    entropy = torch.tensor([[0.2, 0.4], [0.6, 9.0]], requires_grad=True)
    mask = torch.tensor([[1.0, 1.0], [1.0, 0.0]])
    for loss_type in ("grpo", "bnpo", "dr_grpo", "dapo", "cispo", "sapo"):
        loss, _ = policy_loss(torch.zeros(2, 2), None, None, torch.zeros(2), mask, loss_type=loss_type,
                              entropy=entropy, entropy_coef=0.1)
        assert loss.item() == pytest.approx(-0.04), loss_type
        grad = torch.autograd.grad(loss, entropy)[0]
        torch.testing.assert_close(grad, -0.1 / 3 * mask)


def test_variants_add_up_over_micro_batches():
    # every aggregation but bnpo's is exact under gradient accumulation, for the new objectives too
    g = torch.Generator().manual_seed(0)
    logp, old = -torch.rand(4, 3, generator=g) - 0.1, -torch.rand(4, 3, generator=g) - 0.1
    adv, mask = torch.tensor([1.0, -0.5, 2.0, -1.0]), torch.tensor([[1, 1, 1], [1, 1, 0], [1, 0, 0], [1, 1, 1.0]])
    for loss_type in ("cispo", "sapo", "grpo", "dapo"):
        for level in ("token", "sequence"):
            kw = dict(loss_type=loss_type, importance_sampling_level=level, max_completion_length=3, **CLIP)
            full = policy_loss(logp, old, None, adv, mask, **kw)[0]
            halves = sum(policy_loss(logp[s], old[s], None, adv[s], mask[s], batch_sequences=4, batch_tokens=9,
                                     num_micro_batches=2, **kw)[0] for s in (slice(0, 2), slice(2, 4)))
            assert halves.item() == pytest.approx(full.item(), abs=1e-6), (loss_type, level)


# -----------------------------------------------------------------------------
# GDPO: normalize_then_sum

def test_gdpo_hand_computed_two_rewards():
    # G = 3, rewards r1 (weight 1) and r2 (weight 0.5); sample std throughout, eps = 0 for round numbers.
    # group 0: r1 = 1 0 0 -> mean 1/3, std sqrt(1/3) = 0.5773503 -> 1.1547005, -0.5773503, -0.5773503
    #          r2 = 0 0 1 -> -0.5773503, -0.5773503, 1.1547005; x 0.5
    #          sum: 0.8660254, -0.8660254, 0
    # group 1: r1 = 1 1 1 -> a tie, 0; r2 = 0 1 None -> mean 0.5, std 0.7071068 -> -0.7071068, 0.7071068, and
    #          0 for the sample r2 did not score (it still has a total, from r1) -> x 0.5: -0.3535534, 0.3535534, 0
    # group 2: r1 = 0 0 0, r2 = 1 1 1 -> no weighted reward varies -> exactly 0
    # batch: 9 valid sums, mean 0, sample std sqrt((2 x 0.75 + 2 x 0.125) / 8) = 0.4677072
    #   -> A = 1.8516402, -1.8516402, 0, -0.7559289, 0.7559289, 0, 0, 0, 0
    nan = math.nan
    rewards = torch.tensor([[1, 0], [0, 0], [0, 1], [1, 0], [1, 1], [1, nan], [0, 1], [0, 1], [0, 1.0]])
    weights = torch.tensor([1.0, 0.5])
    total = (rewards.nan_to_num(0) * weights).sum(1)
    adv, valid = decoupled_advantages(rewards, weights, total, 3, eps=0.0)
    expected = torch.tensor([1.8516402, -1.8516402, 0, -0.7559289, 0.7559289, 0, 0, 0, 0])
    torch.testing.assert_close(adv, expected)
    assert valid.all() and adv[6:].eq(0).all()
    # sum_then_normalize on the same rewards differs: group 0's totals 1, 0, 0.5 -> 1, -1, 0
    plain, _ = group_advantages(total, 3, eps=0.0)
    torch.testing.assert_close(plain[:3], torch.tensor([1.0, -1.0, 0.0]))
    # a reward with weight 0 takes no part, however much it varies
    noisy = torch.cat([rewards, torch.arange(9.0)[:, None]], dim=1)
    adv0, _ = decoupled_advantages(noisy, torch.tensor([1.0, 0.5, 0.0]), total, 3, eps=0.0)
    torch.testing.assert_close(adv0, expected)
    # a sample no reward scored is invalid and gets 0
    rewards[4] = nan
    total[4] = nan
    adv, valid = decoupled_advantages(rewards, weights, total, 3)
    assert not valid[4] and adv[4] == 0 and valid.sum() == 8


def test_estimator_grpo_switches_on_multi_objective():
    from grpo_core.losses import AdvantageInputs
    from grpo_core.losses.advantages import grpo

    rewards = torch.tensor([[1.0, 0.0], [0.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    weights = torch.tensor([1.0, 0.5])
    total = (rewards * weights).sum(1)
    inputs = dict(rewards=rewards, weights=weights, total=total, num_generations=2, scale_rewards="group",
                  names=("a", "b"))
    summed, _ = grpo(AdvantageInputs(multi_objective="sum_then_normalize", **inputs))
    decoupled, _ = grpo(AdvantageInputs(multi_objective="normalize_then_sum", **inputs))
    torch.testing.assert_close(summed, group_advantages(total, 2)[0])
    torch.testing.assert_close(decoupled, decoupled_advantages(rewards, weights, total, 2)[0])
    assert not torch.allclose(summed, decoupled)


# -----------------------------------------------------------------------------
# the registry

class Grpo:
    """Just the [grpo] keys the registry reads."""

    def __init__(self, **kw):
        defaults = dict(loss="dapo", loss_options={}, advantage="grpo", advantage_options={}, epsilon=0.2,
                        epsilon_high=0.28, beta=0.0, delta=None, max_completion_length=3,
                        importance_sampling_level="token", entropy_coef=0.0, top_entropy_quantile=1.0)
        self.__dict__.update({**defaults, **kw})


def test_registry_finds_builtins_and_explains_mistakes():
    loss, estimator = registry.check(Grpo(loss="cispo"))
    assert loss.aggregation == "token" and estimator.__name__ == "grpo"
    with pytest.raises(ConfigError, match=r"grpo.loss: unknown loss 'capo'\. Did you mean 'sapo'\? "
                                          r"Installed losses: bnpo, cispo, dapo, dr_grpo, grpo, sapo"):
        registry.check(Grpo(loss="capo"))
    with pytest.raises(ConfigError, match=r"grpo.loss_options: loss 'sapo': got an unexpected keyword argument "
                                          r"'tau' \(it takes temperature_pos, temperature_neg\)"):
        registry.check(Grpo(loss="sapo", loss_options={"tau": 1.0}))
    with pytest.raises(ConfigError, match=r"grpo.loss_options: loss 'dapo'.*\(it takes no options\)"):
        registry.check(Grpo(loss_options={"x": 1}))
    with pytest.raises(ConfigError, match="grpo.advantage: unknown advantage 'rloo'.* Installed advantages: grpo"):
        registry.check(Grpo(advantage="rloo"))


def test_a_bad_option_value_is_caught_on_the_example_batch():
    cfg = Grpo(loss="sapo", loss_options={"temperature_neg": -1.0})
    with pytest.raises(ConfigError, match="grpo.loss: loss 'sapo' fails on a test batch: ValueError: sapo: "
                                          "temperature_pos and temperature_neg must be positive"):
        check_on_example(cfg, registry.find("loss", "sapo"))
    check_on_example(Grpo(loss="sapo", entropy_coef=0.1, top_entropy_quantile=0.5, beta=0.1), registry.find("loss", "sapo"))


def test_builtins_are_there_when_grpo_plugins_leaves_grpo_core_out(monkeypatch):
    from grpo_rewards import plugins

    monkeypatch.setenv("GRPO_PLUGINS", "grpo-math")
    reg = plugins.load_entry_points(plugins.Registry())
    assert "dapo" not in reg.losses
    assert registry.find("loss", "dapo", reg).aggregation == "token"
    assert [p.distribution for p in reg.plugins if p.losses] == ["grpo-core"]
