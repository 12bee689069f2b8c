"""A reward mix: the ``[[rewards]]`` tables of a config, combined into one score per sample.

Each entry picks a registered reward by name (``use``), with a ``weight`` (default 1.0), an
``options`` table, an optional display ``name`` (to use one reward twice) and an ``on_error``
policy. The total of a sample is the weighted sum of the rewards that scored it; a sample no
reward could score has total ``None`` (left out of its group's baseline by the engine).

The mix is also where completions take the form each reward asked for (text.completion_forms):
TRL's chat form for a conversational sample, strings for plain text and for ``text=True`` rewards.

A weight is a number or a schedule, ``{ start = 1.0, end = 0.2, steps = 100, shape = "linear" }``
(or "cosine"): the weight moves from ``start`` at training step 1 to ``end`` at step ``steps + 1``
and stays there. ``set_step`` tells the mix which step it is scoring for (offline scoring uses the
start). A reward whose weight in force is 0 is still scored and logged, but never summed.

Error policy (``on_error``), for a reward that raises, returns the wrong number of scores, or
returns NaN, an infinity or a non-number:
  - "skip" (default): the affected samples count as unscorable (``None``) for that reward;
  - "zero": the affected samples score 0.0;
  - "raise": scoring stops with an error naming the reward.
When a batch call raises, the reward is called again one sample at a time, so only the samples
that really fail are affected; a wrong-length result cannot be attributed, so the whole batch is.
Scores never move between samples. Isolated rewards that exceed their time limit, or whose worker
dies, score 0.0 and are counted as timeouts, whatever the policy.
"""
from __future__ import annotations

import difflib
import math
import numbers
import sys
from dataclasses import dataclass, field

from . import calling, plugins
from .errors import ConfigError, RewardError
from .runtime import CRASH, ERROR, OK, TIMEOUT, WorkerPool
from .text import completion_forms

ENTRY_KEYS = ("use", "weight", "options", "name", "on_error")
ON_ERROR = ("skip", "zero", "raise")


SCHEDULE_KEYS = ("start", "end", "steps", "shape")
SHAPES = ("linear", "cosine")


@dataclass(frozen=True)
class Schedule:
    """A reward weight that changes with the training step."""

    start: float
    end: float
    steps: int
    shape: str = "linear"

    def at(self, step: int) -> float:
        """The weight in force at training step ``step`` (1-based): ``start`` at step 1, ``end`` from steps + 1 on."""
        progress = min(1.0, max(0, step - 1) / self.steps)
        if self.shape == "cosine":  # slow at both ends, like a cosine learning-rate schedule
            progress = (1.0 - math.cos(math.pi * progress)) / 2.0
        return self.start + (self.end - self.start) * progress


@dataclass
class Component:
    name: str
    use: str
    weight: float                  # the weight in force (a schedule's value at the mix's current step)
    on_error: str
    fn: object
    isolate: bool
    timeout: float
    memory_limit_mb: int | None
    plugin: str | None
    text: bool = False          # registered with text=True: completions always as strings
    schedule: Schedule | None = None


@dataclass
class Counts:
    """What happened to one reward's samples: scored, unscorable (None), errors and timeouts.

    ``scored`` counts every sample with a number, including the 0.0 of a timeout or of an error
    under ``on_error = "zero"``; ``answered`` only the numbers the reward itself returned.
    """

    scored: int = 0
    unscorable: int = 0
    errors: int = 0
    timeouts: int = 0
    answered: int = 0
    first_error: str | None = None

    def add(self, other: "Counts") -> None:
        self.scored += other.scored
        self.unscorable += other.unscorable
        self.errors += other.errors
        self.timeouts += other.timeouts
        self.answered += other.answered
        self.first_error = self.first_error or other.first_error


@dataclass
class MixScores:
    total: list[float | None]
    rewards: dict[str, list[float | None]]           # reward name -> one score (or None) per sample
    weights: dict[str, float]
    counts: dict[str, Counts] = field(default_factory=dict)


