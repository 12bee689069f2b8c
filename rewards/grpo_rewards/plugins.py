"""Plugin discovery: entry points in the ``grpo_rewards`` group, loaded through pluggy.

``GRPO_PLUGINS`` selects what loads: unset loads every installed plugin, a comma-separated list of
distribution names loads only those, and the empty string loads none. Loading is lazy (the first
call to :func:`registry`) and a plugin that fails to import or register is reported once on
stderr and left out, so one broken package never takes the others down: that includes a plugin
that calls ``sys.exit()`` or raises another BaseException (all but KeyboardInterrupt, which stays
the user's). A plugin whose import takes more than SLOW_IMPORT_SECONDS is named on stderr while it
loads, so a stalled command says why.
"""
from __future__ import annotations

import contextlib
import importlib.metadata
import os
import sys
import threading
from dataclasses import dataclass, field

import pluggy

from . import hookspecs

ENTRY_POINT_GROUP = "grpo_rewards"
SLOW_IMPORT_SECONDS = float(os.environ.get("GRPO_SLOW_IMPORT_SECONDS", 5.0))  # sympy alone: 1-2 s, quiet 2 cores


def _failure(exc: BaseException) -> str:
    """What a plugin failure says: the exception's type and message (SystemExit's code included)."""
    if isinstance(exc, SystemExit):
        return f"SystemExit: the plugin called sys.exit({exc.code!r})"
    return f"{type(exc).__name__}: {exc}"


@dataclass
class PluginInfo:
    """One plugin as `grpo plugins` shows it."""

    name: str                      # entry point name (or the module name for a plugin registered directly)
    distribution: str | None       # the pip distribution that provides it
    version: str | None
    rewards: list[str] = field(default_factory=list)
    tasks: list[str] = field(default_factory=list)
    losses: list[str] = field(default_factory=list)
    advantages: list[str] = field(default_factory=list)
    error: str | None = None       # why it failed to load, when it did


@dataclass
class Registered:
    name: str
    obj: object                    # the callable or class the plugin registered
    plugin: PluginInfo
    factory: bool = False          # obj(**options) builds the reward (register(..., factory=True))
    text: bool = False             # completions always as text (register(..., text=True))


class Registry:
    """What the loaded plugins registered (rewards, tasks, losses, advantage estimators) by name, and the plugins."""

    # hook name -> the attribute of this registry (and of PluginInfo) that collects what it registers
    HOOKS = {"register_rewards": "rewards", "register_tasks": "tasks", "register_losses": "losses",
             "register_advantages": "advantages"}

    def __init__(self):
        self.pm = pluggy.PluginManager(ENTRY_POINT_GROUP)
        self.pm.add_hookspecs(hookspecs)
        self.plugins: list[PluginInfo] = []
        self.rewards: dict[str, Registered] = {}
        self.tasks: dict[str, Registered] = {}
        self.losses: dict[str, Registered] = {}
        self.advantages: dict[str, Registered] = {}

    def add(self, module, info: PluginInfo) -> None:
        """Register one plugin object (a module, usually) and collect what its hooks register."""
        self.plugins.append(info)
        try:
            self.pm.register(module, name=f"{info.distribution or ''}:{info.name}")
            self.pm.check_pending()  # a misspelt hook name fails loudly instead of doing nothing
            for hook_name, kind in self.HOOKS.items():
                self._collect(module, hook_name, getattr(self, kind), getattr(info, kind), info)
        except (Exception, SystemExit) as exc:  # a broken plugin is reported, never fatal to the others
            info.error = _failure(exc)
            if self.pm.is_registered(module):
                self.pm.unregister(module)
            for kind in self.HOOKS.values():
                table, names = getattr(self, kind), getattr(info, kind)
                for name in names:
                    table.pop(name, None)
                names.clear()
            _report(info)

    def _collect(self, module, hook_name, table, names, info):
        def add(name, obj, **flags):
            if not isinstance(name, str) or not name or any(c.isspace() for c in name):
                raise ValueError(f"invalid name {name!r}: use a non-empty string without spaces")
            if not callable(obj):
                raise TypeError(f"{name!r} is not callable")
            if name in table:
                other = table[name].plugin
                raise ValueError(f"{name!r} is already registered by {other.distribution or other.name}")
            table[name] = Registered(name, obj, info, **flags)
            names.append(name)

        def register_reward(name, reward, *, factory=False, text=False):
            add(name, reward, factory=bool(factory), text=bool(text))

        def register_other(name, obj):  # a task factory, a loss, an advantage estimator
            add(name, obj)

        register = register_reward if hook_name == "register_rewards" else register_other

        for impl in getattr(self.pm.hook, hook_name).get_hookimpls():
            if impl.plugin is module:
                # Hook arguments are opt-in: pass only what the implementation declares.
                impl.function(**{arg: register for arg in impl.argnames if arg == "register"})

    @property
    def failed(self) -> list[PluginInfo]:
        return [p for p in self.plugins if p.error]


