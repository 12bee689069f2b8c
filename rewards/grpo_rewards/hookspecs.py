"""The hooks a grpo plugin can implement. This module is the API reference.

A plugin is any installed distribution with an entry point in the ``grpo_rewards`` group whose
module defines functions marked with :data:`grpo_rewards.hookimpl`. Hook arguments are opt-in:
an implementation declares only the arguments it uses, so new ones can be added later.

Rewards and tasks need nothing but this SDK. Losses and advantage estimators are called by the
engine (grpo-core) with torch tensors; registering them needs only this SDK too, so a plugin
module can be imported (and listed by ``grpo plugins``) without torch.
"""
import pluggy

hookspec = pluggy.HookspecMarker("grpo_rewards")


@hookspec
def register_rewards(register):
    """Register rewards: call ``register(name, reward, *, factory=False, text=False)`` once per reward.

    ``reward`` is one of:

    - a function (or any callable) that scores a batch: it receives, by name, only the arguments it
      declares (``prompts``, ``completions``, ``completion_ids``, ``truncated``, every dataset column;
      ``**fields`` gets the rest) and returns one ``float`` or ``None`` (cannot be scored) per sample;
    - a class, built once with the mix entry's ``options`` as keyword arguments; its instances score;
    - with ``factory=True``, a callable that *builds* the reward: it is called once with the entry's
      ``options`` as keyword arguments and returns the scoring callable (open-r1's
      ``get_cosine_scaled_reward(**params)`` registers as it is).

    What ``prompts`` and ``completions`` hold (TRL's ``GRPOTrainer`` convention): for a conversational
    sample (its prompt is a list of ``{"role", "content"}`` messages, or its completion already is one)
    the prompt is that message list and the completion is a list holding one assistant message,
    ``[{"role": "assistant", "content": text}]``; otherwise both are strings. ``text=True`` asks for the
    pre-0.2 contract instead: completions always arrive as strings (message contents joined), prompts
    as the dataset holds them.
    """


@hookspec
def register_tasks(register):
    """Register prompt datasets: call ``register(name, factory)``; ``factory(split, seed, n, **options)``
    returns ``n`` rows (dicts holding the prompt column and any other columns) for ``split``."""


@hookspec
def register_losses(register):
    """Register policy losses: call ``register(name, loss)``; ``grpo.loss = "name"`` selects one.

    ``loss(inputs, **options)`` is called once per micro-batch with ``inputs`` a
    ``grpo_core.losses.LossInputs`` (torch tensors, B sequences of T completion tokens):

      logp [B, T] (carries the gradient), old_logp [B, T] (the sampling policy's, detached),
      ref_logp [B, T] or None (the reference's, when grpo.beta > 0), advantages [B, 1] (or [B, T]),
      mask [B, T] (1.0 on tokens that count), entropy [B, T] or None, ratio (exp(logp - old_logp) per
      token, or per sequence [B, 1] when grpo.importance_sampling_level = "sequence"), epsilon,
      epsilon_high, delta (the clip settings), batch_sequences, batch_tokens, max_completion_length,
      num_micro_batches (the batch normalisers).

    It returns the per-token loss ``[B, T]`` (or ``[B, 1]``, one value per sequence), or a pair
    ``(per_token_loss, stats)`` where ``stats`` maps a metric name to a per-token tensor whose
    token mean is logged. ``options`` are the ``grpo.loss_options`` table, checked against the
    function's signature before the model loads. The engine does the rest the same way for every
    loss: the top_entropy_quantile mask, the KL term (grpo.beta), the entropy bonus
    (grpo.entropy_coef), and the aggregation the loss names in its ``aggregation`` attribute:
    "token" (default: sum over tokens / batch_tokens), "sequence" (mean of each sequence's token
    mean), "micro_batch" (token mean of the micro-batch / num_micro_batches) or "constant"
    (sum / (batch_sequences * max_completion_length)).
    """


@hookspec
def register_advantages(register):
    """Register advantage estimators: call ``register(name, estimator)``; ``grpo.advantage = "name"`` selects one.

    ``estimator(inputs, **options)`` is called once per generation batch with ``inputs`` a
    ``grpo_core.losses.AdvantageInputs``: rewards [N, R] (each reward's score per sample, NaN where
    it returned None), weights [R] (the weights in force this step), total [N] (the weighted sum,
    NaN where no reward scored), num_generations (G: the N samples come in groups of G, one group
    per prompt), scale_rewards, multi_objective and names (the rewards' names, in mix order).
    It returns the advantages [N], or a pair ``(advantages, valid)`` where ``valid`` [N] bool marks
    the samples that enter the loss (default: those with a total). ``options`` are the
    ``grpo.advantage_options`` table.
    """