class RewardMix:
    def __init__(self, components: list[Component], pool_size: int | None = None):
        if not components:
            raise ConfigError("rewards: the mix is empty; add at least one [[rewards]] table")
        self.components = components
        self._pool_size = pool_size
        self._pool: WorkerPool | None = None
        self._warned: set[str] = set()

    @classmethod
    def from_config(cls, entries, registry: plugins.Registry | None = None, pool_size: int | None = None,
                    where: str = "rewards") -> "RewardMix":
        registry = registry if registry is not None else plugins.registry()
        if not isinstance(entries, list) or not entries:
            raise ConfigError(f"{where}: expected at least one [[rewards]] table with a 'use' key")
        components, names = [], set()
        for i, entry in enumerate(entries):
            at = f"{where}[{i}]"
            if not isinstance(entry, dict):
                raise ConfigError(f"{at}: expected a table, got {type(entry).__name__}")
            for key in entry:
                if key not in ENTRY_KEYS:
                    close = difflib.get_close_matches(key, ENTRY_KEYS, n=1)
                    hint = f" (did you mean {close[0]!r}?)" if close else ""
                    raise ConfigError(f"{at}: unknown key {key!r}{hint}; keys: {', '.join(ENTRY_KEYS)}")
            use = entry.get("use")
            if not isinstance(use, str) or not use:
                raise ConfigError(f"{at}: 'use' must name a registered reward")
            if use not in registry.rewards:
                raise RewardError(unknown_reward_message(use, registry, at))
            schedule = _schedule(entry["weight"], f"{at}.weight") if isinstance(entry.get("weight"), dict) else None
            weight = schedule.start if schedule else entry.get("weight", 1.0)
            if not _finite(weight):
                raise ConfigError(f"{at}.weight: expected a finite number or a schedule table "
                                  f"{{ start, end, steps, shape }}, got {weight!r}")
            options = entry.get("options", {})
            if not isinstance(options, dict):
                raise ConfigError(f"{at}.options: expected a table, got {type(options).__name__}")
            on_error = entry.get("on_error", "skip")
            if on_error not in ON_ERROR:
                raise ConfigError(f"{at}.on_error must be one of {', '.join(ON_ERROR)} (got {on_error!r})")
            name = entry.get("name", use)
            if not isinstance(name, str) or not name:
                raise ConfigError(f"{at}.name: expected a non-empty string")
            if name in names:
                raise ConfigError(f"{at}: reward name {name!r} is used twice; give one of them a distinct 'name'")
            names.add(name)
            registered = registry.rewards[use]
            fn = calling.build(use, registered.obj, dict(options), at, factory=registered.factory)
            components.append(Component(
                name=name, use=use, weight=float(weight), on_error=on_error, fn=fn,
                isolate=bool(getattr(fn, "isolate", False)),
                timeout=float(getattr(fn, "timeout", 1.0) or 1.0),
                memory_limit_mb=getattr(fn, "memory_limit_mb", 1024),
                plugin=registered.plugin.distribution or registered.plugin.name, text=registered.text,
                schedule=schedule))
        return cls(components, pool_size=pool_size)

    def set_step(self, step: int) -> None:
        """Score with the weights in force at training step ``step`` from now on (schedules move; numbers stay)."""
        for comp in self.components:
            if comp.schedule is not None:
                comp.weight = comp.schedule.at(step)

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.components]

    def start(self) -> None:
        """Start the worker processes now rather than on the first isolated call."""
        if any(c.isolate for c in self.components):
            self._ensure_pool().start()

    def _ensure_pool(self) -> WorkerPool:
        if self._pool is None:
            self._pool = WorkerPool([c.fn for c in self.components], size=self._pool_size)
        return self._pool

    def check_columns(self, available, source: str) -> None:
        """Fail in one line when a reward needs a column ``available`` lacks (inputs.py)."""
        from .inputs import check_columns

        check_columns(self, set(available), source)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.close()
            self._pool = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def score(self, completions: list, prompts: list | None = None, **columns: list) -> MixScores:
        """Score one batch. ``completions`` are strings or chat messages, ``prompts`` what the dataset
        holds; ``columns`` are per-sample lists: dataset columns, ``completion_ids``, ..."""
        batches, n = self._batches(completions, prompts, columns)
        result = MixScores(total=[None] * n, rewards={}, weights={c.name: c.weight for c in self.components})
        for index, comp in enumerate(self.components):
            scores, counts = self._score_component(index, comp, batches[comp.text], n)
            result.rewards[comp.name], result.counts[comp.name] = scores, counts
            if comp.weight == 0:  # logged, never summed: it cannot turn an unscorable sample into a 0
                continue
            for i, s in enumerate(scores):
                if s is not None:
                    result.total[i] = (result.total[i] or 0.0) + comp.weight * s
        return result

    def score_reward(self, name: str, /, completions: list, prompts: list | None = None,
                     **columns: list) -> tuple[list[float | None], Counts]:
        """Score one batch with the mix's reward ``name`` alone (unweighted): its scores and counts."""
        for index, comp in enumerate(self.components):
            if comp.name == name:
                batches, n = self._batches(completions, prompts, columns)
                return self._score_component(index, comp, batches[comp.text], n)
        raise KeyError(f"the mix has no reward named {name!r} (it has: {', '.join(self.names)})")

    def _batches(self, completions, prompts, columns) -> tuple[dict[bool, dict], int]:
        """The batch each kind of reward receives: {text?: {argument: one value per sample}}."""
        n = len(completions)
        prompts = list(prompts) if prompts is not None else [None] * n
        if len(prompts) != n:
            raise ValueError(f"{len(prompts)} prompts for {n} completions")
        native, texts = completion_forms(list(completions), prompts)
        shared = {}
        for key, values in columns.items():
            if len(values) != n:
                raise ValueError(f"column {key!r} has {len(values)} values for {n} completions")
            shared[key] = list(values)
        return ({False: {"prompts": prompts, "completions": native, **shared},
                 True: {"prompts": prompts, "completions": texts, **shared}}, n)

    def _score_component(self, index, comp, batch, n) -> tuple[list[float | None], Counts]:
        counts = Counts()
        if n:
            scores = self._score_isolated(index, comp, batch, n, counts) if comp.isolate \
                else self._score_inline(comp, batch, n, counts)
        else:
            scores = []
        counts.scored = sum(s is not None for s in scores)
        counts.unscorable = n - counts.scored
        return scores, counts

    def _score_inline(self, comp, batch, n, counts) -> list[float | None]:
        kwargs = calling.arguments(comp.fn, batch, comp.use)
        try:
            values = calling.call(comp.fn, kwargs)
        except RewardError:
            raise
        except (Exception, SystemExit) as exc:  # sys.exit() in a reward fails its samples, not the run
            if n == 1:
                return self._fail(comp, 1, f"raised {type(exc).__name__}: {exc}", counts)
            # Find the samples that really fail, so the others keep their scores.
            scores: list[float | None] = []
            for i in range(n):
                scores.extend(self._score_inline(comp, _one(kwargs, i), 1, counts))
            return scores
        return self._check(comp, values, n, counts)

    def _score_isolated(self, index, comp, batch, n, counts) -> list[float | None]:
        kwargs = calling.arguments(comp.fn, batch, comp.use)
        outcomes = self._ensure_pool().run(index, [_one(kwargs, i) for i in range(n)],
                                           comp.timeout, comp.memory_limit_mb)
        scores: list[float | None] = [None] * n
        for i, outcome in enumerate(outcomes):
            if outcome.kind == OK:
                scores[i] = self._check(comp, outcome.value, 1, counts)[0]
            elif outcome.kind == ERROR:
                scores[i] = self._fail(comp, 1, f"raised {outcome.value}", counts)[0]
            elif outcome.kind in (TIMEOUT, CRASH):
                counts.timeouts += 1
                scores[i] = 0.0
        return scores

    def _check(self, comp, values, n, counts) -> list[float | None]:
        """Validate what a reward returned: one finite number or None per sample."""
        try:
            values = list(values)
        except TypeError:
            return self._fail(comp, n, f"returned {type(values).__name__}, not a list", counts)
        if len(values) != n:
            return self._fail(comp, n,
                              f"returned {len(values)} scores for {n} samples", counts)
        scores: list[float | None] = []
        for i, value in enumerate(values):
            if value is None:
                scores.append(None)
                continue
            try:
                if isinstance(value, (str, bytes)):
                    raise TypeError
                score = float(value)
            except (TypeError, ValueError):
                scores.extend(self._fail(comp, 1, f"returned {repr(value)[:80]}, not a number", counts))
                continue
            if not math.isfinite(score):
                scores.extend(self._fail(comp, 1, f"returned {score} for a sample", counts))
                continue
            counts.answered += 1
            scores.append(score)
        return scores

    def _fail(self, comp, count, message, counts) -> list[float | None]:
        """Apply the reward's on_error policy to ``count`` samples; returns their scores."""
        text = f"reward {comp.name!r} ({comp.plugin}) {message}"
        if comp.on_error == "raise":
            raise RewardError(text)
        counts.errors += count
        counts.first_error = counts.first_error or text
        if comp.name not in self._warned:  # once per reward; the counts go into every summary
            self._warned.add(comp.name)
            print(f"grpo: {text}; affected samples are {'skipped' if comp.on_error == 'skip' else 'scored 0'} "
                  f"(on_error = {comp.on_error!r}); further errors are only counted", file=sys.stderr)
        return [None if comp.on_error == "skip" else 0.0] * count


