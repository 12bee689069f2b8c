"""Splitting a completion into the units that length and repetition rewards count."""
import re

from ._inputs import as_ids, as_text

_WORD = re.compile(r"\S+")


def count_words(text):
    # Counting matches avoids building a list of every word of a multi-megabyte completion.
    return sum(1 for _ in _WORD.finditer(text))


def units(completion, ids, unit, *, words_lower=False):
    """The completion as a sequence of units (a str for chars), or None when it can't be had.

    ``unit="tokens"`` needs the engine's ``completion_ids``; without them the sample is
    unscorable rather than silently measured in another unit.
    """
    if unit == "tokens":
        return as_ids(ids)
    text = as_text(completion)
    if text is None:
        return None
    if unit == "chars":
        return text
    return (text.lower() if words_lower else text).split()


def measure(completion, ids, unit):
    """Length of the completion in ``unit``, or None."""
    if unit == "tokens":
        ids = as_ids(ids)
        return None if ids is None else len(ids)
    text = as_text(completion)
    if text is None:
        return None
    return len(text) if unit == "chars" else count_words(text)
