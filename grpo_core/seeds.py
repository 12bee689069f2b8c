"""Sampling seeds that do not depend on how a step's batch is split.

Each prompt gets a generator of its own, seeded from the run's seed, the step and the prompt's place in the
step's whole batch. So one process and N torchrun ranks (distributed.py) sample the same completions, a run
resumes on another world size, dynamic sampling's extra rounds draw fresh seeds, and a vLLM server
(generation/vllm.py) gets the same per-request seeds: nothing about sampling needs checkpointing.
"""
from __future__ import annotations

import hashlib


def prompt_seed(seed: int, step: int, index: int) -> int:
    """The sampling seed of prompt ``index`` (its place in the step's whole batch) at ``step``."""
    digest = hashlib.blake2b(f"grpo/{seed}/{step}/{index}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") & (2**63 - 1)


def prompt_generators(seed: int, step: int, first: int, count: int, device) -> list[torch.Generator]:
    """One generator per prompt of this rank's share (global indices ``first .. first+count-1``).

    A prompt's completions then depend only on the run's seed, the step and the prompt's place in the
    step's batch, never on how many ranks share the batch: one process and N ranks sample the same
    completions, and a run can resume on another world size. Nothing to checkpoint either."""
    import torch

    device = torch.device(device)
    return [torch.Generator(device=device).manual_seed(prompt_seed(seed, step, first + i)) for i in range(count)]


class PromptGenerators:
    """A step's sampling generators, handed out in the order prompts are sampled (step.generate): the first
    ``take(n)`` gets those of prompts ``first .. first+n-1``, a further round (dynamic sampling) the next."""

    def __init__(self, seed: int, step: int, first: int, device):
        self.seed, self.step, self.next, self.device = seed, step, first, device

    def take(self, n: int) -> list:
        out = prompt_generators(self.seed, self.step, self.next, n, self.device)
        self.next += n
        return out
