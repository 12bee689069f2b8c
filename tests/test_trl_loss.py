"""Our loss family against TRL 1.16's own loss code, on identical tensors: loss and gradient within 1e-6.

TRL's loss is only reachable as a method, GRPOTrainer._compute_loss(model, inputs). It is called here on
a minimal object that carries the attributes the method reads and whose log-prob pass returns the
tensors of the test instead of running a model; everything after that is TRL's code, unchanged.

Deliberate differences, each checked below rather than hidden:
- cispo: TRL caps the importance weight at epsilon_high itself (its docs suggest 5.0); here every loss
  reads the clip band as [1 - epsilon, 1 + epsilon_high], so our epsilon_high = TRL's - 1.
- dr_grpo: TRL divides by every row of the batch times max_completion_length; a row whose tokens are all
  masked (an unscorable sample) counts for us as absent, not as a zero-loss sequence.
- entropy bonus with top_entropy_quantile < 1: TRL averages the bonus over the high-entropy tokens only;
  ours is the token mean over all the loss's tokens, whatever the mask (one meaning for every setting).
Needs the bench extra (pip install -e ".[bench]"); under CI a missing TRL fails the tests.
"""
import os
from collections import defaultdict
from types import SimpleNamespace

import pytest
import torch

from grpo_core.losses.compute import batch_counts, policy_loss

try:
    import trl
    from trl.trainer.grpo_trainer import GRPOTrainer
except ImportError as exc:  # noqa: F841 - reported by the fixture
    GRPOTrainer, TRL_ERROR = None, exc
else:
    TRL_ERROR = None

TOL = dict(atol=1e-6, rtol=0)


@pytest.fixture(autouse=True)
def trl_installed():
    if GRPOTrainer is None:
        message = f"TRL is not installed (pip install -e '.[bench]'): {TRL_ERROR}"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    assert trl.__version__.startswith("1.16"), f"these comparisons were written against TRL 1.16, got {trl.__version__}"


class _Accelerator:
    """One process: gathers and reductions are the identity."""

    num_processes, sync_gradients = 1, True

    def gather(self, x):
        return x

    def pad_across_processes(self, x, dim=0, pad_index=0):
        return x

    def reduce(self, x, reduction="sum"):
        return x


class _TrlSelf:
    """What GRPOTrainer._compute_loss reads from ``self``; its log-prob pass returns the test's tensors."""

    get_high_entropy_mask = GRPOTrainer.get_high_entropy_mask if GRPOTrainer else None

    def __init__(self, logp, entropy, *, loss_type, epsilon, epsilon_high, beta=0.0, delta=None,
                 importance_sampling_level="token", top_entropy_quantile=1.0, entropy_coef=0.0,
                 max_completion_length, sapo=(1.0, 1.05)):
        self._logp, self._entropy = logp, entropy
        self.loss_type, self.beta, self.importance_sampling_level = loss_type, beta, importance_sampling_level
        self.epsilon_low, self.epsilon_high = epsilon, epsilon_high
        self.top_entropy_quantile, self.max_completion_length = top_entropy_quantile, max_completion_length
        self.args = SimpleNamespace(delta=delta, use_bias_correction_kl=False, steps_per_generation=1,
                                    sapo_temperature_pos=sapo[0], sapo_temperature_neg=sapo[1])
        self.entropy_coef, self._entropy_bonus_enabled, self.use_adaptive_entropy = entropy_coef, entropy_coef > 0, False
        self.off_policy_mask_threshold, self.use_vllm, self.aux_loss_enabled = None, False, False
        self.current_gradient_accumulation_steps = 1
        self.accelerator, self.model = _Accelerator(), SimpleNamespace(training=True)
        self._metrics = {"train": defaultdict(list), "eval": defaultdict(list)}

    def _get_per_token_logps_and_entropies(self, model, input_ids, attention_mask, logits_to_keep, **kwargs):
        return self._logp, self._entropy, None


