"""Text out of what a reward receives, and the one home of the rule that decides its form.

A completion reaches a reward as a plain string, or in the chat form TRL uses for conversational
datasets (a list of ``{"role", "content"}`` messages, content possibly a list of parts):
:func:`completion_forms` decides which (DESIGN.md, "plugin contract"). For plugin authors,
:func:`as_text` gets the text out of either; odd values give None (unscorable) instead of an
exception that would stop a training run.
"""


def message_content(content):
    """A message's content as a str (the text parts of a multimodal list), or None."""
    if isinstance(content, str):
        return content
    if isinstance(content, (list, tuple)):  # multimodal parts: keep the text ones
        texts = [p.get("text") for p in content if isinstance(p, dict)]
        texts = [t for t in texts if isinstance(t, str)]
        return "".join(texts) if texts else None
    return None


def as_text(value, sep: str = ""):
    """A completion or prompt as a str, or None when it holds no text; message contents joined by ``sep``."""
    if isinstance(value, str):
        return value
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).decode("utf-8", errors="replace")
    if isinstance(value, dict):
        return message_content(value.get("content"))
    if isinstance(value, (list, tuple)):
        parts = [message_content(m.get("content")) for m in value if isinstance(m, dict)]
        parts = [p for p in parts if p is not None]
        return sep.join(parts) if parts else None
    return None


def is_messages(value) -> bool:
    """True for chat messages: a non-empty list of dicts that each have a ``role`` or a ``content``
    (open-r1's tests write completions as ``[{"content": ...}]``, without a role)."""
    return (isinstance(value, (list, tuple)) and len(value) > 0
            and all(isinstance(m, dict) and ("role" in m or "content" in m) for m in value))


def completion_forms(completions: list, prompts: list) -> tuple[list, list]:
    """The completions as rewards receive them: (TRL's form, text form), one entry per sample.

    TRL's form follows TRL's ``GRPOTrainer``: a sample whose prompt is a conversation gets its
    completion as a list holding one assistant message; a completion that already is a message list
    is kept as it is; any other completion is passed as it came (a string). The text form is what a
    reward registered with ``text=True`` gets: always a string.
    """
    native, texts = [], []
    for completion, prompt in zip(completions, prompts):
        if isinstance(completion, str) and is_messages(prompt):
            native.append([{"role": "assistant", "content": completion}])
        else:
            native.append(completion)
        texts.append(completion if isinstance(completion, str) else (as_text(completion) or ""))
    return native, texts
