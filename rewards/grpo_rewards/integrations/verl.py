"""The reward mix as verl's custom reward function.

verl loads ``custom_reward_function.path`` as a file and calls the function named by
``custom_reward_function.name`` once per response (naive reward manager), or once per batch (batch
reward manager), with ``custom_reward_function.reward_kwargs`` merged into the call:

    custom_reward_function.path=$(python -c "import grpo_rewards.integrations.verl as m; print(m.__file__)")
    custom_reward_function.name=compute_score            # or compute_score_batch (reward_manager=batch)
    +custom_reward_function.reward_kwargs.mix=/path/to/mix.toml     # or GRPO_MIX=/path/to/mix.toml

The mix is named by the ``mix`` reward kwarg or else the ``GRPO_MIX`` environment variable (a TOML
file with ``[[rewards]]``; a full training config works). It is built once per process and kept,
with its worker pool, until the process exits. The response reaches the rewards as the completion
(a string), ``ground_truth`` as the ``answer`` column (what ``math`` reads) and as ``ground_truth``,
``data_source`` and ``extra_info`` as columns, and each key of ``extra_info`` as a column of its own
where the name is free. verl needs a number: a sample no reward could score gets 0.0. With the
reward kwarg ``details=True`` the result is a dict, ``{"score": total, <reward name>: score (NaN
when unscorable), ...}``, which verl logs per reward.

verl imports this file under a name of its own (not as a package module), so every import here is
absolute. Calls are serialised by a lock: verl's reward loop may call from several threads.
"""
from __future__ import annotations

import atexit
import math
import os
import threading

from grpo_rewards.errors import ConfigError
from grpo_rewards.integrations import load_mix

ENV = "GRPO_MIX"
RESERVED = ("answer", "ground_truth", "data_source", "extra_info", "prompts", "completions", "completion_ids",
            "truncated")

_mixes: dict = {}
_lock = threading.Lock()


def _mix_for(path, workers):
    path = path or os.environ.get(ENV)
    if not path:
        raise ConfigError(f"grpo verl compute_score: no reward mix; set {ENV}=/path/to/mix.toml or "
                          f"custom_reward_function.reward_kwargs.mix")
    key = (os.path.abspath(os.fspath(path)), workers)
    if key not in _mixes:
        _mixes[key] = load_mix(os.fspath(path), pool_size=workers)
    return _mixes[key]


def _columns(ground_truths, data_sources, extra_infos) -> dict[str, list]:
    extras = [e if isinstance(e, dict) else {} for e in extra_infos]
    columns = {"answer": list(ground_truths), "ground_truth": list(ground_truths),
               "data_source": list(data_sources), "extra_info": list(extra_infos)}
    for key in sorted({k for e in extras for k in e if isinstance(k, str)}):
        if key not in RESERVED:
            columns[key] = [e.get(key) for e in extras]
    return columns


def _results(mix, result, details: bool) -> list:
    out = []
    for i, total in enumerate(result.total):
        score = 0.0 if total is None else float(total)
        if details:
            row = {"score": score}
            for name in mix.names:
                value = result.rewards[name][i]
                row[name] = math.nan if value is None else float(value)
            out.append(row)
        else:
            out.append(score)
    return out


def compute_score_batch(data_sources, solution_strs, ground_truths, extra_infos=None, *, mix=None,
                        details: bool = False, workers: int | None = None, **kwargs) -> list:
    """Score a batch of verl responses with the mix: one total (or dict, with ``details``) per response."""
    n = len(solution_strs)
    extra_infos = list(extra_infos) if extra_infos is not None else [None] * n
    with _lock:
        reward_mix = _mix_for(mix, workers)
        result = reward_mix.score([s if isinstance(s, str) else str(s) for s in solution_strs],
                                  **_columns(list(ground_truths), list(data_sources), extra_infos))
        return _results(reward_mix, result, details)


def compute_score(data_source, solution_str, ground_truth, extra_info=None, *, mix=None,
                  details: bool = False, workers: int | None = None, **kwargs):
    """verl's ``compute_score(data_source, solution_str, ground_truth, extra_info)``: the mix's total."""
    return compute_score_batch([data_source], [solution_str], [ground_truth], [extra_info], mix=mix,
                               details=details, workers=workers, **kwargs)[0]


@atexit.register
def _close() -> None:
    for reward_mix in _mixes.values():
        reward_mix.close()
    _mixes.clear()