def _finite(value) -> bool:
    return not isinstance(value, bool) and isinstance(value, numbers.Real) and math.isfinite(value)


def _schedule(table: dict, at: str) -> Schedule:
    for key in table:
        if key not in SCHEDULE_KEYS:
            raise ConfigError(f"{at}: unknown key {key!r} in a weight schedule; keys: {', '.join(SCHEDULE_KEYS)}")
    for key in ("start", "end", "steps"):
        if key not in table:
            raise ConfigError(f"{at}: a weight schedule needs {key!r} (keys: start, end, steps, shape)")
    for key in ("start", "end"):
        if not _finite(table[key]):
            raise ConfigError(f"{at}.{key}: expected a finite number, got {table[key]!r}")
    steps, shape = table["steps"], table.get("shape", "linear")
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ConfigError(f"{at}.steps: expected a whole number of steps, at least 1, got {steps!r}")
    if shape not in SHAPES:
        raise ConfigError(f"{at}.shape must be one of {', '.join(SHAPES)} (got {shape!r})")
    return Schedule(float(table["start"]), float(table["end"]), steps, shape)


def _one(kwargs: dict, i: int) -> dict:
    """The batch of one: sample ``i`` of every argument."""
    return {key: [values[i]] for key, values in kwargs.items()}


def unknown_reward_message(use: str, registry: plugins.Registry, where: str = "rewards") -> str:
    installed = sorted(registry.rewards)
    close = difflib.get_close_matches(use, installed, n=1, cutoff=0.5)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    listing = ", ".join(installed) if installed else "none (is a plugin installed? see `grpo plugins`)"
    return f"{where}: unknown reward {use!r}.{hint} Installed rewards: {listing}"
