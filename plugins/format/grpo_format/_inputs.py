"""Turn whatever the engine or an offline file hands a reward into plain values, without raising.

Rewards run in the trainer's own process, so an odd sample must become ``None`` (unscorable)
rather than an exception that would stop a training run.
"""
# Completions as text (strings or TRL chat messages) have one home, in the SDK.
from grpo_rewards.text import as_text  # noqa: F401


def item(values, index):
    """``values[index]``, or None when the column is absent or too short."""
    if values is None:
        return None
    try:
        return values[index]
    except (IndexError, KeyError, TypeError):
        return None


def as_ids(ids):
    """Token ids as a list of ints, or None. Tensors and arrays are converted with ``tolist``."""
    if ids is None:
        return None
    if hasattr(ids, "tolist"):
        try:
            ids = ids.tolist()
        except Exception:  # a foreign object with an odd tolist: treat as unscorable
            return None
    if isinstance(ids, (str, bytes, dict)) or not isinstance(ids, (list, tuple)):
        return None
    return list(ids)
