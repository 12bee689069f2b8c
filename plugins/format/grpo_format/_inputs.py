"""Turn whatever the engine or an offline file hands a reward into plain values, without raising.

Rewards run in the trainer's own process, so an odd sample must become ``None`` (unscorable)
rather than an exception that would stop a training run.
"""


def as_text(completion):
    """The completion as a str, or None when it holds no text.

    Accepts plain strings and the chat form TRL uses for conversational datasets
    (a list of ``{"role": ..., "content": ...}`` messages, content possibly a list of parts).
    """
    if isinstance(completion, str):
        return completion
    if isinstance(completion, (bytes, bytearray)):
        return bytes(completion).decode("utf-8", errors="replace")
    if isinstance(completion, dict):
        return _content(completion.get("content"))
    if isinstance(completion, (list, tuple)):
        parts = [_content(m.get("content")) for m in completion if isinstance(m, dict)]
        parts = [p for p in parts if p is not None]
        return "".join(parts) if parts else None
    return None


def _content(content):
    if isinstance(content, str):
        return content
    if isinstance(content, (list, tuple)):  # multimodal parts: keep the text ones
        texts = [p.get("text") for p in content if isinstance(p, dict)]
        texts = [t for t in texts if isinstance(t, str)]
        return "".join(texts) if texts else None
    return None


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
