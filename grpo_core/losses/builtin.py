"""The built-in losses and advantage estimator, registered through the same hooks a plugin uses.

grpo-core's entry point `losses` points here, so `grpo plugins` lists these and `grpo.loss = "cispo"`
finds CISPO exactly as it would find a plugin's loss. registry.py also adds this module by hand when
GRPO_PLUGINS leaves grpo-core out: the engine cannot train without a loss.
"""
from __future__ import annotations

import functools

from grpo_rewards import hookimpl

from . import advantages, objectives


def _loss(objective, aggregation: str, doc: str):
    """A named loss: ``objective`` aggregated as ``aggregation`` (its signature and options stay visible)."""
    @functools.wraps(objective)
    def loss(inputs, **options):
        return objective(inputs, **options)

    loss.aggregation = aggregation
    loss.__doc__ = doc
    return loss


# The clipped surrogate under four aggregations (see AGGREGATIONS), then the two other objectives.
LOSSES = {
    # GRPO (DeepSeekMath, arXiv:2402.03300): each sequence weighs the same, whatever its length
    "grpo": _loss(objectives.clipped_surrogate, "sequence", "clipped surrogate, mean of sequence means"),
    # BNPO (arXiv:2506.02864): token mean of each micro-batch
    "bnpo": _loss(objectives.clipped_surrogate, "micro_batch", "clipped surrogate, token mean per micro-batch"),
    # Dr. GRPO (arXiv:2503.20783): a constant normaliser, so no length bias and no std bias in the sum
    "dr_grpo": _loss(objectives.clipped_surrogate, "constant", "clipped surrogate, sum / (sequences x max length)"),
    # DAPO (arXiv:2503.14476): token mean over the whole generation batch
    "dapo": _loss(objectives.clipped_surrogate, "token", "clipped surrogate, token mean of the generation batch"),
    "cispo": _loss(objectives.cispo, "token", "clipped stop-gradient importance weight on REINFORCE (MiniMax-M1)"),
    "sapo": _loss(objectives.sapo, "sequence", "soft sigmoid gate instead of a hard clip (SAPO)"),
}

ADVANTAGES = {"grpo": advantages.grpo}


@hookimpl
def register_losses(register):
    for name, loss in LOSSES.items():
        register(name, loss)


@hookimpl
def register_advantages(register):
    for name, estimator in ADVANTAGES.items():
        register(name, estimator)
