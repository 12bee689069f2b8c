"""Config values against their type hints: the checks behind every ``--set`` and TOML key (config.py).

A field's hint (str, int, float, bool, Literal, unions, dict, list of str) and the bounds in its metadata
(ge, gt, le, lt, allow_empty) are all there is to validation, so a new key needs no code. Every mismatch
is one ConfigError naming the key and what it got, spelt as TOML spells it.
"""
from __future__ import annotations

import json
import math
import types
import typing
from typing import Any, Literal

from grpo_rewards.errors import ConfigError


def coerce(value: Any, tp: Any) -> tuple[bool, Any]:
    """(matches, value) for one TOML value against one type hint; int widens to float, bool is no int."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        for arm in typing.get_args(tp):
            ok, out = coerce(value, arm)
            if ok:
                return True, out
        return False, value
    if origin is Literal:  # compare types too, so that true never matches 1
        return any(type(value) is type(a) and value == a for a in typing.get_args(tp)), value
    if tp is type(None):
        return value is None, value
    if tp in (bool, str):
        return isinstance(value, tp), value
    if tp is int:
        return isinstance(value, int) and not isinstance(value, bool), value
    if tp is float:
        if isinstance(value, int) and not isinstance(value, bool):
            return True, float(value)
        return isinstance(value, float), value
    if origin is dict:
        return isinstance(value, dict), value
    if origin is list:
        return isinstance(value, list) and bool(value) and all(isinstance(v, str) for v in value), value
    raise TypeError(f"unsupported config type {tp!r}")  # a bug in this module, not a user error


def describe(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin is Literal:
        return " or ".join(json.dumps(a) for a in typing.get_args(tp))
    if origin in (typing.Union, types.UnionType):
        return " or ".join(describe(a) for a in typing.get_args(tp) if a is not type(None))
    return {str: "a string", int: "an integer", float: "a number", bool: "a boolean", dict: "a table",
            list: "a non-empty list of strings"}[origin or tp]


def show(value: Any) -> str:
    """A value as TOML spells it, on one line and short."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    text = json.dumps(value, default=str, ensure_ascii=False)
    return text if len(text) <= 60 else text[:57] + "..."


def got(value: Any) -> str:
    kinds = {bool: "boolean", int: "integer", float: "float", str: "string", list: "array", dict: "table"}
    kind = next((k for t, k in kinds.items() if isinstance(value, t)), type(value).__name__)
    return f"{kind} {show(value)}"


def check_field(key: str, value: Any, tp: Any, meta: dict) -> Any:
    if value == [] and meta.get("allow_empty"):
        return value
    ok, value = coerce(value, tp)
    if not ok:
        if typing.get_origin(tp) is Literal:  # a choice reads better as a list than as a type
            raise ConfigError(f"{key} must be one of {', '.join(typing.get_args(tp))} (got {show(value)})")
        raise ConfigError(f"{key}: expected {describe(tp)}, got {got(value)}")
    if isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(f"{key} must be a finite number (got {value})")
    if isinstance(value, str) and not value and not meta.get("allow_empty") and typing.get_origin(tp) is not Literal:
        raise ConfigError(f"{key} must not be empty")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        for bound, words, fails in (("ge", "at least", float.__lt__), ("gt", "greater than", float.__le__),
                                    ("le", "at most", float.__gt__), ("lt", "less than", float.__ge__)):
            if bound in meta and fails(float(value), float(meta[bound])):
                raise ConfigError(f"{key} must be {words} {meta[bound]} (got {show(value)})")
    return value
