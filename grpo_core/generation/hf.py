"""The default backend: the trainer's own model samples its groups (grpo_core/rollout.py's decode loop).

The policy that samples is exactly the policy that is trained, so there is no sampler/trainer mismatch to
log or correct, and no log-probs come back with the rollout. LoRA layers are folded into weight copies for
the duration of sampling where that is exact (model.merged_for_sampling).
"""
from __future__ import annotations

from ..model import merged_for_sampling
from ..rollout import Rollout, sample_groups


class HfSampler:
    def __enter__(self) -> HfSampler:
        return self

    def __exit__(self, *exc) -> None:
        pass

    def start_at(self, version: int) -> None:
        """Adapter versions mean nothing here: the sampler is the trained model itself."""

    def step_metrics(self) -> dict:
        return {}

    def sample_groups(self, model, tokenizer, prompt_ids: list[list[int]], **sampling) -> Rollout:
        with merged_for_sampling(model):  # the same policy, one matmul per layer instead of three
            return sample_groups(model, tokenizer, prompt_ids, **sampling)
