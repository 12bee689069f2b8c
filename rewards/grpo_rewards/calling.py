"""The reward-calling convention (DESIGN.md, "plugin contract").

A reward receives only the arguments it declares, by name, from the batch: ``prompts``,
``completions``, ``completion_ids``, ``truncated`` and every dataset column; a ``**fields``
parameter receives everything it did not name. This is TRL's convention, so TRL and open-r1
reward functions work unchanged. A registered class is built once with its config ``options``;
a registered factory (``factory=True``) is called once with them and returns the reward.
"""
from __future__ import annotations

import asyncio
import difflib
import inspect

from .errors import ConfigError, RewardError


def _signature(fn):
    try:
        return inspect.signature(fn)
    except (TypeError, ValueError):  # builtins without a signature: give them everything
        return None


def build(use: str, obj, options: dict, where: str, factory: bool = False):
    """Turn a registered reward into the callable that scores batches.

    Classes are instantiated once with ``options``; a factory is called once with them and returns
    the reward; a plain function takes options only when it declares them as keyword parameters
    (they are bound once, like a class's options).
    """
    if inspect.isclass(obj) or factory:
        is_class = inspect.isclass(obj)
        _check_options(use, obj.__init__ if is_class else obj, options, where, skip_first=is_class,
                       required=True)
        try:
            reward = obj(**options)
        except ConfigError:
            raise
        except (Exception, SystemExit) as exc:  # a plugin's sys.exit() is its failure, not the command's end
            raise ConfigError(f"{where} ({use}): could not be created with options {options}: "
                              f"{type(exc).__name__}: {exc}") from None
        if not callable(reward):
            raise ConfigError(f"{where} ({use}): the factory returned {type(reward).__name__}, not a reward")
        if not is_class:
            for attr in ("isolate", "timeout", "memory_limit_mb", "columns", "optional_columns"):  # marks what it builds
                if hasattr(obj, attr) and not hasattr(reward, attr):
                    setattr(reward, attr, getattr(obj, attr))
        return reward
    if options:
        _check_options(use, obj, options, where, skip_first=False)

        def bound(*args, **kwargs):
            return obj(*args, **kwargs, **options)

        bound.__signature__ = _without(_signature(obj), options)
        for attr in ("isolate", "timeout", "memory_limit_mb", "columns", "optional_columns"):
            if hasattr(obj, attr):
                setattr(bound, attr, getattr(obj, attr))
        bound.__wrapped_reward__ = obj
        return bound
    return obj


def _without(sig, names):
    if sig is None:
        return None
    return sig.replace(parameters=[p for p in sig.parameters.values() if p.name not in names])


def _check_options(use, fn, options, where, skip_first, required=False):
    sig = _signature(fn)
    if sig is None:
        return
    params = list(sig.parameters.values())[1 if skip_first else 0:]
    if any(p.kind is p.VAR_KEYWORD for p in params):
        return
    accepted = [p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    for key in options:
        if key not in accepted:
            close = difflib.get_close_matches(key, accepted, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            known = ", ".join(accepted) if accepted else "none"
            raise ConfigError(f"{where} ({use}): unknown option {key!r}{hint}; options: {known}")
    missing = [p.name for p in params if p.default is p.empty and p.kind is not p.VAR_POSITIONAL
               and p.name not in options and (required or p.name not in _BATCH_ARGS)]
    if required and missing:
        raise ConfigError(f"{where} ({use}): missing required option {missing[0]!r}")


_BATCH_ARGS = {"prompts", "completions", "completion_ids", "truncated"}


def arguments(fn, batch: dict[str, list], use: str) -> dict[str, list]:
    """The keyword arguments ``fn`` declares, taken from ``batch`` (name -> one value per sample)."""
    sig = _signature(fn)  # for an instance this is its __call__ without self
    if sig is None:
        return dict(batch)
    kwargs, var_kw = {}, False
    for p in sig.parameters.values():
        if p.kind is p.VAR_KEYWORD:
            var_kw = True
        elif p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY):
            if p.name in batch:
                kwargs[p.name] = batch[p.name]
            elif p.name in getattr(fn, "optional_columns", ()):  # declared optional: None for every sample
                kwargs[p.name] = [None] * len(batch.get("completions", ()))
            elif p.default is p.empty:
                have = ", ".join(sorted(batch))
                raise RewardError(f"reward {use!r} needs the argument {p.name!r}, which the batch does not "
                                  f"have (it has: {have})")
    if var_kw:
        kwargs.update({k: v for k, v in batch.items() if k not in kwargs})
    return kwargs


def call(fn, kwargs: dict):
    """Call a reward; an ``async def`` reward (or one returning an awaitable) is awaited."""
    result = fn(**kwargs)
    if inspect.isawaitable(result):
        result = _run(result)
    return result


def _run(awaitable):
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(_await(awaitable))
    # Already inside an event loop (a notebook, an async host): run it on a private loop in a thread.
    import concurrent.futures

    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, _await(awaitable)).result()


async def _await(awaitable):
    return await awaitable
