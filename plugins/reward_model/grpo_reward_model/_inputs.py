"""Turn what the engine or an offline file hands a reward into plain text or chat messages.

Rewards run in the trainer's own process, so an odd sample becomes ``None`` (unscorable) here
rather than an exception that would stop a training run.
"""
import re

from grpo_rewards.text import as_text as _as_text
from grpo_rewards.text import message_content as _content


def as_text(value):
    """A completion or prompt as a str, or None; the contents of a message list joined by newlines."""
    return _as_text(value, sep="\n")


def as_messages(value, default_role):
    """Chat messages ``[{"role", "content"}]`` from text or a message list; None when unusable.

    Plain text becomes one message with ``default_role`` (the user turn for a prompt, the
    assistant turn for a completion). Message contents are flattened to text, since a reward
    model's chat template expects strings.
    """
    if isinstance(value, (str, bytes, bytearray)):
        return [{"role": default_role, "content": as_text(value)}]
    if isinstance(value, dict):
        value = [value]
    if not isinstance(value, (list, tuple)):
        return None
    messages = []
    for m in value:
        if not isinstance(m, dict):
            return None
        content = _content(m.get("content"))
        if content is None:
            return None
        role = m.get("role") if isinstance(m.get("role"), str) else default_role
        messages.append({"role": role, "content": content})
    return messages or None


_BOXED = "\\boxed{"
_BRACE = re.compile(r"[{}]")


def final_answer(text):
    """The content of the last ``<answer>...</answer>``, else of the last ``\\boxed{...}``, else
    the whole text; stripped. A boxed answer inside the answer tag is unwrapped too, so
    ``<answer>\\boxed{4}</answer>`` gives ``4``.
    """
    # rfind rather than a regex: a regex scan is quadratic on hostile text such as thousands of
    # unclosed tags, and the last closing tag with the opening tag just before it is the last
    # answer a model that restates itself gave.
    close = text.rfind("</answer>")
    open_ = text.rfind("<answer>", 0, close) if close >= 0 else -1
    if open_ >= 0:
        text = text[open_ + len("<answer>"):close]
    boxed = last_boxed(text)
    return (boxed if boxed is not None else text).strip()


def last_boxed(text):
    """The content of the last balanced ``\\boxed{...}`` (nested braces allowed), or None.

    One forward pass with a brace stack, so hostile text (thousands of unclosed boxes) costs
    linear time; "last" is the box that opens last among those that close.
    """
    stack, best = [], None
    for m in _BRACE.finditer(text):
        i = m.start()
        if text[i] == "{":
            boxed = text.startswith(_BOXED, i - len(_BOXED) + 1)
            stack.append(i + 1 if boxed else -1)
        elif stack:
            start = stack.pop()
            if start >= 0 and (best is None or start > best[0]):
                best = (start, i)
    return text[best[0]:best[1]] if best else None
