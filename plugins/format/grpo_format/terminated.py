"""``format.terminated``: penalise completions the engine cut off at the length limit."""
from . import _options as opt
from ._inputs import as_ids, item

NAME = "format.terminated"

_TRUE = {"true", "1", "yes", "y", "t"}
_FALSE = {"false", "0", "no", "n", "f", ""}


def as_flag(value):
    """bool from the engine, or 0/1 or "True"/"false" from an offline CSV/JSONL column; else None."""
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        word = value.strip().lower()
        if word in _TRUE:
            return True
        if word in _FALSE:
            return False
    if hasattr(value, "item"):  # a 0-d tensor or numpy bool
        try:
            return as_flag(value.item())
        except Exception:
            return None
    return None


class Terminated:
    """``penalty`` for a truncated completion, ``reward_finished`` for one that ended on its own.

    Truncation comes from the engine's ``truncated`` flags when present. Without them (offline
    scoring), a completion counts as truncated when it has at least ``max_tokens`` ids and, if
    ``eos_token_id`` is set, its last id is not that EOS. With neither source, every sample is
    None (unscorable) rather than guessed.
    """

    def __init__(self, *, penalty=-1.0, reward_finished=0.0, max_tokens=None, eos_token_id=None):
        self.penalty = opt.number(NAME, "penalty", penalty)
        self.reward_finished = opt.number(NAME, "reward_finished", reward_finished)
        self.max_tokens = opt.integer(NAME, "max_tokens", max_tokens, low=1, allow_none=True)
        self.eos_token_id = opt.integer(NAME, "eos_token_id", eos_token_id, low=0, allow_none=True)

    def __call__(self, completions, truncated=None, completion_ids=None):
        return [self.score(item(truncated, i), item(completion_ids, i)) for i in range(len(completions))]

    def is_truncated(self, flag, ids):
        """True/False, or None when this sample carries no usable information."""
        flag = as_flag(flag)
        if flag is not None:
            return flag
        if self.max_tokens is None:
            return None
        ids = as_ids(ids)
        if ids is None:
            return None
        if len(ids) < self.max_tokens:
            return False
        # A completion that fills the budget exactly may still have ended on EOS.
        return not (self.eos_token_id is not None and ids and ids[-1] == self.eos_token_id)

    def score(self, flag, ids):
        cut = self.is_truncated(flag, ids)
        if cut is None:
            return None
        return self.penalty if cut else self.reward_finished
