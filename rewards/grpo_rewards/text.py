"""Text out of what a reward receives, for plugin authors: a plain string, or the chat form TRL uses
for conversational datasets (a list of ``{"role", "content"}`` messages, content possibly a list of
parts). Odd values give None (unscorable) instead of an exception that would stop a training run.
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
