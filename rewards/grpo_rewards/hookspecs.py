"""The hooks a grpo plugin can implement. This module is the API reference.

A plugin is any installed distribution with an entry point in the ``grpo_rewards`` group whose
module defines functions marked with :data:`grpo_rewards.hookimpl`. Hook arguments are opt-in:
an implementation declares only the arguments it uses, so new ones can be added later.
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
