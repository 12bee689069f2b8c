"""`grpo train --resume`: which checkpoint a run continues from, and which config changes it accepts.

A resumed run must be the run it continues. The adapter's shape (model, lora), the prompts and their
order (data), the group shape (grpo.num_generations, grpo.prompts_per_step), the reward mix, the
optimizer and its schedule, the seeds and the evaluation the run was measured with before training
are fixed when it starts; changing one mid-run either fails deep inside loading or, worse, is silently
ignored (the optimizer's state restores the old learning rate) or silently wrong (an adapter of rank
16 under a config that says 8). So every key must match the run's config.toml except those in
MAY_CHANGE, which only shape the steps still to come. A new key is fixed unless added there.
"""
from __future__ import annotations

import os
import tomllib

from grpo_rewards.errors import ConfigError, UserError

from . import checkpoint, rundir
from .config import Config, config_from_dict, config_to_dict
from .typecheck import show

MAY_CHANGE = (
    "train.steps",                      # more steps (not fewer than are done)
    "train.save_every", "train.log_completions", "train.report_to", "train.max_grad_norm",
    "train.collective_timeout",
    "train.gradient_accumulation_steps",  # the same update, in more or fewer micro-batches
    "grpo.beta", "grpo.loss", "grpo.epsilon", "grpo.epsilon_high", "grpo.scale_rewards",
    "grpo.mask_truncated_completions", "grpo.max_completion_length", "grpo.min_completion_length",
    "grpo.temperature", "grpo.top_p", "grpo.top_k", "grpo.logprob_chunk_size",
    "model.gradient_checkpointing",     # memory against time; the same numbers
    "train.output_dir",                 # where the run is now: a moved run directory resumes in place
)


def _flat(cfg: Config) -> dict:
    out = {}
    for section, values in config_to_dict(cfg).items():
        if section == "rewards":
            out["rewards"] = values
        else:
            out.update({f"{section}.{key}": value for key, value in values.items()})
    return out


def saved_config(run_dir: str) -> Config:
    path = os.path.join(run_dir, "config.toml")
    try:
        with open(path, "rb") as f:
            raw = tomllib.loads(f.read().decode("utf-8"))
        return config_from_dict(raw, require_rewards=False)
    except FileNotFoundError:
        raise UserError(f"--resume: {run_dir} holds no run (no config.toml)") from None
    except (OSError, ValueError, ConfigError) as exc:  # unreadable, not TOML, or from an incompatible version
        raise UserError(f"--resume: cannot read the run's config {path}: {exc}") from None


def check_changes(saved: Config, cfg: Config) -> None:
    """Refuse, in one line naming the key, a change a resumed run cannot take."""
    before, now = _flat(saved), _flat(cfg)
    for key in [*before, *(k for k in now if k not in before)]:
        if before.get(key) != now.get(key) and key not in MAY_CHANGE:
            what = "the reward mix" if key == "rewards" else key
            raise UserError(f"--resume: {what} cannot change in a resumed run (the run has {show(before.get(key))}, "
                            f"the config now {show(now.get(key))}); a resumed run accepts changes to "
                            f"{', '.join(MAY_CHANGE)}; to change {what}, start a new run")


def select(cfg: Config) -> tuple[str, dict]:
    """(checkpoint path, its state) to continue ``cfg``'s run from, after every check; raises UserError."""
    run_dir = cfg.train.output_dir
    if not os.path.isfile(os.path.join(run_dir, "config.toml")):
        raise UserError(f"--resume: no checkpoint in {os.path.join(run_dir, 'checkpoints')} (no run there yet)")
    check_changes(saved_config(run_dir), cfg)
    path, state, skipped = checkpoint.newest_valid(run_dir, lora_r=cfg.lora.r)
    if path is None and not skipped:
        again = "with --overwrite" if rundir.finished_steps(run_dir) else "without --resume"
        raise UserError(f"--resume: no checkpoint in {os.path.join(run_dir, 'checkpoints')}: the run stopped before "
                        f"its first save; start it again {again}")
    if path is None:
        raise UserError(f"--resume: no usable checkpoint in {os.path.join(run_dir, 'checkpoints')} "
                        f"({'; '.join(skipped)})")
    if state["step"] > cfg.train.steps:
        raise UserError(f"--resume: train.steps = {cfg.train.steps}, but the run has done {state['step']} steps; "
                        f"train.steps can only grow")
    if state["step"] == cfg.train.steps and os.path.exists(os.path.join(run_dir, "summary.json")):
        raise UserError(f"--resume: the run in {run_dir} is complete ({state['step']} of {cfg.train.steps} steps); "
                        f"raise train.steps to train it further")
    return path, state
