"""Helpers for testing a reward plugin in a few lines, through the real runtime.

    from grpo_rewards.testing import score
    import my_plugin

    def test_shouting():
        result = score(my_plugin, "shouting", completions=["HI", "hi"])
        assert result == [1.0, 0.0]

``score`` registers the plugin in a private registry (installed plugins are not loaded), builds a
one-reward mix with the given options, and scores through the same code path as `grpo score` and
training: argument binding, options, async, worker processes for isolated rewards, error policy.
"""
from __future__ import annotations

from .mix import MixScores, RewardMix
from .plugins import PluginInfo, Registry


def registry_with(*plugins) -> Registry:
    """A registry holding only the given plugin objects (modules or objects with hook methods)."""
    registry = Registry()
    for plugin in plugins:
        name = getattr(plugin, "__name__", type(plugin).__name__)
        registry.add(plugin, PluginInfo(name=name, distribution=None, version=None))
        info = registry.plugins[-1]
        if info.error:
            raise RuntimeError(f"plugin {name} failed to register: {info.error}")
    return registry


def mix(*plugins, rewards: list[dict], pool_size: int | None = None) -> RewardMix:
    """A RewardMix over the given plugins from ``[[rewards]]``-shaped dicts."""
    return RewardMix.from_config(rewards, registry=registry_with(*plugins), pool_size=pool_size)


def score_batch(plugin, use: str, *, options: dict | None = None, on_error: str = "raise",
                pool_size: int | None = None, **batch) -> MixScores:
    """Score ``batch`` (completions=[...], other columns as lists) with one reward; the full result."""
    with mix(plugin, rewards=[{"use": use, "options": options or {}, "on_error": on_error}],
             pool_size=pool_size) as m:
        return m.score(**batch)


def score(plugin, use: str, *, options: dict | None = None, **batch) -> list[float | None]:
    """The scores of one reward for ``batch``; errors raise (on_error = "raise")."""
    return score_batch(plugin, use, options=options, **batch).rewards[use]
