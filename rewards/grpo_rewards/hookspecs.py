"""The hooks a grpo plugin can implement. This module is the API reference.

A plugin is any installed distribution with an entry point in the ``grpo_rewards`` group whose
module defines functions marked with :data:`grpo_rewards.hookimpl`. Hook arguments are opt-in:
an implementation declares only the arguments it uses, so new ones can be added later.
"""
import pluggy

hookspec = pluggy.HookspecMarker("grpo_rewards")


@hookspec
def register_rewards(register):
    """Register rewards: call ``register(name, reward)`` once for each reward the plugin offers."""


@hookspec
def register_tasks(register):
    """Register prompt datasets: call ``register(name, factory)``; ``factory(split, seed, **options)`` returns rows."""