def _normalise(name: str) -> str:
    return name.strip().lower().replace("_", "-").replace(".", "-")


def allowed_distributions() -> set[str] | None:
    """The distributions GRPO_PLUGINS allows, or None for all of them."""
    value = os.environ.get("GRPO_PLUGINS")
    if value is None:
        return None
    return {_normalise(part) for part in value.split(",") if part.strip()}


_reported: set[str] = set()


def _report(info: PluginInfo) -> None:
    key = f"{info.distribution}:{info.name}"
    if key not in _reported:  # once per process, however often plugins are loaded
        _reported.add(key)
        print(f"grpo: plugin {info.distribution or info.name} ({info.name}) failed to load: {info.error}",
              file=sys.stderr)


def load_entry_points(registry: Registry) -> Registry:
    allow = allowed_distributions()
    seen = set()
    for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        dist = ep.dist.name if ep.dist else None
        version = ep.dist.version if ep.dist else None
        if (dist, ep.name) in seen:  # the same distribution can appear twice on sys.path
            continue
        seen.add((dist, ep.name))
        if allow is not None and _normalise(dist or ep.name) not in allow:
            continue
        info = PluginInfo(name=ep.name, distribution=dist, version=version)
        try:
            with _named_if_slow(f"{dist or ep.name} ({ep.value})"):
                module = ep.load()
        except KeyboardInterrupt:
            raise
        except BaseException as exc:  # SystemExit, GeneratorExit...: a failed plugin, not the end of grpo
            info.error = _failure(exc)
            registry.plugins.append(info)
            _report(info)
            continue
        registry.add(module, info)
    if allow:
        loaded = {_normalise(p.distribution or p.name) for p in registry.plugins}
        for missing in sorted(allow - loaded):
            print(f"grpo: GRPO_PLUGINS names {missing!r}, which is not installed", file=sys.stderr)
    return registry


@contextlib.contextmanager
def _named_if_slow(what: str):
    """Say on stderr which plugin is loading when its import takes more than SLOW_IMPORT_SECONDS."""
    done = threading.Event()

    def notice():
        if not done.wait(SLOW_IMPORT_SECONDS):
            print(f"grpo: still importing plugin {what} after {SLOW_IMPORT_SECONDS:g} s...", file=sys.stderr,
                  flush=True)

    watcher = threading.Thread(target=notice, name="grpo-plugin-import", daemon=True)
    watcher.start()
    try:
        yield
    finally:
        done.set()
        watcher.join()


_default: Registry | None = None


def registry() -> Registry:
    """The process-wide registry of installed plugins, loaded on first use."""
    global _default
    if _default is None:
        _default = load_entry_points(Registry())
    return _default


def reset() -> None:
    """Forget the loaded plugins (tests, or after installing a plugin in a running process)."""
    global _default
    _default = None
