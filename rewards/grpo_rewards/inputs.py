"""Which dataset columns a reward needs, checked before any work starts.

A reward that needs a column the data lacks would otherwise fail on every sample, and under the
default ``on_error = "skip"`` a whole training run would go by with that reward silently absent.
The engine and `grpo score` call :func:`check_columns` with the columns they have, before a model
loads or a row is scored, and stop with one line naming the reward and the column.

What a reward needs (the plugin contract, docs/writing-plugins.md):

- every named argument without a default, other than the batch arguments (``prompts``,
  ``completions``, ``completion_ids``, ``truncated``), is a required column;
- a named argument with a default is optional: when the data lacks the column the reward is called
  without it and gets its default;
- a reward that reads columns through ``**fields`` (a column named by an option, for example)
  declares them in the attribute ``columns``; ``optional_columns`` lists the ones it can do
  without. A named argument without a default listed in ``optional_columns`` receives ``None``
  for every sample when the data lacks it. The :func:`columns` decorator sets both attributes; a
  class may set them itself, on the class or per instance from its options.
"""
from __future__ import annotations

from .errors import ConfigError

BATCH_ARGUMENTS = ("prompts", "completions", "completion_ids", "truncated")


def columns(*required: str, optional=()):
    """Declare the dataset columns a reward reads: ``@columns("answer", optional=("hint",))``."""
    def mark(obj):
        obj.columns = tuple(required)
        obj.optional_columns = tuple(optional)
        return obj

    return mark


def optional_columns(fn) -> set[str]:
    return set(getattr(fn, "optional_columns", ()) or ())


def required_columns(fn) -> list[str]:
    """The columns ``fn`` cannot be called without, in the order it names them."""
    from .calling import _signature

    optional = optional_columns(fn)
    needed = [str(c) for c in (getattr(fn, "columns", ()) or ())]
    sig = _signature(fn)
    if sig is not None:
        for p in sig.parameters.values():
            if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and p.default is p.empty:
                needed.append(p.name)
    seen, out = set(), []
    for name in needed:
        if name not in seen and name not in optional and name not in BATCH_ARGUMENTS:
            seen.add(name)
            out.append(name)
    return out


def check_columns(mix, available, source: str, where: str = "rewards") -> None:
    """Raise ConfigError naming the first reward of ``mix`` that needs a column not in ``available``."""
    have = set(available)
    for index, comp in enumerate(mix.components):
        for name in required_columns(comp.fn):
            if name not in have:
                listing = ", ".join(sorted(have - set(BATCH_ARGUMENTS))) or "none"
                raise ConfigError(f"{where}[{index}] ({comp.name}): needs the column {name!r}, which {source} "
                                  f"does not have (columns: {listing})")
