"""Synthetic integer arithmetic problems: ``What is 23 + 58?`` -> ``"81"``.

``generate(split, seed, n, **options)`` returns ``n`` rows ``{"prompt": str, "answer": str}``,
deterministic in ``(split, seed, n, options)`` and independent of any global random state.

Train and test never share a problem, by construction, for every pair of seeds: each problem
(its canonical expression text) is assigned to the held-out part of the problem space by a stable
hash (``holdout`` of the space, 20% by default). The ``"test"`` split draws only held-out problems
and the ``"train"`` split only the others, so no seed of one split can produce a problem of the other.
On top of that, the random stream of each split is seeded from ``(split, seed)``, so ``train`` and
``test`` with the same seed are unrelated streams. Within one call the rows are distinct as long as
the problem space is large enough (with a tiny space, repeats are allowed rather than looping).

Options:

``operations``   characters drawn from ``+ - *`` for each operator, e.g. ``"+"`` (default) or ``"+-"``.
``max_operand``  largest operand (default 99: two-digit numbers); ``min_operand`` smallest (default 0).
``num_operands`` operands per expression (default 2); evaluated left to right with ``*`` binding tighter.
``holdout``      share of the problem space reserved for the test split (default 0.2).

The answer is computed with integer arithmetic, never by evaluating text.
"""
import random
import zlib

__all__ = ["generate", "SPLITS"]

SPLITS = ("train", "test")
_ALIASES = {"eval": "test", "validation": "test", "valid": "test"}
_OPERATORS = "+-*"
_MAX_TRIES = 50
_MAX_FALLBACK_TRIES = 10_000


def _canonical_split(split):
    if not isinstance(split, str):
        raise ValueError(f"arithmetic: split must be a string, got {split!r:.40}")
    name = _ALIASES.get(split.strip().lower(), split.strip().lower())
    if name not in SPLITS:
        raise ValueError(f"arithmetic: unknown split {split!r:.40} (use 'train' or 'test')")
    return name


def _check_int(name, value, low=None):
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"arithmetic: option {name} must be an integer, got {value!r:.40}")
    if low is not None and value < low:
        raise ValueError(f"arithmetic: option {name} must be >= {low}, got {value}")
    return value


def _evaluate(operands, operators):
    """Integer value of ``a op b op c ...`` with ``*`` before ``+``/``-``, left to right."""
    terms = [operands[0]]
    signs = [1]
    for op, value in zip(operators, operands[1:]):
        if op == "*":
            terms[-1] *= value
        else:
            terms.append(value)
            signs.append(1 if op == "+" else -1)
    return sum(s * t for s, t in zip(signs, terms))


def is_held_out(expression, holdout=0.2):
    """True when the problem ``expression`` (e.g. ``"23 + 58"``) belongs to the test split."""
    bucket = zlib.crc32(expression.encode("utf-8")) % 10_000
    return bucket < round(holdout * 10_000)


def generate(split="train", seed=0, n=100, *, operations="+", max_operand=99, min_operand=0,
             num_operands=2, holdout=0.2):
    split = _canonical_split(split)
    _check_int("seed", seed)
    _check_int("n", n, 0)
    _check_int("max_operand", max_operand, 0)
    _check_int("min_operand", min_operand, 0)
    _check_int("num_operands", num_operands, 2)
    if min_operand > max_operand:
        raise ValueError(f"arithmetic: min_operand ({min_operand}) is larger than max_operand ({max_operand})")
    if not isinstance(operations, str) or not operations or any(c not in _OPERATORS for c in operations):
        raise ValueError(f"arithmetic: operations must be a non-empty string of {_OPERATORS!r}, got {operations!r:.40}")
    if isinstance(holdout, bool) or not isinstance(holdout, (int, float)) or not 0 < holdout < 1:
        raise ValueError(f"arithmetic: holdout must be a number strictly between 0 and 1, got {holdout!r:.40}")
    ops = sorted(set(operations), key=_OPERATORS.index)

    # A string seed is hashed with SHA-512 by `random`, so the stream does not depend on PYTHONHASHSEED.
    rng = random.Random(f"grpo_core.tasks.arithmetic/{split}/{seed}")
    want_held_out = split == "test"
    def draw():
        operands = [rng.randint(min_operand, max_operand) for _ in range(num_operands)]
        operators = [rng.choice(ops) for _ in range(num_operands - 1)]
        expression = str(operands[0]) + "".join(f" {op} {v}" for op, v in zip(operators, operands[1:]))
        return expression, operands, operators

    rows, seen = [], set()
    while len(rows) < n:
        fallback = None
        for attempt in range(_MAX_FALLBACK_TRIES):
            expression, operands, operators = draw()
            if is_held_out(expression, holdout) != want_held_out:
                continue
            if expression not in seen:
                break
            fallback = fallback or (expression, operands, operators)
            if attempt >= _MAX_TRIES:
                # Small problem space: accept a repeat of the right split rather than loop on.
                expression, operands, operators = fallback
                break
        else:
            if fallback is None:
                raise ValueError(f"arithmetic: the {split} split of this problem space is empty or too small "
                                 f"(max_operand={max_operand}, min_operand={min_operand}); widen the operand range")
            expression, operands, operators = fallback
        seen.add(expression)
        rows.append({"prompt": f"What is {expression}?", "answer": str(_evaluate(operands, operators))})
    return rows
