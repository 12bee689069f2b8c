"""``format.repetition``: penalise completions that repeat the same n-grams over and over."""
from . import _options as opt
from ._inputs import item
from ._units import units

NAME = "format.repetition"


class Repetition:
    """``max_penalty * (1 - distinct / total)`` over the completion's n-grams.

    0.0 when no n-gram occurs twice; a text that is one n-gram repeated ``T`` times scores
    ``max_penalty * (1 - 1/T)``, i.e. close to ``max_penalty``. Completions with fewer than
    ``ngram_size`` units have no n-gram to repeat and score 0.0.
    """

    def __init__(self, *, ngram_size=3, max_penalty=-1.0, unit="words", lowercase=True):
        self.n = opt.integer(NAME, "ngram_size", ngram_size, low=1)
        self.max_penalty = opt.number(NAME, "max_penalty", max_penalty, high=0.0)
        self.unit = opt.choice(NAME, "unit", unit, ("words", "tokens", "chars"))
        self.lowercase = opt.boolean(NAME, "lowercase", lowercase)

    def __call__(self, completions, completion_ids=None):
        return [self.score(units(c, item(completion_ids, i), self.unit, words_lower=self.lowercase))
                for i, c in enumerate(completions)]

    def score(self, seq):
        if seq is None:
            return None
        total = len(seq) - self.n + 1
        if total <= 0:
            return 0.0
        # zip over shifted views yields each n-gram as a tuple without slicing per position.
        try:
            distinct = len(set(zip(*(seq[k:] for k in range(self.n)))))
        except TypeError:  # unhashable items in completion_ids: not something we can score
            return None
        fraction = 1.0 - distinct / total
        return self.max_penalty * fraction if fraction else 0.0
