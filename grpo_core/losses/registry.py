"""Finding a loss or an advantage estimator by name, and checking its options, before any model loads.

The names come from the plugin registry (grpo_rewards.plugins), where the built-ins sit beside any
plugin's. A mistake (an unknown name, an option the function does not take) is one ConfigError line
naming the key and listing what is installed.
"""
from __future__ import annotations

import difflib
import inspect

from grpo_rewards import plugins
from grpo_rewards.errors import ConfigError

from . import AGGREGATIONS, builtin

KINDS = {"loss": "losses", "advantage": "advantages"}  # config key -> registry table


def training_registry(registry: plugins.Registry | None = None) -> plugins.Registry:
    """The plugin registry, with the built-in losses in it even when GRPO_PLUGINS left grpo-core out."""
    registry = registry if registry is not None else plugins.registry()
    if not any(name in registry.losses for name in builtin.LOSSES):
        registry.add(builtin, plugins.PluginInfo(name="losses", distribution="grpo-core", version=None))
    return registry


def find(kind: str, name: str, registry: plugins.Registry | None = None):
    """The callable registered as loss/advantage ``name``; a ConfigError listing the installed ones otherwise."""
    table = getattr(training_registry(registry), KINDS[kind])
    if name in table:
        return table[name].obj
    installed = sorted(table)
    close = difflib.get_close_matches(name, installed, n=1, cutoff=0.5)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    raise ConfigError(f"grpo.{kind}: unknown {kind} {name!r}.{hint} Installed {KINDS[kind]}: {', '.join(installed)}")


def check_options(kind: str, name: str, fn, options: dict) -> None:
    """The options table must fit ``fn(inputs, **options)``: no unknown option, none required left out."""
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError):  # a builtin or C callable: nothing to check here
        return
    try:
        signature.bind(None, **options)
    except TypeError as exc:
        declared = [p for p in list(signature.parameters)[1:]
                    if signature.parameters[p].kind is inspect.Parameter.KEYWORD_ONLY
                    or signature.parameters[p].kind is inspect.Parameter.POSITIONAL_OR_KEYWORD]
        takes = f"it takes {', '.join(declared)}" if declared else "it takes no options"
        raise ConfigError(f"grpo.{kind}_options: {kind} {name!r}: {exc} ({takes})") from None


def check(grpo_cfg, registry: plugins.Registry | None = None) -> tuple:
    """Resolve grpo.loss and grpo.advantage and check their options; returns (loss, estimator)."""
    loss = find("loss", grpo_cfg.loss, registry)
    aggregation = getattr(loss, "aggregation", "token")
    if aggregation not in AGGREGATIONS:
        raise ConfigError(f"grpo.loss: loss {grpo_cfg.loss!r} declares aggregation {aggregation!r}; "
                          f"it must be one of {', '.join(AGGREGATIONS)} (a bug in the plugin that registers it)")
    check_options("loss", grpo_cfg.loss, loss, grpo_cfg.loss_options)
    estimator = find("advantage", grpo_cfg.advantage, registry)
    check_options("advantage", grpo_cfg.advantage, estimator, grpo_cfg.advantage_options)
    return loss, estimator
