"""An example grpo reward plugin: copy this package to start your own.

Two rewards:
- ``keywords``: a configurable reward (a class; the config's ``options`` become its arguments);
- ``politeness``: an ``async`` reward, the shape to use for a judge behind a network API.

Completions arrive as strings, or as TRL's chat form for a conversational dataset: ``keywords``
takes either through ``as_text``; ``politeness`` is registered with ``text=True``, so it always gets
strings.
"""
import asyncio

from grpo_rewards import ConfigError, hookimpl
from grpo_rewards.text import as_text


class Keywords:
    """Share of the configured keywords that appear in the completion (or 1/0 with ``mode = "all"``)."""

    def __init__(self, words=(), mode="fraction", case_sensitive=False):
        if isinstance(words, str):
            words = [words]
        if not words or not all(isinstance(w, str) and w for w in words):
            raise ConfigError("keywords: option 'words' must be a non-empty list of strings")
        if mode not in ("fraction", "all", "any"):
            raise ConfigError(f"keywords: option 'mode' must be fraction, all or any (got {mode!r})")
        self.case_sensitive = case_sensitive
        self.words = [w if case_sensitive else w.lower() for w in words]
        self.mode = mode

    def __call__(self, completions):
        return [self._score(c) for c in completions]

    def _score(self, completion):
        text = as_text(completion)  # a string, or the text of a chat message list
        if text is None:
            return None  # no text: cannot be scored, rather than a made-up 0
        text = text if self.case_sensitive else text.lower()
        found = sum(1 for w in self.words if w in text)
        if self.mode == "all":
            return float(found == len(self.words))
        if self.mode == "any":
            return float(found > 0)
        return found / len(self.words)


POLITE = ("please", "thank", "you're welcome", "kindly")


async def politeness(completions, prompts=None):
    """1.0 for a completion with a polite phrase. Async: a real judge would await an HTTP call here,
    and gathering the calls judges all samples of the batch concurrently."""

    async def judge(text):
        await asyncio.sleep(0)  # stands in for the network round trip
        return float(any(p in text.lower() for p in POLITE))

    return list(await asyncio.gather(*(judge(c) for c in completions)))


@hookimpl
def register_rewards(register):
    register("keywords", Keywords)
    register("politeness", politeness, text=True)