def _batch(seed=0, B=6, T=5, masked_row=False):
    """Log-probs whose ratios to the old ones spread well outside any clip band, mixed-sign advantages,
    completions of different lengths."""
    g = torch.Generator().manual_seed(seed)
    logp = -torch.rand(B, T, generator=g) * 3 - 0.05
    old = logp + (torch.rand(B, T, generator=g) - 0.5) * 1.2      # ratios between e^-0.6 and e^0.6
    ref = logp + (torch.rand(B, T, generator=g) - 0.5) * 0.8
    entropy = torch.rand(B, T, generator=g) * 2
    adv = torch.randn(B, generator=g)
    lengths = torch.randint(1, T + 1, (B,), generator=g)
    mask = (torch.arange(T)[None, :] < lengths[:, None]).float()
    if masked_row:
        mask[-1] = 0
    return logp, old, ref, entropy, adv, mask


def _trl(batch, **settings):
    logp, old, ref, entropy, adv, mask = batch
    leaf, ent = logp.clone().requires_grad_(), entropy.clone().requires_grad_()
    me = _TrlSelf(leaf, ent, max_completion_length=logp.shape[1], **settings)
    B = logp.shape[0]
    inputs = {"prompt_ids": torch.zeros(B, 1, dtype=torch.long), "prompt_mask": torch.ones(B, 1, dtype=torch.long),
              "completion_ids": torch.zeros(B, logp.shape[1], dtype=torch.long), "completion_mask": mask.long(),
              "advantages": adv, "old_per_token_logps": old, "ref_per_token_logps": ref,
              "num_items_in_batch": mask.sum()}
    loss = GRPOTrainer._compute_loss(me, None, inputs)
    loss.backward()
    return loss.detach(), leaf.grad, ent.grad, me._metrics["train"]


def _ours(batch, loss_type, *, epsilon, epsilon_high, beta=0.0, sapo=None, **settings):
    logp, old, ref, entropy, adv, mask = batch
    leaf, ent = logp.clone().requires_grad_(), entropy.clone().requires_grad_()
    S, N = batch_counts(mask)
    options = {"temperature_pos": sapo[0], "temperature_neg": sapo[1]} if sapo else None
    loss, stats = policy_loss(leaf, old, ref if beta > 0 else None, adv, mask, loss_type=loss_type,
                              epsilon=epsilon, epsilon_high=epsilon_high, beta=beta,
                              max_completion_length=logp.shape[1], batch_sequences=S, batch_tokens=N,
                              entropy=ent, loss_options=options, **settings)
    loss.backward()
    return loss.detach(), leaf.grad, ent.grad, stats


def _same(ours, theirs):
    torch.testing.assert_close(ours[0], theirs[0], **TOL)
    torch.testing.assert_close(ours[1], theirs[1], **TOL)
    if theirs[2] is not None or ours[2] is not None:  # the entropy bonus's gradient
        torch.testing.assert_close(ours[2], theirs[2], **TOL)


CLIP = dict(epsilon=0.2, epsilon_high=0.28)
CASES = [
    *[(loss, level, beta) for loss in ("grpo", "bnpo", "dr_grpo", "dapo", "sapo")
      for level in ("token", "sequence") for beta in (0.0, 0.04)],
]


@pytest.mark.parametrize("loss_type, level, beta", CASES)
def test_loss_and_gradient_equal_trl(loss_type, level, beta):
    for seed in range(3):
        batch = _batch(seed)
        sapo = (0.9, 1.2) if loss_type == "sapo" else None
        theirs = _trl(batch, loss_type=loss_type, importance_sampling_level=level, beta=beta,
                      sapo=sapo or (1.0, 1.05), **CLIP)
        ours = _ours(batch, loss_type, importance_sampling_level=level, beta=beta, sapo=sapo, **CLIP)
        _same(ours, theirs)
        assert ours[1].abs().sum() > 0  # a gradient that could differ
        # the clip fractions TRL logs; at sequence level TRL counts sequences, we count their tokens
        if loss_type in ("grpo", "bnpo", "dr_grpo", "dapo") and level == "token":
            for key in ("low", "high", "region"):
                assert ours[3][f"clip_ratio/{key}"].item() == pytest.approx(theirs[3][f"clip_ratio/{key}_mean"][0])
        if beta:
            assert ours[3]["kl"].item() == pytest.approx(theirs[3]["kl"][0])


