"""Sampling backends: who draws the G completions of each prompt. Each one is a context manager with one
method, ``sample_groups(model, tokenizer, prompt_ids, *, num_generations, max_new_tokens, ...) -> Rollout``,
so step.py calls one interface whichever backend samples:

- hf.py    the trainer's own decode loop on its own model (the default: nothing to install, exact on-policy);
- vllm.py  a vLLM server, started and stopped by grpo (server.py) or already running at a URL; the LoRA
           adapter is loaded into it before every step, and it returns the sampled tokens' log-probs so
           that the loss can correct for the difference between its numerics and the trainer's.

Nothing here imports torch or an HTTP client until a backend is opened, so the config stays cheap to check.
"""
from __future__ import annotations

from grpo_rewards.errors import UserError


class GenerationFailed(UserError):
    """The sampler stopped answering mid-step, before the step changed anything: the trainer saves a checkpoint
    of the last finished step and stops (``--resume`` continues)."""


def open_sampler(cfg, run_dir: str, *, progress: bool = True, dist=None):
    """The backend ``cfg.generation`` asks for, not yet entered (``with open_sampler(...) as sampler:``).
    ``dist``: under torchrun each rank has a sampler of its own (for vLLM: its own managed server)."""
    if cfg.generation.backend == "vllm":
        from .vllm import VllmSampler

        return VllmSampler(cfg, run_dir, progress=progress, dist=dist)
    from .hf import HfSampler

    return HfSampler()