@pytest.mark.parametrize("level", ["token", "sequence"])
def test_cispo_equals_trl_with_the_cap_written_as_one_plus_epsilon_high(level):
    for seed in range(3):
        batch = _batch(seed)
        # ours: weight capped at 1 + 0.1; TRL: capped at epsilon_high = 1.1 itself (the documented difference)
        theirs = _trl(batch, loss_type="cispo", importance_sampling_level=level, epsilon=0.2, epsilon_high=1.1)
        ours = _ours(batch, "cispo", importance_sampling_level=level, epsilon=0.2, epsilon_high=0.1)
        _same(ours, theirs)
        # and the same epsilon_high read the two ways gives different losses: the difference is real
        same_number = _trl(batch, loss_type="cispo", importance_sampling_level=level, epsilon=0.2, epsilon_high=0.1)
        assert not torch.allclose(ours[0], same_number[0], **TOL)


@pytest.mark.parametrize("loss_type", ["grpo", "dapo", "bnpo", "dr_grpo"])
def test_delta_two_sided_clipping_equals_trl(loss_type):
    for seed in range(3):
        batch = _batch(seed)
        theirs = _trl(batch, loss_type=loss_type, delta=1.3, **CLIP)
        ours = _ours(batch, loss_type, delta=1.3, **CLIP)
        _same(ours, theirs)
        # delta changes something on these tensors (a ratio above 1.3 with a negative advantage)
        assert not torch.allclose(ours[1], _ours(batch, loss_type, **CLIP)[1], **TOL)


@pytest.mark.parametrize("loss_type, quantile", [("dapo", 0.5), ("grpo", 0.2), ("cispo", 0.5), ("sapo", 0.3)])
def test_top_entropy_quantile_equals_trl(loss_type, quantile):
    for seed in range(3):
        batch = _batch(seed)
        eps_high = 1.28 if loss_type == "cispo" else 0.28
        theirs = _trl(batch, loss_type=loss_type, top_entropy_quantile=quantile, epsilon=0.2, epsilon_high=eps_high)
        ours = _ours(batch, loss_type, top_entropy_quantile=quantile, epsilon=0.2, epsilon_high=eps_high - (loss_type == "cispo"),
                     sapo=(1.0, 1.05) if loss_type == "sapo" else None)
        _same(ours, theirs)
        # some tokens' gradients are masked out
        full = _ours(batch, loss_type, epsilon=0.2, epsilon_high=eps_high - (loss_type == "cispo"),
                     sapo=(1.0, 1.05) if loss_type == "sapo" else None)
        assert (ours[1] == 0).sum() > (full[1] == 0).sum()


@pytest.mark.parametrize("loss_type", ["dapo", "grpo"])
def test_entropy_bonus_equals_trl_and_where_it_differs(loss_type):
    batch = _batch(1)
    theirs = _trl(batch, loss_type=loss_type, entropy_coef=0.05, **CLIP)
    ours = _ours(batch, loss_type, entropy_coef=0.05, **CLIP)
    _same(ours, theirs)
    assert ours[2].abs().sum() > 0  # the bonus pushes the entropies
    # with top_entropy_quantile < 1 TRL's bonus covers the high-entropy tokens only, ours all tokens
    theirs = _trl(batch, loss_type=loss_type, entropy_coef=0.05, top_entropy_quantile=0.5, **CLIP)
    ours = _ours(batch, loss_type, entropy_coef=0.05, top_entropy_quantile=0.5, **CLIP)
    torch.testing.assert_close(ours[1], theirs[1], **TOL)  # the policy term still agrees
    mask = batch[-1]
    torch.testing.assert_close(ours[2], -0.05 * mask / mask.sum(), **TOL)  # ours: every token, 1/N each
    assert not torch.allclose(ours[2], theirs[2], **TOL)


def test_dr_grpo_counts_a_fully_masked_row_as_absent():
    batch = _batch(2, masked_row=True)
    theirs = _trl(batch, loss_type="dr_grpo", **CLIP)
    ours = _ours(batch, "dr_grpo", **CLIP)
    B = batch[0].shape[0]
    # TRL divides by all B rows, we by the B - 1 that have tokens: the same loss up to that factor
    torch.testing.assert_close(ours[0] * (B - 1) / B, theirs[0], **TOL)
    torch.testing.assert_close(ours[1] * (B - 1) / B, theirs[1], **TOL)
    # without such a row the two agree exactly (checked in test_loss_and_gradient_equal_trl); here they do not
    assert not torch.allclose(ours[0], theirs[0], **TOL)
